/*
 * shape.c: static shape and dtype inference, one rule per op.
 *
 * ir_add() calls ir_infer() on every new node, so a shape error is found where
 * the node is built and reported at the .tg line that built it, naming both
 * shapes. The frontend resolves PyTorch's type promotion before it builds a
 * node (it inserts casts), so the IR keeps a simple invariant: the inputs of an
 * elementwise binary op, cat, matmul, linear and conv2d share one dtype.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

static const char *ts(const Graph *g, int id) {
    return type_str(g->nodes[id].dtype, g->nodes[id].shape);
}

static bool same_dtype(Graph *g, Node *n) {
    for (int i = 1; i < n->nin; i++)
        if (g->nodes[n->in[i]].dtype != g->nodes[n->in[0]].dtype) {
            diag_error(n->loc, "%s: operands have different dtypes, %s and %s", op_info[n->op].name,
                       ts(g, n->in[0]), ts(g, n->in[i]));
            return false;
        }
    return true;
}

/* where(cond, a, b): cond bool; a and b one dtype; the three shapes broadcast together. */
static bool infer_where(Graph *g, Node *n) {
    Node *c = &g->nodes[n->in[0]], *a = &g->nodes[n->in[1]], *b = &g->nodes[n->in[2]];
    if (c->dtype != DT_BOOL) {
        diag_error(n->loc, "where: the condition must be a bool tensor, got %s", ts(g, n->in[0]));
        return false;
    }
    if (a->dtype != b->dtype) {
        diag_error(n->loc, "where: operands have different dtypes, %s and %s", ts(g, n->in[1]), ts(g, n->in[2]));
        return false;
    }
    Shape ab;
    if (!shape_broadcast(a->shape, b->shape, &ab) || !shape_broadcast(c->shape, ab, &n->shape)) {
        diag_error(n->loc, "where: cannot broadcast %s, %s and %s", ts(g, n->in[0]), ts(g, n->in[1]), ts(g, n->in[2]));
        return false;
    }
    n->dtype = a->dtype;
    return true;
}

/*
 * gather, scatter_add, index_select, index_add: an axis of x and an i64 index. gather's index has
 * x's rank and at most x's size on every other axis (torch.gather); scatter_add's src at least the
 * index's size on every axis; index_select's index is 1-d and index_add's src is x with the
 * index's length on the axis. Index values are checked when the program runs (host code).
 */
static bool infer_indexed(Graph *g, Node *n) {
    const char *name = op_info[n->op].name;
    bool add = n->op == OP_SCATTER_ADD || n->op == OP_INDEX_ADD;
    Node *x = &g->nodes[n->in[0]], *ix = &g->nodes[n->in[1]], *src = add ? &g->nodes[n->in[2]] : NULL;
    int axis = (int)node_int(n, "axis", -1);
    if (axis < 0 || axis >= x->shape.rank) {
        diag_error(n->loc, "%s: axis %d is out of range for %s", name, axis, ts(g, n->in[0]));
        return false;
    }
    if (ix->dtype != DT_I64) {
        diag_error(n->loc, "%s: the index must be an int64 tensor, got %s", name, ts(g, n->in[1]));
        return false;
    }
    if (src && src->dtype != x->dtype) {
        diag_error(n->loc, "%s: src %s and self %s have different dtypes", name, ts(g, n->in[2]), ts(g, n->in[0]));
        return false;
    }
    n->dtype = x->dtype;
    if (n->op == OP_GATHER || n->op == OP_SCATTER_ADD) {
        if (ix->shape.rank != x->shape.rank || (src && src->shape.rank != x->shape.rank)) {
            diag_error(n->loc, "%s: index %s must have the rank of %s%s%s", name, ts(g, n->in[1]), ts(g, n->in[0]),
                       src ? " and src " : "", src ? ts(g, n->in[2]) : "");
            return false;
        }
        for (int k = 0; k < x->shape.rank; k++) {
            if (k != axis && ix->shape.d[k] > x->shape.d[k]) {
                diag_error(n->loc, "%s: index %s is larger than %s at dimension %d (only dimension %d may be)", name,
                           ts(g, n->in[1]), ts(g, n->in[0]), k, axis);
                return false;
            }
            if (src && ix->shape.d[k] > src->shape.d[k]) {
                diag_error(n->loc, "%s: index %s is larger than src %s at dimension %d", name, ts(g, n->in[1]),
                           ts(g, n->in[2]), k);
                return false;
            }
        }
        n->shape = n->op == OP_GATHER ? ix->shape : x->shape;
        return true;
    }
    if (ix->shape.rank != 1) {
        diag_error(n->loc, "%s: the index must be 1-d, got %s", name, ts(g, n->in[1]));
        return false;
    }
    Shape s = x->shape;
    s.d[axis] = ix->shape.d[0];
    if (src && !shape_eq(src->shape, s)) {
        diag_error(n->loc, "%s: src must be %s, got %s", name, shape_str(s), ts(g, n->in[2]));
        return false;
    }
    n->shape = src ? x->shape : s;
    return true;
}

