/*
 * losses.c: PyTorch's losses, as F.* functions and nn.* modules.
 *
 * mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy(_with_logits), nll_loss and
 * cross_entropy, with PyTorch 1.13's options (weight, ignore_index, label_smoothing, pos_weight,
 * beta, delta) and reductions. cross_entropy without options is the fused cross_entropy op of the
 * table (its kernels are the step's fast path); everything else is built of elementwise ops and
 * reductions, the way ATen composes them, so their gradients, fusion and both backends come from
 * those ops. A class index picks its row element by a one-hot mask (arange(C) == target), which
 * also drops ignore_index targets: the loss of such a sample is 0 and it does not count in the mean.
 * Class indices out of range (other than ignore_index) are not checked at run time: they give 0.
 */
#include "lower.h"

#include <string.h>

typedef struct LossOpts {
    const char *reduction; /* "mean", "sum", "none" */
    Value *weight;         /* per class (nll, cross_entropy) or per element (bce), or NULL */
    Value *pos_weight;     /* bce_with_logits: per class of the last dim, or NULL */
    int64_t ignore_index;
    double smoothing;      /* cross_entropy's label_smoothing */
    double beta;           /* smooth_l1's beta, huber's delta */
} LossOpts;

static Value *reduce_loss(Value *l, const char *reduction, SrcLoc loc) {
    if (!strcmp(reduction, "mean"))
        return lw_reduce(OP_MEAN, l, NULL, false, loc);
    if (!strcmp(reduction, "sum"))
        return lw_reduce(OP_SUM, l, NULL, false, loc);
    return l;
}

static Value *bin(const char *op, Value *a, Value *b, SrcLoc loc) { return lw_binop(op, a, b, loc); }
static Value *num_v(double v) { return mk_float(v); }

/* A float tensor of 0/1: the mask of a comparison. */
static Value *as_float(Value *b, DType dt, SrcLoc loc) { return lw_result(lw_cast(b->node, dt, loc), b, NULL); }

static void same_shape(Value *x, Value *t, const char *fn, SrcLoc loc) {
    if (!shape_eq(TN(x)->shape, TN(t)->shape))
        error_at(loc, "%s: the target's shape %s differs from the input's %s", fn,
                 type_str(TN(t)->dtype, TN(t)->shape), type_str(TN(x)->dtype, TN(x)->shape));
}

static void float_input(Value *x, const char *fn, SrcLoc loc) {
    tensor_arg(x, loc, "the input");
    if (!dtype_is_float(TN(x)->dtype))
        error_at(loc, "%s: the input must be a floating-point tensor, got %s", fn, type_str(TN(x)->dtype, TN(x)->shape));
}

/* The one-hot mask of the targets over the classes of x, 0 for ignore_index: x's shape and dtype. */
static Value *class_mask(Value *x, Value *t, int64_t ignore, const char *fn, SrcLoc loc) {
    Shape xs = TN(x)->shape, ts = TN(t)->shape;
    if (TN(t)->dtype != DT_I64)
        error_at(loc, "%s: the target must be class indices (i64), got %s", fn, type_str(TN(t)->dtype, ts));
    int cdim = xs.rank == 1 ? 0 : 1;
    bool ok = xs.rank >= 1 && ts.rank == xs.rank - 1;
    for (int i = 0, j = 0; ok && i < xs.rank; i++)
        if (i != cdim)
            ok = xs.d[i] == ts.d[j++];
    if (!ok)
        error_at(loc, "%s: a target of %s does not fit an input of %s (input (N, C, ...), target (N, ...))", fn,
                 type_str(TN(t)->dtype, ts), type_str(TN(x)->dtype, xs));
    int64_t c = xs.d[cdim];
    Attr at[2] = {attr_float("start", 0), attr_float("step", 1)};
    Value *cls = mk_tensor(lw_add(OP_ARANGE, NULL, 0, DT_I64, shape_make(1, &c), at, 2, loc));
    Shape cs = shape_scalar(), tsk = ts; /* classes along cdim; the target with a 1 there */
    cs.rank = tsk.rank = xs.rank;
    for (int i = 0; i < xs.rank; i++) {
        cs.d[i] = i == cdim ? c : 1;
        tsk.d[i] = i == cdim ? 1 : xs.d[i];
    }
    cls = view_reshape(cls, cs, loc);
    Value *tk = view_reshape(t, tsk, loc);
    Value *hit = bin("==", cls, tk, loc);
    Value *keep = bin("!=", tk, mk_int(ignore), loc);
    Value *m = tensor_binop(OP_AND, hit, keep, loc);
    return as_float(m, TN(x)->dtype, loc);
}

