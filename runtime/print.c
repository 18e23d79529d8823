/*
 * print.c: text forms of tensors and numbers, byte for byte as PyTorch 1.13
 * (str(tensor), torch.Size), numpy 1.24 (str(ndarray)) and Python
 * (repr(float)) print them with their default options.
 *
 * How: each printer transcribes the Python it imitates (torch/_tensor_str.py,
 * numpy/core/arrayprint.py), but writes to the FILE as it goes instead of
 * building strings, so nothing is allocated and a tensor of any size prints
 * in stack memory. Both libraries first run a "formatter" over the elements
 * that will be shown (all of them, or only the 3 leading and 3 trailing
 * items of each dimension once there are more than 1000) to fix one width
 * and notation for all, then print nested brackets element by element.
 *
 * Numbers: torch formats with Python's "{:.4f}" / "{:.4e}", which are
 * correctly rounded, as glibc's printf is, so printf matches them directly.
 * numpy and repr(float) print the *shortest* digits that read back as the
 * same value (Dragon4, David Gay's dtoa); dec_shortest finds them by rounding
 * to 1, 2, ... significant digits and reading each candidate back with
 * strtod/strtof. float32 data is widened to double first, as Python's
 * float(value) does; numpy's shortest digits are those of the float32.
 */
#include "tgrt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Print options shared by torch and numpy defaults. */
enum {
    THRESHOLD = 1000, /* more elements than this: summarize with "..." */
    EDGE = 3,         /* items kept at each end of a summarized dimension */
    TORCH_WIDTH = 80, /* torch's linewidth */
    NUMPY_WIDTH = 75, /* numpy's linewidth */
    WORD_CAP = 64,    /* one formatted element, padding included */
};

/* ---- output that knows its column -------------------------------------- */

/* torch's _add_suffixes needs the length of the last line written. */
typedef struct {
    FILE *f;
    long col; /* characters since the last newline of this print call */
} Out;

static void out_n(Out *o, const char *s, size_t n) {
    fwrite(s, 1, n, o->f);
    for (size_t i = 0; i < n; i++)
        o->col = s[i] == '\n' ? 0 : o->col + 1;
}

static void out_s(Out *o, const char *s) { out_n(o, s, strlen(s)); }

static void out_rep(Out *o, char c, long count) {
    for (long i = 0; i < count; i++)
        out_n(o, &c, 1);
}

/* ---- the tensor being printed ------------------------------------------ */

typedef struct {
    const void *data;            /* contiguous, row-major */
    TgDType dt;
    int rank;
    const int64_t *shape;
    int64_t stride[TG_MAX_RANK]; /* in elements */
    int64_t numel;
    int summarize;               /* numel > THRESHOLD: show only the edges */
} View;

static void view_init(View *v, const void *data, TgDType dt, int rank, const int64_t *shape) {
    v->data = data;
    v->dt = dt;
    v->rank = rank;
    v->shape = shape;
    v->numel = 1;
    for (int d = rank - 1; d >= 0; d--) {
        v->stride[d] = v->numel;
        v->numel *= shape[d];
    }
    v->summarize = v->numel > THRESHOLD;
}

static int is_float(TgDType dt) { return dt == TG_F32 || dt == TG_F64; }

static double get_f(const View *v, int64_t i) {
    if (v->dt == TG_F32)
        return (double)((const float *)v->data)[i];
    return ((const double *)v->data)[i];
}

static int64_t get_i(const View *v, int64_t i) {
    switch (v->dt) {
    case TG_I32: return ((const int32_t *)v->data)[i];
    case TG_I64: return ((const int64_t *)v->data)[i];
    case TG_BOOL:
    case TG_U8: return ((const uint8_t *)v->data)[i];
    default: return 0;
    }
}

/* Items shown along dimension d: all, or EDGE + EDGE when summarized. */
static int64_t kept_len(const View *v, int d) {
    int64_t n = v->shape[d];
    return v->summarize && n > 2 * EDGE ? 2 * EDGE : n;
}

/* Index of the j-th shown item along dimension d. */
static int64_t kept_at(const View *v, int d, int64_t j) {
    int64_t n = v->shape[d];
    return v->summarize && n > 2 * EDGE && j >= EDGE ? n - 2 * EDGE + j : j;
}

