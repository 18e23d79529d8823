/*
 * init.c: torch.nn.init, the functions that fill a tensor (a parameter, usually) in place.
 *
 * Each is PyTorch 1.13's: the bounds and standard deviations are computed in double as its Python
 * computes them (calculate_gain, the fans), then the tensor is filled by uniform_ or normal_ from
 * the program's generator, whose draws are PyTorch's (runtime/rng.c), so for the same seed the
 * values are PyTorch's bit for bit. orthogonal_ takes the Q of a QR of normal draws as PyTorch
 * does (the orthogonal op, in double: within rounding of PyTorch's float LAPACK). Like PyTorch's,
 * the fill is not recorded by autograd.
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* torch.nn.init.calculate_gain(nonlinearity, param=None) */
static double gain_of(const char *nl, Value *param, SrcLoc loc) {
    static const char *const one[] = {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                      "conv_transpose2d", "conv_transpose3d", "sigmoid"};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
        if (!strcmp(nl, one[i]))
            return 1;
    if (!strcmp(nl, "tanh"))
        return 5.0 / 3;
    if (!strcmp(nl, "relu"))
        return sqrt(2.0);
    if (!strcmp(nl, "leaky_relu")) {
        double slope = !param || param->kind == V_NONE ? 0.01 : float_arg(param, loc, "param");
        return sqrt(2.0 / (1 + slope * slope));
    }
    if (!strcmp(nl, "selu"))
        return 3.0 / 4;
    error_at(loc, "Unsupported nonlinearity %s", nl);
}

/* _calculate_fan_in_and_fan_out */
static void fans(Value *t, double *in, double *out, SrcLoc loc) {
    Shape s = TN(t)->shape;
    if (s.rank < 2)
        error_at(loc, "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (here %s)",
                 shape_str(s));
    double rf = 1;
    for (int i = 2; i < s.rank; i++)
        rf *= (double)s.d[i];
    *in = (double)s.d[1] * rf;
    *out = (double)s.d[0] * rf;
}

/* t filled in place with draws (uniform_(a, b) or normal_(mean, std)), or a constant */
static Value *fill(Value *t, Op op, double p0, double p1, SrcLoc loc) {
    bool saved = L.no_grad;
    L.no_grad = true;
    Value *v;
    if (op == OP_FULL)
        v = mk_float(p0);
    else {
        Attr a[2] = {attr_float(op == OP_RANDN ? "mean" : "from", p0), attr_float(op == OP_RANDN ? "std" : "to", p1)};
        v = mk_tensor(lw_add(op, NULL, 0, TN(t)->dtype, TN(t)->shape, a, 2, loc));
    }
    assign_into(t, v, loc);
    L.no_grad = saved;
    return t;
}

static const char *str_arg(Value *v, const char *what, SrcLoc loc) {
    if (v->kind != V_STR)
        error_at(loc, "%s must be a string", what);
    return v->s;
}

/* orthogonal_(tensor, gain=1): the draws (rows, numel / rows), as their transpose where there are
 * fewer rows than columns; the Q of their QR with R's diagonal made positive; times gain. */
static Value *orthogonal(Value *t, double gain, SrcLoc loc) {
    Shape s = TN(t)->shape;
    if (s.rank < 2)
        error_at(loc, "Only tensors with 2 or more dimensions are supported");
    int64_t rows = s.d[0], cols = rows ? shape_numel(s) / rows : 0;
    if (!rows || !cols)
        return t; /* PyTorch: nothing to fill */
    bool saved = L.no_grad;
    L.no_grad = true;
    Attr a[2] = {attr_float("mean", 0), attr_float("std", 1)};
    Value *draw = mk_tensor(lw_add(OP_RANDN, NULL, 0, TN(t)->dtype, shape_make(2, (int64_t[]){rows, cols}), a, 2, loc));
    Value *m = lw_result(lw_cast(draw->node, DT_F64, loc), draw, NULL);
    int64_t perm[2] = {1, 0};
    if (rows < cols)
        m = lw_permute(m, perm, 2, loc);
    Value *q = lw_result(lw_add(OP_ORTHOGONAL, &m->node, 1, DT_F64, shape_scalar(), NULL, 0, loc), m, NULL);
    if (rows < cols)
        q = lw_permute(q, perm, 2, loc);
    q = lw_result(lw_cast(q->node, TN(t)->dtype, loc), q, NULL);
    q = view_reshape(q, s, loc);
    if (gain != 1)
        q = tensor_binop(OP_MUL, q, mk_float(gain), loc);
    assign_into(t, q, loc);
    L.no_grad = saved;
    return t;
}

