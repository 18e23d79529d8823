/*
 * safetensors.c: checkpoints in the .safetensors format that PyTorch reads.
 *
 * A .safetensors file is an 8-byte little-endian header length N, N bytes of
 * JSON, then the raw little-endian tensor data. The JSON is one object that
 * maps each tensor name to {"dtype": "F32", "shape": [6, 1, 5, 5],
 * "data_offsets": [begin, end]} (byte offsets into the data section), plus an
 * optional "__metadata__" object of string values.
 *
 * Saving builds the header in a growing buffer (escaping names and metadata),
 * pads it with spaces so the data starts at a multiple of 8, and writes the
 * file to PATH.tmp; it is fsync'ed, renamed over PATH and the directory is
 * fsync'ed, so a crash leaves either the old checkpoint or the new one.
 *
 * Loading reads the header into one malloc'ed buffer and parses it with a small
 * recursive-descent JSON reader that keeps only what the caller asked for: the
 * entries of the requested tensors and the requested metadata values. Every
 * entry's offsets are checked against its dtype, shape and the file size, then
 * the data goes straight into the caller's buffers: a generated program knows
 * every shape at compile time, so there is nothing to allocate. Errors name the
 * file; malformed JSON names the byte (counted from the start of the file).
 * Like npy.c, this assumes a little-endian host.
 *
 * Loading a model's whole state_dict is strict, as PyTorch's load_state_dict
 * is: given the list of every tensor the model has, the header must name
 * exactly those, so a file for another architecture fails on its first
 * unknown or missing name instead of half-loading. A generated program loads
 * one tensor per call (each into its own arena slot) and hands the list to
 * the first call only: the header is parsed again per tensor, which costs
 * little next to reading the data.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fileno, fsync, fstat, fseeko, open */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "tgrt.h"
#include "err.h"

enum {
    MAX_DIMS = 32,    /* the most dimensions a header entry may have (ours use <= TG_MAX_RANK) */
    MAX_DEPTH = 64,   /* nesting limit for skipped JSON values */
    DTYPE_CAP = 16,   /* longest dtype string kept from a header, NUL included */
};
#define MAX_HEADER ((uint64_t)100 << 20) /* the limit PyTorch's safetensors enforces: 100 MB */

/* safetensors' dtype names for the runtime's element types. */
static const char *st_dtype(TgDType dt) {
    switch (dt) {
    case TG_F32: return "F32";
    case TG_F64: return "F64";
    case TG_I32: return "I32";
    case TG_I64: return "I64";
    case TG_BOOL: return "BOOL";
    case TG_U8: return "U8";
    }
    return NULL;
}

/* Element size of any dtype safetensors defines, so unrequested entries are checked too; 0 if unknown. */
static uint64_t st_dtype_size(const char *s) {
    static const struct { const char *name; uint64_t size; } sizes[] = {
        {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2},
        {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4}, {"F64", 8}, {"I64", 8}, {"U64", 8},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(s, sizes[i].name) == 0)
            return sizes[i].size;
    return 0;
}

/* "F32 [6, 1, 5, 5]" into buf (for mismatch messages). */
static void describe(char *buf, size_t cap, const char *dtype, int rank, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "%s [", dtype);
    for (int d = 0; d < rank && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

/* numel * size, or -1 when it overflows or a dimension is negative. */
static int64_t byte_size(int rank, const int64_t *shape, uint64_t elsize) {
    uint64_t bytes = elsize;
    for (int d = 0; d < rank; d++) {
        if (shape[d] < 0)
            return -1;
        if (shape[d] != 0 && bytes > (uint64_t)INT64_MAX / (uint64_t)shape[d])
            return -1;
        bytes *= (uint64_t)shape[d];
    }
    return (int64_t)bytes;
}

/* ---- saving ------------------------------------------------------------ */

/* A growing byte buffer; `oom` sticks once an allocation fails. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_str(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* A JSON string literal: quotes, backslashes and control characters escaped; UTF-8 passes through. */
static void buf_json_string(Buf *b, const char *s) {
    buf_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        switch (*c) {
        case '"': buf_str(b, "\\\""); break;
        case '\\': buf_str(b, "\\\\"); break;
        case '\n': buf_str(b, "\\n"); break;
        case '\t': buf_str(b, "\\t"); break;
        case '\r': buf_str(b, "\\r"); break;
        case '\b': buf_str(b, "\\b"); break;
        case '\f': buf_str(b, "\\f"); break;
        default:
            if (*c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *c);
                buf_str(b, esc);
            } else {
                buf_put(b, (const char *)c, 1);
            }
        }
    }
    buf_put(b, "\"", 1);
}

