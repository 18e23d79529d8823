/*
 * pool_loss.c: pooling (max_pool2d, its argmax codes, avg_pool2d) and cross-entropy, with their
 * backward kernels. Max pooling whose windows are inside the input runs without bounds checks,
 * the maximum taken by selects; a backward pass over disjoint windows is a gather that writes
 * each input element once, so a fused epilogue (the relu mask) runs at the store. Cross-entropy
 * and its backward share the row's stable log-sum-exp, and fuse into one pass over the logits.
 */
#include "emit.h"

#include <string.h>

/* ---- max pooling ---- */

/* Pooling windows that are unpadded and all inside the input: loops with no bounds checks. */
static bool pool_inside(const Node *n, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    return !pd[0] && !pd[1] && OH > 0 && OW > 0 && (OH - 1) * st[0] + (k[0] - 1) * dl[0] < H &&
           (OW - 1) * st[1] + (k[1] - 1) * dl[1] < W;
}

/* The (n, c) planes loop of a pooling kernel, parallel when there is enough work. */
static void pool_planes(int64_t planes, int64_t work) {
    if (planes > 1 && worth_parallel(work))
        cg_pragma(4, "#pragma omp parallel for%s", NULL, 1);
    emit_for(4, "p", planes, "                /* (n, c) planes */");
}

/* Element (h, w) of plane p of an H x W image: (p * H + h) * W + w. */
static const char *pix(const char *p, const char *h, const char *w, int64_t H, int64_t W) {
    return ix_add(ix_mul(ix_add(ix_mul(p, H), h), W), w);
}

/* The elements of the input no window covers (windows disjoint, unpadded), which get zero. */
static void emit_uncovered(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW, const int64_t *k,
                           const int64_t *st, const char *zero) {
    emit_for(4, "p", planes, "              /* elements no window covers */");
    emit_for(8, "ih", H, NULL);
    emit_for(12, "iw", W, NULL);
    P("                if (ih / %lld >= %lld || ih %% %lld >= %lld || iw / %lld >= %lld || iw %% %lld >= %lld)\n",
      (long long)st[0], (long long)OH, (long long)st[0], (long long)k[0], (long long)st[1], (long long)OW,
      (long long)st[1], (long long)k[1]);
    emit_store(20, pix("p", "ih", "iw", H, W), zero);
    cg_end();
    cg_end();
    cg_end();
}

/* The loops over a padded window's taps (r, s) of output (h, w), each with the input element it
 * reads (ih, iw), skipping the padding; two cg_end close them. */
