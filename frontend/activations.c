/*
 * activations.c: PyTorch's activation functions and dropout, as F.* functions, tensor methods and
 * nn.* modules.
 *
 * Each elementwise one is one op of the table (ir/ops.h: leaky_relu, elu, gelu, silu, softplus,
 * hardtanh, erf) with its options as attributes, so gradcheck, fusion, memory planning and both
 * backends take it as they take relu. softmax and log_softmax along a dim are built of max, exp,
 * sum and log (the max held constant: the result does not depend on it), and print PyTorch's
 * grad_fn. A module (nn.LeakyReLU(0.2), nn.Softmax(dim=1), ...) keeps its options and calls the
 * same function; it prints as PyTorch prints it.
 */
#include "lower.h"

#include <string.h>

/* op(x) with its attributes: floats as the default float type, as torch promotes integers. */
static Value *act_op(Op op, Value *x, const Attr *at, int nat, SrcLoc loc) {
    tensor_arg(x, loc, "the input");
    int in = x->node;
    if (!dtype_is_float(TN(x)->dtype))
        error_at(loc, "%s needs a floating-point tensor, got %s", op_info[op].name,
                 type_str(TN(x)->dtype, TN(x)->shape));
    return lw_result(lw_add1(op, in, at, nat, loc), x, NULL);
}

/* x, or x updated in place (inplace=True): the result is x, and what views it sees the change. */
static Value *maybe_inplace(Value *x, Value *r, bool inplace, SrcLoc loc) {
    if (!inplace)
        return r;
    write_through(x, inplace_result(x, r->node, loc), loc);
    return x;
}

/* The legacy rule of F.softmax without dim: 0 for 0-, 1- and 3-d inputs, else 1. */
static int softmax_dim(Value *dim, Value *x, SrcLoc loc) {
    int rank = TN(x)->shape.rank;
    if (!dim || dim->kind == V_NONE)
        return rank == 0 || rank == 1 || rank == 3 ? 0 : 1;
    return rank == 0 ? 0 : axis_arg(dim, rank, loc);
}

/* softmax (log = false) or log_softmax of x along dim: exp(x - m) / sum, x - m - log(sum), with
 * m the maximum along dim, a constant to autograd. */
Value *softmax_along(Value *x, Value *dim, bool log, SrcLoc loc) {
    tensor_arg(x, loc, "the input");
    if (!dtype_is_float(TN(x)->dtype))
        error_at(loc, "%s needs a floating-point tensor, got %s", log ? "log_softmax" : "softmax",
                 type_str(TN(x)->dtype, TN(x)->shape));
    int d = softmax_dim(dim, x, loc);
    if (TN(x)->shape.rank == 0) { /* a 0-d tensor: softmax 1, log_softmax 0 */
        Value *z = lw_binop("*", x, mk_float(0.0), loc);
        Value *r = log ? z : lw_binop("+", z, mk_float(1.0), loc);
        lw_info(r->node)->fn = log ? "LogSoftmaxBackward0" : "SoftmaxBackward0";
        return r;
    }
    bool saved = L.no_grad;
    L.no_grad = true;
    Value *m = lw_reduce(OP_MAX, x, mk_int(d), true, loc);
    L.no_grad = saved;
    Value *shifted = lw_binop("-", x, m, loc);
    Value *e = unary_op(OP_EXP, shifted, loc);
    Value *s = lw_reduce(OP_SUM, e, mk_int(d), true, loc);
    Value *r = log ? lw_binop("-", shifted, unary_op(OP_LOG, s, loc), loc) : lw_binop("/", e, s, loc);
    lw_info(r->node)->fn = log ? "LogSoftmaxBackward0" : "SoftmaxBackward0";
    return r;
}

/* ---- the functions: F.leaky_relu(x, 0.2), x.softmax(1), torch.erf(x), ... ---- */

Value *bi_leaky_relu(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = lw_req(a, 0, "input");
    double slope = float_arg(lw_arg(a, 1, "negative_slope", mk_float(0.01)), loc, "negative_slope");
    bool inplace = bool_arg(lw_arg(a, 2, "inplace", mk_bool(false)), loc, "inplace");
    DONE(a, 3, "input", "negative_slope", "inplace");
    Attr at = attr_float("slope", slope);
    /* leaky_relu_ and elu_ have derivatives of their own in 1.13 (written from the result) */
    return maybe_inplace(x, named_fn(act_op(OP_LEAKY_RELU, x, &at, 1, loc), x, inplace ? "LeakyReluBackward1" : NULL),
                         inplace, loc);
}

