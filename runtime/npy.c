/*
 * npy.c: reading and writing numpy's .npy files, the numpy bridge.
 *
 * A .npy file is the magic "\x93NUMPY", a version (1.0, 2.0 or 3.0), the
 * length of a header (2 bytes for 1.0, 4 bytes otherwise, little-endian), the
 * header itself, a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and a newline, and then the raw array bytes.
 *
 * Loading parses that dict with a small recursive-descent reader, checks it
 * against the dtype and shape the program declared, and reads the data
 * straight into the caller's buffer: a generated program knows every shape at
 * compile time, so there is nothing to allocate. Every failure is a message
 * naming the file, written to the caller's buffer. Saving writes the same
 * header bytes np.save would (version 1.0, padded so the data starts at a
 * multiple of 64), through tg_out_open (file.c): a crash never leaves a
 * half-written file behind.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fileno, fsync */
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tgrt.h"
#include "err.h"

enum {
    MAX_HEADER = 4096, /* a header for rank <= 8 needs ~250 bytes; numpy pads to 64 */
    ALIGN = 64,        /* numpy aligns the data to this many bytes */
};

static const char MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Element types: the language's name and numpy's little-endian descr. */
static const char *dtype_name(TgDType dt) {
    switch (dt) {
    case TG_F32: return "f32";
    case TG_F64: return "f64";
    case TG_I32: return "i32";
    case TG_I64: return "i64";
    case TG_BOOL: return "bool";
    case TG_U8: return "u8";
    }
    return "?";
}

static const char *dtype_descr(TgDType dt) {
    switch (dt) {
    case TG_F32: return "<f4";
    case TG_F64: return "<f8";
    case TG_I32: return "<i4";
    case TG_I64: return "<i8";
    case TG_BOOL: return "|b1";
    case TG_U8: return "|u1";
    }
    return "?";
}

/* Appends "(6, 1, 5)" (Python's tuple repr: "()", "(5,)") to buf. */
static void format_tuple(char *buf, size_t cap, int rank, const int64_t *shape) {
    size_t n = strlen(buf);
    n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "(");
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, rank == 1 ? ",)" : ")");
}

