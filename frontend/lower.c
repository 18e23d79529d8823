/*
 * lower.c: AST -> Graph. The elaborator.
 *
 * .tg reads like the PyTorch it translates, so a program mixes two kinds of
 * values: compile-time ones (Python ints, floats, strings, lists, dtypes,
 * shapes, modules) that are evaluated here, and tensors, each of which becomes
 * a node in the program's graph. A tensor operation becomes ir_add(), whose
 * shape rule checks it at the user's line.
 *
 * PyTorch's mutation and aliasing are resolved statically. Every tensor
 * belongs to a storage group whose current contents is one node (SSA). A view
 * (t[0], t.view(...), t.numpy()) remembers the chain of view steps from its
 * group's base. An in-place update (add_, +=, t[:, 1] = 0, out=) builds new
 * nodes, writes them back through the view chain (slice -> setslice, reshape
 * -> reshape, permute -> inverse permute) to a new base, and then re-derives
 * every live variable of that group, so `n = t.numpy(); t.add_(1)` prints the
 * updated n exactly as numpy does.
 *
 * Modules (Conv2d, Linear, user models) are compile-time objects; their
 * parameters are storage groups too, so loading weights or an optimizer step
 * is an in-place update like any other.
 */
#include "frontend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Value Value;
typedef struct Module Module;
typedef struct Scope Scope;

typedef enum {
    V_NONE,    /* None */
    V_INT,     /* i */
    V_FLOAT,   /* f */
    V_BOOL,    /* i */
    V_STR,     /* s */
    V_TENSOR,  /* node, group, view chain */
    V_LIST,    /* items */
    V_TUPLE,   /* items */
    V_DTYPE,   /* dt */
    V_TYPE,    /* dt + shape (+ symbolic dims), from f32[B, 3, 32, 32] */
    V_SIZE,    /* torch.Size: shape */
    V_DEVICE,  /* s */
    V_MODULE,  /* mod */
    V_CLASS,   /* s = builtin module name, or decl = user model */
    V_FUNC,    /* s = builtin name, self = bound receiver, numpy namespace flag */
    V_NAMESPACE, /* s = "torch", "np", ... */
    V_PYTYPE,  /* s = "float", "int", "bool": type(x) */
    V_TEXT,    /* run-time text (an f-string with tensor holes): items are strings and (tensor, spec) */
    V_ERROR,   /* what a failed statement assigned: using it stops quietly, the error was reported */
    V_OPTIM,   /* an optimizer: optim, s = "SGD"/"Adam"/"AdamW" */
} VKind;

enum { TV_NUMPY = 1, TV_PYSCALAR = 2 };

typedef struct {
    Op op;
    Attr attr[3];
    int nattr;
} ViewStep;

struct Value {
    VKind kind;
    int64_t i;
    double f;
    const char *s;
    int node;           /* V_TENSOR: node holding the current contents */
    int group;          /* V_TENSOR: storage group */
    ViewStep *chain;    /* V_TENSOR: view steps from the group base */
    int nchain;
    unsigned tflags;    /* TV_* */
    Value **items;
    int n;
    DType dt;
    Shape shape;
    const char **sym;   /* V_TYPE: symbolic dim names, NULL for literal dims */
    Module *mod;
    Decl *decl;
    Value *self;
    bool numpy_ns;      /* V_FUNC from the np namespace */
    unsigned stamp;     /* visited mark for alias updates */
    bool strided;       /* V_TENSOR: a view whose elements are not one contiguous row-major block */
    struct Optim *optim; /* V_OPTIM */
};

struct Module {
    const char *cls;     /* "Conv2d", "Linear", ..., or a user model's name */
    const char *path;    /* parameter name prefix: "" for the root, "conv1." inside */
    Decl *decl;          /* user model */
    Scope *env;          /* user model: constructor arguments and children */
    Module **child;
    const char **child_name;
    int nchild;
    const char *repr;    /* builtin: one-line repr as PyTorch prints it */
    int64_t in, out;     /* channels / features */
    int64_t k[2], stride[2], pad[2], dil[2], groups;
    bool has_bias, ceil_mode, inplace, count_include_pad;
    int64_t start_dim, end_dim;
    const char *loss_reduction; /* MSELoss, CrossEntropyLoss */
    int weight, bias;    /* parameter storage groups, -1 if none */
    /* BatchNorm2d: its buffers' groups (-1 if none) and their PARAM nodes, eps, momentum */
    int rmean, rvar, nbt, rmean_node, rvar_node, nbt_node;
    double eps, momentum;
    bool affine, track;
    bool eval;           /* model.eval(): BatchNorm2d uses its running statistics */
    int64_t osize[2];    /* AdaptiveAvgPool2d's output size */
};

typedef struct {
    const char *name;
    Value *v;
} Binding;

struct Scope {
    Scope *up;
    Binding *b;
    int n, cap;
};

/* What autograd knows about a node (PyTorch keeps it on the tensor). */
typedef struct {
    bool rg;            /* requires_grad */
    int leaf;           /* the leaf group whose value this node is, or -1 */
    const char *fn;     /* grad_fn name for printing ("AddmmBackward0"), NULL: from the op */
} NodeInfo;

typedef struct {
    Ast *ast;
    Graph *g;
    Scope *scope;       /* innermost */
    Scope *globals;
    int *group_base;    /* group -> node holding its contents */
    int ngroups, capgroups;
    unsigned stamp;
    NodeInfo *info;     /* per node of g: autograd facts the IR does not keep */
    int ninfo;
    bool *group_rg;     /* group -> a leaf that requires grad (a parameter, requires_grad=True) */
    bool *group_param;  /* group -> a module's parameter (printed as "Parameter containing:") */
    int *grad_group;    /* group -> the group holding its .grad, or -1 (None) */
    bool no_grad;       /* inside an optimizer step or a weight load: updates are not recorded */
    Value *ret;         /* model forward: returned value */
    bool in_forward;
    const char *checking; /* set while a model is run only to check it: the note to print */
    int depth_guard;    /* model constructions and calls now running: a model containing itself stops at 64 */
    int eval_depth;     /* expressions now being evaluated: deeply nested ones would exhaust the C stack */
    /* Scope chains of the callers of the model calls now running: their variables see in-place updates too. */
    Scope *callers[80];
    int ncallers;
} Lower;

static Lower L;

/* ---- values ---- */

static Value *lw_mk(VKind k) {
    Value *v = ir_alloc(sizeof(Value));
    v->kind = k;
    v->node = -1;
    v->group = -1;
    return v;
}

static Value *mk_int(int64_t i) { Value *v = lw_mk(V_INT); v->i = i; return v; }
static Value *mk_float(double f) { Value *v = lw_mk(V_FLOAT); v->f = f; return v; }
static Value *mk_bool(bool b) { Value *v = lw_mk(V_BOOL); v->i = b; return v; }
static Value *mk_str(const char *s) { Value *v = lw_mk(V_STR); v->s = s; return v; }

