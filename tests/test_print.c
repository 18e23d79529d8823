/*
 * test_print.c: the runtime's printers against text printed by PyTorch 1.13,
 * numpy 1.24 and Python.
 *
 * The golden cases live in tests/golden/print_cases.txt, written by
 * scripts/gen_print_goldens.py (its header documents the format). main()
 * loads them all, then one Check loop test per case prints the case's data
 * with tg_print_* into a memory stream and compares the bytes; a mismatch
 * reports the case, its note, the expected and the printed text. A few
 * outputs from the blitz tutorial are also spelled out here by hand, so the
 * suite still checks something if the golden file were regenerated wrongly.
 *
 * Usage: test_print [golden-dir]   (else $TG_GOLDEN_DIR, else tests/golden)
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgrt.h"

/* ---- golden cases -------------------------------------------------------- */

enum { MAX_SUFFIX = 4 };

typedef enum { K_TORCH, K_NUMPY, K_PYFLOAT, K_SIZE } Kind;

typedef struct {
    int id;                           /* "case <id>" */
    Kind kind;
    TgDType dt;
    int rank;
    int64_t shape[TG_MAX_RANK];
    int64_t numel;
    void *data;                       /* numel elements of dt */
    char note[128];
    char *suffix[MAX_SUFFIX];
    int nsuffix;
    char *expect;                     /* NUL-terminated expected text */
    size_t expect_len;
} Case;

static Case *cases;
static int ncases;
static char golden_path[1024];

static void load_fail(int line, const char *what) {
    fprintf(stderr, "%s:%d: %s\n", golden_path, line, what);
    exit(1);
}

static int parse_dtype(const char *s, TgDType *dt) {
    static const char *names[] = {"f32", "f64", "i32", "i64", "bool", "u8"};
    for (int i = 0; i < 6; i++)
        if (strcmp(s, names[i]) == 0) {
            *dt = (TgDType)i;
            return 0;
        }
    *dt = TG_F64; /* size cases carry "-" */
    return strcmp(s, "-") == 0 ? 0 : -1;
}

/* Stores element i from its double (floats) or integer (others) value. */
static void store(Case *c, int64_t i, double f, long long n) {
    switch (c->dt) {
    case TG_F32: ((float *)c->data)[i] = (float)f; break;
    case TG_F64: ((double *)c->data)[i] = f; break;
    case TG_I32: ((int32_t *)c->data)[i] = (int32_t)n; break;
    case TG_I64: ((int64_t *)c->data)[i] = (int64_t)n; break;
    case TG_BOOL: ((uint8_t *)c->data)[i] = n != 0; break;
    case TG_U8: ((uint8_t *)c->data)[i] = (uint8_t)n; break;
    }
}

/* The script's generator: v = (i*mul) % mod - off; floats (double)v / div * scale. */
static void generate(Case *c, long long mul, long long mod, long long off, double div,
                     double scale) {
    for (int64_t i = 0; i < c->numel; i++) {
        long long v = (i * mul) % mod - off;
        store(c, i, (double)v / div * scale, v);
    }
}

