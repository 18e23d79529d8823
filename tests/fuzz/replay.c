/*
 * replay.c: replays .tg inputs through the fuzz target (fuzz_frontend.c) without libFuzzer, so CI
 * keeps every finding of scripts/fuzz.sh fixed with plain gcc, and under ASan and UBSan.
 *
 *   test_fuzz_regressions PATH...   each PATH a .tg file, or a folder whose *.tg files are taken
 *
 * Each input is one Check test, run in its own process under every pass configuration (all on,
 * -O0, each pass off): a crash or an abort fails that test. Its diagnostics must each time equal
 * NAME.expect beside NAME.tg, byte for byte; without a .expect file the input must compile with
 * none (the samples, valid programs that once crashed a pass). A last test runs them all in one
 * process, as libFuzzer does, for state that outlives an input.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern FILE *fuzz_diag_out;
extern int fuzz_passes;
extern const char *fuzz_source_path;

static char **paths; /* the inputs, in the order given, each folder's sorted by name */
static int npaths;

/* The whole file, NUL-terminated; *len its length. NULL if it cannot be read. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0)
        if ((n += got) == cap - 1)
            buf = realloc(buf, cap *= 2);
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_path(const char *p) {
    paths = realloc(paths, sizeof(char *) * (size_t)(npaths + 1));
    paths[npaths++] = strdup(p);
}

/* A folder adds its *.tg files, sorted so that the test numbers stay put. */
static void add_arg(const char *arg) {
    DIR *d = opendir(arg);
    if (!d) {
        add_path(arg);
        return;
    }
    int first = npaths;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 3 && !strcmp(e->d_name + n - 3, ".tg")) {
            char *p = malloc(strlen(arg) + n + 2);
            sprintf(p, "%s/%s", arg, e->d_name);
            add_path(p);
            free(p);
        }
    }
    closedir(d);
    qsort(paths + first, (size_t)(npaths - first), sizeof(char *), by_name);
}

START_TEST(test_replay) {
    const char *path = paths[_i];
    size_t len, elen = 0;
    char *src = slurp(path, &len);
    ck_assert_msg(src != NULL, "cannot read %s", path);
    char *expect_path = malloc(strlen(path) + 8);
    sprintf(expect_path, "%.*s.expect", (int)(strlen(path) - 3), path);
    char *expect = slurp(expect_path, &elen);
    /* every pass configuration: all passes, -O0, and each pass off alone (fuzz_frontend.c) */
    for (fuzz_passes = 0; fuzz_passes <= 4; fuzz_passes++) {
        char *got = NULL;
        size_t glen = 0;
        fuzz_diag_out = open_memstream(&got, &glen);
        fprintf(stderr, "replaying %s, passes %d\n", path, fuzz_passes); /* the last line before a crash */
        fuzz_source_path = path;
        LLVMFuzzerTestOneInput((const uint8_t *)src, len);
        fuzz_source_path = NULL;
        fclose(fuzz_diag_out);
        fuzz_diag_out = NULL;
        if (strcmp(got, expect ? expect : ""))
            ck_abort_msg("%s (passes %d)\n--- expected (%s) ---\n%s--- got ---\n%s", path, fuzz_passes,
                         expect ? expect_path : "no diagnostics", expect ? expect : "", got);
        free(got);
    }
    fuzz_passes = -1;
    free(expect);
    free(expect_path);
    free(src);
}
END_TEST

/* libFuzzer runs every input in one process: whatever one input leaves behind (a static that still
 * points into the arena after ir_free_all) meets the next. So do the same, twice over. */
START_TEST(test_replay_in_one_process) {
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < npaths; i++) {
            size_t len;
            char *src = slurp(paths[i], &len);
            ck_assert_msg(src != NULL, "cannot read %s", paths[i]);
            fuzz_source_path = paths[i];
            LLVMFuzzerTestOneInput((const uint8_t *)src, len);
            fuzz_source_path = NULL;
            free(src);
        }
}
END_TEST

START_TEST(test_found_inputs) {
    /* an empty or mistyped folder would otherwise pass without replaying anything */
    ck_assert_int_gt(npaths, 0);
}
END_TEST

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        add_arg(argv[i]);
    Suite *s = suite_create("fuzz-regressions");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_found_inputs);
    tcase_add_loop_test(tc, test_replay, 0, npaths);
    tcase_add_test(tc, test_replay_in_one_process);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < npaths; i++)
        free(paths[i]);
    free(paths);
    return failed ? 1 : 0;
}
