/*
 * passes.h: graph-to-graph passes. Each file exports one function; its
 * header comment says what it requires and what it invalidates.
 */
#ifndef TGC_PASSES_H
#define TGC_PASSES_H

#include "ir/ir.h"

/* Removes nodes whose values nothing observable uses; returns the new graph. */
Graph *pass_dce(Graph *g);

#endif
