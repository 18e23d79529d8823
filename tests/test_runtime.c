/*
 * test_runtime.c: the runtime's random numbers and .npy files.
 *
 * rng: tests/golden/rng_cases.txt holds values drawn by PyTorch 1.13's CPU
 * generator (scripts/gen_runtime_goldens.py documents the format); one Check
 * loop test per case replays its ops with tg_rng_* / tg_uniform / tg_normal
 * and compares bits, reporting the first differing element with both values.
 * A few known answers are spelled out here too (mt19937's own test value,
 * torch.rand's famous first 0.4963), so the suite still checks something if
 * the golden file were regenerated wrongly.
 *
 * npy: the golden .npy files numpy wrote are loaded and their values checked;
 * broken files (truncated, bad magic, wrong shape or dtype, Fortran order,
 * missing...) are made in a temporary directory and each error message is
 * compared whole; every dtype is saved and loaded back, and saving what we
 * loaded must reproduce numpy's own file byte for byte. With TG_NPY_SAVE_DIR
 * set, the saved files are left there for `gen_runtime_goldens.py
 * --check-saved DIR`, which checks that numpy reads them.
 *
 * Usage: test_runtime [golden-dir]   (else $TG_GOLDEN_DIR, else tests/golden)
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tgrt.h"

static const char *golden_dir;
static char tmp_dir[512];

static void path_in(char *buf, size_t cap, const char *dir, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* ---- rng golden cases ------------------------------------------------------ */

typedef enum { R_SEED, R_SKIP, R_U32, R_U64, R_UNIFORM, R_NORMAL } RngOpKind;

typedef struct {
    RngOpKind kind;
    TgDType dt;         /* uniform/normal: TG_F32 or TG_F64 */
    int64_t n;          /* count (seed: unused) */
    uint64_t seed;      /* R_SEED */
    double a, b;        /* from/to or mean/std */
    int has_digest;     /* values replaced by an FNV-1a digest */
    uint64_t digest;
    double *f;          /* n expected floats (f32 widened exactly) */
    uint64_t *u;        /* n expected words */
} RngOp;

typedef struct {
    char name[128];
    int portable; /* drawn with ATEN_CPU_CAPABILITY=default */
    RngOp *ops;
    int nops;
} RngCase;

static RngCase *rng_cases;
static int n_rng_cases;
static char rng_path[1024];

static void golden_fail(const char *what, const char *tok) {
    fprintf(stderr, "%s: %s (at '%s')\n", rng_path, what, tok ? tok : "EOF");
    exit(1);
}

/* Next whitespace-separated token, skipping '#' comment lines; NULL at EOF. */
static const char *next_token(FILE *f) {
    static char tok[128];
    for (;;) {
        if (fscanf(f, "%127s", tok) != 1) return NULL;
        if (tok[0] != '#') return tok;
        int c;
        while ((c = getc(f)) != EOF && c != '\n') {}
    }
}

static const char *need_token(FILE *f, const char *what) {
    const char *t = next_token(f);
    if (!t) golden_fail(what, NULL);
    return t;
}

static double need_double(FILE *f) {
    const char *t = need_token(f, "expected a number");
    char *end;
    double v = strtod(t, &end);
    if (*end) golden_fail("bad number", t);
    return v;
}

static uint64_t need_u64(FILE *f, int base) {
    const char *t = need_token(f, "expected an integer");
    char *end;
    uint64_t v = strtoull(t, &end, base);
    if (*end) golden_fail("bad integer", t);
    return v;
}