static int new_group(int node) {
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
static Value *mk_tensor(int node) {
    Value *v = lw_mk(V_TENSOR);
    v->node = node;
    v->group = new_group(node);
    return v;
}

static Node *N(int id) { return &L.g->nodes[id]; }
static Node *TN(Value *v) { return N(v->node); }

static const char *kind_name(Value *v) {
    switch (v->kind) {
    case V_NONE: return "None";
    case V_INT: return "an int";
    case V_FLOAT: return "a float";
    case V_BOOL: return "a bool";
    case V_STR: return "a string";
    case V_TENSOR: return ir_fmt("a tensor %s", type_str(TN(v)->dtype, TN(v)->shape));
    case V_LIST: return "a list";
    case V_TUPLE: return "a tuple";
    case V_DTYPE: return "a dtype";
    case V_TYPE: return "a tensor type";
    case V_SIZE: return "a torch.Size";
    case V_DEVICE: return "a device";
    case V_MODULE: return ir_fmt("a module (%s)", v->mod->cls);
    case V_CLASS: return "a module class";
    case V_FUNC: return "a function";
    case V_NAMESPACE: return "a namespace";
    case V_PYTYPE: return "a type";
    case V_TEXT: return "a formatted string";
    case V_ERROR: return "an error";
    case V_OPTIM: return ir_fmt("an optimizer (%s)", v->s);
    }
    return "?";
}

/* ---- scopes ---- */

static Scope *push_scope(void) {
    Scope *s = ir_alloc(sizeof(Scope));
    s->up = L.scope;
    L.scope = s;
    return s;
}

static Binding *find_in(Scope *s, const char *name) {
    for (int i = s->n - 1; i >= 0; i--)
        if (!strcmp(s->b[i].name, name))
            return &s->b[i];
    return NULL;
}

static void lw_bind(Scope *s, const char *name, Value *v) {
    Binding *b = find_in(s, name);
    if (b) {
        b->v = v;
        return;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        Binding *nb = ir_alloc(sizeof(Binding) * (size_t)cap);
        if (s->n)
            memcpy(nb, s->b, sizeof(Binding) * (size_t)s->n);
        s->b = nb;
        s->cap = cap;
    }
    s->b[s->n++] = (Binding){name, v};
}

/* All names visible from the innermost scope, for "did you mean". */
static const char *suggest_name(const char *name) {
    const char *cands[512];
    int n = 0;
    for (Scope *s = L.scope; s; s = s->up)
        for (int i = 0; i < s->n && n < 512; i++)
            cands[n++] = s->b[i].name;
    return diag_suggest(name, cands, n);
}

/* ---- graph building ---- */

static NodeInfo *lw_info(int id) {
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

/* Does a gradient flow from input k of this node to its value? (Float to float, differentiable op.) */
static bool grad_flows(Op op, const int *in, int k, DType out) {
    if (!op_info[op].diff || !dtype_is_float(out) || !dtype_is_float(L.g->nodes[in[k]].dtype))
        return false;
    return !(op == OP_CROSS_ENTROPY && k == 1);
}

static int lw_add(Op op, const int *in, int nin, DType dt, Shape shape, const Attr *a, int na, SrcLoc loc) {
    int id = ir_add(L.g, op, in, nin, dt, shape, a, na, loc);
    if (id < 0)
        diag_stop(); /* the shape rule has reported why */
    /* requires_grad propagates as in PyTorch, except in an optimizer step (no_grad) */
    bool rg = false;
    for (int k = 0; k < nin && !L.no_grad; k++)
        rg |= lw_info(in[k])->rg && grad_flows(op, in, k, L.g->nodes[id].dtype);
    *lw_info(id) = (NodeInfo){.rg = rg, .leaf = -1};
    if (!rg) /* autograd records no grad_fn: a later backward() treats it as a constant */
        L.g->nodes[id].flags |= NF_NOGRAD;
    return id;
}

static int lw_add1(Op op, int x, const Attr *a, int na, SrcLoc loc) {
    return lw_add(op, &x, 1, DT_F32, shape_scalar(), a, na, loc);
}

static int lw_add2(Op op, int x, int y, SrcLoc loc) {
    int in[2] = {x, y};
    return lw_add(op, in, 2, DT_F32, shape_scalar(), NULL, 0, loc);
}

static double num(Value *v);
static const char *py_float_repr(double v);

/*
 * Literal data as an attribute: doubles for float dtypes, exact int64 for integer and bool
 * dtypes (a double would round integers above 2^53). A float stored into an integer tensor
 * truncates toward zero, as torch.tensor([1.5], dtype=torch.long) does.
 */
static Attr data_attr(const char *key, Value **v, int64_t n, DType dt, SrcLoc loc) {
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

static int const_scalar(Value *v, DType dt, SrcLoc loc) {
    Attr a = data_attr("data", &v, 1, dt, loc);
    return lw_add(OP_CONST, NULL, 0, dt, shape_scalar(), &a, 1, loc);
}

static int lw_cast(int x, DType dt, SrcLoc loc) {
    if (N(x)->dtype == dt)
        return x;
    return lw_add(OP_CAST, &x, 1, dt, N(x)->shape, NULL, 0, loc);
}

static int lw_reshape(int x, Shape s, SrcLoc loc) {
    if (shape_eq(N(x)->shape, s))
        return x;
    Attr a = attr_ints("shape", s.d, s.rank);
    a.kind = A_INTS;
    return lw_add1(OP_RESHAPE, x, &a, 1, loc);
}

static int lw_expand(int x, Shape s, SrcLoc loc) {
    if (shape_eq(N(x)->shape, s))
        return x;
    Attr a = attr_ints("shape", s.d, s.rank);
    a.kind = A_INTS;
    return lw_add1(OP_EXPAND, x, &a, 1, loc);
}

static Attr ints_attr(const char *key, const int64_t *v, int n) {
    Attr a = attr_ints(key, v, n);
    a.kind = A_INTS;
    return a;
}

/* ---- aliasing: storage groups and views ---- */

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
static Value *mk_view(Value *v, Op op, const Attr *a, int na, SrcLoc loc) {
    Value *r = lw_mk(V_TENSOR);
    r->group = v->group;
    r->tflags = v->tflags & TV_NUMPY;
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
    if (v->kind == V_LIST || v->kind == V_TUPLE)
        for (int i = 0; i < v->n; i++)
            refresh_scope_values(v->items[i], group, loc);
}

/* Re-derives a tensor value from its group's current base. */
static void refresh(Value *v, SrcLoc loc) {
    int x = L.group_base[v->group];
    for (int i = 0; i < v->nchain; i++)
        x = apply_step(x, &v->chain[i], loc);
    v->node = x;
}

/* The group of v now holds `node` (the whole base was replaced). */
static void set_group(int group, int node, SrcLoc loc) {
    /* a parameter keeps its name through loads and updates: gradients are labelled with it */
    if (L.group_param[group] && !L.g->nodes[node].name)
        L.g->nodes[node].name = L.g->nodes[L.group_base[group]].name;
    L.group_base[group] = node;
    if (L.group_rg[group]) { /* the new value of a leaf is the leaf the next backward reaches */
        lw_info(node)->rg = true;
        lw_info(node)->leaf = group;
    }
    L.stamp++;
    for (int c = -1; c < L.ncallers; c++)
        for (Scope *s = c < 0 ? L.scope : L.callers[c]; s; s = s->up)
            for (int i = 0; i < s->n; i++)
                refresh_scope_values(s->b[i].v, group, loc);
}

/* In-place: the contents seen through view v become `node` (same shape). */
static void write_through(Value *v, int node, SrcLoc loc) {
    if (L.group_rg[v->group] && !L.no_grad)
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

/* ---- forward declarations ---- */

static Value *lw_eval(Expr *e);
static void exec_block(Stmt **body, int n);
static Value *call_value(Value *f, Expr *call, Value **args, const char **names, int nargs, SrcLoc loc);
static const char *value_str(Value *v, SrcLoc loc);

/* ---- scalars, promotion and tensor conversion ---- */

static bool is_scalar(Value *v) { return v->kind == V_INT || v->kind == V_FLOAT || v->kind == V_BOOL; }

static double num(Value *v) { return v->kind == V_FLOAT ? v->f : (double)v->i; }

/* PyTorch's category order: bool < integer < floating point. */
static int category(DType dt) { return dt == DT_BOOL ? 0 : dtype_is_float(dt) ? 2 : 1; }

static int value_category(Value *v) {
    if (v->kind == V_BOOL) return 0;
    if (v->kind == V_INT) return 1;
    if (v->kind == V_FLOAT) return 2;
    return category(TN(v)->dtype);
}

static DType promote_types(DType a, DType b) {
    if (a == b) return a;
    if (category(a) != category(b))
        return category(a) > category(b) ? a : b;
    if (category(a) == 2) return DT_F64;        /* f32 with f64 */
    /* integers: the wider signed type; u8 with i32 -> i32 */
    if (a == DT_I64 || b == DT_I64) return DT_I64;
    if (a == DT_I32 || b == DT_I32) return DT_I32;
    return DT_U8;
}

static DType default_dtype_for(int cat) { return cat == 2 ? DT_F32 : cat == 1 ? DT_I64 : DT_BOOL; }

/*
 * torch.result_type for two operands: dimensioned tensors decide, then
 * zero-dimensional tensors, then Python scalars, a lower tier only winning
 * when its category is higher (a float scalar makes an int tensor float).
 */
static DType result_type(Value *a, Value *b) {
    Value *ops[2] = {a, b};
    int have[3] = {0, 0, 0};
    DType tier[3] = {DT_BOOL, DT_BOOL, DT_BOOL};
    int tcat[3] = {-1, -1, -1};
    for (int i = 0; i < 2; i++) {
        Value *v = ops[i];
        int t;
        DType dt;
        if (is_scalar(v)) {
            t = 2;
            dt = default_dtype_for(value_category(v));
        } else if (v->tflags & TV_PYSCALAR) {
            t = 2;
            dt = default_dtype_for(category(TN(v)->dtype));
        } else {
            t = TN(v)->shape.rank == 0 ? 1 : 0;
            dt = TN(v)->dtype;
        }
        tier[t] = have[t] ? promote_types(tier[t], dt) : dt;
        have[t] = 1;
        if (category(dt) > tcat[t])
            tcat[t] = category(dt);
    }
    DType r = DT_BOOL;
    int rcat = -1;
    for (int t = 0; t < 3; t++) {
        if (!have[t])
            continue;
        if (rcat < 0) {
            r = tier[t];
            rcat = category(r);
        } else if (tcat[t] > rcat) {
            r = t == 2 ? default_dtype_for(tcat[t]) : tier[t];
            rcat = category(r);
        }
    }
    return r;
}

/* The node of a tensor operand, converted to dt; scalars become constants. */
static int as_node(Value *v, DType dt, SrcLoc loc) {
    if (is_scalar(v))
        return const_scalar(v, dt, loc);
    if (v->kind != V_TENSOR)
        error_at(loc, "expected a tensor or a number, got %s", kind_name(v));
    return lw_cast(v->node, dt, loc);
}

static Value *tensor_arg(Value *v, SrcLoc loc, const char *what) {
    if (v->kind != V_TENSOR)
        error_at(loc, "%s must be a tensor, got %s", what, kind_name(v));
    return v;
}

static int64_t int_arg(Value *v, SrcLoc loc, const char *what) {
    if (v->kind == V_INT || v->kind == V_BOOL)
        return v->i;
    error_at(loc, "%s must be an integer, got %s", what, kind_name(v));
}

static double float_arg(Value *v, SrcLoc loc, const char *what) {
    if (is_scalar(v))
        return num(v);
    error_at(loc, "%s must be a number, got %s", what, kind_name(v));
}

static bool bool_arg(Value *v, SrcLoc loc, const char *what) {
    if (v->kind == V_BOOL || v->kind == V_INT)
        return v->i != 0;
    error_at(loc, "%s must be true or false, got %s", what, kind_name(v));
}

/* Normalizes a possibly negative axis against rank. */
static int axis_arg(Value *v, int rank, SrcLoc loc) {
    int64_t a = int_arg(v, loc, "dim");
    int64_t r = rank ? rank : 1;
    if (a < -r || a >= r)
        error_at(loc, "dim %lld is out of range for a tensor of rank %d (expected -%lld to %lld)",
                 (long long)a, rank, (long long)r, (long long)(r - 1));
    return (int)(a < 0 ? a + r : a);
}

/* A shape from ints, a tuple/list of ints, or a torch.Size. */
static Shape shape_from_values(Value **v, int n, SrcLoc loc) {
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
    int64_t total = 1;
    for (int i = 0; i < n; i++) {
        if (s.d[i] && total > ((int64_t)1 << 34) / s.d[i])
            error_at(loc, "tensor of shape %s is too large (tgc's limit is 2^34 elements)", shape_str(s));
        total *= s.d[i];
    }
    return s;
}

static DType dtype_value(Value *v, SrcLoc loc) {
    if (v->kind == V_DTYPE)
        return v->dt;
    if (v->kind == V_PYTYPE) /* float, int, bool as Python types */
        return (DType)dtype_from_name(v->s);
    error_at(loc, "expected a dtype such as f32, got %s", kind_name(v));
}

/* ---- call arguments ---- */

typedef struct {
    const char *fname;
    Value **pos;
    int npos;
    const char **kw;
    Value **kwv;
    int nkw;
    unsigned used; /* bit i: keyword i consumed */
    SrcLoc loc;
} Args;

/* Argument `index` by position, or by keyword `name`; dflt when absent. */
static Value *lw_arg(Args *a, int index, const char *name, Value *dflt) {
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

static Value *lw_req(Args *a, int index, const char *name) {
    Value *v = lw_arg(a, index, name, NULL);
    if (!v)
        error_at(a->loc, "%s() missing required argument '%s'", a->fname, name);
    return v;
}

/* Rejects extra positional arguments and unknown keywords (with a suggestion). */
static void args_done(Args *a, int maxpos, const char *const *known, int nknown) {
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
#define DONE(a, maxpos, ...)                                                                        \
    do {                                                                                           \
        static const char *const known_[] = {"", __VA_ARGS__};                                     \
        args_done(a, maxpos, known_, (int)(sizeof known_ / sizeof known_[0]));                     \
    } while (0)

/* ---- Python-style formatting of compile-time values ---- */

/* repr(float) as Python writes it: shortest round-trip digits. */
static const char *py_float_repr(double v) {
    if (isnan(v)) return "nan";
    if (isinf(v)) return v < 0 ? "-inf" : "inf";
    char buf[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* buf is d.ddde±XX with prec significant digits */
    char digits[32];
    int nd = 0;
    const char *p = buf;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    char out[64];
    int o = 0;
    if (neg) out[o++] = '-';
    if (exp < -4 || exp >= 16) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        o += snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp - 1; i++) out[o++] = '0';
        for (int i = 0; i < nd; i++) out[o++] = digits[i];
    } else {
        for (int i = 0; i <= exp; i++) out[o++] = i < nd ? digits[i] : '0';
        out[o++] = '.';
        if (nd > exp + 1)
            for (int i = exp + 1; i < nd; i++) out[o++] = digits[i];
        else
            out[o++] = '0';
    }
    out[o] = 0;
    return ir_strdup(out);
}

typedef struct {
    char fill, align, sign;
    int width, prec;
    char type;
} Spec;

/* format_spec -> [[fill]align][sign][width][.precision][type] */
static bool parse_spec(const char *s, Spec *sp) {
    *sp = (Spec){.fill = ' ', .prec = -1};
    size_t n = strlen(s);
    if (n >= 2 && strchr("<>^=", s[1])) {
        sp->fill = s[0];
        sp->align = s[1];
        s += 2;
    } else if (n >= 1 && strchr("<>^=", s[0])) {
        sp->align = s[0];
        s++;
    }
    if (*s == '+' || *s == '-' || *s == ' ')
        sp->sign = *s++;
    if (*s == '0' && !sp->align) {
        sp->fill = '0';
        sp->align = '=';
    }
    /* widths and precisions above 1000 are refused: they only make enormous strings */
    while (*s >= '0' && *s <= '9')
        if ((sp->width = sp->width * 10 + (*s++ - '0')) > 1000)
            return false;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return false;
        sp->prec = 0;
        while (*s >= '0' && *s <= '9')
            if ((sp->prec = sp->prec * 10 + (*s++ - '0')) > 1000)
                return false;
    }
    if (*s && strchr("dfFeEgGs%", *s))
        sp->type = *s++;
    return *s == 0;
}

static const char *pad(const char *body, Spec *sp, char dflt_align) {
    int len = (int)strlen(body);
    if (len >= sp->width)
        return body;
    int fillc = sp->width - len, left = 0;
    char al = sp->align ? sp->align : dflt_align;
    if (al == '>' || al == '=') left = fillc;
    else if (al == '^') left = fillc / 2;
    char *out = ir_alloc((size_t)sp->width + 1);
    int o = 0;
    if (al == '=' && (body[0] == '-' || body[0] == '+')) {
        out[o++] = body[0];
        body++;
    }
    for (int i = 0; i < left; i++) out[o++] = sp->fill;
    strcpy(out + o, body);
    o += (int)strlen(body);
    for (int i = left; i < fillc; i++) out[o++] = sp->fill;
    out[o] = 0;
    return out;
}

/* format(v, spec) for compile-time scalars and strings. */
static const char *format_value(Value *v, const char *spec, SrcLoc loc) {
    Spec sp;
    if (!parse_spec(spec, &sp))
        error_at(loc, "invalid format specifier '%s' (widths and precisions go up to 1000)", spec);
    if (v->kind == V_STR || (!is_scalar(v))) {
        if (sp.type && sp.type != 's')
            error_at(loc, "format code '%c' cannot format %s", sp.type, kind_name(v));
        const char *s = v->kind == V_STR ? v->s : value_str(v, loc);
        if (sp.prec >= 0 && (int)strlen(s) > sp.prec)
            s = ir_strndup(s, (size_t)sp.prec);
        return pad(s, &sp, '<');
    }
    const char *buf;
    char t = sp.type;
    if (t == 's')
        error_at(loc, "format code 's' cannot format %s", kind_name(v));
    const char *sign = sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
    if (t == 'd') {
        if (v->kind == V_FLOAT)
            error_at(loc, "format code 'd' cannot format a float");
        buf = ir_fmt(*sign ? (sp.sign == '+' ? "%+lld" : "% lld") : "%lld", (long long)v->i);
    } else if (t == 0 && v->kind != V_FLOAT) {
        if (v->kind == V_BOOL)
            buf = v->i ? "True" : "False";
        else
            buf = ir_fmt(*sign ? (sp.sign == '+' ? "%+lld" : "% lld") : "%lld", (long long)v->i);
    } else if (t == 0 && sp.prec < 0) {
        buf = ir_fmt("%s%s", v->f >= 0 ? sign : "", py_float_repr(v->f));
    } else {
        int prec = sp.prec < 0 ? 6 : sp.prec;
        double d = num(v);
        if (t == '%') {
            d *= 100;
            t = 'f';
        }
        buf = ir_fmt(ir_fmt("%%%s.%d%c", sign, prec, t ? t : 'g'), d);
        if (sp.type == '%')
            buf = ir_fmt("%s%%", buf);
    }
    return pad(buf, &sp, '>');
}

static const char *module_repr(Module *m, int indent);

/* str(v) for compile-time values. */
static const char *value_str(Value *v, SrcLoc loc) {
    switch (v->kind) {
    case V_NONE: return "None";
    case V_INT: return ir_fmt("%lld", (long long)v->i);
    case V_FLOAT: return py_float_repr(v->f);
    case V_BOOL: return v->i ? "True" : "False";
    case V_STR: return v->s;
    case V_DTYPE: return dtype_torch(v->dt);
    case V_DEVICE: return v->s;
    case V_SIZE: {
        const char *s = "torch.Size([";
        for (int i = 0; i < v->shape.rank; i++)
            s = ir_fmt("%s%s%lld", s, i ? ", " : "", (long long)v->shape.d[i]);
        return ir_fmt("%s])", s);
    }
    case V_PYTYPE: return ir_fmt("<class '%s'>", v->s);
    case V_MODULE: return module_repr(v->mod, 0);
    case V_LIST:
    case V_TUPLE: {
        const char *s = v->kind == V_LIST ? "[" : "(";
        for (int i = 0; i < v->n; i++) {
            Value *it = v->items[i];
            const char *is = it->kind == V_STR ? ir_fmt("'%s'", it->s) : value_str(it, loc);
            s = ir_fmt("%s%s%s", s, i ? ", " : "", is);
        }
        if (v->kind == V_TUPLE && v->n == 1)
            s = ir_fmt("%s,", s);
        return ir_fmt("%s%s", s, v->kind == V_LIST ? "]" : ")");
    }
    case V_TYPE: return type_str(v->dt, v->shape);
    default:
        error_at(loc, "cannot turn %s into text at compile time", kind_name(v));
    }
}

/* ---- run-time text (f-strings and print) ---- */

static Value *text_new(void) { return lw_mk(V_TEXT); }

static void text_push(Value *t, Value *item) {
    Value **items = ir_alloc(sizeof(Value *) * (size_t)(t->n + 1));
    if (t->n)
        memcpy(items, t->items, sizeof(Value *) * (size_t)t->n);
    items[t->n++] = item;
    t->items = items;
}

/* Appends str(v) (or format(v, spec)) to t: literal text now, or a tensor hole. */
static void text_append_ex(Value *t, Value *v, const char *spec, bool fstring, SrcLoc loc);

/* PyTorch's name for the backward function of the op that made node id. */
static const char *grad_fn_name(int id) {
    Node *n = &L.g->nodes[id];
    if (lw_info(id)->fn)
        return lw_info(id)->fn;
    int naxes = 0;
    const Attr *ax = node_attr(n, "axes");
    if (ax)
        naxes = ax->n;
    bool all = ax && n->nin && naxes == L.g->nodes[n->in[0]].shape.rank;
    switch (n->op) {
    case OP_ADD: return "AddBackward0";
    case OP_SUB: return "SubBackward0";
    case OP_MUL: return "MulBackward0";
    case OP_DIV: return "DivBackward0";
    case OP_POW: return L.g->nodes[n->in[1]].shape.rank == 0 && L.g->nodes[n->in[1]].op == OP_CONST ? "PowBackward0" : "PowBackward1";
    case OP_NEG: return "NegBackward0";
    case OP_RELU: return "ReluBackward0";
    case OP_EXP: return "ExpBackward0";
    case OP_LOG: return "LogBackward0";
    case OP_SQRT: return "SqrtBackward0";
    case OP_ABS: return "AbsBackward0";
    case OP_TANH: return "TanhBackward0";
    case OP_SIGMOID: return "SigmoidBackward0";
    case OP_CAST: return "ToCopyBackward0";
    case OP_SUM: return all ? "SumBackward0" : "SumBackward1";
    case OP_MEAN: return all ? "MeanBackward0" : "MeanBackward1";
    case OP_MAX: return all ? "MaxBackward1" : "MaxBackward0";
    case OP_MIN: return all ? "MinBackward1" : "MinBackward0";
    case OP_MAXIMUM: return "MaximumBackward0";
    case OP_MINIMUM: return "MinimumBackward0";
    case OP_RESHAPE: return "ViewBackward0";
    case OP_PERMUTE: return "PermuteBackward0";
    case OP_SLICE: return "SliceBackward0";
    case OP_SETSLICE: return "CopySlices";
    case OP_EXPAND: return "ExpandBackward0";
    case OP_CAT: return "CatBackward0";
    case OP_MATMUL: return n->shape.rank == 2 ? "MmBackward0" : "BmmBackward0";
    case OP_LINEAR: return n->shape.rank != 2 ? "ViewBackward0" : n->nin == 3 ? "AddmmBackward0" : "MmBackward0";
    case OP_CONV2D: return "ConvolutionBackward0";
    case OP_MAXPOOL2D: return "MaxPool2DWithIndicesBackward0";
    case OP_AVGPOOL2D: return "AvgPool2DBackward0";
    case OP_CROSS_ENTROPY: return "NllLossBackward0";
    default: return ir_fmt("%sBackward0", op_info[n->op].name);
    }
}

static void text_append(Value *t, Value *v, const char *spec, SrcLoc loc) { text_append_ex(t, v, spec, false, loc); }

/*
 * Appends str(v) (in an f-string: format(v, spec)) to t: literal text now, or a tensor hole.
 * The hole keeps a snapshot of the tensor, so later in-place updates do not change the text.
 */
static void text_append_ex(Value *t, Value *v, const char *spec, bool fstring, SrcLoc loc) {
    if (v->kind == V_TEXT) {
        for (int i = 0; i < v->n; i++)
            text_push(t, v->items[i]);
        return;
    }
    if (v->kind != V_TENSOR) {
        text_push(t, mk_str(spec ? format_value(v, spec, loc) : value_str(v, loc)));
        return;
    }
    Node *n = TN(v);
    char kind = v->tflags & TV_NUMPY ? 'n' : v->tflags & TV_PYSCALAR ? 'p' : 't';
    /* Tensor.__format__ (and numpy's) formats a 0-d value as the Python number it holds */
    if (fstring && n->shape.rank == 0)
        kind = 'p';
    if (spec && *spec) {
        /* format(tensor, spec) is only defined for one element, as item().__format__ */
        if (n->shape.rank != 0 && !(v->tflags & TV_PYSCALAR))
            error_at(loc, "a format specifier needs a single-element tensor, got %s",
                     type_str(n->dtype, n->shape));
        Spec sp;
        if (!parse_spec(spec, &sp))
            error_at(loc, "invalid format specifier '%s'", spec);
        if (sp.type == 'd' && dtype_is_float(n->dtype))
            error_at(loc, "format code 'd' cannot format a float");
        if (sp.type == 's')
            error_at(loc, "format code 's' cannot format a number");
        kind = 'p';
    }
    if (kind == 't' && !fstring && !v->nchain && v->group >= 0 && L.group_param[v->group])
        text_push(t, mk_str("Parameter containing:\n")); /* as print(param) in PyTorch */
    if (kind == 't' && lw_info(v->node)->rg && !(spec && *spec)) {
        /* PyTorch's repr names how a tensor that requires grad came to be */
        bool leaf = !v->nchain && lw_info(v->node)->leaf >= 0 && L.group_rg[v->group];
        spec = leaf ? "requires_grad=True" : ir_fmt("grad_fn=<%s>", grad_fn_name(v->node));
    }
    Value *pair = lw_mk(V_TUPLE);
    pair->n = 2;
    pair->items = ir_alloc(sizeof(Value *) * 2);
    Value *snap = lw_mk(V_TENSOR);
    *snap = *v;
    snap->group = -1; /* not part of any storage group: never refreshed */
    snap->nchain = 0;
    pair->items[0] = snap;
    pair->items[1] = mk_str(ir_fmt("%c%s%s", kind, spec && *spec ? ":" : "", spec ? spec : ""));
    text_push(t, pair);
}

/* Escapes literal braces of the PRINT format. */
static const char *fmt_escape(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += (*p == '{' || *p == '}') ? 2 : 1;
    char *o = ir_alloc(n + 1), *w = o;
    for (const char *p = s; *p; p++) {
        *w++ = *p;
        if (*p == '{' || *p == '}')
            *w++ = *p;
    }
    return o;
}

static void emit_print(Value *text, SrcLoc loc) {
    const char *fmt = "";
    int in[256], nin = 0;
    for (int i = 0; i < text->n; i++) {
        Value *it = text->items[i];
        if (it->kind == V_STR) {
            fmt = ir_fmt("%s%s", fmt, fmt_escape(it->s));
            continue;
        }
        if (nin == 256)
            error_at(loc, "too many tensors in one print");
        in[nin] = it->items[0]->node;
        fmt = ir_fmt("%s{%d:%s}", fmt, nin, it->items[1]->s);
        nin++;
    }
    Attr a = attr_str("fmt", fmt);
    lw_add(OP_PRINT, in, nin, DT_F32, shape_scalar(), &a, 1, loc);
}

/* ---- modules ---- */

static Module *new_module(const char *cls) {
    Module *m = ir_alloc(sizeof(Module));
    m->cls = cls;
    m->path = "";
    m->weight = m->bias = -1;
    m->rmean = m->rvar = m->nbt = -1;
    return m;
}

/* A tensor made once with one value everywhere: BatchNorm2d's weight (ones, a trainable
 * parameter), bias (zeros), and its buffers (running_var ones, running_mean and
 * num_batches_tracked zeros), which the step updates but no gradient reaches. */
static int new_filled(Shape s, DType dt, double value, bool trainable, SrcLoc loc, int *node) {
    Attr a[2] = {attr_str("init", "full"), attr_float("value", value)};
    int id = lw_add(OP_PARAM, NULL, 0, dt, s, a, 2, loc);
    N(id)->flags |= NF_PARAM | (trainable ? NF_TRAINABLE : 0);
    int g = new_group(id);
    L.group_rg[g] = trainable;
    L.group_param[g] = trainable;
    lw_info(id)->rg = trainable;
    lw_info(id)->leaf = trainable ? g : -1;
    if (node)
        *node = id;
    return g;
}

/* A parameter initialised as PyTorch's reset_parameters does: uniform_(-bound, bound). */
static int new_param(Shape s, double bound, SrcLoc loc) {
    int64_t numel = 1;
    for (int i = 0; i < s.rank; i++)
        if (__builtin_mul_overflow(numel, s.d[i], &numel) || numel > ((int64_t)1 << 34))
            error_at(loc, "parameter of shape %s is too large", shape_str(s));
    Attr a[3] = {attr_str("init", "uniform"), attr_float("from", -bound), attr_float("to", bound)};
    int id = lw_add(OP_PARAM, NULL, 0, DT_F32, s, a, 3, loc);
    N(id)->flags |= NF_PARAM | NF_TRAINABLE;
    int g = new_group(id);
    L.group_rg[g] = true; /* an nn.Parameter requires grad until frozen */
    L.group_param[g] = true;
    lw_info(id)->rg = true;
    lw_info(id)->leaf = g;
    return g;
}

/* kaiming_uniform_(w, a=sqrt(5)) computed in double exactly as torch.nn.init does. */
static double kaiming_bound(int64_t fan_in) {
    double a = sqrt(5.0);
    double gain = sqrt(2.0 / (1 + pow(a, 2.0)));
    double std = gain / sqrt((double)fan_in);
    return sqrt(3.0) * std;
}

static void name_params(Module *m, const char *path) {
    m->path = path;
    if (m->weight >= 0)
        N(L.group_base[m->weight])->name = ir_fmt("%sweight", path);
    if (m->bias >= 0)
        N(L.group_base[m->bias])->name = ir_fmt("%sbias", path);
    if (m->rmean >= 0) {
        N(L.group_base[m->rmean])->name = ir_fmt("%srunning_mean", path);
        N(L.group_base[m->rvar])->name = ir_fmt("%srunning_var", path);
        N(L.group_base[m->nbt])->name = ir_fmt("%snum_batches_tracked", path);
    }
    for (int i = 0; i < m->nchild; i++)
        name_params(m->child[i], ir_fmt("%s%s.", path, m->child_name[i]));
}

static const char *pair_str(const int64_t v[2]) {
    return ir_fmt("(%lld, %lld)", (long long)v[0], (long long)v[1]);
}

/* An int or a pair of ints (kernel_size=5 or (5, 5)); *was_pair tells which for repr. */
static void pair_value(Value *v, int64_t out[2], SrcLoc loc, const char *what, bool *was_pair) {
    if (v->kind == V_TUPLE || v->kind == V_LIST) {
        if (v->n != 2)
            error_at(loc, "%s must be an int or a pair of ints", what);
        out[0] = int_arg(v->items[0], loc, what);
        out[1] = int_arg(v->items[1], loc, what);
        if (was_pair) *was_pair = true;
        return;
    }
    out[0] = out[1] = int_arg(v, loc, what);
    if (was_pair) *was_pair = false;
}

static const char *pool_field(const int64_t v[2], bool pair) {
    return pair ? pair_str(v) : ir_fmt("%lld", (long long)v[0]);
}

/* kernel_size, stride (the kernel when absent) and padding of a pooling module; *_pair say whether
   each was written as a pair, which is how PyTorch's repr shows it. */
static void pool_window(Args *a, Module *m, bool *kernel_pair, bool *stride_pair, bool *pad_pair) {
    pair_value(lw_req(a, 0, "kernel_size"), m->k, a->loc, "kernel_size", kernel_pair);
    Value *st = lw_arg(a, 1, "stride", lw_mk(V_NONE));
    if (st->kind == V_NONE) {
        m->stride[0] = m->k[0];
        m->stride[1] = m->k[1];
        *stride_pair = *kernel_pair;
    } else
        pair_value(st, m->stride, a->loc, "stride", stride_pair);
    pair_value(lw_arg(a, 2, "padding", mk_int(0)), m->pad, a->loc, "padding", pad_pair);
}

static void add_child(Module *m, const char *name, Module *c);

static Value *construct_builtin(const char *cls, Args *a) {
    Module *m = new_module(cls);
    SrcLoc loc = a->loc;
    if (!strcmp(cls, "Conv2d")) {
        m->in = int_arg(lw_req(a, 0, "in_channels"), loc, "in_channels");
        m->out = int_arg(lw_req(a, 1, "out_channels"), loc, "out_channels");
        pair_value(lw_req(a, 2, "kernel_size"), m->k, loc, "kernel_size", NULL);
        pair_value(lw_arg(a, 3, "stride", mk_int(1)), m->stride, loc, "stride", NULL);
        pair_value(lw_arg(a, 4, "padding", mk_int(0)), m->pad, loc, "padding", NULL);
        pair_value(lw_arg(a, 5, "dilation", mk_int(1)), m->dil, loc, "dilation", NULL);
        m->groups = int_arg(lw_arg(a, 6, "groups", mk_int(1)), loc, "groups");
        m->has_bias = bool_arg(lw_arg(a, 7, "bias", mk_bool(true)), loc, "bias");
        DONE(a, 8, "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias");
        if (m->in < 1 || m->out < 1 || m->k[0] < 1 || m->k[1] < 1 || m->stride[0] < 1 || m->stride[1] < 1 ||
            m->pad[0] < 0 || m->pad[1] < 0 || m->dil[0] < 1 || m->dil[1] < 1)
            error_at(loc, "Conv2d: channels, kernel_size, stride and dilation must be positive, padding non-negative");
        if (m->in > (1 << 24) || m->out > (1 << 24) || m->k[0] > (1 << 16) || m->k[1] > (1 << 16))
            error_at(loc, "Conv2d: sizes this large are not supported");
        if (m->groups < 1 || m->in % m->groups || m->out % m->groups)
            error_at(loc, "Conv2d: groups=%lld must divide in_channels=%lld and out_channels=%lld",
                     (long long)m->groups, (long long)m->in, (long long)m->out);
        int64_t fan_in = m->in / m->groups * m->k[0] * m->k[1];
        m->weight = new_param(shape_make(4, (int64_t[]){m->out, m->in / m->groups, m->k[0], m->k[1]}),
                              kaiming_bound(fan_in), loc);
        if (m->has_bias)
            m->bias = new_param(shape_make(1, &m->out), 1 / sqrt((double)fan_in), loc);
        const char *r = ir_fmt("Conv2d(%lld, %lld, kernel_size=%s, stride=%s", (long long)m->in,
                               (long long)m->out, pair_str(m->k), pair_str(m->stride));
        if (m->pad[0] || m->pad[1]) r = ir_fmt("%s, padding=%s", r, pair_str(m->pad));
        if (m->dil[0] != 1 || m->dil[1] != 1) r = ir_fmt("%s, dilation=%s", r, pair_str(m->dil));
        if (m->groups != 1) r = ir_fmt("%s, groups=%lld", r, (long long)m->groups);
        if (!m->has_bias) r = ir_fmt("%s, bias=False", r);
        m->repr = ir_fmt("%s)", r);
    } else if (!strcmp(cls, "Linear")) {
        m->in = int_arg(lw_req(a, 0, "in_features"), loc, "in_features");
        m->out = int_arg(lw_req(a, 1, "out_features"), loc, "out_features");
        m->has_bias = bool_arg(lw_arg(a, 2, "bias", mk_bool(true)), loc, "bias");
        DONE(a, 3, "in_features", "out_features", "bias");
        if (m->in < 1 || m->out < 1)
            error_at(loc, "Linear: in_features and out_features must be positive");
        if (m->in > (1 << 30) || m->out > (1 << 30))
            error_at(loc, "Linear: sizes this large are not supported");
        m->weight = new_param(shape_make(2, (int64_t[]){m->out, m->in}), kaiming_bound(m->in), loc);
        if (m->has_bias)
            m->bias = new_param(shape_make(1, &m->out), 1 / sqrt((double)m->in), loc);
        m->repr = ir_fmt("Linear(in_features=%lld, out_features=%lld, bias=%s)", (long long)m->in,
                         (long long)m->out, m->has_bias ? "True" : "False");
    } else if (!strcmp(cls, "MaxPool2d")) {
        bool kp, sp, pp, dp;
        pool_window(a, m, &kp, &sp, &pp);
        pair_value(lw_arg(a, 3, "dilation", mk_int(1)), m->dil, loc, "dilation", &dp);
        m->ceil_mode = bool_arg(lw_arg(a, 4, "ceil_mode", mk_bool(false)), loc, "ceil_mode");
        DONE(a, 5, "kernel_size", "stride", "padding", "dilation", "ceil_mode");
        m->repr = ir_fmt("MaxPool2d(kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s)",
                         pool_field(m->k, kp), pool_field(m->stride, sp), pool_field(m->pad, pp),
                         pool_field(m->dil, dp), m->ceil_mode ? "True" : "False");
    } else if (!strcmp(cls, "AvgPool2d")) {
        bool kp, sp, pp;
        pool_window(a, m, &kp, &sp, &pp);
        m->ceil_mode = bool_arg(lw_arg(a, 3, "ceil_mode", mk_bool(false)), loc, "ceil_mode");
        m->count_include_pad = bool_arg(lw_arg(a, 4, "count_include_pad", mk_bool(true)), loc, "count_include_pad");
        DONE(a, 5, "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad");
        m->repr = ir_fmt("AvgPool2d(kernel_size=%s, stride=%s, padding=%s)", pool_field(m->k, kp),
                         pool_field(m->stride, sp), pool_field(m->pad, pp));
    } else if (!strcmp(cls, "ReLU")) {
        m->inplace = bool_arg(lw_arg(a, 0, "inplace", mk_bool(false)), loc, "inplace");
        DONE(a, 1, "inplace");
        m->repr = m->inplace ? "ReLU(inplace=True)" : "ReLU()";
    } else if (!strcmp(cls, "MSELoss") || !strcmp(cls, "CrossEntropyLoss")) {
        Value *red = lw_arg(a, 0, "reduction", mk_str("mean"));
        DONE(a, 1, "reduction");
        if (red->kind != V_STR || (strcmp(red->s, "mean") && strcmp(red->s, "sum") && strcmp(red->s, "none")))
            error_at(loc, "reduction must be 'mean', 'sum' or 'none'");
        m->loss_reduction = red->s;
        m->repr = ir_fmt("%s()", cls);
    } else if (!strcmp(cls, "BatchNorm2d")) {
        m->in = int_arg(lw_req(a, 0, "num_features"), loc, "num_features");
        Value *eps = lw_arg(a, 1, "eps", mk_float(1e-5)), *mom = lw_arg(a, 2, "momentum", mk_float(0.1));
        m->affine = bool_arg(lw_arg(a, 3, "affine", mk_bool(true)), loc, "affine");
        m->track = bool_arg(lw_arg(a, 4, "track_running_stats", mk_bool(true)), loc, "track_running_stats");
        DONE(a, 5, "num_features", "eps", "momentum", "affine", "track_running_stats");
        if (!is_scalar(eps) || !is_scalar(mom) || num(eps) <= 0 || num(mom) < 0 || num(mom) > 1)
            error_at(loc, "BatchNorm2d: eps must be a positive number and momentum one in [0, 1] (momentum=None, the "
                          "cumulative average, is not supported)");
        if (m->in < 1 || m->in > (1 << 24))
            error_at(loc, "BatchNorm2d: num_features must be positive");
        m->eps = num(eps);
        m->momentum = num(mom);
        const char *mrepr = mom->kind == V_FLOAT ? py_float_repr(m->momentum) : ir_fmt("%lld", (long long)mom->i);
        Shape c = shape_make(1, &m->in);
        if (m->affine) {
            m->weight = new_filled(c, DT_F32, 1, true, loc, NULL);
            m->bias = new_filled(c, DT_F32, 0, true, loc, NULL);
        }
        if (m->track) {
            m->rmean = new_filled(c, DT_F32, 0, false, loc, &m->rmean_node);
            m->rvar = new_filled(c, DT_F32, 1, false, loc, &m->rvar_node);
            m->nbt = new_filled(shape_scalar(), DT_I64, 0, false, loc, &m->nbt_node);
        }
        m->repr = ir_fmt("BatchNorm2d(%lld, eps=%s, momentum=%s, affine=%s, track_running_stats=%s)", (long long)m->in,
                         eps->kind == V_FLOAT ? py_float_repr(m->eps) : ir_fmt("%lld", (long long)eps->i), mrepr,
                         m->affine ? "True" : "False",
                         m->track ? "True" : "False");
    } else if (!strcmp(cls, "AdaptiveAvgPool2d")) {
        bool pair;
        pair_value(lw_req(a, 0, "output_size"), m->osize, loc, "output_size", &pair);
        DONE(a, 1, "output_size");
        if (m->osize[0] < 1 || m->osize[1] < 1)
            error_at(loc, "AdaptiveAvgPool2d: output_size must be positive");
        m->repr = ir_fmt("AdaptiveAvgPool2d(output_size=%s)",
                         pair ? pair_str(m->osize) : ir_fmt("%lld", (long long)m->osize[0]));
    } else if (!strcmp(cls, "Sequential")) {
        for (int i = 0; i < a->npos; i++) {
            if (a->pos[i]->kind != V_MODULE)
                error_at(loc, "Sequential takes modules; argument %d is %s", i + 1, kind_name(a->pos[i]));
            add_child(m, ir_fmt("%d", i), a->pos[i]->mod);
        }
        if (a->nkw)
            error_at(loc, "Sequential takes modules only, no keyword arguments");
    } else if (!strcmp(cls, "Flatten")) {
        m->start_dim = int_arg(lw_arg(a, 0, "start_dim", mk_int(1)), loc, "start_dim");
        m->end_dim = int_arg(lw_arg(a, 1, "end_dim", mk_int(-1)), loc, "end_dim");
        DONE(a, 2, "start_dim", "end_dim");
        m->repr = ir_fmt("Flatten(start_dim=%lld, end_dim=%lld)", (long long)m->start_dim, (long long)m->end_dim);
    } else
        unreachable();
    Value *v = lw_mk(V_MODULE);
    v->mod = m;
    return v;
}

static const char *module_repr(Module *m, int indent) {
    if (m->repr)
        return m->repr;
    if (!m->nchild)
        return ir_fmt("%s()", m->cls);
    const char *s = ir_fmt("%s(\n", m->cls);
    for (int i = 0; i < m->nchild; i++)
        s = ir_fmt("%s%*s(%s): %s\n", s, indent + 2, "", m->child_name[i], module_repr(m->child[i], indent + 2));
    return ir_fmt("%s%*s)", s, indent, "");
}

static bool is_builtin_module(const char *name) {
    static const char *mods[] = {"Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "ReLU", "Flatten", "MSELoss",
                                 "CrossEntropyLoss", "BatchNorm2d", "AdaptiveAvgPool2d", "Sequential"};
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
        if (!strcmp(mods[i], name))
            return true;
    return false;
}

/* Is this statement `name = Module(...)`, a layer declaration of a model? */
static bool is_layer_decl(Stmt *s) {
    if (s->kind != S_ASSIGN || strcmp(s->op, "=") || s->target->kind != E_NAME || s->value->kind != E_CALL)
        return false;
    Expr *c = s->value->lhs;
    const char *name = NULL;
    if (c->kind == E_NAME)
        name = c->str;
    else if (c->kind == E_ATTR && c->lhs->kind == E_NAME && !strcmp(c->lhs->str, "nn"))
        name = c->str;
    if (!name)
        return false;
    if (is_builtin_module(name))
        return true;
    for (int i = 0; i < L.ast->ndecls; i++)
        if (L.ast->decls[i]->kind == D_MODEL && !strcmp(L.ast->decls[i]->name, name))
            return true;
    return false;
}

static bool is_tensor_type(Expr *t) {
    return t && t->kind == E_INDEX && t->lhs->kind == E_NAME && dtype_from_name(t->lhs->str) >= 0;
}

static void add_child(Module *m, const char *name, Module *c) {
    for (int i = 0; i < m->nchild; i++)
        if (!strcmp(m->child_name[i], name)) {
            m->child[i] = c; /* replacing keeps the position, as PyTorch's module dict does */
            return;
        }
    Module **ch = ir_alloc(sizeof(Module *) * (size_t)(m->nchild + 1));
    const char **nm = ir_alloc(sizeof(char *) * (size_t)(m->nchild + 1));
    if (m->nchild) {
        memcpy(ch, m->child, sizeof(Module *) * (size_t)m->nchild);
        memcpy(nm, m->child_name, sizeof(char *) * (size_t)m->nchild);
    }
    ch[m->nchild] = c;
    nm[m->nchild++] = name;
    m->child = ch;
    m->child_name = nm;
}

static bool lw_condition(Expr *e);

/* The layer declarations of a model body, in order, with those of the branch each if takes
 * (its condition sees the constructor's arguments). */
static bool declares_layers(Stmt **body, int n) {
    for (int i = 0; i < n; i++)
        if (is_layer_decl(body[i]) ||
            (body[i]->kind == S_IF && (declares_layers(body[i]->body, body[i]->nbody) ||
                                       declares_layers(body[i]->orelse, body[i]->norelse))))
            return true;
    return false;
}

static void declare_layers(Module *m, Scope *env, Stmt **body, int n) {
    for (int i = 0; i < n; i++) {
        Stmt *s = body[i];
        if (s->kind == S_IF) {
            /* an if of the forward pass alone (on its input's shape, say) is left to it */
            if (!declares_layers(s->body, s->nbody) && !declares_layers(s->orelse, s->norelse))
                continue;
            bool yes = lw_condition(s->value);
            declare_layers(m, env, yes ? s->body : s->orelse, yes ? s->nbody : s->norelse);
            continue;
        }
        if (!is_layer_decl(s))
            continue;
        Value *v = lw_eval(s->value);
        if (v->kind != V_MODULE)
            error_at(s->loc, "expected a module");
        add_child(m, s->target->str, v->mod);
        lw_bind(env, s->target->str, v);
    }
}

static Value *construct_model(Decl *d, Args *a) {
    if (++L.depth_guard > 64)
        error_at(a->loc, "models nested more than 64 deep (does '%s' contain itself?)", d->name);
    Module *m = new_module(d->name);
    m->decl = d;
    d->used = true;
    Scope *saved = L.scope;
    L.scope = L.globals;
    Scope *env = push_scope();
    m->env = env;
    /* constructor parameters: those without a tensor type */
    int npos = 0;
    const char *known[64];
    int nknown = 0;
    for (int i = 0; i < d->nparams; i++) {
        Param *p = &d->params[i];
        if (is_tensor_type(p->type))
            continue;
        if (nknown < 64) known[nknown++] = p->name;
        Value *v = lw_arg(a, npos++, p->name, NULL);
        if (!v) {
            if (!p->dflt)
                error_at(a->loc, "%s() missing required argument '%s'", d->name, p->name);
            v = lw_eval(p->dflt);
        }
        lw_bind(env, p->name, v);
    }
    args_done(a, npos, known, nknown);
    declare_layers(m, env, d->body, d->nbody);
    L.scope = saved;
    L.depth_guard--;
    Value *v = lw_mk(V_MODULE);
    v->mod = m;
    name_params(m, "");
    return v;
}

static Value *param_value(int group) {
    Value *v = lw_mk(V_TENSOR);
    v->group = group;
    v->node = L.group_base[group];
    return v;
}

/* Appends each group of m's that exists (>= 0) as a tensor value, then its children's: the
 * parameters (weight, bias) or the whole state_dict (with BatchNorm2d's buffers), in PyTorch's
 * order: each module's own tensors, then its children's. */
static void collect(Module *m, bool buffers, Value ***out, int *n) {
    int groups[5] = {m->weight, m->bias, m->rmean, m->rvar, m->nbt};
    for (int i = 0; i < (buffers ? 5 : 2); i++)
        if (groups[i] >= 0) {
            Value **o = ir_alloc(sizeof(Value *) * (size_t)(*n + 1));
            if (*n)
                memcpy(o, *out, sizeof(Value *) * (size_t)*n);
            o[(*n)++] = param_value(groups[i]);
            *out = o;
        }
    for (int i = 0; i < m->nchild; i++)
        collect(m->child[i], buffers, out, n);
}

static void collect_params(Module *m, Value ***out, int *n) { collect(m, false, out, n); }
static void collect_state(Module *m, Value ***out, int *n) { collect(m, true, out, n); }

/* ---- tensor operations ---- */

/* Names the grad_fn PyTorch would show for the tensor (printing only). */
static Value *named_fn(Value *v, Value *from, const char *fn) {
    if (v != from && v->kind == V_TENSOR)
        lw_info(v->node)->fn = fn;
    return v;
}



static Value *lw_result(int node, Value *a, Value *b) {
    Value *v = mk_tensor(node);
    if ((a && a->kind == V_TENSOR && (a->tflags & TV_NUMPY)) || (b && b->kind == V_TENSOR && (b->tflags & TV_NUMPY)))
        v->tflags |= TV_NUMPY;
    return v;
}

/* Compile-time integer arithmetic is exact or an error: Python's ints do not wrap, ours are 64-bit. */
static _Noreturn void int_overflow(SrcLoc loc) {
    error_at(loc, "integer overflow in a compile-time expression (the limit is 2^63 - 1)");
}
static int64_t add_i(int64_t a, int64_t b, SrcLoc loc) { int64_t r; if (__builtin_add_overflow(a, b, &r)) int_overflow(loc); return r; }
static int64_t sub_i(int64_t a, int64_t b, SrcLoc loc) { int64_t r; if (__builtin_sub_overflow(a, b, &r)) int_overflow(loc); return r; }
static int64_t mul_i(int64_t a, int64_t b, SrcLoc loc) { int64_t r; if (__builtin_mul_overflow(a, b, &r)) int_overflow(loc); return r; }

static Value *scalar_binop(const char *op, Value *a, Value *b, SrcLoc loc) {
    bool fl = a->kind == V_FLOAT || b->kind == V_FLOAT;
    double x = num(a), y = num(b);
    int64_t i = a->i, j = b->i;
    if (!strcmp(op, "+")) return fl ? mk_float(x + y) : mk_int(add_i(i, j, loc));
    if (!strcmp(op, "-")) return fl ? mk_float(x - y) : mk_int(sub_i(i, j, loc));
    if (!strcmp(op, "*")) return fl ? mk_float(x * y) : mk_int(mul_i(i, j, loc));
    if (!strcmp(op, "/")) {
        if (y == 0) error_at(loc, "division by zero");
        return mk_float(x / y);
    }
    if (!strcmp(op, "%")) {
        if (y == 0) error_at(loc, "modulo by zero");
        if (fl) { double m = fmod(x, y); if (m != 0 && (m < 0) != (y < 0)) m += y; return mk_float(m); }
        if (j == -1) return mk_int(0); /* INT64_MIN % -1 would trap */
        int64_t m = i % j; if (m != 0 && (m < 0) != (j < 0)) m += j; return mk_int(m);
    }
    if (!strcmp(op, "**")) {
        if (!fl && j >= 0) {
            /* by squaring: the exponent may be huge when the base is 0 or +-1 */
            int64_t acc = 1, base = i;
            for (int64_t e = j; e > 0; e >>= 1) {
                if (e & 1)
                    acc = mul_i(acc, base, loc);
                if (e > 1 && base != 0 && base != 1 && base != -1)
                    base = mul_i(base, base, loc);
            }
            return mk_int(acc);
        }
        return mk_float(pow(x, y));
    }
    if (!strcmp(op, "==")) return mk_bool(x == y);
    if (!strcmp(op, "!=")) return mk_bool(x != y);
    if (!strcmp(op, "<")) return mk_bool(x < y);
    if (!strcmp(op, "<=")) return mk_bool(x <= y);
    if (!strcmp(op, ">")) return mk_bool(x > y);
    if (!strcmp(op, ">=")) return mk_bool(x >= y);
    if (!strcmp(op, "and")) return (x != 0) ? b : a;
    if (!strcmp(op, "or")) return (x != 0) ? a : b;
    error_at(loc, "operator '%s' is not supported for numbers", op);
}

static Op binop_code(const char *op) {
    static const struct { const char *s; Op op; } t[] = {
        {"+", OP_ADD}, {"-", OP_SUB}, {"*", OP_MUL}, {"/", OP_DIV}, {"**", OP_POW},
        {"==", OP_EQ}, {"!=", OP_NE}, {"<", OP_LT}, {"<=", OP_LE}, {">", OP_GT}, {">=", OP_GE},
        {"add", OP_ADD}, {"sub", OP_SUB}, {"mul", OP_MUL}, {"div", OP_DIV}, {"pow", OP_POW},
        {"maximum", OP_MAXIMUM}, {"minimum", OP_MINIMUM}, {"eq", OP_EQ}, {"ne", OP_NE},
        {"lt", OP_LT}, {"le", OP_LE}, {"gt", OP_GT}, {"ge", OP_GE},
        {"subtract", OP_SUB}, {"multiply", OP_MUL}, {"divide", OP_DIV}, {"true_divide", OP_DIV},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].s, op))
            return t[i].op;
    return OP_COUNT;
}

static Value *lw_matmul(Value *a, Value *b, SrcLoc loc);

static Value *tensor_binop(Op op, Value *a, Value *b, SrcLoc loc) {
    if ((a->kind != V_TENSOR && !is_scalar(a)) || (b->kind != V_TENSOR && !is_scalar(b)))
        error_at(loc, "%s needs tensors or numbers, got %s and %s", op_info[op].name, kind_name(a), kind_name(b));
    DType dt = result_type(a, b);
    bool numpy = (a->kind == V_TENSOR && (a->tflags & TV_NUMPY)) || (b->kind == V_TENSOR && (b->tflags & TV_NUMPY));
    if (numpy && category(dt) == 2 && (is_scalar(a) || is_scalar(b)) && dt == DT_F32 &&
        !((a->kind == V_TENSOR && TN(a)->dtype == DT_F32) || (b->kind == V_TENSOR && TN(b)->dtype == DT_F32)))
        dt = DT_F64; /* numpy: an int array with a Python float gives float64 */
    if (op == OP_DIV && category(dt) < 2)
        dt = DT_F32; /* true division */
    if (op == OP_POW && category(dt) < 2 && is_scalar(b) && b->kind != V_FLOAT && b->i < 0)
        error_at(loc, "integers to negative integer powers are not allowed");
    /* item() results are Python numbers: arithmetic among them stays Python (double or int64) */
    bool pa = a->kind == V_TENSOR && (a->tflags & TV_PYSCALAR), pb = b->kind == V_TENSOR && (b->tflags & TV_PYSCALAR);
    bool python = (pa || pb) && (pa || is_scalar(a)) && (pb || is_scalar(b));
    if (python) {
        dt = category(dt) == 2 || op == OP_DIV ? DT_F64 : DT_I64;
        if (op == OP_POW && dt == DT_I64 && ((is_scalar(b) && b->i < 0) || pb))
            dt = DT_F64; /* Python: 2 ** -1 == 0.5 */
    }
    if (dt == DT_BOOL && !python) {
        /* PyTorch keeps bool: + is logical or, * is logical and */
        if (op == OP_SUB)
            error_at(loc, "subtraction of bool tensors is not supported; use logical operations");
        if (op == OP_POW)
            error_at(loc, "pow of bool tensors is not supported");
        if (op == OP_ADD) op = OP_OR;
        if (op == OP_MUL) op = OP_AND;
    }
    int x = as_node(a, dt, loc), y = as_node(b, dt, loc);
    Value *r = lw_result(lw_add2(op, x, y, loc), a, b);
    if (python)
        r->tflags |= TV_PYSCALAR;
    return r;
}

static Value *lw_binop(const char *op, Value *a, Value *b, SrcLoc loc) {
    if (!strcmp(op, "@")) {
        if (a->kind != V_TENSOR || b->kind != V_TENSOR)
            error_at(loc, "'@' needs two tensors, got %s and %s", kind_name(a), kind_name(b));
        return lw_matmul(a, b, loc);
    }
    if (is_scalar(a) && is_scalar(b))
        return scalar_binop(op, a, b, loc);
    if (a->kind == V_STR && b->kind == V_STR && !strcmp(op, "+"))
        return mk_str(ir_fmt("%s%s", a->s, b->s));
    if ((a->kind == V_STR || a->kind == V_TEXT) && (b->kind == V_STR || b->kind == V_TEXT) && !strcmp(op, "+")) {
        Value *t = text_new();
        text_append(t, a, NULL, loc);
        text_append(t, b, NULL, loc);
        return t;
    }
    if (a->kind == V_STR && b->kind == V_STR && (!strcmp(op, "==") || !strcmp(op, "!=")))
        return mk_bool((strcmp(a->s, b->s) == 0) == (op[0] == '='));
    if ((a->kind == V_LIST || a->kind == V_TUPLE) && a->kind == b->kind && !strcmp(op, "+")) {
        Value *r = lw_mk(a->kind);
        r->n = a->n + b->n;
        r->items = ir_alloc(sizeof(Value *) * (size_t)(r->n ? r->n : 1));
        for (int i = 0; i < a->n; i++) r->items[i] = a->items[i];
        for (int i = 0; i < b->n; i++) r->items[a->n + i] = b->items[i];
        return r;
    }
    bool ta = a->kind == V_TENSOR || is_scalar(a), tb = b->kind == V_TENSOR || is_scalar(b);
    if (!ta || !tb)
        error_at(loc, "unsupported operand types for '%s': %s and %s", op, kind_name(a), kind_name(b));
    if (!strcmp(op, "and") || !strcmp(op, "or"))
        error_at(loc, "'%s' of a tensor is ambiguous; compare elementwise instead", op);
    Op code = binop_code(op);
    if (code == OP_COUNT)
        error_at(loc, "operator '%s' is not supported for tensors", op);
    return tensor_binop(code, a, b, loc);
}

/* matmul with PyTorch's rules for 1-D operands and broadcast batch dimensions. */
static Value *lw_matmul(Value *a, Value *b, SrcLoc loc) {
    Node *x = TN(a), *y = TN(b);
    if (x->shape.rank == 0 || y->shape.rank == 0)
        error_at(loc, "matmul needs tensors of rank 1 or more, got %s and %s", type_str(x->dtype, x->shape),
                 type_str(y->dtype, y->shape));
    if (x->dtype != y->dtype)
        error_at(loc, "matmul: operands must have the same dtype, got %s and %s", type_str(x->dtype, x->shape),
                 type_str(y->dtype, y->shape));
    if (x->dtype == DT_BOOL)
        error_at(loc, "matmul of bool tensors is not supported");
    int xa = a->node, yb = b->node;
    Shape xs = x->shape, ys = y->shape;
    bool vec_a = xs.rank == 1, vec_b = ys.rank == 1;
    if (vec_a) xa = lw_reshape(xa, shape_make(2, (int64_t[]){1, xs.d[0]}), loc);
    if (vec_b) yb = lw_reshape(yb, shape_make(2, (int64_t[]){ys.d[0], 1}), loc);
    int r = lw_add2(OP_MATMUL, xa, yb, loc);
    Shape rs = N(r)->shape;
    if (vec_a || vec_b) {
        Shape o = {0};
        for (int i = 0; i < rs.rank; i++) {
            if (vec_a && i == rs.rank - 2) continue;
            if (vec_b && i == rs.rank - 1) continue;
            o.d[o.rank++] = rs.d[i];
        }
        r = lw_reshape(r, o, loc);
    }
    return lw_result(r, a, b);
}

static Value *unary_op(Op op, Value *a, SrcLoc loc) {
    if (is_scalar(a)) {
        double x = num(a);
        switch (op) {
        case OP_NEG:
            if (a->kind != V_FLOAT && a->i == INT64_MIN)
                error_at(loc, "integer overflow in a compile-time expression (the limit is 2^63 - 1)");
            return a->kind == V_FLOAT ? mk_float(-x) : mk_int(-a->i);
        case OP_EXP: return mk_float(exp(x));
        case OP_LOG: return mk_float(log(x));
        case OP_SQRT: return mk_float(sqrt(x));
        case OP_ABS:
            if (a->kind != V_FLOAT && a->i == INT64_MIN)
                error_at(loc, "integer overflow in a compile-time expression (the limit is 2^63 - 1)");
            return a->kind == V_FLOAT ? mk_float(fabs(x)) : mk_int(a->i < 0 ? -a->i : a->i);
        default: error_at(loc, "%s needs a tensor, got %s", op_info[op].name, kind_name(a));
        }
    }
    tensor_arg(a, loc, "the operand");
    int x = a->node;
    if ((op == OP_EXP || op == OP_LOG || op == OP_SQRT || op == OP_TANH || op == OP_SIGMOID) &&
        !dtype_is_float(TN(a)->dtype))
        x = lw_cast(x, DT_F32, loc); /* torch promotes integers to the default float type */
    return lw_result(lw_add1(op, x, NULL, 0, loc), a, NULL);
}

/* sum/mean/max/min/argmax over `dim` (None = all), keepdim. */
static Value *lw_reduce(Op op, Value *a, Value *dim, bool keepdim, SrcLoc loc) {
    tensor_arg(a, loc, "the operand");
    int x = a->node;
    Node *n = TN(a);
    int64_t axes[MAX_RANK];
    int naxes = 0;
    if (!dim || dim->kind == V_NONE || ((dim->kind == V_TUPLE || dim->kind == V_LIST) && dim->n == 0)) {
        for (int i = 0; i < n->shape.rank; i++)
            axes[naxes++] = i;
    } else if (dim->kind == V_TUPLE || dim->kind == V_LIST) {
        for (int i = 0; i < dim->n && naxes < MAX_RANK; i++)
            axes[naxes++] = axis_arg(dim->items[i], n->shape.rank, loc);
    } else
        axes[naxes++] = axis_arg(dim, n->shape.rank, loc);
    if (n->shape.rank == 0)
        naxes = 0; /* reducing a 0-d tensor over dim 0 returns it */
    /* sort axes (bubble: at most 8) */
    for (int i = 0; i < naxes; i++)
        for (int j = i + 1; j < naxes; j++)
            if (axes[j] < axes[i]) { int64_t t = axes[i]; axes[i] = axes[j]; axes[j] = t; }
    if (op == OP_SUM && !dtype_is_float(n->dtype))
        x = lw_cast(x, DT_I64, loc); /* torch sums integers and bools into int64 */
    if ((op == OP_ARGMAX || op == OP_MAX || op == OP_MIN) && n->dtype == DT_BOOL)
        error_at(loc, "%s of a bool tensor is not supported", op_info[op].name);
    if (op == OP_MEAN && !dtype_is_float(n->dtype))
        error_at(loc, "mean needs a floating-point tensor, got %s (use .float() first)", type_str(n->dtype, n->shape));
    if (op == OP_ARGMAX && (!dim || dim->kind == V_NONE)) {
        /* argmax over everything indexes the flattened tensor */
        x = lw_reshape(x, shape_make(1, (int64_t[]){shape_numel(n->shape)}), loc);
        axes[0] = 0;
        naxes = 1;
        keepdim = false;
    }
    Attr at[2] = {ints_attr("axes", axes, naxes), attr_int("keepdim", keepdim)};
    return lw_result(lw_add1(op, x, at, 2, loc), a, NULL);
}

static Value *lw_tuple2(Value *a, Value *b) {
    Value *t = lw_mk(V_TUPLE);
    t->n = 2;
    t->items = ir_alloc(sizeof(Value *) * 2);
    t->items[0] = a;
    t->items[1] = b;
    return t;
}

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

/* Equal shapes once the axes of size 1 are dropped: a view that only adds or removes such axes. */
static bool same_but_ones(Shape a, Shape b) {
    int i = 0, j = 0;
    for (;;) {
        while (i < a.rank && a.d[i] == 1) i++;
        while (j < b.rank && b.d[j] == 1) j++;
        if (i == a.rank || j == b.rank)
            return i == a.rank && j == b.rank;
        if (a.d[i++] != b.d[j++])
            return false;
    }
}

static Value *view_reshape(Value *a, Shape s, SrcLoc loc) {
    if (shape_eq(TN(a)->shape, s))
        return a;
    Attr at = ints_attr("shape", s.d, s.rank);
    return mk_view(a, OP_RESHAPE, &at, 1, loc);
}

/* reshape/flatten: a view when the elements are contiguous, else (as PyTorch) a copy. */
static Value *reshape_or_copy(Value *a, Shape s, SrcLoc loc) {
    if (!a->strided || same_but_ones(TN(a)->shape, s))
        return view_reshape(a, s, loc);
    Value *r = lw_result(lw_reshape(lw_cast(a->node, TN(a)->dtype, loc), s, loc), a, NULL);
    if (shape_eq(TN(a)->shape, s))
        r = a;
    return r;
}

static Value *lw_flatten(Value *a, int64_t start, int64_t end, SrcLoc loc) {
    Shape in = TN(a)->shape;
    int r = in.rank ? in.rank : 1;
    if (start < -r || start >= r || end < -r || end >= r)
        error_at(loc, "flatten: dims (%lld, %lld) out of range for a tensor of rank %d", (long long)start,
                 (long long)end, in.rank);
    if (start < 0) start += r;
    if (end < 0) end += r;
    if (start > end)
        error_at(loc, "flatten: start_dim %lld comes after end_dim %lld", (long long)start, (long long)end);
    if (in.rank == 0)
        return view_reshape(a, shape_make(1, (int64_t[]){1}), loc);
    Shape s = {0};
    for (int i = 0; i < in.rank; i++) {
        if (i > start && i <= end)
            s.d[s.rank - 1] *= in.d[i];
        else
            s.d[s.rank++] = in.d[i];
    }
    return named_fn(reshape_or_copy(a, s, loc), a, a->strided ? "CloneBackward0" : "ReshapeAliasBackward0");
}

static Value *lw_permute(Value *a, const int64_t *perm, int n, SrcLoc loc) {
    bool identity = true;
    for (int i = 0; i < n; i++)
        identity &= perm[i] == i;
    if (identity)
        return a;
    Attr at = ints_attr("perm", perm, n);
    return mk_view(a, OP_PERMUTE, &at, 1, loc);
}

static Value *lw_transpose(Value *a, Value *d0, Value *d1, SrcLoc loc) {
    int r = TN(a)->shape.rank;
    int i = axis_arg(d0, r, loc), j = axis_arg(d1, r, loc);
    int64_t perm[MAX_RANK];
    for (int k = 0; k < r; k++) perm[k] = k;
    if (r) {
        perm[i] = j;
        perm[j] = i;
    }
    return lw_permute(a, perm, r, loc);
}

/* t[items]: ints drop an axis, slices keep it, one '...' stands for the axes not named. */
static Value *index_tensor(Value *a, Expr *e) {
    Shape in = TN(a)->shape;
    int nidx = e->nitems, ell = -1, named = 0;
    for (int i = 0; i < nidx; i++) {
        if (e->items[i]->kind == E_ELLIPSIS) {
            if (ell >= 0)
                error_at(e->items[i]->loc, "an index can only have a single ellipsis ('...')");
            ell = i;
        } else if (e->items[i]->kind == E_NONE)
            error_at(e->items[i]->loc, "indexing with None (new axes) is not supported; use unsqueeze");
        else
            named++;
    }
    if (named > in.rank)
        error_at(e->loc, "too many indices for a tensor of rank %d: %d given", in.rank, named);
    int64_t start[MAX_RANK], step[MAX_RANK], size[MAX_RANK];
    bool drop[MAX_RANK] = {0};
    for (int k = 0; k < in.rank; k++) {
        start[k] = 0;
        step[k] = 1;
        size[k] = in.d[k];
    }
    int axis = 0;
    for (int i = 0; i < nidx; i++) {
        Expr *it = e->items[i];
        if (it->kind == E_ELLIPSIS) {
            axis += in.rank - named;
            continue;
        }
        int64_t dim = in.d[axis];
        if (it->kind == E_SLICE) {
            int64_t st = 1, lo, hi;
            if (it->items[2]) {
                st = int_arg(lw_eval(it->items[2]), it->items[2]->loc, "a slice step");
                if (st <= 0)
                    error_at(it->items[2]->loc, "slice step must be positive, got %lld", (long long)st);
            }
            lo = it->items[0] ? int_arg(lw_eval(it->items[0]), it->items[0]->loc, "a slice start") : 0;
            hi = it->items[1] ? int_arg(lw_eval(it->items[1]), it->items[1]->loc, "a slice stop") : dim;
            if (lo < 0) lo += dim;
            if (hi < 0) hi += dim;
            lo = lo < 0 ? 0 : lo > dim ? dim : lo;
            hi = hi < 0 ? 0 : hi > dim ? dim : hi;
            start[axis] = lo < dim ? lo : 0;
            step[axis] = st;
            size[axis] = hi > lo ? (hi - lo - 1) / st + 1 : 0; /* no overflow for a huge step */
            if (size[axis] == 0)
                start[axis] = 0;
        } else {
            Value *iv = lw_eval(it);
            if (iv->kind == V_TENSOR)
                error_at(it->loc, "indexing with a tensor is not supported; use integers and slices");
            if (iv->kind == V_BOOL)
                error_at(it->loc, "indexing with a bool is not supported; use integers and slices");
            int64_t ix = int_arg(iv, it->loc, "an index");
            if (ix < -dim || ix >= dim)
                error_at(it->loc, "index %lld is out of bounds for dimension %d with size %lld", (long long)ix,
                         axis, (long long)dim);
            start[axis] = ix < 0 ? ix + dim : ix;
            size[axis] = 1;
            drop[axis] = true;
        }
        axis++;
    }
    Value *v = a;
    bool full = true;
    for (int k = 0; k < in.rank; k++)
        full &= start[k] == 0 && step[k] == 1 && size[k] == in.d[k];
    if (!full) {
        Attr at[3] = {ints_attr("start", start, in.rank), ints_attr("step", step, in.rank),
                      ints_attr("size", size, in.rank)};
        v = mk_view(a, OP_SLICE, at, 3, e->loc);
    }
    Shape out = {0};
    for (int k = 0; k < in.rank; k++)
        if (!drop[k])
            out.d[out.rank++] = size[k];
    bool select = false;
    for (int k = 0; k < in.rank; k++)
        select |= drop[k];
    return named_fn(view_reshape(v, out, e->loc), a, select ? "SelectBackward0" : "SliceBackward0");
}

/* The dtype an in-place result may be cast back to: never to a lower category. */
static int inplace_result(Value *target, int node, SrcLoc loc) {
    DType to = TN(target)->dtype, from = N(node)->dtype;
    if (category(from) > category(to))
        error_at(loc, "result type %s can't be cast to the desired output type %s", dtype_torch(from),
                 dtype_torch(to));
    int x = lw_cast(node, to, loc);
    return lw_expand(x, TN(target)->shape, loc);
}

/* target <- value, in place: cast and broadcast value to target, write through views. */
static void assign_into(Value *target, Value *value, SrcLoc loc) {
    if (target->kind != V_TENSOR)
        error_at(loc, "cannot assign in place to %s", kind_name(target));
    int x;
    if (is_scalar(value))
        x = const_scalar(value, TN(target)->dtype, loc);
    else {
        tensor_arg(value, loc, "the assigned value");
        x = value->node;
        if (category(N(x)->dtype) > category(TN(target)->dtype))
            error_at(loc, "cannot assign %s to a tensor of dtype %s", type_str(N(x)->dtype, N(x)->shape),
                     dtype_torch(TN(target)->dtype));
        x = lw_cast(x, TN(target)->dtype, loc);
    }
    /* leading axes of size 1 may be dropped, as PyTorch's copy_ does (t[0] = ones(1, 3)) */
    Shape xs = N(x)->shape;
    int drop = 0;
    while (xs.rank - drop > TN(target)->shape.rank && xs.d[drop] == 1)
        drop++;
    if (drop) {
        Shape r = {.rank = xs.rank - drop};
        for (int i = 0; i < r.rank; i++)
            r.d[i] = xs.d[i + drop];
        x = lw_reshape(x, r, loc);
    }
    Shape b;
    if (!shape_broadcast(N(x)->shape, TN(target)->shape, &b) || !shape_eq(b, TN(target)->shape))
        error_at(loc, "cannot assign %s to a tensor of shape %s", type_str(N(x)->dtype, N(x)->shape),
                 shape_str(TN(target)->shape));
    x = lw_expand(x, TN(target)->shape, loc);
    if (target->nchain == 0 && !shape_eq(N(x)->shape, TN(target)->shape))
        unreachable();
    write_through(target, x, loc);
}

/* ---- tensor creation ---- */

/* Flattens nested lists of scalars, checking that they are rectangular. */
static void literal_walk(Value *v, int depth, Shape *s, Value ***data, int64_t *n, int64_t *cap, int *cat,
                         SrcLoc loc) {
    if (v->kind == V_LIST || v->kind == V_TUPLE) {
        if (depth >= MAX_RANK)
            error_at(loc, "tensor literal nested more than %d deep", MAX_RANK);
        if (s->rank <= depth) {
            if (*n > 0)
                error_at(loc, "tensor literal is not rectangular (a number where a list was expected)");
            s->rank = depth + 1;
            s->d[depth] = v->n;
        } else if (s->d[depth] != v->n)
            error_at(loc, "tensor literal is not rectangular: expected %lld elements at depth %d, got %d",
                     (long long)s->d[depth], depth, v->n);
        for (int i = 0; i < v->n; i++)
            literal_walk(v->items[i], depth + 1, s, data, n, cap, cat, loc);
        return;
    }
    if (!is_scalar(v))
        error_at(loc, "tensor literal elements must be numbers or bools, got %s", kind_name(v));
    if (depth != s->rank)
        error_at(loc, "tensor literal is not rectangular");
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        Value **d = ir_alloc(sizeof(Value *) * (size_t)*cap);
        if (*n)
            memcpy(d, *data, sizeof(Value *) * (size_t)*n);
        *data = d;
    }
    (*data)[(*n)++] = v;
    int c = value_category(v);
    if (c > *cat)
        *cat = c;
}

static Value *tensor_literal(Value *data, Value *dtype, bool numpy, SrcLoc loc) {
    if (data->kind == V_TENSOR) {
        int x = data->node;
        if (dtype && dtype->kind != V_NONE)
            x = lw_cast(x, dtype_value(dtype, loc), loc);
        else
            x = lw_add1(OP_CAST, x, NULL, 0, loc), N(x)->dtype = TN(data)->dtype;
        Value *r = mk_tensor(x);
        if (numpy) r->tflags |= TV_NUMPY;
        return r;
    }
    Shape s = {0};
    Value **vals = NULL;
    int64_t n = 0, cap = 0;
    int cat = 0;
    if (is_scalar(data)) {
        literal_walk(data, 0, &s, &vals, &n, &cap, &cat, loc);
    } else if (data->kind == V_LIST || data->kind == V_TUPLE) {
        literal_walk(data, 0, &s, &vals, &n, &cap, &cat, loc);
        if (data->n == 0) { s.rank = 1; s.d[0] = 0; cat = 2; }
    } else
        error_at(loc, "cannot make a tensor from %s", kind_name(data));
    DType dt = cat == 2 ? (numpy ? DT_F64 : DT_F32) : cat == 1 ? DT_I64 : DT_BOOL;
    if (dtype && dtype->kind != V_NONE)
        dt = dtype_value(dtype, loc);
    Attr a = data_attr("data", vals, n, dt, loc);
    int id = lw_add(OP_CONST, NULL, 0, dt, s, &a, 1, loc);
    Value *r = mk_tensor(id);
    if (numpy) r->tflags |= TV_NUMPY;
    return r;
}

static Value *lw_filled(Shape s, DType dt, Value *value, SrcLoc loc) {
    Attr a = data_attr("value", &value, 1, dt, loc);
    if (a.kind == A_FLOATS)
        a.kind = A_FLOAT;
    else
        a.kind = A_INT;
    return mk_tensor(lw_add(OP_FULL, NULL, 0, dt, s, &a, 1, loc));
}

static Value *random_tensor(bool normal, Shape s, DType dt, SrcLoc loc) {
    if (!dtype_is_float(dt))
        error_at(loc, "%s needs a floating-point dtype, got %s", normal ? "randn" : "rand", dtype_torch(dt));
    Attr a[2] = {attr_float(normal ? "mean" : "from", 0), attr_float(normal ? "std" : "to", 1)};
    return mk_tensor(lw_add(normal ? OP_RANDN : OP_RAND, NULL, 0, dt, s, a, 2, loc));
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

static Value *load_npy(Value *path, DType dt, Shape s, SrcLoc loc) {
    if (path->kind != V_STR)
        error_at(loc, "load() needs a file path string, got %s", kind_name(path));
    if (!strstr(path->s, ".npy"))
        error_at(loc, "load() reads .npy files; '%s' does not end in .npy", path->s);
    Attr a = attr_str("path", path->s);
    return mk_tensor(lw_add(OP_LOAD, NULL, 0, dt, s, &a, 1, loc));
}


/* ---- autograd in programs ---- */

/* x.requires_grad_(flag) on a leaf: its storage group becomes (or stops being) a gradient target. */
static void set_requires_grad(Value *t, bool flag, SrcLoc loc) {
    tensor_arg(t, loc, "the receiver");
    if (flag && !dtype_is_float(TN(t)->dtype))
        error_at(loc, "only tensors of floating point dtype can require gradients, got %s", dtype_torch(TN(t)->dtype));
    if (t->nchain || (!L.group_rg[t->group] && lw_info(t->node)->rg))
        error_at(loc, "requires_grad can only be changed on a leaf tensor (one not computed from others)");
    L.group_rg[t->group] = flag;
    lw_info(t->node)->rg = flag;
    lw_info(t->node)->leaf = flag ? t->group : -1;
}

static void module_requires_grad(Module *m, bool flag) {
    int groups[2] = {m->weight, m->bias};
    for (int i = 0; i < 2; i++)
        if (groups[i] >= 0) {
            L.group_rg[groups[i]] = flag;
            lw_info(L.group_base[groups[i]])->rg = flag;
            lw_info(L.group_base[groups[i]])->leaf = flag ? groups[i] : -1;
        }
    for (int i = 0; i < m->nchild; i++)
        module_requires_grad(m->child[i], flag);
}

/* zero_grad(): gradients that exist become zeros (PyTorch 1.13's default, set_to_none=False). */
static void zero_grads(Value **params, int n, SrcLoc loc) {
    for (int i = 0; i < n; i++) {
        int gg = L.grad_group[params[i]->group];
        if (gg >= 0)
            set_group(gg, lw_filled(TN(params[i])->shape, TN(params[i])->dtype, mk_int(0), loc)->node, loc);
    }
}

/* The .grad of a tensor: a tensor on its own storage, or None. */
static Value *grad_of(Value *t) {
    if (t->nchain || t->group < 0 || L.grad_group[t->group] < 0)
        return lw_mk(V_NONE);
    Value *g = lw_mk(V_TENSOR);
    g->group = L.grad_group[t->group];
    g->node = L.group_base[g->group];
    return g;
}

/* y.backward(gradient): gradients of y for every leaf it depends on, accumulated into .grad. */
static void lw_backward(Value *y, Value *gradient, SrcLoc loc) {
    tensor_arg(y, loc, "backward()'s tensor");
    Node *yn = TN(y);
    if (!lw_info(y->node)->rg) {
        /* say where the path from a tensor that requires grad was cut, if it was */
        bool *anc = ir_alloc((size_t)L.g->nnode + 1);
        anc[y->node] = true;
        int cut = -1;
        for (int i = y->node; i >= 0 && cut < 0; i--) {
            if (!anc[i])
                continue;
            Node *n = &L.g->nodes[i];
            for (int k = 0; k < n->nin; k++) {
                anc[n->in[k]] = true;
                if (lw_info(n->in[k])->rg && cut < 0)
                    cut = i;
            }
        }
        if (cut >= 0) {
            Node *c = &L.g->nodes[cut];
            diag_error(loc, "backward() of a tensor that does not require grad: its gradient would have to pass "
                            "through '%s', which has none", op_info[c->op].name);
            diag_note(c->loc, "'%s' (%s) cuts the path from a tensor that requires grad here", op_info[c->op].name,
                      type_str(c->dtype, c->shape));
            diag_stop();
        }
        error_at(loc, "backward() of a tensor that does not require grad: nothing it depends on requires_grad");
    }
    int seed;
    if (!gradient || gradient->kind == V_NONE) {
        if (shape_numel(yn->shape) != 1)
            error_at(loc, "backward() of %s needs gradient=: a gradient can only be implied for a scalar",
                     type_str(yn->dtype, yn->shape));
        seed = lw_filled(yn->shape, yn->dtype, mk_int(1), loc)->node;
    } else {
        Value *gv = gradient->kind == V_LIST || is_scalar(gradient) ? tensor_literal(gradient, NULL, false, loc) : gradient;
        tensor_arg(gv, loc, "gradient");
        if (!shape_eq(TN(gv)->shape, yn->shape))
            error_at(loc, "backward(): gradient %s must have the shape of the tensor, %s",
                     type_str(TN(gv)->dtype, TN(gv)->shape), type_str(yn->dtype, yn->shape));
        seed = lw_cast(gv->node, yn->dtype, loc);
    }
    /* the leaves: ancestors of y that are the value of a leaf group */
    int n = L.g->nnode;
    bool *anc = ir_alloc((size_t)n + 1);
    int *wrt = ir_alloc(sizeof(int) * (size_t)(n + 1)), nwrt = 0;
    /* walk back through what requires grad only; a leaf ends the walk (what made it, like an
       optimizer update, ran without gradient tracking) */
    anc[y->node] = true;
    for (int i = y->node; i >= 0; i--) {
        if (!anc[i] || !lw_info(i)->rg)
            continue;
        if (lw_info(i)->leaf >= 0) {
            wrt[nwrt++] = i;
            continue;
        }
        for (int k = 0; k < L.g->nodes[i].nin; k++)
            anc[L.g->nodes[i].in[k]] = true;
    }
    /* a grad node per leaf the gradient reaches, which pass_autodiff expands into the backward
     * graph; a leaf it does not reach keeps its .grad (None, or what it was) */
    int *grads = ir_alloc(sizeof(int) * (size_t)(nwrt + 1));
    bool *reach = ir_grad_reach(L.g, y->node, wrt, nwrt);
    for (int i = 0; i < nwrt; i++) {
        int in[3] = {y->node, seed, wrt[i]};
        grads[i] = reach[wrt[i]] ? lw_add(OP_GRAD, in, 3, DT_F32, shape_scalar(), NULL, 0, loc) : -1;
    }
    for (int i = nwrt - 1; i >= 0; i--) {
        if (grads[i] < 0)
            continue;
        int group = lw_info(wrt[i])->leaf;
        int gg = L.grad_group[group];
        if (gg < 0) {
            L.grad_group[group] = new_group(grads[i]);
        } else {
            int in[2] = {L.group_base[gg], grads[i]}; /* gradients accumulate, as in PyTorch */
            int sum = lw_add(OP_ADD, in, 2, DT_F32, shape_scalar(), NULL, 0, loc);
            L.g->nodes[sum].flags |= NF_BACKWARD;
            set_group(gg, sum, loc);
        }
    }
}

/* ---- optimizers ---- */

typedef struct Optim {
    bool adam, adamw;
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps;
    bool nesterov;
    Value **params;
    int nparams;
    int *buf, *exp_avg, *exp_avg_sq; /* state groups per parameter, -1 before the first step */
    int *steps;                      /* steps taken per parameter (compile-time: the program is straight-line) */
} Optim;


static double opt_num(Args *a, const char *key, double dflt) {
    Value *v = lw_arg(a, -1, key, NULL);
    if (!v)
        return dflt;
    double d = float_arg(v, a->loc, key);
    if (!(d >= 0) || !isfinite(d))
        error_at(a->loc, "%s must be a non-negative number", key);
    return d;
}

static Value *make_optimizer(const char *kind, Args *a) {
    SrcLoc loc = a->loc;
    Optim *o = ir_alloc(sizeof(Optim));
    Value *ps = lw_req(a, 0, "params");
    if (ps->kind == V_MODULE) {
        Value *l = lw_mk(V_LIST);
        collect_params(ps->mod, &l->items, &l->n);
        ps = l;
    }
    if (ps->kind != V_LIST && ps->kind != V_TUPLE)
        error_at(loc, "%s() needs the parameters to optimize, e.g. %s(net.parameters(), lr=0.01)", kind, kind);
    o->params = ps->items;
    o->nparams = ps->n;
    for (int i = 0; i < o->nparams; i++) {
        tensor_arg(o->params[i], loc, "each parameter");
        Value *pv = o->params[i];
        if (pv->nchain || (!L.group_rg[pv->group] && lw_info(pv->node)->rg))
            error_at(loc, "%s(): parameter %d is not a leaf tensor (it is computed from others)", kind, i);
    }
    o->adam = strcmp(kind, "SGD") != 0;
    o->adamw = !strcmp(kind, "AdamW");
    if (!o->adam) {
        Value *lr = lw_arg(a, 1, "lr", NULL);
        if (!lr)
            error_at(loc, "SGD() needs a learning rate: SGD(params, lr=0.01)");
        o->lr = float_arg(lr, loc, "lr");
        o->momentum = opt_num(a, "momentum", 0);
        o->dampening = opt_num(a, "dampening", 0);
        o->weight_decay = opt_num(a, "weight_decay", 0);
        Value *nv = lw_arg(a, -1, "nesterov", mk_bool(false));
        o->nesterov = bool_arg(nv, loc, "nesterov");
        DONE(a, 2, "params", "lr", "momentum", "dampening", "weight_decay", "nesterov");
        if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
            error_at(loc, "nesterov momentum requires a momentum and zero dampening");
    } else {
        Value *lr = lw_arg(a, 1, "lr", mk_float(1e-3));
        o->lr = float_arg(lr, loc, "lr");
        Value *betas = lw_arg(a, -1, "betas", NULL);
        o->beta1 = 0.9;
        o->beta2 = 0.999;
        if (betas) {
            if ((betas->kind != V_TUPLE && betas->kind != V_LIST) || betas->n != 2)
                error_at(loc, "betas must be a pair, e.g. (0.9, 0.999)");
            o->beta1 = float_arg(betas->items[0], loc, "betas");
            o->beta2 = float_arg(betas->items[1], loc, "betas");
        }
        o->eps = opt_num(a, "eps", 1e-8);
        o->weight_decay = opt_num(a, "weight_decay", o->adamw ? 1e-2 : 0);
        Value *ams = lw_arg(a, -1, "amsgrad", mk_bool(false));
        if (bool_arg(ams, loc, "amsgrad"))
            error_at(loc, "amsgrad=True is not supported");
        DONE(a, 2, "params", "lr", "betas", "eps", "weight_decay", "amsgrad");
    }
    o->buf = ir_alloc(sizeof(int) * (size_t)(o->nparams + 1));
    o->exp_avg = ir_alloc(sizeof(int) * (size_t)(o->nparams + 1));
    o->exp_avg_sq = ir_alloc(sizeof(int) * (size_t)(o->nparams + 1));
    o->steps = ir_alloc(sizeof(int) * (size_t)(o->nparams + 1));
    for (int i = 0; i < o->nparams; i++)
        o->buf[i] = o->exp_avg[i] = o->exp_avg_sq[i] = -1;
    Value *v = lw_mk(V_OPTIM);
    v->optim = o;
    v->s = kind;
    return v;
}

/* Elementwise helpers for update rules: x op y where y may be a float constant. */
static int upd2(Op op, int x, int y, SrcLoc loc) {
    int r = lw_add2(op, x, y, loc);
    L.g->nodes[r].flags |= NF_UPDATE;
    return r;
}
static int uconst(double v, DType dt, SrcLoc loc) {
    int r = const_scalar(mk_float(v), dt, loc);
    L.g->nodes[r].flags |= NF_UPDATE;
    return r;
}

/*
 * optimizer.step(), as PyTorch 1.13's single-tensor SGD and Adam/AdamW compute it. The step
 * count of a straight-line program is known here, so bias corrections are constants computed in
 * double exactly as Python computes them.
 */
static void optimizer_step(Optim *o, SrcLoc loc) {
    L.no_grad = true;
    int first_node = L.g->nnode;
    for (int i = 0; i < o->nparams; i++) {
        Value *p = o->params[i];
        int gg = L.grad_group[p->group];
        if (gg < 0)
            continue; /* no gradient yet: PyTorch skips the parameter */
        int pn = L.group_base[p->group], g = L.group_base[gg];
        DType dt = L.g->nodes[pn].dtype;
        Shape sh = L.g->nodes[pn].shape;
        o->steps[i]++;
        if (!o->adam) {
            int d = g;
            if (o->weight_decay != 0)
                d = upd2(OP_ADD, d, upd2(OP_MUL, pn, uconst(o->weight_decay, dt, loc), loc), loc);
            if (o->momentum != 0) {
                int buf;
                if (o->buf[i] < 0) { /* the first step: buf = d_p */
                    buf = d;
                    o->buf[i] = new_group(buf);
                } else {
                    buf = upd2(OP_ADD, upd2(OP_MUL, L.group_base[o->buf[i]], uconst(o->momentum, dt, loc), loc),
                               upd2(OP_MUL, d, uconst(1 - o->dampening, dt, loc), loc), loc);
                    set_group(o->buf[i], buf, loc);
                }
                d = o->nesterov ? upd2(OP_ADD, d, upd2(OP_MUL, buf, uconst(o->momentum, dt, loc), loc), loc) : buf;
            }
            set_group(p->group, upd2(OP_ADD, pn, upd2(OP_MUL, d, uconst(-o->lr, dt, loc), loc), loc), loc);
            continue;
        }
        if (o->exp_avg[i] < 0) {
            o->exp_avg[i] = new_group(lw_filled(sh, dt, mk_int(0), loc)->node);
            o->exp_avg_sq[i] = new_group(lw_filled(sh, dt, mk_int(0), loc)->node);
        }
        if (o->adamw && o->weight_decay != 0) /* decoupled: param *= 1 - lr * wd */
            pn = upd2(OP_MUL, pn, uconst(1 - o->lr * o->weight_decay, dt, loc), loc);
        if (!o->adamw && o->weight_decay != 0)
            g = upd2(OP_ADD, g, upd2(OP_MUL, pn, uconst(o->weight_decay, dt, loc), loc), loc);
        int m = upd2(OP_ADD, upd2(OP_MUL, L.group_base[o->exp_avg[i]], uconst(o->beta1, dt, loc), loc),
                     upd2(OP_MUL, g, uconst(1 - o->beta1, dt, loc), loc), loc);
        int v = upd2(OP_ADD, upd2(OP_MUL, L.group_base[o->exp_avg_sq[i]], uconst(o->beta2, dt, loc), loc),
                     upd2(OP_MUL, upd2(OP_MUL, g, g, loc), uconst(1 - o->beta2, dt, loc), loc), loc);
        set_group(o->exp_avg[i], m, loc);
        set_group(o->exp_avg_sq[i], v, loc);
        double bc1 = 1 - pow(o->beta1, o->steps[i]), bc2 = 1 - pow(o->beta2, o->steps[i]);
        double step_size = o->lr / bc1, bc2_sqrt = sqrt(bc2);
        int sq = lw_add1(OP_SQRT, v, NULL, 0, loc);
        L.g->nodes[sq].flags |= NF_UPDATE;
        int denom = upd2(OP_ADD, upd2(OP_DIV, sq, uconst(bc2_sqrt, dt, loc), loc), uconst(o->eps, dt, loc), loc);
        int delta = upd2(OP_MUL, upd2(OP_DIV, m, denom, loc), uconst(-step_size, dt, loc), loc);
        set_group(p->group, upd2(OP_ADD, pn, delta, loc), loc);
    }
    for (int i = first_node; i < L.g->nnode; i++) /* zero state and constants belong to the update too */
        L.g->nodes[i].flags |= NF_UPDATE;
    L.no_grad = false;
}

/* ---- losses ---- */

static Value *mse_loss(Value *x, Value *t, const char *reduction, SrcLoc loc) {
    tensor_arg(x, loc, "the input");
    tensor_arg(t, loc, "the target");
    Value *d = lw_binop("-", x, t, loc);
    Value *sq = tensor_binop(OP_MUL, d, d, loc);
    Value *r = sq;
    if (!strcmp(reduction, "mean"))
        r = lw_reduce(OP_MEAN, sq, NULL, false, loc);
    else if (!strcmp(reduction, "sum"))
        r = lw_reduce(OP_SUM, sq, NULL, false, loc);
    else if (strcmp(reduction, "none"))
        error_at(loc, "reduction must be 'mean', 'sum' or 'none', got '%s'", reduction);
    lw_info(r->node)->fn = "MseLossBackward0";
    return r;
}

static Value *cross_entropy(Value *x, Value *t, const char *reduction, SrcLoc loc) {
    tensor_arg(x, loc, "the input");
    tensor_arg(t, loc, "the target");
    if (TN(t)->dtype != DT_I64)
        error_at(loc, "cross_entropy: the target must be class indices (i64), got %s", type_str(TN(t)->dtype, TN(t)->shape));
    int in[2] = {x->node, t->node};
    Attr a = attr_str("reduction", reduction);
    Value *r = lw_result(lw_add(OP_CROSS_ENTROPY, in, 2, DT_F32, shape_scalar(), &a, 1, loc), x, NULL);
    lw_info(r->node)->fn = "NllLossBackward0";
    return r;
}

/* ---- builtins ---- */

static Value *module_call(Module *m, Args *a);

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

/* Elementwise unary functions by name. */
static Op unary_code(const char *name) {
    static const struct { const char *s; Op op; } t[] = {
        {"neg", OP_NEG}, {"negative", OP_NEG}, {"relu", OP_RELU}, {"exp", OP_EXP}, {"log", OP_LOG},
        {"sqrt", OP_SQRT}, {"abs", OP_ABS}, {"tanh", OP_TANH}, {"sigmoid", OP_SIGMOID},
        {"logical_not", OP_NOT},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].s, name))
            return t[i].op;
    return OP_COUNT;
}

