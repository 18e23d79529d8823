/*
 * conv.c: conv2d and its two gradients (conv2d_bwd_input: dL/dx, conv2d_bwd_weight: dL/dw).
 *
 * Each op has several forms, and which one a kernel gets is a rule of its shapes (the end of
 * this file, docs/kernels.md), never a timing, so the same .tg always gives the same file:
 * plain loops (any groups, any shape), register tiles that read unpadded stride-1 rows in
 * place, matrix products over a packed im2col panel (strided or narrow outputs), and, for
 * narrow unpadded outputs with many channels, the output channels in the SIMD lanes.
 */
#include "emit.h"

#include <string.h>

/* ---- convolution as plain loops ---- */

static void emit_conv2d_loops(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t Nb = x->shape.d[0], C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    int64_t O = w->shape.d[0], Cg = w->shape.d[1], KH = w->shape.d[2], KW = w->shape.d[3];
    int64_t OH = n->shape.d[2], OW = n->shape.d[3];
    const int64_t *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL),
                  *dl = node_ints(n, "dilation", NULL);
    int64_t G = node_int(n, "groups", 1), Og = O ? O / G : 1; /* no output channels: a k loop of 0 trips, no "k / 0" */
    const char *t = dtype_ctype(n->dtype);
    bool pad = pd[0] || pd[1];
    if (worth_parallel(Nb * O * OH * OW * Cg * KH * KW))
        cg_pragma(4, "#pragma omp parallel for%s", NULL, 2);
    emit_for(4, "n", Nb, NULL);
    emit_for(8, "k", O, "            /* output channel */");
    emit_for(12, "h", OH, NULL);
    emit_for(16, "w", OW, " {");
    P("                    %s acc = %s;\n", t, n->nin == 3 ? "bias[k]" : cg_literal(0, n->dtype));
    if (G > 1)
        P("                    const int64_t c0 = %s;   /* first input channel of k's group */\n",
          ix_mul(ix_div("k", Og), Cg));
    emit_for(20, "c", Cg, NULL);
    (pad ? cg_for_cont : cg_for)(24, "int64_t", "r", 0, KH, 1, " {");
    P("                            const int64_t ih = %s;\n", ix_tap("h", st[0], "r", dl[0], pd[0]));
    if (pad)
        P("                            if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    (pad ? cg_for_cont : cg_for)(28, "int64_t", "s", 0, KW, 1, " {");
    P("                                const int64_t iw = %s;\n", ix_tap("w", st[1], "s", dl[1], pd[1]));
    if (pad)
        P("                                if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
    P("                                acc += x[%s] *\n", ix_4d("n", G > 1 ? "c0 + c" : "c", "ih", "iw", C, H, W));
    P("                                       weight[%s];\n", ix_4d("k", "c", "r", "s", Cg, KH, KW));
    cg_end();
    cg_end();
    cg_end();
    emit_store(20, ix_4d("n", "k", "h", "w", O, OH, OW), "acc");
    for (int i = 0; i < 4; i++)
        cg_end();
    P("}\n");
}

static void emit_conv2d_bwd_input_loops(const Node *n) {
    emit_kernel_open();
    Node *dy = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t Nb = n->shape.d[0], C = n->shape.d[1], H = n->shape.d[2], W = n->shape.d[3];
    int64_t O = w->shape.d[0], Cg = w->shape.d[1], KH = w->shape.d[2], KW = w->shape.d[3];
    int64_t OH = dy->shape.d[2], OW = dy->shape.d[3];
    const int64_t *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL),
                  *dl = node_ints(n, "dilation", NULL);
    int64_t G = node_int(n, "groups", 1), Og = O ? O / G : 1; /* no output channels: a k loop of 0 trips, no "k / 0" */
    P("    /* dL/dx: every output gradient flows back to the inputs its window read, through w */\n");
    P("    memset(out, 0, %s);\n", ix_bytes(Nb * C * H * W, dtype_ctype(n->dtype)));
    emit_for(4, "n", Nb, NULL);
    emit_for(8, "k", O, " {");
    P("            const int64_t c0 = %s; /* first input channel of k's group */\n",
      ix_mul(ix_div("k", Og), Cg));
    emit_for(12, "h", OH, NULL);
    emit_for(16, "w", OW, " {");
    P("                    const %s g = dy[%s];\n", dtype_ctype(n->dtype), ix_4d("n", "k", "h", "w", O, OH, OW));
    emit_for(20, "c", Cg, NULL);
    cg_for_cont(24, "int64_t", "r", 0, KH, 1, " {");
    P("                            const int64_t ih = %s;\n", ix_tap("h", st[0], "r", dl[0], pd[0]));
    P("                            if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    cg_for_cont(28, "int64_t", "s", 0, KW, 1, " {");
    P("                                const int64_t iw = %s;\n", ix_tap("w", st[1], "s", dl[1], pd[1]));
    P("                                if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
    P("                                out[%s] +=\n", ix_4d("n", "c0 + c", "ih", "iw", C, H, W));
    P("                                    g * weight[%s];\n", ix_4d("k", "c", "r", "s", Cg, KH, KW));
    for (int i = 0; i < 7; i++)
        cg_end();
    P("}\n");
}

static void emit_conv2d_bwd_weight_loops(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0), *dy = IN((Node *)n, 1);
    int64_t Nb = x->shape.d[0], C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    int64_t O = n->shape.d[0], Cg = n->shape.d[1], KH = n->shape.d[2], KW = n->shape.d[3];
    int64_t OH = dy->shape.d[2], OW = dy->shape.d[3];
    const int64_t *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL),
                  *dl = node_ints(n, "dilation", NULL);
    int64_t G = node_int(n, "groups", 1), Og = O ? O / G : 1; /* no output channels: a k loop of 0 trips, no "k / 0" */
    const char *t = dtype_ctype(n->dtype);
    P("    /* dL/dw[k][c][r][s] = sum over the batch and output positions of dL/dy * the input it saw */\n");
    if (worth_parallel(O * Cg * KH * KW * Nb * OH * OW))
        cg_pragma(4, "#pragma omp parallel for%s", NULL, 1);
    emit_for(4, "k", O, NULL);
    emit_for(8, "c", Cg, NULL);
    emit_for(12, "r", KH, NULL);
    emit_for(16, "s", KW, " {");
    P("                    const int64_t ci = %s; /* input channel */\n",
      ix_add(ix_mul(ix_div("k", Og), Cg), "c"));
    P("                    %s acc = 0;\n", t);
    emit_for(20, "n", Nb, NULL);
    cg_for_cont(24, "int64_t", "h", 0, OH, 1, " {");
    P("                            const int64_t ih = %s;\n", ix_tap("h", st[0], "r", dl[0], pd[0]));
    P("                            if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
    cg_for_cont(28, "int64_t", "w", 0, OW, 1, " {");
    P("                                const int64_t iw = %s;\n", ix_tap("w", st[1], "s", dl[1], pd[1]));
    P("                                if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
    P("                                acc += dy[%s] *\n", ix_4d("n", "k", "h", "w", O, OH, OW));
    P("                                       x[%s];\n", ix_4d("n", "ci", "ih", "iw", C, H, W));
    cg_end();
    cg_end();
    cg_end();
    P("                    out[%s] = acc;\n", ix_4d("k", "c", "r", "s", Cg, KH, KW));
    for (int i = 0; i < 4; i++)
        cg_end();
    P("}\n");
}

/* ---- convolution, register-tiled ---- */

/* Sizes, in elements, of the local buffers the convolution kernels keep on a thread's stack:
 * accumulator registers of a GEMM tile, a packed panel, an image, the partial weight gradients. */
enum { GEMM_REGS = 12, GEMM_PANEL = 16384, GEMM_IMAGE = 32768, GEMM_PART = 65536 };

static int64_t lanes_of(DType dt) { return dt == DT_F64 ? 4 : 8; } /* one AVX2 register */
static int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

/*
 * The tile sizes of the direct convolutions: WB output columns (the SIMD lanes, two AVX2
 * vectors of floats at most) by OB output channels, as many as keep the accumulators in about
 * twelve vector registers. Rules, not timing: the same shapes always give the same file.
 */
static void conv_tile_sizes(int64_t O, int64_t OW, int64_t *ob, int64_t *wb) {
    *wb = OW < 16 ? OW : 16;
    int64_t vecs = (*wb + 7) / 8;
    *ob = 12 / vecs;
    if (*ob > O)
        *ob = O;
}

/*
 * One tile of conv2d: output channels [o0, o0 + OBn) of row h, columns [w0, w0 + WBn), summed
 * over c, r, s in the same order as the plain loop (so the same float results), with the
 * accumulators in a small local array the compiler keeps in registers. Columns whose window
 * leaves the input (padding) take a guarded path; the rest read straight rows.
 */
static void emit_conv_tile(const Node *n, int ind, int64_t OBn, const char *o0, int64_t WBn, int64_t w0) {
    Node *x = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    int64_t O = w->shape.d[0], KH = w->shape.d[2], KW = w->shape.d[3];
    int64_t OH = n->shape.d[2], OW = n->shape.d[3];
    const int64_t *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL),
                  *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype);
    bool inside = w0 * st[1] - pd[1] >= 0 && (w0 + WBn - 1) * st[1] + (KW - 1) * dl[1] - pd[1] < W;
    P("%*s{\n", ind, "");
    ind += 4;
    /* one column: one accumulator per channel, and the window's taps read in place */
    bool col = WBn == 1;
    const char *acc = col ? "acc[ob]" : "acc[ob][j]";
    if (col)
        P("%*s%s acc[%lld];\n", ind, "", t, (long long)OBn);
    else
        P("%*s%s acc[%lld][%lld];\n", ind, "", t, (long long)OBn, (long long)WBn);
    const char *init = n->nin == 3 ? ir_fmt("bias[%s]", ix_add(o0, "ob")) : cg_literal(0, n->dtype);
    emit_for_int(ind, "ob", OBn, NULL);
    if (col)
        P("%*s    acc[ob] = %s;\n", ind, "", init);
    else {
        emit_for_int(ind + 4, "j", WBn, NULL);
        P("%*s        acc[ob][j] = %s;\n", ind, "", init);
        cg_end();
    }
    cg_end();
    emit_for(ind, "c", C, NULL);
    (pd[0] ? cg_for_cont : cg_for)(ind + 4, "int64_t", "r", 0, KH, 1, " {");
    P("%*s        const int64_t ih = %s;\n", ind, "", ix_tap("h", st[0], "r", dl[0], pd[0]));
    if (pd[0])
        P("%*s        if (ih < 0 || ih >= %lld)\n%*s            continue;\n", ind, "", (long long)H, ind, "");
    P("%*s        const %s *xr = %s;\n", ind, "", t, ix_ptr("x", ix_4d("n", "c", "ih", "0", C, H, W)));
    P("%*s        const %s *wr = %s;\n", ind, "", t, ix_ptr("weight", ix_4d(o0, "c", "r", "0", C, KH, KW)));
    int64_t need = (WBn - 1) * st[1] + (KW - 1) * dl[1] + 1; /* input columns the tile's windows span */
    if (!inside) {
        /* some window reaches into the padding: the span, zero-padded, in a local row */
        P("%*s        %s row[%lld];\n", ind, "", t, (long long)need);
        emit_for_int(ind + 8, "k", need, " {");
        P("%*s            const int64_t iw = %s;\n", ind, "", ix_add(ix_int(w0 * st[1] - pd[1]), "k"));
        P("%*s            row[k] = iw >= 0 && iw < %lld ? xr[iw] : %s;\n", ind, "", (long long)W, cg_literal(0, n->dtype));
        cg_end();
    }
    emit_for(ind + 8, "s", KW, " {");
    int in = ind + 12;
    const char *tap = inside ? ix_add(ix_int(w0 * st[1] - pd[1]), ix_mul("s", dl[1])) : ix_mul("s", dl[1]);
    if (!col)
        P("%*sconst %s *xs = %s;\n", in, "", t, ix_ptr(inside ? "xr" : "row", tap));
    emit_for_int(in, "ob", OBn, " {");
    P("%*s    const %s wv = wr[%s];\n", in, "", t, ix_add(ix_mul("ob", C * KH * KW), "s"));
    if (col)
        P("%*s    acc[ob] += wv * %s[%s];\n", in, "", inside ? "xr" : "row", tap);
    else {
        cg_pragma(in + 4, "TG_SIMD%s", NULL, 1);
        emit_for_int(in + 4, "j", WBn, NULL);
        P("%*s        acc[ob][j] += wv * xs[%s];\n", in, "", ix_mul("j", st[1]));
        cg_end();
    }
    cg_end();
    cg_end();
    cg_end();
    cg_end();
    emit_for_int(ind, "ob", OBn, NULL);
    if (col)
        emit_store(ind + 4, ix_4d("n", ix_add(o0, "ob"), "h", ix_int(w0), O, OH, OW), acc);
    else {
        emit_for_int(ind + 4, "j", WBn, NULL);
        emit_store(ind + 8, ix_4d("n", ix_add(o0, "ob"), "h", ix_add(ix_int(w0), "j"), O, OH, OW), acc);
        cg_end();
    }
    cg_end();
    ind -= 4;
    P("%*s}\n", ind, "");
}

/* conv2d (one group) as register tiles: images and channel blocks in parallel when it pays. */
static void emit_conv2d_tiled(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t Nb = x->shape.d[0], O = w->shape.d[0], OH = n->shape.d[2], OW = n->shape.d[3];
    int64_t ob, wb;
    conv_tile_sizes(O, OW, &ob, &wb);
    int64_t nfull = O / ob, otail = O % ob;
    P("    /* tiles of %lld output channels x %lld columns; accumulators in registers */\n", (long long)ob,
      (long long)wb);
    /* threads share images and channel blocks: there must be more than one */
    bool par = worth_parallel(Nb * O * OH * OW * w->shape.d[1] * w->shape.d[2] * w->shape.d[3]) && Nb * nfull > 1;
    if (par)
        P("    #pragma omp parallel\n    {\n");
    for (int part = 0; part < 2; part++) {
        int64_t OBn = part == 0 ? ob : otail;
        if (!OBn || (part == 0 && !nfull))
            continue;
        /* the channel blocks' loop, or for one block its first channel */
        bool blocks = part == 0 && nfull > 1;
        const char *o0 = blocks ? "o0" : ix_int(part == 0 ? 0 : nfull * ob);
        if (par) /* the last channels' loop shares the threads: no wait between the two */
            cg_pragma(4, "#pragma omp for%s nowait", "#pragma omp single nowait", blocks ? 2 : 1);
        emit_for(4, "n", Nb, NULL);
        if (blocks)
            cg_for(8, "int64_t", "o0", 0, nfull * ob, ob, NULL);
        emit_for(blocks ? 12 : 8, "h", OH, " {");
        for (int64_t w0 = 0; w0 < OW; w0 += wb)
            emit_conv_tile(n, blocks ? 16 : 12, OBn, o0, OW - w0 < wb ? OW - w0 : wb, w0);
        cg_end();
        if (blocks)
            cg_end();
        cg_end();
    }
    if (par)
        P("    }\n");
    P("}\n");
}

/*
 * conv2d_bwd_weight as register tiles: for OBn output channels and one (c, r), the KW weights'
 * gradients are sums over every (n, h, w); each sum runs in 8 SIMD lanes over w and the lanes are
 * added at the end, in a fixed order (the result depends on the shapes only, never on threads).
 * Channel blocks and input channels are the parallel loop: each thread owns whole gradients.
 */
static void emit_conv2d_bwd_weight_tiled(const Node *n) {
    emit_kernel_open();
    Node *x = IN((Node *)n, 0), *dy = IN((Node *)n, 1);
    int64_t Nb = x->shape.d[0], C = x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    int64_t O = n->shape.d[0], KH = n->shape.d[2], KW = n->shape.d[3];
    int64_t OH = dy->shape.d[2], OW = dy->shape.d[3];
    const int64_t *st = node_ints(n, "stride", NULL), *pd = node_ints(n, "padding", NULL),
                  *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype), *zero = cg_literal(0, n->dtype);
    int64_t L = OW < lanes_of(n->dtype) ? OW : lanes_of(n->dtype); /* lanes: one register */
    int64_t ob = 12 / KW < 1 ? 1 : 12 / KW;
    if (ob > O)
        ob = O;
    /* the columns in whole chunks of L lanes, then the rest: a partial chunk gets accumulators and a
     * pass over the rows of its own, so that neither set leaves the registers */
    int64_t wfull = OW / L * L, wrest = OW - wfull;
    bool guard = pd[0] || (OH - 1) * st[0] + (KH - 1) * dl[0] >= H;
    P("    /* dL/dw[o][c][r][s] = sum over n, h, w of dL/dy[n][o][h][w] * x[n][c][ih][iw]: %lld channels x %lld taps"
      " per tile, %lld lanes over w */\n", (long long)ob, (long long)KW, (long long)L);
    for (int part = 0; part < 2; part++) {
        int64_t OBn = part == 0 ? ob : O % ob, nfull = O / ob;
        if (!OBn || (part == 0 && !nfull))
            continue;
        const char *o0 = part == 0 ? "o0" : ix_int(nfull * ob);
        if (worth_parallel(O * C * KH * KW * Nb * OH * OW))
            cg_pragma(4, "#pragma omp parallel for%s", NULL, part == 0 ? 3 : 2);
        if (part == 0)
            cg_for(4, "int64_t", "o0", 0, nfull * ob, ob, NULL);
        emit_for(4, "c", C, NULL);
        emit_for(8, "r", KH, " {");
        P("            %s sum[%lld][%lld];\n", t, (long long)OBn, (long long)KW);
        for (int pass = 0; pass < 2; pass++) {
            int64_t lanes = pass == 0 ? L : wrest, wa = pass == 0 ? 0 : wfull, wb = pass == 0 ? wfull : OW;
            if (wa == wb)
                continue;
            P("            {\n");
            P("            %s acc[%lld][%lld][%lld]; /* columns %lld to %lld */\n", t, (long long)OBn, (long long)KW,
              (long long)lanes, (long long)wa, (long long)wb - 1);
            emit_for_int(12, "ob", OBn, NULL);
            emit_for_int(16, "s", KW, NULL);
            emit_for_int(20, "l", lanes, NULL);
            P("                        acc[ob][s][l] = %s;\n", zero);
            cg_end();
            cg_end();
            cg_end();
            emit_for(12, "n", Nb, NULL);
            (guard ? cg_for_cont : cg_for)(16, "int64_t", "h", 0, OH, 1, " {");
            P("                    const int64_t ih = %s;\n", ix_tap("h", st[0], "r", dl[0], pd[0]));
            if (guard)
                P("                    if (ih < 0 || ih >= %lld)\n                        continue;\n", (long long)H);
            P("                    const %s *xr = %s;\n", t, ix_ptr("x", ix_4d("n", "c", "ih", "0", C, H, W)));
            P("                    const %s *gr = %s;\n", t, ix_ptr("dy", ix_4d("n", o0, "h", "0", O, OH, OW)));
            /* a chunk whose windows reach into the padding reads through a guard */
            for (int64_t w0 = wa; w0 < wb; w0 += lanes) {
                int64_t wn = lanes;
                bool inside = w0 * st[1] - pd[1] >= 0 && (w0 + wn - 1) * st[1] + (KW - 1) * dl[1] - pd[1] < W;
                emit_for_int(20, "s", KW, " {");
                if (inside)
                    P("                        const %s *xs = %s;\n", t,
                      ix_ptr("xr", ix_add(ix_int(w0 * st[1] - pd[1]), ix_mul("s", dl[1]))));
                else {
                    P("                        %s xs[%lld];\n", t, (long long)(wn * st[1]));
                    emit_for_int(24, "l", wn, " {");
                    P("                            const int64_t iw = %s;\n",
                      ix_add(ix_add(ix_int(w0 * st[1] - pd[1]), ix_mul("l", st[1])), ix_mul("s", dl[1])));
                    P("                            xs[%s] = iw >= 0 && iw < %lld ? xr[iw] : %s;\n", ix_mul("l", st[1]),
                      (long long)W, zero);
                    cg_end();
                }
                emit_for_int(24, "ob", OBn, " {");
                P("                            const %s *g = %s;\n", t, ix_ptr("gr", ix_addk(ix_mul("ob", OH * OW), w0)));
                cg_pragma(28, "TG_SIMD%s", NULL, 1);
                emit_for_int(28, "l", wn, NULL);
                P("                                acc[ob][s][l] += g[l] * xs[%s];\n", ix_mul("l", st[1]));
                cg_end();
                cg_end();
                cg_end();
            }
            cg_end();
            cg_end();
            emit_for_int(12, "ob", OBn, NULL);
            emit_for_int(16, "s", KW, " {");
            P("                    %s total = %s;\n", t, pass == 0 ? zero : "sum[ob][s]");
            emit_for_int(20, "l", lanes, NULL);
            P("                        total += acc[ob][s][l];\n");
            cg_end();
            P("                    sum[ob][s] = total;\n");
            cg_end();
            cg_end();
            P("            }\n");
        }
        emit_for_int(12, "ob", OBn, NULL);
        emit_for_int(16, "s", KW, NULL);
        P("                    out[%s] = sum[ob][s];\n", ix_4d(ix_add(o0, "ob"), "c", "r", "s", C, KH, KW));
        cg_end();
        cg_end();
        cg_end();
        cg_end();
        if (part == 0)
            cg_end();
    }
    P("}\n");
}

/*
 * conv2d_bwd_input as register tiles, for stride 1 (kernel_gathers): each input element's
 * gradient gathers, over o, r, s, the output gradients whose windows read it, times the weight
 * that read it. Tiles of CBn input channels x WBn columns of one row; rows and columns whose
 * windows fall outside dL/dy are skipped or read through a guard. Every element is written once,
 * so an epilogue (the relu mask) runs at the store.
 */
static void emit_conv_bwd_input_tile(const Node *n, int ind, int64_t CBn, const char *c0, int64_t WBn, int64_t w0,
                                     int64_t lp, int64_t owp) {
    Node *dy = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t C = n->shape.d[1], H = n->shape.d[2], W = n->shape.d[3];
    int64_t O = w->shape.d[0], KH = w->shape.d[2], KW = w->shape.d[3];
    int64_t OH = dy->shape.d[2], OW = dy->shape.d[3];
    const int64_t *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype), *zero = cg_literal(0, n->dtype);
    /* lane j, tap s reads dL/dy column w0 + j + pd - s * dl */
    /* with dL/dy padded (lp >= 0), the tile computes whole SIMD registers and stores WBn columns */
    int64_t WC = lp >= 0 ? round_up(WBn, lanes_of(n->dtype)) : WBn;
    bool inside = lp >= 0 || (w0 + pd[1] - (KW - 1) * dl[1] >= 0 && w0 + WBn - 1 + pd[1] < OW);
    P("%*s{\n", ind, "");
    ind += 4;
    P("%*s%s acc[%lld][%lld];\n", ind, "", t, (long long)CBn, (long long)WC);
    emit_for_int(ind, "cb", CBn, NULL);
    emit_for_int(ind + 4, "j", WC, NULL);
    P("%*s        acc[cb][j] = %s;\n", ind, "", zero);
    cg_end();
    cg_end();
    emit_for(ind, "o", O, NULL);
    cg_for_cont(ind + 4, "int64_t", "r", 0, KH, 1, " {");
    P("%*s        const int64_t h = %s;\n", ind, "", ix_sub(ix_addk("ih", pd[0]), ix_mul("r", dl[0])));
    P("%*s        if (h < 0 || h >= %lld)\n%*s            continue;\n", ind, "", (long long)OH, ind, "");
    if (lp >= 0) /* dL/dy's rows padded with zeros in gpad: every tile reads inside */
        P("%*s        const %s *gr = %s;\n", ind, "", t, ix_ptr("gpad", ix_mul(ix_add(ix_mul("o", OH), "h"), owp)));
    else
        P("%*s        const %s *gr = %s;\n", ind, "", t, ix_ptr("dy", ix_4d("n", "o", "h", "0", O, OH, OW)));
    P("%*s        const %s *wr = %s;\n", ind, "", t, ix_ptr("weight", ix_4d("o", c0, "r", "0", C, KH, KW)));
    int64_t need = WBn + (KW - 1) * dl[1], first = w0 + pd[1] - (KW - 1) * dl[1];
    if (!inside) {
        /* the tile reads past dL/dy's edges: the columns it spans, zero-padded, in a local row */
        P("%*s        %s row[%lld];\n", ind, "", t, (long long)need);
        emit_for_int(ind + 8, "k", need, " {");
        P("%*s            const int64_t w = %s;\n", ind, "", ix_add(ix_int(first), "k"));
        P("%*s            row[k] = w >= 0 && w < %lld ? gr[w] : %s;\n", ind, "", (long long)OW, zero);
        cg_end();
    }
    emit_for(ind + 8, "s", KW, " {");
    int in = ind + 12;
    if (inside)
        P("%*sconst %s *gs = %s;\n", in, "", t,
          ix_ptr("gr", ix_sub(ix_int(w0 + pd[1] + (lp > 0 ? lp : 0)), ix_mul("s", dl[1]))));
    else
        P("%*sconst %s *gs = %s;\n", in, "", t, ix_ptr("row", ix_mul(ix_sub(ix_int(KW - 1), "s"), dl[1])));
    emit_for_int(in, "cb", CBn, " {");
    P("%*s    const %s wv = wr[%s];\n", in, "", t, ix_add(ix_mul("cb", KH * KW), "s"));
    cg_pragma(in + 4, "TG_SIMD%s", NULL, 1);
    emit_for_int(in + 4, "j", WC, NULL);
    P("%*s        acc[cb][j] += wv * gs[j];\n", in, "");
    cg_end();
    cg_end();
    cg_end();
    cg_end();
    cg_end();
    emit_for_int(ind, "cb", CBn, NULL);
    emit_for_int(ind + 4, "j", WBn, NULL);
    emit_store(ind + 8, ix_4d("n", ix_add(c0, "cb"), "ih", ix_add(ix_int(w0), "j"), C, H, W), "acc[cb][j]");
    cg_end();
    cg_end();
    ind -= 4;
    P("%*s}\n", ind, "");
}

