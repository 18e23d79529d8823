/*
 * test_cuda_gpu.c: the CUDA runtime on a real GPU: memory, copies in both directions (pageable and
 * pinned), kernels compiled by NVRTC and launched (dynamic shared memory beyond 48 KiB included),
 * the cache of compiled kernels (a hit rewrites nothing, a damaged entry is replaced, "off" writes
 * nothing), setup errors, and the exit(1) of a failed copy or launch.
 *
 * Exits 77, meson's SKIP, when tg_cuda_open fails (no driver, no GPU), printing why. The tests
 * share one TgCuda and so run in this process (CUDA does not survive fork); the fatal errors run
 * in a fresh copy of this program: `test_cuda_gpu fatal-launch|fatal-copy`.
 */
#include <check.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"
#include "tgrt_cuda.h"

/* Whether s begins with prefix: messages are checked by their fixed start. */
static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static TgCuda *cu;
static char cache_dir[512]; /* TGC_CUDA_CACHE for the whole run, removed at the end */
static const char *self;    /* this program, for the fatal tests */

/* gid(): the thread's index in a grid tg_cuda_launch may have split into x and y */
static const char *SRC =
    "typedef unsigned long long u64;\n"
    "__device__ u64 gid() {\n"
    "    return ((u64)blockIdx.y * gridDim.x + blockIdx.x) * blockDim.x + threadIdx.x;\n"
    "}\n"
    "extern \"C\" __global__ void axpb(float *y, const float *x, float a, float b, u64 n) {\n"
    "    u64 i = gid();\n"
    "    if (i < n)\n"
    "        y[i] = a * x[i] + b;\n"
    "}\n"
    "extern \"C\" __global__ void fill(float *y, float v, u64 n) {\n"
    "    u64 i = gid();\n"
    "    if (i < n)\n"
    "        y[i] = v;\n"
    "}\n"
    "extern \"C\" __global__ void reverse(float *y, const float *x, int n) {\n"
    "    extern __shared__ float s[];\n"
    "    for (int i = threadIdx.x; i < n; i += blockDim.x)\n"
    "        s[i] = x[i];\n"
    "    __syncthreads();\n"
    "    for (int i = threadIdx.x; i < n; i += blockDim.x)\n"
    "        y[i] = s[n - 1 - i];\n"
    "}\n";
static const char *const NAMES[] = {"axpb", "fill", "reverse"};
enum { K_AXPB, K_FILL, K_REVERSE };

static void load(const char *src, const char *opts) {
    char err[8192];
    ck_assert_msg(tg_cuda_load(cu, src, opts, NAMES, 3, err, sizeof err) == 0, "%s", err);
}

