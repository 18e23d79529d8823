/*
 * builtins.c: the builtin functions and methods: print(), zeros(), x.sum(), optimizer.step(), ...
 *
 * One table at the end of the file holds every builtin: its name, its handler, a code for
 * handlers that several names share (the Op of add and mul, the DType of x.float()), and where
 * the name is visible: a global function, a tensor's method, a module's or an optimizer's. The
 * global names (lower.c) and the methods an attribute finds (expr.c) come from it, so a new
 * builtin is a handler and a row. A handler takes the call's arguments, a method's receiver
 * first (x.sum(1) is sum(x, 1)), by position or keyword (lw_arg, lw_req), ends with DONE, and
 * returns the call's value.
 */
#include "lower.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- printing, Python's helpers, files ---- */

/* print(*values, sep=" ", end="\n") */
static Value *bi_print(Args *a) {
    SrcLoc loc = a->loc;
    Value *sep = lw_arg(a, -1, "sep", mk_str(" ")), *end = lw_arg(a, -1, "end", mk_str("\n"));
    DONE(a, a->npos, "sep", "end");
    if (sep->kind != V_STR || end->kind != V_STR)
        error_at(loc, "print(): sep and end must be strings");
    Value *t = text_new();
    for (int i = 0; i < a->npos; i++) {
        if (i) text_append(t, sep, NULL, loc);
        text_append(t, a->pos[i], NULL, loc);
    }
    text_append(t, end, NULL, loc);
    print_text(t, loc);
    return lw_mk(V_NONE);
}

static Value *bi_len(Args *a) {
    SrcLoc loc = a->loc;
    Value *v = lw_req(a, 0, "obj");
    DONE(a, 1, "obj");
    if (v->kind == V_LIST || v->kind == V_TUPLE || v->kind == V_DICT) return mk_int(v->n);
    if (v->kind == V_STR) return mk_int((int64_t)strlen(v->s));
    if (v->kind == V_SIZE) return mk_int(v->shape.rank);
    if (v->kind == V_DATASET || v->kind == V_LOADER) return mk_int(data_len(v));
    if (v->kind == V_TENSOR) {
        if (TN(v)->shape.rank == 0) error_at(loc, "len() of a 0-d tensor");
        return mk_int(TN(v)->shape.d[0]);
    }
    error_at(loc, "len() of %s", kind_name(v));
}

/* Python's len()/type() and the other compile-time helpers. */
static Value *py_type(Value *v, SrcLoc loc) {
    Value *t = lw_mk(V_PYTYPE);
    if (v->kind == V_INT) t->s = "int";
    else if (v->kind == V_FLOAT) t->s = "float";
    else if (v->kind == V_BOOL) t->s = "bool";
    else if (v->kind == V_STR) t->s = "str";
    else if (v->kind == V_LIST) t->s = "list";
    else if (v->kind == V_TUPLE) t->s = "tuple";
    else if (v->kind == V_TENSOR && (v->tflags & TV_PYSCALAR))
        t->s = dtype_is_float(TN(v)->dtype) ? "float" : TN(v)->dtype == DT_BOOL ? "bool" : "int";
    else if (v->kind == V_TENSOR)
        t->s = v->tflags & TV_NUMPY ? "numpy.ndarray" : "torch.Tensor";
    else
        error_at(loc, "type() of %s is not supported", kind_name(v));
    return t;
}

static Value *bi_type(Args *a) {
    Value *v = lw_req(a, 0, "obj");
    DONE(a, 1, "obj");
    return py_type(v, a->loc);
}

static Value *bi_str(Args *a) {
    SrcLoc loc = a->loc;
    Value *v = lw_req(a, 0, "obj");
    DONE(a, 1, "obj");
    if (v->kind == V_TENSOR || v->kind == V_TEXT) {
        Value *t = text_new();
        text_append(t, v, NULL, loc);
        return t;
    }
    return mk_str(value_str(v, loc));
}

/* list(x), tuple(x); code: V_LIST or V_TUPLE */
static Value *bi_list(Args *a) {
    SrcLoc loc = a->loc;
    Value *v = lw_req(a, 0, "iterable");
    DONE(a, 1, "iterable");
    if (v->kind == V_SIZE) {
        Value *r = lw_mk((VKind)a->code);
        r->n = v->shape.rank;
        r->items = ir_alloc(sizeof(Value *) * (size_t)(r->n + 1));
        for (int i = 0; i < r->n; i++) r->items[i] = mk_int(v->shape.d[i]);
        return r;
    }
    if (v->kind != V_LIST && v->kind != V_TUPLE)
        error_at(loc, "%s() of %s is not supported", a->fname, kind_name(v));
    Value *r = lw_mk((VKind)a->code);
    r->n = v->n;
    r->items = v->items;
    return r;
}

/* Python's int(x), float(x) and bool(x) of a number (x.int() and the like are casts, below). */
/* int(t), float(t), bool(t) of a one-element tensor (an item() value too): a Python number, known
 * when the program runs. */
static Value *py_number_of(Value *t, DType dt, SrcLoc loc) {
    Node *n = TN(t);
    if (shape_numel(n->shape) != 1)
        error_at(loc, "only one element tensors can be converted to Python scalars (this one is %s)",
                 type_str(n->dtype, n->shape));
    int x = lw_reshape(t->node, shape_scalar(), loc);
    x = dt == DT_BOOL ? lw_add2(OP_NE, x, const_scalar(mk_int(0), n->dtype, loc), loc) : lw_cast(x, dt, loc);
    Value *r = lw_result(x, NULL, NULL);
    r->tflags = TV_PYSCALAR;
    return r;
}

static Value *bi_py_int(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = lw_req(a, 0, "self");
    DONE(a, 1, "x");
    if (t->kind == V_TENSOR)
        return py_number_of(t, DT_I64, loc);
    double d = trunc(float_arg(t, loc, "int()"));
    if (t->kind == V_INT || t->kind == V_BOOL)
        return mk_int(t->i);
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        error_at(loc, "int(): %s does not fit in 64 bits", py_float_repr(t->f));
    return mk_int((int64_t)d);
}

static Value *bi_py_float(Args *a) {
    Value *t = lw_req(a, 0, "self");
    DONE(a, 1, "x");
    if (t->kind == V_TENSOR)
        return py_number_of(t, DT_F64, a->loc);
    if (t->kind == V_STR) { /* float("nan"), float("-inf"), float("1e-3"), as Python reads them */
        const char *p = t->s;
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        char *end;
        double v = strtod(p, &end);
        while (*end == ' ' || *end == '\t' || *end == '\n')
            end++;
        bool hex = strchr(p, 'x') || strchr(p, 'X'); /* strtod reads 0x1p3; Python's float() does not */
        if (end == p || *end || hex)
            error_at(a->loc, "could not convert string to float: '%s'", t->s);
        return mk_float(v);
    }
    return mk_float(float_arg(t, a->loc, "float()"));
}

static Value *bi_py_bool(Args *a) {
    Value *t = lw_req(a, 0, "self");
    DONE(a, 1, "x");
    if (t->kind == V_TENSOR)
        return py_number_of(t, DT_BOOL, a->loc);
    return mk_bool(float_arg(t, a->loc, "bool()") != 0);
}