static void emit_conv2d_bwd_input_tiled(const Node *n) {
    emit_kernel_open();
    Node *dy = IN((Node *)n, 0), *w = IN((Node *)n, 1);
    int64_t Nb = n->shape.d[0], C = n->shape.d[1], H = n->shape.d[2], W = n->shape.d[3];
    int64_t O = w->shape.d[0], KW = w->shape.d[3], OH = dy->shape.d[2], OW = dy->shape.d[3];
    const int64_t *pd = node_ints(n, "padding", NULL), *dl = node_ints(n, "dilation", NULL);
    const char *t = dtype_ctype(n->dtype);
    int64_t cb, wb;
    conv_tile_sizes(C, W, &cb, &wb);
    int64_t nfull = C / cb, ctail = C % cb;
    /* dL/dy's rows with the zeros the windows reach past its edges, per image, when that fits */
    int64_t lp = (KW - 1) * dl[1] - pd[1], rp = W - 1 + pd[1] - (OW - 1);
    lp = lp > 0 ? lp : 0, rp = rp > 0 ? rp : 0;
    int64_t owp = OW + lp + rp, lastw0 = (W - 1) / wb * wb;
    if (owp < lastw0 + round_up(W - lastw0, lanes_of(n->dtype)) + pd[1] + lp) /* the last tile's whole registers */
        owp = lastw0 + round_up(W - lastw0, lanes_of(n->dtype)) + pd[1] + lp;
    bool padded = O * OH * owp <= GEMM_IMAGE;
    P("    /* dL/dx[n][c][ih][iw] = sum over o, r, s of dL/dy[n][o][ih + pad - r][iw + pad - s] * w[o][c][r][s];"
      " tiles of %lld channels x %lld columns */\n", (long long)cb, (long long)wb);
    bool par = worth_parallel(Nb * C * H * W * w->shape.d[0] * w->shape.d[2] * w->shape.d[3]);
    if (padded) {
        if (par)
            cg_pragma(4, "#pragma omp parallel for%s", NULL, 1);
        emit_for(4, "n", Nb, " {");
        P("        %s gpad[%lld]; /* dL/dy's rows, %lld zeros left and %lld right */\n", t, (long long)(O * OH * owp),
          (long long)lp, (long long)rp);
        emit_for(8, "oh", O * OH, NULL);
        emit_for(12, "j", owp, NULL);
        P("                gpad[%s] = j >= %lld && j < %lld ? dy[%s] : %s;\n", ix_add(ix_mul("oh", owp), "j"), (long long)lp,
          (long long)(lp + OW), ix_sub(ix_add(ix_mul(ix_add(ix_mul("n", O * OH), "oh"), OW), "j"), ix_int(lp)),
          cg_literal(0, n->dtype));
        cg_end();
        cg_end();
    }
    for (int part = 0; part < 2; part++) {
        int64_t CBn = part == 0 ? cb : ctail;
        if (!CBn || (part == 0 && !nfull))
            continue;
        /* the channel blocks' loop, or for one block its first channel */
        bool blocks = part == 0 && nfull > 1;
        const char *c0 = blocks ? "c0" : ix_int(part == 0 ? 0 : nfull * cb);
        if (!padded) {
            if (part == 0 && par)
                cg_pragma(4, "#pragma omp parallel for%s", NULL, blocks ? 2 : 1);
            emit_for(4, "n", Nb, NULL);
        }
        if (blocks)
            cg_for(8, "int64_t", "c0", 0, nfull * cb, cb, NULL);
        emit_for(blocks ? 12 : 8, "ih", H, " {");
        for (int64_t w0 = 0; w0 < W; w0 += wb)
            emit_conv_bwd_input_tile(n, blocks ? 16 : 12, CBn, c0, W - w0 < wb ? W - w0 : wb, w0, padded ? lp : -1, owp);
        cg_end();
        if (blocks)
            cg_end();
        if (!padded)
            cg_end();
    }
    if (padded)
        cg_end();
    P("}\n");
}

