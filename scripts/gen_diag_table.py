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
 ("utf8_bom", "\xef\xbb\xbfprogram p {\n    print(zzz)\n}\n"),
 ("crlf_continuation", "program p {\r\n    x = 1 + \\\r\n        2\r\n    print(x, y)\r\n}\r\n"),
 ("math_member", "program p {\n    print(math.sqrt(2.0))\n}\n"),
 ("ns_unsupported", "program p {\n    e = nn.Embedding(10, 3)\n}\n"),
 ("ns_unsupported_deep", "program p {\n    y = torch.nn.functional.interpolate(ones(1, 1, 2, 2), scale_factor=2)\n}\n"),
 ("ns_unsupported_namespace", "program p {\n    d = torch.distributions.Normal(0.0, 1.0)\n}\n"),
 ("ns_case_slip", "program p {\n    c = nn.Conv2D(1, 6, 5)\n}\n"),
 ("ns_typo_long_name", "program p {\n    s = nn.Sequental(nn.ReLU())\n}\n"),
 ("ns_other_dimensionality", "program p {\n    d = nn.Dropout1d(0.5)\n    m = nn.MaxPool1d(2)\n    b = nn.BatchNorm3d(3)\n}\n"),
 ("ns_no_unrelated_hint", "program p {\n    y = F.einsum(\"ij->ji\", ones(2, 3))\n}\n"),
 ("ns_other_namespace", "program p {\n    y = torchvision.transforms.relu(ones(2))\n}\n"),
 ("ns_tgc_own_name", "program p {\n    x = ones(2, dtype=torch.f32)\n}\n"),
 ("ns_no_grad_outside_with", "program p {\n    g = torch.no_grad()\n}\n"),
 ("dropout_p_range", "program p {\n    y = F.dropout(ones(4), 1.5)\n}\n"),
 ("gelu_approximate", "program p {\n    y = F.gelu(ones(4), approximate=\"fast\")\n}\n"),
 ("nll_target_dtype", "program p {\n    y = F.nll_loss(ones(2, 3), ones(2))\n}\n"),
 ("loss_size_average", "program p {\n    y = F.l1_loss(ones(2), ones(2), size_average=True)\n}\n"),
 ("eye_too_large", "program p {\n    x = torch.eye(100000)\n}\n"),
 ("scheduler_not_optimizer", "program p {\n    s = torch.optim.lr_scheduler.StepLR(1, 2)\n}\n"),
 ("one_hot_no_classes", "program p {\n    y = F.one_hot(tensor([1, 2]))\n}\n"),
 ("train_slice_not_divisor", "model Net(x: f32[B, 1, 28, 28]) {\n    fc = Linear(784, 10)\n    return fc(flatten(x, 1))\n}\ntrain Net {\n    data = mnist(\"d\")\n    batch = 16\n    slice = 5\n    loss = cross_entropy\n    optimizer = SGD(lr=0.1)\n    epochs = 1\n}\n"),
 ("train_slice_batchnorm", "model Net(x: f32[B, 1, 28, 28]) {\n    bn = BatchNorm2d(1)\n    fc = Linear(784, 10)\n    return fc(flatten(bn(x), 1))\n}\ntrain Net {\n    data = mnist(\"d\")\n    batch = 16\n    slice = 8\n    loss = cross_entropy\n    optimizer = SGD(lr=0.1)\n    epochs = 1\n}\n"),
 ("error_in_unrolled_loop", "program p {\n    for s in [0, 1, 2] {\n        x = ones(2).tolist()\n    }\n}\n"),
 ("index_bool_mask", "program p {\n    x = ones(3)\n    print(x[x > 0])\n}\n"),
 ("index_put_tensor", "program p {\n    x = ones(3)\n    x[tensor([0, 2])] = 5\n}\n"),
 ("index_put_augmented", "program p {\n    x = zeros(3, 4)\n    x[:, tensor([0, 2])] += 1\n    print(x)\n}\n"),
 ("where_one_argument", "program p {\n    x = ones(3)\n    i = torch.where(x > 0)\n}\n"),
 ("where_float_condition", "program p {\n    x = ones(3)\n    y = torch.where(x, x, 0.0)\n}\n"),
 ("gather_float_index", "program p {\n    x = ones(2, 3)\n    y = x.gather(1, tensor([[0.0]]))\n}\n"),
 ("gather_index_too_large", "program p {\n    x = ones(2, 3)\n    y = x.gather(1, tensor([[0], [1], [2]]))\n}\n"),
 ("masked_fill_tensor_value", "program p {\n    x = ones(2, 3)\n    y = x.masked_fill(x > 0, ones(3))\n}\n"),
 ("index_add_float_alpha", "program p {\n    x = zeros(3, dtype=i64)\n    y = x.index_add(0, tensor([1]), tensor([5]), alpha=0.5)\n    z = x.index_add(0, tensor([1]), tensor([5]), alpha=\"2\")\n}\n"),
 ("repeat_too_many", "program p {\n    y = ones(3).repeat(9223372036854775807)\n}\n"),
 ("result_too_large", "program p {\n    c = ones(262144, 1) > 0\n    y = torch.where(c, ones(1, 262144), 0.0)\n    z = ones(1).expand(17179869185)\n}\n"),
 ("masked_fill_value_overflow", "program p {\n    m = tensor([True, False])\n    a = tensor([1, 2], dtype=u8).masked_fill(m, -1.7)\n    b = tensor([1, 2]).masked_fill(m, float(\"nan\"))\n}\n"),
 ("index_select_matrix", "program p {\n    x = ones(2, 3)\n    y = x.index_select(0, tensor([[0]]))\n}\n"),
 ("float_of_bad_string", "program p {\n    print(float(\"0x10\"), float(\"one\"))\n}\n"),
 ("normalize_std_zero", "model Net(x: f32[B, 1, 28, 28]) {\n    fc = Linear(784, 10)\n    return fc(flatten(x, 1))\n}\ntrain Net {\n    data = mnist(\"d\")\n    transform = normalize(mean=[0.5], std=[0.0])\n    batch = 4\n    loss = cross_entropy\n    optimizer = SGD(lr=0.1)\n    epochs = 1\n}\n"),
 ("unary_plus_module", "model Net(x: f32[B, 4]) {\n    fc =+ Linear(4, 2)\n    return fc(x)\n}\nprogram p {\n    n = Net()\n    print(n(ones(1, 4)))\n}\n"),
 ("declared_dim_huge", "model Net(x: f32[B, 4611686018427387904]) {\n    return x\n}\nprogram p {\n    print(1)\n}\n"),
 ("trainer_batch_huge", "model Net(x: f32[B, 1, 28, 28]) {\n    fc = Linear(784, 10)\n    return fc(flatten(x, 1))\n}\ntrain Net {\n    data = mnist(\"d\")\n    batch = 9223372036854775807\n    loss = cross_entropy\n    optimizer = SGD(lr=0.1)\n    epochs = 1\n}\n"),
 ("model_contains_itself", "model A(x: f32[B, 4]) {\n    b = B2()\n    return b(x)\n}\nmodel B2(x: f32[B, 4]) {\n    a = A()\n    return a(x)\n}\nprogram p {\n    n = A()\n}\n"),
 ("model_chain_too_long", "model M0(x: f32[B, 4]) {\n    m = M1()\n    return m(x)\n}\nmodel M1(x: f32[B, 4]) {\n    m = M2()\n    return m(x)\n}\nmodel M2(x: f32[B, 4]) {\n    m = M3()\n    return m(x)\n}\nmodel M3(x: f32[B, 4]) {\n    m = M4()\n    return m(x)\n}\nmodel M4(x: f32[B, 4]) {\n    m = M5()\n    return m(x)\n}\nmodel M5(x: f32[B, 4]) {\n    m = M6()\n    return m(x)\n}\nmodel M6(x: f32[B, 4]) {\n    m = M7()\n    return m(x)\n}\nmodel M7(x: f32[B, 4]) {\n    m = M8()\n    return m(x)\n}\nmodel M8(x: f32[B, 4]) {\n    m = M9()\n    return m(x)\n}\nmodel M9(x: f32[B, 4]) {\n    m = M10()\n    return m(x)\n}\nmodel M10(x: f32[B, 4]) {\n    m = M11()\n    return m(x)\n}\nmodel M11(x: f32[B, 4]) {\n    m = M12()\n    return m(x)\n}\nmodel M12(x: f32[B, 4]) {\n    m = M13()\n    return m(x)\n}\nmodel M13(x: f32[B, 4]) {\n    m = M14()\n    return m(x)\n}\nmodel M14(x: f32[B, 4]) {\n    m = M15()\n    return m(x)\n}\nmodel M15(x: f32[B, 4]) {\n    m = M16()\n    return m(x)\n}\nmodel M16(x: f32[B, 4]) {\n    m = M17()\n    return m(x)\n}\nmodel M17(x: f32[B, 4]) {\n    m = M18()\n    return m(x)\n}\nmodel M18(x: f32[B, 4]) {\n    m = M19()\n    return m(x)\n}\nmodel M19(x: f32[B, 4]) {\n    m = M20()\n    return m(x)\n}\nmodel M20(x: f32[B, 4]) {\n    m = M21()\n    return m(x)\n}\nmodel M21(x: f32[B, 4]) {\n    m = M22()\n    return m(x)\n}\nmodel M22(x: f32[B, 4]) {\n    m = M23()\n    return m(x)\n}\nmodel M23(x: f32[B, 4]) {\n    m = M24()\n    return m(x)\n}\nmodel M24(x: f32[B, 4]) {\n    m = M25()\n    return m(x)\n}\nmodel M25(x: f32[B, 4]) {\n    m = M26()\n    return m(x)\n}\nmodel M26(x: f32[B, 4]) {\n    m = M27()\n    return m(x)\n}\nmodel M27(x: f32[B, 4]) {\n    m = M28()\n    return m(x)\n}\nmodel M28(x: f32[B, 4]) {\n    m = M29()\n    return m(x)\n}\nmodel M29(x: f32[B, 4]) {\n    m = M30()\n    return m(x)\n}\nmodel M30(x: f32[B, 4]) {\n    m = M31()\n    return m(x)\n}\nmodel M31(x: f32[B, 4]) {\n    m = M32()\n    return m(x)\n}\nmodel M32(x: f32[B, 4]) {\n    m = M33()\n    return m(x)\n}\nmodel M33(x: f32[B, 4]) {\n    m = M34()\n    return m(x)\n}\nmodel M34(x: f32[B, 4]) {\n    m = M35()\n    return m(x)\n}\nmodel M35(x: f32[B, 4]) {\n    m = M36()\n    return m(x)\n}\nmodel M36(x: f32[B, 4]) {\n    m = M37()\n    return m(x)\n}\nmodel M37(x: f32[B, 4]) {\n    m = M38()\n    return m(x)\n}\nmodel M38(x: f32[B, 4]) {\n    m = M39()\n    return m(x)\n}\nmodel M39(x: f32[B, 4]) {\n    m = M40()\n    return m(x)\n}\nmodel M40(x: f32[B, 4]) {\n    m = M41()\n    return m(x)\n}\nmodel M41(x: f32[B, 4]) {\n    m = M42()\n    return m(x)\n}\nmodel M42(x: f32[B, 4]) {\n    m = M43()\n    return m(x)\n}\nmodel M43(x: f32[B, 4]) {\n    m = M44()\n    return m(x)\n}\nmodel M44(x: f32[B, 4]) {\n    m = M45()\n    return m(x)\n}\nmodel M45(x: f32[B, 4]) {\n    m = M46()\n    return m(x)\n}\nmodel M46(x: f32[B, 4]) {\n    m = M47()\n    return m(x)\n}\nmodel M47(x: f32[B, 4]) {\n    m = M48()\n    return m(x)\n}\nmodel M48(x: f32[B, 4]) {\n    m = M49()\n    return m(x)\n}\nmodel M49(x: f32[B, 4]) {\n    m = M50()\n    return m(x)\n}\nmodel M50(x: f32[B, 4]) {\n    m = M51()\n    return m(x)\n}\nmodel M51(x: f32[B, 4]) {\n    m = M52()\n    return m(x)\n}\nmodel M52(x: f32[B, 4]) {\n    m = M53()\n    return m(x)\n}\nmodel M53(x: f32[B, 4]) {\n    m = M54()\n    return m(x)\n}\nmodel M54(x: f32[B, 4]) {\n    m = M55()\n    return m(x)\n}\nmodel M55(x: f32[B, 4]) {\n    m = M56()\n    return m(x)\n}\nmodel M56(x: f32[B, 4]) {\n    m = M57()\n    return m(x)\n}\nmodel M57(x: f32[B, 4]) {\n    m = M58()\n    return m(x)\n}\nmodel M58(x: f32[B, 4]) {\n    m = M59()\n    return m(x)\n}\nmodel M59(x: f32[B, 4]) {\n    m = M60()\n    return m(x)\n}\nmodel M60(x: f32[B, 4]) {\n    m = M61()\n    return m(x)\n}\nmodel M61(x: f32[B, 4]) {\n    m = M62()\n    return m(x)\n}\nmodel M62(x: f32[B, 4]) {\n    m = M63()\n    return m(x)\n}\nmodel M63(x: f32[B, 4]) {\n    m = M64()\n    return m(x)\n}\nmodel M64(x: f32[B, 4]) {\n    m = M65()\n    return m(x)\n}\nmodel M65(x: f32[B, 4]) {\n    m = M66()\n    return m(x)\n}\nmodel M66(x: f32[B, 4]) {\n    m = M67()\n    return m(x)\n}\nmodel M67(x: f32[B, 4]) {\n    m = M68()\n    return m(x)\n}\nmodel M68(x: f32[B, 4]) {\n    m = M69()\n    return m(x)\n}\nmodel M69(x: f32[B, 4]) {\n    m = M70()\n    return m(x)\n}\nmodel M70(x: f32[B, 4]) {\n    return x\n}\nprogram p {\n    n = M0()\n}\n"),
 ("group_without_params", "model Net(x: f32[B, 4]) {\n    fc1 = Linear(4, 4)\n    fc2 = Linear(4, 2)\n    return fc2(fc1(x))\n}\nprogram p {\n    net = Net()\n    o = optim.SGD([{\"params\": net.fc1.parameters()}, {\"lr\": 0.01}], lr=0.1)\n}\n"),
 ("param_in_two_groups", "model Net(x: f32[B, 4]) {\n    fc1 = Linear(4, 4)\n    fc2 = Linear(4, 2)\n    return fc2(fc1(x))\n}\nprogram p {\n    net = Net()\n    o = optim.Adam([{\"params\": net.parameters()},\n                    {\"params\": [net.fc2.weight], \"lr\": 0.01}])\n}\n"),
 ("group_without_lr", "model Net(x: f32[B, 4]) {\n    fc1 = Linear(4, 4)\n    fc2 = Linear(4, 2)\n    return fc2(fc1(x))\n}\nprogram p {\n    net = Net()\n    o = optim.SGD([{\"params\": net.fc1.parameters(), \"lr\": 0.1}, {\"params\": net.fc2.parameters()}])\n}\n"),
 ("group_not_a_dict", "model Net(x: f32[B, 4]) {\n    fc1 = Linear(4, 4)\n    fc2 = Linear(4, 2)\n    return fc2(fc1(x))\n}\nprogram p {\n    net = Net()\n    o = optim.SGD([{\"params\": net.fc1.parameters()}, net.fc2.weight], lr=0.1)\n}\n"),
 ("group_missing_key", "model Net(x: f32[B, 4]) {\n    fc1 = Linear(4, 4)\n    fc2 = Linear(4, 2)\n    return fc2(fc1(x))\n}\nprogram p {\n    net = Net()\n    o = optim.SGD([{\"params\": net.fc1.parameters(), \"tag\": 1}], lr=0.1)\n    print(o.param_groups[0][\"tag\"], o.param_groups[0][\"betas\"])\n}\n"),
 ("optimizer_empty_params", "program p {\n    o = optim.SGD([], lr=0.1)\n}\n"),
 ("group_duplicate_params", "program p {\n    w = zeros(3, requires_grad=true)\n    v = zeros(2, requires_grad=true)\n    o = optim.Adam([{\"params\": [w, v, w]}], lr=0.1)\n}\n"),
 ("lambda_per_group", "def warm(epoch) {\n    return 1.0\n}\nmodel Net(x: f32[B, 4]) {\n    fc1 = Linear(4, 4)\n    fc2 = Linear(4, 2)\n    return fc2(fc1(x))\n}\nprogram p {\n    net = Net()\n    o = optim.SGD([{\"params\": net.fc1.parameters()}, {\"params\": net.fc2.parameters()}], lr=0.1)\n    s = torch.optim.lr_scheduler.LambdaLR(o, [warm])\n}\n"),
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
