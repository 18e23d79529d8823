/*
 * test_validate.c: tgc check (codegen_c/validate.c), the libclang validator of generated C.
 *
 * (a) Each hand-written file in tests/validate/ breaks one promise of generated code (an
 *     allocation, I/O, a call outside the file or through a pointer from outside, recursion, a
 *     VLA, a missing restrict, a kernel that is not static, one buffer passed twice, overlapping
 *     arena slots) directly, through a static helper or through a function pointer. The
 *     offending line carries the comment `// expect-error`: the validator must report exactly
 *     one error, on that line, with the message of the table below. clean.c, written like
 *     generated code with everything the rules allow (and an unreachable main that allocates
 *     and prints), must pass.
 * (b) Every sample's generated C (samples/, samples/blitz/ and the staged programs of
 *     tests/programs, through the real tgc) validates
 *     with no diagnostic at all (the blitz programs have no training step: for them that means
 *     clang's diagnostics only); and a generated training step with one kernel's `static` or
 *     one `restrict` taken out fails, so (b) cannot pass by checking nothing.
 * (c) The command line: exit status 0 / 1, diagnostics on stderr.
 *
 * Built without libclang, the suite exits 77 (meson shows SKIP).
 * Environment (set by meson): TGC, TGC_SOURCE_ROOT.
 */
#include "codegen_c/codegen_c.h"
#include "config.h"

#include <stdio.h>

#if !TGC_HAVE_LIBCLANG

int main(void) {
    printf("tgc was built without libclang: nothing to test\n");
    return 77;
}

#else

#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *tgc, *root;
static char tmp[64];

#include "harness.h"

static int validate(const char *path, char **text) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int n = validate_c(path, f);
    fclose(f);
    *text = keep(buf);
    return n;
}

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The 1-based line of the first `// expect-error` in path, 0 if none. */
static int marked_line(const char *path) {
    const char *text = slurp(path, NULL);
    if (!text)
        return 0;
    const char *m = strstr(text, "// expect-error");
    if (!m)
        return 0;
    int line = 1;
    for (const char *p = text; p < m; p++)
        line += *p == '\n';
    return line;
}

/* ---- (a) one violation per file ---- */

