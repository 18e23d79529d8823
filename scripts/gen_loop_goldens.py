#!/usr/bin/python3
"""PyTorch's output for the programs with run-time control flow (tests/programs/loops.tg,
regression.tg, schedule.tg, defs.tg, containers.tg, checkpoint.tg, tensors.tg, cond_expr.tg,
exports.tg, nan_checks.tg, activations.tg, losses.tg, optimizers.tg, schedulers.tg, param_groups.tg, mlp_fashion.tg,
norms.tg, init.tg, tensor_ops.tg, indexing.tg, orthogonal.tg, grad_fns.tg, loader.tg: Fashion-MNIST from Debian's
dataset-fashion-mnist): each .tg is written out here as
the Python it transliterates, and what it prints is the golden tests/golden/<name>.out that
test_codegen compares with.

    /usr/bin/python3 scripts/gen_loop_goldens.py [NAME ...]     (default: all of them)
"""
import contextlib
import gzip
import io
import os
import shutil
import sys
import tempfile
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Lin(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, x):
        return self.fc(x)


def loops():
    torch.manual_seed(0)
    count = 0
    for i in range(4):
        for j in range(10, 0, -3):
            if j == 4:
                continue
            if i * j > 12:
                break
            count += 1
    print("count", count, "i", i, "j", j)

    n = 0
    total = 0.0
    while n < 7:
        n += 1
        if n % 3 == 0:
            total += n / 2
        elif n % 3 == 1:
            total -= 1
        else:
            total += 0.25
    print(f"n={n} total={total} {100 * n // 9} %")

    z = 5
    for k in range(z, 3):
        z = 0
    print("z", z)

    m = torch.ones(3).sum().item()
    acc = 0
    for k in range(int(m), 3 * int(m)):
        acc += k
    steps = 0
    while True:
        steps += 2
        if steps > 9:
            break
    print("acc", acc, "steps", steps)

    x = torch.zeros(2, 3)
    s = torch.ones(3)
    for t in range(3):
        x[t % 2] += torch.rand(3)
        s = s * 2 + x.sum(0)
    print(x, s)

    net = Lin()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    data = torch.randn(8, 2)
    target = data.sum(1, keepdim=True) * 0.5
    for epoch in range(5):
        opt.zero_grad()
        loss = F.mse_loss(net(data), target)
        loss.backward()
        opt.step()
        print(f"epoch {epoch}: {loss.item():.5f}")
    correct = 0
    seen = 0
    with torch.no_grad():
        for b in range(2):
            out = net(data.view(2, 4, 2)[b])
            hit = (out - target.view(2, 4, 1)[b]).abs() < 0.1
            correct += hit.sum().item()
            seen += 4
        print(out.requires_grad)
    print(f"close: {correct} of {seen}", net.fc.weight.grad)
    print(loss, net.state_dict().keys(), {"a": 1}.items())


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(1, 32)
        self.fc2 = nn.Linear(32, 32)
        self.fc3 = nn.Linear(32, 1)

    def forward(self, x):
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)


def regression():
    torch.manual_seed(0)
    x = torch.rand(256, 1) * 2 - 1
    y = 3 * x ** 3 - x
    net = MLP()
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.002)
    for step in range(300):
        optimizer.zero_grad()
        loss = criterion(net(x), y)
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            print(f"step {step:3d}  loss {loss.item()}")
        if loss.item() < 0.01:
            print(f"below 0.01 at step {step}: loss {loss.item()}")
            break
    print("prediction", net(x[:4]).view(-1), y[:4].view(-1))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def schedule():
    torch.manual_seed(1)
    net = Net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.5)
    criterion = nn.CrossEntropyLoss()
    inputs = torch.randn(16, 4)
    labels = (inputs.sum(1) > 0).long() + (inputs[:, 0] > 1).long()
    print(optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["momentum"])
    for epoch in range(8):
        running = 0.0
        for b in range(4):
            optimizer.zero_grad()
            loss = criterion(net(inputs.view(4, 4, 4)[b]), labels.view(4, 4)[b])
            loss.backward()
            optimizer.step()
            running += loss.item()
        print(f"epoch {epoch + 1} lr {optimizer.param_groups[0]['lr']:.4f} loss {running / 4:.4f}")
        if (epoch + 1) % 3 == 0:
            for g in optimizer.param_groups:
                g["lr"] = g["lr"] * 0.5
    lr = optimizer.param_groups[0]["lr"]
    optimizer.param_groups[0]["lr"] *= 10
    print(lr, optimizer.param_groups[0]["lr"])


def accuracy(net, inputs, labels, batch=4):
    correct = 0
    total = 0
    with torch.no_grad():
        for b in range(inputs.shape[0] // batch):
            outputs = net(inputs.view(-1, batch, 4)[b])
            _, predicted = torch.max(outputs, 1)
            total += labels.view(-1, batch)[b].size(0)
            correct += (predicted == labels.view(-1, batch)[b]).sum().item()
    return 100 * correct // total


def train_epoch(net, optimizer, criterion, inputs, labels):
    running = 0.0
    for b in range(4):
        optimizer.zero_grad()
        loss = criterion(net(inputs.view(4, 4, 4)[b]), labels.view(4, 4)[b])
        loss.backward()
        optimizer.step()
        running += loss.item()
    return running / 4


def square(x):
    return x * x


def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)


def scale_(t, k=2):
    t *= k


def nothing():
    return


def defs():
    torch.manual_seed(1)
    net = Net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.5)
    criterion = nn.CrossEntropyLoss()
    inputs = torch.randn(16, 4)
    labels = (inputs.sum(1) > 0).long() + (inputs[:, 0] > 1).long()
    print("before", accuracy(net, inputs, labels), accuracy(net, inputs, labels, batch=8))
    best = 0
    for epoch in range(5):
        loss = train_epoch(net, optimizer, criterion, inputs, labels)
        print(f"epoch {epoch} loss {loss:.4f} acc {accuracy(net, inputs, labels)} % lr {optimizer.param_groups[0]['lr']}")
        acc = accuracy(net, inputs, labels, 8)
        if acc > best:
            best = acc
            print("best so far at epoch", epoch)
    print(square(torch.ones(3) * 2), square(torch.ones(2)), fact(5), nothing())
    t = torch.ones(2)
    scale_(t)
    scale_(t, k=3)
    print(t)


class LeNet(nn.Module):
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


def fashion_root(tmp):
    """torchvision's layout (ROOT/FashionMNIST/raw, files unpacked) of Debian's dataset-fashion-mnist."""
    src = "/usr/share/datasets/fashion-mnist"
    raw = os.path.join(tmp, "FashionMNIST", "raw")
    os.makedirs(raw)
    for f in os.listdir(src):
        if f.endswith(".gz"):
            with gzip.open(os.path.join(src, f)) as i, open(os.path.join(raw, f[:-3]), "wb") as o:
                shutil.copyfileobj(i, o)
    return tmp


