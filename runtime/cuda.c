/*
 * cuda.c: the CUDA part of the runtime: the driver and NVRTC behind dlopen, one stream, and a cache
 * of compiled kernels.
 *
 * Neither libcuda nor libnvrtc is linked. The first call that needs one dlopens it and fetches the
 * functions this file uses into a table of pointers (drv, nv), checking each pointer's type against
 * the prototype in <cuda.h>/<nvrtc.h>, which are included for their types only. So a generated
 * program starts on a machine without a GPU and says "no CUDA driver: ..." instead of failing in
 * the dynamic loader. Libraries stay loaded until the process exits: libcuda owns threads and
 * contexts, and after a dlclose of libnvrtc LeakSanitizer reports the memory its globals held.
 *
 * A TgCuda is one device, its primary context (made current once, so calls come from one thread)
 * and one stream that carries every copy, memset and launch in program order; the only waits are
 * downloads, uploads from pageable memory and tg_cuda_sync.
 *
 * tg_cuda_load compiles the generated kernels with NVRTC to a cubin for the exact GPU (-arch=sm_XY).
 * When the GPU is newer than the NVRTC, it compiles PTX for the newest architecture NVRTC knows
 * and the driver finishes the job. The result is cached in a file named after a 64-bit FNV-1a hash
 * of source, options, compute capability and NVRTC version, written to a temporary file and renamed,
 * so an entry is always whole. The cache is a shortcut and never an error: a directory that cannot be
 * made, a file that cannot be read or written, an entry the driver rejects: all end in a compile.
 *
 * Errors: setup calls return -1 with a message that starts with the problem and ends with the
 * failing call and the driver's error name and string. Calls made during training exit(1) after
 * printing the same, since a failed launch or copy leaves nothing to recover. Launches are
 * asynchronous, so a kernel's fault is reported by the next call that waits; run with
 * CUDA_LAUNCH_BLOCKING=1 to have the driver report it at the launch itself.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cuda.h>  /* types and constants only: nothing here links libcuda */
#include <nvrtc.h> /* likewise for libnvrtc */

#include "tgrt_cuda.h"

/* ---- the libraries, loaded on first use ------------------------------------------------------ */

/*
 * The driver functions we call, under the names libcuda exports: the _v2 names where cuda.h's
 * macros would pick them, since dlsym sees no macros and the plain names are the old 32-bit APIs.
 * Columns: name, parameters (all return CUresult).
 */
#define DRIVER_FUNCS(X)                                                                            \
    X(cuGetErrorName, (CUresult e, const char **s))                                                \
    X(cuGetErrorString, (CUresult e, const char **s))                                              \
    X(cuInit, (unsigned flags))                                                                    \
    X(cuDriverGetVersion, (int *version))                                                          \
    X(cuDeviceGetCount, (int *n))                                                                  \
    X(cuDeviceGet, (CUdevice *dev, int ordinal))                                                   \
    X(cuDeviceGetName, (char *name, int len, CUdevice dev))                                        \
    X(cuDeviceGetAttribute, (int *v, CUdevice_attribute a, CUdevice dev))                          \
    X(cuDeviceTotalMem_v2, (size_t *bytes, CUdevice dev))                                          \
    X(cuDevicePrimaryCtxRetain, (CUcontext *ctx, CUdevice dev))                                    \
    X(cuDevicePrimaryCtxRelease_v2, (CUdevice dev))                                                \
    X(cuCtxSetCurrent, (CUcontext ctx))                                                            \
    X(cuStreamCreate, (CUstream *s, unsigned flags))                                               \
    X(cuStreamDestroy_v2, (CUstream s))                                                            \
    X(cuStreamSynchronize, (CUstream s))                                                           \
    X(cuMemAlloc_v2, (CUdeviceptr *p, size_t bytes))                                               \
    X(cuMemFree_v2, (CUdeviceptr p))                                                               \
    X(cuMemHostAlloc, (void **p, size_t bytes, unsigned flags))                                    \
    X(cuMemFreeHost, (void *p))                                                                    \
    X(cuMemcpyHtoDAsync_v2, (CUdeviceptr dst, const void *src, size_t bytes, CUstream s))          \
    X(cuMemcpyDtoHAsync_v2, (void *dst, CUdeviceptr src, size_t bytes, CUstream s))                \
    X(cuMemsetD8Async, (CUdeviceptr p, unsigned char v, size_t n, CUstream s))                     \
    X(cuModuleLoadData, (CUmodule *m, const void *image))                                          \
    X(cuModuleUnload, (CUmodule m))                                                                \
    X(cuModuleGetFunction, (CUfunction *f, CUmodule m, const char *name))                          \
    X(cuFuncSetAttribute, (CUfunction f, CUfunction_attribute a, int v))                           \
    X(cuLaunchKernel, (CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,           \
                       unsigned by, unsigned bz, unsigned shared, CUstream s, void **args,         \
                       void **extra))