/* The elements both formatters see: torch's get_summarized_data, numpy's
 * _leading_trailing. k numbers them in row-major order. */
static int64_t edge_count(const View *v) {
    int64_t n = 1;
    for (int d = 0; d < v->rank; d++)
        n *= kept_len(v, d);
    return n;
}

static int64_t edge_flat(const View *v, int64_t k) {
    int64_t flat = 0;
    for (int d = v->rank - 1; d >= 0; d--) {
        int64_t len = kept_len(v, d);
        flat += kept_at(v, d, k % len) * v->stride[d];
        k /= len;
    }
    return flat;
}

/* ---- decimal digits ----------------------------------------------------- */

/* A non-negative decimal d[0].d[1]...d[n-1] x 10^e; zero is "0" with e = 0. */
typedef struct {
    char d[40]; /* ASCII digits, not terminated */
    int n;      /* digit count */
    int e;      /* exponent of the first digit */
} Dec;

/* Parses printf's "%e" text ("1.2340e+05"). */
static void dec_from_sci(Dec *x, const char *s) {
    x->n = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && x->n < (int)sizeof x->d)
            x->d[x->n++] = *s;
    x->e = *s == 'e' ? atoi(s + 1) : 0;
}

/* a correctly rounded to nsig significant digits. */
static void dec_rounded(Dec *x, double a, int nsig) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.*e", nsig - 1, a);
    dec_from_sci(x, buf);
}

/* a correctly rounded to nfrac digits after the point (a < 1e17). */
static void dec_fixed(Dec *x, double a, int nfrac) {
    char buf[64];
    int len = snprintf(buf, sizeof buf, "%.*f", nfrac, a);
    const char *point = strchr(buf, '.');
    x->n = 0;
    x->e = (point ? (int)(point - buf) : len) - 1;
    for (int i = 0; i < len; i++) {
        if (buf[i] == '.')
            continue;
        if (x->n == 0 && buf[i] == '0') {
            x->e--; /* a leading zero: the first digit sits one place lower */
            continue;
        }
        x->d[x->n++] = buf[i];
    }
    if (x->n == 0) {
        x->d[0] = '0';
        x->n = 1;
        x->e = 0;
    }
}

/* Drops trailing zeros (keeping one digit): the same number, shorter. */
static void dec_trim(Dec *x) {
    while (x->n > 1 && x->d[x->n - 1] == '0')
        x->n--;
}

/* Does x read back (as a double, or a float when f32) exactly as a? */
static int dec_roundtrips(const Dec *x, double a, int f32, int *above) {
    char buf[64];
    snprintf(buf, sizeof buf, "0.%.*se%d", x->n, x->d, x->e + 1);
    double back = f32 ? (double)strtof(buf, NULL) : strtod(buf, NULL);
    *above = back > a;
    return back == a;
}

/* Moves x by one unit in its last digit, keeping n digits. */
static void dec_step(Dec *x, int up) {
    int i = x->n - 1;
    if (up) {
        while (i >= 0 && x->d[i] == '9')
            x->d[i--] = '0';
        if (i >= 0) {
            x->d[i]++;
        } else { /* 9.99 -> 10.0: one more power of ten, same digit count */
            x->d[0] = '1';
            x->e++;
        }
    } else {
        while (i >= 0 && x->d[i] == '0')
            x->d[i--] = '9';
        x->d[i]--; /* x > 0, so some digit is nonzero */
        if (x->d[0] == '0') { /* 1.00 -> 0.999: the grid below is finer */
            memmove(x->d, x->d + 1, (size_t)x->n - 1);
            x->d[x->n - 1] = '9';
            x->e--;
        }
    }
}

/*
 * The shortest digits that read back as a (finite, >= 0), the nearest such
 * when several do: Python's repr and numpy's Dragon4 "unique" mode. With n
 * digits the only candidates are the two n-digit decimals around a; the
 * nearer is printf's rounding, the other is one step away.
 */
