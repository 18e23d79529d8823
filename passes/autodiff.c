/*
 * autodiff.c: reverse-mode differentiation on the graph.
 *
 * Requires: a verified graph as the frontend lowers it, where each backward() of a program and
 * the training step's gradients are grad nodes, grad(y, dy, x) = dL/dx given dy = dL/dy, and the
 * values made without gradient tracking are flagged NF_NOGRAD. Produces: a new graph with each
 * run of grad nodes sharing y and dy (one backward pass) replaced, where it stood, by the
 * backward graph as ordinary nodes flagged NF_BACKWARD; every reader of a grad node reads the
 * gradient it asked for; no NF_NOGRAD flag is left. Ids are renumbered; nothing else changes.
 *
 * Only what is needed is built. A node needs an adjoint when it lies on a path from some leaf x
 * to y through differentiable inputs (ir_grad_reach, which the frontend asks too, to know which
 * .grad a backward() fills); a frozen parameter is simply not a leaf asked for, so nothing below
 * the lowest trainable layer is differentiated (not even the input gradient of that layer).
 * Leaves end the walk: what computed them (an optimizer update) is not differentiated, nor is a
 * value made under no_grad or an earlier gradient. Adjoints of values used more than once are
 * summed. Each op's vector-Jacobian product emits ordinary ops (elementwise, reductions, matmul,
 * slices) or one of the dedicated backward ops (conv2d_bwd_input/weight, max_pool2d_bwd,
 * cross_entropy_bwd). Broadcasting is undone by summing the adjoint over the broadcast axes.
 */
#include "passes.h"

#include <string.h>

static Graph *G;
static SrcLoc at; /* location of the forward node being differentiated: new nodes trace to it */

static Node *N(int id) { return &G->nodes[id]; }

static int emit(Op op, const int *in, int nin, DType dt, Shape s, const Attr *a, int na) {
    int id = ir_add(G, op, in, nin, dt, s, a, na, at);
    if (id < 0)
        die("autodiff built an ill-typed %s node", op_info[op].name);
    N(id)->flags |= NF_BACKWARD;
    return id;
}

static int op1(Op op, int x) { return emit(op, &x, 1, N(x)->dtype, N(x)->shape, NULL, 0); }
static int op2(Op op, int x, int y) {
    int in[2] = {x, y};
    return emit(op, in, 2, N(x)->dtype, N(x)->shape, NULL, 0);
}

static int scalar(double v, DType dt) {
    Attr a = attr_floats("data", &v, 1);
    a.kind = A_FLOATS;
    return emit(OP_CONST, NULL, 0, dt, shape_scalar(), &a, 1);
}

static int zeros(DType dt, Shape s) {
    Attr a = attr_float("value", 0);
    return emit(OP_FULL, NULL, 0, dt, s, &a, 1);
}

static int cast_to(int x, DType dt) { return N(x)->dtype == dt ? x : emit(OP_CAST, &x, 1, dt, N(x)->shape, NULL, 0); }

/* A comparison as a 0/1 mask of dtype dt. */
static int mask(Op cmp, int x, int y, DType dt) { return cast_to(op2(cmp, x, y), dt); }

static int reshape_to(int x, Shape s) {
    if (shape_eq(N(x)->shape, s))
        return x;
    Attr a = attr_ints("shape", s.d, s.rank);
    a.kind = A_INTS;
    return emit(OP_RESHAPE, &x, 1, N(x)->dtype, s, &a, 1);
}

static int sum_axes(int x, const int64_t *axes, int n, bool keepdim) {
    Attr a[2] = {attr_ints("axes", axes, n), attr_int("keepdim", keepdim)};
    a[0].kind = A_INTS;
    return emit(OP_SUM, &x, 1, N(x)->dtype, shape_scalar(), a, 2);
}

/* 1 - m, m of the shape of the gradient */
static int one_minus(int m, DType dt) { return op2(OP_ADD, op1(OP_NEG, m), scalar(1, dt)); }

