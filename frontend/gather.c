/*
 * gather.c: values picked by a mask or an index tensor: torch.where, masked_fill, gather,
 * scatter_add, index_select, index_add, and x[index] with an integer tensor.
 *
 * where is one elementwise op (so it fuses like any other, and masked_fill is a where with the
 * value as a constant); the others are four ops with their own kernels, each the gradient of
 * another: gather's is scatter_add into zeros and index_select's is index_add, and back. The
 * index values are known only when the program runs: its run function checks them all before
 * the kernel, with PyTorch's message at the user's line, and the kernels read and write nothing
 * out of range whatever they are given. Every sum of scatter_add and index_add runs in the
 * index's order, as PyTorch's CPU kernels add, so results do not depend on the thread count.
 */
#include "lower.h"

#include <string.h>

/* A number or a tensor as a node of dtype dt. */
static int operand(Value *v, DType dt, SrcLoc loc, const char *what) {
    if (is_scalar(v))
        return const_scalar(v, dt, loc);
    tensor_arg(v, loc, what);
    return lw_cast(v->node, dt, loc);
}

static Value *bool_mask(Value *v, SrcLoc loc, const char *fn) {
    tensor_arg(v, loc, "the condition");
    if (TN(v)->dtype != DT_BOOL)
        error_at(loc, "%s expected a bool tensor as the condition, got %s", fn, type_str(TN(v)->dtype, TN(v)->shape));
    return v;
}

/* torch.where(condition, input, other), and the method input.where(condition, other) (code 1) */
Value *bi_where(Args *a) {
    SrcLoc loc = a->loc;
    bool method = a->code == 1;
    Value *c = lw_req(a, method ? 1 : 0, "condition");
    Value *x = lw_arg(a, method ? 0 : 1, method ? "self" : "input", NULL);
    Value *y = method ? lw_req(a, 2, "other") : lw_arg(a, 2, "other", NULL);
    if (method)
        DONE(a, 3, "condition", "self", "other");
    else
        DONE(a, 3, "condition", "input", "other");
    if (!x || !y)
        error_at(loc, "torch.where(condition) gives indices whose count is known only at run time: give "
                      "torch.where(condition, input, other)");
    bool_mask(c, loc, "where");
    if ((x->kind != V_TENSOR && !is_scalar(x)) || (y->kind != V_TENSOR && !is_scalar(y)))
        error_at(loc, "where needs tensors or numbers, got %s and %s", kind_name(x), kind_name(y));
    DType dt = result_type(x, y);
    int in[3] = {c->node, operand(x, dt, loc, "input"), operand(y, dt, loc, "other")};
    return lw_result(lw_add(OP_WHERE, in, 3, dt, shape_scalar(), NULL, 0, loc), x, y);
}

/* x.masked_fill(mask, value), masked_fill_: value where mask (broadcast to x) holds */
Value *bi_masked_fill(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the tensor");
    Value *m = bool_mask(lw_req(a, 1, "mask"), loc, "masked_fill_");
    Value *v = lw_req(a, 2, "value");
    DONE(a, 3, "input", "mask", "value");
    DType dt = TN(x)->dtype;
    if (v->kind == V_TENSOR && TN(v)->shape.rank != 0)
        error_at(loc, "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with %d dimension(s)",
                 TN(v)->shape.rank);
    if (!is_scalar(v) && v->kind != V_TENSOR)
        error_at(loc, "masked_fill: the value must be a number or a 0-d tensor, got %s", kind_name(v));
    /* a float value for an integer tensor is truncated, as PyTorch converts it (an error where the
     * result does not fit); for a bool tensor it is its truth */
    if (v->kind == V_FLOAT && dt == DT_BOOL)
        v = mk_bool(v->f != 0);
    Shape s;
    if (!shape_broadcast(TN(m)->shape, TN(x)->shape, &s) || !shape_eq(s, TN(x)->shape))
        error_at(loc, "masked_fill: the mask %s must broadcast to the tensor's shape %s",
                 type_str(TN(m)->dtype, TN(m)->shape), shape_str(TN(x)->shape));
    int in[3] = {m->node, operand(v, dt, loc, "value"), x->node};
    Value *r = lw_result(lw_add(OP_WHERE, in, 3, dt, shape_scalar(), NULL, 0, loc), x, v->kind == V_TENSOR ? v : NULL);
    lw_info(r->node)->fn = v->kind == V_TENSOR ? "MaskedFillBackward1" : "MaskedFillBackward0";
    if (a->fname[strlen(a->fname) - 1] == '_') {
        write_through(x, inplace_result(x, r->node, loc), loc);
        return x;
    }
    return r;
}

