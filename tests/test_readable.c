/*
 * test_readable.c: the generated C reads as a person would write it (STYLE.md, "Generated code:
 * a user reads it"), checked over every sample's, test program's and bench network's code:
 * default, -O0 and --target cuda (whose CUDA kernels are strings in the .c):
 *   - no index arithmetic that does nothing: no term multiplied or divided by 1 (`* 1`, `1 *`,
 *     `/ 1`), no remainder by 1, no 0 added or subtracted;
 *   - no loop that runs once (`for (v = 0; v < 6; v += 6)`): its variable is bound instead;
 *   - no kernel parameter named like x0, v18 or in4: parameters are named by role or by what
 *     they hold;
 *   - every kernel's name ends in its direction: _fwd, _bwd, _fwd_bwd or _upd;
 *   - the file names only the .tg file's name, never its directory: the same model compiled from
 *     two checkouts gives the same bytes.
 * Comments are left out of the first three checks: they quote the user's .tg lines, which may
 * well say `x * 1`.
 */
#include "harness.h"

#include <check.h>
#include <dirent.h>
#include <regex.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

static const char *tgc, *root;
static char tmp[64];
static char *files[256];
static int nfiles;

/* The text with its comments blanked (newlines kept, so line numbers still count). */
static char *uncommented(const char *s) {
    char *r = keep(strdup(s));
    for (char *p = r; *p; p++) {
        if (p[0] == '"') { /* a string: the CUDA kernels inside one are code */
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (!*p)
                break;
        } else if (p[0] == '/' && p[1] == '/') {
            for (; *p && *p != '\n'; p++)
                *p = ' ';
            if (!*p)
                break;
        } else if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            end = end ? end + 2 : p + strlen(p);
            for (; p < end; p++)
                if (*p != '\n')
                    *p = ' ';
            p--;
        }
    }
    return r;
}

static int line_of(const char *text, const char *at) {
    int line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

/* The first match of pattern in text, as "file:line: the line", or NULL. */
static const char *find(const char *text, const char *name, const char *pattern) {
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
    regmatch_t m[5];
    const char *hit = NULL;
    if (regexec(&re, text, 5, m, 0) == 0) {
        const char *s = text + m[0].rm_so, *b = s, *e = s;
        while (b > text && b[-1] != '\n')
            b--;
        while (*e && *e != '\n')
            e++;
        hit = fmt("%s:%d: %.*s", name, line_of(text, s), (int)(e - b), b);
    }
    regfree(&re);
    return hit;
}

/* A loop that runs once: for (T v = a; v < b; v++ or v += step) with a < b <= a + step. (A loop
 * that never runs is an empty tensor's, which zero_size.tg has on purpose.) */
static const char *loop_once(const char *text, const char *name) {
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "for \\((int64_t|int) ([a-z_0-9]+) = (-?[0-9]+); ([a-z_0-9]+) < (-?[0-9]+); "
                                  "[a-z_0-9]+ ?(\\+\\+|\\+= ([0-9]+))\\)",
                             REG_EXTENDED),
                     0);
    regmatch_t m[8];
    const char *hit = NULL;
    for (const char *p = text; !hit && regexec(&re, p, 8, m, p == text ? 0 : REG_NOTBOL) == 0; p += m[0].rm_eo) {
        long long a = atoll(p + m[3].rm_so), b = atoll(p + m[5].rm_so);
        long long step = m[7].rm_so >= 0 ? atoll(p + m[7].rm_so) : 1;
        if (a < b && b <= a + step)
            hit = fmt("%s:%d: %.*s", name, line_of(text, p + m[0].rm_so), (int)(m[0].rm_eo - m[0].rm_so), p + m[0].rm_so);
    }
    regfree(&re);
    return hit;
}