def loader():
    import torchvision
    import torchvision.transforms as transforms
    import torch.optim as optim
    with tempfile.TemporaryDirectory() as tmp:
        root = fashion_root(tmp)
        torch.manual_seed(0)
        transform = transforms.Compose([transforms.Pad(2), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
        trainset = torchvision.datasets.FashionMNIST(root=root, train=True, download=False, transform=transform)
        trainloader = torch.utils.data.DataLoader(trainset, batch_size=4, shuffle=True, num_workers=2)
        testset = torchvision.datasets.FashionMNIST(root=root, train=False, download=False, transform=transform)
        testloader = torch.utils.data.DataLoader(testset, batch_size=4, shuffle=False)
        plain = torch.utils.data.DataLoader(trainset, batch_size=8, shuffle=True)
        print(len(trainset), len(trainloader), len(testloader), trainset.classes[9])

        dataiter = iter(trainloader)
        images, labels = next(dataiter)
        print(images.shape, labels, images[0, 0, 2, 10:14])
        images, labels = next(dataiter)
        print(labels)
        it = iter(plain)
        r = torch.rand(1)
        images8, labels8 = next(it)
        print(labels8, r)

        net = LeNet()
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
        for epoch in range(2):
            running_loss = 0.0
            for i, data in enumerate(trainloader, 0):
                inputs, labels = data
                optimizer.zero_grad()
                outputs = net(inputs)
                loss = criterion(outputs, labels)
                loss.backward()
                optimizer.step()
                print(f"{epoch} {i} {loss.item():.6f}")
                running_loss += loss.item()
                if i % 100 == 99:
                    print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 100:.3f}")
                    running_loss = 0.0
                if i == 249:
                    break
        print("Finished Training")

        correct = 0
        total = 0
        with torch.no_grad():
            for data in testloader:
                images, labels = data
                outputs = net(images)
                _, predicted = torch.max(outputs.data, 1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
        print(f"Accuracy of the network on the 10000 test images: {100 * correct // total} %")


class Lin4(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


def containers():
    import torchvision
    import torch.optim as optim
    torch.manual_seed(0)
    classes = ('plane', 'car', 'bird')
    cfg = {'lr': 0.1, 'steps': 3}
    net = Lin4()
    optimizer = optim.SGD(net.parameters(), lr=cfg['lr'])
    x = torch.randn(12, 4)
    y = torch.tensor([0, 1, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2])
    for step in range(cfg['steps']):
        optimizer.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
    print(' '.join(f'{classes[y[j]]:5s}' for j in range(4)), '|', ' '.join(f'{classes[y[j]]:>6.3s}' for j in range(3)))
    print([k * k for k in range(6) if k % 2 == 1], list(zip([1, 2], ['a', 'b'])))
    device = torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')
    print(device, 'small' if len(classes) < 5 else 'large')

    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    with torch.no_grad():
        for b in range(3):
            outputs = net(x.view(3, 4, 4)[b])
            _, predictions = torch.max(outputs, 1)
            labels = y.view(3, 4)[b]
            for label, prediction in zip(labels, predictions):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1
    print(correct_pred, list(total_pred.values()))
    for classname, correct_count in correct_pred.items():
        accuracy = 100 * float(correct_count) / total_pred[classname]
        print(f'Accuracy for class: {classname:5s} is {accuracy:.1f} %')

    with tempfile.TemporaryDirectory() as tmp:
        PATH = os.path.join(tmp, 'lin_net.pth')
        torch.save(net.state_dict(), PATH)
        net2 = Lin4()
        net2.load_state_dict(torch.load(PATH))
    net3 = Lin4()
    net3.load_state_dict(net.state_dict())
    print((net2(x) - net(x)).abs().max(), (net3(x) - net(x)).abs().max(), list(net.state_dict().keys()))
    grid = torchvision.utils.make_grid(x.view(3, 1, 4, 4), nrow=2)
    print(grid.shape, grid[1, 2:5, 2:6])


def loop_semantics():
    import builtins
    x = torch.zeros(2)
    v = x[1:]
    for i in range(2):
        v += 1
    print(x, v)
    a = torch.zeros(2)
    n = a.numpy()
    for i in range(2):
        a += 1
    print(n, a)
    t = torch.zeros(3)
    for i in range(3):
        t[i] += i
        t += 1
    print(t)

    int_ = 0
    for auto in range(2):
        int_ += auto
    memcpy = torch.ones(2)
    NULL = 3.5
    for i in range(2):
        memcpy += NULL
        NULL += 1
    print(int_, memcpy, NULL)

    count = 0
    for i in range(10):
        if i > 5 and i < 8:
            print(i)
        if not i:
            print("zero")
        if i == 9 or i == 0 and True:
            count += 1
    b = torch.ones(1).sum().item()
    y = torch.tensor([9, 1])
    if b > 0 and b < 2:
        print("b in range")
    if y[0] == 9 and y[1] != 9:
        print("y ok")
    print(count)
    k = 0
    for i in range(2):
        k += 1
    print(k ** 2, not (k > 1))


def checkpoint():
    torch.manual_seed(0)
    net = Lin()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    print(optimizer.state_dict())
    x = torch.randn(8, 2)
    y = x.sum(1, keepdim=True)
    for epoch in range(3):
        optimizer.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
    print(optimizer.state_dict())
    with tempfile.TemporaryDirectory() as tmp:
        PATH = os.path.join(tmp, "checkpoint.pt")
        torch.save({'epoch': epoch, 'model_state_dict': net.state_dict(),
                    'optimizer_state_dict': optimizer.state_dict(), 'loss': loss}, PATH)
        net2 = Lin()
        checkpoint = torch.load(PATH)
        net2.load_state_dict(checkpoint['model_state_dict'])
    print(net2.fc.weight, net2.fc.bias)
    print((net2(x) == net(x)).sum().item())

    adam = torch.optim.Adam(net2.parameters(), lr=0.01, weight_decay=0.001)
    for step in range(2):
        adam.zero_grad()
        F.mse_loss(net2(x), y).backward()
        adam.step()
    print(adam.state_dict())

    two = Two()
    two.a.requires_grad_(False)
    sg = torch.optim.SGD(two.parameters(), lr=0.1, momentum=0.9)
    plain = torch.optim.SGD(two.parameters(), lr=0.1)
    aw = torch.optim.AdamW(two.parameters(), lr=0.001)
    print(aw.state_dict())
    for i in range(3):
        sg.zero_grad()
        F.mse_loss(two(x), y).backward()
        sg.step()
        plain.step()
        aw.step()
    print(sg.state_dict()['state'])
    print(plain.state_dict())
    print(aw.state_dict()['state'])


class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = nn.Linear(2, 1)

    def forward(self, x):
        return self.b(self.a(x))


class Cls(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def tensors():
    from torch.utils.data import DataLoader, TensorDataset
    torch.manual_seed(0)
    x = torch.randn(20, 3)
    y = (x.sum(1) > 0).long()
    w = torch.arange(20).float()
    trainset = TensorDataset(x, y)
    loader = DataLoader(trainset, batch_size=5, shuffle=True)
    print(len(trainset), len(loader))
    net = Cls()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    for epoch in range(3):
        total = 0.0
        for i, (xb, yb) in enumerate(loader):
            optimizer.zero_grad()
            loss = criterion(net(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
            if epoch == 0:
                print(i, yb)
        print(f"epoch {epoch} loss {total / len(loader):.6f}")
    ordered = DataLoader(TensorDataset(x, y, w), batch_size=10)
    correct = 0
    with torch.no_grad():
        for xb, yb, wb in ordered:
            correct += (net(xb).argmax(1) == yb).sum().item()
            print(wb)
    it = iter(loader)
    xb, yb = next(it)
    print(correct, xb.shape, yb)

    odd = DataLoader(TensorDataset(x, y, w), batch_size=6, shuffle=True)
    print(len(odd))
    for epoch in range(2):
        seen = 0.0
        for i, (xb, yb, wb) in enumerate(odd):
            optimizer.zero_grad()
            out = net(xb)
            loss = criterion(out, yb)
            loss.backward()
            optimizer.step()
            seen += wb.sum().item()
            print(i, xb.shape[0], wb, f"{loss.item():.6f}")
        print(f"epoch {epoch}: {seen} {out.shape} {xb.shape} {loss.item():.6f}")
    n = 0
    for xb, yb, wb in odd:
        n += xb.shape[0]
        if n > 15:
            break
    print(n, len(TensorDataset(torch.zeros(0, 3))))
    torch.manual_seed(2)
    x = torch.randn(3, 4, requires_grad=True)
    m = x.max(1)
    print(m)
    print(m.values, m.indices, torch.min(x, dim=0).indices, x.min(1, keepdim=True).values)
    v, i = torch.min(x, 1)
    print(v, i)
    (x.min(dim=1).values.sum() + x.max(0)[0].sum()).backward()
    print(x.grad)
    n = torch.tensor([[3, -9223372036854775807 - 1, 5], [2, 2, 1]])
    print(n.min(1), n.max(dim=1).indices)
    w = torch.randn(3, 6, requires_grad=True)
    print(w[0, :4], w[:, 1], w[1], w[1:, 2:4], w[..., 0], w[:2][1])


def cond_expr():
    torch.manual_seed(0)
    net = Lin()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    x = torch.randn(8, 2)
    y = x.sum(1, keepdim=True)
    best = 100.0
    for epoch in range(6):
        lr = 0.1 if epoch < 3 else 0.01
        for g in optimizer.param_groups:
            g['lr'] = lr
        optimizer.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
        best = loss.item() if loss.item() < best else best
        tag = 1 if loss > 0.5 else 0
        print(epoch, lr, f"{loss.item():.5f}", f"{best:.5f}", tag)
    w = net.fc.weight * 2 if best < 1 else net.fc.weight
    print(f"{w.sum().item():.4f}")
    k = 3 if True else 4
    print(k)


class ExportNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
        return self.fc(torch.flatten(x, 1))


def exports():
    def classify(net, x):
        scores = net(x)
        return scores, scores.argmax(1)

    def affine(x, w, b):
        return (x * w).sum() + b

    torch.manual_seed(0)
    net = ExportNet()
    x = torch.arange(288).float().view(2, 1, 12, 12) / 100 - 1
    with torch.no_grad():
        s, c = classify(net, x)
        print(s)
        print(c)
        s, c = classify(net, x * 2)
        print(s)
        print(c)
        print(net.bn.running_mean)
        print(affine(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.25])))


def nan_checks():
    import math
    x = torch.tensor([1.0, float("nan"), float("inf"), -2.0])
    print(torch.isnan(x), x.isinf(), torch.isfinite(x))
    print(math.isnan(0.5), math.isinf(math.inf), math.isfinite(math.nan), math.pi)
    losses = torch.tensor([0.5, 0.25, float("nan"), 0.125])
    for i in range(4):
        loss = losses[i].item()
        if math.isnan(loss):
            print(f"step {i}: the loss is nan, stopping")
            break
        print(f"step {i}: {loss}")
    print(torch.isnan(torch.tensor([1, 2])))


def activations():
    class Net(nn.Module):  # named as the .tg model: print(net) shows it
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.Sigmoid())

        def forward(self, x):
            return self.body(x)

    torch.manual_seed(0)
    net = Net()
    print(net)
    x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    for step in range(3):
        optimizer.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
        print(f"step {step}: loss {loss.item():.6f}")
    with torch.no_grad():
        print(net(x))
        print(nn.Tanh()(x), nn.Sigmoid()(x))

    class Acts(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(5, 8)
            self.acts = nn.Sequential(nn.LeakyReLU(0.2), nn.ELU(alpha=0.5), nn.GELU(), nn.SiLU(), nn.Identity(54))
            self.fc2 = nn.Linear(8, 8)
            self.more = nn.Sequential(nn.GELU(approximate="tanh"), nn.Softplus(beta=2, threshold=1), nn.ReLU6(),
                                      nn.Hardtanh(-0.5, 0.75), nn.LeakyReLU(negative_slope=1, inplace=True))
            self.fc3 = nn.Linear(8, 3)
            self.out = nn.LogSoftmax(dim=1)

        def forward(self, x):
            return self.out(self.fc3(self.more(self.fc2(self.acts(self.fc1(x))))))

    torch.manual_seed(1)
    x = torch.randn(3, 5) * 3
    print(F.leaky_relu(x), F.leaky_relu(x, 0.5))
    print(F.elu(x), F.elu(x, alpha=2.0), F.gelu(x), F.gelu(x, approximate="tanh"))
    print(F.silu(x), F.softplus(x), F.softplus(x, beta=0.5, threshold=2), F.relu6(x), F.hardtanh(x, -2, 2))
    print(torch.erf(x), x.erf())
    print(F.softmax(x, dim=1), F.log_softmax(x, dim=0), torch.softmax(x, -1), x.log_softmax(dim=1))
    print(nn.Softmax(dim=0)(x).sum(0), nn.Softmax(1)(x.double()))
    w = x.clone().requires_grad_(True)
    y = F.elu(F.gelu(w) * 0.5) + F.softplus(w) * F.silu(w) + F.hardtanh(w) + F.leaky_relu(w, 0.1) + torch.erf(w)
    (y * y).sum().backward()
    print(w.grad)
    net = Acts()
    print(net)
    v = torch.randn(4, 5)
    target = torch.tensor([0, 2, 1, 1])
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for step in range(3):
        optimizer.zero_grad()
        loss = F.nll_loss(net(v), target)
        loss.backward()
        optimizer.step()
        print(f"step {step}: loss {loss.item():.6f}")
    print(net(v))

    class Dropped(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 16)
            self.drop = nn.Dropout(0.3)
            self.fc2 = nn.Linear(16, 3)

        def forward(self, x):
            return self.fc2(self.drop(F.relu(self.fc1(x))))

    for seed in [0, 1, 7]:
        torch.manual_seed(seed)
        x = torch.randn(3, 8)
        print(F.dropout(x, 0.3), F.dropout(x, p=0.5, training=False))
        print(F.dropout2d(torch.ones(2, 5, 2, 2), 0.4)[:, :, 0, 0], nn.Dropout2d(p=0.5)(x.view(1, 3, 2, 4)))
        d = nn.Dropout(p=0.25)
        print(d, d(torch.ones(10)), F.dropout(x, 0.0), F.dropout(x, 1.0), torch.rand(2))
    torch.manual_seed(0)
    net = Dropped()
    x = torch.randn(8, 6)
    t = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    optimizer = optim.SGD(net.parameters(), lr=0.1)
    for step in range(5):
        optimizer.zero_grad()
        loss = F.cross_entropy(net(x), t)
        loss.backward()
        optimizer.step()
        print(f"step {step}: loss {loss.item():.6f}")
    net.eval()
    print(net(x))
    net.train()
    print(net.drop(torch.ones(2, 4)))


def losses():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 8)
            self.fc2 = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc2(F.gelu(self.fc1(x)))

    torch.manual_seed(3)
    x = torch.randn(5, 4, requires_grad=True)
    t = torch.tensor([0, 3, 1, 1, 2])
    w = torch.tensor([0.5, 2.0, 1.0, 0.25])
    lp = F.log_softmax(x, dim=1)
    print(F.nll_loss(lp, t), F.nll_loss(lp, t, weight=w), F.nll_loss(lp, t, reduction="sum"))
    print(F.nll_loss(lp, t, reduction="none"), F.nll_loss(lp, t, ignore_index=1), F.nll_loss(lp, t, w, ignore_index=3))
    print(F.cross_entropy(x, t), F.cross_entropy(x, t, weight=w), F.cross_entropy(x, t, label_smoothing=0.1))
    print(F.cross_entropy(x, t, w, ignore_index=1, label_smoothing=0.2), F.cross_entropy(x, t, reduction="none", label_smoothing=0.3))
    print(F.cross_entropy(x, t, ignore_index=0, reduction="sum", label_smoothing=0.05))
    y = torch.randn(5, 4)
    p = torch.sigmoid(y)
    q = torch.rand(5, 4)
    print(F.l1_loss(x, y), F.l1_loss(x, y, reduction="none"), F.mse_loss(x, y, reduction="sum"))
    print(F.smooth_l1_loss(x, y), F.smooth_l1_loss(x, y, beta=0.5, reduction="sum"), F.smooth_l1_loss(x * 3, y, beta=0.0))
    print(F.huber_loss(x, y), F.huber_loss(x * 2, y, delta=0.3, reduction="none"))
    print(F.binary_cross_entropy(p, q), F.binary_cross_entropy(p, q, weight=w, reduction="sum"))
    print(F.binary_cross_entropy_with_logits(x, q), F.binary_cross_entropy_with_logits(x, q, pos_weight=w))
    print(F.binary_cross_entropy_with_logits(x * 20, q, weight=w, reduction="none"))
    total = F.cross_entropy(x, t, w, ignore_index=1, label_smoothing=0.2) + F.nll_loss(F.log_softmax(x, 1), t, w) + \
        F.smooth_l1_loss(x, y, beta=0.5) + F.huber_loss(x, y, delta=0.7) + F.l1_loss(x, y) + \
        F.binary_cross_entropy(torch.sigmoid(x), q) + F.binary_cross_entropy_with_logits(x, q, pos_weight=w)
    total.backward()
    print(total, x.grad)
    print(nn.NLLLoss(), nn.CrossEntropyLoss(label_smoothing=0.1), nn.BCELoss(), nn.BCEWithLogitsLoss(), nn.L1Loss(),
          nn.SmoothL1Loss(beta=2.0), nn.HuberLoss(delta=0.5))
    v = torch.randn(8, 6)
    c = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    r = torch.rand(8, 4)
    for name in ["nll", "ce", "bce", "bcel", "l1", "sl1", "huber"]:
        torch.manual_seed(4)
        net = Net()
        crit = nn.NLLLoss(weight=w) if name == "nll" else nn.CrossEntropyLoss(weight=w, label_smoothing=0.1) \
            if name == "ce" else nn.BCELoss() if name == "bce" else nn.BCEWithLogitsLoss(pos_weight=w) \
            if name == "bcel" else nn.L1Loss() if name == "l1" else nn.SmoothL1Loss(beta=0.5) \
            if name == "sl1" else nn.HuberLoss(delta=0.5)
        optimizer = optim.SGD(net.parameters(), lr=0.2)
        for step in range(3):
            optimizer.zero_grad()
            out = net(v)
            loss = crit(F.log_softmax(out, 1), c) if name == "nll" else crit(out, c) if name == "ce" else \
                crit(torch.sigmoid(out), r) if name == "bce" else crit(out, r)
            loss.backward()
            optimizer.step()
            print(f"{name} step {step}: loss {loss.item():.6f}")


def optimizers():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 6)
            self.fc2 = nn.Linear(6, 2)

        def forward(self, x):
            return self.fc2(torch.tanh(self.fc1(x)))

    def train3(name, net, opt, x, y):
        for step in range(3):
            opt.zero_grad()
            loss = F.mse_loss(net(x), y)
            loss.backward()
            opt.step()
            print(f"{name} {step}: {loss.item():.6f}")
        print(net.fc1.weight, net.fc2.bias)

    x = torch.tensor([[0.5, -1.0, 2.0, 0.1], [1.5, 0.25, -0.75, -0.3], [0.2, 0.9, -1.1, 0.4]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    makers = [
        ("rmsprop", lambda n: optim.RMSprop(n.parameters(), lr=0.01)),
        ("rmsprop_c", lambda n: optim.RMSprop(n.parameters(), lr=0.02, alpha=0.9, momentum=0.5, centered=True,
                                              weight_decay=0.1)),
        ("adagrad", lambda n: optim.Adagrad(n.parameters(), lr=0.1)),
        ("adagrad_d", lambda n: optim.Adagrad(n.parameters(), lr=0.1, lr_decay=0.5, weight_decay=0.2,
                                              initial_accumulator_value=0.3)),
        ("amsgrad", lambda n: optim.Adam(n.parameters(), lr=0.05, amsgrad=True)),
        ("adamw_ams", lambda n: optim.AdamW(n.parameters(), lr=0.05, amsgrad=True, weight_decay=0.1)),
    ]
    for name, make in makers:
        torch.manual_seed(0)
        net = Net()
        train3(name, net, make(net), x, y)
    torch.manual_seed(0)
    net = Net()
    opt = optim.RMSprop(net.parameters(), lr=0.02, momentum=0.5, centered=True)
    train3("state", net, opt, x, y)
    sd = opt.state_dict()
    print(sd["param_groups"], sd["state"][3])
    opt2 = optim.Adagrad(net.parameters(), lr_decay=0.1)
    train3("state2", net, opt2, x, y)
    print(opt2.state_dict()["param_groups"], opt2.state_dict()["state"][3], opt2.param_groups[0]["lr_decay"])

    class Net2(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 8)
            self.fc2 = nn.Linear(8, 3)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)))

    torch.manual_seed(0)
    net = Net2()
    x = torch.randn(6, 4) * 5
    t = torch.tensor([0, 1, 2, 0, 1, 2])
    opt = optim.SGD(net.parameters(), lr=0.1)
    for step in range(4):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), t)
        loss.backward()
        total = nn.utils.clip_grad_norm_(net.parameters(), max_norm=0.5)
        opt.step()
        print(f"{step}: {loss.item():.6f} {total.item():.6f}")
    loss = F.cross_entropy(net(x), t)
    loss.backward()
    print(torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0, norm_type="inf"), net.fc2.bias.grad)
    print(torch.nn.utils.clip_grad_norm_(net.parameters(), 0.1, norm_type=1.5), net.fc2.bias.grad)
    nn.utils.clip_grad_value_(net.parameters(), 0.01)
    print(net.fc2.bias.grad, net.fc1.weight.grad[0])

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.seq = nn.Sequential(self.fc, nn.Tanh(), self.fc)

        def forward(self, x):
            return self.seq(x)

    torch.manual_seed(0)
    net = Shared()
    x = torch.randn(4, 3)
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for step in range(3):
        opt.zero_grad()
        loss = (net(x) ** 2).mean()
        loss.backward()
        total = nn.utils.clip_grad_norm_(net.parameters(), 0.5)
        opt.step()
        print(f"{step}: {loss.item():.6f} {total.item():.6f}")
    print(len(list(net.parameters())), net.fc.bias, len(opt.state_dict()["state"]))
    print(list(net.state_dict().keys()), list(net.seq.state_dict().keys()), list(net.fc.state_dict().keys()))


