/*
 * test_ir.c: the IR's text form, shape rules and verifier.
 *
 * The printer and reader must round-trip (print(read(print(g))) == print(g))
 * for every sample's graph, so pass tests can be written as IR text. Shape
 * rules are checked on the ops whose arithmetic is easy to get wrong
 * (convolution and pooling windows, matmul broadcasting), and bad IR text
 * must be rejected with a located message.
 */
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = ir_alloc((size_t)n + 1);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

/* Runs f on text expected to fail; returns the diagnostics. */
static char *read_error(const char *text) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    diag_out = f;
    diag_nerrors = 0;
    jmp_buf c;
    diag_catch = &c;
    volatile bool failed = true;
    if (!setjmp(c)) {
        ir_read("t.ir", text);
        failed = false;
    }
    diag_catch = NULL;
    fclose(f);
    diag_out = stderr;
    ck_assert_msg(failed, "reading should have failed:\n%s", text);
    char *s = ir_strdup(buf);
    free(buf);
    return s;
}

START_TEST(test_roundtrip_samples) {
    DIR *d = opendir("samples/blitz");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".tg"))
            continue;
        char *path = ir_fmt("samples/blitz/%s", e->d_name);
        diag_nerrors = 0;
        Ast *ast = parse_file(path, slurp(path));
        Lowered *lw = lower_ast(ast);
        ck_assert_int_eq(diag_nerrors, 0);
        for (int i = 0; i < lw->nprograms; i++) {
            /* a straight-line program's graph, or each segment of one with run-time control flow */
            LoweredProgram *p = &lw->programs[i];
            for (int k = 0; k < (p->graph ? 1 : p->nsegs); k++) {
                Graph *g = p->graph ? p->graph : p->segs[k];
                ck_assert(ir_verify(g));
                char *a = ir_sprint(g);
                Graph *back = ir_read(path, a);
                char *b = ir_sprint(back);
                ck_assert_msg(!strcmp(a, b), "%s does not round-trip:\n%s\n---\n%s", path, a, b);
                ck_assert(ir_verify(back));
            }
        }
        count++;
    }
    closedir(d);
    ck_assert_int_ge(count, 10);
}
END_TEST

/* The frontend calls no pass: a backward() lowers to grad nodes (one per leaf), which
 * pass_autodiff expands where they stand, before print reads a.grad. */
START_TEST(test_backward_lowers_to_grad_nodes) {
    const char *path = "samples/blitz/autograd.tg";
    diag_nerrors = 0;
    Lowered *lw = lower_ast(parse_file(path, slurp(path)));
    ck_assert_int_eq(diag_nerrors, 0);
    Graph *g = lw->programs[0].graph;
    int grads = 0, backward = 0, first_grad = -1;
    for (int i = 0; i < g->nnode; i++) {
        if (g->nodes[i].op == OP_GRAD && first_grad < 0)
            first_grad = i;
        grads += g->nodes[i].op == OP_GRAD;
        backward += (g->nodes[i].flags & NF_BACKWARD) != 0;
    }
    ck_assert_int_eq(grads, 2); /* a.grad and b.grad */
    ck_assert_int_eq(backward, 0);
    Graph *d = pass_autodiff(g);
    ck_assert(ir_verify(d));
    int after = 0, prints_after = 0;
    for (int i = 0; i < d->nnode; i++) {
        ck_assert_int_ne(d->nodes[i].op, OP_GRAD);
        ck_assert_msg(!(d->nodes[i].flags & NF_NOGRAD), "node %d keeps !nograd", i);
        after += (d->nodes[i].flags & NF_BACKWARD) != 0;
        prints_after += d->nodes[i].op == OP_PRINT && i > first_grad;
    }
    ck_assert_int_ge(after, 4);
    ck_assert_int_eq(prints_after, 2);
}
END_TEST

