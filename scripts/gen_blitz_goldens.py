#!/usr/bin/python3
"""Runs the blitz cells in real PyTorch and writes what they print, as the
goldens the tgc samples must reproduce exactly (tests/golden/blitz/*.out),
and the fixed-weight LeNet forward golden (tests/golden/lenet/).

Each cell runs in a fresh generator state seeded with 67280421310721,
PyTorch's documented default CPU seed, which is also where a tgc program's
generator starts: random tensors must match digit for digit too.

    /usr/bin/python3 scripts/gen_blitz_goldens.py      (needs python3-torch)
"""
import contextlib
import io
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SEED = 67280421310721

CELLS = {}


def cell(fn):
    CELLS[fn.__name__] = fn
    return fn


@cell
def tensor_init():
    data = [[1, 2], [3, 4]]
    x_data = torch.tensor(data)
    np_array = np.array(data)
    x_np = torch.from_numpy(np_array)
    print(x_data)
    print(x_np)


@cell
def tensor_like():
    data = [[1, 2], [3, 4]]
    x_data = torch.tensor(data)
    x_ones = torch.ones_like(x_data)
    print(f"Ones Tensor: \n {x_ones} \n")
    x_rand = torch.rand_like(x_data, dtype=torch.float)
    print(f"Random Tensor: \n {x_rand} \n")


@cell
def tensor_shape():
    shape = (3, 4,)
    rand_tensor = torch.rand(shape)
    ones_tensor = torch.ones(shape)
    zeros_tensor = torch.zeros(shape)
    print(f"Random Tensor: \n {rand_tensor} \n")
    print(f"Ones Tensor: \n {ones_tensor} \n")
    print(f"Zeros Tensor: \n {zeros_tensor}")


@cell
def tensor_attributes():
    tensor = torch.rand(3, 4)
    print(f"Shape of tensor: {tensor.shape}")
    print(f"Datatype of tensor: {tensor.dtype}")
    print(f"Device tensor is stored on: {tensor.device}")


@cell
def tensor_indexing():
    tensor = torch.ones(4, 4)
    print(tensor, "\n")
    print(f"First row: {tensor[0]}")
    print(f"First column: {tensor[:, 0]}")
    print(f"Last column: {tensor[..., -1]}")
    tensor[:, 1] = 0
    print(tensor)


@cell
def tensor_cat():
    tensor = torch.ones(4, 4)
    tensor[:, 1] = 0
    print(tensor, "\n")
    t1 = torch.cat([tensor, tensor], dim=1)
    print(t1)


@cell
def tensor_matmul():
    tensor = torch.ones(4, 4)
    tensor[:, 1] = 0
    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)
    y3 = torch.rand_like(y1)
    print(torch.matmul(tensor, tensor.T, out=y3))
    print(y1 == y2)


@cell
def tensor_mul():
    tensor = torch.ones(4, 4)
    tensor[:, 1] = 0
    z1 = tensor * tensor
    z2 = tensor.mul(tensor)
    z3 = torch.rand_like(tensor)
    print(torch.mul(tensor, tensor, out=z3))
    print(z1 == z2)


@cell
def tensor_sum():
    tensor = torch.ones(4, 4)
    tensor[:, 1] = 0
    agg = tensor.sum()
    agg_item = agg.item()
    print(agg_item, type(agg_item))
    print(agg)


@cell
def tensor_inplace():
    tensor = torch.ones(4, 4)
    tensor[:, 1] = 0
    print(f"{tensor} \n")
    tensor.add_(5)
    print(tensor)


@cell
def bridge_to_numpy():
    t = torch.ones(5)
    print(f"t: {t}")
    n = t.numpy()
    print(f"n: {n} \n")
    t.add_(1)
    print(f"t: {t}")
    print(f"n: {n}")


@cell
def bridge_from_numpy():
    t = torch.ones(5)
    n = np.ones(5)
    print(f"t: {t}")
    t = torch.from_numpy(n)
    print(f"n: {n} \n")
    np.add(n, 1, out=n)
    print(f"t: {t}")
    print(f"n: {n}")