/* ---- convolution as packed GEMM ---- */

/*
 * The three convolution ops as matrix products over the im2col matrix X[k][p] of an image
 * (k = (c, r, s) a tap, p = (oh, ow) an output position, X the input the tap reads there, zero in
 * the padding): y = w X, dL/dw = dL/dy X^T summed over the images, dL/dx = col2im(w^T dL/dy).
 * X is packed a panel of positions at a time into a local buffer, so strides, padding and
 * dilation cost nothing in the inner loops; every product runs through one micro-kernel: an
 * MR x NR tile of accumulators in registers (NR a multiple of the SIMD width), fed a broadcast
 * from A and a vector row from B per step. Tile sizes, panel sizes and the parallel partition
 * come from the shapes by the rules below, never from timing.
 */

typedef struct {
    int64_t N, C, H, W, O, KH, KW, OH, OW, K, P;
    const int64_t *st, *pd, *dl;
} ConvDims;

/* Dims of a conv2d (x, w -> y), conv2d_bwd_weight (x, dy -> dw) or conv2d_bwd_input (dy, w -> dx). */
static ConvDims conv_dims(const Node *n) {
    const Node *x, *w, *y;
    if (n->op == OP_CONV2D)
        x = IN((Node *)n, 0), w = IN((Node *)n, 1), y = n;
    else if (n->op == OP_CONV2D_BWD_WEIGHT)
        x = IN((Node *)n, 0), w = n, y = IN((Node *)n, 1);
    else
        x = n, w = IN((Node *)n, 1), y = IN((Node *)n, 0);
    ConvDims d = {x->shape.d[0], x->shape.d[1], x->shape.d[2], x->shape.d[3], w->shape.d[0], w->shape.d[2],
                  w->shape.d[3], y->shape.d[2], y->shape.d[3], 0, 0, node_ints(n, "stride", NULL),
                  node_ints(n, "padding", NULL), node_ints(n, "dilation", NULL)};
    d.K = d.C * d.KH * d.KW;
    d.P = d.OH * d.OW;
    return d;
}