static const char *const alloc = "(generated code must not allocate)";
static const struct {
    const char *file, *error, *note; /* the error's text after "error: "; a note that must follow, or NULL */
} bad[] = {
    {"malloc_direct.c", "call to 'malloc' in 'net_train_step' %s", NULL},
    {"malloc_helper.c", "call to 'malloc' in 'k01_scale_fwd', reachable from 'net_train_step' %s",
     "note: 'k01_scale_fwd' is called from 'net_train_step' here"},
    {"malloc_fnptr.c", "call to 'malloc' in 'k01_fill', reachable from 'net_train_step' %s",
     "note: the address of 'k01_fill' is taken in 'net_train_step' here"},
    {"malloc_address.c", "address of 'malloc' taken in 'net_train_step' %s", NULL},
    {"calloc_direct.c", "call to 'calloc' in 'net_predict' %s", NULL},
    /* inside #pragma omp parallel for, whose body libclang hides in an OpenMP parse */
    {"calloc_helper.c", "call to 'calloc' in 'k01_rows_fwd', reachable from 'net_train_step' %s",
     "note: 'k01_rows_fwd' is called from 'net_train_step' here"},
    {"calloc_fnptr.c", "call to 'calloc' in 'k02_ones', reachable from 'net_train_step' %s",
     "note: 'kernels' is used in 'net_train_step' here"},
    /* glibc's alloca is a macro for the builtin */
    {"alloca_direct.c", "call to '__builtin_alloca' in 'net_train_step' %s", NULL},
    {"alloca_helper.c", "call to '__builtin_alloca' in 'k01_sum_fwd', reachable from 'net_train_step' %s",
     "note: 'k01_sum_fwd' is called from 'net_train_step' here"},
    {"alloca_fnptr.c", "call to '__builtin_alloca' in 'k01_sum_fwd', reachable from 'net_train_step' %s",
     "note: the address of 'k01_sum_fwd' is taken in 'net_train_step' here"},
    {"printf_direct.c", "call to 'printf' in 'net_predict' (generated code must not do I/O)", NULL},
    {"printf_helper.c",
     "call to 'printf' in 'k01_log', reachable from 'net_train_step' (generated code must not do I/O)",
     "note: 'k01_log' is called from 'net_train_step' here"},
    {"printf_fnptr.c",
     "call to 'printf' in 'k01_log', reachable from 'net_train_step' (generated code must not do I/O)",
     "note: the address of 'k01_log' is taken in 'net_train_step' here"},
    {"outside.c", "call to 'tg_norm' in 'k01_norm_fwd', reachable from 'net_train_step' (generated code calls nothing "
                  "defined outside the file but libm, memset, memcpy, memmove, omp_get_thread_num, "
                  "omp_get_num_threads and omp_get_max_threads)", NULL},
    {"callback.c", "call through parameter 'hook' in 'net_predict' (its target comes from outside the file and "
                   "cannot be checked)", NULL},
    {"extern_hook.c", "call through 'tg_hook', a function pointer not defined in this file, in 'k01_report', "
                      "reachable from 'net_train_step' (its target comes from outside the file and cannot be "
                      "checked)", NULL},
    {"recursion.c", "recursive call to 'k01_sum' in 'k01_sum', reachable from 'net_train_step' (generated code must "
                    "not recurse)", NULL},
    {"mutual_recursion.c", "recursive call to 'k01_even' in 'k02_odd', reachable from 'net_train_step': 'k01_even' "
                           "-> 'k02_odd' -> 'k01_even' (generated code must not recurse)",
     "note: 'k02_odd' is called from 'k01_even' here"},
    {"vla.c", "variable-length array type 'float[n]' in 'k01_softmax_fwd', reachable from 'net_train_step' (shapes in "
              "generated code are constants; a VLA is a stack allocation of run-time size)", NULL},
    {"missing_restrict.c", "pointer parameter 'x0' of kernel 'k01_relu_fwd' is not restrict-qualified (reachable from "
                           "'net_train_step'; kernel pointers must be restrict)", NULL},
    {"not_static.c", "kernel 'k01_relu_fwd' is not static (every function reachable from 'net_train_step' but the "
                     "entry points must be static)", NULL},
    {"same_buffer.c", "'v1' is passed twice to 'k01_add_fwd' (arguments 1 and 3) in 'net_train_step' (restrict "
                      "parameters must not alias: an in-place kernel takes a shared buffer once, as one parameter)",
     NULL},
    {"overlap.c", "'v1' and 'v2' overlap as arguments 1 and 2 of 'k01_relu_fwd' in 'net_train_step': bytes [0, 384) "
                  "and [256, 640) of 'arena' (restrict parameters must not alias)", NULL},
};
#define NBAD ((int)(sizeof bad / sizeof bad[0]))

START_TEST(one_violation) {
    const char *path = fmt("%s/tests/validate/%s", root, bad[_i].file);
    int line = marked_line(path);
    ck_assert_msg(line > 0, "%s has no '// expect-error' line", path);
    const char *error = strstr(bad[_i].error, "%s") ? fmt(bad[_i].error, alloc) : bad[_i].error;
    char *text;
    int n = validate(path, &text);
    const char *want = fmt("%s:%d:", path, line), *msg = fmt(": error: %s\n", error);
    /* the error's own line: from the location to the newline */
    const char *at = strstr(text, want);
    const char *eol = at ? strchr(at, '\n') : NULL;
    ck_assert_msg(n == 1 && count(text, ": error: ") == 1 && count(text, ": warning: ") == 0,
                  "%s: expected exactly one error, got %d problems:\n%s", path, n, text);
    ck_assert_msg(at && eol && (const char *)strstr(at, msg) == eol - strlen(msg) + 1,
                  "%s: expected\n  %s<col>%s\ngot\n%s", path, want, msg, text);
    if (bad[_i].note)
        ck_assert_msg(strstr(text, bad[_i].note), "%s: expected a note '%s' in\n%s", path, bad[_i].note, text);
}
END_TEST