class Net(nn.Module):
    def __init__(self, channels=1):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(channels, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


@cell
def lenet_forward():
    net = Net()
    print(net)
    params = list(net.parameters())
    print(len(params))
    print(params[0].size())
    input = torch.randn(1, 1, 32, 32)
    out = net(input)
    print(out)


@cell
def autograd():
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3 * a**3 - b**2
    external_grad = torch.tensor([1., 1.])
    Q.backward(gradient=external_grad)
    print(9 * a**2 == a.grad)
    print(-2 * b == b.grad)


@cell
def autograd_dag():
    x = torch.rand(5, 5)
    y = torch.rand(5, 5)
    z = torch.rand((5, 5), requires_grad=True)
    a = x + y
    print(f"Does `a` require gradients? : {a.requires_grad}")
    b = x + z
    print(f"Does `b` require gradients?: {b.requires_grad}")


@cell
def lenet_backward():
    net = Net()
    input = torch.randn(1, 1, 32, 32)
    out = net(input)
    print(out)
    net.zero_grad()
    out.backward(torch.randn(1, 10))
    output = net(input)
    target = torch.randn(10)
    target = target.view(1, -1)
    criterion = nn.MSELoss()
    loss = criterion(output, target)
    print(loss)
    net.zero_grad()
    print("conv1.bias.grad before backward")
    print(net.conv1.bias.grad)
    loss.backward()
    print("conv1.bias.grad after backward")
    print(net.conv1.bias.grad)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    optimizer.zero_grad()
    output = net(input)
    loss = criterion(output, target)
    loss.backward()
    optimizer.step()
    print(net.conv1.bias)


def lenet_npy_golden():
    """Fixed weights and input as .npy, and PyTorch's output for them."""
    d = os.path.join(ROOT, "tests", "golden", "lenet")
    os.makedirs(os.path.join(d, "weights"), exist_ok=True)
    torch.manual_seed(1234)
    net = Net()
    for name, p in net.named_parameters():
        np.save(os.path.join(d, "weights", name + ".npy"), p.detach().numpy())
    x = torch.randn(2, 1, 32, 32)
    np.save(os.path.join(d, "input.npy"), x.numpy())
    with torch.no_grad():
        np.save(os.path.join(d, "expected.npy"), net(x).numpy())


def ops_golden():
    """PyTorch's results for tests/programs/ops.tg, drawn from the same generator."""
    d = os.path.join(ROOT, "tests", "golden", "ops")
    os.makedirs(d, exist_ok=True)
    out = {}
    torch.manual_seed(7)
    x = torch.randn(2, 4, 9, 9)
    w = torch.randn(6, 2, 3, 3)
    b = torch.randn(6)
    out["conv_groups"] = F.conv2d(x, w, b, stride=2, padding=1, dilation=2, groups=2)
    w2 = torch.randn(3, 4, 2, 3)
    out["conv_rect"] = F.conv2d(x, w2, stride=(1, 2), padding=(2, 0))
    out["pool_pad"] = F.max_pool2d(x, 3, stride=2, padding=1)
    out["pool_ceil"] = F.max_pool2d(x, 2, ceil_mode=True)
    out["pool_dil"] = F.max_pool2d(x, (2, 3), stride=(1, 2), dilation=2)
    out["avg_pad"] = F.avg_pool2d(x, 3, stride=2, padding=1)
    out["avg_nopad_count"] = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    out["avg_ceil"] = F.avg_pool2d(x, 2, ceil_mode=True)
    a = torch.randn(3, 1, 4, 5)
    m = torch.randn(2, 5, 3)
    out["matmul_bcast"] = a @ m
    out["matvec"] = torch.matmul(m, torch.randn(3))
    v = torch.randn(5)
    out["vecmat"] = v @ torch.randn(5, 2)
    out["dot"] = v @ v
    lw = torch.randn(7, 5)
    lb = torch.randn(7)
    out["linear"] = F.linear(torch.randn(3, 2, 5), lw, lb)
    t = torch.randn(3, 4, 5)
    out["sum_axes"] = t.sum(dim=(0, 2), keepdim=True)
    out["mean_neg"] = t.mean(-1)
    vals, idx = t.max(1)
    out["max_vals"] = vals
    out["max_idx"] = idx
    out["argmax_all"] = t.argmax()
    out["permute"] = t.permute(2, 0, 1) * 2 - 1
    out["slices"] = t[1:, ::2, -3:]
    out["broadcast"] = t * torch.randn(4, 1) + torch.randn(5) / 3
    out["pow_exp"] = torch.exp(-t ** 2) + torch.sigmoid(t) - torch.tanh(t) + torch.sqrt(torch.abs(t))
    s = t.clone()
    s[0, :, 1:3] = torch.randn(4, 2)
    s[..., -1] += 10
    out["setslice"] = s
    i = torch.arange(12).view(3, 4)
    out["int_ops"] = (i * 3 + 1) / 2 + (i > 5).sum(1, keepdim=True)
    out["cat"] = torch.cat([t, t[:, :2]], dim=1)
    out["relu_flat"] = torch.flatten(F.relu(x), 1)
    for name, val in out.items():
        np.save(os.path.join(d, name + ".npy"), val.numpy())
    return list(out)


class Poke(nn.Module):
    def forward(self, x):
        x[0] = 5
        return x * 1


def semantics():
    """PyTorch's output for tests/programs/semantics.tg."""
    t = torch.ones(3)
    head = t[0:2]
    u = Poke()(t[1:])
    print(t, head, u)
    s = str(t)
    f = f"{t}"
    t.add_(1)
    print(s, f, t)
    m = torch.arange(6).view(2, 3).float()
    r = m.T.reshape(-1)
    r[0] = 9
    v = m.view(-1)
    v[1] = 7
    print(m, r)
    b = torch.tensor([True, False])
    print(b + b, b * True)
    print(torch.tensor([2, -1, 1]) ** torch.tensor([-1, -1, -3]))
    print(torch.tensor([2147483647], dtype=torch.int32) + 1, torch.tensor([3]) ** 41)
    print(f"{t.sum()} {m.max()} {torch.tensor(3)}", t.sum(()))
    big = torch.tensor([9223372036854775807, 9007199254740993])
    print(big, big - 1, torch.full((2,), 9007199254740993))
    x = torch.ones(1).item()
    print(x + 1, type(x + 1), x / 4)
    z = torch.zeros(2, 3)
    z[0] = torch.ones(1, 3)
    print(z, torch.tensor([1, 2]) * 0.5, torch.tensor([3, 4]) / 2)
    print(f"{3:.1f} {x:8.3f} {2:+d} {5: d}")
    c = torch.arange(2).view(2, 1).float()
    wide = torch.cat([c + i for i in range(30)], dim=1)
    print(wide.sum(dim=1), wide[1, 25:])
    a = torch.tensor([7, -7, 7, -7])
    d = torch.tensor([2, 2, -2, -2])
    q = torch.tensor([7.5, -7.5, 7.5, -7.5])
    print(a // d, a % d, q // d, q % d, torch.floor_divide(a, 3), torch.remainder(q, 2.0))
    correct = 7
    print(f"{100 * correct // 9} %", 7 // -2, -7 % 3, 7.5 // 2, -7.5 % 2, 1 % -3.0)
    k = torch.tensor(7).sum().item()
    print(k // 2, k % 4, type(k // 2), x // 0.5, -k % 3.5)
    k2 = 17
    k2 //= 5
    k2 %= 2
    print(k2)


def autograd_semantics():
    """PyTorch's output for tests/programs/autograd_semantics.tg (tgc keeps every graph, as
    retain_graph=True does)."""
    # two leaves whose .grad is the same gradient= tensor: two values, two leaves later
    a = torch.tensor([1., 2.], requires_grad=True)
    b = torch.tensor([5., 6.], requires_grad=True)
    g = torch.tensor([3., 4.])
    a.backward(gradient=g)
    b.backward(gradient=g)
    a.grad.requires_grad_()
    b.grad.requires_grad_()
    y = (a.grad * 2).sum() + (b.grad * 7).sum()
    y.backward()
    print(a.grad.grad, b.grad.grad)

    p = torch.tensor([1., 2.], requires_grad=True)
    w = torch.tensor([3., 4.], requires_grad=True)
    c = torch.tensor([5., 6.], requires_grad=True)
    (p + 0).backward(gradient=w)
    z = (p.grad * c).sum() + (w * w).sum()
    z.backward()
    print(w.grad, c.grad, p.grad, p.grad.requires_grad)

    d = torch.tensor([3., 2.], dtype=torch.float64, requires_grad=True)
    q = (d * d).sum()
    s = q.item()
    print(q.requires_grad, s)
    (d * s).sum().backward()
    print(d.grad)
    f = torch.tensor([3.], requires_grad=True)
    s32 = (f * f).sum().item()
    (f * s32).sum().backward()
    print(f.grad, s32)

    u = torch.tensor([1., 2., 3.], requires_grad=True)
    v = torch.tensor([4., 5., 6.], requires_grad=True)
    k = torch.tensor([1., 0.5, 2.])
    uv = u * v
    uv.backward(gradient=k, retain_graph=True)
    v.requires_grad_(False)
    uv.backward(gradient=k)
    print(u.grad, v.grad)

    m = torch.tensor([1., 2.], requires_grad=True)
    n = torch.tensor([3., 4.], requires_grad=True)
    (m * 2).sum().backward()
    print(m.grad, n.grad)
    (m * n).sum().backward()
    print(m.grad, n.grad)

    r = torch.tensor([1., 2.], requires_grad=True)
    t = torch.tensor([3., 4.], requires_grad=True)
    (r * t).backward(gradient=torch.tensor([1., 1.]))
    (t * t).backward(gradient=r.grad)
    print(r.grad, t.grad)


def main():
    out_dir = os.path.join(ROOT, "tests", "golden", "blitz")
    os.makedirs(out_dir, exist_ok=True)
    for name, fn in CELLS.items():
        torch.manual_seed(DEFAULT_SEED)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            fn()
        with open(os.path.join(out_dir, name + ".out"), "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
        print("wrote", name)
    lenet_npy_golden()
    print("wrote lenet npy golden")
    torch.manual_seed(DEFAULT_SEED)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        semantics()
    with open(os.path.join(ROOT, "tests", "golden", "semantics.out"), "w", encoding="utf-8") as f:
        f.write(buf.getvalue())
    print("wrote semantics")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        autograd_semantics()
    with open(os.path.join(ROOT, "tests", "golden", "autograd_semantics.out"), "w", encoding="utf-8") as f:
        f.write(buf.getvalue())
    print("wrote autograd_semantics")
    names = ops_golden()
    print("wrote", len(names), "op goldens")


if __name__ == "__main__":
    main()
