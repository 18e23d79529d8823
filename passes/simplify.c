/*
 * simplify.c: common subexpressions, constant folding and algebraic identities, then
 * dead-code elimination.
 *
 * Requires: a verified graph whose ASSIGNs (the optimizer's stores into parameters and their
 * state, which the lowering appends at the end of a training step) all come after every other
 * node. Then every read of a parameter happens before any store to it, so merging two reads,
 * or folding one, never moves a read across a store. The pass dies if a graph breaks that.
 * Produces: a new graph in topological order, ids renumbered, names and flags carried over,
 * and `train` shared with the input. Invalidates nothing else.
 *
 * One forward walk keeps a replacement map from old ids to new ones, so a node's inputs are
 * already simplified when it is visited. A binary op's splat operand (an OP_FULL beside an
 * operand of the node's shape) becomes a rank-0 constant, a C literal (splat_operand). Then
 * each node is tried in turn against
 *   1. the identities below: the node becomes one of its operands (or a simpler node);
 *   2. constant folding: every input is an OP_CONST or OP_FULL and the result has at most
 *      FOLD_MAX elements: the node becomes an OP_CONST with attribute `data`, as the frontend
 *      builds them (doubles for float dtypes, int64 for integers and bool, row-major);
 *   3. a hash table of the nodes kept so far (same op, inputs, attributes, dtype and shape):
 *      a node equal to an earlier one becomes that one.
 * The nodes this leaves unused are removed at the end, by pass_dce's rules.
 *
 * The result must be exact: a program prints the same bytes and a training step computes the
 * same losses, bit for bit, with and without this pass. Why each rule is:
 *   - CSE: the same pure op on the same values gives the same values. Sources with an identity
 *     or a side effect (input, param, rand, randn, load) and effects are never merged: two
 *     rand() calls draw different numbers. Attributes compare exactly (floats by bit pattern).
 *   - Folding (neg, abs, relu, not, cast, sqrt, add, sub, mul, div, maximum, minimum, the
 *     comparisons, and, or, reshape, expand, permute) computes what the generated C computes
 *     (codegen_c/frame.c, cg_unary and cg_binary), element by element, broadcasting as
 *     numpy does: f32 arithmetic in float, not double; i32/i64 add, sub, mul and neg wrap
 *     through unsigned; u8 wraps as C's conversions do; maximum/minimum as
 *     `a > b || a != a ? a : b`; comparisons and logic give 0/1; a cast from float to
 *     integer truncates. Bool arithmetic is left alone (the generated C stores 1 + 1 as a
 *     byte 2 there). Only operations whose result C and IEEE 754 fix
 *     exactly are folded (sqrt is correctly rounded; exp, log, tanh, sigmoid and pow come
 *     from a libm that may differ between this machine and the target, so they are not).
 *     Whatever C leaves undefined is not folded: integer division, abs of the most negative
 *     integer, a float cast to an integer type it does not fit. Nor is a result with a NaN
 *     in it: the IR and the generated literals write every NaN as one `nan`, which would
 *     lose the sign bit an .npy file or checkpoint would record.
 *   - Identities, each exact for every input including NaN, Inf and -0.0, and applied only
 *     where the operand has the node's own dtype and shape (arithmetic ones not on bool):
 *       x*1, 1*x, x/1   (IEEE: multiplying or dividing by one returns x, NaN and -0.0 too)
 *       x-0             (x - (+0.0) is x for every x, -0.0 - 0.0 being -0.0)
 *       x+(-0.0), (-0.0)+x for floats; x+0, 0+x for integers. Not x+0.0 for floats:
 *                       -0.0 + 0.0 is +0.0. Not x*0: NaN*0 and Inf*0 are NaN.
 *       neg(neg(x))     (a sign flip twice; integer negation wraps, so twice is x)
 *       cast to x's own dtype, reshape or expand to x's own shape
 *       reshape(reshape(x)) -> one reshape; permute(permute(x)) -> the composed permute,
 *       gone if that is the identity.
 *     The constant operand is an OP_CONST or OP_FULL whose every element, converted to the
 *     dtype as the generated C converts it, has the exact bits of 1, +0, -0 or 0.
 *     A node replaced by its operand (or by an equal node) gives it its name if it has none,
 *     its NF_OUTPUT flag (the loss or predict output, which the code generator looks up) and
 *     its NF_GRAD flag (where memory planning puts it; never onto a parameter or input).
 *     An operand that an ASSIGN stores into is never substituted: assign(q, p*1) must copy
 *     p's value from before the update, and assign(q, p) would read p at the store.
 */