def schedulers():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(x)

    def warm(epoch):
        f = 0.95 ** epoch if epoch > 2 else (epoch + 1) / 3
        return f

    torch.manual_seed(0)
    net = Net()
    o1 = optim.SGD(net.parameters(), lr=0.1)
    o2 = optim.SGD(net.parameters(), lr=0.1)
    o3 = optim.SGD(net.parameters(), lr=0.1)
    o4 = optim.SGD(net.parameters(), lr=0.1)
    o5 = optim.SGD(net.parameters(), lr=0.1)
    o6 = optim.SGD(net.parameters(), lr=0.05)
    s1 = torch.optim.lr_scheduler.StepLR(o1, step_size=7, gamma=0.5)
    s2 = torch.optim.lr_scheduler.MultiStepLR(o2, milestones=[5, 20, 20, 33], gamma=0.3)
    s3 = torch.optim.lr_scheduler.ExponentialLR(o3, 0.93)
    s4 = torch.optim.lr_scheduler.CosineAnnealingLR(o4, T_max=12, eta_min=0.001)
    s5 = torch.optim.lr_scheduler.LambdaLR(o5, warm)
    s6 = torch.optim.lr_scheduler.CosineAnnealingLR(o6, 7)
    for epoch in range(50):
        for s in [s1, s2, s3, s4, s5, s6]:
            s.step()
        print(epoch, s1.get_last_lr()[0], s2.get_last_lr()[0], s3.get_last_lr()[0], s4.get_last_lr()[0],
              s5.get_last_lr()[0], o6.param_groups[0]["lr"])
    print(s1.state_dict(), s4.state_dict(), s5.state_dict(), s1.last_epoch)
    torch.manual_seed(5)
    mlp = Net()
    opt = optim.AdamW(mlp.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    x = torch.randn(6, 3)
    y = torch.randn(6, 2)
    for epoch in range(6):
        for b in range(2):
            opt.zero_grad()
            loss = F.mse_loss(mlp(x.view(2, 3, 3)[b]), y.view(2, 3, 2)[b])
            loss.backward()
            opt.step()
        sched.step()
        print(f"epoch {epoch}: loss {loss.item():.6f} lr {sched.get_last_lr()[0]:.8f}")
    print(mlp.fc.weight)


def param_groups():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 6)
            self.fc2 = nn.Linear(6, 5)
            self.fc3 = nn.Linear(5, 2)

        def forward(self, x):
            return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))

    def train3(name, net, opt, x, y):
        for step in range(3):
            opt.zero_grad()
            loss = F.mse_loss(net(x), y)
            loss.backward()
            opt.step()
            print(f"{name} {step}: {loss.item():.6f}")
        print(net.fc1.weight, net.fc2.bias, net.fc3.weight)

    def step1(name, net, opt, x, y):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        print(f"{name}: {loss.item():.6f}")

    def warm(epoch):
        f = (epoch + 1) / 4 if epoch < 3 else 1.0
        return f

    def decay(epoch):
        return 0.9 ** epoch

    def run(name, net, opt, sched, xs, ys, first, last):
        for epoch in range(first, last):
            total = 0.0
            for b in range(4):
                opt.zero_grad()
                loss = F.mse_loss(net(xs[b]), ys[b])
                loss.backward()
                opt.step()
                total += loss.item()
            sched.step()
            lrs = sched.get_last_lr()
            print(f"{name} epoch {epoch}: loss {total / 4:.6f} lr {lrs[0]:.8f} {lrs[1]:.8f}")

    class Args:
        epochs = 5
        lr = 0.05
    args = Args()
    x = torch.tensor([[0.5, -1.0, 2.0, 0.1], [1.5, 0.25, -0.75, -0.3], [0.2, 0.9, -1.1, 0.4]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])

    def sgd_of(net):
        return optim.SGD([{"params": net.fc1.parameters()},
                          {"params": net.fc2.parameters(), "lr": 0.05, "weight_decay": 0.01, "nesterov": True},
                          {"params": [net.fc3.weight, net.fc3.bias], "lr": 0.2, "momentum": 0}], lr=0.1, momentum=0.9)

    torch.manual_seed(0)
    net = Net()
    sgd = sgd_of(net)
    print(sgd.state_dict())
    print(len(sgd.param_groups), sgd.param_groups[1]["lr"], sgd.param_groups[1]["nesterov"], sgd.param_groups[2]["momentum"])
    train3("sgd", net, sgd, x, y)
    print(sgd.state_dict()["param_groups"], sgd.state_dict()["state"][2]["momentum_buffer"], sgd.state_dict()["state"][5])
    torch.manual_seed(0)
    net = Net()
    sgd = sgd_of(net)
    step1("sgd line 0", net, sgd, x, y)
    step1("sgd line 1", net, sgd, x, y)
    step1("sgd line 2", net, sgd, x, y)
    print(net.fc1.weight, net.fc2.bias, net.fc3.weight)

    torch.manual_seed(0)
    net = Net()
    adam = optim.Adam([{"params": net.fc1.parameters(), "betas": (0.8, 0.99)},
                       {"params": net.fc2.parameters(), "weight_decay": 0.1, "amsgrad": True},
                       {"params": net.fc3.parameters(), "lr": 0.01, "eps": 1e-6}], lr=0.05)
    train3("adam", net, adam, x, y)
    print(adam.state_dict()["param_groups"])
    torch.manual_seed(0)
    net = Net()
    adam = optim.Adam([{"params": net.fc1.parameters(), "betas": (0.8, 0.99)},
                       {"params": net.fc2.parameters(), "weight_decay": 0.1},
                       {"params": net.fc3.parameters(), "lr": 0.01, "eps": 1e-6}], lr=0.05)
    step1("adam line 0", net, adam, x, y)
    step1("adam line 1", net, adam, x, y)
    step1("adam line 2", net, adam, x, y)
    print(net.fc1.weight, net.fc2.bias, net.fc3.weight)
    torch.manual_seed(0)
    net = Net()
    adamw = optim.AdamW([{"params": net.fc1.parameters()},
                         {"params": [net.fc2.weight, net.fc2.bias, net.fc3.weight, net.fc3.bias], "weight_decay": 0,
                          "betas": [0.85, 0.995]}], lr=0.05, weight_decay=0.1)
    train3("adamw", net, adamw, x, y)
    print(adamw.state_dict()["param_groups"])

    torch.manual_seed(0)
    net = Net()
    rms = optim.RMSprop([{"params": net.fc1.parameters(), "centered": True, "momentum": 0.5},
                         {"params": [net.fc2.weight, net.fc2.bias, net.fc3.weight, net.fc3.bias], "alpha": 0.9,
                          "weight_decay": 0.1}], lr=0.01)
    train3("rmsprop", net, rms, x, y)
    print(rms.state_dict()["param_groups"], rms.state_dict()["state"][0]["grad_avg"], rms.state_dict()["state"][3])
    torch.manual_seed(0)
    net = Net()
    ada = optim.Adagrad([{"params": net.fc1.parameters(), "lr_decay": 0.5},
                         {"params": [net.fc2.weight, net.fc2.bias, net.fc3.weight, net.fc3.bias],
                          "initial_accumulator_value": 0.3, "lr": 0.05}], lr=0.1)
    train3("adagrad", net, ada, x, y)
    print(ada.state_dict()["param_groups"])

    torch.manual_seed(0)
    net = Net()
    opt = optim.SGD(net.fc1.parameters(), lr=0.1)
    opt.add_param_group({"params": net.fc2.parameters(), "lr": 0.01, "momentum": 0.9})
    opt.add_param_group({"params": net.fc3.parameters(), "tag": "head"})
    print(opt.state_dict()["param_groups"], opt.param_groups[2]["tag"], len(opt.param_groups[1]["params"]))
    train3("added", net, opt, x, y)

    torch.manual_seed(0)
    net = Net()

    def two(net):
        return optim.SGD([{"params": net.fc1.parameters(), "lr": 0.1}, {"params": net.fc2.parameters()}], lr=0.02)
    o1, o2, o3, o4 = two(net), two(net), two(net), two(net)
    s1 = torch.optim.lr_scheduler.StepLR(o1, step_size=7, gamma=0.5)
    s2 = torch.optim.lr_scheduler.CosineAnnealingLR(o2, T_max=12, eta_min=0.001)
    s3 = torch.optim.lr_scheduler.ExponentialLR(o3, 0.93)
    s4 = torch.optim.lr_scheduler.LambdaLR(o4, [warm, decay])
    print(s1.get_last_lr(), s2.base_lrs, s4.get_last_lr(), o1.state_dict()["param_groups"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # step() before optimizer.step(): PyTorch warns
        for epoch in range(50):
            for s in [s1, s2, s3, s4]:
                s.step()
            print(epoch, s1.get_last_lr(), s2.get_last_lr(), s3.get_last_lr(), s4.get_last_lr())
    print(s1.state_dict(), s2.state_dict(), s4.state_dict())

    torch.manual_seed(1)
    net = Net()
    xs = torch.randn(4, 3, 4)
    ys = torch.randn(4, 3, 2)
    opt = optim.SGD([{"params": net.fc1.parameters()},
                     {"params": [net.fc2.weight, net.fc2.bias, net.fc3.weight, net.fc3.bias], "lr": args.lr}],
                    lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    print(sched.base_lrs)
    run("options", net, opt, sched, xs, ys, 0, args.epochs)
    for g in opt.param_groups:
        g["lr"] = g["lr"] * 10
    print(opt.param_groups[0]["lr"], opt.param_groups[1]["lr"])

    def sgd2(net):
        return optim.SGD([{"params": net.fc1.parameters(), "lr": 0.1},
                          {"params": [net.fc2.weight, net.fc2.bias, net.fc3.weight, net.fc3.bias], "weight_decay": 0.01}],
                         lr=0.05, momentum=0.9)

    def adam3(net):
        return optim.Adam([{"params": net.fc1.parameters()}, {"params": net.fc2.parameters(), "lr": 0.01},
                           {"params": net.fc3.parameters(), "betas": (0.5, 0.9)}], lr=0.02)

    with tempfile.TemporaryDirectory() as tmp:
        PATH = os.path.join(tmp, "param_groups.pt")
        torch.manual_seed(2)
        net = Net()
        opt = sgd2(net)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        run("sgd", net, opt, sched, xs, ys, 0, 3)
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, PATH)
        run("sgd", net, opt, sched, xs, ys, 3, 6)
        net2 = Net()
        opt2 = sgd2(net2)
        sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
        checkpoint = torch.load(PATH)
        net2.load_state_dict(checkpoint["model"])
        opt2.load_state_dict(checkpoint["optimizer"])
        sched2.load_state_dict(checkpoint["scheduler"])
        print(sched2.last_epoch, sched2.get_last_lr(), opt2.param_groups[1]["lr"])
        run("resumed", net2, opt2, sched2, xs, ys, 3, 6)
        print(opt2.state_dict()["param_groups"], sched2.state_dict())

        torch.manual_seed(3)
        net = Net()
        adam = adam3(net)
        cos = torch.optim.lr_scheduler.CosineAnnealingLR(adam, T_max=4, eta_min=0.001)
        run("adam", net, adam, cos, xs, ys, 0, 3)
        torch.save({"model": net.state_dict(), "optimizer": adam.state_dict(), "scheduler": cos.state_dict()}, PATH)
        run("adam", net, adam, cos, xs, ys, 3, 7)
        net2 = Net()
        adam2 = adam3(net2)
        cos2 = torch.optim.lr_scheduler.CosineAnnealingLR(adam2, T_max=4, eta_min=0.001)
        checkpoint = torch.load(PATH)
        net2.load_state_dict(checkpoint["model"])
        adam2.load_state_dict(checkpoint["optimizer"])
        cos2.load_state_dict(checkpoint["scheduler"])
        run("resumed", net2, adam2, cos2, xs, ys, 3, 7)
        print(adam2.state_dict()["state"][4]["step"], cos2.state_dict())


def mlp_fashion():
    import torchvision
    import torchvision.transforms as transforms

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 64, bias=False)
            self.bn = nn.BatchNorm1d(64)
            self.drop = nn.Dropout(0.2)
            self.fc3 = nn.Linear(64, 10)

        def forward(self, x):
            x = F.relu(self.fc1(torch.flatten(x, 1)))
            return self.fc3(self.drop(F.relu(self.bn(self.fc2(x)))))

    with tempfile.TemporaryDirectory() as tmp:
        root = fashion_root(tmp)
        torch.manual_seed(0)
        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
        trainset = torchvision.datasets.FashionMNIST(root=root, train=True, download=False, transform=transform)
        testset = torchvision.datasets.FashionMNIST(root=root, train=False, download=False, transform=transform)
        trainloader = torch.utils.data.DataLoader(trainset, batch_size=32, shuffle=True)
        testloader = torch.utils.data.DataLoader(testset, batch_size=100, shuffle=False)
        net = Mlp()
        print(net)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.AdamW(net.parameters(), lr=0.002, eps=1e-3)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=200)
        for i, data in enumerate(trainloader, 0):
            inputs, labels = data
            optimizer.zero_grad()
            loss = criterion(net(inputs), labels)
            loss.backward()
            optimizer.step()
            scheduler.step()
            print(f"{i} {loss.item():.6f} {scheduler.get_last_lr()[0]:.6e}")
            if i == 199:
                break
        net.eval()
        correct = 0
        total = 0
        with torch.no_grad():
            for j, data in enumerate(testloader, 0):
                images, labels = data
                _, predicted = torch.max(net(images), 1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
                if j == 19:
                    break
        print(f"Accuracy on {total} test images: {100 * correct // total} %")
        print(net.bn.running_mean[:4], net.bn.num_batches_tracked)


def norms():
    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 8)
            self.bn = nn.BatchNorm1d(8)
            self.ln = nn.LayerNorm(8)
            self.fc2 = nn.Linear(8, 3)

        def forward(self, x):
            return self.fc2(self.ln(F.relu(self.bn(self.fc1(x)))))

    torch.manual_seed(0)
    net = Mlp()
    print(net, nn.LayerNorm([2, 3], eps=1e-3, elementwise_affine=False), nn.BatchNorm1d(4, momentum=0.2))
    x = torch.randn(5, 6)
    t = torch.tensor([0, 1, 2, 1, 0])
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for step in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), t)
        loss.backward()
        opt.step()
        print(f"step {step}: {loss.item():.6f}")
    print(net.bn.running_mean, net.bn.running_var, net.bn.num_batches_tracked, net.ln.weight.grad)
    net.eval()
    print(net(x))
    y = torch.randn(2, 4, 3)
    print(nn.BatchNorm1d(4)(y), F.layer_norm(y, (4, 3)), F.layer_norm(y, [3], torch.ones(3) * 2, torch.zeros(3) + 0.5))
    class PoolNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d((3, 2))
            self.fc = nn.Linear(12, 2)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(x), 1))

    torch.manual_seed(0)
    net = PoolNet()
    x = torch.randn(2, 2, 7, 5, requires_grad=True)
    y = net(x)
    print(net, F.adaptive_avg_pool2d(x, (4, 3)), F.adaptive_avg_pool2d(x, 2))
    y.sum().backward()
    print(y, x.grad[0, 0])