/* Checks the tensors and builds the padded header; returns -1 with a message on bad input. */
static int build_header(Buf *b, const char *path, const TgNamedTensor *t, int n, const char *const *keys,
                        const char *const *values, int nmeta, char *err, size_t errcap) {
    char num[64];
    uint64_t offset = 0;
    buf_str(b, "{");
    if (nmeta > 0) {
        buf_str(b, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (!keys[i] || !values[i])
                return tg_fail(err, errcap, path, "metadata entry %d has no key or value", i);
            if (i)
                buf_str(b, ",");
            buf_json_string(b, keys[i]);
            buf_str(b, ":");
            buf_json_string(b, values[i]);
        }
        buf_str(b, "}");
    }
    for (int i = 0; i < n; i++) {
        const TgNamedTensor *x = &t[i];
        const char *dt = st_dtype(x->dtype);
        if (!x->name || !x->name[0] || strcmp(x->name, "__metadata__") == 0)
            return tg_fail(err, errcap, path, "tensor %d has no usable name", i);
        for (int j = 0; j < i; j++)
            if (strcmp(t[j].name, x->name) == 0)
                return tg_fail(err, errcap, path, "tensor %s appears twice", x->name);
        if (!dt)
            return tg_fail(err, errcap, path, "%s has an unknown dtype", x->name);
        if (x->rank < 0 || x->rank > TG_MAX_RANK || (x->rank > 0 && !x->shape))
            return tg_fail(err, errcap, path, "%s has an invalid rank %d", x->name, x->rank);
        int64_t bytes = byte_size(x->rank, x->shape, tg_dtype_size(x->dtype));
        if (bytes < 0)
            return tg_fail(err, errcap, path, "%s has an invalid shape", x->name);
        if (bytes > 0 && !x->data)
            return tg_fail(err, errcap, path, "%s has no data", x->name);
        buf_str(b, i || nmeta > 0 ? "," : "");
        buf_json_string(b, x->name);
        buf_str(b, ":{\"dtype\":\"");
        buf_str(b, dt);
        buf_str(b, "\",\"shape\":[");
        for (int d = 0; d < x->rank; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)x->shape[d]);
            buf_str(b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                 (unsigned long long)(offset + (uint64_t)bytes));
        buf_str(b, num);
        offset += (uint64_t)bytes;
    }
    buf_str(b, "}");
    while (b->len % 8 != 0) /* 8 + N is then a multiple of 8 too: the data stays aligned */
        buf_str(b, " ");
    if (b->oom)
        return tg_fail(err, errcap, path, "out of memory");
    return 0;
}

int tg_save_safetensors(const char *path, const TgNamedTensor *t, int n, const char *const *keys,
                        const char *const *values, int nmeta, char *err, size_t errcap) {
    Buf b = {0};
    if (build_header(&b, path, t, n, keys, values, nmeta, err, errcap) != 0) {
        free(b.p);
        return -1;
    }
    TgOut out;
    if (tg_out_open(&out, path, err, errcap) != 0) {
        free(b.p);
        return -1;
    }
    FILE *f = out.f;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
    int bad = fwrite(len8, 1, 8, f) != 8 || fwrite(b.p, 1, b.len, f) != b.len;
    for (int i = 0; i < n && !bad; i++) {
        size_t bytes = (size_t)byte_size(t[i].rank, t[i].shape, tg_dtype_size(t[i].dtype));
        bad = fwrite(t[i].data, 1, bytes, f) != bytes;
    }
    free(b.p);
    if (bad && !ferror(f)) { /* a short write without the stream's error flag: say why anyway */
        tg_fail(err, errcap, path, "cannot write: %s", strerror(errno));
        tg_out_abandon(&out);
        return -1;
    }
    return tg_out_close(&out, err, errcap);
}

/* ---- loading: a JSON reader for the header ------------------------------ */

typedef struct {
    const char *path;
    const char *s;  /* the header (not NUL-terminated) */
    size_t len;     /* N */
    size_t pos;     /* next byte of s */
    char *err;
    size_t errcap;
    int failed;     /* a message is in err; every parse function returns -1 from here on */
} Parser;

