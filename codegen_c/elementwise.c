/*
 * elementwise.c: the kernels that are loops over elements: elementwise ops (one loop, flat when
 * no input broadcasts), fused chains of them (values in registers, the stores at the end),
 * the epilogue every head kernel stores through (emit_store), reductions (each output a sum in
 * its own fixed order, in double for floats), and data movement (copies, permutes, slices, cat).
 */
#include "emit.h"

#include <string.h>

/* ---- elementwise ---- */

/* The expression reading input k at flat index `idx`. */
static const char *in_ref(const Node *n, int k, const char *idx) {
    Node *x = IN((Node *)n, k);
    if (kernel_inline_scalar(n, x))
        return cg_attr_literal(node_attr(x, "data"), 0, x->dtype);
    if (shape_numel(x->shape) == 1)
        return ir_fmt("%s[0]", cg_role(n, k));
    return ir_fmt("%s[%s]", cg_role(n, k), idx);
}

/* Unary, binary, cast and expand: one loop, flat when no input broadcasts. */
void emit_elementwise(const Node *n) {
    emit_kernel_open();
    int64_t total = shape_numel(n->shape);
    bool flat = true;
    for (int k = 0; k < n->nin; k++) {
        Node *x = IN((Node *)n, k);
        if (!shape_eq(x->shape, n->shape) && shape_numel(x->shape) != 1)
            flat = false;
    }
    const char *idx[3], *o;
    int indent = 4;
    const char **v = NULL;
    if (flat) {
        idx[0] = idx[1] = idx[2] = o = emit_flat_loop(total, &indent, false);
    } else {
        v = emit_loops(n->shape, "i", &indent, worth_parallel(total));
        for (int k = 0; k < n->nin && k < 3; k++)
            idx[k] = cg_bcast_index(IN((Node *)n, k)->shape, n->shape, v);
        o = cg_bcast_index(n->shape, n->shape, v);
    }
    P("%*sout[%s] = ", indent, "", o);
    if (n->op == OP_EXPAND)
        P("%s;\n", in_ref(n, 0, idx[0]));
    else {
        const char *v[3];
        for (int k = 0; k < n->nin; k++)
            v[k] = in_ref(n, k, idx[k]);
        P("%s;\n", cg_ewise(n, v));
    }
    emit_loops_end(flat ? shape_make(1, &total) : n->shape);
    P("}\n");
}

/* ---- fused groups: elementwise chains and epilogues ---- */

/* The stores, after every load of the element: an output may be written over an input. */
void emit_stores(int indent, const char *flat) {
    for (int i = cg.u.first; i <= cg.u.last; i++)
        if (stored(i) && !cg.m->view[i] && !(i == cg.u.head && kernel_epilogue(&cg.g->nodes[i]) == EPI_SCATTER))
            P("%*s%s[%s] = t%d;\n", indent, "", cg_bname(i), flat, i);
}

/*
 * The store of one output element by a head kernel (conv2d, linear, ...): alone, a plain store;
 * with an epilogue, the element's value goes through the fused elementwise ops first.
 */
void emit_store(int indent, const char *idx, const char *val) {
    if (!cg_grouped()) {
        P("%*sout[%s] = %s;\n", indent, "", idx, val);
        return;
    }
    const Node *h = &cg.g->nodes[cg.u.head];
    P("%*s{\n", indent, "");
    P("%*s    const int64_t ei = %s;\n", indent, "", idx);
    P("%*s    const %s t%d = %s;\n", indent, "", dtype_ctype(h->dtype), cg.u.head, val);
    cg_emit_members(indent + 4, h->shape, "ei", NULL);
    emit_stores(indent + 4, "ei");
    P("%*s}\n", indent, "");
}

