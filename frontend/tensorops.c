/*
 * tensorops.c: tensor functions PyTorch users meet after the blitz: clamp, one_hot, eye, linspace,
 * std and var, stack, chunk and split, randint and randperm, repeat, norm.
 *
 * Each is built of the table's ops (clamp of a float tensor is hardtanh's op with inclusive bounds,
 * so its gradient passes where min <= x <= max, as PyTorch's clamp does), so gradcheck, fusion and
 * both backends cover them; each prints PyTorch's grad_fn.
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* clamp(x, min=None, max=None), x.clamp(...), clip, clamp_ */
Value *bi_clamp(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *lo = lw_arg(a, 1, "min", lw_mk(V_NONE)), *hi = lw_arg(a, 2, "max", lw_mk(V_NONE));
    DONE(a, 3, "input", "min", "max");
    if (lo->kind == V_NONE && hi->kind == V_NONE)
        error_at(loc, "torch.clamp: at least one of 'min' or 'max' must not be None");
    if ((lo->kind != V_NONE && !is_scalar(lo)) || (hi->kind != V_NONE && !is_scalar(hi)))
        error_at(loc, "clamp: min and max must be numbers (a tensor bound is not supported yet)");
    Value *r;
    if (!dtype_is_float(TN(x)->dtype)) { /* integers: no gradient to shape */
        r = x;
        if (lo->kind != V_NONE)
            r = tensor_binop(OP_MAXIMUM, r, lo, loc);
        if (hi->kind != V_NONE)
            r = tensor_binop(OP_MINIMUM, r, hi, loc);
        if (r == x)
            r = lw_result(lw_cast(x->node, TN(x)->dtype, loc), x, NULL);
    } else {
        Attr at[3] = {attr_float("min", lo->kind == V_NONE ? -INFINITY : num(lo)),
                      attr_float("max", hi->kind == V_NONE ? INFINITY : num(hi)), attr_int("inclusive", 1)};
        r = lw_result(lw_add1(OP_HARDTANH, x->node, at, 3, loc), x, NULL);
        lw_info(r->node)->fn = "ClampBackward1"; /* 1.13's name with a number for min or max, or both */
    }
    if (a->fname[strlen(a->fname) - 1] == '_') { /* clamp_: in place */
        write_through(x, inplace_result(x, r->node, loc), loc);
        return x;
    }
    return r;
}

/* F.one_hot(tensor, num_classes): i64, a last dim of num_classes */
Value *bi_one_hot(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "tensor"), loc, "the tensor");
    int64_t c = int_arg(lw_arg(a, 1, "num_classes", mk_int(-1)), loc, "num_classes");
    DONE(a, 2, "tensor", "num_classes");
    if (TN(t)->dtype != DT_I64)
        error_at(loc, "one_hot is only applicable to index tensor (i64), got %s", type_str(TN(t)->dtype, TN(t)->shape));
    if (c < 1)
        error_at(loc, "one_hot: give num_classes (the largest class is known only at run time)");
    Attr at[2] = {attr_float("start", 0), attr_float("step", 1)};
    Value *cls = mk_tensor(lw_add(OP_ARANGE, NULL, 0, DT_I64, shape_make(1, &c), at, 2, loc));
    Shape s = TN(t)->shape;
    s.d[s.rank++] = 1;
    /* the classes are known only at run time: read through index_select of the classes 0..c-1 (the
     * same values), whose check stops the program with PyTorch's words for a class out of range */
    int64_t k = shape_numel(TN(t)->shape);
    if (k) {
        Attr ia[2] = {attr_int("axis", 0), attr_int("one_hot", 1)};
        int in[2] = {cls->node, view_reshape(t, shape_make(1, &k), loc)->node};
        t = lw_result(lw_add(OP_INDEX_SELECT, in, 2, DT_I64, shape_scalar(), ia, 2, loc), t, NULL);
    }
    Value *hit = lw_binop("==", view_reshape(t, s, loc), cls, loc);
    return lw_result(lw_cast(hit->node, DT_I64, loc), hit, NULL);
}

/* eye and linspace are constants of the generated C: at most 2^24 elements */
static void const_size(const char *fn, int64_t n, SrcLoc loc) {
    if (n > ((int64_t)1 << 24))
        error_at(loc, "%s of %lld elements is too large for a constant of the program (at most 16777216)", fn,
                 (long long)n);
}

