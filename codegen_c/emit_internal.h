/*
 * emit_internal.h: what the CUDA backend (codegen_cuda/) shares with the C backend. Not an API
 * for anyone else.
 *
 * The kernels of both backends are the same units: one node, or a fusion group as pass_fuse
 * made it, with the same names (k11_conv2d_relu_fwd), the same comments tracing them to the .tg
 * line and IR nodes, and the same buffer parameters (each distinct buffer once; an output
 * written over a dying input is one parameter, the input read through an alias line). The
 * scalar expressions of elementwise ops are C that CUDA C++ compiles as it is. The host side of
 * a CUDA program (header, init, tensor table, checkpoints, trainer) is emit_c's, with the step
 * and predict functions replaced (cuda_emit_host).
 */
#ifndef TGC_EMIT_INTERNAL_H
#define TGC_EMIT_INTERNAL_H

#include "codegen_c.h"

/* The unit being emitted, after cg_unit. */
typedef struct {
    int first, last; /* its nodes */
    int head;        /* the op with its own loops (conv2d, ...), or -1: an elementwise chain */
    int nargs;       /* its parameters: the node whose buffer each is, its name, written or read */
    const int *arg_node;
    const char *const *arg_name;
    const bool *arg_written;
    const char *aliases;   /* lines declaring the other names of a parameter's buffer */
    const bool *prologue;  /* per node: computes the head's dL/dy, per window (max_pool2d_bwd_at) */
} CgUnit;

/* Emit into f from graph g under plan m; kernel names start with kprefix ("", "p", "t"). */
void cg_begin(FILE *f, Graph *g, const MemPlan *m, const char *kprefix);
/* Does a kernel end at node i? Sets its span. */
bool cg_kernel_at(int i, int *first, int *last);
/* Starts unit [first, last]: names its buffers, as the C backend does. */
const CgUnit *cg_unit(int first, int last);
const char *cg_unit_name(void);
/* The unit's comment: .tg line(s), the IR nodes it computes, which it stores. */
void cg_kernel_comment(void);
/* The name of node id's buffer inside the unit (x0.., out, v<id>). */
const char *cg_bname(int id);
bool cg_stored(int id); /* has a buffer of its own (not a view, not a register) */
/* Every member but the head and the prologue as `const T t<id> = ...;`, reading inputs at flat
 * index `flat` of shape gs (axis variables axv for broadcast reads, or NULL). */
void cg_emit_members(int indent, Shape gs, const char *flat, const char **axv);
const char *cg_unary(const Node *n, const char *a);
const char *cg_binary(const Node *n, const char *a, const char *b);
const char *cg_operand(const Node *m, int k, Shape gs, const char *flat, const char **axv);
const char *cg_literal(double v, DType dt);
const char *cg_attr_literal(const Attr *a, int i, DType dt);
/* Index into s (aligned right against o; broadcast dims read 0) from o's axis variables. */
const char *cg_bcast_index(Shape s, Shape o, const char **vars);
const char *cg_comment_safe(const char *s);
void cg_c_string(const char *s, size_t n); /* a C string literal of s, into the current file */
const char *cg_upper(const char *s);

/* codegen_cuda: the CUDA kernels of every unit of g (for --emit=cuda and the embedded source). */
void cuda_emit_kernels(FILE *f, Graph *g, const MemPlan *m, const char *kprefix);
/* codegen_cuda: the host half of a CUDA program, in place of the C step and predict functions:
 * the kernel source as text, PREFIX_cuda_start/push/pull, PREFIX_train_step and PREFIX_predict
 * launching the kernels. */
void cuda_emit_host(FILE *f, Graph *train, const MemPlan *tm, Graph *pred, const MemPlan *pm, const char *prefix,
                    const char *banner, const char *train_kprefix);

#endif