/*
 * The micro-tile for an M x N product: MR rows by NR columns, MR * NR / lanes accumulator
 * registers at most GEMM_REGS. Each step loads NR / lanes vectors and broadcasts MR values for
 * MR * NR / lanes FMAs; the pick minimises the padded work divided by that ratio.
 */
static void gemm_tile(int64_t M, int64_t N, int64_t lanes, int64_t *mr, int64_t *nr) {
    double best = 0;
    for (int64_t m = 6; m >= 1; m--) {
        int64_t v = GEMM_REGS / m > 3 ? 3 : GEMM_REGS / m, n = v * lanes;
        if (n > round_up(N, lanes))
            n = round_up(N, lanes), v = n / lanes;
        double ratio = (double)(m * v) / (double)(m + v);
        double cost = (double)round_up(M, m) * (double)round_up(N, n) / ratio;
        if (best == 0 || cost < best - 1e-9)
            best = cost, *mr = m, *nr = n;
    }
}

/*
 * The loop over a GEMM's row tiles, part 0 the whole tiles of mr rows below `full`, part 1 the
 * one tile of the rows left (named `what`), then the tile's accumulators set to `init`.
 */
static void emit_row_tiles(int ind, int part, const char *v, int64_t full, int64_t mr, const char *what, bool brace) {
    if (part == 0)
        cg_for(ind, "int64_t", v, 0, full, mr, brace ? " {" : NULL);
    else /* one tile: no loop */
        cg_for(ind, "int64_t", v, full, full + 1, 1, ir_fmt("%s /* the last %s */", brace ? " {" : "", what));
}

