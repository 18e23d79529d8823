/*
 * passes.h: graph-to-graph passes. Each file exports one function; its
 * header comment says what it requires and what it invalidates.
 */
#ifndef TGC_PASSES_H
#define TGC_PASSES_H

#include "ir/ir.h"

/* Removes nodes whose values nothing observable uses; returns the new graph. */
Graph *pass_dce(Graph *g);

/*
 * Appends the backward graph of y to g: grads[i] = dL/d wrt[i] given dy = dL/dy (y's shape),
 * or -1 where wrt[i] does not reach y through differentiable ops. Gradient nodes are named
 * "d <yname>/d <parameter>". may_grad (or NULL: every node) marks the nodes a gradient may pass
 * through; the others are constants, as PyTorch's tensors computed without requires_grad are.
 */
void pass_autodiff(Graph *g, int y, int dy, const int *wrt, int nwrt, int *grads, const char *yname,
                   const bool *may_grad);

#endif