static void dec_shortest(Dec *x, double a, int f32) {
    if (a == 0) {
        x->d[0] = '0';
        x->n = 1;
        x->e = 0;
        return;
    }
    for (int n = 1; n < 17; n++) {
        int above;
        dec_rounded(x, a, n);
        if (dec_roundtrips(x, a, f32, &above))
            return;
        dec_step(x, !above);
        if (dec_roundtrips(x, a, f32, &above))
            return;
    }
    dec_rounded(x, a, 17); /* 17 digits always identify a double */
}

/* Digits of x after the point in positional notation. */
static int dec_frac_len(const Dec *x) { return x->n - 1 - x->e > 0 ? x->n - 1 - x->e : 0; }

/* Writes x positionally: "12.5", "0.00125", "100." (no fraction: a bare point). */
static int dec_positional(const Dec *x, char *buf) {
    int len = 0;
    if (x->e < 0)
        buf[len++] = '0';
    for (int i = 0; i <= x->e; i++)
        buf[len++] = i < x->n ? x->d[i] : '0';
    buf[len++] = '.';
    for (int i = x->e + 1; i < x->n; i++)
        buf[len++] = i < 0 ? '0' : x->d[i];
    buf[len] = '\0';
    return len;
}

/* Writes x as d.ddd followed by e+XX with at least exp_digits exponent digits;
 * without its fraction digits the point stays ("1.e-05") unless drop_point. */
static int dec_scientific(const Dec *x, int exp_digits, int drop_point, char *buf) {
    int len = 0;
    buf[len++] = x->d[0];
    if (x->n > 1 || !drop_point)
        buf[len++] = '.';
    memcpy(buf + len, x->d + 1, (size_t)x->n - 1);
    len += x->n - 1;
    len += sprintf(buf + len, "e%c%0*d", x->e < 0 ? '-' : '+', exp_digits, abs(x->e));
    return len;
}

/* Python's repr(float) and numpy's str(scalar): the shortest digits, positional
 * from 1e-4 up to 1e16 with at least one fraction digit ("12.0"), else
 * scientific without a bare point ("1e-05", "1.5e+16"). */
static int shortest_str(double v, int f32, char *buf) {
    Dec x;
    int len = 0;
    if (isnan(v))
        return sprintf(buf, "nan");
    if (signbit(v))
        buf[len++] = '-';
    if (isinf(v))
        return len + sprintf(buf + len, "inf");
    dec_shortest(&x, fabs(v), f32);
    if (x.d[0] != '0' && (x.e < -4 || x.e >= 16))
        return len + dec_scientific(&x, 2, 1, buf + len);
    len += dec_positional(&x, buf + len);
    if (buf[len - 1] == '.') {
        buf[len++] = '0';
        buf[len] = '\0';
    }
    return len;
}

/* ---- torch ------------------------------------------------------------- */

/* torch's _Formatter: one notation and width for every element shown. */
typedef struct {
    int floating; /* float dtype: the int/sci/fixed modes apply */
    int int_mode; /* every nonzero finite value is an integer: "3." */
    int sci_mode; /* "{:.4e}" */
    int width;    /* max_width: elements are right-aligned to it */
} TorchFmt;

/* Formats one element as _Formatter.format does, unpadded. */
static int torch_str(const TorchFmt *fm, const View *v, int64_t i, char *buf) {
    if (!fm->floating) {
        if (v->dt == TG_BOOL)
            return sprintf(buf, "%s", get_i(v, i) ? "True" : "False");
        return sprintf(buf, "%lld", (long long)get_i(v, i));
    }
    double x = get_f(v, i);
    /* Python spells non-finite values nan/inf/-inf, never "-nan" */
    if (isnan(x))
        return sprintf(buf, "nan");
    if (isinf(x))
        return sprintf(buf, "%sinf", x < 0 ? "-" : "");
    if (fm->sci_mode)
        return sprintf(buf, "%.4e", x);
    if (fm->int_mode)
        return sprintf(buf, "%.0f.", x);
    return sprintf(buf, "%.4f", x);
}

