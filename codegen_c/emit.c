/*
 * emit.c: Graph -> C99 + OpenMP.
 *
 * One static function per kernel, named after its node and op
 * (k07_add_fwd), with a comment naming the .tg line it comes from and the IR
 * node it computes. Shapes are literal constants in loop bounds, pointers are
 * restrict, and every value lives at a fixed offset of one arena the caller
 * provides, so a run allocates nothing. Sources that need the runtime (random
 * numbers, .npy files) and prints are calls in the run function, which is a
 * flat list of calls in graph order. The output depends only on the graph:
 * the same input gives byte-identical files.
 */
#include "codegen_c.h"
#include "emit_internal.h"

#include "passes/passes.h"

#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static FILE *out;

#define P(...) fprintf(out, __VA_ARGS__)

/* ---- literals and types ---- */

static const char *tg_dtype(DType dt) {
    static const char *names[] = {"TG_F32", "TG_F64", "TG_I32", "TG_I64", "TG_BOOL", "TG_U8"};
    return names[dt];
}

/* A C literal of type dt with value v, exact for floats (shortest round trip). */
static const char *literal(double v, DType dt) {
    if (dt == DT_F32 || dt == DT_F64) {
        if (isnan(v)) return dt == DT_F32 ? "NAN" : "(double)NAN";
        if (isinf(v)) return v < 0 ? (dt == DT_F32 ? "-INFINITY" : "-(double)INFINITY") : (dt == DT_F32 ? "INFINITY" : "(double)INFINITY");
        char buf[48];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, v);
            if (dt == DT_F32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v)
                break;
        }
        if (!strpbrk(buf, ".en"))
            strcat(buf, ".0");
        /* parenthesized when negative, so that -x or a - x never reads as --x */
        return ir_fmt(v < 0 || signbit(v) ? "(%s%s)" : "%s%s", buf, dt == DT_F32 ? "f" : "");
    }
    if (dt == DT_BOOL)
        return v != 0 ? "1" : "0";
    if (dt == DT_I64)
        return ir_fmt(v < 0 ? "(INT64_C(%lld))" : "INT64_C(%lld)", (long long)v);
    return ir_fmt(v < 0 ? "(%lld)" : "%lld", (long long)v);
}

static const char *fsuffix(DType dt) { return dt == DT_F32 ? "f" : ""; }

/* Element i of a literal attribute (exact int64 for integer data) as a C literal of type dt. */
static const char *attr_literal(const Attr *a, int i, DType dt) {
    if (a->kind == A_INT || a->kind == A_INTS) {
        if (dtype_is_float(dt))
            return literal((double)a->i[i], dt);
        if (dt == DT_BOOL)
            return a->i[i] ? "1" : "0";
        if (a->i[i] == INT64_MIN)
            return "INT64_MIN";
        if (dt == DT_I64)
            return ir_fmt(a->i[i] < 0 ? "(INT64_C(%lld))" : "INT64_C(%lld)", (long long)a->i[i]);
        return ir_fmt(a->i[i] < 0 ? "(%lld)" : "%lld", (long long)a->i[i]);
    }
    return literal(a->f[i], dt);
}

/* Row-major strides of a shape. */
static void strides(Shape s, int64_t *st) {
    int64_t acc = 1;
    for (int i = s.rank - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= s.d[i];
    }
}

/* ---- kernel frame ---- */

/*
 * A kernel computes one node, or a fusion group: a run of nodes [U0, U1] that pass_fuse marked
 * with one group number. Its parameters are the distinct buffers it reads and writes, each passed
 * once: where memplan put an output over a dying input (in place), the kernel gets that buffer
 * once, writable, and reads the input through a pointer derived from it, so every restrict
 * promise holds. Names inside a kernel: the head op's inputs x0, x1, ... and its output out, as
 * the single-op emitters below write them; other buffers v<node>; values a group keeps in
 * registers t<node>.
 */
static Graph *G;
static const MemPlan *M;
static const char *prefix;
static bool cuda; /* --target cuda: the step and predict launch CUDA kernels (codegen_cuda) */
static int U0, U1, UH;     /* the current kernel's first and last node, and its head (or -1) */
static const char **bname; /* per node: its buffer's name inside the current kernel */
static int *bstamp, stamp; /* bname[i] is current when bstamp[i] == stamp */
static bool *prologue;     /* per node: a member computing the head's dL/dy input, before the head */

static Node *IN(Node *n, int k) { return &G->nodes[n->in[k]]; }

static bool inline_scalar(const Node *consumer, const Node *x) { return kernel_inline_scalar(consumer, x); }

static bool grouped(void) { return U1 > U0; }
static bool in_unit(int id) { return id >= U0 && id <= U1; }
static bool stored(int id) { return M->off[id] >= 0; }

/* The kernel of node i: its group's span. */
static void unit_span(int i, int *first, int *last) {
    int g = G->nodes[i].group;
    *first = *last = i;
    while (g && *first > 0 && G->nodes[*first - 1].group == g)
        (*first)--;
    while (g && *last + 1 < G->nnode && G->nodes[*last + 1].group == g)
        (*last)++;
}

/* Kernel names: node id, op, direction; graphs after the first get their name in front. */
static const char *kpre = "";

static const char *dir_of(unsigned flags) {
    return flags & NF_UPDATE ? "upd" : flags & NF_BACKWARD ? "bwd" : "fwd";
}

static const char *kname(const Node *n) {
    const char *dir = dir_of(n->flags);
    const char *name = op_info[n->op].name;
    if (strstr(name, "_bwd") && !strcmp(dir, "bwd"))
        return ir_fmt("%sk%02d_%s", kpre, n->id, name); /* conv2d_bwd_input, not ..._bwd_bwd */
    return ir_fmt("%sk%02d_%s_%s", kpre, n->id, name, dir);
}

/* A C identifier from a parameter name: "conv1.weight" -> "conv1_weight". */
static const char *ident(const char *s) {
    char *r = ir_strdup(s);
    for (char *p = r; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    return r;
}

/* A group's name: the parameter an update group writes ("k84_fc1_weight_upd"), else its ops in
 * order ("k11_conv2d_relu_fwd"), casts left out, at most four. */
static const char *group_name(int first, int last) {
    bool fwd = false, bwd = false, upd = false;
    const char *param = NULL;
    for (int i = first; i <= last; i++) {
        Node *n = &G->nodes[i];
        upd |= (n->flags & NF_UPDATE) != 0;
        bwd |= (n->flags & (NF_BACKWARD | NF_UPDATE)) == NF_BACKWARD;
        fwd |= !(n->flags & (NF_BACKWARD | NF_UPDATE));
        if (!param && stored(i))
            for (int j = 0; j < G->nnode; j++)
                if (G->nodes[j].op == OP_PARAM && (G->nodes[j].flags & NF_TRAINABLE) && M->off[j] == M->off[i])
                    param = G->nodes[j].name;
    }
    const char *dir = upd ? "upd" : fwd && bwd ? "fwd_bwd" : bwd ? "bwd" : "fwd";
    if (param && upd)
        return ir_fmt("%sk%02d_%s_upd", kpre, first, ident(param));
    const char *ops = "";
    int nops = 0;
    for (int i = first; i <= last && nops < 4; i++) {
        const char *op = op_info[G->nodes[i].op].name;
        if (G->nodes[i].op == OP_CAST || strstr(ops, ir_fmt("_%s_", op)))
            continue;
        if (G->nodes[i].op == OP_CROSS_ENTROPY_BWD && strstr(ops, "_cross_entropy_"))
            continue;
        ops = ir_fmt("%s_%s_", *ops ? ir_strndup(ops, strlen(ops) - 1) : "", op);
        nops++;
    }
    return ir_fmt("%sk%02d%s%s", kpre, first, ir_strndup(ops, strlen(ops) - 1), ir_fmt("_%s", dir));
}

static const char *unit_name(void) { return grouped() ? group_name(U0, U1) : kname(&G->nodes[U0]); }

/* Text safe inside a C comment: no comment end, no line breaks, no control bytes. */
static const char *comment_safe(const char *s) {
    char *safe = ir_strdup(s);
    for (char *p = safe; *p; p++) {
        if (p[0] == '*' && p[1] == '/')
            p[1] = '\\';
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    }
    return safe;
}

static void node_line(const Node *n, const char *lead) {
    P("%s%%%d = %s(", lead, n->id, op_info[n->op].name);
    for (int k = 0; k < n->nin; k++)
        P("%s%%%d", k ? ", " : "", n->in[k]);
    P(") -> %s%s%s", type_str(n->dtype, n->shape), n->name ? " " : "", n->name ? comment_safe(n->name) : "");
}

/* The kernel's comment: its .tg line(s) and the IR nodes it computes, which it stores. */
static void kernel_comment(void) {
    const Node *n = &G->nodes[U0];
    const char *src = diag_line_text(n->loc);
    P("\n/* %s: %s:%d", unit_name(), comment_safe(n->loc.file >= 0 ? diag_file_name(n->loc.file) : "?"), n->loc.line);
    if (*src)
        P("  `%s`", comment_safe(src));
    if (!grouped()) {
        node_line(n, "\n   ");
        P(" */\n");
        return;
    }
    P("\n   fused: ");
    for (int i = U0; i <= U1; i++)
        P("%s%s", i > U0 ? " + " : "", op_info[G->nodes[i].op].name);
    int line = n->loc.line;
    for (int i = U0; i <= U1; i++) {
        const Node *m = &G->nodes[i];
        node_line(m, "\n   ");
        if (stored(i) && !M->view[i])
            P(", stored");
        if (m->loc.line != line && m->loc.file >= 0) {
            line = m->loc.line;
            P("  (line %d%s%s%s)", line, *diag_line_text(m->loc) ? ": `" : "", comment_safe(diag_line_text(m->loc)),
              *diag_line_text(m->loc) ? "`" : "");
        }
    }
    P(" */\n");
}

/* A buffer's identity: where it lives (inputs live with the caller, one per node). An empty
 * value is its own: it shares no bytes with the buffer at its offset, whatever its type. */
static int64_t buffer_key(int id) {
    return M->off[id] >= 0 && shape_numel(G->nodes[id].shape) ? M->off[id] : -2 - (int64_t)id;
}

typedef struct {
    int node;         /* the node whose pointer the caller passes */
    const char *name; /* the parameter's name */
    bool written;
} KArg;

static KArg *kargs;
static int nkargs;
static const char *aliases; /* "const float *x0 = out;" lines: other names of a parameter's buffer */

static void add_name(int id, const char *name, bool written) {
    const Node *x = &G->nodes[id];
    bname[id] = name;
    bstamp[id] = stamp;
    for (int a = 0; a < nkargs; a++) {
        if (buffer_key(kargs[a].node) != buffer_key(id))
            continue;
        if (written && !kargs[a].written) { /* in place: the output takes the parameter */
            /* first, since other names of the buffer may be derived from this one */
            aliases = ir_fmt("    const %s *%s = %s; /* the same buffer: the output overwrites %%%d */\n%s",
                             dtype_ctype(G->nodes[kargs[a].node].dtype), kargs[a].name, name, kargs[a].node, aliases);
            kargs[a] = (KArg){id, name, true};
        } else
            aliases = ir_fmt("%s    %s%s *%s = %s;\n", aliases, written ? "" : "const ", dtype_ctype(x->dtype), name,
                             kargs[a].name);
        return;
    }
    kargs[nkargs++] = (KArg){id, name, written};
}

/* Names and parameters of the kernel [first, last]. */
static void unit_begin(int first, int last) {
    U0 = first;
    U1 = last;
    UH = -1;
    for (int i = first; i <= last && grouped(); i++)
        if (kernel_epilogue(&G->nodes[i]) != EPI_NONE || G->nodes[i].op == OP_CROSS_ENTROPY)
            UH = i;
    if (!grouped())
        UH = first;
    /* members the head reads (through its dL/dy operand) run before it, per window */
    for (int i = last; i >= first; i--) {
        prologue[i] = false;
        if (UH < 0 || i >= UH)
            continue;
        for (int j = i + 1; j <= UH && !prologue[i]; j++)
            if (j == UH || prologue[j])
                for (int k = 0; k < G->nodes[j].nin; k++)
                    prologue[i] |= G->nodes[j].in[k] == i;
    }
    stamp++;
    kargs = ir_alloc(sizeof(KArg) * (size_t)(4 * (last - first + 1) + 8));
    nkargs = 0;
    aliases = "";
    for (int i = first; i <= last; i++) {
        Node *n = &G->nodes[i];
        for (int k = 0; k < n->nin; k++) {
            Node *x = IN(n, k);
            if (inline_scalar(n, x) || in_unit(x->id))
                continue;
            const char *name = i == UH ? ir_fmt("x%d", k) : ir_fmt("v%d", x->id);
            bool seen = bstamp[x->id] == stamp && i != UH; /* read by several members: one name */
            if (seen)
                continue;
            if (i == UH) {
                for (int j = 0; j < k; j++)
                    if (n->in[j] == x->id && !inline_scalar(n, x)) { /* matmul(a, a): one buffer, two names */
                        aliases = ir_fmt("%s    const %s *%s = x%d;\n", aliases, dtype_ctype(x->dtype), name, j);
                        seen = true;
                        break;
                    }
                if (seen)
                    continue;
            }
            add_name(x->id, name, false);
        }
    }
    for (int i = first; i <= last; i++)
        if (stored(i) && !M->view[i])
            add_name(i, i == UH ? "out" : ir_fmt("v%d", i), true);
}

/* Opens `static void kNN(const T *restrict x0, ..., T *restrict out) {` for the current kernel. */
static void kernel_open(const Node *n) {
    (void)n;
    kernel_comment();
    P("static void %s(", unit_name());
    /* sizes in the parameters ([restrict static N]): documentation, and tgc check proves with
     * them that no call passes overlapping buffers */
    for (int a = 0; a < nkargs; a++) {
        const Node *x = &G->nodes[kargs[a].node];
        int64_t cnt = shape_numel(x->shape);
        P("%s%s%s ", a ? ", " : "", kargs[a].written ? "" : "const ", dtype_ctype(x->dtype));
        if (cnt > 0)
            P("%s[restrict static %lld]", kargs[a].name, (long long)cnt);
        else
            P("*restrict %s", kargs[a].name);
    }
    P(") {\n%s", aliases);
}

/* The call of the current kernel, with the caller's pointer variables. */
static void kernel_call(void) {
    P("    %s(", unit_name());
    for (int a = 0; a < nkargs; a++)
        P("%sv%d", a ? ", " : "", kargs[a].node);
    P(");\n");
}

/* The expression reading input k at flat index `idx`. */
static const char *in_ref(const Node *n, int k, const char *idx) {
    Node *x = IN((Node *)n, k);
    if (inline_scalar(n, x))
        return attr_literal(node_attr(x, "data"), 0, x->dtype);
    if (shape_numel(x->shape) == 1)
        return ir_fmt("x%d[0]", k);
    return ir_fmt("x%d[%s]", k, idx);
}

/* Index expression into shape `s` (aligned right against `o`, broadcast dims read index 0). */
static const char *bcast_index(Shape s, Shape o, const char **vars) {
    int64_t st[MAX_RANK];
    strides(s, st);
    const char *e = "";
    for (int i = 0; i < s.rank; i++) {
        int oi = o.rank - s.rank + i;
        if (s.d[i] == 1)
            continue;
        const char *term = st[i] == 1 ? vars[oi] : ir_fmt("%s * %lld", vars[oi], (long long)st[i]);
        e = *e ? ir_fmt("%s + %s", e, term) : term;
    }
    return *e ? e : "0";
}

static void loops_open(Shape s, const char **vars, int indent, bool parallel) {
    for (int i = 0; i < s.rank; i++) {
        if (i == 0 && parallel)
            P("%*s#pragma omp parallel for\n", indent + 4 * i, "");
        P("%*sfor (int64_t %s = 0; %s < %lld; %s++)\n", indent + 4 * i, "", vars[i], vars[i], (long long)s.d[i],
          vars[i]);
    }
}

static const char **axis_vars(int rank, const char *base) {
    const char **v = ir_alloc(sizeof(char *) * MAX_RANK);
    for (int i = 0; i < rank; i++)
        v[i] = ir_fmt("%s%d", base, i);
    return v;
}

/* Parallelise only loops with enough work to pay for the threads. */
static bool worth_parallel(int64_t work) { return work >= (1 << 16); }

/* ---- elementwise ---- */

static const char *unary_expr(const Node *n, const char *a) {
    DType t = n->dtype, it = G->nodes[n->in[0]].dtype;
    const char *f = fsuffix(t);
    switch (n->op) {
    case OP_NEG:
        if (t == DT_I32 || t == DT_I64) /* wraps as PyTorch's does, where C's signed overflow is undefined */
            return ir_fmt("(%s)(0u - (%s)%s)", dtype_ctype(t), t == DT_I32 ? "uint32_t" : "uint64_t", a);
        return ir_fmt("-%s", a);
    case OP_RELU: return ir_fmt("(%s < 0 ? %s : %s)", a, literal(0, t), a);
    case OP_EXP: return ir_fmt("exp%s(%s)", f, a);
    case OP_LOG: return ir_fmt("log%s(%s)", f, a);
    case OP_SQRT: return ir_fmt("sqrt%s(%s)", f, a);
    case OP_ABS: return dtype_is_float(t) ? ir_fmt("fabs%s(%s)", f, a) : ir_fmt("(%s < 0 ? -%s : %s)", a, a, a);
    case OP_TANH: return ir_fmt("tanh%s(%s)", f, a);
    case OP_SIGMOID: return ir_fmt("%s / (%s + exp%s(-%s))", literal(1, t), literal(1, t), f, a);
    case OP_NOT: return ir_fmt("!%s", a);
    case OP_CAST:
        if (t == DT_BOOL) return ir_fmt("(%s != 0)", a);
        if (dtype_is_float(it) && !dtype_is_float(t))
            return ir_fmt("(%s)%s", dtype_ctype(t), a); /* truncation toward zero, as PyTorch */
        return ir_fmt("(%s)%s", dtype_ctype(t), a);
    default: unreachable();
    }
}

static const char *binary_expr(const Node *n, const char *a, const char *b) {
    DType t = G->nodes[n->in[0]].dtype;
    const char *f = fsuffix(t);
    if ((t == DT_I32 || t == DT_I64) && (n->op == OP_ADD || n->op == OP_SUB || n->op == OP_MUL)) {
        /* signed overflow is undefined in C; PyTorch's integers wrap, so compute in unsigned */
        const char *u = t == DT_I32 ? "uint32_t" : "uint64_t";
        const char *o = n->op == OP_ADD ? "+" : n->op == OP_SUB ? "-" : "*";
        return ir_fmt("(%s)((%s)%s %s (%s)%s)", dtype_ctype(t), u, a, o, u, b);
    }
    switch (n->op) {
    case OP_ADD: return ir_fmt("%s + %s", a, b);
    case OP_SUB: return ir_fmt("%s - %s", a, b);
    case OP_MUL: return ir_fmt("%s * %s", a, b);
    case OP_DIV: return ir_fmt("%s / %s", a, b);
    case OP_POW:
        if (dtype_is_float(t)) return ir_fmt("pow%s(%s, %s)", f, a, b);
        return ir_fmt("(%s)ipow(%s, %s)", dtype_ctype(t), a, b);
    /* NaN wins, as torch.maximum/minimum */
    case OP_MAXIMUM: return ir_fmt("(%s > %s || %s != %s ? %s : %s)", a, b, a, a, a, b);
    case OP_MINIMUM: return ir_fmt("(%s < %s || %s != %s ? %s : %s)", a, b, a, a, a, b);
    case OP_EQ: return ir_fmt("%s == %s", a, b);
    case OP_NE: return ir_fmt("%s != %s", a, b);
    case OP_LT: return ir_fmt("%s < %s", a, b);
    case OP_LE: return ir_fmt("%s <= %s", a, b);
    case OP_GT: return ir_fmt("%s > %s", a, b);
    case OP_GE: return ir_fmt("%s >= %s", a, b);
    case OP_AND: return ir_fmt("%s && %s", a, b);
    case OP_OR: return ir_fmt("%s || %s", a, b);
    default: unreachable();
    }
}

/* Unary, binary, cast and expand: one loop, flat when no input broadcasts. */
static void emit_elementwise(const Node *n) {
    kernel_open(n);
    int64_t total = shape_numel(n->shape);
    bool flat = true;
    for (int k = 0; k < n->nin; k++) {
        Node *x = IN((Node *)n, k);
        if (!shape_eq(x->shape, n->shape) && shape_numel(x->shape) != 1)
            flat = false;
    }
    const char *idx[2];
    int indent;
    if (flat) {
        if (worth_parallel(total))
            P("    #pragma omp parallel for\n");
        P("    for (int64_t i = 0; i < %lld; i++)\n", (long long)total);
        idx[0] = idx[1] = "i";
        indent = 8;
        P("%*sout[i] = ", indent, "");
    } else {
        const char **v = axis_vars(n->shape.rank, "i");
        loops_open(n->shape, v, 4, worth_parallel(total));
        for (int k = 0; k < n->nin && k < 2; k++)
            idx[k] = bcast_index(IN((Node *)n, k)->shape, n->shape, v);
        indent = 4 + 4 * n->shape.rank;
        P("%*sout[%s] = ", indent, "", bcast_index(n->shape, n->shape, v));
    }
    if (n->op == OP_EXPAND)
        P("%s;\n", in_ref(n, 0, idx[0]));
    else if (n->nin == 1)
        P("%s;\n", unary_expr(n, in_ref(n, 0, idx[0])));
    else
        P("%s;\n", binary_expr(n, in_ref(n, 0, idx[0]), in_ref(n, 1, idx[1])));
    P("}\n");
}

/* ---- fused groups: elementwise chains and epilogues ---- */

/* Index into x (shape xs, broadcast against gs) for the flat index `e` of shape gs. */
static const char *bcast_flat(Shape xs, Shape gs, const char *e) {
    int64_t xst[MAX_RANK], gst[MAX_RANK];
    strides(xs, xst);
    strides(gs, gst);
    const char *r = "";
    for (int i = 0; i < xs.rank; i++) {
        int oi = gs.rank - xs.rank + i;
        if (xs.d[i] == 1)
            continue;
        const char *c = gst[oi] == 1 ? e : ir_fmt("%s / %lld", e, (long long)gst[oi]);
        if (oi > 0)
            c = ir_fmt("(%s %% %lld)", c, (long long)gs.d[oi]);
        else if (gst[oi] != 1)
            c = ir_fmt("(%s)", c);
        const char *term = xst[i] == 1 ? c : ir_fmt("%s * %lld", c, (long long)xst[i]);
        r = *r ? ir_fmt("%s + %s", r, term) : term;
    }
    return *r ? r : "0";
}

/* Input k of member m inside the kernel's loop: a register, a literal, or a load at the loop's
 * flat index `flat` (axis variables axv, when the loop has them, for broadcast reads). */
static const char *operand(const Node *m, int k, Shape gs, const char *flat, const char **axv) {
    const Node *x = IN((Node *)m, k);
    if (in_unit(x->id))
        return ir_fmt("t%d", x->id);
    if (inline_scalar(m, x))
        return attr_literal(node_attr(x, "data"), 0, x->dtype);
    const char *b = bname[x->id];
    if (shape_numel(x->shape) == 1)
        return ir_fmt("%s[0]", b);
    if (shape_eq(x->shape, gs))
        return ir_fmt("%s[%s]", b, flat);
    return ir_fmt("%s[%s]", b, axv ? bcast_index(x->shape, gs, axv) : bcast_flat(x->shape, gs, flat));
}

/* Every member but the head, one register each, in order. */
static void emit_members(int indent, Shape gs, const char *flat, const char **axv) {
    for (int i = U0; i <= U1; i++) {
        if (i == UH || prologue[i])
            continue;
        const Node *m = &G->nodes[i];
        const char *e = m->nin == 1 ? unary_expr(m, operand(m, 0, gs, flat, axv))
                                    : binary_expr(m, operand(m, 0, gs, flat, axv), operand(m, 1, gs, flat, axv));
        P("%*sconst %s t%d = %s;\n", indent, "", dtype_ctype(m->dtype), i, e);
    }
}

/* The stores, after every load of the element: an output may be written over an input. */
static void emit_stores(int indent, const char *flat) {
    for (int i = U0; i <= U1; i++)
        if (stored(i) && !M->view[i] && !(i == UH && kernel_epilogue(&G->nodes[i]) == EPI_SCATTER))
            P("%*s%s[%s] = t%d;\n", indent, "", bname[i], flat, i);
}

/*
 * The store of one output element by a head kernel (conv2d, linear, ...): alone, a plain store;
 * with an epilogue, the element's value goes through the fused elementwise ops first.
 */
static void emit_store(int indent, const char *idx, const char *val) {
    if (!grouped()) {
        P("%*sout[%s] = %s;\n", indent, "", idx, val);
        return;
    }
    const Node *h = &G->nodes[UH];
    P("%*s{\n", indent, "");
    P("%*s    const int64_t ei = %s;\n", indent, "", idx);
    P("%*s    const %s t%d = %s;\n", indent, "", dtype_ctype(h->dtype), UH, val);
    emit_members(indent + 4, h->shape, "ei", NULL);
    emit_stores(indent + 4, "ei");
    P("%*s}\n", indent, "");
}

/* A chain of elementwise ops of one shape: one loop, values in registers, stores at the end. */
static void emit_elementwise_group(void) {
    kernel_open(NULL);
    Shape gs = G->nodes[U1].shape;
    int64_t total = shape_numel(gs);
    bool flat = true;
    for (int i = U0; i <= U1; i++)
        for (int k = 0; k < G->nodes[i].nin; k++) {
            const Node *x = IN(&G->nodes[i], k);
            if (!in_unit(x->id) && shape_numel(x->shape) != 1 && !shape_eq(x->shape, gs))
                flat = false;
        }
    if (flat) {
        if (worth_parallel(total))
            P("    #pragma omp parallel for\n");
        P("    for (int64_t i = 0; i < %lld; i++) {\n", (long long)total);
        emit_members(8, gs, "i", NULL);
        emit_stores(8, "i");
        P("    }\n}\n");
        return;
    }
    const char **v = axis_vars(gs.rank, "i");
    loops_open(gs, v, 4, worth_parallel(total));
    int ind = 4 + 4 * gs.rank;
    P("%*s{\n", ind - 4, "");
    P("%*sconst int64_t i = %s;\n", ind, "", bcast_index(gs, gs, v));
    emit_members(ind, gs, "i", v);
    emit_stores(ind, "i");
    P("%*s}\n}\n", ind - 4, "");
}

/* ---- reductions ---- */

static void emit_reduce(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0);
    int naxes;
    const int64_t *axes = node_ints(n, "axes", &naxes);
    bool red[MAX_RANK] = {0};
    for (int i = 0; i < naxes; i++)
        red[axes[i]] = true;
    int64_t st[MAX_RANK];
    strides(x->shape, st);
    const char **v = axis_vars(x->shape.rank, "i");
    /* output index: kept axes in order */
    const char *oidx = "";
    int64_t ost = 1, count = 1;
    for (int i = x->shape.rank - 1; i >= 0; i--) {
        if (red[i]) {
            count *= x->shape.d[i];
            continue;
        }
        const char *term = ost == 1 ? v[i] : ir_fmt("%s * %lld", v[i], (long long)ost);
        oidx = *oidx ? ir_fmt("%s + %s", term, oidx) : term;
        ost *= x->shape.d[i];
    }
    if (!*oidx)
        oidx = "0";
    const char *iidx = bcast_index(x->shape, x->shape, v);
    int indent = 4, kept = 0;
    for (int i = 0; i < x->shape.rank; i++)
        kept += !red[i];
    /* outputs are independent sums, each in its own order: parallel over them when it pays */
    if (kept && shape_numel(n->shape) > 1 && worth_parallel(shape_numel(x->shape)))
        P("    #pragma omp parallel for%s\n", kept > 1 ? ir_fmt(" collapse(%d)", kept) : "");
    for (int i = 0; i < x->shape.rank; i++)
        if (!red[i]) {
            P("%*sfor (int64_t %s = 0; %s < %lld; %s++)\n", indent, "", v[i], v[i], (long long)x->shape.d[i], v[i]);
            indent += 4;
        }
    P("%*s{\n", indent - (indent > 4 ? 4 : 0), "");
    bool fl = dtype_is_float(x->dtype);
    /* float sums accumulate in double: fewer rounding steps than PyTorch's float cascade, never more */
    const char *acc_t = n->op == OP_SUM || n->op == OP_MEAN ? (fl ? "double" : "int64_t") : dtype_ctype(x->dtype);
    if (n->op == OP_SUM || n->op == OP_MEAN)
        P("%*s%s acc = 0;\n", indent, "", acc_t);
    else if (n->op == OP_ARGMAX)
        P("%*s%s best = 0;\n%*sint64_t arg = -1, k = 0;\n", indent, "", dtype_ctype(x->dtype), indent, "");
    else
        P("%*s%s acc = 0;\n%*sint first = 1;\n", indent, "", acc_t, indent, "");
    int inner = indent;
    for (int i = 0; i < x->shape.rank; i++)
        if (red[i]) {
            P("%*sfor (int64_t %s = 0; %s < %lld; %s++)\n", inner, "", v[i], v[i], (long long)x->shape.d[i], v[i]);
            inner += 4;
        }
    P("%*s{\n", inner - (inner > indent ? 4 : 0), "");
    P("%*s%s val = x0[%s];\n", inner, "", dtype_ctype(x->dtype), iidx);
    switch (n->op) {
    case OP_SUM: case OP_MEAN: P("%*sacc += val;\n", inner, ""); break;
    case OP_MAX:
        P("%*sif (first || val > acc%s) acc = val;\n%*sfirst = 0;\n", inner, "", fl ? " || val != val" : "", inner, "");
        break;
    case OP_MIN:
        P("%*sif (first || val < acc%s) acc = val;\n%*sfirst = 0;\n", inner, "", fl ? " || val != val" : "", inner, "");
        break;
    case OP_ARGMAX:
        /* the first maximum wins; a NaN counts as the maximum, as in PyTorch */
        if (fl)
            P("%*sif (arg < 0 || (best == best && (val > best || val != val))) {\n", inner, "");
        else
            P("%*sif (arg < 0 || val > best) {\n", inner, "");
        P("%*s    best = val;\n%*s    arg = k;\n%*s}\n%*sk++;\n", inner, "", inner, "", inner, "", inner, "");
        break;
    default: unreachable();
    }
    P("%*s}\n", inner - (inner > indent ? 4 : 0), "");
    if (n->op == OP_SUM)
        P("%*sout[%s] = (%s)acc;\n", indent, "", oidx, dtype_ctype(n->dtype));
    else if (n->op == OP_MEAN && count == 0)
        P("%*sout[%s] = NAN; /* the mean of nothing, as PyTorch */\n%*s(void)acc;\n", indent, "", oidx, indent, "");
    else if (n->op == OP_MEAN)
        P("%*sout[%s] = (%s)(acc / %lld);\n", indent, "", oidx, dtype_ctype(n->dtype), (long long)count);
    else if (n->op == OP_ARGMAX)
        P("%*sout[%s] = arg;\n", indent, "", oidx);
    else
        P("%*sout[%s] = acc;\n", indent, "", oidx);
    P("%*s}\n", indent - (indent > 4 ? 4 : 0), "");
    P("}\n");
}

