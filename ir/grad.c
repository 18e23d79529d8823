/*
 * grad.c: where a gradient can flow, a question about the graph that both the frontend (is
 * a leaf's .grad None after backward()?) and the autodiff pass (which nodes get an adjoint) ask,
 * so their answers agree by construction.
 */
#include "ir.h"

bool ir_grad_flows(const Graph *g, const Node *n, int k) {
    if (!op_info[n->op].diff || !dtype_is_float(g->nodes[n->in[k]].dtype) || !dtype_is_float(n->dtype))
        return false;
    return !(n->op == OP_CROSS_ENTROPY && k == 1); /* class indices */
}

bool *ir_grad_reach(const Graph *g, int y, const int *wrt, int nwrt) {
    int n0 = g->nnode;
    bool *dep = ir_alloc((size_t)n0 + 1), *leaf = ir_alloc((size_t)n0 + 1), *reach = ir_alloc((size_t)n0 + 1);
    for (int i = 0; i < nwrt; i++)
        dep[wrt[i]] = leaf[wrt[i]] = true;
    /* forward from the leaves: what depends on one through differentiable inputs, not through a
     * value made without gradient tracking (item(), a frozen pass, an optimizer step, a gradient) */
    for (int i = 0; i < n0; i++) {
        const Node *n = &g->nodes[i];
        if (n->flags & (NF_NOGRAD | NF_BACKWARD))
            continue;
        for (int k = 0; k < n->nin && !dep[i]; k++)
            if (dep[n->in[k]] && ir_grad_flows(g, n, k))
                dep[i] = true;
    }
    /* back from y over those: a leaf ends the walk (what computed it is not differentiated) */
    reach[y] = dep[y];
    for (int i = y; i >= 0; i--) {
        const Node *n = &g->nodes[i];
        if (!reach[i] || leaf[i])
            continue;
        for (int k = 0; k < n->nin; k++)
            if (dep[n->in[k]] && ir_grad_flows(g, n, k))
                reach[n->in[k]] = true;
    }
    return reach;
}
