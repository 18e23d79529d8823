/*
 * emu.c: the libtgrt_cuda API (runtime/tgrt_cuda.h) on the CPU, for tests on machines without a
 * GPU. A generated CUDA program linked with this instead of libtgrt_cuda runs its kernels as
 * compiled by g++ (tests/cuda_emu/shim.h says how): "device" memory is host memory, copies are
 * memcpy, and tg_cuda_load compiles the kernel source into a shared object and looks the kernels
 * up in it. The numbers are the kernels' own, so a test can hold them against the C backend's.
 *
 * Environment: TGC_EMU_CXX (the C++ compiler, default g++), TGC_EMU_SHIM (shim.h's path; set by
 * the tests).
 */
#define _POSIX_C_SOURCE 200809L
#include "tgrt_cuda.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARGS 16

typedef void (*Kernel)(void);

struct TgCuda {
    void *so;
    Kernel *fn;
    int *nargs;
    int nk;
    void (*block)(unsigned, unsigned);
    char dir[64];
};

static void failf(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

TgCuda *tg_cuda_open(char *err, size_t errlen) {
    TgCuda *cu = calloc(1, sizeof *cu);
    if (!cu)
        failf(err, errlen, "out of memory");
    return cu;
}

const char *tg_cuda_describe(const TgCuda *cu) {
    (void)cu;
    return "CPU emulation (tests/cuda_emu)";
}

/* Parameters of kernel `name` in src: the commas of its parameter list, plus one. */
static int count_params(const char *src, const char *name) {
    char key[256];
    snprintf(key, sizeof key, " %s(", name);
    const char *p = strstr(src, key);
    if (!p)
        return -1;
    int n = 1;
    for (p += strlen(key); *p && *p != ')'; p++)
        n += *p == ',';
    return n;
}

int tg_cuda_load(TgCuda *cu, const char *src, const char *extra_opts, const char *const *names, int nk,
                 char *err, size_t errlen) {
    (void)extra_opts;
    strcpy(cu->dir, "/tmp/tgc-emu-XXXXXX");
    if (!mkdtemp(cu->dir)) {
        failf(err, errlen, "emu: cannot make a temporary directory");
        return -1;
    }
    char cpp[128], so[128], cmd[1024];
    snprintf(cpp, sizeof cpp, "%s/k.cpp", cu->dir);
    snprintf(so, sizeof so, "%s/k.so", cu->dir);
    FILE *f = fopen(cpp, "w");
    if (!f || fputs(src, f) < 0 || fclose(f)) {
        failf(err, errlen, "emu: cannot write %s", cpp);
        return -1;
    }
    const char *cxx = getenv("TGC_EMU_CXX") ? getenv("TGC_EMU_CXX") : "g++";
    const char *shim = getenv("TGC_EMU_SHIM") ? getenv("TGC_EMU_SHIM") : "shim.h";
    snprintf(cmd, sizeof cmd, "%s -std=c++17 -O1 -w -shared -fPIC -include %s %s -o %s", cxx, shim, cpp, so);
    if (system(cmd)) {
        failf(err, errlen, "emu: %s failed", cmd);
        return -1;
    }
    cu->so = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    remove(cpp);
    remove(so);
    rmdir(cu->dir);
    if (!cu->so) {
        failf(err, errlen, "emu: dlopen: %s", dlerror());
        return -1;
    }
    cu->block = (void (*)(unsigned, unsigned))(uintptr_t)dlsym(cu->so, "tg_emu_block");
    cu->fn = calloc((size_t)nk, sizeof *cu->fn);
    cu->nargs = calloc((size_t)nk, sizeof *cu->nargs);
    cu->nk = nk;
    for (int k = 0; k < nk; k++) {
        void *sym = dlsym(cu->so, names[k]);
        cu->nargs[k] = count_params(src, names[k]);
        if (!sym || cu->nargs[k] < 1 || cu->nargs[k] > MAX_ARGS) {
            failf(err, errlen, "emu: kernel %s not found (or %d parameters)", names[k], cu->nargs[k]);
            return -1;
        }
        cu->fn[k] = (Kernel)(uintptr_t)sym;
    }
    return 0;
}

int tg_cuda_alloc(TgCuda *cu, uint64_t *dptr, size_t bytes, char *err, size_t errlen) {
    (void)cu;
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p)
        failf(err, errlen, "emu: out of memory");
    *dptr = (uint64_t)(uintptr_t)p;
    return p ? 0 : -1;
}