static Value *conv2d_call(Value *x, Value *w, Value *b, Value *stride, Value *padding, Value *dil, Value *groups,
                          SrcLoc loc) {
    if (b && b->kind != V_NONE)
        tensor_arg(b, loc, "the bias");
    int64_t st[2], pd[2], dl[2];
    pair_value(stride, st, loc, "stride", NULL);
    pair_value(padding, pd, loc, "padding", NULL);
    pair_value(dil, dl, loc, "dilation", NULL);
    int in[3] = {x->node, w->node, b && b->kind != V_NONE ? b->node : -1};
    if (TN(x)->shape.rank != 4)
        error_at(loc, "conv2d expects 4-D input (N, C, H, W), got %s", type_str(TN(x)->dtype, TN(x)->shape));
    Attr at[4] = {ints_attr("stride", st, 2), ints_attr("padding", pd, 2), ints_attr("dilation", dl, 2),
                  attr_int("groups", int_arg(groups, loc, "groups"))};
    return lw_result(lw_add(OP_CONV2D, in, in[2] >= 0 ? 3 : 2, DT_F32, shape_scalar(), at, 4, loc), x, NULL);
}

static Value *maxpool_call(Value *x, const int64_t k[2], const int64_t st[2], const int64_t pd[2],
                           const int64_t dl[2], bool ceil_mode, SrcLoc loc) {
    Attr at[5] = {ints_attr("kernel", k, 2), ints_attr("stride", st, 2), ints_attr("padding", pd, 2),
                  ints_attr("dilation", dl, 2), attr_int("ceil_mode", ceil_mode)};
    return lw_result(lw_add1(OP_MAXPOOL2D, x->node, at, 5, loc), x, NULL);
}