/* weight (C,) as a tensor that broadcasts along x's class dim */
static Value *class_weight(Value *x, Value *w, const char *fn, SrcLoc loc) {
    Shape xs = TN(x)->shape;
    int cdim = xs.rank == 1 ? 0 : 1;
    tensor_arg(w, loc, "weight");
    if (TN(w)->shape.rank != 1 || TN(w)->shape.d[0] != xs.d[cdim])
        error_at(loc, "%s: weight must have one value per class (%lld), got %s", fn, (long long)xs.d[cdim],
                 type_str(TN(w)->dtype, TN(w)->shape));
    Shape s = xs;
    for (int i = 0; i < s.rank; i++)
        s.d[i] = i == cdim ? xs.d[cdim] : 1;
    return view_reshape(w, s, loc);
}

/* nll_loss of log-probabilities x; with smoothing > 0, cross_entropy's label-smoothing term */
static Value *nll(Value *x, Value *t, LossOpts *o, const char *fn, SrcLoc loc) {
    float_input(x, fn, loc);
    tensor_arg(t, loc, "the target");
    int cdim = TN(x)->shape.rank == 1 ? 0 : 1;
    Value *m = class_mask(x, t, o->ignore_index, fn, loc);
    Value *w = o->weight ? class_weight(x, o->weight, fn, loc) : NULL;
    Value *mw = w ? bin("*", m, w, loc) : m;                          /* w[t], 0 where ignored */
    Value *per = lw_reduce(OP_SUM, bin("*", x, mw, loc), mk_int(cdim), false, loc);
    per = unary_op(OP_NEG, per, loc);                                 /* -w[t] x[t] per sample */
    /* an ignored sample's loss is 0, as PyTorch writes it, not the -0 of -(x * 0) */
    int zero = const_scalar(mk_float(0), TN(per)->dtype, loc);
    int wh[3] = {bin("!=", t, mk_int(o->ignore_index), loc)->node, per->node, zero};
    per = lw_result(lw_add(OP_WHERE, wh, 3, TN(per)->dtype, shape_scalar(), NULL, 0, loc), per, NULL);
    Value *den = lw_reduce(OP_SUM, mw, NULL, false, loc);             /* the mean's: sum of w[t] */
    Value *r = !strcmp(o->reduction, "mean") ? bin("/", lw_reduce(OP_SUM, per, NULL, false, loc), den, loc)
                                               : reduce_loss(per, o->reduction, loc);
    if (o->smoothing > 0) {
        int64_t c = TN(x)->shape.d[cdim];
        Value *keep = lw_reduce(OP_SUM, m, mk_int(cdim), false, loc); /* 1, 0 where ignored */
        Value *all = w ? bin("*", x, w, loc) : x;
        Value *smooth = bin("*", unary_op(OP_NEG, lw_reduce(OP_SUM, all, mk_int(cdim), false, loc), loc), keep, loc);
        Value *s = !strcmp(o->reduction, "mean") ? bin("/", lw_reduce(OP_SUM, smooth, NULL, false, loc), den, loc)
                                                   : reduce_loss(smooth, o->reduction, loc);
        r = bin("+", bin("*", r, num_v(1 - o->smoothing), loc), bin("*", s, num_v(o->smoothing / (double)c), loc),
                loc);
    }
    return r;
}

/* nll_loss's grad_fn as 1.13's nll_loss_nd picks the kernel: (N, C) or (C,) nll_loss, (N, C, H, W)
 * nll_loss2d, other ranks nll_loss2d on a reshape (a view of its result without a reduction). */
static const char *nll_fn(Value *x, const LossOpts *o) {
    int rank = TN(x)->shape.rank;
    if (rank <= 2)
        return "NllLossBackward0";
    return rank != 4 && !strcmp(o->reduction, "none") ? "ViewBackward0" : "NllLoss2DBackward0";
}

