#!/usr/bin/python3
"""Goldens for tests/programs/resnet8.tg and resnet8_finetune.tg: the blitz's Task 2-1 and 2-3 with torchvision's resnet18 at base
width 8 (so the files stay small), in real PyTorch.

The network is torchvision's ResNet-18 module for module (the same names, so the same state_dict
keys), written out here because torchvision has no width option; its BasicBlock makes downsample
after bn2, as the .tg does, so that both draw their default initializations from the generator in
the same order. Writes tests/golden/resnet/<name>.npy for every tensor the .tg program saves:
eval-mode and training-mode outputs, running statistics, the loss (prediction - labels).sum(),
gradients, parameters after one SGD(lr=1e-2, momentum=0.9) step, the eval output after it.

    /usr/bin/python3 scripts/gen_resnet_goldens.py     (needs python3-torch)
"""
import os

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "resnet")


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes=1000, width=64):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(w, w), BasicBlock(w, w))
        self.layer2 = nn.Sequential(BasicBlock(w, 2 * w, 2), BasicBlock(2 * w, 2 * w))
        self.layer3 = nn.Sequential(BasicBlock(2 * w, 4 * w, 2), BasicBlock(4 * w, 4 * w))
        self.layer4 = nn.Sequential(BasicBlock(4 * w, 8 * w, 2), BasicBlock(8 * w, 8 * w))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * w, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def save(name, t, out=OUT):
    np.save(os.path.join(out, name + ".npy"), t.detach().numpy())


def finetune():
    """tests/programs/resnet8_finetune.tg: Task 2-3, the backbone frozen, a new fc trained."""
    out = OUT + "_finetune"
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(67280421310721)
    net = ResNet18(width=8)
    for p in net.parameters():
        p.requires_grad = False
    net.fc = nn.Linear(64, 10)
    optimizer = torch.optim.SGD(net.fc.parameters(), lr=1e-2, momentum=0.9)
    data = torch.rand(2, 3, 64, 64)
    labels = torch.rand(2, 10)
    prediction = net(data)
    loss = (prediction - labels).sum()
    loss.backward()
    optimizer.step()
    for name, t in [("prediction", prediction), ("loss", loss), ("fc_weight_grad", net.fc.weight.grad),
                    ("fc_bias_grad", net.fc.bias.grad), ("fc_weight", net.fc.weight), ("fc_bias", net.fc.bias),
                    ("conv1_weight", net.conv1.weight), ("running_mean", net.layer1[0].bn1.running_mean),
                    ("running_var", net.layer4[1].bn2.running_var)]:
        save(name, t, out)
    assert net.conv1.weight.grad is None and net.layer4[1].bn2.weight.grad is None
    print(f"wrote {len(os.listdir(out))} files to {out}")


def main():
    import torchvision  # print(model) of the blitz's Task 2-1, for samples/resnet18.tg
    with open(os.path.join(ROOT, "tests", "golden", "resnet18_print.txt"), "w") as f:
        f.write(str(torchvision.models.resnet18()) + "\n")
    finetune()
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(67280421310721)  # where a tgc program's generator starts
    net = ResNet18(width=8)
    data = torch.rand(2, 3, 64, 64)
    labels = torch.rand(2, 1000)
    net.eval()
    save("eval0", net(data))
    net.train()
    prediction = net(data)
    save("train", prediction)
    save("running_mean", net.layer2[0].bn1.running_mean)
    save("running_var", net.layer4[0].downsample[1].running_var)
    save("batches", net.bn1.num_batches_tracked)
    loss = (prediction - labels).sum()
    loss.backward()
    save("loss", loss)
    save("conv1_grad", net.conv1.weight.grad)
    save("down_grad", net.layer3[0].downsample[1].weight.grad)
    save("fc_grad", net.fc.weight.grad[:8])
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)
    optimizer.step()
    save("fc_bias", net.fc.bias)
    save("conv2_weight", net.layer1[1].conv2.weight)
    net.eval()
    save("eval1", net(data))
    print(f"wrote {len(os.listdir(OUT))} files to {OUT}")


if __name__ == "__main__":
    main()