/* g * (m ? 1 : d) for a 0/1 mask m: exactly g where m is 1, g * d where it is 0 (d finite there) */
static int pick_grad(int g, int m, int d, DType dt) {
    return op2(OP_ADD, op2(OP_MUL, g, m), op2(OP_MUL, op2(OP_MUL, g, one_minus(m, dt)), d));
}

/* The gradient of an activation (activations.c's ops), as PyTorch's backward computes it. */
static int activation_grad(const Node *n, int x, int g, DType dt) {
    switch (n->op) {
    case OP_LEAKY_RELU: /* x > 0 ? g : g * slope */
        return pick_grad(g, mask(OP_GT, x, scalar(0, dt), dt), scalar(node_float(n, "slope", 0.01), dt), dt);
    case OP_ELU: /* x > 0 ? g : g * alpha * exp(x), which is y + alpha there */
        return pick_grad(g, mask(OP_GT, x, scalar(0, dt), dt),
                         op2(OP_ADD, n->id, scalar(node_float(n, "alpha", 1), dt)), dt);
    case OP_GELU: {
        if (node_int(n, "tanh", 0)) {
            /* 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2), t = tanh(inner) */
            double beta = 0.7978845608028654, kappa = 0.044715;
            int x2 = op2(OP_MUL, x, x);
            int inner = op2(OP_MUL, op2(OP_ADD, x, op2(OP_MUL, op2(OP_MUL, x2, x), scalar(kappa, dt))), scalar(beta, dt));
            int t = op1(OP_TANH, inner);
            int left = op2(OP_MUL, op2(OP_ADD, t, scalar(1, dt)), scalar(0.5, dt));
            int dt2 = one_minus(op2(OP_MUL, t, t), dt);
            int right = op2(OP_MUL, op2(OP_MUL, op2(OP_MUL, x, scalar(0.5, dt)), dt2),
                            op2(OP_MUL, op2(OP_ADD, op2(OP_MUL, x2, scalar(3 * kappa, dt)), scalar(1, dt)), scalar(beta, dt)));
            return op2(OP_MUL, g, op2(OP_ADD, left, right));
        }
        /* Phi(x) + x phi(x) */
        int cdf = op2(OP_MUL, op2(OP_ADD, op1(OP_ERF, op2(OP_MUL, x, scalar(0.7071067811865476, dt))), scalar(1, dt)),
                      scalar(0.5, dt));
        int pdf = op2(OP_MUL, op1(OP_EXP, op2(OP_MUL, op2(OP_MUL, x, x), scalar(-0.5, dt))), scalar(0.3989422804014327, dt));
        return op2(OP_MUL, g, op2(OP_ADD, cdf, op2(OP_MUL, x, pdf)));
    }
    case OP_SILU: { /* s (1 + x (1 - s)), s = sigmoid(x) */
        int s = op1(OP_SIGMOID, x);
        return op2(OP_MUL, g, op2(OP_MUL, s, op2(OP_ADD, op2(OP_MUL, x, one_minus(s, dt)), scalar(1, dt))));
    }
    case OP_SOFTPLUS: { /* beta x > threshold ? g : g * sigmoid(beta x) */
        int bx = op2(OP_MUL, x, scalar(node_float(n, "beta", 1), dt));
        return pick_grad(g, mask(OP_GT, bx, scalar(node_float(n, "threshold", 20), dt), dt), op1(OP_SIGMOID, bx), dt);
    }
    case OP_HARDTANH: { /* g where min < x < max (clamp's, attr inclusive: min <= x <= max), else 0 */
        bool inc = node_int(n, "inclusive", 0);
        return op2(OP_MUL, op2(OP_MUL, g, mask(inc ? OP_GE : OP_GT, x, scalar(node_float(n, "min", -1), dt), dt)),
                   mask(inc ? OP_LE : OP_LT, x, scalar(node_float(n, "max", 1), dt), dt));
    }
    case OP_ERF: /* 2 / sqrt(pi) exp(-x^2) */
        return op2(OP_MUL, g, op2(OP_MUL, op1(OP_EXP, op1(OP_NEG, op2(OP_MUL, x, x))), scalar(1.1283791670955126, dt)));
    default: unreachable();
    }
}