static void window_taps(const int64_t *k, const int64_t *st, const int64_t *pd, const int64_t *dl, int64_t H, int64_t W) {
    cg_for_cont(16, "int64_t", "r", 0, k[0], 1, " {");
    P("                    const int64_t ih = %s;\n", ix_tap("h", st[0], "r", dl[0], pd[0]));
    P("                    if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    cg_for_cont(20, "int64_t", "s", 0, k[1], 1, " {");
    P("                        const int64_t iw = %s;\n", ix_tap("w", st[1], "s", dl[1], pd[1]));
    P("                        if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
}

void emit_maxpool(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0);
    int r = x->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= x->shape.d[i];
    int64_t H = x->shape.d[r - 2], W = x->shape.d[r - 1], OH = n->shape.d[r - 2], OW = n->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype);
    pool_planes(planes, planes * OH * OW * k[0] * k[1]);
    emit_for(8, "h", OH, NULL);
    if (pool_inside(n, H, W, OH, OW)) {
        /* every window inside: the first element starts the maximum, selects instead of branches */
        cg_pragma(12, "TG_SIMD%s", NULL, 1);
        emit_for(12, "w", OW, " {");
        P("                const %s *xw = %s;\n", t, ix_ptr("x", pix("p", ix_mul("h", st[0]), ix_mul("w", st[1]), H, W)));
        P("                %s m = xw[0];\n", t);
        emit_for(16, "r", k[0], NULL);
        emit_for(20, "s", k[1], " {");
        P("                        const %s v = xw[%s];\n", t, ix_add(ix_mul("r", dl[0] * W), ix_mul("s", dl[1])));
        P("                        m = v > m || v != v ? v : m;   /* NaN propagates, as in PyTorch */\n");
        cg_end();
        cg_end();
    } else {
        emit_for(12, "w", OW, " {");
        P("                %s m = -INFINITY;\n", t);
        window_taps(k, st, pd, dl, H, W);
        P("                        const %s v = x[%s];\n", t, pix("p", "ih", "iw", H, W));
        P("                        if (v > m || v != v) m = v;   /* NaN propagates, as in PyTorch */\n");
        cg_end();
        cg_end();
    }
    emit_store(16, pix("p", "h", "w", OH, OW), "m");
    cg_end();
    cg_end();
    cg_end();
    P("}\n");
}

/*
 * max_pool2d_argmax: for each window, where its first maximum is (r * KW + s; a NaN counts as the
 * maximum, as in PyTorch), one byte per window: all max_pool2d's backward pass needs.
 */
void emit_maxpool_argmax(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0);
    int r = x->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= x->shape.d[i];
    int64_t H = x->shape.d[r - 2], W = x->shape.d[r - 1], OH = n->shape.d[r - 2], OW = n->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(x->dtype);
    pool_planes(planes, planes * OH * OW * k[0] * k[1]);
    emit_for(8, "h", OH, NULL);
    if (pool_inside(n, H, W, OH, OW)) {
        /* every window inside: the first element starts, later ones win by select (the first maximum; NaN wins) */
        cg_pragma(12, "TG_SIMD%s", NULL, 1);
        emit_for(12, "w", OW, " {");
        P("                const %s *xw = %s;\n", t, ix_ptr("x", pix("p", ix_mul("h", st[0]), ix_mul("w", st[1]), H, W)));
        P("                %s m = xw[0];\n                int at = 0;\n", t);
        emit_for_int(16, "r", k[0], NULL);
        emit_for_int(20, "s", k[1], " {");
        P("                        const %s v = xw[%s];\n", t, ix_add(ix_mul("r", dl[0] * W), ix_mul("s", dl[1])));
        P("                        const int win = (r > 0 || s > 0) && (v > m || v != v);\n");
        P("                        m = win ? v : m;\n");
        P("                        at = win ? %s : at;\n", ix_add(ix_mul("r", k[1]), "s"));
        cg_end();
        cg_end();
    } else {
        emit_for(12, "w", OW, " {");
        P("                %s m = -INFINITY;\n                int at = -1;\n", t);
        window_taps(k, st, pd, dl, H, W);
        P("                        const %s v = x[%s];\n", t, pix("p", "ih", "iw", H, W));
        P("                        if (at < 0 || v > m || v != v) {\n                            m = v;\n");
        P("                            at = (int)(%s);\n                        }\n", ix_add(ix_mul("r", k[1]), "s"));
        cg_end();
        cg_end();
    }
    P("                out[%s] = (uint8_t)at;\n", pix("p", "h", "w", OH, OW));
    cg_end();
    cg_end();
    cg_end();
    P("}\n");
}

/*
 * max_pool2d_bwd when the windows are disjoint and unpadded: a gather. Each window finds the
 * element the forward pass picked (the first maximum; NaN wins, as there) and writes every one
 * of its elements once, the gradient or zero, so no zeroing pass and no adding are needed, and an
 * epilogue (the relu mask before the pooling) runs at the store. Elements no window covers get
 * zero. The window is read whole before any of it is written, so memplan may put the output over
 * the input. 0 + g, as the adding form computes it, keeps a -0.0 gradient +0.0 there too.
 */