static Value *bi_manual_seed(Args *a) {
    SrcLoc loc = a->loc;
    Value *s = lw_req(a, 0, "seed");
    DONE(a, 1, "seed");
    if (s->kind == V_TENSOR) { /* a seed known at run time (an option) */
        Node *n = TN(s);
        if (shape_numel(n->shape) != 1 || dtype_is_float(n->dtype))
            error_at(loc, "manual_seed() takes an int, not %s", type_str(n->dtype, n->shape));
        int x = lw_cast(lw_reshape(s->node, shape_scalar(), loc), DT_I64, loc);
        lw_add(OP_SEED, &x, 1, DT_F32, shape_scalar(), NULL, 0, loc);
        return lw_mk(V_NONE);
    }
    int64_t seed = int_arg(s, loc, "seed");
    Attr at = attr_int("seed", seed);
    lw_add(OP_SEED, NULL, 0, DT_F32, shape_scalar(), &at, 1, loc);
    return lw_mk(V_NONE);
}

/* ---- modules, autograd, losses, optimizers ---- */

static Value *bi_parameters(Args *a) {
    Value *m = lw_req(a, 0, "module");
    DONE(a, 1, "module");
    if (m->kind != V_MODULE)
        error_at(a->loc, "parameters() needs a module, got %s", kind_name(m));
    Value *l = lw_mk(V_LIST);
    collect_params(m->mod, &l->items, &l->n);
    return l;
}

/* module.eval(), module.train(mode=True): returns the module; code: the mode (train's default) */
static Value *bi_train(Args *a) {
    SrcLoc loc = a->loc;
    bool train = a->code;
    Value *m = lw_req(a, 0, "module"), *mode = train ? lw_arg(a, 1, "mode", mk_bool(true)) : mk_bool(false);
    DONE(a, train ? 2 : 1, "module", "mode");
    if (m->kind != V_MODULE)
        error_at(loc, "%s() needs a module, got %s", a->fname, kind_name(m));
    set_eval(m->mod, !bool_arg(mode, loc, "mode"));
    return m;
}

static Value *bi_backward(Args *a) {
    Value *y = lw_req(a, 0, "tensor"), *gr = lw_arg(a, 1, "gradient", NULL);
    DONE(a, 2, "tensor", "gradient");
    lw_backward(y, gr, a->loc);
    return lw_mk(V_NONE);
}

static Value *bi_requires_grad_(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = lw_req(a, 0, "self"), *flag = lw_arg(a, 1, "requires_grad", mk_bool(true));
    DONE(a, 2, "self", "requires_grad");
    if (t->kind == V_MODULE)
        module_requires_grad(t->mod, bool_arg(flag, loc, "requires_grad"), loc);
    else
        set_requires_grad(t, bool_arg(flag, loc, "requires_grad"), loc);
    return t;
}

static Value *bi_zero_grad(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = lw_req(a, 0, "self"), *none = lw_arg(a, 1, "set_to_none", mk_bool(false));
    DONE(a, 2, "self", "set_to_none");
    if (bool_arg(none, loc, "set_to_none"))
        error_at(loc, "zero_grad(set_to_none=True) is not supported; gradients are zeroed");
    if (t->kind == V_OPTIM)
        zero_grads(t->optim->params, t->optim->nparams, loc);
    else if (t->kind == V_MODULE) {
        Value **ps = NULL;
        int n = 0;
        collect_params(t->mod, &ps, &n);
        zero_grads(ps, n, loc);
    } else
        error_at(loc, "zero_grad() belongs to a module or an optimizer, not %s", kind_name(t));
    return lw_mk(V_NONE);
}

static Value *bi_step(Args *a) {
    Value *o = lw_req(a, 0, "self");
    DONE(a, 1, "self");
    if (o->kind == V_SCHED) {
        scheduler_step(o->sched, a->loc);
        return lw_mk(V_NONE);
    }
    if (o->kind != V_OPTIM)
        error_at(a->loc, "step() belongs to an optimizer, not %s", kind_name(o));
    optimizer_step(o->optim, a->loc);
    return lw_mk(V_NONE);
}

/* SGD(...), Adam(...), AdamW(...), by the name called */
static Value *bi_optimizer(Args *a) { return make_optimizer(a->fname, a); }

/* StepLR(optimizer, ...), CosineAnnealingLR(...), ..., by the name called */
static Value *bi_scheduler(Args *a) { return make_scheduler(a->fname, a); }

/* ---- creation ---- */

/* tensor(data), as_tensor(data), array(data): numpy's when called so (float64 by default) */
static Value *bi_tensor(Args *a) {
    SrcLoc loc = a->loc;
    Value *d = lw_req(a, 0, "data"), *dt = lw_arg(a, 1, "dtype", NULL);
    Value *rg = lw_arg(a, -1, "requires_grad", NULL);
    DONE(a, 2, "data", "dtype", "requires_grad");
    Value *t = tensor_literal(d, dt, a->numpy || !strcmp(a->fname, "array"), loc);
    if (rg && bool_arg(rg, loc, "requires_grad"))
        set_requires_grad(t, true, loc);
    return t;
}

/* from_numpy(a), t.numpy(): the same storage seen by torch or numpy; code: the TV_NUMPY flag or 0 */
static Value *bi_from_numpy(Args *a) {
    Value *t = tensor_arg(lw_req(a, 0, "array"), a->loc, "the argument");
    DONE(a, 1, "array");
    /* shares storage: same group, no view step */
    Value *r = lw_mk(V_TENSOR);
    *r = *t;
    r->stamp = 0;
    r->tflags = (unsigned)a->code;
    return r;
}

static DType opt_dtype(Args *a, int pos, DType dflt) {
    Value *d = lw_arg(a, pos, "dtype", NULL);
    return d && d->kind != V_NONE ? dtype_value(d, a->loc) : dflt;
}

/* zeros(2, 3), zeros((2, 3)), zeros(shape) and the dtype= keyword. */
static Shape size_args(Args *a) {
    if (a->npos == 0) {
        Value *s = lw_arg(a, -1, "size", NULL);
        if (!s)
            error_at(a->loc, "%s() needs a size", a->fname);
        return shape_from_values(&s, 1, a->loc);
    }
    return shape_from_values(a->pos, a->npos, a->loc);
}

/* zeros(...), ones(...), empty(...); code: the value they hold */
static Value *bi_zeros(Args *a) {
    SrcLoc loc = a->loc;
    DType dt = opt_dtype(a, -1, a->numpy ? DT_F64 : DT_F32);
    Value *rg = lw_arg(a, -1, "requires_grad", NULL);
    Shape s = size_args(a);
    DONE(a, a->npos, "dtype", "size", "requires_grad");
    Value *t = lw_filled(s, dt, mk_int(a->code), loc);
    if (rg && bool_arg(rg, loc, "requires_grad"))
        set_requires_grad(t, true, loc);
    return t;
}

static Value *bi_full(Args *a) {
    SrcLoc loc = a->loc;
    Value *sz = lw_req(a, 0, "size"), *fv = lw_req(a, 1, "fill_value");
    float_arg(fv, loc, "fill_value");
    DType dt = opt_dtype(a, 2, default_dtype_for(value_category(fv)));
    DONE(a, 3, "size", "fill_value", "dtype");
    return lw_filled(shape_from_values(&sz, 1, loc), dt, fv, loc);
}