/* Positions in a pooling window. */
static int64_t window(const Node *n) {
    int len;
    const int64_t *k = node_ints(n, "kernel", &len);
    return len == 1 ? k[0] * k[0] : k[0] * k[1];
}

/* Do two nodes carry the same attributes (the pooling parameters of a forward and its codes)? */
static bool same_attrs(const Node *a, const Node *b) {
    if (a->nattr != b->nattr)
        return false;
    for (int i = 0; i < a->nattr; i++) {
        const Attr *x = &a->attr[i], *y = node_attr(b, a->attr[i].key);
        if (!y || x->kind != y->kind || x->n != y->n)
            return false;
        if ((x->kind == A_INT || x->kind == A_INTS) && memcmp(x->i, y->i, sizeof(int64_t) * (size_t)x->n))
            return false;
        if ((x->kind == A_FLOAT || x->kind == A_FLOATS) && memcmp(x->f, y->f, sizeof(double) * (size_t)x->n))
            return false;
        if (x->kind == A_STR && strcmp(x->s, y->s))
            return false;
    }
    return true;
}

/* Sums an adjoint of a broadcast result back to the operand's shape. */
static int reduce_to(int g, Shape s) {
    Shape gs = N(g)->shape;
    if (shape_eq(gs, s))
        return g;
    int64_t axes[MAX_RANK];
    int n = 0, lead = gs.rank - s.rank;
    for (int i = 0; i < gs.rank; i++)
        if (i < lead || (s.d[i - lead] == 1 && gs.d[i] != 1))
            axes[n++] = i;
    return reshape_to(n ? sum_axes(g, axes, n, false) : g, s);
}

static int expand_to(int x, Shape s) {
    if (shape_eq(N(x)->shape, s))
        return x;
    Attr a = attr_ints("shape", s.d, s.rank);
    a.kind = A_INTS;
    return emit(OP_EXPAND, &x, 1, N(x)->dtype, s, &a, 1);
}

/* The adjoint of a reduction's result, broadcast back over the reduced axes. */
static int unreduce(int g, const Node *red, Shape in) {
    int naxes;
    const int64_t *axes = node_ints(red, "axes", &naxes);
    Shape kept = in;
    for (int i = 0; i < naxes; i++)
        kept.d[axes[i]] = 1;
    return expand_to(reshape_to(g, kept), in);
}

static int transpose_last2(int x) {
    Shape s = N(x)->shape;
    int64_t perm[MAX_RANK];
    for (int i = 0; i < s.rank; i++)
        perm[i] = i;
    perm[s.rank - 2] = s.rank - 1;
    perm[s.rank - 1] = s.rank - 2;
    Attr a = attr_ints("perm", perm, s.rank);
    a.kind = A_INTS;
    return emit(OP_PERMUTE, &x, 1, N(x)->dtype, shape_scalar(), &a, 1);
}

static int matmul(int a, int b) {
    int in[2] = {a, b};
    return emit(OP_MATMUL, in, 2, N(a)->dtype, shape_scalar(), NULL, 0);
}

/* 0/1 mask of dtype dt marking, along `axis` of x, the position given by idx (keepdim indices). */
static int one_hot_along(int idx, Shape xs, int axis, DType dt) {
    Attr a[2] = {attr_float("start", 0), attr_float("step", 1)};
    Shape line = shape_make(1, &xs.d[axis]);
    int iota = emit(OP_ARANGE, NULL, 0, DT_I64, line, a, 2);
    Shape bs = xs;
    for (int i = 0; i < bs.rank; i++)
        bs.d[i] = i == axis ? xs.d[axis] : 1;
    iota = expand_to(reshape_to(iota, bs), xs);
    return mask(OP_EQ, iota, expand_to(idx, xs), dt);
}

