/*
 * matmul.c: matmul (with broadcast batch dimensions) and linear. Float products run as register
 * tiles, each element's sum over k in order, so the result depends on the shapes only; integer
 * and empty products take plain loops.
 */
#include "emit.h"

void emit_matmul(const Node *n) {
    emit_kernel_open(n);
    Node *a = IN((Node *)n, 0), *b = IN((Node *)n, 1);
    int r = n->shape.rank;
    int64_t M = n->shape.d[r - 2], Nn = n->shape.d[r - 1], K = a->shape.d[a->shape.rank - 1];
    Shape batch = n->shape, ab = a->shape, bb = b->shape;
    batch.rank -= 2;
    ab.rank -= 2;
    bb.rank -= 2;
    const char **v = cg_axis_vars(batch.rank, "b");
    const char *acc = dtype_is_float(n->dtype) ? dtype_ctype(n->dtype) : "int64_t";
    int ind = 4;
    for (int i = 0; i < batch.rank; i++, ind += 4)
        P("%*sfor (int64_t %s = 0; %s < %lld; %s++)\n", ind, "", v[i], v[i], (long long)batch.d[i], v[i]);
    P("%*s{\n", ind - (batch.rank ? 4 : 0), "");
    P("%*sconst %s *restrict A = x0 + (%s) * %lld;\n", ind, "", dtype_ctype(a->dtype), cg_bcast_index(ab, batch, v),
      (long long)(M * K));
    P("%*sconst %s *restrict B = x1 + (%s) * %lld;\n", ind, "", dtype_ctype(b->dtype), cg_bcast_index(bb, batch, v),
      (long long)(K * Nn));
    P("%*sconst int64_t c0 = (%s) * %lld; /* this product's first output element */\n", ind, "",
      cg_bcast_index(batch, batch, v), (long long)(M * Nn));
    /* an empty product has no tiles (the tile sizes would be 0): the plain loops run zero times */
    if (!dtype_is_float(n->dtype) || !M || !Nn) {
        P("%*sfor (int64_t m = 0; m < %lld; m++)\n", ind, "", (long long)M);
        P("%*s    for (int64_t j = 0; j < %lld; j++) {\n", ind, "", (long long)Nn);
        P("%*s        %s acc = 0;\n", ind, "", acc);
        P("%*s        for (int64_t k = 0; k < %lld; k++)\n", ind, "", (long long)K);
        P("%*s            acc += A[m * %lld + k] * B[k * %lld + j];\n", ind, "", (long long)K, (long long)Nn);
        emit_store(ind + 8, ir_fmt("c0 + m * %lld + j", (long long)Nn), ir_fmt("(%s)acc", dtype_ctype(n->dtype)));
        P("%*s    }\n", ind, "");
    } else {
        /* tiles of MB rows x JB columns in registers; each element's sum over k in order */
        int64_t JB = Nn < 16 ? Nn : 16, MB = 4;
        if (MB > M)
            MB = M;
        for (int mp = 0; mp < 2; mp++) {
            int64_t MBn = mp == 0 ? MB : M % MB;
            if (!MBn || (mp == 0 && M < MB))
                continue;
            if (mp == 0)
                P("%*sfor (int64_t m0 = 0; m0 < %lld; m0 += %lld)\n", ind, "", (long long)(M / MB * MB), (long long)MB);
            else
                P("%*sfor (int64_t m0 = %lld; m0 < %lld; m0 += %lld)\n", ind, "", (long long)(M / MB * MB), (long long)M,
                  (long long)MBn);
            P("%*s{\n", ind, "");
            for (int jp = 0; jp < 2; jp++) {
                int64_t JBn = jp == 0 ? JB : Nn % JB;
                if (!JBn || (jp == 0 && Nn < JB))
                    continue;
                int in = ind + 4;
                if (jp == 0)
                    P("%*sfor (int64_t j0 = 0; j0 < %lld; j0 += %lld) {\n", in, "", (long long)(Nn / JB * JB), (long long)JB);
                else
                    P("%*s{\n%*s    const int64_t j0 = %lld;\n", in, "", in, "", (long long)(Nn / JB * JB));
                P("%*s    %s acc[%lld][%lld];\n", in, "", acc, (long long)MBn, (long long)JBn);
                P("%*s    for (int mb = 0; mb < %lld; mb++)\n", in, "", (long long)MBn);
                P("%*s        for (int jb = 0; jb < %lld; jb++)\n", in, "", (long long)JBn);
                P("%*s            acc[mb][jb] = 0;\n", in, "");
                P("%*s    for (int64_t k = 0; k < %lld; k++)\n", in, "", (long long)K);
                P("%*s        for (int mb = 0; mb < %lld; mb++) {\n", in, "", (long long)MBn);
                P("%*s            const %s a = A[(m0 + mb) * %lld + k];\n", in, "", acc, (long long)K);
                P("%*s            TG_SIMD\n", in, "");
                P("%*s            for (int jb = 0; jb < %lld; jb++)\n", in, "", (long long)JBn);
                P("%*s                acc[mb][jb] += a * B[k * %lld + j0 + jb];\n", in, "", (long long)Nn);
                P("%*s        }\n", in, "");
                P("%*s    for (int mb = 0; mb < %lld; mb++)\n", in, "", (long long)MBn);
                P("%*s        for (int jb = 0; jb < %lld; jb++)\n", in, "", (long long)JBn);
                emit_store(in + 12, ir_fmt("c0 + (m0 + mb) * %lld + j0 + jb", (long long)Nn), "acc[mb][jb]");
                P("%*s}\n", in, "");
            }
            P("%*s}\n", ind, "");
        }
    }
    P("%*s}\n}\n", ind - (batch.rank ? 4 : 0), "");
}

