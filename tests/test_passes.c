/*
 * test_passes.c: each pass as "IR text in, IR text out".
 */
#include <check.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

static void check_pass(Graph *(*pass)(Graph *), const char *in, const char *want) {
    Graph *g = pass(ir_read("in.ir", in));
    ck_assert(ir_verify(g));
    char *got = ir_sprint(g);
    ck_assert_msg(!strcmp(got, want), "--- want ---\n%s--- got ---\n%s", want, got);
}

START_TEST(test_dce_removes_unused) {
    check_pass(pass_dce,
               "graph g {\n"
               "  %0 = full() {value=1.0} : f32[4]\n"
               "  %1 = neg(%0) : f32[4]\n"              /* dead */
               "  %2 = full() {value=2.0} : f32[4]\n"
               "  %3 = add(%0, %2) : f32[4]\n"
               "  %4 = exp(%1) : f32[4]\n"              /* dead */
               "  print(%3) {fmt=\"{0:t}\\n\"}\n"
               "}\n",
               "graph g {\n"
               "  %0 = full() {value=1.0} : f32[4]\n"
               "  %1 = full() {value=2.0} : f32[4]\n"
               "  %2 = add(%0, %1) : f32[4]\n"
               "  print(%2) {fmt=\"{0:t}\\n\"}\n"
               "}\n");
}
END_TEST

START_TEST(test_dce_keeps_rng_order_and_params) {
    /* an unused rand still advances the generator (PyTorch draws it), a parameter is state */
    const char *g =
        "graph g {\n"
        "  %0 = rand() {from=0.0, to=1.0} : f32[3]\n"
        "  %1 = param() {init=\"uniform\", from=-1.0, to=1.0} : f32[2] !param \"w\"\n"
        "  %2 = randn() {mean=0.0, std=1.0} : f32[2]\n"
        "  print(%2) {fmt=\"{0:t}\"}\n"
        "}\n";
    check_pass(pass_dce, g, g);
}
END_TEST

/* ---- autodiff ---- */

START_TEST(test_autodiff_expands_where_backward_was) {
    /* the backward graph replaces the grad node in place, its reader reads dL/dw; the seed keeps
     * its position; nograd flags are gone afterwards */
    check_pass(pass_autodiff,
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[3] !input \"x\"\n"
               "  %1 = param() {init=\"zeros\"} : f32[3] !param !trainable \"w\"\n"
               "  %2 = mul(%0, %1) : f32[3]\n"
               "  %3 = sum(%2) {axes=[0], keepdim=0} : f32[] \"y\"\n"
               "  %4 = full() {value=1.0} : f32[] !nograd\n"
               "  %5 = grad(%3, %4, %1) : f32[3] !nograd !grad\n"
               "  print(%5) {fmt=\"{0:t}\"}\n"
               "}\n",
               "graph g {\n"
               "  # ---- forward ----\n"
               "  %0 = input() {name=\"x\"} : f32[3] !input \"x\"\n"
               "  %1 = param() {init=\"zeros\"} : f32[3] !param !trainable \"w\"\n"
               "  %2 = mul(%0, %1) : f32[3]\n"
               "  %3 = sum(%2) {axes=[0], keepdim=0} : f32[] \"y\"\n"
               "  %4 = full() {value=1.0} : f32[]\n"
               "  # ---- backward ----\n"
               "  %5 = reshape(%4) {shape=[1]} : f32[1] !backward\n"
               "  %6 = expand(%5) {shape=[3]} : f32[3] !backward\n"
               "  %7 = mul(%6, %0) : f32[3] !backward !grad \"d y/d w\"\n"
               "  # ---- forward ----\n"
               "  print(%7) {fmt=\"{0:t}\"}\n"
               "}\n");
}
END_TEST

START_TEST(test_autodiff_respects_nograd_and_earlier_gradients) {
    /* r = sum(a.grad * a + exp(a)) where exp(a) was made under no_grad: dr/da is the first
     * gradient (a constant to the second backward, not differentiated again), nothing from exp */
    check_pass(pass_autodiff,
               "graph g {\n"
               "  %0 = param() {init=\"zeros\"} : f32[3] !param !trainable \"a\"\n"
               "  %1 = mul(%0, %0) : f32[3]\n"
               "  %2 = sum(%1) {axes=[0], keepdim=0} : f32[] \"q\"\n"
               "  %3 = full() {value=1.0} : f32[] !nograd\n"
               "  %4 = grad(%2, %3, %0) : f32[3] !nograd\n"
               "  %5 = mul(%4, %0) : f32[3]\n"
               "  %6 = exp(%0) : f32[3] !nograd\n"
               "  %7 = add(%5, %6) : f32[3]\n"
               "  %8 = sum(%7) {axes=[0], keepdim=0} : f32[] \"r\"\n"
               "  %9 = grad(%8, %3, %0) : f32[3] !nograd\n"
               "  print(%9) {fmt=\"{0:t}\"}\n"
               "}\n",
               "graph g {\n"
               "  # ---- forward ----\n"
               "  %0 = param() {init=\"zeros\"} : f32[3] !param !trainable \"a\"\n"
               "  %1 = mul(%0, %0) : f32[3]\n"
               "  %2 = sum(%1) {axes=[0], keepdim=0} : f32[] \"q\"\n"
               "  %3 = full() {value=1.0} : f32[]\n"
               "  # ---- backward ----\n"
               "  %4 = reshape(%3) {shape=[1]} : f32[1] !backward\n"
               "  %5 = expand(%4) {shape=[3]} : f32[3] !backward\n"
               "  %6 = mul(%5, %0) : f32[3] !backward \"d q/d a\"\n"
               "  %7 = mul(%5, %0) : f32[3] !backward\n"
               "  %8 = add(%6, %7) : f32[3] !backward \"d q/d a\"\n"
               "  # ---- forward ----\n"
               "  %9 = mul(%8, %0) : f32[3]\n"
               "  %10 = exp(%0) : f32[3]\n"
               "  %11 = add(%9, %10) : f32[3]\n"
               "  %12 = sum(%11) {axes=[0], keepdim=0} : f32[] \"r\"\n"
               "  # ---- backward ----\n"
               "  %13 = reshape(%3) {shape=[1]} : f32[1] !backward\n"
               "  %14 = expand(%13) {shape=[3]} : f32[3] !backward\n"
               "  %15 = mul(%14, %8) : f32[3] !backward \"d r/d a\"\n"
               "  # ---- forward ----\n"
               "  print(%15) {fmt=\"{0:t}\"}\n"
               "}\n");
}
END_TEST