/* A kernel parameter named like x0 or v18, in a C kernel or a CUDA one. */
static const char *numbered_param(const char *text, const char *name) {
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "(static|__global__) void [a-z0-9_]*k[0-9]+[a-z0-9_]*\\([^)]*[ *]((x|v|in)[0-9]+)[[,)]",
                             REG_EXTENDED),
                     0);
    regmatch_t m[4];
    const char *hit = NULL;
    if (regexec(&re, text, 4, m, 0) == 0)
        hit = fmt("%s:%d: parameter %.*s", name, line_of(text, text + m[0].rm_so), (int)(m[2].rm_eo - m[2].rm_so),
                  text + m[2].rm_so);
    regfree(&re);
    return hit;
}

/* A kernel whose name does not end in its direction. */
static const char *undirected_kernel(const char *text, const char *name) {
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "(static|__global__) void ([a-z0-9_]*k[0-9]+_[a-z0-9_]*)\\(", REG_EXTENDED), 0);
    regmatch_t m[3];
    const char *hit = NULL;
    for (const char *p = text; !hit && regexec(&re, p, 3, m, p == text ? 0 : REG_NOTBOL) == 0; p += m[0].rm_eo) {
        const char *k = fmt("%.*s", (int)(m[2].rm_eo - m[2].rm_so), p + m[2].rm_so);
        size_t n = strlen(k);
        bool ok = false;
        static const char *const dirs[] = {"_fwd", "_bwd", "_upd"};
        for (int d = 0; d < 3; d++)
            ok |= n > 4 && !strcmp(k + n - 4, dirs[d]);
        if (!ok)
            hit = fmt("%s:%d: %s", name, line_of(text, p + m[0].rm_so), k);
    }
    regfree(&re);
    return hit;
}

/* Compiles file f to out with an option (or none); a file the trainer does not take (its loss is
 * not cross_entropy) compiles with --no-main. Returns the exit status. */
static int compile(const char *f, const char *out, const char *opt) {
    for (int no_main = 0; no_main < 2; no_main++) {
        char *argv[10]; /* tgc compile F -o OUT --target cuda --no-main, and NULL */
        int n = 0;
        argv[n++] = (char *)tgc;
        argv[n++] = "compile";
        argv[n++] = (char *)f;
        argv[n++] = "-o";
        argv[n++] = (char *)out;
        if (opt && !strcmp(opt, "--target cuda")) {
            argv[n++] = "--target";
            argv[n++] = "cuda";
        } else if (opt)
            argv[n++] = (char *)opt;
        if (no_main)
            argv[n++] = "--no-main";
        argv[n] = NULL;
        if (run(NULL, NULL, NULL, argv) == 0)
            return 0;
    }
    return 1;
}

/* Every file's code, compiled three ways, has no identity terms, one-trip loops or numbered parameters. */
START_TEST(test_code_is_clean) {
    const char *f = files[_i], *base = strrchr(f, '/') + 1;
    static const char *const opts[] = {NULL, "-O0", "--target cuda"};
    int compiled = 0;
    for (int o = 0; o < 3; o++) {
        const char *out = fmt("%s/%.*s_%d.c", tmp, (int)(strlen(base) - 3), base, o);
        if (compile(f, out, opts[o])) {
            /* --target cuda needs a train block; everything else must compile */
            ck_assert_msg(o == 2, "%s does not compile%s%s", f, opts[o] ? " with " : "", opts[o] ? opts[o] : "");
            continue;
        }
        compiled++;
        char *text = slurp(out, NULL);
        ck_assert_ptr_nonnull(text);
        const char *code = uncommented(text), *name = fmt("%s (%s)", base, opts[o] ? opts[o] : "default");
        const char *hit = find(code, name, "( \\* 1| \\+ 0| - 0| / 1| % 1)[] );,]"); /* ] first: a bracket's own */
        ck_assert_msg(!hit, "an index term that does nothing: %s", hit);
        hit = find(code, name, "[^0-9A-Za-z_.]1 \\* ");
        ck_assert_msg(!hit, "a product with 1: %s", hit);
        hit = loop_once(code, name);
        ck_assert_msg(!hit, "a loop that runs once: %s", hit);
        hit = numbered_param(code, name);
        ck_assert_msg(!hit, "a kernel parameter named by a number: %s", hit);
        hit = undirected_kernel(code, name);
        ck_assert_msg(!hit, "a kernel name without its direction: %s", hit);
        free(text); /* megabytes each, read 170 times: not kept until exit */
        free((char *)code);
    }
    ck_assert_int_ge(compiled, 2);
}
END_TEST

