/*
 * verify.c: the graph invariants every pass must keep.
 *
 * Topological order (inputs before users), ids equal to positions, arities,
 * and types that the shape rules reproduce. Debug builds run it after every
 * pass, so a pass that breaks the graph is caught at the pass, not in codegen.
 */
#include "ir.h"

#include <string.h>

bool ir_verify(const Graph *g) {
    int before = diag_nerrors;
    /* ir_infer writes into the node: work on a scratch copy of the graph. */
    Graph scratch = *g;
    scratch.nodes = ir_alloc(sizeof(Node) * (size_t)(g->nnode ? g->nnode : 1));
    if (g->nnode)
        memcpy(scratch.nodes, g->nodes, sizeof(Node) * (size_t)g->nnode);
    for (int i = 0; i < g->nnode; i++) {
        const Node *n = &g->nodes[i];
        if (n->id != i)
            diag_error(n->loc, "verify: node at position %d has id %d", i, n->id);
        if (n->op < 0 || n->op >= OP_COUNT) {
            diag_error(n->loc, "verify: node %d has a bad op", i);
            continue;
        }
        bool inputs_ok = true;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] < 0 || n->in[k] >= i) {
                diag_error(n->loc, "verify: node %d uses %%%d, not defined before it", i, n->in[k]);
                inputs_ok = false;
            }
        if (!inputs_ok)
            continue;
        Node *c = &scratch.nodes[i];
        if (!ir_infer(&scratch, c))
            continue;
        if (c->dtype != n->dtype || !shape_eq(c->shape, n->shape))
            diag_error(n->loc, "verify: node %d is typed %s but its inputs give %s", i,
                       type_str(n->dtype, n->shape), type_str(c->dtype, c->shape));
    }
    return diag_nerrors == before;
}