/* Every .c in tests/validate/ is in the table (or is clean.c): a new file cannot go untested. */
START_TEST(every_file_listed) {
    const char *dir = fmt("%s/tests/validate", root);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 2, ".c") || !strcmp(e->d_name, "clean.c"))
            continue;
        bool listed = false;
        for (int i = 0; i < NBAD; i++)
            listed |= !strcmp(bad[i].file, e->d_name);
        ck_assert_msg(listed, "tests/validate/%s is not in test_validate.c's table", e->d_name);
        files++;
    }
    closedir(d);
    ck_assert_int_eq(files, NBAD);
}
END_TEST

START_TEST(clean_file_passes) {
    char *text;
    int n = validate(fmt("%s/tests/validate/clean.c", root), &text);
    ck_assert_msg(n == 0 && !*text, "clean.c: expected no diagnostics, got %d:\n%s", n, text);
}
END_TEST

/* A clang diagnostic is a problem too, in clang's file:line:col form. */
START_TEST(clang_diagnostics_count) {
    const char *path = fmt("%s/warn.c", tmp);
    FILE *f = fopen(path, "w");
    fputs("int net_predict(int x) {\n    int unused;\n    return x;\n}\n", f);
    fclose(f);
    char *text;
    int n = validate(path, &text);
    ck_assert_msg(n == 1 && strstr(text, fmt("%s:2:9: warning: unused variable 'unused' [-Wunused-variable]", path)),
                  "expected clang's unused-variable warning, got %d:\n%s", n, text);
}
END_TEST

/* ---- (b) the samples' generated code ---- */

static char *samples[64];
static int nsamples;

static void find_samples(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) && nsamples < 64;) {
        size_t len = strlen(e->d_name);
        if (len > 3 && !strcmp(e->d_name + len - 3, ".tg"))
            samples[nsamples++] = fmt("%s/%s", dir, e->d_name);
    }
    closedir(d);
}

/* tgc compile sample -o tmp/NAME.c; returns the .c path. */
static const char *compile(const char *sample, const char *name) {
    const char *c = fmt("%s/%s.c", tmp, name), *err = fmt("%s/%s.err", tmp, name);
    int rc = run(NULL, NULL, err, (char *const[]){(char *)tgc, "compile", (char *)sample, "-o", (char *)c, NULL});
    ck_assert_msg(rc == 0, "tgc compile %s failed (%d):\n%s", sample, rc, slurp(err, NULL));
    return c;
}

START_TEST(sample_validates) {
    const char *sample = samples[_i];
    const char *base = strrchr(sample, '/') + 1;
    const char *c = compile(sample, fmt("s%d_%.*s", _i, (int)(strlen(base) - 3), base));
    char *text;
    int n = validate(c, &text);
    ck_assert_msg(n == 0 && !*text, "%s: its generated C (%s) has %d problems:\n%s", sample, c, n, text);
}
END_TEST

/* text without the first occurrence of what at or after the first occurrence of from; *line is
 * the line what was on. */
static char *cut(const char *text, const char *from, const char *what, int *line) {
    const char *p = strstr(text, from);
    ck_assert_msg(p != NULL, "no '%s' in the generated code", from);
    const char *q = strstr(p, what);
    ck_assert_msg(q != NULL, "no '%s' after '%s' in the generated code", what, from);
    *line = 1;
    for (const char *t = text; t < q; t++)
        *line += *t == '\n';
    char *s = fmt("%s", text);
    memmove(s + (q - text), s + (q - text) + strlen(what), strlen(q + strlen(what)) + 1);
    return s;
}