/* torch.eye(n, m=None, dtype=f32) */
Value *bi_eye(Args *a) {
    SrcLoc loc = a->loc;
    int64_t n = int_arg(lw_req(a, 0, "n"), loc, "n");
    Value *mv = lw_arg(a, 1, "m", lw_mk(V_NONE));
    Value *dv = lw_arg(a, -1, "dtype", NULL);
    DType dt = dv && dv->kind != V_NONE ? dtype_value(dv, loc) : DT_F32;
    DONE(a, 2, "n", "m", "dtype");
    int64_t m = mv->kind == V_NONE ? n : int_arg(mv, loc, "m");
    if (n < 0 || m < 0)
        error_at(loc, "eye: n and m must be non-negative, got %lld and %lld", (long long)n, (long long)m);
    Shape s = shape_make(2, (int64_t[]){n, m});
    check_numel(s, NULL, loc);
    const_size("eye", n * m, loc);
    Value **items = ir_alloc(sizeof(Value *) * (size_t)(n * m + 1));
    for (int64_t i = 0; i < n * m; i++)
        items[i] = mk_int(i / m == i % m);
    Attr d = data_attr("data", items, n * m, dt, loc);
    return mk_tensor(lw_add(OP_CONST, NULL, 0, dt, s, &d, 1, loc));
}

/* torch.linspace(start, end, steps, dtype=f32): PyTorch's CPU kernel's two halves, from either end */
Value *bi_linspace(Args *a) {
    SrcLoc loc = a->loc;
    double s0 = float_arg(lw_req(a, 0, "start"), loc, "start"), s1 = float_arg(lw_req(a, 1, "end"), loc, "end");
    int64_t n = int_arg(lw_req(a, 2, "steps"), loc, "steps");
    Value *dv = lw_arg(a, -1, "dtype", NULL);
    DType dt = dv && dv->kind != V_NONE ? dtype_value(dv, loc) : DT_F32;
    DONE(a, 3, "start", "end", "steps", "dtype");
    if (n < 0)
        error_at(loc, "linspace: number of steps must be non-negative");
    check_numel(shape_make(1, &n), NULL, loc);
    const_size("linspace", n, loc);
    Value **items = ir_alloc(sizeof(Value *) * (size_t)(n + 1));
    int64_t half = n / 2;
    if (dt == DT_F32) {
        float a0 = (float)s0, a1 = (float)s1, step = n > 1 ? (a1 - a0) / (float)(n - 1) : 0;
        for (int64_t i = 0; i < n; i++)
            items[i] = mk_float(n == 1 ? a0 : i < half ? a0 + step * (float)i : a1 - step * (float)(n - i - 1));
    } else {
        double step = n > 1 ? (s1 - s0) / (double)(n - 1) : 0;
        for (int64_t i = 0; i < n; i++) {
            double v = n == 1 ? s0 : i < half ? s0 + step * (double)i : s1 - step * (double)(n - i - 1);
            items[i] = dtype_is_float(dt) ? mk_float(v) : mk_int((int64_t)v);
        }
    }
    Attr d = data_attr("data", items, n, dt, loc);
    return mk_tensor(lw_add(OP_CONST, NULL, 0, dt, shape_make(1, &n), &d, 1, loc));
}

/* var and std (dim=None, unbiased=True, keepdim=False; or correction=): sum((x - mean)^2) / (N - c) */
Value *bi_var(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *dim = lw_arg(a, 1, "dim", lw_mk(V_NONE));
    Value *unb = lw_arg(a, 2, "unbiased", lw_mk(V_NONE));
    bool keep = bool_arg(lw_arg(a, 3, "keepdim", mk_bool(false)), loc, "keepdim");
    Value *corr = lw_arg(a, -1, "correction", lw_mk(V_NONE));
    DONE(a, 4, "input", "dim", "unbiased", "keepdim", "correction");
    if (dim->kind == V_BOOL) { /* x.var(False): unbiased given first, as PyTorch allows */
        unb = dim;
        dim = lw_mk(V_NONE);
    }
    if (!dtype_is_float(TN(x)->dtype))
        error_at(loc, "%s needs a floating-point tensor, got %s", a->fname, type_str(TN(x)->dtype, TN(x)->shape));
    double c = corr->kind != V_NONE ? float_arg(corr, loc, "correction")
               : unb->kind != V_NONE ? (bool_arg(unb, loc, "unbiased") ? 1 : 0) : 1;
    Value *mean = lw_reduce(OP_MEAN, x, dim, true, loc);
    Value *d = lw_binop("-", x, mean, loc);
    Value *ss = lw_reduce(OP_SUM, lw_binop("*", d, d, loc), dim, keep, loc);
    int64_t count = shape_numel(TN(x)->shape) / (shape_numel(TN(ss)->shape) ? shape_numel(TN(ss)->shape) : 1);
    double den = (double)count - c;
    Value *v = lw_binop("/", ss, mk_float(den > 0 ? den : 0.0), loc); /* N <= correction: inf or nan, as PyTorch */
    bool std = !strcmp(a->fname, "std");
    Value *r = std ? unary_op(OP_SQRT, v, loc) : v;
    lw_info(r->node)->fn = std ? "StdBackward0" : "VarBackward0";
    return r;
}

