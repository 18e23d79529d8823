/*
 * emit_cuda.c: Graph -> CUDA C++ kernels, compiled when the program starts by NVRTC (the host
 * functions that launch them are host_cuda.c's).
 *
 * The kernels are the C backend's units (one node, or a fusion group as pass_fuse made it) with
 * the same names, comments and buffer parameters (codegen_c/frame.h). Each is written as
 * a gather: one thread computes one output element and writes it once, in a grid-stride loop, so
 * no kernel needs atomics, any grid size is correct, and the result does not depend on how the
 * GPU schedules threads. Fused elementwise ops run on the element before its store, as the C
 * backend's epilogues do. Long reductions (conv2d's weight gradient, the bias gradients' sums)
 * give each output element a block of 256 threads that sum strided parts and combine them in a
 * fixed tree, deterministic too. Shapes are literal constants, so the launch sizes come from the
 * shapes alone and the output is the same for the same graph.
 *
 * The host half, backend_cuda, is host_cuda.c.
 */
#include "codegen_cuda.h"
#include "cuda_emit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


typedef enum { PER_ELEMENT, PER_OUTPUT_BLOCK, ONE_BLOCK } Style;

static const char *T(DType dt) { return dtype_ctype(dt); }
static long long L(int64_t v) { return (long long)v; }

/* Coordinate expressions of flat index `flat` in shape s: "(i / 64 % 8)"; 0 along an axis of one. */
static const char **coords(Shape s, const char *flat) {
    int64_t st[MAX_RANK];
    cg_strides(s, st);
    const char **v = ir_alloc(sizeof(char *) * MAX_RANK);
    for (int k = 0; k < s.rank; k++) {
        const char *c = st[k] == 1 ? flat : ir_fmt("%s / %lld", flat, L(st[k]));
        v[k] = s.d[k] == 1 ? "0" : k == 0 ? (st[k] == 1 ? flat : ir_fmt("(%s)", c)) : ir_fmt("(%s %% %lld)", c, L(s.d[k]));
    }
    return v;
}

/* Input k of the head at index idx: a literal, the one element, or a load. */
static const char *xref(const Node *n, int k, const char *idx) {
    const Node *x = IN(n, k);
    if (kernel_inline_scalar(n, x))
        return cg_attr_literal(node_attr(x, "data"), 0, x->dtype);
    if (shape_numel(x->shape) == 1)
        return ir_fmt("%s[0]", cg_role(n, k));
    return ir_fmt("%s[%s]", cg_role(n, k), idx);
}

/* The kernel's launch: how it spreads over the GPU, and over how many items (elements or
 * output elements with a block each). */
static Style style_of(const Node *h, int64_t *items) {
    if (!h) {
        *items = shape_numel(cg.g->nodes[cg.u.last].shape);
        return PER_ELEMENT;
    }
    *items = shape_numel(h->shape);
    switch (h->op) {
    case OP_CROSS_ENTROPY: case OP_ORTHOGONAL:
        *items = 1;
        return ONE_BLOCK;
    case OP_CONV2D_BWD_WEIGHT:
        return PER_OUTPUT_BLOCK;
    case OP_SUM: case OP_MEAN:
        /* a block per output element where each sums many; a thread each where the outputs are many */
        return shape_numel(IN(h, 0)->shape) / (*items ? *items : 1) >= BLOCK ? PER_OUTPUT_BLOCK : PER_ELEMENT;
    default:
        return PER_ELEMENT;
    }
}

static const Node *head(void) { return cg.u.head >= 0 ? &cg.g->nodes[cg.u.head] : NULL; }

/* ---- stores and epilogues ---- */

/* The element at idx of the head's output has value val: the fused ops, then every store. */
static void store(int ind, const char *idx, const char *val) {
    const Node *h = head();
    if (cg.u.first == cg.u.last) {
        P("%*sout[%s] = %s;\n", ind, "", idx, val);
        return;
    }
    P("%*sconst %s t%d = %s;\n", ind, "", T(h->dtype), h->id, val);
    cg_emit_members(ind, h->shape, idx, NULL);
    for (int i = cg.u.first; i <= cg.u.last; i++)
        if (cg_stored(i) && !cg.u.prologue[i])
            P("%*s%s[%s] = t%d;\n", ind, "", cg_bname(i), idx, i);
}

/* A block's partial values `acc` combined in a fixed tree; thread 0 stores the sum. The tree
 * follows blockDim.x, which must be a power of two of at most BLOCK: the host launches BLOCK, the
 * CPU emulation of the tests 1. */
static void block_sum(int ind, const char *acc_t, const char *idx, const char *result) {
    P("%*s__shared__ %s part[%d];\n", ind, "", acc_t, BLOCK);
    P("%*spart[threadIdx.x] = acc;\n%*s__syncthreads();\n", ind, "", ind, "");
    P("%*sfor (unsigned m = blockDim.x / 2; m > 0; m >>= 1) { /* the same tree every run: deterministic */\n", ind, "");
    P("%*s    if (threadIdx.x < m)\n%*s        part[threadIdx.x] += part[threadIdx.x + m];\n", ind, "", ind, "");
    P("%*s    __syncthreads();\n%*s}\n", ind, "", ind, "");
    P("%*sif (threadIdx.x == 0) {\n", ind, "");
    store(ind + 4, idx, result);
    P("%*s}\n%*s__syncthreads(); /* part is reused by the next output */\n", ind, "", ind, "");
}

/* ---- the ops, each as the value of one output element ---- */

/* Declares `const int64_t a = ..., b = ...;` for the coordinates of i in shape s (names given). */
static void declare_coords(int ind, Shape s, const char *flat, const char *const *names) {
    const char **c = coords(s, flat);
    P("%*sconst int64_t ", ind, "");
    for (int k = 0; k < s.rank; k++)
        P("%s%s = %s", k ? ", " : "", names[k], c[k]);
    P(";\n");
}

static void op_elementwise(const Node *n, int ind) {
    bool flat = true;
    for (int k = 0; k < n->nin; k++)
        if (!shape_eq(IN(n, k)->shape, n->shape) && shape_numel(IN(n, k)->shape) != 1)
            flat = false;
    const char **c = coords(n->shape, "i");
    const char *v[3];
    for (int k = 0; k < n->nin; k++)
        v[k] = xref(n, k, flat ? "i" : cg_bcast_index(IN(n, k)->shape, n->shape, c));
    store(ind, "i", n->op == OP_EXPAND ? v[0] : cg_ewise(n, v));
}

/* A chain of elementwise ops: every member in registers, the stores at the end. */
static void op_group(int ind) {
    Shape gs = cg.g->nodes[cg.u.last].shape;
    bool flat = true;
    for (int i = cg.u.first; i <= cg.u.last; i++)
        for (int k = 0; k < cg.g->nodes[i].nin; k++) {
            const Node *x = IN(&cg.g->nodes[i], k);
            if (!cg_in_unit(x->id) && shape_numel(x->shape) != 1 && !shape_eq(x->shape, gs))
                flat = false;
        }
    cg_emit_members(ind, gs, "i", flat ? NULL : coords(gs, "i"));
    for (int i = cg.u.first; i <= cg.u.last; i++)
        if (cg_stored(i))
            P("%*s%s[i] = t%d;\n", ind, "", cg_bname(i), i);
}