/* A generated training step with one promise broken by hand must fail, on the kernel's line:
 * the first kernel, which the training step calls. */
START_TEST(broken_step_fails) {
    const char *c = compile(fmt("%s/samples/lenet.tg", root), "lenet");
    const char *text = slurp(c, NULL);
    ck_assert(text != NULL);
    const char *kernel = strstr(text, "\nstatic void k");
    ck_assert_msg(kernel != NULL, "no static kernel in %s", c);
    const char *name_start = kernel + strlen("\nstatic void ");
    const char *name = fmt("%.*s", (int)(strcspn(name_start, "(")), name_start);
    struct {
        const char *mutant, *error;
        int line;
    } cases[2];
    cases[0].mutant = cut(text, "\nstatic void k", "static ", &cases[0].line);
    cases[0].error = fmt("error: kernel '%s' is not static", name);
    cases[1].mutant = cut(text, "\nstatic void k", "restrict", &cases[1].line);
    cases[1].error = fmt("of kernel '%s' is not restrict-qualified", name);
    for (int i = 0; i < 2; i++) {
        /* beside the original, so that its #include "lenet.h" still finds the header */
        const char *path = fmt("%s/lenet_mutant%d.c", tmp, i);
        FILE *f = fopen(path, "w");
        fputs(cases[i].mutant, f);
        fclose(f);
        char *report;
        int n = validate(path, &report);
        const char *at = strstr(report, fmt("%s:%d:", path, cases[i].line));
        ck_assert_msg(n == 1 && at && strstr(at, cases[i].error) && strstr(at, cases[i].error) < strchr(at, '\n'),
                      "mutant %d: expected one error at line %d: '%s', got %d:\n%s", i, cases[i].line,
                      cases[i].error, n, report);
    }
}
END_TEST

/* An export def's function is an entry point too (TG_ENTRY): the generated file passes, and a
 * call to puts inside it, or in a kernel only it reaches, is reported. */
START_TEST(export_is_checked) {
    const char *c = compile(fmt("%s/tests/programs/exports.tg", root), "exports");
    char *report;
    ck_assert_msg(validate(c, &report) == 0 && !*report, "%s", report);
    const char *text = slurp(c, NULL);
    const char *at = strstr(text, "TG_ENTRY void exports_affine(");
    ck_assert_msg(at != NULL, "no TG_ENTRY exports_affine in %s", c);
    const char *body = strstr(at, "unsigned char *mem = arena;\n");
    ck_assert(body != NULL);
    size_t cut = (size_t)(body - text) + strlen("unsigned char *mem = arena;\n");
    char *mutant = fmt("%.*s    puts(\"hi\");\n%s", (int)cut, text, text + cut);
    int line = 1;
    for (const char *t = text; t < text + cut; t++)
        line += *t == '\n';
    const char *path = fmt("%s/exports_mutant.c", tmp);
    FILE *f = fopen(path, "w");
    fputs(mutant, f);
    fclose(f);
    int n = validate(path, &report);
    const char *err = strstr(report, fmt("%s:%d:", path, line));
    ck_assert_msg(n == 1 && err && strstr(err, "call to 'puts' in 'exports_affine'"),
                  "expected one error at line %d, got %d:\n%s", line, n, report);
}
END_TEST

/* tgc check reads no device: not as the file, not through an #include. */
START_TEST(special_files_refused) {
    const char *c = fmt("%s/zero.c", tmp);
    FILE *f = fopen(c, "w");
    fputs("#include \"/dev/zero\"\nint x;\n", f);
    fclose(f);
    char *report;
    ck_assert_int_eq(validate(c, &report), 1);
    ck_assert_msg(strstr(report, fmt("%s:1: error: #include of /dev/zero, which is not a regular file", c)), "%s",
                  report);
    ck_assert_int_eq(validate(tmp, &report), 1);
    ck_assert_msg(strstr(report, "is not a regular file"), "%s", report);
}
END_TEST