static void torch_fmt_init(TorchFmt *fm, const View *v) {
    char buf[WORD_CAP];
    int64_t n = edge_count(v);
    double lo = INFINITY, hi = 0;
    int any = 0;

    fm->floating = is_float(v->dt);
    fm->int_mode = 1;
    fm->sci_mode = 0;
    fm->width = 1;
    if (!fm->floating) {
        for (int64_t k = 0; k < n; k++) {
            int len = torch_str(fm, v, edge_flat(v, k), buf);
            fm->width = len > fm->width ? len : fm->width;
        }
        return;
    }
    /* modes come from the nonzero finite values only */
    for (int64_t k = 0; k < n; k++) {
        double x = get_f(v, edge_flat(v, k));
        if (!isfinite(x) || x == 0)
            continue;
        any = 1;
        lo = fabs(x) < lo ? fabs(x) : lo;
        hi = fabs(x) > hi ? fabs(x) : hi;
        if (x != ceil(x))
            fm->int_mode = 0;
    }
    if (!any)
        return; /* zeros, nan, inf: "0.", width 1 */
    fm->sci_mode = hi / lo > 1000.0 || hi > 1.0e8 || (!fm->int_mode && lo < 1.0e-4);
    /* the width, too, is measured on nonzero finite values only */
    for (int64_t k = 0; k < n; k++) {
        int64_t i = edge_flat(v, k);
        double x = get_f(v, i);
        if (!isfinite(x) || x == 0)
            continue;
        int len = torch_str(fm, v, i, buf);
        fm->width = len > fm->width ? len : fm->width;
    }
}

/* One element, right-aligned to the formatter's width. */
static void torch_elem(Out *o, const TorchFmt *fm, const View *v, int64_t i) {
    char buf[WORD_CAP];
    int len = torch_str(fm, v, i, buf);
    out_rep(o, ' ', fm->width - len);
    out_n(o, buf, (size_t)len);
}

/* _vector_str: a row, wrapped every elements_per_line items. */
static void torch_vector(Out *o, const TorchFmt *fm, const View *v, int64_t off, int indent) {
    int d = v->rank - 1;
    int per_line = (TORCH_WIDTH - indent) / (fm->width + 2);
    int64_t n = v->shape[d];
    int summ = v->summarize && n > 2 * EDGE;
    int64_t count = summ ? 2 * EDGE + 1 : n; /* " ..." counts as an item */

    if (per_line < 1)
        per_line = 1;
    out_s(o, "[");
    for (int64_t t = 0; t < count; t++) {
        if (t > 0 && t % per_line == 0) {
            out_s(o, ",\n");
            out_rep(o, ' ', indent + 1);
        } else if (t > 0) {
            out_s(o, ", ");
        }
        if (summ && t == EDGE)
            out_s(o, " ...");
        else
            torch_elem(o, fm, v, off + (summ && t > EDGE ? n - 2 * EDGE + t - 1 : t));
    }
    out_s(o, "]");
}

/* _tensor_str_with_formatter for dimension d and up: rows of a matrix on
 * their own lines, blocks of higher rank separated by blank lines. */
static void torch_block(Out *o, const TorchFmt *fm, const View *v, int d, int64_t off,
                        int indent) {
    if (d == v->rank - 1) {
        torch_vector(o, fm, v, off, indent);
        return;
    }
    int64_t n = v->shape[d];
    int summ = v->summarize && n > 2 * EDGE;
    int64_t count = summ ? 2 * EDGE + 1 : n;
    out_s(o, "[");
    for (int64_t t = 0; t < count; t++) {
        if (t > 0) {
            out_s(o, ",");
            out_rep(o, '\n', v->rank - d - 1);
            out_rep(o, ' ', indent + 1);
        }
        if (summ && t == EDGE)
            out_s(o, "...");
        else
            torch_block(o, fm, v, d + 1,
                        off + (summ && t > EDGE ? n - 2 * EDGE + t - 1 : t) * v->stride[d],
                        indent + 1);
    }
    out_s(o, "]");
}

/* One step of _add_suffixes: ", s", or ",\n" and the indent when the line
 * would pass the width. *last is its (over)estimate of the line length. */
static void torch_suffix(Out *o, long *last, int indent, const char *s) {
    long len = (long)strlen(s);
    if (*last + len + 2 > TORCH_WIDTH) {
        out_s(o, ",\n");
        out_rep(o, ' ', indent);
        out_s(o, s);
        *last = indent + len;
    } else {
        out_s(o, ", ");
        out_s(o, s);
        *last += len + 2;
    }
}