/* ---- data movement ---- */

static void emit_copy(const Node *n) {
    kernel_open(n);
    P("    memcpy(out, x0, %lld * sizeof(%s));\n", (long long)shape_numel(n->shape), dtype_ctype(n->dtype));
    P("}\n");
}

static void emit_permute(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0);
    int64_t st[MAX_RANK];
    strides(x->shape, st);
    const int64_t *perm = node_ints(n, "perm", NULL);
    const char **v = axis_vars(n->shape.rank, "i");
    loops_open(n->shape, v, 4, worth_parallel(shape_numel(n->shape)));
    const char *src = "";
    for (int i = 0; i < n->shape.rank; i++) {
        const char *term = st[perm[i]] == 1 ? v[i] : ir_fmt("%s * %lld", v[i], (long long)st[perm[i]]);
        src = *src ? ir_fmt("%s + %s", src, term) : term;
    }
    P("%*sout[%s] = x0[%s];\n}\n", 4 + 4 * n->shape.rank, "", bcast_index(n->shape, n->shape, v), *src ? src : "0");
}

/* Index into the sliced input for region coordinates v. */
static const char *slice_index(const Node *n, Shape in, const char **v) {
    int64_t st[MAX_RANK];
    strides(in, st);
    const int64_t *start = node_ints(n, "start", NULL), *step = node_ints(n, "step", NULL);
    const char *e = "";
    for (int i = 0; i < in.rank; i++) {
        const char *pos = step[i] == 1 ? v[i] : ir_fmt("%s * %lld", v[i], (long long)step[i]);
        if (start[i])
            pos = ir_fmt("(%lld + %s)", (long long)start[i], pos);
        const char *term = st[i] == 1 ? pos : ir_fmt("%s * %lld", pos, (long long)st[i]);
        e = *e ? ir_fmt("%s + %s", e, term) : term;
    }
    return *e ? e : "0";
}

static void emit_slice(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0);
    const char **v = axis_vars(n->shape.rank, "i");
    loops_open(n->shape, v, 4, false);
    P("%*sout[%s] = x0[%s];\n}\n", 4 + 4 * n->shape.rank, "", bcast_index(n->shape, n->shape, v),
      slice_index(n, x->shape, v));
}

static void emit_setslice(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0), *val = IN((Node *)n, 1);
    int len;
    const int64_t *size = node_ints(n, "size", &len);
    Shape region = shape_make(len, size);
    P("    memcpy(out, x0, %lld * sizeof(%s));\n", (long long)shape_numel(x->shape), dtype_ctype(x->dtype));
    const char **v = axis_vars(region.rank, "i");
    loops_open(region, v, 4, false);
    P("%*sout[%s] = %s;\n}\n", 4 + 4 * region.rank, "", slice_index(n, x->shape, v),
      in_ref(n, 1, bcast_index(val->shape, region, v)));
}

static void emit_cat(const Node *n) {
    kernel_open(n);
    int axis = (int)node_int(n, "axis", 0);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= n->shape.d[i];
    for (int i = axis + 1; i < n->shape.rank; i++)
        inner *= n->shape.d[i];
    int64_t orow = n->shape.d[axis] * inner, off = 0;
    P("    for (int64_t o = 0; o < %lld; o++) {\n", (long long)outer);
    for (int k = 0; k < n->nin; k++) {
        Node *x = IN((Node *)n, k);
        int64_t row = x->shape.d[axis] * inner;
        if (!row)
            P("        (void)x%d; /* empty along the axis */\n", k);
        else
            P("        memcpy(out + o * %lld + %lld, x%d + o * %lld, %lld * sizeof(%s));\n", (long long)orow,
              (long long)off, k, (long long)row, (long long)row, dtype_ctype(n->dtype));
        off += row;
    }
    P("    }\n}\n");
}

/* ---- high-level ops ---- */

static void emit_matmul(const Node *n) {
    kernel_open(n);
    Node *a = IN((Node *)n, 0), *b = IN((Node *)n, 1);
    int r = n->shape.rank;
    int64_t M = n->shape.d[r - 2], Nn = n->shape.d[r - 1], K = a->shape.d[a->shape.rank - 1];
    Shape batch = n->shape, ab = a->shape, bb = b->shape;
    batch.rank -= 2;
    ab.rank -= 2;
    bb.rank -= 2;
    const char **v = axis_vars(batch.rank, "b");
    const char *acc = dtype_is_float(n->dtype) ? dtype_ctype(n->dtype) : "int64_t";
    int ind = 4;
    for (int i = 0; i < batch.rank; i++, ind += 4)
        P("%*sfor (int64_t %s = 0; %s < %lld; %s++)\n", ind, "", v[i], v[i], (long long)batch.d[i], v[i]);
    P("%*s{\n", ind - (batch.rank ? 4 : 0), "");
    P("%*sconst %s *restrict A = x0 + (%s) * %lld;\n", ind, "", dtype_ctype(a->dtype), bcast_index(ab, batch, v),
      (long long)(M * K));
    P("%*sconst %s *restrict B = x1 + (%s) * %lld;\n", ind, "", dtype_ctype(b->dtype), bcast_index(bb, batch, v),
      (long long)(K * Nn));
    P("%*sconst int64_t c0 = (%s) * %lld; /* this product's first output element */\n", ind, "",
      bcast_index(batch, batch, v), (long long)(M * Nn));
    /* an empty product has no tiles (the tile sizes would be 0): the plain loops run zero times */
    if (!dtype_is_float(n->dtype) || !M || !Nn) {
        P("%*sfor (int64_t m = 0; m < %lld; m++)\n", ind, "", (long long)M);
        P("%*s    for (int64_t j = 0; j < %lld; j++) {\n", ind, "", (long long)Nn);
        P("%*s        %s acc = 0;\n", ind, "", acc);
        P("%*s        for (int64_t k = 0; k < %lld; k++)\n", ind, "", (long long)K);
        P("%*s            acc += A[m * %lld + k] * B[k * %lld + j];\n", ind, "", (long long)K, (long long)Nn);
        emit_store(ind + 8, ir_fmt("c0 + m * %lld + j", (long long)Nn), ir_fmt("(%s)acc", dtype_ctype(n->dtype)));
        P("%*s    }\n", ind, "");
    } else {
        /* tiles of MB rows x JB columns in registers; each element's sum over k in order */
        int64_t JB = Nn < 16 ? Nn : 16, MB = 4;
        if (MB > M)
            MB = M;
        for (int mp = 0; mp < 2; mp++) {
            int64_t MBn = mp == 0 ? MB : M % MB;
            if (!MBn || (mp == 0 && M < MB))
                continue;
            if (mp == 0)
                P("%*sfor (int64_t m0 = 0; m0 < %lld; m0 += %lld)\n", ind, "", (long long)(M / MB * MB), (long long)MB);
            else
                P("%*sfor (int64_t m0 = %lld; m0 < %lld; m0 += %lld)\n", ind, "", (long long)(M / MB * MB), (long long)M,
                  (long long)MBn);
            P("%*s{\n", ind, "");
            for (int jp = 0; jp < 2; jp++) {
                int64_t JBn = jp == 0 ? JB : Nn % JB;
                if (!JBn || (jp == 0 && Nn < JB))
                    continue;
                int in = ind + 4;
                if (jp == 0)
                    P("%*sfor (int64_t j0 = 0; j0 < %lld; j0 += %lld) {\n", in, "", (long long)(Nn / JB * JB), (long long)JB);
                else
                    P("%*s{\n%*s    const int64_t j0 = %lld;\n", in, "", in, "", (long long)(Nn / JB * JB));
                P("%*s    %s acc[%lld][%lld];\n", in, "", acc, (long long)MBn, (long long)JBn);
                P("%*s    for (int mb = 0; mb < %lld; mb++)\n", in, "", (long long)MBn);
                P("%*s        for (int jb = 0; jb < %lld; jb++)\n", in, "", (long long)JBn);
                P("%*s            acc[mb][jb] = 0;\n", in, "");
                P("%*s    for (int64_t k = 0; k < %lld; k++)\n", in, "", (long long)K);
                P("%*s        for (int mb = 0; mb < %lld; mb++) {\n", in, "", (long long)MBn);
                P("%*s            const %s a = A[(m0 + mb) * %lld + k];\n", in, "", acc, (long long)K);
                P("%*s            TG_SIMD\n", in, "");
                P("%*s            for (int jb = 0; jb < %lld; jb++)\n", in, "", (long long)JBn);
                P("%*s                acc[mb][jb] += a * B[k * %lld + j0 + jb];\n", in, "", (long long)Nn);
                P("%*s        }\n", in, "");
                P("%*s    for (int mb = 0; mb < %lld; mb++)\n", in, "", (long long)MBn);
                P("%*s        for (int jb = 0; jb < %lld; jb++)\n", in, "", (long long)JBn);
                emit_store(in + 12, ir_fmt("c0 + (m0 + mb) * %lld + j0 + jb", (long long)Nn), "acc[mb][jb]");
                P("%*s}\n", in, "");
            }
            P("%*s}\n", ind, "");
        }
    }
    P("%*s}\n}\n", ind - (batch.rank ? 4 : 0), "");
}

static void emit_linear(const Node *n) {
    kernel_open(n);
    Node *w = IN((Node *)n, 1);
    int64_t O = w->shape.d[0], I = w->shape.d[1], R = shape_numel(n->shape) / (O ? O : 1);
    const char *t = dtype_ctype(n->dtype);
    if (worth_parallel(R * O * I))
        P("    #pragma omp parallel for\n");
    P("    for (int64_t r = 0; r < %lld; r++)          /* rows of the input */\n", (long long)R);
    P("        for (int64_t o = 0; o < %lld; o++) {   /* output features */\n", (long long)O);
    P("            %s acc = %s;\n", t, n->nin == 3 ? "x2[o]" : literal(0, n->dtype));
    P("            for (int64_t i = 0; i < %lld; i++)\n", (long long)I);
    P("                acc += x0[r * %lld + i] * x1[o * %lld + i];\n", (long long)I, (long long)I);
    emit_store(12, ir_fmt("r * %lld + o", (long long)O), "acc");
    P("        }\n}\n");
}

/*
 * linear as register tiles: RBn rows x OBn output features, each dot product over the input
 * features summed in 8 SIMD lanes (then the lanes in order, then the bias), so the result depends
 * on the shapes only. Row blocks are the parallel loop.
 */
static void emit_linear_tiled(const Node *n) {
    kernel_open(n);
    Node *w = IN((Node *)n, 1);
    int64_t O = w->shape.d[0], I = w->shape.d[1], R = shape_numel(n->shape) / (O ? O : 1);
    const char *t = dtype_ctype(n->dtype), *zero = literal(0, n->dtype);
    int64_t L = 8, full = I / L * L, rb = R < 4 ? R : 4, ob = 3;
    if (ob > O)
        ob = O;
    P("    /* y[r][o] = b[o] + sum over i of x[r][i] * w[o][i]: tiles of %lld rows x %lld features, %lld lanes over i */\n",
      (long long)rb, (long long)ob, (long long)L);
    for (int rp = 0; rp < 2; rp++) {
        int64_t RBn = rp == 0 ? rb : R % rb;
        if (!RBn || (rp == 0 && R < rb))
            continue;
        const char *r0 = rp == 0 ? "r0" : ir_fmt("%lld", (long long)(R / rb * rb));
        if (rp == 0 && worth_parallel(R * O * I))
            P("    #pragma omp parallel for\n");
        if (rp == 0)
            P("    for (int64_t r0 = 0; r0 < %lld; r0 += %lld) {\n", (long long)(R / rb * rb), (long long)rb);
        else
            P("    {\n");
        for (int op = 0; op < 2; op++) {
            int64_t OBn = op == 0 ? ob : O % ob;
            if (!OBn || (op == 0 && O < ob))
                continue;
            if (op == 0)
                P("        for (int64_t o0 = 0; o0 < %lld; o0 += %lld) {\n", (long long)(O / ob * ob), (long long)ob);
            else
                P("        {\n            const int64_t o0 = %lld;\n", (long long)(O / ob * ob));
            P("            %s acc[%lld][%lld][%lld];\n", t, (long long)RBn, (long long)OBn, (long long)L);
            P("            for (int a = 0; a < %lld; a++)\n", (long long)RBn);
            P("                for (int b = 0; b < %lld; b++)\n", (long long)OBn);
            P("                    for (int l = 0; l < %lld; l++)\n", (long long)L);
            P("                        acc[a][b][l] = %s;\n", zero);
            if (full) {
                P("            for (int64_t i = 0; i < %lld; i += %lld)\n", (long long)full, (long long)L);
                P("                for (int a = 0; a < %lld; a++)\n", (long long)RBn);
                P("                    for (int b = 0; b < %lld; b++) {\n", (long long)OBn);
                P("                        const %s *xa = x0 + (%s + a) * %lld + i, *wb = x1 + (o0 + b) * %lld + i;\n",
                  t, r0, (long long)I, (long long)I);
                P("                        TG_SIMD\n");
                P("                        for (int l = 0; l < %lld; l++)\n", (long long)L);
                P("                            acc[a][b][l] += xa[l] * wb[l];\n");
                P("                    }\n");
            }
            P("            for (int a = 0; a < %lld; a++)\n", (long long)RBn);
            P("                for (int b = 0; b < %lld; b++) {\n", (long long)OBn);
            P("                    %s sum = %s;\n", t, zero);
            P("                    for (int l = 0; l < %lld; l++)\n", (long long)L);
            P("                        sum += acc[a][b][l];\n");
            if (I % L) {
                P("                    for (int64_t i = %lld; i < %lld; i++) /* the features past the last full lane group */\n",
                  (long long)full, (long long)I);
                P("                        sum += x0[(%s + a) * %lld + i] * x1[(o0 + b) * %lld + i];\n", r0, (long long)I,
                  (long long)I);
            }
            if (n->nin == 3)
                P("                    sum += x2[o0 + b];\n");
            emit_store(20, ir_fmt("(%s + a) * %lld + o0 + b", r0, (long long)O), "sum");
            P("                }\n");
            P("        }\n");
        }
        P("    }\n");
    }
    P("}\n");
}

