#!/usr/bin/python3
"""Goldens for training steps: the blitz's Task 3 network (MSE loss, 1x32x32) and Task 4
network (cross-entropy, 3x32x32), batch 4, three steps of each optimizer, in real PyTorch.

For every network it writes tests/golden/train/<net>/ holding the initial weights
(weights/<state_dict key>.npy), the batch (x.npy, y.npy) and the first step's loss and
gradients (loss1.npy, grad_<key>.npy); for every optimizer, <net>/<opt>/ holds the third
step's loss (loss3.npy) and the parameters after three steps (param_<key>.npy). It also
writes the .tg program that does the same, tests/programs/train_<net>_<opt>.tg, so the
test compiles and runs it and compares file by file.

    /usr/bin/python3 scripts/gen_train_goldens.py     (needs python3-torch)
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Net3(nn.Module):  # Task 3: F.max_pool2d, one input channel, MSE
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


class Net4(nn.Module):  # Task 4: a MaxPool2d module, three input channels, cross-entropy
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


MODELS = {
    "net3": """model Net(x: f32[B, 1, 32, 32]) {
    conv1 = Conv2d(1, 6, 5)
    conv2 = Conv2d(6, 16, 5)
    fc1 = Linear(16 * 5 * 5, 120)
    fc2 = Linear(120, 84)
    fc3 = Linear(84, 10)

    x = max_pool2d(relu(conv1(x)), (2, 2))
    x = max_pool2d(relu(conv2(x)), 2)
    x = flatten(x, 1)
    x = relu(fc1(x))
    x = relu(fc2(x))
    return fc3(x)
}
""",
    "net4": """model Net(x: f32[B, 3, 32, 32]) {
    conv1 = Conv2d(3, 6, 5)
    pool = MaxPool2d(2, 2)
    conv2 = Conv2d(6, 16, 5)
    fc1 = Linear(16 * 5 * 5, 120)
    fc2 = Linear(120, 84)
    fc3 = Linear(84, 10)

    x = pool(relu(conv1(x)))
    x = pool(relu(conv2(x)))
    x = flatten(x, 1)
    x = relu(fc1(x))
    x = relu(fc2(x))
    return fc3(x)
}
""",
}

OPTIMIZERS = {
    "sgd": ("SGD(net.parameters(), lr=0.001, momentum=0.9)",
            lambda p: torch.optim.SGD(p, lr=0.001, momentum=0.9)),
    # weight decays large enough that leaving them out would exceed the test's tolerance
    "nesterov": ("SGD(net.parameters(), lr=0.001, momentum=0.9, nesterov=true, weight_decay=0.5)",
                 lambda p: torch.optim.SGD(p, lr=0.001, momentum=0.9, nesterov=True, weight_decay=0.5)),
    "adam": ("Adam(net.parameters(), lr=0.001)", lambda p: torch.optim.Adam(p, lr=0.001)),
    "adamw": ("AdamW(net.parameters(), lr=0.001, weight_decay=0.5)",
              lambda p: torch.optim.AdamW(p, lr=0.001, weight_decay=0.5)),
}


def program(net, opt, keys):
    mse = net == "net3"
    lines = [MODELS[net], f"program train_{net}_{opt} {{",
             "    net = Net()",
             '    load_state(net, "weights")',
             f'    x = load("x.npy", f32[4, {1 if mse else 3}, 32, 32])',
             f'    y = load("y.npy", {"f32[4, 10]" if mse else "i64[4]"})',
             f"    criterion = {'MSELoss()' if mse else 'CrossEntropyLoss()'}",
             f"    optimizer = {OPTIMIZERS[opt][0]}",
             ""]
    for step in (1, 2, 3):
        lines += ["    optimizer.zero_grad()",
                  "    loss = criterion(net(x), y)",
                  "    loss.backward()"]
        if step == 1:
            lines.append('    save("loss1.npy", loss)')
            lines += [f'    save("grad_{k}.npy", net.{k}.grad)' for k in keys]
        if step == 3:
            lines.append('    save("loss3.npy", loss)')
        lines += ["    optimizer.step()", ""]
    lines += [f'    save("param_{k}.npy", net.{k})' for k in keys]
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    for net, cls in (("net3", Net3), ("net4", Net4)):
        torch.manual_seed(7 if net == "net3" else 8)
        model0 = cls()
        x = torch.randn(4, 1 if net == "net3" else 3, 32, 32)
        y = torch.randn(4, 10) if net == "net3" else torch.tensor([3, 7, 0, 7])
        nd = os.path.join(ROOT, "tests", "golden", "train", net)
        os.makedirs(os.path.join(nd, "weights"), exist_ok=True)
        keys = [k for k, _ in model0.named_parameters()]
        for k, p in model0.named_parameters():
            np.save(os.path.join(nd, "weights", k + ".npy"), p.detach().numpy())
        np.save(os.path.join(nd, "x.npy"), x.numpy())
        np.save(os.path.join(nd, "y.npy"), y.numpy())
        for opt in OPTIMIZERS:
            d = os.path.join(nd, opt)
            os.makedirs(d, exist_ok=True)
            model = cls()
            model.load_state_dict(model0.state_dict())
            optimizer = OPTIMIZERS[opt][1](model.parameters())
            criterion = nn.MSELoss() if net == "net3" else nn.CrossEntropyLoss()
            for step in (1, 2, 3):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                if step == 1:  # the first step's loss and gradients do not depend on the optimizer
                    np.save(os.path.join(nd, "loss1.npy"), loss.detach().numpy())
                    for k, p in model.named_parameters():
                        np.save(os.path.join(nd, f"grad_{k}.npy"), p.grad.numpy())
                if step == 3:
                    np.save(os.path.join(d, "loss3.npy"), loss.detach().numpy())
                optimizer.step()
            for k, p in model.named_parameters():
                np.save(os.path.join(d, f"param_{k}.npy"), p.detach().numpy())
            with open(os.path.join(ROOT, "tests", "programs", f"train_{net}_{opt}.tg"), "w") as f:
                f.write(f"// Generated by scripts/gen_train_goldens.py: three steps of {opt} on the blitz's\n")
                f.write(f"// Task {net[-1]} network; the test compares every saved file with PyTorch's.\n")
                f.write(program(net, opt, keys))
            with open(os.path.join(ROOT, "tests", "programs", f"step_{net}_{opt}.tg"), "w") as f:
                f.write(f"// Generated by scripts/gen_train_goldens.py: the Task {net[-1]} network's training step\n")
                f.write(f"// with {opt}, compiled into net_train_step and driven by tests/train_driver.c.\n")
                f.write(MODELS[net])
                f.write(f"\ntrain Net {{\n    data      = {'fashion_mnist' if net == 'net3' else 'cifar10'}(\"data\")\n"
                        f"    batch     = 4\n    loss      = {'mse_loss' if net == 'net3' else 'cross_entropy'}\n"
                        f"    optimizer = {OPTIMIZERS[opt][0].replace('net.parameters(), ', '')}\n"
                        f"    epochs    = 1\n}}\n")
            print("wrote", f"{net}/{opt}")


if __name__ == "__main__":
    main()
