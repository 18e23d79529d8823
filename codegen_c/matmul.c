/*
 * matmul.c: matmul (with broadcast batch dimensions) and linear. Float products run as register
 * tiles, each element's sum over k in order, so the result depends on the shapes only; integer
 * and empty products take plain loops.
 */
#include "emit.h"

#include <string.h>

void emit_matmul(const Node *n) {
    emit_kernel_open();
    Node *a = IN((Node *)n, 0), *b = IN((Node *)n, 1);
    int r = n->shape.rank;
    int64_t M = n->shape.d[r - 2], Nn = n->shape.d[r - 1], K = a->shape.d[a->shape.rank - 1];
    Shape batch = n->shape, ab = a->shape, bb = b->shape;
    batch.rank -= 2;
    ab.rank -= 2;
    bb.rank -= 2;
    const char *acc = dtype_is_float(n->dtype) ? dtype_ctype(n->dtype) : "int64_t";
    int ind = 4;
    const char **v = emit_loops(batch, "b", &ind, false);
    bool loops = ind > 4; /* a batch of products: each in a block of its own */
    if (loops)
        P("%*s{\n", ind - 4, "");
    P("%*sconst %s *restrict A = %s;\n", ind, "", dtype_ctype(a->dtype), ix_ptr("a", ix_mul(cg_bcast_index(ab, batch, v), M * K)));
    P("%*sconst %s *restrict B = %s;\n", ind, "", dtype_ctype(b->dtype), ix_ptr("b", ix_mul(cg_bcast_index(bb, batch, v), K * Nn)));
    const char *c0 = ix_mul(cg_bcast_index(batch, batch, v), M * Nn);
    if (strcmp(c0, "0")) {
        P("%*sconst int64_t c0 = %s; /* this product's first output element */\n", ind, "", c0);
        c0 = "c0";
    }
    /* an empty product has no tiles (the tile sizes would be 0): the plain loops run zero times */
    if (!dtype_is_float(n->dtype) || !M || !Nn) {
        emit_for(ind, "m", M, NULL);
        emit_for(ind + 4, "j", Nn, " {");
        P("%*s        %s acc = 0;\n", ind, "", acc);
        emit_for(ind + 8, "k", K, NULL);
        P("%*s            acc += A[%s] * B[%s];\n", ind, "", ix_add(ix_mul("m", K), "k"), ix_add(ix_mul("k", Nn), "j"));
        cg_end();
        emit_store(ind + 8, ix_add(c0, ix_add(ix_mul("m", Nn), "j")), ir_fmt("(%s)acc", dtype_ctype(n->dtype)));
        cg_end();
        cg_end();
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
                cg_for(ind, "int64_t", "m0", 0, M / MB * MB, MB, " {");
            else
                cg_for(ind, "int64_t", "m0", M / MB * MB, M, MBn, " {");
            for (int jp = 0; jp < 2; jp++) {
                int64_t JBn = jp == 0 ? JB : Nn % JB;
                if (!JBn || (jp == 0 && Nn < JB))
                    continue;
                int in = ind + 4;
                if (jp == 0)
                    cg_for(in, "int64_t", "j0", 0, Nn / JB * JB, JB, " {");
                else
                    cg_for(in, "int64_t", "j0", Nn / JB * JB, Nn / JB * JB + 1, 1, " {");
                P("%*s    %s acc[%lld][%lld];\n", in, "", acc, (long long)MBn, (long long)JBn);
                emit_for_int(in + 4, "mb", MBn, NULL);
                emit_for_int(in + 8, "jb", JBn, NULL);
                P("%*s            acc[mb][jb] = 0;\n", in, "");
                cg_end();
                cg_end();
                emit_for(in + 4, "k", K, NULL);
                emit_for_int(in + 8, "mb", MBn, " {");
                P("%*s            const %s av = A[%s];\n", in, "", acc, ix_add(ix_mul("m0 + mb", K), "k"));
                cg_pragma(in + 12, "TG_SIMD%s", NULL, 1);
                emit_for_int(in + 12, "jb", JBn, NULL);
                P("%*s                acc[mb][jb] += av * B[%s];\n", in, "", ix_add(ix_mul("k", Nn), "j0 + jb"));
                cg_end();
                cg_end();
                cg_end();
                emit_for_int(in + 4, "mb", MBn, NULL);
                emit_for_int(in + 8, "jb", JBn, NULL);
                emit_store(in + 12, ix_add(c0, ix_add(ix_mul("m0 + mb", Nn), "j0 + jb")), "acc[mb][jb]");
                cg_end();
                cg_end();
                cg_end();
            }
            cg_end();
        }
    }
    if (loops)
        P("%*s}\n", ind - 4, "");
    emit_loops_end(batch);
    P("}\n");
}