static Value *random_tensor(bool normal, Shape s, DType dt, SrcLoc loc) {
    if (!dtype_is_float(dt))
        error_at(loc, "%s needs a floating-point dtype, got %s", normal ? "randn" : "rand", dtype_torch(dt));
    Attr a[2] = {attr_float(normal ? "mean" : "from", 0), attr_float(normal ? "std" : "to", 1)};
    return mk_tensor(lw_add(normal ? OP_RANDN : OP_RAND, NULL, 0, dt, s, a, 2, loc));
}

/* rand(...), randn(...); code: OP_RAND or OP_RANDN */
static Value *bi_rand(Args *a) {
    SrcLoc loc = a->loc;
    DType dt = opt_dtype(a, -1, DT_F32);
    Value *rg = lw_arg(a, -1, "requires_grad", NULL);
    Shape s = size_args(a);
    DONE(a, a->npos, "dtype", "size", "requires_grad");
    Value *t = random_tensor(a->code == OP_RANDN, s, dt, loc);
    if (rg && bool_arg(rg, loc, "requires_grad"))
        set_requires_grad(t, true, loc);
    return t;
}

/* zeros_like, ones_like, empty_like, full_like, rand_like, randn_like, by the name called */
static Value *bi_like(Args *a) {
    SrcLoc loc = a->loc;
    const char *f = a->fname;
    Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *fv = f[0] == 'f' ? lw_req(a, 1, "fill_value") : NULL;
    DType dt = opt_dtype(a, -1, TN(t)->dtype);
    DONE(a, fv ? 2 : 1, "input", "fill_value", "dtype");
    Shape s = TN(t)->shape;
    if (!strncmp(f, "rand", 4))
        return random_tensor(f[4] == 'n', s, dt, loc);
    if (fv)
        float_arg(fv, loc, "fill_value");
    return lw_filled(s, dt, fv ? fv : mk_int(f[0] == 'o' ? 1 : 0), loc);
}

static Value *bi_arange(Args *a) {
    SrcLoc loc = a->loc;
    Value *p0 = lw_req(a, 0, "end"), *p1 = lw_arg(a, 1, "end", NULL), *p2 = lw_arg(a, 2, "step", NULL);
    Value *start = p1 ? p0 : mk_int(0), *end = p1 ? p1 : p0, *step = p2 ? p2 : mk_int(1);
    bool fl = start->kind == V_FLOAT || end->kind == V_FLOAT || step->kind == V_FLOAT;
    DType dt = opt_dtype(a, -1, fl ? DT_F32 : DT_I64);
    DONE(a, 3, "start", "end", "step", "dtype");
    double s0 = float_arg(start, loc, "start"), s1 = float_arg(end, loc, "end"), st = float_arg(step, loc, "step");
    if (st == 0 || (st > 0 && s1 < s0) || (st < 0 && s1 > s0))
        error_at(loc, "arange: the step %g does not go from %g toward %g", st, s0, s1);
    if (dt == DT_BOOL)
        error_at(loc, "arange does not produce bool tensors");
    double count = ceil((s1 - s0) / st);
    if (!(count >= 0 && count <= (double)((int64_t)1 << 32)))
        error_at(loc, "arange of %s elements is too large", py_float_repr(count));
    int64_t n = (int64_t)count;
    Attr at[2] = {attr_float("start", s0), attr_float("step", st)};
    return mk_tensor(lw_add(OP_ARANGE, NULL, 0, dt, shape_make(1, &n), at, 2, loc));
}

/* ---- elementwise ---- */

/* add(x, y, out=None) and the other binary ops; code: the Op */
static Value *bi_binary(Args *a) {
    SrcLoc loc = a->loc;
    Op op = (Op)a->code;
    if (op == OP_POW && a->npos < 2) /* x.pow() */
        error_at(loc, "'%s' cannot be called this way", a->fname);
    Value *x = lw_req(a, 0, "input"), *y = lw_req(a, 1, "other"), *out = lw_arg(a, -1, "out", NULL);
    DONE(a, 2, "input", "other", "out");
    Value *r = tensor_binop(op, x, y, loc);
    if (out) {
        assign_into(out, r, loc);
        return out;
    }
    return r;
}

/* isnan(x), isinf(x), isfinite(x), as torch (a bool tensor) and math (a bool, for a number known
 * now) compute them; code: 0, 1, 2. On a tensor: x != x, |x| == inf, |x| < inf, exact for every
 * float and False (True for isfinite) for integers. A number known only at run time (loss.item())
 * is a one-element tensor here, so `if math.isnan(loss.item())` is an if decided at run time. */
static Value *bi_isnan(Args *a) {
    Value *x = lw_req(a, 0, "input");
    DONE(a, 1, "input");
    if (is_scalar(x)) {
        double v = num(x);
        return mk_bool(a->code == 0 ? isnan(v) : a->code == 1 ? isinf(v) : isfinite(v));
    }
    tensor_arg(x, a->loc, "the input");
    if (a->code == 0)
        return tensor_binop(OP_NE, x, x, a->loc);
    Value *m = unary_op(OP_ABS, x, a->loc);
    return tensor_binop(a->code == 1 ? OP_EQ : OP_LT, m, mk_float(INFINITY), a->loc);
}

/* exp(x) and the other unary ops; code: the Op */
static Value *bi_unary(Args *a) {
    Value *x = lw_req(a, 0, "input");
    DONE(a, 1, "input");
    return unary_op((Op)a->code, x, a->loc);
}

/* In-place methods: x.add_(y), x.relu_(), x.zero_(), x.fill_(v), x.copy_(src). Each writes its
 * result back through x's views and returns x. */
static Value *bi_binary_(Args *a) { /* code: the Op */
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
    Value *y = lw_req(a, 1, "other");
    DONE(a, 2, "other");
    int x = tensor_binop((Op)a->code, t, y, loc)->node;
    write_through(t, inplace_result(t, x, loc), loc);
    return t;
}

static Value *bi_unary_(Args *a) { /* code: the Op */
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
    DONE(a, 1, "self");
    int x = unary_op((Op)a->code, t, loc)->node;
    write_through(t, inplace_result(t, x, loc), loc);
    return t;
}

static Value *bi_fill_(Args *a) { /* zero_() and fill_(value), by the name called */
    SrcLoc loc = a->loc;
    bool zero = a->fname[0] == 'z';
    Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
    Value *v = zero ? mk_int(0) : lw_req(a, 1, "value");
    DONE(a, zero ? 1 : 2, "value");
    assign_into(t, v, loc);
    return t;
}

static Value *bi_copy_(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
    Value *src = lw_req(a, 1, "src");
    DONE(a, 2, "src");
    assign_into(t, src, loc);
    return t;
}

/* ---- reductions ---- */

/* sum(x, dim, keepdim), mean(...); code: OP_SUM or OP_MEAN */
static Value *bi_sum(Args *a) {
    Value *x = lw_req(a, 0, "input"), *dim = lw_arg(a, 1, "dim", NULL), *kd = lw_arg(a, 2, "keepdim", mk_bool(false));
    DONE(a, 3, "input", "dim", "keepdim");
    Value *r = lw_reduce((Op)a->code, x, dim, bool_arg(kd, a->loc, "keepdim"), a->loc);
    /* PyTorch names the backward by the overload called: any dim (None and () too) is the second */
    return dim ? named_fn(r, x, a->code == OP_SUM ? "SumBackward1" : "MeanBackward1") : r;
}

