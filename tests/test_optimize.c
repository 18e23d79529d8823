/*
 * test_optimize.c: the optimization passes end to end, through the real tgc binary.
 *
 * The figures --stats prints for the blitz LeNet's training step at batch 4 (samples/lenet.tg):
 * fusion leaves at least 30% fewer kernels than the simplified graph has without it, and the
 * planned transient region is at most half the plain sum of the same buffers. Then the same
 * training steps built with every pass on, with -O0 and with each pass off alone, run 200 steps
 * on the same made-up batches (tests/steps_driver.c): the losses must be identical, bit for bit,
 * since no pass changes the order of any float operation. And the kernels give the same losses
 * on 1, 2 and 4 threads.
 *
 * Environment (set by meson): TGC, TGC_SOURCE_ROOT, TGRT_INCDIR, TGRT_LIBDIR.
 */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static const char *tgc, *root, *incdir, *libdir;
static char tmp[64];

/* The numbers after `key` in the block of --stats for graph `graph`. */
static bool stat_numbers(const char *text, const char *graph, const char *key, double *a, double *b) {
    const char *g = strstr(text, fmt("== %s ==", graph));
    if (!g)
        return false;
    const char *k = strstr(g, key);
    const char *next = strstr(g + 3, "\n== ");
    if (!k || (next && k > next))
        return false;
    /* "kernels: 43, 123 with fusion off" or "transient 117696 bytes (114.9 KiB) planned; 288064 bytes" */
    return sscanf(k + strlen(key), "%lf , %lf", a, b) == 2 || sscanf(k + strlen(key), "%lf bytes (%*[^)]) planned; %lf", a, b) == 2;
}

static char *stats(const char *tg, const char *flags) {
    char *c = fmt("%s/stats.c", tmp), *out = fmt("%s/stats.txt", tmp), *err = fmt("%s/stats.err", tmp);
    char *argv[] = {(char *)tgc, "compile", (char *)tg, "-o", c, "--stats", (char *)flags, NULL};
    if (!*flags)
        argv[6] = NULL;
    ck_assert_msg(run(NULL, out, err, argv) == 0, "tgc --stats failed: %s", slurp(err, NULL));
    return slurp(out, NULL);
}

START_TEST(test_lenet_fusion_and_memory_targets) {
    char *tg = fmt("%s/samples/lenet.tg", root);
    char *s = stats(tg, "");
    double kernels, unfused, planned, plain;
    ck_assert_msg(stat_numbers(s, "train_Net", "kernels:", &kernels, &unfused), "no kernel counts in:\n%s", s);
    ck_assert_msg(stat_numbers(s, "train_Net", "transient", &planned, &plain), "no transient sizes in:\n%s", s);
    printf("lenet step, batch 4: %.0f kernels (%.0f without fusion), transient %.0f of %.0f bytes (%.2f)\n",
           kernels, unfused, planned, plain, planned / plain);
    fflush(stdout); /* before run() forks */
    ck_assert_msg(kernels <= 0.7 * unfused, "%.0f kernels, %.0f without fusion: less than 30%% fewer", kernels,
                  unfused);
    ck_assert_msg(2 * planned <= plain, "transient region %.0f bytes, more than half the plain sum %.0f", planned,
                  plain);
    /* the count "without fusion" is what --no-fuse really gives */
    double nf, nf2;
    char *t = stats(tg, "--no-fuse");
    ck_assert(stat_numbers(t, "train_Net", "kernels:", &nf, &nf2));
    ck_assert_msg(nf == unfused, "--no-fuse gives %.0f kernels, --stats said %.0f", nf, unfused);
    /* -O0: every value its own buffer, so the plan is the plain sum */
    char *o = stats(tg, "-O0");
    ck_assert(stat_numbers(o, "train_Net", "transient", &planned, &plain));
    ck_assert_msg(planned == plain, "-O0 still reuses memory: %.0f of %.0f", planned, plain);
}
END_TEST

/* Builds tests/steps_driver.c with the step of `tg` compiled with `flags`; returns its output. */
static char *run_steps_cc(const char *tg, const char *flags, int i, const char *opt);

static char *run_steps(const char *tg, const char *flags, int i) { return run_steps_cc(tg, flags, i, "-O2"); }

/* Builds tests/steps_driver.c with the step of `tg` compiled with `flags` and C flags `opt`
 * ("-O2", or "-O3 -march=native -ffp-contract=fast" as tgc build compiles); returns its output. */