static void emit_maxpool_bwd_gather(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0), *dy = IN((Node *)n, 1);
    int r = x->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= x->shape.d[i];
    int64_t H = x->shape.d[r - 2], W = x->shape.d[r - 1], OH = dy->shape.d[r - 2], OW = dy->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL);
    const char *t = dtype_ctype(n->dtype);
    const char *zero = cg_literal(0, n->dtype);
    bool full = st[0] == k[0] && st[1] == k[1] && OH * k[0] == H && OW * k[1] == W;
    /* the element (r, s) of window (h, w) */
    const char *at = ix_add(ix_mul(ix_add(ix_add(ix_mul("p", H), ix_mul("h", st[0])), "r"), W),
                            ix_add(ix_mul("w", st[1]), "s"));
    P("    /* each input element gets the gradient of the window that picked it (its first maximum), else 0 */\n");
    if (!full)
        emit_uncovered(planes, H, W, OH, OW, k, st, zero);
    emit_for(4, "p", planes, NULL);
    emit_for(8, "h", OH, NULL);
    emit_for(12, "w", OW, " {");
    P("                %s m = -INFINITY;\n                int64_t at = -1;\n", t);
    emit_for(16, "r", k[0], NULL);
    emit_for(20, "s", k[1], " {");
    P("                        const %s v = x[%s];\n", t, at);
    P("                        if (at < 0 || v > m || v != v) {\n");
    P("                            m = v;\n                            at = %s;\n", ix_add(ix_mul("r", k[1]), "s"));
    P("                        }\n");
    cg_end();
    cg_end();
    P("                const %s g = %s + dy[%s];\n", t, zero, pix("p", "h", "w", OH, OW));
    emit_for(16, "r", k[0], NULL);
    emit_for(20, "s", k[1], NULL);
    emit_store(24, at, ir_fmt("%s == at ? g : %s", ix_add(ix_mul("r", k[1]), "s"), zero));
    for (int i = 0; i < 5; i++)
        cg_end();
    P("}\n");
}

static void emit_maxpool_bwd_add(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0), *dy = IN((Node *)n, 1);
    int r = x->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= x->shape.d[i];
    int64_t H = x->shape.d[r - 2], W = x->shape.d[r - 1], OH = dy->shape.d[r - 2], OW = dy->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype);
    P("    /* each window's gradient goes to the element the forward pass picked (the first maximum) */\n");
    P("    memset(out, 0, %s);\n", ix_bytes(shape_numel(x->shape), t));
    emit_for(4, "p", planes, NULL);
    emit_for(8, "h", OH, NULL);
    emit_for(12, "w", OW, " {");
    P("                %s m = -INFINITY;\n                int64_t at = -1;\n", t);
    window_taps(k, st, pd, dl, H, W);
    P("                        const %s v = x[%s];\n", t, pix("p", "ih", "iw", H, W));
    P("                        if (at < 0 || v > m || v != v) {\n                            m = v;\n");
    P("                            at = %s;\n                        }\n", pix("p", "ih", "iw", H, W));
    cg_end();
    cg_end();
    P("                if (at >= 0)\n                    out[at] += dy[%s];\n", pix("p", "h", "w", OH, OW));
    cg_end();
    cg_end();
    cg_end();
    P("}\n");
}

void emit_maxpool_bwd(const Node *n) {
    if (kernel_gathers(n))
        emit_maxpool_bwd_gather(n);
    else
        emit_maxpool_bwd_add(n);
}

/* The prologue of a max_pool2d_bwd_at kernel: the fused elementwise ops that make dL/dy, computed
 * for the one window the loop is at (flat index `wi`); returns the register holding dL/dy. */
static const char *prologue_value(const Node *n, int indent) {
    const Node *dy = IN((Node *)n, 1);
    if (!cg_in_unit(dy->id))
        return "dy[wi]";
    cg_emit_prologue(indent, dy->shape, "wi");
    return ir_fmt("t%d", dy->id);
}