/* load_state from a .safetensors file: each load names its tensor (key), the first lists them all (keys). */
START_TEST(test_roundtrip_load_state_safetensors) {
    const char *path = "tests/programs/safetensors_load.tg";
    diag_nerrors = 0;
    Lowered *lw = lower_ast(parse_file(path, slurp(path)));
    ck_assert_int_eq(diag_nerrors, 0);
    Graph *g = lw->programs[0].graph;
    char *a = ir_sprint(g);
    ck_assert_msg(strstr(a, "load() {path=\"small.safetensors\", key=\"conv.weight\", "
                            "keys=\"conv.weight\\nconv.bias\\nfc.weight\\nfc.bias\"} : f32[2, 1, 3, 3]") &&
                      strstr(a, "load() {path=\"small.safetensors\", key=\"fc.bias\"} : f32[3]"),
                  "%s", a);
    char *b = ir_sprint(ir_read(path, a));
    ck_assert_msg(!strcmp(a, b), "does not round-trip:\n%s\n---\n%s", a, b);
}
END_TEST

START_TEST(test_read_conv_pool) {
    const char *text =
        "graph g {\n"
        "  %0 = input() {name=\"x\"} : f32[2, 3, 32, 32] !input\n"
        "  %1 = param() {init=\"uniform\", from=-0.1, to=0.1} : f32[6, 3, 5, 5] !param !trainable \"conv1.weight\"\n"
        "  %2 = conv2d(%0, %1) {stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1} : f32[2, 6, 28, 28]\n"
        "  %3 = max_pool2d(%2) {kernel=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=0} : f32[2, 6, 14, 14]\n"
        "  %4 = reshape(%3) {shape=[2, 1176]} : f32[2, 1176]\n"
        "  %5 = sum(%4) {axes=[1], keepdim=0} : f32[2]\n"
        "  print(%5) {fmt=\"{0:t}\\n\"}\n"
        "}\n";
    Graph *g = ir_read("t.ir", text);
    ck_assert_int_eq(g->nnode, 7);
    ck_assert_str_eq(ir_sprint(g), text);
    ck_assert(ir_verify(g));
    ck_assert_str_eq(g->nodes[1].name, "conv1.weight");
    ck_assert(g->nodes[1].flags & NF_TRAINABLE);
}
END_TEST

/* Builds one node on fresh inputs of the given types and returns its type text, or NULL. */
static const char *infer(Op op, Shape a, Shape b, int nin, const Attr *attrs, int nattr) {
    Graph *g = ir_new_graph("t");
    int x = ir_add_typed(g, OP_INPUT, NULL, 0, DT_F32, a, NULL, 0, NOLOC);
    int y = ir_add_typed(g, OP_INPUT, NULL, 0, DT_F32, b, NULL, 0, NOLOC);
    int in[2] = {x, y};
    FILE *f = fopen("/dev/null", "w");
    diag_out = f;
    int id = ir_add(g, op, in, nin, DT_F32, shape_scalar(), attrs, nattr, NOLOC);
    diag_out = stderr;
    fclose(f);
    return id < 0 ? NULL : type_str(g->nodes[id].dtype, g->nodes[id].shape);
}

static Shape S(int rank, ...) {
    va_list ap;
    va_start(ap, rank);
    Shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.d[i] = va_arg(ap, int);
    va_end(ap);
    return s;
}

static Attr I2(const char *k, int64_t a, int64_t b) {
    int64_t v[2] = {a, b};
    Attr at = attr_ints(k, v, 2);
    return at;
}