#include "passes.h"

#include <math.h>
#include <string.h>

/* Largest result, in elements, that folding writes out as a literal. */
#define FOLD_MAX 64

/* ---- constant values, as the generated C holds them ---- */

/*
 * One element of a constant: f for float dtypes (an f32 value is held exactly in the double),
 * i for integer dtypes and bool, already wrapped into the dtype's range (bool is 0 or 1).
 */
typedef union {
    double f;
    int64_t i;
} Val;

/* An integer converted to dtype t as C converts it: modulo 2^bits (gcc and clang), bool != 0. */
static int64_t wrap(uint64_t u, DType t) {
    switch (t) {
    case DT_I32: return (int32_t)(uint32_t)u;
    case DT_U8: return (uint8_t)u;
    case DT_BOOL: return u != 0;
    default: return (int64_t)u;
    }
}

/*
 * Element k of a const (attribute data) or full (attribute value), converted as codegen_c's
 * cg_attr_literal() writes it into the generated C. False where that conversion is not the
 * plain one (a float written into an integer tensor): such a node is left alone.
 */
static bool src_val(const Node *n, int64_t k, Val *v) {
    const Attr *a = node_attr(n, n->op == OP_CONST ? "data" : "value");
    int64_t at = n->op == OP_CONST ? k : 0;
    if (!a || a->kind == A_STR || at >= a->n)
        return false;
    bool ints = a->kind == A_INT || a->kind == A_INTS;
    if (dtype_is_float(n->dtype)) {
        double d = ints ? (double)a->i[at] : a->f[at];
        v->f = n->dtype == DT_F32 ? (double)(float)d : d;
        return true;
    }
    if (!ints)
        return false;
    v->i = wrap((uint64_t)a->i[at], n->dtype);
    return true;
}

static bool is_src_const(const Node *n) { return n->op == OP_CONST || n->op == OP_FULL; }

/* Every element of n (a const or full) has exactly want's bits. */
static bool all_equal(const Node *n, Val want) {
    if (!is_src_const(n))
        return false;
    int64_t cnt = n->op == OP_FULL ? 1 : shape_numel(n->shape);
    bool fl = dtype_is_float(n->dtype);
    for (int64_t k = 0; k < cnt; k++) {
        Val v;
        if (!src_val(n, k, &v))
            return false;
        if (fl ? memcmp(&v.f, &want.f, sizeof(double)) != 0 : v.i != want.i)
            return false;
    }
    return true;
}

/* ---- folding: one element at a time, as cg_unary/cg_binary in codegen_c/frame.c ---- */

/* cast from dtype it to t. */
static bool eval_cast(DType it, DType t, Val a, Val *r) {
    bool fin = dtype_is_float(it), fout = dtype_is_float(t);
    if (t == DT_BOOL)
        r->i = fin ? a.f != 0 : a.i != 0; /* (a != 0): NaN is true */
    else if (fin && fout)
        r->f = t == DT_F32 ? (double)(float)a.f : a.f;
    else if (!fin && fout)
        r->f = t == DT_F32 ? (double)(float)a.i : (double)a.i; /* one rounding, from the integer */
    else if (fin) {
        /* truncation toward zero; a value that does not fit is undefined behaviour in C */
        double tr = trunc(a.f);
        double lo = t == DT_I32 ? -2147483648.0 : t == DT_U8 ? 0.0 : -9223372036854775808.0;
        double hi = t == DT_I32 ? 2147483648.0 : t == DT_U8 ? 256.0 : 9223372036854775808.0;
        if (!(tr >= lo && tr < hi)) /* NaN fails too */
            return false;
        r->i = (int64_t)tr;
    } else
        r->i = wrap((uint64_t)a.i, t);
    return true;
}