/*
 * max_pool2d_bwd_at: dL/dx from the argmax codes. Disjoint unpadded windows write every input
 * element once (the gradient where the code points, zero elsewhere, zero where no window
 * reaches), so an epilogue runs at the store; otherwise the gradients are added into a zeroed
 * output. 0 + g, as adding into zeros computes it, keeps a -0.0 gradient +0.0 in both forms.
 */
void emit_maxpool_bwd_at(const Node *n) {
    emit_kernel_open();
    Node *dy = IN((Node *)n, 1);
    int r = n->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= n->shape.d[i];
    int64_t H = n->shape.d[r - 2], W = n->shape.d[r - 1], OH = dy->shape.d[r - 2], OW = dy->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL),
                  *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype), *zero = cg_literal(0, n->dtype);
    bool gather = kernel_gathers(n);
    P("    /* each window's gradient goes to the element its code points at (the first maximum) */\n");
    if (gather && !(st[0] == k[0] && st[1] == k[1] && OH * k[0] == H && OW * k[1] == W))
        emit_uncovered(planes, H, W, OH, OW, k, st, zero);
    if (!gather)
        P("    memset(out, 0, %s);\n", ix_bytes(shape_numel(n->shape), t));
    if (gather) /* each plane's windows write only that plane */
        pool_planes(planes, planes * OH * OW * k[0] * k[1]);
    else
        emit_for(4, "p", planes, NULL);
    emit_for(8, "h", OH, NULL);
    if (gather) /* the windows of a row write disjoint elements */
        cg_pragma(12, "TG_SIMD%s", NULL, 1);
    emit_for(12, "w", OW, " {");
    P("                const int64_t wi = %s;\n", pix("p", "h", "w", OH, OW));
    const char *g = prologue_value(n, 16);
    P("                const %s g = %s + %s;\n", t, zero, g);
    P("                const int at = codes[wi];\n");
    if (gather) {
        emit_for(16, "r", k[0], NULL);
        emit_for(20, "s", k[1], NULL);
        emit_store(24, ix_add(ix_mul(ix_add(ix_add(ix_mul("p", H), ix_mul("h", st[0])), "r"), W), ix_add(ix_mul("w", st[1]), "s")),
                   ir_fmt("%s == at ? g : %s", ix_add(ix_mul("r", k[1]), "s"), zero));
        cg_end();
        cg_end();
    } else {
        P("                const int64_t ih = %s, iw = %s;\n",
          ix_tap("h", st[0], ix_div("at", k[1]), dl[0], pd[0]), ix_tap("w", st[1], ix_mod("at", k[1]), dl[1], pd[1]));
        P("                out[%s] += g;\n", pix("p", "ih", "iw", H, W));
    }
    cg_end();
    cg_end();
    cg_end();
    P("}\n");
}

/* ---- average pooling ---- */

/*
 * avg_pool2d as PyTorch computes it: a window clipped to the padded input; the divisor is the
 * clipped window's size counting padding (count_include_pad) or not, and windows that start in
 * ceil_mode's extra row are clipped to the input.
 */