START_TEST(test_autodiff_one_pass_per_backward) {
    /* two grad nodes of one backward share its backward graph: the adjoint of the product is
     * built once, for both leaves */
    Graph *g = pass_autodiff(ir_read("in.ir",
                                     "graph g {\n"
                                     "  %0 = param() {init=\"zeros\"} : f32[2] !param !trainable \"u\"\n"
                                     "  %1 = param() {init=\"zeros\"} : f32[2] !param !trainable \"v\"\n"
                                     "  %2 = mul(%0, %1) : f32[2]\n"
                                     "  %3 = sum(%2) {axes=[0], keepdim=0} : f32[] \"y\"\n"
                                     "  %4 = full() {value=1.0} : f32[]\n"
                                     "  %5 = grad(%3, %4, %0) : f32[2]\n"
                                     "  %6 = grad(%3, %4, %1) : f32[2]\n"
                                     "  %7 = add(%5, %6) : f32[2]\n"
                                     "}\n"));
    ck_assert(ir_verify(g));
    int expands = 0, grads = 0;
    for (int i = 0; i < g->nnode; i++) {
        expands += g->nodes[i].op == OP_EXPAND;
        grads += g->nodes[i].op == OP_GRAD;
    }
    ck_assert_int_eq(expands, 1);
    ck_assert_int_eq(grads, 0);
    const Node *sum = &g->nodes[g->nnode - 1];
    ck_assert_str_eq(g->nodes[sum->in[0]].name, "d y/d u");
    ck_assert_str_eq(g->nodes[sum->in[1]].name, "d y/d v");
}
END_TEST

START_TEST(test_autodiff_unreachable_is_an_error) {
    /* a grad node whose leaf the value does not depend on (the frontend never makes one) */
    char *buf = NULL;
    size_t len = 0;
    diag_out = open_memstream(&buf, &len);
    jmp_buf c;
    diag_catch = &c;
    volatile bool failed = true;
    if (!setjmp(c)) {
        pass_autodiff(ir_read("in.ir", "graph g {\n"
                                       "  %0 = param() {init=\"zeros\"} : f32[2] !param \"u\"\n"
                                       "  %1 = param() {init=\"zeros\"} : f32[2] !param \"v\"\n"
                                       "  %2 = sum(%0) {axes=[0], keepdim=0} : f32[]\n"
                                       "  %3 = full() {value=1.0} : f32[]\n"
                                       "  %4 = grad(%2, %3, %1) : f32[2]\n"
                                       "}\n"));
        failed = false;
    }
    diag_catch = NULL;
    fclose(diag_out);
    diag_out = stderr;
    ck_assert(failed);
    ck_assert_msg(strstr(buf, "error: grad: %2 does not depend on %1 through"), "%s", buf);
    free(buf);
}
END_TEST

/* ---- simplify ---- */

START_TEST(test_simplify_cse) {
    /* equal consts and equal subexpressions merge; the kept node takes the name of the merged one
     * since it has none; +0.0 and -0.0 differ in bits, so their consts stay apart */
    check_pass(pass_simplify,
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[4] !input \"x\"\n"
               "  %1 = const() {data=[2.0]} : f32[]\n"
               "  %2 = const() {data=[2.0]} : f32[]\n"
               "  %3 = mul(%0, %1) : f32[4]\n"
               "  %4 = mul(%0, %2) : f32[4] \"y\"\n"
               "  %5 = add(%3, %4) : f32[4]\n"
               "  %6 = const() {data=[0.0]} : f32[]\n"
               "  %7 = const() {data=[-0.0]} : f32[]\n"
               "  %8 = maximum(%5, %6) : f32[4]\n"
               "  %9 = maximum(%5, %7) : f32[4]\n"
               "  %10 = sum(%9) {axes=[0], keepdim=0} : f32[]\n"
               "  %11 = sum(%9) {axes=[0], keepdim=1} : f32[1]\n"
               "  %12 = sum(%9) {axes=[0], keepdim=0} : f32[]\n"
               "  print(%8, %10, %11, %12) {fmt=\"{0:t} {1:t} {2:t} {3:t}\"}\n"
               "}\n",
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[4] !input \"x\"\n"
               "  %1 = const() {data=[2.0]} : f32[]\n"
               "  %2 = mul(%0, %1) : f32[4] \"y\"\n"
               "  %3 = add(%2, %2) : f32[4]\n"
               "  %4 = const() {data=[0.0]} : f32[]\n"
               "  %5 = const() {data=[-0.0]} : f32[]\n"
               "  %6 = maximum(%3, %4) : f32[4]\n"
               "  %7 = maximum(%3, %5) : f32[4]\n"
               "  %8 = sum(%7) {axes=[0], keepdim=0} : f32[]\n"
               "  %9 = sum(%7) {axes=[0], keepdim=1} : f32[1]\n"
               "  print(%6, %8, %9, %8) {fmt=\"{0:t} {1:t} {2:t} {3:t}\"}\n"
               "}\n");
}
END_TEST