Value *bi_elu(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = lw_req(a, 0, "input");
    double alpha = float_arg(lw_arg(a, 1, "alpha", mk_float(1.0)), loc, "alpha");
    bool inplace = bool_arg(lw_arg(a, 2, "inplace", mk_bool(false)), loc, "inplace");
    DONE(a, 3, "input", "alpha", "inplace");
    Attr at = attr_float("alpha", alpha);
    return maybe_inplace(x, named_fn(act_op(OP_ELU, x, &at, 1, loc), x, inplace ? "EluBackward1" : NULL), inplace, loc);
}

static bool gelu_tanh(Value *v, SrcLoc loc) {
    if (v->kind != V_STR || (strcmp(v->s, "none") && strcmp(v->s, "tanh")))
        error_at(loc, "gelu: approximate must be 'none' or 'tanh'");
    return !strcmp(v->s, "tanh");
}

Value *bi_gelu(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = lw_req(a, 0, "input");
    bool tanh = gelu_tanh(lw_arg(a, 1, "approximate", mk_str("none")), loc);
    DONE(a, 2, "input", "approximate");
    Attr at = attr_int("tanh", tanh);
    return act_op(OP_GELU, x, &at, 1, loc);
}

Value *bi_silu(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = lw_req(a, 0, "input");
    bool inplace = bool_arg(lw_arg(a, 1, "inplace", mk_bool(false)), loc, "inplace");
    DONE(a, 2, "input", "inplace");
    return maybe_inplace(x, act_op(OP_SILU, x, NULL, 0, loc), inplace, loc);
}

Value *bi_softplus(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = lw_req(a, 0, "input");
    double beta = float_arg(lw_arg(a, 1, "beta", mk_int(1)), loc, "beta");
    double threshold = float_arg(lw_arg(a, 2, "threshold", mk_int(20)), loc, "threshold");
    DONE(a, 3, "input", "beta", "threshold");
    if (beta == 0)
        error_at(loc, "softplus: beta must not be 0");
    Attr at[2] = {attr_float("beta", beta), attr_float("threshold", threshold)};
    return act_op(OP_SOFTPLUS, x, at, 2, loc);
}

/* hardtanh(x, min_val=-1, max_val=1) and relu6(x) (hardtanh(x, 0, 6), as PyTorch computes it) */
Value *bi_hardtanh(Args *a) {
    SrcLoc loc = a->loc;
    bool relu6 = !strcmp(a->fname, "relu6");
    Value *x = lw_req(a, 0, "input");
    double lo = 0, hi = 6;
    bool inplace;
    if (relu6) {
        inplace = bool_arg(lw_arg(a, 1, "inplace", mk_bool(false)), loc, "inplace");
        DONE(a, 2, "input", "inplace");
    } else {
        lo = float_arg(lw_arg(a, 1, "min_val", mk_float(-1.0)), loc, "min_val");
        hi = float_arg(lw_arg(a, 2, "max_val", mk_float(1.0)), loc, "max_val");
        inplace = bool_arg(lw_arg(a, 3, "inplace", mk_bool(false)), loc, "inplace");
        DONE(a, 4, "input", "min_val", "max_val", "inplace");
        if (lo > hi)
            error_at(loc, "hardtanh: min_val cannot be greater than max_val");
    }
    Attr at[2] = {attr_float("min", lo), attr_float("max", hi)};
    return maybe_inplace(x, act_op(OP_HARDTANH, x, at, 2, loc), inplace, loc);
}

Value *bi_erf(Args *a) {
    Value *x = lw_req(a, 0, "input");
    DONE(a, 1, "input");
    tensor_arg(x, a->loc, "the input");
    if (!dtype_is_float(TN(x)->dtype)) /* torch.erf of an integer tensor is a float one */
        x = lw_result(lw_cast(x->node, DT_F32, a->loc), x, NULL);
    return act_op(OP_ERF, x, NULL, 0, a->loc);
}

/* softmax(x, dim) and log_softmax(x, dim), also x.softmax(dim); dtype= converts first */
Value *bi_softmax(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *dim = lw_arg(a, 1, "dim", lw_mk(V_NONE));
    Value *dt = lw_arg(a, 3, "dtype", lw_mk(V_NONE));
    Value *stacklevel = lw_arg(a, 2, "_stacklevel", mk_int(3)); /* F.softmax's, accepted and unused */
    (void)stacklevel;
    DONE(a, 4, "input", "dim", "_stacklevel", "dtype");
    if (dt->kind != V_NONE)
        x = lw_result(lw_cast(x->node, dtype_value(dt, loc), loc), x, NULL);
    return softmax_along(x, dim, !strcmp(a->fname, "log_softmax"), loc);
}

/* ---- dropout ---- */

/*
 * F.dropout(x, p, training) and F.dropout2d: as ATen's _dropout_impl, x * noise with noise =
 * bernoulli_(1 - p) / (1 - p), drawn from the program's generator in element order (per channel,
 * (N, C, 1, 1), for dropout2d), so a seed gives PyTorch's CPU masks bit for bit. Not training, or
 * p = 0: x itself, and nothing is drawn; p = 1: x * 0.
 */
