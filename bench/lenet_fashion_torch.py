#!/usr/bin/python3
"""The PyTorch side of bench/lenet_fashion.sh: the blitz's Task 3 network trained as Task 4
trains, on Fashion-MNIST from Debian's dataset-fashion-mnist (28x28 zero-padded to 32x32,
normalize(0.5, 0.5)), batch 4, SGD(lr=0.001, momentum=0.9), 2 epochs. Prints the test accuracy
in percent with two decimals as its last line.

    /usr/bin/python3 bench/lenet_fashion_torch.py SEED [EPOCHS]

TORCH_THREADS=N sets PyTorch's thread count (default: PyTorch's own choice).
"""
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(f"{DATA}/{name}.gz", "rb") as f:
        raw = f.read()
    if raw[2] == 8 and raw[3] == 3:
        n, h, w = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, h, w)
    return np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)


def prepare(images):
    x = torch.from_numpy(np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)))).float() / 255
    return (x - 0.5) / 0.5


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
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
        return self.fc3(x)


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    if os.environ.get("TORCH_THREADS"):
        torch.set_num_threads(int(os.environ["TORCH_THREADS"]))
    torch.manual_seed(seed)
    xtr, ytr = prepare(idx("train-images-idx3-ubyte")), torch.from_numpy(idx("train-labels-idx1-ubyte"))
    xte, yte = prepare(idx("t10k-images-idx3-ubyte")), torch.from_numpy(idx("t10k-labels-idx1-ubyte"))
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=4, shuffle=True)
    for epoch in range(epochs):
        running = 0.0
        for i, (x, y) in enumerate(loader):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            running += loss.item()
            if i % 2000 == 1999:
                print(f"[{epoch + 1}, {i + 1:5d}] loss: {running / 2000:.3f}", flush=True)
                running = 0.0
    with torch.no_grad():
        correct = (net(xte).argmax(1) == yte).sum().item()
    print(f"{100 * correct / len(yte):.2f}")


if __name__ == "__main__":
    main()