/* Output size of one spatial axis of a convolution or pooling window. */
static int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    int64_t span = in + 2 * p - d * (k - 1) - 1;
    if (span < 0)
        return 0;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    /* PyTorch: with ceil_mode the last window must start inside the input or left padding. */
    if (ceil_mode && (out - 1) * s >= in + p)
        out--;
    return out;
}

static bool pair_attr(Graph *g, Node *n, const char *key, int64_t v[2], int64_t min) {
    (void)g;
    int len;
    const Attr *a = node_attr(n, key);
    if (!a || (a->kind != A_INT && a->kind != A_INTS)) {
        diag_error(n->loc, "%s: missing attribute '%s'", op_info[n->op].name, key);
        return false;
    }
    const int64_t *p = node_ints(n, key, &len);
    if (len != 1 && len != 2) {
        diag_error(n->loc, "%s: %s must have 1 or 2 values, got %d", op_info[n->op].name, key, len);
        return false;
    }
    v[0] = p[0];
    v[1] = len == 2 ? p[1] : p[0];
    /* bounded so that window arithmetic cannot overflow */
    if (v[0] > (1 << 24) || v[1] > (1 << 24)) {
        diag_error(n->loc, "%s: %s (%lld, %lld) is too large", op_info[n->op].name, key, (long long)v[0],
                   (long long)v[1]);
        return false;
    }
    if (v[0] < min || v[1] < min) {
        diag_error(n->loc, "%s: %s must be at least %lld, got (%lld, %lld)", op_info[n->op].name,
                   key, (long long)min, (long long)v[0], (long long)v[1]);
        return false;
    }
    return true;
}

/* Integer attributes a shape rule needs; IR text read from a file may lack them. */
static bool has_ints(Node *n, const char *const *keys, int nkeys) {
    for (int i = 0; i < nkeys; i++) {
        const Attr *a = node_attr(n, keys[i]);
        if (!a || (a->kind != A_INT && a->kind != A_INTS)) {
            diag_error(n->loc, "%s: missing integer attribute '%s'", op_info[n->op].name, keys[i]);
            return false;
        }
    }
    return true;
}

static bool infer_reduce(Graph *g, Node *n, Node *x) {
    if (!has_ints(n, (const char *[]){"axes"}, 1))
        return false;
    int naxes;
    const int64_t *axes = node_ints(n, "axes", &naxes);
    bool keep = node_int(n, "keepdim", 0) != 0;
    bool drop[MAX_RANK] = {0};
    for (int i = 0; i < naxes; i++) {
        if (axes[i] < 0 || axes[i] >= x->shape.rank || drop[axes[i]]) {
            diag_error(n->loc, "%s: bad reduction axis %lld for %s", op_info[n->op].name,
                       (long long)axes[i], ts(g, n->in[0]));
            return false;
        }
        drop[axes[i]] = true;
    }
    if (n->op == OP_ARGMAX && naxes != 1 && naxes != x->shape.rank) {
        diag_error(n->loc, "argmax reduces one axis or all of them");
        return false;
    }
    Shape s = {0};
    for (int i = 0; i < x->shape.rank; i++) {
        if (drop[i] && x->shape.d[i] == 0 && (n->op == OP_MAX || n->op == OP_MIN || n->op == OP_ARGMAX)) {
            diag_error(n->loc, "%s of an empty axis of %s", op_info[n->op].name, ts(g, n->in[0]));
            return false;
        }
        if (!drop[i])
            s.d[s.rank++] = x->shape.d[i];
        else if (keep)
            s.d[s.rank++] = 1;
    }
    n->shape = s;
    n->dtype = n->op == OP_ARGMAX ? DT_I64 : x->dtype;
    if (n->op == OP_MEAN && !dtype_is_float(x->dtype)) {
        diag_error(n->loc, "mean needs a floating-point input, got %s", ts(g, n->in[0]));
        return false;
    }
    return true;
}