/* Gradient of max/min over `red`'s axes, routed as PyTorch does. */
static int extremum_grad(const Node *red, int x, int g) {
    Node *xn = N(x);
    DType dt = xn->dtype;
    int naxes;
    const int64_t *axes = node_ints(red, "axes", &naxes);
    if (node_int(red, "indices", 0)) {
        /* max(dim): all of it to the first extremum along the axis (the index PyTorch returns) */
        int src = red->op == OP_MAX ? x : op1(OP_NEG, x);
        Attr a[2] = {attr_ints("axes", axes, 1), attr_int("keepdim", 1)};
        a[0].kind = A_INTS;
        int idx = emit(OP_ARGMAX, &src, 1, DT_I64, shape_scalar(), a, 2);
        return op2(OP_MUL, unreduce(g, red, xn->shape), one_hot_along(idx, xn->shape, (int)axes[0], dt));
    }
    /* max() over everything: shared evenly among the tied elements */
    int m = mask(OP_EQ, x, unreduce(red->id, red, xn->shape), dt);
    int count = unreduce(sum_axes(m, axes, naxes, false), red, xn->shape);
    return op2(OP_DIV, op2(OP_MUL, unreduce(g, red, xn->shape), m), count);
}

/* dL/d input k of node n, given g = dL/d n. */
static int vjp(const Node *n, int k, int g) {
    int x = n->in[0], y = n->nin > 1 ? n->in[1] : -1;
    Shape xs = N(x)->shape;
    DType dt = n->dtype;
    switch (n->op) {
    case OP_ADD: return reduce_to(g, N(n->in[k])->shape);
    case OP_SUB: return reduce_to(k == 0 ? g : op1(OP_NEG, g), N(n->in[k])->shape);
    case OP_MUL: return reduce_to(op2(OP_MUL, g, n->in[1 - k]), N(n->in[k])->shape);
    case OP_DIV:
        if (k == 0)
            return reduce_to(op2(OP_DIV, g, y), xs);
        /* d(a/b)/db = -(a/b)/b */
        return reduce_to(op1(OP_NEG, op2(OP_DIV, op2(OP_MUL, g, n->id), y)), N(y)->shape);
    case OP_POW:
        if (k == 0) {
            /* b * a^(b-1), and 0 where b == 0 (PyTorch masks it; 0 * 0^-1 would be NaN): the exponent
               becomes b - 1 + [b == 0], so a zero exponent gives a^0 = 1 and the factor b makes it 0 */
            int bias = mask(OP_EQ, y, scalar(0, dt), dt);
            int e = op2(OP_ADD, op2(OP_SUB, y, scalar(1, dt)), bias);
            return reduce_to(op2(OP_MUL, g, op2(OP_MUL, y, op2(OP_POW, x, e))), xs);
        }
        /* a^b * log(a), and 0 where a == 0 (log(a + [a == 0]) = log(1)), as PyTorch masks it */
        return reduce_to(op2(OP_MUL, g, op2(OP_MUL, n->id, op1(OP_LOG, op2(OP_ADD, x, mask(OP_EQ, x, scalar(0, dt), dt))))),
                         N(y)->shape);
    case OP_MAXIMUM:
    case OP_MINIMUM: {
        /* ties share the gradient equally, as PyTorch's maximum/minimum backward */
        Op win = n->op == OP_MAXIMUM ? OP_GT : OP_LT;
        int m = op2(OP_ADD, mask(win, x, y, dt), op2(OP_MUL, mask(OP_EQ, x, y, dt), scalar(0.5, dt)));
        if (k == 1)
            m = op2(OP_SUB, scalar(1, dt), m);
        return reduce_to(op2(OP_MUL, g, m), N(n->in[k])->shape);
    }
    case OP_NEG: return op1(OP_NEG, g);
    case OP_RELU: {
        /*
         * relu then max_pool2d: the gradient reaches only each window's maximum, where the relu's
         * output is the pooled value, so the mask is taken on the pooled values, before the
         * gradient is spread out. Same values (up to the sign of a zero), and the relu's output
         * need not be kept for the backward pass.
         */
        const Node *b = N(g);
        if (b->op == OP_MAXPOOL2D_BWD_AT && N(b->in[0])->in[0] == n->id) {
            const Node *codes = N(b->in[0]);
            for (int p = n->id + 1; p < G->nnode; p++) {
                const Node *pool = N(p);
                if (pool->op != OP_MAXPOOL2D || pool->in[0] != n->id || !same_attrs(pool, codes))
                    continue;
                int dy = op2(OP_MUL, b->in[1], mask(OP_GT, p, scalar(0, dt), dt));
                int in[2] = {codes->id, dy};
                return emit(OP_MAXPOOL2D_BWD_AT, in, 2, dt, b->shape, b->attr, b->nattr);
            }
        }
        return op2(OP_MUL, g, mask(OP_GT, n->id, scalar(0, dt), dt));
    }
    case OP_EXP: return op2(OP_MUL, g, n->id);
    case OP_LOG: return op2(OP_DIV, g, x);
    case OP_SQRT: return op2(OP_DIV, g, op2(OP_MUL, n->id, scalar(2, dt)));
    case OP_ABS: return op2(OP_MUL, g, op2(OP_SUB, mask(OP_GT, x, scalar(0, dt), dt), mask(OP_LT, x, scalar(0, dt), dt)));
    case OP_TANH: return op2(OP_MUL, g, op2(OP_SUB, scalar(1, dt), op2(OP_MUL, n->id, n->id)));
    case OP_SIGMOID: return op2(OP_MUL, g, op2(OP_MUL, n->id, op2(OP_SUB, scalar(1, dt), n->id)));
    case OP_LEAKY_RELU: case OP_ELU: case OP_GELU: case OP_SILU: case OP_SOFTPLUS: case OP_HARDTANH: case OP_ERF:
        return activation_grad(n, x, g, dt);
    case OP_COS: return op2(OP_MUL, g, op1(OP_NEG, op1(OP_SIN, x)));
    case OP_SIN: return op2(OP_MUL, g, op1(OP_COS, x));
    case OP_CAST: return cast_to(g, N(x)->dtype);
    case OP_SUM: return unreduce(g, n, xs);
    case OP_MEAN: {
        int64_t count = shape_numel(xs) / (shape_numel(n->shape) ? shape_numel(n->shape) : 1);
        return op2(OP_DIV, unreduce(g, n, xs), scalar((double)count, dt));
    }
    case OP_MAX:
    case OP_MIN: return extremum_grad(n, x, g);
    case OP_RESHAPE: return reshape_to(g, xs);
    case OP_EXPAND: return reduce_to(g, xs);
    case OP_PERMUTE: {
        int len;
        const int64_t *p = node_ints(n, "perm", &len);
        int64_t inv[MAX_RANK];
        for (int i = 0; i < len; i++)
            inv[p[i]] = i;
        Attr a = attr_ints("perm", inv, len);
        a.kind = A_INTS;
        return emit(OP_PERMUTE, &g, 1, N(g)->dtype, shape_scalar(), &a, 1);
    }
    case OP_SELECT: {
        int in[3] = {zeros(dt, xs), g, n->in[1]};
        return emit(OP_SETSELECT, in, 3, dt, xs, n->attr, n->nattr);
    }
    case OP_SETSELECT: {
        if (k == 0) { /* the overwritten row gets nothing */
            int in[3] = {g, zeros(dt, N(n->in[1])->shape), n->in[2]};
            return emit(OP_SETSELECT, in, 3, dt, xs, n->attr, n->nattr);
        }
        int in[2] = {g, n->in[2]};
        return emit(OP_SELECT, in, 2, dt, shape_scalar(), n->attr, n->nattr);
    }
    case OP_SLICE: {
        int in[2] = {zeros(dt, xs), g};
        return emit(OP_SETSLICE, in, 2, dt, xs, n->attr, n->nattr);
    }
    case OP_SETSLICE: {
        if (k == 0) { /* the overwritten region gets nothing */
            int in[2] = {g, scalar(0, dt)};
            return emit(OP_SETSLICE, in, 2, dt, xs, n->attr, n->nattr);
        }
        int region = emit(OP_SLICE, &g, 1, dt, shape_scalar(), n->attr, n->nattr);
        return reduce_to(region, N(y)->shape);
    }
    case OP_CAT: {
        int axis = (int)node_int(n, "axis", 0);
        int64_t off = 0;
        for (int i = 0; i < k; i++)
            off += N(n->in[i])->shape.d[axis];
        Shape ks = N(n->in[k])->shape;
        int64_t start[MAX_RANK] = {0}, step[MAX_RANK], size[MAX_RANK];
        for (int i = 0; i < ks.rank; i++) {
            step[i] = 1;
            size[i] = ks.d[i];
        }
        start[axis] = off;
        Attr a[3] = {attr_ints("start", start, ks.rank), attr_ints("step", step, ks.rank),
                     attr_ints("size", size, ks.rank)};
        for (int i = 0; i < 3; i++)
            a[i].kind = A_INTS;
        return emit(OP_SLICE, &g, 1, dt, shape_scalar(), a, 3);
    }
    case OP_MATMUL:
        if (k == 0)
            return reduce_to(matmul(g, transpose_last2(y)), xs);
        return reduce_to(matmul(transpose_last2(x), g), N(y)->shape);
    case OP_LINEAR: {
        Node *w = N(n->in[1]);
        /* R rows: every axis of x but the features (not numel(x) / I, which is 0 when I is 0) */
        int64_t O = w->shape.d[0], I = w->shape.d[1], R = 1;
        for (int i = 0; i + 1 < xs.rank; i++)
            R *= xs.d[i];
        int g2 = reshape_to(g, shape_make(2, (int64_t[]){R, O}));
        if (k == 0)
            return reshape_to(matmul(g2, n->in[1]), xs);
        if (k == 1)
            return matmul(transpose_last2(g2), reshape_to(x, shape_make(2, (int64_t[]){R, I})));
        return sum_axes(g2, (int64_t[]){0}, 1, false);
    }
    case OP_CONV2D: {
        if (k == 2)
            return sum_axes(g, (int64_t[]){0, 2, 3}, 3, false);
        Attr a[5];
        int na = 0;
        for (int i = 0; i < n->nattr; i++)
            a[na++] = n->attr[i];
        Shape target = N(n->in[k])->shape;
        a[na] = attr_ints("shape", target.d, 4);
        a[na++].kind = A_INTS;
        if (k == 0) {
            int in[2] = {g, n->in[1]};
            return emit(OP_CONV2D_BWD_INPUT, in, 2, dt, target, a, na);
        }
        int in[2] = {x, g};
        return emit(OP_CONV2D_BWD_WEIGHT, in, 2, dt, target, a, na);
    }
    case OP_MAXPOOL2D:
        if (window(n) <= 255) {
            /* where each window's maximum is, as a byte per window: the backward pass needs only
             * that, so the pooled input need not be kept for it */
            int codes = emit(OP_MAXPOOL2D_ARGMAX, &x, 1, DT_U8, n->shape, n->attr, n->nattr);
            Attr *a = ir_alloc(sizeof(Attr) * (size_t)(n->nattr + 1));
            memcpy(a, n->attr, sizeof(Attr) * (size_t)n->nattr);
            a[n->nattr] = attr_ints("shape", xs.d, xs.rank);
            a[n->nattr].kind = A_INTS;
            int in[2] = {codes, g};
            return emit(OP_MAXPOOL2D_BWD_AT, in, 2, dt, xs, a, n->nattr + 1);
        }
        /* fall through */
    case OP_AVGPOOL2D: {
        int in[2] = {x, g};
        return emit(n->op == OP_MAXPOOL2D ? OP_MAXPOOL2D_BWD : OP_AVGPOOL2D_BWD, in, 2, dt, xs, n->attr, n->nattr);
    }
    case OP_CROSS_ENTROPY: {
        int in[3] = {x, n->in[1], g};
        return emit(OP_CROSS_ENTROPY_BWD, in, 3, dt, xs, n->attr, n->nattr);
    }
    case OP_WHERE: { /* g where the condition picked this input, else 0 */
        int in[3] = {x, k == 1 ? g : scalar(0, dt), k == 1 ? scalar(0, dt) : g};
        return reduce_to(emit(OP_WHERE, in, 3, dt, N(g)->shape, NULL, 0), N(n->in[k])->shape);
    }
    /* gather and index_select read places of x: their gradient adds g there (scatter_add and
     * index_add into zeros); the adds' gradient reads those places again */
    case OP_GATHER: {
        int in[3] = {zeros(dt, xs), y, g};
        return emit(OP_SCATTER_ADD, in, 3, dt, xs, n->attr, n->nattr);
    }
    case OP_INDEX_SELECT: {
        int in[3] = {zeros(dt, xs), y, g};
        return emit(OP_INDEX_ADD, in, 3, dt, xs, n->attr, n->nattr);
    }
    case OP_SCATTER_ADD: case OP_INDEX_ADD: {
        if (k == 0)
            return g;
        int in[2] = {g, y};
        const Node *src = N(n->in[2]);
        int r = emit(n->op == OP_SCATTER_ADD ? OP_GATHER : OP_INDEX_SELECT, in, 2, dt, shape_scalar(), n->attr, n->nattr);
        if (!shape_eq(N(r)->shape, src->shape)) { /* a src larger than its index: the rest gets 0 */
            int64_t start[MAX_RANK] = {0}, step[MAX_RANK], size[MAX_RANK];
            for (int i = 0; i < src->shape.rank; i++) {
                step[i] = 1;
                size[i] = N(r)->shape.d[i];
            }
            Attr a[3] = {attr_ints("start", start, src->shape.rank), attr_ints("step", step, src->shape.rank),
                         attr_ints("size", size, src->shape.rank)};
            for (int i = 0; i < 3; i++)
                a[i].kind = A_INTS;
            int in2[2] = {zeros(dt, src->shape), r};
            r = emit(OP_SETSLICE, in2, 2, dt, src->shape, a, 3);
        }
        return r;
    }
    default:
        die("no gradient rule for %s", op_info[n->op].name);
    }
}