int tg_cuda_alloc_pinned(TgCuda *cu, void **p, size_t bytes, char *err, size_t errlen) {
    uint64_t d;
    int rc = tg_cuda_alloc(cu, &d, bytes, err, errlen);
    *p = (void *)(uintptr_t)d;
    return rc;
}

void tg_cuda_upload(TgCuda *cu, uint64_t dst, const void *src, size_t bytes) {
    (void)cu;
    memcpy((void *)(uintptr_t)dst, src, bytes);
}

void tg_cuda_download(TgCuda *cu, void *dst, uint64_t src, size_t bytes) {
    (void)cu;
    memcpy(dst, (const void *)(uintptr_t)src, bytes);
}

void tg_cuda_memset(TgCuda *cu, uint64_t dst, size_t bytes) {
    (void)cu;
    memset((void *)(uintptr_t)dst, 0, bytes);
}

/* Every parameter is a device pointer or an int64: one 64-bit integer register or stack slot each
 * in the x86-64 and AArch64 calling conventions, so a kernel is called as a function of nargs
 * uint64_t, whatever its pointer types. */
typedef uint64_t U;
static void call(Kernel f, int n, const U *a) {
    switch (n) {
#define A1 a[0]
#define A2 A1, a[1]
#define A3 A2, a[2]
#define A4 A3, a[3]
#define A5 A4, a[4]
#define A6 A5, a[5]
#define A7 A6, a[6]
#define A8 A7, a[7]
#define A9 A8, a[8]
#define A10 A9, a[9]
#define A11 A10, a[10]
#define A12 A11, a[11]
#define A13 A12, a[12]
#define A14 A13, a[13]
#define A15 A14, a[14]
#define A16 A15, a[15]
#define T1 U
#define T2 T1, U
#define T3 T2, U
#define T4 T3, U
#define T5 T4, U
#define T6 T5, U
#define T7 T6, U
#define T8 T7, U
#define T9 T8, U
#define T10 T9, U
#define T11 T10, U
#define T12 T11, U
#define T13 T12, U
#define T14 T13, U
#define T15 T14, U
#define T16 T15, U
#define CASE(k) case k: ((void (*)(T##k))(uintptr_t)f)(A##k); return;
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) CASE(9) CASE(10) CASE(11) CASE(12)
    CASE(13) CASE(14) CASE(15) CASE(16)
    default:
        fprintf(stderr, "tgc cuda emu: a kernel with %d parameters\n", n);
        exit(1);
    }
}

void tg_cuda_launch(TgCuda *cu, int k, uint64_t grid, unsigned block, unsigned shared_bytes, void **args) {
    (void)block;
    (void)shared_bytes;
    if (k < 0 || k >= cu->nk) {
        fprintf(stderr, "tgc cuda emu: no kernel %d\n", k);
        exit(1);
    }
    U a[MAX_ARGS];
    for (int i = 0; i < cu->nargs[k]; i++)
        a[i] = *(const U *)args[i];
    for (uint64_t b = 0; b < grid; b++) {
        cu->block((unsigned)b, (unsigned)grid);
        call(cu->fn[k], cu->nargs[k], a);
    }
}

void tg_cuda_sync(TgCuda *cu) { (void)cu; }

void tg_cuda_close(TgCuda *cu) {
    if (cu && cu->so)
        dlclose(cu->so);
    if (cu) {
        free(cu->fn);
        free(cu->nargs);
    }
    free(cu);
}