START_TEST(test_simplify_keeps_sources_apart) {
    /* each rand() draws new numbers, and two parameters alike are still two tensors */
    const char *g =
        "graph g {\n"
        "  %0 = rand() {from=0.0, to=1.0} : f32[3]\n"
        "  %1 = rand() {from=0.0, to=1.0} : f32[3]\n"
        "  %2 = add(%0, %1) : f32[3]\n"
        "  %3 = param() {init=\"uniform\", from=-1.0, to=1.0} : f32[3] !param \"a\"\n"
        "  %4 = param() {init=\"uniform\", from=-1.0, to=1.0} : f32[3] !param \"b\"\n"
        "  %5 = sub(%3, %4) : f32[3]\n"
        "  print(%2, %5) {fmt=\"{0:t} {1:t}\"}\n"
        "  print(%2, %5) {fmt=\"{0:t} {1:t}\"}\n"
        "}\n";
    check_pass(pass_simplify, g, g);
}
END_TEST

START_TEST(test_simplify_folds_in_float) {
    /* f32 arithmetic rounds every step to float: 0.1f + 0.2f is the float nearest 0.3, not the
     * double 0.30000000000000004, and 2^24 + 1 is 2^24 in float, so (2^24 + 1) - 2^24 is 0
     * (1 in double). A folded value equal to an existing const merges with it. */
    check_pass(pass_simplify,
               "graph g {\n"
               "  %0 = const() {data=[0.1]} : f32[]\n"
               "  %1 = const() {data=[0.2]} : f32[]\n"
               "  %2 = add(%0, %1) : f32[]\n"
               "  %3 = const() {data=[16777216.0]} : f32[]\n"
               "  %4 = const() {data=[1.0]} : f32[]\n"
               "  %5 = add(%3, %4) : f32[]\n"
               "  %6 = sub(%5, %3) : f32[]\n"
               "  %7 = full() {value=3.0} : f32[2]\n"
               "  %8 = mul(%7, %2) : f32[2]\n"
               "  %9 = const() {data=[0.1, 0.2]} : f64[2]\n"
               "  %10 = const() {data=[0.2]} : f64[]\n"
               "  %11 = add(%9, %10) : f64[2]\n"
               "  %12 = gt(%11, %10) : bool[2]\n"
               "  print(%2, %6, %8, %11, %12) {fmt=\"{0:t} {1:t} {2:t} {3:t} {4:t}\"}\n"
               "}\n",
               "graph g {\n"
               "  %0 = const() {data=[0.30000001192092896]} : f32[]\n"
               "  %1 = const() {data=[0.0]} : f32[]\n"
               "  %2 = const() {data=[0.9000000357627869, 0.9000000357627869]} : f32[2]\n"
               "  %3 = const() {data=[0.30000000000000004, 0.4]} : f64[2]\n"
               "  %4 = const() {data=[1, 1]} : bool[2]\n"
               "  print(%0, %1, %2, %3, %4) {fmt=\"{0:t} {1:t} {2:t} {3:t} {4:t}\"}\n"
               "}\n");
}
END_TEST

START_TEST(test_simplify_folds_integers_wrapping) {
    /* i32/i64 wrap as PyTorch's integers do (the generated C computes through unsigned), u8
     * wraps modulo 256; a float cast to an integer truncates toward zero */
    check_pass(pass_simplify,
               "graph g {\n"
               "  %0 = const() {data=[2147483647, -5]} : i32[2]\n"
               "  %1 = const() {data=[1]} : i32[]\n"
               "  %2 = add(%0, %1) : i32[2]\n"
               "  %3 = neg(%2) : i32[2]\n"
               "  %4 = const() {data=[9223372036854775807]} : i64[]\n"
               "  %5 = const() {data=[2]} : i64[]\n"
               "  %6 = mul(%4, %5) : i64[]\n"
               "  %7 = const() {data=[250]} : u8[]\n"
               "  %8 = const() {data=[10]} : u8[]\n"
               "  %9 = add(%7, %8) : u8[]\n"
               "  %10 = sub(%8, %7) : u8[]\n"
               "  %11 = const() {data=[-2.5, 2.5]} : f32[2]\n"
               "  %12 = cast(%11) : i64[2]\n"
               "  print(%2, %3, %6, %9, %10, %12) {fmt=\"{0:t} {1:t} {2:t} {3:t} {4:t} {5:t}\"}\n"
               "}\n",
               "graph g {\n"
               "  %0 = const() {data=[-2147483648, -4]} : i32[2]\n"
               "  %1 = const() {data=[-2147483648, 4]} : i32[2]\n"
               "  %2 = const() {data=[-2]} : i64[]\n"
               "  %3 = const() {data=[4]} : u8[]\n"
               "  %4 = const() {data=[16]} : u8[]\n"
               "  %5 = const() {data=[-2, 2]} : i64[2]\n"
               "  print(%0, %1, %2, %3, %4, %5) {fmt=\"{0:t} {1:t} {2:t} {3:t} {4:t} {5:t}\"}\n"
               "}\n");
}
END_TEST