/*
 * Appends dL/d wrt[i] for each leaf to G (grads[i]), given dy = dL/dy: adjoints in reverse order
 * over the nodes ir_grad_reach marks, each op's VJP, the adjoints of a value used twice summed.
 * Gradient nodes are named "d <yname>/d <name>".
 */
static void differentiate(int y, int dy, const int *wrt, int nwrt, int *grads, const char *yname) {
    int n0 = G->nnode;
    bool *reach = ir_grad_reach(G, y, wrt, nwrt), *leaf = ir_alloc((size_t)n0 + 1);
    for (int i = 0; i < nwrt; i++)
        leaf[wrt[i]] = true;
    int *adj = ir_alloc(sizeof(int) * (size_t)(n0 + 1));
    for (int i = 0; i < n0; i++)
        adj[i] = -1;
    adj[y] = dy;
    for (int i = y; i >= 0; i--) {
        if (!reach[i] || leaf[i])
            continue;
        /* copy: emitting nodes may move the node array */
        Node n = *N(i);
        at = n.loc;
        for (int k = 0; k < n.nin; k++) {
            int x = n.in[k];
            if (!reach[x] || !ir_grad_flows(G, &n, k))
                continue;
            int c = vjp(&n, k, adj[i]);
            if (adj[x] < 0)
                adj[x] = c;
            else {
                int in[2] = {adj[x], c}; /* a value used twice: its adjoints add up */
                adj[x] = emit(OP_ADD, in, 2, N(c)->dtype, N(c)->shape, NULL, 0);
            }
            if (!N(adj[x])->name)
                N(adj[x])->name = N(x)->name ? ir_fmt("d %s/d %s", yname, N(x)->name) : NULL;
        }
    }
    for (int w = 0; w < nwrt; w++) {
        grads[w] = adj[wrt[w]];
        if (grads[w] >= 0 && N(wrt[w])->name)
            N(grads[w])->name = ir_fmt("d %s/d %s", yname, N(wrt[w])->name);
    }
}