static void emit_conv2d(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t Nb = x->shape.d[0], C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    int64_t O = w->shape.d[0], Cg = w->shape.d[1], KH = w->shape.d[2], KW = w->shape.d[3];
    int64_t OH = n->shape.d[2], OW = n->shape.d[3];
    int len;
    const int64_t *st = node_ints(n, "stride", &len), *pd = node_ints(n, "padding", NULL),
                  *dl = node_ints(n, "dilation", NULL);
    int64_t G = node_int(n, "groups", 1), Og = O ? O / G : 1; /* no output channels: a k loop of 0 trips, no "k / 0" */
    const char *t = dtype_ctype(n->dtype);
    bool pad = pd[0] || pd[1];
    if (worth_parallel(Nb * O * OH * OW * Cg * KH * KW))
        P("    #pragma omp parallel for collapse(2)\n");
    P("    for (int64_t n = 0; n < %lld; n++)\n", (long long)Nb);
    P("        for (int64_t k = 0; k < %lld; k++)            /* output channel */\n", (long long)O);
    P("            for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    P("                for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                    %s acc = %s;\n", t, n->nin == 3 ? "x2[k]" : literal(0, n->dtype));
    if (G > 1)
        P("                    const int64_t c0 = k / %lld * %lld;   /* first input channel of k's group */\n",
          (long long)Og, (long long)Cg);
    P("                    for (int64_t c = 0; c < %lld; c++)\n", (long long)Cg);
    P("                        for (int64_t r = 0; r < %lld; r++) {\n", (long long)KH);
    P("                            const int64_t ih = h * %lld + r * %lld - %lld;\n", (long long)st[0], (long long)dl[0],
      (long long)pd[0]);
    if (pad)
        P("                            if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    P("                            for (int64_t s = 0; s < %lld; s++) {\n", (long long)KW);
    P("                                const int64_t iw = w * %lld + s * %lld - %lld;\n", (long long)st[1],
      (long long)dl[1], (long long)pd[1]);
    if (pad)
        P("                                if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
    P("                                acc += x0[((n * %lld + %sc) * %lld + ih) * %lld + iw] *\n", (long long)C,
      G > 1 ? "c0 + " : "", (long long)H, (long long)W);
    P("                                       x1[((k * %lld + c) * %lld + r) * %lld + s];\n", (long long)Cg,
      (long long)KH, (long long)KW);
    P("                            }\n");
    P("                        }\n");
    emit_store(20, ir_fmt("((n * %lld + k) * %lld + h) * %lld + w", (long long)O, (long long)OH, (long long)OW), "acc");
    P("                }\n}\n");
}

/* ---- convolution, register-tiled ---- */

/* Sizes, in elements, of the local buffers the convolution kernels keep on a thread's stack:
 * accumulator registers of a GEMM tile, a packed panel, an image, the partial weight gradients. */
enum { GEMM_REGS = 12, GEMM_PANEL = 16384, GEMM_IMAGE = 32768, GEMM_PART = 65536 };

static int64_t lanes_of(DType dt) { return dt == DT_F64 ? 4 : 8; } /* one AVX2 register */
static int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

/*
 * The tile sizes of the direct convolutions: WB output columns (the SIMD lanes, two AVX2
 * vectors of floats at most) by OB output channels, as many as keep the accumulators in about
 * twelve vector registers. Rules, not timing: the same shapes always give the same file.
 */
static void conv_tile_sizes(int64_t O, int64_t OW, int64_t *ob, int64_t *wb) {
    *wb = OW < 16 ? OW : 16;
    int64_t vecs = (*wb + 7) / 8;
    *ob = 12 / vecs;
    if (*ob > O)
        *ob = O;
}

/*
 * One tile of conv2d: output channels [o0, o0 + OBn) of row h, columns [w0, w0 + WBn), summed
 * over c, r, s in the same order as the plain loop (so the same float results), with the
 * accumulators in a small local array the compiler keeps in registers. Columns whose window
 * leaves the input (padding) take a guarded path; the rest read straight rows.
 */
static void emit_conv_tile(const Node *n, int ind, int64_t OBn, const char *o0, int64_t WBn, int64_t w0) {
    Node *x = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    int64_t O = w->shape.d[0], KH = w->shape.d[2], KW = w->shape.d[3];
    int64_t OH = n->shape.d[2], OW = n->shape.d[3];
    const int64_t *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL),
                  *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype);
    bool inside = w0 * st[1] - pd[1] >= 0 && (w0 + WBn - 1) * st[1] + (KW - 1) * dl[1] - pd[1] < W;
    P("%*s{\n", ind, "");
    ind += 4;
    P("%*s%s acc[%lld][%lld];\n", ind, "", t, (long long)OBn, (long long)WBn);
    P("%*sfor (int ob = 0; ob < %lld; ob++)\n", ind, "", (long long)OBn);
    P("%*s    for (int j = 0; j < %lld; j++)\n", ind, "", (long long)WBn);
    P("%*s        acc[ob][j] = %s;\n", ind, "", n->nin == 3 ? ir_fmt("x2[%s + ob]", o0) : literal(0, n->dtype));
    P("%*sfor (int64_t c = 0; c < %lld; c++)\n", ind, "", (long long)C);
    P("%*s    for (int64_t r = 0; r < %lld; r++) {\n", ind, "", (long long)KH);
    P("%*s        const int64_t ih = h * %lld + r * %lld - %lld;\n", ind, "", (long long)st[0], (long long)dl[0],
      (long long)pd[0]);
    if (pd[0])
        P("%*s        if (ih < 0 || ih >= %lld)\n%*s            continue;\n", ind, "", (long long)H, ind, "");
    P("%*s        const %s *xr = x0 + ((n * %lld + c) * %lld + ih) * %lld;\n", ind, "", t, (long long)C, (long long)H,
      (long long)W);
    P("%*s        const %s *wr = x1 + ((%s * %lld + c) * %lld + r) * %lld;\n", ind, "", t, o0, (long long)C,
      (long long)KH, (long long)KW);
    int64_t need = (WBn - 1) * st[1] + (KW - 1) * dl[1] + 1; /* input columns the tile's windows span */
    if (!inside) {
        /* some window reaches into the padding: the span, zero-padded, in a local row */
        P("%*s        %s row[%lld];\n", ind, "", t, (long long)need);
        P("%*s        for (int k = 0; k < %lld; k++) {\n", ind, "", (long long)need);
        P("%*s            const int64_t iw = %lld + k;\n", ind, "", (long long)(w0 * st[1] - pd[1]));
        P("%*s            row[k] = iw >= 0 && iw < %lld ? xr[iw] : %s;\n", ind, "", (long long)W, literal(0, n->dtype));
        P("%*s        }\n", ind, "");
    }
    P("%*s        for (int64_t s = 0; s < %lld; s++) {\n", ind, "", (long long)KW);
    int in = ind + 12;
    if (inside)
        P("%*sconst %s *xs = xr + %lld + s * %lld;\n", in, "", t, (long long)(w0 * st[1] - pd[1]), (long long)dl[1]);
    else
        P("%*sconst %s *xs = row + s * %lld;\n", in, "", t, (long long)dl[1]);
    const char *step = st[1] != 1 ? ir_fmt("j * %lld", (long long)st[1]) : "j";
    P("%*sfor (int ob = 0; ob < %lld; ob++) {\n", in, "", (long long)OBn);
    P("%*s    const %s wv = wr[ob * %lld + s];\n", in, "", t, (long long)(C * KH * KW));
    P("%*s    TG_SIMD\n", in, "");
    P("%*s    for (int j = 0; j < %lld; j++)\n", in, "", (long long)WBn);
    P("%*s        acc[ob][j] += wv * xs[%s];\n", in, "", step);
    P("%*s}\n", in, "");
    P("%*s        }\n", ind, "");
    P("%*s    }\n", ind, "");
    P("%*sfor (int ob = 0; ob < %lld; ob++)\n", ind, "", (long long)OBn);
    P("%*s    for (int j = 0; j < %lld; j++)\n", ind, "", (long long)WBn);
    emit_store(ind + 8,
               ir_fmt("((n * %lld + %s + ob) * %lld + h) * %lld + %lld + j", (long long)O, o0, (long long)OH,
                      (long long)OW, (long long)w0),
               "acc[ob][j]");
    ind -= 4;
    P("%*s}\n", ind, "");
}

/* conv2d (one group) as register tiles: images and channel blocks in parallel when it pays. */
static void emit_conv2d_tiled(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t Nb = x->shape.d[0], O = w->shape.d[0], OH = n->shape.d[2], OW = n->shape.d[3];
    int64_t ob, wb;
    conv_tile_sizes(O, OW, &ob, &wb);
    int64_t nfull = O / ob, otail = O % ob;
    P("    /* tiles of %lld output channels x %lld columns; accumulators in registers */\n", (long long)ob,
      (long long)wb);
    bool par = worth_parallel(Nb * O * OH * OW * w->shape.d[1] * w->shape.d[2] * w->shape.d[3]);
    if (par)
        P("    #pragma omp parallel\n    {\n");
    for (int part = 0; part < 2; part++) {
        int64_t OBn = part == 0 ? ob : otail;
        if (!OBn || (part == 0 && !nfull))
            continue;
        const char *o0 = part == 0 ? "o0" : ir_fmt("%lld", (long long)(nfull * ob));
        if (par) /* the last channels' loop shares the threads: no wait between the two */
            P("    #pragma omp for%s nowait\n", part == 0 ? " collapse(2)" : "");
        P("    for (int64_t n = 0; n < %lld; n++)\n", (long long)Nb);
        if (part == 0)
            P("        for (int64_t o0 = 0; o0 < %lld; o0 += %lld)\n", (long long)(nfull * ob), (long long)ob);
        else
            P("        {\n");
        P("            for (int64_t h = 0; h < %lld; h++) {\n", (long long)OH);
        for (int64_t w0 = 0; w0 < OW; w0 += wb)
            emit_conv_tile(n, 16, OBn, o0, OW - w0 < wb ? OW - w0 : wb, w0);
        P("            }\n");
        if (part == 1)
            P("        }\n");
    }
    if (par)
        P("    }\n");
    P("}\n");
}

/*
 * conv2d_bwd_weight as register tiles: for OBn output channels and one (c, r), the KW weights'
 * gradients are sums over every (n, h, w); each sum runs in 8 SIMD lanes over w and the lanes are
 * added at the end, in a fixed order (the result depends on the shapes only, never on threads).
 * Channel blocks and input channels are the parallel loop: each thread owns whole gradients.
 */
static void emit_conv2d_bwd_weight_tiled(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0), *dy = IN((Node *)n, 1);
    int64_t Nb = x->shape.d[0], C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    int64_t O = n->shape.d[0], KH = n->shape.d[2], KW = n->shape.d[3];
    int64_t OH = dy->shape.d[2], OW = dy->shape.d[3];
    const int64_t *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL),
                  *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype), *zero = literal(0, n->dtype);
    int64_t L = OW < lanes_of(n->dtype) ? OW : lanes_of(n->dtype); /* lanes: one register */
    int64_t ob = 12 / KW < 1 ? 1 : 12 / KW;
    if (ob > O)
        ob = O;
    /* the columns in whole chunks of L lanes, then the rest: a partial chunk gets accumulators and a
     * pass over the rows of its own, so that neither set leaves the registers */
    int64_t wfull = OW / L * L, wrest = OW - wfull;
    P("    /* dL/dw[o][c][r][s] = sum over n, h, w of dL/dy[n][o][h][w] * x[n][c][ih][iw]: %lld channels x %lld taps"
      " per tile, %lld lanes over w */\n", (long long)ob, (long long)KW, (long long)L);
    for (int part = 0; part < 2; part++) {
        int64_t OBn = part == 0 ? ob : O % ob, nfull = O / ob;
        if (!OBn || (part == 0 && !nfull))
            continue;
        const char *o0 = part == 0 ? "o0" : ir_fmt("%lld", (long long)(nfull * ob));
        if (worth_parallel(O * C * KH * KW * Nb * OH * OW))
            P("    #pragma omp parallel for collapse(%d)\n", part == 0 ? 3 : 2);
        if (part == 0)
            P("    for (int64_t o0 = 0; o0 < %lld; o0 += %lld)\n", (long long)(nfull * ob), (long long)ob);
        P("    for (int64_t c = 0; c < %lld; c++)\n", (long long)C);
        P("        for (int64_t r = 0; r < %lld; r++) {\n", (long long)KH);
        P("            %s sum[%lld][%lld];\n", t, (long long)OBn, (long long)KW);
        for (int pass = 0; pass < 2; pass++) {
            int64_t lanes = pass == 0 ? L : wrest, wa = pass == 0 ? 0 : wfull, wb = pass == 0 ? wfull : OW;
            if (wa == wb)
                continue;
            P("            {\n");
            P("            %s acc[%lld][%lld][%lld]; /* columns %lld to %lld */\n", t, (long long)OBn, (long long)KW,
              (long long)lanes, (long long)wa, (long long)wb - 1);
            P("            for (int ob = 0; ob < %lld; ob++)\n", (long long)OBn);
            P("                for (int s = 0; s < %lld; s++)\n", (long long)KW);
            P("                    for (int l = 0; l < %lld; l++)\n", (long long)lanes);
            P("                        acc[ob][s][l] = %s;\n", zero);
            P("            for (int64_t n = 0; n < %lld; n++)\n", (long long)Nb);
            P("                for (int64_t h = 0; h < %lld; h++) {\n", (long long)OH);
            P("                    const int64_t ih = h * %lld + r * %lld - %lld;\n", (long long)st[0], (long long)dl[0],
              (long long)pd[0]);
            if (pd[0] || (OH - 1) * st[0] + (KH - 1) * dl[0] >= H)
                P("                    if (ih < 0 || ih >= %lld)\n                        continue;\n", (long long)H);
            P("                    const %s *xr = x0 + ((n * %lld + c) * %lld + ih) * %lld;\n", t, (long long)C,
              (long long)H, (long long)W);
            P("                    const %s *gr = x1 + ((n * %lld + %s) * %lld + h) * %lld;\n", t, (long long)O, o0,
              (long long)OH, (long long)OW);
            /* a chunk whose windows reach into the padding reads through a guard */
            for (int64_t w0 = wa; w0 < wb; w0 += lanes) {
                int64_t wn = lanes;
                bool inside = w0 * st[1] - pd[1] >= 0 && (w0 + wn - 1) * st[1] + (KW - 1) * dl[1] - pd[1] < W;
                P("                    for (int s = 0; s < %lld; s++) {\n", (long long)KW);
                if (inside)
                    P("                        const %s *xs = xr + %lld + s * %lld;\n", t,
                      (long long)(w0 * st[1] - pd[1]), (long long)dl[1]);
                else {
                    P("                        %s xs[%lld];\n", t, (long long)(wn * st[1]));
                    P("                        for (int l = 0; l < %lld; l++) {\n", (long long)wn);
                    P("                            const int64_t iw = %lld + l * %lld + s * %lld;\n",
                      (long long)(w0 * st[1] - pd[1]), (long long)st[1], (long long)dl[1]);
                    P("                            xs[l * %lld] = iw >= 0 && iw < %lld ? xr[iw] : %s;\n",
                      (long long)st[1], (long long)W, zero);
                    P("                        }\n");
                }
                P("                        for (int ob = 0; ob < %lld; ob++) {\n", (long long)OBn);
                P("                            const %s *g = gr + ob * %lld + %lld;\n", t, (long long)(OH * OW),
                  (long long)w0);
                P("                            TG_SIMD\n");
                P("                            for (int l = 0; l < %lld; l++)\n", (long long)wn);
                P("                                acc[ob][s][l] += g[l] * xs[l%s];\n",
                  st[1] != 1 ? ir_fmt(" * %lld", (long long)st[1]) : "");
                P("                        }\n");
                P("                    }\n");
            }
            P("                }\n");
            P("            for (int ob = 0; ob < %lld; ob++)\n", (long long)OBn);
            P("                for (int s = 0; s < %lld; s++) {\n", (long long)KW);
            P("                    %s a = %s;\n", t, pass == 0 ? zero : "sum[ob][s]");
            P("                    for (int l = 0; l < %lld; l++)\n", (long long)lanes);
            P("                        a += acc[ob][s][l];\n");
            P("                    sum[ob][s] = a;\n");
            P("                }\n");
            P("            }\n");
        }
        P("            for (int ob = 0; ob < %lld; ob++)\n", (long long)OBn);
        P("                for (int s = 0; s < %lld; s++)\n", (long long)KW);
        P("                    out[(((%s + ob) * %lld + c) * %lld + r) * %lld + s] = sum[ob][s];\n", o0, (long long)C,
          (long long)KH, (long long)KW);
        P("        }\n");
    }
    P("}\n");
}

/*
 * conv2d_bwd_input as register tiles, for stride 1 (kernel_gathers): each input element's
 * gradient gathers, over o, r, s, the output gradients whose windows read it, times the weight
 * that read it. Tiles of CBn input channels x WBn columns of one row; rows and columns whose
 * windows fall outside dL/dy are skipped or read through a guard. Every element is written once,
 * so an epilogue (the relu mask) runs at the store.
 */
static void emit_conv_bwd_input_tile(const Node *n, int ind, int64_t CBn, const char *c0, int64_t WBn, int64_t w0,
                                     int64_t lp, int64_t owp) {
    Node *dy = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t C = n->shape.d[1], H = n->shape.d[2], W = n->shape.d[3];
    int64_t O = w->shape.d[0], KH = w->shape.d[2], KW = w->shape.d[3];
    int64_t OH = dy->shape.d[2], OW = dy->shape.d[3];
    const int64_t *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype), *zero = literal(0, n->dtype);
    /* lane j, tap s reads dL/dy column w0 + j + pd - s * dl */
    /* with dL/dy padded (lp >= 0), the tile computes whole SIMD registers and stores WBn columns */
    int64_t WC = lp >= 0 ? round_up(WBn, lanes_of(n->dtype)) : WBn;
    bool inside = lp >= 0 || (w0 + pd[1] - (KW - 1) * dl[1] >= 0 && w0 + WBn - 1 + pd[1] < OW);
    P("%*s{\n", ind, "");
    ind += 4;
    P("%*s%s acc[%lld][%lld];\n", ind, "", t, (long long)CBn, (long long)WC);
    P("%*sfor (int cb = 0; cb < %lld; cb++)\n", ind, "", (long long)CBn);
    P("%*s    for (int j = 0; j < %lld; j++)\n", ind, "", (long long)WC);
    P("%*s        acc[cb][j] = %s;\n", ind, "", zero);
    P("%*sfor (int64_t o = 0; o < %lld; o++)\n", ind, "", (long long)O);
    P("%*s    for (int64_t r = 0; r < %lld; r++) {\n", ind, "", (long long)KH);
    P("%*s        const int64_t h = ih + %lld - r * %lld;\n", ind, "", (long long)pd[0], (long long)dl[0]);
    P("%*s        if (h < 0 || h >= %lld)\n%*s            continue;\n", ind, "", (long long)OH, ind, "");
    if (lp >= 0) /* dL/dy's rows padded with zeros in gpad: every tile reads inside */
        P("%*s        const %s *gr = gpad + (o * %lld + h) * %lld;\n", ind, "", t, (long long)OH, (long long)owp);
    else
        P("%*s        const %s *gr = x0 + ((n * %lld + o) * %lld + h) * %lld;\n", ind, "", t, (long long)O, (long long)OH,
          (long long)OW);
    P("%*s        const %s *wr = x1 + ((o * %lld + %s) * %lld + r) * %lld;\n", ind, "", t, (long long)C, c0,
      (long long)KH, (long long)KW);
    int64_t need = WBn + (KW - 1) * dl[1], first = w0 + pd[1] - (KW - 1) * dl[1];
    if (!inside) {
        /* the tile reads past dL/dy's edges: the columns it spans, zero-padded, in a local row */
        P("%*s        %s row[%lld];\n", ind, "", t, (long long)need);
        P("%*s        for (int k = 0; k < %lld; k++) {\n", ind, "", (long long)need);
        P("%*s            const int64_t w = %lld + k;\n", ind, "", (long long)first);
        P("%*s            row[k] = w >= 0 && w < %lld ? gr[w] : %s;\n", ind, "", (long long)OW, zero);
        P("%*s        }\n", ind, "");
    }
    P("%*s        for (int64_t s = 0; s < %lld; s++) {\n", ind, "", (long long)KW);
    int in = ind + 12;
    if (inside)
        P("%*sconst %s *gs = gr + %lld - s * %lld;\n", in, "", t, (long long)(w0 + pd[1] + (lp > 0 ? lp : 0)),
          (long long)dl[1]);
    else
        P("%*sconst %s *gs = row + (%lld - s) * %lld;\n", in, "", t, (long long)(KW - 1), (long long)dl[1]);
    P("%*sfor (int cb = 0; cb < %lld; cb++) {\n", in, "", (long long)CBn);
    P("%*s    const %s wv = wr[cb * %lld + s];\n", in, "", t, (long long)(KH * KW));
    P("%*s    TG_SIMD\n", in, "");
    P("%*s    for (int j = 0; j < %lld; j++)\n", in, "", (long long)WC);
    P("%*s        acc[cb][j] += wv * gs[j];\n", in, "");
    P("%*s}\n", in, "");
    P("%*s        }\n", ind, "");
    P("%*s    }\n", ind, "");
    P("%*sfor (int cb = 0; cb < %lld; cb++)\n", ind, "", (long long)CBn);
    P("%*s    for (int j = 0; j < %lld; j++)\n", ind, "", (long long)WBn);
    emit_store(ind + 8,
               ir_fmt("((n * %lld + %s + cb) * %lld + ih) * %lld + %lld + j", (long long)C, c0, (long long)H,
                      (long long)W, (long long)w0),
               "acc[cb][j]");
    ind -= 4;
    P("%*s}\n", ind, "");
}

static void emit_conv2d_bwd_input_tiled(const Node *n) {
    kernel_open(n);
    Node *dy = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t Nb = n->shape.d[0], C = n->shape.d[1], H = n->shape.d[2], W = n->shape.d[3];
    int64_t O = w->shape.d[0], KW = w->shape.d[3], OH = dy->shape.d[2], OW = dy->shape.d[3];
    const int64_t *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype);
    int64_t cb, wb;
    conv_tile_sizes(C, W, &cb, &wb);
    int64_t nfull = C / cb, ctail = C % cb;
    /* dL/dy's rows with the zeros the windows reach past its edges, per image, when that fits */
    int64_t lp = (KW - 1) * dl[1] - pd[1], rp = W - 1 + pd[1] - (OW - 1);
    lp = lp > 0 ? lp : 0, rp = rp > 0 ? rp : 0;
    int64_t owp = OW + lp + rp, lastw0 = (W - 1) / wb * wb;
    if (owp < lastw0 + round_up(W - lastw0, lanes_of(n->dtype)) + pd[1] + lp) /* the last tile's whole registers */
        owp = lastw0 + round_up(W - lastw0, lanes_of(n->dtype)) + pd[1] + lp;
    bool padded = O * OH * owp <= GEMM_IMAGE;
    P("    /* dL/dx[n][c][ih][iw] = sum over o, r, s of dL/dy[n][o][ih + pad - r][iw + pad - s] * w[o][c][r][s];"
      " tiles of %lld channels x %lld columns */\n", (long long)cb, (long long)wb);
    bool par = worth_parallel(Nb * C * H * W * w->shape.d[0] * w->shape.d[2] * w->shape.d[3]);
    if (padded) {
        if (par)
            P("    #pragma omp parallel for\n");
        P("    for (int64_t n = 0; n < %lld; n++) {\n", (long long)Nb);
        P("        %s gpad[%lld]; /* dL/dy's rows, %lld zeros left and %lld right */\n", t, (long long)(O * OH * owp),
          (long long)lp, (long long)rp);
        P("        for (int64_t oh = 0; oh < %lld; oh++)\n", (long long)(O * OH));
        P("            for (int64_t j = 0; j < %lld; j++)\n", (long long)owp);
        P("                gpad[oh * %lld + j] = j >= %lld && j < %lld ? x0[(n * %lld + oh) * %lld + j - %lld] : %s;\n",
          (long long)owp, (long long)lp, (long long)(lp + OW), (long long)(O * OH), (long long)OW, (long long)lp,
          literal(0, n->dtype));
    }
    for (int part = 0; part < 2; part++) {
        int64_t CBn = part == 0 ? cb : ctail;
        if (!CBn || (part == 0 && !nfull))
            continue;
        const char *c0 = part == 0 ? "c0" : ir_fmt("%lld", (long long)(nfull * cb));
        if (padded) {
            if (part == 0)
                P("        for (int64_t c0 = 0; c0 < %lld; c0 += %lld)\n", (long long)(nfull * cb), (long long)cb);
            else
                P("        {\n");
        } else {
            if (part == 0 && par)
                P("    #pragma omp parallel for collapse(2)\n");
            P("    for (int64_t n = 0; n < %lld; n++)\n", (long long)Nb);
            if (part == 0)
                P("        for (int64_t c0 = 0; c0 < %lld; c0 += %lld)\n", (long long)(nfull * cb), (long long)cb);
            else
                P("        {\n");
        }
        P("            for (int64_t ih = 0; ih < %lld; ih++) {\n", (long long)H);
        for (int64_t w0 = 0; w0 < W; w0 += wb)
            emit_conv_bwd_input_tile(n, 16, CBn, c0, W - w0 < wb ? W - w0 : wb, w0, padded ? lp : -1, owp);
        P("            }\n");
        if (part == 1)
            P("        }\n");
    }
    if (padded)
        P("    }\n");
    P("}\n");
}

/* ---- convolution as packed GEMM ---- */

/*
 * The three convolution ops as matrix products over the im2col matrix X[k][p] of an image
 * (k = (c, r, s) a tap, p = (oh, ow) an output position, X the input the tap reads there, zero in
 * the padding): y = w X, dL/dw = dL/dy X^T summed over the images, dL/dx = col2im(w^T dL/dy).
 * X is packed a panel of positions at a time into a local buffer, so strides, padding and
 * dilation cost nothing in the inner loops; every product runs through one micro-kernel: an
 * MR x NR tile of accumulators in registers (NR a multiple of the SIMD width), fed a broadcast
 * from A and a vector row from B per step. Tile sizes, panel sizes and the parallel partition
 * come from the shapes by the rules below, never from timing.
 */

typedef struct {
    int64_t N, C, H, W, O, KH, KW, OH, OW, K, P;
    const int64_t *st, *pd, *dl;
} ConvDims;

/* Dims of a conv2d (x, w -> y), conv2d_bwd_weight (x, dy -> dw) or conv2d_bwd_input (dy, w -> dx). */
static ConvDims conv_dims(const Node *n) {
    const Node *x, *w, *y;
    if (n->op == OP_CONV2D)
        x = IN((Node *)n, 0), w = IN((Node *)n, 1), y = n;
    else if (n->op == OP_CONV2D_BWD_WEIGHT)
        x = IN((Node *)n, 0), w = n, y = IN((Node *)n, 1);
    else
        x = n, w = IN((Node *)n, 1), y = IN((Node *)n, 0);
    ConvDims d = {x->shape.d[0], x->shape.d[1], x->shape.d[2], x->shape.d[3], w->shape.d[0], w->shape.d[2],
                  w->shape.d[3], y->shape.d[2], y->shape.d[3], 0, 0, node_ints(n, "stride", NULL),
                  node_ints(n, "padding", NULL), node_ints(n, "dilation", NULL)};
    d.K = d.C * d.KH * d.KW;
    d.P = d.OH * d.OW;
    return d;
}


/*
 * The micro-tile for an M x N product: MR rows by NR columns, MR * NR / lanes accumulator
 * registers at most GEMM_REGS. Each step loads NR / lanes vectors and broadcasts MR values for
 * MR * NR / lanes FMAs; the pick minimises the padded work divided by that ratio.
 */
