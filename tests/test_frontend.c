/*
 * test_frontend.c: the lexer, the parser, and the diagnostics users see.
 *
 * The table of malformed programs is the contract for error messages: each
 * entry holds a .tg text and the exact diagnostics tgc must print for it
 * (location, message, source line, caret). The table was produced by running
 * tgc on each text and reviewing the output; a change to any message fails
 * here until the table is updated on purpose.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "frontend/lower.h"

/* Runs the frontend on src as file "bad.tg"; returns what diag printed. */
static char *diagnose(const char *src) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    diag_out = f;
    diag_nerrors = 0;
    jmp_buf catcher;
    diag_catch = &catcher;
    if (!setjmp(catcher)) {
        Ast *ast = parse_file("bad.tg", src);
        diag_check();
        resolve_imports(ast, NULL); /* as tgc's pipeline (the table has no import: no file is read) */
        diag_check();
        lower_ast(ast);
        diag_check();
    }
    diag_catch = NULL;
    fclose(f);
    diag_out = stderr;
    char *out = ir_strdup(buf);
    free(buf);
    return out;
}

typedef struct {
    const char *name, *src, *expected;
} BadCase;

static const BadCase bad[] = {
    {"empty_file",
     "",
     "bad.tg:1:1: error: empty file: expected a 'model', 'program' or 'train' block\n"},
    {"only_comments",
     "# nothing here\n"
     "# nor here\n",
     "bad.tg:1:1: error: empty file: expected a 'model', 'program' or 'train' block\n"
     "# nothing here\n"
     "^\n"},
    {"slash_comment",
     "program p {\n"
     "    x = 1  // the answer\n"
     "    // a whole line\n"
     "    y = 7 // 2\n"
     "    print(y)\n"
     "}\n",
     "bad.tg:2:19: error: expected end of statement, found 'answer' (comments start with '#' in .tg; '//' is floor division, as in Python)\n"
     "    x = 1  // the answer\n"
     "                  ^\n"
     "bad.tg:3:5: error: expected an expression, found '//' (comments start with '#' in .tg; '//' is floor division, as in Python)\n"
     "    // a whole line\n"
     "    ^\n"
     "2 errors generated.\n"},
    {"binary_garbage",
     "\001\002\376\377 program\n",
     "bad.tg:1:1: error: unexpected byte 0x01 (is this a text file?)\n"
     "???? program\n"
     "^\n"
     "bad.tg:1:13: error: expected a name, found end of line\n"
     "???? program\n"
     "            ^\n"
     "2 errors generated.\n"},
    {"unterminated_string",
     "program p {\n"
     "    print(\"hello)\n"
     "}\n",
     "bad.tg:2:11: error: unterminated string\n"
     "    print(\"hello)\n"
     "          ^\n"
     "bad.tg:3:1: error: expected ',', found '}'\n"
     "}\n"
     "^\n"
     "2 errors generated.\n"},
    {"huge_integer",
     "program p {\n"
     "    x = 99999999999999999999\n"
     "}\n",
     "bad.tg:2:9: error: integer literal '99999999999999999999' is too large (the limit is 2^63 - 1)\n"
     "    x = 99999999999999999999\n"
     "        ^\n"},
    {"huge_float",
     "program p {\n"
     "    x = ones(2) * 1e999\n"
     "}\n",
     "bad.tg:2:19: error: floating-point literal '1e999' is out of range\n"
     "    x = ones(2) * 1e999\n"
     "                  ^\n"},
    {"invalid_number",
     "program p {\n"
     "    x = 12abc\n"
     "}\n",
     "bad.tg:2:9: error: invalid number '12abc'\n"
     "    x = 12abc\n"
     "        ^\n"},
    {"unknown_name_hint",
     "program p {\n"
     "    tensor = ones(4, 4)\n"
     "    print(tensr)\n"
     "}\n",
     "bad.tg:3:11: error: unknown name 'tensr'; did you mean 'tensor'?\n"
     "    print(tensr)\n"
     "          ^\n"},
    {"unknown_name",
     "program p {\n"
     "    print(zzz)\n"
     "}\n",
     "bad.tg:2:11: error: unknown name 'zzz'\n"
     "    print(zzz)\n"
     "          ^\n"},
    {"unknown_keyword_hint",
     "program p {\n"
     "    x = ones(3, dtyp=f32)\n"
     "}\n",
     "bad.tg:2:13: error: ones() got an unexpected keyword argument 'dtyp'; did you mean 'dtype'?\n"
     "    x = ones(3, dtyp=f32)\n"
     "            ^\n"},
    {"unknown_dtype",
     "program p {\n"
     "    x = tensor([1, 2], dtype=f16)\n"
     "}\n",
     "bad.tg:2:30: error: unknown name 'f16'; the dtypes are f32, f64, i32, i64, u8 and bool\n"
     "    x = tensor([1, 2], dtype=f16)\n"
     "                             ^\n"},
    {"missing_argument",
     "program p {\n"
     "    c = Conv2d(1, 6)\n"
     "}\n",
     "bad.tg:2:15: error: Conv2d() missing required argument 'kernel_size'\n"
     "    c = Conv2d(1, 6)\n"
     "              ^\n"},
    {"too_many_arguments",
     "program p {\n"
     "    x = relu(ones(2), 1)\n"
     "}\n",
     "bad.tg:2:13: error: relu() takes 1 positional argument but 2 were given\n"
     "    x = relu(ones(2), 1)\n"
     "            ^\n"},
    {"broadcast_mismatch",
     "program p {\n"
     "    x = ones(3, 4) + ones(4, 3)\n"
     "}\n",
     "bad.tg:2:20: error: cannot broadcast f32[3, 4] with f32[4, 3]\n"
     "    x = ones(3, 4) + ones(4, 3)\n"
     "                   ^\n"},
    {"matmul_mismatch",
     "program p {\n"
     "    y = ones(2, 3) @ ones(2, 3)\n"
     "}\n",
     "bad.tg:2:20: error: matmul: f32[2, 3] @ f32[2, 3]: inner sizes 3 and 2 differ\n"
     "    y = ones(2, 3) @ ones(2, 3)\n"
     "                   ^\n"},
    {"model_input_shape",
     "model Net(x: f32[B, 1, 32, 32]) {\n"
     "    conv1 = Conv2d(1, 6, 5)\n"
     "    fc1 = Linear(6 * 28 * 28, 10)\n"
     "    x = relu(conv1(x))\n"
     "    return fc1(flatten(x, 1))\n"
     "}\n"
     "program p {\n"
     "    net = Net()\n"
     "    out = net(ones(1, 3, 32, 32))\n"
     "}\n",
     "bad.tg:9:14: error: Net expects x: f32[B, 1, 32, 32], got f32[1, 3, 32, 32]\n"
     "    out = net(ones(1, 3, 32, 32))\n"
     "             ^\n"
     "bad.tg:1:11: note: 'x' is declared here\n"
     "model Net(x: f32[B, 1, 32, 32]) {\n"
     "          ^\n"},
    {"model_input_dtype",
     "model Net(x: f32[B, 1, 32, 32]) {\n"
     "    conv1 = Conv2d(1, 6, 5)\n"
     "    fc1 = Linear(6 * 28 * 28, 10)\n"
     "    x = relu(conv1(x))\n"
     "    return fc1(flatten(x, 1))\n"
     "}\n"
     "program p {\n"
     "    net = Net()\n"
     "    out = net(ones(1, 1, 32, 32, dtype=f64))\n"
     "}\n",
     "bad.tg:9:14: error: Net expects x: f32[B, 1, 32, 32], got f64[1, 1, 32, 32]\n"
     "    out = net(ones(1, 1, 32, 32, dtype=f64))\n"
     "             ^\n"
     "bad.tg:1:11: note: 'x' is declared here\n"
     "model Net(x: f32[B, 1, 32, 32]) {\n"
     "          ^\n"},
    {"conv_rank",
     "program p {\n"
     "    c = Conv2d(1, 6, 5)\n"
     "    y = c(ones(4, 400))\n"
     "}\n",
     "bad.tg:3:10: error: conv2d expects 4-D input (N, C, H, W), got f32[4, 400]\n"
     "    y = c(ones(4, 400))\n"
     "         ^\n"},
    {"linear_features",
     "program p {\n"
     "    fc = Linear(400, 120)\n"
     "    y = fc(ones(4, 300))\n"
     "}\n",
     "bad.tg:3:11: error: linear: input f32[4, 300] does not match weight f32[120, 400] (in_features 400)\n"
     "    y = fc(ones(4, 300))\n"
     "          ^\n"},
    {"index_out_of_bounds",
     "program p {\n"
     "    t = ones(4, 4)\n"
     "    print(t[4])\n"
     "}\n",
     "bad.tg:3:13: error: index 4 is out of bounds for dimension 0 with size 4\n"
     "    print(t[4])\n"
     "            ^\n"},
    {"too_many_indices",
     "program p {\n"
     "    t = ones(4)\n"
     "    print(t[0, 1])\n"
     "}\n",
     "bad.tg:3:12: error: too many indices for a tensor of rank 1: 2 given\n"
     "    print(t[0, 1])\n"
     "           ^\n"},
    {"bad_view",
     "program p {\n"
     "    t = ones(4, 4)\n"
     "    v = t.view(5, -1)\n"
     "}\n",
     "bad.tg:3:15: error: shape [5, -1] is invalid for a tensor of 16 elements\n"
     "    v = t.view(5, -1)\n"
     "              ^\n"},
    {"cat_mismatch",
     "program p {\n"
     "    t = cat([ones(2, 3), ones(3, 2)], dim=0)\n"
     "}\n",
     "bad.tg:2:12: error: cat along axis 0: f32[2, 3] and f32[3, 2] do not match\n"
     "    t = cat([ones(2, 3), ones(3, 2)], dim=0)\n"
     "           ^\n"},
    {"mean_of_int",
     "program p {\n"
     "    t = tensor([1, 2, 3])\n"
     "    print(t.mean())\n"
     "}\n",
     "bad.tg:3:17: error: mean needs a floating-point tensor, got i64[3] (use .float() first)\n"
     "    print(t.mean())\n"
     "                ^\n"},
    {"rand_int_dtype",
     "program p {\n"
     "    t = rand(3, dtype=i64)\n"
     "}\n",
     "bad.tg:2:13: error: rand needs a floating-point dtype, got torch.int64\n"
     "    t = rand(3, dtype=i64)\n"
     "            ^\n"},
    {"inplace_cast",
     "program p {\n"
     "    t = tensor([1, 2])\n"
     "    t.add_(0.5)\n"
     "}\n",
     "bad.tg:3:11: error: result type torch.float32 can't be cast to the desired output type torch.int64\n"
     "    t.add_(0.5)\n"
     "          ^\n"},
    {"assign_to_literal",
     "program p {\n"
     "    3 = x\n"
     "}\n",
     "bad.tg:2:5: error: cannot assign to this expression\n"
     "    3 = x\n"
     "    ^\n"},
    {"missing_expression",
     "program p {\n"
     "    x = 3 +\n"
     "}\n",
     "bad.tg:2:12: error: expected an expression, found end of line\n"
     "    x = 3 +\n"
     "           ^\n"},
    {"missing_brace",
     "program p {\n"
     "    x = ones(2)\n",
     "bad.tg:1:9: error: missing '}' at the end of program 'p'\n"
     "program p {\n"
     "        ^\n"},
    {"bad_toplevel",
     "modle Net(x: f32[1]) {\n"
     "}\n",
     "bad.tg:1:1: error: expected 'model', 'program', 'train', 'def' or 'from' at top level, found 'modle'\n"
     "modle Net(x: f32[1]) {\n"
     "^\n"},
    {"unknown_char",
     "program p {\n"
     "    x = ones(2) $ 3\n"
     "}\n",
     "bad.tg:2:17: error: unexpected character '$'\n"
     "    x = ones(2) $ 3\n"
     "                ^\n"
     "bad.tg:2:19: error: expected end of statement, found number '3'\n"
     "    x = ones(2) $ 3\n"
     "                  ^\n"
     "2 errors generated.\n"},
    {"chained_comparison",
     "program p {\n"
     "    b = 1 < 2 < 3\n"
     "}\n",
     "bad.tg:2:15: error: chained comparisons are not supported; use 'and'\n"
     "    b = 1 < 2 < 3\n"
     "              ^\n"},
    {"positional_after_keyword",
     "program p {\n"
     "    x = full(size=(2, 2), 3.0)\n"
     "}\n",
     "bad.tg:2:27: error: positional argument after a keyword argument\n"
     "    x = full(size=(2, 2), 3.0)\n"
     "                          ^\n"},
    {"fstring_unclosed",
     "program p {\n"
     "    t = ones(2)\n"
     "    print(f\"t: {t\")\n"
     "}\n",
     "bad.tg:3:17: error: expected '}' to close the f-string hole\n"
     "    print(f\"t: {t\")\n"
     "                ^\n"},
    {"return_outside_model",
     "program p {\n"
     "    return 3\n"
     "}\n",
     "bad.tg:2:5: error: 'return' outside a model or a def\n"
     "    return 3\n"
     "    ^\n"},
    {"module_attribute_hint",
     "model Net(x: f32[B, 1, 32, 32]) {\n"
     "    conv1 = Conv2d(1, 6, 5)\n"
     "    fc1 = Linear(6 * 28 * 28, 10)\n"
     "    x = relu(conv1(x))\n"
     "    return fc1(flatten(x, 1))\n"
     "}\n"
     "program p {\n"
     "    net = Net()\n"
     "    print(net.conv2)\n"
     "}\n",
     "bad.tg:9:15: error: Net has no attribute 'conv2'; did you mean 'conv1'?\n"
     "    print(net.conv2)\n"
     "              ^\n"},
    {"several_errors",
     "program p {\n"
     "    a = undefined_one\n"
     "    b = ones(2) + ones(3)\n"
     "    c = undefined_two\n"
     "}\n",
     "bad.tg:2:9: error: unknown name 'undefined_one'\n"
     "    a = undefined_one\n"
     "        ^\n"
     "bad.tg:3:17: error: cannot broadcast f32[2] with f32[3]\n"
     "    b = ones(2) + ones(3)\n"
     "                ^\n"
     "bad.tg:4:9: error: unknown name 'undefined_two'\n"
     "    c = undefined_two\n"
     "        ^\n"
     "3 errors generated.\n"},
    {"train_unknown_setting",
     "model Net(x: f32[B, 1, 32, 32]) {\n"
     "    conv1 = Conv2d(1, 6, 5)\n"
     "    fc1 = Linear(6 * 28 * 28, 10)\n"
     "    x = relu(conv1(x))\n"
     "    return fc1(flatten(x, 1))\n"
     "}\n"
     "train Net {\n"
     "    data = fashion_mnist(\"data\")\n"
     "    batchsize = 4\n"
     "    batch = 4\n"
     "    loss = cross_entropy\n"
     "    optimizer = SGD(lr=0.001)\n"
     "    epochs = 2\n"
     "}\n",
     "bad.tg:9:5: error: unknown train setting 'batchsize'; did you mean 'batch'?\n"
     "    batchsize = 4\n"
     "    ^\n"},
    {"train_unknown_model",
     "model Net(x: f32[B, 1, 32, 32]) {\n"
     "    conv1 = Conv2d(1, 6, 5)\n"
     "    fc1 = Linear(6 * 28 * 28, 10)\n"
     "    x = relu(conv1(x))\n"
     "    return fc1(flatten(x, 1))\n"
     "}\n"
     "train Nett {\n"
     "    data = fashion_mnist(\"data\")\n"
     "    batch = 4\n"
     "    loss = cross_entropy\n"
     "    optimizer = SGD(lr=0.001)\n"
     "    epochs = 2\n"
     "}\n",
     "bad.tg:7:7: error: train block names unknown model 'Nett'; did you mean 'Net'?\n"
     "train Nett {\n"
     "      ^\n"},
    {"train_missing_setting",
     "model Net(x: f32[B, 1, 32, 32]) {\n"
     "    conv1 = Conv2d(1, 6, 5)\n"
     "    fc1 = Linear(6 * 28 * 28, 10)\n"
     "    x = relu(conv1(x))\n"
     "    return fc1(flatten(x, 1))\n"
     "}\n"
     "train Net {\n"
     "    data = fashion_mnist(\"data\")\n"
     "    batch = 4\n"
     "}\n",
     "bad.tg:7:7: error: train block is missing the setting 'loss'\n"
     "train Net {\n"
     "      ^\n"
     "bad.tg:7:7: error: train block is missing the setting 'optimizer'\n"
     "train Net {\n"
     "      ^\n"
     "bad.tg:7:7: error: train block is missing the setting 'epochs'\n"
     "train Net {\n"
     "      ^\n"
     "3 errors generated.\n"},
    {"load_symbolic_shape",
     "program p {\n"
     "    x = load(\"x.npy\", f32[B, 3])\n"
     "}\n",
     "bad.tg:2:13: error: load(): the declared shape must be concrete, 'B' is symbolic\n"
     "    x = load(\"x.npy\", f32[B, 3])\n"
     "            ^\n"},
    {"unknown_escape",
     "program p {\n"
     "    print(\"a\\qb\")\n"
     "}\n",
     "bad.tg:2:13: error: unknown escape sequence '\\q'\n"
     "    print(\"a\\qb\")\n"
     "            ^\n"},
    {"negative_power",
     "program p {\n"
     "    t = tensor([2, 3]) ** -1\n"
     "}\n",
     "bad.tg:2:24: error: integers to negative integer powers are not allowed\n"
     "    t = tensor([2, 3]) ** -1\n"
     "                       ^\n"},
    {"model_recursion",
     "model M(x: f32[2]) {\n"
     "    m = M()\n"
     "    return m(x)\n"
     "}\n"
     "program p {\n"
     "    m = M()\n"
     "}\n",
     "bad.tg:2:10: error: model 'M' contains itself (M -> M)\n"
     "    m = M()\n"
     "         ^\n"},
    {"error_inside_forward",
     "model M(x: f32[B, 4]) {\n"
     "    fc = Linear(4, 2)\n"
     "    return fc(x) + undefined_thing\n"
     "}\n"
     "program p {\n"
     "    m = M()\n"
     "    y = m(ones(2, 4))\n"
     "    print(zz)\n"
     "    zzz = 1\n"
     "}\n",
     "bad.tg:3:20: error: unknown name 'undefined_thing'\n"
     "    return fc(x) + undefined_thing\n"
     "                   ^\n"
     "bad.tg:7:10: note: in the forward pass of M, called here\n"
     "    y = m(ones(2, 4))\n"
     "         ^\n"
     "bad.tg:8:11: error: unknown name 'zz'\n"
     "    print(zz)\n"
     "          ^\n"
     "2 errors generated.\n"},
    {"backward_through_comparison",
     "program p {\n"
     "    w = rand(3, requires_grad=true)\n"
     "    l = (w > 0.5).float().sum()\n"
     "    l.backward()\n"
     "}\n",
     "bad.tg:4:15: error: backward() of a tensor that does not require grad: its gradient would have to pass through 'gt', which has none\n"
     "    l.backward()\n"
     "              ^\n"
     "bad.tg:3:12: note: 'gt' (bool[3]) cuts the path from a tensor that requires grad here\n"
     "    l = (w > 0.5).float().sum()\n"
     "           ^\n"},
    {"backward_without_grad",
     "program p {\n"
     "    l = ones(3).sum()\n"
     "    l.backward()\n"
     "}\n",
     "bad.tg:3:15: error: backward() of a tensor that does not require grad: nothing it depends on requires_grad\n"
     "    l.backward()\n"
     "              ^\n"},
    {"backward_needs_gradient",
     "program p {\n"
     "    w = rand(3, requires_grad=true)\n"
     "    y = w * 2\n"
     "    y.backward()\n"
     "}\n",
     "bad.tg:4:15: error: backward() of f32[3] needs gradient=: a gradient can only be implied for a scalar\n"
     "    y.backward()\n"
     "              ^\n"},
    {"backward_through_grad",
     "program p {\n"
     "    w = rand(3, requires_grad=true)\n"
     "    (w * w).sum().backward()\n"
     "    l = (w.grad * 2).sum()\n"
     "    l.backward()\n"
     "}\n",
     "bad.tg:5:15: error: backward() of a tensor that does not require grad: it is computed from a .grad, and a gradient does not require grad\n"
     "    l.backward()\n"
     "              ^\n"
     "bad.tg:3:27: note: the .grad it is computed from was made by this backward()\n"
     "    (w * w).sum().backward()\n"
     "                          ^\n"},
    {"freeze_non_leaf_parameter",
     "program p {\n"
     "    fc = Linear(2, 2)\n"
     "    fc.requires_grad_(false)\n"
     "    fc.weight.add_(ones(2, 2, requires_grad=true))\n"
     "    fc.requires_grad_(true)\n"
     "    fc.requires_grad_(false)\n"
     "}\n",
     "bad.tg:6:22: error: requires_grad_(False): weight is not a leaf tensor any more (an in-place update computed it from a tensor that requires grad), and requires_grad can only be changed on a leaf\n"
     "    fc.requires_grad_(false)\n"
     "                     ^\n"},
    {"inplace_on_leaf",
     "program p {\n"
     "    w = rand(3, requires_grad=true)\n"
     "    w.add_(1)\n"
     "}\n",
     "bad.tg:3:11: error: a leaf tensor that requires grad is used in an in-place operation (PyTorch forbids it too)\n"
     "    w.add_(1)\n"
     "          ^\n"},
    {"integer_overflow",
     "program p {\n"
     "    x = 9223372036854775807 + 1\n"
     "}\n",
     "bad.tg:2:29: error: integer overflow in a compile-time expression (the limit is 2^63 - 1)\n"
     "    x = 9223372036854775807 + 1\n"
     "                            ^\n"},
    {"huge_power",
     "program p {\n"
     "    x = 3 ** 100000000000\n"
     "}\n",
     "bad.tg:2:11: error: integer overflow in a compile-time expression (the limit is 2^63 - 1)\n"
     "    x = 3 ** 100000000000\n"
     "          ^\n"},
    {"format_width",
     "program p {\n"
     "    print(f\"{1:>99999999999}\")\n"
     "}\n",
     "bad.tg:2:14: error: invalid format specifier '>99999999999' (widths and precisions go up to 1000)\n"
     "    print(f\"{1:>99999999999}\")\n"
     "             ^\n"},
    {"deep_nesting",
     "program p {\n"
     "    x = ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))\n"
     "}\n",
     "bad.tg:2:209: error: expression nested too deeply (more than 200 levels)\n"
     "    x = ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))\n"
     "                                                                                                                                                                                                                ^\n"},
    {"tensor_attribute_hint",
     "program p {\n"
     "    t = ones(2)\n"
     "    print(t.shap)\n"
     "}\n",
     "bad.tg:3:13: error: a tensor has no attribute 'shap'; did you mean 'shape'?\n"
     "    print(t.shap)\n"
     "            ^\n"},
    {"tensor_method_unknown",
     "program p {\n"
     "    t = ones(2)\n"
     "    t.frobnicate()\n"
     "}\n",
     "bad.tg:3:7: error: a tensor has no attribute or method 'frobnicate' that tgc supports\n"
     "    t.frobnicate()\n"
     "      ^\n"},
    {"swapped_letters",
     "program p {\n"
     "    x = rnadn(3)\n"
     "}\n",
     "bad.tg:2:9: error: unknown name 'rnadn'; did you mean 'randn'?\n"
     "    x = rnadn(3)\n"
     "        ^\n"},
    {"arange_too_long",
     "program p {\n"
     "    a = arange(0, 1e30, 1e-30)\n"
     "}\n",
     "bad.tg:2:15: error: arange of 1e+60 elements is too large\n"
     "    a = arange(0, 1e30, 1e-30)\n"
     "              ^\n"},
    {"fill_overflow",
     "program p {\n"
     "    t = full((2,), 300, dtype=u8)\n"
     "}\n",
     "bad.tg:2:13: error: value 300 cannot be converted to torch.uint8 without overflow\n"
     "    t = full((2,), 300, dtype=u8)\n"
     "            ^\n"},
    {"wrong_argument_kind",
     "program p {\n"
     "    x = full((2,), f32)\n"
     "}\n",
     "bad.tg:2:13: error: fill_value must be a number, got a dtype\n"
     "    x = full((2,), f32)\n"
     "            ^\n"},
    {"python_def",
     "program p {\n"
     "    def f(x) { return x }\n"
     "}\n",
     "bad.tg:2:5: error: a 'def' goes at the top level of the file, beside models and programs\n"
     "    def f(x) { return x }\n"
     "    ^\n"},
    {"for_without_block",
     "program p {\n"
     "    for i in range(3)\n"
     "}\n",
     "bad.tg:2:22: error: expected '{', found end of line\n"
     "    for i in range(3)\n"
     "                     ^\n"},
    {"break_outside_loop",
     "program p {\n"
     "    x = 1\n"
     "    break\n"
     "    if x > 0 { continue }\n"
     "}\n",
     "bad.tg:3:5: error: 'break' outside a loop\n"
     "    break\n"
     "    ^\n"
     "bad.tg:4:16: error: 'continue' outside a loop\n"
     "    if x > 0 { continue }\n"
     "               ^\n"
     "2 errors generated.\n"},
    {"shape_changes_in_loop",
     "program p {\n"
     "    x = zeros(3)\n"
     "    for i in range(2) {\n"
     "        x = cat([x, x])\n"
     "    }\n"
     "}\n",
     "bad.tg:4:11: error: 'x' is f32[3] before the loop and a tensor f32[6] here: a tensor keeps its type and shape across the iterations of a loop and the branches of an if\n"
     "        x = cat([x, x])\n"
     "          ^\n"
     "bad.tg:3:5: note: the loop is here\n"
     "    for i in range(2) {\n"
     "    ^\n"},
    {"int_becomes_float_in_loop",
     "program p {\n"
     "    best = 0\n"
     "    for i in range(3) {\n"
     "        best = ones(1).sum().item()\n"
     "    }\n"
     "}\n",
     "bad.tg:4:14: error: 'best' is an int before the loop and a float here: a variable keeps its type across a loop (write best = 0.0 before it)\n"
     "        best = ones(1).sum().item()\n"
     "             ^\n"
     "bad.tg:3:5: note: the loop is here\n"
     "    for i in range(3) {\n"
     "    ^\n"},
    {"backward_across_loop",
     "program p {\n"
     "    w = ones(2, requires_grad=true)\n"
     "    y = (w * 2).sum()\n"
     "    for i in range(2) {\n"
     "        y.backward()\n"
     "    }\n"
     "}\n",
     "bad.tg:5:19: error: backward() through 'y', computed before a loop or an if that runs at run time: tgc compiles the code between two such points as one graph, so compute the loss and call backward() in the same block\n"
     "        y.backward()\n"
     "                  ^\n"},
    {"loop_in_model",
     "model M(x: f32[B, 4]) {\n"
     "    fc = Linear(4, 4)\n"
     "    for i in range(2) { x = fc(x) }\n"
     "    return x\n"
     "}\n"
     "program p {\n"
     "    m = M()\n"
     "    print(m(ones(1, 4)))\n"
     "}\n",
     "bad.tg:3:5: error: loops are for programs: a model's forward pass is one graph (write the layers out)\n"
     "    for i in range(2) { x = fc(x) }\n"
     "    ^\n"
     "bad.tg:8:12: note: in the forward pass of M, called here\n"
     "    print(m(ones(1, 4)))\n"
     "           ^\n"},
    {"trainable_unknown",
     "model Net(x: f32[B, 4]) {\n"
     "    fc = Linear(4, 2)\n"
     "    return fc(x)\n"
     "}\n"
     "train Net {\n"
     "    data = mnist(\"d\")\n"
     "    batch = 2\n"
     "    loss = cross_entropy\n"
     "    optimizer = SGD(lr=0.1)\n"
     "    trainable = [\"fc2\"]\n"
     "    epochs = 1\n"
     "}\n",
     "bad.tg:10:18: error: trainable: Net has no parameter named 'fc2' or inside a module 'fc2'\n"
     "    trainable = [\"fc2\"]\n"
     "                 ^\n"},
    {"elif_without_if",
     "program p {\n"
     "    print(1)\n"
     "    elif 1 { print(2) }\n"
     "    print(3)\n"
     "}\n",
     "bad.tg:3:5: error: 'elif' without an 'if' before it\n"
     "    elif 1 { print(2) }\n"
     "    ^\n"},
    {"if_on_tensor_in_model",
     "model M(x: f32[B, 4]) {\n"
     "    fc = Linear(4, 2)\n"
     "    if x.shape[1] == 4 { x = x * 2 }\n"
     "    if x.sum() > 0 { x = x * 2 }\n"
     "    return fc(x)\n"
     "}\n"
     "program p {\n"
     "    m = M()\n"
     "    print(m(ones(1, 4)))\n"
     "}\n",
     "bad.tg:4:16: error: an 'if' in a model must be known at compile time (a number or a bool); this is a tensor, whose value exists only when the program runs (a forward pass is one graph; a program's if may test a tensor)\n"
     "    if x.sum() > 0 { x = x * 2 }\n"
     "               ^\n"
     "bad.tg:9:12: note: in the forward pass of M, called here\n"
     "    print(m(ones(1, 4)))\n"
     "           ^\n"},
    {"if_on_many_elements",
     "program p {\n"
     "    x = ones(2)\n"
     "    if x > 1 { print(1) }\n"
     "}\n",
     "bad.tg:3:10: error: Boolean value of Tensor with more than one value is ambiguous (this one is bool[2])\n"
     "    if x > 1 { print(1) }\n"
     "         ^\n"},
    {"if_colon",
     "program p {\n"
     "    if True: print(1)\n"
     "}\n",
     "bad.tg:2:12: error: a .tg 'if' takes a block in braces, not ':': if ... { ... }\n"
     "    if True: print(1)\n"
     "           ^\n"},
    {"view_of_transpose",
     "program p {\n"
     "    t = ones(2, 3)\n"
     "    v = t.T.view(6)\n"
     "}\n",
     "bad.tg:3:17: error: view size is not compatible with the input's layout (a transposed or strided slice); use .reshape(...), which copies\n"
     "    v = t.T.view(6)\n"
     "                ^\n"},
    {"to_cuda",
     "program p {\n"
     "    t = ones(2).to(\"cuda\")\n"
     "}\n",
     "bad.tg:2:19: error: to(\"cuda\"): this program is compiled for the CPU (tgc build --target cuda runs its loops' tensor work on a GPU, and then a CUDA device is there)\n"
     "    t = ones(2).to(\"cuda\")\n"
     "                  ^\n"},
    {"failed_assignment_quiet",
     "program p {\n"
     "    out = nope(1)\n"
     "    print(out)\n"
     "    print(out + 1)\n"
     "}\n",
     "bad.tg:2:11: error: unknown name 'nope'\n"
     "    out = nope(1)\n"
     "          ^\n"},
    {"bias_not_tensor",
     "program p {\n"
     "    y = linear(ones(2, 3), ones(4, 3), 5)\n"
     "}\n",
     "bad.tg:2:15: error: the bias must be a tensor, got an int\n"
     "    y = linear(ones(2, 3), ones(4, 3), 5)\n"
     "              ^\n"},
    {"unused_model_checked",
     "model N(x: f32[B, 3, 8, 8]) {\n"
     "    c = Conv2d(3, 4, 3)\n"
     "    return relu(c(x)) + nonsense\n"
     "}\n"
     "program p {\n"
     "    print(1)\n"
     "}\n",
     "bad.tg:3:25: error: unknown name 'nonsense'\n"
     "    return relu(c(x)) + nonsense\n"
     "                        ^\n"
     "bad.tg:1:7: note: in the forward pass of N, checked with a batch of 1 (no program calls it)\n"
     "model N(x: f32[B, 3, 8, 8]) {\n"
     "      ^\n"},
    {"train_model_and_optimizer",
     "model Net(x: f32[B, 1, 32, 32]) {\n"
     "    conv1 = Conv2d(1, 6, 5)\n"
     "    fc1 = Linear(6 * 28 * 28, 10)\n"
     "    x = relu(conv1(x))\n"
     "    return fc1(flatten(x, 1))\n"
     "}\n"
     "train Net {\n"
     "    data = fashion_mnist(\"d\")\n"
     "    batch = 4\n"
     "    loss = cross_entropy\n"
     "    optimizer = SGD(lr=0.001, momentum=\"x\", frob=3)\n"
     "    epochs = 1\n"
     "}\n",
     "bad.tg:11:40: error: momentum must be a non-negative number\n"
     "    optimizer = SGD(lr=0.001, momentum=\"x\", frob=3)\n"
     "                                       ^\n"
     "bad.tg:11:50: error: SGD has no setting 'frob'\n"
     "    optimizer = SGD(lr=0.001, momentum=\"x\", frob=3)\n"
     "                                                 ^\n"
     "2 errors generated.\n"},
    {"nul_escape",
     "program p {\n"
     "    print(\"a\\0b\")\n"
     "}\n",
     "bad.tg:2:11: error: NUL characters ('\\0') in strings are not supported\n"
     "    print(\"a\\0b\")\n"
     "          ^\n"},
    {"def_wrong_shape",
     "def f(x: f32[B, 4]) {\n"
     "    return x * 2\n"
     "}\n"
     "program p {\n"
     "    print(f(ones(2, 3)))\n"
     "}\n",
     "bad.tg:5:12: error: f() expects x: f32[B, 4], got f32[2, 3]\n"
     "    print(f(ones(2, 3)))\n"
     "           ^\n"
     "bad.tg:1:7: note: 'x' is declared here\n"
     "def f(x: f32[B, 4]) {\n"
     "      ^\n"},
    {"def_error_inside",
     "def f(x) {\n"
     "    y = x @ x\n"
     "    return y\n"
     "}\n"
     "def g(x) {\n"
     "    return f(x)\n"
     "}\n"
     "program p {\n"
     "    print(g(ones(2, 3)))\n"
     "}\n",
     "bad.tg:2:11: error: matmul: f32[2, 3] @ f32[2, 3]: inner sizes 3 and 2 differ\n"
     "    y = x @ x\n"
     "          ^\n"
     "bad.tg:6:13: note: in f(), called here\n"
     "    return f(x)\n"
     "            ^\n"
     "bad.tg:9:12: note: in g(), called here\n"
     "    print(g(ones(2, 3)))\n"
     "           ^\n"},
    {"def_arguments",
     "def f(a, b=1) {\n"
     "    return a + b\n"
     "}\n"
     "program p {\n"
     "    print(f())\n"
     "    print(f(1, 2, 3))\n"
     "    print(f(1, c=2))\n"
     "}\n",
     "bad.tg:5:12: error: f() missing required argument 'a'\n"
     "    print(f())\n"
     "           ^\n"
     "bad.tg:6:12: error: f() takes 2 positional arguments but 3 were given\n"
     "    print(f(1, 2, 3))\n"
     "           ^\n"
     "bad.tg:7:12: error: f() got an unexpected keyword argument 'c'; did you mean 'a'?\n"
     "    print(f(1, c=2))\n"
     "           ^\n"
     "3 errors generated.\n"},
    {"def_return_in_loop",
     "def first_big(t) {\n"
     "    for i in range(4) {\n"
     "        if t[i] > 1 {\n"
     "            return i\n"
     "        }\n"
     "    }\n"
     "    return -1\n"
     "}\n"
     "program p {\n"
     "    print(first_big(tensor([0.5, 2.0, 3.0, 0.0])))\n"
     "}\n",
     "bad.tg:4:13: error: 'return' inside a loop or an if decided at run time is not supported yet: assign the result to a variable and return it after the loop\n"
     "            return i\n"
     "            ^\n"
     "bad.tg:10:20: note: in first_big(), called here\n"
     "    print(first_big(tensor([0.5, 2.0, 3.0, 0.0])))\n"
     "                   ^\n"},
    {"def_break_outside_loop",
     "def stop() {\n"
     "    break\n"
     "}\n"
     "program p {\n"
     "    for i in range(3) {\n"
     "        stop()\n"
     "    }\n"
     "}\n",
     "bad.tg:2:5: error: 'break' outside a loop\n"
     "    break\n"
     "    ^\n"
     "bad.tg:6:13: note: in stop(), called here\n"
     "        stop()\n"
     "            ^\n"},
    {"def_name_taken",
     "model f(x: f32[B, 2]) {\n"
     "    return x\n"
     "}\n"
     "def f(x) {\n"
     "    return x\n"
     "}\n"
     "program p {\n"
     "    print(1)\n"
     "}\n",
     "bad.tg:4:5: error: def name 'f' is already taken\n"
     "def f(x) {\n"
     "    ^\n"},
    {"def_sees_no_program_variable",
     "def f() {\n"
     "    return n + 1\n"
     "}\n"
     "program p {\n"
     "    n = 2\n"
     "    print(f())\n"
     "}\n",
     "bad.tg:2:12: error: unknown name 'n': a def sees its parameters and the file's models and defs, not the variables of the code that calls it (pass 'n' as an argument)\n"
     "    return n + 1\n"
     "           ^\n"
     "bad.tg:6:12: note: in f(), called here\n"
     "    print(f())\n"
     "           ^\n"},
    {"loader_partial_after_break",
     "program p {\n"
     "    x = torch.randn(20, 3)\n"
     "    odd = DataLoader(TensorDataset(x, x.sum(1)), batch_size=6)\n"
     "    n = 0\n"
     "    for xb, yb in odd {\n"
     "        n += 1\n"
     "        if n > 2 {\n"
     "            break\n"
     "        }\n"
     "    }\n"
     "    print(xb.shape)\n"
     "}\n",
     "bad.tg:11:11: error: 'xb' is a tensor f32[6, 3] after the loop's full batches and a tensor f32[2, 3] after its last partial batch (line 5), and the loop may break before that one: its type here is known only when the program runs (use it inside the loop, or give the DataLoader drop_last=True)\n"
     "    print(xb.shape)\n"
     "          ^\n"},
    {"invalid_lr_and_key",
     "model M(x: f32[B, 2]) {\n"
     "    fc = Linear(2, 1)\n"
     "    return fc(x)\n"
     "}\n"
     "program p {\n"
     "    net = M()\n"
     "    o = optim.SGD(net.parameters(), lr=-0.1)\n"
     "    d = {'a': 1}\n"
     "    print(d['nope'])\n"
     "}\n",
     "bad.tg:7:18: error: ValueError: Invalid learning rate: -0.1\n"
     "    o = optim.SGD(net.parameters(), lr=-0.1)\n"
     "                 ^\n"
     "bad.tg:9:13: error: KeyError: 'nope'\n"
     "    print(d['nope'])\n"
     "            ^\n"
     "2 errors generated.\n"},
    {"tensor_dataset",
     "program p {\n"
     "    d = TensorDataset(ones(4, 2), zeros(5))\n"
     "    e = TensorDataset(ones(4), 3)\n"
     "    for i in range(int(ones(1).sum())) {\n"
     "        f = TensorDataset(ones(4))\n"
     "    }\n"
     "}\n",
     "bad.tg:2:22: error: Size mismatch between tensors: argument 2 has 5 rows, the first 4\n"
     "    d = TensorDataset(ones(4, 2), zeros(5))\n"
     "                     ^\n"
     "bad.tg:3:22: error: TensorDataset takes tensors; argument 2 is an int\n"
     "    e = TensorDataset(ones(4), 3)\n"
     "                     ^\n"
     "bad.tg:5:26: error: a TensorDataset is made outside run-time loops and ifs (it holds its tensors for the loaders that read it)\n"
     "        f = TensorDataset(ones(4))\n"
     "                         ^\n"
     "3 errors generated.\n"},
    {"dataset_without_totensor",
     "program p {\n"
     "    t = transforms.Normalize((0.5,), (0.5,))\n"
     "    s = torchvision.datasets.FashionMNIST(root=\"d\", transform=t)\n"
     "    u = torchvision.datasets.CIFAR10(root=\"d\", transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5, 0.5), (0.5, 0.5))]))\n"
     "}\n",
     "bad.tg:3:42: error: FashionMNIST: a DataLoader batches tensors: pass transform=transforms.ToTensor() (or a Compose that has it)\n"
     "    s = torchvision.datasets.FashionMNIST(root=\"d\", transform=t)\n"
     "                                         ^\n"
     "bad.tg:4:37: error: CIFAR10 has 3 channels; Normalize was given 2 means\n"
     "    u = torchvision.datasets.CIFAR10(root=\"d\", transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5, 0.5), (0.5, 0.5))]))\n"
     "                                    ^\n"
     "2 errors generated.\n"},
    {"next_of_loader",
     "program p {\n"
     "    s = torchvision.datasets.MNIST(root=\"d\", transform=transforms.ToTensor())\n"
     "    l = torch.utils.data.DataLoader(s, batch_size=4)\n"
     "    x, y = next(l)\n"
     "    for a, b, c in enumerate(l) {\n"
     "        print(a)\n"
     "    }\n"
     "}\n",
     "bad.tg:4:16: error: next() takes an iterator, not a DataLoader: it = iter(loader), then next(it)\n"
     "    x, y = next(l)\n"
     "               ^\n"
     "bad.tg:5:9: error: a for over enumerate(loader) binds two things: for i, data in ...\n"
     "    for a, b, c in enumerate(l) {\n"
     "        ^\n"
     "2 errors generated.\n"},
    {"cond_on_runtime_value",
     "program p {\n"
     "    x = ones(2).sum()\n"
     "    y = (1 if x > 1 else 2) + 1\n"
     "    z = [i for i in x.view(1)]\n"
     "}\n",
     "bad.tg:3:17: error: a conditional expression ('a if c else b') on a value known only at run time is supported as a whole assignment (x = a if c else b); elsewhere, use an if statement\n"
     "    y = (1 if x > 1 else 2) + 1\n"
     "                ^\n"},
    {"comprehension_two_fors",
     "program p {\n"
     "    l = [i for i in range(3) for j in range(2)]\n"
     "}\n",
     "bad.tg:2:30: error: a comprehension with two 'for's is not supported yet\n"
     "    l = [i for i in range(3) for j in range(2)]\n"
     "                             ^\n"},
    {"set_literal",
     "program p {\n"
     "    s = {1, 2}\n"
     "}\n",
     "bad.tg:2:11: error: expected ':' after a dictionary key (sets are not supported), found ','\n"
     "    s = {1, 2}\n"
     "          ^\n"},
    {"dict_runtime_key_late",
     "program p {\n"
     "    d = {'a': 0, 'b': 0}\n"
     "    t = tensor([1, 0])\n"
     "    names = ('a', 'b')\n"
     "    for i in range(2) {\n"
     "        d[names[t[i]]] += 1\n"
     "    }\n"
     "}\n",
     "bad.tg:6:16: error: a dict literal first indexed by a key known only at run time inside a loop or an if: make it with a comprehension ({k: 0 for k in keys}), which lives at run time from the start\n"
     "        d[names[t[i]]] += 1\n"
     "               ^\n"},
    {"join_of_numbers",
     "program p {\n"
     "    print(' '.join([1, 2]))\n"
     "    print(torch.device('tpu'))\n"
     "}\n",
     "bad.tg:2:19: error: sequence item 0: expected str instance, int found\n"
     "    print(' '.join([1, 2]))\n"
     "                  ^\n"
     "bad.tg:3:23: error: Expected one of cpu, cuda device type at start of device string: tpu\n"
     "    print(torch.device('tpu'))\n"
     "                      ^\n"
     "2 errors generated.\n"},
    {"options_misuse",
     "program p {\n"
     "    args = options(epochs=2, data=[1, 2])\n"
     "}\n",
     "bad.tg:2:19: error: option 'data': a default must be an int, a float, a bool or a string known at compile time, not a list\n"
     "    args = options(epochs=2, data=[1, 2])\n"
     "                  ^\n"},
    {"options_twice",
     "program p {\n"
     "    a = options(epochs=1)\n"
     "    print(a.epoch)\n"
     "    b = options(k=2)\n"
     "    c = torch.utils.data.DataLoader(torchvision.datasets.MNIST('d', transform=transforms.ToTensor()), batch_size=a.epochs)\n"
     "}\n",
     "bad.tg:3:13: error: the program has no option 'epoch'; did you mean 'epochs'?\n"
     "    print(a.epoch)\n"
     "            ^\n"
     "bad.tg:4:16: error: options() is called once per file (the program's command line is one)\n"
     "    b = options(k=2)\n"
     "               ^\n"
     "bad.tg:5:36: error: batch_size must be known at compile time; this number (an item(), an option, a loop's value) is known only when the program runs\n"
     "    c = torch.utils.data.DataLoader(torchvision.datasets.MNIST('d', transform=transforms.ToTensor()), batch_size=a.epochs)\n"
     "                                   ^\n"
     "3 errors generated.\n"},
    {"def_parameters",
     "def g(x=1, k) {\n"
     "    return x\n"
     "}\n"
     "def g2(x, x) {\n"
     "    return x\n"
     "}\n"
     "program p {\n"
     "    print(1)\n"
     "}\n",
     "bad.tg:1:12: error: a parameter without a default follows one with a default\n"
     "def g(x=1, k) {\n"
     "           ^\n"
     "bad.tg:4:11: error: duplicate argument 'x' in the definition\n"
     "def g2(x, x) {\n"
     "          ^\n"
     "2 errors generated.\n"},
    {"import_statement",
     "import torch\n"
     "program p {\n"
     "    print(1)\n"
     "}\n",
     "bad.tg:1:1: error: write 'from MODULE import NAME' to use another .tg file's models and defs (torch, torchvision and numpy need no import)\n"
     "import torch\n"
     "^\n"},
    {"container_changed_in_loop",
     "program p {\n"
     "    best = {'acc': 0.0}\n"
     "    for e in range(3) {\n"
     "        acc = ones(1).sum().item() * e\n"
     "        if acc > best['acc'] {\n"
     "            best['acc'] = acc\n"
     "        }\n"
     "    }\n"
     "}\n",
     "bad.tg:6:18: error: a dict made before a loop or an if decided at run time cannot change inside it (its entries are the compiler's): make it with a comprehension of numbers ({k: 0 for k in keys}), which lives at run time, or use variables\n"
     "            best['acc'] = acc\n"
     "                 ^\n"},
    {"def_recursion",
     "def f(n) {\n"
     "    return f(n + 1)\n"
     "}\n"
     "program p {\n"
     "    print(f(0))\n"
     "}\n",
     "bad.tg:2:13: error: calls nested more than 64 deep (does 'f' call itself?)\n"
     "    return f(n + 1)\n"
     "            ^\n"
     "bad.tg:2:13: note: in f(), called here, 63 times in a row\n"
     "    return f(n + 1)\n"
     "            ^\n"
     "bad.tg:5:12: note: in f(), called here\n"
     "    print(f(0))\n"
     "           ^\n"},
    {"export_untyped",
     "export def f(net, x: f32[2, 4]) {\n"
     "    return net(x)\n"
     "}\n",
     "bad.tg:1:14: error: parameter 'net' of an exported def needs a type a C caller can pass: a tensor type (net: f32[4, 784]) or a model (net: Net)\n"
     "export def f(net, x: f32[2, 4]) {\n"
     "             ^\n"},
    {"export_symbolic",
     "export def f(x: f32[B, 4]) {\n"
     "    return x * 2\n"
     "}\n",
     "bad.tg:1:20: error: parameter 'x' of an exported def has a symbolic dimension; a C function takes fixed shapes: write the number\n"
     "export def f(x: f32[B, 4]) {\n"
     "                   ^\n"},
    {"export_prints",
     "export def f(x: f32[2, 4]) {\n"
     "    print(x)\n"
     "    return x\n"
     "}\n",
     "bad.tg:2:10: error: an exported def runs without I/O or a generator, but this prints\n"
     "    print(x)\n"
     "         ^\n"},
    {"export_random",
     "export def f(x: f32[2, 4]) {\n"
     "    return x + torch.rand(2, 4)\n"
     "}\n",
     "bad.tg:2:26: error: an exported def runs without I/O or a generator, but this draws random numbers (a C caller passes them as a tensor)\n"
     "    return x + torch.rand(2, 4)\n"
     "                         ^\n"},
    {"export_loop",
     "export def f(x: f32[2, 4]) {\n"
     "    for i in range(3) {\n"
     "        x = x * 2\n"
     "    }\n"
     "    return x\n"
     "}\n",
     "bad.tg:1:12: error: an exported def is one graph a C function runs: f() has a loop or an if decided at run time (a value known only when it runs: .item(), a data loader, an option)\n"
     "export def f(x: f32[2, 4]) {\n"
     "           ^\n"},
    {"export_returns_number",
     "export def f(x: f32[2, 4]) {\n"
     "    return 3\n"
     "}\n",
     "bad.tg:1:12: error: an exported def returns tensors; f() returns an int\n"
     "export def f(x: f32[2, 4]) {\n"
     "           ^\n"},
    {"export_makes_model",
     "model Net(x: f32[B, 4]) {\n"
     "    fc = Linear(4, 2)\n"
     "    return fc(x)\n"
     "}\n"
     "export def f(x: f32[2, 4]) {\n"
     "    n = Net()\n"
     "    return n(x)\n"
     "}\n",
     "bad.tg:5:12: error: an exported def runs without I/O or a generator, but f() creates a tensor that persists (a model or optimizer made inside: pass the model as a parameter, net: Net)\n"
     "export def f(x: f32[2, 4]) {\n"
     "           ^\n"},
    {"export_changes_input",
     "export def f(x: f32[2, 4]) {\n"
     "    x.add_(1)\n"
     "    return x\n"
     "}\n",
     "bad.tg:1:12: error: f() changes its parameter 'x' in place, but an exported def's tensor parameters are the caller's const input: change a copy (x = x.clone())\n"
     "export def f(x: f32[2, 4]) {\n"
     "           ^\n"},
    {"utf8_bom",
     "\357\273\277program p {\n"
     "    print(zzz)\n"
     "}\n",
     "bad.tg:2:11: error: unknown name 'zzz'\n"
     "    print(zzz)\n"
     "          ^\n"},
    {"crlf_continuation",
     "program p {\015\n"
     "    x = 1 + \\\015\n"
     "        2\015\n"
     "    print(x, y)\015\n"
     "}\015\n",
     "bad.tg:4:14: error: unknown name 'y'; did you mean 'x'?\n"
     "    print(x, y)\n"
     "             ^\n"},
    {"math_member",
     "program p {\n"
     "    print(math.sqrt(2.0))\n"
     "}\n",
     "bad.tg:2:16: error: tgc does not support math.sqrt yet (math has isnan, isinf, isfinite, inf, nan, pi)\n"
     "    print(math.sqrt(2.0))\n"
     "               ^\n"},
    {"ns_unsupported",
     "program p {\n"
     "    e = nn.Embedding(10, 3)\n"
     "}\n",
     "bad.tg:2:12: error: tgc does not support nn.Embedding yet\n"
     "    e = nn.Embedding(10, 3)\n"
     "           ^\n"},
    {"ns_unsupported_deep",
     "program p {\n"
     "    y = torch.nn.functional.interpolate(ones(1, 1, 2, 2), scale_factor=2)\n"
     "}\n",
     "bad.tg:2:29: error: tgc does not support torch.nn.functional.interpolate yet\n"
     "    y = torch.nn.functional.interpolate(ones(1, 1, 2, 2), scale_factor=2)\n"
     "                            ^\n"},
    {"ns_unsupported_namespace",
     "program p {\n"
     "    d = torch.distributions.Normal(0.0, 1.0)\n"
     "}\n",
     "bad.tg:2:15: error: tgc does not support torch.distributions yet\n"
     "    d = torch.distributions.Normal(0.0, 1.0)\n"
     "              ^\n"},
    {"ns_case_slip",
     "program p {\n"
     "    c = nn.Conv2D(1, 6, 5)\n"
     "}\n",
     "bad.tg:2:12: error: 'nn' has no member 'Conv2D'; did you mean 'Conv2d'?\n"
     "    c = nn.Conv2D(1, 6, 5)\n"
     "           ^\n"},
    {"ns_typo_long_name",
     "program p {\n"
     "    s = nn.Sequental(nn.ReLU())\n"
     "}\n",
     "bad.tg:2:12: error: 'nn' has no member 'Sequental'; did you mean 'Sequential'?\n"
     "    s = nn.Sequental(nn.ReLU())\n"
     "           ^\n"},
    {"ns_other_dimensionality",
     "program p {\n"
     "    d = nn.Dropout1d(0.5)\n"
     "    m = nn.MaxPool1d(2)\n"
     "    b = nn.BatchNorm3d(3)\n"
     "}\n",
     "bad.tg:2:12: error: tgc does not support nn.Dropout1d yet\n"
     "    d = nn.Dropout1d(0.5)\n"
     "           ^\n"
     "bad.tg:3:12: error: tgc does not support nn.MaxPool1d yet\n"
     "    m = nn.MaxPool1d(2)\n"
     "           ^\n"
     "bad.tg:4:12: error: tgc does not support nn.BatchNorm3d yet\n"
     "    b = nn.BatchNorm3d(3)\n"
     "           ^\n"
     "3 errors generated.\n"},
    {"ns_no_unrelated_hint",
     "program p {\n"
     "    y = F.einsum(\"ij->ji\", ones(2, 3))\n"
     "}\n",
     "bad.tg:2:11: error: tgc does not support F.einsum yet\n"
     "    y = F.einsum(\"ij->ji\", ones(2, 3))\n"
     "          ^\n"},
    {"ns_other_namespace",
     "program p {\n"
     "    y = torchvision.transforms.relu(ones(2))\n"
     "}\n",
     "bad.tg:2:32: error: tgc does not support torchvision.transforms.relu yet (torchvision.transforms has ToTensor, Normalize, Pad, Compose)\n"
     "    y = torchvision.transforms.relu(ones(2))\n"
     "                               ^\n"},
    {"ns_tgc_own_name",
     "program p {\n"
     "    x = ones(2, dtype=torch.f32)\n"
     "}\n",
     "bad.tg:2:29: error: torch.f32 is not torch's: 'f32' is written without a namespace\n"
     "    x = ones(2, dtype=torch.f32)\n"
     "                            ^\n"},
    {"ns_no_grad_outside_with",
     "program p {\n"
     "    g = torch.no_grad()\n"
     "}\n",
     "bad.tg:2:15: error: torch.no_grad() is written in a with statement: with torch.no_grad() { ... }\n"
     "    g = torch.no_grad()\n"
     "              ^\n"},
    {"dropout_p_range",
     "program p {\n"
     "    y = F.dropout(ones(4), 1.5)\n"
     "}\n",
     "bad.tg:2:18: error: dropout probability has to be between 0 and 1, but got 1.5\n"
     "    y = F.dropout(ones(4), 1.5)\n"
     "                 ^\n"},
    {"gelu_approximate",
     "program p {\n"
     "    y = F.gelu(ones(4), approximate=\"fast\")\n"
     "}\n",
     "bad.tg:2:15: error: gelu: approximate must be 'none' or 'tanh'\n"
     "    y = F.gelu(ones(4), approximate=\"fast\")\n"
     "              ^\n"},
    {"nll_target_dtype",
     "program p {\n"
     "    y = F.nll_loss(ones(2, 3), ones(2))\n"
     "}\n",
     "bad.tg:2:19: error: nll_loss: the target must be class indices (i64), got f32[2]\n"
     "    y = F.nll_loss(ones(2, 3), ones(2))\n"
     "                  ^\n"},
    {"loss_size_average",
     "program p {\n"
     "    y = F.l1_loss(ones(2), ones(2), size_average=True)\n"
     "}\n",
     "bad.tg:2:18: error: size_average is deprecated in PyTorch and not supported: use reduction='mean', 'sum' or 'none'\n"
     "    y = F.l1_loss(ones(2), ones(2), size_average=True)\n"
     "                 ^\n"},
    {"eye_too_large",
     "program p {\n"
     "    x = torch.eye(100000)\n"
     "}\n",
     "bad.tg:2:18: error: eye of 10000000000 elements is too large for a constant of the program (at most 16777216)\n"
     "    x = torch.eye(100000)\n"
     "                 ^\n"},
    {"scheduler_not_optimizer",
     "program p {\n"
     "    s = torch.optim.lr_scheduler.StepLR(1, 2)\n"
     "}\n",
     "bad.tg:2:40: error: StepLR() takes an optimizer first, got an int\n"
     "    s = torch.optim.lr_scheduler.StepLR(1, 2)\n"
     "                                       ^\n"},
    {"one_hot_no_classes",
     "program p {\n"
     "    y = F.one_hot(tensor([1, 2]))\n"
     "}\n",
     "bad.tg:2:18: error: one_hot: give num_classes (the largest class is known only at run time)\n"
     "    y = F.one_hot(tensor([1, 2]))\n"
     "                 ^\n"},
    {"train_slice_not_divisor",
     "model Net(x: f32[B, 1, 28, 28]) {\n"
     "    fc = Linear(784, 10)\n"
     "    return fc(flatten(x, 1))\n"
     "}\n"
     "train Net {\n"
     "    data = mnist(\"d\")\n"
     "    batch = 16\n"
     "    slice = 5\n"
     "    loss = cross_entropy\n"
     "    optimizer = SGD(lr=0.1)\n"
     "    epochs = 1\n"
     "}\n",
     "bad.tg:8:13: error: slice must divide the batch (16 images)\n"
     "    slice = 5\n"
     "            ^\n"},
    {"train_slice_batchnorm",
     "model Net(x: f32[B, 1, 28, 28]) {\n"
     "    bn = BatchNorm2d(1)\n"
     "    fc = Linear(784, 10)\n"
     "    return fc(flatten(bn(x), 1))\n"
     "}\n"
     "train Net {\n"
     "    data = mnist(\"d\")\n"
     "    batch = 16\n"
     "    slice = 8\n"
     "    loss = cross_entropy\n"
     "    optimizer = SGD(lr=0.1)\n"
     "    epochs = 1\n"
     "}\n",
     "bad.tg:9:13: error: the model's batch norm takes its statistics over the whole batch: it cannot be sliced\n"
     "    slice = 8\n"
     "            ^\n"},
    {"error_in_unrolled_loop",
     "program p {\n"
     "    for s in [0, 1, 2] {\n"
     "        x = ones(2).tolist()\n"
     "    }\n"
     "}\n",
     "bad.tg:3:21: error: a tensor has no attribute or method 'tolist' that tgc supports\n"
     "        x = ones(2).tolist()\n"
     "                    ^\n"},
    {"index_bool_mask",
     "program p {\n"
     "    x = ones(3)\n"
     "    print(x[x > 0])\n"
     "}\n",
     "bad.tg:3:15: error: indexing with a bool mask gives a shape known only at run time: use torch.where or masked_fill instead\n"
     "    print(x[x > 0])\n"
     "              ^\n"},
    {"index_put_tensor",
     "program p {\n"
     "    x = ones(3)\n"
     "    x[tensor([0, 2])] = 5\n"
     "}\n",
     "bad.tg:3:23: error: assignment through an index tensor (index_put_) is not supported yet; use index_add_ or scatter_add_\n"
     "    x[tensor([0, 2])] = 5\n"
     "                      ^\n"},
    {"index_put_augmented",
     "program p {\n"
     "    x = zeros(3, 4)\n"
     "    x[:, tensor([0, 2])] += 1\n"
     "    print(x)\n"
     "}\n",
     "bad.tg:3:26: error: assignment through an index tensor (index_put_) is not supported yet; use index_add_ or scatter_add_\n"
     "    x[:, tensor([0, 2])] += 1\n"
     "                         ^\n"},
    {"where_one_argument",
     "program p {\n"
     "    x = ones(3)\n"
     "    i = torch.where(x > 0)\n"
     "}\n",
     "bad.tg:3:20: error: torch.where(condition) gives indices whose count is known only at run time: give torch.where(condition, input, other)\n"
     "    i = torch.where(x > 0)\n"
     "                   ^\n"},
    {"where_float_condition",
     "program p {\n"
     "    x = ones(3)\n"
     "    y = torch.where(x, x, 0.0)\n"
     "}\n",
     "bad.tg:3:20: error: where expected a bool tensor as the condition, got f32[3]\n"
     "    y = torch.where(x, x, 0.0)\n"
     "                   ^\n"},
    {"gather_float_index",
     "program p {\n"
     "    x = ones(2, 3)\n"
     "    y = x.gather(1, tensor([[0.0]]))\n"
     "}\n",
     "bad.tg:3:17: error: gather(): Expected dtype int64 for index, got f32[1, 1]\n"
     "    y = x.gather(1, tensor([[0.0]]))\n"
     "                ^\n"},
    {"gather_index_too_large",
     "program p {\n"
     "    x = ones(2, 3)\n"
     "    y = x.gather(1, tensor([[0], [1], [2]]))\n"
     "}\n",
     "bad.tg:3:17: error: gather: index i64[3, 1] is larger than f32[2, 3] at dimension 0 (only dimension 1 may be)\n"
     "    y = x.gather(1, tensor([[0], [1], [2]]))\n"
     "                ^\n"},
    {"masked_fill_tensor_value",
     "program p {\n"
     "    x = ones(2, 3)\n"
     "    y = x.masked_fill(x > 0, ones(3))\n"
     "}\n",
     "bad.tg:3:22: error: masked_fill_ only supports a 0-dimensional value tensor, but got tensor with 1 dimension(s)\n"
     "    y = x.masked_fill(x > 0, ones(3))\n"
     "                     ^\n"},
    {"index_add_float_alpha",
     "program p {\n"
     "    x = zeros(3, dtype=i64)\n"
     "    y = x.index_add(0, tensor([1]), tensor([5]), alpha=0.5)\n"
     "    z = x.index_add(0, tensor([1]), tensor([5]), alpha=\"2\")\n"
     "}\n",
     "bad.tg:3:20: error: For integral input tensors, argument alpha must not be a floating point number.\n"
     "    y = x.index_add(0, tensor([1]), tensor([5]), alpha=0.5)\n"
     "                   ^\n"
     "bad.tg:4:20: error: index_add(): alpha must be a number, got a string\n"
     "    z = x.index_add(0, tensor([1]), tensor([5]), alpha=\"2\")\n"
     "                   ^\n"
     "2 errors generated.\n"},
    {"repeat_too_many",
     "program p {\n"
     "    y = ones(3).repeat(9223372036854775807)\n"
     "}\n",
     "bad.tg:2:23: error: repeat: 9223372036854775807 copies of a dimension of size 3 are more than tgc's limit of 2^34 elements\n"
     "    y = ones(3).repeat(9223372036854775807)\n"
     "                      ^\n"},
    {"result_too_large",
     "program p {\n"
     "    c = ones(262144, 1) > 0\n"
     "    y = torch.where(c, ones(1, 262144), 0.0)\n"
     "    z = ones(1).expand(17179869185)\n"
     "}\n",
     "bad.tg:3:20: error: tensor of shape [262144, 262144] is too large (tgc's limit is 2^34 elements)\n"
     "    y = torch.where(c, ones(1, 262144), 0.0)\n"
     "                   ^\n"
     "bad.tg:4:23: error: tensor of shape [17179869185] is too large (tgc's limit is 2^34 elements)\n"
     "    z = ones(1).expand(17179869185)\n"
     "                      ^\n"
     "2 errors generated.\n"},
    {"masked_fill_value_overflow",
     "program p {\n"
     "    m = tensor([True, False])\n"
     "    a = tensor([1, 2], dtype=u8).masked_fill(m, -1.7)\n"
     "    b = tensor([1, 2]).masked_fill(m, float(\"nan\"))\n"
     "}\n",
     "bad.tg:3:45: error: value -1 cannot be converted to torch.uint8 without overflow\n"
     "    a = tensor([1, 2], dtype=u8).masked_fill(m, -1.7)\n"
     "                                            ^\n"
     "bad.tg:4:35: error: value nan cannot be converted to torch.int64 without overflow\n"
     "    b = tensor([1, 2]).masked_fill(m, float(\"nan\"))\n"
     "                                  ^\n"
     "2 errors generated.\n"},
    {"index_select_matrix",
     "program p {\n"
     "    x = ones(2, 3)\n"
     "    y = x.index_select(0, tensor([[0]]))\n"
     "}\n",
     "bad.tg:3:23: error: index_select(): Index is supposed to be a vector\n"
     "    y = x.index_select(0, tensor([[0]]))\n"
     "                      ^\n"},
    {"float_of_bad_string",
     "program p {\n"
     "    print(float(\"0x10\"), float(\"one\"))\n"
     "}\n",
     "bad.tg:2:16: error: could not convert string to float: '0x10'\n"
     "    print(float(\"0x10\"), float(\"one\"))\n"
     "               ^\n"},
    {"normalize_std_zero",
     "model Net(x: f32[B, 1, 28, 28]) {\n"
     "    fc = Linear(784, 10)\n"
     "    return fc(flatten(x, 1))\n"
     "}\n"
     "train Net {\n"
     "    data = mnist(\"d\")\n"
     "    transform = normalize(mean=[0.5], std=[0.0])\n"
     "    batch = 4\n"
     "    loss = cross_entropy\n"
     "    optimizer = SGD(lr=0.1)\n"
     "    epochs = 1\n"
     "}\n",
     "bad.tg:7:26: error: normalize: std must be a nonzero number and mean a number (got mean 0.5, std 0): the images would be nan or inf\n"
     "    transform = normalize(mean=[0.5], std=[0.0])\n"
     "                         ^\n"},
    {"unary_plus_module",
     "model Net(x: f32[B, 4]) {\n"
     "    fc =+ Linear(4, 2)\n"
     "    return fc(x)\n"
     "}\n"
     "program p {\n"
     "    n = Net()\n"
     "    print(n(ones(1, 4)))\n"
     "}\n",
     "bad.tg:2:9: error: bad operand type for unary +: a module (Linear)\n"
     "    fc =+ Linear(4, 2)\n"
     "        ^\n"
     "bad.tg:7:12: note: in the forward pass of Net, called here\n"
     "    print(n(ones(1, 4)))\n"
     "           ^\n"},
    {"declared_dim_huge",
     "model Net(x: f32[B, 4611686018427387904]) {\n"
     "    return x\n"
     "}\n"
     "program p {\n"
     "    print(1)\n"
     "}\n",
     "bad.tg:1:17: error: tensor of shape [B, 4611686018427387904] is too large (tgc's limit is 2^34 elements)\n"
     "model Net(x: f32[B, 4611686018427387904]) {\n"
     "                ^\n"},
    {"trainer_batch_huge",
     "model Net(x: f32[B, 1, 28, 28]) {\n"
     "    fc = Linear(784, 10)\n"
     "    return fc(flatten(x, 1))\n"
     "}\n"
     "train Net {\n"
     "    data = mnist(\"d\")\n"
     "    batch = 9223372036854775807\n"
     "    loss = cross_entropy\n"
     "    optimizer = SGD(lr=0.1)\n"
     "    epochs = 1\n"
     "}\n",
     "bad.tg:7:13: error: batch must be an integer from 1 to 1048576\n"
     "    batch = 9223372036854775807\n"
     "            ^\n"},
    {"model_contains_itself",
     "model A(x: f32[B, 4]) {\n"
     "    b = B2()\n"
     "    return b(x)\n"
     "}\n"
     "model B2(x: f32[B, 4]) {\n"
     "    a = A()\n"
     "    return a(x)\n"
     "}\n"
     "program p {\n"
     "    n = A()\n"
     "}\n",
     "bad.tg:6:10: error: model 'A' contains itself (A -> B2 -> A)\n"
     "    a = A()\n"
     "         ^\n"},
    {"model_chain_too_long",
     "model M0(x: f32[B, 4]) {\n"
     "    m = M1()\n"
     "    return m(x)\n"
     "}\n"
     "model M1(x: f32[B, 4]) {\n"
     "    m = M2()\n"
     "    return m(x)\n"
     "}\n"
     "model M2(x: f32[B, 4]) {\n"
     "    m = M3()\n"
     "    return m(x)\n"
     "}\n"
     "model M3(x: f32[B, 4]) {\n"
     "    m = M4()\n"
     "    return m(x)\n"
     "}\n"
     "model M4(x: f32[B, 4]) {\n"
     "    m = M5()\n"
     "    return m(x)\n"
     "}\n"
     "model M5(x: f32[B, 4]) {\n"
     "    m = M6()\n"
     "    return m(x)\n"
     "}\n"
     "model M6(x: f32[B, 4]) {\n"
     "    m = M7()\n"
     "    return m(x)\n"
     "}\n"
     "model M7(x: f32[B, 4]) {\n"
     "    m = M8()\n"
     "    return m(x)\n"
     "}\n"
     "model M8(x: f32[B, 4]) {\n"
     "    m = M9()\n"
     "    return m(x)\n"
     "}\n"
     "model M9(x: f32[B, 4]) {\n"
     "    m = M10()\n"
     "    return m(x)\n"
     "}\n"
     "model M10(x: f32[B, 4]) {\n"
     "    m = M11()\n"
     "    return m(x)\n"
     "}\n"
     "model M11(x: f32[B, 4]) {\n"
     "    m = M12()\n"
     "    return m(x)\n"
     "}\n"
     "model M12(x: f32[B, 4]) {\n"
     "    m = M13()\n"
     "    return m(x)\n"
     "}\n"
     "model M13(x: f32[B, 4]) {\n"
     "    m = M14()\n"
     "    return m(x)\n"
     "}\n"
     "model M14(x: f32[B, 4]) {\n"
     "    m = M15()\n"
     "    return m(x)\n"
     "}\n"
     "model M15(x: f32[B, 4]) {\n"
     "    m = M16()\n"
     "    return m(x)\n"
     "}\n"
     "model M16(x: f32[B, 4]) {\n"
     "    m = M17()\n"
     "    return m(x)\n"
     "}\n"
     "model M17(x: f32[B, 4]) {\n"
     "    m = M18()\n"
     "    return m(x)\n"
     "}\n"
     "model M18(x: f32[B, 4]) {\n"
     "    m = M19()\n"
     "    return m(x)\n"
     "}\n"
     "model M19(x: f32[B, 4]) {\n"
     "    m = M20()\n"
     "    return m(x)\n"
     "}\n"
     "model M20(x: f32[B, 4]) {\n"
     "    m = M21()\n"
     "    return m(x)\n"
     "}\n"
     "model M21(x: f32[B, 4]) {\n"
     "    m = M22()\n"
     "    return m(x)\n"
     "}\n"
     "model M22(x: f32[B, 4]) {\n"
     "    m = M23()\n"
     "    return m(x)\n"
     "}\n"
     "model M23(x: f32[B, 4]) {\n"
     "    m = M24()\n"
     "    return m(x)\n"
     "}\n"
     "model M24(x: f32[B, 4]) {\n"
     "    m = M25()\n"
     "    return m(x)\n"
     "}\n"
     "model M25(x: f32[B, 4]) {\n"
     "    m = M26()\n"
     "    return m(x)\n"
     "}\n"
     "model M26(x: f32[B, 4]) {\n"
     "    m = M27()\n"
     "    return m(x)\n"
     "}\n"
     "model M27(x: f32[B, 4]) {\n"
     "    m = M28()\n"
     "    return m(x)\n"
     "}\n"
     "model M28(x: f32[B, 4]) {\n"
     "    m = M29()\n"
     "    return m(x)\n"
     "}\n"
     "model M29(x: f32[B, 4]) {\n"
     "    m = M30()\n"
     "    return m(x)\n"
     "}\n"
     "model M30(x: f32[B, 4]) {\n"
     "    m = M31()\n"
     "    return m(x)\n"
     "}\n"
     "model M31(x: f32[B, 4]) {\n"
     "    m = M32()\n"
     "    return m(x)\n"
     "}\n"
     "model M32(x: f32[B, 4]) {\n"
     "    m = M33()\n"
     "    return m(x)\n"
     "}\n"
     "model M33(x: f32[B, 4]) {\n"
     "    m = M34()\n"
     "    return m(x)\n"
     "}\n"
     "model M34(x: f32[B, 4]) {\n"
     "    m = M35()\n"
     "    return m(x)\n"
     "}\n"
     "model M35(x: f32[B, 4]) {\n"
     "    m = M36()\n"
     "    return m(x)\n"
     "}\n"
     "model M36(x: f32[B, 4]) {\n"
     "    m = M37()\n"
     "    return m(x)\n"
     "}\n"
     "model M37(x: f32[B, 4]) {\n"
     "    m = M38()\n"
     "    return m(x)\n"
     "}\n"
     "model M38(x: f32[B, 4]) {\n"
     "    m = M39()\n"
     "    return m(x)\n"
     "}\n"
     "model M39(x: f32[B, 4]) {\n"
     "    m = M40()\n"
     "    return m(x)\n"
     "}\n"
     "model M40(x: f32[B, 4]) {\n"
     "    m = M41()\n"
     "    return m(x)\n"
     "}\n"
     "model M41(x: f32[B, 4]) {\n"
     "    m = M42()\n"
     "    return m(x)\n"
     "}\n"
     "model M42(x: f32[B, 4]) {\n"
     "    m = M43()\n"
     "    return m(x)\n"
     "}\n"
     "model M43(x: f32[B, 4]) {\n"
     "    m = M44()\n"
     "    return m(x)\n"
     "}\n"
     "model M44(x: f32[B, 4]) {\n"
     "    m = M45()\n"
     "    return m(x)\n"
     "}\n"
     "model M45(x: f32[B, 4]) {\n"
     "    m = M46()\n"
     "    return m(x)\n"
     "}\n"
     "model M46(x: f32[B, 4]) {\n"
     "    m = M47()\n"
     "    return m(x)\n"
     "}\n"
     "model M47(x: f32[B, 4]) {\n"
     "    m = M48()\n"
     "    return m(x)\n"
     "}\n"
     "model M48(x: f32[B, 4]) {\n"
     "    m = M49()\n"
     "    return m(x)\n"
     "}\n"
     "model M49(x: f32[B, 4]) {\n"
     "    m = M50()\n"
     "    return m(x)\n"
     "}\n"
     "model M50(x: f32[B, 4]) {\n"
     "    m = M51()\n"
     "    return m(x)\n"
     "}\n"
     "model M51(x: f32[B, 4]) {\n"
     "    m = M52()\n"
     "    return m(x)\n"
     "}\n"
     "model M52(x: f32[B, 4]) {\n"
     "    m = M53()\n"
     "    return m(x)\n"
     "}\n"
     "model M53(x: f32[B, 4]) {\n"
     "    m = M54()\n"
     "    return m(x)\n"
     "}\n"
     "model M54(x: f32[B, 4]) {\n"
     "    m = M55()\n"
     "    return m(x)\n"
     "}\n"
     "model M55(x: f32[B, 4]) {\n"
     "    m = M56()\n"
     "    return m(x)\n"
     "}\n"
     "model M56(x: f32[B, 4]) {\n"
     "    m = M57()\n"
     "    return m(x)\n"
     "}\n"
     "model M57(x: f32[B, 4]) {\n"
     "    m = M58()\n"
     "    return m(x)\n"
     "}\n"
     "model M58(x: f32[B, 4]) {\n"
     "    m = M59()\n"
     "    return m(x)\n"
     "}\n"
     "model M59(x: f32[B, 4]) {\n"
     "    m = M60()\n"
     "    return m(x)\n"
     "}\n"
     "model M60(x: f32[B, 4]) {\n"
     "    m = M61()\n"
     "    return m(x)\n"
     "}\n"
     "model M61(x: f32[B, 4]) {\n"
     "    m = M62()\n"
     "    return m(x)\n"
     "}\n"
     "model M62(x: f32[B, 4]) {\n"
     "    m = M63()\n"
     "    return m(x)\n"
     "}\n"
     "model M63(x: f32[B, 4]) {\n"
     "    m = M64()\n"
     "    return m(x)\n"
     "}\n"
     "model M64(x: f32[B, 4]) {\n"
     "    m = M65()\n"
     "    return m(x)\n"
     "}\n"
     "model M65(x: f32[B, 4]) {\n"
     "    m = M66()\n"
     "    return m(x)\n"
     "}\n"
     "model M66(x: f32[B, 4]) {\n"
     "    m = M67()\n"
     "    return m(x)\n"
     "}\n"
     "model M67(x: f32[B, 4]) {\n"
     "    m = M68()\n"
     "    return m(x)\n"
     "}\n"
     "model M68(x: f32[B, 4]) {\n"
     "    m = M69()\n"
     "    return m(x)\n"
     "}\n"
     "model M69(x: f32[B, 4]) {\n"
     "    m = M70()\n"
     "    return m(x)\n"
     "}\n"
     "model M70(x: f32[B, 4]) {\n"
     "    return x\n"
     "}\n"
     "program p {\n"
     "    n = M0()\n"
     "}\n",
     "bad.tg:254:12: error: models nested more than 64 deep (M61 -> M62 -> M63 -> M64 ...): a chain that long is not supported\n"
     "    m = M64()\n"
     "           ^\n"},
    {"group_without_params",
     "model Net(x: f32[B, 4]) {\n"
     "    fc1 = Linear(4, 4)\n"
     "    fc2 = Linear(4, 2)\n"
     "    return fc2(fc1(x))\n"
     "}\n"
     "program p {\n"
     "    net = Net()\n"
     "    o = optim.SGD([{\"params\": net.fc1.parameters()}, {\"lr\": 0.01}], lr=0.1)\n"
     "}\n",
     "bad.tg:8:18: error: KeyError: 'params': a parameter group is a dict with its parameters under 'params', e.g. {\"params\": net.fc.parameters(), \"lr\": 0.01}\n"
     "    o = optim.SGD([{\"params\": net.fc1.parameters()}, {\"lr\": 0.01}], lr=0.1)\n"
     "                 ^\n"},
    {"param_in_two_groups",
     "model Net(x: f32[B, 4]) {\n"
     "    fc1 = Linear(4, 4)\n"
     "    fc2 = Linear(4, 2)\n"
     "    return fc2(fc1(x))\n"
     "}\n"
     "program p {\n"
     "    net = Net()\n"
     "    o = optim.Adam([{\"params\": net.parameters()},\n"
     "                    {\"params\": [net.fc2.weight], \"lr\": 0.01}])\n"
     "}\n",
     "bad.tg:8:19: error: ValueError: some parameters appear in more than one parameter group\n"
     "    o = optim.Adam([{\"params\": net.parameters()},\n"
     "                  ^\n"},
    {"group_without_lr",
     "model Net(x: f32[B, 4]) {\n"
     "    fc1 = Linear(4, 4)\n"
     "    fc2 = Linear(4, 2)\n"
     "    return fc2(fc1(x))\n"
     "}\n"
     "program p {\n"
     "    net = Net()\n"
     "    o = optim.SGD([{\"params\": net.fc1.parameters(), \"lr\": 0.1}, {\"params\": net.fc2.parameters()}])\n"
     "}\n",
     "bad.tg:8:18: error: ValueError: parameter group didn't specify a value of required optimization parameter lr\n"
     "    o = optim.SGD([{\"params\": net.fc1.parameters(), \"lr\": 0.1}, {\"params\": net.fc2.parameters()}])\n"
     "                 ^\n"},
    {"group_not_a_dict",
     "model Net(x: f32[B, 4]) {\n"
     "    fc1 = Linear(4, 4)\n"
     "    fc2 = Linear(4, 2)\n"
     "    return fc2(fc1(x))\n"
     "}\n"
     "program p {\n"
     "    net = Net()\n"
     "    o = optim.SGD([{\"params\": net.fc1.parameters()}, net.fc2.weight], lr=0.1)\n"
     "}\n",
     "bad.tg:8:18: error: AssertionError: param group must be a dict, not a tensor f32[2, 4]\n"
     "    o = optim.SGD([{\"params\": net.fc1.parameters()}, net.fc2.weight], lr=0.1)\n"
     "                 ^\n"},
    {"group_missing_key",
     "model Net(x: f32[B, 4]) {\n"
     "    fc1 = Linear(4, 4)\n"
     "    fc2 = Linear(4, 2)\n"
     "    return fc2(fc1(x))\n"
     "}\n"
     "program p {\n"
     "    net = Net()\n"
     "    o = optim.SGD([{\"params\": net.fc1.parameters(), \"tag\": 1}], lr=0.1)\n"
     "    print(o.param_groups[0][\"tag\"], o.param_groups[0][\"betas\"])\n"
     "}\n",
     "bad.tg:9:55: error: KeyError: 'betas' (the parameter group's keys are 'params', 'tag', 'lr', 'momentum', 'dampening', 'weight_decay', 'nesterov', 'maximize', 'foreach', 'differentiable')\n"
     "    print(o.param_groups[0][\"tag\"], o.param_groups[0][\"betas\"])\n"
     "                                                      ^\n"},
    {"optimizer_empty_params",
     "program p {\n"
     "    o = optim.SGD([], lr=0.1)\n"
     "}\n",
     "bad.tg:2:18: error: ValueError: optimizer got an empty parameter list\n"
     "    o = optim.SGD([], lr=0.1)\n"
     "                 ^\n"},
    {"group_duplicate_params",
     "program p {\n"
     "    w = zeros(3, requires_grad=true)\n"
     "    v = zeros(2, requires_grad=true)\n"
     "    o = optim.Adam([{\"params\": [w, v, w]}], lr=0.1)\n"
     "}\n",
     "bad.tg:4:19: error: Adam(): parameter 2 is parameter 0 again: a parameter group with duplicate parameters is not supported (PyTorch 1.13 warns that it will be an error)\n"
     "    o = optim.Adam([{\"params\": [w, v, w]}], lr=0.1)\n"
     "                  ^\n"},
    {"lambda_per_group",
     "def warm(epoch) {\n"
     "    return 1.0\n"
     "}\n"
     "model Net(x: f32[B, 4]) {\n"
     "    fc1 = Linear(4, 4)\n"
     "    fc2 = Linear(4, 2)\n"
     "    return fc2(fc1(x))\n"
     "}\n"
     "program p {\n"
     "    net = Net()\n"
     "    o = optim.SGD([{\"params\": net.fc1.parameters()}, {\"params\": net.fc2.parameters()}], lr=0.1)\n"
     "    s = torch.optim.lr_scheduler.LambdaLR(o, [warm])\n"
     "}\n",
     "bad.tg:12:42: error: ValueError: Expected 2 lr_lambdas, but got 1\n"
     "    s = torch.optim.lr_scheduler.LambdaLR(o, [warm])\n"
     "                                         ^\n"},
    {"def_wrong_model",
     "model Net(x: f32[B, 4]) {\n"
     "    fc = Linear(4, 2)\n"
     "    return fc(x)\n"
     "}\n"
     "model Other(x: f32[B, 4]) {\n"
     "    fc = Linear(4, 2)\n"
     "    return fc(x)\n"
     "}\n"
     "def f(net: Net, x) {\n"
     "    return net(x)\n"
     "}\n"
     "program p {\n"
     "    print(f(Other(), ones(2, 4)))\n"
     "}\n",
     "bad.tg:13:12: error: f() expects net: Net, got a module (Other)\n"
     "    print(f(Other(), ones(2, 4)))\n"
     "           ^\n"},
};

