/*
 * test_cuda_runtime.c: the CUDA runtime (runtime/cuda.c) where there is no GPU: NVRTC alone, the
 * messages of a machine without a driver, the toolkit's stub libcuda (a real driver's symbols) and
 * the launch grid's layout.
 *
 * NVRTC must load here (the suite is only built where the CUDA headers are, and NVRTC comes with
 * them): its tests fail, not skip, when it does not. The kernels run on a GPU in test_cuda_gpu.c.
 * Each test runs in its own process (forced: the runtime loads NVRTC once per process, and the
 * TGC_NVRTC tests need a fresh one).
 */
#include <check.h>
#include <dlfcn.h>
#include <string.h>

#include "harness.h"
#include "tgrt_cuda.h"

/* Whether s begins with prefix: messages are checked by their fixed start. */
static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static const char *self; /* this program, run again by test_stub_driver */

/* The log, printed on failure so that a wrong NVRTC answer explains itself. */
#define ck_log(cond, log) ck_assert_msg(cond, "NVRTC log:\n%s", (log) ? (log) : "(none)")

static const char *VALID =
    "extern \"C\" __global__ void scale(float *x, float a, int n) {\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n)\n"
    "        x[i] *= a;\n"
    "}\n";

START_TEST(test_compile_valid) {
    static const char *archs[] = {"compute_80", "sm_80", "sm_90"};
    for (int i = 0; i < 3; i++) {
        char *log = NULL, err[256] = "";
        int rc = tg_nvrtc_compile(VALID, archs[i], NULL, &log, err, sizeof err);
        ck_assert_msg(rc == 0, "%s: rc %d, err \"%s\", log:\n%s", archs[i], rc, err,
                      log ? log : "(none)");
        ck_log(log && !strstr(log, "warning"), log);
        free(log);
    }
}
END_TEST

START_TEST(test_compile_syntax_error) {
    const char *src = "extern \"C\" __global__ void k(float *x) {\n"
                      "    float y = x[0]\n"
                      "    x[1] = y;\n"
                      "}\n";
    char *log = NULL, err[256] = "";
    ck_assert_int_eq(tg_nvrtc_compile(src, "compute_80", NULL, &log, err, sizeof err), 1);
    /* NVRTC reports the missing ';' where the next statement starts: line 3 */
    ck_log(log && strstr(log, "tgc_kernels.cu(3): error: expected a \";\""), log);
    free(log);
}
END_TEST

/* The code generator's test fails on any warning: show that warnings reach the log. */
START_TEST(test_compile_warning) {
    const char *src = "extern \"C\" __global__ void k(float *x) {\n"
                      "    int unused;\n"
                      "    x[0] = 1.0f;\n"
                      "}\n";
    char *log = NULL, err[256] = "";
    ck_assert_int_eq(tg_nvrtc_compile(src, "compute_80", NULL, &log, err, sizeof err), 0);
    ck_log(log && strstr(log, "tgc_kernels.cu(2): warning") &&
               strstr(log, "\"unused\" was declared but never referenced"),
           log);
    free(log);
}
END_TEST

/* extra_opts reach NVRTC, one option per word, whatever the spaces between them. */
START_TEST(test_compile_extra_opts) {
    const char *src = "#if TG_N != 3 || !defined(TG_FAST)\n"
                      "#error TG_N must be 3 and TG_FAST defined\n"
                      "#endif\n"
                      "extern \"C\" __global__ void k(float *x) { x[0] = TG_N; }\n";
    char *log = NULL, err[256] = "";
    const char *opts = "  -DTG_N=3 \t-DTG_FAST  -lineinfo ";
    ck_assert_int_eq(tg_nvrtc_compile(src, "compute_80", opts, &log, err, sizeof err), 0);
    ck_log(log && !*log, log);
    free(log);
    ck_assert_int_eq(tg_nvrtc_compile(src, "compute_80", NULL, &log, err, sizeof err), 1);
    ck_log(log && strstr(log, "TG_N must be 3"), log);
    free(log);
    /* the fixed options are there too: C++17 (if constexpr) and device code by default */
    const char *cxx17 = "template <int N> __device__ int f() {\n"
                        "    if constexpr (N > 0) return N; else return 0;\n"
                        "}\n"
                        "int g() { return 4; }\n"
                        "extern \"C\" __global__ void k(int *x) { x[0] = f<3>() + g(); }\n";
    ck_assert_int_eq(tg_nvrtc_compile(cxx17, "compute_80", NULL, &log, err, sizeof err), 0);
    ck_log(log && !*log, log);
    free(log);
}
END_TEST

/* A bad option is NVRTC refusing the compile (1), with its reason in the log, not a crash. */
START_TEST(test_compile_bad_arch) {
    char *log = NULL, err[256] = "";
    ck_assert_int_eq(tg_nvrtc_compile(VALID, "sm_1", NULL, &log, err, sizeof err), 1);
    ck_log(log && strstr(log, "--gpu-architecture"), log);
    free(log);
}
END_TEST

START_TEST(test_no_nvrtc) {
    char *log = (char *)"untouched", err[512] = "";
    setenv("TGC_NVRTC", "/nonexistent/libnvrtc.so", 1);
    ck_assert_int_eq(tg_nvrtc_compile(VALID, "compute_80", NULL, &log, err, sizeof err), -1);
    ck_assert_ptr_null(log);
    ck_assert_msg(starts(err, "no NVRTC: TGC_NVRTC=/nonexistent/libnvrtc.so does not load (dlopen: "),
                  "%s", err);
}
END_TEST

