/*
 * dce.c: dead-code elimination.
 *
 * Requires: a verified graph. Produces: a new graph with the live nodes in the
 * same relative order, ids renumbered. Invalidates nothing else.
 *
 * Live are the effects (print, seed), outputs, parameters, and the nodes that
 * draw from the program's random generator or read files: dropping an unused
 * rand() would shift every later random number, and PyTorch draws it, so
 * seeded programs would stop matching PyTorch. Everything a live node uses is
 * live. The lowering leaves dead nodes behind on purpose (re-derived views of
 * variables that are never read again); this pass removes them.
 */
#include "passes.h"

#include <string.h>

static bool is_root(const Node *n) {
    return op_info[n->op].kind == K_EFFECT || (n->flags & (NF_OUTPUT | NF_PARAM | NF_INPUT)) ||
           n->op == OP_RAND || n->op == OP_RANDN || n->op == OP_BERNOULLI || n->op == OP_RANDINT ||
           n->op == OP_RANDPERM || n->op == OP_LOAD;
}

Graph *pass_dce(Graph *g) {
    bool *live = ir_alloc((size_t)g->nnode + 1);
    for (int i = g->nnode - 1; i >= 0; i--) {
        Node *n = &g->nodes[i];
        if (is_root(n))
            live[i] = true;
        if (live[i])
            for (int k = 0; k < n->nin; k++)
                live[n->in[k]] = true;
    }
    int *remap = ir_alloc(sizeof(int) * (size_t)(g->nnode + 1));
    Graph *out = ir_new_graph(g->name);
    out->train = g->train;
    for (int i = 0; i < g->nnode; i++) {
        remap[i] = -1;
        if (!live[i])
            continue;
        Node *n = &g->nodes[i];
        int *in = ir_alloc(sizeof(int) * (size_t)(n->nin + 1));
        for (int k = 0; k < n->nin; k++)
            in[k] = remap[n->in[k]];
        int id = ir_add_typed(out, n->op, in, n->nin, n->dtype, n->shape, n->attr, n->nattr, n->loc);
        out->nodes[id].flags = n->flags;
        out->nodes[id].name = n->name;
        remap[i] = id;
    }
    return out;
}