START_TEST(test_malformed) {
    const BadCase *c = &bad[_i];
    char *got = diagnose(c->src);
    if (strcmp(got, c->expected))
        ck_abort_msg("case '%s'\n--- expected ---\n%s--- got ---\n%s", c->name, c->expected, got);
}
END_TEST

/* A million nested parentheses, if blocks, ** or unary minus: one clear error each, at the
 * level the limit stops, in bounded time and stack (the sanitized pass runs these too). */
START_TEST(test_deep_nesting) {
    const int n = 1000000;
    struct {
        const char *open, *close, *head, *tail, *error;
    } cases[] = {
        {"(", ")", "program p {\n    x = ", "1\n}\n", "error: expression nested too deeply (more than 200 levels)"},
        {"[", "]", "program p {\n    x = ", "1\n}\n", "error: expression nested too deeply (more than 200 levels)"},
        {"if true {\n", "}\n", "program p {\n", "print(1)\n}\n",
         "error: blocks nested too deeply (more than 1000 levels with the ifs of elif chains)"},
        {"2 ** ", "", "program p {\n    x = ", "1\n}\n", "error: expression nested too deeply (more than 200 levels)"},
        {"-", "", "program p {\n    x = ", "1\n}\n", "error: expression nested too deeply (more than 200 levels)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t lo = strlen(cases[k].open), lc = strlen(cases[k].close), lh = strlen(cases[k].head);
        char *src = malloc(lh + (lo + lc) * (size_t)n + strlen(cases[k].tail) + 1), *p = src;
        memcpy(p, cases[k].head, lh), p += lh;
        for (int i = 0; i < n; i++)
            memcpy(p, cases[k].open, lo), p += lo;
        size_t lt = strlen(cases[k].tail);
        memcpy(p, cases[k].tail, lt - 2), p += lt - 2; /* the tail before its closing brace */
        for (int i = 0; i < n; i++)
            memcpy(p, cases[k].close, lc), p += lc;
        strcpy(p, cases[k].tail + lt - 2);
        char *got = diagnose(src);
        free(src);
        char *first = strstr(got, "error: ");
        ck_assert_msg(first && !strncmp(first, cases[k].error, strlen(cases[k].error)),
                      "case %zu: %.300s", k, got);
        ck_assert_msg(!strstr(first + 1, "error: "), "case %zu: more than one error: %.600s", k, got);
    }
    /* an elif chain of 30,000 */
    size_t cap = 128 + 64 * 30000;
    char *src = malloc(cap), *p = src;
    p += sprintf(p, "program p {\n    x = 3\n    if x == 0 {\n        print(0)\n    }");
    for (int i = 1; i < 30000; i++)
        p += sprintf(p, " elif x == %d {\n        print(%d)\n    }", i, i);
    strcpy(p, "\n}\n");
    char *got = diagnose(src);
    free(src);
    ck_assert_msg(strstr(got, "error: blocks nested too deeply (more than 1000 levels"), "%.300s", got);
}
END_TEST

START_TEST(test_table_size) {
    /* the issue asks for at least 25 malformed inputs */
    ck_assert_int_ge((int)(sizeof bad / sizeof bad[0]), 25);
}
END_TEST

/* docs/language.md's table of names by namespace (scripts/gen_names_table.py) lists exactly what
 * frontend/namespaces.c has, and every name it lists is accepted: PATH.NAME compiles. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s (the test runs in the source root)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_int_eq((long)fread(s, 1, (size_t)n, f), n);
    s[n] = 0;
    fclose(f);
    return s;
}

START_TEST(test_namespace_table) {
    char *doc = read_text("docs/language.md");
    char *begin = strstr(doc, "<!-- names:begin"), *end = strstr(doc, "<!-- names:end -->");
    ck_assert_msg(begin && end && begin < end, "docs/language.md has no names table");
    *end = 0;
    int nrows = 0;
    for (char *row = strstr(begin, "\n| `"); row; row = strstr(row + 1, "\n| `")) {
        char path[64];
        ck_assert_int_eq(sscanf(row, "\n| `%63[^`]`", path), 1);
        const NamespaceDef *ns = ns_find(path);
        ck_assert_msg(ns != NULL, "the docs list namespace %s, which tgc does not have", path);
        nrows++;
        /* the names column: `name` for a member, `name.` for a namespace below */
        char *line_end = strchr(row + 1, '\n');
        char *col = row + 1;
        for (int bars = 0; bars < 3; col++)
            bars += *col == '|';
        int ndoc = 0;
        for (char *p = strchr(col, '`'); p && p < line_end; p = strchr(p + 1, '`')) {
            char *q = strchr(p + 1, '`');
            char name[64];
            int len = (int)(q - p - 1) - (q[-1] == '.');
            snprintf(name, sizeof name, "%.*s", len, p + 1);
            ck_assert_msg(ns_has(ns, name), "the docs list %s.%s, which tgc does not have", path, name);
            ndoc++;
            p = q;
        }
        const char *members[256];
        int n = ns_members(ns, members, 256);
        ck_assert_msg(ndoc == n, "the docs list %d names of %s, tgc has %d (scripts/gen_names_table.py)", ndoc,
                      path, n);
        /* each member compiles as PATH.NAME (a namespace's as PATH.NAME.x, an error that names it) */
        for (int i = 0; i < n; i++) {
            if (!strcmp(members[i], "no_grad") || !strcmp(members[i], "inference_mode"))
                continue; /* a with statement's */
            bool sub = ns_sub(ns, members[i]) != NULL;
            const char *first = !strncmp(path, "numpy", 5) ? "np" : path;
            char src[256];
            snprintf(src, sizeof src, "program p {\n    x = %s.%s%s\n}\n", first, members[i], sub ? ".zz_no_such" : "");
            char *got = diagnose(src);
            if (sub)
                ck_assert_msg(strstr(got, "does not support") && strstr(got, ".zz_no_such"), "%s: %s", src, got);
            else
                ck_assert_msg(!*got, "%s.%s is listed but does not compile:\n%s", path, members[i], got);
        }
    }
    int nspaces = 0;
    for (const NamespaceDef *ns = namespaces; ns->path; ns++)
        nspaces++;
    ck_assert_msg(nrows == nspaces, "the docs list %d namespaces, tgc has %d", nrows, nspaces);
    free(doc);
}
END_TEST

