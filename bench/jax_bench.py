"""JAX's side of bench/run.sh: the whole training step under jax.jit on the CPU (SGD with
momentum written out, cross-entropy as PyTorch's), or the forward pass, on made-up data.

    bench/venv/bin/python3 bench/jax_bench.py lenet|net2 train|predict BATCH THREADS SECONDS
"""
import os
import sys
import time

name, mode, batch, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
if threads == 1:  # before jax is imported: XLA reads its flags once
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402


def conv(x, w, b, stride=1, pad=0):
    y = jax.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)],
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + b[None, :, None, None]


def pool(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def init(key, shapes):
    p = {}
    for k, s in shapes.items():
        key, sub = jax.random.split(key)
        fan_in = 1
        for d in (s[1:] if len(s) > 1 else s):
            fan_in *= d
        p[k] = jax.random.uniform(sub, s, minval=-1, maxval=1) / jnp.sqrt(fan_in)
    return p


if name == "lenet":
    shapes = {"c1w": (6, 3, 5, 5), "c1b": (6,), "c2w": (16, 6, 5, 5), "c2b": (16,), "f1w": (120, 400), "f1b": (120,),
              "f2w": (84, 120), "f2b": (84,), "f3w": (10, 84), "f3b": (10,)}

    def net(p, x):
        x = pool(jax.nn.relu(conv(x, p["c1w"], p["c1b"])))
        x = pool(jax.nn.relu(conv(x, p["c2w"], p["c2b"])))
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ p["f1w"].T + p["f1b"])
        x = jax.nn.relu(x @ p["f2w"].T + p["f2b"])
        return x @ p["f3w"].T + p["f3b"]
else:
    shapes = {"c1w": (8, 3, 3, 3), "c1b": (8,), "c2w": (24, 8, 3, 3), "c2b": (24,), "c3w": (48, 24, 3, 3),
              "c3b": (48,), "f1w": (64, 768), "f1b": (64,), "f2w": (10, 64), "f2b": (10,)}

    def net(p, x):
        x = jax.nn.relu(conv(x, p["c1w"], p["c1b"], 2, 1))
        x = jax.nn.relu(conv(x, p["c2w"], p["c2b"], 2, 1))
        x = jax.nn.relu(conv(x, p["c3w"], p["c3b"], 2, 1))
        x = x.reshape(x.shape[0], -1)
        return jax.nn.relu(x @ p["f1w"].T + p["f1b"]) @ p["f2w"].T + p["f2b"]


def loss(p, x, y):
    logp = jax.nn.log_softmax(net(p, x))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


@jax.jit
def train_step(p, m, x, y):
    value, g = jax.value_and_grad(loss)(p, x, y)
    m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + g, m, g)
    p = jax.tree_util.tree_map(lambda p, m: p - 0.001 * m, p, m)
    return p, m, value


predict = jax.jit(net)

p = init(jax.random.PRNGKey(0), shapes)
m = jax.tree_util.tree_map(jnp.zeros_like, p)
x = jax.random.uniform(jax.random.PRNGKey(1), (batch, 3, 32, 32), minval=-1, maxval=1)
y = jnp.arange(batch) % 10


def step():
    global p, m
    if mode == "train":
        p, m, value = train_step(p, m, x, y)
        value.block_until_ready()
    else:
        predict(p, x).block_until_ready()


for _ in range(5):
    step()
n, t0 = 0, time.perf_counter()
while n < 20 or time.perf_counter() - t0 < seconds:
    step()
    n += 1
print(f"{n * batch / (time.perf_counter() - t0):.1f}")
