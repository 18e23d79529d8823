/*
 * kernels.c: a graph's kernel functions for the C backend, one per unit (frame.h), and their
 * calls. The dispatch is a table from op to the emitter of its family; each family's file picks
 * the op's form by its shapes. A fusion group goes to the emitter of its head, whose stores run
 * the fused elementwise ops (emit_store), or, where the head adds into its output, to a second
 * loop after it. Constants, fills and ranges are kernels too: sources with no inputs.
 *
 * A kernel whose function is the same text as one already in the file (the same op, shapes and
 * fusion: ResNet's repeated blocks) is not written again: its comment stays, and its name is
 * defined as the first one's, so the calls read as before.
 */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

/* ---- sources ---- */

static void emit_const(const Node *n) {
    const Attr *a = node_attr(n, "data");
    emit_kernel_open();
    int64_t cnt = shape_numel(n->shape);
    if (cnt == 0) {
        P("    (void)out;\n}\n");
        return;
    }
    P("    static const %s data[%lld] = {", dtype_ctype(n->dtype), (long long)cnt);
    for (int64_t i = 0; i < cnt; i++)
        P("%s%s", i % 8 ? ", " : (i ? ",\n        " : "\n        "), cg_attr_literal(a, (int)i, n->dtype));
    P("\n    };\n    memcpy(out, data, sizeof data);\n}\n");
}

/* out[i] = value for every element i: a loop, or for one element (i is 0) the store alone. */
static void emit_fill(int64_t cnt, const char *value) {
    bool loop = cnt != 1;
    if (loop)
        emit_for(4, "i", cnt, NULL);
    P("%*sout[%s] = %s;\n", loop ? 8 : 4, "", loop ? "i" : "0", value);
    if (loop)
        cg_end();
    P("}\n");
}

static void emit_full(const Node *n) {
    emit_kernel_open();
    emit_fill(shape_numel(n->shape), cg_attr_literal(node_attr(n, "value"), 0, n->dtype));
}

static void emit_arange(const Node *n) {
    emit_kernel_open();
    int64_t cnt = shape_numel(n->shape);
    const char *start = cg_literal(node_float(n, "start", 0), DT_F64), *step = cg_literal(node_float(n, "step", 1), DT_F64);
    emit_fill(cnt, cnt == 1 ? ir_fmt("(%s)%s", dtype_ctype(n->dtype), start)
                            : ir_fmt("(%s)(%s + (double)i * %s)", dtype_ctype(n->dtype), start, step));
}

/* ---- the dispatch ---- */

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
    case OP_SELECT: case OP_SETSELECT: emit_select(n); return;
    case OP_CAT: emit_cat(n); return;
    case OP_GATHER: emit_gather(n); return;
    case OP_SCATTER_ADD: emit_scatter_add(n); return;
    case OP_INDEX_SELECT: case OP_INDEX_ADD: emit_index_rows(n); return;
    case OP_MATMUL: emit_matmul(n); return;
    case OP_LINEAR: emit_linear(n); return;
    case OP_CONV2D: emit_conv2d(n); return;
    case OP_MAXPOOL2D: emit_maxpool(n); return;
    case OP_CROSS_ENTROPY: emit_cross_entropy(n); return;
    case OP_ORTHOGONAL:
        emit_kernel_open();
        cg_orthogonal_body(n, 4);
        P("}\n");
        return;
    case OP_CROSS_ENTROPY_BWD: emit_cross_entropy_bwd(n); return;
    case OP_CONV2D_BWD_INPUT: emit_conv2d_bwd_input(n); return;
    case OP_CONV2D_BWD_WEIGHT: emit_conv2d_bwd_weight(n); return;
    case OP_MAXPOOL2D_BWD: emit_maxpool_bwd(n); return;
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
    const Node *h = &cg.g->nodes[cg.u.head];
    char *buf;
    size_t len;
    FILE *saved = cg_capture(&buf, &len);
    emit_kernel(h);
    cg_uncapture(saved);
    if (len < 2 || strcmp(buf + len - 2, "}\n"))
        die("kernel of %s does not end its function", op_info[h->op].name);
    fwrite(buf, 1, len - 2, cg.out);
    free(buf);
    P("    /* the fused elementwise ops, over the finished output */\n");
    emit_for(4, "ei", shape_numel(h->shape), " {");
    P("        const %s t%d = out[ei];\n", dtype_ctype(h->dtype), cg.u.head);
    cg_emit_members(8, h->shape, "ei", NULL);
    emit_stores(8, "ei");
    cg_end();
    P("}\n");
}