/* NVRTC's, all there since NVRTC 11.2, the oldest we look for. All but one return nvrtcResult. */
#define NVRTC_FUNCS(X)                                                                             \
    X(nvrtcVersion, (int *major, int *minor))                                                      \
    X(nvrtcGetNumSupportedArchs, (int *n))                                                         \
    X(nvrtcGetSupportedArchs, (int *archs))                                                        \
    X(nvrtcCreateProgram, (nvrtcProgram *p, const char *src, const char *name, int nheaders,       \
                           const char *const *headers, const char *const *header_names))           \
    X(nvrtcCompileProgram, (nvrtcProgram p, int nopts, const char *const *opts))                   \
    X(nvrtcGetProgramLogSize, (nvrtcProgram p, size_t *n))                                         \
    X(nvrtcGetProgramLog, (nvrtcProgram p, char *log))                                             \
    X(nvrtcGetCUBINSize, (nvrtcProgram p, size_t *n))                                              \
    X(nvrtcGetCUBIN, (nvrtcProgram p, char *cubin))                                                \
    X(nvrtcGetPTXSize, (nvrtcProgram p, size_t *n))                                                \
    X(nvrtcGetPTX, (nvrtcProgram p, char *ptx))                                                    \
    X(nvrtcDestroyProgram, (nvrtcProgram *p))

#define DRIVER_FIELD(name, params) CUresult (*name) params;
#define NVRTC_FIELD(name, params) nvrtcResult (*name) params;
static struct {
    DRIVER_FUNCS(DRIVER_FIELD)
} drv;
static struct {
    NVRTC_FUNCS(NVRTC_FIELD)
    const char *(*nvrtcGetErrorString)(nvrtcResult r);
} nv;
static int drv_loaded, nv_loaded;
static int nv_major, nv_minor; /* NVRTC's version */

/*
 * `table.name == name` inside sizeof is never evaluated, so it references no symbol, yet the
 * compiler checks that our pointer type matches the header's prototype of that exact name
 * ("comparison of distinct pointer types" when not).
 */
#define CHECK_DRV(name, params) (void)sizeof(drv.name == name);
#define CHECK_NV(name, params) (void)sizeof(nv.name == name);

/* dlsym into a function pointer; POSIX makes the two the same size. */
static int sym(void *lib, const char *name, void *slot) {
    void *p = dlsym(lib, name);
    if (!p)
        return -1;
    memcpy(slot, &p, sizeof p);
    return 0;
}
#define LOAD_DRV(name, params) if (!missing && sym(lib, #name, &drv.name)) missing = #name;
#define LOAD_NV(name, params) if (!missing && sym(lib, #name, &nv.name)) missing = #name;

/* Writes the message into err and returns -1. Not err.c's tg_fail: libtgrt_cuda links without
 * libtgrt (tests/test_cuda_runtime.c), and its messages name a call, not a file. */
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int load_driver(char *err, size_t errlen) {
    if (drv_loaded)
        return 0;
    DRIVER_FUNCS(CHECK_DRV)
    static const char *const names[] = {"libcuda.so.1", "libcuda.so"};
    char why[512] = "";
    void *lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) {
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib && i == 0) /* the name drivers install: its error is the one to show */
            snprintf(why, sizeof why, "%s", dlerror());
    }
    if (!lib)
        return fail(err, errlen, "no CUDA driver: libcuda.so.1 not found (dlopen: %s)", why);
    const char *missing = NULL;
    DRIVER_FUNCS(LOAD_DRV)
    if (missing)
        return fail(err, errlen, "CUDA driver too old: libcuda lacks %s", missing);
    drv_loaded = 1;
    return 0;
}

