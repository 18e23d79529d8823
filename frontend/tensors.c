/*
 * tensors.c: tensor operations and creation, as PyTorch computes them.
 *
 * An operation checks its operands, takes its result's dtype from PyTorch's type promotion
 * (result_type: dimensioned tensors decide, then 0-d tensors, then Python scalars) and emits
 * nodes (lw_add), whose shape rules check the shapes. Views (indexing, view, transpose,
 * permute) are view steps of their operand's storage group (graph.c), so writing into one
 * writes into the tensor it views. Operators between compile-time numbers, strings, lists
 * and run-time text are evaluated here too (lw_binop), and tensor literals become constants.
 */
#include "lower.h"

#include <math.h>
#include <string.h>

/* ---- type promotion ---- */

/* PyTorch's category order: bool < integer < floating point. */
static int category(DType dt) { return dt == DT_BOOL ? 0 : dtype_is_float(dt) ? 2 : 1; }

int value_category(Value *v) {
    if (v->kind == V_BOOL) return 0;
    if (v->kind == V_INT) return 1;
    if (v->kind == V_FLOAT) return 2;
    return category(TN(v)->dtype);
}

DType promote_types(DType a, DType b) {
    if (a == b) return a;
    if (category(a) != category(b))
        return category(a) > category(b) ? a : b;
    if (category(a) == 2) return DT_F64;        /* f32 with f64 */
    /* integers: the wider signed type; u8 with i32 -> i32 */
    if (a == DT_I64 || b == DT_I64) return DT_I64;
    if (a == DT_I32 || b == DT_I32) return DT_I32;
    return DT_U8;
}

DType default_dtype_for(int cat) { return cat == 2 ? DT_F32 : cat == 1 ? DT_I64 : DT_BOOL; }

/*
 * torch.result_type for two operands: dimensioned tensors decide, then
 * zero-dimensional tensors, then Python scalars, a lower tier only winning
 * when its category is higher (a float scalar makes an int tensor float).
 */
DType result_type(Value *a, Value *b) {
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

/* ---- tensor operations ---- */

/* Names the grad_fn PyTorch would show for the tensor (printing only). */
Value *named_fn(Value *v, Value *from, const char *fn) {
    if (v != from && v->kind == V_TENSOR)
        lw_info(v->node)->fn = fn;
    return v;
}

Value *lw_result(int node, Value *a, Value *b) {
    Value *v = mk_tensor(node);
    if ((a && a->kind == V_TENSOR && (a->tflags & TV_NUMPY)) || (b && b->kind == V_TENSOR && (b->tflags & TV_NUMPY)))
        v->tflags |= TV_NUMPY;
    return v;
}

/* Python's float floor division (CPython's float_floor_div): the quotient rounded down, exact
 * where a / b rounds across an integer. */
static double py_floordiv(double a, double b) {
    double mod = fmod(a, b), div = (a - mod) / b;
    if (mod != 0 && (b < 0) != (mod < 0))
        div -= 1.0;
    if (div == 0)
        return copysign(0.0, a / b);
    double fl = floor(div);
    return div - fl > 0.5 ? fl + 1.0 : fl;
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
    if (!strcmp(op, "//")) {
        if (y == 0) error_at(loc, "%s division by zero", fl ? "float floor" : "integer");
        if (fl) return mk_float(py_floordiv(x, y));
        if (i == INT64_MIN && j == -1) int_overflow(loc);
        int64_t q = i / j; if (i % j != 0 && (i < 0) != (j < 0)) q--; return mk_int(q);
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

/* The op of a binary operator on tensors (those of add() and the like are in the builtin table). */
static Op binop_code(const char *op) {
    static const struct { const char *s; Op op; } t[] = {
        {"+", OP_ADD}, {"-", OP_SUB}, {"*", OP_MUL}, {"/", OP_DIV}, {"**", OP_POW}, {"//", OP_FLOORDIV}, {"%", OP_MOD},
        {"==", OP_EQ}, {"!=", OP_NE}, {"<", OP_LT}, {"<=", OP_LE}, {">", OP_GT}, {">=", OP_GE},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].s, op))
            return t[i].op;
    return OP_COUNT;
}

Value *tensor_binop(Op op, Value *a, Value *b, SrcLoc loc) {
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
        if (op == OP_POW || op == OP_FLOORDIV || op == OP_MOD)
            error_at(loc, "%s of bool tensors is not supported", op_info[op].name);
        if (op == OP_ADD) op = OP_OR;
        if (op == OP_MUL) op = OP_AND;
    }
    int x = as_node(a, dt, loc), y = as_node(b, dt, loc);
    Value *r = lw_result(lw_add2(op, x, y, loc), a, b);
    if (python)
        r->tflags |= TV_PYSCALAR;
    return r;
}