void tg_print_tensor(FILE *f, const void *data, TgDType dt, int rank, const int64_t *shape,
                     const char *const *suffixes, int nsuffix) {
    const int indent = 7; /* strlen("tensor(") */
    Out o = {f, 0};
    View v;
    char size_sfx[32 + 24 * TG_MAX_RANK], dtype_sfx[64];
    int has_size = 0, has_dtype = 0;

    view_init(&v, data, dt, rank, shape);
    snprintf(dtype_sfx, sizeof dtype_sfx, "dtype=%s", tg_dtype_torch_name(dt));
    out_s(&o, "tensor(");
    if (v.numel == 0) {
        /* no element tells the shape or the dtype: both are spelled out,
         * the shape as a Python tuple */
        out_s(&o, "[]");
        has_size = rank != 1;
        has_dtype = dt != TG_F32;
        int len = sprintf(size_sfx, "size=(");
        for (int d = 0; d < rank; d++)
            len += sprintf(size_sfx + len, "%s%lld", d ? ", " : "", (long long)shape[d]);
        sprintf(size_sfx + len, "%s)", rank == 1 ? "," : "");
    } else {
        TorchFmt fm;
        torch_fmt_init(&fm, &v);
        if (rank == 0)
            torch_elem(&o, &fm, &v, 0);
        else
            torch_block(&o, &fm, &v, 0, 0, indent);
        has_dtype = dt != TG_F32 && dt != TG_I64 && dt != TG_BOOL;
    }

    /* _add_suffixes measures the last line as len - rfind("\n") + 1 */
    long last = o.col + 2;
    if (has_size)
        torch_suffix(&o, &last, indent, size_sfx);
    if (has_dtype)
        torch_suffix(&o, &last, indent, dtype_sfx);
    for (int i = 0; i < nsuffix; i++)
        torch_suffix(&o, &last, indent, suffixes[i]);
    out_s(&o, ")");
}

void tg_print_size(FILE *f, int rank, const int64_t *shape) {
    fputs("torch.Size([", f);
    for (int d = 0; d < rank; d++)
        fprintf(f, "%s%lld", d ? ", " : "", (long long)shape[d]);
    fputs("])", f);
}

void tg_print_pyfloat(FILE *f, double v) {
    char buf[WORD_CAP];
    shortest_str(v, 0, buf);
    fputs(buf, f);
}

/* ---- numpy ------------------------------------------------------------- */

/* numpy's BoolFormat / IntegerFormat / FloatingFormat (floatmode 'maxprec',
 * precision 8, sign '-'), decided once for the elements shown. */
typedef struct {
    int f32;       /* shortest digits are those of a float32 */
    int width;     /* ints: "%*lld" */
    int exp;       /* floats: scientific notation */
    int pad_left;  /* characters left of the point, sign included */
    int pad_right; /* positional: fraction digits; exp: all after the point */
    int prec;      /* exp: fraction digits every element prints */
    int exp_size;  /* exp: exponent digits */
} NpFmt;

enum { NP_PREC = 8 };

/*
 * Positional digits of a: shortest, unless that needs more than 8 fraction
 * digits; then rounded there, trailing zeros dropped (trim '.'). When
 * printing (whole), FloatingFormat passes min_digits=0, which makes Dragon4
 * carry on through the units digit: a float32 45553448 whose shortest form
 * is 4555345e1 prints all its integer digits.
 */
static void np_positional(Dec *x, double a, int f32, int whole) {
    dec_shortest(x, a, f32);
    if (dec_frac_len(x) > NP_PREC) {
        dec_fixed(x, a, NP_PREC);
        dec_trim(x);
    } else if (whole && x->n - 1 < x->e) {
        dec_fixed(x, a, 0);
        dec_trim(x);
    }
}

/* Scientific digits of the first pass: at most 9 significant. */
static void np_sci_probe(Dec *x, double a, int f32) {
    dec_shortest(x, a, f32);
    if (x->n > NP_PREC + 1) {
        dec_rounded(x, a, NP_PREC + 1);
        dec_trim(x);
    }
}