static void emit_linear_loops(const Node *n) {
    emit_kernel_open();
    Node *w = IN((Node *)n, 1);
    int64_t O = w->shape.d[0], I = w->shape.d[1], R = shape_numel(n->shape) / (O ? O : 1);
    const char *t = dtype_ctype(n->dtype);
    if (worth_parallel(R * O * I))
        cg_pragma(4, "#pragma omp parallel for%s", NULL, 1);
    emit_for(4, "r", R, "          /* rows of the input */");
    emit_for(8, "o", O, " {   /* output features */");
    P("            %s acc = %s;\n", t, n->nin == 3 ? "bias[o]" : cg_literal(0, n->dtype));
    emit_for(12, "i", I, NULL);
    P("                acc += x[%s] * weight[%s];\n", ix_add(ix_mul("r", I), "i"), ix_add(ix_mul("o", I), "i"));
    cg_end();
    emit_store(12, ix_add(ix_mul("r", O), "o"), "acc");
    cg_end();
    cg_end();
    P("}\n");
}

/*
 * linear as register tiles: RBn rows x OBn output features, each dot product over the input
 * features summed in 8 SIMD lanes (then the lanes in order, then the bias), so the result depends
 * on the shapes only. Row blocks are the parallel loop.
 */
static void emit_linear_tiled(const Node *n) {
    emit_kernel_open();
    Node *w = IN((Node *)n, 1);
    int64_t O = w->shape.d[0], I = w->shape.d[1], R = shape_numel(n->shape) / (O ? O : 1);
    const char *t = dtype_ctype(n->dtype), *zero = cg_literal(0, n->dtype);
    int64_t L = 8, full = I / L * L, rb = R < 4 ? R : 4, ob = 3;
    if (ob > O)
        ob = O;
    P("    /* y[r][o] = bias[o] + sum over i of x[r][i] * weight[o][i]: tiles of %lld rows x %lld features, %lld lanes over i */\n",
      (long long)rb, (long long)ob, (long long)L);
    for (int rp = 0; rp < 2; rp++) {
        int64_t RBn = rp == 0 ? rb : R % rb;
        if (!RBn || (rp == 0 && R < rb))
            continue;
        const char *r0 = rp == 0 ? "r0" : ix_int(R / rb * rb);
        if (rp == 0 && worth_parallel(R * O * I))
            cg_pragma(4, "#pragma omp parallel for%s", NULL, 1);
        if (rp == 0)
            cg_for(4, "int64_t", "r0", 0, R / rb * rb, rb, " {");
        else
            P("    {\n");
        for (int op = 0; op < 2; op++) {
            int64_t OBn = op == 0 ? ob : O % ob;
            if (!OBn || (op == 0 && O < ob))
                continue;
            if (op == 0)
                cg_for(8, "int64_t", "o0", 0, O / ob * ob, ob, " {");
            else
                cg_for(8, "int64_t", "o0", O / ob * ob, O / ob * ob + 1, 1, " {");
            const char *row = ix_add(r0, "ri"), *xrow = ix_mul(row, I);
            P("            %s acc[%lld][%lld][%lld];\n", t, (long long)RBn, (long long)OBn, (long long)L);
            emit_for_int(12, "ri", RBn, NULL);
            emit_for_int(16, "oi", OBn, NULL);
            emit_for_int(20, "l", L, NULL);
            P("                        acc[ri][oi][l] = %s;\n", zero);
            cg_end();
            cg_end();
            cg_end();
            if (full) {
                cg_for(12, "int64_t", "i", 0, full, L, NULL);
                emit_for_int(16, "ri", RBn, NULL);
                emit_for_int(20, "oi", OBn, " {");
                P("                        const %s *xr = %s, *wr = %s;\n", t, ix_ptr("x", ix_add(xrow, "i")),
                  ix_ptr("weight", ix_add(ix_mul("o0 + oi", I), "i")));
                cg_pragma(24, "TG_SIMD%s", NULL, 1);
                emit_for_int(24, "l", L, NULL);
                P("                            acc[ri][oi][l] += xr[l] * wr[l];\n");
                cg_end();
                cg_end();
                cg_end();
                cg_end();
            }
            emit_for_int(12, "ri", RBn, NULL);
            emit_for_int(16, "oi", OBn, " {");
            P("                    %s sum = %s;\n", t, zero);
            emit_for_int(20, "l", L, NULL);
            P("                        sum += acc[ri][oi][l];\n");
            cg_end();
            if (I % L) {
                cg_for(20, "int64_t", "i", full, I, 1, " /* the features past the last full lane group */");
                P("                        sum += x[%s] * weight[%s];\n", ix_add(xrow, "i"), ix_add(ix_mul("o0 + oi", I), "i"));
                cg_end();
            }
            if (n->nin == 3)
                P("                    sum += bias[o0 + oi];\n");
            emit_store(20, ix_add(ix_mul(row, O), "o0 + oi"), "sum");
            cg_end();
            cg_end();
            cg_end();
        }
        if (rp == 0)
            cg_end();
        else
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