void emit_avgpool(const Node *n, bool bwd) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0), *y = bwd ? IN((Node *)n, 1) : (Node *)n;
    int r = x->shape.rank;
    int64_t planes = 1;
    for (int i = 0; i < r - 2; i++)
        planes *= x->shape.d[i];
    int64_t H = x->shape.d[r - 2], W = x->shape.d[r - 1], OH = y->shape.d[r - 2], OW = y->shape.d[r - 1];
    const int64_t *k = node_ints(n, "kernel", NULL), *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL);
    bool incl = node_int(n, "count_include_pad", 1) != 0;
    const char *t = dtype_ctype(n->dtype);
    if (bwd)
        P("    /* each output's gradient is shared evenly by the inputs of its window */\n"
          "    memset(out, 0, %s);\n", ix_bytes(shape_numel(x->shape), t));
    emit_for(4, "p", planes, NULL);
    emit_for(8, "h", OH, NULL);
    emit_for(12, "w", OW, " {");
    P("                int64_t h0 = %s, w0 = %s;\n", ix_addk(ix_mul("h", st[0]), -pd[0]), ix_addk(ix_mul("w", st[1]), -pd[1]));
    P("                int64_t h1 = h0 + %lld < %lld ? h0 + %lld : %lld, w1 = w0 + %lld < %lld ? w0 + %lld : %lld;\n",
      (long long)k[0], (long long)(H + pd[0]), (long long)k[0], (long long)(H + pd[0]), (long long)k[1],
      (long long)(W + pd[1]), (long long)k[1], (long long)(W + pd[1]));
    P("                const int64_t padded = (h1 - h0) * (w1 - w0);\n");
    P("                h0 = h0 < 0 ? 0 : h0;\n                w0 = w0 < 0 ? 0 : w0;\n");
    P("                h1 = h1 > %lld ? %lld : h1;\n                w1 = w1 > %lld ? %lld : w1;\n", (long long)H,
      (long long)H, (long long)W, (long long)W);
    P("                const %s div = (%s)%s;\n", t, t, incl ? "padded" : "((h1 - h0) * (w1 - w0))");
    if (bwd) {
        P("                const %s g = dy[%s] / div;\n", t, pix("p", "h", "w", OH, OW));
        P("                for (int64_t ih = h0; ih < h1; ih++)\n                    for (int64_t iw = w0; iw < w1; iw++)\n");
        P("                        out[%s] += g;\n", pix("p", "ih", "iw", H, W));
    } else {
        P("                %s acc = 0;\n", t);
        P("                for (int64_t ih = h0; ih < h1; ih++)\n                    for (int64_t iw = w0; iw < w1; iw++)\n");
        P("                        acc += x[%s];\n", pix("p", "ih", "iw", H, W));
        emit_store(16, pix("p", "h", "w", OH, OW), "acc / div");
    }
    cg_end();
    cg_end();
    cg_end();
    P("}\n");
}

/* ---- cross-entropy ---- */

/* Row i's maximum m and se = sum_c exp(row[c] - m): the stable log-sum-exp both directions need. */
static void emit_row_softmax_stats(const char *t, const char *f, int64_t C) {
    P("        const %s *row = %s;\n", t, ix_ptr("logits", ix_mul("i", C)));
    P("        %s m = row[0];\n", t);
    if (C > 1) { /* one class: its logit is the maximum */
        cg_for(8, "int64_t", "c", 1, C, 1, NULL);
        P("            if (row[c] > m)\n                m = row[c];\n");
        cg_end();
    }
    P("        double se = 0;\n");
    emit_for(8, "c", C, NULL);
    P("            se += exp%s(row[c] - m);\n", f);
    cg_end();
}

/* The mean's division by the rows, where there is more than one. */
static const char *per_row(int64_t N) { return N == 1 ? "" : ir_fmt(" / %lld", (long long)N); }

void emit_cross_entropy(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0);
    int64_t N_ = x->shape.d[0], C = x->shape.d[1];
    const char *red = node_str(n, "reduction", "mean");
    const char *t = dtype_ctype(n->dtype), *f = fsuffix(n->dtype);
    P("    /* loss_i = log(sum_c exp(x_ic)) - x_i,target(i), with the row maximum taken out first */\n");
    if (strcmp(red, "none"))
        P("    double total = 0;\n");
    emit_for(4, "i", N_, " {");
    emit_row_softmax_stats(t, f, C);
    P("        /* a class index out of range makes the loss NaN (PyTorch raises); nothing is read out of bounds */\n");
    P("        const double loss = target[i] >= 0 && target[i] < %lld ? (double)m + log(se) - (double)row[target[i]] : NAN;\n", (long long)C);
    P(!strcmp(red, "none") ? "        out[i] = (%s)loss;\n" : "        total += loss;\n", t);
    cg_end();
    if (strcmp(red, "none"))
        P("    out[0] = (%s)(total%s);\n", t, !strcmp(red, "mean") ? per_row(N_) : "");
    P("}\n");
}