static void gemm_tile(int64_t M, int64_t N, int64_t lanes, int64_t *mr, int64_t *nr) {
    double best = 0;
    for (int64_t m = 6; m >= 1; m--) {
        int64_t v = GEMM_REGS / m > 3 ? 3 : GEMM_REGS / m, n = v * lanes;
        if (n > round_up(N, lanes))
            n = round_up(N, lanes), v = n / lanes;
        double ratio = (double)(m * v) / (double)(m + v);
        double cost = (double)round_up(M, m) * (double)round_up(N, n) / ratio;
        if (best == 0 || cost < best - 1e-9)
            best = cost, *mr = m, *nr = n;
    }
}

/*
 * The loop over a GEMM's row tiles, part 0 the whole tiles of mr rows below `full`, part 1 the
 * one tile of the rows left (named `what`), then the tile's accumulators set to `init`.
 */
static void emit_row_tiles(int ind, int part, const char *v, int64_t full, int64_t mr, const char *what, bool brace) {
    if (part == 0)
        P("%*sfor (int64_t %s = 0; %s < %lld; %s += %lld)%s\n", ind, "", v, v, (long long)full, v, (long long)mr,
          brace ? " {" : "");
    else
        P("%*sfor (int64_t %s = %lld; %s < %lld; %s++)%s /* the last %s */\n", ind, "", v, (long long)full, v,
          (long long)full + 1, v, brace ? " {" : "", what);
}

static void emit_acc(int ind, const char *t, int64_t m, int64_t nr, const char *init) {
    P("%*s%s acc[%lld][%lld];\n", ind, "", t, (long long)m, (long long)nr);
    P("%*sfor (int i = 0; i < %lld; i++)\n", ind, "", (long long)m);
    P("%*s    for (int j = 0; j < %lld; j++)\n", ind, "", (long long)nr);
    P("%*s        acc[i][j] = %s;\n", ind, "", init);
}

/* acc[i][j] += sum over q < kk of a[i * ais + q * aks] * b[q * bks + j]: the micro-kernel. */
static void emit_micro(int ind, const char *t, int64_t mr, int64_t nr, const char *kk, const char *a, int64_t ais,
                       int64_t aks, const char *b, int64_t bks) {
    P("%*sfor (int64_t q = 0; q < %s; q++) {\n", ind, "", kk);
    P("%*s    const %s *bq = %s + q * %lld;\n", ind, "", t, b, (long long)bks);
    P("%*s    for (int i = 0; i < %lld; i++) {\n", ind, "", (long long)mr);
    P("%*s        const %s av = %s[i * %lld + q * %lld];\n", ind, "", t, a, (long long)ais, (long long)aks);
    P("%*s        TG_SIMD\n", ind, "");
    P("%*s        for (int j = 0; j < %lld; j++)\n", ind, "", (long long)nr);
    P("%*s            acc[i][j] += av * bq[j];\n", ind, "");
    P("%*s    }\n", ind, "");
    P("%*s}\n", ind, "");
}

/*
 * The im2col walk of image `img` (C x H x W at `xc`) for taps k of [k0, k0 + kn) and positions
 * [p0, p0 + np): with add false, col[kk * ks + j * js] = X[k][p] (zero in the padding and for
 * k >= K); with add true, the reverse, xc[...] += col[...] over the positions inside the image
 * (col2im). Each output row's run of positions splits into the columns left of the image, those
 * inside (a straight or strided copy) and those right of it.
 */
static void emit_im2col(int ind, const ConvDims *d, const char *t, const char *xc, const char *col, const char *k0,
                        int64_t kn, int64_t ks, int64_t js, bool add) {
    const char *zero = "0";
    P("%*sfor (int64_t kk = 0; kk < %lld; kk++) {\n", ind, "", (long long)kn);
    ind += 4;
    P("%*sconst int64_t k = %s + kk;\n", ind, "", k0);
    P("%*s%s%s *cd = %s + kk * %lld;\n", ind, "", add ? "const " : "", t, col, (long long)ks);
    if (!add && d->K % kn) /* the last block of taps passes the last tap: zeros */
        P("%*sif (k >= %lld) {\n%*s    for (int64_t j = 0; j < np; j++)\n%*s        cd[j * %lld] = %s;\n%*s    continue;\n"
          "%*s}\n", ind, "", (long long)d->K, ind, "", ind, "", (long long)js, zero, ind, "", ind, "");
    else if (d->K % kn)
        P("%*sif (k >= %lld)\n%*s    continue;\n", ind, "", (long long)d->K, ind, "");
    P("%*sconst int64_t c = k / %lld, r = k / %lld %% %lld, s = k %% %lld;\n", ind, "", (long long)(d->KH * d->KW),
      (long long)d->KW, (long long)d->KH, (long long)d->KW);
    P("%*s/* output columns [lo, hi) read inside the image's width at this tap */\n", ind, "");
    P("%*sconst int64_t ln = %lld - s * %lld, hn = %lld - s * %lld;\n", ind, "", (long long)d->pd[1],
      (long long)d->dl[1], (long long)(d->W - 1 + d->pd[1]), (long long)d->dl[1]);
    P("%*sconst int64_t lo = ln <= 0 ? 0 : (ln + %lld) / %lld, hi0 = hn < 0 ? 0 : hn / %lld + 1;\n", ind, "",
      (long long)(d->st[1] - 1), (long long)d->st[1], (long long)d->st[1]);
    P("%*sconst int64_t hi = hi0 > %lld ? %lld : hi0;\n", ind, "", (long long)d->OW, (long long)d->OW);
    P("%*sint64_t oh = p0 / %lld, ow = p0 %% %lld;\n", ind, "", (long long)d->OW, (long long)d->OW);
    P("%*sfor (int64_t j = 0; j < np; oh++, ow = 0) {\n", ind, "");
    ind += 4;
    P("%*sconst int64_t e = ow + (np - j < %lld - ow ? np - j : %lld - ow); /* this row's columns: [ow, e) */\n", ind,
      "", (long long)d->OW, (long long)d->OW);
    P("%*sconst int64_t ih = oh * %lld + r * %lld - %lld;\n", ind, "", (long long)d->st[0], (long long)d->dl[0],
      (long long)d->pd[0]);
    P("%*sconst int64_t v0 = ih < 0 || ih >= %lld ? e : lo < ow ? ow : lo > e ? e : lo;\n", ind, "", (long long)d->H);
    P("%*sconst int64_t v1 = v0 == e || hi < v0 ? v0 : hi > e ? e : hi;\n", ind, "");
    P("%*sconst int64_t base = c * %lld + ih * %lld + s * %lld - %lld;\n", ind, "", (long long)(d->H * d->W),
      (long long)d->W, (long long)d->dl[1], (long long)d->pd[1]);
    P("%*sconst int64_t jo = j - ow; /* column q goes to position jo + q */\n", ind, "");
    if (!add) {
        P("%*sfor (int64_t q = ow; q < v0; q++)\n%*s    cd[(jo + q) * %lld] = %s;\n", ind, "", ind, "", (long long)js, zero);
        P("%*sfor (int64_t q = v0; q < v1; q++)\n%*s    cd[(jo + q) * %lld] = %s[base + q * %lld];\n", ind, "", ind, "",
          (long long)js, xc, (long long)d->st[1]);
        P("%*sfor (int64_t q = v1; q < e; q++)\n%*s    cd[(jo + q) * %lld] = %s;\n", ind, "", ind, "", (long long)js, zero);
    } else {
        P("%*sfor (int64_t q = v0; q < v1; q++)\n%*s    %s[base + q * %lld] += cd[(jo + q) * %lld];\n", ind, "", ind, "", xc,
          (long long)d->st[1], (long long)js);
    }
    P("%*sj += e - ow;\n", ind, "");
    ind -= 4;
    P("%*s}\n", ind, "");
    ind -= 4;
    P("%*s}\n", ind, "");
}

/* Is the shape one the GEMM kernels take (one group, floats, nothing empty, buffers that fit a
 * thread's stack)? */
static bool conv_gemm_ok(const Node *n) {
    if (node_int(n, "groups", 1) != 1 || !dtype_is_float(n->dtype) || !shape_numel(n->shape))
        return false;
    for (int i = 0; i < 2; i++)
        if (!shape_numel(IN((Node *)n, i)->shape))
            return false;
    ConvDims d = conv_dims(n);
    int64_t mr, nr, L = lanes_of(n->dtype);
    switch (n->op) {
    case OP_CONV2D:
        gemm_tile(d.O, d.P, L, &mr, &nr);
        return d.K * nr <= 2 * GEMM_PANEL;
    case OP_CONV2D_BWD_WEIGHT:
        gemm_tile(d.O, d.K, L, &mr, &nr);
        return d.O * nr <= GEMM_PANEL;
    default:
        gemm_tile(d.K, d.P, L, &mr, &nr);
        return d.C * d.H * d.W <= GEMM_IMAGE && (d.K + d.O) * nr <= 2 * GEMM_PANEL;
    }
}

/*
 * Which convolutions take the GEMM kernels: strided ones, whose direct kernels would read the
 * input with gaps, and those with outputs narrower than a SIMD register. The direct kernels
 * (above) read unpadded stride-1 rows in place and beat packing for few channels, as on LeNet.
 */
static bool conv_gemm(const Node *n) {
    if (!conv_gemm_ok(n))
        return false;
    ConvDims d = conv_dims(n);
    return d.st[0] != 1 || d.st[1] != 1 || (n->op == OP_CONV2D_BWD_INPUT ? d.W : d.OW) < lanes_of(n->dtype);
}

/* Positions per packed panel: a multiple of nr, `per` values each, about GEMM_PANEL in all. */
static int64_t gemm_panel(int64_t per, int64_t nr, int64_t P) {
    int64_t pb = GEMM_PANEL / per / nr * nr;
    if (pb < nr)
        pb = nr;
    return pb > round_up(P, nr) ? round_up(P, nr) : pb;
}

/* y[n][o][p] = bias[o] + sum over k of w[o][k] X[k][p]: tiles of output channels x positions. */
static void emit_conv2d_gemm(const Node *n) {
    kernel_open(n);
    ConvDims d = conv_dims(n);
    const char *t = dtype_ctype(n->dtype);
    int64_t mr, nr;
    gemm_tile(d.O, d.P, lanes_of(n->dtype), &mr, &nr);
    int64_t pb = gemm_panel(d.K, nr, d.P), nch = (d.P + pb - 1) / pb;
    P("    /* y = w X + b, X the im2col matrix (%lld taps x %lld positions) packed %lld positions at a time;"
      " tiles of %lld channels x %lld positions */\n", (long long)d.K, (long long)d.P, (long long)pb, (long long)mr,
      (long long)nr);
    if (worth_parallel(d.N * d.O * d.P * d.K))
        P("    #pragma omp parallel for collapse(2)\n");
    P("    for (int64_t n = 0; n < %lld; n++)\n", (long long)d.N);
    P("        for (int64_t pc = 0; pc < %lld; pc++) {\n", (long long)nch);
    P("            const int64_t p0 = pc * %lld, np = %lld - p0 < %lld ? %lld - p0 : %lld;\n", (long long)pb,
      (long long)d.P, (long long)pb, (long long)d.P, (long long)pb);
    P("            %s col[%lld];\n", t, (long long)(d.K * pb));
    P("            const %s *xc = x0 + n * %lld;\n", t, (long long)(d.C * d.H * d.W));
    emit_im2col(12, &d, t, "xc", "col", "0", d.K, pb, 1, false);
    if (d.P % nr) {
        P("            for (int64_t k = 0; k < %lld; k++) /* the last tile's columns past the end */\n", (long long)d.K);
        P("                for (int64_t j = np; j < (np + %lld) / %lld * %lld; j++)\n", (long long)(nr - 1),
          (long long)nr, (long long)nr);
        P("                    col[k * %lld + j] = 0;\n", (long long)pb);
    }
    int64_t full = d.O / mr * mr;
    for (int part = 0; part < 2; part++) {
        int64_t m = part == 0 ? mr : d.O - full;
        if (!m || (part == 0 && !full))
            continue;
        emit_row_tiles(12, part, "o0", full, mr, "channels", false);
        P("                for (int64_t j0 = 0; j0 < np; j0 += %lld) {\n", (long long)nr);
        emit_acc(20, t, m, nr, n->nin == 3 ? "x2[o0 + i]" : literal(0, n->dtype));
        P("                    const %s *wo = x1 + o0 * %lld, *cj = col + j0;\n", t, (long long)d.K);
        emit_micro(20, t, m, nr, ir_fmt("%lld", (long long)d.K), "wo", d.K, 1, "cj", pb);
        P("                    const int jn = np - j0 < %lld ? (int)(np - j0) : %lld;\n", (long long)nr, (long long)nr);
        P("                    for (int i = 0; i < %lld; i++)\n", (long long)m);
        P("                        for (int j = 0; j < jn; j++)\n");
        emit_store(28, ir_fmt("(n * %lld + o0 + i) * %lld + p0 + j0 + j", (long long)d.O, (long long)d.P), "acc[i][j]");
        P("                }\n");
    }
    P("        }\n}\n");
}

/*
 * dL/dw[o][k] = sum over images n and positions p of dL/dy[n][o][p] X_n[k][p], as outer products:
 * blocks of nr taps, X^T packed for them, tiles of channels x taps accumulated over p in order.
 * The batch splits into a fixed number of parts (a rule of the shapes, never of the threads),
 * each summing its images into its own partial gradient; the parts are added in order, so the
 * result is the same for any number of threads.
 */
static void emit_conv2d_bwd_weight_gemm(const Node *n) {
    kernel_open(n);
    ConvDims d = conv_dims(n);
    const char *t = dtype_ctype(n->dtype);
    int64_t mr, nr;
    gemm_tile(d.O, d.K, lanes_of(n->dtype), &mr, &nr);
    int64_t nkb = (d.K + nr - 1) / nr, pb = d.P < 256 ? d.P : 256, parts = 1;
    if (nkb < 8 && d.N > 1)
        parts = (8 + nkb - 1) / nkb < d.N ? (8 + nkb - 1) / nkb : d.N;
    while (parts > 1 && parts * d.O * d.K > GEMM_PART)
        parts--;
    int64_t per = d.N ? (d.N + parts - 1) / parts : 1;
    parts = d.N ? (d.N + per - 1) / per : 1;
    P("    /* dL/dw = sum over images of dL/dy X^T: blocks of %lld taps, tiles of %lld channels; %lld part%s of %lld"
      " image%s */\n", (long long)nr, (long long)mr, (long long)parts, parts > 1 ? "s" : "", (long long)per,
      per > 1 ? "s" : "");
    if (parts > 1)
        P("    %s part[%lld][%lld];\n", t, (long long)parts, (long long)(d.O * d.K));
    if (worth_parallel(d.N * d.O * d.P * d.K))
        P("    #pragma omp parallel for collapse(2)\n");
    P("    for (int64_t pt = 0; pt < %lld; pt++)\n", (long long)parts);
    P("        for (int64_t kb = 0; kb < %lld; kb++) {\n", (long long)nkb);
    P("            %s wacc[%lld], colT[%lld];\n", t, (long long)(d.O * nr), (long long)(pb * nr));
    P("            for (int64_t i = 0; i < %lld; i++)\n                wacc[i] = %s;\n", (long long)(d.O * nr),
      literal(0, n->dtype));
    P("            for (int64_t n = pt * %lld; n < %lld && n < (pt + 1) * %lld; n++)\n", (long long)per, (long long)d.N,
      (long long)per);
    P("                for (int64_t p0 = 0; p0 < %lld; p0 += %lld) {\n", (long long)d.P, (long long)pb);
    P("                    const int64_t np = %lld - p0 < %lld ? %lld - p0 : %lld;\n", (long long)d.P, (long long)pb,
      (long long)d.P, (long long)pb);
    P("                    const %s *xc = x0 + n * %lld;\n", t, (long long)(d.C * d.H * d.W));
    emit_im2col(20, &d, t, "xc", "colT", ir_fmt("kb * %lld", (long long)nr), nr, 1, nr, false);
    int64_t full = d.O / mr * mr;
    for (int part = 0; part < 2; part++) {
        int64_t m = part == 0 ? mr : d.O - full;
        if (!m || (part == 0 && !full))
            continue;
        emit_row_tiles(20, part, "o0", full, mr, "channels", true);
        emit_acc(24, t, m, nr, ir_fmt("wacc[(o0 + i) * %lld + j]", (long long)nr));
        P("                        const %s *gy = x1 + (n * %lld + o0) * %lld + p0;\n", t, (long long)d.O,
          (long long)d.P);
        emit_micro(24, t, m, nr, "np", "gy", d.P, 1, "colT", nr);
        P("                        for (int i = 0; i < %lld; i++)\n", (long long)m);
        P("                            for (int j = 0; j < %lld; j++)\n", (long long)nr);
        P("                                wacc[(o0 + i) * %lld + j] = acc[i][j];\n", (long long)nr);
        P("                    }\n");
    }
    P("                }\n");
    P("            const int64_t kn = %lld - kb * %lld < %lld ? %lld - kb * %lld : %lld;\n", (long long)d.K,
      (long long)nr, (long long)nr, (long long)d.K, (long long)nr, (long long)nr);
    P("            for (int64_t o = 0; o < %lld; o++)\n", (long long)d.O);
    P("                for (int64_t j = 0; j < kn; j++)\n");
    P("                    %s[o * %lld + kb * %lld + j] = wacc[o * %lld + j];\n", parts > 1 ? "part[pt]" : "out",
      (long long)d.K, (long long)nr, (long long)nr);
    P("        }\n");
    if (parts > 1) {
        P("    for (int64_t e = 0; e < %lld; e++) { /* the parts in order */\n", (long long)(d.O * d.K));
        P("        %s s = part[0][e];\n", t);
        P("        for (int64_t pt = 1; pt < %lld; pt++)\n            s += part[pt][e];\n", (long long)parts);
        P("        out[e] = s;\n    }\n");
    }
    P("}\n");
}

/*
 * dL/dx of an image = col2im(w^T dL/dy): per panel of positions, the taps' gradients dcol =
 * w^T dL/dy (tiles of taps x positions, summed over the output channels), then each added to the
 * input element it read, in a local image. The image is stored at the end, element by element
 * (through an epilogue, the relu mask, when there is one), so images run in parallel.
 */
static void emit_conv2d_bwd_input_gemm(const Node *n) {
    kernel_open(n);
    ConvDims d = conv_dims(n);
    const char *t = dtype_ctype(n->dtype);
    int64_t mr, nr, chw = d.C * d.H * d.W;
    gemm_tile(d.K, d.P, lanes_of(n->dtype), &mr, &nr);
    int64_t pb = gemm_panel(d.K + d.O, nr, d.P);
    P("    /* dL/dx = col2im(w^T dL/dy), %lld positions at a time; tiles of %lld taps x %lld positions */\n",
      (long long)pb, (long long)mr, (long long)nr);
    if (worth_parallel(d.N * d.O * d.P * d.K))
        P("    #pragma omp parallel for\n");
    P("    for (int64_t n = 0; n < %lld; n++) {\n", (long long)d.N);
    P("        %s img[%lld], gp[%lld], dcol[%lld];\n", t, (long long)chw, (long long)(d.O * pb), (long long)(d.K * pb));
    P("        for (int64_t e = 0; e < %lld; e++)\n            img[e] = %s;\n", (long long)chw, literal(0, n->dtype));
    P("        for (int64_t p0 = 0; p0 < %lld; p0 += %lld) {\n", (long long)d.P, (long long)pb);
    P("            const int64_t np = %lld - p0 < %lld ? %lld - p0 : %lld, npad = (np + %lld) / %lld * %lld;\n",
      (long long)d.P, (long long)pb, (long long)d.P, (long long)pb, (long long)(nr - 1), (long long)nr, (long long)nr);
    P("            for (int64_t o = 0; o < %lld; o++)\n", (long long)d.O);
    P("                for (int64_t j = 0; j < npad; j++)\n");
    P("                    gp[o * %lld + j] = j < np ? x0[(n * %lld + o) * %lld + p0 + j] : %s;\n", (long long)pb,
      (long long)d.O, (long long)d.P, literal(0, n->dtype));
    int64_t full = d.K / mr * mr;
    for (int part = 0; part < 2; part++) {
        int64_t m = part == 0 ? mr : d.K - full;
        if (!m || (part == 0 && !full))
            continue;
        emit_row_tiles(12, part, "k0", full, mr, "taps", false);
        P("                for (int64_t j0 = 0; j0 < np; j0 += %lld) {\n", (long long)nr);
        emit_acc(20, t, m, nr, literal(0, n->dtype));
        P("                    const %s *wk = x1 + k0, *gj = gp + j0;\n", t);
        emit_micro(20, t, m, nr, ir_fmt("%lld", (long long)d.O), "wk", 1, d.K, "gj", pb);
        P("                    for (int i = 0; i < %lld; i++)\n", (long long)m);
        P("                        for (int j = 0; j < %lld; j++)\n", (long long)nr);
        P("                            dcol[(k0 + i) * %lld + j0 + j] = acc[i][j];\n", (long long)pb);
        P("                }\n");
    }
    emit_im2col(12, &d, t, "img", "dcol", "0", d.K, pb, 1, true);
    P("        }\n");
    P("        for (int64_t e = 0; e < %lld; e++)\n", (long long)chw);
    if (grouped() && kernel_epilogue(n) == EPI_SCATTER)
        P("            out[n * %lld + e] = img[e];\n", (long long)chw);
    else
        emit_store(12, ir_fmt("n * %lld + e", (long long)chw), "img[e]");
    P("    }\n}\n");
}

/* ---- convolution with output channels in the SIMD lanes ---- */

/*
 * Narrow outputs (LeNet's second layer: 10 columns) fill the width-tiled kernel's registers
 * badly; with enough output channels, the lanes can run over them instead. Unpadded, one group,
 * channels a multiple of the SIMD width, the weights small enough to transpose on the stack,
 * and fewer lanes wasted than across the width.
 */
static bool conv_chan_lanes(const Node *n) {
    if (n->op != OP_CONV2D || node_int(n, "groups", 1) != 1 || !dtype_is_float(n->dtype) || !shape_numel(n->shape) ||
        !shape_numel(IN((Node *)n, 1)->shape))
        return false;
    ConvDims d = conv_dims(n);
    int64_t L = lanes_of(n->dtype);
    if (d.pd[0] || d.pd[1] || d.O % L || d.O * d.K > GEMM_PANEL)
        return false;
    int64_t wb = d.OW < 2 * L ? d.OW : 2 * L;
    return (double)d.OW / (double)round_up(d.OW, L) < 1.0 && wb < 2 * L;
}

/* One tile: positions [w0, w0 + wt) of row h, channels [ob0, ob0 + ov * L). */
static void emit_conv_chan_tile(const Node *n, const ConvDims *d, int ind, int64_t wt, int64_t ov, const char *w0) {
    const char *t = dtype_ctype(n->dtype);
    int64_t L = lanes_of(n->dtype), nc = ov * L;
    P("%*s{\n", ind, "");
    ind += 4;
    P("%*s%s acc[%lld][%lld];\n", ind, "", t, (long long)wt, (long long)nc);
    P("%*sfor (int i = 0; i < %lld; i++)\n", ind, "", (long long)wt);
    P("%*s    for (int j = 0; j < %lld; j++)\n", ind, "", (long long)nc);
    P("%*s        acc[i][j] = %s;\n", ind, "", n->nin == 3 ? "x2[ob0 + j]" : literal(0, n->dtype));
    P("%*sfor (int64_t c = 0; c < %lld; c++)\n", ind, "", (long long)d->C);
    P("%*s    for (int64_t r = 0; r < %lld; r++) {\n", ind, "", (long long)d->KH);
    P("%*s        const %s *xr = x0 + ((n * %lld + c) * %lld + h * %lld + r * %lld) * %lld + %s * %lld;\n", ind, "", t,
      (long long)d->C, (long long)d->H, (long long)d->st[0], (long long)d->dl[0], (long long)d->W, w0,
      (long long)d->st[1]);
    P("%*s        const %s *wr = wt + (c * %lld + r) * %lld + ob0;\n", ind, "", t, (long long)d->KH,
      (long long)(d->KW * d->O));
    P("%*s        for (int64_t s = 0; s < %lld; s++)\n", ind, "", (long long)d->KW);
    P("%*s            for (int i = 0; i < %lld; i++) {\n", ind, "", (long long)wt);
    P("%*s                const %s xv = xr[i * %lld + s * %lld];\n", ind, "", t, (long long)d->st[1],
      (long long)d->dl[1]);
    P("%*s                TG_SIMD\n", ind, "");
    P("%*s                for (int j = 0; j < %lld; j++)\n", ind, "", (long long)nc);
    P("%*s                    acc[i][j] += xv * wr[s * %lld + j];\n", ind, "", (long long)d->O);
    P("%*s            }\n", ind, "");
    P("%*s    }\n", ind, "");
    P("%*sfor (int j = 0; j < %lld; j++)\n", ind, "", (long long)nc);
    P("%*s    for (int i = 0; i < %lld; i++)\n", ind, "", (long long)wt);
    emit_store(ind + 8, ir_fmt("((n * %lld + ob0 + j) * %lld + h) * %lld + %s + i", (long long)d->O, (long long)d->OH,
                               (long long)d->OW, w0), "acc[i][j]");
    ind -= 4;
    P("%*s}\n", ind, "");
}