/* Unary op with input dtype it and result dtype t; false: not folded. */
static bool eval_unary(Op op, DType it, DType t, Val a, Val *r) {
    bool fl = dtype_is_float(it);
    switch (op) {
    case OP_NEG:
        if (fl)
            r->f = -a.f; /* a sign flip, the same in float and double */
        else if (it == DT_BOOL)
            return false;
        else
            r->i = wrap(0 - (uint64_t)a.i, it);
        return true;
    case OP_ABS:
        if (fl) {
            r->f = fabs(a.f);
            return true;
        }
        /* (a < 0 ? -a : a): -a of the most negative value overflows, undefined in C */
        if ((it == DT_I32 && a.i == INT32_MIN) || (it == DT_I64 && a.i == INT64_MIN))
            return false;
        r->i = a.i < 0 ? -a.i : a.i;
        return true;
    case OP_RELU:
        if (fl)
            r->f = a.f < 0 ? 0.0 : a.f; /* -0.0 and NaN pass through */
        else
            r->i = a.i < 0 ? 0 : a.i;
        return true;
    case OP_NOT:
        r->i = a.i == 0;
        return true;
    case OP_SQRT: /* correctly rounded by IEEE 754, in either precision */
        r->f = it == DT_F32 ? (double)sqrtf((float)a.f) : sqrt(a.f);
        return true;
    case OP_CAST:
        return eval_cast(it, t, a, r);
    default:
        return false;
    }
}

/* Binary op on two values of dtype it; false: not folded. */
static bool eval_binary(Op op, DType it, Val a, Val b, Val *r) {
    if (dtype_is_float(it)) {
        double x = a.f, y = b.f; /* exact values: comparisons need no rounding */
        switch (op) {
        case OP_EQ: r->i = x == y; return true;
        case OP_NE: r->i = x != y; return true;
        case OP_LT: r->i = x < y; return true;
        case OP_LE: r->i = x <= y; return true;
        case OP_GT: r->i = x > y; return true;
        case OP_GE: r->i = x >= y; return true;
        case OP_MAXIMUM: r->f = x > y || x != x ? x : y; return true; /* NaN wins; of +-0 the second */
        case OP_MINIMUM: r->f = x < y || x != x ? x : y; return true;
        default: break;
        }
        if (it == DT_F32) {
            /* in float, each result rounded to float (C99: no excess precision past a cast) */
            float p = (float)x, q = (float)y, z;
            switch (op) {
            case OP_ADD: z = p + q; break;
            case OP_SUB: z = p - q; break;
            case OP_MUL: z = p * q; break;
            case OP_DIV: z = p / q; break;
            default: return false;
            }
            r->f = (double)z;
            return true;
        }
        switch (op) {
        case OP_ADD: r->f = x + y; return true;
        case OP_SUB: r->f = x - y; return true;
        case OP_MUL: r->f = x * y; return true;
        case OP_DIV: r->f = x / y; return true;
        default: return false;
        }
    }
    int64_t x = a.i, y = b.i;
    switch (op) {
    case OP_EQ: r->i = x == y; return true;
    case OP_NE: r->i = x != y; return true;
    case OP_LT: r->i = x < y; return true;
    case OP_LE: r->i = x <= y; return true;
    case OP_GT: r->i = x > y; return true;
    case OP_GE: r->i = x >= y; return true;
    case OP_MAXIMUM: r->i = x > y ? x : y; return true;
    case OP_MINIMUM: r->i = x < y ? x : y; return true;
    case OP_AND: r->i = x && y; return true;
    case OP_OR: r->i = x || y; return true;
    /* bool arithmetic stores non-0/1 bytes in the generated C; integer division is PyTorch's
     * true division there and C's truncating one here: neither is folded */
    case OP_ADD: if (it == DT_BOOL) return false; r->i = wrap((uint64_t)x + (uint64_t)y, it); return true;
    case OP_SUB: if (it == DT_BOOL) return false; r->i = wrap((uint64_t)x - (uint64_t)y, it); return true;
    case OP_MUL: if (it == DT_BOOL) return false; r->i = wrap((uint64_t)x * (uint64_t)y, it); return true;
    default: return false;
    }
}