def init():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(144, 5)

        def forward(self, x):
            return self.fc(torch.flatten(self.conv(x), 1))

    for seed in [0, 1, 42]:
        torch.manual_seed(seed)
        net = Net()
        w = net.fc.weight
        nn.init.xavier_uniform_(w)
        print(f"{w[0, 0].item():.9g} {w[4, 143].item():.9g} {w[2, 77].item():.9g}")
        nn.init.xavier_normal_(net.conv.weight, gain=nn.init.calculate_gain("relu"))
        print(f"{net.conv.weight[0, 0, 0, 0].item():.9g} {net.conv.weight[3, 2, 2, 2].item():.9g}")
        nn.init.kaiming_uniform_(w, a=0.1, mode="fan_out", nonlinearity="leaky_relu")
        print(f"{w[0, 0].item():.9g} {w[4, 143].item():.9g}")
        nn.init.kaiming_normal_(net.conv.weight, mode="fan_out", nonlinearity="relu")
        print(f"{net.conv.weight[0, 0, 0, 0].item():.9g} {net.conv.weight[3, 2, 2, 2].item():.9g}")
        nn.init.uniform_(net.fc.bias, -0.5, 0.25)
        nn.init.normal_(net.conv.bias, mean=1.0, std=0.1)
        print(f"{net.fc.bias[1].item():.9g} {net.conv.bias[3].item():.9g}")
        nn.init.zeros_(net.conv.bias)
        nn.init.constant_(net.fc.bias, 0.3)
        print(net.conv.bias, net.fc.bias, nn.init.calculate_gain("tanh"), nn.init.calculate_gain("leaky_relu", 0.2))
        print(w[:2, :5], torch.rand(2))
        out = net(torch.ones(2, 3, 8, 8))
        out.sum().backward()
        print(out, net.fc.weight.grad[0, :3])