/* torch.stack(tensors, dim=0): cat of each with a new axis of 1 */
Value *bi_stack(Args *a) {
    SrcLoc loc = a->loc;
    Value *l = lw_req(a, 0, "tensors");
    Value *d = lw_arg(a, 1, "dim", mk_int(0));
    DONE(a, 2, "tensors", "dim");
    if ((l->kind != V_LIST && l->kind != V_TUPLE) || l->n == 0)
        error_at(loc, "stack expects a non-empty list of tensors");
    Shape s0 = TN(tensor_arg(l->items[0], loc, "each item"))->shape;
    int axis = axis_arg(d, s0.rank + 1, loc);
    int *in = ir_alloc(sizeof(int) * (size_t)l->n);
    DType dt = TN(l->items[0])->dtype;
    for (int i = 0; i < l->n; i++) {
        Value *t = tensor_arg(l->items[i], loc, "each item");
        if (!shape_eq(TN(t)->shape, s0))
            error_at(loc, "stack expects each tensor to be equal size, but got %s at entry 0 and %s at entry %d",
                     shape_str(s0), shape_str(TN(t)->shape), i);
        dt = promote_types(dt, TN(t)->dtype);
    }
    Shape s = s0;
    for (int k = s.rank; k > axis; k--)
        s.d[k] = s.d[k - 1];
    s.d[axis] = 1;
    s.rank++;
    for (int i = 0; i < l->n; i++)
        in[i] = lw_reshape(lw_cast(l->items[i]->node, dt, loc), s, loc);
    Attr at = attr_int("axis", axis);
    Value *r = lw_result(lw_add(OP_CAT, in, l->n, dt, shape_scalar(), &at, 1, loc), l->items[0], NULL);
    lw_info(r->node)->fn = "StackBackward0";
    return r;
}

/* x.chunk(chunks, dim=0) and x.split(size or [sizes], dim=0): a tuple of views along dim */
Value *bi_split(Args *a) {
    SrcLoc loc = a->loc;
    bool chunk = !strcmp(a->fname, "chunk");
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *how = lw_req(a, 1, chunk ? "chunks" : "split_size_or_sections");
    Value *d = lw_arg(a, 2, "dim", mk_int(0));
    if (chunk)
        DONE(a, 3, "input", "chunks", "dim");
    else
        DONE(a, 3, "input", "split_size_or_sections", "dim");
    Shape s = TN(x)->shape;
    int axis = axis_arg(d, s.rank, loc);
    int64_t len = s.d[axis], sizes[1024];
    int n = 0;
    if (how->kind == V_LIST || how->kind == V_TUPLE) { /* split sections */
        int64_t total = 0;
        for (int i = 0; i < how->n && n < 1024; i++)
            total += sizes[n++] = int_arg(how->items[i], loc, "a section size");
        if (total != len)
            error_at(loc, "split_with_sizes expects split_sizes to sum exactly to %lld (input tensor's size at "
                          "dimension %d), but got %lld", (long long)len, axis, (long long)total);
    } else {
        int64_t k = int_arg(how, loc, chunk ? "chunks" : "split_size");
        if (k < 1)
            error_at(loc, "%s must be positive, got %lld", chunk ? "chunks" : "split_size", (long long)k);
        int64_t size = chunk ? (len + k - 1) / k : k; /* chunk: ceil(len / chunks) per piece */
        for (int64_t at = 0; (at < len || (len == 0 && n == 0)) && n < 1024; at += size ? size : 1)
            sizes[n++] = len - at < size ? len - at : size;
    }
    Value *tup = lw_mk(V_TUPLE);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        Value *v = narrow_view(x, axis, sizes[i] ? at : 0, sizes[i], loc);
        at += sizes[i];
        list_append(tup, named_fn(v, x, how->kind == V_LIST || how->kind == V_TUPLE ? "SplitWithSizesBackward0"
                                                                                    : "SplitBackward0"));
    }
    return tup;
}