/* The truth of a one-element tensor or a number, as a bool node: Python's bool(x). */
static int truth_node(Value *v, const char *op, SrcLoc loc) {
    if (is_scalar(v))
        return const_scalar(mk_bool(num(v) != 0), DT_BOOL, loc);
    Node *n = TN(v);
    if (shape_numel(n->shape) != 1)
        error_at(loc, "'%s': Boolean value of Tensor with more than one value is ambiguous (this one is %s); "
                      "compare elementwise instead (&, |)", op, type_str(n->dtype, n->shape));
    int x = lw_reshape(v->node, shape_scalar(), loc);
    return n->dtype == DT_BOOL ? x : lw_add2(OP_NE, x, const_scalar(mk_int(0), n->dtype, loc), loc);
}

/* a and b, a or b where one is known only at run time: both evaluated, the result a bool (Python
 * gives an operand; an if or a while only asks its truth). */
static Value *truth_binop(const char *op, Value *a, Value *b, SrcLoc loc) {
    int x = truth_node(a, op, loc), y = truth_node(b, op, loc);
    Value *r = lw_result(lw_add2(!strcmp(op, "and") ? OP_AND : OP_OR, x, y, loc), NULL, NULL);
    r->tflags |= TV_PYSCALAR;
    return r;
}

Value *lw_binop(const char *op, Value *a, Value *b, SrcLoc loc) {
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
        return truth_binop(op, a, b, loc);
    Op code = binop_code(op);
    if (code == OP_COUNT)
        error_at(loc, "operator '%s' is not supported for tensors", op);
    return tensor_binop(code, a, b, loc);
}