/* The input index of a reduction: kept axes from the output index o, reduced ones from j. */
static const char *reduce_index(const Node *n, const char *o, const char *j, int64_t *count) {
    const Node *x = IN(n, 0);
    int naxes;
    const int64_t *axes = node_ints(n, "axes", &naxes);
    bool red[MAX_RANK] = {0};
    for (int i = 0; i < naxes; i++)
        red[axes[i]] = true;
    Shape kept = {0}, rs = {0};
    for (int i = 0; i < x->shape.rank; i++) {
        if (red[i])
            rs.d[rs.rank++] = x->shape.d[i];
        else
            kept.d[kept.rank++] = x->shape.d[i];
    }
    *count = shape_numel(rs);
    if (!*count)
        return "0"; /* nothing is read */
    const char **kc = coords(kept, o), **rc = coords(rs, j);
    int64_t st[MAX_RANK];
    cg_strides(x->shape, st);
    const char *e = "0";
    for (int i = 0, ki = 0, ri = 0; i < x->shape.rank; i++) {
        const char *c = red[i] ? rc[ri++] : kc[ki++];
        if (x->shape.d[i] != 1)
            e = ix_add(e, ix_mul(c, st[i]));
    }
    return e;
}

/* One step of a reduction's loop over j: the element, folded into the accumulator. */
static void reduce_step(const Node *n, int ind, const char *ix, bool fl) {
    P("%*s    const %s val = x[%s];\n", ind, "", T(IN(n, 0)->dtype), ix);
    switch (n->op) {
    case OP_SUM: case OP_MEAN: P("%*s    acc += val;\n", ind, ""); break;
    case OP_MAX: P("%*s    if (j == 0 || val > acc%s) acc = val;\n", ind, "", fl ? " || val != val" : ""); break;
    case OP_MIN: P("%*s    if (j == 0 || val < acc%s) acc = val;\n", ind, "", fl ? " || val != val" : ""); break;
    case OP_ARGMAX:
        /* the first maximum wins; a NaN counts as the maximum, as in PyTorch */
        P("%*s    if (arg < 0 || %s) {\n", ind, "", fl ? "(best == best && (val > best || val != val))" : "val > best");
        P("%*s        best = val;\n%*s        arg = j;\n%*s    }\n", ind, "", ind, "", ind, "");
        break;
    default: unreachable();
    }
}

static void op_reduce(const Node *n, int ind, Style style) {
    const Node *x = IN(n, 0);
    int64_t count;
    const char *ix = reduce_index(n, "i", "j", &count);
    bool fl = dtype_is_float(x->dtype);
    const char *acc_t = n->op == OP_SUM || n->op == OP_MEAN ? (fl ? "double" : "int64_t") : T(x->dtype);
    const char *result = n->op == OP_SUM ? ir_fmt("(%s)part[0]", T(n->dtype))
                         : count == 0    ? "NAN"
                                         : ir_fmt("(%s)%s", T(n->dtype), count == 1 ? "part[0]" : ir_fmt("(part[0] / %lld)", L(count)));
    if (style == PER_OUTPUT_BLOCK) {
        P("%*s%s acc = 0;\n", ind, "", acc_t);
        P("%*sfor (int64_t j = threadIdx.x; j < %lld; j += blockDim.x)\n", ind, "", L(count));
        P("%*s    acc += x[%s];\n", ind, "", ix);
        block_sum(ind, acc_t, "i", result);
        return;
    }
    if (n->op == OP_SUM || n->op == OP_MEAN)
        P("%*s%s acc = 0;\n", ind, "", acc_t);
    else if (n->op == OP_ARGMAX)
        P("%*s%s best = 0;\n%*sint64_t arg = -1;\n", ind, "", T(x->dtype), ind, "");
    else
        P("%*s%s acc = 0;\n", ind, "", acc_t);
    if (count == 1 && (n->op == OP_SUM || n->op == OP_MEAN)) { /* a sum of one element: no loop */
        P("%*sacc += x[%s];\n", ind, "", ix);
    } else {
        cg_for(ind, "int64_t", "j", 0, count, 1, " {");
        reduce_step(n, ind, ix, fl);
        cg_end();
    }
    if (n->op == OP_SUM)
        store(ind, "i", ir_fmt("(%s)acc", T(n->dtype)));
    else if (n->op == OP_MEAN)
        store(ind, "i", !count ? "NAN" : ir_fmt("(%s)%s", T(n->dtype), count == 1 ? "acc" : ir_fmt("(acc / %lld)", L(count))));
    else if (n->op == OP_ARGMAX)
        store(ind, "i", "arg");
    else
        store(ind, "i", "acc");
}

static void op_permute(const Node *n, int ind) {
    int64_t st[MAX_RANK];
    cg_strides(IN(n, 0)->shape, st);
    const int64_t *perm = node_ints(n, "perm", NULL);
    const char **c = coords(n->shape, "i");
    const char *src = "0";
    for (int k = 0; k < n->shape.rank; k++)
        src = ix_add(src, ix_mul(c[k], st[perm[k]]));
    store(ind, "i", ir_fmt("x[%s]", src));
}

static void op_slice(const Node *n, int ind) {
    Shape in = IN(n, 0)->shape;
    int64_t st[MAX_RANK];
    cg_strides(in, st);
    const int64_t *start = node_ints(n, "start", NULL), *step = node_ints(n, "step", NULL);
    const char **c = coords(n->shape, "i");
    const char *e = "0";
    for (int k = 0; k < in.rank; k++)
        e = ix_add(e, ix_mul(ix_add(ix_int(start[k]), ix_mul(c[k], step[k])), st[k]));
    store(ind, "i", ir_fmt("x[%s]", e));
}

/* setslice: the element is the value's where the slice covers it, else the input's. */
static void op_setslice(const Node *n, int ind) {
    const Node *val = IN(n, 1);
    int len;
    const int64_t *start = node_ints(n, "start", NULL), *step = node_ints(n, "step", NULL),
                  *size = node_ints(n, "size", &len);
    Shape region = shape_make(len, size);
    const char **c = coords(n->shape, "i");
    const char *in = "", **q = ir_alloc(sizeof(char *) * MAX_RANK);
    for (int k = 0; k < n->shape.rank; k++) {
        /* d: the coordinate from the slice's start; inside if d >= 0, on a step, and before its end */
        const char *d = start[k] ? ir_fmt("(%s)", ix_addk(c[k], -start[k])) : c[k];
        const char *at = step[k] == 1 ? d : ir_fmt("%s / %lld", d, L(step[k]));
        if (start[k])
            in = ir_fmt("%s && %s >= 0", in, d);
        if (step[k] != 1)
            in = ir_fmt("%s && %s %% %lld == 0", in, d, L(step[k]));
        in = ir_fmt("%s && %s < %lld", in, at, L(size[k]));
        q[k] = step[k] == 1 ? d : ir_fmt("(%s)", at);
    }
    P("%*sconst bool inside = %s;\n", ind, "", *in ? in + 4 : "1");
    store(ind, "i", ir_fmt("inside ? %s : x[i]", xref(n, 1, ir_fmt("inside ? %s : 0", cg_bcast_index(val->shape, region, q)))));
}

static void op_cat(const Node *n, int ind) {
    int axis = (int)node_int(n, "axis", 0);
    int64_t inner = 1;
    for (int k = axis + 1; k < n->shape.rank; k++)
        inner *= n->shape.d[k];
    if (inner == 1) /* the axis is the last: no inner index */
        P("%*sconst int64_t outer = %s, t = %s;\n", ind, "", ix_div("i", n->shape.d[axis]), ix_mod("i", n->shape.d[axis]));
    else
        P("%*sconst int64_t outer = %s, t = %s, inner = %s;\n", ind, "", ix_div("i", n->shape.d[axis] * inner),
          ix_mod(ix_div("i", inner), n->shape.d[axis]), ix_mod("i", inner));
    P("%*s%s v;\n", ind, "", T(n->dtype));
    int64_t off = 0;
    for (int k = 0; k < n->nin; k++) {
        int64_t d = IN(n, k)->shape.d[axis];
        if (!d)
            continue;
        P("%*s%sif (t < %lld)\n", ind, "", off ? "else " : "", L(off + d));
        P("%*s    v = %s[%s];\n", ind, "", cg_role(n, k),
          ix_add(ix_mul(ix_addk(ix_add(ix_mul("outer", d), "t"), -off), inner), inner == 1 ? "0" : "inner"));
        off += d;
    }
    if (off)
        P("%*selse\n%*s    v = 0;\n", ind, "", ind, "");
    else
        P("%*sv = 0;\n", ind, "");
    store(ind, "i", "v");
}