static int load_nvrtc(char *err, size_t errlen) {
    if (nv_loaded)
        return 0;
    NVRTC_FUNCS(CHECK_NV)
    CHECK_NV(nvrtcGetErrorString, ())
    /* An explicit TGC_NVRTC is the only one tried: falling back would hide its mistake. */
    static const char *const names[] = {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12",
                                        "libnvrtc.so.11.2"};
    static const char *const dirs[] = {"", "/usr/local/cuda/lib64/",
                                       "/usr/local/cuda/targets/x86_64-linux/lib/"};
    const char *env = getenv("TGC_NVRTC");
    char path[512], why[512] = "";
    void *lib = NULL;
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
        if (!(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
            return fail(err, errlen, "no NVRTC: TGC_NVRTC=%s does not load (dlopen: %s)", env,
                        dlerror());
    }
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0] && !lib; d++)
        for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) {
            snprintf(path, sizeof path, "%s%s", dirs[d], names[i]);
            lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (!lib && !*why)
                snprintf(why, sizeof why, "%s", dlerror());
        }
    if (!lib)
        return fail(err, errlen, "no NVRTC: libnvrtc.so not found, nor in /usr/local/cuda "
                    "(dlopen: %s); set TGC_NVRTC to its path", why);
    const char *missing = NULL;
    NVRTC_FUNCS(LOAD_NV)
    LOAD_NV(nvrtcGetErrorString, ())
    if (missing)
        return fail(err, errlen, "NVRTC too old or not NVRTC: %s lacks %s", path, missing);
    if (nv.nvrtcVersion(&nv_major, &nv_minor) != NVRTC_SUCCESS)
        return fail(err, errlen, "NVRTC does not work: nvrtcVersion failed (%s)", path);
    nv_loaded = 1;
    return 0;
}

/* "CUDA_ERROR_OUT_OF_MEMORY: out of memory"; the driver knows its names even before cuInit. */
static const char *cu_why(CUresult r, char *buf, size_t n) {
    const char *name = NULL, *str = NULL;
    if (drv.cuGetErrorName(r, &name) != CUDA_SUCCESS || !name)
        snprintf(buf, n, "CUDA error %d: unknown to this driver", (int)r);
    else if (drv.cuGetErrorString(r, &str) != CUDA_SUCCESS || !str)
        snprintf(buf, n, "%s", name);
    else
        snprintf(buf, n, "%s: %s", name, str);
    return buf;
}

/* fail() for a driver call: "<what>: <call>: <error name>: <string>". */
static int fail_cu(char *err, size_t errlen, CUresult r, const char *call, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        char why[256];
        if (n >= 0 && (size_t)n < errlen)
            snprintf(err + n, errlen - (size_t)n, ": %s: %s", call, cu_why(r, why, sizeof why));
    }
    return -1;
}

/* The training-time policy: report and exit. */
static void check(CUresult r, const char *call, const char *fmt, ...) {
    if (r == CUDA_SUCCESS)
        return;
    char what[256], why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "tgc cuda: %s: %s: %s\n", what, call, cu_why(r, why, sizeof why));
    exit(1);
}

/* ---- NVRTC ----------------------------------------------------------------------------------- */

/* The options of every compile: -arch, C++17, device code by default, then the caller's extras. */
typedef struct {
    char arch[64];     /* "-arch=sm_90" */
    char *extra;       /* a copy of extra_opts with NULs at the spaces */
    const char **argv; /* points into arch and extra */
    int argc;
} Opts;

static int opts_make(Opts *o, const char *arch, const char *extra) {
    size_t len = extra ? strlen(extra) : 0;
    snprintf(o->arch, sizeof o->arch, "-arch=%s", arch);
    o->extra = malloc(len + 1);
    o->argv = malloc((3 + len / 2 + 1) * sizeof *o->argv); /* words <= (len+1)/2 */
    if (!o->extra || !o->argv) {
        free(o->extra);
        free(o->argv);
        return -1;
    }
    memcpy(o->extra, extra ? extra : "", len + 1);
    o->argc = 0;
    o->argv[o->argc++] = o->arch;
    o->argv[o->argc++] = "--std=c++17";
    o->argv[o->argc++] = "-default-device";
    for (char *p = o->extra; *p;) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            *p++ = '\0';
            continue;
        }
        o->argv[o->argc++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
    }
    return 0;
}

static void opts_free(Opts *o) {
    free(o->extra);
    free(o->argv);
}

/* One of a program's outputs (log, cubin, PTX), malloc'd, *n bytes plus a NUL of ours. */
static nvrtcResult fetch(nvrtcProgram p, nvrtcResult (*size)(nvrtcProgram, size_t *),
                         nvrtcResult (*get)(nvrtcProgram, char *), char **out, size_t *n) {
    nvrtcResult r = size(p, n);
    if (r != NVRTC_SUCCESS)
        return r;
    if (!(*out = malloc(*n + 1)))
        return NVRTC_ERROR_OUT_OF_MEMORY;
    if ((r = get(p, *out)) != NVRTC_SUCCESS) {
        free(*out);
        *out = NULL;
        return r;
    }
    (*out)[*n] = '\0'; /* *n counts NVRTC's NUL where it writes one; this covers *n == 0 */
    return NVRTC_SUCCESS;
}

/*
 * Compiles src; with `image`, also fetches the cubin (sm_ arch) or PTX (compute_ arch) into a
 * malloc'd *image of *size bytes. 0: compiled; 1: NVRTC refused the code or an option, *log says
 * why; -1: NVRTC itself failed (err). *log (malloc'd) is NVRTC's whole log for 0 and 1, else NULL.
 */