def tensor_ops():
    torch.manual_seed(3)
    x = torch.randn(3, 5, requires_grad=True)
    y = torch.clamp(x, min=-0.5, max=0.5)
    z = x.clamp(min=0.0)
    w = x.clip(max=0.25)
    print(y, z, w)
    (y * 2 + z * 3 + w).sum().backward()
    print(x.grad)
    print(torch.tensor([1, 5, -3]).clamp(0, 4), F.one_hot(torch.tensor([0, 2, 1, 2]), num_classes=4))
    # min above max: max(x, min) then min(., max), so every value is max (NaN stays NaN), no gradient
    c = torch.tensor([0.5, 2.0, float("nan"), -3.0], requires_grad=True)
    cc = c.clamp(min=1.0, max=0.0)
    cc.sum().backward()
    print(cc, c.grad, torch.tensor([1, 5, -2]).clamp(3, 1))
    print(torch.eye(3), torch.eye(2, 4, dtype=torch.int64), torch.linspace(0, 1, 7), torch.linspace(-2.5, 10, 9))
    print(torch.linspace(3, -3, steps=5, dtype=torch.float64), torch.linspace(0, 1, 1))
    v = torch.randn(4, 6, requires_grad=True)
    print(v.var(), v.std(dim=1), torch.var(v, 0, unbiased=False), v.std(1, keepdim=True), v.var(dim=1, correction=2))
    (v.std(dim=0).sum() + v.var()).backward()
    print(v.grad)
    s = torch.stack([x, x * 2, x + 1], dim=1)
    print(s.shape, s[1], torch.stack((x[0], x[1])))
    a, b, c = x.chunk(3, dim=1)
    print(a, b, c)
    p, q = torch.split(x, [2, 3], dim=1)
    print(p, q, x.split(2))
    with torch.no_grad():
        x.clamp_(-0.1, 0.1)
    print(x)
    for seed in [0, 5]:
        torch.manual_seed(seed)
        print(torch.randint(10, (3, 4)), torch.randint(-5, 5, (6,)), torch.randperm(10), torch.rand(2))
        print(torch.randint(0, 5000000000, (3,)), torch.randint(3, 9, size=(2, 2), dtype=torch.int32), torch.randperm(1))
        x = torch.randn(10, 2)
        print(x[3], torch.randperm(4))
    torch.manual_seed(0)
    w = torch.randn(3, requires_grad=True)
    y = w * 2
    d = y.detach()
    print(d, d.requires_grad, y.detach().numpy())
    z = (y * d).sum()
    z.backward()
    print(w.grad)
    e = w.detach()
    e.add_(1)
    print(w, e, e.is_leaf)
    loss = (w * w).sum()
    v = loss.detach()
    print(v, v.item(), loss)
    f = w.detach()[1:]
    print(f, (f * 3).requires_grad)
    w.data.mul_(0.5)
    print(w, w.data, w.data.requires_grad)
    q = torch.ones(2, 2, requires_grad=True)
    q.data.clamp_(-0.1, 0.1)
    print(q)
    torch.manual_seed(4)
    x = torch.randn(3, 4, requires_grad=True)
    print(x.norm(), x.norm(dim=1), torch.norm(x, p=1), x.norm(p=float("inf")), x.norm(p=3, dim=0, keepdim=True), x.norm(p="fro"))
    r = x.repeat(2, 1, 3)
    print(r.shape, x.repeat(2, 1), torch.tensor([1, 2]).repeat(3))
    (r.sum() + x.norm() + x.norm(p=3, dim=0).sum()).backward()
    print(x.grad)
    z = torch.tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    (z.norm(dim=1).sum() + z.norm(p=3, dim=1).sum() + z[0].norm()).backward()
    print(z.grad)