/* The kernel function of nodes [first, last]: one node, or a fusion group. */
static void emit_unit(int first, int last) {
    cg_unit_begin(first, last);
    if (!cg_grouped())
        emit_kernel(&cg.g->nodes[first]);
    else if (cg.u.head < 0)
        emit_elementwise_group();
    else if (cg.g->nodes[cg.u.head].op == OP_CROSS_ENTROPY)
        emit_cross_entropy_fused();
    else if (kernel_epilogue(&cg.g->nodes[cg.u.head]) == EPI_SCATTER)
        emit_scatter_group();
    else
        emit_kernel(&cg.g->nodes[cg.u.head]); /* its stores go through emit_store, which adds the epilogue */
}

/* The functions written so far in this file: each one's text with its name cut out, and the name
 * (both the C heap's: a compiler run in one process for many inputs resets its arena between). */
static struct {
    char **body, **name;
    int n, cap;
} written;

void emit_kernels_reset(void) {
    for (int k = 0; k < written.n; k++) {
        free(written.body[k]);
        free(written.name[k]);
    }
    written.n = 0;
}

/* Unit [f, l]'s kernel: written out, or, where the same function is already in the file, its
 * comment and a #define of its name as that function's. */
static void emit_unit_once(int f, int l) {
    char *buf;
    size_t len;
    FILE *saved = cg_capture(&buf, &len);
    emit_unit(f, l);
    cg_uncapture(saved);
    const char *name = cg_unit_name();
    const char *head = ir_fmt("static void %s(", name);
    char *fn = strstr(buf, head);
    char *key = NULL;
    if (fn) {
        key = strdup(fn + strlen(head));
        if (!key)
            ir_out_of_memory(); /* the function's text from its parameters on: the name is the only difference allowed */
        for (int k = 0; k < written.n; k++)
            if (!strcmp(written.body[k], key)) {
                fwrite(buf, 1, (size_t)(fn - buf), cg.out);
                P("#define %s %s /* the same kernel */\n", name, written.name[k]);
                free(key);
                free(buf);
                return;
            }
    }
    fwrite(buf, 1, len, cg.out);
    free(buf);
    if (!key)
        return;
    if (written.n == written.cap) {
        written.cap = written.cap ? 2 * written.cap : 64;
        char **b = realloc(written.body, sizeof(char *) * (size_t)written.cap);
        if (b)
            written.body = b;
        char **nm = realloc(written.name, sizeof(char *) * (size_t)written.cap);
        if (nm)
            written.name = nm;
        if (!b || !nm)
            ir_out_of_memory();
    }
    written.body[written.n] = key;
    written.name[written.n] = strdup(name);
    if (!written.name[written.n++])
        ir_out_of_memory();
}

void emit_kernels(Graph *g, const MemPlan *m, const char *kpre) {
    cg_begin(g, m, kpre);
    for (int i = 0, f, l; i < g->nnode; i++)
        if (cg_kernel_at(i, &f, &l))
            emit_unit_once(f, l);
}

/* The call of the kernel that ends at node i, if one does. */
bool emit_call_at(int i) {
    int f, l;
    if (!cg_kernel_at(i, &f, &l))
        return false;
    cg_unit_begin(f, l);
    emit_kernel_call();
    return true;
}