static int nvrtc_run(const char *src, const Opts *o, char **image, size_t *size, char **log,
                     char *err, size_t errlen) {
    nvrtcProgram p;
    size_t n;
    *log = NULL;
    nvrtcResult r = nv.nvrtcCreateProgram(&p, src, "tgc_kernels.cu", 0, NULL, NULL);
    if (r != NVRTC_SUCCESS)
        return fail(err, errlen, "NVRTC failed: nvrtcCreateProgram: %s", nv.nvrtcGetErrorString(r));
    nvrtcResult rc = nv.nvrtcCompileProgram(p, o->argc, o->argv);
    const char *call = "nvrtcCompileProgram";
    if (rc == NVRTC_SUCCESS || rc == NVRTC_ERROR_COMPILATION || rc == NVRTC_ERROR_INVALID_OPTION) {
        call = "nvrtcGetProgramLog";
        r = fetch(p, nv.nvrtcGetProgramLogSize, nv.nvrtcGetProgramLog, log, &n);
        if (r == NVRTC_SUCCESS && rc == NVRTC_SUCCESS && image) {
            int cubin = strncmp(o->arch, "-arch=sm_", 9) == 0;
            call = cubin ? "nvrtcGetCUBIN" : "nvrtcGetPTX";
            r = cubin ? fetch(p, nv.nvrtcGetCUBINSize, nv.nvrtcGetCUBIN, image, size)
                      : fetch(p, nv.nvrtcGetPTXSize, nv.nvrtcGetPTX, image, size);
        }
    } else {
        r = rc; /* not the program's fault: NVRTC's own */
    }
    nv.nvrtcDestroyProgram(&p);
    if (r != NVRTC_SUCCESS) {
        free(*log);
        *log = NULL;
        return fail(err, errlen, "NVRTC failed: %s: %s", call, nv.nvrtcGetErrorString(r));
    }
    return rc == NVRTC_SUCCESS ? 0 : 1;
}

int tg_nvrtc_compile(const char *src, const char *arch, const char *extra_opts, char **log, char *err,
                     size_t errlen) {
    Opts o;
    *log = NULL;
    if (load_nvrtc(err, errlen))
        return -1;
    if (opts_make(&o, arch, extra_opts))
        return fail(err, errlen, "out of memory");
    int rc = nvrtc_run(src, &o, NULL, NULL, log, err, errlen);
    opts_free(&o);
    return rc;
}

/* ---- the cache of compiled kernels ----------------------------------------------------------- */

enum { CACHE_PATH = 1100 }; /* room for an entry's path; a longer cache directory means no cache */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

/* mkdir -p with mode 0700: the cache holds code this user's programs will run. */
static int make_dirs(char *path) {
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int bad = mkdir(path, 0700) != 0 && errno != EEXIST;
        *p = c;
        if (bad)
            return -1;
        if (!c)
            break;
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* The entry's path, k-<hash>-sm90.cubin, in a directory that exists; -1: no cache. */
static int cache_path(char *path, size_t n, uint64_t key, const char *arch) {
    const char *env = getenv("TGC_CUDA_CACHE"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char dir[CACHE_PATH - 64];
    int len;
    if (env && strcmp(env, "off") == 0)
        return -1;
    if (env && *env)
        len = snprintf(dir, sizeof dir, "%s", env);
    else if (xdg && *xdg)
        len = snprintf(dir, sizeof dir, "%s/tgc/cuda", xdg);
    else if (home && *home)
        len = snprintf(dir, sizeof dir, "%s/.cache/tgc/cuda", home);
    else
        return -1;
    if (len < 0 || (size_t)len >= sizeof dir || make_dirs(dir))
        return -1;
    int cubin = strncmp(arch, "sm_", 3) == 0; /* "sm_90" -> sm90.cubin, "compute_120" -> .ptx */
    len = snprintf(path, n, "%s/k-%016llx-%s%s.%s", dir, (unsigned long long)key,
                   cubin ? "sm" : "compute", strchr(arch, '_') + 1, cubin ? "cubin" : "ptx");
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* The whole file, NUL-terminated (PTX must be); NULL when it cannot be read. */
static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = '\0';
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* Writes a temporary file beside path and renames it over path: readers see all or nothing. No
   fsync: an entry lost in a crash, or left empty, fails to load and is compiled again. */
static void write_all(const char *path, const void *data, size_t n) {
    char tmp[CACHE_PATH + 8];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= sizeof tmp)
        return;
    int fd = mkstemp(tmp);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "wb");
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f)
        ok = (fclose(f) == 0) && ok;
    else
        close(fd);
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
}