/*
 * y[n][o][h][w] = b[o] + sum over c, r, s of x[n][c][h + r][w + s] w[o][c][r][s], with the weights
 * transposed to [c][r][s][o] so that each input value, broadcast, meets a vector of output
 * channels: tiles of WT positions x OV registers of channels.
 */
static void emit_conv2d_chan(const Node *n) {
    kernel_open(n);
    ConvDims d = conv_dims(n);
    const char *t = dtype_ctype(n->dtype);
    int64_t L = lanes_of(n->dtype), ov = d.O / L > 4 ? 4 : d.O / L;
    while ((d.O / L) % ov)
        ov--;
    int64_t wt = GEMM_REGS / ov, nwt = d.OW / wt, rest = d.OW % wt;
    if (wt > d.OW)
        wt = d.OW, nwt = 1, rest = 0;
    P("    /* output channels in the lanes: tiles of %lld positions x %lld channels, the weights transposed */\n",
      (long long)wt, (long long)(ov * L));
    P("    %s wt[%lld];\n", t, (long long)(d.O * d.K));
    P("    for (int64_t o = 0; o < %lld; o++)\n", (long long)d.O);
    P("        for (int64_t k = 0; k < %lld; k++)\n", (long long)d.K);
    P("            wt[k * %lld + o] = x1[o * %lld + k];\n", (long long)d.O, (long long)d.K);
    if (worth_parallel(d.N * d.O * d.P * d.K))
        P("    #pragma omp parallel for collapse(2)\n");
    P("    for (int64_t n = 0; n < %lld; n++)\n", (long long)d.N);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)d.OH);
    P("            for (int64_t ob0 = 0; ob0 < %lld; ob0 += %lld) {\n", (long long)d.O, (long long)(ov * L));
    P("                for (int64_t w0 = 0; w0 < %lld; w0 += %lld)\n", (long long)(nwt * wt), (long long)wt);
    emit_conv_chan_tile(n, &d, 20, wt, ov, "w0");
    if (rest)
        emit_conv_chan_tile(n, &d, 16, rest, ov, ir_fmt("%lld", (long long)(nwt * wt)));
    P("            }\n}\n");
}

/* Pooling windows that are unpadded and all inside the input: loops with no bounds checks. */
static bool pool_inside(const Node *n, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    return !pd[0] && !pd[1] && OH > 0 && OW > 0 && (OH - 1) * st[0] + (k[0] - 1) * dl[0] < H &&
           (OW - 1) * st[1] + (k[1] - 1) * dl[1] < W;
}

/* The (n, c) planes loop of a pooling kernel, parallel when there is enough work. */
static void pool_planes(int64_t planes, int64_t work) {
    if (planes > 1 && worth_parallel(work))
        P("    #pragma omp parallel for\n");
    P("    for (int64_t p = 0; p < %lld; p++)                /* (n, c) planes */\n", (long long)planes);
}

static void emit_maxpool(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0);
    int r = x->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= x->shape.d[i];
    int64_t H = x->shape.d[r - 2], W = x->shape.d[r - 1], OH = n->shape.d[r - 2], OW = n->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype);
    pool_planes(planes, planes * OH * OW * k[0] * k[1]);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    if (pool_inside(n, H, W, OH, OW)) {
        /* every window inside: the first element starts the maximum, selects instead of branches */
        P("            TG_SIMD\n");
        P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
        P("                const %s *xw = x0 + (p * %lld + h * %lld) * %lld + w * %lld;\n", t, (long long)H,
          (long long)st[0], (long long)W, (long long)st[1]);
        P("                %s m = xw[0];\n", t);
        P("                for (int64_t r = 0; r < %lld; r++)\n", (long long)k[0]);
        P("                    for (int64_t s = 0; s < %lld; s++) {\n", (long long)k[1]);
        P("                        const %s v = xw[r * %lld + s * %lld];\n", t, (long long)(dl[0] * W),
          (long long)dl[1]);
        P("                        m = v > m || v != v ? v : m;   /* NaN propagates, as in PyTorch */\n");
        P("                    }\n");
    } else {
        P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
        P("                %s m = -INFINITY;\n", t);
        P("                for (int64_t r = 0; r < %lld; r++) {\n", (long long)k[0]);
        P("                    const int64_t ih = h * %lld + r * %lld - %lld;\n", (long long)st[0], (long long)dl[0],
          (long long)pd[0]);
        P("                    if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
        P("                    for (int64_t s = 0; s < %lld; s++) {\n", (long long)k[1]);
        P("                        const int64_t iw = w * %lld + s * %lld - %lld;\n", (long long)st[1], (long long)dl[1],
          (long long)pd[1]);
        P("                        if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
        P("                        const %s v = x0[(p * %lld + ih) * %lld + iw];\n", t, (long long)H, (long long)W);
        P("                        if (v > m || v != v) m = v;   /* NaN propagates, as in PyTorch */\n");
        P("                    }\n");
        P("                }\n");
    }
    emit_store(16, ir_fmt("(p * %lld + h) * %lld + w", (long long)OH, (long long)OW), "m");
    P("            }\n}\n");
}



/*
 * avg_pool2d as PyTorch computes it: a window clipped to the padded input; the divisor is the
 * clipped window's size counting padding (count_include_pad) or not, and windows that start in
 * ceil_mode's extra row are clipped to the input.
 */
static void emit_avgpool(const Node *n, bool bwd) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0), *y = bwd ? IN((Node *)n, 1) : (Node *)n;
    int r = x->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= x->shape.d[i];
    int64_t H = x->shape.d[r - 2], W = x->shape.d[r - 1], OH = y->shape.d[r - 2], OW = y->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL);
    bool incl = node_int(n, "count_include_pad", 1) != 0;
    const char *t = dtype_ctype(n->dtype);
    if (bwd)
        P("    /* each output's gradient is shared evenly by the inputs of its window */\n"
          "    memset(out, 0, %lld * sizeof(%s));\n", (long long)shape_numel(x->shape), t);
    P("    for (int64_t p = 0; p < %lld; p++)\n", (long long)planes);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                int64_t h0 = h * %lld - %lld, w0 = w * %lld - %lld;\n", (long long)st[0], (long long)pd[0],
      (long long)st[1], (long long)pd[1]);
    P("                int64_t h1 = h0 + %lld < %lld ? h0 + %lld : %lld, w1 = w0 + %lld < %lld ? w0 + %lld : %lld;\n",
      (long long)k[0], (long long)(H + pd[0]), (long long)k[0], (long long)(H + pd[0]), (long long)k[1],
      (long long)(W + pd[1]), (long long)k[1], (long long)(W + pd[1]));
    P("                const int64_t padded = (h1 - h0) * (w1 - w0);\n");
    P("                h0 = h0 < 0 ? 0 : h0;\n                w0 = w0 < 0 ? 0 : w0;\n");
    P("                h1 = h1 > %lld ? %lld : h1;\n                w1 = w1 > %lld ? %lld : w1;\n", (long long)H,
      (long long)H, (long long)W, (long long)W);
    P("                const %s div = (%s)%s;\n", t, t, incl ? "padded" : "((h1 - h0) * (w1 - w0))");
    if (bwd) {
        P("                const %s g = x1[(p * %lld + h) * %lld + w] / div;\n", t, (long long)OH, (long long)OW);
        P("                for (int64_t ih = h0; ih < h1; ih++)\n                    for (int64_t iw = w0; iw < w1; iw++)\n");
        P("                        out[(p * %lld + ih) * %lld + iw] += g;\n", (long long)H, (long long)W);
    } else {
        P("                %s acc = 0;\n", t);
        P("                for (int64_t ih = h0; ih < h1; ih++)\n                    for (int64_t iw = w0; iw < w1; iw++)\n");
        P("                        acc += x0[(p * %lld + ih) * %lld + iw];\n", (long long)H, (long long)W);
        emit_store(16, ir_fmt("(p * %lld + h) * %lld + w", (long long)OH, (long long)OW), "acc / div");
    }
    P("            }\n}\n");
}

/* ---- losses and backward kernels ---- */

/* Row i's maximum m and se = sum_c exp(row[c] - m): the stable log-sum-exp both directions need. */
static void emit_row_softmax_stats(const char *t, const char *f, int64_t C) {
    P("        const %s *row = x0 + i * %lld;\n", t, (long long)C);
    P("        %s m = row[0];\n", t);
    P("        for (int64_t c = 1; c < %lld; c++)\n            if (row[c] > m)\n                m = row[c];\n", (long long)C);
    P("        double se = 0;\n");
    P("        for (int64_t c = 0; c < %lld; c++)\n            se += exp%s(row[c] - m);\n", (long long)C, f);
}

static void emit_cross_entropy(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0);
    int64_t N_ = x->shape.d[0], C = x->shape.d[1];
    const char *red = node_str(n, "reduction", "mean");
    const char *t = dtype_ctype(n->dtype), *f = fsuffix(n->dtype);
    P("    /* loss_i = log(sum_c exp(x_ic)) - x_i,target(i), with the row maximum taken out first */\n");
    if (strcmp(red, "none"))
        P("    double total = 0;\n");
    P("    for (int64_t i = 0; i < %lld; i++) {\n", (long long)N_);
    emit_row_softmax_stats(t, f, C);
    P("        /* a class index out of range makes the loss NaN (PyTorch raises); nothing is read out of bounds */\n");
    P("        const double loss = x1[i] >= 0 && x1[i] < %lld ? (double)m + log(se) - (double)row[x1[i]] : NAN;\n", (long long)C);
    if (!strcmp(red, "none"))
        P("        out[i] = (%s)loss;\n    }\n", t);
    else
        P("        total += loss;\n    }\n    out[0] = (%s)(total%s);\n", t, !strcmp(red, "mean") ? ir_fmt(" / %lld", (long long)N_) : "");
    P("}\n");
}

static void emit_cross_entropy_bwd(const Node *n) {
    kernel_open(n);
    int64_t N_ = n->shape.d[0], C = n->shape.d[1];
    const char *red = node_str(n, "reduction", "mean");
    const char *t = dtype_ctype(n->dtype), *f = fsuffix(n->dtype);
    P("    /* dL/dx_ic = (softmax(x_i)_c - [c == target(i)]) * dL/dloss_i */\n");
    P("    for (int64_t i = 0; i < %lld; i++) {\n", (long long)N_);
    emit_row_softmax_stats(t, f, C);
    if (!strcmp(red, "none"))
        P("        const double scale = (double)x2[i];\n");
    else if (!strcmp(red, "mean"))
        P("        const double scale = (double)x2[0] / %lld;\n", (long long)N_);
    else
        P("        const double scale = (double)x2[0];\n");
    P("        for (int64_t c = 0; c < %lld; c++)\n", (long long)C);
    P("            out[i * %lld + c] = x1[i] >= 0 && x1[i] < %lld ? (%s)((exp%s(row[c] - m) / se - (c == x1[i])) * scale) : NAN;\n",
      (long long)C, (long long)C, t, f);
    P("    }\n}\n");
}