START_TEST(test_simplify_folds_moves) {
    /* reshape, permute and expand of constants become constants, row-major */
    check_pass(pass_simplify,
               "graph g {\n"
               "  %0 = const() {data=[1, 2, 3, 4, 5, 6]} : i64[2, 3]\n"
               "  %1 = permute(%0) {perm=[1, 0]} : i64[3, 2]\n"
               "  %2 = reshape(%1) {shape=[6]} : i64[6]\n"
               "  %3 = const() {data=[10, 20]} : i64[2, 1]\n"
               "  %4 = expand(%3) {shape=[2, 3]} : i64[2, 3]\n"
               "  %5 = add(%0, %3) : i64[2, 3]\n"
               "  print(%2, %4, %5) {fmt=\"{0:t} {1:t} {2:t}\"}\n"
               "}\n",
               "graph g {\n"
               "  %0 = const() {data=[1, 4, 2, 5, 3, 6]} : i64[6]\n"
               "  %1 = const() {data=[10, 10, 10, 20, 20, 20]} : i64[2, 3]\n"
               "  %2 = const() {data=[11, 12, 13, 24, 25, 26]} : i64[2, 3]\n"
               "  print(%0, %1, %2) {fmt=\"{0:t} {1:t} {2:t}\"}\n"
               "}\n");
}
END_TEST

START_TEST(test_simplify_does_not_fold_inexact) {
    /* not folded: a cast that overflows (undefined in C), a NaN result (its sign bit would be
     * lost), libm functions (the target's libm may round differently), integer division, and
     * results larger than a literal is worth */
    const char *g =
        "graph g {\n"
        "  %0 = const() {data=[3e+09]} : f32[]\n"
        "  %1 = cast(%0) : i32[]\n"
        "  %2 = const() {data=[-1.5]} : f32[]\n"
        "  %3 = sqrt(%2) : f32[]\n"
        "  %4 = exp(%2) : f32[]\n"
        "  %5 = const() {data=[7]} : i64[]\n"
        "  %6 = const() {data=[2]} : i64[]\n"
        "  %7 = div(%5, %6) : i64[]\n"
        "  %8 = full() {value=2.0} : f32[65]\n"
        "  %9 = neg(%8) : f32[65]\n"
        "  print(%1, %3, %4, %7, %9) {fmt=\"{0:t} {1:t} {2:t} {3:t} {4:t}\"}\n"
        "}\n";
    check_pass(pass_simplify, g, g);
}
END_TEST

START_TEST(test_simplify_identities) {
    /* every node from %7 on is x or n again */
    check_pass(pass_simplify,
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[4] !input \"x\"\n"
               "  %1 = input() {name=\"n\"} : i64[4] !input \"n\"\n"
               "  %2 = const() {data=[1.0]} : f32[]\n"
               "  %3 = full() {value=1.0} : f32[4]\n"
               "  %4 = const() {data=[0.0]} : f32[]\n"
               "  %5 = const() {data=[-0.0]} : f32[]\n"
               "  %6 = const() {data=[0]} : i64[]\n"
               "  %7 = mul(%0, %2) : f32[4]\n"     /* x*1 */
               "  %8 = mul(%3, %7) : f32[4]\n"     /* 1*x, all-ones of x's shape */
               "  %9 = div(%8, %2) : f32[4]\n"     /* x/1 */
               "  %10 = sub(%9, %4) : f32[4]\n"    /* x-(+0.0) */
               "  %11 = add(%10, %5) : f32[4]\n"   /* x+(-0.0) */
               "  %12 = add(%5, %11) : f32[4]\n"   /* (-0.0)+x */
               "  %13 = neg(%12) : f32[4]\n"
               "  %14 = neg(%13) : f32[4]\n"       /* neg(neg(x)) */
               "  %15 = cast(%14) : f32[4]\n"      /* cast to its own dtype */
               "  %16 = reshape(%15) {shape=[4]} : f32[4]\n"
               "  %17 = expand(%16) {shape=[4]} : f32[4]\n"
               "  %18 = add(%1, %6) : i64[4]\n"    /* integer x+0 */
               "  %19 = add(%6, %18) : i64[4]\n"   /* integer 0+x */
               "  %20 = sub(%19, %6) : i64[4]\n"   /* integer x-0 */
               "  %21 = const() {data=[1, 1, 1, 1]} : i64[4]\n"
               "  %22 = mul(%20, %21) : i64[4]\n"  /* x*1, all-ones const */
               "  %23 = neg(%22) : i64[4]\n"
               "  %24 = neg(%23) : i64[4]\n"       /* integer negation wraps: twice is x */
               "  print(%17, %24) {fmt=\"{0:t} {1:t}\"}\n"
               "}\n",
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[4] !input \"x\"\n"
               "  %1 = input() {name=\"n\"} : i64[4] !input \"n\"\n"
               "  print(%0, %1) {fmt=\"{0:t} {1:t}\"}\n"
               "}\n");
}
END_TEST