static bool infer_slice(Graph *g, Node *n, Node *x, Shape *region) {
    if (!has_ints(n, (const char *[]){"start", "step", "size"}, 3))
        return false;
    int ns, nt, nz;
    const int64_t *start = node_ints(n, "start", &ns);
    const int64_t *step = node_ints(n, "step", &nt);
    const int64_t *size = node_ints(n, "size", &nz);
    if (ns != x->shape.rank || nt != ns || nz != ns) {
        diag_error(n->loc, "%s: start/step/size must have one value per axis of %s",
                   op_info[n->op].name, ts(g, n->in[0]));
        return false;
    }
    Shape s = {.rank = ns};
    for (int i = 0; i < ns; i++) {
        int64_t dim = x->shape.d[i];
        if (step[i] < 1 || size[i] < 0 || start[i] < 0 ||
            (size[i] > 0 && start[i] + (size[i] - 1) * step[i] >= dim)) {
            diag_error(n->loc, "slice out of range on axis %d of %s", i, ts(g, n->in[0]));
            return false;
        }
        s.d[i] = size[i];
    }
    *region = s;
    return true;
}

static bool infer_conv2d(Graph *g, Node *n) {
    if (n->nin != 2 && n->nin != 3) {
        diag_error(n->loc, "conv2d takes input, weight and an optional bias");
        return false;
    }
    Node *x = &g->nodes[n->in[0]], *w = &g->nodes[n->in[1]];
    if (x->shape.rank != 4) {
        diag_error(n->loc, "conv2d expects 4-D input (N, C, H, W), got %s", ts(g, n->in[0]));
        return false;
    }
    if (w->shape.rank != 4) {
        diag_error(n->loc, "conv2d expects a 4-D weight, got %s", ts(g, n->in[1]));
        return false;
    }
    int64_t st[2], pd[2], dl[2];
    if (!pair_attr(g, n, "stride", st, 1) || !pair_attr(g, n, "padding", pd, 0) ||
        !pair_attr(g, n, "dilation", dl, 1))
        return false;
    int64_t groups = node_int(n, "groups", 1);
    if (groups < 1 || x->shape.d[1] % groups || w->shape.d[0] % groups) {
        diag_error(n->loc, "conv2d: groups=%lld must divide both input channels (%lld) and output channels (%lld)",
                   (long long)groups, (long long)x->shape.d[1], (long long)w->shape.d[0]);
        return false;
    }
    if (w->shape.d[1] * groups != x->shape.d[1]) {
        diag_error(n->loc, "conv2d: weight %s expects %lld input channels, input is %s",
                   ts(g, n->in[1]), (long long)(w->shape.d[1] * groups), ts(g, n->in[0]));
        return false;
    }
    if (n->nin == 3) {
        Node *b = &g->nodes[n->in[2]];
        if (b->shape.rank != 1 || b->shape.d[0] != w->shape.d[0]) {
            diag_error(n->loc, "conv2d: bias %s does not match %lld output channels", ts(g, n->in[2]),
                       (long long)w->shape.d[0]);
            return false;
        }
    }
    int64_t oh = window_out(x->shape.d[2], w->shape.d[2], st[0], pd[0], dl[0], false);
    int64_t ow = window_out(x->shape.d[3], w->shape.d[3], st[1], pd[1], dl[1], false);
    if (oh < 1 || ow < 1) {
        diag_error(n->loc, "conv2d: kernel %lldx%lld is larger than the padded input %s",
                   (long long)w->shape.d[2], (long long)w->shape.d[3], ts(g, n->in[0]));
        return false;
    }
    n->shape = shape_make(4, (int64_t[]){x->shape.d[0], w->shape.d[0], oh, ow});
    n->dtype = x->dtype;
    return same_dtype(g, n);
}

/* max_pool2d and avg_pool2d (avg has no dilation attribute: it is 1). */
static bool infer_maxpool(Graph *g, Node *n) {
    Node *x = &g->nodes[n->in[0]];
    const char *name = op_info[n->op].name;
    if (x->shape.rank != 4 && x->shape.rank != 3) {
        diag_error(n->loc, "%s expects 3-D or 4-D input, got %s", name, ts(g, n->in[0]));
        return false;
    }
    int64_t k[2], st[2], pd[2], dl[2] = {1, 1};
    bool avg = n->op == OP_AVGPOOL2D || n->op == OP_AVGPOOL2D_BWD;
    if (!pair_attr(g, n, "kernel", k, 1) || !pair_attr(g, n, "stride", st, 1) ||
        !pair_attr(g, n, "padding", pd, 0) || (!avg && !pair_attr(g, n, "dilation", dl, 1)))
        return false;
    if (2 * pd[0] > k[0] || 2 * pd[1] > k[1]) {
        diag_error(n->loc, "%s: padding (%lld, %lld) must be at most half of the kernel (%lld, %lld)", name,
                   (long long)pd[0], (long long)pd[1], (long long)k[0], (long long)k[1]);
        return false;
    }
    bool ceil_mode = node_int(n, "ceil_mode", 0) != 0;
    int r = x->shape.rank;
    int64_t oh = window_out(x->shape.d[r - 2], k[0], st[0], pd[0], dl[0], ceil_mode);
    int64_t ow = window_out(x->shape.d[r - 1], k[1], st[1], pd[1], dl[1], ceil_mode);
    if (oh < 1 || ow < 1) {
        diag_error(n->loc, "%s: window %lldx%lld does not fit input %s", name, (long long)k[0],
                   (long long)k[1], ts(g, n->in[0]));
        return false;
    }
    n->shape = x->shape;
    n->shape.d[r - 2] = oh;
    n->shape.d[r - 1] = ow;
    n->dtype = x->dtype;
    return true;
}