/* ---- gather, scatter_add, index_select, index_add ---- */

/* The flat index into shape s of coordinates c, axis a at `at` (an index value) instead. */
static const char *at_axis(Shape s, const char **c, int a, const char *at) {
    int64_t st[MAX_RANK];
    cg_strides(s, st);
    const char *e = "0";
    for (int k = 0; k < s.rank; k++)
        if (k == a || s.d[k] != 1)
            e = ix_add(e, ix_mul(k == a ? at : c[k], st[k]));
    return e;
}

static const char *missing(DType t) { return dtype_is_float(t) ? "NAN" : "0"; }

/* The index value j of position `pos` (x[index] counts a negative one from the end). */
static void index_value(const Node *n, int ind, const char *pos, int64_t len) {
    if (node_int(n, "wrap", 0))
        P("%*sconst int64_t j = index[%s] < 0 ? index[%s] + %lld : index[%s];\n", ind, "", pos, pos, L(len), pos);
    else
        P("%*sconst int64_t j = index[%s];\n", ind, "", pos);
}

/* gather and index_select: the element the index names; out of range (the host did not check on
 * the GPU), NaN or 0 and nothing read */
static void op_pick(const Node *n, int ind) {
    const Node *x = IN(n, 0);
    int a = (int)node_int(n, "axis", 0);
    const char **c = coords(n->shape, "i");
    index_value(n, ind, n->op == OP_GATHER ? "i" : c[a], x->shape.d[a]);
    store(ind, "i", ir_fmt("j >= 0 && j < %lld ? x[%s] : %s", L(x->shape.d[a]), at_axis(x->shape, c, a, "j"),
                           missing(n->dtype)));
}

/* scatter_add and index_add, an output element per thread: x's value plus every src element the
 * index sends here, in the index's order (the C kernel's, so the sums are the same), no atomics */
static void op_add_at(const Node *n, int ind) {
    const Node *ix = IN(n, 1), *src = IN(n, 2);
    int a = (int)node_int(n, "axis", 0);
    int64_t len = n->shape.d[a];
    const char **c = coords(n->shape, "i");
    P("%*s%s v = x[i];\n", ind, "", T(n->dtype));
    if (n->op == OP_SCATTER_ADD) {
        const char *in = ""; /* the index covers this place off the axis */
        for (int k = 0; k < n->shape.rank; k++)
            if (k != a && ix->shape.d[k] < n->shape.d[k])
                in = ir_fmt("%s && %s < %lld", in, c[k], L(ix->shape.d[k]));
        if (*in)
            P("%*sif (%s)\n", ind, "", in + 4);
        P("%*sfor (int64_t t = 0; t < %lld; t++)\n", ind + (*in ? 4 : 0), "", L(ix->shape.d[a]));
        P("%*sif (index[%s] == %s)\n", ind + (*in ? 8 : 4), "", at_axis(ix->shape, c, a, "t"), c[a]);
        P("%*sv += src[%s];\n", ind + (*in ? 12 : 8), "", at_axis(src->shape, c, a, "t"));
    } else {
        P("%*sfor (int64_t t = 0; t < %lld; t++) {\n", ind, "", L(ix->shape.d[0]));
        index_value(n, ind + 4, "t", len);
        P("%*sif (j == %s)\n", ind + 4, "", c[a]);
        P("%*sv += src[%s];\n%*s}\n", ind + 8, "", at_axis(src->shape, c, a, "t"), ind, "");
    }
    store(ind, "i", "v");
}

static void op_matmul(const Node *n, int ind) {
    const Node *a = IN(n, 0), *b = IN(n, 1);
    int r = n->shape.rank;
    int64_t Mm = n->shape.d[r - 2], Nn = n->shape.d[r - 1], K = a->shape.d[a->shape.rank - 1];
    Shape batch = n->shape, ab = a->shape, bb = b->shape;
    batch.rank -= 2;
    ab.rank -= 2;
    bb.rank -= 2;
    const char **bc = coords(batch, Mm * Nn == 1 ? "i" : ir_fmt("(i / %lld)", L(Mm * Nn)));
    const char *acc = dtype_is_float(n->dtype) ? T(n->dtype) : "int64_t";
    P("%*sconst int64_t m = %s, j = %s;\n", ind, "", ix_mod(ix_div("i", Nn), Mm), ix_mod("i", Nn));
    P("%*sconst %s *A = %s;\n", ind, "", T(a->dtype),
      ix_ptr("a", ix_add(ix_mul(cg_bcast_index(ab, batch, bc), Mm * K), ix_mul("m", K))));
    P("%*sconst %s *B = %s;\n", ind, "", T(b->dtype), ix_ptr("b", ix_add(ix_mul(cg_bcast_index(bb, batch, bc), K * Nn), "j")));
    P("%*s%s acc = 0;\n", ind, "", acc);
    cg_for(ind, "int64_t", "k", 0, K, 1, NULL);
    P("%*s    acc += A[k] * B[%s];\n", ind, "", ix_mul("k", Nn));
    cg_end();
    store(ind, "i", ir_fmt("(%s)acc", T(n->dtype)));
}

static void op_linear(const Node *n, int ind) {
    const Node *w = IN(n, 1);
    int64_t O = w->shape.d[0], I = w->shape.d[1];
    P("%*sconst int64_t r = %s, o = %s; /* row of the input, output feature */\n", ind, "", ix_div("i", O), ix_mod("i", O));
    P("%*s%s acc = 0;\n", ind, "", T(n->dtype));
    cg_for(ind, "int64_t", "k", 0, I, 1, NULL);
    P("%*s    acc += x[%s] * weight[%s];\n", ind, "", ix_add(ix_mul("r", I), "k"), ix_add(ix_mul("o", I), "k"));
    cg_end();
    store(ind, "i", n->nin == 3 ? "acc + bias[o]" : "acc");
}

/* conv2d's attributes and the shapes of its input x (N, C, H, W), weight (O, Cg, KH, KW) and
 * output y (N, O, OH, OW), whichever of the three ops it is. */
typedef struct {
    int64_t N, C, H, W, O, Cg, KH, KW, OH, OW, groups, Og;
    const int64_t *st, *pd, *dl;
} Conv;

static Conv conv_of(const Node *n) {
    Conv c;
    Shape x, w, y;
    if (n->op == OP_CONV2D)
        x = IN(n, 0)->shape, w = IN(n, 1)->shape, y = n->shape;
    else if (n->op == OP_CONV2D_BWD_INPUT)
        x = n->shape, w = IN(n, 1)->shape, y = IN(n, 0)->shape;
    else
        x = IN(n, 0)->shape, w = n->shape, y = IN(n, 1)->shape;
    c.N = x.d[0], c.C = x.d[1], c.H = x.d[2], c.W = x.d[3];
    c.O = w.d[0], c.Cg = w.d[1], c.KH = w.d[2], c.KW = w.d[3];
    c.OH = y.d[2], c.OW = y.d[3];
    c.groups = node_int(n, "groups", 1);
    c.Og = c.O ? c.O / c.groups : 1;
    c.st = node_ints(n, "stride", NULL), c.pd = node_ints(n, "padding", NULL), c.dl = node_ints(n, "dilation", NULL);
    return c;
}