static bool foldable(Op op) {
    switch (op) {
    case OP_NEG: case OP_ABS: case OP_RELU: case OP_NOT: case OP_CAST: case OP_SQRT:
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_MAXIMUM: case OP_MINIMUM:
    case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_AND: case OP_OR:
    case OP_RESHAPE: case OP_EXPAND: case OP_PERMUTE:
        return true;
    default:
        return false;
    }
}

/* Flat index into `in` (aligned right against `out`, size-1 axes broadcast) of out's element k. */
static int64_t bcast_at(Shape in, Shape out, int64_t k) {
    int64_t idx = 0, st = 1;
    for (int i = out.rank - 1, j = in.rank - 1; i >= 0; i--, j--) {
        int64_t c = k % out.d[i];
        k /= out.d[i];
        if (j >= 0) {
            if (in.d[j] != 1)
                idx += c * st;
            st *= in.d[j];
        }
    }
    return idx;
}

/* Flat index into `in` of element k of permute(in, perm): out axis i is in axis perm[i]. */
static int64_t permute_at(Shape in, const int64_t *perm, Shape out, int64_t k) {
    int64_t st[MAX_RANK], acc = 1;
    for (int i = in.rank - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= in.d[i];
    }
    int64_t idx = 0;
    for (int i = out.rank - 1; i >= 0; i--) {
        idx += (k % out.d[i]) * st[perm[i]];
        k /= out.d[i];
    }
    return idx;
}

/* Turns candidate c into an OP_CONST if its inputs are all constants; false if it is not. */
static bool fold(const Graph *out, Node *c) {
    int64_t cnt = shape_numel(c->shape);
    if (!foldable(c->op) || cnt > FOLD_MAX)
        return false;
    for (int k = 0; k < c->nin; k++)
        if (!is_src_const(&out->nodes[c->in[k]]))
            return false;
    const Node *x = &out->nodes[c->in[0]], *y = c->nin > 1 ? &out->nodes[c->in[1]] : NULL;
    OpKind kind = op_info[c->op].kind;
    bool fl = dtype_is_float(c->dtype);
    double *f = ir_alloc(sizeof(double) * (size_t)(cnt ? cnt : 1));
    int64_t *iv = ir_alloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
    for (int64_t e = 0; e < cnt; e++) {
        Val a, b, r;
        int64_t at = e; /* where element e of the result comes from in x: reshape keeps it */
        if (kind == K_BINARY || c->op == OP_EXPAND)
            at = bcast_at(x->shape, c->shape, e);
        else if (c->op == OP_PERMUTE)
            at = permute_at(x->shape, node_ints(c, "perm", NULL), c->shape, e);
        if (!src_val(x, at, &a))
            return false;
        if (kind == K_UNARY) {
            if (!eval_unary(c->op, x->dtype, c->dtype, a, &r))
                return false;
        } else if (kind == K_BINARY) {
            if (!src_val(y, bcast_at(y->shape, c->shape, e), &b) || !eval_binary(c->op, x->dtype, a, b, &r))
                return false;
        } else
            r = a; /* reshape, expand, permute move elements */
        if (fl && isnan(r.f))
            return false;
        if (fl)
            f[e] = r.f;
        else
            iv[e] = r.i;
    }
    Attr *data = ir_alloc(sizeof(Attr));
    *data = fl ? attr_floats("data", f, (int)cnt) : attr_ints("data", iv, (int)cnt);
    data->kind = fl ? A_FLOATS : A_INTS; /* a list even for one element, as the frontend writes them */
    c->op = OP_CONST;
    c->nin = 0;
    c->attr = data;
    c->nattr = 1;
    return true;
}

