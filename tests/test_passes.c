/*
 * test_passes.c: each pass as "IR text in, IR text out".
 */
#include <check.h>
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

int main(void) {
    Suite *s = suite_create("passes");
    TCase *tc = tcase_create("dce");
    tcase_add_test(tc, test_dce_removes_unused);
    tcase_add_test(tc, test_dce_keeps_rng_order_and_params);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