/* ---- the device ------------------------------------------------------------------------------ */

typedef struct {
    CUdeviceptr dptr; /* device memory, or 0 */
    void *host;       /* pinned host memory, or NULL */
    size_t bytes;
} Alloc;

struct TgCuda {
    CUdevice dev;
    CUcontext ctx;       /* the device's primary context, retained until close */
    CUstream stream;     /* everything runs here, in order */
    int cc;              /* compute capability, 10 * major + minor: 90 */
    char arch[32];       /* NVRTC's target: "sm_90", or "compute_120" for a GPU newer than NVRTC */
    int drv_version;     /* cuDriverGetVersion: 12040 for 12.4 */
    char desc[384];      /* tg_cuda_describe */
    CUmodule module;     /* the kernels of the last tg_cuda_load, or NULL */
    CUfunction *kernels; /* [nkernels] */
    char **names;        /* [nkernels] their names, for messages */
    int *shared_max;     /* [nkernels] dynamic shared memory allowed beyond the 48 KiB default */
    int nkernels;
    Alloc *allocs; /* everything tg_cuda_close frees */
    int nallocs, capallocs;
};

/*
 * NVRTC's target for a GPU of compute capability cc: the GPU's own sm_ when NVRTC has it, else PTX
 * for the newest architecture below it, which the driver compiles on.
 */
static int pick_arch(TgCuda *c, char *err, size_t errlen) {
    int n = 0, best = 0, exact = 0, oldest = 0, *archs = NULL;
    if (nv.nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0)
        return fail(err, errlen, "NVRTC failed: nvrtcGetNumSupportedArchs");
    archs = malloc((size_t)n * sizeof *archs);
    if (!archs || nv.nvrtcGetSupportedArchs(archs) != NVRTC_SUCCESS) {
        free(archs);
        return fail(err, errlen, "NVRTC failed: nvrtcGetSupportedArchs");
    }
    for (int i = 0; i < n; i++) {
        exact |= archs[i] == c->cc;
        if (archs[i] < c->cc && archs[i] > best)
            best = archs[i];
        if (i == 0 || archs[i] < oldest)
            oldest = archs[i];
    }
    free(archs);
    if (exact)
        snprintf(c->arch, sizeof c->arch, "sm_%d", c->cc);
    else if (best)
        snprintf(c->arch, sizeof c->arch, "compute_%d", best);
    else
        return fail(err, errlen, "GPU too old for NVRTC %d.%d: sm_%d, the oldest it compiles for "
                    "is sm_%d; set TGC_NVRTC to an older NVRTC", nv_major, nv_minor, c->cc, oldest);
    return 0;
}

/* The device, its name and numbers; everything here is read-only, so nothing to undo on failure. */
static int open_device(TgCuda *c, char *err, size_t errlen) {
    CUresult r = drv.cuInit(0);
    if (r == CUDA_ERROR_STUB_LIBRARY) /* found through LD_LIBRARY_PATH=.../lib64/stubs */
        return fail(err, errlen, "no CUDA driver: the libcuda found is the CUDA toolkit's stub");
    if (r == CUDA_ERROR_NO_DEVICE)
        return fail_cu(err, errlen, r, "cuInit", "no CUDA GPU");
    if (r == CUDA_ERROR_OUT_OF_MEMORY) /* ASan's shadow gap is where the driver maps memory */
        return fail_cu(err, errlen, r, "cuInit", "CUDA driver does not start (under "
                       "AddressSanitizer, set ASAN_OPTIONS=protect_shadow_gap=0)");
    if (r != CUDA_SUCCESS)
        return fail_cu(err, errlen, r, "cuInit", "CUDA driver does not start");
    int count = 0, ordinal = 0;
    if ((r = drv.cuDeviceGetCount(&count)) != CUDA_SUCCESS)
        return fail_cu(err, errlen, r, "cuDeviceGetCount", "no CUDA GPU");
    if (count == 0)
        return fail(err, errlen, "no CUDA GPU: the driver sees none");
    const char *env = getenv("TGC_CUDA_DEVICE");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 0 || v >= count)
            return fail(err, errlen, "no CUDA GPU %s (TGC_CUDA_DEVICE): the driver sees GPUs 0 to %d",
                        env, count - 1);
        ordinal = (int)v;
    }
    int major = 0, minor = 0;
    size_t mem = 0;
    char name[256];
    const CUdevice_attribute cc_major = CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR;
    const CUdevice_attribute cc_minor = CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR;
    if ((r = drv.cuDeviceGet(&c->dev, ordinal)) != CUDA_SUCCESS)
        return fail_cu(err, errlen, r, "cuDeviceGet", "cannot open CUDA GPU %d", ordinal);
    if ((r = drv.cuDeviceGetName(name, sizeof name, c->dev)) != CUDA_SUCCESS)
        return fail_cu(err, errlen, r, "cuDeviceGetName", "cannot query CUDA GPU %d", ordinal);
    if ((r = drv.cuDeviceGetAttribute(&major, cc_major, c->dev)) != CUDA_SUCCESS ||
        (r = drv.cuDeviceGetAttribute(&minor, cc_minor, c->dev)) != CUDA_SUCCESS)
        return fail_cu(err, errlen, r, "cuDeviceGetAttribute", "cannot query CUDA GPU %d", ordinal);
    if ((r = drv.cuDeviceTotalMem_v2(&mem, c->dev)) != CUDA_SUCCESS)
        return fail_cu(err, errlen, r, "cuDeviceTotalMem", "cannot query CUDA GPU %d", ordinal);
    if ((r = drv.cuDriverGetVersion(&c->drv_version)) != CUDA_SUCCESS)
        return fail_cu(err, errlen, r, "cuDriverGetVersion", "cannot query the CUDA driver");
    c->cc = 10 * major + minor;
    if (load_nvrtc(err, errlen) || pick_arch(c, err, errlen))
        return -1;
    int ptx = c->arch[0] == 'c';
    snprintf(c->desc, sizeof c->desc, "%s, sm_%d, %.1f GiB, driver %d.%d, NVRTC %d.%d%s%s", name,
             c->cc, (double)mem / (1 << 30), c->drv_version / 1000, c->drv_version % 1000 / 10,
             nv_major, nv_minor, ptx ? ", PTX for " : "", ptx ? c->arch : "");
    return 0;
}