static void emit_conv2d_bwd_input(const Node *n) {
    kernel_open(n);
    Node *dy = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t Nb = n->shape.d[0], C = n->shape.d[1], H = n->shape.d[2], W = n->shape.d[3];
    int64_t O = w->shape.d[0], Cg = w->shape.d[1], KH = w->shape.d[2], KW = w->shape.d[3];
    int64_t OH = dy->shape.d[2], OW = dy->shape.d[3];
    const int64_t *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL),
                  *dl = node_ints(n, "dilation", NULL);
    int64_t G = node_int(n, "groups", 1), Og = O ? O / G : 1; /* no output channels: a k loop of 0 trips, no "k / 0" */
    P("    /* dL/dx: every output gradient flows back to the inputs its window read, through w */\n");
    P("    memset(out, 0, %lld * sizeof(%s));\n", (long long)(Nb * C * H * W), dtype_ctype(n->dtype));
    P("    for (int64_t n = 0; n < %lld; n++)\n", (long long)Nb);
    P("        for (int64_t k = 0; k < %lld; k++) {\n", (long long)O);
    P("            const int64_t c0 = k / %lld * %lld; /* first input channel of k's group */\n", (long long)Og, (long long)Cg);
    P("            for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    P("                for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                    const %s g = x0[((n * %lld + k) * %lld + h) * %lld + w];\n", dtype_ctype(n->dtype), (long long)O, (long long)OH, (long long)OW);
    P("                    for (int64_t c = 0; c < %lld; c++)\n", (long long)Cg);
    P("                        for (int64_t r = 0; r < %lld; r++) {\n", (long long)KH);
    P("                            const int64_t ih = h * %lld + r * %lld - %lld;\n", (long long)st[0], (long long)dl[0], (long long)pd[0]);
    P("                            if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    P("                            for (int64_t s = 0; s < %lld; s++) {\n", (long long)KW);
    P("                                const int64_t iw = w * %lld + s * %lld - %lld;\n", (long long)st[1], (long long)dl[1], (long long)pd[1]);
    P("                                if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
    P("                                out[((n * %lld + c0 + c) * %lld + ih) * %lld + iw] +=\n", (long long)C, (long long)H, (long long)W);
    P("                                    g * x1[((k * %lld + c) * %lld + r) * %lld + s];\n", (long long)Cg, (long long)KH, (long long)KW);
    P("                            }\n                        }\n                }\n        }\n}\n");
}

static void emit_conv2d_bwd_weight(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0), *dy = IN((Node *)n, 1);
    int64_t Nb = x->shape.d[0], C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    int64_t O = n->shape.d[0], Cg = n->shape.d[1], KH = n->shape.d[2], KW = n->shape.d[3];
    int64_t OH = dy->shape.d[2], OW = dy->shape.d[3];
    const int64_t *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL),
                  *dl = node_ints(n, "dilation", NULL);
    int64_t G = node_int(n, "groups", 1), Og = O ? O / G : 1; /* no output channels: a k loop of 0 trips, no "k / 0" */
    const char *t = dtype_ctype(n->dtype);
    P("    /* dL/dw[k][c][r][s] = sum over the batch and output positions of dL/dy * the input it saw */\n");
    if (worth_parallel(O * Cg * KH * KW * Nb * OH * OW))
        P("    #pragma omp parallel for\n");
    P("    for (int64_t k = 0; k < %lld; k++)\n", (long long)O);
    P("        for (int64_t c = 0; c < %lld; c++)\n", (long long)Cg);
    P("            for (int64_t r = 0; r < %lld; r++)\n", (long long)KH);
    P("                for (int64_t s = 0; s < %lld; s++) {\n", (long long)KW);
    P("                    const int64_t ci = k / %lld * %lld + c; /* input channel */\n", (long long)Og, (long long)Cg);
    P("                    %s acc = 0;\n", t);
    P("                    for (int64_t n = 0; n < %lld; n++)\n", (long long)Nb);
    P("                        for (int64_t h = 0; h < %lld; h++) {\n", (long long)OH);
    P("                            const int64_t ih = h * %lld + r * %lld - %lld;\n", (long long)st[0], (long long)dl[0], (long long)pd[0]);
    P("                            if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    P("                            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                                const int64_t iw = w * %lld + s * %lld - %lld;\n", (long long)st[1], (long long)dl[1], (long long)pd[1]);
    P("                                if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
    P("                                acc += x1[((n * %lld + k) * %lld + h) * %lld + w] *\n", (long long)O, (long long)OH, (long long)OW);
    P("                                       x0[((n * %lld + ci) * %lld + ih) * %lld + iw];\n", (long long)C, (long long)H, (long long)W);
    P("                            }\n                        }\n");
    P("                    out[((k * %lld + c) * %lld + r) * %lld + s] = acc;\n", (long long)Cg, (long long)KH, (long long)KW);
    P("                }\n}\n");
}

/*
 * max_pool2d_bwd when the windows are disjoint and unpadded: a gather. Each window finds the
 * element the forward pass picked (the first maximum; NaN wins, as there) and writes every one
 * of its elements once, the gradient or zero, so no zeroing pass and no adding are needed, and an
 * epilogue (the relu mask before the pooling) runs at the store. Elements no window covers get
 * zero. The window is read whole before any of it is written, so memplan may put the output over
 * the input. 0 + g, as the adding form computes it, keeps a -0.0 gradient +0.0 there too.
 */
static void emit_maxpool_bwd_gather(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0), *dy = IN((Node *)n, 1);
    int r = x->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= x->shape.d[i];
    int64_t H = x->shape.d[r - 2], W = x->shape.d[r - 1], OH = dy->shape.d[r - 2], OW = dy->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL);
    const char *t = dtype_ctype(n->dtype);
    const char *zero = literal(0, n->dtype);
    bool full = st[0] == k[0] && st[1] == k[1] && OH * k[0] == H && OW * k[1] == W;
    P("    /* each input element gets the gradient of the window that picked it (its first maximum), else 0 */\n");
    if (!full) {
        P("    for (int64_t p = 0; p < %lld; p++)              /* elements no window covers */\n", (long long)planes);
        P("        for (int64_t ih = 0; ih < %lld; ih++)\n", (long long)H);
        P("            for (int64_t iw = 0; iw < %lld; iw++)\n", (long long)W);
        P("                if (ih / %lld >= %lld || ih %% %lld >= %lld || iw / %lld >= %lld || iw %% %lld >= %lld)\n",
          (long long)st[0], (long long)OH, (long long)st[0], (long long)k[0], (long long)st[1], (long long)OW,
          (long long)st[1], (long long)k[1]);
        emit_store(20, ir_fmt("(p * %lld + ih) * %lld + iw", (long long)H, (long long)W), zero);
    }
    P("    for (int64_t p = 0; p < %lld; p++)\n", (long long)planes);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                %s m = -INFINITY;\n                int64_t at = -1;\n", t);
    P("                for (int64_t r = 0; r < %lld; r++)\n", (long long)k[0]);
    P("                    for (int64_t s = 0; s < %lld; s++) {\n", (long long)k[1]);
    P("                        const %s v = x0[(p * %lld + h * %lld + r) * %lld + w * %lld + s];\n", t, (long long)H,
      (long long)st[0], (long long)W, (long long)st[1]);
    P("                        if (at < 0 || v > m || v != v) {\n");
    P("                            m = v;\n                            at = r * %lld + s;\n", (long long)k[1]);
    P("                        }\n                    }\n");
    P("                const %s g = %s + x1[(p * %lld + h) * %lld + w];\n", t, zero, (long long)OH, (long long)OW);
    P("                for (int64_t r = 0; r < %lld; r++)\n", (long long)k[0]);
    P("                    for (int64_t s = 0; s < %lld; s++)\n", (long long)k[1]);
    emit_store(24, ir_fmt("(p * %lld + h * %lld + r) * %lld + w * %lld + s", (long long)H, (long long)st[0], (long long)W,
                          (long long)st[1]),
               ir_fmt("r * %lld + s == at ? g : %s", (long long)k[1], zero));
    P("            }\n}\n");
}

/*
 * cross_entropy and its backward in one pass over the logits: each row's maximum and sum of
 * exponentials serve the loss and the gradient, computed exactly as the two kernels compute
 * them apart.
 */
static void emit_cross_entropy_fused(void) {
    const Node *ce = &G->nodes[UH], *bw = NULL;
    for (int i = U0; i <= U1; i++)
        if (G->nodes[i].op == OP_CROSS_ENTROPY_BWD)
            bw = &G->nodes[i];
    kernel_open(ce);
    int64_t N_ = IN((Node *)ce, 0)->shape.d[0], C = IN((Node *)ce, 0)->shape.d[1];
    const char *red = node_str(ce, "reduction", "mean");
    const char *t = dtype_ctype(ce->dtype), *f = fsuffix(ce->dtype);
    const char *dl = bname[bw->in[2]], *gout = bname[bw->id];
    P("    /* loss_i = log(sum_c exp(x_ic)) - x_i,target(i); dL/dx_ic = (softmax(x_i)_c - [c == target(i)]) * dL/dloss_i */\n");
    if (strcmp(red, "none"))
        P("    double total = 0;\n");
    P("    for (int64_t i = 0; i < %lld; i++) {\n", (long long)N_);
    emit_row_softmax_stats(t, f, C);
    P("        const double loss = x1[i] >= 0 && x1[i] < %lld ? (double)m + log(se) - (double)row[x1[i]] : NAN;\n", (long long)C);
    if (stored(ce->id))
        P(!strcmp(red, "none") ? "        out[i] = (%s)loss;\n" : "        total += loss;\n", t);
    if (!strcmp(red, "none"))
        P("        const double scale = (double)%s[i];\n", dl);
    else if (!strcmp(red, "mean"))
        P("        const double scale = (double)%s[0] / %lld;\n", dl, (long long)N_);
    else
        P("        const double scale = (double)%s[0];\n", dl);
    P("        for (int64_t c = 0; c < %lld; c++)\n", (long long)C);
    P("            %s[i * %lld + c] = x1[i] >= 0 && x1[i] < %lld ? (%s)((exp%s(row[c] - m) / se - (c == x1[i])) * scale) : NAN;\n",
      gout, (long long)C, (long long)C, t, f);
    P("    }\n");
    if (strcmp(red, "none") && stored(ce->id))
        P("    out[0] = (%s)(total%s);\n", t, !strcmp(red, "mean") ? ir_fmt(" / %lld", (long long)N_) : "");
    else if (strcmp(red, "none"))
        P("    (void)total;\n");
    P("}\n");
}

/*
 * max_pool2d_argmax: for each window, where its first maximum is (r * KW + s; a NaN counts as the
 * maximum, as in PyTorch), one byte per window: all max_pool2d's backward pass needs.
 */
static void emit_maxpool_argmax(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0);
    int r = x->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= x->shape.d[i];
    int64_t H = x->shape.d[r - 2], W = x->shape.d[r - 1], OH = n->shape.d[r - 2], OW = n->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(x->dtype);
    pool_planes(planes, planes * OH * OW * k[0] * k[1]);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    if (pool_inside(n, H, W, OH, OW)) {
        /* every window inside: the first element starts, later ones win by select (the first maximum; NaN wins) */
        P("            TG_SIMD\n");
        P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
        P("                const %s *xw = x0 + (p * %lld + h * %lld) * %lld + w * %lld;\n", t, (long long)H,
          (long long)st[0], (long long)W, (long long)st[1]);
        P("                %s m = xw[0];\n                int at = 0;\n", t);
        P("                for (int r = 0; r < %lld; r++)\n", (long long)k[0]);
        P("                    for (int s = 0; s < %lld; s++) {\n", (long long)k[1]);
        P("                        const %s v = xw[r * %lld + s * %lld];\n", t, (long long)(dl[0] * W), (long long)dl[1]);
        P("                        const int win = (r > 0 || s > 0) && (v > m || v != v);\n");
        P("                        m = win ? v : m;\n");
        P("                        at = win ? r * %lld + s : at;\n", (long long)k[1]);
        P("                    }\n");
        P("                out[(p * %lld + h) * %lld + w] = (uint8_t)at;\n", (long long)OH, (long long)OW);
        P("            }\n}\n");
        return;
    }
    P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                %s m = -INFINITY;\n                int at = -1;\n", t);
    P("                for (int64_t r = 0; r < %lld; r++) {\n", (long long)k[0]);
    P("                    const int64_t ih = h * %lld + r * %lld - %lld;\n", (long long)st[0], (long long)dl[0], (long long)pd[0]);
    P("                    if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    P("                    for (int64_t s = 0; s < %lld; s++) {\n", (long long)k[1]);
    P("                        const int64_t iw = w * %lld + s * %lld - %lld;\n", (long long)st[1], (long long)dl[1], (long long)pd[1]);
    P("                        if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
    P("                        const %s v = x0[(p * %lld + ih) * %lld + iw];\n", t, (long long)H, (long long)W);
    P("                        if (at < 0 || v > m || v != v) {\n                            m = v;\n");
    P("                            at = (int)(r * %lld + s);\n                        }\n", (long long)k[1]);
    P("                    }\n                }\n");
    P("                out[(p * %lld + h) * %lld + w] = (uint8_t)at;\n", (long long)OH, (long long)OW);
    P("            }\n}\n");
}

/* The prologue of a max_pool2d_bwd_at kernel: the fused elementwise ops that make dL/dy, computed
 * for the one window the loop is at (flat index `wi`); returns the register holding dL/dy. */
static const char *prologue_value(const Node *n, int indent) {
    const Node *dy = IN((Node *)n, 1);
    if (!in_unit(dy->id))
        return "x1[wi]";
    for (int i = U0; i < UH; i++) {
        if (!prologue[i])
            continue;
        const Node *m = &G->nodes[i];
        const char *e = m->nin == 1 ? unary_expr(m, operand(m, 0, dy->shape, "wi", NULL))
                                    : binary_expr(m, operand(m, 0, dy->shape, "wi", NULL), operand(m, 1, dy->shape, "wi", NULL));
        P("%*sconst %s t%d = %s;\n", indent, "", dtype_ctype(m->dtype), i, e);
    }
    return ir_fmt("t%d", dy->id);
}

/*
 * max_pool2d_bwd_at: dL/dx from the argmax codes. Disjoint unpadded windows write every input
 * element once (the gradient where the code points, zero elsewhere, zero where no window
 * reaches), so an epilogue runs at the store; otherwise the gradients are added into a zeroed
 * output. 0 + g, as adding into zeros computes it, keeps a -0.0 gradient +0.0 in both forms.
 */
static void emit_maxpool_bwd_at(const Node *n) {
    kernel_open(n);
    Node *dy = IN((Node *)n, 1);
    int r = n->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= n->shape.d[i];
    int64_t H = n->shape.d[r - 2], W = n->shape.d[r - 1], OH = dy->shape.d[r - 2], OW = dy->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype), *zero = literal(0, n->dtype);
    bool gather = kernel_gathers(n);
    P("    /* each window's gradient goes to the element its code points at (the first maximum) */\n");
    if (gather && !(st[0] == k[0] && st[1] == k[1] && OH * k[0] == H && OW * k[1] == W)) {
        P("    for (int64_t p = 0; p < %lld; p++)              /* elements no window covers */\n", (long long)planes);
        P("        for (int64_t ih = 0; ih < %lld; ih++)\n", (long long)H);
        P("            for (int64_t iw = 0; iw < %lld; iw++)\n", (long long)W);
        P("                if (ih / %lld >= %lld || ih %% %lld >= %lld || iw / %lld >= %lld || iw %% %lld >= %lld)\n",
          (long long)st[0], (long long)OH, (long long)st[0], (long long)k[0], (long long)st[1], (long long)OW,
          (long long)st[1], (long long)k[1]);
        emit_store(20, ir_fmt("(p * %lld + ih) * %lld + iw", (long long)H, (long long)W), zero);
    }
    if (!gather)
        P("    memset(out, 0, %lld * sizeof(%s));\n", (long long)shape_numel(n->shape), t);
    if (gather) /* each plane's windows write only that plane */
        pool_planes(planes, planes * OH * OW * k[0] * k[1]);
    else
        P("    for (int64_t p = 0; p < %lld; p++)\n", (long long)planes);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    if (gather) /* the windows of a row write disjoint elements */
        P("            TG_SIMD\n");
    P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                const int64_t wi = (p * %lld + h) * %lld + w;\n", (long long)OH, (long long)OW);
    const char *g = prologue_value(n, 16);
    P("                const %s g = %s + %s;\n", t, zero, g);
    P("                const int at = x0[wi];\n");
    if (gather) {
        P("                for (int64_t r = 0; r < %lld; r++)\n", (long long)k[0]);
        P("                    for (int64_t s = 0; s < %lld; s++)\n", (long long)k[1]);
        emit_store(24, ir_fmt("(p * %lld + h * %lld + r) * %lld + w * %lld + s", (long long)H, (long long)st[0],
                              (long long)W, (long long)st[1]),
                   ir_fmt("r * %lld + s == at ? g : %s", (long long)k[1], zero));
    } else {
        P("                const int64_t ih = h * %lld + at / %lld * %lld - %lld, iw = w * %lld + at %% %lld * %lld - %lld;\n",
          (long long)st[0], (long long)k[1], (long long)dl[0], (long long)pd[0], (long long)st[1], (long long)k[1],
          (long long)dl[1], (long long)pd[1]);
        P("                out[(p * %lld + ih) * %lld + iw] += g;\n", (long long)H, (long long)W);
    }
    P("            }\n}\n");
}

static void emit_maxpool_bwd(const Node *n) {
    kernel_open(n);
    Node *x = IN((Node *)n, 0), *dy = IN((Node *)n, 1);
    int r = x->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= x->shape.d[i];
    int64_t H = x->shape.d[r - 2], W = x->shape.d[r - 1], OH = dy->shape.d[r - 2], OW = dy->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype);
    P("    /* each window's gradient goes to the element the forward pass picked (the first maximum) */\n");
    P("    memset(out, 0, %lld * sizeof(%s));\n", (long long)shape_numel(x->shape), t);
    P("    for (int64_t p = 0; p < %lld; p++)\n", (long long)planes);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                %s m = -INFINITY;\n                int64_t at = -1;\n", t);
    P("                for (int64_t r = 0; r < %lld; r++) {\n", (long long)k[0]);
    P("                    const int64_t ih = h * %lld + r * %lld - %lld;\n", (long long)st[0], (long long)dl[0], (long long)pd[0]);
    P("                    if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    P("                    for (int64_t s = 0; s < %lld; s++) {\n", (long long)k[1]);
    P("                        const int64_t iw = w * %lld + s * %lld - %lld;\n", (long long)st[1], (long long)dl[1], (long long)pd[1]);
    P("                        if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
    P("                        const %s v = x0[(p * %lld + ih) * %lld + iw];\n", t, (long long)H, (long long)W);
    P("                        if (at < 0 || v > m || v != v) {\n                            m = v;\n");
    P("                            at = (p * %lld + ih) * %lld + iw;\n                        }\n", (long long)H, (long long)W);
    P("                    }\n                }\n");
    P("                if (at >= 0)\n                    out[at] += x1[(p * %lld + h) * %lld + w];\n", (long long)OH, (long long)OW);
    P("            }\n}\n");
}

/* ---- sources ---- */

static void emit_const(const Node *n) {
    const Attr *a = node_attr(n, "data");
    kernel_open(n);
    int64_t cnt = shape_numel(n->shape);
    if (cnt == 0) {
        P("    (void)out;\n}\n");
        return;
    }
    P("    static const %s data[%lld] = {", dtype_ctype(n->dtype), (long long)cnt);
    for (int64_t i = 0; i < cnt; i++)
        P("%s%s", i % 8 ? ", " : (i ? ",\n        " : "\n        "), attr_literal(a, (int)i, n->dtype));
    P("\n    };\n    memcpy(out, data, sizeof data);\n}\n");
}

static void emit_full(const Node *n) {
    kernel_open(n);
    P("    for (int64_t i = 0; i < %lld; i++)\n        out[i] = %s;\n}\n", (long long)shape_numel(n->shape),
      attr_literal(node_attr(n, "value"), 0, n->dtype));
}

static void emit_arange(const Node *n) {
    kernel_open(n);
    P("    for (int64_t i = 0; i < %lld; i++)\n        out[i] = (%s)(%s + (double)i * %s);\n}\n",
      (long long)shape_numel(n->shape), dtype_ctype(n->dtype), literal(node_float(n, "start", 0), DT_F64),
      literal(node_float(n, "step", 1), DT_F64));
}

/* A node computed by a kernel of its own (outside any group): it has a buffer and is not a view. */
static bool has_kernel(const Node *n) {
    if (!stored(n->id) || M->view[n->id])
        return false;
    switch (n->op) {
    case OP_INPUT: case OP_PARAM: case OP_RAND: case OP_RANDN: case OP_LOAD: case OP_PRINT: case OP_SEED: case OP_SAVE:
    case OP_ASSIGN:
        return false;
    default:
        return true;
    }
}

static void emit_kernel(const Node *n) {
    switch (op_info[n->op].kind) {
    case K_UNARY: case K_BINARY: emit_elementwise(n); return;
    case K_REDUCE: emit_reduce(n); return;
    default: break;
    }
    switch (n->op) {
    case OP_CONST: emit_const(n); return;
    case OP_FULL: emit_full(n); return;
    case OP_ARANGE: emit_arange(n); return;
    case OP_RESHAPE: emit_copy(n); return;
    case OP_EXPAND: emit_elementwise(n); return;
    case OP_PERMUTE: emit_permute(n); return;
    case OP_SLICE: emit_slice(n); return;
    case OP_SETSLICE: emit_setslice(n); return;
    case OP_CAT: emit_cat(n); return;
    case OP_MATMUL: emit_matmul(n); return;
    /* The tiled kernels need every tile size positive: an empty output (a batch of 0, 0 output
     * features or channels) takes the plain loops, which run zero times; so does a linear with 0
     * input features, whose tiles would read neither x nor w (unused parameters in C). */
    case OP_LINEAR:
        if (dtype_is_float(n->dtype) && shape_numel(n->shape) && shape_numel(IN((Node *)n, 1)->shape))
            emit_linear_tiled(n);
        else
            emit_linear(n);
        return;
    case OP_CONV2D:
        if (conv_gemm(n))
            emit_conv2d_gemm(n);
        else if (conv_chan_lanes(n))
            emit_conv2d_chan(n);
        else if (node_int(n, "groups", 1) == 1 && dtype_is_float(n->dtype) && shape_numel(n->shape))
            emit_conv2d_tiled(n);
        else
            emit_conv2d(n);
        return;
    case OP_MAXPOOL2D: emit_maxpool(n); return;
    case OP_CROSS_ENTROPY: emit_cross_entropy(n); return;
    case OP_CROSS_ENTROPY_BWD: emit_cross_entropy_bwd(n); return;
    case OP_CONV2D_BWD_INPUT:
        if (conv_gemm(n))
            emit_conv2d_bwd_input_gemm(n);
        else if (kernel_gathers(n))
            emit_conv2d_bwd_input_tiled(n);
        else
            emit_conv2d_bwd_input(n);
        return;
    case OP_CONV2D_BWD_WEIGHT:
        if (conv_gemm(n))
            emit_conv2d_bwd_weight_gemm(n);
        else if (node_int(n, "groups", 1) == 1 && dtype_is_float(n->dtype) && shape_numel(n->shape))
            emit_conv2d_bwd_weight_tiled(n);
        else
            emit_conv2d_bwd_weight(n);
        return;
    case OP_MAXPOOL2D_BWD:
        if (kernel_gathers(n))
            emit_maxpool_bwd_gather(n);
        else
            emit_maxpool_bwd(n);
        return;
    case OP_MAXPOOL2D_ARGMAX: emit_maxpool_argmax(n); return;
    case OP_MAXPOOL2D_BWD_AT: emit_maxpool_bwd_at(n); return;
    case OP_AVGPOOL2D: emit_avgpool(n, false); return;
    case OP_AVGPOOL2D_BWD: emit_avgpool(n, true); return;
    default: die("no C kernel for %s", op_info[n->op].name);
    }
}

/*
 * A group whose head adds into its output (conv2d_bwd_input, ...): the head's loops as they are,
 * then the epilogue as a second loop over the finished output, still in cache. The head's body is
 * captured so that the epilogue goes inside its function.
 */
static void emit_scatter_group(void) {
    const Node *h = &G->nodes[UH];
    char *buf = NULL;
    size_t len = 0;
    FILE *saved = out;
    out = open_memstream(&buf, &len);
    if (!out)
        die("open_memstream failed");
    emit_kernel(h);
    fclose(out);
    out = saved;
    if (len < 2 || strcmp(buf + len - 2, "}\n"))
        die("kernel of %s does not end its function", op_info[h->op].name);
    fwrite(buf, 1, len - 2, out);
    free(buf);
    P("    /* the fused elementwise ops, over the finished output */\n");
    P("    for (int64_t ei = 0; ei < %lld; ei++) {\n", (long long)shape_numel(h->shape));
    P("        const %s t%d = out[ei];\n", dtype_ctype(h->dtype), UH);
    emit_members(8, h->shape, "ei", NULL);
    emit_stores(8, "ei");
    P("    }\n}\n");
}

/* The kernel function of nodes [first, last]: one node, or a fusion group. */
static void emit_unit(int first, int last) {
    unit_begin(first, last);
    if (!grouped())
        emit_kernel(&G->nodes[first]);
    else if (UH < 0)
        emit_elementwise_group();
    else if (G->nodes[UH].op == OP_CROSS_ENTROPY)
        emit_cross_entropy_fused();
    else if (kernel_epilogue(&G->nodes[UH]) == EPI_SCATTER)
        emit_scatter_group();
    else
        emit_kernel(&G->nodes[UH]); /* its stores go through emit_store, which adds the epilogue */
}

/* Does a kernel end at node i? (Kernels run at their last node.) Sets its span. */
static bool kernel_at(int i, int *first, int *last) {
    unit_span(i, first, last);
    if (*last != i)
        return false;
    return *first < *last || has_kernel(&G->nodes[i]);
}

/* The per-node tables of the units of G. */
static void units_alloc(void) {
    bname = ir_alloc(sizeof(char *) * (size_t)(G->nnode + 1));
    bstamp = ir_alloc(sizeof(int) * (size_t)(G->nnode + 1));
    prologue = ir_alloc((size_t)G->nnode + 1);
}

static void emit_kernels(void) {
    units_alloc();
    for (int i = 0, f, l; i < G->nnode; i++)
        if (kernel_at(i, &f, &l))
            emit_unit(f, l);
}

/* The call of the kernel that ends at node i, if one does. */
static bool emit_call_at(int i) {
    int f, l;
    if (!kernel_at(i, &f, &l))
        return false;
    unit_begin(f, l);
    kernel_call();
    return true;
}

/* ---- for the CUDA backend (emit_internal.h) ---- */

void cg_begin(FILE *f, Graph *g, const MemPlan *m, const char *kprefix) {
    out = f;
    G = g;
    M = m;
    kpre = kprefix;
    units_alloc();
}

bool cg_kernel_at(int i, int *first, int *last) { return kernel_at(i, first, last); }

const CgUnit *cg_unit(int first, int last) {
    static CgUnit u;
    unit_begin(first, last);
    int *node = ir_alloc(sizeof(int) * (size_t)(nkargs + 1));
    const char **name = ir_alloc(sizeof(char *) * (size_t)(nkargs + 1));
    bool *written = ir_alloc((size_t)nkargs + 1);
    for (int a = 0; a < nkargs; a++) {
        node[a] = kargs[a].node;
        name[a] = kargs[a].name;
        written[a] = kargs[a].written;
    }
    u = (CgUnit){first, last, UH, nkargs, node, name, written, aliases, prologue};
    return &u;
}

const char *cg_unit_name(void) { return unit_name(); }
void cg_kernel_comment(void) { kernel_comment(); }
const char *cg_bname(int id) { return bname[id]; }
bool cg_stored(int id) { return stored(id) && !M->view[id]; }
void cg_emit_members(int indent, Shape gs, const char *flat, const char **axv) { emit_members(indent, gs, flat, axv); }
const char *cg_unary(const Node *n, const char *a) { return unary_expr(n, a); }
const char *cg_binary(const Node *n, const char *a, const char *b) { return binary_expr(n, a, b); }
const char *cg_operand(const Node *m, int k, Shape gs, const char *flat, const char **axv) {
    return operand(m, k, gs, flat, axv);
}
const char *cg_literal(double v, DType dt) { return literal(v, dt); }
const char *cg_attr_literal(const Attr *a, int i, DType dt) { return attr_literal(a, i, dt); }
const char *cg_bcast_index(Shape s, Shape o, const char **vars) { return bcast_index(s, o, vars); }
const char *cg_comment_safe(const char *s) { return comment_safe(s); }

/* ---- the run function ---- */

static void c_string(const char *s, size_t n) {
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') P("\\%c", c);
        else if (c == '\n') P("\\n");
        else if (c == '\t') P("\\t");
        else if (c < 0x20 || c >= 0x7f) P("\\%03o", c);
        else fputc(c, out);
    }
    fputc('"', out);
}

static const char *var(int id) { return ir_fmt("v%d", id); }

static const char *shape_lit(Shape s) {
    if (!s.rank)
        return "NULL";
    const char *e = "(const int64_t[]){";
    for (int i = 0; i < s.rank; i++)
        e = ir_fmt("%s%s%lld", e, i ? ", " : "", (long long)s.d[i]);
    return ir_fmt("%s}", e);
}

/* Python format spec (validated by the frontend) -> printf conversion for one number. */
static const char *printf_spec(const Node *at, const char *spec, DType dt) {
    char fill = ' ', align = 0, sign = 0, type = 0;
    int width = 0, prec = -1;
    const char *s = spec;
    size_t n = strlen(s);
    if (n >= 2 && strchr("<>^=", s[1])) { fill = s[0]; align = s[1]; s += 2; }
    else if (n >= 1 && strchr("<>^=", s[0])) { align = s[0]; s++; }
    if (*s == '+' || *s == '-' || *s == ' ') sign = *s++;
    if (*s == '0') { fill = '0'; s++; }
    while (*s >= '0' && *s <= '9') width = width * 10 + (*s++ - '0');
    if (*s == '.') { s++; prec = 0; while (*s >= '0' && *s <= '9') prec = prec * 10 + (*s++ - '0'); }
    if (*s) type = *s;
    if ((fill != ' ' && fill != '0') || align == '^')
        error_at(at->loc, "format specifier '%s': only space or zero fill and '<'/'>' alignment are supported for tensors", spec);
    const char *f = "%";
    if (align == '<') f = ir_fmt("%s-", f);
    if (sign == '+') f = ir_fmt("%s+", f);
    if (sign == ' ') f = ir_fmt("%s ", f);
    if (width > 1000 || prec > 1000)
        error_at(at->loc, "format specifier '%s': width and precision go up to 1000", spec);
    if (fill == '0') f = ir_fmt("%s0", f);
    if (width) f = ir_fmt("%s%d", f, width);
    if (type == '%')
        error_at(at->loc, "format '%%' is not supported for tensors");
    if (dtype_is_float(dt) || (type && type != 'd')) {
        if (!type) type = 'g';
        return ir_fmt("%s.%d%c", f, prec < 0 ? 6 : prec, type);
    }
    return ir_fmt("%slld", f);
}

/* fputs of n bytes of text, in literals of at most 2,000 bytes: C99 promises no more than 4,095
 * characters in one, and a module tree's text (print(resnet)) has more. */
static void emit_fputs(const char *buf, size_t n) {
    for (size_t at = 0; at < n; at += 2000) {
        P("    fputs(");
        c_string(buf + at, n - at < 2000 ? n - at : 2000);
        P(", out);\n");
    }
}

static void emit_print(const Node *n) {
    const char *fmt = node_str(n, "fmt", "");
    const char *lit = fmt;
    char *buf = ir_alloc(strlen(fmt) + 1);
    size_t bn = 0;
    P("    /* %s:%d */\n", comment_safe(diag_file_name(n->loc.file)), n->loc.line);
    for (const char *p = fmt; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            buf[bn++] = p[0];
            p += 2;
            continue;
        }
        if (*p != '{') {
            buf[bn++] = *p++;
            continue;
        }
        if (bn) {
            emit_fputs(buf, bn);
            bn = 0;
        }
        char *end;
        long k = strtol(p + 1, &end, 10);
        char kind = end[1];
        const char *spec = NULL;
        const char *close = strchr(end, '}');
        if (end[2] == ':')
            spec = ir_strndup(end + 3, (size_t)(close - end - 3));
        Node *x = &G->nodes[n->in[k]];
        const char *v = var(x->id);
        if (kind == 't' && spec) { /* "requires_grad=True", "grad_fn=<AddmmBackward0>" */
            P("    tg_print_tensor(out, %s, %s, %d, %s, (const char *const[]){", v, tg_dtype(x->dtype), x->shape.rank,
              shape_lit(x->shape));
            c_string(spec, strlen(spec));
            P("}, 1);\n");
        } else if (kind == 't')
            P("    tg_print_tensor(out, %s, %s, %d, %s, NULL, 0);\n", v, tg_dtype(x->dtype), x->shape.rank, shape_lit(x->shape));
        else if (kind == 'n')
            P("    tg_print_numpy(out, %s, %s, %d, %s);\n", v, tg_dtype(x->dtype), x->shape.rank, shape_lit(x->shape));
        else if (spec) {
            const char *pf = printf_spec(n, spec, x->dtype);
            bool as_double = pf[strlen(pf) - 1] != 'd'; /* Python formats an int with 'f' as a float */
            P("    fprintf(out, \"%s\", ", pf);
            P(as_double ? "(double)%s[0]);\n" : "(long long)%s[0]);\n", v);
        } else if (dtype_is_float(x->dtype))
            P("    tg_print_pyfloat(out, (double)%s[0]);\n", v);
        else if (x->dtype == DT_BOOL)
            P("    fputs(%s[0] ? \"True\" : \"False\", out);\n", v);
        else
            P("    fprintf(out, \"%%lld\", (long long)%s[0]);\n", v);
        p = close + 1;
    }
    (void)lit;
    if (bn)
        emit_fputs(buf, bn);
}

/* ---- the training step ---- */

/* The pointer variables v<node> of a function: arena offsets from memplan, with each buffer's
 * lifetime (the nodes that write and last read it). */
static void emit_pointers(Graph *g, bool inputs, bool programs) {
    /* only the buffers the function names: a view or a value updated in place may have none */
    bool *used = ir_alloc((size_t)g->nnode + 1);
    for (int i = 0, f, l; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        if (kernel_at(i, &f, &l)) {
            unit_begin(f, l);
            for (int a = 0; a < nkargs; a++)
                used[kargs[a].node] = true;
        }
        if (op_info[n->op].kind == K_EFFECT && !(n->op == OP_ASSIGN && M->off[n->in[0]] == M->off[n->in[1]]))
            for (int k = 0; k < n->nin; k++)
                used[n->in[k]] = true;
        if ((op_info[n->op].kind == K_SRC && (n->op != OP_PARAM || programs)) || (n->flags & NF_OUTPUT) || !inputs)
            used[i] = true;
    }
    for (int i = 0; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        if (!used[i])
            continue;
        if (n->op == OP_INPUT && inputs)
            P("    const %s *%s = %s; /* %s */\n", dtype_ctype(n->dtype), var(i), n->name,
              type_str(n->dtype, n->shape));
        if (M->off[i] < 0 || (!inputs && n->op != OP_PARAM))
            continue;
        const char *into = NULL; /* the parameter or state a new value is written over */
        for (int j = 0; j < g->nnode && n->op != OP_PARAM && !(n->flags & NF_GRAD) && M->off[i] < M->persistent; j++)
            if (g->nodes[j].op == OP_PARAM && M->off[j] == M->off[i])
                into = g->nodes[j].name;
        const char *life = n->op == OP_PARAM ? "persistent"
                           : into            ? ir_fmt("the new %s, written in place", comment_safe(into ? into : ""))
                           : M->view[i]      ? ir_fmt("view of %%%d", n->in[0])
                           : (n->flags & NF_GRAD) ? ir_fmt("gradient, persistent, from %%%d", M->first[i])
                           : M->last[i] >= g->nnode ? ir_fmt("live %%%d..return", M->first[i])
                                                    : ir_fmt("live %%%d..%%%d", M->first[i], M->last[i]);
        P("    %s *%s = (%s *)(mem + %lld); /* %s%s%s%s%s */\n", dtype_ctype(n->dtype), var(i), dtype_ctype(n->dtype),
          (long long)M->off[i], type_str(n->dtype, n->shape), n->name ? " " : "", n->name ? comment_safe(n->name) : "",
          *life ? ", " : "", life);
    }
}

/* PREFIX_init, PREFIX_train_step and the table of persistent tensors, for a train block's graph. */
static void emit_step(Graph *g);

/* A tensor of the model's state_dict (a parameter or a buffer such as a running mean), not the
 * optimizer's: its state carries PyTorch's names (step, lr, <param>.momentum_buffer, .exp_avg,
 * .exp_avg_sq), which no module's tensor has. */
static bool model_tensor(const Node *n) {
    const char *s = n->name ? n->name : "";
    static const char *const suffix[] = {".momentum_buffer", ".exp_avg", ".exp_avg_sq"};
    if (!strcmp(s, "step") || !strcmp(s, "lr"))
        return false;
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(s), k = strlen(suffix[i]);
        if (l > k && !strcmp(s + l - k, suffix[i]))
            return false;
    }
    return true;
}

static void emit_train(Graph *g) {
    const char *pf = prefix;
    P("\n/* ---- training step: init ---- */\n");
    P("\n/* Parameters as PyTorch initializes them (from seed, in registration order), optimizer state zero. */\n");
    P("void %s_init(void *arena, uint64_t seed) {\n    unsigned char *mem = arena;\n", pf);
    P("    TgRng rng;\n    tg_rng_seed(&rng, seed);\n");
    emit_pointers(g, false, false);
    for (int i = 0; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        if (n->op != OP_PARAM)
            continue;
        if (!strcmp(node_str(n, "init", ""), "full") && shape_numel(n->shape) == 1)
            P("    %s[0] = %s; /* %s */\n", var(i), literal(node_float(n, "value", 0), n->dtype),
              comment_safe(n->name ? n->name : ""));
        else if (!strcmp(node_str(n, "init", ""), "full"))
            P("    for (int64_t i = 0; i < %lld; i++) /* %s */\n        %s[i] = %s;\n", (long long)shape_numel(n->shape),
              comment_safe(n->name ? n->name : ""), var(i), literal(node_float(n, "value", 0), n->dtype));
        else if (!strcmp(node_str(n, "init", ""), "uniform"))
            P("    tg_uniform(&rng, %s, %s, %lld, %s, %s); /* %s */\n", tg_dtype(n->dtype), var(i),
              (long long)shape_numel(n->shape), literal(node_float(n, "from", 0), DT_F64),
              literal(node_float(n, "to", 1), DT_F64), comment_safe(n->name ? n->name : ""));
        else
            P("    memset(%s, 0, %lld); /* %s */\n", var(i), (long long)(shape_numel(n->shape) * dtype_size(n->dtype)),
              comment_safe(n->name ? n->name : ""));
    }
    P("}\n");
    if (!cuda)
        emit_step(g);
    P("\n/* Where each parameter and optimizer state lives in the arena, by PyTorch's state_dict name. */\n");
    P("const %sTensor %s_tensors[] = {\n", pf, pf);
    for (int i = 0; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        if (n->op != OP_PARAM)
            continue;
        P("    {\"%s\", %lld, %s, %d, {", n->name ? comment_safe(n->name) : "?", (long long)M->off[i], tg_dtype(n->dtype),
          n->shape.rank);
        for (int k = 0; k < n->shape.rank; k++)
            P("%s%lld", k ? ", " : "", (long long)n->shape.d[k]);
        P("%s}, %d, %d},\n", n->shape.rank ? "" : "0", (n->flags & NF_TRAINABLE) ? 1 : 0, model_tensor(n) ? 1 : 0);
    }
    P("};\nconst int %s_ntensors = (int)(sizeof %s_tensors / sizeof %s_tensors[0]);\n", pf, pf, pf);
}

/* PREFIX_train_step: the kernel calls in order, the loss returned. */
static void emit_step(Graph *g) {
    const char *pf = prefix;
    const Node *x = NULL, *y = NULL, *loss = NULL;
    for (int i = 0; i < g->nnode; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_INPUT && !x)
            x = n;
        else if (n->op == OP_INPUT)
            y = n;
        if (n->flags & NF_OUTPUT)
            loss = n;
    }
    P("\n/* ---- training step: forward, backward, update ---- */\n");
    P("\n/* One step on one batch: x %s, y %s; returns the batch's loss. No allocation, no I/O. */\n",
      type_str(x->dtype, x->shape), type_str(y->dtype, y->shape));
    P("float %s_train_step(void *arena, const %s *x, const %s *y) {\n    unsigned char *mem = arena;\n", pf,
      dtype_ctype(x->dtype), dtype_ctype(y->dtype));
    emit_pointers(g, true, false);
    const char *section = "";
    for (int i = 0, f, l; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        bool call = kernel_at(i, &f, &l);
        bool copy = n->op == OP_ASSIGN && M->off[n->in[0]] != M->off[n->in[1]];
        const Node *s0 = &g->nodes[f];
        const char *sec = s0->flags & NF_UPDATE ? "update" : s0->flags & NF_BACKWARD ? "backward" : "forward";
        if (strcmp(sec, section) && (call || copy)) {
            P("    /* %s */\n", sec);
            section = sec;
        }
        if (copy) { /* the new value could not be computed in place (memplan says why not) */
            Node *dst = &g->nodes[n->in[0]];
            P("    memcpy(%s, %s, %lld); /* %s */\n", var(n->in[0]), var(n->in[1]),
              (long long)(shape_numel(dst->shape) * dtype_size(dst->dtype)), comment_safe(dst->name ? dst->name : ""));
            continue;
        }
        emit_call_at(i);
    }
    P("    return (float)%s[0];\n}\n", var(loss->id));
}