/* The loss fn ("mse_loss", "nll_loss", ...) of input x and target t. */
static Value *loss_of(const char *fn, Value *x, Value *t, LossOpts *o, SrcLoc loc) {
    if (strcmp(o->reduction, "mean") && strcmp(o->reduction, "sum") && strcmp(o->reduction, "none"))
        error_at(loc, "reduction must be 'mean', 'sum' or 'none', got '%s'", o->reduction);
    tensor_arg(x, loc, "the input");
    tensor_arg(t, loc, "the target");
    Value *r;
    const char *gf = NULL;
    if (!strcmp(fn, "mse_loss"))
        return mse_loss(x, t, o->reduction, loc);
    if (!strcmp(fn, "cross_entropy")) {
        if (!o->weight && o->ignore_index == -100 && o->smoothing == 0 && TN(x)->shape.rank == 2)
            return cross_entropy(x, t, o->reduction, loc); /* the fused op */
        float_input(x, fn, loc);
        r = nll(softmax_along(x, mk_int(TN(x)->shape.rank == 1 ? 0 : 1), true, loc), t, o, fn, loc);
        gf = o->smoothing > 0 ? "AddBackward0" : nll_fn(x, o);
    } else if (!strcmp(fn, "nll_loss")) {
        r = nll(x, t, o, fn, loc);
        gf = nll_fn(x, o);
    } else {
        float_input(x, fn, loc);
        same_shape(x, t, fn, loc);
        if (!dtype_is_float(TN(t)->dtype))
            t = as_float(t, TN(x)->dtype, loc);
        Value *d = bin("-", x, t, loc), *l;
        if (!strcmp(fn, "l1_loss")) {
            l = unary_op(OP_ABS, d, loc);
            gf = !strcmp(o->reduction, "none") ? "AbsBackward0" : !strcmp(o->reduction, "mean") ? "MeanBackward0"
                                                                                                : "SumBackward0";
        } else if (!strcmp(fn, "smooth_l1_loss") || !strcmp(fn, "huber_loss")) {
            /* |d| < b ? d^2 / 2 (/ b for smooth_l1) : |d| - b / 2 (* b for huber) */
            bool huber = fn[0] == 'h';
            double b = o->beta;
            Value *ad = unary_op(OP_ABS, d, loc);
            Value *in = as_float(bin("<", ad, num_v(b), loc), TN(x)->dtype, loc);
            Value *quad = bin("*", bin("*", d, d, loc), num_v(huber || b == 0 ? 0.5 : 0.5 / b), loc);
            Value *lin = bin("-", ad, num_v(0.5 * b), loc);
            if (huber)
                lin = bin("*", lin, num_v(b), loc);
            l = bin("+", bin("*", quad, in, loc), bin("*", lin, bin("-", num_v(1), in, loc), loc), loc);
            gf = huber ? "HuberLossBackward0" : "SmoothL1LossBackward0";
        } else if (!strcmp(fn, "binary_cross_entropy")) {
            /* -(t log x + (1 - t) log(1 - x)), each log at least -100, as PyTorch clamps it */
            Value *lx = tensor_binop(OP_MAXIMUM, unary_op(OP_LOG, x, loc), num_v(-100), loc);
            Value *l1x = tensor_binop(OP_MAXIMUM, unary_op(OP_LOG, bin("-", num_v(1), x, loc), loc), num_v(-100), loc);
            l = unary_op(OP_NEG, bin("+", bin("*", t, lx, loc), bin("*", bin("-", num_v(1), t, loc), l1x, loc), loc), loc);
            gf = "BinaryCrossEntropyBackward0";
        } else { /* binary_cross_entropy_with_logits, as ATen computes it */
            Value *mx = unary_op(OP_RELU, unary_op(OP_NEG, x, loc), loc); /* max(-x, 0) */
            Value *lse = bin("+", unary_op(OP_LOG, bin("+", unary_op(OP_EXP, unary_op(OP_NEG, mx, loc), loc),
                                                      unary_op(OP_EXP, bin("-", unary_op(OP_NEG, x, loc), mx, loc), loc),
                                                      loc), loc), mx, loc);
            if (o->pos_weight) {
                tensor_arg(o->pos_weight, loc, "pos_weight");
                lse = bin("*", bin("+", bin("*", bin("-", o->pos_weight, num_v(1), loc), t, loc), num_v(1), loc), lse, loc);
            }
            l = bin("+", bin("*", bin("-", num_v(1), t, loc), x, loc), lse, loc);
            gf = "BinaryCrossEntropyWithLogitsBackward0";
        }
        if (o->weight && fn[0] == 'b')
            l = bin("*", l, tensor_arg(o->weight, loc, "weight"), loc);
        r = reduce_loss(l, o->reduction, loc);
    }
    if (gf)
        lw_info(r->node)->fn = gf;
    return r;
}

/* size_average and reduce: PyTorch's deprecated spellings, accepted only as None */
static void deprecated_none(Value *v, const char *name, SrcLoc loc) {
    if (v && v->kind != V_NONE)
        error_at(loc, "%s is deprecated in PyTorch and not supported: use reduction='mean', 'sum' or 'none'", name);
}

