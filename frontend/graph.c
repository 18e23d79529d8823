/*
 * graph.c: the program's graph as the elaborator builds it.
 *
 * lw_add appends a node through ir_add, whose shape rule reports a bad operation at the
 * user's line, and records what autograd knows of it (NodeInfo): whether it requires grad,
 * and which leaf it is the value of; one that does not require grad is marked NF_NOGRAD, a
 * constant to the gradients of a later backward().
 *
 * PyTorch's mutation and aliasing are resolved statically. Every tensor
 * belongs to a storage group whose current contents is one node (SSA). A view
 * (t[0], t.view(...), t.numpy()) remembers the chain of view steps from its
 * group's base. An in-place update (add_, +=, t[:, 1] = 0, out=) builds new
 * nodes, writes them back through the view chain (slice -> setslice, reshape
 * -> reshape, permute -> inverse permute) to a new base, and then re-derives
 * every live variable of that group, so `n = t.numpy(); t.add_(1)` prints the
 * updated n exactly as numpy does.
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* ---- graph building ---- */

NodeInfo *lw_info(int id) {
    if (id >= L.ninfo) {
        int cap = L.ninfo ? L.ninfo : 256;
        while (cap <= id)
            cap *= 2;
        NodeInfo *ni = ir_alloc(sizeof(NodeInfo) * (size_t)cap);
        if (L.ninfo)
            memcpy(ni, L.info, sizeof(NodeInfo) * (size_t)L.ninfo);
        for (int i = L.ninfo; i < cap; i++)
            ni[i].leaf = -1;
        L.info = ni;
        L.ninfo = cap;
    }
    return &L.info[id];
}

/* Names the parameters of L.g that no module path names (a layer made in an expression, not
 * declared: `conv1 = +Conv2d(...)` fails, but `[Conv2d(...)][0]` does not): "~param#0", ... in
 * graph order, which the step and predict graphs share, so memory planning pairs them and no
 * state_dict has them. */
void name_orphans(void) {
    int k = 0;
    for (int i = 0; i < L.g->nnode; i++)
        if (L.g->nodes[i].op == OP_PARAM && !L.g->nodes[i].name)
            L.g->nodes[i].name = ir_fmt("~param#%d", k++);
}

/* A new graph to lower into (a program, a train block's step, an export def), with the file's
 * scope and a fresh one of its own above it. */
void begin_graph(const char *name) {
    L.g = ir_new_graph(name);
    L.info = NULL;
    L.ninfo = 0;
    L.scope = L.globals;
    push_scope();
}

/* Does a gradient flow from input k of this node to its value? (Float to float, differentiable op.) */
static bool grad_flows(Op op, const int *in, int k, DType out) {
    if (!op_info[op].diff || !dtype_is_float(out) || !dtype_is_float(L.g->nodes[in[k]].dtype))
        return false;
    return !(op == OP_CROSS_ENTROPY && k == 1);
}

int lw_add(Op op, const int *in, int nin, DType dt, Shape shape, const Attr *a, int na, SrcLoc loc) {
    int id = ir_add(L.g, op, in, nin, dt, shape, a, na, loc);
    if (id < 0)
        diag_stop(); /* the shape rule has reported why */
    /* the limit on a tensor's size holds for results too: a broadcast (where, +), an expand, a
     * stack or an index_select can make one far larger than its inputs */
    check_numel(L.g->nodes[id].shape, NULL, loc);
    /* requires_grad propagates as in PyTorch, except in an optimizer step (no_grad) */
    bool rg = false;
    for (int k = 0; k < nin && !L.no_grad && !L.no_grad_block; k++)
        rg |= lw_info(in[k])->rg && grad_flows(op, in, k, L.g->nodes[id].dtype);
    *lw_info(id) = (NodeInfo){.rg = rg, .leaf = -1};
    if (!rg) /* autograd records no grad_fn: a later backward() treats it as a constant */
        L.g->nodes[id].flags |= NF_NOGRAD;
    return id;
}

int lw_add1(Op op, int x, const Attr *a, int na, SrcLoc loc) {
    return lw_add(op, &x, 1, DT_F32, shape_scalar(), a, na, loc);
}