static void load_cases(const char *path) {
    FILE *f = fopen(path, "rb");
    char line[4096];
    int lineno = 0, cap = 0;
    Case *c = NULL;

    if (!f) {
        perror(path);
        exit(1);
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strncmp(line, "case ", 5) == 0) {
            char kind[16], dt[16];
            int pos;
            if (ncases == cap) {
                cap = cap ? 2 * cap : 64;
                cases = realloc(cases, (size_t)cap * sizeof *cases);
            }
            c = &cases[ncases++];
            memset(c, 0, sizeof *c);
            if (sscanf(line, "case %d %15s %15s %d%n", &c->id, kind, dt, &c->rank, &pos) != 4 ||
                c->rank < 0 || c->rank > TG_MAX_RANK || parse_dtype(dt, &c->dt) < 0)
                load_fail(lineno, "bad case line");
            c->kind = strcmp(kind, "torch") == 0   ? K_TORCH
                      : strcmp(kind, "numpy") == 0 ? K_NUMPY
                      : strcmp(kind, "size") == 0  ? K_SIZE
                                                   : K_PYFLOAT;
            c->numel = 1;
            char *p = line + pos;
            for (int d = 0; d < c->rank; d++) {
                c->shape[d] = strtoll(p, &p, 10);
                c->numel *= c->shape[d];
            }
            c->data = calloc((size_t)c->numel + 1, tg_dtype_size(c->dt));
            continue;
        }
        if (!c)
            load_fail(lineno, "data before the first case");
        if (strncmp(line, "note ", 5) == 0) {
            size_t n = strlen(line + 5) < sizeof c->note ? strlen(line + 5) : sizeof c->note - 1;
            memcpy(c->note, line + 5, n);
            c->note[n] = '\0';
        } else if (strncmp(line, "list ", 5) == 0) {
            long long n = atoll(line + 5);
            if (n != (c->kind == K_SIZE ? 0 : c->numel))
                load_fail(lineno, "list count does not match the shape");
            for (int64_t i = 0; i < n; i++) {
                char tok[64];
                if (fscanf(f, " %63s", tok) != 1)
                    load_fail(lineno, "missing value");
                store(c, i, strtod(tok, NULL), strtoll(tok, NULL, 10));
            }
            if (n > 0 && !fgets(line, sizeof line, f)) /* end of the last value line */
                load_fail(lineno, "truncated list");
            lineno += (int)((n + 7) / 8);
        } else if (strncmp(line, "gen ", 4) == 0) {
            long long mul, mod, off;
            char dv[64], sc[64];
            if (sscanf(line, "gen %lld %lld %lld %63s %63s", &mul, &mod, &off, dv, sc) != 5)
                load_fail(lineno, "bad gen line");
            generate(c, mul, mod, off, strtod(dv, NULL), strtod(sc, NULL));
        } else if (strncmp(line, "suffix ", 7) == 0) {
            if (c->nsuffix == MAX_SUFFIX)
                load_fail(lineno, "too many suffixes");
            c->suffix[c->nsuffix++] = strdup(line + 7);
        } else if (strncmp(line, "expect ", 7) == 0) {
            c->expect_len = (size_t)atoll(line + 7);
            c->expect = malloc(c->expect_len + 1);
            if (fread(c->expect, 1, c->expect_len, f) != c->expect_len || fgetc(f) != '\n')
                load_fail(lineno, "truncated expected text");
            c->expect[c->expect_len] = '\0';
            for (size_t i = 0; i < c->expect_len; i++)
                lineno += c->expect[i] == '\n';
            lineno++;
        } else if (strcmp(line, "end") == 0) {
            if (!c->expect)
                load_fail(lineno, "case without expect");
        } else {
            load_fail(lineno, "unknown line");
        }
    }
    fclose(f);
}

/* ---- printing into memory ------------------------------------------------ */

/* Runs one printer into a memory stream; the caller frees the text. */
typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} Mem;

static FILE *mem_open(Mem *m) {
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    ck_assert_ptr_nonnull(m->f);
    return m->f;
}

static char *mem_close(Mem *m) {
    fclose(m->f);
    return m->buf;
}

static char *print_case(const Case *c) {
    Mem m;
    FILE *f = mem_open(&m);
    switch (c->kind) {
    case K_TORCH:
        tg_print_tensor(f, c->data, c->dt, c->rank, c->shape, (const char *const *)c->suffix,
                        c->nsuffix);
        break;
    case K_NUMPY: tg_print_numpy(f, c->data, c->dt, c->rank, c->shape); break;
    case K_PYFLOAT: tg_print_pyfloat(f, ((const double *)c->data)[0]); break;
    case K_SIZE: tg_print_size(f, c->rank, c->shape); break;
    }
    return mem_close(&m);
}

START_TEST(test_golden) {
    const Case *c = &cases[_i];
    char *got = print_case(c);
    if (strcmp(got, c->expect) != 0) {
        size_t at = 0;
        while (got[at] && got[at] == c->expect[at])
            at++;
        fprintf(stderr,
                "print case %d (%s) differs at byte %zu\n--- expected (%zu bytes)\n%s\n"
                "--- got (%zu bytes)\n%s\n---\n",
                c->id, c->note, at, c->expect_len, c->expect, strlen(got), got);
    }
    ck_assert_msg(strcmp(got, c->expect) == 0, "print case %d (%s) differs", c->id, c->note);
    free(got);
}
END_TEST

