/*
 * kernel.c: what each op's kernel can do, from ops.h's epi and lit columns and, where it depends
 * on them, the node's attributes and shapes.
 *
 * pass_fuse groups nodes by these rules, pass_memplan decides from them which outputs may
 * overwrite an input, and the C and CUDA backends pick a kernel's form by them: one place, so a
 * kernel never receives a fusion group or an in-place buffer it cannot handle.
 */
#include "ir.h"

/* Pooling windows that never overlap and cover no padding: every input element lies in at most
 * one window, so the backward pass can write each element once (a gather) instead of adding. */
static bool pool_disjoint(const Node *n) {
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    return st[0] >= k[0] && st[1] >= k[1] && !pd[0] && !pd[1] && dl[0] == 1 && dl[1] == 1 &&
           !node_int(n, "ceil_mode", 0);
}

/* conv2d's input gradient with stride 1 and one group: the code generators gather it, each
 * element written once. Not when it is empty (no input channels): the gather's tiles need a
 * positive size, and there is nothing to gather. */
static bool conv_gather(const Node *n) {
    const int64_t *st = node_ints(n, "stride", NULL);
    return st[0] == 1 && st[1] == 1 && node_int(n, "groups", 1) == 1 && dtype_is_float(n->dtype) &&
           shape_numel(n->shape);
}

bool kernel_gathers(const Node *n) {
    switch (n->op) {
    case OP_MAXPOOL2D_BWD: case OP_MAXPOOL2D_BWD_AT: return pool_disjoint(n);
    case OP_CONV2D_BWD_INPUT: return conv_gather(n);
    default: return false;
    }
}

Epilogue kernel_epilogue(const Node *n) {
    switch (op_info[n->op].epi) {
    case EPI_STORE: return dtype_is_float(n->dtype) ? EPI_STORE : EPI_NONE; /* the epilogues are float code */
    case EPI_GATHER: return kernel_gathers(n) ? EPI_STORE : EPI_SCATTER;
    case EPI_SCATTER: return EPI_SCATTER;
    case EPI_NONE: return EPI_NONE;
    }
    unreachable();
}

bool kernel_elementwise(const Node *n) {
    OpKind k = op_info[n->op].kind;
    return (k == K_UNARY || k == K_BINARY) && shape_numel(n->shape) > 0;
}

bool kernel_inline_scalar(const Node *consumer, const Node *x) {
    return op_info[consumer->op].lit && x->op == OP_CONST && x->shape.rank == 0;
}
