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
    with torch.no_grad():  # tgc has no autograd yet, so no grad_fn= suffix
        out = net(input)
    print(out)


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


if __name__ == "__main__":
    main()