static void emit_acc(int ind, const char *t, int64_t m, int64_t nr, const char *init) {
    P("%*s%s acc[%lld][%lld];\n", ind, "", t, (long long)m, (long long)nr);
    emit_for_int(ind, "i", m, NULL);
    emit_for_int(ind + 4, "j", nr, NULL);
    P("%*s        acc[i][j] = %s;\n", ind, "", init);
    cg_end();
    cg_end();
}

/* acc[i][j] += sum over q < kk of a[i * ais + q * aks] * b[q * bks + j]: the micro-kernel. kk is
 * np (the positions of a panel, at run time) where kn < 0. */
static void emit_micro(int ind, const char *t, int64_t mr, int64_t nr, int64_t kn, const char *a, int64_t ais,
                       int64_t aks, const char *b, int64_t bks) {
    if (kn < 0)
        P("%*sfor (int64_t q = 0; q < np; q++) {\n", ind, "");
    else
        emit_for(ind, "q", kn, " {");
    P("%*s    const %s *bq = %s;\n", ind, "", t, ix_ptr(b, ix_mul("q", bks)));
    emit_for_int(ind + 4, "i", mr, " {");
    P("%*s        const %s av = %s[%s];\n", ind, "", t, a, ix_add(ix_mul("i", ais), ix_mul("q", aks)));
    cg_pragma(ind + 8, "TG_SIMD%s", NULL, 1);
    emit_for_int(ind + 8, "j", nr, NULL);
    P("%*s            acc[i][j] += av * bq[j];\n", ind, "");
    cg_end();
    cg_end();
    if (kn < 0)
        P("%*s}\n", ind, "");
    else
        cg_end();
}

/*
 * The im2col walk of image `img` (C x H x W at `xc`) for taps k of [k0, k0 + kn) and positions
 * [p0, p0 + np): with add false, col[kk * ks + j * js] = X[k][p] (zero in the padding and for
 * k >= K); with add true, the reverse, xc[...] += col[...] over the positions inside the image
 * (col2im). Each output row's run of positions splits into the columns left of the image, those
 * inside (a straight or strided copy) and those right of it.
 */
static void emit_im2col(int ind, const ConvDims *d, const char *t, const char *xc, const char *col, const char *k0,
                        int64_t kn, int64_t ks, int64_t js, bool add) {
    const char *zero = "0";
    int64_t sw = d->st[1];
    (d->K % kn ? cg_for_cont : cg_for)(ind, "int64_t", "kk", 0, kn, 1, " {");
    ind += 4;
    P("%*sconst int64_t k = %s;\n", ind, "", ix_add(k0, "kk"));
    P("%*s%s%s *cd = %s;\n", ind, "", add ? "const " : "", t, ix_ptr(col, ix_mul("kk", ks)));
    if (!add && d->K % kn) /* the last block of taps passes the last tap: zeros */
        P("%*sif (k >= %lld) {\n%*s    for (int64_t j = 0; j < np; j++)\n%*s        cd[%s] = %s;\n%*s    continue;\n"
          "%*s}\n", ind, "", (long long)d->K, ind, "", ind, "", ix_mul("j", js), zero, ind, "", ind, "");
    else if (d->K % kn)
        P("%*sif (k >= %lld)\n%*s    continue;\n", ind, "", (long long)d->K, ind, "");
    P("%*sconst int64_t c = %s, r = %s, s = %s;\n", ind, "", ix_div("k", d->KH * d->KW),
      ix_mod(ix_div("k", d->KW), d->KH), ix_mod("k", d->KW));
    P("%*s/* output columns [lo, hi) read inside the image's width at this tap */\n", ind, "");
    P("%*sconst int64_t ln = %s, hn = %s;\n", ind, "", ix_sub(ix_int(d->pd[1]), ix_mul("s", d->dl[1])),
      ix_sub(ix_int(d->W - 1 + d->pd[1]), ix_mul("s", d->dl[1])));
    P("%*sconst int64_t lo = ln <= 0 ? 0 : %s, hi0 = hn < 0 ? 0 : %s;\n", ind, "",
      sw == 1 ? "ln" : ir_fmt("(ln + %lld) / %lld", (long long)(sw - 1), (long long)sw),
      sw == 1 ? "hn + 1" : ir_fmt("hn / %lld + 1", (long long)sw));
    P("%*sconst int64_t hi = hi0 > %lld ? %lld : hi0;\n", ind, "", (long long)d->OW, (long long)d->OW);
    P("%*sint64_t oh = %s, ow = %s;\n", ind, "", ix_div("p0", d->OW), ix_mod("p0", d->OW));
    P("%*sfor (int64_t j = 0; j < np; oh++, ow = 0) {\n", ind, "");
    ind += 4;
    P("%*sconst int64_t e = ow + (np - j < %lld - ow ? np - j : %lld - ow); /* this row's columns: [ow, e) */\n", ind,
      "", (long long)d->OW, (long long)d->OW);
    P("%*sconst int64_t ih = %s;\n", ind, "", ix_tap("oh", d->st[0], "r", d->dl[0], d->pd[0]));
    P("%*sconst int64_t v0 = ih < 0 || ih >= %lld ? e : lo < ow ? ow : lo > e ? e : lo;\n", ind, "", (long long)d->H);
    P("%*sconst int64_t v1 = v0 == e || hi < v0 ? v0 : hi > e ? e : hi;\n", ind, "");
    P("%*sconst int64_t base = %s;\n", ind, "",
      ix_addk(ix_add(ix_add(ix_mul("c", d->H * d->W), ix_mul("ih", d->W)), ix_mul("s", d->dl[1])), -d->pd[1]));
    P("%*sconst int64_t jo = j - ow; /* column q goes to position jo + q */\n", ind, "");
    const char *to = ix_mul("jo + q", js), *from = ix_add("base", ix_mul("q", sw));
    if (!add) {
        P("%*sfor (int64_t q = ow; q < v0; q++)\n%*s    cd[%s] = %s;\n", ind, "", ind, "", to, zero);
        P("%*sfor (int64_t q = v0; q < v1; q++)\n%*s    cd[%s] = %s[%s];\n", ind, "", ind, "", to, xc, from);
        P("%*sfor (int64_t q = v1; q < e; q++)\n%*s    cd[%s] = %s;\n", ind, "", ind, "", to, zero);
    } else {
        P("%*sfor (int64_t q = v0; q < v1; q++)\n%*s    %s[%s] += cd[%s];\n", ind, "", ind, "", xc, from, to);
    }
    P("%*sj += e - ow;\n", ind, "");
    ind -= 4;
    P("%*s}\n", ind, "");
    cg_end();
}