/* max(x), max(x, dim) -> (values, indices), max(x, y) elementwise, and min alike; code: OP_MAX or OP_MIN */
static Value *bi_max(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *d = lw_arg(a, 1, "dim", NULL), *kd = lw_arg(a, 2, "keepdim", mk_bool(false));
    DONE(a, 3, "input", "dim", "keepdim");
    Op rop = (Op)a->code;
    if (d && d->kind == V_TENSOR)
        return tensor_binop(rop == OP_MAX ? OP_MAXIMUM : OP_MINIMUM, x, d, loc);
    if (!d)
        return lw_reduce(rop, x, NULL, false, loc);
    bool keep = bool_arg(kd, loc, "keepdim");
    Value *vals = lw_reduce(rop, x, d, keep, loc);
    /* max(dim) returns indices: its gradient goes to the first maximum, max() shares it among ties */
    Node *vn = TN(vals);
    Attr *na = ir_alloc(sizeof(Attr) * (size_t)(vn->nattr + 1));
    memcpy(na, vn->attr, sizeof(Attr) * (size_t)vn->nattr);
    na[vn->nattr] = attr_int("indices", 1);
    vn->attr = na;
    vn->nattr++;
    /* min's indices: the first maximum of -x (of -x - 1 on integers, which does not overflow) */
    Value *src = x;
    if (rop == OP_MIN) {
        src = unary_op(OP_NEG, x, loc);
        if (!dtype_is_float(TN(x)->dtype))
            src = lw_binop("-", src, mk_int(1), loc);
    }
    named_fn(vals, x, rop == OP_MAX ? "MaxBackward0" : "MinBackward0"); /* max(dim), even over every axis */
    Value *r = lw_tuple2(vals, lw_reduce(OP_ARGMAX, src, d, keep, loc));
    r->s = rop == OP_MAX ? "max" : "min"; /* a named tuple: .values, .indices */
    return r;
}

static Value *bi_argmax(Args *a) {
    Value *x = lw_req(a, 0, "input"), *d = lw_arg(a, 1, "dim", NULL), *kd = lw_arg(a, 2, "keepdim", mk_bool(false));
    DONE(a, 3, "input", "dim", "keepdim");
    return lw_reduce(OP_ARGMAX, x, d, bool_arg(kd, a->loc, "keepdim"), a->loc);
}

/* ---- shapes and views ---- */

/* view/reshape sizes with one -1 inferred. */
static Shape infer_view_shape(Value **v, int n, int64_t numel, SrcLoc loc) {
    if (n == 1 && (v[0]->kind == V_TUPLE || v[0]->kind == V_LIST))
        return infer_view_shape(v[0]->items, v[0]->n, numel, loc);
    if (n == 1 && v[0]->kind == V_SIZE)
        return v[0]->shape;
    if (n > MAX_RANK)
        error_at(loc, "tensors have at most %d dimensions", MAX_RANK);
    Shape s = {.rank = n};
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        s.d[i] = int_arg(v[i], loc, "a size");
        if (s.d[i] == -1) {
            if (infer >= 0 && numel >= 0)
                error_at(loc, "only one dimension can be inferred (-1)");
            infer = i;
        } else if (s.d[i] < 0)
            error_at(loc, "invalid size %lld", (long long)s.d[i]);
        else if (__builtin_mul_overflow(known, s.d[i], &known))
            error_at(loc, "shape %s is invalid for a tensor of %lld elements", shape_str(s), (long long)numel);
    }
    if (numel < 0)
        return s; /* expand: -1 keeps a size, no element count to match */
    if (infer >= 0) {
        if (known == 0 || numel % known)
            error_at(loc, "shape %s is invalid for a tensor of %lld elements", shape_str(s), (long long)numel);
        s.d[infer] = numel / known;
    }
    if (shape_numel(s) != numel)
        error_at(loc, "shape %s is invalid for a tensor of %lld elements", shape_str(s), (long long)numel);
    return s;
}

/* x.view(...), which must be a view, and x.reshape(...), which may copy, by the name called */
static Value *bi_view(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *sh = lw_arg(a, -1, "shape", NULL);
    Shape s;
    if (sh) {
        DONE(a, 1, "shape");
        s = infer_view_shape(&sh, 1, shape_numel(TN(t)->shape), loc);
    } else {
        DONE(a, a->npos, "shape");
        s = infer_view_shape(a->pos + 1, a->npos - 1, shape_numel(TN(t)->shape), loc);
    }
    if (a->fname[0] == 'r')
        return named_fn(reshape_or_copy(t, s, loc), t, t->strided ? "CloneBackward0" : "ReshapeAliasBackward0");
    if (t->strided && !same_but_ones(TN(t)->shape, s))
        error_at(loc, "view size is not compatible with the input's layout (a transposed or strided "
                      "slice); use .reshape(...), which copies");
    return view_reshape(t, s, loc);
}

static Value *bi_flatten(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    int64_t s = int_arg(lw_arg(a, 1, "start_dim", mk_int(0)), loc, "start_dim");
    int64_t e = int_arg(lw_arg(a, 2, "end_dim", mk_int(-1)), loc, "end_dim");
    DONE(a, 3, "input", "start_dim", "end_dim");
    return lw_flatten(t, s, e, loc);
}

static Value *bi_transpose(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *d0 = lw_req(a, 1, "dim0"), *d1 = lw_req(a, 2, "dim1");
    DONE(a, 3, "input", "dim0", "dim1");
    return named_fn(lw_transpose(t, d0, d1, loc), t, "TransposeBackward0");
}

static Value *bi_t(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    DONE(a, 1, "input");
    if (TN(t)->shape.rank > 2)
        error_at(loc, "t() expects a tensor of rank 2 or less, got %s", type_str(TN(t)->dtype, TN(t)->shape));
    return TN(t)->shape.rank < 2 ? t : named_fn(lw_transpose(t, mk_int(0), mk_int(1), loc), t, "TBackward0");
}

static Value *bi_permute(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value **dims = a->pos + 1;
    int nd = a->npos - 1;
    if (nd == 1 && (dims[0]->kind == V_TUPLE || dims[0]->kind == V_LIST)) {
        nd = dims[0]->n;
        dims = dims[0]->items;
    }
    DONE(a, a->npos, "input");
    int r = TN(t)->shape.rank;
    if (nd != r)
        error_at(loc, "permute: %d dims given for a tensor of rank %d", nd, r);
    int64_t perm[MAX_RANK];
    bool seen[MAX_RANK] = {0};
    for (int i = 0; i < nd; i++) {
        perm[i] = axis_arg(dims[i], r, loc);
        if (seen[perm[i]])
            error_at(loc, "permute: dim %lld repeated", (long long)perm[i]);
        seen[perm[i]] = true;
    }
    return lw_permute(t, perm, r, loc);
}