/* Appends "f32[6, 1, 5, 5]" (a scalar is "f32[]") to buf. */
static void format_type(char *buf, size_t cap, TgDType dt, int rank, const int64_t *shape) {
    size_t n = strlen(buf);
    n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s[", dtype_name(dt));
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* ---- the header dict ------------------------------------------------------ */

typedef struct {
    const char *s;   /* the header text */
    size_t pos, len; /* read position, length */
    const char *why; /* first parse error, NULL while fine */
    size_t where;    /* its offset in the header, NO_OFFSET for a missing key */
} Lexer;

#define NO_OFFSET ((size_t)-1)

/* Records the first error only: later ones are consequences. Returns 0. */
static int lex_error(Lexer *lx, const char *why, size_t where) {
    if (!lx->why) {
        lx->why = why;
        lx->where = where;
    }
    return 0;
}

typedef struct {
    char descr[16];                /* 'descr' value, e.g. "<f4" */
    int fortran;                   /* 'fortran_order' */
    int rank;                      /* length of 'shape' */
    int64_t shape[TG_MAX_RANK];    /* 'shape' */
    int have_descr, have_fortran, have_shape;
} Header;

static void skip_space(Lexer *lx) {
    while (lx->pos < lx->len && lx->s[lx->pos] && strchr(" \t\r\n", lx->s[lx->pos])) lx->pos++;
}

/* Consumes c (after blanks) and returns 1, else returns 0. */
static int accept(Lexer *lx, char c) {
    skip_space(lx);
    if (lx->pos < lx->len && lx->s[lx->pos] == c) {
        lx->pos++;
        return 1;
    }
    return 0;
}

static int expect(Lexer *lx, char c, const char *why) {
    if (accept(lx, c)) return 1;
    return lex_error(lx, why, lx->pos);
}

static int is_letter(char c) { return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* string -> "'" chars "'" | '"' chars '"'   (numpy writes no escapes here) */
static int parse_string(Lexer *lx, char *out, size_t cap) {
    skip_space(lx);
    size_t start = lx->pos;
    if (lx->pos >= lx->len || (lx->s[lx->pos] != '\'' && lx->s[lx->pos] != '"'))
        return lex_error(lx, "expected a quoted string", start);
    char q = lx->s[lx->pos++];
    size_t n = 0;
    while (lx->pos < lx->len && lx->s[lx->pos] != q) {
        if (lx->s[lx->pos] == '\\' || n + 1 >= cap)
            return lex_error(lx, "unsupported string", start);
        out[n++] = lx->s[lx->pos++];
    }
    if (lx->pos >= lx->len) return lex_error(lx, "unterminated string", start);
    lx->pos++;
    out[n] = '\0';
    return 1;
}

/* bool -> 'True' | 'False' */
static int parse_bool(Lexer *lx, int *out) {
    skip_space(lx);
    size_t start = lx->pos;
    while (lx->pos < lx->len && is_letter(lx->s[lx->pos])) lx->pos++;
    size_t n = lx->pos - start;
    if (n == 4 && memcmp(lx->s + start, "True", 4) == 0) *out = 1;
    else if (n == 5 && memcmp(lx->s + start, "False", 5) == 0) *out = 0;
    else return lex_error(lx, "'fortran_order' is not True or False", start);
    return 1;
}

/* int -> [0-9]+ 'L'?   (Python 2 wrote 3L) */
static int parse_dim(Lexer *lx, int64_t *out) {
    skip_space(lx);
    size_t start = lx->pos;
    int64_t v = 0;
    while (lx->pos < lx->len && lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '9') {
        int d = lx->s[lx->pos++] - '0';
        if (v > (INT64_MAX - d) / 10) return lex_error(lx, "dimension too large", start);
        v = v * 10 + d;
    }
    if (lx->pos == start) return lex_error(lx, "expected a non-negative integer in 'shape'", start);
    if (lx->pos < lx->len && lx->s[lx->pos] == 'L') lx->pos++;
    *out = v;
    return 1;
}

/* tuple -> '(' ')' | '(' int ',' ')' | '(' int (',' int)+ ','? ')' */
static int parse_shape(Lexer *lx, Header *h) {
    if (!expect(lx, '(', "expected a '(' tuple for 'shape'")) return 0;
    h->rank = 0;
    if (accept(lx, ')')) return 1;
    for (;;) {
        if (h->rank == TG_MAX_RANK) return lex_error(lx, "more than 8 dimensions", lx->pos);
        if (!parse_dim(lx, &h->shape[h->rank++])) return 0;
        int comma = accept(lx, ',');
        if (accept(lx, ')')) {
            if (h->rank == 1 && !comma) break; /* "(5)" is an int, not a tuple */
            return 1;
        }
        if (!comma) break;
    }
    return lex_error(lx, "malformed 'shape' tuple", lx->pos);
}

/* dict -> '{' (key ':' value (',' key ':' value)* ','?)? '}' */
static int parse_header(Lexer *lx, Header *h) {
    memset(h, 0, sizeof *h);
    if (!expect(lx, '{', "expected '{'")) return 0;
    while (!accept(lx, '}')) {
        char key[32];
        skip_space(lx);
        size_t key_at = lx->pos;
        if (!parse_string(lx, key, sizeof key)) return 0;
        if (!expect(lx, ':', "expected ':' after a key")) return 0;
        if (strcmp(key, "descr") == 0) {
            if (!parse_string(lx, h->descr, sizeof h->descr)) return 0;
            h->have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (!parse_bool(lx, &h->fortran)) return 0;
            h->have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!parse_shape(lx, h)) return 0;
            h->have_shape = 1;
        } else {
            return lex_error(lx, "unknown key (expected 'descr', 'fortran_order', 'shape')",
                             key_at);
        }
        if (!accept(lx, ',')) {
            if (!expect(lx, '}', "expected ',' or '}'")) return 0;
            break;
        }
    }
    skip_space(lx);
    if (lx->pos != lx->len) return lex_error(lx, "text after the closing '}'", lx->pos);
    if (!h->have_descr) return lex_error(lx, "no 'descr' key", NO_OFFSET);
    if (!h->have_fortran) return lex_error(lx, "no 'fortran_order' key", NO_OFFSET);
    if (!h->have_shape) return lex_error(lx, "no 'shape' key", NO_OFFSET);
    return 1;
}

/* The dtype a descr names, or -1. One-byte types carry no byte order, so any
 * of '|', '<', '>', '=' is fine there; wider ones must be little-endian. */
static int descr_dtype(const char *d) {
    static const char *const wide[] = {"f4", "f8", "i4", "i8"};
    static const TgDType wide_dt[] = {TG_F32, TG_F64, TG_I32, TG_I64};
    if (d[0] == '\0' || !strchr("|<>=", d[0])) return -1;
    if (strcmp(d + 1, "b1") == 0) return TG_BOOL;
    if (strcmp(d + 1, "u1") == 0) return TG_U8;
    if (d[0] != '<') return -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(d + 1, wide[i]) == 0) return (int)wide_dt[i];
    return -1;
}

/* ---- load ---------------------------------------------------------------- */

static uint32_t read_le(const unsigned char *p, int nbytes) {
    uint32_t v = 0;
    for (int i = nbytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Checks the parsed header against the declared type; fills err on mismatch. */
static int check_header(const char *path, const Header *h, TgDType dt, int rank,
                        const int64_t *shape, char *err, size_t errcap) {
    int have = descr_dtype(h->descr);
    if (have < 0) {
        char le[sizeof h->descr];
        le[0] = '<';
        strcpy(le + 1, h->descr + 1);
        if (h->descr[0] == '>' && descr_dtype(le) >= 0)
            return tg_fail(err, errcap, path,
                        "dtype '%s' is big-endian; save it little-endian (a.astype('%s'))",
                        h->descr, le);
        return tg_fail(err, errcap, path,
                    "dtype '%s' is not supported (only '<f4', '<f8', '<i4', '<i8', '|b1', '|u1')",
                    h->descr);
    }
    if ((TgDType)have != dt)
        return tg_fail(err, errcap, path, "dtype '%s' does not match the declared %s", h->descr,
                    dtype_name(dt));
    if (h->fortran) {
        /* Fortran and C order lay out the same bytes when at most one
         * dimension is longer than 1, so only the others are refused. */
        int long_dims = 0;
        for (int i = 0; i < h->rank; i++) long_dims += h->shape[i] > 1;
        if (long_dims > 1)
            return tg_fail(err, errcap, path,
                        "fortran_order is True; only C-order arrays can be loaded "
                        "(save np.ascontiguousarray(a))");
    }
    int same = h->rank == rank;
    for (int i = 0; same && i < rank; i++) same = h->shape[i] == shape[i];
    if (!same) {
        char msg[256] = "";
        format_tuple(msg, sizeof msg, h->rank, h->shape);
        strncat(msg, " does not match the declared ", sizeof msg - strlen(msg) - 1);
        format_type(msg, sizeof msg, dt, rank, shape);
        return tg_fail(err, errcap, path, "shape %s", msg);
    }
    return 0;
}

int tg_npy_load(const char *path, TgDType dt, int rank, const int64_t *shape, void *out,
                char *err, size_t errcap) {
    FILE *f = fopen(path, "rb");
    if (!f) return tg_fail(err, errcap, path, "cannot open: %s", strerror(errno));
    int rc = -1;
    unsigned char pre[12]; /* magic, version, header length */
    char text[MAX_HEADER];
    size_t got = fread(pre, 1, 10, f);
    if (got < 6 || memcmp(pre, MAGIC, 6) != 0) {
        tg_fail(err, errcap, path, "not a .npy file (bad magic)");
        goto done;
    }
    if (got < 8) {
        tg_fail(err, errcap, path, "file ends inside the .npy preamble");
        goto done;
    }
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0) {
        tg_fail(err, errcap, path, "unsupported .npy version %d.%d (1.0, 2.0 and 3.0 are)", pre[6],
             pre[7]);
        goto done;
    }
    /* 1.0 has a 2-byte header length; 2.0 and 3.0 (UTF-8 header) 4 bytes */
    int lenbytes = pre[6] == 1 ? 2 : 4;
    got += fread(pre + got, 1, (size_t)(8 + lenbytes) - got, f);
    if (got < (size_t)(8 + lenbytes)) {
        tg_fail(err, errcap, path, "file ends inside the .npy preamble");
        goto done;
    }
    uint32_t hlen = read_le(pre + 8, lenbytes);
    if (hlen >= MAX_HEADER) {
        tg_fail(err, errcap, path, "malformed .npy header: %lu bytes long", (unsigned long)hlen);
        goto done;
    }
    got = fread(text, 1, hlen, f);
    if (got < hlen) {
        tg_fail(err, errcap, path, "file ends after %lu of %lu header bytes", (unsigned long)got,
             (unsigned long)hlen);
        goto done;
    }
    text[hlen] = '\0';
    Lexer lx = {text, 0, hlen, NULL, 0};
    Header h;
    if (!parse_header(&lx, &h)) {
        /* quote the dict without its padding so the reader sees the problem */
        size_t n = hlen;
        while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\n')) text[--n] = '\0';
        if (lx.where == NO_OFFSET)
            tg_fail(err, errcap, path, "malformed .npy header: %s in %s", lx.why, text);
        else
            tg_fail(err, errcap, path, "malformed .npy header: %s at offset %lu of %s", lx.why,
                 (unsigned long)lx.where, text);
        goto done;
    }
    if (check_header(path, &h, dt, rank, shape, err, errcap) != 0) goto done;

    size_t nbytes = tg_dtype_size(dt);
    for (int i = 0; i < rank; i++) {
        if (shape[i] != 0 && nbytes > SIZE_MAX / (size_t)shape[i]) {
            tg_fail(err, errcap, path, "array too large for this machine");
            goto done;
        }
        nbytes *= (size_t)shape[i];
    }
    got = fread(out, 1, nbytes, f);
    if (got < nbytes) {
        tg_fail(err, errcap, path, "file ends after %llu of %llu data bytes",
             (unsigned long long)got, (unsigned long long)nbytes);
        goto done;
    }
    /* Count what follows: a file with extra bytes is not what numpy wrote. */
    unsigned long long extra = 0;
    char sink[512];
    while ((got = fread(sink, 1, sizeof sink, f)) > 0) extra += got;
    if (extra) {
        tg_fail(err, errcap, path, "%llu bytes of trailing data after the %llu data bytes", extra,
             (unsigned long long)nbytes);
        goto done;
    }
    if (ferror(f)) {
        tg_fail(err, errcap, path, "read error: %s", strerror(errno));
        goto done;
    }
    if (dt == TG_BOOL) {
        /* numpy's bools are 0 or 1; anything else would break 0/1 arithmetic */
        const unsigned char *b = out;
        for (size_t i = 0; i < nbytes; i++)
            if (b[i] > 1) {
                tg_fail(err, errcap, path, "bool element %llu is %d, not 0 or 1",
                     (unsigned long long)i, b[i]);
                goto done;
            }
    }
    rc = 0;
done:
    fclose(f);
    return rc;
}

/* ---- save ---------------------------------------------------------------- */

/* Builds the version-1.0 preamble and header np.save writes for this array;
 * returns its length (a multiple of 64). */
static size_t build_header(char *buf, size_t cap, TgDType dt, int rank, const int64_t *shape) {
    char dict[MAX_HEADER];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': ",
             dtype_descr(dt));
    format_tuple(dict, sizeof dict, rank, shape);
    strncat(dict, ", }", sizeof dict - strlen(dict) - 1);
    /* numpy >= 1.23 leaves room to grow shape[0] in place to 21 digits */
    if (rank > 0) {
        char first[24];
        int digits = snprintf(first, sizeof first, "%lld", (long long)shape[0]);
        size_t n = strlen(dict);
        for (int i = digits; i < 21 && n + 1 < sizeof dict; i++) dict[n++] = ' ';
        dict[n] = '\0';
    }
    size_t dlen = strlen(dict);
    size_t total = 10 + dlen + 1; /* preamble, dict, newline */
    size_t pad = ALIGN - total % ALIGN; /* as numpy: 64, not 0, when already aligned */
    total += pad;
    if (total > cap) return 0;
    memcpy(buf, MAGIC, 6);
    buf[6] = 1;
    buf[7] = 0;
    size_t hlen = total - 10;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, dlen);
    memset(buf + 10 + dlen, ' ', pad);
    buf[total - 1] = '\n';
    return total;
}

int tg_npy_save(const char *path, TgDType dt, int rank, const int64_t *shape, const void *data,
                char *err, size_t errcap) {
    char header[MAX_HEADER];
    if (rank < 0 || rank > TG_MAX_RANK)
        return tg_fail(err, errcap, path, "cannot save a rank-%d array", rank);
    size_t hlen = build_header(header, sizeof header, dt, rank, shape);
    if (hlen == 0) return tg_fail(err, errcap, path, "header too long");
    size_t nbytes = tg_dtype_size(dt);
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0) return tg_fail(err, errcap, path, "negative dimension %lld",
                                      (long long)shape[i]);
        nbytes *= (size_t)shape[i];
    }
    TgOut out;
    if (tg_out_open(&out, path, err, errcap) != 0)
        return -1;
    int bad = fwrite(header, 1, hlen, out.f) != hlen;
    bad = bad || (nbytes && fwrite(data, 1, nbytes, out.f) != nbytes);
    if (bad && !ferror(out.f)) {
        tg_fail(err, errcap, path, "cannot write: %s", strerror(errno));
        tg_out_abandon(&out);
        return -1;
    }
    return tg_out_close(&out, err, errcap);
}