def indexing():
    torch.manual_seed(7)
    x = torch.randn(3, 4, requires_grad=True)
    y = torch.randn(4, requires_grad=True)
    w = torch.where(x > 0, x, y * 2)
    m = x.masked_fill(x < -0.5, 0.25)
    print(w, m, torch.where(x > 0.3, 1.0, 0.0), torch.where(torch.tensor([True, False]), torch.tensor([1, 2]), 7))
    print(x.where(x < 0, y), y.where(condition=y > 0, other=torch.zeros(4)))
    bm = torch.tensor([True, False, True])
    print(torch.tensor([1, 2, 3]).masked_fill(bm, -1.7), torch.tensor([1, 2, 3], dtype=torch.uint8).masked_fill(bm, 2.9),
          torch.tensor([False, False, True]).masked_fill(bm, 0.5))
    (w * w).sum().backward()
    print(x.grad, y.grad)
    idx = torch.tensor([[0, 3, 3], [1, 1, 0], [2, 0, 1]])
    g = x.gather(1, idx)
    h = torch.gather(x, 0, torch.tensor([[2, 0, 1, 1], [0, 0, 2, 1]]))
    print(g, h)
    src = torch.randn(3, 3, requires_grad=True)
    s = torch.zeros(3, 4).scatter_add(1, idx, src)
    t = x.scatter_add(0, torch.tensor([[2, 0, 1, 1], [2, 2, 0, 0]]), torch.ones(2, 4))
    print(s, t)
    x.grad.zero_()
    ((g * 3).sum() + (h * h).sum() + (s * s).sum() + (t * x).sum()).backward()
    print(x.grad, src.grad)
    r = x.index_select(0, torch.tensor([2, 2, 0]))
    c = torch.index_select(x, 1, torch.tensor([3, 1]))
    a = torch.zeros(5, 4).index_add(0, torch.tensor([4, 0, 4]), x)
    b = x.index_add(1, torch.tensor([0, 0]), src[:, :2], alpha=-2)
    print(r, c, a, b)
    k = torch.tensor([[1, -1], [0, 2]])
    p = x[k]
    q = x[:, torch.tensor([3, -4, 0])]
    e = x[1, torch.tensor([0, 0, 2])]
    print(p, q, e, p.shape)
    z3 = torch.randn(2, 3, 4, requires_grad=True)
    f = z3[1, :, k]
    u = z3[torch.tensor([1, 0, 1]), 1:, 2]
    print(f, u, z3[0, ..., torch.tensor([3, 0])].shape, z3[:, 1, k].shape)
    ((f * f).sum() + (u * u).sum()).backward()
    print(z3.grad)
    x.grad.zero_()
    src.grad.zero_()
    (r.sum() + (c * c).sum() + (a * a).sum() + (b * b).sum() + (p * 2).sum() + (q * q).sum() + e.sum()).backward()
    print(x.grad, src.grad)
    z = torch.zeros(2, 3)
    z.masked_fill_(torch.tensor([[True, False, True], [False, False, True]]), 5.0)
    z.scatter_add_(1, torch.tensor([[1, 1]]), torch.ones(1, 2))
    z.index_add_(0, torch.tensor([1]), torch.ones(1, 3))
    print(z, y.expand(2, 4), y.unsqueeze(0).expand(3, -1).sum(0))
    n = x.narrow(1, 1, 2)
    print(n, torch.narrow(x, 0, -2, 2), n.is_contiguous(), x.narrow(0, 1, 2).is_contiguous(), x.T.is_contiguous())