static Value *bi_expand(Args *a) {
    SrcLoc loc = a->loc;
    /* a broadcast copy (PyTorch returns a view, but writing into an expanded view is an error there) */
    Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Shape s = infer_view_shape(a->pos + 1, a->npos - 1, -1, loc);
    DONE(a, a->npos, "input");
    Shape in = TN(t)->shape;
    for (int i = 0; i < s.rank; i++) {
        int j = i - (s.rank - in.rank);
        if (s.d[i] == -1 && j >= 0)
            s.d[i] = in.d[j];
    }
    /* to its own shape too PyTorch records an ExpandBackward0: a copy of its own here, which names it */
    int e = lw_expand(t->node, s, loc);
    if (e == t->node)
        e = lw_add1(OP_CAST, t->node, NULL, 0, loc), N(e)->dtype = TN(t)->dtype;
    return named_fn(lw_result(e, t, NULL), t, "ExpandBackward0");
}

/* unsqueeze(x, dim), squeeze(x, dim=None), by the name called */
static Value *bi_squeeze(Args *a) {
    SrcLoc loc = a->loc;
    bool un = a->fname[0] == 'u';
    Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *d = lw_arg(a, 1, "dim", NULL);
    DONE(a, 2, "input", "dim");
    Shape in = TN(t)->shape, s = {0};
    if (un) {
        if (!d) error_at(loc, "unsqueeze() needs a dim");
        if (in.rank == MAX_RANK) error_at(loc, "unsqueeze: rank would exceed %d", MAX_RANK);
        int64_t k = int_arg(d, loc, "dim");
        if (k < -(in.rank + 1) || k > in.rank) error_at(loc, "unsqueeze: dim %lld out of range", (long long)k);
        if (k < 0) k += in.rank + 1;
        for (int i = 0; i <= in.rank; i++)
            s.d[s.rank++] = i == k ? 1 : in.d[i - (i > k)];
    } else {
        int k = d ? axis_arg(d, in.rank, loc) : -1;
        for (int i = 0; i < in.rank; i++)
            if (!(in.d[i] == 1 && (k < 0 || k == i)))
                s.d[s.rank++] = in.d[i];
    }
    return named_fn(view_reshape(t, s, loc), t,
                    un ? "UnsqueezeBackward0" : d ? "SqueezeBackward1" : "SqueezeBackward0");
}

static Value *bi_cat(Args *a) {
    SrcLoc loc = a->loc;
    Value *l = lw_req(a, 0, "tensors"), *d = lw_arg(a, 1, "dim", NULL);
    if (!d) d = lw_arg(a, -1, "axis", mk_int(0));
    DONE(a, 2, "tensors", "dim", "axis");
    if ((l->kind != V_LIST && l->kind != V_TUPLE) || l->n == 0)
        error_at(loc, "cat() needs a non-empty list of tensors");
    DType dt = DT_BOOL;
    for (int i = 0; i < l->n; i++) {
        tensor_arg(l->items[i], loc, "each item of cat()'s list");
        dt = i ? promote_types(dt, TN(l->items[i])->dtype) : TN(l->items[i])->dtype;
    }
    int axis = axis_arg(d, TN(l->items[0])->shape.rank, loc);
    int *in = ir_alloc(sizeof(int) * (size_t)l->n);
    for (int i = 0; i < l->n; i++)
        in[i] = lw_cast(l->items[i]->node, dt, loc);
    Attr at = attr_int("axis", axis);
    return lw_result(lw_add(OP_CAT, in, l->n, dt, shape_scalar(), &at, 1, loc), l->items[0], NULL);
}

/* matmul(x, y, out=None), and mm and dot alike (mm takes 2-D tensors only) */
static Value *bi_matmul(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input"), *y = tensor_arg(lw_req(a, 1, "other"), loc, "other");
    Value *out = lw_arg(a, -1, "out", NULL);
    DONE(a, 2, "input", "other", "out");
    if (!strcmp(a->fname, "mm") && (TN(x)->shape.rank != 2 || TN(y)->shape.rank != 2))
        error_at(loc, "mm() needs two 2-D tensors; use matmul for broadcasting");
    Value *r = lw_matmul(x, y, loc);
    if (out) {
        assign_into(out, r, loc);
        return out;
    }
    return r;
}

/* ---- a tensor's queries and conversions ---- */

static Value *bi_item(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
    DONE(a, 1, "self");
    if (shape_numel(TN(t)->shape) != 1)
        error_at(loc, "item() needs a tensor with one element, got %s", type_str(TN(t)->dtype, TN(t)->shape));
    /* a Python float is a double and a Python int an int64: item() widens exactly */
    DType pdt = dtype_is_float(TN(t)->dtype) ? DT_F64 : TN(t)->dtype == DT_BOOL ? DT_BOOL : DT_I64;
    /* a Python number: a constant for autograd, and a value of its own even where the tensor is
     * already a 0-d double, so that the tensor's requires_grad, now or set later, is not the
     * number's (simplify removes the copy) */
    bool saved = L.no_grad;
    L.no_grad = true;
    int x = lw_cast(lw_reshape(t->node, shape_scalar(), loc), pdt, loc);
    if (x == t->node) {
        Attr s = ints_attr("shape", NULL, 0);
        x = lw_add1(OP_RESHAPE, x, &s, 1, loc);
    }
    L.no_grad = saved;
    Value *r = mk_tensor(x);
    r->tflags = TV_PYSCALAR;
    return r;
}

static Value *bi_size(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver"), *d = lw_arg(a, 1, "dim", NULL);
    DONE(a, 2, "self", "dim");
    if (d) {
        if (TN(t)->shape.rank == 0)
            error_at(loc, "size(dim) of a 0-d tensor: it has no dimensions");
        return mk_int(TN(t)->shape.d[axis_arg(d, TN(t)->shape.rank, loc)]);
    }
    Value *s = lw_mk(V_SIZE);
    s->shape = TN(t)->shape;
    return s;
}

/* x.dim(), x.numel(), by the name called */
static Value *bi_dim(Args *a) {
    Value *t = tensor_arg(lw_req(a, 0, "self"), a->loc, "the receiver");
    DONE(a, 1, "self");
    if (a->fname[0] == 'i') /* is_contiguous: not a strided view */
        return mk_bool(!t->strided);
    return mk_int(a->fname[0] == 'd' ? TN(t)->shape.rank : shape_numel(TN(t)->shape));
}

/* t as dtype dt: t itself when it is already (unless `copy`, as clone() asks), else a new tensor. */
static Value *converted(Value *t, DType dt, bool copy, SrcLoc loc) {
    if (dt == TN(t)->dtype && !copy)
        return t;
    int x = dt == TN(t)->dtype ? lw_add1(OP_CAST, t->node, NULL, 0, loc) : lw_cast(t->node, dt, loc);
    N(x)->dtype = dt;
    return lw_result(x, t, NULL);
}

/* x.float(), x.double(), x.long(), x.int(), x.bool(); code: the DType */
static Value *bi_cast(Args *a) {
    Value *t = tensor_arg(lw_req(a, 0, "self"), a->loc, "the receiver");
    DONE(a, 1, "self");
    return converted(t, (DType)a->code, false, a->loc);
}