/* The options of fn (a function's, from position `first` on, or a module's from 0) in PyTorch's order. */
static void loss_options(const char *fn, Args *a, int first, LossOpts *o) {
    SrcLoc loc = a->loc;
    Value *none = lw_mk(V_NONE), *red, *v;
    memset(o, 0, sizeof *o);
    o->ignore_index = -100;
    o->beta = 1;
    int p = first;
    bool classes = !strcmp(fn, "nll_loss") || !strcmp(fn, "cross_entropy");
    bool bce = !strncmp(fn, "binary_cross_entropy", 20);
    if (classes || bce) {
        v = lw_arg(a, p++, "weight", none);
        o->weight = v->kind == V_NONE ? NULL : tensor_arg(v, loc, "weight");
    }
    if (strcmp(fn, "huber_loss"))
        deprecated_none(lw_arg(a, p++, "size_average", none), "size_average", loc);
    if (classes)
        o->ignore_index = int_arg(lw_arg(a, p++, "ignore_index", mk_int(-100)), loc, "ignore_index");
    if (strcmp(fn, "huber_loss"))
        deprecated_none(lw_arg(a, p++, "reduce", none), "reduce", loc);
    red = lw_arg(a, p++, "reduction", mk_str("mean"));
    if (red->kind != V_STR)
        error_at(loc, "reduction must be 'mean', 'sum' or 'none'");
    o->reduction = red->s;
    if (!strcmp(fn, "cross_entropy")) {
        o->smoothing = float_arg(lw_arg(a, p++, "label_smoothing", mk_float(0)), loc, "label_smoothing");
        if (o->smoothing < 0 || o->smoothing > 1)
            error_at(loc, "label_smoothing must be between 0.0 and 1.0, got %g", o->smoothing);
    } else if (!strcmp(fn, "binary_cross_entropy_with_logits")) {
        v = lw_arg(a, p++, "pos_weight", none);
        o->pos_weight = v->kind == V_NONE ? NULL : tensor_arg(v, loc, "pos_weight");
    } else if (!strcmp(fn, "smooth_l1_loss") || !strcmp(fn, "huber_loss")) {
        bool h = fn[0] == 'h';
        o->beta = float_arg(lw_arg(a, p++, h ? "delta" : "beta", mk_float(1)), loc, h ? "delta" : "beta");
        if (h ? o->beta <= 0 : o->beta < 0)
            error_at(loc, "%s must be %s, got %g", h ? "delta" : "beta", h ? "positive" : "non-negative", o->beta);
    }
    static const char *const names[] = {"input", "target", "weight", "size_average", "ignore_index", "reduce",
                                        "reduction", "label_smoothing", "pos_weight", "beta", "delta"};
    args_done(a, p, names, 11);
}

/* F.mse_loss(x, t, ...), F.nll_loss, F.cross_entropy, ... (the builtin's name is fn) */
Value *bi_loss(Args *a) {
    Value *x = lw_req(a, 0, "input"), *t = lw_req(a, 1, "target");
    LossOpts o;
    loss_options(a->fname, a, 2, &o);
    return loss_of(a->fname, x, t, &o, a->loc);
}

/* The loss modules, by class: their function. */
static const char *const loss_classes[][2] = {
    {"MSELoss", "mse_loss"}, {"L1Loss", "l1_loss"}, {"SmoothL1Loss", "smooth_l1_loss"}, {"HuberLoss", "huber_loss"},
    {"NLLLoss", "nll_loss"}, {"CrossEntropyLoss", "cross_entropy"}, {"BCELoss", "binary_cross_entropy"},
    {"BCEWithLogitsLoss", "binary_cross_entropy_with_logits"},
};

static const char *loss_fn(const char *cls) {
    for (size_t i = 0; i < sizeof loss_classes / sizeof loss_classes[0]; i++)
        if (!strcmp(loss_classes[i][0], cls))
            return loss_classes[i][1];
    return NULL;
}

/* nn.CrossEntropyLoss(label_smoothing=0.1) and the like; false: cls is not a loss. */
bool loss_construct(Module *m, Args *a) {
    const char *fn = loss_fn(m->cls);
    if (!fn)
        return false;
    m->loss = ir_alloc(sizeof(LossOpts));
    loss_options(fn, a, 0, m->loss);
    m->loss_reduction = m->loss->reduction;
    m->repr = ir_fmt("%s()", m->cls);
    return true;
}

Value *loss_call(Module *m, Args *a) {
    Value *x = lw_req(a, 0, "input"), *t = lw_req(a, 1, "target");
    DONE(a, 2, "input", "target");
    return loss_of(loss_fn(m->cls), x, t, m->loss, a->loc);
}