/* ---- (c) the command line ---- */

START_TEST(cli) {
    const char *err = fmt("%s/cli.err", tmp);
    const char *clean = fmt("%s/tests/validate/clean.c", root), *bad_file = fmt("%s/tests/validate/vla.c", root);
    ck_assert_int_eq(run(NULL, NULL, err, (char *const[]){(char *)tgc, "check", (char *)clean, NULL}), 0);
    ck_assert_str_eq(slurp(err, NULL), "");
    ck_assert_int_eq(run(NULL, NULL, err, (char *const[]){(char *)tgc, "check", (char *)clean, (char *)bad_file, NULL}), 1);
    ck_assert_msg(strstr(slurp(err, NULL), fmt("%s:5:11: error: variable-length array", bad_file)), "%s", slurp(err, NULL));
    ck_assert_int_eq(run(NULL, NULL, err, (char *const[]){(char *)tgc, "check", NULL}), 1);
    ck_assert_msg(strstr(slurp(err, NULL), "no .c file given"), "%s", slurp(err, NULL));
    ck_assert_int_eq(run(NULL, NULL, err, (char *const[]){(char *)tgc, "check", "/nonexistent/x.c", NULL}), 1);
    ck_assert_msg(strstr(slurp(err, NULL), "cannot open '/nonexistent/x.c'"), "%s", slurp(err, NULL));
    const char *out = fmt("%s/help.out", tmp);
    ck_assert_int_eq(run(NULL, out, NULL, (char *const[]){(char *)tgc, "--help", NULL}), 0);
    ck_assert_msg(strstr(slurp(out, NULL), "tgc check FILE.c"), "--help does not document check");
}
END_TEST

int main(void) {
    tgc = getenv("TGC");
    root = getenv("TGC_SOURCE_ROOT");
    if (!tgc || !root) {
        fprintf(stderr, "test_validate: TGC and TGC_SOURCE_ROOT must be set (meson test does)\n");
        return 1;
    }
    strcpy(tmp, "/tmp/tgc-validate-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    find_samples(fmt("%s/samples", root));
    find_samples(fmt("%s/samples/blitz", root));
    /* programs with run-time control flow: segments, host code, data loaders */
    static const char *const staged[] = {"loops", "regression", "schedule", "defs", "loader", "containers"};
    for (size_t i = 0; i < sizeof staged / sizeof staged[0] && nsamples < 64; i++)
        samples[nsamples++] = fmt("%s/tests/programs/%s.tg", root, staged[i]);

    Suite *s = suite_create("validate");
    TCase *a = tcase_create("violations");
    tcase_add_loop_test(a, one_violation, 0, NBAD);
    tcase_add_test(a, every_file_listed);
    tcase_add_test(a, clean_file_passes);
    tcase_add_test(a, clang_diagnostics_count);
    suite_add_tcase(s, a);
    TCase *b = tcase_create("samples");
    tcase_set_timeout(b, 120);
    tcase_add_loop_test(b, sample_validates, 0, nsamples);
    tcase_add_test(b, broken_step_fails);
    tcase_add_test(b, export_is_checked);
    tcase_add_test(b, special_files_refused);
    suite_add_tcase(s, b);
    TCase *c = tcase_create("cli");
    tcase_set_timeout(c, 60);
    tcase_add_test(c, cli);
    suite_add_tcase(s, c);

    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    if (!failed) { /* keep the files of a failed run for a look */
        char *argv[] = {"rm", "-rf", tmp, NULL};
        run(NULL, NULL, NULL, argv);
    }
    printf("%d samples checked\n", nsamples);
    return failed || nsamples == 0 ? 1 : 0;
}

#endif