/* One backward(): the run of grad nodes from `first` that share its y, its seed and its call (two
 * backward() calls alike in a row are two passes: the leaves of each are its own). */
static int backward_run(const Graph *g, int first) {
    const Node *f = &g->nodes[first];
    int last = first;
    while (last + 1 < g->nnode) {
        const Node *n = &g->nodes[last + 1];
        if (n->op != OP_GRAD || n->in[0] != f->in[0] || n->in[1] != f->in[1] ||
            node_int(n, "call", 0) != node_int(f, "call", 0))
            break;
        last++;
    }
    return last;
}

/* A gradient the backward pass did not make (the seed itself, when x is y or y = x + 0), or one
 * that another leaf of the same pass got too (y = (a + b) * 2), is copied: each .grad is a value
 * of its own, a constant to a later backward, as PyTorch's are. */
static int own_gradient(int grad, int made_from, const bool *taken) {
    if (grad >= made_from && !taken[grad])
        return grad;
    Shape s = N(grad)->shape;
    Attr a = attr_ints("shape", s.d, s.rank);
    a.kind = A_INTS;
    return emit(OP_RESHAPE, &grad, 1, N(grad)->dtype, s, &a, 1);
}

Graph *pass_autodiff(Graph *g) {
    Graph *out = ir_new_graph(g->name);
    out->train = g->train;
    G = out;
    int *remap = ir_alloc(sizeof(int) * (size_t)(g->nnode + 1));
    for (int i = 0; i < g->nnode; i++) {
        const Node *n = &g->nodes[i];
        if (n->op != OP_GRAD) {
            int *in = ir_alloc(sizeof(int) * (size_t)(n->nin + 1));
            for (int k = 0; k < n->nin; k++)
                in[k] = remap[n->in[k]];
            int id = ir_add_typed(out, n->op, in, n->nin, n->dtype, n->shape, n->attr, n->nattr, n->loc);
            out->nodes[id].flags = n->flags;
            out->nodes[id].name = n->name;
            out->nodes[id].group = n->group;
            remap[i] = id;
            continue;
        }
        /* the backward graph goes where the backward() was, before anything reads a gradient */
        int last = backward_run(g, i), nwrt = last - i + 1;
        int *wrt = ir_alloc(sizeof(int) * (size_t)nwrt), *grads = ir_alloc(sizeof(int) * (size_t)nwrt);
        for (int j = 0; j < nwrt; j++)
            wrt[j] = remap[g->nodes[i + j].in[2]];
        int y = remap[n->in[0]], made_from = out->nnode;
        const char *yname = out->nodes[y].name ? out->nodes[y].name : "y";
        differentiate(y, remap[n->in[1]], wrt, nwrt, grads, yname);
        bool *taken = ir_alloc((size_t)(out->nnode + nwrt) + 1); /* room for a copy per leaf */
        for (int j = 0; j < nwrt; j++) {
            const Node *gn = &g->nodes[i + j];
            if (grads[j] < 0)
                error_at(gn->loc, "grad: %%%d does not depend on %%%d through operations a gradient flows through",
                         gn->in[0], gn->in[2]);
            at = gn->loc;
            grads[j] = own_gradient(grads[j], made_from, taken);
            if (grads[j] < made_from || taken[grads[j]])
                die("autodiff: a gradient shared");
            taken[grads[j]] = true;
            if (!out->nodes[grads[j]].name && out->nodes[wrt[j]].name)
                out->nodes[grads[j]].name = ir_fmt("d %s/d %s", yname, out->nodes[wrt[j]].name);
            Node *r = &out->nodes[grads[j]];
            /* a trainable parameter's gradient is kept beside it by memplan (not when it is itself a
             * parameter or an input, as dL/dx = seed is when y is x) */
            if ((gn->flags & NF_GRAD) && !(r->flags & (NF_PARAM | NF_INPUT)))
                r->flags |= NF_GRAD;
            remap[i + j] = grads[j];
        }
        i = last;
    }
    /* what autograd recorded has been used: the graph reads the same as one built by hand */
    for (int i = 0; i < out->nnode; i++)
        out->nodes[i].flags &= ~NF_NOGRAD;
    return out;
}