/* ---- identities ---- */

/* c's attributes with `key` replaced by v (a fresh array: c may share its original's). */
static void set_ints(Node *c, const char *key, const int64_t *v, int n) {
    Attr *attr = ir_alloc(sizeof(Attr) * (size_t)(c->nattr ? c->nattr : 1));
    for (int i = 0; i < c->nattr; i++) {
        attr[i] = c->attr[i];
        if (!strcmp(attr[i].key, key)) {
            attr[i] = attr_ints(key, v, n);
            attr[i].kind = A_INTS;
        }
    }
    c->attr = attr;
}

/*
 * The id of the operand candidate c equals, or -1. May rewrite c into a simpler node instead
 * (one reshape for two, one permute for two).
 */
static int identity(const Graph *out, Node *c) {
    if (!c->nin)
        return -1;
    const Node *a = &out->nodes[c->in[0]], *b = c->nin > 1 ? &out->nodes[c->in[1]] : NULL;
    DType t = c->dtype;
    bool fl = dtype_is_float(t), arith = t != DT_BOOL;
    Val one = {.i = 1}, zero = {.i = 0}, negzero;
    if (fl) {
        one.f = 1.0;
        zero.f = 0.0;
    }
    negzero.f = -0.0;
    int x = -1;
    switch (c->op) {
    case OP_MUL:
        if (arith && all_equal(b, one))
            x = a->id;
        else if (arith && all_equal(a, one))
            x = b->id;
        break;
    case OP_DIV:
        if (arith && all_equal(b, one))
            x = a->id;
        break;
    case OP_SUB:
        if (arith && all_equal(b, zero))
            x = a->id;
        break;
    case OP_ADD: {
        Val z = fl ? negzero : zero;
        if (arith && all_equal(b, z))
            x = a->id;
        else if (arith && all_equal(a, z))
            x = b->id;
        break;
    }
    case OP_NEG:
        if (a->op == OP_NEG)
            x = a->in[0];
        break;
    case OP_CAST:   /* to a's own dtype: the type check below */
    case OP_EXPAND: /* to a's own shape: likewise */
        x = a->id;
        break;
    case OP_RESHAPE:
        if (a->op == OP_RESHAPE) {
            c->in[0] = a->in[0];
            a = &out->nodes[a->in[0]];
        }
        x = a->id;
        break;
    case OP_PERMUTE: {
        int len, ilen;
        const int64_t *p = node_ints(c, "perm", &len);
        if (a->op == OP_PERMUTE) {
            const int64_t *ip = node_ints(a, "perm", &ilen);
            int64_t q[MAX_RANK];
            for (int i = 0; i < len; i++)
                q[i] = ip[p[i]];
            set_ints(c, "perm", q, len);
            c->in[0] = a->in[0];
            a = &out->nodes[a->in[0]];
            p = node_ints(c, "perm", &len);
        }
        bool ident = true;
        for (int i = 0; i < len; i++)
            ident &= p[i] == i;
        if (ident)
            x = a->id;
        break;
    }
    default:
        break;
    }
    /* an operand stands for the node only with the node's own type */
    if (x >= 0 && (out->nodes[x].dtype != c->dtype || !shape_eq(out->nodes[x].shape, c->shape)))
        return -1;
    return x;
}

/*
 * A binary op reading an OP_FULL (a splat: zero_grad's zeros, ones_like) beside an operand of
 * the node's own shape reads the splat as a rank-0 constant instead: the same values, so the
 * same results, and the code generators write a rank-0 constant as a C literal, so the splat
 * needs no buffer, no kernel and no pass over memory once nothing else reads it. That is what
 * makes optimizer.zero_grad(); loss.backward() in a loop cost what a train block's step costs:
 * each gradient is 0.0f + dL/dw (PyTorch's accumulation into zeros, -0.0 becoming +0.0),
 * added in the kernel that computes dL/dw where that kernel stores through an epilogue.
 * Only where the splat has the node's dtype: a rank-0 tensor does not take part in type
 * promotion as a dimensioned one does. Adds at most one node to out.
 */