static void emit_linear_loops(const Node *n) {
    emit_kernel_open(n);
    Node *w = IN((Node *)n, 1);
    int64_t O = w->shape.d[0], I = w->shape.d[1], R = shape_numel(n->shape) / (O ? O : 1);
    const char *t = dtype_ctype(n->dtype);
    if (worth_parallel(R * O * I))
        P("    #pragma omp parallel for\n");
    P("    for (int64_t r = 0; r < %lld; r++)          /* rows of the input */\n", (long long)R);
    P("        for (int64_t o = 0; o < %lld; o++) {   /* output features */\n", (long long)O);
    P("            %s acc = %s;\n", t, n->nin == 3 ? "x2[o]" : cg_literal(0, n->dtype));
    P("            for (int64_t i = 0; i < %lld; i++)\n", (long long)I);
    P("                acc += x0[r * %lld + i] * x1[o * %lld + i];\n", (long long)I, (long long)I);
    emit_store(12, ir_fmt("r * %lld + o", (long long)O), "acc");
    P("        }\n}\n");
}

/*
 * linear as register tiles: RBn rows x OBn output features, each dot product over the input
 * features summed in 8 SIMD lanes (then the lanes in order, then the bias), so the result depends
 * on the shapes only. Row blocks are the parallel loop.
 */
static void emit_linear_tiled(const Node *n) {
    emit_kernel_open(n);
    Node *w = IN((Node *)n, 1);
    int64_t O = w->shape.d[0], I = w->shape.d[1], R = shape_numel(n->shape) / (O ? O : 1);
    const char *t = dtype_ctype(n->dtype), *zero = cg_literal(0, n->dtype);
    int64_t L = 8, full = I / L * L, rb = R < 4 ? R : 4, ob = 3;
    if (ob > O)
        ob = O;
    P("    /* y[r][o] = b[o] + sum over i of x[r][i] * w[o][i]: tiles of %lld rows x %lld features, %lld lanes over i */\n",
      (long long)rb, (long long)ob, (long long)L);
    for (int rp = 0; rp < 2; rp++) {
        int64_t RBn = rp == 0 ? rb : R % rb;
        if (!RBn || (rp == 0 && R < rb))
            continue;
        const char *r0 = rp == 0 ? "r0" : ir_fmt("%lld", (long long)(R / rb * rb));
        if (rp == 0 && worth_parallel(R * O * I))
            P("    #pragma omp parallel for\n");
        if (rp == 0)
            P("    for (int64_t r0 = 0; r0 < %lld; r0 += %lld) {\n", (long long)(R / rb * rb), (long long)rb);
        else
            P("    {\n");
        for (int op = 0; op < 2; op++) {
            int64_t OBn = op == 0 ? ob : O % ob;
            if (!OBn || (op == 0 && O < ob))
                continue;
            if (op == 0)
                P("        for (int64_t o0 = 0; o0 < %lld; o0 += %lld) {\n", (long long)(O / ob * ob), (long long)ob);
            else
                P("        {\n            const int64_t o0 = %lld;\n", (long long)(O / ob * ob));
            P("            %s acc[%lld][%lld][%lld];\n", t, (long long)RBn, (long long)OBn, (long long)L);
            P("            for (int a = 0; a < %lld; a++)\n", (long long)RBn);
            P("                for (int b = 0; b < %lld; b++)\n", (long long)OBn);
            P("                    for (int l = 0; l < %lld; l++)\n", (long long)L);
            P("                        acc[a][b][l] = %s;\n", zero);
            if (full) {
                P("            for (int64_t i = 0; i < %lld; i += %lld)\n", (long long)full, (long long)L);
                P("                for (int a = 0; a < %lld; a++)\n", (long long)RBn);
                P("                    for (int b = 0; b < %lld; b++) {\n", (long long)OBn);
                P("                        const %s *xa = x0 + (%s + a) * %lld + i, *wb = x1 + (o0 + b) * %lld + i;\n",
                  t, r0, (long long)I, (long long)I);
                P("                        TG_SIMD\n");
                P("                        for (int l = 0; l < %lld; l++)\n", (long long)L);
                P("                            acc[a][b][l] += xa[l] * wb[l];\n");
                P("                    }\n");
            }
            P("            for (int a = 0; a < %lld; a++)\n", (long long)RBn);
            P("                for (int b = 0; b < %lld; b++) {\n", (long long)OBn);
            P("                    %s sum = %s;\n", t, zero);
            P("                    for (int l = 0; l < %lld; l++)\n", (long long)L);
            P("                        sum += acc[a][b][l];\n");
            if (I % L) {
                P("                    for (int64_t i = %lld; i < %lld; i++) /* the features past the last full lane group */\n",
                  (long long)full, (long long)I);
                P("                        sum += x0[(%s + a) * %lld + i] * x1[(o0 + b) * %lld + i];\n", r0, (long long)I,
                  (long long)I);
            }
            if (n->nin == 3)
                P("                    sum += x2[o0 + b];\n");
            emit_store(20, ir_fmt("(%s + a) * %lld + o0 + b", r0, (long long)O), "sum");
            P("                }\n");
            P("        }\n");
        }
        P("    }\n");
    }
    P("}\n");
}

/* The tiled kernels need every tile size positive: an empty output (a batch of 0, 0 output
 * features) takes the plain loops, which run zero times; so does a linear with 0 input
 * features, whose tiles would read neither x nor w (unused parameters in C). */
void emit_linear(const Node *n) {
    if (dtype_is_float(n->dtype) && shape_numel(n->shape) && shape_numel(IN(n, 1)->shape))
        emit_linear_tiled(n);
    else
        emit_linear_loops(n);
}