static Value *dropout(Value *x, double p, bool training, bool feature, bool inplace, SrcLoc loc) {
    tensor_arg(x, loc, "the input");
    if (!(p >= 0 && p <= 1))
        error_at(loc, "dropout probability has to be between 0 and 1, but got %g", p);
    Shape s = TN(x)->shape;
    if (feature && s.rank != 4)
        error_at(loc, "dropout2d takes a 4-d input (N, C, H, W), got %s", type_str(TN(x)->dtype, s));
    if (!dtype_is_float(TN(x)->dtype))
        error_at(loc, "dropout needs a floating-point tensor, got %s", type_str(TN(x)->dtype, s));
    if (!training || p == 0 || shape_numel(s) == 0)
        return x;
    Value *r;
    if (p == 1)
        r = lw_binop("*", x, mk_float(0.0), loc);
    else {
        if (feature)
            s.d[2] = s.d[3] = 1;
        Attr at = attr_float("p", 1 - p);
        Value *mask = mk_tensor(lw_add(OP_BERNOULLI, NULL, 0, TN(x)->dtype, s, &at, 1, loc));
        /* noise.div_(1 - p): the scale in x's precision, 1 / (1 - p) rounded once */
        double scale = TN(x)->dtype == DT_F32 ? (double)(1.0f / (float)(1 - p)) : 1 / (1 - p);
        Value *noise = lw_binop("*", mask, mk_float(scale), loc);
        r = lw_binop("*", x, noise, loc);
    }
    return maybe_inplace(x, r, inplace, loc);
}

Value *bi_dropout(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = lw_req(a, 0, "input");
    double p = float_arg(lw_arg(a, 1, "p", mk_float(0.5)), loc, "p");
    bool training = bool_arg(lw_arg(a, 2, "training", mk_bool(true)), loc, "training");
    bool inplace = bool_arg(lw_arg(a, 3, "inplace", mk_bool(false)), loc, "inplace");
    DONE(a, 4, "input", "p", "training", "inplace");
    return dropout(x, p, training, !strcmp(a->fname, "dropout2d"), inplace, loc);
}

/* ---- the modules: nn.LeakyReLU(0.2), nn.GELU(), nn.Softmax(dim=1), nn.Identity(), ... ---- */

/* m's class is an activation: read its arguments, set its repr. false: not one of them. */
bool activation_construct(Module *m, Args *a) {
    const char *cls = m->cls;
    SrcLoc loc = a->loc;
    if (!strcmp(cls, "LeakyReLU")) {
        Value *s = lw_arg(a, 0, "negative_slope", mk_float(0.01));
        m->inplace = bool_arg(lw_arg(a, 1, "inplace", mk_bool(false)), loc, "inplace");
        DONE(a, 2, "negative_slope", "inplace");
        m->act_p[0] = float_arg(s, loc, "negative_slope");
        m->repr = ir_fmt("LeakyReLU(negative_slope=%s%s)", value_str(s, loc), m->inplace ? ", inplace=True" : "");
    } else if (!strcmp(cls, "ELU")) {
        Value *al = lw_arg(a, 0, "alpha", mk_float(1.0));
        m->inplace = bool_arg(lw_arg(a, 1, "inplace", mk_bool(false)), loc, "inplace");
        DONE(a, 2, "alpha", "inplace");
        m->act_p[0] = float_arg(al, loc, "alpha");
        m->repr = ir_fmt("ELU(alpha=%s%s)", value_str(al, loc), m->inplace ? ", inplace=True" : "");
    } else if (!strcmp(cls, "GELU")) {
        Value *ap = lw_arg(a, 0, "approximate", mk_str("none"));
        DONE(a, 1, "approximate");
        m->act_p[0] = gelu_tanh(ap, loc);
        m->repr = ir_fmt("GELU(approximate='%s')", ap->s);
    } else if (!strcmp(cls, "SiLU") || !strcmp(cls, "ReLU6")) {
        m->inplace = bool_arg(lw_arg(a, 0, "inplace", mk_bool(false)), loc, "inplace");
        DONE(a, 1, "inplace");
        m->repr = ir_fmt("%s(%s)", cls, m->inplace ? "inplace=True" : "");
    } else if (!strcmp(cls, "Hardtanh")) {
        Value *lo = lw_arg(a, 0, "min_val", mk_float(-1.0)), *hi = lw_arg(a, 1, "max_val", mk_float(1.0));
        m->inplace = bool_arg(lw_arg(a, 2, "inplace", mk_bool(false)), loc, "inplace");
        DONE(a, 3, "min_val", "max_val", "inplace");
        m->act_p[0] = float_arg(lo, loc, "min_val");
        m->act_p[1] = float_arg(hi, loc, "max_val");
        if (m->act_p[0] > m->act_p[1])
            error_at(loc, "Hardtanh: min_val cannot be greater than max_val");
        m->repr = ir_fmt("Hardtanh(min_val=%s, max_val=%s%s)", value_str(lo, loc), value_str(hi, loc),
                         m->inplace ? ", inplace=True" : "");
    } else if (!strcmp(cls, "Softplus")) {
        Value *b = lw_arg(a, 0, "beta", mk_int(1)), *t = lw_arg(a, 1, "threshold", mk_int(20));
        DONE(a, 2, "beta", "threshold");
        m->act_p[0] = float_arg(b, loc, "beta");
        m->act_p[1] = float_arg(t, loc, "threshold");
        if (m->act_p[0] == 0)
            error_at(loc, "Softplus: beta must not be 0");
        m->repr = ir_fmt("Softplus(beta=%s, threshold=%s)", value_str(b, loc), value_str(t, loc));
    } else if (!strcmp(cls, "Softmax") || !strcmp(cls, "LogSoftmax")) {
        Value *d = lw_arg(a, 0, "dim", lw_mk(V_NONE));
        DONE(a, 1, "dim");
        if (d->kind != V_NONE)
            int_arg(d, loc, "dim");
        m->act_dim = d;
        m->repr = ir_fmt("%s(dim=%s)", cls, value_str(d, loc));
    } else if (!strcmp(cls, "Dropout") || !strcmp(cls, "Dropout2d")) {
        Value *p = lw_arg(a, 0, "p", mk_float(0.5));
        m->inplace = bool_arg(lw_arg(a, 1, "inplace", mk_bool(false)), loc, "inplace");
        DONE(a, 2, "p", "inplace");
        m->act_p[0] = float_arg(p, loc, "p");
        if (!(m->act_p[0] >= 0 && m->act_p[0] <= 1))
            error_at(loc, "dropout probability has to be between 0 and 1, but got %s", value_str(p, loc));
        m->repr = ir_fmt("%s(p=%s, inplace=%s)", cls, value_str(p, loc), m->inplace ? "True" : "False");
    } else if (!strcmp(cls, "Identity")) {
        m->repr = "Identity()"; /* any arguments, ignored, as PyTorch's */
        a->npos = a->nkw = 0;
    } else
        return false;
    return true;
}