static Value *bi_clone(Args *a) {
    Value *t = tensor_arg(lw_req(a, 0, "self"), a->loc, "the receiver");
    DONE(a, 1, "self");
    return named_fn(converted(t, TN(t)->dtype, true, a->loc), t, "CloneBackward0");
}

/* The file is compiled for a GPU (--target cuda): torch.cuda.is_available() is True there. Where a
 * program's tensor work runs is the compiler's choice, so .to(device) moves nothing on any target. */
static bool target_gpu;

void lower_target_gpu(bool gpu) { target_gpu = gpu; }
bool lower_on_gpu(void) { return target_gpu; }

/* Is d a device this target has ("cpu"; "cuda", "cuda:N" on a GPU target)? */
static bool device_here(const char *d) { return !strcmp(d, "cpu") || (target_gpu && !strncmp(d, "cuda", 4)); }

/* x.to(dtype), x.to("cpu"), x.to(device) */
static Value *bi_to(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
    Value *d = lw_req(a, 1, "dtype");
    if (d->kind == V_DEVICE || d->kind == V_STR) {
        DONE(a, 2, "dtype");
        const char *dev = d->s;
        if (!device_here(dev))
            error_at(loc, "to(\"%s\"): this program is compiled for the CPU (tgc build --target cuda runs its "
                          "loops' tensor work on a GPU, and then a CUDA device is there)", dev);
        return t; /* the tensor already lives where the program's code runs it */
    }
    DType dt = dtype_value(d, loc);
    DONE(a, 2, "dtype");
    return converted(t, dt, false, loc);
}

/* torch.device("cpu"), torch.device("cuda:0") */
static Value *bi_device(Args *a) {
    Value *s = lw_req(a, 0, "type");
    DONE(a, 1, "type");
    if (s->kind == V_DEVICE)
        return s;
    if (s->kind != V_STR)
        error_at(a->loc, "torch.device() takes a string such as \"cpu\" or \"cuda:0\", not %s", kind_name(s));
    const char *d = s->s;
    bool cuda = !strncmp(d, "cuda", 4) && (!d[4] || (d[4] == ':' && d[5] >= '0' && d[5] <= '9'));
    if (strcmp(d, "cpu") && !cuda)
        error_at(a->loc, "Expected one of cpu, cuda device type at start of device string: %s", d);
    Value *v = lw_mk(V_DEVICE);
    v->s = d;
    return v;
}

/* torch.cuda.is_available(): True when the file is compiled for a GPU (--target cuda). */
static Value *bi_cuda_available(Args *a) {
    DONE(a, 0, "");
    return mk_bool(target_gpu);
}

/* net.to(device): the model stays where the program's code runs it, on every target. */
static Value *bi_module_to(Args *a) {
    Value *m = lw_req(a, 0, "self"), *d = lw_req(a, 1, "device");
    DONE(a, 2, "device");
    if ((d->kind != V_DEVICE && d->kind != V_STR) || !device_here(d->s))
        error_at(a->loc, "%s.to(%s): this program is compiled for the CPU (tgc build --target cuda runs its loops' "
                         "tensor work on a GPU, and then a CUDA device is there)", m->mod->cls,
                 d->kind == V_DEVICE || d->kind == V_STR ? d->s : kind_name(d));
    return m;
}

static Value *bi_type_as(Args *a) {
    SrcLoc loc = a->loc;
    Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
    DType dt = TN(tensor_arg(lw_req(a, 1, "other"), loc, "other"))->dtype;
    DONE(a, 2, "other");
    return converted(t, dt, false, loc);
}

/* ---- neural-network functions ---- */

static Value *bi_conv2d(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input"), *w = tensor_arg(lw_req(a, 1, "weight"), loc, "weight");
    Value *b = lw_arg(a, 2, "bias", NULL);
    Value *st = lw_arg(a, 3, "stride", mk_int(1)), *pd = lw_arg(a, 4, "padding", mk_int(0));
    Value *dl = lw_arg(a, 5, "dilation", mk_int(1)), *gr = lw_arg(a, 6, "groups", mk_int(1));
    DONE(a, 7, "input", "weight", "bias", "stride", "padding", "dilation", "groups");
    return conv2d_call(x, w, b, st, pd, dl, gr, loc);
}

static Value *bi_linear(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input"), *w = tensor_arg(lw_req(a, 1, "weight"), loc, "weight");
    Value *b = lw_arg(a, 2, "bias", NULL);
    DONE(a, 3, "input", "weight", "bias");
    return linear_call(x, w, b, loc);
}

static Value *bi_adaptive_avg_pool2d(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    int64_t os[2];
    pair_value(lw_req(a, 1, "output_size"), os, loc, "output_size", NULL);
    DONE(a, 2, "input", "output_size");
    if (os[0] < 1 || os[1] < 1)
        error_at(loc, "adaptive_avg_pool2d: output_size must be positive");
    return adaptive_avg_pool(x, os, loc);
}

static Value *bi_avg_pool2d(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    int64_t k[2], st[2], pd[2];
    pair_value(lw_req(a, 1, "kernel_size"), k, loc, "kernel_size", NULL);
    Value *sv = lw_arg(a, 2, "stride", lw_mk(V_NONE));
    if (sv->kind == V_NONE) { st[0] = k[0]; st[1] = k[1]; }
    else pair_value(sv, st, loc, "stride", NULL);
    pair_value(lw_arg(a, 3, "padding", mk_int(0)), pd, loc, "padding", NULL);
    bool cm = bool_arg(lw_arg(a, 4, "ceil_mode", mk_bool(false)), loc, "ceil_mode");
    bool incl = bool_arg(lw_arg(a, 5, "count_include_pad", mk_bool(true)), loc, "count_include_pad");
    DONE(a, 6, "input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad");
    return avgpool_call(x, k, st, pd, cm, incl, loc);
}

static Value *bi_max_pool2d(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    int64_t k[2], st[2], pd[2], dl[2];
    pair_value(lw_req(a, 1, "kernel_size"), k, loc, "kernel_size", NULL);
    Value *s = lw_arg(a, 2, "stride", lw_mk(V_NONE));
    if (s->kind == V_NONE) { st[0] = k[0]; st[1] = k[1]; }
    else pair_value(s, st, loc, "stride", NULL);
    pair_value(lw_arg(a, 3, "padding", mk_int(0)), pd, loc, "padding", NULL);
    pair_value(lw_arg(a, 4, "dilation", mk_int(1)), dl, loc, "dilation", NULL);
    bool cm = bool_arg(lw_arg(a, 5, "ceil_mode", mk_bool(false)), loc, "ceil_mode");
    DONE(a, 6, "input", "kernel_size", "stride", "padding", "dilation", "ceil_mode");
    return maxpool_call(x, k, st, pd, dl, cm, loc);
}

/* ---- the table ---- */

/* The `where` column, short: a global function, a method of a tensor, a module, an optimizer. */
enum { G = BI_GLOBAL, T = BI_TENSOR, M = BI_MODULE, O = BI_OPTIM };

/*
 * Every builtin: name, handler, code (for a handler several names share: what this name means
 * to it), where the name is visible. Names in the same row group are aliases or siblings.
 * The order of the rows is the order "did you mean" tries names in, the globals' among
 * themselves and a tensor's methods' among themselves (it picks the first of equally close
 * names): a new row goes at the end of its group, and expand, the last method added, and
 * adaptive_avg_pool2d, the last global, stay where they are.
 */
