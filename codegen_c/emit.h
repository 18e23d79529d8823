/*
 * emit.h: what the files of the C backend share beyond the kernel frame (frame.h): the C
 * kernel's frame, the per-family kernel emitters the dispatch calls (kernels.c), and the host
 * code's entry points.
 *
 *   frame.c        literals, unit spans and names, parameters and aliases, comments, the C kernel's frame
 *   index.c        index expressions and loops (both backends)
 *   elementwise.c  elementwise ops, fused chains and epilogues, reductions, data movement
 *   matmul.c       matmul, linear
 *   conv.c         conv2d and its gradients: plain loops, register tiles, packed GEMM, channel lanes
 *   pool_loss.c    pooling, cross-entropy, and their backward kernels
 *   kernels.c      the dispatch from op to emitter, sources (constants), a graph's kernels and calls
 *   host.c         emit_c: the header, the run functions, init, the tensor table, step, predict
 *   staged.c       a staged program: its segments (on the CPU or a device) and its host code
 *   trainer.c      the standalone trainer's main
 *   export.c       export defs: C functions, their init and tensor tables
 *   stats.c        --stats
 */
#ifndef TGC_EMIT_H
#define TGC_EMIT_H

#include "frame.h"

static inline const char *fsuffix(DType dt) { return dt == DT_F32 ? "f" : ""; }
/* Has an arena offset: a buffer of its own or a view of one (not a register). */
static inline bool stored(int id) { return cg.m->off[id] >= 0; }
/* Parallelise only loops with enough work to pay for the threads. */
static inline bool worth_parallel(int64_t work) { return work >= (1 << 16); }
/* The loops of most kernels, from 0 by 1 (cg_for): int64_t over elements, int over a tile. */
static inline void emit_for(int ind, const char *v, int64_t n, const char *tail) { cg_for(ind, "int64_t", v, 0, n, 1, tail); }
static inline void emit_for_int(int ind, const char *v, int64_t n, const char *tail) { cg_for(ind, "int", v, 0, n, 1, tail); }

/* ---- frame.c: the C kernel's frame ---- */

/* Opens `static void kNN_..._fwd(const T x[restrict static N], ..., T out[restrict static M]) {`
 * for the current kernel unit. */
void emit_kernel_open(void);
/* The call of the current kernel, with the caller's pointer variables. */
void emit_kernel_call(void);
/* Nested loops over shape s at indent *ind (then the body's), axis variables base0, base1, ...,
 * the outermost parallel if asked; an axis of one element has no loop, its variable is 0.
 * emit_loops_end(s) closes them. */
const char **emit_loops(Shape s, const char *base, int *ind, bool parallel);
void emit_loops_end(Shape s);
/* The loop over the n elements of a flat kernel (parallel when it pays): its index, or "0" and no
 * loop for one element; closed by emit_loops_end of shape [n]. */
const char *emit_flat_loop(int64_t n, int *ind, bool brace);
const char **cg_axis_vars(int rank, const char *base); /* base0, base1, ... */

/* ---- the kernels, by family ---- */

/* elementwise.c */
void emit_store(int indent, const char *idx, const char *val);
void emit_stores(int indent, const char *flat);
void emit_elementwise(const Node *n);
void emit_elementwise_group(void);
void emit_reduce(const Node *n);
void emit_copy(const Node *n);
void emit_permute(const Node *n);
void emit_slice(const Node *n);
void emit_setslice(const Node *n);
void emit_cat(const Node *n);
void emit_kernels_reset(void); /* a new file: no kernel written yet */
void emit_select(const Node *n);
void emit_gather(const Node *n);
void emit_scatter_add(const Node *n);
void emit_index_rows(const Node *n); /* index_select, index_add */
/* matmul.c */
void emit_matmul(const Node *n);
void emit_linear(const Node *n);
/* conv.c: each picks its form by the rules of docs/kernels.md */
void emit_conv2d(const Node *n);
void emit_conv2d_bwd_input(const Node *n);
void emit_conv2d_bwd_weight(const Node *n);
/* pool_loss.c */
void emit_maxpool(const Node *n);
void emit_maxpool_argmax(const Node *n);
void emit_maxpool_bwd(const Node *n);
void emit_maxpool_bwd_at(const Node *n);
void emit_avgpool(const Node *n, bool bwd);
void emit_cross_entropy(const Node *n);
void emit_cross_entropy_bwd(const Node *n);
void emit_cross_entropy_fused(void);

/* kernels.c: graph g's kernel functions (backend_c's kernels), and the call of the kernel that
 * ends at node i of the current graph, if one does */
void emit_kernels(Graph *g, const MemPlan *m, const char *kpre);
bool emit_call_at(int i);

/* host.c: a program's run function (seg: a staged program's segment, a static function of the
 * arena, the generator and the output); the #defines of the current graph's offsets; the
 * program's options variable (PREFIX_options, or NULL) */
void emit_run(Graph *g, const MemPlan *m, const char *kpre, const char *fn, bool seg);
/* node i's host part in the current graph (R: the generator): true when it has no kernel call */
bool emit_host_node(Graph *g, int i, const char *R);
void emit_offsets(const char *whose);
/* The pointer variables of the current graph's function: inputs from the caller's parameters
 * (inputs), a program's sources too (programs); without inputs, the parameters alone. */
void emit_pointers(Graph *g, bool inputs, bool programs);
/* fn(arena, seed): the current graph's params as PyTorch initializes them from seed, the rest zero. */
void emit_init_fn(Graph *g, const char *fn);
/* The rows of a tensor table (TgStateTensor) for the current graph's params; how many. */
int emit_tensor_rows(Graph *g);
extern const char *options_var;

/* staged.c: a staged program's segments and its run function fn, the host code; be: where the
 * segments that can run on a device run (NULL, or a backend without program hooks: the CPU);
 * prefix and source: the file's identifier prefix and .tg path (for the device's code) */
void emit_staged(const StagedProgram *sp, const char *kpre, const char *fn, const char *prefix, const char *source,
                 const Backend *be);

/* export.c: each export def's declarations in the header, and its code */
void emit_exports_header(const EmitOptions *opt);
void emit_exports(const EmitOptions *opt);

/* trainer.c: the standalone trainer (main), for a train block with predict */
void emit_trainer_main(const TrainCode *t, const Backend *be);

#endif
