/*
 * args.c: call arguments, as Python passes them.
 *
 * A call's arguments arrive as Args: positional values, then keywords. A builtin or a module
 * constructor takes each by position or by keyword (lw_arg, lw_req), converts it with an error
 * that names it (tensor_arg, int_arg, shape_from_values, dtype_value, ...), and ends with DONE,
 * which rejects extra positional arguments and unknown keywords, with a suggestion, as Python
 * does.
 */
#include "lower.h"

#include <string.h>

/* ---- a value as an argument ---- */

Value *tensor_arg(Value *v, SrcLoc loc, const char *what) {
    if (v->kind != V_TENSOR)
        error_at(loc, "%s must be a tensor, got %s", what, kind_name(v));
    return v;
}

/* A number a program computes or reads when it runs (item(), an option) where the compiler needs
 * one now: say which, rather than "got a tensor". */
static void known_only_at_run_time(Value *v, SrcLoc loc, const char *what) {
    if (v->kind == V_TENSOR && (v->tflags & TV_PYSCALAR))
        error_at(loc, "%s must be known at compile time; this number (an item(), an option, a loop's value) "
                      "is known only when the program runs", what);
}

int64_t int_arg(Value *v, SrcLoc loc, const char *what) {
    if (v->kind == V_INT || v->kind == V_BOOL)
        return v->i;
    known_only_at_run_time(v, loc, what);
    error_at(loc, "%s must be an integer, got %s", what, kind_name(v));
}

double float_arg(Value *v, SrcLoc loc, const char *what) {
    if (is_scalar(v))
        return num(v);
    known_only_at_run_time(v, loc, what);
    error_at(loc, "%s must be a number, got %s", what, kind_name(v));
}

bool bool_arg(Value *v, SrcLoc loc, const char *what) {
    if (v->kind == V_BOOL || v->kind == V_INT)
        return v->i != 0;
    error_at(loc, "%s must be true or false, got %s", what, kind_name(v));
}

/* Normalizes a possibly negative axis against rank. */
int axis_arg(Value *v, int rank, SrcLoc loc) {
    int64_t a = int_arg(v, loc, "dim");
    int64_t r = rank ? rank : 1;
    if (a < -r || a >= r)
        error_at(loc, "dim %lld is out of range for a tensor of rank %d (expected -%lld to %lld)",
                 (long long)a, rank, (long long)r, (long long)(r - 1));
    return (int)(a < 0 ? a + r : a);
}

/* A shape from ints, a tuple/list of ints, or a torch.Size. */
Shape shape_from_values(Value **v, int n, SrcLoc loc) {
    if (n == 1 && (v[0]->kind == V_TUPLE || v[0]->kind == V_LIST))
        return shape_from_values(v[0]->items, v[0]->n, loc);
    if (n == 1 && v[0]->kind == V_SIZE)
        return v[0]->shape;
    if (n > MAX_RANK)
        error_at(loc, "tensors have at most %d dimensions, got %d", MAX_RANK, n);
    Shape s = {.rank = n};
    for (int i = 0; i < n; i++) {
        s.d[i] = int_arg(v[i], loc, "a size");
        if (s.d[i] < 0)
            error_at(loc, "negative size %lld", (long long)s.d[i]);
    }
    check_numel(s, NULL, loc);
    return s;
}

void check_numel(Shape s, const char *const *sym, SrcLoc loc) {
    int64_t total = 1;
    for (int i = 0; i < s.rank; i++) {
        int64_t d = sym && sym[i] ? 1 : s.d[i];
        if (d > ((int64_t)1 << 34) || (d && total > ((int64_t)1 << 34) / d)) {
            const char *text = "[";
            for (int k = 0; k < s.rank; k++)
                text = ir_fmt("%s%s%s", text, k ? ", " : "",
                              sym && sym[k] ? sym[k] : ir_fmt("%lld", (long long)s.d[k]));
            error_at(loc, "tensor of shape %s] is too large (tgc's limit is 2^34 elements)", text);
        }
        total *= d;
    }
}

DType dtype_value(Value *v, SrcLoc loc) {
    if (v->kind == V_DTYPE)
        return v->dt;
    if (v->kind == V_PYTYPE) /* float, int, bool as Python types */
        return (DType)dtype_from_name(v->s);
    error_at(loc, "expected a dtype such as f32, got %s", kind_name(v));
}

/* ---- positional and keyword arguments ---- */

/* Argument `index` by position, or by keyword `name`; dflt when absent. */
Value *lw_arg(Args *a, int index, const char *name, Value *dflt) {
    for (int i = 0; i < a->nkw; i++)
        if (name && !strcmp(a->kw[i], name)) {
            if (index >= 0 && index < a->npos)
                error_at(a->loc, "%s() got multiple values for argument '%s'", a->fname, name);
            a->used |= 1u << i;
            return a->kwv[i];
        }
    if (index >= 0 && index < a->npos)
        return a->pos[index];
    return dflt;
}

Value *lw_req(Args *a, int index, const char *name) {
    Value *v = lw_arg(a, index, name, NULL);
    if (!v)
        error_at(a->loc, "%s() missing required argument '%s'", a->fname, name);
    return v;
}

/* Rejects extra positional arguments and unknown keywords (with a suggestion). */
void args_done(Args *a, int maxpos, const char *const *known, int nknown) {
    if (a->npos > maxpos)
        error_at(a->loc, "%s() takes %d positional argument%s but %d were given", a->fname, maxpos,
                 maxpos == 1 ? "" : "s", a->npos);
    for (int i = 0; i < a->nkw; i++)
        if (!(a->used & (1u << i))) {
            const char *s = diag_suggest(a->kw[i], known, nknown);
            if (s)
                error_at(a->loc, "%s() got an unexpected keyword argument '%s'; did you mean '%s'?", a->fname,
                         a->kw[i], s);
            error_at(a->loc, "%s() got an unexpected keyword argument '%s'", a->fname, a->kw[i]);
        }
}