START_TEST(test_simplify_keeps_inexact_identities) {
    /* x+0.0 is not x for x = -0.0 (it gives +0.0), x-(-0.0) neither; x*0 is NaN for x = NaN or
     * Inf; 1*x that broadcasts x is not x; a const with one element other than 1 is not one */
    const char *g =
        "graph g {\n"
        "  %0 = input() {name=\"x\"} : f32[4] !input \"x\"\n"
        "  %1 = const() {data=[0.0]} : f32[]\n"
        "  %2 = add(%0, %1) : f32[4]\n"
        "  %3 = add(%1, %0) : f32[4]\n"
        "  %4 = mul(%0, %1) : f32[4]\n"
        "  %5 = const() {data=[-0.0]} : f32[]\n"
        "  %6 = sub(%0, %5) : f32[4]\n"
        "  %7 = full() {value=1.0} : f32[2, 4]\n"
        "  %8 = mul(%7, %0) : f32[2, 4]\n"
        "  %9 = const() {data=[1.0, 1.0, 2.0, 1.0]} : f32[4]\n"
        "  %10 = mul(%0, %9) : f32[4]\n"
        "  print(%2, %3, %4, %6, %8, %10) {fmt=\"{0:t} {1:t} {2:t} {3:t} {4:t} {5:t}\"}\n"
        "}\n";
    check_pass(pass_simplify, g, g);
}
END_TEST

START_TEST(test_simplify_splat_operands) {
    /* a full beside an operand of the node's shape becomes a rank-0 const (a C literal, no
     * buffer): zero_grad's zeros before backward's accumulation. Not where the full decides the
     * result's shape (it broadcasts x). */
    check_pass(pass_simplify,
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[4] !input \"x\"\n"
               "  %1 = input() {name=\"n\"} : i64[4] !input \"n\"\n"
               "  %2 = full() {value=0.0} : f32[4]\n"
               "  %3 = add(%2, %0) : f32[4]\n"
               "  %4 = full() {value=3} : i64[4]\n"
               "  %5 = mul(%1, %4) : i64[4]\n"
               "  %6 = full() {value=2.0} : f32[2, 4]\n"
               "  %7 = mul(%6, %0) : f32[2, 4]\n"
               "  print(%3, %5, %7) {fmt=\"{0:t} {1:t} {2:t}\"}\n"
               "}\n",
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[4] !input \"x\"\n"
               "  %1 = input() {name=\"n\"} : i64[4] !input \"n\"\n"
               "  %2 = const() {data=[0.0]} : f32[]\n"
               "  %3 = add(%2, %0) : f32[4]\n"
               "  %4 = const() {data=[3]} : i64[]\n"
               "  %5 = mul(%1, %4) : i64[4]\n"
               "  %6 = full() {value=2.0} : f32[2, 4]\n"
               "  %7 = mul(%6, %0) : f32[2, 4]\n"
               "  print(%3, %5, %7) {fmt=\"{0:t} {1:t} {2:t}\"}\n"
               "}\n");
}
END_TEST

START_TEST(test_simplify_moves_of_moves) {
    /* permute(permute(x)) is one permute, or x when they cancel; reshape(reshape(x)) is one
     * reshape, or x when it gives x's shape back */
    check_pass(pass_simplify,
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[2, 3, 4] !input \"x\"\n"
               "  %1 = permute(%0) {perm=[2, 0, 1]} : f32[4, 2, 3]\n"
               "  %2 = permute(%1) {perm=[1, 0, 2]} : f32[2, 4, 3]\n"
               "  %3 = permute(%0) {perm=[1, 0, 2]} : f32[3, 2, 4]\n"
               "  %4 = permute(%3) {perm=[1, 0, 2]} : f32[2, 3, 4]\n"
               "  %5 = reshape(%0) {shape=[6, 4]} : f32[6, 4]\n"
               "  %6 = reshape(%5) {shape=[24]} : f32[24]\n"
               "  %7 = reshape(%5) {shape=[2, 3, 4]} : f32[2, 3, 4]\n"
               "  print(%2, %4, %6, %7) {fmt=\"{0:t} {1:t} {2:t} {3:t}\"}\n"
               "}\n",
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[2, 3, 4] !input \"x\"\n"
               "  %1 = permute(%0) {perm=[0, 2, 1]} : f32[2, 4, 3]\n"
               "  %2 = reshape(%0) {shape=[24]} : f32[24]\n"
               "  print(%1, %0, %2, %0) {fmt=\"{0:t} {1:t} {2:t} {3:t}\"}\n"
               "}\n");
}
END_TEST