static void op_conv2d(const Node *n, int ind) {
    Conv c = conv_of(n);
    bool pad = c.pd[0] || c.pd[1];
    declare_coords(ind, n->shape, "i", (const char *[]){"n", "k", "h", "w"});
    if (c.groups > 1)
        P("%*sconst int64_t c0 = %s; /* first input channel of k's group */\n", ind, "", ix_mul(ix_div("k", c.Og), c.Cg));
    P("%*s%s acc = %s;\n", ind, "", T(n->dtype), n->nin == 3 ? "bias[k]" : cg_literal(0, n->dtype));
    cg_for(ind, "int64_t", "c", 0, c.Cg, 1, NULL);
    (pad ? cg_for_cont : cg_for)(ind + 4, "int64_t", "r", 0, c.KH, 1, " {");
    P("%*s        const int64_t ih = %s;\n", ind, "", ix_tap("h", c.st[0], "r", c.dl[0], c.pd[0]));
    if (pad)
        P("%*s        if (ih < 0 || ih >= %lld) continue;\n", ind, "", L(c.H));
    (pad ? cg_for_cont : cg_for)(ind + 8, "int64_t", "s", 0, c.KW, 1, " {");
    P("%*s            const int64_t iw = %s;\n", ind, "", ix_tap("w", c.st[1], "s", c.dl[1], c.pd[1]));
    if (pad)
        P("%*s            if (iw < 0 || iw >= %lld) continue;\n", ind, "", L(c.W));
    P("%*s            acc += x[%s] * weight[%s];\n", ind, "", ix_4d("n", c.groups > 1 ? "c0 + c" : "c", "ih", "iw", c.C, c.H, c.W),
      ix_4d("k", "c", "r", "s", c.Cg, c.KH, c.KW));
    cg_end();
    cg_end();
    cg_end();
    store(ind, "i", "acc");
}

/* The output positions (oh, ow) whose window put kernel tap (r, s) on input element (h, w):
 * opens `for r { ... for s { ...` with oh and ow defined; close with close_taps. */
static void open_taps(int ind, int64_t KH, int64_t KW, const int64_t *st, const int64_t *pd, const int64_t *dl,
                      int64_t OH, int64_t OW) {
    cg_for_cont(ind, "int64_t", "r", 0, KH, 1, " {");
    P("%*s    const int64_t th = %s;\n", ind, "", ix_sub(ix_addk("h", pd[0]), ix_mul("r", dl[0])));
    P("%*s    if (th < 0%s || %s >= %lld) continue;\n", ind, "", st[0] > 1 ? ir_fmt(" || th %% %lld", L(st[0])) : "",
      st[0] > 1 ? ir_fmt("th / %lld", L(st[0])) : "th", L(OH));
    P("%*s    const int64_t oh = %s;\n", ind, "", st[0] > 1 ? ir_fmt("th / %lld", L(st[0])) : "th");
    cg_for_cont(ind + 4, "int64_t", "s", 0, KW, 1, " {");
    P("%*s        const int64_t tw = %s;\n", ind, "", ix_sub(ix_addk("w", pd[1]), ix_mul("s", dl[1])));
    P("%*s        if (tw < 0%s || %s >= %lld) continue;\n", ind, "", st[1] > 1 ? ir_fmt(" || tw %% %lld", L(st[1])) : "",
      st[1] > 1 ? ir_fmt("tw / %lld", L(st[1])) : "tw", L(OW));
    P("%*s        const int64_t ow = %s;\n", ind, "", st[1] > 1 ? ir_fmt("tw / %lld", L(st[1])) : "tw");
}

static void close_taps(void) {
    cg_end();
    cg_end();
}

/* dL/dx as a gather: each input element sums, over the output positions whose window read it,
 * dL/dy times the weight tap that joined them. */
static void op_conv2d_bwd_input(const Node *n, int ind) {
    Conv c = conv_of(n);
    declare_coords(ind, n->shape, "i", (const char *[]){"n", "c", "h", "w"});
    if (c.groups > 1)
        P("%*sconst int64_t g = c / %lld, cc = c %% %lld; /* c's group, and c within it */\n", ind, "", L(c.Cg), L(c.Cg));
    P("%*s%s acc = 0;\n", ind, "", T(n->dtype));
    if (c.groups > 1) /* the output channels of c's group */
        P("%*sfor (int64_t k = %s; k < %s; k++)\n", ind, "", ix_mul("g", c.Og), ix_add(ix_mul("g", c.Og), ix_int(c.Og)));
    else
        cg_for(ind, "int64_t", "k", 0, c.O, 1, NULL);
    open_taps(ind + 4, c.KH, c.KW, c.st, c.pd, c.dl, c.OH, c.OW);
    P("%*s            acc += dy[%s] * weight[%s];\n", ind, "", ix_4d("n", "k", "oh", "ow", c.O, c.OH, c.OW),
      ix_4d("k", c.groups > 1 ? "cc" : "c", "r", "s", c.Cg, c.KH, c.KW));
    close_taps();
    if (c.groups == 1)
        cg_end();
    store(ind, "i", "acc");
}
/* dL/dw: one block per weight element, its threads sum over the batch and output positions. */
static void op_conv2d_bwd_weight(const Node *n, int ind) {
    Conv c = conv_of(n);
    declare_coords(ind, n->shape, "i", (const char *[]){"k", "c", "r", "s"});
    if (c.groups > 1)
        P("%*sconst int64_t ci = k / %lld * %lld + c; /* input channel */\n", ind, "", L(c.Og), L(c.Cg));
    P("%*s%s acc = 0;\n", ind, "", T(n->dtype));
    if (c.N * c.OH * c.OW == 0) { /* no batch or no output positions: a zero gradient */
        block_sum(ind, T(n->dtype), "i", "part[0]");
        return;
    }
    P("%*sfor (int64_t j = threadIdx.x; j < %lld; j += blockDim.x) {\n", ind, "", L(c.N * c.OH * c.OW));
    P("%*s    const int64_t n = %s, h = %s, w = %s;\n", ind, "", ir_fmt("j / %lld", L(c.OH * c.OW)),
      c.OW == 1 ? ir_fmt("j %% %lld", L(c.OH)) : ir_fmt("j / %lld %% %lld", L(c.OW), L(c.OH)), ir_fmt("j %% %lld", L(c.OW)));
    P("%*s    const int64_t ih = %s, iw = %s;\n", ind, "", ix_tap("h", c.st[0], "r", c.dl[0], c.pd[0]),
      ix_tap("w", c.st[1], "s", c.dl[1], c.pd[1]));
    P("%*s    if (ih >= 0 && ih < %lld && iw >= 0 && iw < %lld)\n", ind, "", L(c.H), L(c.W));
    P("%*s        acc += dy[%s] * x[%s];\n", ind, "", ix_4d("n", "k", "h", "w", c.O, c.OH, c.OW),
      ix_4d("n", c.groups > 1 ? "ci" : "c", "ih", "iw", c.C, c.H, c.W));
    P("%*s}\n", ind, "");
    block_sum(ind, T(n->dtype), "i", "part[0]");
}

/* The pooling ops' planes (every dim but the last two) and window attributes. */
typedef struct {
    int64_t H, W, OH, OW;
    const int64_t *k, *st, *pd, *dl;
} Pool;

static Pool pool_of(const Node *n, Shape x, Shape y) {
    int r = x.rank;
    Pool p = {x.d[r - 2], x.d[r - 1], y.d[r - 2], y.d[r - 1], node_ints(n, "kernel", NULL), node_ints(n, "stride", NULL),
              node_ints(n, "padding", NULL), NULL};
    static const int64_t one[2] = {1, 1};
    p.dl = node_attr(n, "dilation") ? node_ints(n, "dilation", NULL) : one;
    return p;
}