TgCuda *tg_cuda_open(char *err, size_t errlen) {
    TgCuda *c = calloc(1, sizeof *c);
    if (!c) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    CUresult r;
    if (load_driver(err, errlen) || open_device(c, err, errlen))
        goto fail;
    if ((r = drv.cuDevicePrimaryCtxRetain(&c->ctx, c->dev)) != CUDA_SUCCESS) {
        c->ctx = NULL;
        fail_cu(err, errlen, r, "cuDevicePrimaryCtxRetain", "cannot use CUDA GPU");
        goto fail;
    }
    if ((r = drv.cuCtxSetCurrent(c->ctx)) != CUDA_SUCCESS) {
        fail_cu(err, errlen, r, "cuCtxSetCurrent", "cannot use CUDA GPU");
        goto fail;
    }
    if ((r = drv.cuStreamCreate(&c->stream, CU_STREAM_DEFAULT)) != CUDA_SUCCESS) {
        c->stream = NULL;
        fail_cu(err, errlen, r, "cuStreamCreate", "cannot use CUDA GPU");
        goto fail;
    }
    return c;
fail:
    if (c->ctx)
        drv.cuDevicePrimaryCtxRelease_v2(c->dev);
    free(c);
    return NULL;
}

static void unload_kernels(TgCuda *c) {
    if (c->module)
        drv.cuModuleUnload(c->module);
    for (int k = 0; k < c->nkernels; k++)
        free(c->names[k]);
    free(c->kernels);
    free(c->names);
    free(c->shared_max);
    c->module = NULL;
    c->kernels = NULL;
    c->names = NULL;
    c->shared_max = NULL;
    c->nkernels = 0;
}

void tg_cuda_close(TgCuda *c) {
    if (!c)
        return;
    drv.cuStreamSynchronize(c->stream); /* errors no longer matter: we are leaving */
    unload_kernels(c);
    for (int i = 0; i < c->nallocs; i++) {
        if (c->allocs[i].host)
            drv.cuMemFreeHost(c->allocs[i].host);
        else
            drv.cuMemFree_v2(c->allocs[i].dptr);
    }
    free(c->allocs);
    drv.cuStreamDestroy_v2(c->stream);
    drv.cuDevicePrimaryCtxRelease_v2(c->dev);
    free(c);
}

const char *tg_cuda_describe(const TgCuda *c) { return c->desc; }

/* ---- kernels --------------------------------------------------------------------------------- */