/* Scientific digits as printed: exactly prec + 1 significant. Dragon4 with
 * min_digits keeps the unique digits when they are exactly that long and
 * otherwise rounds the exact value there. */
static void np_sci_final(Dec *x, double a, int f32, int prec) {
    dec_shortest(x, a, f32);
    if (x->n != prec + 1)
        dec_rounded(x, a, prec + 1);
}

static int digits_of(int e) {
    int n = 1;
    for (e = abs(e); e >= 10; e /= 10)
        n++;
    return n;
}

static void np_fmt_init(NpFmt *fm, const View *v) {
    int64_t n = edge_count(v);
    memset(fm, 0, sizeof *fm);
    fm->f32 = v->dt == TG_F32;
    if (!is_float(v->dt)) {
        /* width of the widest of str(max), str(min) */
        char buf[WORD_CAP];
        for (int64_t k = 0; k < n; k++) {
            int len = sprintf(buf, "%lld", (long long)get_i(v, edge_flat(v, k)));
            fm->width = len > fm->width ? len : fm->width;
        }
        return;
    }

    double lo = INFINITY, hi = 0;
    int any = 0, nonfinite = 0, neginf = 0, finite = 0;
    for (int64_t k = 0; k < n; k++) {
        double x = get_f(v, edge_flat(v, k));
        if (!isfinite(x)) {
            nonfinite = 1;
            neginf |= isinf(x) && x < 0;
            continue;
        }
        finite = 1;
        if (x == 0)
            continue;
        any = 1;
        lo = fabs(x) < lo ? fabs(x) : lo;
        hi = fabs(x) > hi ? fabs(x) : hi;
    }
    if (any) {
        /* numpy divides in the array's type: a float32 ratio can round to 1000 */
        double ratio = fm->f32 ? (double)(float)(hi / lo) : hi / lo;
        fm->exp = hi >= 1.e8 || lo < 0.0001 || ratio > 1000.;
    }

    for (int64_t k = 0; finite && k < n; k++) {
        double x = get_f(v, edge_flat(v, k));
        Dec d;
        if (!isfinite(x))
            continue;
        int neg = signbit(x) != 0;
        if (fm->exp) {
            np_sci_probe(&d, fabs(x), fm->f32);
            int es = digits_of(d.e) < 2 ? 2 : digits_of(d.e);
            fm->prec = d.n - 1 > fm->prec ? d.n - 1 : fm->prec;
            fm->exp_size = es > fm->exp_size ? es : fm->exp_size;
            fm->pad_left = 1 + neg > fm->pad_left ? 1 + neg : fm->pad_left;
        } else {
            np_positional(&d, fabs(x), fm->f32, 0);
            int il = neg + (d.e < 0 ? 1 : d.e + 1), fl = dec_frac_len(&d);
            fm->pad_left = il > fm->pad_left ? il : fm->pad_left;
            fm->pad_right = fl > fm->pad_right ? fl : fm->pad_right;
        }
    }
    if (fm->exp)
        fm->pad_right = fm->exp_size + 2 + fm->prec; /* only sizes nan/inf */
    if (nonfinite) {
        int room = fm->pad_right + 1, inflen = 3 + neginf;
        fm->pad_left = 3 - room > fm->pad_left ? 3 - room : fm->pad_left;
        fm->pad_left = inflen - room > fm->pad_left ? inflen - room : fm->pad_left;
    }
}