/* The same model copied into two directories and compiled by absolute path gives the same bytes. */
START_TEST(test_code_is_path_independent) {
    const char *src = fmt("%s/samples/lenet.tg", root);
    const char *dirs[2] = {fmt("%s/one/checkout", tmp), fmt("%s/another/place/entirely", tmp)};
    char *text[2][3];
    for (int d = 0; d < 2; d++) {
        ck_assert_int_eq(run(NULL, NULL, NULL, (char *[]){"mkdir", "-p", (char *)dirs[d], NULL}), 0);
        const char *copy = fmt("%s/lenet.tg", dirs[d]), *out = fmt("%s/lenet.c", dirs[d]);
        ck_assert_int_eq(run(NULL, NULL, NULL, (char *[]){"cp", (char *)src, (char *)copy, NULL}), 0);
        ck_assert_int_eq(run(NULL, NULL, NULL, (char *[]){(char *)tgc, "compile", (char *)copy, "-o", (char *)out, NULL}), 0);
        const char *cu = fmt("%s/lenet.cu", dirs[d]);
        ck_assert_int_eq(
            run(NULL, NULL, NULL, (char *[]){(char *)tgc, "compile", (char *)copy, "--emit=cuda", "-o", (char *)cu, NULL}), 0);
        text[d][0] = slurp(out, NULL);
        text[d][1] = slurp(fmt("%s/lenet.h", dirs[d]), NULL);
        text[d][2] = slurp(cu, NULL);
        for (int k = 0; k < 3; k++)
            ck_assert_ptr_nonnull(text[d][k]);
    }
    static const char *const what[] = {"lenet.c", "lenet.h", "lenet.cu"};
    for (int k = 0; k < 3; k++)
        ck_assert_msg(!strcmp(text[0][k], text[1][k]), "%s differs between %s and %s", what[k], dirs[0], dirs[1]);
    ck_assert_msg(!strncmp(text[0][0], "// Generated by tgc ", 20) &&
                      strstr(text[0][0], " from lenet.tg (tgc compile lenet.tg -o lenet.c). Do not edit.\n"),
                  "banner: %.200s", text[0][0]);
    ck_assert_msg(!strstr(text[0][0], tmp) && !strstr(text[0][1], tmp), "a directory in the generated files");
}
END_TEST

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    int first = nfiles;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n > 3 && !strcmp(e->d_name + n - 3, ".tg") && nfiles < (int)(sizeof files / sizeof *files))
            files[nfiles++] = fmt("%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(files + first, (size_t)(nfiles - first), sizeof *files, cmpstr);
}

int main(void) {
    tgc = getenv("TGC");
    root = getenv("TGC_SOURCE_ROOT");
    if (!tgc || !root) {
        fprintf(stderr, "TGC and TGC_SOURCE_ROOT must be set\n");
        return 1;
    }
    snprintf(tmp, sizeof tmp, "/tmp/tgc-readable-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    static const char *const dirs[] = {"samples", "samples/blitz", "tests/programs", "tests/programs/passes", "bench"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        add_dir(fmt("%s/%s", root, dirs[i]));
    Suite *s = suite_create("readable");
    TCase *tc = tcase_create("generated");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_code_is_clean, 0, nfiles);
    tcase_add_test(tc, test_code_is_path_independent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    run(NULL, NULL, NULL, (char *[]){"rm", "-rf", tmp, NULL});
    return failed ? 1 : 0;
}
