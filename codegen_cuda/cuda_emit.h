/*
 * cuda_emit.h: what the CUDA backend's two files share: the kernels' source (emit_cuda.c) and the
 * host code that embeds and launches them (host_cuda.c). Not an API for anyone else.
 */
#ifndef TGC_CUDA_EMIT_H
#define TGC_CUDA_EMIT_H

#include "codegen_c/frame.h"

#define BLOCK 256       /* threads per block, every kernel */
#define MAX_GRID 65536  /* blocks of a grid-stride kernel: enough to fill any GPU */

/* The kernel source's first lines: the C types, ipow, Python's // and %, tg_copy. */
extern const char *const cuda_preamble;
/* Calls fn with each kernel unit of g, in order, as the current unit (cg.u). */
void cuda_each_unit(Graph *g, const MemPlan *m, const char *kprefix, void (*fn)(void));
/* Graph g's kernels, as CUDA C++ to cg.out. */
void cuda_kernels_of(Graph *g, const MemPlan *m, const char *kprefix);
/* The current unit's launch: blocks of BLOCK threads; 0 when it has no work. */
int64_t cuda_unit_grid(void);
/* Whether the GPU runs a staged program's segment (every node has a kernel here, or is a slot,
 * a copy into one, or a source the host computes and copies up). */
bool cuda_seg_on_device(Graph *seg);
/* A source node of a GPU segment that the host computes (an option, a random draw, a seed with no
 * input), in graph order among them, then copies up where the launches reach it. */
bool cuda_host_source(const Node *n);

#endif