/* Sources carry their data in attributes: check they are there and the right size. */
static bool check_source(Node *n) {
    const char *need = NULL;
    switch (n->op) {
    case OP_CONST: {
        const Attr *a = node_attr(n, "data");
        if (a && a->kind != A_STR && a->n == shape_numel(n->shape))
            return true;
        diag_error(n->loc, "const: attribute 'data' must hold %lld numbers", (long long)shape_numel(n->shape));
        return false;
    }
    case OP_FULL: need = "value"; break;
    case OP_ARANGE: need = "step"; break;
    case OP_RAND: need = "to"; break;
    case OP_RANDN: need = "std"; break;
    case OP_BERNOULLI: need = "p"; break;
    case OP_RANDINT: need = "high"; break;
    case OP_RANDPERM:
        if (n->shape.rank == 1 && n->dtype == DT_I64)
            return true;
        diag_error(n->loc, "randperm: the result is i64[n]");
        return false;
    case OP_LOAD: need = "path"; break;
    case OP_OPTION: need = "name"; break;
    case OP_PARAM: need = "init"; break;
    default: return true;
    }
    if (!node_attr(n, need)) {
        diag_error(n->loc, "%s: missing attribute '%s'", op_info[n->op].name, need);
        return false;
    }
    return true;
}

static bool print_format_ok(const Node *n);

/* print's format: literal text and {input:kind[:spec]} holes naming existing inputs. */
static bool check_effect(Graph *g, Node *n) {
    if (n->op == OP_SAVE && !node_attr(n, "path")) {
        diag_error(n->loc, "save: missing attribute 'path'");
        return false;
    }
    if (n->op == OP_ASSIGN) {
        Node *dst = &g->nodes[n->in[0]], *src = &g->nodes[n->in[1]];
        if (dst->op != OP_PARAM || dst->dtype != src->dtype || !shape_eq(dst->shape, src->shape)) {
            diag_error(n->loc, "assign: the target must be a param of the value's type, got %s and %s",
                       ts(g, n->in[0]), ts(g, n->in[1]));
            return false;
        }
        return true;
    }
    if (n->op != OP_PRINT)
        return true;
    return print_format_ok(n);
}

/* A string hole's table, ":T|...": T a table of the print's "strings" attribute, each table its
 * entries ended by \x1f, then \x1e (codegen_c/host.c reads them so). */
static bool print_table_ok(const Node *n, const char *hole) {
    char *end;
    long t = *hole == ':' ? strtol(hole + 1, &end, 10) : -1;
    if (t < 0 || *end != '|')
        return false;
    const char *s = node_str(n, "strings", "");
    for (long i = 0; i <= t; i++) {
        const char *e = strchr(s, '\x1e');
        if (!e || e == s)
            return false;
        s = e + 1;
    }
    return true;
}

static bool print_format_ok(const Node *n) {
    const char *f = node_str(n, "fmt", NULL);
    if (!f) {
        diag_error(n->loc, "print: missing attribute 'fmt'");
        return false;
    }
    for (const char *p = f; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            p++;
            continue;
        }
        if (*p != '{')
            continue;
        char *end;
        long k = strtol(p + 1, &end, 10);
        if (end == p + 1 || k < 0 || k >= n->nin || *end != ':' || !strchr("tnps", end[1]) || end[1] == 0 ||
            !strchr(end, '}')) {
            diag_error(n->loc, "print: bad hole in format \"%s\"", f);
            return false;
        }
        if (end[1] == 's' && !print_table_ok(n, end + 2)) { /* {k:s:T|spec}: table T of "strings" */
            diag_error(n->loc, "print: hole \"%.*s\" names no table of its \"strings\"", (int)(strchr(end, '}') - p + 1), p);
            return false;
        }
        p = strchr(end, '}');
    }
    return true;
}