void emit_cross_entropy_bwd(const Node *n) {
    emit_kernel_open();
    int64_t N_ = n->shape.d[0], C = n->shape.d[1];
    const char *red = node_str(n, "reduction", "mean");
    const char *t = dtype_ctype(n->dtype), *f = fsuffix(n->dtype);
    P("    /* dL/dx_ic = (softmax(x_i)_c - [c == target(i)]) * dL/dloss_i */\n");
    emit_for(4, "i", N_, " {");
    emit_row_softmax_stats(t, f, C);
    if (!strcmp(red, "none"))
        P("        const double scale = (double)dloss[i];\n");
    else
        P("        const double scale = (double)dloss[0]%s;\n", !strcmp(red, "mean") ? per_row(N_) : "");
    emit_for(8, "c", C, NULL);
    P("            out[%s] = target[i] >= 0 && target[i] < %lld ? (%s)((exp%s(row[c] - m) / se - (c == target[i])) * scale) : NAN;\n",
      ix_add(ix_mul("i", C), "c"), (long long)C, t, f);
    cg_end();
    cg_end();
    P("}\n");
}

/*
 * cross_entropy and its backward in one pass over the logits: each row's maximum and sum of
 * exponentials serve the loss and the gradient, computed exactly as the two kernels compute
 * them apart.
 */
void emit_cross_entropy_fused(void) {
    const Node *ce = &cg.g->nodes[cg.u.head], *bw = NULL;
    for (int i = cg.u.first; i <= cg.u.last; i++)
        if (cg.g->nodes[i].op == OP_CROSS_ENTROPY_BWD)
            bw = &cg.g->nodes[i];
    emit_kernel_open();
    int64_t N_ = IN((Node *)ce, 0)->shape.d[0], C = IN((Node *)ce, 0)->shape.d[1];
    const char *red = node_str(ce, "reduction", "mean");
    const char *t = dtype_ctype(ce->dtype), *f = fsuffix(ce->dtype);
    const char *dl = cg_bname(bw->in[2]), *gout = cg_bname(bw->id);
    P("    /* loss_i = log(sum_c exp(x_ic)) - x_i,target(i); dL/dx_ic = (softmax(x_i)_c - [c == target(i)]) * dL/dloss_i */\n");
    if (strcmp(red, "none"))
        P("    double total = 0;\n");
    emit_for(4, "i", N_, " {");
    emit_row_softmax_stats(t, f, C);
    P("        const double loss = target[i] >= 0 && target[i] < %lld ? (double)m + log(se) - (double)row[target[i]] : NAN;\n", (long long)C);
    if (stored(ce->id))
        P(!strcmp(red, "none") ? "        out[i] = (%s)loss;\n" : "        total += loss;\n", t);
    if (!strcmp(red, "none"))
        P("        const double scale = (double)%s[i];\n", dl);
    else
        P("        const double scale = (double)%s[0]%s;\n", dl, !strcmp(red, "mean") ? per_row(N_) : "");
    emit_for(8, "c", C, NULL);
    P("            %s[%s] = target[i] >= 0 && target[i] < %lld ? (%s)((exp%s(row[c] - m) / se - (c == target[i])) * scale) : NAN;\n",
      gout, ix_add(ix_mul("i", C), "c"), (long long)C, t, f);
    cg_end();
    cg_end();
    if (strcmp(red, "none") && stored(ce->id))
        P("    out[0] = (%s)(total%s);\n", t, !strcmp(red, "mean") ? per_row(N_) : "");
    else if (strcmp(red, "none"))
        P("    (void)total;\n");
    P("}\n");
}