/* Is the shape one the GEMM kernels take (one group, floats, nothing empty, buffers that fit a
 * thread's stack)? */
static bool conv_gemm_ok(const Node *n) {
    if (node_int(n, "groups", 1) != 1 || !dtype_is_float(n->dtype) || !shape_numel(n->shape))
        return false;
    for (int i = 0; i < 2; i++)
        if (!shape_numel(IN((Node *)n, i)->shape))
            return false;
    ConvDims d = conv_dims(n);
    int64_t mr, nr, L = lanes_of(n->dtype);
    switch (n->op) {
    case OP_CONV2D:
        gemm_tile(d.O, d.P, L, &mr, &nr);
        return d.K * nr <= 2 * GEMM_PANEL;
    case OP_CONV2D_BWD_WEIGHT:
        gemm_tile(d.O, d.K, L, &mr, &nr);
        return d.O * nr <= GEMM_PANEL;
    default:
        gemm_tile(d.K, d.P, L, &mr, &nr);
        return d.C * d.H * d.W <= GEMM_IMAGE && (d.K + d.O) * nr <= 2 * GEMM_PANEL;
    }
}

/*
 * Which convolutions take the GEMM kernels: strided ones, whose direct kernels would read the
 * input with gaps, and those with outputs narrower than a SIMD register. The direct kernels
 * (above) read unpadded stride-1 rows in place and beat packing for few channels, as on LeNet.
 */
static bool conv_gemm(const Node *n) {
    if (!conv_gemm_ok(n))
        return false;
    ConvDims d = conv_dims(n);
    return d.st[0] != 1 || d.st[1] != 1 || (n->op == OP_CONV2D_BWD_INPUT ? d.W : d.OW) < lanes_of(n->dtype);
}

/* Positions per packed panel: a multiple of nr, `per` values each, about GEMM_PANEL in all. */
static int64_t gemm_panel(int64_t per, int64_t nr, int64_t P) {
    int64_t pb = GEMM_PANEL / per / nr * nr;
    if (pb < nr)
        pb = nr;
    return pb > round_up(P, nr) ? round_up(P, nr) : pb;
}

/* y[n][o][p] = bias[o] + sum over k of w[o][k] X[k][p]: tiles of output channels x positions. */
static void emit_conv2d_gemm(const Node *n) {
    emit_kernel_open();
    ConvDims d = conv_dims(n);
    const char *t = dtype_ctype(n->dtype);
    int64_t mr, nr;
    gemm_tile(d.O, d.P, lanes_of(n->dtype), &mr, &nr);
    int64_t pb = gemm_panel(d.K, nr, d.P), nch = (d.P + pb - 1) / pb;
    P("    /* y = w X + b, X the im2col matrix (%lld taps x %lld positions) packed %lld positions at a time;"
      " tiles of %lld channels x %lld positions */\n", (long long)d.K, (long long)d.P, (long long)pb, (long long)mr,
      (long long)nr);
    if (worth_parallel(d.N * d.O * d.P * d.K))
        cg_pragma(4, "#pragma omp parallel for%s", NULL, 2);
    emit_for(4, "n", d.N, NULL);
    emit_for(8, "pc", nch, " {");
    P("            const int64_t p0 = %s, np = %lld - p0 < %lld ? %lld - p0 : %lld;\n", ix_mul("pc", pb), (long long)d.P,
      (long long)pb, (long long)d.P, (long long)pb);
    P("            %s col[%lld];\n", t, (long long)(d.K * pb));
    P("            const %s *xc = %s;\n", t, ix_ptr("x", ix_mul("n", d.C * d.H * d.W)));
    emit_im2col(12, &d, t, "xc", "col", "0", d.K, pb, 1, false);
    if (d.P % nr) {
        emit_for(12, "k", d.K, " /* the last tile's columns past the end */");
        P("                for (int64_t j = np; j < (np + %lld) / %lld * %lld; j++)\n", (long long)(nr - 1),
          (long long)nr, (long long)nr);
        P("                    col[%s] = 0;\n", ix_add(ix_mul("k", pb), "j"));
        cg_end();
    }
    int64_t full = d.O / mr * mr;
    for (int part = 0; part < 2; part++) {
        int64_t m = part == 0 ? mr : d.O - full;
        if (!m || (part == 0 && !full))
            continue;
        emit_row_tiles(12, part, "o0", full, mr, "channels", false);
        P("                for (int64_t j0 = 0; j0 < np; j0 += %lld) {\n", (long long)nr);
        emit_acc(20, t, m, nr, n->nin == 3 ? "bias[o0 + i]" : cg_literal(0, n->dtype));
        P("                    const %s *wo = %s, *cj = col + j0;\n", t, ix_ptr("weight", ix_mul("o0", d.K)));
        emit_micro(20, t, m, nr, d.K, "wo", d.K, 1, "cj", pb);
        P("                    const int jn = np - j0 < %lld ? (int)(np - j0) : %lld;\n", (long long)nr, (long long)nr);
        emit_for_int(20, "i", m, NULL);
        P("                        for (int j = 0; j < jn; j++)\n");
        emit_store(28, ix_add(ix_mul(ix_add(ix_mul("n", d.O), "o0 + i"), d.P), "p0 + j0 + j"), "acc[i][j]");
        cg_end();
        P("                }\n");
        cg_end();
    }
    cg_end();
    cg_end();
    P("}\n");
}

/*
 * dL/dw[o][k] = sum over images n and positions p of dL/dy[n][o][p] X_n[k][p], as outer products:
 * blocks of nr taps, X^T packed for them, tiles of channels x taps accumulated over p in order.
 * The batch splits into a fixed number of parts (a rule of the shapes, never of the threads),
 * each summing its images into its own partial gradient; the parts are added in order, so the
 * result is the same for any number of threads.
 */