bool ir_infer(Graph *g, Node *n) {
    const OpInfo *info = &op_info[n->op];
    if (info->arity >= 0 && n->nin != info->arity) {
        diag_error(n->loc, "%s takes %d input%s, got %d", info->name, info->arity,
                   info->arity == 1 ? "" : "s", n->nin);
        return false;
    }
    Node *x = n->nin ? &g->nodes[n->in[0]] : NULL;
    switch (info->kind) {
    case K_SRC:
        return check_source(n); /* type given by the builder */
    case K_EFFECT:
        n->shape = shape_scalar();
        n->dtype = DT_F32;
        return check_effect(g, n);
    case K_UNARY:
        n->shape = x->shape;
        switch (n->op) {
        case OP_CAST:
            return true;
        case OP_NOT:
            if (x->dtype != DT_BOOL) {
                diag_error(n->loc, "logical not needs a bool tensor, got %s", ts(g, n->in[0]));
                return false;
            }
            n->dtype = DT_BOOL;
            return true;
        case OP_NEG:
            if (x->dtype == DT_BOOL) {
                diag_error(n->loc, "negation of a bool tensor is not supported; use 'not'");
                return false;
            }
            n->dtype = x->dtype;
            return true;
        case OP_RELU: case OP_ABS:
            n->dtype = x->dtype;
            return true;
        default:
            if (!dtype_is_float(x->dtype)) {
                diag_error(n->loc, "%s needs a floating-point tensor, got %s", info->name, ts(g, n->in[0]));
                return false;
            }
            n->dtype = x->dtype;
            return true;
        }
    case K_BINARY: {
        Node *y = &g->nodes[n->in[1]];
        if (n->op == OP_WHERE)
            return infer_where(g, n);
        if (!same_dtype(g, n))
            return false;
        if (!shape_broadcast(x->shape, y->shape, &n->shape)) {
            diag_error(n->loc, "cannot broadcast %s with %s", ts(g, n->in[0]), ts(g, n->in[1]));
            return false;
        }
        if ((n->op == OP_AND || n->op == OP_OR) && x->dtype != DT_BOOL) {
            diag_error(n->loc, "'%s' needs bool tensors, got %s", info->name, ts(g, n->in[0]));
            return false;
        }
        bool cmp = n->op >= OP_EQ && n->op <= OP_GE;
        n->dtype = cmp ? DT_BOOL : x->dtype;
        return true;
    }
    case K_REDUCE:
        return infer_reduce(g, n, x);
    case K_MOVE:
        break;
    case K_NN:
        break;
    }

    switch (n->op) {
    case OP_RESHAPE: {
        if (!has_ints(n, (const char *[]){"shape"}, 1))
            return false;
        int len;
        const int64_t *d = node_ints(n, "shape", &len);
        if (len > MAX_RANK) {
            diag_error(n->loc, "reshape to more than %d dimensions", MAX_RANK);
            return false;
        }
        Shape s = shape_make(len, d);
        for (int i = 0; i < len; i++)
            if (d[i] < 0) {
                diag_error(n->loc, "reshape: negative size %lld", (long long)d[i]);
                return false;
            }
        if (shape_numel(s) != shape_numel(x->shape)) {
            diag_error(n->loc, "cannot reshape %s (%lld elements) to %s", ts(g, n->in[0]),
                       (long long)shape_numel(x->shape), shape_str(s));
            return false;
        }
        n->shape = s;
        n->dtype = x->dtype;
        return true;
    }
    case OP_PERMUTE: {
        if (!has_ints(n, (const char *[]){"perm"}, 1))
            return false;
        int len;
        const int64_t *p = node_ints(n, "perm", &len);
        bool seen[MAX_RANK] = {0};
        if (len != x->shape.rank) {
            diag_error(n->loc, "permute: %d axes given for %s", len, ts(g, n->in[0]));
            return false;
        }
        n->shape.rank = len;
        for (int i = 0; i < len; i++) {
            if (p[i] < 0 || p[i] >= len || seen[p[i]]) {
                diag_error(n->loc, "permute: bad axis order for %s", ts(g, n->in[0]));
                return false;
            }
            seen[p[i]] = true;
            n->shape.d[i] = x->shape.d[p[i]];
        }
        n->dtype = x->dtype;
        return true;
    }
    case OP_SLICE:
        n->dtype = x->dtype;
        return infer_slice(g, n, x, &n->shape);
    case OP_SELECT: case OP_SETSELECT: {
        int axis = (int)node_int(n, "axis", -1);
        Node *ix = &g->nodes[n->in[n->op == OP_SELECT ? 1 : 2]];
        if (axis < 0 || axis >= x->shape.rank || ix->dtype != DT_I64 || ix->shape.rank != 0) {
            diag_error(n->loc, "%s needs an axis of %s and an i64[] index, got %s", op_info[n->op].name, ts(g, n->in[0]),
                       ts(g, ix->id));
            return false;
        }
        Shape sel = {0};
        for (int k = 0; k < x->shape.rank; k++)
            if (k != axis)
                sel.d[sel.rank++] = x->shape.d[k];
        n->dtype = x->dtype;
        if (n->op == OP_SELECT) {
            n->shape = sel;
            return true;
        }
        Node *v = &g->nodes[n->in[1]];
        if (!shape_eq(v->shape, sel) || v->dtype != x->dtype) {
            diag_error(n->loc, "cannot assign %s to x[i] of %s", ts(g, n->in[1]), ts(g, n->in[0]));
            return false;
        }
        n->shape = x->shape;
        return true;
    }
    case OP_GATHER: case OP_SCATTER_ADD: case OP_INDEX_SELECT: case OP_INDEX_ADD:
        return infer_indexed(g, n);
    case OP_ORTHOGONAL:
        if (x->dtype != DT_F64 || x->shape.rank != 2 || x->shape.d[0] < x->shape.d[1]) {
            diag_error(n->loc, "orthogonal needs an f64 matrix with no more columns than rows, got %s", ts(g, n->in[0]));
            return false;
        }
        n->dtype = DT_F64;
        n->shape = x->shape;
        return true;
    case OP_SETSLICE: {
        Shape region, b;
        if (!infer_slice(g, n, x, &region))
            return false;
        Node *v = &g->nodes[n->in[1]];
        if (!shape_broadcast(region, v->shape, &b) || !shape_eq(b, region)) {
            diag_error(n->loc, "cannot assign %s to a slice of shape %s", ts(g, n->in[1]),
                       shape_str(region));
            return false;
        }
        n->shape = x->shape;
        n->dtype = x->dtype;
        return same_dtype(g, n);
    }
    case OP_EXPAND: {
        if (!has_ints(n, (const char *[]){"shape"}, 1))
            return false;
        int len;
        const int64_t *d = node_ints(n, "shape", &len);
        Shape s = shape_make(len, d), b;
        if (len > MAX_RANK || !shape_broadcast(x->shape, s, &b) || !shape_eq(b, s)) {
            diag_error(n->loc, "cannot expand %s to %s", ts(g, n->in[0]), shape_str(s));
            return false;
        }
        n->shape = s;
        n->dtype = x->dtype;
        return true;
    }
    case OP_CAT: {
        if (n->nin < 1) {
            diag_error(n->loc, "cat needs at least one tensor");
            return false;
        }
        int64_t axis = node_int(n, "axis", 0);
        if (axis < 0 || axis >= x->shape.rank) {
            diag_error(n->loc, "cat: axis %lld out of range for %s", (long long)axis, ts(g, n->in[0]));
            return false;
        }
        Shape s = x->shape;
        for (int i = 1; i < n->nin; i++) {
            Node *y = &g->nodes[n->in[i]];
            bool ok = y->shape.rank == s.rank;
            for (int k = 0; ok && k < s.rank; k++)
                ok = k == axis || y->shape.d[k] == s.d[k];
            if (!ok) {
                diag_error(n->loc, "cat along axis %lld: %s and %s do not match", (long long)axis,
                           ts(g, n->in[0]), ts(g, n->in[i]));
                return false;
            }
            s.d[axis] += y->shape.d[axis];
        }
        n->shape = s;
        n->dtype = x->dtype;
        return same_dtype(g, n);
    }
    case OP_MATMUL: {
        Node *y = &g->nodes[n->in[1]];
        if (x->shape.rank < 2 || y->shape.rank < 2) {
            diag_error(n->loc, "matmul node needs operands of rank 2 or more, got %s and %s",
                       ts(g, n->in[0]), ts(g, n->in[1]));
            return false;
        }
        int64_t m = x->shape.d[x->shape.rank - 2], k = x->shape.d[x->shape.rank - 1];
        int64_t k2 = y->shape.d[y->shape.rank - 2], nn = y->shape.d[y->shape.rank - 1];
        if (k != k2) {
            diag_error(n->loc, "matmul: %s @ %s: inner sizes %lld and %lld differ", ts(g, n->in[0]),
                       ts(g, n->in[1]), (long long)k, (long long)k2);
            return false;
        }
        Shape bx = x->shape, by = y->shape, b;
        bx.rank -= 2;
        by.rank -= 2;
        if (!shape_broadcast(bx, by, &b)) {
            diag_error(n->loc, "matmul: batch dimensions of %s and %s do not broadcast",
                       ts(g, n->in[0]), ts(g, n->in[1]));
            return false;
        }
        b.d[b.rank++] = m;
        b.d[b.rank++] = nn;
        n->shape = b;
        n->dtype = x->dtype;
        return same_dtype(g, n);
    }
    case OP_LINEAR: {
        if (n->nin != 2 && n->nin != 3) {
            diag_error(n->loc, "linear takes input, weight and an optional bias");
            return false;
        }
        Node *w = &g->nodes[n->in[1]];
        if (x->shape.rank < 1 || w->shape.rank != 2 || x->shape.d[x->shape.rank - 1] != w->shape.d[1]) {
            diag_error(n->loc, "linear: input %s does not match weight %s (in_features %lld)",
                       ts(g, n->in[0]), ts(g, n->in[1]), w->shape.rank == 2 ? (long long)w->shape.d[1] : -1LL);
            return false;
        }
        if (n->nin == 3) {
            Node *b = &g->nodes[n->in[2]];
            if (b->shape.rank != 1 || b->shape.d[0] != w->shape.d[0]) {
                diag_error(n->loc, "linear: bias %s does not match %lld output features",
                           ts(g, n->in[2]), (long long)w->shape.d[0]);
                return false;
            }
        }
        n->shape = x->shape;
        n->shape.d[n->shape.rank - 1] = w->shape.d[0];
        n->dtype = x->dtype;
        return same_dtype(g, n);
    }
    case OP_CONV2D:
        return infer_conv2d(g, n);
    case OP_MAXPOOL2D:
    case OP_AVGPOOL2D:
        return infer_maxpool(g, n);
    case OP_CROSS_ENTROPY:
    case OP_CROSS_ENTROPY_BWD: {
        Node *t = &g->nodes[n->in[1]];
        if (x->shape.rank != 2 || !dtype_is_float(x->dtype)) {
            diag_error(n->loc, "cross_entropy expects float logits of shape (N, C), got %s", ts(g, n->in[0]));
            return false;
        }
        if (t->dtype != DT_I64 || t->shape.rank != 1 || t->shape.d[0] != x->shape.d[0]) {
            diag_error(n->loc, "cross_entropy expects i64 class indices of shape (%lld), got %s",
                       (long long)x->shape.d[0], ts(g, n->in[1]));
            return false;
        }
        const char *red = node_str(n, "reduction", "mean");
        if (strcmp(red, "mean") && strcmp(red, "sum") && strcmp(red, "none")) {
            diag_error(n->loc, "cross_entropy: reduction must be 'mean', 'sum' or 'none', got '%s'", red);
            return false;
        }
        Shape ls = strcmp(red, "none") ? shape_scalar() : shape_make(1, x->shape.d);
        if (n->op == OP_CROSS_ENTROPY_BWD) {
            Node *dy = &g->nodes[n->in[2]];
            if (!shape_eq(dy->shape, ls) || dy->dtype != x->dtype) {
                diag_error(n->loc, "cross_entropy_bwd: the loss gradient must be %s", type_str(x->dtype, ls));
                return false;
            }
            n->shape = x->shape;
        } else
            n->shape = ls;
        n->dtype = x->dtype;
        return true;
    }
    case OP_GRAD: {
        /* grad(y, dy, x): dy is a gradient of y, x any float value; the result is dL/dx */
        Node *dy = &g->nodes[n->in[1]], *w = &g->nodes[n->in[2]];
        if (!shape_eq(dy->shape, x->shape) || dy->dtype != x->dtype || !dtype_is_float(x->dtype)) {
            diag_error(n->loc, "grad: the seed %s must have the type of the differentiated value %s", ts(g, n->in[1]),
                       ts(g, n->in[0]));
            return false;
        }
        if (!dtype_is_float(w->dtype)) {
            diag_error(n->loc, "grad: only a float value has a gradient, got %s", ts(g, n->in[2]));
            return false;
        }
        n->shape = w->shape;
        n->dtype = w->dtype;
        return true;
    }
    case OP_CONV2D_BWD_INPUT:
    case OP_CONV2D_BWD_WEIGHT: {
        /* the result's shape is an attribute; a forward conv2d over it must give back dL/dy's shape */
        if (!has_ints(n, (const char *[]){"shape"}, 1))
            return false;
        int len;
        const int64_t *d = node_ints(n, "shape", &len);
        if (len != 4) {
            diag_error(n->loc, "%s: shape must have 4 dimensions", info->name);
            return false;
        }
        Node *dy = n->op == OP_CONV2D_BWD_INPUT ? x : &g->nodes[n->in[1]];
        Node *other = n->op == OP_CONV2D_BWD_INPUT ? &g->nodes[n->in[1]] : x; /* w, or x */
        Graph probe = {.name = "probe"};
        Node nodes[4];
        Shape s = shape_make(4, d);
        nodes[0] = (Node){.op = OP_INPUT, .id = 0, .dtype = dy->dtype,
                          .shape = n->op == OP_CONV2D_BWD_INPUT ? s : other->shape};
        nodes[1] = (Node){.op = OP_INPUT, .id = 1, .dtype = dy->dtype,
                          .shape = n->op == OP_CONV2D_BWD_INPUT ? other->shape : s};
        int in[2] = {0, 1};
        nodes[2] = (Node){.op = OP_CONV2D, .id = 2, .nin = 2, .in = in, .nattr = n->nattr, .attr = n->attr, .loc = n->loc};
        probe.nodes = nodes;
        probe.nnode = 3;
        if (!infer_conv2d(&probe, &nodes[2]))
            return false;
        if (!shape_eq(nodes[2].shape, dy->shape)) {
            diag_error(n->loc, "%s: dL/dy %s does not match the convolution's output %s", info->name,
                       ts(g, dy->id), type_str(dy->dtype, nodes[2].shape));
            return false;
        }
        n->shape = s;
        n->dtype = dy->dtype;
        return true;
    }
    case OP_MAXPOOL2D_ARGMAX: {
        Node tmp = *n;
        tmp.op = OP_MAXPOOL2D;
        if (!infer_maxpool(g, &tmp))
            return false;
        int64_t k[2];
        pair_attr(g, n, "kernel", k, 1);
        if (k[0] * k[1] > 255) {
            diag_error(n->loc, "max_pool2d_argmax: a %lldx%lld window has more positions than a u8 code holds",
                       (long long)k[0], (long long)k[1]);
            return false;
        }
        n->shape = tmp.shape;
        n->dtype = DT_U8;
        return true;
    }
    case OP_MAXPOOL2D_BWD_AT: {
        /* the input's shape is an attribute; pooling it must give the codes' and dL/dy's shape */
        Node *dy = &g->nodes[n->in[1]];
        if (!has_ints(n, (const char *[]){"shape"}, 1))
            return false;
        int len;
        const int64_t *d = node_ints(n, "shape", &len);
        if (len < 3 || len > MAX_RANK || x->dtype != DT_U8 || !dtype_is_float(dy->dtype)) {
            diag_error(n->loc, "max_pool2d_bwd_at expects u8 codes, float dL/dy and a shape of 3 or 4 dimensions");
            return false;
        }
        Graph probe = {.name = "probe"};
        Node nodes[2];
        nodes[0] = (Node){.op = OP_INPUT, .id = 0, .dtype = dy->dtype, .shape = shape_make(len, d)};
        int in[1] = {0};
        nodes[1] = (Node){.op = OP_MAXPOOL2D, .id = 1, .nin = 1, .in = in, .nattr = n->nattr, .attr = n->attr, .loc = n->loc};
        probe.nodes = nodes;
        probe.nnode = 2;
        if (!infer_maxpool(&probe, &nodes[1]))
            return false;
        if (!shape_eq(nodes[1].shape, dy->shape) || !shape_eq(nodes[1].shape, x->shape)) {
            diag_error(n->loc, "max_pool2d_bwd_at: codes %s and dL/dy %s must both be the pooling output %s",
                       ts(g, n->in[0]), ts(g, n->in[1]), type_str(dy->dtype, nodes[1].shape));
            return false;
        }
        n->shape = shape_make(len, d);
        n->dtype = dy->dtype;
        return true;
    }
    case OP_MAXPOOL2D_BWD:
    case OP_AVGPOOL2D_BWD: {
        Node *dy = &g->nodes[n->in[1]];
        Node tmp = *n;
        tmp.op = n->op == OP_MAXPOOL2D_BWD ? OP_MAXPOOL2D : OP_AVGPOOL2D;
        tmp.nin = 1;
        if (!infer_maxpool(g, &tmp))
            return false;
        if (!shape_eq(tmp.shape, dy->shape)) {
            diag_error(n->loc, "max_pool2d_bwd: dL/dy %s does not match the pooling output %s", ts(g, n->in[1]),
                       type_str(tmp.dtype, tmp.shape));
            return false;
        }
        n->shape = x->shape;
        n->dtype = x->dtype;
        return true;
    }
    default:
        break;
    }
    die("no shape rule for %s", info->name);
}