/* Element (h, w) of plane p of an H x W image: (p * H + h) * W + w. */
static const char *pix(const char *p, const char *h, const char *w, int64_t H, int64_t W) {
    return ix_add(ix_mul(ix_add(ix_mul(p, H), h), W), w);
}

/* `const int64_t p = ..., a = ..., b = ...;`: plane p and position (a, b) of flat index i in
 * planes of A x B. */
static void plane_coords(int ind, const char *a, const char *b, int64_t A, int64_t B) {
    P("%*sconst int64_t p = i / %lld, %s = %s, %s = i %% %lld;\n", ind, "", L(A * B), a,
      B == 1 ? ir_fmt("i %% %lld", L(A)) : ir_fmt("i / %lld %% %lld", L(B), L(A)), b, L(B));
}

/* The first maximum of window (p, oh, ow) of x: `at` = r * KW + s, or -1 (all padding). */
static void window_max(int ind, const char *tp, Pool q) {
    P("%*s%s m = -INFINITY;\n%*sint at = -1;\n", ind, "", tp, ind, "");
    cg_for_cont(ind, "int64_t", "r2", 0, q.k[0], 1, " {");
    P("%*s    const int64_t ih = %s;\n", ind, "", ix_tap("oh", q.st[0], "r2", q.dl[0], q.pd[0]));
    P("%*s    if (ih < 0 || ih >= %lld) continue;\n", ind, "", L(q.H));
    cg_for_cont(ind + 4, "int64_t", "s2", 0, q.k[1], 1, " {");
    P("%*s        const int64_t iw = %s;\n", ind, "", ix_tap("ow", q.st[1], "s2", q.dl[1], q.pd[1]));
    P("%*s        if (iw < 0 || iw >= %lld) continue;\n", ind, "", L(q.W));
    P("%*s        const %s v = x[%s];\n", ind, "", tp, pix("p", "ih", "iw", q.H, q.W));
    P("%*s        if (at < 0 || v > m || v != v) { /* NaN wins, as in PyTorch */\n", ind, "");
    P("%*s            m = v;\n%*s            at = (int)(%s);\n%*s        }\n", ind, "", ind, "", ix_add(ix_mul("r2", q.k[1]), "s2"),
      ind, "");
    cg_end();
    cg_end();
}

static void op_maxpool(const Node *n, int ind, bool codes) {
    const Node *x = IN(n, 0);
    Pool q = pool_of(n, x->shape, n->shape);
    plane_coords(ind, "oh", "ow", q.OH, q.OW);
    window_max(ind, T(x->dtype), q);
    store(ind, "i", codes ? "(uint8_t)at" : "m");
}

/* dL/dx of max_pool2d as a gather: each input element sums the gradients of the windows whose
 * first maximum it is (from x: the window is searched again; from codes: the code says). */
static void op_maxpool_bwd(const Node *n, int ind, bool codes) {
    const Node *dy = IN(n, 1);
    Pool q = pool_of(n, n->shape, dy->shape);
    const char *tp = T(n->dtype);
    plane_coords(ind, "h", "w", q.H, q.W);
    P("%*s%s acc = %s; /* 0 + g, as adding into zeros: a -0.0 gradient arrives as +0.0 */\n", ind, "", tp,
      cg_literal(0, n->dtype));
    open_taps(ind, q.k[0], q.k[1], q.st, q.pd, q.dl, q.OH, q.OW);
    P("%*s        const int64_t wi = %s;\n", ind, "", pix("p", "oh", "ow", q.OH, q.OW));
    const char *tap = ix_add(ix_mul("r", q.k[1]), "s");
    if (codes)
        P("%*s        if (codes[wi] != %s) continue;\n", ind, "", tap);
    else {
        P("%*s        {\n", ind, "");
        window_max(ind + 12, T(IN(n, 0)->dtype), q);
        P("%*s            if (at != %s) continue;\n%*s        }\n", ind, "", tap, ind, "");
    }
    const char *g = "dy[wi]";
    if (cg_in_unit(dy->id)) { /* the prologue: dL/dy made here, per window */
        cg_emit_prologue(ind + 8, dy->shape, "wi");
        g = ir_fmt("t%d", dy->id);
    }
    P("%*s        acc += %s;\n", ind, "", g);
    close_taps();
    store(ind, "i", "acc");
}

/*
 * max_pool2d's backward from x over disjoint unpadded windows, which memplan may run in place over
 * x (the C backend's gather reads each window whole before writing it): here too a thread takes a
 * window, reads it whole, then writes every element of it, so no thread reads an element another
 * one writes. Elements no window covers get zero in a second loop; nobody reads them.
 */
static void op_maxpool_bwd_windows(const Node *n, const char *first, const char *step) {
    const Node *dy = IN(n, 1);
    Pool q = pool_of(n, n->shape, dy->shape);
    int64_t total = shape_numel(n->shape), planes = total / (q.H * q.W);
    const char *tp = T(n->dtype), *zero = cg_literal(0, n->dtype);
    P("    for (int64_t i = %s; i < %lld; i += %s) { /* window i */\n", first, L(planes * q.OH * q.OW), step);
    plane_coords(8, "oh", "ow", q.OH, q.OW);
    window_max(8, T(IN(n, 0)->dtype), q);
    P("        const %s g = %s + dy[i]; /* 0 + g, as adding into zeros: a -0.0 gradient arrives as +0.0 */\n", tp, zero);
    cg_for(8, "int64_t", "r", 0, q.k[0], 1, NULL);
    cg_for(12, "int64_t", "s", 0, q.k[1], 1, " {");
    store(16, ix_add(ix_mul(ix_add(ix_add(ix_mul("p", q.H), ix_mul("oh", q.st[0])), "r"), q.W), ix_add(ix_mul("ow", q.st[1]), "s")),
          ir_fmt("%s == at ? g : %s", ix_add(ix_mul("r", q.k[1]), "s"), zero));
    cg_end();
    cg_end();
    P("    }\n");
    if (q.st[0] == q.k[0] && q.st[1] == q.k[1] && q.OH * q.k[0] == q.H && q.OW * q.k[1] == q.W)
        return; /* the windows tile the plane */
    P("    for (int64_t i = %s; i < %lld; i += %s) { /* elements no window covers */\n", first, L(total), step);
    P("        const int64_t h = %s, w = i %% %lld;\n", q.W == 1 ? ir_fmt("i %% %lld", L(q.H)) : ir_fmt("i / %lld %% %lld", L(q.W), L(q.H)),
      L(q.W));
    P("        if (h / %lld >= %lld || h %% %lld >= %lld || w / %lld >= %lld || w %% %lld >= %lld) {\n", L(q.st[0]), L(q.OH),
      L(q.st[0]), L(q.k[0]), L(q.st[1]), L(q.OW), L(q.st[1]), L(q.k[1]));
    store(12, "i", zero);
    P("        }\n    }\n");
}

/* avg_pool2d as PyTorch computes it (the C backend's emit_avgpool says how), forward or as a
 * gather of each window's share. */