static void load_rng_cases(void) {
    path_in(rng_path, sizeof rng_path, golden_dir, "rng_cases.txt");
    FILE *f = fopen(rng_path, "r");
    if (!f) {
        perror(rng_path);
        exit(1);
    }
    const char *t;
    while ((t = next_token(f))) {
        if (strcmp(t, "case") != 0) golden_fail("expected 'case'", t);
        rng_cases = realloc(rng_cases, (size_t)(n_rng_cases + 1) * sizeof *rng_cases);
        RngCase *c = &rng_cases[n_rng_cases++];
        memset(c, 0, sizeof *c);
        snprintf(c->name, sizeof c->name, "%s", need_token(f, "case name"));
        c->portable = strcmp(need_token(f, "capability"), "default") == 0;
        while (strcmp(t = need_token(f, "op or 'end'"), "end") != 0) {
            c->ops = realloc(c->ops, (size_t)(c->nops + 1) * sizeof *c->ops);
            RngOp *op = &c->ops[c->nops++];
            memset(op, 0, sizeof *op);
            if (strcmp(t, "seed") == 0) {
                op->kind = R_SEED;
                op->seed = need_u64(f, 10);
                continue;
            }
            if (strcmp(t, "skip") == 0) {
                op->kind = R_SKIP;
                op->n = (int64_t)need_u64(f, 10);
                continue;
            }
            if (strcmp(t, "u32") == 0 || strcmp(t, "u64") == 0) {
                op->kind = t[1] == '3' ? R_U32 : R_U64;
                op->n = (int64_t)need_u64(f, 10);
                op->u = malloc((size_t)op->n * sizeof *op->u);
                for (int64_t i = 0; i < op->n; i++) op->u[i] = need_u64(f, 16);
                continue;
            }
            if (strcmp(t, "uniform") == 0) op->kind = R_UNIFORM;
            else if (strcmp(t, "normal") == 0) op->kind = R_NORMAL;
            else golden_fail("unknown op", t);
            t = need_token(f, "dtype");
            if (strcmp(t, "f32") == 0) op->dt = TG_F32;
            else if (strcmp(t, "f64") == 0) op->dt = TG_F64;
            else golden_fail("bad dtype", t);
            op->n = (int64_t)need_u64(f, 10);
            op->a = need_double(f);
            op->b = need_double(f);
            long pos = ftell(f);
            if (strcmp(need_token(f, "values"), "digest") == 0) {
                op->has_digest = 1;
                op->digest = need_u64(f, 16);
                continue;
            }
            fseek(f, pos, SEEK_SET); /* the token was the first value */
            op->f = malloc((size_t)op->n * sizeof *op->f);
            for (int64_t i = 0; i < op->n; i++) op->f[i] = need_double(f);
        }
    }
    fclose(f);
    if (n_rng_cases == 0) golden_fail("no cases", NULL);
}

static const char *op_name(RngOpKind k) {
    static const char *names[] = {"seed", "skip", "u32", "u64", "uniform", "normal"};
    return names[k];
}

