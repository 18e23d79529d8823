/*
 * verify.c: the graph invariants every pass must keep.
 *
 * Topological order (inputs before users), ids equal to positions, arities,
 * and types that the shape rules reproduce. Debug builds run it after every
 * pass, so a pass that breaks the graph is caught at the pass, not in codegen.
 * Fusion groups (pass_fuse) are runs of consecutive nodes, and nothing outside
 * a group reads a member before the group's last node: the group runs as one
 * kernel at that point.
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
    for (int i = 0; i < g->nnode; i++) {
        const Node *n = &g->nodes[i];
        if (n->group && i > 0 && g->nodes[i - 1].group != n->group)
            for (int j = 0; j < i - 1; j++)
                if (g->nodes[j].group == n->group)
                    diag_error(n->loc, "verify: fusion group %d is not contiguous (nodes %d and %d)", n->group, j, i);
        for (int k = 0; k < n->nin; k++) {
            const Node *x = &g->nodes[n->in[k] >= 0 && n->in[k] < i ? n->in[k] : 0];
            if (!x->group || x->group == n->group)
                continue;
            int last = x->id;
            while (last + 1 < g->nnode && g->nodes[last + 1].group == x->group)
                last++;
            if (i < last)
                diag_error(n->loc, "verify: node %d reads %%%d before the end of its fusion group %d", i, x->id,
                           x->group);
        }
    }
    return diag_nerrors == before;
}