START_TEST(test_simplify_carries_output_and_names) {
    /* the node that stands for an output becomes the output, and takes its name if it has none;
     * it becomes a gradient too, unless it is an input; its section stays its own; a folded
     * node keeps its own name and flags */
    check_pass(pass_simplify,
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[4] !input \"x\"\n"
               "  %1 = const() {data=[1.0]} : f32[]\n"
               "  %2 = exp(%0) : f32[4] \"e\"\n"
               "  %3 = exp(%0) : f32[4] !output \"loss\"\n"
               "  %4 = neg(%0) : f32[4]\n"
               "  %5 = mul(%4, %1) : f32[4] !backward !grad !output \"y\"\n"
               "  %6 = const() {data=[2.0]} : f32[]\n"
               "  %7 = neg(%6) : f32[] !output \"z\"\n"
               "  %8 = reshape(%0) {shape=[4]} : f32[4] !output !grad \"r\"\n"
               "}\n",
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[4] !input !output \"x\"\n"
               "  %1 = exp(%0) : f32[4] !output \"e\"\n"
               "  %2 = neg(%0) : f32[4] !output !grad \"y\"\n"
               "  %3 = const() {data=[-2.0]} : f32[] !output \"z\"\n"
               "}\n");
}
END_TEST

START_TEST(test_simplify_respects_assign) {
    /* a swap: p*1 must stay, since assign(q, p) would read p after assign(p, ...) stored into it */
    const char *g =
        "graph g {\n"
        "  %0 = param() {init=\"zeros\"} : f32[4] !param \"p\"\n"
        "  %1 = param() {init=\"zeros\"} : f32[4] !param \"q\"\n"
        "  %2 = const() {data=[1.0]} : f32[]\n"
        "  %3 = mul(%0, %2) : f32[4]\n"
        "  %4 = mul(%1, %2) : f32[4]\n"
        "  assign(%0, %4)\n"
        "  assign(%1, %3)\n"
        "}\n";
    check_pass(pass_simplify, g, g);
}
END_TEST

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = ir_alloc((size_t)n + 1);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

/* Every element of a const or full has the value v. */
static bool const_all(const Node *c, double v) {
    const Attr *a = node_attr(c, c->op == OP_CONST ? "data" : "value");
    if (!a || a->kind == A_STR)
        return false;
    for (int i = 0; i < a->n; i++)
        if ((a->kind == A_INT || a->kind == A_INTS ? (double)a->i[i] : a->f[i]) != v)
            return false;
    return true;
}

START_TEST(test_simplify_lenet_step) {
    /* LeNet's training step as `tgc compile samples/lenet.tg -O0 --emit=ir` prints it, before
     * this pass; meson runs tests in the build directory, and __FILE__ is relative to it */
    const char *dir = __FILE__;
    const char *slash = strrchr(dir, '/');
    char *path = ir_fmt("%.*s/programs/lenet_step.ir", slash ? (int)(slash - dir) : 1, slash ? dir : ".");
    char *text = slurp(path);
    if (!text)
        text = slurp(path = "tests/programs/lenet_step.ir");
    ck_assert_msg(text != NULL, "cannot open %s", path);
    Graph *g = ir_read(path, text);
    ck_assert(ir_verify(g));
    Graph *s = pass_simplify(g);
    ck_assert(ir_verify(s));
    ck_assert_msg(s->nnode < g->nnode, "simplify left %d of %d nodes", s->nnode, g->nnode);
    int nassign = 0, nparam = 0, nout = 0, nassign0 = 0, nparam0 = 0;
    for (int i = 0; i < g->nnode; i++) {
        nassign0 += g->nodes[i].op == OP_ASSIGN;
        nparam0 += g->nodes[i].op == OP_PARAM;
    }
    for (int i = 0; i < s->nnode; i++) {
        const Node *n = &s->nodes[i];
        nassign += n->op == OP_ASSIGN;
        nparam += n->op == OP_PARAM;
        nout += (n->flags & NF_OUTPUT) != 0;
        if (n->op == OP_MUL)
            for (int k = 0; k < 2; k++) {
                const Node *c = &s->nodes[n->in[k]];
                ck_assert_msg(!((c->op == OP_CONST || c->op == OP_FULL) && const_all(c, 1.0)),
                              "node %d multiplies by the constant 1 (node %d)", i, c->id);
            }
        if (n->op != OP_CONST)
            continue;
        for (int j = 0; j < i; j++) {
            const Node *m = &s->nodes[j];
            if (m->op != OP_CONST || m->dtype != n->dtype || !shape_eq(m->shape, n->shape))
                continue;
            const Attr *a = node_attr(n, "data"), *b = node_attr(m, "data");
            bool same = a->kind == b->kind && a->n == b->n;
            for (int k = 0; same && k < a->n; k++)
                same = a->kind == A_FLOATS || a->kind == A_FLOAT ? !memcmp(&a->f[k], &b->f[k], sizeof(double))
                                                                 : a->i[k] == b->i[k];
            ck_assert_msg(!same, "consts %d and %d are equal", j, i);
        }
    }
    /* the step still stores every parameter and optimizer state, and returns one loss */
    ck_assert_int_eq(nassign, nassign0);
    ck_assert_int_eq(nparam, nparam0);
    ck_assert_int_eq(nout, 1);
    /* a second run finds nothing left to do */
    char *once = ir_sprint(s);
    ck_assert_str_eq(ir_sprint(pass_simplify(ir_read("once.ir", once))), once);
}
END_TEST

