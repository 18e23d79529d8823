#!/usr/bin/python3
"""Regenerates the malformed-input table of tests/test_frontend.c (between the markers) by
running build/tgc on each case. The output is a snapshot: review every changed message in the
diff before committing; the test then holds tgc to exactly that text.

    python3 scripts/gen_diag_table.py   (after ninja -C build)
"""
NET = '''model Net(x: f32[B, 1, 32, 32]) {
    conv1 = Conv2d(1, 6, 5)
    fc1 = Linear(6 * 28 * 28, 10)
    x = relu(conv1(x))
    return fc1(flatten(x, 1))
}
'''
CASES = [
 ("empty_file", ""),
 ("only_comments", "# nothing here\n# nor here\n"),
 ("slash_comment", "program p {\n    x = 1  // the answer\n    // a whole line\n    y = 7 // 2\n    print(y)\n}\n"),
 ("binary_garbage", "\x01\x02\xfe\xff program\n"),
 ("unterminated_string", 'program p {\n    print("hello)\n}\n'),
 ("huge_integer", "program p {\n    x = 99999999999999999999\n}\n"),
 ("huge_float", "program p {\n    x = ones(2) * 1e999\n}\n"),
 ("invalid_number", "program p {\n    x = 12abc\n}\n"),
 ("unknown_name_hint", "program p {\n    tensor = ones(4, 4)\n    print(tensr)\n}\n"),
 ("unknown_name", "program p {\n    print(zzz)\n}\n"),
 ("unknown_keyword_hint", "program p {\n    x = ones(3, dtyp=f32)\n}\n"),
 ("unknown_dtype", "program p {\n    x = tensor([1, 2], dtype=f16)\n}\n"),
 ("missing_argument", "program p {\n    c = Conv2d(1, 6)\n}\n"),
 ("too_many_arguments", "program p {\n    x = relu(ones(2), 1)\n}\n"),
 ("broadcast_mismatch", "program p {\n    x = ones(3, 4) + ones(4, 3)\n}\n"),
 ("matmul_mismatch", "program p {\n    y = ones(2, 3) @ ones(2, 3)\n}\n"),
 ("model_input_shape", NET + "program p {\n    net = Net()\n    out = net(ones(1, 3, 32, 32))\n}\n"),
 ("model_input_dtype", NET + "program p {\n    net = Net()\n    out = net(ones(1, 1, 32, 32, dtype=f64))\n}\n"),
 ("conv_rank", "program p {\n    c = Conv2d(1, 6, 5)\n    y = c(ones(4, 400))\n}\n"),
 ("linear_features", "program p {\n    fc = Linear(400, 120)\n    y = fc(ones(4, 300))\n}\n"),
 ("index_out_of_bounds", "program p {\n    t = ones(4, 4)\n    print(t[4])\n}\n"),
 ("too_many_indices", "program p {\n    t = ones(4)\n    print(t[0, 1])\n}\n"),
 ("bad_view", "program p {\n    t = ones(4, 4)\n    v = t.view(5, -1)\n}\n"),
 ("cat_mismatch", "program p {\n    t = cat([ones(2, 3), ones(3, 2)], dim=0)\n}\n"),
 ("mean_of_int", "program p {\n    t = tensor([1, 2, 3])\n    print(t.mean())\n}\n"),
 ("rand_int_dtype", "program p {\n    t = rand(3, dtype=i64)\n}\n"),
 ("inplace_cast", "program p {\n    t = tensor([1, 2])\n    t.add_(0.5)\n}\n"),
 ("assign_to_literal", "program p {\n    3 = x\n}\n"),
 ("missing_expression", "program p {\n    x = 3 +\n}\n"),
 ("missing_brace", "program p {\n    x = ones(2)\n"),
 ("bad_toplevel", "modle Net(x: f32[1]) {\n}\n"),
 ("unknown_char", "program p {\n    x = ones(2) $ 3\n}\n"),
 ("chained_comparison", "program p {\n    b = 1 < 2 < 3\n}\n"),
 ("positional_after_keyword", "program p {\n    x = full(size=(2, 2), 3.0)\n}\n"),
 ("fstring_unclosed", 'program p {\n    t = ones(2)\n    print(f"t: {t")\n}\n'),
 ("return_outside_model", "program p {\n    return 3\n}\n"),
 ("module_attribute_hint", NET + "program p {\n    net = Net()\n    print(net.conv2)\n}\n"),
 ("several_errors", "program p {\n    a = undefined_one\n    b = ones(2) + ones(3)\n    c = undefined_two\n}\n"),
 ("train_unknown_setting", NET + "train Net {\n    data = fashion_mnist(\"data\")\n    batchsize = 4\n    batch = 4\n    loss = cross_entropy\n    optimizer = SGD(lr=0.001)\n    epochs = 2\n}\n"),
 ("train_unknown_model", NET + "train Nett {\n    data = fashion_mnist(\"data\")\n    batch = 4\n    loss = cross_entropy\n    optimizer = SGD(lr=0.001)\n    epochs = 2\n}\n"),
 ("train_missing_setting", NET + "train Net {\n    data = fashion_mnist(\"data\")\n    batch = 4\n}\n"),
 ("load_symbolic_shape", "program p {\n    x = load(\"x.npy\", f32[B, 3])\n}\n"),
 ("unknown_escape", 'program p {\n    print("a\\qb")\n}\n'),
 ("negative_power", "program p {\n    t = tensor([2, 3]) ** -1\n}\n"),
 ("model_recursion", "model M(x: f32[2]) {\n    m = M()\n    return m(x)\n}\nprogram p {\n    m = M()\n}\n"),
]
CASES += [
 ("error_inside_forward", "model M(x: f32[B, 4]) {\n    fc = Linear(4, 2)\n    return fc(x) + undefined_thing\n}\nprogram p {\n    m = M()\n    y = m(ones(2, 4))\n    print(zz)\n    zzz = 1\n}\n"),
]

