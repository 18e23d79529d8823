/*
 * index.c: the index arithmetic and the loops of the kernels of both backends (frame.h).
 *
 * Index expressions are built term by term from strings, so that a factor 1, a term 0 and a
 * product with 0 never reach the file and literals fold: ix_mul("h", 1) is "h", ix_add("n * 6",
 * "0") is "n * 6", ix_mul("n * 6 + c", 28) is "(n * 6 + c) * 28". A loop is opened with cg_for and
 * closed with cg_end; one whose bounds say it runs once is written as its variable bound in a
 * block, and an OpenMP or SIMD pragma meant for it (cg_pragma) moves to the loops that remain.
 */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

/* ---- index expressions ---- */

/* Is e an integer literal? Its value in *v. */
static bool ix_lit(const char *e, int64_t *v) {
    char *end;
    if (!*e || !(*e == '-' || (*e >= '0' && *e <= '9')))
        return false;
    long long x = strtoll(e, &end, 10);
    if (*end)
        return false;
    *v = x;
    return true;
}

/* Does e need parentheses to be multiplied: an operator weaker than * outside any brackets? */
static bool ix_loose(const char *e) {
    int depth = 0;
    for (const char *p = e; *p; p++) {
        if (*p == '(' || *p == '[')
            depth++;
        else if (*p == ')' || *p == ']')
            depth--;
        else if (!depth && p > e && p[-1] == ' ' && p[1] == ' ' && strchr("+-?:<>=&|", *p))
            return true;
        else if (!depth && p > e && p[-1] == ' ' && strchr("<>=!&|", *p) && p[1] && strchr("=&|<>", p[1]))
            return true;
    }
    return false;
}

const char *ix_int(int64_t k) { return ir_fmt("%lld", (long long)k); }

const char *ix_add(const char *a, const char *b) {
    int64_t x, y;
    if (ix_lit(a, &x) && ix_lit(b, &y))
        return ix_int(x + y);
    if (!strcmp(a, "0"))
        return b;
    if (!strcmp(b, "0"))
        return a;
    if (ix_lit(b, &y) && y < 0)
        return ir_fmt("%s - %lld", a, -(long long)y);
    if (b[0] == '-' && !ix_loose(b))
        return ir_fmt("%s - %s", a, b + 1);
    return ir_fmt("%s + %s", a, b);
}

const char *ix_addk(const char *a, int64_t k) { return ix_add(a, ix_int(k)); }

const char *ix_sub(const char *a, const char *b) {
    int64_t y;
    if (ix_lit(b, &y))
        return ix_addk(a, -y);
    if (!strcmp(a, "0"))
        return ir_fmt(ix_loose(b) ? "-(%s)" : "-%s", b);
    return ir_fmt(ix_loose(b) ? "%s - (%s)" : "%s - %s", a, b);
}

const char *ix_mul(const char *a, int64_t k) {
    int64_t x;
    if (k == 0 || !strcmp(a, "0"))
        return "0";
    if (ix_lit(a, &x))
        return ix_int(x * k);
    if (k == 1)
        return a;
    const char *star = strrchr(a, '*'); /* v * 6, times 5: v * 30 */
    if (star && star > a + 1 && star[-1] == ' ' && star[1] == ' ' && ix_lit(star + 2, &x) && x > 0 && k > 0 &&
        !strpbrk(ir_strndup(a, (size_t)(star - a - 1)), " ()[]"))
        return ir_fmt("%.*s * %lld", (int)(star - a - 1), a, (long long)(x * k));
    return ir_fmt(ix_loose(a) ? "(%s) * %s" : "%s * %s", a, k < 0 ? ir_fmt("(%lld)", (long long)k) : ix_int(k));
}

const char *ix_div(const char *a, int64_t k) {
    int64_t x;
    if (k == 1)
        return a;
    if (ix_lit(a, &x) && x >= 0 && k > 0)
        return ix_int(x / k);
    return ir_fmt(ix_loose(a) ? "(%s) / %lld" : "%s / %lld", a, (long long)k);
}

const char *ix_mod(const char *a, int64_t k) {
    int64_t x;
    if (k == 1)
        return "0";
    if (ix_lit(a, &x) && x >= 0 && k > 0)
        return ix_int(x % k);
    return ir_fmt(ix_loose(a) ? "(%s) %% %lld" : "%s %% %lld", a, (long long)k);
}

const char *ix_bytes(int64_t n, const char *ctype) {
    return n == 0 ? "0" : n == 1 ? ir_fmt("sizeof(%s)", ctype) : ir_fmt("%lld * sizeof(%s)", (long long)n, ctype);
}