static Token *lex_string(const char *src, int *n) {
    int file = diag_add_file("lex.tg", src);
    return lex(file, src, n);
}

START_TEST(test_lex_tokens) {
    int n;
    Token *t = lex_string("x = a ** 2 @ b.T  # comment\ny += 1e-3\n", &n);
    const char *want[] = {"x", "=", "a", "**", "2", "@", "b", ".", "T", "\n", "y", "+=", "1e-3", "\n", ""};
    TokenKind kinds[] = {TK_IDENT, TK_PUNCT, TK_IDENT, TK_PUNCT, TK_INT, TK_PUNCT, TK_IDENT, TK_PUNCT,
                         TK_IDENT, TK_NEWLINE, TK_IDENT, TK_PUNCT, TK_FLOAT, TK_NEWLINE, TK_EOF};
    ck_assert_int_eq(n, 15);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(t[i].kind, kinds[i]);
        if (kinds[i] != TK_NEWLINE && kinds[i] != TK_EOF)
            ck_assert_str_eq(t[i].text, want[i]);
    }
    ck_assert_int_eq(t[4].ival, 2);
    ck_assert(t[12].fval == 1e-3);
    ck_assert_int_eq(t[10].loc.line, 2);
    ck_assert_int_eq(t[10].loc.col, 1);
}
END_TEST