static void avg_window(int ind, Pool q, bool incl, const char *tp) {
    P("%*sint64_t h0 = %s, w0 = %s;\n", ind, "", ix_addk(ix_mul("oh", q.st[0]), -q.pd[0]), ix_addk(ix_mul("ow", q.st[1]), -q.pd[1]));
    P("%*sint64_t h1 = h0 + %lld < %lld ? h0 + %lld : %lld, w1 = w0 + %lld < %lld ? w0 + %lld : %lld;\n", ind, "", L(q.k[0]),
      L(q.H + q.pd[0]), L(q.k[0]), L(q.H + q.pd[0]), L(q.k[1]), L(q.W + q.pd[1]), L(q.k[1]), L(q.W + q.pd[1]));
    if (incl)
        P("%*sconst int64_t padded = (h1 - h0) * (w1 - w0);\n", ind, "");
    P("%*sh0 = h0 < 0 ? 0 : h0;\n%*sw0 = w0 < 0 ? 0 : w0;\n", ind, "", ind, "");
    P("%*sh1 = h1 > %lld ? %lld : h1;\n%*sw1 = w1 > %lld ? %lld : w1;\n", ind, "", L(q.H), L(q.H), ind, "", L(q.W), L(q.W));
    P("%*sconst %s div = (%s)%s;\n", ind, "", tp, tp, incl ? "padded" : "((h1 - h0) * (w1 - w0))");
}

static void op_avgpool(const Node *n, int ind, bool bwd) {
    const Node *x = IN(n, 0), *y = bwd ? IN(n, 1) : n;
    Pool q = pool_of(n, x->shape, y->shape);
    bool incl = node_int(n, "count_include_pad", 1) != 0;
    const char *tp = T(n->dtype);
    if (!bwd) {
        plane_coords(ind, "oh", "ow", q.OH, q.OW);
        avg_window(ind, q, incl, tp);
        P("%*s%s acc = 0;\n", ind, "", tp);
        P("%*sfor (int64_t ih = h0; ih < h1; ih++)\n%*s    for (int64_t iw = w0; iw < w1; iw++)\n", ind, "", ind, "");
        P("%*s        acc += x[%s];\n", ind, "", pix("p", "ih", "iw", q.H, q.W));
        store(ind, "i", "acc / div");
        return;
    }
    plane_coords(ind, "h", "w", q.H, q.W);
    P("%*s%s acc = 0;\n", ind, "", tp);
    open_taps(ind, q.k[0], q.k[1], q.st, q.pd, q.dl, q.OH, q.OW);
    avg_window(ind + 8, q, incl, tp);
    P("%*s        acc += dy[%s] / div;\n", ind, "", pix("p", "oh", "ow", q.OH, q.OW));
    close_taps();
    store(ind, "i", "acc");
}

/* Row i's maximum m and se = sum_c exp(row[c] - m), as the C backend computes them. */
static void row_stats(int ind, const char *tp, const char *f, int64_t C) {
    P("%*sconst %s *row = %s;\n%*s%s m = row[0];\n", ind, "", tp, ix_ptr("logits", ix_mul("r", C)), ind, "", tp);
    cg_for(ind, "int64_t", "c", 1, C, 1, NULL);
    P("%*s    if (row[c] > m)\n%*s        m = row[c];\n", ind, "", ind, "");
    cg_end();
    P("%*sdouble se = 0;\n", ind, "");
    cg_for(ind, "int64_t", "c", 0, C, 1, NULL);
    P("%*s    se += exp%s(row[c] - m);\n", ind, "", f);
    cg_end();
}

/* The mean's division by the rows, where there is more than one. */
static const char *per_row(int64_t N) { return N == 1 ? "" : ir_fmt(" / %lld", L(N)); }

/* cross_entropy, alone or with its backward (fused): one block, a thread per row at a time, the
 * loss summed in the block's fixed tree. */
static void op_cross_entropy(const Node *ce, int ind) {
    const Node *bw = NULL;
    for (int i = cg.u.first; i <= cg.u.last; i++)
        if (cg.g->nodes[i].op == OP_CROSS_ENTROPY_BWD)
            bw = &cg.g->nodes[i];
    int64_t N = IN(ce, 0)->shape.d[0], C = IN(ce, 0)->shape.d[1];
    const char *red = node_str(ce, "reduction", "mean");
    bool none = !strcmp(red, "none");
    const char *tp = T(ce->dtype), *f = ce->dtype == DT_F32 ? "f" : "";
    bool total = !none && cg_stored(ce->id); /* the loss is a sum over the rows, and kept */
    if (total)
        P("%*sdouble acc = 0;\n", ind, "");
    P("%*sfor (int64_t r = threadIdx.x; r < %lld; r += blockDim.x) {\n", ind, "", L(N));
    row_stats(ind + 4, tp, f, C);
    P("%*s    /* a class index out of range makes the loss NaN (PyTorch raises); nothing is read out of bounds */\n", ind, "");
    P("%*s    const double loss = target[r] >= 0 && target[r] < %lld ? (double)m + log(se) - (double)row[target[r]] : NAN;\n", ind, "", L(C));
    if (none && cg_stored(ce->id))
        P("%*s    out[r] = (%s)loss;\n", ind, "", tp);
    else if (total)
        P("%*s    acc += loss;\n", ind, "");
    else
        P("%*s    (void)loss;\n", ind, "");
    if (bw) {
        const char *dl = cg_bname(bw->in[2]);
        if (none)
            P("%*s    const double scale = (double)%s[r];\n", ind, "", dl);
        else
            P("%*s    const double scale = (double)%s[0]%s;\n", ind, "", dl, !strcmp(red, "mean") ? per_row(N) : "");
        cg_for(ind + 4, "int64_t", "c", 0, C, 1, NULL);
        P("%*s        %s[%s] = target[r] >= 0 && target[r] < %lld ? (%s)((exp%s(row[c] - m) / se - (c == target[r])) * scale) : NAN;\n",
          ind, "", cg_bname(bw->id), ix_add(ix_mul("r", C), "c"), L(C), tp, f);
        cg_end();
    }
    P("%*s}\n", ind, "");
    if (!total)
        return;
    P("%*s__shared__ double part[%d];\n%*spart[threadIdx.x] = acc;\n%*s__syncthreads();\n", ind, "", BLOCK, ind, "", ind, "");
    P("%*sfor (unsigned m = blockDim.x / 2; m > 0; m >>= 1) {\n%*s    if (threadIdx.x < m)\n", ind, "", ind, "");
    P("%*s        part[threadIdx.x] += part[threadIdx.x + m];\n%*s    __syncthreads();\n%*s}\n", ind, "", ind, "", ind, "");
    P("%*sif (threadIdx.x == 0)\n%*s    out[0] = (%s)(part[0]%s);\n", ind, "", ind, "", tp, !strcmp(red, "mean") ? per_row(N) : "");
}

static void op_cross_entropy_bwd(const Node *n, int ind) {
    int64_t N = n->shape.d[0], C = n->shape.d[1];
    const char *red = node_str(n, "reduction", "mean");
    const char *tp = T(n->dtype), *f = n->dtype == DT_F32 ? "f" : "";
    P("%*sconst int64_t r = i / %lld, k = i %% %lld;\n", ind, "", L(C), L(C));
    row_stats(ind, tp, f, C);
    const char *scale = !strcmp(red, "none") ? "(double)dloss[r]"
                        : !strcmp(red, "mean") ? ir_fmt("(double)dloss[0]%s", per_row(N))
                                               : "(double)dloss[0]";
    store(ind, "i", ir_fmt("target[r] >= 0 && target[r] < %lld ? (%s)((exp%s(row[k] - m) / se - (k == target[r])) * %s) : NAN", L(C), tp, f,
                           scale));
}

/* A float constant with an infinity or a NaN in it: its data is written as bits. */
static bool const_bits(const Node *n) {
    const Attr *a = node_attr(n, "data");
    if (!dtype_is_float(n->dtype) || a->kind == A_INT || a->kind == A_INTS)
        return false;
    for (int64_t i = 0; i < shape_numel(n->shape); i++)
        if (!isfinite(n->dtype == DT_F32 ? (float)a->f[i] : a->f[i]))
            return true;
    return false;
}