static void emit_conv2d_bwd_weight_gemm(const Node *n) {
    emit_kernel_open();
    ConvDims d = conv_dims(n);
    const char *t = dtype_ctype(n->dtype);
    int64_t mr, nr;
    gemm_tile(d.O, d.K, lanes_of(n->dtype), &mr, &nr);
    int64_t nkb = (d.K + nr - 1) / nr, pb = d.P < 256 ? d.P : 256, parts = 1;
    if (nkb < 8 && d.N > 1)
        parts = (8 + nkb - 1) / nkb < d.N ? (8 + nkb - 1) / nkb : d.N;
    while (parts > 1 && parts * d.O * d.K > GEMM_PART)
        parts--;
    int64_t per = d.N ? (d.N + parts - 1) / parts : 1;
    parts = d.N ? (d.N + per - 1) / per : 1;
    P("    /* dL/dw = sum over images of dL/dy X^T: blocks of %lld taps, tiles of %lld channels; %lld part%s of %lld"
      " image%s */\n", (long long)nr, (long long)mr, (long long)parts, parts > 1 ? "s" : "", (long long)per,
      per > 1 ? "s" : "");
    if (parts > 1)
        P("    %s part[%lld][%lld];\n", t, (long long)parts, (long long)(d.O * d.K));
    /* one part: no loop over parts, and the body four columns to the left */
    int b = parts > 1 ? 4 : 0;
    if (worth_parallel(d.N * d.O * d.P * d.K))
        cg_pragma(4, "#pragma omp parallel for%s", NULL, parts > 1 ? 2 : 1);
    if (parts > 1)
        emit_for(4, "pt", parts, NULL);
    emit_for(4 + b, "kb", nkb, " {");
    P("%*s%s wacc[%lld], colT[%lld];\n", 8 + b, "", t, (long long)(d.O * nr), (long long)(pb * nr));
    emit_for(8 + b, "i", d.O * nr, NULL);
    P("%*swacc[i] = %s;\n", 12 + b, "", cg_literal(0, n->dtype));
    cg_end();
    if (parts == 1)
        emit_for(8, "n", d.N, NULL);
    else if (per == 1) /* a part of one image */
        P("%*s{\n%*sconst int64_t n = pt;\n", 8 + b, "", 12 + b, "");
    else
        P("%*sfor (int64_t n = %s; n < %lld && n < %s; n++)\n", 8 + b, "", ix_mul("pt", per), (long long)d.N,
          ix_mul("(pt + 1)", per));
    cg_for(12 + b, "int64_t", "p0", 0, d.P, pb, " {");
    P("%*sconst int64_t np = %lld - p0 < %lld ? %lld - p0 : %lld;\n", 16 + b, "", (long long)d.P, (long long)pb,
      (long long)d.P, (long long)pb);
    P("%*sconst %s *xc = %s;\n", 16 + b, "", t, ix_ptr("x", ix_mul("n", d.C * d.H * d.W)));
    emit_im2col(16 + b, &d, t, "xc", "colT", ix_mul("kb", nr), nr, 1, nr, false);
    int64_t full = d.O / mr * mr;
    for (int part = 0; part < 2; part++) {
        int64_t m = part == 0 ? mr : d.O - full;
        if (!m || (part == 0 && !full))
            continue;
        emit_row_tiles(16 + b, part, "o0", full, mr, "channels", true);
        emit_acc(20 + b, t, m, nr, ir_fmt("wacc[%s]", ix_add(ix_mul("o0 + i", nr), "j")));
        P("%*sconst %s *gy = %s;\n", 20 + b, "", t, ix_ptr("dy", ix_add(ix_mul(ix_add(ix_mul("n", d.O), "o0"), d.P), "p0")));
        emit_micro(20 + b, t, m, nr, -1, "gy", d.P, 1, "colT", nr);
        emit_for_int(20 + b, "i", m, NULL);
        emit_for_int(24 + b, "j", nr, NULL);
        P("%*swacc[%s] = acc[i][j];\n", 28 + b, "", ix_add(ix_mul("o0 + i", nr), "j"));
        cg_end();
        cg_end();
        cg_end();
    }
    cg_end();
    if (parts > 1 && per == 1)
        P("%*s}\n", 8 + b, "");
    else if (parts == 1)
        cg_end();
    P("%*sconst int64_t kn = %lld - %s < %lld ? %lld - %s : %lld;\n", 8 + b, "", (long long)d.K, ix_mul("kb", nr),
      (long long)nr, (long long)d.K, ix_mul("kb", nr), (long long)nr);
    emit_for(8 + b, "o", d.O, NULL);
    P("%*sfor (int64_t j = 0; j < kn; j++)\n", 12 + b, "");
    P("%*s%s[%s] = wacc[%s];\n", 16 + b, "", parts > 1 ? "part[pt]" : "out",
      ix_add(ix_add(ix_mul("o", d.K), ix_mul("kb", nr)), "j"), ix_add(ix_mul("o", nr), "j"));
    cg_end();
    cg_end();
    if (parts > 1)
        cg_end();
    if (parts > 1) {
        emit_for(4, "e", d.O * d.K, " { /* the parts in order */");
        P("        %s s = part[0][e];\n", t);
        cg_for(8, "int64_t", "pt", 1, parts, 1, NULL);
        P("            s += part[pt][e];\n");
        cg_end();
        P("        out[e] = s;\n");
        cg_end();
    }
    P("}\n");
}

/*
 * dL/dx of an image = col2im(w^T dL/dy): per panel of positions, the taps' gradients dcol =
 * w^T dL/dy (tiles of taps x positions, summed over the output channels), then each added to the
 * input element it read, in a local image. The image is stored at the end, element by element
 * (through an epilogue, the relu mask, when there is one), so images run in parallel.
 */
static void emit_conv2d_bwd_input_gemm(const Node *n) {
    emit_kernel_open();
    ConvDims d = conv_dims(n);
    const char *t = dtype_ctype(n->dtype);
    int64_t mr, nr, chw = d.C * d.H * d.W;
    gemm_tile(d.K, d.P, lanes_of(n->dtype), &mr, &nr);
    int64_t pb = gemm_panel(d.K + d.O, nr, d.P);
    P("    /* dL/dx = col2im(w^T dL/dy), %lld positions at a time; tiles of %lld taps x %lld positions */\n",
      (long long)pb, (long long)mr, (long long)nr);
    if (worth_parallel(d.N * d.O * d.P * d.K))
        cg_pragma(4, "#pragma omp parallel for%s", NULL, 1);
    emit_for(4, "n", d.N, " {");
    P("        %s img[%lld], gp[%lld], dcol[%lld];\n", t, (long long)chw, (long long)(d.O * pb), (long long)(d.K * pb));
    emit_for(8, "e", chw, NULL);
    P("            img[e] = %s;\n", cg_literal(0, n->dtype));
    cg_end();
    cg_for(8, "int64_t", "p0", 0, d.P, pb, " {");
    P("            const int64_t np = %lld - p0 < %lld ? %lld - p0 : %lld, npad = (np + %lld) / %lld * %lld;\n",
      (long long)d.P, (long long)pb, (long long)d.P, (long long)pb, (long long)(nr - 1), (long long)nr, (long long)nr);
    emit_for(12, "o", d.O, NULL);
    P("                for (int64_t j = 0; j < npad; j++)\n");
    P("                    gp[%s] = j < np ? dy[%s] : %s;\n", ix_add(ix_mul("o", pb), "j"),
      ix_add(ix_mul(ix_add(ix_mul("n", d.O), "o"), d.P), "p0 + j"), cg_literal(0, n->dtype));
    cg_end();
    int64_t full = d.K / mr * mr;
    for (int part = 0; part < 2; part++) {
        int64_t m = part == 0 ? mr : d.K - full;
        if (!m || (part == 0 && !full))
            continue;
        emit_row_tiles(12, part, "k0", full, mr, "taps", false);
        P("                for (int64_t j0 = 0; j0 < np; j0 += %lld) {\n", (long long)nr);
        emit_acc(20, t, m, nr, cg_literal(0, n->dtype));
        P("                    const %s *wk = %s, *gj = gp + j0;\n", t, ix_ptr("weight", "k0"));
        emit_micro(20, t, m, nr, d.O, "wk", 1, d.K, "gj", pb);
        emit_for_int(20, "i", m, NULL);
        emit_for_int(24, "j", nr, NULL);
        P("                            dcol[%s] = acc[i][j];\n", ix_add(ix_mul("k0 + i", pb), "j0 + j"));
        cg_end();
        cg_end();
        P("                }\n");
        cg_end();
    }
    emit_im2col(12, &d, t, "img", "dcol", "0", d.K, pb, 1, true);
    cg_end();
    emit_for(8, "e", chw, NULL);
    if (cg_grouped() && kernel_epilogue(n) == EPI_SCATTER)
        P("            out[%s] = img[e];\n", ix_add(ix_mul("n", chw), "e"));
    else
        emit_store(12, ix_add(ix_mul("n", chw), "e"), "img[e]");
    cg_end();
    cg_end();
    P("}\n");
}