/*
 * One tensor of load_state(net, "w.safetensors"). The load that carries keys (the model's names,
 * one per line) lists them in a table, and the runtime checks that the file holds exactly those.
 */
static void emit_load_safetensors(const Node *n) {
    const char *path = node_str(n, "path", ""), *key = node_str(n, "key", ""), *keys = node_str(n, "keys", NULL);
    int nkeys = 0;
    if (keys) {
        P("    static const char *const %s_names[] = { /* every tensor the model has */\n", var(n->id));
        for (const char *k = keys;; k++) {
            const char *end = strchr(k, '\n');
            P("        ");
            c_string(k, end ? (size_t)(end - k) : strlen(k));
            P(",\n");
            nkeys++;
            if (!end)
                break;
            k = end;
        }
        P("    };\n");
    }
    P("    if (tg_load_one_safetensors(");
    c_string(path, strlen(path));
    P(", ");
    c_string(key, strlen(key));
    P(", %s, %d, %s, %s, %s, %d, err, sizeof err)) {\n", tg_dtype(n->dtype), n->shape.rank, shape_lit(n->shape),
      var(n->id), keys ? ir_fmt("%s_names", var(n->id)) : "NULL", nkeys);
    P("        fprintf(stderr, \"%%s\\n\", err);\n        return 1;\n    }\n");
}

static void emit_run(Graph *g, const char *fn) {
    P("\nint %s(void *arena, FILE *out) {\n", fn);
    P("    unsigned char *mem = arena;\n");
    bool rng = false, load = false;
    for (int i = 0; i < g->nnode; i++) {
        Op op = g->nodes[i].op;
        rng |= op == OP_RAND || op == OP_RANDN || op == OP_PARAM || op == OP_SEED;
        load |= op == OP_LOAD || op == OP_SAVE;
    }
    if (rng)
        P("    TgRng rng;\n    tg_rng_seed(&rng, TG_DEFAULT_SEED); /* as a fresh PyTorch process */\n");
    if (load)
        P("    char err[512];\n");
    emit_pointers(g, true, true);
    for (int i = 0; i < g->nnode; i++) {
        Node *n = &g->nodes[i];
        int64_t cnt = shape_numel(n->shape);
        switch (n->op) {
        case OP_PRINT: emit_print(n); continue;
        case OP_SEED: P("    tg_rng_seed(&rng, %lldULL);\n", (long long)node_int(n, "seed", 0)); continue;
        case OP_PARAM:
            if (!strcmp(node_str(n, "init", ""), "full")) { /* BatchNorm2d's ones and zeros: no random numbers */
                P("    for (int64_t i = 0; i < %lld; i++) /* init %s */\n        %s[i] = %s;\n", (long long)cnt,
                  comment_safe(n->name ? n->name : ""), var(i), literal(node_float(n, "value", 0), n->dtype));
                continue;
            }
            if (strcmp(node_str(n, "init", ""), "uniform"))
                die("unknown parameter init");
            /* fall through */
        case OP_RAND:
            P("    tg_uniform(&rng, %s, %s, %lld, %s, %s);%s%s\n", tg_dtype(n->dtype), var(i), (long long)cnt,
              literal(node_float(n, "from", 0), DT_F64), literal(node_float(n, "to", 1), DT_F64),
              n->name ? " /* init " : "", n->name ? ir_fmt("%s */", comment_safe(n->name)) : "");
            continue;
        case OP_RANDN:
            P("    tg_normal(&rng, %s, %s, %lld, %s, %s);\n", tg_dtype(n->dtype), var(i), (long long)cnt,
              literal(node_float(n, "mean", 0), DT_F64), literal(node_float(n, "std", 1), DT_F64));
            continue;
        case OP_LOAD:
            if (node_attr(n, "key")) {
                emit_load_safetensors(n);
                continue;
            }
            P("    if (tg_npy_load(");
            c_string(node_str(n, "path", ""), strlen(node_str(n, "path", "")));
            P(", %s, %d, %s, %s, err, sizeof err)) {\n", tg_dtype(n->dtype), n->shape.rank, shape_lit(n->shape), var(i));
            P("        fprintf(stderr, \"%%s\\n\", err);\n        return 1;\n    }\n");
            continue;
        case OP_SAVE: {
            Node *x = &g->nodes[n->in[0]];
            const char *path = node_str(n, "path", "");
            P("    if (tg_npy_save(");
            c_string(path, strlen(path));
            P(", %s, %d, %s, %s, err, sizeof err)) {\n", tg_dtype(x->dtype), x->shape.rank, shape_lit(x->shape), var(x->id));
            P("        fprintf(stderr, \"%%s\\n\", err);\n        return 1;\n    }\n");
            continue;
        }
        case OP_INPUT:
            continue;
        default:
            break;
        }
        emit_call_at(i);
    }
    P("    return 0;\n}\n");
}

static const char *upper(const char *s);

static void emit_predict(Graph *g) {
    const Node *o = NULL;
    for (int i = 0; i < g->nnode; i++)
        if (g->nodes[i].flags & NF_OUTPUT)
            o = &g->nodes[i];
    P("\n/* ---- predict ---- */\n\nvoid %s_predict(void *arena, const float *x, float *out) {\n", prefix);
    P("    unsigned char *mem = arena;\n");
    emit_pointers(g, true, false);
    for (int i = 0; i < g->nnode; i++)
        emit_call_at(i);
    P("    memcpy(out, %s, %lld * sizeof(float));\n}\n", var(o->id), (long long)shape_numel(o->shape));
}


/* write_checkpoint / read_checkpoint of the generated trainer: every tensor of PREFIX_tensors
   (parameters, optimizer state, the step count) plus the position and generator in metadata. */
static void emit_checkpoint_helpers(void) {
    const char *pf = prefix;
    P("/* A checkpoint holds everything a bit-identical resume needs: the tensors (parameters under\n"
      "   PyTorch's state_dict names, optimizer state, the step count) and, as metadata, the epoch,\n"
      "   the next batch, the batches done, the running loss and the shuffle generator's state at the\n"
      "   start of the epoch. */\n");
    P("static int write_checkpoint(const char *path, void *arena, const TgRng *rng, long long epoch, long long batch,\n"
      "                            long long done, double running) {\n");
    P("    TgNamedTensor t[%s_ntensors_max];\n", upper(pf));
    P("    for (int i = 0; i < %s_ntensors; i++)\n", pf);
    P("        t[i] = (TgNamedTensor){%s_tensors[i].name, %s_tensors[i].dtype, %s_tensors[i].rank, %s_tensors[i].shape,\n"
      "                               (unsigned char *)arena + %s_tensors[i].offset};\n", pf, pf, pf, pf, pf);
    P("    static char rngtext[624 * 8 + 64];\n    int o = 0;\n");
    P("    for (int i = 0; i < 624; i++)\n        o += snprintf(rngtext + o, sizeof rngtext - (size_t)o, \"%%08x\", (unsigned)rng->state[i]);\n");
    P("    snprintf(rngtext + o, sizeof rngtext - (size_t)o, \" %%d %%d %%a\", rng->next, rng->has_normal, rng->normal);\n");
    P("    char e[32], b[32], d[32], r[64];\n");
    P("    snprintf(e, sizeof e, \"%%lld\", epoch);\n    snprintf(b, sizeof b, \"%%lld\", batch);\n");
    P("    snprintf(d, sizeof d, \"%%lld\", done);\n    snprintf(r, sizeof r, \"%%a\", running);\n");
    P("    const char *keys[] = {\"format\", \"epoch\", \"batch\", \"done\", \"running_loss\", \"shuffle_rng\"};\n");
    P("    const char *values[] = {\"tgc-trainer-1\", e, b, d, r, rngtext};\n");
    P("    char err[1024];\n");
    P("    if (tg_save_safetensors(path, t, %s_ntensors, keys, values, 6, err, sizeof err)) {\n", pf);
    P("        fprintf(stderr, \"%s: %%s\\n\", err);\n        return 1;\n    }\n    return 0;\n}\n\n", pf);
    P("static int read_checkpoint(const char *path, void *arena, int params_only, TgRng *rng, long long *epoch,\n"
      "                           long long *batch, long long *done, double *running) {\n");
    P("    TgNamedTensor t[%s_ntensors_max];\n    int n = 0;\n", upper(pf));
    P("    for (int i = 0; i < %s_ntensors; i++)\n        if (!params_only || %s_tensors[i].model)\n", pf, pf);
    P("            t[n++] = (TgNamedTensor){%s_tensors[i].name, %s_tensors[i].dtype, %s_tensors[i].rank,\n"
      "                                     %s_tensors[i].shape, (unsigned char *)arena + %s_tensors[i].offset};\n", pf, pf, pf, pf, pf);
    P("    static char v[6][624 * 8 + 64];\n    char *values[6] = {v[0], v[1], v[2], v[3], v[4], v[5]};\n");
    P("    const char *keys[] = {\"format\", \"epoch\", \"batch\", \"done\", \"running_loss\", \"shuffle_rng\"};\n");
    P("    char err[1024];\n");
    P("    if (tg_load_safetensors(path, t, n, keys, values, 6, sizeof v[0], err, sizeof err)) {\n");
    P("        fprintf(stderr, \"%s: %%s\\n\", err);\n        return 1;\n    }\n", pf);
    P("    if (params_only)\n        return 0;\n");
    P("    if (strcmp(v[0], \"tgc-trainer-1\") || strlen(v[5]) < 624 * 8) {\n");
    P("        fprintf(stderr, \"%s: %%s: not a checkpoint of this trainer (no position or generator state)\\n\", path);\n        return 1;\n    }\n", pf);
    P("    for (int i = 0; i < 624; i++) {\n        char word[9];\n        memcpy(word, v[5] + 8 * i, 8);\n        word[8] = 0;\n");
    P("        rng->state[i] = (uint32_t)strtoul(word, NULL, 16);\n    }\n");
    P("    char *rest = v[5] + 624 * 8;\n    rng->next = (int)strtol(rest, &rest, 10);\n");
    P("    rng->has_normal = (int)strtol(rest, &rest, 10);\n    rng->normal = strtod(rest, NULL);\n");
    P("    *epoch = atoll(v[1]);\n    *batch = atoll(v[2]);\n    *done = atoll(v[3]);\n    *running = strtod(v[4], NULL);\n");
    P("    return 0;\n}\n\n");
}

/* A C string literal for text that came from the user. */
static const char *cstr(const char *s) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    FILE *saved = out;
    out = f;
    c_string(s, strlen(s));
    out = saved;
    fclose(f);
    char *r = ir_strndup(buf, len);
    free(buf);
    return r;
}

/*
 * The standalone trainer: reads the data through the runtime, runs the epochs with the blitz's
 * log lines, then evaluates as the blitz does. Everything here may allocate and print; the step
 * and predict functions it calls do neither.
 */
static void emit_trainer_main(Graph *train, Graph *pred) {
    TrainConfig *c = train->train;
    const Node *x = NULL, *y = NULL, *o = NULL;
    for (int i = 0; i < train->nnode; i++)
        if (train->nodes[i].op == OP_INPUT) {
            if (!x)
                x = &train->nodes[i];
            else
                y = &train->nodes[i];
        }
    for (int i = 0; i < pred->nnode; i++)
        if (pred->nodes[i].flags & NF_OUTPUT)
            o = &pred->nodes[i];
    const char *U = upper(prefix);
    int64_t B = x->shape.d[0], C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    int64_t K = o->shape.d[1];
    (void)y; /* class indices: tgc only builds a trainer for cross_entropy */
    P("\n/* ---- the trainer ---- */\n\n#ifndef TGC_NO_MAIN\n#include <stdbool.h>\n#include <stdlib.h>\n#include <unistd.h>\n#ifdef _OPENMP\n#include <omp.h>\n#endif\n\n");
    P("static const char *const class_names[] = {");
    for (int i = 0; i < K; i++)
        P("%s%s", i ? ", " : "", i < c->nclasses ? cstr(c->classes[i]) : cstr(ir_fmt("%d", i)));
    P("};\n\n");
    P("static void usage(const char *argv0) {\n");
    P("    printf(\"usage: %%s [options]\\n\"\n");
    P("           \"Trains %s as its .tg train block says, then reports test accuracy.\\n\"\n", comment_safe(train->name));
    P("           \"  --data DIR     where the %s files are (default %s)\\n\"\n", c->data_kind, comment_safe(c->data_dir));
    P("           \"  --epochs N     passes over the training set (default %lld)\\n\"\n", (long long)c->epochs);
    P("           \"  --seed N       seed of initialization and shuffling (default %lld)\\n\"\n", (long long)c->seed);
    P("           \"  --lr X         the optimizer's learning rate (default: the .tg file's)\\n\"\n");
    P("           \"  --threads N    OpenMP threads (default: OMP_NUM_THREADS or all cores: on an idle machine\\n\"\n");
    P("           \"                 all cores were fastest for LeNet at every batch size, bench/RESULTS.md)\\n\"\n");
    P("           \"  --limit N      stop after N batches (a quick check)\\n\"\n");
    P("           \"  --test-limit N evaluate on the first N test images only\\n\"\n");
    P("           \"  --csv FILE     write every batch's loss as CSV (epoch,batch,loss)\\n\"\n");
    P("           \"  --grid FILE    write the first test batch as a PNG image grid, and print its\\n\"\n"
      "           \"                 GroundTruth and Predicted lines as the blitz does\\n\"\n");
    P("           \"  --save FILE    checkpoint (.safetensors) every --save-every batches (default: log_every)\\n\"\n"
      "           \"                 and at the end of each epoch, written atomically\\n\"\n"
      "           \"  --resume FILE  continue from a checkpoint exactly where it was taken\\n\"\n"
      "           \"  --load FILE    start from the model's tensors in a checkpoint or an exported state_dict\\n\"\n"
      "           \"                 (.safetensors; parameters and batch-norm statistics; optimizer state and\\n\"\n"
      "           \"                 position start afresh)\\n\"\n");
    P("           \"The batch size (%lld), the input shape (%lldx%lldx%lld), the loss and the optimizer are\\n\"\n",
      (long long)B, (long long)C, (long long)H, (long long)W);
    P("           \"compiled in; change them in the .tg file and compile again.\\n\", argv0);\n}\n\n");
    P("static long long number(const char *flag, const char *v) {\n    char *end;\n    long long n = strtoll(v ? v : \"\", &end, 10);\n");
    P("    if (!v || *end || n < 0) {\n        fprintf(stderr, \"%s: %%s needs a non-negative number\\n\", flag);\n        exit(2);\n    }\n    return n;\n}\n\n", prefix);
    P("/* The blitz's imshow(make_grid(images)): the first test batch in a row, 2 pixels apart, and its\n"
      "   GroundTruth and Predicted lines. */\n");
    P("static int write_grid(const char *path, const TgDataset *d, int pad, const int64_t *y, const float *logits) {\n");
    P("    const int s = d->h + 2 * pad, n = %lld < 8 ? %lld : 8, W = n * (s + 2) + 2, H = s + 4;\n", (long long)B, (long long)B);
    P("    unsigned char *rgb = calloc((size_t)W * (size_t)H, 3);\n    char err[512];\n");
    P("    if (!rgb)\n        return 1;\n");
    P("    for (int i = 0; i < n; i++)\n        for (int r = 0; r < s; r++)\n            for (int q = 0; q < s; q++)\n");
    P("                for (int ch = 0; ch < 3; ch++) {\n");
    P("                    int sr = r - pad, sq = q - pad, sc = d->c == 3 ? ch : 0;\n");
    P("                    unsigned char p = sr < 0 || sq < 0 || sr >= d->h || sq >= d->w ? 0 :\n");
    P("                        d->images[(((size_t)i * (size_t)d->c + (size_t)sc) * (size_t)d->h + (size_t)sr) * (size_t)d->w + (size_t)sq];\n");
    P("                    rgb[(((size_t)r + 2) * (size_t)W + (size_t)(i * (s + 2) + 2 + q)) * 3 + (size_t)ch] = p;\n                }\n");
    P("    int rc = tg_write_png(path, rgb, W, H, err, sizeof err);\n    free(rgb);\n");
    P("    if (rc) {\n        fprintf(stderr, \"%s: %%s\\n\", err);\n        return 1;\n    }\n", prefix);
    P("    printf(\"GroundTruth: \");\n    for (int i = 0; i < %lld; i++)\n        printf(\" %%-5s\", class_names[y[i]]);\n", (long long)B);
    P("    printf(\"\\nPredicted: \");\n    for (int i = 0; i < %lld; i++) {\n        int best = 0;\n", (long long)B);
    P("        for (int k = 1; k < %lld; k++)\n            if (logits[i * %lld + k] > logits[i * %lld + best])\n                best = k;\n", (long long)K, (long long)K, (long long)K);
    P("        printf(\" %%-5s\", class_names[best]);\n    }\n    printf(\"\\n\");\n    return 0;\n}\n\n");
    emit_checkpoint_helpers();
    P("int main(int argc, char **argv) {\n");
    P("    const char *data = %s, *csv = NULL, *grid = NULL, *save = %s, *resume = NULL, *load = NULL;\n",
      cstr(c->data_dir), c->checkpoint ? cstr(c->checkpoint) : "NULL");
    P("    long long epochs = %lld, seed = %lld, limit = -1, test_limit = -1, save_every = %lld;\n", (long long)c->epochs,
      (long long)c->seed, (long long)c->log_every);
    P("    double lr = 0; /* 0: the optimizer's own (compiled in, or from a resumed checkpoint) */\n");
    P("    for (int i = 1; i < argc; i++) {\n");
    P("        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;\n");
    P("        if (!strcmp(a, \"--help\") || !strcmp(a, \"-h\")) {\n            usage(argv[0]);\n            return 0;\n        }\n");
    P("        else if (!strcmp(a, \"--data\") && v) data = argv[++i];\n");
    P("        else if (!strcmp(a, \"--csv\") && v) csv = argv[++i];\n");
    P("        else if (!strcmp(a, \"--grid\") && v) grid = argv[++i];\n");
    P("        else if (!strcmp(a, \"--save\") && v) save = argv[++i];\n");
    P("        else if (!strcmp(a, \"--resume\") && v) resume = argv[++i];\n");
    P("        else if (!strcmp(a, \"--load\") && v) load = argv[++i];\n");
    P("        else if (!strcmp(a, \"--save-every\")) save_every = number(a, v), i++;\n");
    P("        else if (!strcmp(a, \"--lr\") && v) {\n            char *end;\n            lr = strtod(argv[++i], &end);\n");
    P("            if (*end || !(lr > 0)) {\n                fprintf(stderr, \"%s: --lr needs a positive number\\n\");\n"
      "                return 2;\n            }\n        }\n", prefix);
    P("        else if (!strcmp(a, \"--epochs\")) epochs = number(a, v), i++;\n");
    P("        else if (!strcmp(a, \"--seed\")) seed = number(a, v), i++;\n");
    P("        else if (!strcmp(a, \"--limit\")) limit = number(a, v), i++;\n");
    P("        else if (!strcmp(a, \"--test-limit\")) test_limit = number(a, v), i++;\n");
    P("        else if (!strcmp(a, \"--threads\")) {\n            long long t = number(a, v);\n            i++;\n");
    P("#ifdef _OPENMP\n            if (t > 0)\n                omp_set_num_threads((int)t);\n#else\n            (void)t;\n#endif\n        }\n");
    P("        else {\n            fprintf(stderr, \"%s: unknown option '%%s' (see --help)\\n\", a);\n            return 2;\n        }\n    }\n", prefix);
    P("    char err[1024];\n    TgDataset train, test;\n");
    if (cuda) {
        P("    if (%s_cuda_start(err, sizeof err)) { /* before the data: a machine without a GPU says so at once */\n", prefix);
        P("        fprintf(stderr, \"%s: %%s\\n\", err);\n        return 1;\n    }\n", prefix);
    }
    P("    if (tg_load_dataset(\"%s\", data, 1, &train, err, sizeof err) || tg_load_dataset(\"%s\", data, 0, &test, err, sizeof err)) {\n", c->data_kind, c->data_kind);
    P("        fprintf(stderr, \"%s: %%s\\n\", err);\n        return 1;\n    }\n", prefix);
    P("    if (train.c != %lld || train.h + %d != %lld || train.w + %d != %lld || train.nclasses > %lld) {\n",
      (long long)C, 2 * c->pad, (long long)H, 2 * c->pad, (long long)W, (long long)K);
    P("        fprintf(stderr, \"%s: the data are %%dx%%dx%%d images (+%d padding) of %%d classes; the model takes %lldx%lldx%lld and %lld classes\\n\",\n"
      "                train.c, train.h, train.w, train.nclasses);\n        return 1;\n    }\n",
      prefix, 2 * c->pad, (long long)C, (long long)H, (long long)W, (long long)K);
    P("    unsigned char *raw = malloc(%s_ARENA_BYTES + 64);\n", U);
    P("    float *x = malloc(sizeof(float) * %lld), *logits = malloc(sizeof(float) * %lld);\n", (long long)(B * C * H * W), (long long)(B * K));
    P("    int64_t *y = malloc(sizeof(int64_t) * %lld), *order = malloc(sizeof(int64_t) * (size_t)(train.n + test.n));\n", (long long)B);
    P("    if (!raw || !x || !logits || !y || !order) {\n        fprintf(stderr, \"%s: out of memory\\n\");\n        return 1;\n    }\n", prefix);
    P("    void *arena = raw + (64 - (size_t)((uintptr_t)raw %% 64));\n");
    P("    const float mean[%lld] = {", (long long)C);
    for (int i = 0; i < C; i++)
        P("%s%s", i ? ", " : "", literal(c->nnorm ? c->mean[i] : 0, DT_F32));
    P("}, stdev[%lld] = {", (long long)C);
    for (int i = 0; i < C; i++)
        P("%s%s", i ? ", " : "", literal(c->nnorm ? c->std[i] : 1, DT_F32));
    P("};\n");
    P("    FILE *csvf = csv ? fopen(csv, \"w\") : NULL;\n");
    P("    if (csv && !csvf) {\n        fprintf(stderr, \"%s: cannot write %%s\\n\", csv);\n        return 1;\n    }\n", prefix);
    P("    if (csvf)\n        fprintf(csvf, \"epoch,batch,loss\\n\");\n");
    P("    %s_init(arena, (uint64_t)seed);\n", prefix);
    P("    TgRng shuffle_rng, epoch_rng;\n    tg_rng_seed(&shuffle_rng, (uint64_t)seed + 1);\n");
    P("    const int64_t batches = train.n / %lld; /* the last partial batch is dropped: the batch size is compiled in */\n", (long long)B);
    P("    long long done = 0, first_epoch = 0, first_batch = 0;\n    double running = 0;\n");
    P("    const int tty = isatty(fileno(stdout));\n");
    P("    if ((resume || load) && read_checkpoint(resume ? resume : load, arena, !resume, &shuffle_rng, &first_epoch, &first_batch, &done, &running))\n"
      "        return 1;\n");
    P("    for (int i = 0; lr > 0 && i < %s_ntensors; i++)\n        if (!strcmp(%s_tensors[i].name, \"lr\"))\n"
      "            *(double *)((unsigned char *)arena + %s_tensors[i].offset) = lr;\n", prefix, prefix, prefix);
    if (cuda)
        P("    %s_cuda_push(arena); /* parameters and optimizer state to the GPU */\n", prefix);
    P("    for (long long epoch = first_epoch; epoch < epochs && (limit < 0 || done < limit); epoch++) {\n");
    P("        for (int64_t i = 0; i < train.n; i++)\n            order[i] = i;\n");
    P("        epoch_rng = shuffle_rng; /* a checkpoint keeps the state that made this epoch's order */\n");
    if (c->shuffle)
        P("        tg_shuffle(&shuffle_rng, order, train.n);\n");
    P("        for (int64_t b = epoch == first_epoch ? first_batch : 0; b < batches && (limit < 0 || done < limit); b++) {\n");
    P("            tg_dataset_batch(&train, order, b * %lld, %lld, %d, mean, stdev, x, y);\n", (long long)B, (long long)B, c->pad);
    P("            float loss = %s_train_step(arena, x, y);\n", prefix);
    P("            running += loss;\n            done++;\n");
    P("            if (csvf)\n                fprintf(csvf, \"%%lld,%%lld,%%.9g\\n\", epoch + 1, (long long)b + 1, (double)loss);\n");
    P("            if (tty && (b + 1) %% 50 == 0) { /* a progress line on terminals, overwritten in place */\n");
    P("                printf(\"\\r[%%lld, %%5lld/%%lld]\", epoch + 1, (long long)b + 1, (long long)batches);\n");
    P("                fflush(stdout);\n            }\n");
    P("            if ((b + 1) %% %lld == 0) {\n", (long long)c->log_every);
    P("                printf(\"%%s[%%lld, %%5lld] loss: %%.3f\\n\", tty ? \"\\r\\033[K\" : \"\", epoch + 1, (long long)b + 1,\n"
      "                       running / %lld);\n", (long long)c->log_every);
    P("                fflush(stdout);\n                running = 0;\n            }\n");
    P("            bool last = b + 1 == batches;\n");
    P("            if (save && (last || (save_every > 0 && (b + 1) %% save_every == 0))) {\n");
    P("                /* where the next batch is: the start of the next epoch after the last one */\n");
    P("                if (csvf)\n                    fflush(csvf);\n");
    if (cuda)
        P("                %s_cuda_pull(arena); /* the GPU's parameters and state, for the checkpoint */\n", prefix);
    P("                if (write_checkpoint(save, arena, last ? &shuffle_rng : &epoch_rng, last ? epoch + 1 : epoch,\n"
      "                                     last ? 0 : b + 1, done, last ? 0 : running))\n                    return 1;\n");
    P("            }\n        }\n        running = 0;\n    }\n");
    P("    printf(\"%%sFinished Training\\n\", tty ? \"\\r\\033[K\" : \"\");\n");
    P("    /* evaluation, as the blitz's: total and per-class accuracy on the test set */\n");
    P("    long long correct = 0, total = 0, class_correct[%lld] = {0}, class_total[%lld] = {0};\n", (long long)K, (long long)K);
    P("    const int64_t n = test_limit >= 0 && test_limit < test.n ? test_limit : test.n;\n");
    P("    for (int64_t i = 0; i < test.n; i++)\n        order[i] = i;\n");
    P("    for (int64_t first = 0; first < n; first += %lld) {\n", (long long)B);
    P("        tg_dataset_batch(&test, order, first, %lld, %d, mean, stdev, x, y);\n", (long long)B, c->pad);
    P("        %s_predict(arena, x, logits);\n", prefix);
    P("        if (grid && first == 0 && write_grid(grid, &test, %d, y, logits))\n            return 1;\n", c->pad);
    P("        for (int64_t j = 0; j < %lld && first + j < n; j++) {\n", (long long)B);
    P("            int64_t best = 0;\n            for (int64_t k = 1; k < %lld; k++)\n", (long long)K);
    P("                if (logits[j * %lld + k] > logits[j * %lld + best])\n                    best = k;\n", (long long)K, (long long)K);
    P("            total++;\n            class_total[y[j]]++;\n            if (best == y[j]) {\n                correct++;\n                class_correct[y[j]]++;\n            }\n        }\n    }\n");
    P("    printf(\"Accuracy of the network on the %%lld test images: %%lld %%%%\\n\", total, total ? 100 * correct / total : 0);\n");
    P("    for (int k = 0; k < %lld; k++)\n", (long long)K);
    P("        if (class_total[k])\n            printf(\"Accuracy for class: %%-5s is %%.1f %%%%\\n\", class_names[k], 100 * (double)class_correct[k] / (double)class_total[k]);\n");
    P("    if (csvf)\n        fclose(csvf);\n");
    P("    tg_dataset_free(&train);\n    tg_dataset_free(&test);\n    free(raw);\n    free(x);\n    free(logits);\n    free(y);\n    free(order);\n    return 0;\n}\n#endif\n");
}