/* ---- fuse: IR in, IR out (groups as !group=N) ---- */

START_TEST(test_fuse_elementwise_chain) {
    check_pass(pass_fuse,
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[4]\n"
               "  %1 = exp(%0) : f32[4]\n"
               "  %2 = neg(%1) : f32[4]\n"
               "  %3 = const() {data=[2.0]} : f32[]\n"
               "  %4 = mul(%2, %3) : f32[4] !output\n"
               "}\n",
               /* one loop; the constant moves before the group, which runs where its last node was */
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[4]\n"
               "  %1 = const() {data=[2.0]} : f32[]\n"
               "  %2 = exp(%0) : f32[4] !group=1\n"
               "  %3 = neg(%2) : f32[4] !group=1\n"
               "  %4 = mul(%3, %1) : f32[4] !output !group=1\n"
               "}\n");
}
END_TEST

START_TEST(test_fuse_respects_an_earlier_reader) {
    /* the print reads exp's value before neg: fused, exp would not be computed yet */
    const char *g =
        "graph g {\n"
        "  %0 = input() {name=\"x\"} : f32[4]\n"
        "  %1 = exp(%0) : f32[4]\n"
        "  print(%1) {fmt=\"{0:t}\"}\n"
        "  %3 = neg(%1) : f32[4] !output\n"
        "}\n";
    check_pass(pass_fuse, g, g);
}
END_TEST

START_TEST(test_fuse_epilogue_and_loss) {
    check_pass(pass_fuse,
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[1, 1, 4, 4]\n"
               "  %1 = param() {init=\"uniform\", from=-1.0, to=1.0} : f32[2, 1, 3, 3] !param \"w\"\n"
               "  %2 = conv2d(%0, %1) {stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1} : f32[1, 2, 2, 2]\n"
               "  %3 = relu(%2) : f32[1, 2, 2, 2]\n"
               "  %4 = reshape(%3) {shape=[2, 4]} : f32[2, 4]\n"
               "  %5 = input() {name=\"y\"} : i64[2]\n"
               "  %6 = cross_entropy(%4, %5) {reduction=\"mean\"} : f32[] !output\n"
               "  %7 = full() {value=1.0} : f32[]\n"
               "  %8 = cross_entropy_bwd(%4, %5, %7) {reduction=\"mean\"} : f32[2, 4] !backward\n"
               "  %9 = sum(%8) {axes=[0], keepdim=0} : f32[4] !backward !output\n"
               "}\n",
               /* conv2d + relu in one kernel; the loss and its gradient in another */
               "graph g {\n"
               "  # ---- forward ----\n"
               "  %0 = input() {name=\"x\"} : f32[1, 1, 4, 4]\n"
               "  %1 = param() {init=\"uniform\", from=-1.0, to=1.0} : f32[2, 1, 3, 3] !param \"w\"\n"
               "  %2 = conv2d(%0, %1) {stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1} : f32[1, 2, 2, 2] !group=1\n"
               "  %3 = relu(%2) : f32[1, 2, 2, 2] !group=1\n"
               "  %4 = reshape(%3) {shape=[2, 4]} : f32[2, 4]\n"
               "  %5 = input() {name=\"y\"} : i64[2]\n"
               "  %6 = full() {value=1.0} : f32[]\n"
               "  %7 = cross_entropy(%4, %5) {reduction=\"mean\"} : f32[] !output !group=2\n"
               "  # ---- backward ----\n"
               "  %8 = cross_entropy_bwd(%4, %5, %6) {reduction=\"mean\"} : f32[2, 4] !backward !group=2\n"
               "  %9 = sum(%8) {axes=[0], keepdim=0} : f32[4] !output !backward\n"
               "}\n");
}
END_TEST

START_TEST(test_fuse_hoists_gradients) {
    /* dL/dw needs only x: it runs first, so nothing it reads waits for the backward pass */
    check_pass(pass_fuse,
               "graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[8]\n"
               "  %1 = param() {init=\"zeros\"} : f32[8] !param !trainable \"w\"\n"
               "  %2 = mul(%0, %1) : f32[8]\n"
               "  %3 = sum(%2) {axes=[0], keepdim=0} : f32[] !output\n"
               "  %4 = mul(%0, %0) : f32[8] !backward !grad \"d loss/d w\"\n"
               "}\n",
               "graph g {\n"
               "  # ---- forward ----\n"
               "  %0 = input() {name=\"x\"} : f32[8]\n"
               "  # ---- backward ----\n"
               "  %1 = mul(%0, %0) : f32[8] !backward !grad \"d loss/d w\"\n"
               "  # ---- forward ----\n"
               "  %2 = param() {init=\"zeros\"} : f32[8] !param !trainable \"w\"\n"
               "  %3 = mul(%0, %2) : f32[8]\n"
               "  %4 = sum(%3) {axes=[0], keepdim=0} : f32[] !output\n"
               "}\n");
}
END_TEST

/* ---- memplan: IR in, the plan out ("%id @offset first..last", in place and views marked) ---- */