/* What a header says about one tensor. */
typedef struct {
    int found;
    char dtype[DTYPE_CAP];
    int rank;
    int64_t shape[MAX_DIMS];
    uint64_t begin, end;
} Entry;

static int syntax(Parser *p, const char *what) {
    if (!p->failed)
        tg_fail(p->err, p->errcap, p->path, "malformed header at byte %llu: %s",
             (unsigned long long)(8 + p->pos), what);
    p->failed = 1;
    return -1;
}

static void skip_ws(Parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                               p->s[p->pos] == '\r'))
        p->pos++;
}

/* The next non-blank byte, or -1 at the end of the header. */
static int peek(Parser *p) {
    skip_ws(p);
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int expect(Parser *p, char c) {
    char msg[16];
    if (peek(p) == (unsigned char)c) {
        p->pos++;
        return 0;
    }
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return syntax(p, p->pos < p->len ? msg : "unexpected end of header");
}

static int hex4(Parser *p, unsigned *u) {
    *u = 0;
    for (int i = 0; i < 4; i++, p->pos++) {
        int c = p->pos < p->len ? p->s[p->pos] : -1;
        unsigned v = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
        if (v == 16)
            return syntax(p, "bad \\u escape");
        *u = *u * 16 + v;
    }
    return 0;
}

/*
 * string -> '"' (char | escape)* '"'
 * Decodes into out (which holds at least len + 1 bytes: decoding never grows a string) as UTF-8,
 * NUL-terminated; *n gets the decoded length. out may be NULL to skip the string.
 */
static int parse_string(Parser *p, char *out, size_t *n) {
    size_t k = 0;
    if (peek(p) != '"')
        return syntax(p, p->pos < p->len ? "expected a string" : "unexpected end of header");
    p->pos++;
    for (;;) {
        if (p->pos >= p->len)
            return syntax(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return syntax(p, "control character in string");
        if (c != '\\') {
            if (out)
                out[k] = (char)c;
            k++;
            p->pos++;
            continue;
        }
        p->pos++;
        int e = p->pos < p->len ? p->s[p->pos] : -1;
        char one = 0;
        switch (e) {
        case '"': one = '"'; break;
        case '\\': one = '\\'; break;
        case '/': one = '/'; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': break;
        default: return syntax(p, "bad escape in string");
        }
        p->pos++;
        if (one) {
            if (out)
                out[k] = one;
            k++;
            continue;
        }
        unsigned u;
        if (hex4(p, &u) != 0)
            return -1;
        if (u >= 0xDC00 && u <= 0xDFFF)
            return syntax(p, "lone low surrogate in \\u escape");
        if (u >= 0xD800 && u <= 0xDBFF) { /* a high surrogate must be followed by \uDC00..\uDFFF */
            unsigned lo;
            if (p->pos + 1 >= p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                return syntax(p, "lone high surrogate in \\u escape");
            p->pos += 2;
            if (hex4(p, &lo) != 0)
                return -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return syntax(p, "bad surrogate pair in \\u escape");
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
        /* UTF-8 is never longer than the escape it came from (6 or 12 bytes). */
        unsigned char utf[4];
        int m;
        if (u < 0x80) {
            utf[0] = (unsigned char)u;
            m = 1;
        } else if (u < 0x800) {
            utf[0] = (unsigned char)(0xC0 | (u >> 6));
            utf[1] = (unsigned char)(0x80 | (u & 0x3F));
            m = 2;
        } else if (u < 0x10000) {
            utf[0] = (unsigned char)(0xE0 | (u >> 12));
            utf[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
            utf[2] = (unsigned char)(0x80 | (u & 0x3F));
            m = 3;
        } else {
            utf[0] = (unsigned char)(0xF0 | (u >> 18));
            utf[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3F));
            utf[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
            utf[3] = (unsigned char)(0x80 | (u & 0x3F));
            m = 4;
        }
        if (out)
            memcpy(out + k, utf, (size_t)m);
        k += (size_t)m;
    }
    if (out)
        out[k] = '\0';
    if (n)
        *n = k;
    return 0;
}

/* uint -> digit+ (no sign, fraction or exponent: shapes and offsets are whole byte counts) */
static int parse_uint(Parser *p, uint64_t *v) {
    int c = peek(p);
    if (c < '0' || c > '9')
        return syntax(p, p->pos < p->len ? "expected a non-negative integer" : "unexpected end of header");
    size_t start = p->pos;
    *v = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        unsigned d = (unsigned)(p->s[p->pos] - '0');
        if (*v > ((uint64_t)INT64_MAX - d) / 10)
            return syntax(p, "integer too large");
        *v = *v * 10 + d;
        p->pos++;
    }
    if (p->s[start] == '0' && p->pos - start > 1) {
        p->pos = start;
        return syntax(p, "leading zero in a number");
    }
    if (p->pos < p->len && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return syntax(p, "expected a non-negative integer");
    return 0;
}

/* Skips any JSON value (fields this loader does not use). */
static int skip_value(Parser *p, int depth) {
    if (depth > MAX_DEPTH)
        return syntax(p, "nested too deeply");
    int c = peek(p);
    if (c == '"')
        return parse_string(p, NULL, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        p->pos++;
        if (peek(p) == close) {
            p->pos++;
            return 0;
        }
        for (;;) {
            if (c == '{' && (parse_string(p, NULL, NULL) != 0 || expect(p, ':') != 0))
                return -1;
            if (skip_value(p, depth + 1) != 0)
                return -1;
            if (peek(p) == ',') {
                p->pos++;
                continue;
            }
            return expect(p, close);
        }
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (p->len - p->pos >= n && memcmp(p->s + p->pos, words[i], n) == 0) {
            p->pos += n;
            return 0;
        }
    }
    /* number -> '-'? int frac? exp? */
    size_t start = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '-')
        p->pos++;
    size_t digits = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    if (p->pos == digits) {
        p->pos = start;
        return syntax(p, p->pos < p->len ? "expected a value" : "unexpected end of header");
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        digits = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
        if (p->pos == digits)
            return syntax(p, "expected a digit");
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        digits = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
        if (p->pos == digits)
            return syntax(p, "expected a digit");
    }
    return 0;
}

/* shape -> '[' (uint (',' uint)*)? ']' */
static int parse_shape(Parser *p, Entry *e) {
    if (expect(p, '[') != 0)
        return -1;
    e->rank = 0;
    if (peek(p) == ']') {
        p->pos++;
        return 0;
    }
    for (;;) {
        uint64_t v;
        if (e->rank == MAX_DIMS)
            return syntax(p, "too many dimensions");
        if (parse_uint(p, &v) != 0)
            return -1;
        e->shape[e->rank++] = (int64_t)v;
        if (peek(p) != ',')
            return expect(p, ']');
        p->pos++;
    }
}

/*
 * entry -> '{' (field (',' field)*)? '}'
 * field -> '"dtype"' ':' string | '"shape"' ':' shape | '"data_offsets"' ':' '[' uint ',' uint ']'
 *        | string ':' value
 * field names go to key (len + 1 bytes of scratch).
 */
static int parse_entry(Parser *p, Entry *e, char *key) {
    int have = 0; /* bits: 1 dtype, 2 shape, 4 data_offsets */
    if (expect(p, '{') != 0)
        return -1;
    if (peek(p) == '}') {
        p->pos++;
        return have;
    }
    for (;;) {
        size_t n;
        if (parse_string(p, key, &n) != 0 || expect(p, ':') != 0)
            return -1;
        if (strcmp(key, "dtype") == 0 && n == 5) {
            size_t at = p->pos;
            if (parse_string(p, key, &n) != 0)
                return -1;
            if (n >= DTYPE_CAP || strlen(key) != n) {
                p->pos = at;
                return syntax(p, "dtype string too long");
            }
            memcpy(e->dtype, key, n + 1);
            have |= 1;
        } else if (strcmp(key, "shape") == 0 && n == 5) {
            if (parse_shape(p, e) != 0)
                return -1;
            have |= 2;
        } else if (strcmp(key, "data_offsets") == 0 && n == 12) {
            if (expect(p, '[') != 0 || parse_uint(p, &e->begin) != 0 || expect(p, ',') != 0 ||
                parse_uint(p, &e->end) != 0 || expect(p, ']') != 0)
                return -1;
            have |= 4;
        } else if (skip_value(p, 1) != 0) {
            return -1;
        }
        if (peek(p) != ',')
            break;
        p->pos++;
    }
    if (expect(p, '}') != 0)
        return -1;
    return have;
}

/* Copies src into a caller's buffer of cap bytes, truncated and always NUL-terminated. */
static void copy_value(char *dst, size_t cap, const char *src) {
    if (!dst || cap == 0)
        return;
    size_t n = strlen(src);
    if (n > cap - 1)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* metadata -> '{' (string ':' string (',' string ':' string)*)? '}' */
static int parse_metadata(Parser *p, const char *const *keys, char **values, int nmeta, size_t valcap,
                          char *key, char *val) {
    if (expect(p, '{') != 0)
        return -1;
    if (peek(p) == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        size_t klen;
        if (parse_string(p, key, &klen) != 0 || expect(p, ':') != 0 || parse_string(p, val, NULL) != 0)
            return -1;
        for (int i = 0; i < nmeta; i++)
            if (keys[i] && strlen(keys[i]) == klen && strcmp(keys[i], key) == 0)
                copy_value(values[i], valcap, val);
        if (peek(p) != ',')
            break;
        p->pos++;
    }
    return expect(p, '}');
}

/*
 * A strict load: the model's full list of tensor names, which the file must hold exactly (a
 * loader of one tensor still checks the whole state_dict, so the list can be longer than the
 * tensors requested).
 */
typedef struct {
    const char *const *names; /* every tensor the model has */
    int n;
    const char *under;        /* only the file's tensors named with this prefix count, or NULL */
    unsigned char *seen;      /* n flags: the file has names[j] */
    int nfile;                /* the file's tensors (metadata aside) */
    char *unknown;            /* the file's first tensor the model lacks (header length + 1 bytes) */
    int nunknown;             /* how many the model lacks */
} Strict;

/*
 * A file entry the model lacks. The message suggests the closest of the model's names that the
 * file lacks (known only once the whole header is read), if one is close: a renamed tensor.
 */
static int unknown(const char *path, const Strict *s, const char *name, char *err, size_t errcap) {
    const char *best = NULL;
    int bestd = INT_MAX, limit = (int)strlen(name) / 3 + 1; /* a typo or two, not another layer */
    for (int j = 0; j < s->n; j++) {
        int d = s->seen[j] ? INT_MAX : tg_edit_distance(name, s->names[j]);
        if (d < bestd && d <= limit) {
            best = s->names[j];
            bestd = d;
        }
    }
    char more[64] = ""; /* a file for another architecture has many */
    if (s->nunknown > 1)
        snprintf(more, sizeof more, "the file has %d more the model lacks", s->nunknown - 1);
    if (best && more[0])
        return tg_fail(err, errcap, path, "%s is not a tensor of the model (did you mean %s?; %s)", name, best, more);
    if (best)
        return tg_fail(err, errcap, path, "%s is not a tensor of the model (did you mean %s?)", name, best);
    if (more[0])
        return tg_fail(err, errcap, path, "%s is not a tensor of the model (%s)", name, more);
    return tg_fail(err, errcap, path, "%s is not a tensor of the model", name);
}

/* Every entry's bytes [begin, end) in the data: they must tile it exactly (spans_tile). */
typedef struct {
    uint64_t (*at)[2];
    int n, cap;
    const char **names; /* entry i's name, for the message (copied) */
} Spans;

static int span_add(Spans *sp, uint64_t begin, uint64_t end, const char *name) {
    if (sp->n == sp->cap) {
        int cap = sp->cap ? 2 * sp->cap : 64;
        uint64_t(*at)[2] = realloc(sp->at, sizeof *at * (size_t)cap);
        const char **names = realloc(sp->names, sizeof *names * (size_t)cap);
        if (at)
            sp->at = at;
        if (names)
            sp->names = names;
        if (!at || !names)
            return -1;
        sp->cap = cap;
    }
    char *copy = malloc(strlen(name) + 1);
    if (!copy)
        return -1;
    strcpy(copy, name);
    sp->at[sp->n][0] = begin;
    sp->at[sp->n][1] = end;
    sp->names[sp->n++] = copy;
    return 0;
}

static void spans_free(Spans *sp) {
    for (int i = 0; i < sp->n; i++)
        free((void *)sp->names[i]);
    free(sp->at);
    free(sp->names);
}

/* Sorted by begin (then end): insertion sort of indices, the files hold hundreds of tensors. */
static int spans_tile(const Spans *sp, const char *path, uint64_t datalen, char *err, size_t errcap) {
    int *order = malloc(sizeof(int) * (size_t)(sp->n + 1));
    if (!order)
        return tg_fail(err, errcap, path, "out of memory");
    for (int i = 0; i < sp->n; i++) {
        int j = i;
        for (; j > 0 && (sp->at[order[j - 1]][0] > sp->at[i][0] ||
                         (sp->at[order[j - 1]][0] == sp->at[i][0] && sp->at[order[j - 1]][1] > sp->at[i][1])); j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    uint64_t next = 0;
    int rc = 0, prev = -1;
    for (int k = 0; k < sp->n && !rc; k++) {
        const uint64_t *a = sp->at[order[k]];
        if (a[0] < next)
            rc = tg_fail(err, errcap, path, "the data of %s [%llu, %llu] overlaps that of %s", sp->names[order[k]],
                         (unsigned long long)a[0], (unsigned long long)a[1], sp->names[prev]);
        else if (a[0] > next)
            rc = tg_fail(err, errcap, path, "%llu bytes before the data of %s belong to no tensor",
                         (unsigned long long)(a[0] - next), sp->names[order[k]]);
        next = a[1] > next ? a[1] : next;
        prev = order[k];
    }
    if (!rc && next < datalen)
        rc = tg_fail(err, errcap, path, "%llu bytes at the end belong to no tensor (trailing data)",
                     (unsigned long long)(datalen - next));
    free(order);
    return rc;
}

/*
 * header -> '{' (member (',' member)*)? '}' whitespace*
 * member -> '"__metadata__"' ':' metadata | string ':' entry
 * Requested entries land in e[i]; every entry's offsets are checked against datalen. With s,
 * s->seen records the entries that name a tensor of the model, s->unknown the first that does not.
 */
static int parse_header(Parser *p, const TgNamedTensor *t, int n, Entry *e, const char *const *keys,
                        char **values, int nmeta, size_t valcap, uint64_t datalen, char *scratch, Strict *s,
                        Spans *sp) {
    char *name = scratch, *field = scratch + p->len + 1; /* two buffers of len + 1 bytes */
    if (expect(p, '{') != 0)
        return -1;
    if (peek(p) == '}') {
        p->pos++;
    } else {
        for (;;) {
            size_t nlen;
            if (parse_string(p, name, &nlen) != 0 || expect(p, ':') != 0)
                return -1;
            if (nlen == 12 && strcmp(name, "__metadata__") == 0) {
                if (parse_metadata(p, keys, values, nmeta, valcap, name, field) != 0)
                    return -1;
            } else {
                Entry tmp = {0}, *x = &tmp;
                for (int i = 0; i < n; i++)
                    if (strlen(t[i].name) == nlen && strcmp(t[i].name, name) == 0)
                        x = &e[i];
                if (x->found)
                    return tg_fail(p->err, p->errcap, p->path, "%s appears twice", name);
                if (s && (!s->under || strncmp(name, s->under, strlen(s->under)) == 0)) {
                    int j = 0;
                    while (j < s->n && (strlen(s->names[j]) != nlen || strcmp(s->names[j], name) != 0))
                        j++;
                    if (j == s->n && s->nunknown++ == 0)
                        memcpy(s->unknown, name, nlen + 1);
                    if (j < s->n && s->seen[j])
                        return tg_fail(p->err, p->errcap, p->path, "%s appears twice", name);
                    if (j < s->n)
                        s->seen[j] = 1;
                    s->nfile++;
                }
                int have = parse_entry(p, x, field);
                if (have < 0)
                    return -1;
                const char *lacks = !(have & 1) ? "dtype" : !(have & 2) ? "shape" : !(have & 4) ? "data_offsets" : NULL;
                if (lacks)
                    return tg_fail(p->err, p->errcap, p->path, "%s has no %s", name, lacks);
                x->found = 1;
                if (x->begin > x->end)
                    return tg_fail(p->err, p->errcap, p->path, "%s has data_offsets [%llu, %llu] that run backwards",
                                name, (unsigned long long)x->begin, (unsigned long long)x->end);
                if (x->end > datalen)
                    return tg_fail(p->err, p->errcap, p->path,
                                "%s has data_offsets [%llu, %llu] past the end of the data (%llu bytes)", name,
                                (unsigned long long)x->begin, (unsigned long long)x->end,
                                (unsigned long long)datalen);
                uint64_t elsize = st_dtype_size(x->dtype);
                int64_t bytes = byte_size(x->rank, x->shape, elsize);
                if (span_add(sp, x->begin, x->end, name) != 0)
                    return tg_fail(p->err, p->errcap, p->path, "out of memory");
                if (elsize && (bytes < 0 || (uint64_t)bytes != x->end - x->begin)) {
                    char what[256];
                    describe(what, sizeof what, x->dtype, x->rank, x->shape);
                    return tg_fail(p->err, p->errcap, p->path,
                                "%s has data_offsets [%llu, %llu] (%llu bytes) but %s takes %lld bytes", name,
                                (unsigned long long)x->begin, (unsigned long long)x->end,
                                (unsigned long long)(x->end - x->begin), what, (long long)bytes);
                }
            }
            if (peek(p) != ',')
                break;
            p->pos++;
        }
        if (expect(p, '}') != 0)
            return -1;
    }
    if (peek(p) != -1)
        return syntax(p, "trailing characters after the header object");
    return 0;
}

/* Checks each requested tensor against its entry, then reads the data into t[i].data. */
static int read_tensors(FILE *f, const char *path, TgNamedTensor *t, int n, const Entry *e, uint64_t data_start,
                        char *err, size_t errcap) {
    for (int i = 0; i < n; i++) {
        const char *want = st_dtype(t[i].dtype);
        if (!e[i].found)
            return tg_fail(err, errcap, path, "%s is missing", t[i].name);
        int same = want && strcmp(want, e[i].dtype) == 0 && e[i].rank == t[i].rank;
        for (int d = 0; same && d < t[i].rank; d++)
            same = e[i].shape[d] == t[i].shape[d];
        if (!same) {
            char have[256], expected[256];
            describe(have, sizeof have, e[i].dtype, e[i].rank, e[i].shape);
            describe(expected, sizeof expected, want ? want : "?", t[i].rank, t[i].shape);
            return tg_fail(err, errcap, path, "%s is %s but %s is expected", t[i].name, have, expected);
        }
        size_t bytes = (size_t)(e[i].end - e[i].begin);
        if (bytes == 0)
            continue;
        if (fseeko(f, (off_t)(data_start + e[i].begin), SEEK_SET) != 0)
            return tg_fail(err, errcap, path, "cannot seek to %s: %s", t[i].name, strerror(errno));
        if (fread(t[i].data, 1, bytes, f) != bytes)
            return tg_fail(err, errcap, path, "cannot read %s: %s", t[i].name,
                        ferror(f) ? strerror(errno) : "file truncated");
    }
    return 0;
}

/* The three loaders' common path: tg_load_safetensors, plus the model's names check with s. */
static int load(const char *path, TgNamedTensor *t, int n, const char *const *keys, char **values, int nmeta,
                size_t valcap, Strict *s, char *err, size_t errcap) {
    for (int i = 0; i < nmeta; i++)
        copy_value(values[i], valcap, "");
    for (int i = 0; i < n; i++)
        if (!t[i].name || t[i].rank < 0 || t[i].rank > TG_MAX_RANK)
            return tg_fail(err, errcap, path, "requested tensor %d has no name or a bad rank", i);

    FILE *f = fopen(path, "rb");
    if (!f)
        return tg_fail(err, errcap, path, "%s", strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        tg_fail(err, errcap, path, "%s", strerror(errno));
        fclose(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        tg_fail(err, errcap, path, "%s, not a file", S_ISDIR(st.st_mode) ? "a directory" : "a special file");
        fclose(f);
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    unsigned char len8[8];
    if (fread(len8, 1, 8, f) != 8) {
        tg_fail(err, errcap, path, "truncated: %llu bytes, too short for the 8-byte header length",
             (unsigned long long)size);
        fclose(f);
        return -1;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | len8[i];
    if (hlen > size - 8) {
        tg_fail(err, errcap, path, "header length %llu is larger than the file (%llu bytes)",
             (unsigned long long)hlen, (unsigned long long)size);
        fclose(f);
        return -1;
    }
    if (hlen > MAX_HEADER) {
        tg_fail(err, errcap, path, "header length %llu is over the 100 MB limit", (unsigned long long)hlen);
        fclose(f);
        return -1;
    }

    /* One block: the header, then two decode buffers of hlen + 1 bytes, then one Entry per tensor,
       then the strict load's unknown name (hlen + 1 bytes) and seen flags. */
    size_t h = (size_t)hlen;
    size_t entries_at = (3 * (h + 1) + sizeof(Entry) - 1) / sizeof(Entry) * sizeof(Entry);
    size_t strict_at = entries_at + (size_t)(n > 0 ? n : 1) * sizeof(Entry);
    char *block = calloc(1, strict_at + (s ? h + 1 + (size_t)s->n : 0) + 1);
    if (!block) {
        tg_fail(err, errcap, path, "out of memory for a %llu-byte header", (unsigned long long)hlen);
        fclose(f);
        return -1;
    }
    Entry *e = (Entry *)(void *)(block + entries_at);
    int rc = -1;
    if (fread(block, 1, h, f) != h) {
        tg_fail(err, errcap, path, "cannot read the header: %s", ferror(f) ? strerror(errno) : "file truncated");
    } else {
        Parser p = {path, block, h, 0, err, errcap, 0};
        if (s) {
            s->unknown = block + strict_at;
            s->seen = (unsigned char *)block + strict_at + h + 1;
        }
        Spans sp = {0};
        rc = parse_header(&p, t, n, e, keys, values, nmeta, valcap, size - 8 - hlen, block + h + 1, s, &sp);
        if (rc == 0)
            rc = spans_tile(&sp, path, size - 8 - hlen, err, errcap);
        spans_free(&sp);
        if (rc == 0 && s && s->nunknown > 0)
            rc = unknown(path, s, s->unknown, err, errcap);
        if (rc == 0 && s && s->under && s->nfile == 0 && s->n > 0)
            rc = tg_fail(err, errcap, path, "no tensor under '%s' (the model's %d tensors were asked for under "
                         "that key of the checkpoint)", s->under, s->n);
        for (int j = 0; rc == 0 && s && j < s->n; j++)
            if (!s->seen[j])
                rc = tg_fail(err, errcap, path, "no tensor %s (the model has %d tensors; the file has %d)", s->names[j],
                          s->n, s->nfile);
        if (rc == 0)
            rc = read_tensors(f, path, t, n, e, 8 + hlen, err, errcap);
    }
    free(block);
    fclose(f);
    return rc;
}

int tg_load_safetensors(const char *path, TgNamedTensor *t, int n, const char *const *keys, char **values,
                        int nmeta, size_t valcap, char *err, size_t errcap) {
    return load(path, t, n, keys, values, nmeta, valcap, NULL, err, errcap);
}

/* A model's names must be distinct, or "the file holds exactly these" means nothing. */
static int distinct(const char *path, const char *const *names, int n, char *err, size_t errcap);

int tg_load_exact_safetensors(const char *path, TgNamedTensor *t, int n, const char *const *keys, char **values,
                              int nmeta, size_t valcap, char *err, size_t errcap) {
    const char **names = malloc((size_t)(n > 0 ? n : 1) * sizeof *names);
    if (!names)
        return tg_fail(err, errcap, path, "out of memory");
    for (int i = 0; i < n; i++)
        names[i] = t[i].name;
    int rc = distinct(path, names, n, err, errcap);
    if (rc == 0) {
        Strict s = {names, n, NULL, NULL, 0, NULL, 0};
        rc = load(path, t, n, keys, values, nmeta, valcap, &s, err, errcap);
    }
    free(names);
    return rc;
}

static int distinct(const char *path, const char *const *names, int n, char *err, size_t errcap) {
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            return tg_fail(err, errcap, path, "the model's tensor %d has no name", i);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return tg_fail(err, errcap, path, "the model has two tensors named %s", names[i]);
    }
    return 0;
}

int tg_load_state_safetensors(const char *path, TgNamedTensor *t, int n, char *err, size_t errcap) {
    return tg_load_exact_safetensors(path, t, n, NULL, NULL, 0, 0, err, errcap);
}

int tg_load_one_safetensors(const char *path, const char *under, const char *name, TgDType dt, int rank,
                            const int64_t *shape, void *out, const char *const *model, int nmodel, char *err,
                            size_t errcap) {
    TgNamedTensor t = {name, dt, rank, shape, out};
    if (!model)
        return load(path, &t, 1, NULL, NULL, 0, 0, NULL, err, errcap);
    if (distinct(path, model, nmodel, err, errcap) != 0)
        return -1;
    Strict s = {model, nmodel, under, NULL, 0, NULL, 0};
    return load(path, &t, 1, NULL, NULL, 0, 0, &s, err, errcap);
}