const Builtin builtins[] = {
    /* printing, Python's helpers, files */
    {"print", bi_print, 0, G},
    {"len", bi_len, 0, G},
    {"type", bi_type, 0, G},
    {"str", bi_str, 0, G},
    {"list", bi_list, V_LIST, G},
    {"tuple", bi_list, V_TUPLE, G},
    {"manual_seed", bi_manual_seed, 0, G},
    {"parameters", bi_parameters, 0, G | M},
    {"state_dict", bi_state_dict, 0, M | O},
    {"options", bi_options, 0, G},
    {"load_state_dict", bi_load_state_dict, 0, M | O},
    {"load", bi_load, 0, G},
    {"load_state", bi_load_state, 0, G},
    {"save", bi_save, 0, G},
    /* creation */
    {"tensor", bi_tensor, 0, G},
    {"array", bi_tensor, 0, G},
    {"as_tensor", bi_tensor, 0, G},
    {"from_numpy", bi_from_numpy, 0, G},
    {"numpy", bi_from_numpy, TV_NUMPY, T},
    {"zeros", bi_zeros, 0, G},
    {"ones", bi_zeros, 1, G},
    {"empty", bi_zeros, 0, G},
    {"full", bi_full, 0, G},
    {"rand", bi_rand, OP_RAND, G},
    {"randn", bi_rand, OP_RANDN, G},
    {"zeros_like", bi_like, 0, G},
    {"ones_like", bi_like, 0, G},
    {"rand_like", bi_like, 0, G},
    {"randn_like", bi_like, 0, G},
    {"full_like", bi_like, 0, G},
    {"empty_like", bi_like, 0, G},
    {"arange", bi_arange, 0, G},
    /* elementwise */
    {"add", bi_binary, OP_ADD, G | T},
    {"sub", bi_binary, OP_SUB, G | T},
    {"mul", bi_binary, OP_MUL, G | T},
    {"div", bi_binary, OP_DIV, G | T},
    {"pow", bi_binary, OP_POW, G | T},
    {"maximum", bi_binary, OP_MAXIMUM, G | T},
    {"minimum", bi_binary, OP_MINIMUM, G | T},
    {"floor_divide", bi_binary, OP_FLOORDIV, G | T},
    {"remainder", bi_binary, OP_MOD, G | T},
    {"eq", bi_binary, OP_EQ, G | T},
    {"ne", bi_binary, OP_NE, G | T},
    {"lt", bi_binary, OP_LT, G | T},
    {"le", bi_binary, OP_LE, G | T},
    {"gt", bi_binary, OP_GT, G | T},
    {"ge", bi_binary, OP_GE, G | T},
    {"subtract", bi_binary, OP_SUB, G},
    {"multiply", bi_binary, OP_MUL, G},
    {"divide", bi_binary, OP_DIV, G},
    {"true_divide", bi_binary, OP_DIV, G},
    {"isnan", bi_isnan, 0, G | T},
    {"isinf", bi_isnan, 1, G | T},
    {"isfinite", bi_isnan, 2, G | T},
    {"neg", bi_unary, OP_NEG, G | T},
    {"negative", bi_unary, OP_NEG, G},
    {"relu", bi_unary, OP_RELU, G | T},
    {"exp", bi_unary, OP_EXP, G | T},
    {"log", bi_unary, OP_LOG, G | T},
    {"sqrt", bi_unary, OP_SQRT, G | T},
    {"abs", bi_unary, OP_ABS, G | T},
    {"tanh", bi_unary, OP_TANH, G | T},
    {"sigmoid", bi_unary, OP_SIGMOID, G | T},
    {"logical_not", bi_unary, OP_NOT, G | T},
    {"cos", bi_unary, OP_COS, G | T},
    {"sin", bi_unary, OP_SIN, G | T},
    /* reductions */
    {"sum", bi_sum, OP_SUM, G | T},
    {"mean", bi_sum, OP_MEAN, G | T},
    {"max", bi_max, OP_MAX, G | T},
    {"min", bi_max, OP_MIN, G | T},
    {"argmax", bi_argmax, 0, G | T},
    /* shapes and views */
    {"view", bi_view, 0, T},
    {"reshape", bi_view, 0, G | T},
    {"flatten", bi_flatten, 0, G | T},
    {"transpose", bi_transpose, 0, G | T},
    {"swapaxes", bi_transpose, 0, G},
    {"t", bi_t, 0, T},
    {"permute", bi_permute, 0, G | T},
    {"unsqueeze", bi_squeeze, 0, G | T},
    {"squeeze", bi_squeeze, 0, G | T},
    {"cat", bi_cat, 0, G},
    {"concat", bi_cat, 0, G},
    {"concatenate", bi_cat, 0, G},
    {"matmul", bi_matmul, 0, G | T},
    {"mm", bi_matmul, 0, G | T},
    {"dot", bi_matmul, 0, G | T},
    /* a tensor's queries and conversions */
    {"item", bi_item, 0, T},
    {"size", bi_size, 0, T},
    {"dim", bi_dim, 0, T},
    {"numel", bi_dim, 0, T},
    {"is_contiguous", bi_dim, 0, T},
    {"float", bi_cast, DT_F32, T},
    {"double", bi_cast, DT_F64, T},
    {"long", bi_cast, DT_I64, T},
    {"int", bi_cast, DT_I32, T},
    {"bool", bi_cast, DT_BOOL, T},
    {"to", bi_to, 0, T},
    {"to", bi_module_to, 0, M},
    {"type_as", bi_type_as, 0, T},
    {"clone", bi_clone, 0, T},
    /* neural-network functions */
    {"conv2d", bi_conv2d, 0, G},
    {"linear", bi_linear, 0, G},
    {"max_pool2d", bi_max_pool2d, 0, G},
    {"avg_pool2d", bi_avg_pool2d, 0, G},
    /* Python's int(x), float(x), bool(x), also the types of those (lower.c) */
    {"int", bi_py_int, 0, G},
    {"float", bi_py_float, 0, G},
    {"bool", bi_py_bool, 0, G},
    /* in-place */
    {"add_", bi_binary_, OP_ADD, T},
    {"sub_", bi_binary_, OP_SUB, T},
    {"mul_", bi_binary_, OP_MUL, T},
    {"div_", bi_binary_, OP_DIV, T},
    {"pow_", bi_binary_, OP_POW, T},
    {"neg_", bi_unary_, OP_NEG, T},
    {"relu_", bi_unary_, OP_RELU, T},
    {"exp_", bi_unary_, OP_EXP, T},
    {"log_", bi_unary_, OP_LOG, T},
    {"sqrt_", bi_unary_, OP_SQRT, T},
    {"abs_", bi_unary_, OP_ABS, T},
    {"tanh_", bi_unary_, OP_TANH, T},
    {"sigmoid_", bi_unary_, OP_SIGMOID, T},
    {"zero_", bi_fill_, 0, T},
    {"fill_", bi_fill_, 0, T},
    {"copy_", bi_copy_, 0, T},
    {"maximum_", bi_binary_, OP_MAXIMUM, T},
    {"minimum_", bi_binary_, OP_MINIMUM, T},
    /* autograd, modules, optimizers */
    {"backward", bi_backward, 0, G | T},
    {"requires_grad_", bi_requires_grad_, 0, T | M},
    {"expand", bi_expand, 0, T},
    {"zero_grad", bi_zero_grad, 0, M | O},
    {"eval", bi_train, false, M},
    {"train", bi_train, true, M},
    {"step", bi_step, 0, O},
    /* losses and optimizers */
    {"mse_loss", bi_loss, 0, G},
    {"cross_entropy", bi_loss, 0, G},
    {"nll_loss", bi_loss, 0, G},
    {"l1_loss", bi_loss, 0, G},
    {"smooth_l1_loss", bi_loss, 0, G},
    {"huber_loss", bi_loss, 0, G},
    {"binary_cross_entropy", bi_loss, 0, G},
    {"binary_cross_entropy_with_logits", bi_loss, 0, G},
    {"SGD", bi_optimizer, 0, G},
    {"Adam", bi_optimizer, 0, G},
    {"AdamW", bi_optimizer, 0, G},
    {"RMSprop", bi_optimizer, 0, G},
    {"Adagrad", bi_optimizer, 0, G},
    {"StepLR", bi_scheduler, 0, G},
    {"MultiStepLR", bi_scheduler, 0, G},
    {"ExponentialLR", bi_scheduler, 0, G},
    {"CosineAnnealingLR", bi_scheduler, 0, G},
    {"LambdaLR", bi_scheduler, 0, G},
    {"get_last_lr", bi_get_last_lr, 0, O},
    {"add_param_group", bi_add_param_group, 0, O},
    {"adaptive_avg_pool2d", bi_adaptive_avg_pool2d, 0, G},
    /* activations (activations.c) */
    {"leaky_relu", bi_leaky_relu, 0, G},
    {"elu", bi_elu, 0, G},
    {"gelu", bi_gelu, 0, G},
    {"silu", bi_silu, 0, G},
    {"softplus", bi_softplus, 0, G},
    {"hardtanh", bi_hardtanh, 0, G},
    {"relu6", bi_hardtanh, 0, G},
    {"erf", bi_erf, 0, G | T},
    {"softmax", bi_softmax, 0, G | T},
    {"log_softmax", bi_softmax, 0, G | T},
    {"layer_norm", bi_layer_norm, 0, G},
    {"uniform_", bi_init, 0, G | T},
    {"normal_", bi_init, 0, G | T},
    {"constant_", bi_init, 0, G},
    {"zeros_", bi_init, 0, G},
    {"ones_", bi_init, 0, G},
    {"xavier_uniform_", bi_init, 0, G},
    {"xavier_normal_", bi_init, 0, G},
    {"kaiming_uniform_", bi_init, 0, G},
    {"kaiming_normal_", bi_init, 0, G},
    {"calculate_gain", bi_init, 0, G},
    {"orthogonal_", bi_init, 0, G},
    {"clamp", bi_clamp, 0, G | T},
    {"clip", bi_clamp, 0, G | T},
    {"clamp_", bi_clamp, 0, T},
    {"one_hot", bi_one_hot, 0, G},
    {"where", bi_where, 0, G},
    {"where", bi_where, 1, T},
    {"narrow", bi_narrow, 0, G | T},
    {"masked_fill", bi_masked_fill, 0, T},
    {"masked_fill_", bi_masked_fill, 0, T},
    {"gather", bi_gather, 0, G | T},
    {"scatter_add", bi_scatter_add, 0, G | T},
    {"scatter_add_", bi_scatter_add, 0, T},
    {"index_select", bi_index_select, 0, G | T},
    {"index_add", bi_index_add, 0, G | T},
    {"index_add_", bi_index_add, 0, T},
    {"randint", bi_randint, 0, G},
    {"randperm", bi_randperm, 0, G},
    {"repeat", bi_repeat, 0, T},
    {"norm", bi_norm, 0, G | T},
    {"eye", bi_eye, 0, G},
    {"linspace", bi_linspace, 0, G},
    {"var", bi_var, 0, G | T},
    {"std", bi_var, 0, G | T},
    {"stack", bi_stack, 0, G},
    {"chunk", bi_split, 0, G | T},
    {"split", bi_split, 0, G | T},
    {"detach", bi_detach, 0, T},
    {"clip_grad_norm_", bi_clip_grad, 0, G},
    {"clip_grad_value_", bi_clip_grad, 0, G},
    {"dropout", bi_dropout, 0, G},
    {"dropout2d", bi_dropout, 0, G},
    /* data (data.c): torchvision's datasets and transforms, DataLoader and its iterators */
    {"ToTensor", bi_transform, 0, G},
    {"Normalize", bi_transform, 0, G},
    {"Pad", bi_transform, 0, G},
    {"Compose", bi_transform, 0, G},
    {"FashionMNIST", bi_dataset, 0, G},
    {"MNIST", bi_dataset, 1, G},
    {"CIFAR10", bi_dataset, 2, G},
    {"TensorDataset", bi_tensor_dataset, 0, G},
    {"DataLoader", bi_loader, 0, G},
    {"iter", bi_iter, 0, G},
    {"next", bi_next, 0, G},
    {"enumerate", bi_enumerate, 0, G},
    {"make_grid", bi_make_grid, 0, G},
    {"save_image", bi_save_image, 0, G},
    /* devices */
    {"device", bi_device, 0, G},
    {"is_available", bi_cuda_available, 0, G},
    /* containers (collections.c) */
    {"zip", bi_zip, 0, G},
    {"range", bi_range, 0, G},
    {"join", bi_join, 0, BI_STR},
    {"items", bi_dict_view, 0, BI_DICT},
    {"keys", bi_dict_view, 1, BI_DICT},
    {"values", bi_dict_view, 2, BI_DICT},
    {NULL, NULL, 0, 0},
};