static void splat_operand(Graph *out, Node *c) {
    if (op_info[c->op].kind != K_BINARY || !op_info[c->op].lit || c->op == OP_WHERE)
        return;
    for (int k = 0; k < 2; k++) {
        const Node *x = &out->nodes[c->in[k]], *o = &out->nodes[c->in[1 - k]];
        Val v;
        if (x->op != OP_FULL || x->shape.rank == 0 || is_src_const(o) || x->dtype != c->dtype ||
            o->dtype != c->dtype || !shape_eq(o->shape, c->shape) || !src_val(x, 0, &v))
            continue;
        bool fl = dtype_is_float(x->dtype);
        Attr *data = ir_alloc(sizeof(Attr));
        *data = fl ? attr_floats("data", &v.f, 1) : attr_ints("data", &v.i, 1);
        data->kind = fl ? A_FLOATS : A_INTS;
        c->in[k] = ir_add(out, OP_CONST, NULL, 0, x->dtype, shape_scalar(), data, 1, x->loc);
        return;
    }
}

/* ---- the table of kept nodes (CSE) ---- */

/* Nodes that may merge with an equal one: no identity, no side effect. */
static bool pure(const Node *n) {
    switch (n->op) {
    case OP_INPUT: case OP_PARAM: case OP_RAND: case OP_RANDN: case OP_BERNOULLI: case OP_RANDINT: case OP_RANDPERM:
    case OP_LOAD: case OP_OPTION:
        return false;
    default:
        return op_info[n->op].kind != K_EFFECT && !(n->flags & (NF_PARAM | NF_INPUT));
    }
}