static void op_source(const Node *n, int ind, const char *name) {
    switch (n->op) {
    case OP_CONST:
        if (const_bits(n))
            store(ind, "i", ir_fmt(n->dtype == DT_F32 ? "__uint_as_float(%s_data[i])" : "__longlong_as_double((long long)%s_data[i])", name));
        else
            store(ind, "i", ir_fmt("%s_data[i]", name));
        return;
    case OP_FULL: store(ind, "i", cg_attr_literal(node_attr(n, "value"), 0, n->dtype)); return;
    case OP_ARANGE:
        store(ind, "i", ir_fmt("(%s)(%s + (double)i * %s)", T(n->dtype), cg_literal(node_float(n, "start", 0), DT_F64),
                               cg_literal(node_float(n, "step", 1), DT_F64)));
        return;
    default: unreachable();
    }
}

/* The body of the unit for output element i. */
static void unit_body(const Node *h, int ind, Style style, const char *name) {
    if (!h) {
        op_group(ind);
        return;
    }
    switch (op_info[h->op].kind) {
    case K_UNARY: case K_BINARY: op_elementwise(h, ind); return;
    case K_REDUCE: op_reduce(h, ind, style); return;
    default: break;
    }
    switch (h->op) {
    case OP_CONST: case OP_FULL: case OP_ARANGE: op_source(h, ind, name); return;
    case OP_RESHAPE: store(ind, "i", "x[i]"); return;
    case OP_EXPAND: op_elementwise(h, ind); return;
    case OP_PERMUTE: op_permute(h, ind); return;
    case OP_SLICE: op_slice(h, ind); return;
    case OP_SETSLICE: op_setslice(h, ind); return;
    case OP_CAT: op_cat(h, ind); return;
    case OP_GATHER: case OP_INDEX_SELECT: op_pick(h, ind); return;
    case OP_ORTHOGONAL: /* once, at initialisation: one thread */
        P("%*sif (threadIdx.x == 0) {\n", ind, "");
        cg_orthogonal_body(h, ind + 4);
        P("%*s}\n", ind, "");
        return;
    case OP_SCATTER_ADD: case OP_INDEX_ADD: op_add_at(h, ind); return;
    case OP_MATMUL: op_matmul(h, ind); return;
    case OP_LINEAR: op_linear(h, ind); return;
    case OP_CONV2D: op_conv2d(h, ind); return;
    case OP_CONV2D_BWD_INPUT: op_conv2d_bwd_input(h, ind); return;
    case OP_CONV2D_BWD_WEIGHT: op_conv2d_bwd_weight(h, ind); return;
    case OP_MAXPOOL2D: op_maxpool(h, ind, false); return;
    case OP_MAXPOOL2D_ARGMAX: op_maxpool(h, ind, true); return;
    case OP_MAXPOOL2D_BWD: op_maxpool_bwd(h, ind, false); return;
    case OP_MAXPOOL2D_BWD_AT: op_maxpool_bwd(h, ind, true); return;
    case OP_AVGPOOL2D: op_avgpool(h, ind, false); return;
    case OP_AVGPOOL2D_BWD: op_avgpool(h, ind, true); return;
    case OP_CROSS_ENTROPY: op_cross_entropy(h, ind); return;
    case OP_CROSS_ENTROPY_BWD: op_cross_entropy_bwd(h, ind); return;
    case OP_SELECT: case OP_SETSELECT:
        error_at(h->loc, "indexing with a run-time index (x[i]) has no CUDA kernel yet: compile for the CPU");
    default: die("no CUDA kernel for %s", op_info[h->op].name);
    }
}

/* ---- kernels ---- */

static const char *param_list(void) {
    const char *s = "";
    for (int a = 0; a < cg.u.nargs; a++) {
        const Node *x = &cg.g->nodes[cg.u.args[a].node];
        s = ir_fmt("%s%s%s%s *__restrict__ %s", s, a ? ", " : "", cg.u.args[a].written ? "" : "const ", T(x->dtype),
                   cg.u.args[a].name);
    }
    return s;
}

/* The launch of the current unit: grid (blocks) for BLOCK threads each; 0 when it has no work. */
int64_t cuda_unit_grid(void) {
    int64_t items;
    Style s = style_of(head(), &items);
    if (!items)
        return 0;
    if (s == ONE_BLOCK)
        return 1;
    int64_t g = s == PER_OUTPUT_BLOCK ? items : (items + BLOCK - 1) / BLOCK;
    return g < MAX_GRID ? g : MAX_GRID;
}

static void emit_unit(void) {
    const Node *h = head();
    const char *name = cg_unit_name();
    int64_t items;
    Style style = style_of(h, &items);
    cg_kernel_comment();
    if (h && h->op == OP_CONST && items) { /* the literal, in the device's read-only memory */
        const Attr *a = node_attr(h, "data");
        if (const_bits(h)) {
            /* an infinity or NaN has no constant expression in NVRTC: the float's bits, then */
            P("/* the values' bits: %s */\n", cg_comment_safe(ir_fmt("%s%s", cg_attr_literal(a, 0, h->dtype), items > 1 ? ", ..." : "")));
            P("__device__ const %s %s_data[%lld] = {", h->dtype == DT_F32 ? "uint32_t" : "uint64_t", name, L(items));
            for (int64_t i = 0; i < items; i++) {
                double v = a->kind == A_INT || a->kind == A_INTS ? (double)a->i[i] : a->f[i];
                float f = (float)v;
                uint32_t b32;
                uint64_t b64;
                memcpy(&b32, &f, 4);
                memcpy(&b64, &v, 8);
                P("%s%s", i % 8 ? ", " : (i ? ",\n    " : "\n    "),
                  h->dtype == DT_F32 ? ir_fmt("0x%08xu", (unsigned)b32) : ir_fmt("0x%016llxull", (unsigned long long)b64));
            }
        } else {
            P("__device__ const %s %s_data[%lld] = {", T(h->dtype), name, L(items));
            for (int64_t i = 0; i < items; i++)
                P("%s%s", i % 8 ? ", " : (i ? ",\n    " : "\n    "), cg_attr_literal(a, (int)i, h->dtype));
        }
        P("\n};\n");
    }
    P("extern \"C\" __global__ void %s(%s) {\n", name, param_list());
    if (!items) { /* an empty tensor: never launched */
        P("}\n");
        return;
    }
    /* other names of an in-place buffer, in CUDA's spelling of restrict */
    const char *al = cg.u.aliases;
    for (const char *p = al; *p;) {
        const char *e = strchr(p, '\n');
        P("%.*s\n", (int)(e - p), p);
        p = e + 1;
    }
    if (style == ONE_BLOCK) {
        unit_body(h, 4, style, name);
        P("}\n");
        return;
    }
    const char *first = style == PER_OUTPUT_BLOCK ? "blockIdx.x" : "blockIdx.x * (int64_t)blockDim.x + threadIdx.x";
    const char *step = style == PER_OUTPUT_BLOCK ? "gridDim.x" : "(int64_t)gridDim.x * blockDim.x";
    if (h && h->op == OP_MAXPOOL2D_BWD && kernel_gathers(h)) {
        op_maxpool_bwd_windows(h, first, step);
        P("}\n");
        return;
    }
    P("    for (int64_t i = %s; i < %lld; i += %s) {\n", first, L(items), step);
    unit_body(h, 8, style, name);
    P("    }\n}\n");
}