/* A chain of elementwise ops of one shape: one loop, values in registers, stores at the end. */
void emit_elementwise_group(void) {
    emit_kernel_open();
    Shape gs = cg.g->nodes[cg.u.last].shape;
    int64_t total = shape_numel(gs);
    bool flat = true;
    for (int i = cg.u.first; i <= cg.u.last; i++)
        for (int k = 0; k < cg.g->nodes[i].nin; k++) {
            const Node *x = IN(&cg.g->nodes[i], k);
            if (!cg_in_unit(x->id) && shape_numel(x->shape) != 1 && !shape_eq(x->shape, gs))
                flat = false;
        }
    int ind = 4;
    if (flat) {
        const char *i = emit_flat_loop(total, &ind, true);
        cg_emit_members(ind, gs, i, NULL);
        emit_stores(ind, i);
        emit_loops_end(shape_make(1, &total));
        P("}\n");
        return;
    }
    const char **v = emit_loops(gs, "i", &ind, worth_parallel(total));
    P("%*s{\n", ind - 4, "");
    P("%*sconst int64_t i = %s;\n", ind, "", cg_bcast_index(gs, gs, v));
    cg_emit_members(ind, gs, "i", v);
    emit_stores(ind, "i");
    P("%*s}\n", ind - 4, "");
    emit_loops_end(gs);
    P("}\n");
}

/* ---- reductions ---- */

void emit_reduce(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0);
    int naxes;
    const int64_t *axes = node_ints(n, "axes", &naxes);
    bool red[MAX_RANK] = {0};
    for (int i = 0; i < naxes; i++)
        red[axes[i]] = true;
    /* an axis of one element has no loop: its variable is 0 */
    const char **v = cg_axis_vars(x->shape.rank, "i");
    int kept = 0, reduced = 0;
    for (int i = 0; i < x->shape.rank; i++) {
        if (x->shape.d[i] == 1)
            v[i] = "0";
        else if (red[i])
            reduced++;
        else
            kept++;
    }
    /* output index: kept axes in order */
    const char *oidx = "0";
    int64_t ost = 1, count = 1;
    for (int i = x->shape.rank - 1; i >= 0; i--) {
        if (red[i]) {
            count *= x->shape.d[i];
            continue;
        }
        oidx = ix_add(ix_mul(v[i], ost), oidx);
        ost *= x->shape.d[i];
    }
    const char *iidx = cg_bcast_index(x->shape, x->shape, v);
    int indent = 4;
    /* outputs are independent sums, each in its own order: parallel over them when it pays */
    if (kept && shape_numel(n->shape) > 1 && worth_parallel(shape_numel(x->shape)))
        cg_pragma(indent, "#pragma omp parallel for%s", NULL, kept);
    for (int i = 0; i < x->shape.rank; i++)
        if (!red[i] && x->shape.d[i] != 1) {
            cg_for(indent, "int64_t", v[i], 0, x->shape.d[i], 1, NULL);
            indent += 4;
        }
    if (kept)
        P("%*s{\n", indent - 4, "");
    bool fl = dtype_is_float(x->dtype);
    /* float sums accumulate in double: fewer rounding steps than PyTorch's float cascade, never more */
    const char *acc_t = n->op == OP_SUM || n->op == OP_MEAN ? (fl ? "double" : "int64_t") : dtype_ctype(x->dtype);
    if (n->op == OP_SUM || n->op == OP_MEAN)
        P("%*s%s acc = 0;\n", indent, "", acc_t);
    else if (n->op == OP_ARGMAX)
        P("%*s%s best = 0;\n%*sint64_t arg = -1, k = 0;\n", indent, "", dtype_ctype(x->dtype), indent, "");
    else
        P("%*s%s acc = 0;\n%*sint first = 1;\n", indent, "", acc_t, indent, "");
    int inner = indent;
    for (int i = 0; i < x->shape.rank; i++)
        if (red[i] && x->shape.d[i] != 1) {
            cg_for(inner, "int64_t", v[i], 0, x->shape.d[i], 1, NULL);
            inner += 4;
        }
    if (reduced)
        P("%*s{\n", inner - 4, "");
    P("%*s%s val = x[%s];\n", inner, "", dtype_ctype(x->dtype), iidx);
    switch (n->op) {
    case OP_SUM: case OP_MEAN: P("%*sacc += val;\n", inner, ""); break;
    case OP_MAX:
        P("%*sif (first || val > acc%s) acc = val;\n%*sfirst = 0;\n", inner, "", fl ? " || val != val" : "", inner, "");
        break;
    case OP_MIN:
        P("%*sif (first || val < acc%s) acc = val;\n%*sfirst = 0;\n", inner, "", fl ? " || val != val" : "", inner, "");
        break;
    case OP_ARGMAX:
        /* the first maximum wins; a NaN counts as the maximum, as in PyTorch */
        if (fl)
            P("%*sif (arg < 0 || (best == best && (val > best || val != val))) {\n", inner, "");
        else
            P("%*sif (arg < 0 || val > best) {\n", inner, "");
        P("%*s    best = val;\n%*s    arg = k;\n%*s}\n%*sk++;\n", inner, "", inner, "", inner, "", inner, "");
        break;
    default: unreachable();
    }
    if (reduced)
        P("%*s}\n", inner - 4, "");
    for (int i = 0; i < reduced; i++)
        cg_end();
    if (n->op == OP_SUM)
        P("%*sout[%s] = (%s)acc;\n", indent, "", oidx, dtype_ctype(n->dtype));
    else if (n->op == OP_MEAN && count == 0)
        P("%*sout[%s] = NAN; /* the mean of nothing, as PyTorch */\n%*s(void)acc;\n", indent, "", oidx, indent, "");
    else if (n->op == OP_MEAN)
        P("%*sout[%s] = (%s)%s;\n", indent, "", oidx, dtype_ctype(n->dtype),
          count == 1 ? "acc" : ir_fmt("(acc / %lld)", (long long)count));
    else if (n->op == OP_ARGMAX)
        P("%*sout[%s] = arg;\n", indent, "", oidx);
    else
        P("%*sout[%s] = acc;\n", indent, "", oidx);
    if (kept)
        P("%*s}\n", indent - 4, "");
    for (int i = 0; i < kept; i++)
        cg_end();
    P("}\n");
}