int lw_add2(Op op, int x, int y, SrcLoc loc) {
    int in[2] = {x, y};
    return lw_add(op, in, 2, DT_F32, shape_scalar(), NULL, 0, loc);
}

/*
 * Literal data as an attribute: doubles for float dtypes, exact int64 for integer and bool
 * dtypes (a double would round integers above 2^53). A float stored into an integer tensor
 * truncates toward zero, as torch.tensor([1.5], dtype=torch.long) does.
 */
Attr data_attr(const char *key, Value **v, int64_t n, DType dt, SrcLoc loc) {
    if (n > INT32_MAX)
        error_at(loc, "tensor literal too large");
    if (dtype_is_float(dt)) {
        double *f = ir_alloc(sizeof(double) * (size_t)(n ? n : 1));
        for (int64_t i = 0; i < n; i++)
            f[i] = num(v[i]);
        Attr a = attr_floats(key, f, (int)n);
        a.kind = A_FLOATS;
        return a;
    }
    int64_t *x = ir_alloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        if (v[i]->kind == V_FLOAT) {
            double f = trunc(v[i]->f);
            if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0))
                error_at(loc, "value %s cannot be converted to %s without overflow", py_float_repr(v[i]->f),
                         dtype_torch(dt));
            x[i] = (int64_t)f;
        } else
            x[i] = v[i]->i;
        if (dt == DT_BOOL)
            x[i] = x[i] != 0 || (v[i]->kind == V_FLOAT && v[i]->f != 0);
        int64_t lo = dt == DT_I32 ? INT32_MIN : dt == DT_U8 ? 0 : INT64_MIN;
        int64_t hi = dt == DT_I32 ? INT32_MAX : dt == DT_U8 ? 255 : INT64_MAX;
        if (dt != DT_BOOL && (x[i] < lo || x[i] > hi))
            error_at(loc, "value %lld cannot be converted to %s without overflow", (long long)x[i], dtype_torch(dt));
    }
    Attr a = attr_ints(key, x, (int)n);
    a.kind = A_INTS;
    return a;
}

int const_scalar(Value *v, DType dt, SrcLoc loc) {
    Attr a = data_attr("data", &v, 1, dt, loc);
    return lw_add(OP_CONST, NULL, 0, dt, shape_scalar(), &a, 1, loc);
}

int lw_cast(int x, DType dt, SrcLoc loc) {
    if (N(x)->dtype == dt)
        return x;
    return lw_add(OP_CAST, &x, 1, dt, N(x)->shape, NULL, 0, loc);
}

int lw_reshape(int x, Shape s, SrcLoc loc) {
    if (shape_eq(N(x)->shape, s))
        return x;
    Attr a = attr_ints("shape", s.d, s.rank);
    a.kind = A_INTS;
    return lw_add1(OP_RESHAPE, x, &a, 1, loc);
}

int lw_expand(int x, Shape s, SrcLoc loc) {
    if (shape_eq(N(x)->shape, s))
        return x;
    Attr a = attr_ints("shape", s.d, s.rank);
    a.kind = A_INTS;
    return lw_add1(OP_EXPAND, x, &a, 1, loc);
}

Attr ints_attr(const char *key, const int64_t *v, int n) {
    Attr a = attr_ints(key, v, n);
    a.kind = A_INTS;
    return a;
}

/* ---- aliasing: storage groups and views ---- */

/* A new storage group whose contents is node; it has no .grad and does not require grad. */
int new_group(int node) {
    if (L.ngroups == L.capgroups) {
        int cap = L.capgroups ? L.capgroups * 2 : 64;
        int *g = ir_alloc(sizeof(int) * (size_t)cap), *gg = ir_alloc(sizeof(int) * (size_t)cap);
        bool *rg = ir_alloc(sizeof(bool) * (size_t)cap), *pg = ir_alloc(sizeof(bool) * (size_t)cap);
        if (L.ngroups) {
            memcpy(g, L.group_base, sizeof(int) * (size_t)L.ngroups);
            memcpy(gg, L.grad_group, sizeof(int) * (size_t)L.ngroups);
            memcpy(rg, L.group_rg, sizeof(bool) * (size_t)L.ngroups);
            memcpy(pg, L.group_param, sizeof(bool) * (size_t)L.ngroups);
        }
        L.group_param = pg;
        L.group_base = g;
        L.grad_group = gg;
        L.group_rg = rg;
        L.capgroups = cap;
    }
    L.group_base[L.ngroups] = node;
    L.grad_group[L.ngroups] = -1;
    L.group_rg[L.ngroups] = false;
    L.group_param[L.ngroups] = false;
    return L.ngroups++;
}