static uint64_t mix(uint64_t h, uint64_t v) {
    h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

static uint64_t mix_str(uint64_t h, const char *s) {
    for (; *s; s++)
        h = mix(h, (unsigned char)*s);
    return mix(h, 0xff);
}

static uint64_t hash_node(const Node *n) {
    uint64_t h = mix(mix(mix(0, (uint64_t)n->op), (uint64_t)n->dtype), (uint64_t)n->shape.rank);
    for (int i = 0; i < n->shape.rank; i++)
        h = mix(h, (uint64_t)n->shape.d[i]);
    h = mix(h, (uint64_t)n->nin);
    for (int i = 0; i < n->nin; i++)
        h = mix(h, (uint64_t)n->in[i]);
    for (int i = 0; i < n->nattr; i++) {
        const Attr *a = &n->attr[i];
        h = mix(mix(mix_str(h, a->key), (uint64_t)a->kind), (uint64_t)a->n);
        for (int k = 0; a->kind != A_STR && k < a->n; k++) {
            uint64_t bits;
            if (a->kind == A_FLOAT || a->kind == A_FLOATS)
                memcpy(&bits, &a->f[k], sizeof bits);
            else
                bits = (uint64_t)a->i[k];
            h = mix(h, bits);
        }
        if (a->kind == A_STR)
            h = mix_str(h, a->s);
    }
    return h;
}

static bool same_attr(const Attr *a, const Attr *b) {
    if (strcmp(a->key, b->key) || a->kind != b->kind || a->n != b->n)
        return false;
    switch (a->kind) {
    case A_STR: return !strcmp(a->s, b->s);
    case A_FLOAT:
    case A_FLOATS: return !a->n || !memcmp(a->f, b->f, sizeof(double) * (size_t)a->n); /* by bits */
    default: return !a->n || !memcmp(a->i, b->i, sizeof(int64_t) * (size_t)a->n);
    }
}

static bool same_node(const Node *a, const Node *b) {
    if (a->op != b->op || a->dtype != b->dtype || !shape_eq(a->shape, b->shape) || a->nin != b->nin ||
        a->nattr != b->nattr)
        return false;
    for (int i = 0; i < a->nin; i++)
        if (a->in[i] != b->in[i])
            return false;
    for (int i = 0; i < a->nattr; i++)
        if (!same_attr(&a->attr[i], &b->attr[i]))
            return false;
    return true;
}

/* Open addressing, linear probing; slots hold new-graph id + 1, 0 = empty. Never more
 * entries than the input graph has nodes, so twice that many slots never fill. */
typedef struct {
    int *slot;
    uint64_t mask;
} Table;

static int *lookup(Table *t, const Graph *out, const Node *c) {
    uint64_t h = hash_node(c) & t->mask;
    while (t->slot[h] && !same_node(&out->nodes[t->slot[h] - 1], c))
        h = (h + 1) & t->mask;
    return &t->slot[h];
}

/* ---- the walk ---- */

/*
 * Node y is now x: x takes y's name if it has none, and y's NF_OUTPUT. Also y's NF_GRAD, so
 * that memory planning keeps a parameter's gradient with the parameters, unless x is a
 * parameter or input itself (the frontend marks no such node as a gradient either).
 */
static int replace(Graph *out, int x, const Node *y) {
    Node *n = &out->nodes[x];
    if (!n->name && y->name)
        n->name = y->name;
    n->flags |= y->flags & NF_OUTPUT;
    if (n->op != OP_PARAM && n->op != OP_INPUT && !(n->flags & (NF_PARAM | NF_INPUT)))
        n->flags |= y->flags & NF_GRAD;
    return x;
}

static int emit(Graph *out, const Node *c) {
    /* ir_add re-infers the type: a rewrite that changed it is a bug here */
    int id = ir_add(out, c->op, c->in, c->nin, c->dtype, c->shape, c->attr, c->nattr, c->loc);
    if (id < 0 || out->nodes[id].dtype != c->dtype || !shape_eq(out->nodes[id].shape, c->shape))
        die("simplify: a %s node no longer has its type %s", op_info[c->op].name, type_str(c->dtype, c->shape));
    out->nodes[id].flags = c->flags;
    out->nodes[id].name = c->name;
    return id;
}

Graph *pass_simplify(Graph *g) {
    bool *stored = ir_alloc((size_t)g->nnode + 1); /* old ids an ASSIGN stores into */
    bool after_assign = false;
    for (int i = 0; i < g->nnode; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_ASSIGN) {
            stored[n->in[0]] = true;
            after_assign = true;
        } else if (after_assign)
            die("simplify: %s node %%%d follows an assign; the pass assumes stores come last",
                op_info[n->op].name, i);
    }
    Graph *out = ir_new_graph(g->name);
    out->train = g->train;
    int *rep = ir_alloc(sizeof(int) * (size_t)(g->nnode + 1)); /* old id -> new id */
    bool *target = ir_alloc(2 * (size_t)g->nnode + 1); /* new ids an ASSIGN stores into (splat_operand
                                                          adds at most one node per node) */
    uint64_t cap = 2;
    while (cap < 2 * (uint64_t)g->nnode + 2)
        cap *= 2;
    Table t = {ir_alloc(sizeof(int) * cap), cap - 1};
    for (int i = 0; i < g->nnode; i++) {
        const Node *n = &g->nodes[i];
        Node c = *n;
        c.in = ir_alloc(sizeof(int) * (size_t)(n->nin + 1));
        for (int k = 0; k < n->nin; k++)
            c.in[k] = rep[n->in[k]];
        if (!pure(&c)) {
            rep[i] = emit(out, &c);
            target[rep[i]] = stored[i];
            continue;
        }
        splat_operand(out, &c);
        int x = identity(out, &c);
        if (x >= 0 && !target[x]) {
            rep[i] = replace(out, x, n);
            continue;
        }
        fold(out, &c);
        int *slot = lookup(&t, out, &c);
        if (*slot) {
            rep[i] = replace(out, *slot - 1, n);
            continue;
        }
        rep[i] = emit(out, &c);
        *slot = rep[i] + 1;
    }
    return pass_dce(out);
}