/* y = a * x + b on the GPU for n elements, checked; x holds small integers, so all is exact. */
static void check_axpb(size_t n, float a, float b, int pinned) {
    char err[512];
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    void *pin = NULL;
    uint64_t dx, dy;
    unsigned long long n64 = n;
    ck_assert_msg(tg_cuda_alloc(cu, &dx, n * sizeof *x, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(tg_cuda_alloc(cu, &dy, n * sizeof *y, err, sizeof err) == 0, "%s", err);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(i % 4099);
    if (pinned) {
        ck_assert_msg(tg_cuda_alloc_pinned(cu, &pin, n * sizeof *x, err, sizeof err) == 0, "%s", err);
        memcpy(pin, x, n * sizeof *x);
    }
    tg_cuda_upload(cu, dx, pinned ? pin : x, n * sizeof *x);
    void *fill_args[] = {&dy, &(float){-1.0f}, &n64};
    tg_cuda_launch(cu, K_FILL, (n + 255) / 256, 256, 0, fill_args);
    tg_cuda_download(cu, y, dy, n * sizeof *y);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(y[i] == -1.0f, "fill: y[%zu] = %g", i, y[i]);
    tg_cuda_memset(cu, dy, n * sizeof *y);
    tg_cuda_download(cu, y, dy, n * sizeof *y);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(y[i] == 0.0f, "memset: y[%zu] = %g", i, y[i]);
    void *args[] = {&dy, &dx, &a, &b, &n64};
    tg_cuda_launch(cu, K_AXPB, (n + 127) / 128, 128, 0, args);
    tg_cuda_sync(cu);
    tg_cuda_download(cu, y, dy, n * sizeof *y);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(y[i] == a * x[i] + b, "axpb: y[%zu] = %g, expected %g", i, y[i], a * x[i] + b);
    free(x);
    free(y);
}

START_TEST(test_describe) {
    const char *d = tg_cuda_describe(cu);
    ck_assert_msg(strstr(d, ", sm_") && strstr(d, " GiB, driver ") && strstr(d, ", NVRTC "), "%s", d);
}
END_TEST

START_TEST(test_kernels) {
    load(SRC, NULL);
    check_axpb((1u << 20) + 3, 2.0f, 1.0f, 0);
    check_axpb(1000, -3.0f, 0.5f, 1);
    check_axpb(1, 1.0f, 1.0f, 1);
}
END_TEST

/* 80000 bytes of dynamic shared memory: more than a kernel gets without asking (48 KiB). */
START_TEST(test_big_shared) {
    enum { N = 20000 };
    char err[512];
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint64_t dx, dy;
    int n = N;
    for (int i = 0; i < N; i++)
        x[i] = (float)i;
    load(SRC, NULL);
    ck_assert_msg(tg_cuda_alloc(cu, &dx, sizeof(float) * N, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(tg_cuda_alloc(cu, &dy, sizeof(float) * N, err, sizeof err) == 0, "%s", err);
    tg_cuda_upload(cu, dx, x, sizeof(float) * N);
    void *args[] = {&dy, &dx, &n};
    tg_cuda_launch(cu, K_REVERSE, 1, 512, sizeof(float) * N, args);
    tg_cuda_launch(cu, K_REVERSE, 0, 512, sizeof(float) * N, args); /* nothing */
    tg_cuda_download(cu, y, dy, sizeof(float) * N);
    for (int i = 0; i < N; i++)
        ck_assert_msg(y[i] == (float)(N - 1 - i), "y[%d] = %g", i, y[i]);
    free(x);
    free(y);
}
END_TEST

enum { MAX_ENTRIES = 64 };
typedef char Name[256];

/* The cache's file names; anything but whole entries (k-<hash>-<arch>.cubin or .ptx) fails. */
static int entries(Name *names) {
    DIR *d = opendir(cache_dir);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d))) {
        const char *dot = strrchr(e->d_name, '.');
        if (e->d_name[0] == '.')
            continue;
        int whole = starts(e->d_name, "k-") && dot && (!strcmp(dot, ".cubin") || !strcmp(dot, ".ptx"));
        ck_assert_msg(whole, "a stray file in the cache: %s", e->d_name);
        ck_assert_int_lt(n, MAX_ENTRIES);
        snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    }
    closedir(d);
    return n;
}

/* The one name of `now` that `before` lacks. */
static const char *added(Name *before, int nb, Name *now, int nn) {
    const char *found = NULL;
    for (int i = 0; i < nn; i++) {
        int old = 0;
        for (int j = 0; j < nb; j++)
            old |= strcmp(now[i], before[j]) == 0;
        if (!old) {
            ck_assert_msg(!found, "two new cache entries: %s, %s", found, now[i]);
            found = now[i];
        }
    }
    ck_assert_msg(found != NULL, "no new cache entry");
    return found;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

START_TEST(test_cache) {
    /* a source of its own, so its entry is new whatever ran before */
    const char *src = fmt("%s// test_cache %ld\n", SRC, (long)getpid());
    static Name before[MAX_ENTRIES], after[MAX_ENTRIES];
    struct stat st, st2;
    int n0 = entries(before);
    double t0 = now();
    load(src, NULL);
    double t1 = now();
    ck_assert_int_eq(entries(after), n0 + 1);
    const char *name = keep(strdup(added(before, n0, after, n0 + 1)));
    ck_assert_msg(strlen(name) > 20 && name[18] == '-', "k-<16 hex digits>-sm90.cubin: %s", name);
    const char *path = fmt("%s/%s", cache_dir, name);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    load(src, NULL); /* a hit: the entry is read, not written */
    double t2 = now();
    ck_assert_int_eq(entries(after), n0 + 1);
    ck_assert_int_eq(stat(path, &st2), 0);
    ck_assert_msg(st2.st_ino == st.st_ino, "a cache hit rewrote %s", name);
    printf("cache: compiled in %.3f s, loaded from %s in %.3f s\n", t1 - t0, name, t2 - t1);
    check_axpb(777, 4.0f, -2.0f, 0);

    /* a damaged entry is compiled again and replaced */
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("not a cubin", f);
    fclose(f);
    load(src, NULL);
    check_axpb(777, 4.0f, -2.0f, 0);
    size_t len;
    const char *image = slurp(path, &len);
    ck_assert_msg(len > 100 && (memcmp(image, "\177ELF", 4) == 0 || strstr(image, ".version")),
                  "%s was not replaced (%zu bytes)", path, len);
    ck_assert_int_eq(entries(after), n0 + 1);

    /* other options, another entry; "off", none */
    load(src, "-DTG_UNUSED=1");
    ck_assert_int_eq(entries(after), n0 + 2);
    setenv("TGC_CUDA_CACHE", "off", 1);
    load(src, "-DTG_UNUSED=2");
    setenv("TGC_CUDA_CACHE", cache_dir, 1);
    ck_assert_int_eq(entries(after), n0 + 2);
}
END_TEST

/* Failed loads say why and keep the kernels loaded before. */
START_TEST(test_load_errors) {
    char err[8192];
    const char *bad = "extern \"C\" __global__ void axpb(float *y) {\n    y[0] = 1\n}\n";
    const char *const nope[] = {"axpb", "nope"};
    load(SRC, NULL);
    ck_assert_int_eq(tg_cuda_load(cu, bad, NULL, NAMES, 1, err, sizeof err), -1);
    ck_assert_msg(starts(err, "kernels do not compile (NVRTC ") &&
                      strstr(err, "tgc_kernels.cu(3): error"),
                  "%s", err);
    ck_assert_int_eq(tg_cuda_load(cu, SRC, NULL, nope, 2, err, sizeof err), -1);
    ck_assert_msg(starts(err, "no kernel nope in the compiled code: cuModuleGetFunction: "
                              "CUDA_ERROR_NOT_FOUND"),
                  "%s", err);
    check_axpb(100, 1.0f, 2.0f, 0); /* the kernels of load(SRC) */
    uint64_t p;
    ck_assert_int_eq(tg_cuda_alloc(cu, &p, (size_t)1 << 50, err, sizeof err), -1);
    ck_assert_msg(starts(err, "cannot allocate 1125899906842624 bytes on the GPU: cuMemAlloc: "
                              "CUDA_ERROR_OUT_OF_MEMORY"),
                  "%s", err);
}
END_TEST

/* A failed launch or copy ends the program with status 1 and a line that names the call. */
START_TEST(test_fatal) {
    const char *out = fmt("%s/fatal.out", cache_dir), *errf = fmt("%s/fatal.err", cache_dir);
    char *launch[] = {(char *)self, "fatal-launch", NULL}, *copy[] = {(char *)self, "fatal-copy", NULL};
    ck_assert_int_eq(run(NULL, out, errf, launch), 1);
    ck_assert_str_eq(slurp(errf, NULL), "tgc cuda: launch of kernel 3: only 3 kernels are loaded\n");
    ck_assert_int_eq(run(NULL, out, errf, copy), 1);
    const char *msg = slurp(errf, NULL);
    ck_assert_msg(starts(msg, "tgc cuda: download of 16 bytes: cu") && strstr(msg, ": CUDA_ERROR_"),
                  "%s", msg);
    remove(out);
    remove(errf);
}
END_TEST

/* The fatal cases, run as `test_cuda_gpu MODE`: they must not return. */
static int fatal(const char *mode) {
    char err[8192];
    float buf[4];
    cu = tg_cuda_open(err, sizeof err);
    if (!cu || tg_cuda_load(cu, SRC, NULL, NAMES, 3, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (strcmp(mode, "fatal-launch") == 0)
        tg_cuda_launch(cu, 3, 1, 1, 0, NULL);
    else
        tg_cuda_download(cu, buf, 16, sizeof buf); /* device address 16 is nobody's */
    return 3;
}

static void remove_cache_dir(void) {
    DIR *d = opendir(cache_dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            remove(fmt("%s/%s", cache_dir, e->d_name));
    if (d)
        closedir(d);
    rmdir(cache_dir);
}

int main(int argc, char **argv) {
    char err[8192];
    self = argv[0];
    if (argc > 1)
        return fatal(argv[1]);
    const char *t = getenv("TMPDIR");
    snprintf(cache_dir, sizeof cache_dir, "%s/tgc_cuda_test_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(cache_dir)) {
        perror(cache_dir);
        return 1;
    }
    atexit(remove_cache_dir); /* also after a fatal error's exit(1) */
    setenv("TGC_CUDA_CACHE", cache_dir, 1);
    if (!(cu = tg_cuda_open(err, sizeof err))) {
        printf("SKIP: %s\n", err);
        return 77;
    }
    printf("GPU: %s\n", tg_cuda_describe(cu));

    Suite *s = suite_create("cuda-gpu");
    TCase *tc = tcase_create("gpu");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_describe);
    tcase_add_test(tc, test_kernels);
    tcase_add_test(tc, test_big_shared);
    tcase_add_test(tc, test_cache);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_fatal);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* one TgCuda for all, and CUDA does not survive fork */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tg_cuda_close(cu);
    return failed ? 1 : 0;
}