/* ---- data movement ---- */

void emit_copy(const Node *n) {
    emit_kernel_open();
    P("    memcpy(out, x, %s);\n", ix_bytes(shape_numel(n->shape), dtype_ctype(n->dtype)));
    P("}\n");
}

void emit_permute(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0);
    int64_t st[MAX_RANK];
    cg_strides(x->shape, st);
    const int64_t *perm = node_ints(n, "perm", NULL);
    int ind = 4;
    const char **v = emit_loops(n->shape, "i", &ind, worth_parallel(shape_numel(n->shape)));
    const char *src = "0";
    for (int i = 0; i < n->shape.rank; i++)
        src = ix_add(src, ix_mul(v[i], st[perm[i]]));
    P("%*sout[%s] = x[%s];\n", ind, "", cg_bcast_index(n->shape, n->shape, v), src);
    emit_loops_end(n->shape);
    P("}\n");
}

/* Index into the sliced input for region coordinates v. */
static const char *slice_index(const Node *n, Shape in, const char **v) {
    int64_t st[MAX_RANK];
    cg_strides(in, st);
    const int64_t *start = node_ints(n, "start", NULL), *step = node_ints(n, "step", NULL);
    const char *e = "0";
    for (int i = 0; i < in.rank; i++)
        e = ix_add(e, ix_mul(ix_add(ix_int(start[i]), ix_mul(v[i], step[i])), st[i]));
    return e;
}

void emit_slice(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0);
    int ind = 4;
    const char **v = emit_loops(n->shape, "i", &ind, false);
    P("%*sout[%s] = x[%s];\n", ind, "", cg_bcast_index(n->shape, n->shape, v), slice_index(n, x->shape, v));
    emit_loops_end(n->shape);
    P("}\n");
}

void emit_setslice(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0), *val = IN((Node *)n, 1);
    int len;
    const int64_t *size = node_ints(n, "size", &len);
    Shape region = shape_make(len, size);
    P("    memcpy(out, x, %s);\n", ix_bytes(shape_numel(x->shape), dtype_ctype(x->dtype)));
    int ind = 4;
    const char **v = emit_loops(region, "i", &ind, false);
    P("%*sout[%s] = %s;\n", ind, "", slice_index(n, x->shape, v), in_ref(n, 1, cg_bcast_index(val->shape, region, v)));
    emit_loops_end(region);
    P("}\n");
}

/* x[..., i, ...] with i known at run time (the run function checked its bounds): a row of the
 * axis copied out (select) or in (setselect, over a copy of x). */