def orthogonal():
    for seed in [0, 1, 42]:
        torch.manual_seed(seed)
        a = torch.empty(5, 3)
        b = torch.empty(3, 5)
        c = torch.empty(4, 2, 3, 3)
        d = torch.empty(16, 16)
        nn.init.orthogonal_(a)
        nn.init.orthogonal_(b, gain=2.0)
        nn.init.orthogonal_(c, gain=nn.init.calculate_gain("relu"))
        nn.init.orthogonal_(d)
        for t in [a, b, c.flatten(1), d]:
            print(" ".join([f"{v:.6f}" for v in t.flatten()[:12]]), f"{t[-1, -1].item():.6f}")
        print(f"{(a.T @ a - torch.eye(3)).abs().max().item() < 1e-6} {(b @ b.T / 4 - torch.eye(3)).abs().max().item() < 1e-6}")
        print(torch.rand(2))


def grad_fns():
    torch.manual_seed(2)
    x = torch.randn(3, 4, requires_grad=True)
    v = torch.randn(5, requires_grad=True)
    print(x.sum(dim=(0, 1)), x.mean(dim=(0, 1)), v.sum(0), v.mean(0), x.sum(), x.mean())
    print(v.max(0).values, v.min(dim=0)[0], v.max(), x.max(1).values, torch.max(x, 0).values)
    print(x.masked_fill(x > 0, torch.tensor(2.0)), x.masked_fill(x > 0, 2.0))
    print(v.expand(5), v.expand(-1), v.expand(2, 5), x.clone(), (x * 2).clone())
    z = torch.randn(2, 3, 4, requires_grad=True)
    print(z.norm(dim=(1, 2)), x.norm(dim=[0, 1], keepdim=True), z.norm(p=2, dim=(1, 2)), z.norm(dim=1), x.norm())
    x3 = torch.randn(2, 3, 5, requires_grad=True)
    t3 = torch.tensor([[0, 1, 2, 1, 0], [2, 2, 1, 0, 1]])
    x4 = torch.randn(2, 3, 2, 2, requires_grad=True)
    t4 = torch.tensor([[[0, 1], [2, 1]], [[2, 2], [1, 0]]])
    w = torch.tensor([0.2, 1.0, 3.0])
    print(F.cross_entropy(x3, t3), F.cross_entropy(x3, t3, weight=w, reduction="sum"), F.cross_entropy(x3, t3, reduction="none"))
    print(F.cross_entropy(x4, t4, reduction="none"), F.nll_loss(F.log_softmax(x4, 1), t4, ignore_index=0))
    print(F.cross_entropy(x3, t3, label_smoothing=0.1), F.nll_loss(F.log_softmax(x, 1), torch.tensor([0, 3, 1])))
    print(F.cross_entropy(x, torch.tensor([0, 3, 1]), ignore_index=3, reduction="none"),
          F.nll_loss(F.log_softmax(x, 1), torch.tensor([2, 2, 1]), ignore_index=2, reduction="sum"))
    im = torch.randn(1, 2, 4, 6, requires_grad=True)
    print(F.adaptive_avg_pool2d(im, (2, 3)), F.adaptive_avg_pool2d(im, (4, 6)).shape, nn.AdaptiveAvgPool2d(1)(im))
    a = x * 1
    F.leaky_relu(a, 0.2, inplace=True)
    b = x * 1
    nn.ELU(inplace=True)(b)
    print(a, b, nn.LeakyReLU(inplace=True)(x * 2), F.elu(x))


def main():
    for name, fn in [("loops", loops), ("regression", regression), ("schedule", schedule), ("defs", defs),
                     ("loader", loader), ("containers", containers), ("loop_semantics", loop_semantics),
                     ("checkpoint", checkpoint), ("tensors", tensors), ("cond_expr", cond_expr),
                     ("exports", exports), ("nan_checks", nan_checks),
                     ("activations", activations), ("losses", losses), ("optimizers", optimizers), ("schedulers", schedulers),
                     ("param_groups", param_groups), ("mlp_fashion", mlp_fashion), ("norms", norms), ("init", init),
                     ("tensor_ops", tensor_ops), ("indexing", indexing), ("orthogonal", orthogonal),
                     ("grad_fns", grad_fns)]:
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            fn()
        with open(os.path.join(ROOT, "tests", "golden", name + ".out"), "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
        print("wrote", name)


if __name__ == "__main__":
    main()