const char *ix_ptr(const char *p, const char *off) {
    if (!strcmp(off, "0"))
        return p;
    return *off == '-' ? ir_fmt("%s - %s", p, off + 1) : ir_fmt("%s + %s", p, off);
}

const char *ix_4d(const char *a, const char *b, const char *c, const char *d, int64_t B, int64_t C, int64_t D) {
    return ix_add(ix_mul(ix_add(ix_mul(ix_add(ix_mul(a, B), b), C), c), D), d);
}

const char *ix_tap(const char *o, int64_t stride, const char *r, int64_t dilation, int64_t pad) {
    return ix_addk(ix_add(ix_mul(o, stride), ix_mul(r, dilation)), -pad);
}

/* ---- loops ---- */

/* The open loops, innermost last: how each ends, and at what indent. */
static struct {
    int ind;
    const char *end; /* "": an unbraced loop; "}", "} while (0);" */
} loops[64];
static int nloops;

/* A pragma waiting for the loops it is meant for (cg_pragma). */
static struct {
    int ind, n;           /* its indent; how many loops it covers (collapse), 0: none waiting */
    const char *fmt;      /* with %s where the collapse clause goes */
    const char *once;     /* what goes before them instead if they all run once, or NULL */
    int64_t trips[8];     /* the trips of the loops seen so far */
    const char *text[8];  /* and their headers, held back until all are known */
    int ind_of[8];
    int seen;
} pend;

void cg_pragma(int ind, const char *fmt, const char *once, int n) {
    pend.ind = ind;
    pend.fmt = fmt;
    pend.once = once;
    pend.n = n;
    pend.seen = 0;
}

/* The held loops of a pragma, once all are known: the ones that run once bind their variable,
 * the pragma goes before the first real loop and collapses the real ones right after it. */
static void flush_pending(void) {
    int first = 0, real = 0;
    while (first < pend.seen && pend.trips[first] == 1)
        first++;
    while (first + real < pend.seen && pend.trips[first + real] > 1)
        real++;
    for (int i = 0; i < pend.seen; i++) {
        if (i == first && real)
            P("%*s%s\n", pend.ind_of[i], "", ir_fmt(pend.fmt, real > 1 ? ir_fmt(" collapse(%d)", real) : ""));
        if (i == 0 && !real && pend.once)
            P("%*s%s\n", pend.ind_of[i], "", pend.once);
        P("%s", pend.text[i]);
    }
    pend.n = 0;
}

static void open_loop(int ind, const char *type, const char *v, int64_t a, int64_t b, int64_t step, const char *tail,
                      bool cont) {
    int64_t trips = b <= a ? 0 : (b - a + step - 1) / step;
    const char *end = tail && strchr(tail, '{') ? "}" : "";
    const char *text;
    if (trips == 1) { /* runs once: no loop, the variable bound in a block */
        const char *note = tail && strstr(tail, "/*") ? ir_fmt(" %s", strstr(tail, "/*")) : "";
        /* do { } while (0) where the body may continue: that still skips the rest of it */
        text = ir_fmt("%*s%s\n%*sconst %s %s = %lld;%s\n", ind, "", cont ? "do {" : "{", ind + 4, "", type, v, (long long)a,
                      note);
        end = cont ? "} while (0);" : "}";
    } else {
        const char *inc = step == 1 ? ir_fmt("%s++", v) : ir_fmt("%s += %lld", v, (long long)step);
        text = ir_fmt("%*sfor (%s %s = %lld; %s < %lld; %s)%s\n", ind, "", type, v, (long long)a, v, (long long)b, inc,
                      tail ? tail : "");
    }
    if (nloops == (int)(sizeof loops / sizeof *loops))
        die("loops nested too deep");
    loops[nloops].ind = ind;
    loops[nloops++].end = end;
    if (!pend.n) {
        P("%s", text);
        return;
    }
    pend.trips[pend.seen] = trips;
    pend.text[pend.seen] = text;
    pend.ind_of[pend.seen++] = ind;
    if (pend.seen == pend.n)
        flush_pending();
}

void cg_for(int ind, const char *type, const char *v, int64_t a, int64_t b, int64_t step, const char *tail) {
    open_loop(ind, type, v, a, b, step, tail, false);
}

void cg_for_cont(int ind, const char *type, const char *v, int64_t a, int64_t b, int64_t step, const char *tail) {
    open_loop(ind, type, v, a, b, step, tail, true);
}

void cg_end(void) {
    if (!nloops || pend.n)
        die("cg_end without a loop, or before the loops of a pragma");
    nloops--;
    if (*loops[nloops].end)
        P("%*s%s\n", loops[nloops].ind, "", loops[nloops].end);
}

void cg_loops_closed(void) {
    if (nloops || pend.n)
        die("a kernel left %d loops open", nloops);
}