/* nn.init.uniform_, normal_, constant_, zeros_, ones_, xavier_*, kaiming_*, orthogonal_; calculate_gain */
Value *bi_init(Args *a) {
    SrcLoc loc = a->loc;
    const char *f = a->fname;
    if (!strcmp(f, "calculate_gain")) {
        const char *nl = str_arg(lw_req(a, 0, "nonlinearity"), "nonlinearity", loc);
        Value *p = lw_arg(a, 1, "param", lw_mk(V_NONE));
        DONE(a, 2, "nonlinearity", "param");
        return mk_float(gain_of(nl, p, loc));
    }
    Value *t = tensor_arg(lw_req(a, 0, "tensor"), loc, "the tensor");
    if (!dtype_is_float(TN(t)->dtype))
        error_at(loc, "%s fills a floating-point tensor, got %s", f, type_str(TN(t)->dtype, TN(t)->shape));
    double fin, fout;
    if (!strcmp(f, "uniform_")) {
        double lo = float_arg(lw_arg(a, 1, "a", mk_float(0)), loc, "a"), hi = float_arg(lw_arg(a, 2, "b", mk_float(1)), loc, "b");
        DONE(a, 3, "tensor", "a", "b");
        return fill(t, OP_RAND, lo, hi, loc);
    }
    if (!strcmp(f, "normal_")) {
        double m = float_arg(lw_arg(a, 1, "mean", mk_float(0)), loc, "mean");
        double s = float_arg(lw_arg(a, 2, "std", mk_float(1)), loc, "std");
        DONE(a, 3, "tensor", "mean", "std");
        if (s < 0)
            error_at(loc, "normal_ expects std >= 0.0, got %g", s);
        return fill(t, OP_RANDN, m, s, loc);
    }
    if (!strcmp(f, "orthogonal_")) {
        double gain = float_arg(lw_arg(a, 1, "gain", mk_float(1)), loc, "gain");
        DONE(a, 2, "tensor", "gain");
        return orthogonal(t, gain, loc);
    }
    if (!strcmp(f, "constant_")) {
        double v = float_arg(lw_req(a, 1, "val"), loc, "val");
        DONE(a, 2, "tensor", "val");
        return fill(t, OP_FULL, v, 0, loc);
    }
    if (!strcmp(f, "zeros_") || !strcmp(f, "ones_")) {
        DONE(a, 1, "tensor");
        return fill(t, OP_FULL, f[0] == 'o', 0, loc);
    }
    if (!strncmp(f, "xavier_", 7)) { /* std = gain * sqrt(2 / (fan_in + fan_out)) */
        double gain = float_arg(lw_arg(a, 1, "gain", mk_float(1)), loc, "gain");
        DONE(a, 2, "tensor", "gain");
        fans(t, &fin, &fout, loc);
        double std = gain * sqrt(2.0 / (fin + fout));
        if (f[7] == 'n')
            return fill(t, OP_RANDN, 0, std, loc);
        double bound = sqrt(3.0) * std;
        return fill(t, OP_RAND, -bound, bound, loc);
    }
    /* kaiming_uniform_(tensor, a=0, mode='fan_in', nonlinearity='leaky_relu'), kaiming_normal_ */
    Value *av = lw_arg(a, 1, "a", mk_int(0));
    const char *mode = str_arg(lw_arg(a, 2, "mode", mk_str("fan_in")), "mode", loc);
    const char *nl = str_arg(lw_arg(a, 3, "nonlinearity", mk_str("leaky_relu")), "nonlinearity", loc);
    DONE(a, 4, "tensor", "a", "mode", "nonlinearity");
    if (strcmp(mode, "fan_in") && strcmp(mode, "fan_out"))
        error_at(loc, "Mode %s not supported, please use one of fan_in, fan_out", mode);
    fans(t, &fin, &fout, loc);
    double fan = mode[4] == 'i' ? fin : fout;
    double std = gain_of(nl, av, loc) / sqrt(fan);
    if (f[8] == 'n')
        return fill(t, OP_RANDN, 0, std, loc);
    double bound = sqrt(3.0) * std;
    return fill(t, OP_RAND, -bound, bound, loc);
}