/* A golden file that lost its cases must not pass quietly. */
START_TEST(test_golden_count) {
    int kinds[4] = {0};
    for (int i = 0; i < ncases; i++)
        kinds[cases[i].kind]++;
    ck_assert_int_ge(kinds[K_TORCH], 60);
    ck_assert_int_ge(kinds[K_NUMPY], 20);
    ck_assert_int_ge(kinds[K_PYFLOAT], 10);
    ck_assert_int_ge(kinds[K_SIZE], 1);
}
END_TEST

/* ---- hand-written cases from the blitz ----------------------------------- */

static char *torch_text(const void *data, TgDType dt, int rank, const int64_t *shape,
                        const char *suffix) {
    Mem m;
    const char *sfx[1] = {suffix};
    tg_print_tensor(mem_open(&m), data, dt, rank, shape, sfx, suffix ? 1 : 0);
    return mem_close(&m);
}

static void check_text(char *got, const char *want) {
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(test_blitz_column_zeroed) {
    float t[16];
    int64_t shape[2] = {4, 4};
    for (int i = 0; i < 16; i++)
        t[i] = i % 4 == 1 ? 0.0f : 1.0f;
    check_text(torch_text(t, TG_F32, 2, shape, NULL), "tensor([[1., 0., 1., 1.],\n"
                                                      "        [1., 0., 1., 1.],\n"
                                                      "        [1., 0., 1., 1.],\n"
                                                      "        [1., 0., 1., 1.]])");
}
END_TEST

START_TEST(test_blitz_scalars) {
    float twelve = 12.0f;
    uint8_t yes[2] = {1, 1};
    int64_t ones[4] = {1, 1, 1, 1}, two = 2, shape[2] = {2, 2};
    check_text(torch_text(&twelve, TG_F32, 0, NULL, NULL), "tensor(12.)");
    check_text(torch_text(yes, TG_BOOL, 1, &two, NULL), "tensor([True, True])");
    check_text(torch_text(ones, TG_I64, 2, shape, NULL), "tensor([[1, 1],\n        [1, 1]])");
}
END_TEST

START_TEST(test_blitz_numpy_and_suffix) {
    float twos[5] = {2, 2, 2, 2, 2};
    double dtwos[5] = {2, 2, 2, 2, 2};
    int64_t five = 5;
    Mem m;
    tg_print_numpy(mem_open(&m), twos, TG_F32, 1, &five);
    check_text(mem_close(&m), "[2. 2. 2. 2. 2.]");
    check_text(torch_text(dtwos, TG_F64, 1, &five, NULL),
               "tensor([2., 2., 2., 2., 2.], dtype=torch.float64)");
    float loss = 0.6752f;
    check_text(torch_text(&loss, TG_F32, 0, NULL, "grad_fn=<MseLossBackward0>"),
               "tensor(0.6752, grad_fn=<MseLossBackward0>)");
}
END_TEST

/* A NaN with its sign bit set still prints "nan", as Python does. */
START_TEST(test_negative_nan) {
    double v[2] = {-NAN, 1.5};
    int64_t two = 2;
    Mem m;
    check_text(torch_text(v, TG_F64, 1, &two, NULL),
               "tensor([   nan, 1.5000], dtype=torch.float64)");
    tg_print_pyfloat(mem_open(&m), -NAN);
    check_text(mem_close(&m), "nan");
}
END_TEST

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : getenv("TG_GOLDEN_DIR");
    snprintf(golden_path, sizeof golden_path, "%s/print_cases.txt", dir ? dir : "tests/golden");
    load_cases(golden_path);

    Suite *s = suite_create("print");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, test_golden_count);
    tcase_add_loop_test(golden, test_golden, 0, ncases);
    suite_add_tcase(s, golden);
    TCase *blitz = tcase_create("blitz");
    tcase_add_test(blitz, test_blitz_column_zeroed);
    tcase_add_test(blitz, test_blitz_scalars);
    tcase_add_test(blitz, test_blitz_numpy_and_suffix);
    tcase_add_test(blitz, test_negative_nan);
    suite_add_tcase(s, blitz);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