START_TEST(test_not_nvrtc) {
    char *log = NULL, err[512] = "";
    setenv("TGC_NVRTC", "libm.so.6", 1);
    ck_assert_int_eq(tg_nvrtc_compile(VALID, "compute_80", NULL, &log, err, sizeof err), -1);
    ck_assert_str_eq(err, "NVRTC too old or not NVRTC: libm.so.6 lacks nvrtcVersion");
}
END_TEST

/* Here, without a driver, open says so in one line; on a GPU machine it opens. */
START_TEST(test_open) {
    char err[512] = "";
    void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    TgCuda *cu = tg_cuda_open(err, sizeof err);
    if (!driver) {
        ck_assert_ptr_null(cu);
        ck_assert_msg(starts(err, "no CUDA driver: libcuda.so.1 not found (dlopen: libcuda.so.1: "),
                      "%s", err);
    } else if (!cu) { /* a driver without a GPU, or one that does not match its kernel module */
        ck_assert_msg(starts(err, "no CUDA GPU") || starts(err, "CUDA driver does not start: cuInit: "),
                      "%s", err);
    } else {
        const char *d = tg_cuda_describe(cu);
        ck_assert_msg(strstr(d, ", sm_") && strstr(d, " GiB, driver ") && strstr(d, ", NVRTC "), "%s",
                      d);
        tg_cuda_close(cu);
    }
    if (!cu)
        ck_assert_msg(!strchr(err, '\n'), "one line: %s", err);
    tg_cuda_close(NULL);
}
END_TEST

/*
 * The toolkit's stub libcuda (lib64/stubs, for linking) is a real libcuda's list of symbols without
 * a driver behind it: a copy of this program that finds it must resolve every function we fetch
 * (the _v2 names included) and then say that it is a stub. Needs the stub, and no real driver.
 */
START_TEST(test_stub_driver) {
    const char *stubs = "/usr/local/cuda/lib64/stubs";
    void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (driver || access(fmt("%s/libcuda.so", stubs), R_OK) != 0) {
        printf("test_stub_driver: skipped (%s)\n", driver ? "a driver is here" : "no stub libcuda");
        return;
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    const char *out = fmt("%s/tgc_stub_%ld.out", tmp, (long)getpid());
    char *argv[] = {(char *)self, "open", NULL};
    setenv("LD_LIBRARY_PATH", stubs, 1);
    ck_assert_int_eq(run(NULL, out, NULL, argv), 0);
    const char *got = slurp(out, NULL);
    remove(out);
    ck_assert_str_eq(got, "no CUDA driver: the libcuda found is the CUDA toolkit's stub\n");
}
END_TEST

START_TEST(test_grid) {
    static const uint64_t cases[] = {0, 1, 255, 2147483647ull, 2147483648ull, 4294967295ull,
                                     4294967296ull, 1000000000000ull, 2147483647ull * 65535};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t b = cases[i];
        unsigned gx = 7, gy = 7;
        ck_assert_int_eq(tg_cuda_grid(b, &gx, &gy), 0);
        ck_assert_msg(gx <= 2147483647u && gy >= 1 && gy <= 65535, "%llu: %u x %u",
                      (unsigned long long)b, gx, gy);
        ck_assert_msg((uint64_t)gx * gy >= b, "%llu: %u x %u too few", (unsigned long long)b, gx, gy);
        ck_assert_msg((uint64_t)gx * (gy - 1) < b || b == 0, "%llu: %u x %u, a whole row too many",
                      (unsigned long long)b, gx, gy);
    }
    unsigned gx, gy;
    tg_cuda_grid(5, &gx, &gy);
    ck_assert(gx == 5 && gy == 1);
    tg_cuda_grid(2147483648ull, &gx, &gy);
    ck_assert(gx == 1073741824u && gy == 2);
    ck_assert_int_eq(tg_cuda_grid(2147483647ull * 65535 + 1, &gx, &gy), -1);
}
END_TEST

int main(int argc, char **argv) {
    self = argv[0];
    if (argc > 1 && strcmp(argv[1], "open") == 0) { /* for test_stub_driver */
        char err[512];
        TgCuda *cu = tg_cuda_open(err, sizeof err);
        printf("%s\n", cu ? tg_cuda_describe(cu) : err);
        tg_cuda_close(cu);
        return 0;
    }
    Suite *s = suite_create("cuda-runtime");
    TCase *tc = tcase_create("nvrtc");
    tcase_set_timeout(tc, 60); /* the first NVRTC compile of a process loads ~100 MB */
    tcase_add_test(tc, test_compile_valid);
    tcase_add_test(tc, test_compile_syntax_error);
    tcase_add_test(tc, test_compile_warning);
    tcase_add_test(tc, test_compile_extra_opts);
    tcase_add_test(tc, test_compile_bad_arch);
    tcase_add_test(tc, test_no_nvrtc);
    tcase_add_test(tc, test_not_nvrtc);
    suite_add_tcase(s, tc);
    tc = tcase_create("driver");
    tcase_add_test(tc, test_open);
    tcase_add_test(tc, test_stub_driver);
    tcase_add_test(tc, test_grid);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