static Value *index_arg(Value *v, SrcLoc loc, const char *fn) {
    tensor_arg(v, loc, "the index");
    if (TN(v)->dtype != DT_I64)
        error_at(loc, "%s(): Expected dtype int64 for index, got %s", fn, type_str(TN(v)->dtype, TN(v)->shape));
    return v;
}

/* One of the four ops on x along axis `dim` with index ix (and src for the adds). */
static Value *indexed(Op op, Value *x, int dim, Value *ix, Value *src, int wrap, SrcLoc loc) {
    Attr at[2] = {attr_int("axis", dim), attr_int("wrap", wrap)};
    int in[3] = {x->node, ix->node, src ? src->node : -1};
    return lw_result(lw_add(op, in, src ? 3 : 2, TN(x)->dtype, shape_scalar(), at, wrap ? 2 : 1, loc), x, src);
}

/* torch.gather(input, dim, index), x.gather(dim, index) */
Value *bi_gather(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *d = lw_req(a, 1, "dim"), *ix = index_arg(lw_req(a, 2, "index"), loc, "gather");
    DONE(a, 3, "input", "dim", "index");
    if (TN(x)->shape.rank == 0)
        error_at(loc, "gather of a 0-d tensor is not supported");
    if (TN(ix)->shape.rank != TN(x)->shape.rank)
        error_at(loc, "Index tensor must have the same number of dimensions as input tensor");
    Value *r = indexed(OP_GATHER, x, axis_arg(d, TN(x)->shape.rank, loc), ix, NULL, 0, loc);
    lw_info(r->node)->fn = "GatherBackward0";
    return r;
}

/* torch.scatter_add(input, dim, index, src), x.scatter_add(...), x.scatter_add_(...) */
Value *bi_scatter_add(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *d = lw_req(a, 1, "dim"), *ix = index_arg(lw_req(a, 2, "index"), loc, "scatter_add");
    Value *src = tensor_arg(lw_req(a, 3, "src"), loc, "src");
    DONE(a, 4, "input", "dim", "index", "src");
    if (TN(x)->shape.rank == 0)
        error_at(loc, "scatter_add into a 0-d tensor is not supported");
    if (TN(ix)->shape.rank != TN(x)->shape.rank || TN(src)->shape.rank != TN(x)->shape.rank)
        error_at(loc, "Index tensor must have the same number of dimensions as self tensor");
    if (TN(src)->dtype != TN(x)->dtype)
        error_at(loc, "scatter_add(): Expected self.dtype to be equal to src.dtype");
    Value *r = indexed(OP_SCATTER_ADD, x, axis_arg(d, TN(x)->shape.rank, loc), ix, src, 0, loc);
    lw_info(r->node)->fn = "ScatterAddBackward0";
    if (a->fname[strlen(a->fname) - 1] == '_') {
        write_through(x, r->node, loc);
        return x;
    }
    return r;
}

/* torch.index_select(input, dim, index), x.index_select(dim, index) */
Value *bi_index_select(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *d = lw_req(a, 1, "dim"), *ix = index_arg(lw_req(a, 2, "index"), loc, "index_select");
    DONE(a, 3, "input", "dim", "index");
    if (TN(ix)->shape.rank > 1)
        error_at(loc, "index_select(): Index is supposed to be a vector");
    if (TN(x)->shape.rank == 0)
        error_at(loc, "index_select of a 0-d tensor is not supported");
    if (TN(ix)->shape.rank == 0)
        ix = view_reshape(ix, shape_make(1, (int64_t[]){1}), loc);
    Value *r = indexed(OP_INDEX_SELECT, x, axis_arg(d, TN(x)->shape.rank, loc), ix, NULL, 0, loc);
    lw_info(r->node)->fn = "IndexSelectBackward0";
    return r;
}