START_TEST(test_lex_newlines_in_brackets) {
    int n;
    Token *t = lex_string("f(1,\n  2)\n", &n);
    /* the newline inside the call is not a statement end */
    int newlines = 0;
    for (int i = 0; i < n; i++)
        newlines += t[i].kind == TK_NEWLINE;
    ck_assert_int_eq(newlines, 1);
}
END_TEST

START_TEST(test_lex_strings) {
    int n;
    Token *t = lex_string("'a\\tb' f\"x {y:5d}\" \"q\\\"\"", &n);
    ck_assert_int_eq(t[0].kind, TK_STR);
    ck_assert_str_eq(t[0].text, "a\tb");
    ck_assert_int_eq(t[1].kind, TK_FSTR);
    ck_assert_str_eq(t[1].text, "x {y:5d}");
    ck_assert_str_eq(t[2].text, "q\"");
}
END_TEST

static Decl *parse_one(const char *src) {
    diag_nerrors = 0;
    Ast *ast = parse_file("p.tg", src);
    ck_assert_int_eq(diag_nerrors, 0);
    ck_assert_int_eq(ast->ndecls, 1);
    return ast->decls[0];
}

START_TEST(test_parse_precedence) {
    Decl *d = parse_one("program p {\n    q = 3 * a ** 3 - b ** 2\n}\n");
    ck_assert_int_eq(d->kind, D_PROGRAM);
    ck_assert_int_eq(d->nbody, 1);
    Stmt *s = d->body[0];
    ck_assert_int_eq(s->kind, S_ASSIGN);
    Expr *e = s->value; /* (3 * (a ** 3)) - (b ** 2) */
    ck_assert_int_eq(e->kind, E_BINARY);
    ck_assert_str_eq(e->op, "-");
    ck_assert_str_eq(e->lhs->op, "*");
    ck_assert_str_eq(e->lhs->rhs->op, "**");
    ck_assert_str_eq(e->rhs->op, "**");
}
END_TEST