CASES += [
 ("backward_through_comparison", "program p {\n    w = rand(3, requires_grad=true)\n    l = (w > 0.5).float().sum()\n    l.backward()\n}\n"),
 ("backward_without_grad", "program p {\n    l = ones(3).sum()\n    l.backward()\n}\n"),
 ("backward_needs_gradient", "program p {\n    w = rand(3, requires_grad=true)\n    y = w * 2\n    y.backward()\n}\n"),
 ("backward_through_grad", "program p {\n    w = rand(3, requires_grad=true)\n    (w * w).sum().backward()\n    l = (w.grad * 2).sum()\n    l.backward()\n}\n"),
 ("freeze_non_leaf_parameter", "program p {\n    fc = Linear(2, 2)\n    fc.requires_grad_(false)\n    fc.weight.add_(ones(2, 2, requires_grad=true))\n    fc.requires_grad_(true)\n    fc.requires_grad_(false)\n}\n"),
 ("inplace_on_leaf", "program p {\n    w = rand(3, requires_grad=true)\n    w.add_(1)\n}\n"),
 ("integer_overflow", "program p {\n    x = 9223372036854775807 + 1\n}\n"),
 ("huge_power", "program p {\n    x = 3 ** 100000000000\n}\n"),
 ("format_width", "program p {\n    print(f\"{1:>99999999999}\")\n}\n"),
 ("deep_nesting", "program p {\n    x = " + "(" * 300 + "1" + ")" * 300 + "\n}\n"),
 ("tensor_attribute_hint", "program p {\n    t = ones(2)\n    print(t.shap)\n}\n"),
 ("tensor_method_unknown", "program p {\n    t = ones(2)\n    t.frobnicate()\n}\n"),
 ("swapped_letters", "program p {\n    x = rnadn(3)\n}\n"),
 ("arange_too_long", "program p {\n    a = arange(0, 1e30, 1e-30)\n}\n"),
 ("fill_overflow", "program p {\n    t = full((2,), 300, dtype=u8)\n}\n"),
 ("wrong_argument_kind", "program p {\n    x = full((2,), f32)\n}\n"),
 ("python_def", "program p {\n    def f(x) { return x }\n}\n"),
 ("for_without_block", "program p {\n    for i in range(3)\n}\n"),
 ("break_outside_loop", "program p {\n    x = 1\n    break\n    if x > 0 { continue }\n}\n"),
 ("shape_changes_in_loop", "program p {\n    x = zeros(3)\n    for i in range(2) {\n        x = cat([x, x])\n    }\n}\n"),
 ("int_becomes_float_in_loop", "program p {\n    best = 0\n    for i in range(3) {\n        best = ones(1).sum().item()\n    }\n}\n"),
 ("backward_across_loop", "program p {\n    w = ones(2, requires_grad=true)\n    y = (w * 2).sum()\n    for i in range(2) {\n        y.backward()\n    }\n}\n"),
 ("loop_in_model", "model M(x: f32[B, 4]) {\n    fc = Linear(4, 4)\n    for i in range(2) { x = fc(x) }\n    return x\n}\nprogram p {\n    m = M()\n    print(m(ones(1, 4)))\n}\n"),
 ('trainable_unknown', 'model Net(x: f32[B, 4]) {\n    fc = Linear(4, 2)\n    return fc(x)\n}\ntrain Net {\n    data = mnist("d")\n    batch = 2\n    loss = cross_entropy\n    optimizer = SGD(lr=0.1)\n    trainable = ["fc2"]\n    epochs = 1\n}\n'),
 ('elif_without_if', 'program p {\n    print(1)\n    elif 1 { print(2) }\n    print(3)\n}\n'),
 ('if_on_tensor_in_model', 'model M(x: f32[B, 4]) {\n    fc = Linear(4, 2)\n    if x.shape[1] == 4 { x = x * 2 }\n    if x.sum() > 0 { x = x * 2 }\n    return fc(x)\n}\nprogram p {\n    m = M()\n    print(m(ones(1, 4)))\n}\n'),
 ('if_on_many_elements', 'program p {\n    x = ones(2)\n    if x > 1 { print(1) }\n}\n'),
 ('if_colon', 'program p {\n    if True: print(1)\n}\n'),
 ("view_of_transpose", "program p {\n    t = ones(2, 3)\n    v = t.T.view(6)\n}\n"),
 ("to_cuda", "program p {\n    t = ones(2).to(\"cuda\")\n}\n"),
 ("failed_assignment_quiet", "program p {\n    out = nope(1)\n    print(out)\n    print(out + 1)\n}\n"),
 ("bias_not_tensor", "program p {\n    y = linear(ones(2, 3), ones(4, 3), 5)\n}\n"),
 ("unused_model_checked", "model N(x: f32[B, 3, 8, 8]) {\n    c = Conv2d(3, 4, 3)\n    return relu(c(x)) + nonsense\n}\nprogram p {\n    print(1)\n}\n"),
 ("train_model_and_optimizer", NET + "train Net {\n    data = fashion_mnist(\"d\")\n    batch = 4\n    loss = cross_entropy\n    optimizer = SGD(lr=0.001, momentum=\"x\", frob=3)\n    epochs = 1\n}\n"),
 ("nul_escape", "program p {\n    print(\"a\\0b\")\n}\n"),
 ("def_wrong_shape", "def f(x: f32[B, 4]) {\n    return x * 2\n}\nprogram p {\n    print(f(ones(2, 3)))\n}\n"),
 ("def_error_inside", "def f(x) {\n    y = x @ x\n    return y\n}\ndef g(x) {\n    return f(x)\n}\nprogram p {\n    print(g(ones(2, 3)))\n}\n"),
 ("def_arguments", "def f(a, b=1) {\n    return a + b\n}\nprogram p {\n    print(f())\n    print(f(1, 2, 3))\n    print(f(1, c=2))\n}\n"),
 ("def_return_in_loop", "def first_big(t) {\n    for i in range(4) {\n        if t[i] > 1 {\n            return i\n        }\n    }\n    return -1\n}\nprogram p {\n    print(first_big(tensor([0.5, 2.0, 3.0, 0.0])))\n}\n"),
 ("def_break_outside_loop", "def stop() {\n    break\n}\nprogram p {\n    for i in range(3) {\n        stop()\n    }\n}\n"),
 ("def_name_taken", "model f(x: f32[B, 2]) {\n    return x\n}\ndef f(x) {\n    return x\n}\nprogram p {\n    print(1)\n}\n"),
 ("def_sees_no_program_variable", "def f() {\n    return n + 1\n}\nprogram p {\n    n = 2\n    print(f())\n}\n"),
 ("loader_partial_after_break", "program p {\n    x = torch.randn(20, 3)\n    odd = DataLoader(TensorDataset(x, x.sum(1)), batch_size=6)\n"
                                "    n = 0\n    for xb, yb in odd {\n        n += 1\n        if n > 2 {\n            break\n        }\n    }\n"
                                "    print(xb.shape)\n}\n"),
 ("invalid_lr_and_key", "model M(x: f32[B, 2]) {\n    fc = Linear(2, 1)\n    return fc(x)\n}\nprogram p {\n    net = M()\n"
                        "    o = optim.SGD(net.parameters(), lr=-0.1)\n    d = {'a': 1}\n    print(d['nope'])\n}\n"),
 ("tensor_dataset", "program p {\n    d = TensorDataset(ones(4, 2), zeros(5))\n    e = TensorDataset(ones(4), 3)\n"
                    "    for i in range(int(ones(1).sum())) {\n        f = TensorDataset(ones(4))\n    }\n}\n"),
 ("dataset_without_totensor", "program p {\n    t = transforms.Normalize((0.5,), (0.5,))\n    s = torchvision.datasets.FashionMNIST(root=\"d\", transform=t)\n    u = torchvision.datasets.CIFAR10(root=\"d\", transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5, 0.5), (0.5, 0.5))]))\n}\n"),
 ("next_of_loader", "program p {\n    s = torchvision.datasets.MNIST(root=\"d\", transform=transforms.ToTensor())\n    l = torch.utils.data.DataLoader(s, batch_size=4)\n    x, y = next(l)\n    for a, b, c in enumerate(l) {\n        print(a)\n    }\n}\n"),
 ("cond_on_runtime_value", "program p {\n    x = ones(2).sum()\n    y = (1 if x > 1 else 2) + 1\n    z = [i for i in x.view(1)]\n}\n"),
 ("comprehension_two_fors", "program p {\n    l = [i for i in range(3) for j in range(2)]\n}\n"),
 ("set_literal", "program p {\n    s = {1, 2}\n}\n"),
 ("dict_runtime_key_late", "program p {\n    d = {'a': 0, 'b': 0}\n    t = tensor([1, 0])\n    names = ('a', 'b')\n    for i in range(2) {\n        d[names[t[i]]] += 1\n    }\n}\n"),
 ("join_of_numbers", "program p {\n    print(' '.join([1, 2]))\n    print(torch.device('tpu'))\n}\n"),
 ("options_misuse", "program p {\n    args = options(epochs=2, data=[1, 2])\n}\n"),
 ("options_twice", "program p {\n    a = options(epochs=1)\n    print(a.epoch)\n    b = options(k=2)\n    c = torch.utils.data.DataLoader(torchvision.datasets.MNIST('d', transform=transforms.ToTensor()), batch_size=a.epochs)\n}\n"),
 ("def_parameters", "def g(x=1, k) {\n    return x\n}\ndef g2(x, x) {\n    return x\n}\nprogram p {\n    print(1)\n}\n"),
 ("import_statement", "import torch\nprogram p {\n    print(1)\n}\n"),
 ("container_changed_in_loop", "program p {\n    best = {'acc': 0.0}\n    for e in range(3) {\n        acc = ones(1).sum().item() * e\n        if acc > best['acc'] {\n            best['acc'] = acc\n        }\n    }\n}\n"),
 ("def_recursion", "def f(n) {\n    return f(n + 1)\n}\nprogram p {\n    print(f(0))\n}\n"),
 ("export_untyped", "export def f(net, x: f32[2, 4]) {\n    return net(x)\n}\n"),
 ("export_symbolic", "export def f(x: f32[B, 4]) {\n    return x * 2\n}\n"),
 ("export_prints", "export def f(x: f32[2, 4]) {\n    print(x)\n    return x\n}\n"),
 ("export_random", "export def f(x: f32[2, 4]) {\n    return x + torch.rand(2, 4)\n}\n"),
 ("export_loop", "export def f(x: f32[2, 4]) {\n    for i in range(3) {\n        x = x * 2\n    }\n    return x\n}\n"),
 ("export_returns_number", "export def f(x: f32[2, 4]) {\n    return 3\n}\n"),
 ("export_makes_model", "model Net(x: f32[B, 4]) {\n    fc = Linear(4, 2)\n    return fc(x)\n}\nexport def f(x: f32[2, 4]) {\n    n = Net()\n    return n(x)\n}\n"),
 ("export_changes_input", "export def f(x: f32[2, 4]) {\n    x.add_(1)\n    return x\n}\n"),
 ("def_wrong_model", "model Net(x: f32[B, 4]) {\n    fc = Linear(4, 2)\n    return fc(x)\n}\nmodel Other(x: f32[B, 4]) {\n    fc = Linear(4, 2)\n    return fc(x)\n}\ndef f(net: Net, x) {\n    return net(x)\n}\nprogram p {\n    print(f(Other(), ones(2, 4)))\n}\n"),
]