static const char *upper(const char *s) {
    char *u = ir_strdup(s);
    for (char *p = u; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return u;
}

void emit_c(FILE *c, FILE *h, Graph **programs, int nprograms, const EmitOptions *opt) {
    prefix = opt->prefix;
    cuda = opt->cuda && opt->train;
    const char *banner = ir_fmt("// Generated by tgc %s from %s (%s). Do not edit.\n", TGC_VERSION,
                                comment_safe(opt->source), comment_safe(opt->command));
    /* programs run one after another and share the arena; predict's plan sits inside the step's */
    int64_t arena = 0;
    for (int p = 0; p < nprograms; p++)
        if (opt->plans[p]->total > arena)
            arena = opt->plans[p]->total;
    Graph *train = opt->train, *pred = train && train->train ? train->train->predict : NULL;
    if (train && opt->train_plan->total > arena)
        arena = opt->train_plan->total;
    if (pred && opt->predict_plan->total > arena)
        arena = opt->predict_plan->total;
    const char **fn = ir_alloc(sizeof(char *) * (size_t)(nprograms + 1));
    for (int p = 0; p < nprograms; p++)
        fn[p] = nprograms == 1 ? ir_fmt("%s_run", prefix) : ir_fmt("%s_run_%s", prefix, programs[p]->name);

    /* header */
    out = h;
    const char *guard = ir_fmt("%s_H", upper(prefix));
    P("%s#ifndef %s\n#define %s\n\n#include <stdint.h>\n#include <stdio.h>\n\n#include <tgrt.h>\n\n", banner, guard, guard);
    P("/* Bytes of working memory the caller provides (aligned to 64 bytes). */\n");
    P("#define %s_ARENA_BYTES %lld\n", upper(prefix), (long long)(arena ? arena : 64));
    if (train)
        P("/* Of which the first bytes persist across steps: parameters, optimizer state, gradients. */\n"
          "#define %s_PERSISTENT_BYTES %lld\n", upper(prefix), (long long)opt->train_plan->persistent);
    P("\n");
    for (int p = 0; p < nprograms; p++) {
        P("/* Runs program '%s', printing to out; returns 0, or 1 after reporting an error on stderr. */\n",
          programs[p]->name);
        P("int %s(void *arena, FILE *out);\n", fn[p]);
    }
    if (train) {
        const Node *x = NULL;
        for (int i = 0; i < train->nnode && !x; i++)
            if (train->nodes[i].op == OP_INPUT)
                x = &train->nodes[i];
        P("\n/* The training step of %s. The caller owns the arena; nothing here allocates. */\n", train->name);
        P("#define %s_BATCH %lld\n", upper(prefix), (long long)x->shape.d[0]);
        P("typedef struct {\n    const char *name;  /* PyTorch's state_dict key, or <key>.momentum_buffer, ... */\n"
          "    size_t offset;     /* bytes into the arena */\n    TgDType dtype;\n    int rank;\n"
          "    int64_t shape[8];\n    int trainable;     /* a parameter that receives a gradient */\n"
          "    int model;         /* the model's (its state_dict: parameters, batch-norm statistics), not the optimizer's */\n"
          "} %sTensor;\n",
          prefix);
        P("extern const %sTensor %s_tensors[];\nextern const int %s_ntensors;\n", prefix, prefix, prefix);
        int npersist = 0;
        for (int i = 0; i < train->nnode; i++)
            npersist += train->nodes[i].op == OP_PARAM;
        P("#define %s_ntensors_max %d /* the length of %s_tensors, as a constant */\n", upper(prefix), npersist, prefix);
        P("void %s_init(void *arena, uint64_t seed);\n", prefix);
        const Node *y = NULL;
        for (int i = 0; i < train->nnode; i++)
            if (train->nodes[i].op == OP_INPUT && &train->nodes[i] != x)
                y = &train->nodes[i];
        P("float %s_train_step(void *arena, const float *x, const %s *y);\n", prefix, dtype_ctype(y->dtype));
        if (pred) {
            const Node *o = NULL;
            for (int i = 0; i < pred->nnode; i++)
                if (pred->nodes[i].flags & NF_OUTPUT)
                    o = &pred->nodes[i];
            P("/* The model's forward pass on a batch, no gradients: out is %s. */\n", type_str(o->dtype, o->shape));
            P("void %s_predict(void *arena, const float *x, float *out);\n", prefix);
        }
        if (cuda)
            P("\n/* The GPU (--target cuda): the step and predict run there on its copy of the arena.\n"
              "   %s_cuda_start opens the device and compiles the kernels (or takes them from the cache);\n"
              "   push copies the persistent region (parameters, optimizer state) to the GPU, pull back. */\n"
              "#define %s_TARGET_CUDA 1\n"
              "int %s_cuda_start(char *err, size_t errlen);\nvoid %s_cuda_push(const void *arena);\n"
              "void %s_cuda_pull(void *arena);\n", prefix, upper(prefix), prefix, prefix, prefix);
    }
    P("\n#endif\n");

    /* source */
    out = c;
    if (train && pred && opt->main && !nprograms)
        P("%s#define _POSIX_C_SOURCE 200809L /* isatty and fileno, for the trainer's progress line */\n",
          opt->header ? banner : "");
    if (opt->header)
        P("%s#include \"%s\"\n", train && pred && opt->main && !nprograms ? "" : banner, opt->header);
    else
        P("\n"); /* the header was written just above, into this same file */
    P("\n#include <math.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n\n#include <tgrt.h>\n%s",
      cuda ? "#include <stdlib.h> /* the GPU's start: the kernel source is joined once */\n#include <tgrt_cuda.h>\n" : "");
    P("\n/* The loops a kernel wants vectorized; OpenMP's simd where the compiler has OpenMP. It is a\n"
      "   request: a loop clang cannot vectorize at a low optimization level is no error. */\n"
      "#ifdef _OPENMP\n#define TG_SIMD _Pragma(\"omp simd\")\n#ifdef __clang__\n"
      "#pragma clang diagnostic ignored \"-Wpass-failed\"\n#endif\n#else\n#define TG_SIMD\n#endif\n");
    P("\n/* The kernels' register tiles count 256-bit AVX registers. GCC tuned for a CPU with 128-bit\n"
      "   units (AMD Zen 1) would vectorize them at 128 bits, twice the registers, and spill. */\n"
      "#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX2__)\n"
      "#pragma GCC target(\"prefer-vector-width=256\")\n#endif\n");
    bool need_ipow = false; /* in any graph the C kernels compute: programs, the step, predict */
    for (int p = 0; p < nprograms + 2; p++) {
        Graph *g = p < nprograms ? programs[p] : p == nprograms ? (cuda ? NULL : train) : (cuda ? NULL : pred);
        for (int i = 0; g && i < g->nnode; i++)
            if (g->nodes[i].op == OP_POW && !dtype_is_float(g->nodes[i].dtype))
                need_ipow = true;
    }
    if (need_ipow)
        P("\n/* Integer power as PyTorch computes it: by squaring, wrapping on overflow; a negative\n"
          "   exponent gives 1 for a base of 1, +-1 for -1, and 0 otherwise. */\n"
          "static int64_t ipow(int64_t b, int64_t e) {\n"
          "    if (e < 0)\n        return b == 1 ? 1 : b == -1 ? (e & 1 ? -1 : 1) : 0;\n"
          "    uint64_t r = 1, ub = (uint64_t)b;\n"
          "    for (; e > 0; e >>= 1, ub *= ub)\n        if (e & 1)\n            r *= ub;\n"
          "    return (int64_t)r;\n}\n");
    for (int p = 0; p < nprograms; p++) {
        G = programs[p];
        M = opt->plans[p];
        kpre = p ? ir_fmt("p%d_", p) : ""; /* kernels of later programs must not clash with the first's */
        P("\n/* ---- program %s: kernels ---- */\n", G->name);
        emit_kernels();
        P("\n/* ---- program %s: run ---- */\n", G->name);
        emit_run(G, fn[p]);
    }
    kpre = "";
    if (train) {
        G = train;
        M = opt->train_plan;
        kpre = nprograms ? "t" : "";
        if (cuda) {
            units_alloc();
            emit_train(G); /* init and the tensor table: host code, as for C */
            /* the kernels' banner leaves out the command line: the compiled-kernel cache keys on the source */
            cuda_emit_host(out, train, opt->train_plan, pred, opt->predict_plan, prefix,
                           ir_fmt("// Generated by tgc %s from %s. Do not edit.\n", TGC_VERSION, comment_safe(opt->source)),
                           kpre);
        } else {
            P("\n/* ---- training step of %s: kernels ---- */\n", G->name);
            emit_kernels();
            emit_train(G);
        }
        if (pred && !cuda) {
            G = pred;
            M = opt->predict_plan;
            kpre = "p";
            P("\n/* ---- predict: kernels ---- */\n");
            emit_kernels();
            emit_predict(G);
        }
        kpre = "";
        if (opt->main && pred && !nprograms)
            emit_trainer_main(train, pred);
    }
    if (opt->main && nprograms) {
        P("\n#ifndef TGC_NO_MAIN\n#include <stdlib.h>\n\n");
        P("/* The standalone program: main owns the arena (the run functions never allocate). */\n");
        P("int main(void) {\n");
        P("    unsigned char *raw = malloc(%s_ARENA_BYTES + 64);\n", upper(prefix));
        P("    if (!raw) {\n");
        P("        fprintf(stderr, \"%s: cannot allocate %%.0f MiB of working memory\\n\",\n"
          "                (double)%s_ARENA_BYTES / 1048576.0);\n", prefix, upper(prefix));
        P("        return 1;\n    }\n");
        P("    void *arena = raw + (64 - (size_t)((uintptr_t)raw %% 64)); /* 64-byte aligned */\n");
        P("    int status = 0;\n");
        for (int p = 0; p < nprograms; p++)
            P("    if (!status)\n        status = %s(arena, stdout);\n", fn[p]);
        P("    free(raw);\n    return status;\n}\n#endif\n");
    }
}

/* ---- --stats ---- */

/* Floating-point operations of one node, counting a multiply-add as two. */
static double node_flops(const Node *n) {
    double out = (double)shape_numel(n->shape);
    switch (op_info[n->op].kind) {
    case K_UNARY: case K_BINARY: return out;
    case K_REDUCE: return (double)shape_numel(G->nodes[n->in[0]].shape);
    default: break;
    }
    switch (n->op) {
    case OP_MATMUL: {
        const Node *a = &G->nodes[n->in[0]];
        return 2 * out * (double)a->shape.d[a->shape.rank - 1];
    }
    case OP_LINEAR: return 2 * out * (double)G->nodes[n->in[1]].shape.d[1] + (n->nin == 3 ? out : 0);
    case OP_CONV2D: case OP_CONV2D_BWD_INPUT: case OP_CONV2D_BWD_WEIGHT: {
        /* every (output position, weight) pair once: 2 N O OH OW C/g KH KW */
        const Node *w = n->op == OP_CONV2D || n->op == OP_CONV2D_BWD_INPUT ? &G->nodes[n->in[1]] : n;
        const Node *y = n->op == OP_CONV2D ? n : &G->nodes[n->in[n->op == OP_CONV2D_BWD_INPUT ? 0 : 1]];
        return 2 * (double)shape_numel(y->shape) * (double)(w->shape.d[1] * w->shape.d[2] * w->shape.d[3]);
    }
    case OP_MAXPOOL2D: case OP_AVGPOOL2D: case OP_MAXPOOL2D_BWD: case OP_AVGPOOL2D_BWD: {
        const int64_t *k = node_ints(n, "kernel", NULL);
        const Node *y = n->op == OP_MAXPOOL2D || n->op == OP_AVGPOOL2D ? n : &G->nodes[n->in[1]];
        return (double)shape_numel(y->shape) * (double)(k[0] * k[1]);
    }
    case OP_CROSS_ENTROPY: case OP_CROSS_ENTROPY_BWD:
        return 4 * (double)shape_numel(G->nodes[n->in[0]].shape); /* max, exp, sum, and the loss or gradient */
    default: return 0;
    }
}

static const char *human(double b) {
    if (b >= 1 << 20)
        return ir_fmt("%.2f MiB", b / (1 << 20));
    if (b >= 1 << 10)
        return ir_fmt("%.1f KiB", b / (1 << 10));
    return ir_fmt("%.0f B", b);
}

int emit_count_kernels(Graph *g, const MemPlan *m) {
    G = g;
    M = m;
    int n = 0;
    for (int i = 0, f, l; i < g->nnode; i++)
        n += kernel_at(i, &f, &l);
    return n;
}

void emit_stats(FILE *f, Graph *g, const MemPlan *m, int unfused) {
    FILE *saved = out;
    out = f;
    G = g;
    M = m;
    kpre = "";
    bname = ir_alloc(sizeof(char *) * (size_t)(g->nnode + 1));
    bstamp = ir_alloc(sizeof(int) * (size_t)(g->nnode + 1));
    prologue = ir_alloc((size_t)g->nnode + 1);
    int nk = emit_count_kernels(g, m);
    P("== %s ==\n", g->name);
    if (unfused >= 0)
        P("kernels: %d, %d with fusion off (%.0f%% fewer)\n", nk, unfused, unfused ? 100.0 * (unfused - nk) / unfused : 0.0);
    else
        P("kernels: %d\n", nk);
    P("  %-34s %-30s %12s %12s\n", "kernel", "ops", "FLOPs", "bytes moved");
    double tflops = 0, tbytes = 0;
    for (int i = 0, first, last; i < g->nnode; i++) {
        if (!kernel_at(i, &first, &last))
            continue;
        unit_begin(first, last);
        double fl = 0, by = 0;
        const char *ops = "";
        for (int j = first; j <= last; j++) {
            fl += node_flops(&g->nodes[j]);
            ops = ir_fmt("%s%s%s", ops, *ops ? " " : "", op_info[g->nodes[j].op].name);
        }
        for (int a = 0; a < nkargs; a++) /* each buffer read or written once */
            by += (double)(shape_numel(g->nodes[kargs[a].node].shape) * dtype_size(g->nodes[kargs[a].node].dtype));
        if (strlen(ops) > 30)
            ops = ir_fmt("%.27s...", ops);
        P("  %-34s %-30s %12.0f %12.0f\n", unit_name(), ops, fl, by);
        tflops += fl;
        tbytes += by;
    }
    P("  %-34s %-30s %12.0f %12.0f\n", "total", "", tflops, tbytes);
    P("memory:\n");
    P("  persistent  %10lld bytes (%s): parameters and optimizer state %lld, gradients %lld\n", (long long)m->persistent,
      human((double)m->persistent), (long long)m->params, (long long)(m->persistent - m->params));
    P("  transient   %10lld bytes (%s) planned; %lld bytes (%s) as separate buffers: %.2f of the plain sum\n",
      (long long)m->transient, human((double)m->transient), (long long)m->plain, human((double)m->plain),
      m->plain ? (double)m->transient / (double)m->plain : 0.0);
    P("  arena       %10lld bytes (%s)\n", (long long)m->total, human((double)m->total));
    P("buffers:\n  %10s %10s  %-16s %s\n", "offset", "bytes", "live", "value");
    for (int i = 0; i < g->nnode; i++) {
        const Node *n = &g->nodes[i];
        if (m->off[i] < 0)
            continue;
        const char *life = n->op == OP_PARAM ? "persistent"
                           : (n->flags & NF_GRAD) ? "gradient"
                           : m->last[i] >= g->nnode ? ir_fmt("%%%d..return", m->first[i])
                                                    : ir_fmt("%%%d..%%%d", m->first[i], m->last[i]);
        const char *how = m->view[i] ? ", view" : m->inplace[i] ? ", in place" : "";
        if (n->op != OP_PARAM && m->off[i] < m->persistent && !(n->flags & NF_GRAD))
            how = ", into its parameter";
        P("  %10lld %10lld  %-16s %%%d %s %s%s%s%s\n", (long long)m->off[i],
          (long long)(shape_numel(n->shape) * dtype_size(n->dtype)), life, i, op_info[n->op].name,
          type_str(n->dtype, n->shape), n->name ? " " : "", n->name ? n->name : "", how);
    }
    out = saved;
}

void cg_c_string(const char *s, size_t n) { c_string(s, n); }
const char *cg_upper(const char *s) { return upper(s); }