static Value *avgpool_call(Value *x, const int64_t k[2], const int64_t st[2], const int64_t pd[2], bool ceil_mode,
                           bool count_include_pad, SrcLoc loc) {
    Attr at[5] = {ints_attr("kernel", k, 2), ints_attr("stride", st, 2), ints_attr("padding", pd, 2),
                  attr_int("ceil_mode", ceil_mode), attr_int("count_include_pad", count_include_pad)};
    return lw_result(lw_add1(OP_AVGPOOL2D, x->node, at, 5, loc), x, NULL);
}

static Value *linear_call(Value *x, Value *w, Value *b, SrcLoc loc) {
    if (b && b->kind != V_NONE)
        tensor_arg(b, loc, "the bias");
    int in[3] = {x->node, w->node, b && b->kind != V_NONE ? b->node : -1};
    return lw_result(lw_add(OP_LINEAR, in, in[2] >= 0 ? 3 : 2, DT_F32, shape_scalar(), NULL, 0, loc), x, NULL);
}

/*
 * load_state(net, "w.safetensors"): one LOAD per tensor, by its state_dict name (key). The first
 * also carries every name the model has (keys, one per line: a name never holds a newline), so
 * the run checks that the file holds exactly the model's tensors, as load_state_dict(strict=True).
 */