/* A fresh tensor: a new storage group whose base is the node. */
Value *mk_tensor(int node) {
    Value *v = lw_mk(V_TENSOR);
    v->node = node;
    v->group = new_group(node);
    return v;
}

static int apply_step(int x, ViewStep *st, SrcLoc loc) {
    return lw_add(st->op, &x, 1, DT_F32, shape_scalar(), st->attr, st->nattr, loc);
}

/* Does a view step of a contiguous tensor of shape `in` give a contiguous one, as PyTorch's strides would say? */
static bool step_keeps_contiguous(const ViewStep *st, Shape in) {
    if (st->op == OP_RESHAPE)
        return true;
    if (st->op == OP_PERMUTE) {
        /* contiguous when the axes of size > 1 keep their order */
        int64_t last = -1;
        for (int i = 0; i < st->attr[0].n; i++) {
            int64_t ax = st->attr[0].i[i];
            if (in.d[ax] == 1)
                continue;
            if (ax < last)
                return false;
            last = ax;
        }
        return true;
    }
    /* a slice is one block when, left to right: axes of size 1, then one axis with step 1, then full axes */
    const int64_t *start = st->attr[0].i, *step = st->attr[1].i, *size = st->attr[2].i;
    int k = 0;
    while (k < in.rank && size[k] == 1)
        k++;
    if (k < in.rank && step[k] != 1 && size[k] > 1)
        return false;
    for (int j = k + 1; j < in.rank; j++)
        if (start[j] != 0 || size[j] != in.d[j])
            return false;
    return true;
}

/* A view of v: same group, one more step. */
/* Node id reads a detached view: no gradient flows through it, and it requires none. */
void cut_grad(int id) {
    *lw_info(id) = (NodeInfo){.rg = false, .leaf = -1};
    L.g->nodes[id].flags |= NF_NOGRAD;
}

Value *mk_view(Value *v, Op op, const Attr *a, int na, SrcLoc loc) {
    Value *r = lw_mk(V_TENSOR);
    r->group = v->group;
    r->tflags = v->tflags & (TV_NUMPY | TV_DETACHED);
    r->nchain = v->nchain + 1;
    r->chain = ir_alloc(sizeof(ViewStep) * (size_t)r->nchain);
    if (v->nchain)
        memcpy(r->chain, v->chain, sizeof(ViewStep) * (size_t)v->nchain);
    ViewStep *st = &r->chain[v->nchain];
    st->op = op;
    st->nattr = na;
    for (int i = 0; i < na; i++)
        st->attr[i] = a[i];
    r->node = apply_step(v->node, st, loc);
    if (r->tflags & TV_DETACHED)
        cut_grad(r->node);
    r->strided = v->strided || !step_keeps_contiguous(st, TN(v)->shape);
    return r;
}

static void refresh(Value *v, SrcLoc loc);

static void refresh_scope_values(Value *v, int group, SrcLoc loc) {
    if (!v || v->stamp == L.stamp)
        return;
    v->stamp = L.stamp;
    if (v->kind == V_TENSOR && v->group == group)
        refresh(v, loc);
    if (v->kind == V_LIST || v->kind == V_TUPLE || v->kind == V_DICT)
        for (int i = 0; i < v->n; i++)
            refresh_scope_values(v->items[i], group, loc);
}

/* Re-derives a tensor value from its group's current base. */
static void refresh(Value *v, SrcLoc loc) {
    int x = L.group_base[v->group];
    for (int i = 0; i < v->nchain; i++)
        x = apply_step(x, &v->chain[i], loc);
    v->node = x;
    if (v->tflags & TV_DETACHED)
        cut_grad(x);
}