void emit_select(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0);
    int axis = (int)node_int(n, "axis", 0);
    int64_t outer = 1, inner = 1, len = x->shape.d[axis];
    for (int i = 0; i < axis; i++)
        outer *= x->shape.d[i];
    for (int i = axis + 1; i < x->shape.rank; i++)
        inner *= x->shape.d[i];
    const char *t = dtype_ctype(n->dtype);
    if (n->op == OP_SETSELECT)
        P("    memcpy(out, x, %s);\n", ix_bytes(shape_numel(x->shape), t));
    P("    const int64_t k = index[0] < 0 ? index[0] + %lld : index[0];\n", (long long)len);
    const char *o = outer == 1 ? "0" : "o";
    if (outer != 1)
        cg_for(4, "int64_t", "o", 0, outer, 1, " {");
    int ind = outer == 1 ? 4 : 8;
    const char *row = ix_addk(ix_mul(ix_add(ix_mul(o, len), "k"), inner), 0);
    if (n->op == OP_SELECT)
        P("%*smemcpy(%s, %s, %s);\n", ind, "", ix_ptr("out", ix_mul(o, inner)), ix_ptr("x", row), ix_bytes(inner, t));
    else
        P("%*smemcpy(%s, %s, %s);\n", ind, "", ix_ptr("out", row), ix_ptr("value", ix_mul(o, inner)), ix_bytes(inner, t));
    if (outer != 1)
        cg_end();
    P("}\n");
}

/* ---- gather, scatter_add, index_select, index_add: places given by an index tensor ---- */

/* The flat index into shape s of loop coordinates v, axis a read at `at` instead (an index value). */
static const char *at_axis(Shape s, const char **v, int a, const char *at) {
    int64_t st[MAX_RANK];
    cg_strides(s, st);
    const char *e = "0";
    for (int i = 0; i < s.rank; i++)
        if (i == a || s.d[i] != 1) /* other axes of size 1: the loop's is too, its variable 0 */
            e = ix_add(e, ix_mul(i == a ? at : v[i], st[i]));
    return e;
}

static const char *missing(DType t) { return dtype_is_float(t) ? "NAN" : "0"; }

/* out[..i..] = x[..index[..i..]..] along the axis. An index out of range reads nothing: the run
 * function checked them all first, with Python's error at the user's line. */
void emit_gather(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0);
    int a = (int)node_int(n, "axis", 0);
    int ind = 4;
    const char **v = emit_loops(n->shape, "i", &ind, worth_parallel(shape_numel(n->shape)));
    P("%*s{\n", ind - 4, "");
    const char *o = cg_bcast_index(n->shape, n->shape, v);
    P("%*sconst int64_t j = index[%s];\n", ind, "", o);
    P("%*sout[%s] = j >= 0 && j < %lld ? x[%s] : %s;\n", ind, "", o, (long long)x->shape.d[a],
      at_axis(x->shape, v, a, "j"), missing(n->dtype));
    P("%*s}\n", ind - 4, "");
    emit_loops_end(n->shape);
    P("}\n");
}

/* A copy of x, then src[..i..] added at x[..index[..i..]..]: in parallel over the places off the
 * axis, which no two share, and along the axis in order, so every sum is in PyTorch's order. */
void emit_scatter_add(const Node *n) {
    emit_kernel_open();
    Node *ix = IN((Node *)n, 1), *src = IN((Node *)n, 2);
    int a = (int)node_int(n, "axis", 0);
    P("    memcpy(out, x, %s);\n", ix_bytes(shape_numel(n->shape), dtype_ctype(n->dtype)));
    Shape across = ix->shape;
    across.d[a] = 1;
    int ind = 4;
    const char **v = emit_loops(across, "i", &ind, worth_parallel(shape_numel(ix->shape)));
    P("%*s{\n", ind - 4, "");
    cg_for(ind, "int64_t", "t", 0, ix->shape.d[a], 1, " {");
    P("%*sconst int64_t j = index[%s];\n", ind + 4, "", at_axis(ix->shape, v, a, "t"));
    P("%*sif (j >= 0 && j < %lld)\n", ind + 4, "", (long long)n->shape.d[a]);
    P("%*sout[%s] += src[%s];\n", ind + 8, "", at_axis(n->shape, v, a, "j"), at_axis(src->shape, v, a, "t"));
    cg_end();
    P("%*s}\n", ind - 4, "");
    emit_loops_end(across);
    P("}\n");
}