/* matmul with PyTorch's rules for 1-D operands and broadcast batch dimensions. */
Value *lw_matmul(Value *a, Value *b, SrcLoc loc) {
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

Value *unary_op(Op op, Value *a, SrcLoc loc) {
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
    if ((op == OP_EXP || op == OP_LOG || op == OP_SQRT || op == OP_TANH || op == OP_SIGMOID || op == OP_COS ||
         op == OP_SIN) &&
        !dtype_is_float(TN(a)->dtype))
        x = lw_cast(x, DT_F32, loc); /* torch promotes integers to the default float type */
    Value *r = lw_result(lw_add1(op, x, NULL, 0, loc), a, NULL);
    if ((op == OP_NEG || op == OP_ABS) && (a->tflags & TV_PYSCALAR))
        r->tflags |= TV_PYSCALAR; /* -x and abs(x) of a Python number are Python numbers */
    return r;
}

/* sum/mean/max/min/argmax over `dim` (None = all), keepdim. */
Value *lw_reduce(Op op, Value *a, Value *dim, bool keepdim, SrcLoc loc) {
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

Value *lw_tuple2(Value *a, Value *b) {
    Value *t = lw_mk(V_TUPLE);
    t->n = 2;
    t->items = ir_alloc(sizeof(Value *) * 2);
    t->items[0] = a;
    t->items[1] = b;
    return t;
}

/* Equal shapes once the axes of size 1 are dropped: a view that only adds or removes such axes. */
bool same_but_ones(Shape a, Shape b) {
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

Value *view_reshape(Value *a, Shape s, SrcLoc loc) {
    if (shape_eq(TN(a)->shape, s))
        return a;
    Attr at = ints_attr("shape", s.d, s.rank);
    return mk_view(a, OP_RESHAPE, &at, 1, loc);
}

/* reshape/flatten: a view when the elements are contiguous, else (as PyTorch) a copy. */
Value *reshape_or_copy(Value *a, Shape s, SrcLoc loc) {
    if (!a->strided || same_but_ones(TN(a)->shape, s))
        return view_reshape(a, s, loc);
    Value *r = lw_result(lw_reshape(lw_cast(a->node, TN(a)->dtype, loc), s, loc), a, NULL);
    if (shape_eq(TN(a)->shape, s))
        r = a;
    return r;
}

Value *lw_flatten(Value *a, int64_t start, int64_t end, SrcLoc loc) {
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

Value *lw_permute(Value *a, const int64_t *perm, int n, SrcLoc loc) {
    bool identity = true;
    for (int i = 0; i < n; i++)
        identity &= perm[i] == i;
    if (identity)
        return a;
    Attr at = ints_attr("perm", perm, n);
    return mk_view(a, OP_PERMUTE, &at, 1, loc);
}

Value *lw_transpose(Value *a, Value *d0, Value *d1, SrcLoc loc) {
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

/* The view of x's elements start .. start + len - 1 along axis (torch.narrow), the checks done. */
Value *narrow_view(Value *x, int axis, int64_t start, int64_t len, SrcLoc loc) {
    Shape s = TN(x)->shape;
    int64_t st[MAX_RANK], step[MAX_RANK], size[MAX_RANK];
    for (int k = 0; k < s.rank; k++) {
        st[k] = 0;
        step[k] = 1;
        size[k] = s.d[k];
    }
    st[axis] = start;
    size[axis] = len;
    Attr sa[3] = {ints_attr("start", st, s.rank), ints_attr("step", step, s.rank), ints_attr("size", size, s.rank)};
    return mk_view(x, OP_SLICE, sa, 3, loc);
}

/* x.narrow(dim, start, length), torch.narrow: PyTorch's checks and SliceBackward0 */
Value *bi_narrow(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *dv = lw_req(a, 1, "dim");
    int64_t start = int_arg(lw_req(a, 2, "start"), loc, "start"), len = int_arg(lw_req(a, 3, "length"), loc, "length");
    DONE(a, 4, "input", "dim", "start", "length");
    Shape s = TN(x)->shape;
    if (!s.rank)
        error_at(loc, "narrow() cannot be applied to a 0-dim tensor.");
    int d = axis_arg(dv, s.rank, loc);
    if (start < -s.d[d] || start > s.d[d])
        error_at(loc, "start out of range (expected to be in range of [%lld, %lld], but got %lld)", (long long)-s.d[d],
                 (long long)s.d[d], (long long)start);
    if (start < 0)
        start += s.d[d];
    if (len < 0 || start > s.d[d] - len)
        error_at(loc, "start (%lld) + length (%lld) exceeds dimension size (%lld).", (long long)start, (long long)len,
                 (long long)s.d[d]);
    return named_fn(narrow_view(x, d, len ? start : 0, len, loc), x, "SliceBackward0");
}

/* t[items]: ints drop an axis, slices keep it, one '...' stands for the axes not named. */
Value *index_tensor(Value *a, Expr *e) {
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
    int dyn_axis = -1, dyn_index = -1; /* an index known at run time: its axis and node */
    Value *tix = NULL;                   /* or an integer tensor of indices, at dyn_axis */
    SrcLoc dyn_loc = e->loc;
    for (int k = 0; k < in.rank; k++) {
        start[k] = 0;
        step[k] = 1;
        size[k] = in.d[k];
    }
    int axis = 0;
    bool last_select = false; /* PyTorch indexes left to right: the last index that does something names grad_fn */
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
            if (start[axis] != 0 || step[axis] != 1 || size[axis] != dim)
                last_select = false;
        } else {
            Value *iv = lw_eval(it);
            if (iv->kind == V_TENSOR && TN(iv)->shape.rank == 0 && !dtype_is_float(TN(iv)->dtype) &&
                TN(iv)->dtype != DT_BOOL) {
                if (dyn_axis >= 0)
                    error_at(it->loc, "one index known only at run time per subscript, for now");
                dyn_axis = axis;
                dyn_index = lw_cast(iv->node, DT_I64, it->loc);
                dyn_loc = it->loc;
                axis++;
                continue;
            }
            if (iv->kind == V_TENSOR) { /* advanced indexing: an index tensor */
                if (dyn_axis >= 0)
                    error_at(it->loc, "one index tensor or index known at run time per subscript, for now");
                dyn_axis = axis;
                tix = iv;
                dyn_loc = it->loc;
                axis++;
                continue;
            }
            if (iv->kind == V_BOOL)
                error_at(it->loc, "indexing with a bool is not supported; use integers and slices");
            int64_t ix = int_arg(iv, it->loc, "an index");
            if (ix < -dim || ix >= dim)
                error_at(it->loc, "index %lld is out of bounds for dimension %d with size %lld", (long long)ix,
                         axis, (long long)dim);
            start[axis] = ix < 0 ? ix + dim : ix;
            size[axis] = 1;
            drop[axis] = true;
            last_select = true;
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
    Value *r = named_fn(view_reshape(v, out, e->loc), a, last_select ? "SelectBackward0" : "SliceBackward0");
    if (dyn_axis < 0)
        return r;
    /* the run-time index last: its axis among those the static part kept */
    int at = 0;
    for (int k = 0; k < dyn_axis; k++)
        at += !drop[k];
    if (tix) /* PyTorch selects the integers' axes first (numpy would count them as index arrays and,
              * with a slice between, move the indexed axes first): one tensor keeps its place */
        return index_by_tensor(r, at, tix, dyn_loc);
    Attr ax = attr_int("axis", at);
    int in2[2] = {r->node, dyn_index};
    Value *sel = lw_result(lw_add(OP_SELECT, in2, 2, DT_F32, shape_scalar(), &ax, 1, dyn_loc), a, NULL);
    sel->tflags |= TV_SELECTED;
    sel->self = r;
    return named_fn(sel, a, "SelectBackward0");
}

void assign_selected(Value *sel, Value *v, SrcLoc loc) {
    Node *s = TN(sel);
    Value *from = sel->self;
    int x;
    if (is_scalar(v))
        x = const_scalar(v, s->dtype, loc);
    else {
        tensor_arg(v, loc, "the assigned value");
        if (category(TN(v)->dtype) > category(s->dtype))
            error_at(loc, "cannot assign %s to a tensor of dtype %s", type_str(TN(v)->dtype, TN(v)->shape),
                     dtype_torch(s->dtype));
        x = lw_cast(v->node, s->dtype, loc);
    }
    x = lw_expand(x, s->shape, loc);
    int in[3] = {from->node, x, s->in[1]};
    Attr ax = attr_int("axis", node_int(s, "axis", 0));
    write_through(from, lw_add(OP_SETSELECT, in, 3, DT_F32, shape_scalar(), &ax, 1, loc), loc);
}

/* The dtype an in-place result may be cast back to: never to a lower category. */
int inplace_result(Value *target, int node, SrcLoc loc) {
    DType to = TN(target)->dtype, from = N(node)->dtype;
    if (category(from) > category(to))
        error_at(loc, "result type %s can't be cast to the desired output type %s", dtype_torch(from),
                 dtype_torch(to));
    int x = lw_cast(node, to, loc);
    return lw_expand(x, TN(target)->shape, loc);
}

/* target <- value, in place: cast and broadcast value to target, write through views. */
void assign_into(Value *target, Value *value, SrcLoc loc) {
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

Value *tensor_literal(Value *data, Value *dtype, bool numpy, SrcLoc loc) {
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

Value *lw_filled(Shape s, DType dt, Value *value, SrcLoc loc) {
    Attr a = data_attr("value", &value, 1, dt, loc);
    if (a.kind == A_FLOATS)
        a.kind = A_FLOAT;
    else
        a.kind = A_INT;
    return mk_tensor(lw_add(OP_FULL, NULL, 0, dt, s, &a, 1, loc));
}