static void check_plan(const char *in, const char *want) {
    Graph *g = ir_read("in.ir", in);
    MemPlan *m = pass_memplan(g, true, NULL, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    for (int i = 0; i < g->nnode; i++)
        if (m->off[i] >= 0)
            fprintf(f, "%%%d @%lld %d..%d%s%s\n", i, (long long)m->off[i], m->first[i], m->last[i],
                    m->inplace[i] ? " inplace" : "", m->view[i] ? " view" : "");
    fprintf(f, "persistent %lld transient %lld plain %lld\n", (long long)m->persistent, (long long)m->transient,
            (long long)m->plain);
    fclose(f);
    ck_assert_msg(!strcmp(buf, want), "--- want ---\n%s--- got ---\n%s", want, buf);
    free(buf);
}

START_TEST(test_memplan_reuses_by_lifetime) {
    /* %2 and %4 never live at once: one slot; %3 overwrites %2 as it dies; %1 is a literal */
    check_plan("graph g {\n"
               "  %0 = input() {name=\"x\"} : f32[16]\n"
               "  %1 = const() {data=[2.0]} : f32[]\n"
               "  %2 = mul(%0, %1) : f32[16]\n"
               "  %3 = exp(%2) : f32[16]\n"
               "  %4 = sum(%3) {axes=[0], keepdim=0} : f32[]\n"
               "  %5 = neg(%4) : f32[] !output\n"
               "}\n",
               "%2 @0 2..3\n"
               "%3 @0 3..4 inplace\n"
               "%4 @64 4..5\n"
               "%5 @64 5..6 inplace\n"
               "persistent 0 transient 128 plain 256\n");
}
END_TEST

START_TEST(test_memplan_views_and_updates) {
    /* the reshape reads its input's buffer; the new parameter is written over the old one */
    check_plan("graph g {\n"
               "  %0 = param() {init=\"zeros\"} : f32[4] !param !trainable \"p\"\n"
               "  %1 = input() {name=\"x\"} : f32[2, 2]\n"
               "  %2 = exp(%1) : f32[2, 2]\n"
               "  %3 = reshape(%2) {shape=[4]} : f32[4]\n"
               "  %4 = sum(%3) {axes=[0], keepdim=0} : f32[] !output\n"
               "  %5 = add(%0, %3) : f32[4] !update\n"
               "  assign(%0, %5)\n"
               "}\n",
               "%0 @0 0..6\n"
               "%2 @64 2..3\n"
               "%3 @64 3..5 view\n"
               "%4 @128 4..7\n"
               "%5 @0 5..6\n"
               "persistent 64 transient 128 plain 128\n");
}
END_TEST

START_TEST(test_memplan_without_reuse) {
    Graph *g = ir_read("in.ir", "graph g {\n"
                                "  %0 = input() {name=\"x\"} : f32[16]\n"
                                "  %1 = exp(%0) : f32[16]\n"
                                "  %2 = exp(%1) : f32[16]\n"
                                "  %3 = exp(%2) : f32[16] !output\n"
                                "}\n");
    MemPlan *m = pass_memplan(g, false, NULL, NULL);
    ck_assert_int_eq(m->off[1], 0);
    ck_assert_int_eq(m->off[2], 64);
    ck_assert_int_eq(m->off[3], 128);
    ck_assert_int_eq(m->transient, m->plain);
}
END_TEST

int main(void) {
    Suite *s = suite_create("passes");
    TCase *tc = tcase_create("autodiff");
    tcase_add_test(tc, test_autodiff_expands_where_backward_was);
    tcase_add_test(tc, test_autodiff_respects_nograd_and_earlier_gradients);
    tcase_add_test(tc, test_autodiff_one_pass_per_backward);
    tcase_add_test(tc, test_autodiff_unreachable_is_an_error);
    suite_add_tcase(s, tc);
    tc = tcase_create("dce");
    tcase_add_test(tc, test_dce_removes_unused);
    tcase_add_test(tc, test_dce_keeps_rng_order_and_params);
    suite_add_tcase(s, tc);
    tc = tcase_create("simplify");
    tcase_add_test(tc, test_simplify_cse);
    tcase_add_test(tc, test_simplify_keeps_sources_apart);
    tcase_add_test(tc, test_simplify_folds_in_float);
    tcase_add_test(tc, test_simplify_folds_integers_wrapping);
    tcase_add_test(tc, test_simplify_folds_moves);
    tcase_add_test(tc, test_simplify_does_not_fold_inexact);
    tcase_add_test(tc, test_simplify_identities);
    tcase_add_test(tc, test_simplify_keeps_inexact_identities);
    tcase_add_test(tc, test_simplify_splat_operands);
    tcase_add_test(tc, test_simplify_moves_of_moves);
    tcase_add_test(tc, test_simplify_carries_output_and_names);
    tcase_add_test(tc, test_simplify_respects_assign);
    tcase_add_test(tc, test_simplify_lenet_step);
    suite_add_tcase(s, tc);
    tc = tcase_create("fuse");
    tcase_add_test(tc, test_fuse_elementwise_chain);
    tcase_add_test(tc, test_fuse_respects_an_earlier_reader);
    tcase_add_test(tc, test_fuse_epilogue_and_loss);
    tcase_add_test(tc, test_fuse_hoists_gradients);
    suite_add_tcase(s, tc);
    tc = tcase_create("memplan");
    tcase_add_test(tc, test_memplan_reuses_by_lifetime);
    tcase_add_test(tc, test_memplan_views_and_updates);
    tcase_add_test(tc, test_memplan_without_reuse);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
