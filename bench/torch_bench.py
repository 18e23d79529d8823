"""PyTorch's side of bench/run.sh: training or inference images/s of the blitz LeNet (lenet) or
the bench's second network (net2), on made-up data in memory, at one batch size and thread count.

    /usr/bin/python3 bench/torch_bench.py lenet|net2 train|predict BATCH THREADS SECONDS [cpu|cuda]

With cuda (scripts/gpu_check.sh) the model and data live on the GPU and the clock stops after
torch.cuda.synchronize(); it prints "-" where PyTorch has no CUDA.
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):  # the blitz's Net
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class Net2(nn.Module):  # bench/net2.tg
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 24, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(24, 48, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(48 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def main():
    name, mode, batch, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    dev = sys.argv[6] if len(sys.argv) > 6 else "cpu"
    if dev == "cuda" and not torch.cuda.is_available():
        print("-")
        return
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = (LeNet() if name == "lenet" else Net2()).to(dev)
    x = (torch.rand(batch, 3, 32, 32) * 2 - 1).to(dev)
    y = (torch.arange(batch) % 10).to(dev)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    if mode == "train":
        opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
        crit = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = crit(net(x), y)
            loss.backward()
            opt.step()
    else:
        net.eval()

        def step():
            with torch.no_grad():
                net(x)
    for _ in range(5):
        step()
    sync()
    n, t0 = 0, time.perf_counter()
    while n < 20 or time.perf_counter() - t0 < seconds:
        step()
        n += 1
    sync()
    print(f"{n * batch / (time.perf_counter() - t0):.1f}")


if __name__ == "__main__":
    main()