/* m(x) for an activation module; NULL: m is not one. */
Value *activation_call(Module *m, Value *x, SrcLoc loc) {
    const char *cls = m->cls;
    static const char *const acts[] = {"LeakyReLU", "ELU", "GELU", "SiLU", "Softplus", "ReLU6", "Hardtanh",
                                       "Softmax", "LogSoftmax", "Identity", "Dropout", "Dropout2d"};
    bool known = false;
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        known |= !strcmp(cls, acts[i]);
    if (!known)
        return NULL;
    Attr at[2];
    Value *r;
    if (!strcmp(cls, "Identity"))
        return x;
    if (!strcmp(cls, "Dropout") || !strcmp(cls, "Dropout2d")) /* train mode unless net.eval() */
        return dropout(x, m->act_p[0], !m->eval, cls[7] == '2', m->inplace, loc);
    if (!strcmp(cls, "Softmax") || !strcmp(cls, "LogSoftmax"))
        return softmax_along(x, m->act_dim, cls[0] == 'L', loc);
    if (!strcmp(cls, "LeakyReLU")) {
        at[0] = attr_float("slope", m->act_p[0]);
        r = named_fn(act_op(OP_LEAKY_RELU, x, at, 1, loc), x, m->inplace ? "LeakyReluBackward1" : NULL);
    } else if (!strcmp(cls, "ELU")) {
        at[0] = attr_float("alpha", m->act_p[0]);
        r = named_fn(act_op(OP_ELU, x, at, 1, loc), x, m->inplace ? "EluBackward1" : NULL);
    } else if (!strcmp(cls, "GELU")) {
        at[0] = attr_int("tanh", (int64_t)m->act_p[0]);
        r = act_op(OP_GELU, x, at, 1, loc);
    } else if (!strcmp(cls, "SiLU")) {
        r = act_op(OP_SILU, x, NULL, 0, loc);
    } else if (!strcmp(cls, "Softplus")) {
        at[0] = attr_float("beta", m->act_p[0]);
        at[1] = attr_float("threshold", m->act_p[1]);
        r = act_op(OP_SOFTPLUS, x, at, 2, loc);
    } else { /* Hardtanh, ReLU6 */
        bool r6 = !strcmp(cls, "ReLU6");
        at[0] = attr_float("min", r6 ? 0 : m->act_p[0]);
        at[1] = attr_float("max", r6 ? 6 : m->act_p[1]);
        r = act_op(OP_HARDTANH, x, at, 2, loc);
    }
    return maybe_inplace(x, r, m->inplace, loc);
}