const char *const cuda_preamble =
    "// CUDA C++ for NVRTC: no headers, so the C types the kernels use are defined here.\n"
    "typedef long long int64_t;\ntypedef unsigned long long uint64_t;\ntypedef int int32_t;\n"
    "typedef unsigned int uint32_t;\ntypedef unsigned char uint8_t;\n"
    "#define INFINITY __int_as_float(0x7f800000)\n#define NAN __int_as_float(0x7fffffff)\n"
    "#define INT64_C(c) c##LL\n#define INT64_MIN (-9223372036854775807LL - 1)\n"
    "\n/* Integer power as PyTorch computes it (the C backend's ipow). */\n"
    "__device__ inline int64_t ipow(int64_t b, int64_t e) {\n"
    "    if (e < 0)\n        return b == 1 ? 1 : b == -1 ? (e & 1 ? -1 : 1) : 0;\n"
    "    uint64_t r = 1, ub = (uint64_t)b;\n"
    "    for (; e > 0; e >>= 1, ub *= ub)\n        if (e & 1)\n            r *= ub;\n"
    "    return (int64_t)r;\n}\n"
    "\n/* Python's // and % (the C backend's, from tgrt.h). */\n"
    "__device__ inline int64_t tg_floordiv_i64(int64_t a, int64_t b) {\n"
    "    if (b == 0) return 0;\n    if (b == -1) return (int64_t)(0 - (uint64_t)a);\n"
    "    int64_t q = a / b;\n    return a % b != 0 && (a < 0) != (b < 0) ? q - 1 : q;\n}\n"
    "__device__ inline int64_t tg_mod_i64(int64_t a, int64_t b) {\n"
    "    if (b == 0 || b == -1) return 0;\n    int64_t m = a % b;\n    return m != 0 && (m < 0) != (b < 0) ? m + b : m;\n}\n"
    "__device__ inline double tg_floordiv_f64(double a, double b) {\n"
    "    if (b == 0) return a / b;\n    double mod = fmod(a, b), div = (a - mod) / b;\n"
    "    if (mod != 0 && (b < 0) != (mod < 0)) div -= 1.0;\n    if (div == 0) return copysign(0.0, a / b);\n"
    "    double fl = floor(div);\n    return div - fl > 0.5 ? fl + 1.0 : fl;\n}\n"
    "__device__ inline double tg_mod_f64(double a, double b) {\n"
    "    double m = fmod(a, b);\n    if (m != 0 && (m < 0) != (b < 0)) m += b; else if (m == 0) m = copysign(0.0, b);\n    return m;\n}\n"
    "__device__ inline float tg_floordiv_f32(float a, float b) {\n"
    "    if (b == 0) return a / b;\n    float mod = fmodf(a, b), div = (a - mod) / b;\n"
    "    if (mod != 0 && (b < 0) != (mod < 0)) div -= 1.0f;\n    if (div == 0) return copysignf(0.0f, a / b);\n"
    "    float fl = floorf(div);\n    return div - fl > 0.5f ? fl + 1.0f : fl;\n}\n"
    "__device__ inline float tg_mod_f32(float a, float b) {\n"
    "    float m = fmodf(a, b);\n    if (m != 0 && (m < 0) != (b < 0)) m += b; else if (m == 0) m = copysignf(0.0f, b);\n    return m;\n}\n"
    "\n/* A copy the memory plan could not avoid (an optimizer state that is not updated in place). */\n"
    "extern \"C\" __global__ void tg_copy(unsigned char *__restrict__ dst, const unsigned char *__restrict__ src, int64_t n) {\n"
    "    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)\n"
    "        dst[i] = src[i];\n}\n";

/* Calls fn with each kernel unit of g, in order, as the current unit (cg.u). */
void cuda_each_unit(Graph *g, const MemPlan *m, const char *kprefix, void (*fn)(void)) {
    cg_begin(g, m, kprefix);
    for (int i = 0, f, l; i < g->nnode; i++)
        if (cg_kernel_at(i, &f, &l)) {
            cg_unit_begin(f, l);
            fn();
        }
}

void cuda_kernels_of(Graph *g, const MemPlan *m, const char *kprefix) { cuda_each_unit(g, m, kprefix, emit_unit); }

/* ---- which of a staged program's segments the GPU runs ---- */

/* Has op a kernel here (unit_body's list)? */
static bool has_kernel(Op op) {
    switch (op_info[op].kind) {
    case K_UNARY: case K_BINARY: case K_REDUCE: return true;
    default: break;
    }
    switch (op) {
    case OP_CONST: case OP_FULL: case OP_ARANGE: case OP_RESHAPE: case OP_EXPAND: case OP_PERMUTE: case OP_SLICE:
    case OP_SETSLICE: case OP_CAT: case OP_MATMUL: case OP_LINEAR: case OP_CONV2D: case OP_CONV2D_BWD_INPUT:
    case OP_CONV2D_BWD_WEIGHT: case OP_MAXPOOL2D: case OP_MAXPOOL2D_ARGMAX: case OP_MAXPOOL2D_BWD:
    case OP_MAXPOOL2D_BWD_AT: case OP_AVGPOOL2D: case OP_AVGPOOL2D_BWD: case OP_CROSS_ENTROPY:
    case OP_CROSS_ENTROPY_BWD: case OP_GATHER: case OP_SCATTER_ADD: case OP_INDEX_SELECT: case OP_INDEX_ADD:
    case OP_ORTHOGONAL:
        return true;
    default:
        return false;
    }
}

/* The GPU computes every node of seg: kernels, copies into slots, the slots themselves, and the
 * sources the host computes and copies up (an option, a random draw, a seed; staged.c). Not a
 * print, a file, a run-time index or an index tensor (checked on the host), or a parameter's first values. */
bool cuda_host_source(const Node *n) {
    return n->op == OP_OPTION || n->op == OP_RAND || n->op == OP_RANDN || n->op == OP_BERNOULLI ||
           n->op == OP_RANDINT || n->op == OP_RANDPERM || (n->op == OP_SEED && !n->nin);
}

bool cuda_seg_on_device(Graph *seg) {
    for (int i = 0; i < seg->nnode; i++) {
        const Node *n = &seg->nodes[i];
        if (cuda_host_source(n))
            continue;
        switch (n->op) {
        case OP_ASSIGN: continue;
        case OP_SEED: return false;
        case OP_GATHER: case OP_SCATTER_ADD: case OP_INDEX_SELECT: case OP_INDEX_ADD: return false; /* its index checked on the host */
        case OP_PARAM: if (strcmp(node_str(n, "init", ""), "slot")) return false; continue;
        default: if (!has_kernel(n->op)) return false;
        }
    }
    return true;
}


void emit_cuda_source(FILE *f, Graph **programs, MemPlan **plans, StagedProgram **staged, int nprograms,
                      Graph *train, const MemPlan *train_plan, const MemPlan *predict_plan, const char *banner) {
    cg.out = f;
    P("%s%s", banner, cuda_preamble);
    for (int p = 0; p < nprograms; p++) {
        const char *kpre = p ? ir_fmt("p%d_", p) : "";
        P("\n/* ---- program %s ---- */\n", programs[p]->name);
        if (!staged || !staged[p]) {
            cuda_kernels_of(programs[p], plans[p], kpre);
            continue;
        }
        for (int k = 0; k < staged[p]->nsegs; k++) /* the segments --target cuda runs on the GPU */
            if (cuda_seg_on_device(staged[p]->segs[k])) {
                P("\n/* ---- segment %d ---- */\n", k);
                cuda_kernels_of(staged[p]->segs[k], staged[p]->plans[k], ir_fmt("%ss%d_", kpre, k));
            }
    }
    if (!train)
        return;
    Graph *pred = train->train ? train->train->predict : NULL;
    P("\n/* ---- training step of %s ---- */\n", train->name);
    cuda_kernels_of(train, train_plan, nprograms ? "t" : "");
    if (pred) {
        P("\n/* ---- predict ---- */\n");
        cuda_kernels_of(pred, predict_plan, "p");
    }
}