/* torch.randint(high, size) or randint(low, high, size), dtype=i64: from the program's generator
 * as PyTorch draws them */
Value *bi_randint(Args *a) {
    SrcLoc loc = a->loc;
    Value *p0 = lw_req(a, 0, "high"), *p1 = lw_arg(a, 1, "high", NULL), *p2 = lw_arg(a, 2, "size", NULL);
    Value *lo = mk_int(0), *hi = p0, *size = p1;
    if (p2) { /* randint(low, high, size) */
        lo = p0;
        hi = p1;
        size = p2;
    }
    Value *low_kw = lw_arg(a, -1, "low", NULL);
    if (low_kw)
        lo = low_kw;
    Value *dv = lw_arg(a, -1, "dtype", NULL);
    DType dt = dv && dv->kind != V_NONE ? dtype_value(dv, loc) : DT_I64;
    DONE(a, 3, "low", "high", "size", "dtype");
    if (!size || (size->kind != V_TUPLE && size->kind != V_LIST && size->kind != V_SIZE))
        error_at(loc, "randint needs a size tuple: randint(high, (n,)) or randint(low, high, (n, m))");
    int64_t l = int_arg(lo, loc, "low"), h = int_arg(hi, loc, "high");
    if (l >= h)
        error_at(loc, "random_ expects 'from' to be less than 'to', but got from=%lld >= to=%lld", (long long)l,
                 (long long)h);
    if (dt == DT_BOOL)
        error_at(loc, "randint does not produce bool tensors");
    Shape s = size->kind == V_SIZE ? size->shape : shape_from_values(size->items, size->n, loc);
    check_numel(s, NULL, loc);
    Attr at[2] = {attr_int("low", l), attr_int("high", h)};
    return mk_tensor(lw_add(OP_RANDINT, NULL, 0, dt, s, at, 2, loc));
}

/* torch.randperm(n): i64, PyTorch's CPU shuffle from the program's generator */
Value *bi_randperm(Args *a) {
    SrcLoc loc = a->loc;
    int64_t n = int_arg(lw_req(a, 0, "n"), loc, "n");
    Value *dv = lw_arg(a, -1, "dtype", NULL);
    DONE(a, 1, "n", "dtype");
    if (dv && dv->kind != V_NONE && dtype_value(dv, loc) != DT_I64)
        error_at(loc, "randperm: only dtype=torch.int64 (the default) is supported");
    if (n < 0)
        error_at(loc, "randperm: n must be non-negative, got %lld", (long long)n);
    Shape s = shape_make(1, &n);
    check_numel(s, NULL, loc);
    return mk_tensor(lw_add(OP_RANDPERM, NULL, 0, DT_I64, s, NULL, 0, loc));
}

/* x.repeat(*sizes): x tiled, as PyTorch's repeat (a copy): each axis of x (padded with leading 1s
 * to len(sizes)) repeated sizes[i] times, by an expand over an interleaved axis and a reshape */