void each_root(void (*fn)(Value *v, void *ctx), void *ctx) {
    for (int c = -1; c < L.ncallers; c++)
        for (Scope *s = c < 0 ? L.scope : L.callers[c]; s; s = s->up)
            for (int i = 0; i < s->n; i++)
                fn(s->b[i].v, ctx);
    for (int i = 0; i < L.nheld; i++)
        fn(L.held[i], ctx);
}

struct GroupAt {
    int group;
    SrcLoc loc;
};

static void refresh_group_root(Value *v, void *ctx) {
    struct GroupAt *at = ctx;
    refresh_scope_values(v, at->group, at->loc);
}

/* The group of v now holds `node` (the whole base was replaced). */
void set_group(int group, int node, SrcLoc loc) {
    /* a parameter keeps its name through loads and updates: gradients are labelled with it */
    if (L.group_param[group] && !L.g->nodes[node].name)
        L.g->nodes[node].name = L.g->nodes[L.group_base[group]].name;
    L.group_base[group] = node;
    if (L.group_rg[group]) { /* the new value of a leaf is the leaf the next backward reaches */
        lw_info(node)->rg = true;
        lw_info(node)->leaf = group;
    }
    L.stamp++;
    struct GroupAt at = {group, loc};
    each_root(refresh_group_root, &at);
}

static void refresh_every(Value *v, SrcLoc loc) {
    if (!v || v->stamp == L.stamp)
        return;
    v->stamp = L.stamp;
    if (v->kind == V_TENSOR && L.group_base[v->group] >= 0)
        refresh(v, loc);
    for (int i = 0; i < v->n; i++)
        refresh_every(v->items[i], loc);
    if (v->kind == V_FUNC)
        refresh_every(v->self, loc);
    if (v->kind == V_OPTIM) {
        for (int i = 0; i < v->optim->nparams; i++)
            refresh_every(v->optim->params[i], loc);
        for (int g = 0; g < v->optim->ngroups; g++)
            refresh_every(v->optim->groups[g].d, loc);
    }
}

static void refresh_root(Value *v, void *ctx) { refresh_every(v, *(SrcLoc *)ctx); }

void refresh_all_values(SrcLoc loc) {
    L.stamp++;
    each_root(refresh_root, &loc);
}

/* In-place: the contents seen through view v become `node` (same shape). */
void write_through(Value *v, int node, SrcLoc loc) {
    if (v->tflags & TV_DETACHED) { /* x.detach().add_(1): x changes, and autograd does not see it */
        bool saved = L.no_grad;
        L.no_grad = true;
        Value w = *v;
        w.tflags &= ~TV_DETACHED;
        write_through(&w, node, loc);
        L.no_grad = saved;
        return;
    }
    if (L.group_rg[v->group] && !L.no_grad && !L.no_grad_block)
        error_at(loc, "%s leaf tensor that requires grad is used in an in-place operation (PyTorch forbids it too)",
                 v->nchain ? "a view of a" : "a");
    int base = L.group_base[v->group];
    /* intermediate values along the chain, for setslice */
    int *mid = ir_alloc(sizeof(int) * (size_t)(v->nchain + 1));
    mid[0] = base;
    for (int i = 0; i < v->nchain; i++)
        mid[i + 1] = i + 1 < v->nchain ? apply_step(mid[i], &v->chain[i], loc) : -1;
    int x = node;
    for (int i = v->nchain - 1; i >= 0; i--) {
        ViewStep *st = &v->chain[i];
        Shape below = N(mid[i])->shape;
        switch (st->op) {
        case OP_SLICE: {
            int in[2] = {mid[i], x};
            x = lw_add(OP_SETSLICE, in, 2, DT_F32, shape_scalar(), st->attr, st->nattr, loc);
            break;
        }
        case OP_RESHAPE:
            x = lw_reshape(x, below, loc);
            break;
        case OP_PERMUTE: {
            int64_t inv[MAX_RANK];
            const int64_t *p = st->attr[0].i;
            for (int k = 0; k < st->attr[0].n; k++)
                inv[p[k]] = k;
            Attr a = ints_attr("perm", inv, st->attr[0].n);
            x = lw_add1(OP_PERMUTE, x, &a, 1, loc);
            break;
        }
        default:
            error_at(loc, "in-place update through this kind of view is not supported");
        }
    }
    set_group(v->group, x, loc);
}
