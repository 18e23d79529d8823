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
 * Common subexpressions merged, small constant expressions folded, exact algebraic identities
 * (x*1, x-0, neg(neg(x)), reshape of reshape, ...) applied, then dce; returns the new graph.
 * Exact: programs print, and training steps compute, the same bits with and without it.
 */
Graph *pass_simplify(Graph *g);

/*
 * Expands every grad node (a backward() of the program, or the training step's gradients) into
 * the backward graph: a run of grad nodes with the same y and seed is one backward pass, placed
 * where the run stood, and each grad node's readers read the gradient it asked for. Returns the
 * new graph; afterwards no grad node is left and no node is flagged NF_NOGRAD.
 */
Graph *pass_autodiff(Graph *g);

/* ---- fusion (fuse.c) ---- */

/* Groups nodes into kernels (Node.group) and orders each group's members together. */
Graph *pass_fuse(Graph *g);

/* ---- memory planning (memplan.c) ---- */

/*
 * Where every value lives: an offset into one arena. The arena starts with the persistent
 * region (parameters and optimizer state, then gradients), then the transient region that the
 * step's activations, adjoints and temporaries share by lifetime.
 */
typedef struct {
    int64_t *off;        /* per node: byte offset in the arena; -1 = no buffer (inputs, locals, literals) */
    int *first, *last;   /* per node with a buffer: the steps (node ids) that write it and last read it */
    bool *view;          /* per node: shares its input's buffer (a reshape) */
    bool *inplace;       /* per node: took over the buffer of an input that died at its kernel */
    int64_t params;      /* bytes of parameters and optimizer state, at offset 0 */
    int64_t persistent;  /* bytes of the whole persistent region (parameters, state, gradients) */
    int64_t transient;   /* bytes of the transient region as planned */
    int64_t plain;       /* bytes the same transient buffers take one after another */
    int64_t total;       /* the arena: persistent + transient */
} MemPlan;

/*
 * Plans g's arena. reuse=false gives every value its own slot (-O0). With shared (the training
 * step's plan and graph), parameters are placed where the step keeps them and the transient
 * region starts after the step's persistent region (the predict graph).
 */
MemPlan *pass_memplan(Graph *g, bool reuse, const Graph *shared_g, const MemPlan *shared);

/*
 * The persistent region a staged program's segments share (ir.h: a program with run-time control
 * flow): one param node per slot name that any segment reads or writes, in first-use order. Plan
 * it first, then each segment with it as the shared plan.
 */
Graph *memplan_layout(Graph **segs, int nsegs, const char *name);

#endif