static char *run_steps_cc(const char *tg, const char *flags, int i, const char *opt) {
    char *dir = fmt("%s/steps%d", tmp, i);
    mkdir(dir, 0755);
    char *src = fmt("%s/net.c", dir), *err = fmt("%s/err.txt", dir), *bin = fmt("%s/steps", dir);
    char *gen[] = {(char *)tgc, "compile", (char *)tg, "-o", src, "--no-main", (char *)flags, NULL};
    if (!*flags)
        gen[6] = NULL;
    ck_assert_msg(run(NULL, NULL, err, gen) == 0, "%s", slurp(err, NULL));
    char *cc[] = {"gcc", "-std=c99", "-fopenmp", fmt("-I%s", dir), fmt("-I%s", incdir), src,
                  fmt("%s/tests/steps_driver.c", root), "-o", bin, fmt("-L%s", libdir), "-ltgrt", "-lz", "-lm",
                  NULL, NULL, NULL, NULL, NULL};
    int nc = 13;
    char *o = fmt("%s", opt);
    for (char *tok = strtok(o, " "); tok; tok = strtok(NULL, " "))
        cc[nc++] = tok;
    const char *extra = getenv("TGC_TEST_CFLAGS"); /* the sanitizers libtgrt was built with */
    if (extra && *extra)
        cc[nc++] = (char *)extra;
    ck_assert_msg(run(NULL, NULL, err, cc) == 0, "the step does not build:\n%s", slurp(err, NULL));
    char *out = fmt("%s/losses.txt", dir);
    char *argv[] = {bin, NULL};
    ck_assert_msg(run(dir, out, err, argv) == 0, "%s", slurp(err, NULL));
    return slurp(out, NULL);
}

static const char *configs[] = {"samples/lenet.tg", "tests/programs/step_net4_adamw.tg"};

START_TEST(test_passes_on_and_off_train_alike) {
    char *tg = fmt("%s/%s", root, configs[_i]);
    /* every pass alone on LeNet; all off together on the Adam network */
    const char *flags[] = {"", "-O0", "--no-simplify", "--no-fuse", "--no-memplan"};
    int nflags = _i == 0 ? 5 : 2;
    char *want = run_steps(tg, flags[0], 10 * _i);
    int lines = 0;
    for (const char *p = want; *p; p++)
        lines += *p == '\n';
    ck_assert_msg(lines == 200, "%d losses", lines);
    for (int f = 1; f < nflags; f++) {
        char *got = run_steps(tg, flags[f], 10 * _i + f);
        ck_assert_msg(!strcmp(got, want), "%s with %s: the losses of 200 steps differ from all passes on",
                      configs[_i], flags[f]);
    }
}
END_TEST

/* The kernels split work so that no sum depends on the thread count: 1, 2 and 4 threads give
 * the same losses, bit for bit. The second network has stride-2 padded convolutions. */
START_TEST(test_threads_train_alike) {
    const char *tg = _i == 0 ? fmt("%s/samples/lenet.tg", root) : fmt("%s/bench/net2.tg", root);
    char *dir = fmt("%s/threads%d", tmp, _i);
    mkdir(dir, 0755);
    char *src = fmt("%s/net.c", dir), *err = fmt("%s/err.txt", dir), *bin = fmt("%s/steps", dir);
    char *gen[] = {(char *)tgc, "compile", (char *)tg, "-o", src, "--no-main", NULL};
    ck_assert_msg(run(NULL, NULL, err, gen) == 0, "%s", slurp(err, NULL));
    /* -O3, FMA contraction and every OpenMP pragma, as tgc build compiles */
    char *cc[] = {"gcc", "-std=c99", "-O3", "-ffp-contract=fast", "-fopenmp", fmt("-I%s", dir), fmt("-I%s", incdir),
                  src, fmt("%s/tests/steps_driver.c", root), "-o", bin, fmt("-L%s", libdir), "-ltgrt", "-lz", "-lm",
                  NULL, NULL};
    const char *extra = getenv("TGC_TEST_CFLAGS");
    if (extra && *extra)
        cc[15] = (char *)extra;
    ck_assert_msg(run(NULL, NULL, err, cc) == 0, "the step does not build:\n%s", slurp(err, NULL));
    char *want = NULL;
    const char *threads[] = {"1", "2", "4"};
    for (int t = 0; t < 3; t++) {
        setenv("OMP_NUM_THREADS", threads[t], 1);
        char *out = fmt("%s/losses%s.txt", dir, threads[t]);
        char *argv[] = {bin, NULL};
        ck_assert_msg(run(dir, out, err, argv) == 0, "%s", slurp(err, NULL));
        char *got = slurp(out, NULL);
        if (!want)
            want = got;
        ck_assert_msg(!strcmp(got, want), "%s: %s threads give other losses than 1", tg, threads[t]);
    }
    unsetenv("OMP_NUM_THREADS");
}
END_TEST

/* Programs that stress the passes (tests/programs/passes, several from an independent review):
 * the default build and -O0 print the same, and both compile warning-free. */
static const char *programs[] = {"mm_res", "zero_size", "bc", "ints", "ce", "p16", "pr", "simp"};