/* ---- convolution with output channels in the SIMD lanes ---- */

/*
 * Narrow outputs (LeNet's second layer: 10 columns) fill the width-tiled kernel's registers
 * badly; with enough output channels, the lanes can run over them instead. Unpadded, one group,
 * channels a multiple of the SIMD width, the weights small enough to transpose on the stack,
 * and fewer lanes wasted than across the width.
 */
static bool conv_chan_lanes(const Node *n) {
    if (n->op != OP_CONV2D || node_int(n, "groups", 1) != 1 || !dtype_is_float(n->dtype) || !shape_numel(n->shape) ||
        !shape_numel(IN((Node *)n, 1)->shape))
        return false;
    ConvDims d = conv_dims(n);
    int64_t L = lanes_of(n->dtype);
    if (d.pd[0] || d.pd[1] || d.O % L || d.O * d.K > GEMM_PANEL)
        return false;
    int64_t wb = d.OW < 2 * L ? d.OW : 2 * L;
    return (double)d.OW / (double)round_up(d.OW, L) < 1.0 && wb < 2 * L;
}

/* One tile: positions [w0, w0 + wt) of row h, channels [ob0, ob0 + ov * L). */
static void emit_conv_chan_tile(const Node *n, const ConvDims *d, int ind, int64_t wt, int64_t ov, const char *w0) {
    const char *t = dtype_ctype(n->dtype);
    int64_t L = lanes_of(n->dtype), nc = ov * L;
    P("%*s{\n", ind, "");
    ind += 4;
    P("%*s%s acc[%lld][%lld];\n", ind, "", t, (long long)wt, (long long)nc);
    emit_for_int(ind, "i", wt, NULL);
    emit_for_int(ind + 4, "j", nc, NULL);
    P("%*s        acc[i][j] = %s;\n", ind, "", n->nin == 3 ? "bias[ob0 + j]" : cg_literal(0, n->dtype));
    cg_end();
    cg_end();
    emit_for(ind, "c", d->C, NULL);
    emit_for(ind + 4, "r", d->KH, " {");
    const char *row = ix_add(ix_mul(ix_add(ix_mul("n", d->C), "c"), d->H), ix_tap("h", d->st[0], "r", d->dl[0], 0));
    P("%*s        const %s *xr = %s;\n", ind, "", t, ix_ptr("x", ix_add(ix_mul(row, d->W), ix_mul(w0, d->st[1]))));
    P("%*s        const %s *wr = %s;\n", ind, "", t,
      ix_ptr("wt", ix_add(ix_mul(ix_add(ix_mul("c", d->KH), "r"), d->KW * d->O), "ob0")));
    emit_for(ind + 8, "s", d->KW, NULL);
    emit_for_int(ind + 12, "i", wt, " {");
    P("%*s                const %s xv = xr[%s];\n", ind, "", t, ix_add(ix_mul("i", d->st[1]), ix_mul("s", d->dl[1])));
    cg_pragma(ind + 16, "TG_SIMD%s", NULL, 1);
    emit_for_int(ind + 16, "j", nc, NULL);
    P("%*s                    acc[i][j] += xv * wr[%s];\n", ind, "", ix_add(ix_mul("s", d->O), "j"));
    for (int i = 0; i < 5; i++)
        cg_end();
    emit_for_int(ind, "j", nc, NULL);
    emit_for_int(ind + 4, "i", wt, NULL);
    emit_store(ind + 8, ix_4d("n", "ob0 + j", "h", ix_add(w0, "i"), d->O, d->OH, d->OW), "acc[i][j]");
    cg_end();
    cg_end();
    ind -= 4;
    P("%*s}\n", ind, "");
}

/*
 * y[n][o][h][w] = b[o] + sum over c, r, s of x[n][c][h + r][w + s] w[o][c][r][s], with the weights
 * transposed to [c][r][s][o] so that each input value, broadcast, meets a vector of output
 * channels: tiles of WT positions x OV registers of channels.
 */
static void emit_conv2d_chan(const Node *n) {
    emit_kernel_open();
    ConvDims d = conv_dims(n);
    const char *t = dtype_ctype(n->dtype);
    int64_t L = lanes_of(n->dtype), ov = d.O / L > 4 ? 4 : d.O / L;
    while ((d.O / L) % ov)
        ov--;
    int64_t wt = GEMM_REGS / ov, nwt = d.OW / wt, rest = d.OW % wt;
    if (wt > d.OW)
        wt = d.OW, nwt = 1, rest = 0;
    P("    /* output channels in the lanes: tiles of %lld positions x %lld channels, the weights transposed */\n",
      (long long)wt, (long long)(ov * L));
    P("    %s wt[%lld];\n", t, (long long)(d.O * d.K));
    emit_for(4, "o", d.O, NULL);
    emit_for(8, "k", d.K, NULL);
    P("            wt[%s] = weight[%s];\n", ix_add(ix_mul("k", d.O), "o"), ix_add(ix_mul("o", d.K), "k"));
    cg_end();
    cg_end();
    if (worth_parallel(d.N * d.O * d.P * d.K))
        cg_pragma(4, "#pragma omp parallel for%s", NULL, 2);
    emit_for(4, "n", d.N, NULL);
    emit_for(8, "h", d.OH, NULL);
    cg_for(12, "int64_t", "ob0", 0, d.O, ov * L, " {");
    cg_for(16, "int64_t", "w0", 0, nwt * wt, wt, NULL);
    emit_conv_chan_tile(n, &d, 20, wt, ov, "w0");
    cg_end();
    if (rest)
        emit_conv_chan_tile(n, &d, 16, rest, ov, ix_int(nwt * wt));
    cg_end();
    cg_end();
    cg_end();
    P("}\n");
}

/* ---- which form ---- */

void emit_conv2d(const Node *n) {
    if (conv_gemm(n))
        emit_conv2d_gemm(n);
    else if (conv_chan_lanes(n))
        emit_conv2d_chan(n);
    else if (node_int(n, "groups", 1) == 1 && dtype_is_float(n->dtype) && shape_numel(n->shape))
        emit_conv2d_tiled(n); /* the tiles need every size positive: an empty output takes the loops */
    else
        emit_conv2d_loops(n);
}

void emit_conv2d_bwd_input(const Node *n) {
    if (conv_gemm(n))
        emit_conv2d_bwd_input_gemm(n);
    else if (kernel_gathers(n))
        emit_conv2d_bwd_input_tiled(n);
    else
        emit_conv2d_bwd_input_loops(n);
}

void emit_conv2d_bwd_weight(const Node *n) {
    if (conv_gemm(n))
        emit_conv2d_bwd_weight_gemm(n);
    else if (node_int(n, "groups", 1) == 1 && dtype_is_float(n->dtype) && shape_numel(n->shape))
        emit_conv2d_bwd_weight_tiled(n);
    else
        emit_conv2d_bwd_weight_loops(n);
}