Value *bi_repeat(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "self"), loc, "the tensor");
    Value **sv = a->pos + 1;
    int n = a->npos - 1;
    if (n == 1 && (sv[0]->kind == V_TUPLE || sv[0]->kind == V_LIST || sv[0]->kind == V_SIZE)) {
        if (sv[0]->kind == V_SIZE) {
            Value *t = lw_mk(V_TUPLE);
            for (int i = 0; i < sv[0]->shape.rank; i++)
                list_append(t, mk_int(sv[0]->shape.d[i]));
            sv[0] = t;
        }
        n = sv[0]->n;
        sv = sv[0]->items;
    }
    DONE(a, a->npos, "self");
    Shape in = TN(x)->shape;
    if (n < in.rank)
        error_at(loc, "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
    if (2 * n > MAX_RANK)
        error_at(loc, "repeat: at most %d dims", MAX_RANK / 2);
    Shape inter = {0}, big = {0}, out = {0};
    for (int i = 0; i < n; i++) {
        int64_t r = int_arg(sv[i], loc, "a repeat count");
        if (r < 0)
            error_at(loc, "Trying to create tensor with negative dimension %lld", (long long)r);
        int64_t d = i < n - in.rank ? 1 : in.d[i - (n - in.rank)];
        if (d && r > ((int64_t)1 << 34) / d) /* before r * d, which may not fit in 64 bits */
            error_at(loc, "repeat: %lld copies of a dimension of size %lld are more than tgc's limit of 2^34 elements",
                     (long long)r, (long long)d);
        inter.d[inter.rank++] = 1;
        inter.d[inter.rank++] = d;
        big.d[big.rank++] = r;
        big.d[big.rank++] = d;
        out.d[out.rank++] = r * d;
    }
    check_numel(out, NULL, loc);
    int y = lw_reshape(lw_cast(x->node, TN(x)->dtype, loc), inter, loc);
    y = lw_expand(y, big, loc);
    Value *r = lw_result(lw_reshape(lw_cast(y, TN(x)->dtype, loc), out, loc), x, NULL);
    lw_info(r->node)->fn = "RepeatBackward0";
    return r;
}

/* torch.norm(x, p=2, dim=None, keepdim=False) and x.norm(...): the p-norm (p: a number or "fro"
 * for 2, inf) over dim or every element */
Value *bi_norm(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *pv = lw_arg(a, 1, "p", mk_str("fro"));
    Value *dim = lw_arg(a, 2, "dim", lw_mk(V_NONE));
    bool keep = bool_arg(lw_arg(a, 3, "keepdim", mk_bool(false)), loc, "keepdim");
    DONE(a, 4, "input", "p", "dim", "keepdim");
    if (!dtype_is_float(TN(x)->dtype))
        error_at(loc, "norm needs a floating-point tensor, got %s", type_str(TN(x)->dtype, TN(x)->shape));
    double p = pv->kind == V_STR ? (!strcmp(pv->s, "fro") ? 2 : !strcmp(pv->s, "inf") ? INFINITY : NAN)
                                 : float_arg(pv, loc, "p");
    if (!(p > 0))
        error_at(loc, "norm: p must be a positive number, 'fro' or 'inf'");
    Value *ax = unary_op(OP_ABS, x, loc), *r;
    if (isinf(p))
        r = lw_reduce(OP_MAX, ax, dim, keep, loc);
    else if (p == 1)
        r = lw_reduce(OP_SUM, ax, dim, keep, loc);
    else {
        /* s^(1/p), and 0 where s is 0 with no gradient through the root there (PyTorch's norm
         * backward masks it; the root's derivative at 0 would make it NaN): where(s == 0, 0,
         * root(where(s == 0, 1, s))) */
        Value *s = lw_reduce(OP_SUM, p == 2 ? lw_binop("*", x, x, loc) : lw_binop("**", ax, mk_float(p), loc), dim, keep, loc);
        DType dt = TN(s)->dtype;
        Value *zero = lw_binop("==", s, mk_float(0), loc);
        int in[3] = {zero->node, const_scalar(mk_float(1), dt, loc), s->node};
        Value *safe = lw_result(lw_add(OP_WHERE, in, 3, dt, shape_scalar(), NULL, 0, loc), s, NULL);
        Value *root = p == 2 ? unary_op(OP_SQRT, safe, loc) : lw_binop("**", safe, mk_float(1 / p), loc);
        int in2[3] = {zero->node, const_scalar(mk_float(0), dt, loc), root->node};
        r = lw_result(lw_add(OP_WHERE, in2, 3, dt, shape_scalar(), NULL, 0, loc), root, NULL);
    }
    /* 1.13's torch.norm takes p='fro' over two dims to frobenius_norm, whose last op is a sqrt */
    bool fro = pv->kind == V_STR && !strcmp(pv->s, "fro");
    lw_info(r->node)->fn = fro && (dim->kind == V_TUPLE || dim->kind == V_LIST) && dim->n == 2 ? "SqrtBackward0"
                                                                                               : "NormBackward1";
    return r;
}
