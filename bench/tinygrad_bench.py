"""tinygrad's side of bench/run.sh: the training step (SGD with momentum) or the forward pass
under TinyJit on its CPU backend, on made-up data. tinygrad's CPU backend runs one thread; the
THREADS argument is accepted for the table's sake.

    bench/venv/bin/python3 bench/tinygrad_bench.py lenet|net2 train|predict BATCH THREADS SECONDS
"""
import sys
import time

from tinygrad import Tensor, TinyJit, nn
from tinygrad.helpers import Context

name, mode, batch, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])


class LeNet:
    def __init__(self):
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def __call__(self, x):
        x = self.conv1(x).relu().max_pool2d(2)
        x = self.conv2(x).relu().max_pool2d(2)
        x = x.flatten(1)
        return self.fc3(self.fc2(self.fc1(x).relu()).relu())


class Net2:
    def __init__(self):
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 24, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(24, 48, 3, stride=2, padding=1)
        self.fc1, self.fc2 = nn.Linear(768, 64), nn.Linear(64, 10)

    def __call__(self, x):
        x = self.conv3(self.conv2(self.conv1(x).relu()).relu()).relu().flatten(1)
        return self.fc2(self.fc1(x).relu())


Tensor.manual_seed(0)
model = LeNet() if name == "lenet" else Net2()
x = (Tensor.rand(batch, 3, 32, 32) * 2 - 1).realize()
y = Tensor([i % 10 for i in range(batch)]).realize()
if mode == "train":
    opt = nn.optim.SGD(nn.state.get_parameters(model), lr=0.001, momentum=0.9)

    @TinyJit
    def step():
        with Context(TRAINING=1):  # the optimizer refuses to step outside training mode
            opt.zero_grad()
            loss = model(x).sparse_categorical_crossentropy(y).backward()
            opt.step()
            return loss.realize()
else:
    @TinyJit
    def step():
        return model(x).realize()

for _ in range(5):
    step()
n, t0 = 0, time.perf_counter()
while n < 20 or time.perf_counter() - t0 < seconds:
    step().numpy()
    n += 1
print(f"{n * batch / (time.perf_counter() - t0):.1f}")
