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
        P("    #pragma omp parallel for\n");
    P("    for (int64_t p = 0; p < %lld; p++)                /* (n, c) planes */\n", (long long)planes);
}

void emit_maxpool(const Node *n) {
    emit_kernel_open(n);
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
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    if (pool_inside(n, H, W, OH, OW)) {
        /* every window inside: the first element starts the maximum, selects instead of branches */
        P("            TG_SIMD\n");
        P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
        P("                const %s *xw = x0 + (p * %lld + h * %lld) * %lld + w * %lld;\n", t, (long long)H,
          (long long)st[0], (long long)W, (long long)st[1]);
        P("                %s m = xw[0];\n", t);
        P("                for (int64_t r = 0; r < %lld; r++)\n", (long long)k[0]);
        P("                    for (int64_t s = 0; s < %lld; s++) {\n", (long long)k[1]);
        P("                        const %s v = xw[r * %lld + s * %lld];\n", t, (long long)(dl[0] * W),
          (long long)dl[1]);
        P("                        m = v > m || v != v ? v : m;   /* NaN propagates, as in PyTorch */\n");
        P("                    }\n");
    } else {
        P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
        P("                %s m = -INFINITY;\n", t);
        P("                for (int64_t r = 0; r < %lld; r++) {\n", (long long)k[0]);
        P("                    const int64_t ih = h * %lld + r * %lld - %lld;\n", (long long)st[0], (long long)dl[0],
          (long long)pd[0]);
        P("                    if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
        P("                    for (int64_t s = 0; s < %lld; s++) {\n", (long long)k[1]);
        P("                        const int64_t iw = w * %lld + s * %lld - %lld;\n", (long long)st[1], (long long)dl[1],
          (long long)pd[1]);
        P("                        if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
        P("                        const %s v = x0[(p * %lld + ih) * %lld + iw];\n", t, (long long)H, (long long)W);
        P("                        if (v > m || v != v) m = v;   /* NaN propagates, as in PyTorch */\n");
        P("                    }\n");
        P("                }\n");
    }
    emit_store(16, ir_fmt("(p * %lld + h) * %lld + w", (long long)OH, (long long)OW), "m");
    P("            }\n}\n");
}

/*
 * max_pool2d_argmax: for each window, where its first maximum is (r * KW + s; a NaN counts as the
 * maximum, as in PyTorch), one byte per window: all max_pool2d's backward pass needs.
 */
void emit_maxpool_argmax(const Node *n) {
    emit_kernel_open(n);
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
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    if (pool_inside(n, H, W, OH, OW)) {
        /* every window inside: the first element starts, later ones win by select (the first maximum; NaN wins) */
        P("            TG_SIMD\n");
        P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
        P("                const %s *xw = x0 + (p * %lld + h * %lld) * %lld + w * %lld;\n", t, (long long)H,
          (long long)st[0], (long long)W, (long long)st[1]);
        P("                %s m = xw[0];\n                int at = 0;\n", t);
        P("                for (int r = 0; r < %lld; r++)\n", (long long)k[0]);
        P("                    for (int s = 0; s < %lld; s++) {\n", (long long)k[1]);
        P("                        const %s v = xw[r * %lld + s * %lld];\n", t, (long long)(dl[0] * W), (long long)dl[1]);
        P("                        const int win = (r > 0 || s > 0) && (v > m || v != v);\n");
        P("                        m = win ? v : m;\n");
        P("                        at = win ? r * %lld + s : at;\n", (long long)k[1]);
        P("                    }\n");
        P("                out[(p * %lld + h) * %lld + w] = (uint8_t)at;\n", (long long)OH, (long long)OW);
        P("            }\n}\n");
        return;
    }
    P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                %s m = -INFINITY;\n                int at = -1;\n", t);
    P("                for (int64_t r = 0; r < %lld; r++) {\n", (long long)k[0]);
    P("                    const int64_t ih = h * %lld + r * %lld - %lld;\n", (long long)st[0], (long long)dl[0], (long long)pd[0]);
    P("                    if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    P("                    for (int64_t s = 0; s < %lld; s++) {\n", (long long)k[1]);
    P("                        const int64_t iw = w * %lld + s * %lld - %lld;\n", (long long)st[1], (long long)dl[1], (long long)pd[1]);
    P("                        if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
    P("                        const %s v = x0[(p * %lld + ih) * %lld + iw];\n", t, (long long)H, (long long)W);
    P("                        if (at < 0 || v > m || v != v) {\n                            m = v;\n");
    P("                            at = (int)(r * %lld + s);\n                        }\n", (long long)k[1]);
    P("                    }\n                }\n");
    P("                out[(p * %lld + h) * %lld + w] = (uint8_t)at;\n", (long long)OH, (long long)OW);
    P("            }\n}\n");
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
    emit_kernel_open(n);
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
    P("    /* each input element gets the gradient of the window that picked it (its first maximum), else 0 */\n");
    if (!full) {
        P("    for (int64_t p = 0; p < %lld; p++)              /* elements no window covers */\n", (long long)planes);
        P("        for (int64_t ih = 0; ih < %lld; ih++)\n", (long long)H);
        P("            for (int64_t iw = 0; iw < %lld; iw++)\n", (long long)W);
        P("                if (ih / %lld >= %lld || ih %% %lld >= %lld || iw / %lld >= %lld || iw %% %lld >= %lld)\n",
          (long long)st[0], (long long)OH, (long long)st[0], (long long)k[0], (long long)st[1], (long long)OW,
          (long long)st[1], (long long)k[1]);
        emit_store(20, ir_fmt("(p * %lld + ih) * %lld + iw", (long long)H, (long long)W), zero);
    }
    P("    for (int64_t p = 0; p < %lld; p++)\n", (long long)planes);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                %s m = -INFINITY;\n                int64_t at = -1;\n", t);
    P("                for (int64_t r = 0; r < %lld; r++)\n", (long long)k[0]);
    P("                    for (int64_t s = 0; s < %lld; s++) {\n", (long long)k[1]);
    P("                        const %s v = x0[(p * %lld + h * %lld + r) * %lld + w * %lld + s];\n", t, (long long)H,
      (long long)st[0], (long long)W, (long long)st[1]);
    P("                        if (at < 0 || v > m || v != v) {\n");
    P("                            m = v;\n                            at = r * %lld + s;\n", (long long)k[1]);
    P("                        }\n                    }\n");
    P("                const %s g = %s + x1[(p * %lld + h) * %lld + w];\n", t, zero, (long long)OH, (long long)OW);
    P("                for (int64_t r = 0; r < %lld; r++)\n", (long long)k[0]);
    P("                    for (int64_t s = 0; s < %lld; s++)\n", (long long)k[1]);
    emit_store(24, ir_fmt("(p * %lld + h * %lld + r) * %lld + w * %lld + s", (long long)H, (long long)st[0], (long long)W,
                          (long long)st[1]),
               ir_fmt("r * %lld + s == at ? g : %s", (long long)k[1], zero));
    P("            }\n}\n");
}

static void emit_maxpool_bwd_add(const Node *n) {
    emit_kernel_open(n);
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
    P("    memset(out, 0, %lld * sizeof(%s));\n", (long long)shape_numel(x->shape), t);
    P("    for (int64_t p = 0; p < %lld; p++)\n", (long long)planes);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                %s m = -INFINITY;\n                int64_t at = -1;\n", t);
    P("                for (int64_t r = 0; r < %lld; r++) {\n", (long long)k[0]);
    P("                    const int64_t ih = h * %lld + r * %lld - %lld;\n", (long long)st[0], (long long)dl[0], (long long)pd[0]);
    P("                    if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    P("                    for (int64_t s = 0; s < %lld; s++) {\n", (long long)k[1]);
    P("                        const int64_t iw = w * %lld + s * %lld - %lld;\n", (long long)st[1], (long long)dl[1], (long long)pd[1]);
    P("                        if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
    P("                        const %s v = x0[(p * %lld + ih) * %lld + iw];\n", t, (long long)H, (long long)W);
    P("                        if (at < 0 || v > m || v != v) {\n                            m = v;\n");
    P("                            at = (p * %lld + ih) * %lld + iw;\n                        }\n", (long long)H, (long long)W);
    P("                    }\n                }\n");
    P("                if (at >= 0)\n                    out[at] += x1[(p * %lld + h) * %lld + w];\n", (long long)OH, (long long)OW);
    P("            }\n}\n");
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
        return "x1[wi]";
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
    emit_kernel_open(n);
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
    if (gather && !(st[0] == k[0] && st[1] == k[1] && OH * k[0] == H && OW * k[1] == W)) {
        P("    for (int64_t p = 0; p < %lld; p++)              /* elements no window covers */\n", (long long)planes);
        P("        for (int64_t ih = 0; ih < %lld; ih++)\n", (long long)H);
        P("            for (int64_t iw = 0; iw < %lld; iw++)\n", (long long)W);
        P("                if (ih / %lld >= %lld || ih %% %lld >= %lld || iw / %lld >= %lld || iw %% %lld >= %lld)\n",
          (long long)st[0], (long long)OH, (long long)st[0], (long long)k[0], (long long)st[1], (long long)OW,
          (long long)st[1], (long long)k[1]);
        emit_store(20, ir_fmt("(p * %lld + ih) * %lld + iw", (long long)H, (long long)W), zero);
    }
    if (!gather)
        P("    memset(out, 0, %lld * sizeof(%s));\n", (long long)shape_numel(n->shape), t);
    if (gather) /* each plane's windows write only that plane */
        pool_planes(planes, planes * OH * OW * k[0] * k[1]);
    else
        P("    for (int64_t p = 0; p < %lld; p++)\n", (long long)planes);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    if (gather) /* the windows of a row write disjoint elements */
        P("            TG_SIMD\n");
    P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                const int64_t wi = (p * %lld + h) * %lld + w;\n", (long long)OH, (long long)OW);
    const char *g = prologue_value(n, 16);
    P("                const %s g = %s + %s;\n", t, zero, g);
    P("                const int at = x0[wi];\n");
    if (gather) {
        P("                for (int64_t r = 0; r < %lld; r++)\n", (long long)k[0]);
        P("                    for (int64_t s = 0; s < %lld; s++)\n", (long long)k[1]);
        emit_store(24, ir_fmt("(p * %lld + h * %lld + r) * %lld + w * %lld + s", (long long)H, (long long)st[0],
                              (long long)W, (long long)st[1]),
                   ir_fmt("r * %lld + s == at ? g : %s", (long long)k[1], zero));
    } else {
        P("                const int64_t ih = h * %lld + at / %lld * %lld - %lld, iw = w * %lld + at %% %lld * %lld - %lld;\n",
          (long long)st[0], (long long)k[1], (long long)dl[0], (long long)pd[0], (long long)st[1], (long long)k[1],
          (long long)dl[1], (long long)pd[1]);
        P("                out[(p * %lld + ih) * %lld + iw] += g;\n", (long long)H, (long long)W);
    }
    P("            }\n}\n");
}



/* ---- average pooling ---- */

/*
 * avg_pool2d as PyTorch computes it: a window clipped to the padded input; the divisor is the
 * clipped window's size counting padding (count_include_pad) or not, and windows that start in
 * ceil_mode's extra row are clipped to the input.
 */
void emit_avgpool(const Node *n, bool bwd) {
    emit_kernel_open(n);
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
          "    memset(out, 0, %lld * sizeof(%s));\n", (long long)shape_numel(x->shape), t);
    P("    for (int64_t p = 0; p < %lld; p++)\n", (long long)planes);
    P("        for (int64_t h = 0; h < %lld; h++)\n", (long long)OH);
    P("            for (int64_t w = 0; w < %lld; w++) {\n", (long long)OW);
    P("                int64_t h0 = h * %lld - %lld, w0 = w * %lld - %lld;\n", (long long)st[0], (long long)pd[0],
      (long long)st[1], (long long)pd[1]);
    P("                int64_t h1 = h0 + %lld < %lld ? h0 + %lld : %lld, w1 = w0 + %lld < %lld ? w0 + %lld : %lld;\n",
      (long long)k[0], (long long)(H + pd[0]), (long long)k[0], (long long)(H + pd[0]), (long long)k[1],
      (long long)(W + pd[1]), (long long)k[1], (long long)(W + pd[1]));
    P("                const int64_t padded = (h1 - h0) * (w1 - w0);\n");
    P("                h0 = h0 < 0 ? 0 : h0;\n                w0 = w0 < 0 ? 0 : w0;\n");
    P("                h1 = h1 > %lld ? %lld : h1;\n                w1 = w1 > %lld ? %lld : w1;\n", (long long)H,
      (long long)H, (long long)W, (long long)W);
    P("                const %s div = (%s)%s;\n", t, t, incl ? "padded" : "((h1 - h0) * (w1 - w0))");
    if (bwd) {
        P("                const %s g = x1[(p * %lld + h) * %lld + w] / div;\n", t, (long long)OH, (long long)OW);
        P("                for (int64_t ih = h0; ih < h1; ih++)\n                    for (int64_t iw = w0; iw < w1; iw++)\n");
        P("                        out[(p * %lld + ih) * %lld + iw] += g;\n", (long long)H, (long long)W);
    } else {
        P("                %s acc = 0;\n", t);
        P("                for (int64_t ih = h0; ih < h1; ih++)\n                    for (int64_t iw = w0; iw < w1; iw++)\n");
        P("                        acc += x0[(p * %lld + ih) * %lld + iw];\n", (long long)H, (long long)W);
        emit_store(16, ir_fmt("(p * %lld + h) * %lld + w", (long long)OH, (long long)OW), "acc / div");
    }
    P("            }\n}\n");
}

/* ---- cross-entropy ---- */

/* Row i's maximum m and se = sum_c exp(row[c] - m): the stable log-sum-exp both directions need. */
static void emit_row_softmax_stats(const char *t, const char *f, int64_t C) {
    P("        const %s *row = x0 + i * %lld;\n", t, (long long)C);
    P("        %s m = row[0];\n", t);
    P("        for (int64_t c = 1; c < %lld; c++)\n            if (row[c] > m)\n                m = row[c];\n", (long long)C);
    P("        double se = 0;\n");
    P("        for (int64_t c = 0; c < %lld; c++)\n            se += exp%s(row[c] - m);\n", (long long)C, f);
}

void emit_cross_entropy(const Node *n) {
    emit_kernel_open(n);
    Node *x = IN((Node *)n, 0);
    int64_t N_ = x->shape.d[0], C = x->shape.d[1];
    const char *red = node_str(n, "reduction", "mean");
    const char *t = dtype_ctype(n->dtype), *f = fsuffix(n->dtype);
    P("    /* loss_i = log(sum_c exp(x_ic)) - x_i,target(i), with the row maximum taken out first */\n");
    if (strcmp(red, "none"))
        P("    double total = 0;\n");
    P("    for (int64_t i = 0; i < %lld; i++) {\n", (long long)N_);
    emit_row_softmax_stats(t, f, C);
    P("        /* a class index out of range makes the loss NaN (PyTorch raises); nothing is read out of bounds */\n");
    P("        const double loss = x1[i] >= 0 && x1[i] < %lld ? (double)m + log(se) - (double)row[x1[i]] : NAN;\n", (long long)C);
    if (!strcmp(red, "none"))
        P("        out[i] = (%s)loss;\n    }\n", t);
    else
        P("        total += loss;\n    }\n    out[0] = (%s)(total%s);\n", t, !strcmp(red, "mean") ? ir_fmt(" / %lld", (long long)N_) : "");
    P("}\n");
}

void emit_cross_entropy_bwd(const Node *n) {
    emit_kernel_open(n);
    int64_t N_ = n->shape.d[0], C = n->shape.d[1];
    const char *red = node_str(n, "reduction", "mean");
    const char *t = dtype_ctype(n->dtype), *f = fsuffix(n->dtype);
    P("    /* dL/dx_ic = (softmax(x_i)_c - [c == target(i)]) * dL/dloss_i */\n");
    P("    for (int64_t i = 0; i < %lld; i++) {\n", (long long)N_);
    emit_row_softmax_stats(t, f, C);
    if (!strcmp(red, "none"))
        P("        const double scale = (double)x2[i];\n");
    else if (!strcmp(red, "mean"))
        P("        const double scale = (double)x2[0] / %lld;\n", (long long)N_);
    else
        P("        const double scale = (double)x2[0];\n");
    P("        for (int64_t c = 0; c < %lld; c++)\n", (long long)C);
    P("            out[i * %lld + c] = x1[i] >= 0 && x1[i] < %lld ? (%s)((exp%s(row[c] - m) / se - (c == x1[i])) * scale) : NAN;\n",
      (long long)C, (long long)C, t, f);
    P("    }\n}\n");
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
    emit_kernel_open(ce);
    int64_t N_ = IN((Node *)ce, 0)->shape.d[0], C = IN((Node *)ce, 0)->shape.d[1];
    const char *red = node_str(ce, "reduction", "mean");
    const char *t = dtype_ctype(ce->dtype), *f = fsuffix(ce->dtype);
    const char *dl = cg_bname(bw->in[2]), *gout = cg_bname(bw->id);
    P("    /* loss_i = log(sum_c exp(x_ic)) - x_i,target(i); dL/dx_ic = (softmax(x_i)_c - [c == target(i)]) * dL/dloss_i */\n");
    if (strcmp(red, "none"))
        P("    double total = 0;\n");
    P("    for (int64_t i = 0; i < %lld; i++) {\n", (long long)N_);
    emit_row_softmax_stats(t, f, C);
    P("        const double loss = x1[i] >= 0 && x1[i] < %lld ? (double)m + log(se) - (double)row[x1[i]] : NAN;\n", (long long)C);
    if (stored(ce->id))
        P(!strcmp(red, "none") ? "        out[i] = (%s)loss;\n" : "        total += loss;\n", t);
    if (!strcmp(red, "none"))
        P("        const double scale = (double)%s[i];\n", dl);
    else if (!strcmp(red, "mean"))
        P("        const double scale = (double)%s[0] / %lld;\n", dl, (long long)N_);
    else
        P("        const double scale = (double)%s[0];\n", dl);
    P("        for (int64_t c = 0; c < %lld; c++)\n", (long long)C);
    P("            %s[i * %lld + c] = x1[i] >= 0 && x1[i] < %lld ? (%s)((exp%s(row[c] - m) / se - (c == x1[i])) * scale) : NAN;\n",
      gout, (long long)C, (long long)C, t, f);
    P("    }\n");
    if (strcmp(red, "none") && stored(ce->id))
        P("    out[0] = (%s)(total%s);\n", t, !strcmp(red, "mean") ? ir_fmt(" / %lld", (long long)N_) : "");
    else if (strcmp(red, "none"))
        P("    (void)total;\n");
    P("}\n");
}