/* The module's kernels by name; on failure nothing is kept. */
static int find_kernels(TgCuda *c, CUmodule m, const char *const *names, int nk, char *err,
                        size_t errlen) {
    CUfunction *f = calloc((size_t)nk + 1, sizeof *f);
    char **nm = calloc((size_t)nk + 1, sizeof *nm);
    int *sh = calloc((size_t)nk + 1, sizeof *sh);
    int rc = 0;
    if (!f || !nm || !sh)
        rc = fail(err, errlen, "out of memory");
    for (int k = 0; k < nk && rc == 0; k++) {
        CUresult r = drv.cuModuleGetFunction(&f[k], m, names[k]);
        if (r != CUDA_SUCCESS)
            rc = fail_cu(err, errlen, r, "cuModuleGetFunction", "no kernel %s in the compiled code",
                         names[k]);
        else if (!(nm[k] = malloc(strlen(names[k]) + 1)))
            rc = fail(err, errlen, "out of memory");
        else
            strcpy(nm[k], names[k]);
    }
    if (rc) {
        for (int k = 0; nm && k < nk; k++)
            free(nm[k]);
        free(f);
        free(nm);
        free(sh);
        drv.cuModuleUnload(m);
        return -1;
    }
    unload_kernels(c);
    c->module = m;
    c->kernels = f;
    c->names = nm;
    c->shared_max = sh;
    c->nkernels = nk;
    return 0;
}

/* The cache key: everything the compiled code depends on. */
static uint64_t cache_key(const TgCuda *c, const Opts *o, const char *src) {
    char salt[64];
    snprintf(salt, sizeof salt, "cc %d nvrtc %d.%d", c->cc, nv_major, nv_minor);
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, salt, strlen(salt) + 1);
    for (int i = 0; i < o->argc; i++) /* with each NUL, so "-a" "b" differs from "-ab" */
        h = fnv1a(h, o->argv[i], strlen(o->argv[i]) + 1);
    return fnv1a(h, src, strlen(src));
}

/* Compiles src and loads the result into *m; keeps it in the cache at path unless that is NULL. */
static int compile_module(TgCuda *c, const char *src, const Opts *o, const char *path, CUmodule *m,
                          char *err, size_t errlen) {
    char *image = NULL, *log;
    size_t size = 0;
    int rc = nvrtc_run(src, o, &image, &size, &log, err, errlen);
    if (rc == 1) {
        size_t n = strlen(log);
        while (n && (log[n - 1] == '\n' || log[n - 1] == ' '))
            log[--n] = '\0';
        fail(err, errlen, "kernels do not compile (NVRTC %d.%d, -arch=%s):\n%s", nv_major,
             nv_minor, c->arch, log);
    }
    free(log);
    if (rc)
        return -1;
    CUresult r = drv.cuModuleLoadData(m, image);
    if (r != CUDA_SUCCESS) {
        /* NVRTC's code wants a driver of at least NVRTC's major version */
        int old = c->drv_version / 1000 < nv_major;
        rc = fail_cu(err, errlen, r, "cuModuleLoadData", "driver rejects the compiled kernels%s",
                     old ? " (the driver is older than NVRTC: set TGC_NVRTC to one no newer)" : "");
    } else if (path) {
        write_all(path, image, size);
    }
    free(image);
    return rc;
}

int tg_cuda_load(TgCuda *c, const char *src, const char *extra_opts, const char *const *names, int nk,
                 char *err, size_t errlen) {
    Opts o;
    char path[CACHE_PATH];
    CUmodule m = NULL;
    if (opts_make(&o, c->arch, extra_opts))
        return fail(err, errlen, "out of memory");
    int cached = cache_path(path, sizeof path, cache_key(c, &o, src), c->arch) == 0;
    char *image = cached ? read_all(path) : NULL;
    /* an entry the driver refuses (damaged, or for another driver) is compiled again and replaced */
    if (!image || drv.cuModuleLoadData(&m, image) != CUDA_SUCCESS)
        m = NULL;
    free(image);
    int rc = m ? 0 : compile_module(c, src, &o, cached ? path : NULL, &m, err, errlen);
    opts_free(&o);
    return rc ? -1 : find_kernels(c, m, names, nk, err, errlen);
}

/* ---- memory, copies, launches ---------------------------------------------------------------- */

static int remember(TgCuda *c, CUdeviceptr dptr, void *host, size_t bytes) {
    if (c->nallocs == c->capallocs) {
        int cap = c->capallocs ? 2 * c->capallocs : 16;
        Alloc *a = realloc(c->allocs, (size_t)cap * sizeof *a);
        if (!a)
            return -1;
        c->allocs = a;
        c->capallocs = cap;
    }
    c->allocs[c->nallocs++] = (Alloc){dptr, host, bytes};
    return 0;
}

int tg_cuda_alloc(TgCuda *c, uint64_t *dptr, size_t bytes, char *err, size_t errlen) {
    CUdeviceptr p = 0;
    CUresult r = drv.cuMemAlloc_v2(&p, bytes);
    if (r != CUDA_SUCCESS)
        return fail_cu(err, errlen, r, "cuMemAlloc", "cannot allocate %zu bytes on the GPU", bytes);
    if (remember(c, p, NULL, bytes)) {
        drv.cuMemFree_v2(p);
        return fail(err, errlen, "out of memory");
    }
    *dptr = p;
    return 0;
}

