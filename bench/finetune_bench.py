"""PyTorch's side of bench/finetune.sh: the blitz's Task 2-3 fine-tuning step (torchvision's
resnet18, every parameter frozen, fc replaced by Linear(512, 10), SGD(lr=1e-2, momentum=0.9) on
fc's parameters, cross-entropy) on made-up 3x32x32 images in memory, in training mode (batch norm
updates its running statistics, as in the blitz).

    /usr/bin/python3 bench/finetune_bench.py BATCH THREADS SECONDS    (prints images/s)
"""
import sys
import time

import torch
import torchvision
from torch import nn


def main():
    batch, threads, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(512, 10)
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=1e-2, momentum=0.9)
    crit = nn.CrossEntropyLoss()
    x = torch.rand(batch, 3, 32, 32) * 2 - 1
    y = torch.arange(batch) % 10

    def step():
        optimizer.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    n, t0 = 0, time.perf_counter()
    while n < 10 or time.perf_counter() - t0 < seconds:
        step()
        n += 1
    print(f"{n * batch / (time.perf_counter() - t0):.1f}")


if __name__ == "__main__":
    main()