START_TEST(test_parse_model) {
    Decl *d = parse_one("model Net(x: f32[B, 3, 32, 32], width = 6) {\n    c = Conv2d(3, width, 5)\n"
                        "    return c(x)\n}\n");
    ck_assert_int_eq(d->kind, D_MODEL);
    ck_assert_str_eq(d->name, "Net");
    ck_assert_int_eq(d->nparams, 2);
    ck_assert_str_eq(d->params[0].name, "x");
    ck_assert_int_eq(d->params[0].type->kind, E_INDEX);
    ck_assert_int_eq(d->params[0].type->nitems, 4);
    ck_assert_ptr_nonnull(d->params[1].dflt);
    ck_assert_int_eq(d->body[1]->kind, S_RETURN);
}
END_TEST

START_TEST(test_parse_index_and_kwargs) {
    Decl *d = parse_one("program p {\n    t[..., -1] = f(a, dim=1)[0:2, ::2]\n}\n");
    Stmt *s = d->body[0];
    ck_assert_int_eq(s->target->kind, E_INDEX);
    ck_assert_int_eq(s->target->items[0]->kind, E_ELLIPSIS);
    Expr *v = s->value;
    ck_assert_int_eq(v->kind, E_INDEX);
    ck_assert_int_eq(v->items[0]->kind, E_SLICE);
    ck_assert_ptr_null(v->items[1]->items[0]);
    ck_assert_int_eq(v->items[1]->items[2]->ival, 2);
    Expr *call = v->lhs;
    ck_assert_int_eq(call->kind, E_CALL);
    ck_assert_ptr_null(call->names[0]);
    ck_assert_str_eq(call->names[1], "dim");
}
END_TEST