import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cstr(s):
    out = []
    for ch in s.encode("latin-1"):
        c = chr(ch)
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append('\\n"\n     "')
        elif ch < 0x20 or ch >= 0x7F:
            out.append("\\%03o" % ch)
        else:
            out.append(c)
    return ('"' + "".join(out) + '"').replace('\n     ""', "")


def main():
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, src in CASES:
            with open(os.path.join(d, "bad.tg"), "w", encoding="latin-1") as f:
                f.write(src)
            r = subprocess.run([os.path.join(ROOT, "build", "tgc"), "compile", "bad.tg", "-o", "out.c"],
                               capture_output=True, cwd=d)
            if r.returncode != 1:
                raise SystemExit(f"case {name}: exit status {r.returncode}, expected 1")
            err = r.stderr.decode("latin-1")
            rows.append(f'    {{"{name}",\n     {cstr(src)},\n     {cstr(err)}}},\n')
    path = os.path.join(ROOT, "tests", "test_frontend.c")
    text = open(path, encoding="latin-1").read()
    begin = text.index("static const BadCase bad[] = {\n") + len("static const BadCase bad[] = {\n")
    end = text.index("};\n", begin)
    open(path, "w", encoding="latin-1").write(text[:begin] + "".join(rows) + text[end:])
    print(f"{len(rows)} cases written to tests/test_frontend.c")


if __name__ == "__main__":
    main()