/* index_select copies row index[t] of x along the axis to row t of out; index_add adds row t of
 * src to row index[t] of a copy of x, the rows in order (PyTorch's). With attr wrap (x[index]),
 * a negative index counts from the end. */
void emit_index_rows(const Node *n) {
    emit_kernel_open();
    bool add = n->op == OP_INDEX_ADD;
    Node *x = IN((Node *)n, 0), *ix = IN((Node *)n, 1);
    int a = (int)node_int(n, "axis", 0);
    int64_t outer = 1, inner = 1, len = x->shape.d[a], K = ix->shape.d[0];
    for (int i = 0; i < a; i++)
        outer *= x->shape.d[i];
    for (int i = a + 1; i < x->shape.rank; i++)
        inner *= x->shape.d[i];
    const char *t = dtype_ctype(n->dtype);
    if (add)
        P("    memcpy(out, x, %s);\n", ix_bytes(shape_numel(n->shape), t));
    /* index_add in parallel over the outer rows and the row's elements, which no two share */
    if (worth_parallel(shape_numel(add ? IN((Node *)n, 2)->shape : n->shape)))
        cg_pragma(4, "#pragma omp parallel for%s", NULL, add ? 2 : 1);
    cg_for(4, "int64_t", "o", 0, outer, 1, " {");
    int ind = 8;
    if (add) {
        cg_for(8, "int64_t", "r", 0, inner, 1, " {");
        ind = 12;
    }
    cg_for(ind, "int64_t", "k", 0, K, 1, " {");
    if (node_int(n, "wrap", 0))
        P("%*sconst int64_t j = index[k] < 0 ? index[k] + %lld : index[k];\n", ind + 4, "", (long long)len);
    else
        P("%*sconst int64_t j = index[k];\n", ind + 4, "");
    const char *src_row = ix_mul(ix_add(ix_mul("o", K), "k"), inner), *x_row = ix_mul(ix_add(ix_mul("o", len), "j"), inner);
    if (add) {
        P("%*sif (j >= 0 && j < %lld)\n", ind + 4, "", (long long)len);
        P("%*sout[%s] += src[%s];\n", ind + 8, "", ix_add(x_row, "r"), ix_add(src_row, "r"));
    } else {
        P("%*sif (j >= 0 && j < %lld)\n", ind + 4, "", (long long)len);
        P("%*smemcpy(%s, %s, %s);\n", ind + 8, "", ix_ptr("out", src_row), ix_ptr("x", x_row), ix_bytes(inner, t));
        P("%*selse {\n", ind + 4, "");
        cg_for(ind + 8, "int64_t", "r", 0, inner, 1, NULL);
        P("%*sout[%s] = %s;\n", ind + 12, "", ix_add(src_row, "r"), missing(n->dtype));
        cg_end();
        P("%*s}\n", ind + 4, "");
    }
    cg_end();
    if (add)
        cg_end();
    cg_end();
    P("}\n");
}

void emit_cat(const Node *n) {
    emit_kernel_open();
    int axis = (int)node_int(n, "axis", 0);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= n->shape.d[i];
    for (int i = axis + 1; i < n->shape.rank; i++)
        inner *= n->shape.d[i];
    int64_t orow = n->shape.d[axis] * inner, off = 0;
    /* one outer row: no loop, o is 0 */
    const char *o = outer == 1 ? "0" : "o";
    if (outer != 1)
        cg_for(4, "int64_t", "o", 0, outer, 1, " {");
    int ind = outer == 1 ? 4 : 8;
    for (int k = 0; k < n->nin; k++) {
        Node *x = IN((Node *)n, k);
        int64_t row = x->shape.d[axis] * inner;
        if (!row)
            P("%*s(void)%s; /* empty along the axis */\n", ind, "", cg_role(n, k));
        else
            P("%*smemcpy(%s, %s, %s);\n", ind, "", ix_ptr("out", ix_addk(ix_mul(o, orow), off)),
              ix_ptr(cg_role(n, k), ix_mul(o, row)), ix_bytes(row, dtype_ctype(n->dtype)));
        off += row;
    }
    if (outer != 1)
        cg_end();
    P("}\n");
}