int tg_cuda_alloc_pinned(TgCuda *c, void **p, size_t bytes, char *err, size_t errlen) {
    void *h = NULL;
    CUresult r = drv.cuMemHostAlloc(&h, bytes, 0);
    if (r != CUDA_SUCCESS)
        return fail_cu(err, errlen, r, "cuMemHostAlloc", "cannot allocate %zu bytes of pinned memory",
                       bytes);
    if (remember(c, 0, h, bytes)) {
        drv.cuMemFreeHost(h);
        return fail(err, errlen, "out of memory");
    }
    *p = h;
    return 0;
}

/* Whether [p, p+bytes) lies in our pinned memory, which the GPU reads while the host goes on. */
static int is_pinned(const TgCuda *c, const void *p, size_t bytes) {
    uintptr_t a = (uintptr_t)p;
    for (int i = 0; i < c->nallocs; i++) {
        uintptr_t h = (uintptr_t)c->allocs[i].host;
        if (h && a >= h && a - h <= c->allocs[i].bytes && bytes <= c->allocs[i].bytes - (a - h))
            return 1;
    }
    return 0;
}

void tg_cuda_upload(TgCuda *c, uint64_t dst, const void *src, size_t bytes) {
    if (!bytes)
        return;
    check(drv.cuMemcpyHtoDAsync_v2(dst, src, bytes, c->stream), "cuMemcpyHtoDAsync",
          "upload of %zu bytes", bytes);
    /* Pageable memory may change as soon as we return, and the driver may still be reading it. */
    if (!is_pinned(c, src, bytes))
        check(drv.cuStreamSynchronize(c->stream), "cuStreamSynchronize", "upload of %zu bytes",
              bytes);
}

void tg_cuda_download(TgCuda *c, void *dst, uint64_t src, size_t bytes) {
    if (!bytes)
        return;
    check(drv.cuMemcpyDtoHAsync_v2(dst, src, bytes, c->stream), "cuMemcpyDtoHAsync",
          "download of %zu bytes", bytes);
    check(drv.cuStreamSynchronize(c->stream), "cuStreamSynchronize", "download of %zu bytes", bytes);
}

void tg_cuda_memset(TgCuda *c, uint64_t dst, size_t bytes) {
    if (bytes)
        check(drv.cuMemsetD8Async(dst, 0, bytes, c->stream), "cuMemsetD8Async", "zeroing %zu bytes",
              bytes);
}

int tg_cuda_grid(uint64_t blocks, unsigned *gx, unsigned *gy) {
    const uint64_t max_x = 2147483647u, max_y = 65535;
    uint64_t y = blocks <= max_x ? 1 : (blocks + max_x - 1) / max_x;
    if (y > max_y)
        return -1;
    *gx = (unsigned)((blocks + y - 1) / y); /* <= max_x, since y >= blocks / max_x */
    *gy = (unsigned)y;
    return 0;
}

void tg_cuda_launch(TgCuda *c, int k, uint64_t grid, unsigned block, unsigned shared_bytes,
                    void **args) {
    unsigned gx, gy;
    if (k < 0 || k >= c->nkernels) {
        fprintf(stderr, "tgc cuda: launch of kernel %d: only %d kernels are loaded\n", k,
                c->nkernels);
        exit(1);
    }
    if (tg_cuda_grid(grid, &gx, &gy)) {
        fprintf(stderr, "tgc cuda: launch of %s: %llu blocks are more than CUDA can launch\n",
                c->names[k], (unsigned long long)grid);
        exit(1);
    }
    if (!grid)
        return;
    /* Over 48 KiB of dynamic shared memory is refused unless the kernel is allowed it first. */
    if (shared_bytes > 48 * 1024 && (int)shared_bytes > c->shared_max[k]) {
        const CUfunction_attribute a = CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
        check(drv.cuFuncSetAttribute(c->kernels[k], a, (int)shared_bytes), "cuFuncSetAttribute",
              "launch of %s with %u bytes of shared memory", c->names[k], shared_bytes);
        c->shared_max[k] = (int)shared_bytes;
    }
    check(drv.cuLaunchKernel(c->kernels[k], gx, gy, 1, block, 1, 1, shared_bytes, c->stream, args,
                             NULL),
          "cuLaunchKernel", "launch of %s (%llu blocks of %u threads, %u bytes shared)", c->names[k],
          (unsigned long long)grid, block, shared_bytes);
}

void tg_cuda_sync(TgCuda *c) {
    check(drv.cuStreamSynchronize(c->stream), "cuStreamSynchronize", "waiting for the GPU");
}
