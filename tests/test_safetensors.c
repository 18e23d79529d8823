/*
 * test_safetensors.c: checkpoints (runtime/safetensors.c).
 *
 * Round trips of every dtype and of metadata that needs escaping; the exact
 * message for each way a file can be wrong (missing, truncated, a header
 * length past the end, malformed JSON, dtype and shape mismatches, missing
 * tensors, data offsets out of range); saves that fail leave the old file
 * as it was. Interoperability with Python: when /usr/bin/python3 has torch and
 * numpy, a script writes a file from torch tensors with json + struct (Debian
 * ships no safetensors package, so the test spells out the format itself) and
 * the C loader reads it; when it has numpy, a script parses the C writer's
 * file with json and compares every tensor with numpy. Without them those
 * parts are skipped (and say so). Files live in a mkdtemp directory.
 *
 * Whole state_dicts (tg_load_state_safetensors, and tg_load_one_safetensors as
 * generated programs call it): the exact message for a missing tensor, an
 * unknown one (with and without a did-you-mean), a shape or dtype mismatch,
 * rank-0 I64 (num_batches_tracked); and a golden written by
 * scripts/export_safetensors.py's writer from a PyTorch Conv2d + BatchNorm2d,
 * checked value by value against tests/golden/safetensors/tiny.txt (argv[1] is
 * tests/golden).
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tgrt.h"

static char dir[64]; /* the mkdtemp directory */

/* Test strings live until the process exits; keeping them reachable keeps LeakSanitizer quiet. */
static void *kept[1024];
static int nkept;

static char *fmt(const char *f, ...) {
    va_list ap, ap2;
    va_start(ap, f);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, f, ap2);
    va_end(ap2);
    if (nkept < (int)(sizeof kept / sizeof kept[0]))
        kept[nkept++] = s;
    return s;
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* A .safetensors file by hand: header length hlen (as stored), the header text padded to 8, ndata zero bytes. */
static char *raw_file(const char *name, uint64_t hlen, const char *header, size_t ndata) {
    char *path = fmt("%s/%s", dir, name);
    size_t n = strlen(header), padded = (n + 7) / 8 * 8;
    unsigned char *buf = calloc(1, 8 + padded + ndata);
    if (hlen == UINT64_MAX)
        hlen = padded;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, header, n);
    memset(buf + 8 + n, ' ', padded - n);
    write_file(path, buf, 8 + padded + ndata);
    free(buf);
    return path;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