START_TEST(test_shape_rules) {
    Attr conv[4] = {I2("stride", 2, 2), I2("padding", 3, 3), I2("dilation", 1, 1), attr_int("groups", 1)};
    /* ResNet's stem: 7x7 stride 2 pad 3 on 224 -> 112 */
    ck_assert_str_eq(infer(OP_CONV2D, S(4, 1, 3, 224, 224), S(4, 64, 3, 7, 7), 2, conv, 4), "f32[1, 64, 112, 112]");
    Attr grp[4] = {I2("stride", 1, 1), I2("padding", 1, 1), I2("dilation", 2, 2), attr_int("groups", 2)};
    ck_assert_str_eq(infer(OP_CONV2D, S(4, 2, 4, 9, 9), S(4, 6, 2, 3, 3), 2, grp, 4), "f32[2, 6, 7, 7]");
    ck_assert_ptr_null(infer(OP_CONV2D, S(4, 2, 4, 9, 9), S(4, 6, 3, 3, 3), 2, grp, 4)); /* channels */
    Attr pool[5] = {I2("kernel", 3, 3), I2("stride", 2, 2), I2("padding", 1, 1), I2("dilation", 1, 1),
                    attr_int("ceil_mode", 0)};
    ck_assert_str_eq(infer(OP_MAXPOOL2D, S(4, 1, 64, 112, 112), S(0), 1, pool, 5), "f32[1, 64, 56, 56]");
    Attr ceil[5] = {I2("kernel", 2, 2), I2("stride", 2, 2), I2("padding", 0, 0), I2("dilation", 1, 1),
                    attr_int("ceil_mode", 1)};
    ck_assert_str_eq(infer(OP_MAXPOOL2D, S(4, 1, 1, 5, 5), S(0), 1, ceil, 5), "f32[1, 1, 3, 3]");
    ck_assert_str_eq(infer(OP_MATMUL, S(3, 5, 2, 3), S(2, 3, 4), 2, NULL, 0), "f32[5, 2, 4]");
    ck_assert_str_eq(infer(OP_MATMUL, S(4, 2, 1, 4, 3), S(3, 7, 3, 1), 2, NULL, 0), "f32[2, 7, 4, 1]");
    ck_assert_ptr_null(infer(OP_MATMUL, S(2, 2, 3), S(2, 2, 3), 2, NULL, 0));
    ck_assert_str_eq(infer(OP_ADD, S(2, 4, 1), S(1, 3), 2, NULL, 0), "f32[4, 3]");
    ck_assert_ptr_null(infer(OP_ADD, S(2, 4, 2), S(1, 3), 2, NULL, 0));
    ck_assert_str_eq(infer(OP_LT, S(1, 3), S(0), 2, NULL, 0), "bool[3]");
}
END_TEST

START_TEST(test_read_errors) {
    char *e = read_error("graph g {\n  %0 = full() {value=1.0} : f32[2]\n  %1 = add(%0, %0) : f32[3]\n}\n");
    ck_assert_msg(strstr(e, "t.ir:3:8: error: written type f32[3] differs from the inferred f32[2]"), "%s", e);
    e = read_error("graph g {\n  %0 = frobnicate() : f32[2]\n}\n");
    ck_assert_msg(strstr(e, "t.ir:2:8: error: unknown op 'frobnicate'"), "%s", e);
    e = read_error("graph g {\n  %1 = full() {value=1.0} : f32[2]\n}\n");
    ck_assert_msg(strstr(e, "node %1 out of order: expected %0"), "%s", e);
    e = read_error("graph g {\n  %0 = neg(%3) : f32[2]\n}\n");
    ck_assert_msg(strstr(e, "input %3 is not defined before this node"), "%s", e);
    e = read_error("graph g {\n  %0 = full() {value=1.0} : f32[2]\n");
    ck_assert_msg(strstr(e, "missing '}'"), "%s", e);
}
END_TEST

START_TEST(test_verify_catches_bad_graph) {
    Graph *g = ir_read("t.ir", "graph g {\n  %0 = full() {value=1.0} : f32[2, 2]\n  %1 = neg(%0) : f32[2, 2]\n}\n");
    ck_assert(ir_verify(g));
    g->nodes[1].shape.d[1] = 3; /* a pass that forgot to update a shape */
    FILE *f = fopen("/dev/null", "w");
    diag_out = f;
    ck_assert(!ir_verify(g));
    g->nodes[1].shape.d[1] = 2;
    g->nodes[1].in[0] = 1; /* a use before definition */
    ck_assert(!ir_verify(g));
    diag_out = stderr;
    fclose(f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ir");
    TCase *tc = tcase_create("ir");
    tcase_add_test(tc, test_roundtrip_samples);
    tcase_add_test(tc, test_roundtrip_load_state_safetensors);
    tcase_add_test(tc, test_backward_lowers_to_grad_nodes);
    tcase_add_test(tc, test_read_conv_pool);
    tcase_add_test(tc, test_shape_rules);
    tcase_add_test(tc, test_read_errors);
    tcase_add_test(tc, test_verify_catches_bad_graph);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