/* Formats one element of an array of rank >= 1, padding included. */
static int np_word(const NpFmt *fm, const View *v, int64_t i, char *buf) {
    if (v->dt == TG_BOOL)
        return sprintf(buf, "%s", get_i(v, i) ? " True" : "False");
    if (!is_float(v->dt))
        return sprintf(buf, "%*lld", fm->width, (long long)get_i(v, i));

    double x = get_f(v, i);
    char num[WORD_CAP];
    Dec d;
    int neg = signbit(x) != 0, len = 0, nl;
    if (!isfinite(x)) {
        const char *s = isnan(x) ? "nan" : x < 0 ? "-inf" : "inf";
        return sprintf(buf, "%*s", fm->pad_left + fm->pad_right + 1, s);
    }
    if (fm->exp) {
        np_sci_final(&d, fabs(x), fm->f32, fm->prec);
        nl = dec_scientific(&d, fm->exp_size, 0, num);
        for (; len < fm->pad_left - 1 - neg; len++)
            buf[len] = ' ';
        if (neg)
            buf[len++] = '-';
        memcpy(buf + len, num, (size_t)nl + 1);
        return len + nl;
    }
    np_positional(&d, fabs(x), fm->f32, 1);
    nl = dec_positional(&d, num);
    int il = neg + (d.e < 0 ? 1 : d.e + 1);
    for (; len < fm->pad_left - il; len++)
        buf[len] = ' ';
    if (neg)
        buf[len++] = '-';
    memcpy(buf + len, num, (size_t)nl);
    len += nl;
    for (int fl = dec_frac_len(&d); fl < fm->pad_right; fl++)
        buf[len++] = ' ';
    buf[len] = '\0';
    return len;
}

/* The last axis of _formatArray: words separated by ' ', a line broken
 * (trailing blanks stripped) before a word that would pass the width. The
 * line's hanging indent is already written; only its text is buffered. */
static void np_row(Out *o, const NpFmt *fm, const View *v, int64_t off) {
    int hang = v->rank;                 /* len(hanging_indent) */
    int width = NUMPY_WIDTH - v->rank;  /* elem_width */
    int64_t n = v->shape[v->rank - 1];
    int summ = v->summarize && n > 2 * EDGE;
    int64_t count = summ ? 2 * EDGE + 1 : n;
    char line[4 * NUMPY_WIDTH + 2 * WORD_CAP] = ""; /* at most width + a word */
    int len = 0;

    for (int64_t t = 0; t < count; t++) {
        char word[WORD_CAP];
        int wl;
        if (summ && t == EDGE)
            wl = sprintf(word, "...");
        else
            wl = np_word(fm, v, off + (summ && t > EDGE ? n - 2 * EDGE + t - 1 : t), word);
        if (len > 0 && hang + len + wl > width) {
            while (len > 0 && line[len - 1] == ' ')
                len--;
            out_n(o, line, (size_t)len);
            out_s(o, "\n");
            out_rep(o, ' ', hang);
            len = 0;
        }
        memcpy(line + len, word, (size_t)wl);
        len += wl;
        if (t + 1 < count)
            line[len++] = ' ';
    }
    out_n(o, line, (size_t)len);
}

/* _formatArray from dimension d: nested blocks separated by newlines, one
 * more blank line per extra dimension, "..." for summarized items. */
static void np_block(Out *o, const NpFmt *fm, const View *v, int d, int64_t off) {
    out_s(o, "[");
    if (d == v->rank - 1) {
        np_row(o, fm, v, off);
    } else {
        int64_t n = v->shape[d];
        int summ = v->summarize && n > 2 * EDGE;
        int64_t count = summ ? 2 * EDGE + 1 : n;
        for (int64_t t = 0; t < count; t++) {
            if (t > 0) {
                out_rep(o, '\n', v->rank - d - 1);
                out_rep(o, ' ', d + 1);
            }
            if (summ && t == EDGE)
                out_s(o, "...");
            else
                np_block(o, fm, v, d + 1,
                         off + (summ && t > EDGE ? n - 2 * EDGE + t - 1 : t) * v->stride[d]);
        }
    }
    out_s(o, "]");
}

void tg_print_numpy(FILE *f, const void *data, TgDType dt, int rank, const int64_t *shape) {
    Out o = {f, 0};
    View v;
    NpFmt fm;

    view_init(&v, data, dt, rank, shape);
    if (rank == 0) {
        /* a 0-d array prints as its scalar, at full precision */
        char buf[WORD_CAP];
        if (is_float(dt))
            shortest_str(get_f(&v, 0), dt == TG_F32, buf);
        else if (dt == TG_BOOL)
            sprintf(buf, "%s", get_i(&v, 0) ? "True" : "False");
        else
            sprintf(buf, "%lld", (long long)get_i(&v, 0));
        out_s(&o, buf);
        return;
    }
    if (v.numel == 0) {
        out_s(&o, "[]");
        return;
    }
    np_fmt_init(&fm, &v);
    np_block(&o, &fm, &v, 0, 0);
}