START_TEST(test_parse_fstring) {
    Decl *d = parse_one("program p {\n    print(f\"n: {n} \\n{x:.3f}\")\n}\n");
    Expr *f = d->body[0]->value->items[0];
    ck_assert_int_eq(f->kind, E_FSTR);
    ck_assert_int_eq(f->nitems, 4);
    ck_assert_str_eq(f->items[0]->str, "n: ");
    ck_assert_int_eq(f->items[1]->kind, E_FHOLE);
    ck_assert_str_eq(f->items[1]->lhs->str, "n");
    ck_assert_str_eq(f->items[2]->str, " \n");
    ck_assert_str_eq(f->items[3]->str, ".3f");
    /* the hole's location is the expression's column in the file */
    ck_assert_int_eq(f->items[1]->lhs->loc.col, 17);
}
END_TEST

START_TEST(test_recovery_reports_each_error) {
    char *got = diagnose("program p {\n    x = 1 +\n    y = )\n    z = 3\n}\n");
    /* both broken statements are reported, and the good one after them parses */
    ck_assert_ptr_nonnull(strstr(got, "bad.tg:2:"));
    ck_assert_ptr_nonnull(strstr(got, "bad.tg:3:"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("frontend");
    TCase *tc = tcase_create("frontend");
    tcase_set_timeout(tc, 120); /* test_deep_nesting lexes and parses millions of tokens, slower under ASan */
    tcase_add_test(tc, test_lex_tokens);
    tcase_add_test(tc, test_lex_newlines_in_brackets);
    tcase_add_test(tc, test_lex_strings);
    tcase_add_test(tc, test_parse_precedence);
    tcase_add_test(tc, test_parse_model);
    tcase_add_test(tc, test_parse_index_and_kwargs);
    tcase_add_test(tc, test_parse_fstring);
    tcase_add_test(tc, test_recovery_reports_each_error);
    tcase_add_test(tc, test_table_size);
    tcase_add_test(tc, test_namespace_table);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_loop_test(tc, test_malformed, 0, (int)(sizeof bad / sizeof bad[0]));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