static void load_state_safetensors(Value **ps, int n, const char *path, SrcLoc loc) {
    const char **names = ir_alloc(sizeof(char *) * (size_t)(n + 1));
    size_t len = 1;
    for (int i = 0; i < n; i++) {
        names[i] = TN(ps[i])->name ? TN(ps[i])->name : ir_fmt("param%d", i);
        len += strlen(names[i]) + 1;
    }
    char *keys = ir_alloc(len), *k = keys;
    for (int i = 0; i < n; i++)
        k += sprintf(k, "%s%s", i ? "\n" : "", names[i]);
    for (int i = 0; i < n; i++) {
        Node *p = TN(ps[i]);
        Attr at[3] = {attr_str("path", path), attr_str("key", names[i]), attr_str("keys", keys)};
        set_group(ps[i]->group, lw_add(OP_LOAD, NULL, 0, p->dtype, p->shape, at, i == 0 ? 3 : 2, loc), loc);
    }
}

static void set_eval(Module *m, bool eval);
static Value *adaptive_avg_pool(Value *x, const int64_t os[2], SrcLoc loc);

static Value *builtin(const char *f, Value *self, Args *a, bool numpy_ns) {
    SrcLoc loc = a->loc;
    /* methods take the receiver as their first argument */
    if (self) {
        Value **pos = ir_alloc(sizeof(Value *) * (size_t)(a->npos + 1));
        pos[0] = self;
        for (int i = 0; i < a->npos; i++)
            pos[i + 1] = a->pos[i];
        a->pos = pos;
        a->npos++;
    }
    Op op;

    /* -- output and compile-time helpers -- */
    if (!strcmp(f, "print")) {
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
        emit_print(t, loc);
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "len")) {
        Value *v = lw_req(a, 0, "obj");
        DONE(a, 1, "obj");
        if (v->kind == V_LIST || v->kind == V_TUPLE) return mk_int(v->n);
        if (v->kind == V_STR) return mk_int((int64_t)strlen(v->s));
        if (v->kind == V_SIZE) return mk_int(v->shape.rank);
        if (v->kind == V_TENSOR) {
            if (TN(v)->shape.rank == 0) error_at(loc, "len() of a 0-d tensor");
            return mk_int(TN(v)->shape.d[0]);
        }
        error_at(loc, "len() of %s", kind_name(v));
    }
    if (!strcmp(f, "type")) {
        Value *v = lw_req(a, 0, "obj");
        DONE(a, 1, "obj");
        return py_type(v, loc);
    }
    if (!strcmp(f, "str")) {
        Value *v = lw_req(a, 0, "obj");
        DONE(a, 1, "obj");
        if (v->kind == V_TENSOR || v->kind == V_TEXT) {
            Value *t = text_new();
            text_append(t, v, NULL, loc);
            return t;
        }
        return mk_str(value_str(v, loc));
    }
    if (!strcmp(f, "list") || !strcmp(f, "tuple")) {
        Value *v = lw_req(a, 0, "iterable");
        DONE(a, 1, "iterable");
        if (v->kind == V_SIZE) {
            Value *r = lw_mk(f[0] == 'l' ? V_LIST : V_TUPLE);
            r->n = v->shape.rank;
            r->items = ir_alloc(sizeof(Value *) * (size_t)(r->n + 1));
            for (int i = 0; i < r->n; i++) r->items[i] = mk_int(v->shape.d[i]);
            return r;
        }
        if (v->kind != V_LIST && v->kind != V_TUPLE)
            error_at(loc, "%s() of %s is not supported", f, kind_name(v));
        Value *r = lw_mk(f[0] == 'l' ? V_LIST : V_TUPLE);
        r->n = v->n;
        r->items = v->items;
        return r;
    }
    if (!strcmp(f, "manual_seed")) {
        Value *s = lw_req(a, 0, "seed");
        DONE(a, 1, "seed");
        int64_t seed = int_arg(s, loc, "seed");
        Attr at = attr_int("seed", seed);
        lw_add(OP_SEED, NULL, 0, DT_F32, shape_scalar(), &at, 1, loc);
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "eval") || !strcmp(f, "train")) { /* module.eval(), module.train(mode=True): returns the module */
        Value *m = lw_req(a, 0, "module"), *mode = f[0] == 't' ? lw_arg(a, 1, "mode", mk_bool(true)) : mk_bool(false);
        DONE(a, f[0] == 't' ? 2 : 1, "module", "mode");
        if (m->kind != V_MODULE)
            error_at(loc, "%s() needs a module, got %s", f, kind_name(m));
        set_eval(m->mod, !bool_arg(mode, loc, "mode"));
        return m;
    }
    if (!strcmp(f, "parameters")) {
        Value *m = lw_req(a, 0, "module");
        DONE(a, 1, "module");
        if (m->kind != V_MODULE)
            error_at(loc, "parameters() needs a module, got %s", kind_name(m));
        Value *l = lw_mk(V_LIST);
        collect_params(m->mod, &l->items, &l->n);
        return l;
    }
    if (!strcmp(f, "load_state")) {
        Value *m = lw_req(a, 0, "module"), *dir = lw_req(a, 1, "directory");
        DONE(a, 2, "module", "directory");
        if (m->kind != V_MODULE || dir->kind != V_STR)
            error_at(loc, "load_state(module, \"directory\") loads every parameter from directory/NAME.npy "
                          "(or load_state(module, \"file.safetensors\") from one file)");
        Value **ps = NULL;
        int n = 0;
        collect_state(m->mod, &ps, &n);
        size_t len = strlen(dir->s);
        if (len >= 12 && !strcmp(dir->s + len - 12, ".safetensors")) {
            load_state_safetensors(ps, n, dir->s, loc);
            return lw_mk(V_NONE);
        }
        for (int i = 0; i < n; i++) {
            Node *p = TN(ps[i]);
            const char *name = p->name ? p->name : ir_fmt("param%d", i);
            Value *ld = load_npy(mk_str(ir_fmt("%s/%s.npy", dir->s, name)), p->dtype, p->shape, loc);
            set_group(ps[i]->group, ld->node, loc);
        }
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "save")) {
        Value *path = lw_req(a, 0, "path"), *t = lw_req(a, 1, "tensor");
        DONE(a, 2, "path", "tensor");
        if (path->kind != V_STR || !strstr(path->s, ".npy"))
            error_at(loc, "save(path, tensor) writes a .npy file; give a path ending in .npy");
        tensor_arg(t, loc, "the saved value");
        Attr at = attr_str("path", path->s);
        lw_add(OP_SAVE, &t->node, 1, DT_F32, shape_scalar(), &at, 1, loc);
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "load")) {
        Value *path = lw_req(a, 0, "path"), *ty = lw_arg(a, 1, "type", NULL);
        DONE(a, 2, "path", "type");
        if (!ty || ty->kind != V_TYPE)
            error_at(loc, "load(path, type) needs the tensor's declared type, e.g. load(\"x.npy\", f32[1, 32])");
        for (int i = 0; ty->sym && i < ty->shape.rank; i++)
            if (ty->sym[i])
                error_at(loc, "load(): the declared shape must be concrete, '%s' is symbolic", ty->sym[i]);
        return load_npy(path, ty->dt, ty->shape, loc);
    }

    /* -- autograd, losses, optimizers -- */
    if (!strcmp(f, "backward")) {
        Value *y = lw_req(a, 0, "tensor"), *gr = lw_arg(a, 1, "gradient", NULL);
        DONE(a, 2, "tensor", "gradient");
        lw_backward(y, gr, loc);
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "requires_grad_")) {
        Value *t = lw_req(a, 0, "self"), *flag = lw_arg(a, 1, "requires_grad", mk_bool(true));
        DONE(a, 2, "self", "requires_grad");
        if (t->kind == V_MODULE)
            module_requires_grad(t->mod, bool_arg(flag, loc, "requires_grad"));
        else
            set_requires_grad(t, bool_arg(flag, loc, "requires_grad"), loc);
        return t;
    }
    if (!strcmp(f, "zero_grad")) {
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
    if (!strcmp(f, "step")) {
        Value *o = lw_req(a, 0, "self");
        DONE(a, 1, "self");
        if (o->kind != V_OPTIM)
            error_at(loc, "step() belongs to an optimizer, not %s", kind_name(o));
        optimizer_step(o->optim, loc);
        return lw_mk(V_NONE);
    }
    if (!strcmp(f, "SGD") || !strcmp(f, "Adam") || !strcmp(f, "AdamW"))
        return make_optimizer(f, a);
    if (!strcmp(f, "mse_loss") || !strcmp(f, "cross_entropy")) {
        Value *x = lw_req(a, 0, "input"), *t = lw_req(a, 1, "target"), *red = lw_arg(a, 2, "reduction", mk_str("mean"));
        DONE(a, 3, "input", "target", "reduction");
        if (red->kind != V_STR)
            error_at(loc, "reduction must be 'mean', 'sum' or 'none'");
        return f[0] == 'm' ? mse_loss(x, t, red->s, loc) : cross_entropy(x, t, red->s, loc);
    }

    /* -- creation -- */
    if (!strcmp(f, "tensor") || !strcmp(f, "array") || !strcmp(f, "as_tensor")) {
        Value *d = lw_req(a, 0, "data"), *dt = lw_arg(a, 1, "dtype", NULL);
        Value *rg = lw_arg(a, -1, "requires_grad", NULL);
        DONE(a, 2, "data", "dtype", "requires_grad");
        Value *t = tensor_literal(d, dt, numpy_ns || !strcmp(f, "array"), loc);
        if (rg && bool_arg(rg, loc, "requires_grad"))
            set_requires_grad(t, true, loc);
        return t;
    }
    if (!strcmp(f, "from_numpy") || !strcmp(f, "numpy")) {
        Value *t = tensor_arg(lw_req(a, 0, "array"), loc, "the argument");
        DONE(a, 1, "array");
        /* shares storage: same group, no view step */
        Value *r = lw_mk(V_TENSOR);
        *r = *t;
        r->stamp = 0;
        r->tflags = f[0] == 'n' ? TV_NUMPY : 0;
        return r;
    }
    if (!strcmp(f, "zeros") || !strcmp(f, "ones") || !strcmp(f, "empty")) {
        DType dt = opt_dtype(a, -1, numpy_ns ? DT_F64 : DT_F32);
        Value *rg = lw_arg(a, -1, "requires_grad", NULL);
        Shape s = size_args(a);
        DONE(a, a->npos, "dtype", "size", "requires_grad");
        Value *t = lw_filled(s, dt, mk_int(f[0] == 'o' ? 1 : 0), loc);
        if (rg && bool_arg(rg, loc, "requires_grad"))
            set_requires_grad(t, true, loc);
        return t;
    }
    if (!strcmp(f, "full")) {
        Value *sz = lw_req(a, 0, "size"), *fv = lw_req(a, 1, "fill_value");
        float_arg(fv, loc, "fill_value");
        DType dt = opt_dtype(a, 2, default_dtype_for(value_category(fv)));
        DONE(a, 3, "size", "fill_value", "dtype");
        return lw_filled(shape_from_values(&sz, 1, loc), dt, fv, loc);
    }
    if (!strcmp(f, "rand") || !strcmp(f, "randn")) {
        DType dt = opt_dtype(a, -1, DT_F32);
        Value *rg = lw_arg(a, -1, "requires_grad", NULL);
        Shape s = size_args(a);
        DONE(a, a->npos, "dtype", "size", "requires_grad");
        Value *t = random_tensor(f[4] == 'n', s, dt, loc);
        if (rg && bool_arg(rg, loc, "requires_grad"))
            set_requires_grad(t, true, loc);
        return t;
    }
    if (!strcmp(f, "zeros_like") || !strcmp(f, "ones_like") || !strcmp(f, "rand_like") ||
        !strcmp(f, "randn_like") || !strcmp(f, "full_like") || !strcmp(f, "empty_like")) {
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
    if (!strcmp(f, "arange")) {
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

    /* -- elementwise -- */
    if ((op = binop_code(f)) != OP_COUNT && (op != OP_POW || a->npos >= 2)) {
        Value *x = lw_req(a, 0, "input"), *y = lw_req(a, 1, "other"), *out = lw_arg(a, -1, "out", NULL);
        DONE(a, 2, "input", "other", "out");
        Value *r = tensor_binop(op, x, y, loc);
        if (out) {
            assign_into(out, r, loc);
            return out;
        }
        return r;
    }
    if ((op = unary_code(f)) != OP_COUNT) {
        Value *x = lw_req(a, 0, "input");
        DONE(a, 1, "input");
        return unary_op(op, x, loc);
    }

    /* -- in-place methods: add_, mul_, zero_, fill_, copy_, relu_, ... -- */
    size_t fl = strlen(f);
    if (fl > 1 && f[fl - 1] == '_') {
        Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
        char *base = ir_strndup(f, fl - 1);
        int x;
        if (!strcmp(base, "zero") || !strcmp(base, "fill")) {
            Value *v = base[0] == 'z' ? mk_int(0) : lw_req(a, 1, "value");
            DONE(a, base[0] == 'z' ? 1 : 2, "value");
            assign_into(t, v, loc);
            return t;
        } else if (!strcmp(base, "copy")) {
            Value *src = lw_req(a, 1, "src");
            DONE(a, 2, "src");
            assign_into(t, src, loc);
            return t;
        } else if ((op = binop_code(base)) != OP_COUNT) {
            Value *y = lw_req(a, 1, "other");
            DONE(a, 2, "other");
            x = tensor_binop(op, t, y, loc)->node;
        } else if ((op = unary_code(base)) != OP_COUNT) {
            DONE(a, 1, "self");
            x = unary_op(op, t, loc)->node;
        } else
            error_at(loc, "unknown in-place method '%s'", f);
        write_through(t, inplace_result(t, x, loc), loc);
        return t;
    }

    /* -- reductions -- */
    if (!strcmp(f, "sum") || !strcmp(f, "mean")) {
        Value *x = lw_req(a, 0, "input"), *dim = lw_arg(a, 1, "dim", NULL), *kd = lw_arg(a, 2, "keepdim", mk_bool(false));
        DONE(a, 3, "input", "dim", "keepdim");
        return lw_reduce(f[0] == 's' ? OP_SUM : OP_MEAN, x, dim, bool_arg(kd, loc, "keepdim"), loc);
    }
    if (!strcmp(f, "max") || !strcmp(f, "min")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        Value *d = lw_arg(a, 1, "dim", NULL), *kd = lw_arg(a, 2, "keepdim", mk_bool(false));
        DONE(a, 3, "input", "dim", "keepdim");
        Op rop = f[1] == 'a' ? OP_MAX : OP_MIN;
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
        if (rop == OP_MIN)
            error_at(loc, "min(dim) with indices is not supported; use min() or max(dim)");
        return lw_tuple2(vals, lw_reduce(OP_ARGMAX, x, d, keep, loc));
    }
    if (!strcmp(f, "argmax")) {
        Value *x = lw_req(a, 0, "input"), *d = lw_arg(a, 1, "dim", NULL), *kd = lw_arg(a, 2, "keepdim", mk_bool(false));
        DONE(a, 3, "input", "dim", "keepdim");
        return lw_reduce(OP_ARGMAX, x, d, bool_arg(kd, loc, "keepdim"), loc);
    }

    /* -- shapes and views -- */
    if (!strcmp(f, "view") || !strcmp(f, "reshape")) {
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
        if (f[0] == 'r')
            return named_fn(reshape_or_copy(t, s, loc), t, t->strided ? "CloneBackward0" : "ReshapeAliasBackward0");
        if (t->strided && !same_but_ones(TN(t)->shape, s))
            error_at(loc, "view size is not compatible with the input's layout (a transposed or strided "
                          "slice); use .reshape(...), which copies");
        return view_reshape(t, s, loc);
    }
    if (!strcmp(f, "flatten")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        int64_t s = int_arg(lw_arg(a, 1, "start_dim", mk_int(0)), loc, "start_dim");
        int64_t e = int_arg(lw_arg(a, 2, "end_dim", mk_int(-1)), loc, "end_dim");
        DONE(a, 3, "input", "start_dim", "end_dim");
        return lw_flatten(t, s, e, loc);
    }
    if (!strcmp(f, "transpose") || !strcmp(f, "swapaxes")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        Value *d0 = lw_req(a, 1, "dim0"), *d1 = lw_req(a, 2, "dim1");
        DONE(a, 3, "input", "dim0", "dim1");
        return named_fn(lw_transpose(t, d0, d1, loc), t, "TransposeBackward0");
    }
    if (!strcmp(f, "t")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        DONE(a, 1, "input");
        if (TN(t)->shape.rank > 2)
            error_at(loc, "t() expects a tensor of rank 2 or less, got %s", type_str(TN(t)->dtype, TN(t)->shape));
        return TN(t)->shape.rank < 2 ? t : named_fn(lw_transpose(t, mk_int(0), mk_int(1), loc), t, "TBackward0");
    }
    if (!strcmp(f, "permute")) {
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
    if (!strcmp(f, "expand")) {
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
        return lw_result(lw_expand(t->node, s, loc), t, NULL);
    }
    if (!strcmp(f, "unsqueeze") || !strcmp(f, "squeeze")) {
        Value *t = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        Value *d = lw_arg(a, 1, "dim", NULL);
        DONE(a, 2, "input", "dim");
        Shape in = TN(t)->shape, s = {0};
        if (f[0] == 'u') {
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
                        f[0] == 'u' ? "UnsqueezeBackward0" : d ? "SqueezeBackward1" : "SqueezeBackward0");
    }
    if (!strcmp(f, "cat") || !strcmp(f, "concat") || !strcmp(f, "concatenate")) {
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
    if (!strcmp(f, "matmul") || !strcmp(f, "mm") || !strcmp(f, "dot")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input"), *y = tensor_arg(lw_req(a, 1, "other"), loc, "other");
        Value *out = lw_arg(a, -1, "out", NULL);
        DONE(a, 2, "input", "other", "out");
        if (!strcmp(f, "mm") && (TN(x)->shape.rank != 2 || TN(y)->shape.rank != 2))
            error_at(loc, "mm() needs two 2-D tensors; use matmul for broadcasting");
        Value *r = lw_matmul(x, y, loc);
        if (out) {
            assign_into(out, r, loc);
            return out;
        }
        return r;
    }

    /* -- conversions and queries -- */
    if (!strcmp(f, "item")) {
        Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
        DONE(a, 1, "self");
        if (shape_numel(TN(t)->shape) != 1)
            error_at(loc, "item() needs a tensor with one element, got %s", type_str(TN(t)->dtype, TN(t)->shape));
        /* a Python float is a double and a Python int an int64: item() widens exactly */
        DType pdt = dtype_is_float(TN(t)->dtype) ? DT_F64 : TN(t)->dtype == DT_BOOL ? DT_BOOL : DT_I64;
        Value *r = mk_tensor(lw_cast(lw_reshape(t->node, shape_scalar(), loc), pdt, loc));
        r->tflags = TV_PYSCALAR;
        lw_info(r->node)->rg = false; /* a Python number: a constant for autograd */
        return r;
    }
    if (!strcmp(f, "size")) {
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
    if (!strcmp(f, "dim") || !strcmp(f, "numel")) {
        Value *t = tensor_arg(lw_req(a, 0, "self"), loc, "the receiver");
        DONE(a, 1, "self");
        return mk_int(f[0] == 'd' ? TN(t)->shape.rank : shape_numel(TN(t)->shape));
    }
    if (!strcmp(f, "float") || !strcmp(f, "double") || !strcmp(f, "long") || !strcmp(f, "int") ||
        !strcmp(f, "bool") || !strcmp(f, "to") || !strcmp(f, "type_as") || !strcmp(f, "clone")) {
        Value *t = lw_req(a, 0, "self");
        if (!self && !strcmp(f, "int")) {
            DONE(a, 1, "x");
            double d = trunc(float_arg(t, loc, "int()"));
            if (t->kind == V_INT || t->kind == V_BOOL)
                return mk_int(t->i);
            if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
                error_at(loc, "int(): %s does not fit in 64 bits", py_float_repr(t->f));
            return mk_int((int64_t)d);
        }
        if (!self && !strcmp(f, "float")) { DONE(a, 1, "x"); return mk_float(float_arg(t, loc, "float()")); }
        if (!self && !strcmp(f, "bool")) { DONE(a, 1, "x"); return mk_bool(float_arg(t, loc, "bool()") != 0); }
        tensor_arg(t, loc, "the receiver");
        DType dt = TN(t)->dtype;
        if (!strcmp(f, "float")) dt = DT_F32;
        else if (!strcmp(f, "double")) dt = DT_F64;
        else if (!strcmp(f, "long")) dt = DT_I64;
        else if (!strcmp(f, "int")) dt = DT_I32;
        else if (!strcmp(f, "bool")) dt = DT_BOOL;
        if (!strcmp(f, "to")) {
            Value *d = lw_req(a, 1, "dtype");
            if (d->kind == V_DEVICE || d->kind == V_STR) {
                DONE(a, 2, "dtype");
                const char *dev = d->s;
                if (strcmp(dev, "cpu"))
                    error_at(loc, "to(\"%s\"): a program runs where its compiled code runs (this target: the CPU); "
                                  "there is no device placement inside a program", dev);
                return t; /* to("cpu"): tensors already live where the program runs */
            }
            dt = dtype_value(d, loc);
            DONE(a, 2, "dtype");
        } else if (!strcmp(f, "type_as")) {
            dt = TN(tensor_arg(lw_req(a, 1, "other"), loc, "other"))->dtype;
            DONE(a, 2, "other");
        } else
            DONE(a, 1, "self");
        if (dt == TN(t)->dtype && strcmp(f, "clone"))
            return t;
        int x = dt == TN(t)->dtype ? lw_add1(OP_CAST, t->node, NULL, 0, loc) : lw_cast(t->node, dt, loc);
        N(x)->dtype = dt;
        return lw_result(x, t, NULL);
    }

    /* -- neural-network functions -- */
    if (!strcmp(f, "conv2d")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input"), *w = tensor_arg(lw_req(a, 1, "weight"), loc, "weight");
        Value *b = lw_arg(a, 2, "bias", NULL);
        Value *st = lw_arg(a, 3, "stride", mk_int(1)), *pd = lw_arg(a, 4, "padding", mk_int(0));
        Value *dl = lw_arg(a, 5, "dilation", mk_int(1)), *gr = lw_arg(a, 6, "groups", mk_int(1));
        DONE(a, 7, "input", "weight", "bias", "stride", "padding", "dilation", "groups");
        return conv2d_call(x, w, b, st, pd, dl, gr, loc);
    }
    if (!strcmp(f, "linear")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input"), *w = tensor_arg(lw_req(a, 1, "weight"), loc, "weight");
        Value *b = lw_arg(a, 2, "bias", NULL);
        DONE(a, 3, "input", "weight", "bias");
        return linear_call(x, w, b, loc);
    }
    if (!strcmp(f, "adaptive_avg_pool2d")) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        int64_t os[2];
        pair_value(lw_req(a, 1, "output_size"), os, loc, "output_size", NULL);
        DONE(a, 2, "input", "output_size");
        if (os[0] < 1 || os[1] < 1)
            error_at(loc, "adaptive_avg_pool2d: output_size must be positive");
        return adaptive_avg_pool(x, os, loc);
    }
    if (!strcmp(f, "avg_pool2d")) {
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
    if (!strcmp(f, "max_pool2d")) {
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
    error_at(loc, "'%s' cannot be called this way", f);
}

/* ---- calling modules ---- */

static Value *pair_tuple(const int64_t v[2]) { return lw_tuple2(mk_int(v[0]), mk_int(v[1])); }

/* Binds f32[B, 3, 32, 32] against an argument, symbols taking consistent values. */
/* f32[B, 1, 32, 32] as declared, symbols by name. */
static const char *declared_type(Value *ty) {
    const char *s = ir_fmt("%s[", dtype_name(ty->dt));
    for (int i = 0; i < ty->shape.rank; i++)
        s = ir_fmt("%s%s%s", s, i ? ", " : "",
                   ty->sym && ty->sym[i] ? ty->sym[i] : ir_fmt("%lld", (long long)ty->shape.d[i]));
    return ir_fmt("%s]", s);
}

/* Binds f32[B, 3, 32, 32] against an argument, symbols taking consistent values. */
static void check_input(Param *p, Value *v, Scope *env, SrcLoc loc, const char *model) {
    Value *ty = lw_eval(p->type);
    if (ty->kind != V_TYPE)
        error_at(p->loc, "the type of '%s' must be a tensor type such as f32[B, 3, 32, 32]", p->name);
    bool ok = v->kind == V_TENSOR && TN(v)->dtype == ty->dt && TN(v)->shape.rank == ty->shape.rank;
    for (int i = 0; ok && i < ty->shape.rank; i++) {
        Node *n = TN(v);
        if (ty->sym && ty->sym[i]) {
            Binding *b = find_in(env, ty->sym[i]);
            if (b && b->v->kind == V_INT)
                ok = b->v->i == n->shape.d[i];
            else
                lw_bind(env, ty->sym[i], mk_int(n->shape.d[i]));
        } else
            ok = ty->shape.d[i] == n->shape.d[i];
    }
    if (!ok) {
        diag_error(loc, "%s expects %s: %s, got %s", model, p->name, declared_type(ty),
                   v->kind == V_TENSOR ? type_str(TN(v)->dtype, TN(v)->shape) : kind_name(v));
        diag_note(p->loc, "'%s' is declared here", p->name);
        diag_stop();
    }
}

/* Runs a forward body; an error inside also names the call that ran it, like a traceback. */
static void run_forward(Stmt **body, int n, SrcLoc call, const char *model) {
    jmp_buf here, *outer = diag_catch;
    diag_catch = &here;
    if (setjmp(here)) {
        diag_catch = outer;
        if (L.checking && L.depth_guard <= 2)
            diag_note(call, "in the forward pass of %s, %s", model, L.checking);
        else
            diag_note(call, "in the forward pass of %s, called here", model);
        diag_stop();
    }
    exec_block(body, n);
    diag_catch = outer;
}

/* A tuple of ints, for a reduction's dims. */
static Value *int_tuple(const int64_t *v, int n) {
    Value *t = lw_mk(V_TUPLE);
    t->n = n;
    t->items = ir_alloc(sizeof(Value *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        t->items[i] = mk_int(v[i]);
    return t;
}

/*
 * BatchNorm2d as PyTorch computes it, from the graph's own ops (so autodiff needs nothing new):
 * in training mode the batch's mean and biased variance over (N, H, W) normalize, and the running
 * statistics move by momentum toward the mean and the unbiased variance, num_batches_tracked
 * counting the batches (no gradient reaches them, and a frozen model updates them too, as
 * PyTorch's does); in eval mode the running statistics normalize. Then weight and bias.
 */
static Value *batch_norm(Module *m, Value *x, SrcLoc loc) {
    Shape xs = TN(x)->shape;
    if (xs.rank != 4 || xs.d[1] != m->in)
        error_at(loc, "BatchNorm2d(%lld) expects an input of shape [N, %lld, H, W], got %s", (long long)m->in,
                 (long long)m->in, shape_str(xs));
    Shape cs = shape_make(4, (int64_t[]){1, m->in, 1, 1}), c1 = shape_make(1, &m->in);
    bool batch_stats = !m->eval || !m->track;
    Value *mean, *var;
    if (batch_stats) {
        int64_t count = xs.d[0] * xs.d[2] * xs.d[3];
        if (count < 2 && !m->eval)
            error_at(loc, "BatchNorm2d in training mode needs more than 1 value per channel (here %s), as PyTorch's does",
                     shape_str(xs));
        Value *axes = int_tuple((int64_t[]){0, 2, 3}, 3);
        mean = lw_reduce(OP_MEAN, x, axes, true, loc);
        Value *d = tensor_binop(OP_SUB, x, mean, loc);
        var = lw_reduce(OP_MEAN, tensor_binop(OP_MUL, d, d, loc), axes, true, loc);
        if (!m->eval && m->track) { /* the running statistics, outside autograd */
            bool saved = L.no_grad;
            L.no_grad = true;
            double mom = m->momentum, unbias = (double)count / (double)(count - 1);
            Value *rm = tensor_binop(OP_ADD, tensor_binop(OP_MUL, param_value(m->rmean), mk_float(1 - mom), loc),
                                     tensor_binop(OP_MUL, view_reshape(mean, c1, loc), mk_float(mom), loc), loc);
            Value *rv = tensor_binop(OP_ADD, tensor_binop(OP_MUL, param_value(m->rvar), mk_float(1 - mom), loc),
                                     tensor_binop(OP_MUL, view_reshape(var, c1, loc), mk_float(mom * unbias), loc), loc);
            Value *nb = tensor_binop(OP_ADD, param_value(m->nbt), mk_int(1), loc);
            set_group(m->rmean, rm->node, loc);
            set_group(m->rvar, rv->node, loc);
            set_group(m->nbt, nb->node, loc);
            L.no_grad = saved;
        }
    } else {
        mean = view_reshape(param_value(m->rmean), cs, loc);
        var = view_reshape(param_value(m->rvar), cs, loc);
    }
    Value *y = tensor_binop(OP_DIV, tensor_binop(OP_SUB, x, mean, loc),
                            unary_op(OP_SQRT, tensor_binop(OP_ADD, var, mk_float(m->eps), loc), loc), loc);
    if (m->affine)
        y = tensor_binop(OP_ADD, tensor_binop(OP_MUL, y, view_reshape(param_value(m->weight), cs, loc), loc),
                         view_reshape(param_value(m->bias), cs, loc), loc);
    return y;
}

/* adaptive_avg_pool2d: the mean over each plane for an output of 1x1, an avg_pool2d where the
 * output size divides the input's (the same windows PyTorch's adaptive pooling takes). */
static Value *adaptive_avg_pool(Value *x, const int64_t os[2], SrcLoc loc) {
    Shape xs = TN(x)->shape;
    if (xs.rank != 4 && xs.rank != 3)
        error_at(loc, "adaptive_avg_pool2d expects [N, C, H, W] or [C, H, W], got %s", shape_str(xs));
    int64_t H = xs.d[xs.rank - 2], W = xs.d[xs.rank - 1];
    if (os[0] == 1 && os[1] == 1) {
        int64_t axes[2] = {xs.rank - 2, xs.rank - 1};
        return lw_reduce(OP_MEAN, x, int_tuple(axes, 2), true, loc);
    }
    if (H % os[0] || W % os[1])
        error_at(loc, "adaptive_avg_pool2d to %lldx%lld from %lldx%lld: tgc supports output sizes that divide the "
                      "input's (PyTorch's uneven windows are not implemented)",
                 (long long)os[0], (long long)os[1], (long long)H, (long long)W);
    int64_t k[2] = {H / os[0], W / os[1]}, pd[2] = {0, 0};
    return avgpool_call(x, k, k, pd, false, true, loc);
}

/* model.train(mode) / model.eval(): the mode of every module inside (BatchNorm2d's statistics). */
static void set_eval(Module *m, bool eval) {
    m->eval = eval;
    for (int i = 0; i < m->nchild; i++)
        set_eval(m->child[i], eval);
}

/* The buffers of a module tree, in order: groups and their PARAM nodes. */
static void collect_buffers(Module *m, int *groups, int *nodes, int *n) {
    if (m->rmean >= 0) {
        int g[3] = {m->rmean, m->rvar, m->nbt}, id[3] = {m->rmean_node, m->rvar_node, m->nbt_node};
        for (int i = 0; i < 3; i++) {
            groups[*n] = g[i];
            nodes[(*n)++] = id[i];
        }
    }
    for (int i = 0; i < m->nchild; i++)
        collect_buffers(m->child[i], groups, nodes, n);
}

static Value *module_call(Module *m, Args *a) {
    SrcLoc loc = a->loc;
    if (!m->decl && m->loss_reduction) {
        Value *x = lw_req(a, 0, "input"), *t = lw_req(a, 1, "target");
        DONE(a, 2, "input", "target");
        return m->cls[0] == 'M' ? mse_loss(x, t, m->loss_reduction, loc) : cross_entropy(x, t, m->loss_reduction, loc);
    }
    if (!m->decl) {
        Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
        DONE(a, 1, "input");
        if (!strcmp(m->cls, "Conv2d"))
            return conv2d_call(x, param_value(m->weight), m->bias >= 0 ? param_value(m->bias) : NULL,
                               pair_tuple(m->stride), pair_tuple(m->pad), pair_tuple(m->dil), mk_int(m->groups), loc);
        if (!strcmp(m->cls, "Linear"))
            return linear_call(x, param_value(m->weight), m->bias >= 0 ? param_value(m->bias) : NULL, loc);
        if (!strcmp(m->cls, "MaxPool2d"))
            return maxpool_call(x, m->k, m->stride, m->pad, m->dil, m->ceil_mode, loc);
        if (!strcmp(m->cls, "AvgPool2d"))
            return avgpool_call(x, m->k, m->stride, m->pad, m->ceil_mode, m->count_include_pad, loc);
        if (!strcmp(m->cls, "ReLU"))
            return unary_op(OP_RELU, x, loc);
        if (!strcmp(m->cls, "Flatten"))
            return lw_flatten(x, m->start_dim, m->end_dim, loc);
        if (!strcmp(m->cls, "BatchNorm2d"))
            return batch_norm(m, x, loc);
        if (!strcmp(m->cls, "AdaptiveAvgPool2d"))
            return adaptive_avg_pool(x, m->osize, loc);
        if (!strcmp(m->cls, "Sequential")) {
            for (int i = 0; i < m->nchild; i++) {
                Args ca = {.loc = loc, .fname = m->child[i]->cls, .pos = &x, .npos = 1};
                x = module_call(m->child[i], &ca);
            }
            return x;
        }
        unreachable();
    }
    Decl *d = m->decl;
    if (++L.depth_guard > 64)
        error_at(loc, "model calls nested more than 64 deep (does '%s' call itself?)", d->name);
    Scope *saved = L.scope;
    L.callers[L.ncallers++] = saved;
    L.scope = m->env;
    Scope *fs = push_scope();
    int npos = 0;
    const char *known[64];
    int nknown = 0;
    for (int i = 0; i < d->nparams; i++) {
        Param *p = &d->params[i];
        if (!is_tensor_type(p->type))
            continue;
        if (nknown < 64) known[nknown++] = p->name;
        Value *v = lw_arg(a, npos++, p->name, NULL);
        if (!v)
            error_at(loc, "%s() missing input '%s'", d->name, p->name);
        check_input(p, v, fs, loc, d->name);
        lw_bind(fs, p->name, v);
    }
    args_done(a, npos, known, nknown);
    if (npos == 0)
        error_at(d->loc, "model '%s' has no tensor input: declare one as NAME: f32[...]", d->name);
    Value *saved_ret = L.ret;
    bool saved_fwd = L.in_forward;
    L.ret = NULL;
    L.in_forward = true;
    Stmt **body = ir_alloc(sizeof(Stmt *) * (size_t)(d->nbody ? d->nbody : 1));
    int n = 0;
    for (int i = 0; i < d->nbody; i++)
        if (!is_layer_decl(d->body[i]))
            body[n++] = d->body[i];
    run_forward(body, n, loc, d->name);
    Value *r = L.ret;
    if (!r)
        error_at(d->loc, "model '%s' does not return a value", d->name);
    L.ret = saved_ret;
    L.in_forward = saved_fwd;
    L.scope = saved;
    L.ncallers--;
    L.depth_guard--;
    return r;
}

static Value *call_value(Value *f, Expr *call, Value **args, const char **names, int nargs, SrcLoc loc) {
    (void)call;
    Args a = {.loc = loc};
    a.pos = ir_alloc(sizeof(Value *) * (size_t)(nargs + 1));
    a.kw = ir_alloc(sizeof(char *) * (size_t)(nargs + 1));
    a.kwv = ir_alloc(sizeof(Value *) * (size_t)(nargs + 1));
    if (nargs > 30)
        error_at(loc, "too many arguments");
    for (int i = 0; i < nargs; i++) {
        if (names && names[i]) {
            for (int k = 0; k < a.nkw; k++)
                if (!strcmp(a.kw[k], names[i]))
                    error_at(loc, "keyword argument '%s' repeated", names[i]);
            a.kw[a.nkw] = names[i];
            a.kwv[a.nkw++] = args[i];
        } else
            a.pos[a.npos++] = args[i];
    }
    switch (f->kind) {
    case V_FUNC: {
        a.fname = f->s;
        Value *r = builtin(f->s, f->self, &a, f->numpy_ns);
        if (f->numpy_ns && r->kind == V_TENSOR)
            r->tflags |= TV_NUMPY;
        return r;
    }
    case V_CLASS:
        a.fname = f->decl ? f->decl->name : f->s;
        return f->decl ? construct_model(f->decl, &a) : construct_builtin(f->s, &a);
    case V_MODULE:
        a.fname = f->mod->cls;
        return module_call(f->mod, &a);
    case V_PYTYPE:
        a.fname = f->s;
        return builtin(f->s, NULL, &a, false);
    case V_DTYPE:
        error_at(loc, "a dtype is not callable; to convert, use x.to(%s)", dtype_name(f->dt));
    default:
        error_at(loc, "%s is not callable", kind_name(f));
    }
}

/* ---- expressions ---- */

static Value *lookup(Expr *e) {
    for (Scope *s = L.scope; s; s = s->up) {
        Binding *b = find_in(s, e->str);
        if (b && b->v->kind == V_ERROR)
            diag_stop(); /* its statement failed and was reported; do not report every use */
        if (b)
            return b->v;
    }
    const char *hint = suggest_name(e->str);
    if (hint)
        error_at(e->loc, "unknown name '%s'; did you mean '%s'?", e->str, hint);
    const char *s = e->str;
    if (((s[0] == 'f' || s[0] == 'i' || s[0] == 'u') && s[1] >= '0' && s[1] <= '9') || strstr(s, "float") ||
        strstr(s, "int") || strstr(s, "half"))
        error_at(e->loc, "unknown name '%s'; the dtypes are f32, f64, i32, i64, u8 and bool", s);
    error_at(e->loc, "unknown name '%s'", e->str);
}

static Value *attribute(Value *base, Expr *e) {
    const char *name = e->str;
    SrcLoc loc = e->loc;
    if (base->kind == V_NAMESPACE) {
        bool np = !strcmp(base->s, "np");
        Binding *b = find_in(L.globals, name);
        if (!b) {
            const char *cands[256];
            int n = 0;
            for (int i = 0; i < L.globals->n && n < 256; i++)
                if (L.globals->b[i].v->kind != V_NAMESPACE)
                    cands[n++] = L.globals->b[i].name;
            const char *hint = diag_suggest(name, cands, n);
            if (hint)
                error_at(loc, "'%s' has no member '%s'; did you mean '%s'?", base->s, name, hint);
            error_at(loc, "'%s' has no member '%s' that tgc supports", base->s, name);
        }
        if (b->v->kind == V_PYTYPE && (!strcmp(name, "float") || !strcmp(name, "int") || !strcmp(name, "bool"))) {
            /* torch.float is float32, torch.int int32, torch.bool bool (np.float is Python's float) */
            Value *d = lw_mk(V_DTYPE);
            d->dt = name[0] == 'f' ? (np ? DT_F64 : DT_F32) : name[0] == 'i' ? (np ? DT_I64 : DT_I32) : DT_BOOL;
            return d;
        }
        if (np && b->v->kind == V_FUNC) {
            Value *f = lw_mk(V_FUNC);
            *f = *b->v;
            f->numpy_ns = true;
            return f;
        }
        return b->v;
    }
    if (base->kind == V_TENSOR) {
        Node *n = TN(base);
        if (!strcmp(name, "shape")) {
            Value *s = lw_mk(V_SIZE);
            s->shape = n->shape;
            if (base->tflags & TV_NUMPY) { /* numpy: a tuple of ints */
                Value *t = lw_mk(V_TUPLE);
                t->n = n->shape.rank;
                t->items = ir_alloc(sizeof(Value *) * (size_t)(t->n + 1));
                for (int i = 0; i < t->n; i++) t->items[i] = mk_int(n->shape.d[i]);
                return t;
            }
            return s;
        }
        if (!strcmp(name, "dtype")) {
            Value *d = lw_mk(V_DTYPE);
            d->dt = n->dtype;
            return d;
        }
        if (!strcmp(name, "device")) {
            Value *d = lw_mk(V_DEVICE);
            d->s = "cpu";
            return d;
        }
        if (!strcmp(name, "ndim"))
            return mk_int(n->shape.rank);
        if (!strcmp(name, "T")) {
            int r = n->shape.rank;
            int64_t perm[MAX_RANK];
            for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
            return lw_permute(base, perm, r, loc);
        }
        if (!strcmp(name, "data"))
            return base;
        if (!strcmp(name, "requires_grad"))
            return mk_bool(lw_info(base->node)->rg);
        if (!strcmp(name, "is_leaf"))
            return mk_bool(!lw_info(base->node)->rg || (!base->nchain && L.group_rg[base->group]));
        if (!strcmp(name, "grad"))
            return grad_of(base);
        if (!strcmp(name, "grad_fn"))
            error_at(loc, "'.grad_fn' objects are not available; print the tensor to see its grad_fn, or "
                          "'tgc compile --emit=ir' to see the whole backward graph");
        static const char *methods[] = {
            "numpy", "add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt",
            "ge", "neg", "relu", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "logical_not", "sum", "mean",
            "max", "min", "argmax", "view", "reshape", "flatten", "transpose", "t", "permute", "unsqueeze",
            "squeeze", "matmul", "mm", "dot", "item", "size", "dim", "numel", "float", "double", "long", "int",
            "bool", "to", "type_as", "clone", "add_", "sub_", "mul_", "div_", "pow_", "neg_", "relu_", "exp_",
            "log_", "sqrt_", "abs_", "tanh_", "sigmoid_", "zero_", "fill_", "copy_", "maximum_", "minimum_",
            "backward", "requires_grad_", "expand",
        };
        const int nm = (int)(sizeof methods / sizeof methods[0]);
        for (int i = 0; i < nm; i++)
            if (!strcmp(methods[i], name)) {
                Value *f = lw_mk(V_FUNC);
                f->s = name;
                f->self = base;
                return f;
            }
        const char *cands[128];
        int nc = 0;
        for (int i = 0; i < nm; i++) cands[nc++] = methods[i];
        static const char *attrs[] = {"shape", "dtype", "device", "ndim", "T", "data"};
        for (int i = 0; i < 6; i++) cands[nc++] = attrs[i];
        const char *hint = diag_suggest(name, cands, nc);
        if (hint)
            error_at(loc, "a tensor has no attribute '%s'; did you mean '%s'?", name, hint);
        error_at(loc, "a tensor has no attribute or method '%s' that tgc supports", name);
    }
    if (base->kind == V_MODULE) {
        Module *m = base->mod;
        if (!strcmp(name, "weight") && m->weight >= 0) return param_value(m->weight);
        if (!strcmp(name, "bias") && m->bias >= 0) return param_value(m->bias);
        if (!strcmp(name, "running_mean") && m->rmean >= 0) return param_value(m->rmean);
        if (!strcmp(name, "running_var") && m->rvar >= 0) return param_value(m->rvar);
        if (!strcmp(name, "num_batches_tracked") && m->nbt >= 0) return param_value(m->nbt);
        for (int i = 0; i < m->nchild; i++)
            if (!strcmp(m->child_name[i], name)) {
                Value *c = lw_mk(V_MODULE);
                c->mod = m->child[i];
                return c;
            }
        if (!strcmp(name, "parameters") || !strcmp(name, "zero_grad") || !strcmp(name, "requires_grad_") ||
            !strcmp(name, "eval") || !strcmp(name, "train")) {
            Value *f = lw_mk(V_FUNC);
            f->s = name;
            f->self = base;
            return f;
        }
        const char *cands[64];
        int n = 0;
        for (int i = 0; i < m->nchild && n < 64; i++) cands[n++] = m->child_name[i];
        if (m->weight >= 0) cands[n++] = "weight";
        if (m->bias >= 0) cands[n++] = "bias";
        const char *hint = diag_suggest(name, cands, n);
        if (hint)
            error_at(loc, "%s has no attribute '%s'; did you mean '%s'?", m->cls, name, hint);
        error_at(loc, "%s has no attribute '%s'", m->cls, name);
    }
    if (base->kind == V_OPTIM && (!strcmp(name, "step") || !strcmp(name, "zero_grad"))) {
        Value *f = lw_mk(V_FUNC);
        f->s = name;
        f->self = base;
        return f;
    }
    error_at(loc, "%s has no attribute '%s'", kind_name(base), name);
}

/* f32[B, 3, 32, 32]: a tensor type, dims literal or symbolic. */
static Value *tensor_type(Value *dt, Expr *e) {
    Value *t = lw_mk(V_TYPE);
    t->dt = dt->dt;
    if (e->nitems > MAX_RANK)
        error_at(e->loc, "tensor types have at most %d dimensions", MAX_RANK);
    t->shape.rank = e->nitems;
    t->sym = ir_alloc(sizeof(char *) * MAX_RANK);
    for (int i = 0; i < e->nitems; i++) {
        Expr *d = e->items[i];
        if (d->kind == E_NAME) {
            bool bound = false;
            for (Scope *s = L.scope; s; s = s->up) {
                Binding *b = find_in(s, d->str);
                if (b && b->v->kind == V_INT) {
                    t->shape.d[i] = b->v->i;
                    bound = true;
                    break;
                }
            }
            if (!bound)
                t->sym[i] = d->str;
            continue;
        }
        Value *v = lw_eval(d);
        t->shape.d[i] = int_arg(v, d->loc, "a dimension");
        if (t->shape.d[i] < 0)
            error_at(d->loc, "negative dimension %lld", (long long)t->shape.d[i]);
    }
    return t;
}

static Value *eval_expr(Expr *e);

static Value *lw_eval(Expr *e) {
    if (++L.eval_depth > 1000)
        error_at(e->loc, "expression nested too deeply (more than 1000 levels)");
    Value *v = eval_expr(e);
    L.eval_depth--;
    return v;
}

static Value *eval_expr(Expr *e) {
    switch (e->kind) {
    case E_INT: return mk_int(e->ival);
    case E_FLOAT: return mk_float(e->fval);
    case E_BOOL: return mk_bool(e->ival != 0);
    case E_NONE: return lw_mk(V_NONE);
    case E_STR: return mk_str(e->str);
    case E_NAME: return lookup(e);
    case E_FSTR: {
        Value *t = text_new();
        bool runtime = false;
        for (int i = 0; i < e->nitems; i++) {
            Expr *p = e->items[i];
            if (p->kind == E_STR)
                text_push(t, mk_str(p->str));
            else {
                Value *v = lw_eval(p->lhs);
                runtime |= v->kind == V_TENSOR || v->kind == V_TEXT;
                text_append_ex(t, v, p->str, true, p->loc);
            }
        }
        if (runtime)
            return t;
        const char *s = "";
        for (int i = 0; i < t->n; i++)
            s = ir_fmt("%s%s", s, t->items[i]->s);
        return mk_str(s);
    }
    case E_LIST:
    case E_TUPLE: {
        Value *v = lw_mk(e->kind == E_LIST ? V_LIST : V_TUPLE);
        v->n = e->nitems;
        v->items = ir_alloc(sizeof(Value *) * (size_t)(e->nitems + 1));
        for (int i = 0; i < e->nitems; i++)
            v->items[i] = lw_eval(e->items[i]);
        return v;
    }
    case E_UNARY: {
        Value *v = lw_eval(e->lhs);
        if (!strcmp(e->op, "not")) {
            if (v->kind == V_TENSOR)
                return unary_op(OP_NOT, v, e->loc);
            if (!is_scalar(v) && v->kind != V_NONE)
                error_at(e->loc, "'not' of %s", kind_name(v));
            return mk_bool(v->kind == V_NONE || num(v) == 0);
        }
        if (!strcmp(e->op, "+"))
            return v;
        if (v->kind == V_BOOL)
            return mk_int(-v->i);
        return unary_op(OP_NEG, v, e->loc);
    }
    case E_BINARY: {
        Value *a = lw_eval(e->lhs);
        if (!strcmp(e->op, "and") && is_scalar(a) && num(a) == 0)
            return a; /* short-circuit */
        if (!strcmp(e->op, "or") && is_scalar(a) && num(a) != 0)
            return a;
        return lw_binop(e->op, a, lw_eval(e->rhs), e->loc);
    }
    case E_CALL: {
        Value *f = lw_eval(e->lhs);
        Value **args = ir_alloc(sizeof(Value *) * (size_t)(e->nitems + 1));
        for (int i = 0; i < e->nitems; i++)
            args[i] = lw_eval(e->items[i]);
        return call_value(f, e, args, e->names, e->nitems, e->loc);
    }
    case E_ATTR:
        return attribute(lw_eval(e->lhs), e);
    case E_INDEX: {
        Value *b = lw_eval(e->lhs);
        if (b->kind == V_PYTYPE && dtype_from_name(b->s) >= 0) { /* bool[2], float[3] */
            Value *d = lw_mk(V_DTYPE);
            d->dt = (DType)dtype_from_name(b->s);
            b = d;
        }
        if (b->kind == V_DTYPE)
            return tensor_type(b, e);
        if (b->kind == V_TENSOR)
            return index_tensor(b, e);
        if (b->kind == V_LIST || b->kind == V_TUPLE || b->kind == V_SIZE) {
            if (e->nitems != 1 || e->items[0]->kind == E_SLICE || e->items[0]->kind == E_ELLIPSIS)
                error_at(e->loc, "only a single integer index is supported for %s", kind_name(b));
            int64_t n = b->kind == V_SIZE ? b->shape.rank : b->n;
            int64_t i = int_arg(lw_eval(e->items[0]), e->items[0]->loc, "an index");
            if (i < -n || i >= n)
                error_at(e->items[0]->loc, "index %lld out of range for %s of length %lld", (long long)i,
                         kind_name(b), (long long)n);
            if (i < 0) i += n;
            return b->kind == V_SIZE ? mk_int(b->shape.d[i]) : b->items[i];
        }
        if (b->kind == V_MODULE && !strcmp(b->mod->cls, "Sequential")) { /* model.layer1[0] */
            if (e->nitems != 1 || e->items[0]->kind == E_SLICE || e->items[0]->kind == E_ELLIPSIS)
                error_at(e->loc, "a Sequential takes a single integer index");
            int64_t n = b->mod->nchild, i = int_arg(lw_eval(e->items[0]), e->items[0]->loc, "an index");
            if (i < -n || i >= n)
                error_at(e->items[0]->loc, "index %lld out of range for a Sequential of %lld modules", (long long)i,
                         (long long)n);
            Value *c = lw_mk(V_MODULE);
            c->mod = b->mod->child[i < 0 ? i + n : i];
            return c;
        }
        error_at(e->loc, "%s cannot be indexed", kind_name(b));
    }
    case E_ELLIPSIS:
    case E_SLICE:
        error_at(e->loc, "'...' and slices can only appear inside an index");
    case E_FHOLE:
        break;
    }
    unreachable();
}

/* ---- statements ---- */

static void assign(Expr *t, Value *v, SrcLoc loc) {
    switch (t->kind) {
    case E_NAME:
        if (find_in(L.globals, t->str) && L.scope == L.globals)
            error_at(t->loc, "cannot assign to the builtin name '%s'", t->str);
        if (v->kind == V_TENSOR && !TN(v)->name && !(TN(v)->flags & NF_PARAM))
            TN(v)->name = t->str; /* the IR, its gradients and the generated code read better with names */
        lw_bind(L.scope, t->str, v);
        return;
    case E_TUPLE:
        if (v->kind != V_TUPLE && v->kind != V_LIST)
            error_at(loc, "cannot unpack %s into %d names", kind_name(v), t->nitems);
        if (v->n != t->nitems)
            error_at(loc, "cannot unpack %d values into %d names", v->n, t->nitems);
        for (int i = 0; i < t->nitems; i++)
            assign(t->items[i], v->items[i], loc);
        return;
    case E_INDEX: {
        Value *b = lw_eval(t->lhs);
        if (b->kind == V_TENSOR) {
            assign_into(index_tensor(b, t), v, loc);
            return;
        }
        if (b->kind == V_LIST && t->nitems == 1) {
            int64_t i = int_arg(lw_eval(t->items[0]), t->items[0]->loc, "an index");
            if (i < -b->n || i >= b->n)
                error_at(t->loc, "list index %lld out of range", (long long)i);
            b->items[i < 0 ? i + b->n : i] = v;
            return;
        }
        error_at(t->loc, "cannot assign into %s", kind_name(b));
    }
    case E_ATTR: {
        Value *b = lw_eval(t->lhs);
        if (b->kind == V_TENSOR && !strcmp(t->str, "requires_grad")) {
            set_requires_grad(b, bool_arg(v, loc, "requires_grad"), loc);
            return;
        }
        if (b->kind == V_MODULE && v->kind == V_MODULE) {
            add_child(b->mod, t->str, v->mod);
            if (b->mod->env)
                lw_bind(b->mod->env, t->str, v); /* the forward pass sees the new layer */
            name_params(b->mod, b->mod->path);
            return;
        }
        error_at(t->loc, "cannot assign to attribute '%s' of %s", t->str, kind_name(b));
    }
    default:
        error_at(t->loc, "cannot assign to this expression");
    }
}

static void exec_block(Stmt **body, int n);

/* An if's condition: a value known at compile time (a number, a bool, None, a string), never a
 * tensor, since the graph has no branches. */
static bool lw_condition(Expr *e) {
    Value *c = lw_eval(e);
    switch (c->kind) {
    case V_BOOL: case V_INT: return c->i != 0;
    case V_FLOAT: return c->f != 0;
    case V_NONE: return false;
    case V_STR: return *c->s != 0;
    case V_TENSOR:
        error_at(e->loc, "an 'if' condition must be known at compile time (a number or a bool); this is a tensor, "
                         "whose value exists only when the program runs");
    default:
        error_at(e->loc, "an 'if' condition must be a number or a bool, not %s", kind_name(c));
    }
}

/* The branch an if takes; in a model's forward pass without its layer declarations, which the
 * constructor ran (construct_model). */
static void exec_if(Stmt *s) {
    bool yes = lw_condition(s->value);
    Stmt **b = yes ? s->body : s->orelse;
    int n = yes ? s->nbody : s->norelse;
    if (!L.in_forward) {
        exec_block(b, n);
        return;
    }
    Stmt **fwd = ir_alloc(sizeof(Stmt *) * (size_t)(n + 1));
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!is_layer_decl(b[i]))
            fwd[k++] = b[i];
    exec_block(fwd, k);
}

static void exec_stmt(Stmt *s) {
    switch (s->kind) {
    case S_IF:
        exec_if(s);
        return;
    case S_EXPR:
        lw_eval(s->value);
        return;
    case S_RETURN:
        if (!L.in_forward)
            error_at(s->loc, "'return' outside a model");
        L.ret = lw_eval(s->value);
        return;
    case S_ASSIGN: {
        Value *v = lw_eval(s->value);
        if (!strcmp(s->op, "=")) {
            assign(s->target, v, s->loc);
            return;
        }
        char op[2] = {s->op[0], 0};
        Value *cur = lw_eval(s->target);
        if (cur->kind == V_TENSOR) {
            /* x += y updates x in place, as PyTorch does */
            Value *r = lw_binop(op, cur, v, s->loc);
            write_through(cur, inplace_result(cur, r->node, s->loc), s->loc);
            return;
        }
        assign(s->target, lw_binop(op, cur, v, s->loc), s->loc);
        return;
    }
    }
}

/* The names a failed assignment would have bound become V_ERROR, so their uses stay quiet. */
static void poison_expr(Expr *t) {
    if (t->kind == E_NAME)
        lw_bind(L.scope, t->str, lw_mk(V_ERROR));
    else if (t->kind == E_TUPLE)
        for (int i = 0; i < t->nitems; i++)
            poison_expr(t->items[i]);
}

static void poison_targets(Stmt *s) {
    if (s->kind == S_ASSIGN && !strcmp(s->op, "="))
        poison_expr(s->target);
}

static void exec_block(Stmt **body, int n) {
    for (int i = 0; i < n && !L.ret; i++) {
        jmp_buf here, *outer = diag_catch;
        /* the state a failed statement (maybe deep in a model's forward pass) must not leave behind */
        Scope *scope = L.scope;
        int depth = L.depth_guard, edepth = L.eval_depth, ncall = L.ncallers;
        /* An error in one statement of a program does not hide the errors of the next ones. */
        if (!L.in_forward && setjmp(here)) {
            diag_catch = outer;
            L.scope = scope;
            L.ret = NULL;
            L.in_forward = false;
            L.depth_guard = depth;
            L.eval_depth = edepth;
            L.ncallers = ncall;
            L.no_grad = false;
            if (diag_nerrors > 20)
                error_at(body[i]->loc, "too many errors; giving up");
            poison_targets(body[i]);
            continue;
        }
        if (!L.in_forward)
            diag_catch = &here;
        exec_stmt(body[i]);
        diag_catch = outer;
    }
}

/* ---- globals ---- */

static void def_func(const char *name) {
    Value *v = lw_mk(V_FUNC);
    v->s = name;
    lw_bind(L.globals, name, v);
}

static void def_globals(Ast *ast) {
    static const char *funcs[] = {
        "print", "len", "type", "str", "list", "tuple", "manual_seed", "parameters", "load", "load_state", "save",
        "tensor", "array", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "rand", "randn",
        "zeros_like", "ones_like", "rand_like", "randn_like", "full_like", "empty_like", "arange",
        "add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
        "subtract", "multiply", "divide", "true_divide", "neg", "negative", "relu", "exp", "log", "sqrt",
        "abs", "tanh", "sigmoid", "logical_not", "sum", "mean", "max", "min", "argmax", "reshape",
        "flatten", "transpose", "swapaxes", "permute", "unsqueeze", "squeeze", "cat", "concat",
        "concatenate", "matmul", "mm", "dot", "conv2d", "linear", "max_pool2d", "avg_pool2d", "int", "float", "bool",
        "backward", "mse_loss", "cross_entropy", "SGD", "Adam", "AdamW", "adaptive_avg_pool2d",
    };
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
        def_func(funcs[i]);
    static const char *classes[] = {"Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "ReLU", "Flatten", "MSELoss",
                                    "CrossEntropyLoss", "BatchNorm2d", "AdaptiveAvgPool2d", "Sequential"};
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        Value *v = lw_mk(V_CLASS);
        v->s = classes[i];
        lw_bind(L.globals, classes[i], v);
    }
    static const char *dts[] = {"f32", "f64", "i32", "i64", "u8", "float32", "float64", "double",
                                "int32", "int64", "long", "uint8"};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        Value *v = lw_mk(V_DTYPE);
        v->dt = (DType)dtype_from_name(dts[i]);
        lw_bind(L.globals, dts[i], v);
    }
    /* `bool`, `float` and `int` are both functions and dtypes: as a dtype= argument they convert */
    for (int i = 0; i < L.globals->n; i++) {
        Binding *b = &L.globals->b[i];
        if (!strcmp(b->name, "bool") || !strcmp(b->name, "float") || !strcmp(b->name, "int")) {
            b->v->kind = V_PYTYPE;
            b->v->s = b->name;
        }
    }
    static const char *ns[] = {"torch", "np", "numpy", "nn", "F"};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        Value *v = lw_mk(V_NAMESPACE);
        v->s = !strcmp(ns[i], "numpy") ? "np" : ns[i];
        lw_bind(L.globals, ns[i], v);
    }
    for (int i = 0; i < ast->ndecls; i++)
        if (ast->decls[i]->kind == D_MODEL) {
            Decl *d = ast->decls[i];
            if (find_in(L.globals, d->name)) {
                diag_error(d->loc, "model name '%s' is already taken", d->name);
                continue;
            }
            Value *v = lw_mk(V_CLASS);
            v->s = d->name;
            v->decl = d;
            lw_bind(L.globals, d->name, v);
        }
}


/* ---- the training step of a train block ---- */

static const char *call_name(Expr *e);

/* A persistent zero-initialised state tensor (optimizer buffers, the step counter). */
static int new_state(const char *name, DType dt, Shape s, SrcLoc loc) {
    Attr a = attr_str("init", "zeros");
    int id = lw_add(OP_PARAM, NULL, 0, dt, s, &a, 1, loc);
    L.g->nodes[id].flags |= NF_PARAM;
    L.g->nodes[id].name = name;
    return id;
}

static int upd_cast(int x, DType dt, SrcLoc loc) {
    int r = lw_cast(x, dt, loc);
    L.g->nodes[r].flags |= NF_UPDATE;
    return r;
}

/*
 * The optimizer update with the step count read at run time (a state), as a generated
 * train_step needs: SGD's first step sets buf = d_p through a 0/1 blend (exact, both terms
 * finite), Adam's bias corrections are computed in double from the step and then used as float
 * scalars, as PyTorch's Python floats are. Writes go through assign effects at the very end,
 * after every update has read the old values.
 */
static void runtime_update(Optim *o, int *params, const char **names, int *grads, int n, SrcLoc loc, int *assigns,
                           int *nassign) {
    int first_node = L.g->nnode;
    int step = new_state("step", DT_I64, shape_scalar(), loc);
    /* the learning rate lives in the arena too, so a caller (the trainer's --lr) may change it; as a
       double, so lr-derived factors round exactly as Python's floats do */
    Attr la[2] = {attr_str("init", "full"), attr_float("value", o->lr)};
    int lr = lw_add(OP_PARAM, NULL, 0, DT_F64, shape_scalar(), la, 2, loc);
    L.g->nodes[lr].flags |= NF_PARAM;
    L.g->nodes[lr].name = "lr";
    int neg_lr = lw_add1(OP_NEG, lr, NULL, 0, loc);
    int neg_lr32 = upd_cast(neg_lr, DT_F32, loc);
    int step1 = upd2(OP_ADD, step, const_scalar(mk_int(1), DT_I64, loc), loc);
    int tf = upd_cast(step1, DT_F64, loc); /* t = step + 1, as a double */
    int first = -1, step_size = -1, bc2_sqrt = -1;
    if (!o->adam && o->momentum != 0)
        first = upd_cast(upd2(OP_EQ, step, const_scalar(mk_int(0), DT_I64, loc), loc), DT_F32, loc);
    if (o->adam) {
        int bc1 = upd2(OP_SUB, uconst(1, DT_F64, loc), upd2(OP_POW, uconst(o->beta1, DT_F64, loc), tf, loc), loc);
        int bc2 = upd2(OP_SUB, uconst(1, DT_F64, loc), upd2(OP_POW, uconst(o->beta2, DT_F64, loc), tf, loc), loc);
        step_size = upd_cast(upd2(OP_DIV, neg_lr, bc1, loc), DT_F32, loc);
        int sq = lw_add1(OP_SQRT, bc2, NULL, 0, loc);
        L.g->nodes[sq].flags |= NF_UPDATE;
        bc2_sqrt = upd_cast(sq, DT_F32, loc);
    }
    for (int i = 0; i < n; i++) {
        if (grads[i] < 0)
            continue;
        int p = params[i], g = grads[i];
        DType dt = L.g->nodes[p].dtype;
        Shape sh = L.g->nodes[p].shape;
        if (!o->adam) {
            int d = g;
            if (o->weight_decay != 0)
                d = upd2(OP_ADD, d, upd2(OP_MUL, p, uconst(o->weight_decay, dt, loc), loc), loc);
            if (o->momentum != 0) {
                int buf = new_state(ir_fmt("%s.momentum_buffer", names[i]), dt, sh, loc);
                int later = upd2(OP_ADD, upd2(OP_MUL, buf, uconst(o->momentum, dt, loc), loc),
                                 upd2(OP_MUL, d, uconst(1 - o->dampening, dt, loc), loc), loc);
                int nb = upd2(OP_ADD, upd2(OP_MUL, first, d, loc),
                              upd2(OP_MUL, upd2(OP_SUB, uconst(1, dt, loc), first, loc), later, loc), loc);
                assigns[(*nassign)++] = buf, assigns[(*nassign)++] = nb;
                d = o->nesterov ? upd2(OP_ADD, d, upd2(OP_MUL, nb, uconst(o->momentum, dt, loc), loc), loc) : nb;
            }
            assigns[(*nassign)++] = p;
            assigns[(*nassign)++] = upd2(OP_ADD, p, upd2(OP_MUL, d, neg_lr32, loc), loc);
            continue;
        }
        int m = new_state(ir_fmt("%s.exp_avg", names[i]), dt, sh, loc);
        int v = new_state(ir_fmt("%s.exp_avg_sq", names[i]), dt, sh, loc);
        int pn = p;
        if (o->adamw && o->weight_decay != 0) {
            int keep = upd2(OP_SUB, uconst(1, DT_F64, loc), upd2(OP_MUL, lr, uconst(o->weight_decay, DT_F64, loc), loc), loc);
            pn = upd2(OP_MUL, pn, upd_cast(keep, dt, loc), loc);
        }
        if (!o->adamw && o->weight_decay != 0)
            g = upd2(OP_ADD, g, upd2(OP_MUL, p, uconst(o->weight_decay, dt, loc), loc), loc);
        int mn = upd2(OP_ADD, upd2(OP_MUL, m, uconst(o->beta1, dt, loc), loc),
                      upd2(OP_MUL, g, uconst(1 - o->beta1, dt, loc), loc), loc);
        int vn = upd2(OP_ADD, upd2(OP_MUL, v, uconst(o->beta2, dt, loc), loc),
                      upd2(OP_MUL, upd2(OP_MUL, g, g, loc), uconst(1 - o->beta2, dt, loc), loc), loc);
        int sq = lw_add1(OP_SQRT, vn, NULL, 0, loc);
        L.g->nodes[sq].flags |= NF_UPDATE;
        int denom = upd2(OP_ADD, upd2(OP_DIV, sq, bc2_sqrt, loc), uconst(o->eps, dt, loc), loc);
        int delta = upd2(OP_MUL, upd2(OP_DIV, mn, denom, loc), step_size, loc);
        assigns[(*nassign)++] = m, assigns[(*nassign)++] = mn;
        assigns[(*nassign)++] = v, assigns[(*nassign)++] = vn;
        assigns[(*nassign)++] = p, assigns[(*nassign)++] = upd2(OP_ADD, pn, delta, loc);
    }
    assigns[(*nassign)++] = step, assigns[(*nassign)++] = step1;
    for (int i = first_node; i < L.g->nnode; i++) /* constants and state too: one update section */
        L.g->nodes[i].flags |= NF_UPDATE;
}

static Expr *train_setting(Decl *d, const char *key);

/* Numbers of a list or tuple expression (normalize's mean and std), at most 4. */
static int number_list(Expr *e, double *out) {
    Value *v = lw_eval(e);
    if (is_scalar(v)) {
        out[0] = num(v);
        return 1;
    }
    if ((v->kind != V_LIST && v->kind != V_TUPLE) || v->n < 1 || v->n > 4)
        error_at(e->loc, "expected a number or a list of up to 4 numbers");
    for (int i = 0; i < v->n; i++)
        out[i] = float_arg(v->items[i], e->loc, "each value");
    return v->n;
}

/* The trainer's settings, and the predict graph: the model's forward pass alone, its parameters
   created in the same order as the step's, so both find them at the same arena offsets. */
static TrainConfig *train_config(Decl *d, Decl *md, int64_t batch, Value *xin) {
    TrainConfig *c = ir_alloc(sizeof(TrainConfig));
    Expr *data = train_setting(d, "data");
    c->data_kind = call_name(data);
    if (!strcmp(c->data_kind, "idx"))
        error_at(data->loc, "idx(...) data is not supported by the trainer yet; use mnist(dir) or fashion_mnist(dir)");
    c->data_dir = data->items[0]->str;
    Expr *e;
    if ((e = train_setting(d, "pad")))
        c->pad = (int)e->ival;
    if ((e = train_setting(d, "transform"))) {
        for (int i = 0; i < e->nitems; i++) {
            const char *k = e->names[i] ? e->names[i] : i == 0 ? "mean" : "std";
            if (!strcmp(k, "mean"))
                c->nnorm = number_list(e->items[i], c->mean);
            else if (!strcmp(k, "std")) {
                if (number_list(e->items[i], c->std) != c->nnorm)
                    error_at(e->items[i]->loc, "normalize: mean and std must have the same length");
            } else
                error_at(e->items[i]->loc, "normalize takes mean and std");
        }
    }
    int64_t channels = TN(xin)->shape.d[1];
    if (c->nnorm && c->nnorm != 1 && c->nnorm != channels)
        error_at(d->loc, "normalize has %d values for an input of %lld channels", c->nnorm, (long long)channels);
    for (int i = c->nnorm == 1 ? 1 : c->nnorm; i < channels && c->nnorm; i++) {
        c->mean[i] = c->mean[0];
        c->std[i] = c->std[0];
    }
    if (c->nnorm)
        c->nnorm = (int)channels;
    if ((e = train_setting(d, "classes"))) {
        c->nclasses = e->nitems;
        c->classes = ir_alloc(sizeof(char *) * (size_t)(e->nitems + 1));
        for (int i = 0; i < e->nitems; i++)
            c->classes[i] = e->items[i]->str;
    }
    c->epochs = (e = train_setting(d, "epochs")) ? e->ival : 1;
    c->log_every = (e = train_setting(d, "log_every")) ? e->ival : 2000;
    c->seed = (e = train_setting(d, "seed")) ? e->ival : 0;
    c->shuffle = (e = train_setting(d, "shuffle")) ? e->ival != 0 : true;
    c->checkpoint = (e = train_setting(d, "checkpoint")) ? e->str : NULL;
    /* the predict graph */
    DType xdt = TN(xin)->dtype;
    Shape xshape = TN(xin)->shape;
    NodeInfo *ni = L.info;
    int nni = L.ninfo;
    L.g = ir_new_graph(ir_fmt("predict_%s", md->name));
    L.info = NULL;
    L.ninfo = 0;
    L.no_grad = true;
    Args ca = {.loc = d->loc, .fname = md->name};
    Value *net = construct_model(md, &ca);
    set_eval(net->mod, true); /* inference: BatchNorm2d normalizes with its running statistics */
    Attr a = attr_str("name", "x");
    int x = lw_add(OP_INPUT, NULL, 0, xdt, xshape, &a, 1, d->loc);
    L.g->nodes[x].flags |= NF_INPUT;
    L.g->nodes[x].name = "x";
    Value *xv = mk_tensor(x);
    Args fa = {.loc = d->loc, .fname = md->name, .pos = &xv, .npos = 1};
    Value *out = module_call(net->mod, &fa);
    L.g->nodes[out->node].flags |= NF_OUTPUT;
    L.no_grad = false;
    c->predict = L.g;
    if (c->nclasses && TN(out)->shape.rank == 2 && TN(out)->shape.d[1] != c->nclasses)
        error_at(train_setting(d, "classes")->loc, "%d class names for a model with %lld outputs", c->nclasses,
                 (long long)TN(out)->shape.d[1]);
    (void)batch;
    L.info = ni;
    L.ninfo = nni;
    return c;
}

/* The setting `key` of a train block, or NULL. */
static Expr *train_setting(Decl *d, const char *key) {
    for (int i = 0; i < d->nbody; i++)
        if (d->body[i]->kind == S_ASSIGN && d->body[i]->target->kind == E_NAME && !strcmp(d->body[i]->target->str, key))
            return d->body[i]->value;
    return NULL;
}

/*
 * A train block's step as one graph: x and y are inputs, the parameters and optimizer state are
 * persistent params, the loss is the output. Forward, backward (autodiff) and update in order.
 */
/* freeze_batchnorm = true: the BatchNorm2d layers outside `trainable` run in eval mode in the step,
 * normalizing with their running statistics and leaving them as they are (PyTorch's
 * module.eval() on the frozen part); by default they move, as a frozen PyTorch model's do. */
static void freeze_batchnorm(Module *m, Expr *trainable) {
    if (!strcmp(m->cls, "BatchNorm2d")) {
        bool trains = !trainable;
        for (int j = 0; trainable && j < trainable->nitems; j++) {
            /* "layer4" holds the module "layer4.1.bn2."; "bn1.weight" is one of "bn1."'s parameters */
            const char *t = trainable->items[j]->str;
            size_t l = strlen(t), pl = strlen(m->path);
            trains |= (!strncmp(m->path, t, l) && (m->path[l] == '.' || !m->path[l])) || !strncmp(t, m->path, pl);
        }
        m->eval = !trains;
    }
    for (int i = 0; i < m->nchild; i++)
        freeze_batchnorm(m->child[i], trainable);
}

static Graph *lower_train(Decl *d) {
    Binding *mb = find_in(L.globals, d->name);
    Decl *md = mb->v->decl;
    Expr *batch_e = train_setting(d, "batch"), *loss_e = train_setting(d, "loss"), *opt_e = train_setting(d, "optimizer");
    L.g = ir_new_graph(ir_fmt("train_%s", md->name));
    L.info = NULL;
    L.ninfo = 0;
    L.scope = L.globals;
    push_scope();
    Args ca = {.loc = d->loc, .fname = md->name};
    Value *net = construct_model(md, &ca);
    Expr *fz = train_setting(d, "freeze_batchnorm");
    if (fz && fz->ival && !train_setting(d, "trainable"))
        error_at(fz->loc, "freeze_batchnorm = true fixes the statistics of the frozen layers; say which train with "
                          "trainable = [...]");
    if (fz && fz->ival)
        freeze_batchnorm(net->mod, train_setting(d, "trainable"));
    /* the input: the model's declared type with its first (symbolic) dimension = batch */
    Value *xin = NULL;
    for (int i = 0; i < md->nparams; i++) {
        if (!is_tensor_type(md->params[i].type))
            continue;
        if (xin)
            error_at(d->loc, "a trained model takes one input tensor; %s takes several", md->name);
        Value *ty = lw_eval(md->params[i].type);
        for (int k = 0; k < ty->shape.rank; k++)
            if (ty->sym && ty->sym[k]) {
                if (k)
                    error_at(md->params[i].loc, "a trained model's input may be symbolic in its first (batch) "
                                                "dimension only");
                ty->shape.d[0] = batch_e->ival;
            }
        Attr a = attr_str("name", "x");
        int x = lw_add(OP_INPUT, NULL, 0, ty->dt, ty->shape, &a, 1, md->params[i].loc);
        L.g->nodes[x].flags |= NF_INPUT;
        L.g->nodes[x].name = "x";
        xin = mk_tensor(x);
    }
    Args fa = {.loc = d->loc, .fname = md->name, .pos = &xin, .npos = 1};
    Value *out = module_call(net->mod, &fa);
    tensor_arg(out, d->loc, "the model's output");
    /* buffers the forward pass moved (BatchNorm2d's running statistics): stored back at the end */
    int *bgroups = ir_alloc(sizeof(int) * (size_t)(L.g->nnode + 1)), *bnodes = ir_alloc(sizeof(int) * (size_t)(L.g->nnode + 1)),
        nb = 0;
    collect_buffers(net->mod, bgroups, bnodes, &nb);
    bool ce = !strcmp(loss_e->str, "cross_entropy");
    Shape ys = ce ? shape_make(1, &TN(out)->shape.d[0]) : TN(out)->shape;
    Attr ya = attr_str("name", "y");
    int y = lw_add(OP_INPUT, NULL, 0, ce ? DT_I64 : DT_F32, ys, &ya, 1, d->loc);
    L.g->nodes[y].flags |= NF_INPUT;
    L.g->nodes[y].name = "y";
    Value *loss = ce ? cross_entropy(out, mk_tensor(y), "mean", loss_e->loc) : mse_loss(out, mk_tensor(y), "mean", loss_e->loc);
    L.g->nodes[loss->node].flags |= NF_OUTPUT;
    L.g->nodes[loss->node].name = "loss";
    /* backward, for the parameters that require grad */
    Value **ps = NULL;
    int np = 0;
    collect_params(net->mod, &ps, &np);
    int *wrt = ir_alloc(sizeof(int) * (size_t)(np + 1)), *grads = ir_alloc(sizeof(int) * (size_t)(np + 1));
    const char **names = ir_alloc(sizeof(char *) * (size_t)(np + 1));
    int nw = 0;
    /* trainable = ["fc"]: only those modules' parameters train, the rest are frozen, as
     * `for p in model.parameters(): p.requires_grad = False` before a new fc is */
    Expr *tr = train_setting(d, "trainable");
    bool *used = tr ? ir_alloc((size_t)tr->nitems + 1) : NULL;
    for (int i = 0; i < np; i++) {
        const char *pn = TN(ps[i])->name ? TN(ps[i])->name : "";
        bool keep = !tr;
        for (int j = 0; tr && j < tr->nitems; j++) {
            size_t l = strlen(tr->items[j]->str);
            if (!strcmp(pn, tr->items[j]->str) || (!strncmp(pn, tr->items[j]->str, l) && pn[l] == '.'))
                keep = used[j] = true;
        }
        if (!keep) {
            L.group_rg[ps[i]->group] = false;
            lw_info(ps[i]->node)->rg = false;
            L.g->nodes[ps[i]->node].flags &= ~NF_TRAINABLE;
            ps[i] = NULL;
            continue;
        }
        if (L.group_rg[ps[i]->group]) {
            wrt[nw] = ps[i]->node;
            names[nw++] = TN(ps[i])->name;
        }
    }
    for (int j = 0; tr && j < tr->nitems; j++)
        if (!used[j])
            error_at(tr->items[j]->loc, "trainable: %s has no parameter named '%s' or inside a module '%s'", md->name,
                     tr->items[j]->str, tr->items[j]->str);
    int kept = 0; /* the optimizer takes the trainable parameters only */
    for (int i = 0; i < np; i++)
        if (ps[i])
            ps[kept++] = ps[i];
    np = kept;
    int seed = lw_filled(shape_scalar(), TN(loss)->dtype, mk_int(1), d->loc)->node;
    /* dL/d each parameter the loss reaches, as grad nodes that pass_autodiff expands; NF_GRAD:
     * memory planning keeps gradients beside their parameters */
    bool *reach = ir_grad_reach(L.g, loss->node, wrt, nw);
    for (int i = 0; i < nw; i++) {
        int in[3] = {loss->node, seed, wrt[i]};
        grads[i] = reach[wrt[i]] ? lw_add(OP_GRAD, in, 3, DT_F32, shape_scalar(), NULL, 0, loss_e->loc) : -1;
        if (grads[i] >= 0)
            L.g->nodes[grads[i]].flags |= NF_GRAD;
    }
    for (int i = 0; i < L.g->nnode; i++)
        if (i >= L.ninfo || !L.info)
            *lw_info(i) = (NodeInfo){.leaf = -1};
    /* the optimizer, from the block's setting */
    Args oa = {.loc = opt_e->loc, .fname = opt_e->lhs->str};
    Value **pos = ir_alloc(sizeof(Value *) * (size_t)(opt_e->nitems + 2));
    const char **kw = ir_alloc(sizeof(char *) * (size_t)(opt_e->nitems + 1));
    Value **kwv = ir_alloc(sizeof(Value *) * (size_t)(opt_e->nitems + 1));
    Value *plist = lw_mk(V_LIST);
    plist->items = ps;
    plist->n = np;
    pos[oa.npos++] = plist;
    for (int i = 0; i < opt_e->nitems; i++) {
        if (opt_e->names[i]) {
            kw[oa.nkw] = opt_e->names[i];
            kwv[oa.nkw++] = lw_eval(opt_e->items[i]);
        }
    }
    oa.pos = pos;
    oa.kw = kw;
    oa.kwv = kwv;
    Value *ov = make_optimizer(opt_e->lhs->str, &oa);
    int *assigns = ir_alloc(sizeof(int) * (size_t)(8 * nw + 4)), nassign = 0;
    L.no_grad = true;
    runtime_update(ov->optim, wrt, names, grads, nw, opt_e->loc, assigns, &nassign);
    L.no_grad = false;
    for (int i = 0; i < nassign; i += 2) {
        int in[2] = {assigns[i], assigns[i + 1]};
        int a = lw_add(OP_ASSIGN, in, 2, DT_F32, shape_scalar(), NULL, 0, opt_e->loc);
        L.g->nodes[a].flags |= NF_UPDATE;
    }
    for (int i = 0; i < nb; i++) {
        int in[2] = {bnodes[i], L.group_base[bgroups[i]]};
        if (in[1] == in[0])
            continue;
        int a = lw_add(OP_ASSIGN, in, 2, DT_F32, shape_scalar(), NULL, 0, d->loc);
        L.g->nodes[a].flags |= NF_UPDATE;
    }
    Graph *step = L.g;
    step->train = train_config(d, md, batch_e->ival, xin);
    L.g = step;
    return step;
}

/* ---- train blocks: checked here, compiled by the trainer ---- */

static const char *call_name(Expr *e) {
    if (e->kind != E_CALL)
        return NULL;
    Expr *c = e->lhs;
    if (c->kind == E_NAME || c->kind == E_ATTR)
        return c->str;
    return NULL;
}

/* lw_eval, with an error reported and NULL returned instead of a stop. */
static Value *eval_or_null(Expr *e) {
    Value *volatile val = NULL;
    jmp_buf here, *outer = diag_catch;
    diag_catch = &here;
    if (!setjmp(here))
        val = lw_eval(e);
    diag_catch = outer;
    L.eval_depth = 0;
    return val;
}

/* Checks an optimizer call's keywords and values against PyTorch's signature. */
static void check_optimizer(Expr *v) {
    const char *cn = call_name(v);
    bool sgd = !strcmp(cn, "SGD");
    static const char *sgd_keys[] = {"lr", "momentum", "dampening", "weight_decay", "nesterov"};
    static const char *adam_keys[] = {"lr", "betas", "eps", "weight_decay", "amsgrad"};
    const char *const *keys = sgd ? sgd_keys : adam_keys;
    int nkeys = 5;
    bool has_lr = !sgd; /* Adam has a default lr (1e-3); SGD does not */
    double momentum = 0, dampening = 0;
    bool nesterov = false;
    for (int i = 0; i < v->nitems; i++) {
        const char *k = v->names[i];
        Expr *e = v->items[i];
        if (!k) {
            diag_error(e->loc, "%s: give every setting by name, e.g. %s(lr=0.001)", cn, cn);
            continue;
        }
        int ki = -1;
        for (int j = 0; j < nkeys; j++)
            if (!strcmp(keys[j], k))
                ki = j;
        if (ki < 0) {
            const char *hint = diag_suggest(k, keys, nkeys);
            if (hint)
                diag_error(e->loc, "%s has no setting '%s'; did you mean '%s'?", cn, k, hint);
            else
                diag_error(e->loc, "%s has no setting '%s'", cn, k);
            continue;
        }
        Value *val = eval_or_null(e);
        if (!val)
            continue;
        if (!strcmp(k, "betas")) {
            if ((val->kind != V_TUPLE && val->kind != V_LIST) || val->n != 2 || !is_scalar(val->items[0]) ||
                !is_scalar(val->items[1]) || num(val->items[0]) < 0 || num(val->items[0]) >= 1 ||
                num(val->items[1]) < 0 || num(val->items[1]) >= 1)
                diag_error(e->loc, "betas must be a pair of numbers in [0, 1), e.g. (0.9, 0.999)");
        } else if (!strcmp(k, "nesterov") || !strcmp(k, "amsgrad")) {
            if (val->kind != V_BOOL)
                diag_error(e->loc, "%s must be true or false", k);
            else if (!strcmp(k, "amsgrad") && val->i)
                diag_error(e->loc, "amsgrad=True is not supported");
            else
                nesterov = val->i;
        } else if (!is_scalar(val) || val->kind == V_BOOL || num(val) < 0 || !isfinite(num(val))) {
            diag_error(e->loc, "%s must be a non-negative number", k);
        } else {
            if (!strcmp(k, "lr"))
                has_lr = true;
            if (!strcmp(k, "momentum"))
                momentum = num(val);
            if (!strcmp(k, "dampening"))
                dampening = num(val);
        }
    }
    if (!has_lr)
        diag_error(v->loc, "SGD needs a learning rate: SGD(lr=...)");
    if (nesterov && (momentum <= 0 || dampening != 0))
        diag_error(v->loc, "nesterov momentum requires a momentum and zero dampening");
}

/* Runs a model's forward pass once on an input of its declared type, so its errors show even
   when no program calls it. The first dimension, if symbolic, is `batch`; any other symbolic
   dimension leaves the model unchecked here (its size is unknown until a call). */
static void check_model(Decl *d, int64_t batch, SrcLoc at, const char *reason) {
    Graph *saved_g = L.g;
    Scope *saved_scope = L.scope;
    NodeInfo *saved_info = L.info;
    int saved_ninfo = L.ninfo;
    L.info = NULL;
    L.ninfo = 0;
    L.g = ir_new_graph(d->name);
    L.scope = L.globals;
    push_scope();
    Value **args = ir_alloc(sizeof(Value *) * (size_t)(d->nparams + 1));
    int nargs = 0;
    bool ok = true;
    for (int i = 0; i < d->nparams && ok; i++) {
        Param *p = &d->params[i];
        if (!is_tensor_type(p->type)) {
            ok = p->dflt != NULL; /* constructor arguments need defaults to be checked alone */
            continue;
        }
        Value *ty = lw_eval(p->type);
        if (ty->kind != V_TYPE)
            break;
        for (int k = 0; k < ty->shape.rank; k++)
            if (ty->sym && ty->sym[k]) {
                if (k == 0)
                    ty->shape.d[0] = batch;
                else
                    ok = false;
            }
        if (ok) {
            Attr a = attr_str("name", p->name);
            args[nargs++] = mk_tensor(lw_add(OP_INPUT, NULL, 0, ty->dt, ty->shape, &a, 1, p->loc));
        }
    }
    if (ok) {
        L.checking = reason;
        Args a = {.loc = at, .fname = d->name};
        Value *m = construct_model(d, &a);
        Args c = {.loc = at, .fname = d->name, .pos = args, .npos = nargs};
        module_call(m->mod, &c);
    }
    L.checking = NULL;
    L.g = saved_g;
    L.scope = saved_scope;
    L.info = saved_info;
    L.ninfo = saved_ninfo;
}

/* check_model, with errors reported and the run going on. */
static void check_model_recover(Decl *d, int64_t batch, SrcLoc at, const char *reason) {
    jmp_buf here, *outer = diag_catch;
    diag_catch = &here;
    Graph *g = L.g;
    Scope *s = L.scope;
    NodeInfo *ni = L.info;
    int nni = L.ninfo;
    if (setjmp(here)) {
        L.g = g;
        L.scope = s;
        L.info = ni;
        L.ninfo = nni;
        L.no_grad = false;
        L.ret = NULL;
        L.in_forward = false;
        L.depth_guard = 0;
        L.eval_depth = 0;
        L.ncallers = 0;
        L.checking = NULL;
    } else
        check_model(d, batch, at, reason);
    diag_catch = outer;
}

static void check_train(Decl *d) {
    Binding *m = find_in(L.globals, d->name);
    if (!m || m->v->kind != V_CLASS || !m->v->decl) {
        const char *cands[64];
        int n = 0;
        for (int i = 0; i < L.ast->ndecls && n < 64; i++)
            if (L.ast->decls[i]->kind == D_MODEL)
                cands[n++] = L.ast->decls[i]->name;
        const char *hint = diag_suggest(d->name, cands, n);
        if (hint)
            diag_error(d->loc, "train block names unknown model '%s'; did you mean '%s'?", d->name, hint);
        else
            diag_error(d->loc, "train block names unknown model '%s'", d->name);
    }
    static const char *keys[] = {"data", "test_data", "transform", "pad", "classes", "batch", "shuffle",
                                 "loss", "optimizer", "epochs", "log_every", "seed", "checkpoint", "trainable",
                                 "freeze_batchnorm"};
    const int nkeys = (int)(sizeof keys / sizeof keys[0]);
    bool seen[sizeof keys / sizeof keys[0]] = {0};
    for (int i = 0; i < d->nbody; i++) {
        Stmt *s = d->body[i];
        if (s->kind != S_ASSIGN || strcmp(s->op, "=") || s->target->kind != E_NAME) {
            diag_error(s->loc, "a train block holds 'key = value' settings only");
            continue;
        }
        const char *k = s->target->str;
        int ki = -1;
        for (int j = 0; j < nkeys; j++)
            if (!strcmp(keys[j], k))
                ki = j;
        if (ki < 0) {
            const char *hint = diag_suggest(k, keys, nkeys);
            if (hint)
                diag_error(s->target->loc, "unknown train setting '%s'; did you mean '%s'?", k, hint);
            else
                diag_error(s->target->loc, "unknown train setting '%s'", k);
            continue;
        }
        if (seen[ki])
            diag_error(s->target->loc, "train setting '%s' given twice", k);
        seen[ki] = true;
        Expr *v = s->value;
        const char *cn = call_name(v);
        if (!strcmp(k, "data") || !strcmp(k, "test_data")) {
            static const char *ok[] = {"cifar10", "mnist", "fashion_mnist", "idx"};
            bool good = cn && v->nitems >= 1 && v->items[0]->kind == E_STR;
            for (int j = 0; good && j < 4; j++)
                if (!strcmp(cn, ok[j])) break; else if (j == 3) good = false;
            if (!good)
                diag_error(v->loc, "%s must be cifar10(\"dir\"), mnist(\"dir\"), fashion_mnist(\"dir\") or idx(\"images\", \"labels\")", k);
        } else if (!strcmp(k, "transform")) {
            if (!cn || strcmp(cn, "normalize"))
                diag_error(v->loc, "transform must be normalize(mean=[...], std=[...])");
        } else if (!strcmp(k, "optimizer")) {
            if (!cn || (strcmp(cn, "SGD") && strcmp(cn, "Adam") && strcmp(cn, "AdamW")))
                diag_error(v->loc, "optimizer must be SGD(...), Adam(...) or AdamW(...)");
            else
                check_optimizer(v);
        } else if (!strcmp(k, "loss")) {
            if (v->kind != E_NAME || (strcmp(v->str, "cross_entropy") && strcmp(v->str, "mse_loss")))
                diag_error(v->loc, "loss must be cross_entropy or mse_loss");
        } else if (!strcmp(k, "classes")) {
            bool good = v->kind == E_LIST || v->kind == E_TUPLE;
            for (int j = 0; good && j < v->nitems; j++)
                good = v->items[j]->kind == E_STR;
            if (!good)
                diag_error(v->loc, "classes must be a list of strings");
        } else if (!strcmp(k, "shuffle") || !strcmp(k, "freeze_batchnorm")) {
            if (v->kind != E_BOOL)
                diag_error(v->loc, "%s must be true or false", k);
        } else if (!strcmp(k, "checkpoint")) {
            if (v->kind != E_STR)
                diag_error(v->loc, "checkpoint must be a file path string");
        } else if (!strcmp(k, "trainable")) {
            bool good = v->kind == E_LIST && v->nitems > 0;
            for (int j = 0; good && j < v->nitems; j++)
                good = v->items[j]->kind == E_STR;
            if (!good)
                diag_error(v->loc, "trainable must be a list of module or parameter names, e.g. [\"fc\"]");
        } else if (!strcmp(k, "pad")) {
            if (v->kind != E_INT || v->ival < 0)
                diag_error(v->loc, "pad must be a non-negative integer");
        } else {
            if (v->kind != E_INT || v->ival < (strcmp(k, "seed") ? 1 : 0))
                diag_error(v->loc, "%s must be a positive integer", k);
        }
    }
    if (m && m->v->kind == V_CLASS && m->v->decl) {
        int64_t batch = 1;
        for (int i = 0; i < d->nbody; i++)
            if (d->body[i]->kind == S_ASSIGN && d->body[i]->target->kind == E_NAME &&
                !strcmp(d->body[i]->target->str, "batch") && d->body[i]->value->kind == E_INT &&
                d->body[i]->value->ival > 0 && d->body[i]->value->ival <= (1 << 20))
                batch = d->body[i]->value->ival;
        check_model_recover(m->v->decl, batch, d->loc,
                            ir_fmt("run with a batch of %lld for this train block", (long long)batch));
    }
    static const char *required[] = {"data", "batch", "loss", "optimizer", "epochs"};
    for (int j = 0; j < 5; j++) {
        bool have = false;
        for (int i = 0; i < nkeys; i++)
            if (seen[i] && !strcmp(keys[i], required[j]))
                have = true;
        if (!have)
            diag_error(d->loc, "train block is missing the setting '%s'", required[j]);
    }
}

Lowered *lower_ast(Ast *ast) {
    memset(&L, 0, sizeof L);
    L.ast = ast;
    L.globals = push_scope();
    def_globals(ast);
    Lowered *out = ir_alloc(sizeof(Lowered));
    int nprog = 0;
    for (int i = 0; i < ast->ndecls; i++)
        nprog += ast->decls[i]->kind == D_PROGRAM;
    out->programs = ir_alloc(sizeof(LoweredProgram) * (size_t)(nprog ? nprog : 1));
    for (int i = 0; i < ast->ndecls; i++) {
        Decl *d = ast->decls[i];
        if (d->kind == D_TRAIN) {
            int before = diag_nerrors;
            check_train(d);
            if (++out->ntrain > 1)
                diag_error(d->loc, "a file holds one train block; this is the second");
            else if (diag_nerrors == before) {
                jmp_buf here, *outer = diag_catch;
                diag_catch = &here;
                if (!setjmp(here))
                    out->train = lower_train(d);
                diag_catch = outer;
            }
            continue;
        }
        if (d->kind != D_PROGRAM)
            continue;
        for (int k = 0; k < out->nprograms; k++)
            if (!strcmp(out->programs[k].name, d->name))
                diag_error(d->loc, "program '%s' is defined twice", d->name);
        L.g = ir_new_graph(d->name);
        L.info = NULL;
        L.ninfo = 0;
        L.scope = L.globals;
        push_scope();
        exec_block(d->body, d->nbody);
        out->programs[out->nprograms++] = (LoweredProgram){L.g, d->name};
    }
    /* models that nothing instantiated are still checked, with a batch of 1 */
    for (int i = 0; i < ast->ndecls; i++)
        if (ast->decls[i]->kind == D_MODEL && !ast->decls[i]->used)
            check_model_recover(ast->decls[i], 1, ast->decls[i]->loc,
                                "checked with a batch of 1 (no program calls it)");
    return out;
}