static char *run_program(const char *name, const char *flags, const char *tag) {
    char *tg = fmt("%s/tests/programs/passes/%s.tg", root, name);
    char *c = fmt("%s/%s_%s.c", tmp, name, tag), *bin = fmt("%s/%s_%s", tmp, name, tag);
    char *err = fmt("%s/%s_%s.err", tmp, name, tag), *out = fmt("%s/%s_%s.out", tmp, name, tag);
    char *gen[] = {(char *)tgc, "compile", tg, "-o", c, (char *)flags, NULL};
    if (!*flags)
        gen[5] = NULL;
    ck_assert_msg(run(NULL, NULL, err, gen) == 0, "%s", slurp(err, NULL));
    char *cc[] = {"gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-Wno-unknown-pragmas",
                  fmt("-I%s", tmp), fmt("-I%s", incdir), c, "-o", bin, fmt("-L%s", libdir), "-ltgrt", "-lz", "-lm",
                  NULL, NULL};
    const char *extra = getenv("TGC_TEST_CFLAGS");
    if (extra && *extra)
        cc[17] = (char *)extra;
    ck_assert_msg(run(NULL, NULL, err, cc) == 0, "%s (%s) does not build:\n%s", name, tag, slurp(err, NULL));
    char *argv[] = {bin, NULL};
    ck_assert_msg(run(tmp, out, err, argv) == 0, "%s", slurp(err, NULL));
    return slurp(out, NULL);
}

START_TEST(test_programs_print_alike) {
    char *on = run_program(programs[_i], "", "on"), *off = run_program(programs[_i], "-O0", "off");
    ck_assert_msg(!strcmp(on, off), "%s prints differently with -O0:\n--- on ---\n%s--- -O0 ---\n%s", programs[_i], on,
                  off);
}
END_TEST

/* With FMA contraction (tgc build's flags) the compiler may fuse a multiply and an add in one
 * kernel and not in another, so fused and unfused steps may round differently: they must still
 * agree within 1e-4 relative over 200 steps. */
START_TEST(test_passes_with_fma_agree_closely) {
    char *tg = fmt("%s/samples/lenet.tg", root);
    const char *opt = "-O3 -march=native -ffp-contract=fast";
    char *a = run_steps_cc(tg, "", 90, opt), *b = run_steps_cc(tg, "-O0", 91, opt);
    double worst = 0;
    int n = 0;
    for (char *p = a, *q = b;; n++) {
        char *pe, *qe;
        double x = strtod(p, &pe), y = strtod(q, &qe);
        if (pe == p || qe == q)
            break;
        p = pe, q = qe;
        double rel = fabs(x - y) / (fabs(y) > 1e-30 ? fabs(y) : 1);
        worst = rel > worst ? rel : worst;
    }
    ck_assert_int_eq(n, 200);
    printf("passes on and off with FMA: largest relative loss difference over 200 steps %.2g\n", worst);
    fflush(stdout);
    ck_assert_msg(worst <= 1e-4, "losses differ by %.3g relative", worst);
}
END_TEST

START_TEST(test_stats_goes_to_stderr_with_c_on_stdout) {
    char *out = fmt("%s/c.txt", tmp), *err = fmt("%s/stats_err.txt", tmp);
    char *argv[] = {(char *)tgc, "compile", fmt("%s/samples/lenet.tg", root), "-o", "-", "--stats", NULL};
    ck_assert_int_eq(run(NULL, out, err, argv), 0);
    ck_assert_msg(strstr(slurp(err, NULL), "== train_Net ==") != NULL, "no stats on stderr");
    ck_assert_msg(strstr(slurp(out, NULL), "== train_Net ==") == NULL, "stats mixed into the C");
    ck_assert_msg(strstr(slurp(out, NULL), "_train_step(") != NULL, "no C on stdout");
}
END_TEST

int main(void) {
    tgc = getenv("TGC");
    root = getenv("TGC_SOURCE_ROOT");
    incdir = getenv("TGRT_INCDIR");
    libdir = getenv("TGRT_LIBDIR");
    if (!tgc || !root || !incdir || !libdir) {
        fprintf(stderr, "test_optimize: run through meson test (TGC, TGC_SOURCE_ROOT, TGRT_* unset)\n");
        return 1;
    }
    strcpy(tmp, "/tmp/tgc-opt-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    Suite *s = suite_create("optimize");
    TCase *tc = tcase_create("passes");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_lenet_fusion_and_memory_targets);
    tcase_add_loop_test(tc, test_passes_on_and_off_train_alike, 0, (int)(sizeof configs / sizeof configs[0]));
    tcase_add_test(tc, test_stats_goes_to_stderr_with_c_on_stdout);
    tcase_add_test(tc, test_passes_with_fma_agree_closely);
    tcase_add_loop_test(tc, test_threads_train_alike, 0, 2);
    tcase_add_loop_test(tc, test_programs_print_alike, 0, (int)(sizeof programs / sizeof programs[0]));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char *rm[] = {"rm", "-rf", tmp, NULL};
    if (!failed)
        run(NULL, NULL, NULL, rm);
    return failed ? 1 : 0;
}