/* Runs a shell command; true when it exits 0. */
static int sh(const char *cmd) {
    int rc = system(cmd);
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

/* ---- the round-trip tensors: values a Python script can write down too ---- */

static const int64_t W_SHAPE[] = {2, 3, 4, 5};  /* f32: w[i] = i * 0.25 - 7 */
static const int64_t V_SHAPE[] = {5};           /* i64 */
static const int64_t P_SHAPE[] = {6};           /* u8 */
static const int64_t M_SHAPE[] = {2, 2};        /* bool */
static const int64_t I_SHAPE[] = {3};           /* i32 */
static const int64_t V_VALUES[] = {-3, 0, 1, (int64_t)1 << 40, -((int64_t)1 << 62)};
static const uint8_t P_VALUES[] = {0, 1, 127, 128, 254, 255};
static const uint8_t M_VALUES[] = {1, 0, 0, 1};
static const int32_t I_VALUES[] = {-2147483647 - 1, 7, 2147483647};
/* Metadata with a quote, a backslash, a newline, a tab, a control character and UTF-8. */
static const char NOTE[] = "a \"quoted\" \\ back\nslash\ttab\x01 caf\xc3\xa9 /";
#define NOTE_PY "'a \"quoted\" \\\\ back\\nslash\\ttab\\x01 caf\\u00e9 /'"

typedef struct {
    float w[120];
    double s;
    int64_t v[5];
    uint8_t p[6];
    uint8_t m[4];
    int32_t i[3];
} Tensors;

static void fill(Tensors *x) {
    for (int i = 0; i < 120; i++)
        x->w[i] = (float)i * 0.25f - 7.0f;
    x->s = -1.0 / 3.0;
    memcpy(x->v, V_VALUES, sizeof x->v);
    memcpy(x->p, P_VALUES, sizeof x->p);
    memcpy(x->m, M_VALUES, sizeof x->m);
    memcpy(x->i, I_VALUES, sizeof x->i);
}

static void describe(Tensors *x, TgNamedTensor t[6]) {
    TgNamedTensor all[6] = {
        {"conv1.weight", TG_F32, 4, W_SHAPE, x->w},
        {"loss.scale", TG_F64, 0, NULL, &x->s},
        {"steps", TG_I64, 1, V_SHAPE, x->v},
        {"pixels", TG_U8, 1, P_SHAPE, x->p},
        {"mask \"odd\" name\\", TG_BOOL, 2, M_SHAPE, x->m},
        {"idx", TG_I32, 1, I_SHAPE, x->i},
    };
    memcpy(t, all, sizeof all);
}

static const char *const META_KEYS[] = {"epoch", "note"};
static const char *const META_VALUES[] = {"3", NOTE};

static void save_good(const char *path) {
    Tensors x;
    TgNamedTensor t[6];
    char err[512] = "";
    fill(&x);
    describe(&x, t);
    ck_assert_msg(tg_save_safetensors(path, t, 6, META_KEYS, META_VALUES, 2, err, sizeof err) == 0, "%s", err);
}

START_TEST(round_trip) {
    char *path = fmt("%s/ck.safetensors", dir);
    save_good(path);
    ck_assert_int_eq(access(fmt("%s.tmp", path), F_OK), -1); /* the temp file is gone */

    size_t len;
    char *raw = slurp(path, &len);
    ck_assert_ptr_nonnull(raw);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | (unsigned char)raw[i];
    ck_assert_uint_eq((8 + hlen) % 8, 0);
    ck_assert_uint_eq(len, 8 + hlen + 480 + 8 + 40 + 6 + 4 + 12);
    free(raw);

    Tensors want, got;
    TgNamedTensor t[6];
    fill(&want);
    memset(&got, 0xAB, sizeof got);
    describe(&got, t);
    char v0[8], v1[128], v2[8], *values[] = {v0, v1, v2};
    const char *keys[] = {"epoch", "note", "absent"};
    char err[512] = "";
    strcpy(v2, "junk");
    ck_assert_msg(tg_load_safetensors(path, t, 6, keys, values, 3, sizeof v1, err, sizeof err) == 0, "%s", err);
    ck_assert(memcmp(want.w, got.w, sizeof want.w) == 0);
    ck_assert(want.s == got.s);
    ck_assert(memcmp(want.v, got.v, sizeof want.v) == 0);
    ck_assert(memcmp(want.p, got.p, sizeof want.p) == 0);
    ck_assert(memcmp(want.m, got.m, sizeof want.m) == 0);
    ck_assert(memcmp(want.i, got.i, sizeof want.i) == 0);
    ck_assert_str_eq(v0, "3");
    ck_assert_str_eq(v1, NOTE);
    ck_assert_str_eq(v2, "");

    /* A subset in another order, and a value truncated to valcap - 1 bytes. */
    memset(&got, 0, sizeof got);
    TgNamedTensor sub[2] = {t[2], t[0]};
    char small[6], *one[] = {small};
    const char *note[] = {"note"};
    ck_assert_msg(tg_load_safetensors(path, sub, 2, note, one, 1, sizeof small, err, sizeof err) == 0, "%s", err);
    ck_assert(memcmp(want.v, got.v, sizeof want.v) == 0);
    ck_assert(memcmp(want.w, got.w, sizeof want.w) == 0);
    ck_assert_str_eq(small, "a \"qu");
}
END_TEST

/* A hand-written header: keys in any order, whitespace, escapes, fields and metadata the loader skips. */
START_TEST(general_json) {
    const char *h = "\n{ \"__metadata__\" : { \"k\\u00e9y\" : \"v\\/\\u0041\\t\\\"\\\\\\ud83d\\ude00\", \"format\": \"pt\" } ,"
                    "\t\"w\\u0041\" : { \"data_offsets\" : [ 0 , 8 ], \"extra\": [1, -2.5e3, {\"a\": null}, true],"
                    " \"shape\" : [ 2 ], \"dtype\" : \"F32\" },"
                    "\"other\": {\"dtype\": \"BF16\", \"shape\": [1, 2], \"data_offsets\": [8, 12]} }\r\n";
    unsigned char buf[512] = {0};
    size_t n = strlen(h), padded = (n + 7) / 8 * 8;
    buf[0] = (unsigned char)padded;
    buf[1] = (unsigned char)(padded >> 8);
    memcpy(buf + 8, h, n);
    memset(buf + 8 + n, ' ', padded - n);
    float two[2] = {1.5f, -2.0f};
    memcpy(buf + 8 + padded, two, sizeof two);
    char *path = fmt("%s/general.safetensors", dir);
    write_file(path, buf, 8 + padded + 12);

    float got[2] = {0, 0};
    int64_t shape[] = {2};
    TgNamedTensor t = {"wA", TG_F32, 1, shape, got};
    char v[64], *values[] = {v};
    const char *keys[] = {"k\xc3\xa9y"};
    char err[512] = "";
    ck_assert_msg(tg_load_safetensors(path, &t, 1, keys, values, 1, sizeof v, err, sizeof err) == 0, "%s", err);
    ck_assert(got[0] == 1.5f && got[1] == -2.0f);
    ck_assert_str_eq(v, "v/A\t\"\\\xf0\x9f\x98\x80");
}
END_TEST

/* Loads one F32 [2] tensor named "a" from path and checks the message. */
static void load_fails(const char *path, const char *want) {
    float data[2];
    int64_t shape[] = {2};
    TgNamedTensor t = {"a", TG_F32, 1, shape, data};
    char err[512] = "";
    ck_assert_int_eq(tg_load_safetensors(path, &t, 1, NULL, NULL, 0, 0, err, sizeof err), -1);
    ck_assert_str_eq(err, want);
}

START_TEST(missing_file) {
    char *path = fmt("%s/nope.safetensors", dir);
    load_fails(path, fmt("%s: No such file or directory", path));
}
END_TEST

START_TEST(truncated_header) {
    char *path = fmt("%s/short.safetensors", dir);
    write_file(path, "\x10\0\0\0\0", 5);
    load_fails(path, fmt("%s: truncated: 5 bytes, too short for the 8-byte header length", path));
}
END_TEST

START_TEST(header_longer_than_file) {
    char *path = raw_file("long.safetensors", 1000, "{}", 8);
    load_fails(path, fmt("%s: header length 1000 is larger than the file (24 bytes)", path));
    path = raw_file("huge.safetensors", UINT64_MAX - 3, "{}", 0);
    load_fails(path, fmt("%s: header length 18446744073709551612 is larger than the file (16 bytes)", path));
}
END_TEST

START_TEST(malformed_json) {
    char *path = raw_file("colon.safetensors", UINT64_MAX, "{\"a\" 1}", 0);
    load_fails(path, fmt("%s: malformed header at byte 13: expected ':'", path));

    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}}";
    path = raw_file("comma.safetensors", UINT64_MAX, h, 8);
    load_fails(path, fmt("%s: malformed header at byte %d: expected a non-negative integer", path,
                         8 + (int)(strstr(h, ",]") - h) + 1));

    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    path = raw_file("open.safetensors", UINT64_MAX, h, 8);
    load_fails(path, fmt("%s: malformed header at byte %d: unexpected end of header", path,
                         8 + (int)((strlen(h) + 7) / 8 * 8)));

    path = raw_file("escape.safetensors", UINT64_MAX, "{\"a\\q\":{}}", 0);
    load_fails(path, fmt("%s: malformed header at byte 12: bad escape in string", path));

    path = raw_file("trail.safetensors", UINT64_MAX, "{} x", 0);
    load_fails(path, fmt("%s: malformed header at byte 11: trailing characters after the header object", path));

    path = raw_file("meta.safetensors", UINT64_MAX, "{\"__metadata__\":{\"k\":1}}", 0);
    load_fails(path, fmt("%s: malformed header at byte 29: expected a string", path));

    path = raw_file("nofield.safetensors", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8);
    load_fails(path, fmt("%s: a has no data_offsets", path));
}
END_TEST

