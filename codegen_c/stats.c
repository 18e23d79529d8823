/*
 * stats.c: tgc --stats, what the passes made of a graph as planned: its kernels with their fused
 * ops, floating-point operations and bytes moved (each parameter's buffer once), the memory
 * regions against the plain sum of their buffers, and every buffer's offset and lifetime.
 */
#include "emit.h"

#include <string.h>

/* Floating-point operations of one node, counting a multiply-add as two. */
static double node_flops(const Node *n) {
    double out = (double)shape_numel(n->shape);
    switch (op_info[n->op].kind) {
    case K_UNARY: case K_BINARY: return out;
    case K_REDUCE: return (double)shape_numel(cg.g->nodes[n->in[0]].shape);
    default: break;
    }
    switch (n->op) {
    case OP_MATMUL: {
        const Node *a = &cg.g->nodes[n->in[0]];
        return 2 * out * (double)a->shape.d[a->shape.rank - 1];
    }
    case OP_LINEAR: return 2 * out * (double)cg.g->nodes[n->in[1]].shape.d[1] + (n->nin == 3 ? out : 0);
    case OP_CONV2D: case OP_CONV2D_BWD_INPUT: case OP_CONV2D_BWD_WEIGHT: {
        /* every (output position, weight) pair once: 2 N O OH OW C/g KH KW */
        const Node *w = n->op == OP_CONV2D || n->op == OP_CONV2D_BWD_INPUT ? &cg.g->nodes[n->in[1]] : n;
        const Node *y = n->op == OP_CONV2D ? n : &cg.g->nodes[n->in[n->op == OP_CONV2D_BWD_INPUT ? 0 : 1]];
        return 2 * (double)shape_numel(y->shape) * (double)(w->shape.d[1] * w->shape.d[2] * w->shape.d[3]);
    }
    case OP_MAXPOOL2D: case OP_AVGPOOL2D: case OP_MAXPOOL2D_BWD: case OP_AVGPOOL2D_BWD: {
        const int64_t *k = node_ints(n, "kernel", NULL);
        const Node *y = n->op == OP_MAXPOOL2D || n->op == OP_AVGPOOL2D ? n : &cg.g->nodes[n->in[1]];
        return (double)shape_numel(y->shape) * (double)(k[0] * k[1]);
    }
    case OP_CROSS_ENTROPY: case OP_CROSS_ENTROPY_BWD:
        return 4 * (double)shape_numel(cg.g->nodes[n->in[0]].shape); /* max, exp, sum, and the loss or gradient */
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
    cg_begin(g, m, "");
    int n = 0;
    for (int i = 0, f, l; i < g->nnode; i++)
        n += cg_kernel_at(i, &f, &l);
    return n;
}

void emit_stats(FILE *f, Graph *g, const MemPlan *m, int unfused) {
    FILE *saved = cg.out;
    cg.out = f;
    int nk = emit_count_kernels(g, m); /* and the graph is cg's */
    P("== %s ==\n", g->name);
    if (unfused >= 0)
        P("kernels: %d, %d with fusion off (%.0f%% fewer)\n", nk, unfused, unfused ? 100.0 * (unfused - nk) / unfused : 0.0);
    else
        P("kernels: %d\n", nk);
    P("  %-34s %-30s %12s %12s\n", "kernel", "ops", "FLOPs", "bytes moved");
    double tflops = 0, tbytes = 0;
    for (int i = 0, first, last; i < g->nnode; i++) {
        if (!cg_kernel_at(i, &first, &last))
            continue;
        cg_unit_begin(first, last);
        double fl = 0, by = 0;
        const char *ops = "";
        for (int j = first; j <= last; j++) {
            fl += node_flops(&g->nodes[j]);
            ops = ir_fmt("%s%s%s", ops, *ops ? " " : "", op_info[g->nodes[j].op].name);
        }
        for (int a = 0; a < cg.u.nargs; a++) /* each buffer read or written once */
            by += (double)(shape_numel(g->nodes[cg.u.args[a].node].shape) *
                           dtype_size(g->nodes[cg.u.args[a].node].dtype));
        if (strlen(ops) > 30)
            ops = ir_fmt("%.27s...", ops);
        P("  %-34s %-30s %12.0f %12.0f\n", cg_unit_name(), ops, fl, by);
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
    cg.out = saved;
}