/* x.index_add(dim, index, source, alpha=1), index_add_, torch.index_add */
Value *bi_index_add(Args *a) {
    SrcLoc loc = a->loc;
    Value *x = tensor_arg(lw_req(a, 0, "input"), loc, "the input");
    Value *d = lw_req(a, 1, "dim"), *ix = index_arg(lw_req(a, 2, "index"), loc, "index_add");
    Value *src = tensor_arg(lw_req(a, 3, "source"), loc, "source");
    Value *alpha = lw_arg(a, -1, "alpha", NULL);
    DONE(a, 4, "input", "dim", "index", "source", "alpha");
    if (TN(x)->shape.rank == 0)
        error_at(loc, "index_add into a 0-d tensor is not supported");
    if (TN(ix)->shape.rank > 1)
        error_at(loc, "index_add_(): Index is supposed to be a vector");
    if (TN(ix)->shape.rank == 0)
        ix = view_reshape(ix, shape_make(1, (int64_t[]){1}), loc);
    if (TN(src)->dtype != TN(x)->dtype)
        error_at(loc, "index_add_(): self (%s) and source (%s) must have the same scalar type",
                 dtype_torch(TN(x)->dtype), dtype_torch(TN(src)->dtype));
    /* alpha: a number, or one known only at run time (a one-element tensor, an item()) */
    if (alpha && !is_scalar(alpha) && (alpha->kind != V_TENSOR || shape_numel(TN(alpha)->shape) != 1))
        error_at(loc, "index_add(): alpha must be a number, got %s", kind_name(alpha));
    bool float_alpha = alpha && (alpha->kind == V_FLOAT || (alpha->kind == V_TENSOR && dtype_is_float(TN(alpha)->dtype)));
    if (float_alpha && !dtype_is_float(TN(x)->dtype))
        error_at(loc, "For integral input tensors, argument alpha must not be a floating point number.");
    if (alpha)
        src = tensor_binop(OP_MUL, src, alpha, loc);
    Value *r = indexed(OP_INDEX_ADD, x, axis_arg(d, TN(x)->shape.rank, loc), ix, src, 0, loc);
    lw_info(r->node)->fn = "IndexAddBackward0";
    if (a->fname[strlen(a->fname) - 1] == '_') {
        write_through(x, r->node, loc);
        return x;
    }
    return r;
}

/*
 * x[..., index, ...] with an integer tensor at axis `axis` of v (what the subscript's integers and
 * slices left): the rows the index names, negative ones counted from the end, in the index's
 * shape. (index_tensor in tensors.c calls this after the static part of the subscript.)
 */
Value *index_by_tensor(Value *v, int axis, Value *ix, SrcLoc loc) {
    if (TN(ix)->dtype == DT_BOOL || TN(ix)->dtype == DT_U8)
        error_at(loc, "indexing with a bool mask gives a shape known only at run time: use torch.where or "
                      "masked_fill instead");
    if (TN(ix)->dtype != DT_I64 && TN(ix)->dtype != DT_I32)
        error_at(loc, "tensors used as indices must be long, int, byte or bool tensors, got %s",
                 type_str(TN(ix)->dtype, TN(ix)->shape));
    Shape is = TN(ix)->shape, vs = TN(v)->shape;
    int64_t k = shape_numel(is);
    Value *flat = view_reshape(lw_result(lw_cast(ix->node, DT_I64, loc), ix, NULL), shape_make(1, &k), loc);
    Value *r = indexed(OP_INDEX_SELECT, v, axis, flat, NULL, 1, loc);
    Shape out = {0};
    for (int i = 0; i < vs.rank; i++) {
        if (i != axis) {
            out.d[out.rank++] = vs.d[i];
            continue;
        }
        if (out.rank + is.rank + (vs.rank - i - 1) > MAX_RANK)
            error_at(loc, "indexing gives more than %d dimensions", MAX_RANK);
        for (int j = 0; j < is.rank; j++)
            out.d[out.rank++] = is.d[j];
    }
    r = view_reshape(r, out, loc);
    lw_info(r->node)->fn = "IndexBackward0";
    r->tflags |= TV_GATHERED;
    return r;
}