/* FNV-1a 64 over the values' little-endian bytes, as the script computes it. */
static uint64_t fnv1a64(const void *data, TgDType dt, int64_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    size_t size = tg_dtype_size(dt);
    for (int64_t i = 0; i < n; i++) {
        uint64_t bits = 0;
        if (dt == TG_F32) {
            uint32_t b32;
            memcpy(&b32, (const float *)data + i, 4);
            bits = b32;
        } else {
            memcpy(&bits, (const double *)data + i, 8);
        }
        for (size_t k = 0; k < size; k++) {
            h ^= (bits >> (8 * k)) & 0xff;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

/* Compares one op's floats bit for bit; fails naming the first difference. */
static void check_floats(const RngCase *c, int opi, const RngOp *op, const void *got) {
    int64_t first = -1, bad = 0;
    for (int64_t i = 0; i < op->n; i++) {
        int same;
        if (op->dt == TG_F32) {
            float want = (float)op->f[i];
            same = memcmp(&want, (const float *)got + i, 4) == 0;
        } else {
            same = memcmp(&op->f[i], (const double *)got + i, 8) == 0;
        }
        if (!same && first < 0) first = i;
        bad += !same;
    }
    if (first >= 0) {
        double g = op->dt == TG_F32 ? ((const float *)got)[first] : ((const double *)got)[first];
        ck_abort_msg("%s op %d (%s %s n=%lld): %lld of %lld values differ; first at index %lld: "
                     "expected %a (%.9g), got %a (%.9g)",
                     c->name, opi, op_name(op->kind), op->dt == TG_F32 ? "f32" : "f64",
                     (long long)op->n, (long long)bad, (long long)op->n, (long long)first,
                     op->f[first], op->f[first], g, g);
    }
}

START_TEST(test_rng_case) {
    const RngCase *c = &rng_cases[_i];
    /* the same switch torch reads: which of its kernels drew the values */
    setenv("ATEN_CPU_CAPABILITY", c->portable ? "default" : "avx2", 1);
    TgRng r;
    memset(&r, 0xab, sizeof r); /* an unseeded generator must not pass by luck */
    for (int k = 0; k < c->nops; k++) {
        const RngOp *op = &c->ops[k];
        switch (op->kind) {
        case R_SEED:
            if (strncmp(c->name, "sdflt", 5) == 0) ck_assert_uint_eq(op->seed, TG_DEFAULT_SEED);
            tg_rng_seed(&r, op->seed);
            break;
        case R_SKIP:
            for (int64_t i = 0; i < op->n; i++) tg_rng_u32(&r);
            break;
        case R_U32:
        case R_U64:
            for (int64_t i = 0; i < op->n; i++) {
                uint64_t got = op->kind == R_U32 ? tg_rng_u32(&r) : tg_rng_u64(&r);
                if (got != op->u[i])
                    ck_abort_msg("%s op %d (%s n=%lld): index %lld: expected %llx, got %llx",
                                 c->name, k, op_name(op->kind), (long long)op->n, (long long)i,
                                 (unsigned long long)op->u[i], (unsigned long long)got);
            }
            break;
        case R_UNIFORM:
        case R_NORMAL: {
            void *got = malloc((size_t)op->n * tg_dtype_size(op->dt));
            if (op->kind == R_UNIFORM) tg_uniform(&r, op->dt, got, op->n, op->a, op->b);
            else tg_normal(&r, op->dt, got, op->n, op->a, op->b);
            if (op->has_digest) {
                uint64_t h = fnv1a64(got, op->dt, op->n);
                if (h != op->digest)
                    ck_abort_msg("%s op %d (%s %s n=%lld): digest %016llx, expected %016llx",
                                 c->name, k, op_name(op->kind), op->dt == TG_F32 ? "f32" : "f64",
                                 (long long)op->n,
                                 (unsigned long long)h, (unsigned long long)op->digest);
            } else {
                check_floats(c, k, op, got);
            }
            free(got);
            break;
        }
        }
    }
}
END_TEST

/* Known answers that do not depend on the golden file. */
START_TEST(test_rng_known_answers) {
    TgRng r;
    /* C++11 [rand.predef]: the 10000th output of mt19937 seeded 5489 */
    tg_rng_seed(&r, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = tg_rng_u32(&r);
    ck_assert_uint_eq(v, 4123659995u);
    /* torch.manual_seed(0); torch.rand(1) -> tensor([0.4963]) */
    setenv("ATEN_CPU_CAPABILITY", "avx2", 1);
    float x;
    tg_rng_seed(&r, 0);
    tg_uniform(&r, TG_F32, &x, 1, 0.0, 1.0);
    ck_assert_float_eq(x, 0x1.fc2abp-2f);
    /* only the low 32 bits seed the state, as in at::mt19937 */
    TgRng r2;
    tg_rng_seed(&r, 7);
    tg_rng_seed(&r2, ((uint64_t)1 << 32) + 7);
    ck_assert_uint_eq(tg_rng_u32(&r), tg_rng_u32(&r2));
    /* random64 puts the first draw in the high half */
    tg_rng_seed(&r, 42);
    tg_rng_seed(&r2, 42);
    uint64_t hi = tg_rng_u32(&r2), lo = tg_rng_u32(&r2);
    ck_assert_uint_eq(tg_rng_u64(&r), hi << 32 | lo);
    /* reseeding forgets a cached Box-Muller value */
    double a[3], b[3];
    tg_rng_seed(&r, 1);
    tg_normal(&r, TG_F64, a, 3, 0.0, 1.0);
    ck_assert_int_eq(r.has_normal, 1);
    tg_rng_seed(&r, 1);
    ck_assert_int_eq(r.has_normal, 0);
    tg_normal(&r, TG_F64, b, 3, 0.0, 1.0);
    ck_assert_mem_eq(a, b, sizeof a);
}
END_TEST

/* ---- npy helpers ----------------------------------------------------------- */

static char err[512];

/* Writes a .npy-like file: magic (or other 6 bytes), version, the given
 * header text with the right length field, then data and extra bytes. */
static void write_raw(const char *name, const char *magic, int major, const char *header,
                      const void *data, size_t ndata) {
    char path[1024];
    path_in(path, sizeof path, tmp_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(magic, 1, 6, f);
    size_t hlen = strlen(header);
    unsigned char pre[6] = {(unsigned char)major, 0, (unsigned char)(hlen & 0xff),
                            (unsigned char)(hlen >> 8), 0, 0};
    fwrite(pre, 1, major == 1 ? 4 : 6, f);
    fwrite(header, 1, hlen, f);
    if (ndata) fwrite(data, 1, ndata, f);
    fclose(f);
}

static void write_bytes(const char *name, const void *data, size_t n) {
    char path[1024];
    path_in(path, sizeof path, tmp_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static const char NPY[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Loads dir/name expecting failure; checks the message is "dir/name: want". */
static void expect_load_error(const char *dir, const char *name, TgDType dt, int rank,
                              const int64_t *shape, const char *want) {
    char path[1024], full[2048];
    double buf[256];
    path_in(path, sizeof path, dir, name);
    snprintf(full, sizeof full, "%s: %s", path, want);
    memset(err, 0, sizeof err);
    int rc = tg_npy_load(path, dt, rank, shape, buf, err, sizeof err);
    ck_assert_msg(rc == -1, "%s: loaded, expected the error \"%s\"", path, want);
    ck_assert_str_eq(err, full);
}

static void *load_ok(const char *dir, const char *name, TgDType dt, int rank,
                     const int64_t *shape, void *out) {
    char path[1024];
    path_in(path, sizeof path, dir, name);
    err[0] = '\0';
    int rc = tg_npy_load(path, dt, rank, shape, out, err, sizeof err);
    ck_assert_msg(rc == 0, "%s: %s", path, err);
    return out;
}

/* ---- npy: golden files numpy wrote ------------------------------------------ */

static const float f32_2x3[6] = {-1.5f, -0.75f, 0.0f, 0.75f, 1.5f, 1.0f / 3.0f};

START_TEST(test_npy_load_golden) {
    int64_t s23[] = {2, 3};
    float f[6];
    memset(f, 0xff, sizeof f);
    load_ok(golden_dir, "f32_2x3.npy", TG_F32, 2, s23, f);
    ck_assert_mem_eq(f, f32_2x3, sizeof f);
    memset(f, 0xff, sizeof f);
    load_ok(golden_dir, "v2_f32_2x3.npy", TG_F32, 2, s23, f);
    ck_assert_mem_eq(f, f32_2x3, sizeof f);

    double d = 0;
    load_ok(golden_dir, "f64_scalar.npy", TG_F64, 0, NULL, &d);
    ck_assert(d == 3.141592653589793);

    int64_t s5[] = {5}, s3[] = {3};
    int64_t i64[5], want64[5] = {0, -1, ((int64_t)1 << 40) + 3, INT64_MIN, INT64_MAX};
    load_ok(golden_dir, "i64_vec.npy", TG_I64, 1, s5, i64);
    ck_assert_mem_eq(i64, want64, sizeof i64);
    int64_t v3[3], want_v3[3] = {5, -6, 7};
    load_ok(golden_dir, "v3_i64_vec.npy", TG_I64, 1, s3, v3);
    ck_assert_mem_eq(v3, want_v3, sizeof v3);

    int64_t s22[] = {2, 2};
    int32_t i32[4], want32[4] = {7, -8, INT32_MAX, INT32_MIN};
    load_ok(golden_dir, "i32_2x2.npy", TG_I32, 2, s22, i32);
    ck_assert_mem_eq(i32, want32, sizeof i32);

    int64_t s4[] = {4};
    uint8_t b[4], want_b[4] = {1, 0, 0, 1};
    load_ok(golden_dir, "bool_4.npy", TG_BOOL, 1, s4, b);
    ck_assert_mem_eq(b, want_b, sizeof b);

    int64_t s312[] = {3, 1, 2};
    uint8_t u[6], want_u[6] = {0, 1, 127, 128, 254, 255};
    load_ok(golden_dir, "u8_3x1x2.npy", TG_U8, 3, s312, u);
    ck_assert_mem_eq(u, want_u, sizeof u);
}
END_TEST

START_TEST(test_npy_golden_errors) {
    int64_t s23[] = {2, 3}, s231[] = {2, 3, 1}, s5[] = {5};
    expect_load_error(golden_dir, "fortran_f32_2x3.npy", TG_F32, 2, s23,
                      "fortran_order is True; only C-order arrays can be loaded "
                      "(save np.ascontiguousarray(a))");
    expect_load_error(golden_dir, "bigendian_f32_2x3.npy", TG_F32, 2, s23,
                      "dtype '>f4' is big-endian; save it little-endian (a.astype('<f4'))");
    expect_load_error(golden_dir, "f32_2x3.npy", TG_F64, 2, s23,
                      "dtype '<f4' does not match the declared f64");
    expect_load_error(golden_dir, "i64_vec.npy", TG_F32, 1, s5,
                      "dtype '<i8' does not match the declared f32");
    expect_load_error(golden_dir, "f32_2x3.npy", TG_F32, 3, s231,
                      "shape (2, 3) does not match the declared f32[2, 3, 1]");
    expect_load_error(golden_dir, "i64_vec.npy", TG_I64, 0, NULL,
                      "shape (5,) does not match the declared i64[]");
    expect_load_error(golden_dir, "f64_scalar.npy", TG_F64, 1, s5,
                      "shape () does not match the declared f64[5]");
}
END_TEST

/* ---- npy: broken files ---------------------------------------------------------- */

#define HDR(descr, fortran, shape) \
    "{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " shape ", }\n"

START_TEST(test_npy_bad_files) {
    float data[150];
    for (int i = 0; i < 150; i++) data[i] = (float)i;
    int64_t s615[] = {6, 1, 5}, s6155[] = {6, 1, 5, 5}, s23[] = {2, 3}, s2[] = {2};

    expect_load_error(tmp_dir, "missing.npy", TG_F32, 1, s2,
                      "cannot open: No such file or directory");

    write_bytes("magic.npy", "PK\x03\x04 not numpy at all", 22);
    expect_load_error(tmp_dir, "magic.npy", TG_F32, 1, s2, "not a .npy file (bad magic)");
    write_bytes("empty.npy", "", 0);
    expect_load_error(tmp_dir, "empty.npy", TG_F32, 1, s2, "not a .npy file (bad magic)");
    write_bytes("short.npy", "\x93NUMPY\x01", 7);
    expect_load_error(tmp_dir, "short.npy", TG_F32, 1, s2,
                      "file ends inside the .npy preamble");

    write_raw("version.npy", NPY, 4, HDR("<f4", "False", "(2,)"), data, 8);
    expect_load_error(tmp_dir, "version.npy", TG_F32, 1, s2,
                      "unsupported .npy version 4.0 (1.0, 2.0 and 3.0 are)");

    write_raw("dict.npy", NPY, 1, "{'descr' '<f4', 'fortran_order': False, 'shape': (2,), }\n",
              data, 8);
    expect_load_error(tmp_dir, "dict.npy", TG_F32, 1, s2,
                      "malformed .npy header: expected ':' after a key at offset 9 of "
                      "{'descr' '<f4', 'fortran_order': False, 'shape': (2,), }");
    write_raw("nokey.npy", NPY, 1, "{'descr': '<f4', 'shape': (2,)}   \n", data, 8);
    expect_load_error(tmp_dir, "nokey.npy", TG_F32, 1, s2,
                      "malformed .npy header: no 'fortran_order' key in "
                      "{'descr': '<f4', 'shape': (2,)}");
    write_raw("tuple.npy", NPY, 1, HDR("<f4", "False", "(2, -3)"), data, 24);
    expect_load_error(tmp_dir, "tuple.npy", TG_F32, 2, s23,
                      "malformed .npy header: expected a non-negative integer in 'shape' at "
                      "offset 54 of {'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }");
    write_raw("bool.npy", NPY, 1, HDR("<f4", "1", "(2,)"), data, 8);
    expect_load_error(tmp_dir, "bool.npy", TG_F32, 1, s2,
                      "malformed .npy header: 'fortran_order' is not True or False at offset 34 "
                      "of {'descr': '<f4', 'fortran_order': 1, 'shape': (2,), }");

    /* the two messages the design spells out */
    write_raw("x.npy", NPY, 1, HDR("<f4", "False", "(6, 1, 5)"), data, 120);
    expect_load_error(tmp_dir, "x.npy", TG_F32, 4, s6155,
                      "shape (6, 1, 5) does not match the declared f32[6, 1, 5, 5]");
    write_raw("i8.npy", NPY, 1, HDR("<i8", "False", "(6, 1, 5)"), data, 240);
    expect_load_error(tmp_dir, "i8.npy", TG_F32, 3, s615,
                      "dtype '<i8' does not match the declared f32");

    write_raw("f2.npy", NPY, 1, HDR("<f2", "False", "(2,)"), data, 4);
    expect_load_error(tmp_dir, "f2.npy", TG_F32, 1, s2,
                      "dtype '<f2' is not supported (only '<f4', '<f8', '<i4', '<i8', '|b1', "
                      "'|u1')");
    write_raw("fortran.npy", NPY, 1, HDR("<f4", "True", "(2, 3)"), data, 24);
    expect_load_error(tmp_dir, "fortran.npy", TG_F32, 2, s23,
                      "fortran_order is True; only C-order arrays can be loaded "
                      "(save np.ascontiguousarray(a))");

    write_raw("truncated.npy", NPY, 1, HDR("<f4", "False", "(6, 1, 5)"), data, 50);
    expect_load_error(tmp_dir, "truncated.npy", TG_F32, 3, s615,
                      "file ends after 50 of 120 data bytes");
    write_raw("trailing.npy", NPY, 1, HDR("<f4", "False", "(2,)"), data, 11);
    expect_load_error(tmp_dir, "trailing.npy", TG_F32, 1, s2,
                      "3 bytes of trailing data after the 8 data bytes");
    unsigned char head[] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, 200, 0, '{', '\'', 'd'};
    write_bytes("header.npy", head, sizeof head);
    expect_load_error(tmp_dir, "header.npy", TG_F32, 1, s2,
                      "file ends after 3 of 200 header bytes");
    uint8_t bools[2] = {1, 2};
    write_raw("bool2.npy", NPY, 1, HDR("|b1", "False", "(2,)"), bools, 2);
    expect_load_error(tmp_dir, "bool2.npy", TG_BOOL, 1, s2, "bool element 1 is 2, not 0 or 1");
}
END_TEST

/* Headers numpy would also accept. */
START_TEST(test_npy_lenient) {
    float data[6] = {1, 2, 3, 4, 5, 6}, out[6];
    int64_t s6[] = {6}, s16[] = {1, 6};
    /* any key order, double quotes, no trailing comma, version 2 */
    write_raw("order.npy", NPY, 2, "{\"shape\": (6,), \"fortran_order\": False, \"descr\": \"<f4\"}\n",
              data, 24);
    load_ok(tmp_dir, "order.npy", TG_F32, 1, s6, out);
    ck_assert_mem_eq(out, data, sizeof out);
    /* Fortran order with one long dimension is the same bytes as C order */
    write_raw("f1.npy", NPY, 1, HDR("<f4", "True", "(1, 6)"), data, 24);
    load_ok(tmp_dir, "f1.npy", TG_F32, 2, s16, out);
    ck_assert_mem_eq(out, data, sizeof out);
    /* one-byte types have no byte order */
    uint8_t u[6] = {9, 8, 7, 6, 5, 4}, uo[6];
    write_raw("u1.npy", NPY, 1, HDR(">u1", "False", "(6,)"), u, 6);
    load_ok(tmp_dir, "u1.npy", TG_U8, 1, s6, uo);
    ck_assert_mem_eq(uo, u, sizeof uo);
    /* an empty array */
    int64_t s0[] = {0, 3};
    write_raw("empty_arr.npy", NPY, 1, HDR("<f8", "False", "(0, 3)"), NULL, 0);
    load_ok(tmp_dir, "empty_arr.npy", TG_F64, 2, s0, out);
}
END_TEST

/* ---- npy: save ------------------------------------------------------------------- */

/* The arrays gen_runtime_goldens.py --check-saved expects (saved_arrays()). */
typedef struct {
    const char *name;
    TgDType dt;
    int rank;
    int64_t shape[3];
} SavedSpec;

static const SavedSpec saved_specs[] = {
    {"saved_f32.npy", TG_F32, 3, {2, 3, 4}},
    {"saved_f64.npy", TG_F64, 1, {4}},
    {"saved_i32.npy", TG_I32, 2, {2, 2}},
    {"saved_i64.npy", TG_I64, 1, {5}},
    {"saved_bool.npy", TG_BOOL, 2, {1, 3}},
    {"saved_u8.npy", TG_U8, 1, {3}},
    {"saved_scalar.npy", TG_F32, 0, {0}},
};

static void fill_saved(int k, void *buf) {
    switch (k) {
    case 0:
        for (int i = 0; i < 24; i++) ((float *)buf)[i] = (float)i / 8.0f - 1.0f;
        break;
    case 1: {
        double v[4] = {3.141592653589793, -0.0, 1e-300, 2.5};
        memcpy(buf, v, sizeof v);
        break;
    }
    case 2: {
        int32_t v[4] = {1, -2, INT32_MAX, INT32_MIN};
        memcpy(buf, v, sizeof v);
        break;
    }
    case 3: {
        int64_t v[5] = {0, -1, (int64_t)1 << 62, INT64_MIN, INT64_MAX};
        memcpy(buf, v, sizeof v);
        break;
    }
    case 4: {
        uint8_t v[3] = {1, 0, 1};
        memcpy(buf, v, sizeof v);
        break;
    }
    case 5: {
        uint8_t v[3] = {0, 200, 255};
        memcpy(buf, v, sizeof v);
        break;
    }
    case 6:
        *(float *)buf = -2.5f;
        break;
    }
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

START_TEST(test_npy_save_roundtrip) {
    const SavedSpec *s = &saved_specs[_i];
    const char *env = getenv("TG_NPY_SAVE_DIR");
    const char *dir = env && *env ? env : tmp_dir;
    char path[1024], tmp[1100];
    unsigned char data[256], back[256];
    size_t nbytes = tg_dtype_size(s->dt);
    for (int i = 0; i < s->rank; i++) nbytes *= (size_t)s->shape[i];
    fill_saved(_i, data);
    path_in(path, sizeof path, dir, s->name);
    ck_assert_msg(tg_npy_save(path, s->dt, s->rank, s->shape, data, err, sizeof err) == 0,
                  "%s", err);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_eq(file_size(tmp), -1); /* renamed away */
    long size = file_size(path);
    ck_assert_int_eq((size - (long)nbytes) % 64, 0); /* numpy aligns the data */
    memset(back, 0xee, sizeof back);
    load_ok(dir, s->name, s->dt, s->rank, s->shape, back);
    ck_assert_mem_eq(back, data, nbytes);
}
END_TEST

/* Saving what we loaded from numpy's files must give numpy's bytes back. */
START_TEST(test_npy_save_matches_numpy) {
    static const struct {
        const char *name;
        TgDType dt;
        int rank;
        int64_t shape[3];
    } files[] = {
        {"f32_2x3.npy", TG_F32, 2, {2, 3}},   {"f64_scalar.npy", TG_F64, 0, {0}},
        {"i64_vec.npy", TG_I64, 1, {5}},      {"i32_2x2.npy", TG_I32, 2, {2, 2}},
        {"bool_4.npy", TG_BOOL, 1, {4}},      {"u8_3x1x2.npy", TG_U8, 3, {3, 1, 2}},
    };
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        unsigned char data[64];
        char gpath[1024], opath[1024];
        load_ok(golden_dir, files[k].name, files[k].dt, files[k].rank, files[k].shape, data);
        path_in(gpath, sizeof gpath, golden_dir, files[k].name);
        path_in(opath, sizeof opath, tmp_dir, files[k].name);
        ck_assert_msg(tg_npy_save(opath, files[k].dt, files[k].rank, files[k].shape, data, err,
                                  sizeof err) == 0, "%s", err);
        FILE *a = fopen(gpath, "rb"), *b = fopen(opath, "rb");
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        unsigned char ba[512], bb[512];
        size_t na = fread(ba, 1, sizeof ba, a), nb = fread(bb, 1, sizeof bb, b);
        fclose(a);
        fclose(b);
        ck_assert_msg(na == nb && memcmp(ba, bb, na) == 0,
                      "%s: saved file differs from numpy's (%zu vs %zu bytes; header %.*s)",
                      files[k].name, nb, na, (int)(nb > 10 ? nb - 10 : 0), (char *)bb + 10);
    }
}
END_TEST

START_TEST(test_npy_save_errors) {
    char path[1024], want[2200];
    float x = 1;
    int64_t s1[] = {1};
    path_in(path, sizeof path, tmp_dir, "no/such/dir/x.npy");
    ck_assert_int_eq(tg_npy_save(path, TG_F32, 1, s1, &x, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot create a file beside it: No such file or directory", path);
    ck_assert_str_eq(err, want);
    /* a failed save leaves an existing file alone */
    path_in(path, sizeof path, tmp_dir, "keep.npy");
    ck_assert_int_eq(tg_npy_save(path, TG_F32, 1, s1, &x, err, sizeof err), 0);
    long before = file_size(path);
    int64_t bad[] = {-1};
    ck_assert_int_eq(tg_npy_save(path, TG_F32, 1, bad, &x, err, sizeof err), -1);
    ck_assert_int_eq(file_size(path), before);
    /* small error buffers truncate, never overflow */
    char tiny[8];
    path_in(path, sizeof path, tmp_dir, "missing.npy");
    ck_assert_int_eq(tg_npy_load(path, TG_F32, 1, s1, &x, tiny, sizeof tiny), -1);
    ck_assert_uint_eq(strlen(tiny), sizeof tiny - 1);
}
END_TEST

/* ---- main -------------------------------------------------------------------------- */

static void remove_tmp_dir(void) {
    DIR *d = opendir(tmp_dir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        path_in(path, sizeof path, tmp_dir, e->d_name);
        remove(path);
    }
    closedir(d);
    rmdir(tmp_dir);
}

int main(int argc, char **argv) {
    golden_dir = argc > 1 ? argv[1] : getenv("TG_GOLDEN_DIR");
    if (!golden_dir || !*golden_dir) golden_dir = "tests/golden";
    load_rng_cases();
    const char *t = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/tgrt_test_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        perror(tmp_dir);
        return 1;
    }

    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("rng");
    tcase_add_loop_test(tc, test_rng_case, 0, n_rng_cases);
    tcase_add_test(tc, test_rng_known_answers);
    suite_add_tcase(s, tc);
    tc = tcase_create("npy");
    tcase_add_test(tc, test_npy_load_golden);
    tcase_add_test(tc, test_npy_golden_errors);
    tcase_add_test(tc, test_npy_bad_files);
    tcase_add_test(tc, test_npy_lenient);
    tcase_add_loop_test(tc, test_npy_save_roundtrip, 0,
                        (int)(sizeof saved_specs / sizeof saved_specs[0]));
    tcase_add_test(tc, test_npy_save_matches_numpy);
    tcase_add_test(tc, test_npy_save_errors);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_tmp_dir();
    return failed ? 1 : 0;
}