/* The row of `name` visible as `where` (BI_*), or NULL. */
static const Builtin *find_builtin(const char *name, unsigned where) {
    for (const Builtin *b = builtins; b->name; b++)
        if ((b->where & where) && !strcmp(b->name, name))
            return b;
    return NULL;
}

bool has_builtin(const char *name, unsigned where) { return find_builtin(name, where) != NULL; }

Value *call_builtin(const char *f, Value *self, Args *a, bool numpy_ns) {
    /* a function, or a method of what self is (int is Python's int(x), x.int() a cast) */
    unsigned where = !self ? BI_GLOBAL
                     : self->kind == V_TENSOR ? BI_TENSOR
                     : self->kind == V_MODULE ? BI_MODULE
                     : self->kind == V_STR ? BI_STR
                     : self->kind == V_DICT ? BI_DICT
                     : BI_OPTIM;
    /* methods take the receiver as their first argument */
    if (self) {
        Value **pos = ir_alloc(sizeof(Value *) * (size_t)(a->npos + 1));
        pos[0] = self;
        for (int i = 0; i < a->npos; i++)
            pos[i + 1] = a->pos[i];
        a->pos = pos;
        a->npos++;
    }
    const Builtin *b = find_builtin(f, where);
    if (!b)
        error_at(a->loc, "'%s' cannot be called this way", f);
    a->code = b->code;
    a->numpy = numpy_ns;
    return b->fn(a);
}