START_TEST(dtype_mismatch) {
    char *path = raw_file("f64.safetensors", UINT64_MAX,
                          "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16);
    load_fails(path, fmt("%s: a is F64 [2] but F32 [2] is expected", path));
}
END_TEST

START_TEST(shape_mismatch) {
    char *path = fmt("%s/ck.safetensors", dir);
    float w[30] = {0};
    int64_t saved[] = {6, 1, 5}, wanted[] = {6, 1, 5, 5};
    TgNamedTensor t = {"conv1.weight", TG_F32, 3, saved, w};
    char err[512] = "";
    ck_assert_msg(tg_save_safetensors(path, &t, 1, NULL, NULL, 0, err, sizeof err) == 0, "%s", err);
    float big[150];
    TgNamedTensor u = {"conv1.weight", TG_F32, 4, wanted, big};
    ck_assert_int_eq(tg_load_safetensors(path, &u, 1, NULL, NULL, 0, 0, err, sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: conv1.weight is F32 [6, 1, 5] but F32 [6, 1, 5, 5] is expected", path));

    /* rank 0 on either side */
    int64_t one[] = {1};
    TgNamedTensor s = {"s", TG_F32, 1, one, w};
    ck_assert_msg(tg_save_safetensors(path, &s, 1, NULL, NULL, 0, err, sizeof err) == 0, "%s", err);
    TgNamedTensor r = {"s", TG_F32, 0, NULL, big};
    ck_assert_int_eq(tg_load_safetensors(path, &r, 1, NULL, NULL, 0, 0, err, sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: s is F32 [1] but F32 [] is expected", path));
}
END_TEST

START_TEST(missing_tensor) {
    char *path = fmt("%s/ck.safetensors", dir);
    save_good(path);
    float b[16];
    int64_t shape[] = {16};
    TgNamedTensor t = {"conv2.bias", TG_F32, 1, shape, b};
    char err[512] = "";
    ck_assert_int_eq(tg_load_safetensors(path, &t, 1, NULL, NULL, 0, 0, err, sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: conv2.bias is missing", path));
}
END_TEST

START_TEST(offsets_out_of_range) {
    char *path = raw_file("past.safetensors", UINT64_MAX,
                          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4);
    load_fails(path, fmt("%s: a has data_offsets [0, 8] past the end of the data (4 bytes)", path));

    path = raw_file("size.safetensors", UINT64_MAX,
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8);
    load_fails(path, fmt("%s: a has data_offsets [0, 4] (4 bytes) but F32 [2] takes 8 bytes", path));

    path = raw_file("back.safetensors", UINT64_MAX,
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8);
    load_fails(path, fmt("%s: a has data_offsets [8, 0] that run backwards", path));

    /* An entry nobody asked for is checked too. */
    path = raw_file("other.safetensors", UINT64_MAX,
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"U8\",\"shape\":[9],\"data_offsets\":[8,17]}}", 8);
    load_fails(path, fmt("%s: b has data_offsets [8, 17] past the end of the data (8 bytes)", path));

    /* The tensors' data must tile the data section: no overlap, no gap, nothing after. */
    path = raw_file("overlap.safetensors", UINT64_MAX,
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
    load_fails(path, fmt("%s: the data of b [4, 12] overlaps that of a", path));
    path = raw_file("gap.safetensors", UINT64_MAX,
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", 16);
    load_fails(path, fmt("%s: 4 bytes before the data of b belong to no tensor", path));
    path = raw_file("trailing.safetensors", UINT64_MAX,
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 11);
    load_fails(path, fmt("%s: 3 bytes at the end belong to no tensor (trailing data)", path));
    load_fails(dir, fmt("%s: a directory, not a file", dir));
}
END_TEST

START_TEST(failed_save_keeps_old_file) {
    char *path = fmt("%s/keep.safetensors", dir);
    save_good(path);
    size_t len0, len1;
    char *before = slurp(path, &len0);
    float w[2] = {9, 9};
    int64_t shape[] = {2};
    TgNamedTensor t = {"w", TG_F32, 1, shape, w};
    char err[512] = "";

    /* The write fails (past a file-size limit): an error, PATH stays as it was, no temporary is left. */
    struct rlimit old, small = {16, 16};
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN); /* the write returns EFBIG instead of killing us */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = tg_save_safetensors(path, &t, 1, NULL, NULL, 0, err, sizeof err);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, was);
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(err, fmt("%s: cannot write: File too large", path));
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        ck_assert_msg(!strstr(e->d_name, ".tmp-"), "a temporary is left: %s", e->d_name);
    if (d)
        closedir(d);

    /* Bad input fails before anything is written. */
    TgNamedTensor bad = {"w", TG_F32, TG_MAX_RANK + 1, shape, w};
    ck_assert_int_eq(tg_save_safetensors(path, &bad, 1, NULL, NULL, 0, err, sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: w has an invalid rank 9", path));

    char *after = slurp(path, &len1);
    ck_assert_uint_eq(len0, len1);
    ck_assert(memcmp(before, after, len0) == 0);
    free(before);
    free(after);

    /* A directory that does not exist. */
    char *nodir = fmt("%s/nodir/ck.safetensors", dir);
    ck_assert_int_eq(tg_save_safetensors(nodir, &t, 1, NULL, NULL, 0, err, sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: cannot create a file beside it: No such file or directory", nodir));
}
END_TEST

/* Python writes a file from torch tensors with json + struct; the C loader reads it. */
static const char TORCH_WRITER[] =
    "import json, struct, sys, torch\n"
    "ts = {'conv1.weight': torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) * 0.5 - 3,\n"
    "      'step': torch.tensor(7, dtype=torch.int64),\n"
    "      'scale': torch.tensor([1.5, -1 / 3], dtype=torch.float64),\n"
    "      'mask': torch.tensor([True, False, True]),\n"
    "      'pix': torch.arange(250, 256, dtype=torch.uint8),\n"
    "      'idx': torch.tensor([-1, 2, 2**31 - 1], dtype=torch.int32),\n"
    "      'half': torch.ones(3, dtype=torch.bfloat16)}\n"
    "names = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64', torch.int32: 'I32',\n"
    "         torch.bool: 'BOOL', torch.uint8: 'U8', torch.bfloat16: 'BF16'}\n"
    "header = {'__metadata__': {'format': 'pt', 'note': " NOTE_PY "}}\n"
    "data = b''\n"
    "for k, t in ts.items():\n"
    "    t = t.contiguous()\n"
    "    b = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()\n"
    "    header[k] = {'data_offsets': [len(data), len(data) + len(b)], 'shape': list(t.shape),\n"
    "                 'dtype': names[t.dtype]}\n"
    "    data += b\n"
    "h = json.dumps(header).encode()\n"
    "h += b' ' * (-(8 + len(h)) % 8)\n"
    "open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + data)\n";

START_TEST(python_writes_c_reads) {
    if (!sh("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1")) {
        fprintf(stderr, "python_writes_c_reads: SKIP (no /usr/bin/python3 with torch and numpy)\n");
        return;
    }
    char *script = fmt("%s/writer.py", dir), *path = fmt("%s/torch.safetensors", dir);
    write_file(script, TORCH_WRITER, strlen(TORCH_WRITER));
    ck_assert(sh(fmt("/usr/bin/python3 %s %s", script, path)));

    float w[24];
    int64_t step;
    double scale[2];
    uint8_t mask[3], pix[6];
    int32_t idx[3];
    int64_t w_shape[] = {2, 3, 4}, two[] = {2}, three[] = {3}, six[] = {6};
    TgNamedTensor t[] = {
        {"pix", TG_U8, 1, six, pix},          {"conv1.weight", TG_F32, 3, w_shape, w},
        {"step", TG_I64, 0, NULL, &step},     {"scale", TG_F64, 1, two, scale},
        {"mask", TG_BOOL, 1, three, mask},    {"idx", TG_I32, 1, three, idx},
    };
    char note[128], format[8], *values[] = {note, format};
    const char *keys[] = {"note", "format"};
    char err[512] = "";
    ck_assert_msg(tg_load_safetensors(path, t, 6, keys, values, 2, sizeof note, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 24; i++)
        ck_assert_msg(w[i] == (float)i * 0.5f - 3.0f, "w[%d] = %g", i, (double)w[i]);
    ck_assert_int_eq(step, 7);
    ck_assert(scale[0] == 1.5 && scale[1] == -1.0 / 3.0);
    ck_assert(mask[0] == 1 && mask[1] == 0 && mask[2] == 1);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(pix[i], 250 + i);
    ck_assert(idx[0] == -1 && idx[1] == 2 && idx[2] == 2147483647);
    ck_assert_str_eq(note, NOTE);
    ck_assert_str_eq(format, "pt");
}
END_TEST

/* C writes; Python parses the header with json and compares each tensor with numpy. */
static const char NUMPY_READER[] =
    "import json, struct, sys\n"
    "import numpy as np\n"
    "raw = open(sys.argv[1], 'rb').read()\n"
    "n = struct.unpack('<Q', raw[:8])[0]\n"
    "assert (8 + n) % 8 == 0, n\n"
    "hdr = json.loads(raw[8:8 + n].decode('utf-8'))\n"
    "meta = hdr.pop('__metadata__')\n"
    "assert meta == {'epoch': '3', 'note': " NOTE_PY "}, meta\n"
    "data = raw[8 + n:]\n"
    "dt = {'F32': '<f4', 'F64': '<f8', 'I32': '<i4', 'I64': '<i8', 'BOOL': '?', 'U8': 'u1'}\n"
    "want = {'conv1.weight': np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5) * np.float32(0.25) - np.float32(7),\n"
    "        'loss.scale': np.array(-1 / 3),\n"
    "        'steps': np.array([-3, 0, 1, 2**40, -2**62], dtype=np.int64),\n"
    "        'pixels': np.array([0, 1, 127, 128, 254, 255], dtype=np.uint8),\n"
    "        'mask \"odd\" name\\\\': np.array([[True, False], [False, True]]),\n"
    "        'idx': np.array([-2**31, 7, 2**31 - 1], dtype=np.int32)}\n"
    "end = 0\n"
    "for k, v in sorted(hdr.items(), key=lambda kv: kv[1]['data_offsets'][0]):\n"
    "    b, e = v['data_offsets']\n"
    "    assert b == end, (k, b, end)\n"
    "    end = e\n"
    "    a = np.frombuffer(data[b:e], dtype=dt[v['dtype']]).reshape(v['shape'])\n"
    "    x = want.pop(k)\n"
    "    assert a.dtype == x.dtype and a.shape == x.shape and np.array_equal(a, x), (k, a, x)\n"
    "assert end == len(data) and not want, (end, len(data), want)\n";

START_TEST(c_writes_python_reads) {
    if (!sh("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1")) {
        fprintf(stderr, "c_writes_python_reads: SKIP (no /usr/bin/python3 with numpy)\n");
        return;
    }
    char *script = fmt("%s/reader.py", dir), *path = fmt("%s/c.safetensors", dir);
    save_good(path);
    write_file(script, NUMPY_READER, strlen(NUMPY_READER));
    ck_assert_msg(sh(fmt("/usr/bin/python3 %s %s", script, path)), "the Python reader rejected %s", path);
    /* The reader can fail: a corrupted byte in the data must make it say so. */
    size_t len;
    char *raw = slurp(path, &len);
    raw[len - 13] ^= 1;
    char *bad = fmt("%s/corrupt.safetensors", dir);
    write_file(bad, raw, len);
    free(raw);
    ck_assert(!sh(fmt("/usr/bin/python3 %s %s 2>/dev/null", script, bad)));
}
END_TEST

/* ---- whole state_dicts: tg_load_state_safetensors and tg_load_one_safetensors ---- */

/* A BatchNorm2d-like state: a weight, a running mean and PyTorch's num_batches_tracked (I64 []). */
static const int64_t FC_SHAPE[] = {3, 2}, BN_SHAPE[] = {3};
typedef struct {
    float fc[6], mean[3];
    int64_t tracked;
} State;

static void state_fill(State *x) {
    for (int i = 0; i < 6; i++)
        x->fc[i] = 0.5f * (float)i - 1.0f;
    for (int i = 0; i < 3; i++)
        x->mean[i] = -0.25f * (float)(i + 1);
    x->tracked = 123456789012LL;
}

static void state_describe(State *x, TgNamedTensor t[3]) {
    TgNamedTensor all[3] = {
        {"fc.weight", TG_F32, 2, FC_SHAPE, x->fc},
        {"bn.running_mean", TG_F32, 1, BN_SHAPE, x->mean},
        {"bn.num_batches_tracked", TG_I64, 0, NULL, &x->tracked},
    };
    memcpy(t, all, sizeof all);
}

/* Saves the n tensors t as dir/name; returns the path. */
static char *state_save(const char *name, const TgNamedTensor *t, int n) {
    char *path = fmt("%s/%s", dir, name);
    char err[512] = "";
    ck_assert_msg(tg_save_safetensors(path, t, n, NULL, NULL, 0, err, sizeof err) == 0, "%s", err);
    return path;
}

/* Loading the whole State from path fails with exactly want (formatted with the path). */
static void state_fails(const char *path, const char *want) {
    State got;
    TgNamedTensor t[3];
    state_describe(&got, t);
    char err[512] = "";
    ck_assert_int_eq(tg_load_state_safetensors(path, t, 3, err, sizeof err), -1);
    ck_assert_str_eq(err, fmt(want, path));
}

START_TEST(state_loads) {
    State want, got;
    TgNamedTensor t[3], u[3];
    state_fill(&want);
    state_describe(&want, t);
    memset(&got, 0, sizeof got);
    state_describe(&got, u);
    char *path = state_save("state.safetensors", t, 3);
    char err[512] = "";
    /* the model's order need not be the file's */
    TgNamedTensor shuffled[3] = {u[2], u[0], u[1]};
    ck_assert_msg(tg_load_state_safetensors(path, shuffled, 3, err, sizeof err) == 0, "%s", err);
    ck_assert(memcmp(got.fc, want.fc, sizeof want.fc) == 0 && memcmp(got.mean, want.mean, sizeof want.mean) == 0);
    ck_assert(got.tracked == 123456789012LL); /* rank 0, I64 */
    /* metadata is not a tensor: a file with it still holds exactly the model's tensors */
    const char *keys[] = {"format"}, *values[] = {"pt"};
    ck_assert_msg(tg_save_safetensors(path, t, 3, keys, values, 1, err, sizeof err) == 0, "%s", err);
    memset(&got, 0, sizeof got);
    ck_assert_msg(tg_load_state_safetensors(path, u, 3, err, sizeof err) == 0, "%s", err);
    ck_assert(got.tracked == 123456789012LL && got.mean[2] == -0.75f);
}
END_TEST

START_TEST(state_missing_key) {
    State x;
    TgNamedTensor t[3];
    state_fill(&x);
    state_describe(&x, t);
    TgNamedTensor two[2] = {t[0], t[2]};
    state_fails(state_save("missing.safetensors", two, 2),
                "%s: no tensor bn.running_mean (the model has 3 tensors; the file has 2)");
}
END_TEST

START_TEST(state_unknown_key) {
    State x;
    TgNamedTensor t[4];
    state_fill(&x);
    state_describe(&x, t);
    /* a renamed tensor: the unknown name comes before the missing one, with the name it was meant to be */
    t[0].name = "fc.weight2";
    state_fails(state_save("typo.safetensors", t, 3),
                "%s: fc.weight2 is not a tensor of the model (did you mean fc.weight?)");
    /* an extra tensor, with the model's all there: no suggestion (the file has fc.weight) */
    t[0].name = "fc.weight";
    t[3] = (TgNamedTensor){"fc.weight2", TG_F32, 2, FC_SHAPE, x.fc};
    state_fails(state_save("extra.safetensors", t, 4), "%s: fc.weight2 is not a tensor of the model");
    /* nothing close, and how many more there are (a file for another architecture) */
    TgNamedTensor u[5] = {t[0], t[1], t[2], {"layer4.1.conv2.weight", TG_F32, 1, BN_SHAPE, x.mean},
                          {"layer4.1.bn2.weight", TG_F32, 1, BN_SHAPE, x.mean}};
    u[1].name = "conv1.bias";
    state_fails(state_save("other.safetensors", u, 5),
                "%s: conv1.bias is not a tensor of the model (the file has 2 more the model lacks)");
    u[1].name = "bn.running_men";
    state_fails(state_save("other.safetensors", u, 5),
                "%s: bn.running_men is not a tensor of the model (did you mean bn.running_mean?; the file has 2 more "
                "the model lacks)");
}
END_TEST

START_TEST(state_shape_mismatch) {
    State x;
    TgNamedTensor t[3];
    state_fill(&x);
    state_describe(&x, t);
    int64_t wide[] = {2, 3};
    t[0].shape = wide;
    state_fails(state_save("shape.safetensors", t, 3), "%s: fc.weight is F32 [2, 3] but F32 [3, 2] is expected");
    /* num_batches_tracked is [] in PyTorch's state_dict; [1] is another shape */
    state_describe(&x, t);
    int64_t one[] = {1};
    t[2].rank = 1;
    t[2].shape = one;
    state_fails(state_save("rank.safetensors", t, 3),
                "%s: bn.num_batches_tracked is I64 [1] but I64 [] is expected");
}
END_TEST

START_TEST(state_dtype_mismatch) {
    State x;
    TgNamedTensor t[3];
    state_fill(&x);
    state_describe(&x, t);
    float f = 3.0f;
    t[2] = (TgNamedTensor){"bn.num_batches_tracked", TG_F32, 0, NULL, &f};
    state_fails(state_save("dtype.safetensors", t, 3), "%s: bn.num_batches_tracked is F32 [] but I64 [] is expected");
}
END_TEST

START_TEST(state_duplicate_names) {
    State x;
    TgNamedTensor t[3];
    state_fill(&x);
    state_describe(&x, t);
    char *path = state_save("state.safetensors", t, 3);
    t[1].name = "fc.weight";
    char err[512] = "";
    ck_assert_int_eq(tg_load_state_safetensors(path, t, 3, err, sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: the model has two tensors named fc.weight", path));
    /* a file naming a tensor twice (possible only by hand) */
    path = raw_file("twice.safetensors", UINT64_MAX,
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]}}",
                    12);
    float a[2];
    const char *model[] = {"a", "b"};
    int64_t two[] = {2};
    ck_assert_int_eq(tg_load_one_safetensors(path, NULL, "a", TG_F32, 1, two, a, model, 2, err, sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: b appears twice", path));
}
END_TEST

/* One tensor at a time, as generated programs load: the check of the whole list rides on one call. */
START_TEST(load_one) {
    State want;
    TgNamedTensor t[3];
    state_fill(&want);
    state_describe(&want, t);
    char *path = state_save("state.safetensors", t, 3);
    const char *model[] = {"fc.weight", "bn.running_mean", "bn.num_batches_tracked"};
    float mean[3] = {0};
    int64_t tracked = 0;
    char err[512] = "";
    ck_assert_msg(tg_load_one_safetensors(path, NULL, "bn.running_mean", TG_F32, 1, BN_SHAPE, mean, model, 3, err,
                                          sizeof err) == 0, "%s", err);
    ck_assert(memcmp(mean, want.mean, sizeof mean) == 0);
    ck_assert_msg(tg_load_one_safetensors(path, NULL, "bn.num_batches_tracked", TG_I64, 0, NULL, &tracked, NULL, 0, err,
                                          sizeof err) == 0, "%s", err);
    ck_assert(tracked == 123456789012LL);
    /* the list: a model with a fourth tensor finds it missing, one with two only finds an unknown */
    const char *more[] = {"fc.weight", "bn.running_mean", "bn.num_batches_tracked", "fc.bias"};
    ck_assert_int_eq(tg_load_one_safetensors(path, NULL, "bn.running_mean", TG_F32, 1, BN_SHAPE, mean, more, 4, err,
                                             sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: no tensor fc.bias (the model has 4 tensors; the file has 3)", path));
    ck_assert_int_eq(tg_load_one_safetensors(path, NULL, "bn.running_mean", TG_F32, 1, BN_SHAPE, mean, model, 2, err,
                                             sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: bn.num_batches_tracked is not a tensor of the model", path));
    /* without the list, only the one tensor counts; its shape is still checked */
    int64_t four[] = {4};
    float big[4];
    ck_assert_int_eq(tg_load_one_safetensors(path, NULL, "bn.running_mean", TG_F32, 1, four, big, NULL, 0, err,
                                             sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: bn.running_mean is F32 [3] but F32 [4] is expected", path));
    /* under a prefix (checkpoint['bn.']): only the file's tensors named so must be the model's */
    const char *bn[] = {"bn.running_mean", "bn.num_batches_tracked"};
    ck_assert_msg(tg_load_one_safetensors(path, "bn.", "bn.running_mean", TG_F32, 1, BN_SHAPE, mean, bn, 2, err,
                                          sizeof err) == 0, "%s", err);
    const char *bn1[] = {"bn.running_mean"};
    ck_assert_int_eq(tg_load_one_safetensors(path, "bn.", "bn.running_mean", TG_F32, 1, BN_SHAPE, mean, bn1, 1, err,
                                             sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: bn.num_batches_tracked is not a tensor of the model", path));
    const char *bn3[] = {"bn.running_mean", "bn.num_batches_tracked", "bn.running_var"};
    ck_assert_int_eq(tg_load_one_safetensors(path, "bn.", "bn.running_mean", TG_F32, 1, BN_SHAPE, mean, bn3, 3, err,
                                             sizeof err), -1);
    ck_assert_str_eq(err, fmt("%s: no tensor bn.running_var (the model has 3 tensors; the file has 2)", path));
}
END_TEST

static const char *golden; /* tests/golden (argv[1]) */

/*
 * tiny.safetensors was written by scripts/export_safetensors.py's writer from a PyTorch
 * Sequential(Conv2d(2, 3, 3), BatchNorm2d(3)); tiny.txt lists its values, exactly (hex floats).
 * The names, dtypes and shapes here are the model's, as a generated program would state them.
 */
START_TEST(golden_from_pytorch) {
    float w[54], b[3], bw[3], bb[3], mean[3], var[3];
    int64_t tracked = -1;
    int64_t w_shape[] = {3, 2, 3, 3}, c[] = {3};
    TgNamedTensor t[] = {
        {"0.weight", TG_F32, 4, w_shape, w}, {"0.bias", TG_F32, 1, c, b},
        {"1.weight", TG_F32, 1, c, bw},      {"1.bias", TG_F32, 1, c, bb},
        {"1.running_mean", TG_F32, 1, c, mean}, {"1.running_var", TG_F32, 1, c, var},
        {"1.num_batches_tracked", TG_I64, 0, NULL, &tracked},
    };
    char *path = fmt("%s/safetensors/tiny.safetensors", golden), err[512] = "";
    ck_assert_msg(tg_load_state_safetensors(path, t, 7, err, sizeof err) == 0, "%s", err);
    ck_assert(tracked == 3); /* three training-mode forward passes */

    FILE *f = fopen(fmt("%s/safetensors/tiny.txt", golden), "r");
    ck_assert_msg(f != NULL, "no tiny.txt in %s/safetensors", golden);
    char line[8192];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        char *tok = strtok(line, " \n");
        int i = 0;
        while (i < 7 && strcmp(t[i].name, tok) != 0)
            i++;
        ck_assert_msg(i < 7, "tiny.txt names %s, which the model does not have", tok);
        ck_assert_str_eq(strtok(NULL, " \n"), t[i].dtype == TG_I64 ? "I64" : "F32");
        ck_assert_int_eq(atoi(strtok(NULL, " \n")), t[i].rank);
        int64_t numel = 1;
        for (int d = 0; d < t[i].rank; d++) {
            ck_assert_int_eq(atoll(strtok(NULL, " \n")), t[i].shape[d]);
            numel *= t[i].shape[d];
        }
        for (int64_t k = 0; k < numel; k++) {
            char *v = strtok(NULL, " \n");
            ck_assert_msg(v != NULL, "tiny.txt: %s has too few values", t[i].name);
            double want = strtod(v, NULL);
            double got = t[i].dtype == TG_I64 ? (double)((int64_t *)t[i].data)[k] : (double)((float *)t[i].data)[k];
            ck_assert_msg(got == want, "%s[%lld]: loaded %a, PyTorch %a", t[i].name, (long long)k, got, want);
        }
        ck_assert_msg(strtok(NULL, " \n") == NULL, "tiny.txt: %s has too many values", t[i].name);
        lines++;
    }
    fclose(f);
    ck_assert_int_eq(lines, 7);
}
END_TEST

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_safetensors GOLDEN-DIR (meson passes tests/golden)\n");
        return 1;
    }
    golden = argv[1];
    strcpy(dir, "/tmp/tgst.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, general_json);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, truncated_header);
    tcase_add_test(tc, header_longer_than_file);
    tcase_add_test(tc, malformed_json);
    tcase_add_test(tc, dtype_mismatch);
    tcase_add_test(tc, shape_mismatch);
    tcase_add_test(tc, missing_tensor);
    tcase_add_test(tc, offsets_out_of_range);
    tcase_add_test(tc, failed_save_keeps_old_file);
    tcase_add_test(tc, python_writes_c_reads);
    tcase_add_test(tc, c_writes_python_reads);
    tcase_add_test(tc, state_loads);
    tcase_add_test(tc, state_missing_key);
    tcase_add_test(tc, state_unknown_key);
    tcase_add_test(tc, state_shape_mismatch);
    tcase_add_test(tc, state_dtype_mismatch);
    tcase_add_test(tc, state_duplicate_names);
    tcase_add_test(tc, load_one);
    tcase_add_test(tc, golden_from_pytorch);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    sh(fmt("rm -rf '%s'", dir));
    return failed ? 1 : 0;
}
