#!/usr/bin/python3
"""gen_runtime_goldens.py: golden files for the runtime's rng.c and npy.c.

Run with the system Python that has torch 1.13 and numpy 1.24:

    /usr/bin/python3 scripts/gen_runtime_goldens.py [golden-dir]     (default tests/golden)
    /usr/bin/python3 scripts/gen_runtime_goldens.py --check-saved DIR
    (--cases avx2|default is internal: the script runs itself once per CPU capability)

The first form writes, under golden-dir:

  rng_cases.txt   values drawn by torch's CPU generator, which tests/test_runtime.c
                  must reproduce bit for bit with tg_rng_* / tg_uniform / tg_normal;
  *.npy           small arrays written by numpy for the .npy loader tests.

The second form checks the files test_runtime writes when run with
TG_NPY_SAVE_DIR=DIR: numpy must load each one with the expected dtype, shape
and values, and the bytes must equal what np.save writes for the same array.

rng_cases.txt format (ASCII, whitespace-separated tokens; '#' starts a comment
line):

    case <name> <cap>      a new case; cap is avx2 or default: the torch kernels
                           it was drawn with (ATEN_CPU_CAPABILITY), which the C
                           test selects the same way
    seed <n>               torch.manual_seed(n) (decimal)
    skip <n>               n raw 32-bit draws whose values are not recorded
    u32 <n>                n draws of random(), then n values in hex
    u64 <n>                n draws of random64(), then n values in hex
    uniform <dt> <n> <from> <to>    Tensor.uniform_(from, to) on n elements
    normal <dt> <n> <mean> <std>    Tensor.normal_(mean, std) on n elements
                           then n values; dt is f32 or f64; from/to/mean/std
                           and the values are C99 hex floats (strtod reads them;
                           f32 values are exact, widened to double), or instead
                           "digest <hex>": the FNV-1a 64-bit hash of the n values'
                           little-endian bytes in their dtype (for big cases)
    end

Each case's ops run in order on one generator, so later ops see the state
(and the cached Box-Muller value) that earlier ops left behind.
"""
import math
import os
import subprocess
import sys

import numpy as np
import torch

DEFAULT_SEED = 67280421310721  # torch.Generator().initial_seed()
SIZES = [1, 5, 15, 16, 17, 31, 100]


def hexf(x):
    """float.hex with trailing zero digits trimmed: 0x1.8p-1, 0x1p+0, -0x0p+0."""
    h = float(x).hex()
    mant, exp = h.split("p")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return mant + "p" + exp


class Writer:
    def __init__(self):
        self.lines = []

    def case(self, name, cap):
        self.lines.append("case %s %s" % (name, cap))

    def line(self, text):
        self.lines.append(text)

    def values(self, vals, fmt):
        for i in range(0, len(vals), 8):
            self.lines.append(" ".join(fmt(v) for v in vals[i:i + 8]))


DT = {"f32": torch.float32, "f64": torch.float64}


def u32(n):
    # int32 random_(-2^31, 2^31) takes one random() per element: v - 2^31.
    t = torch.empty(n, dtype=torch.int32).random_(-2**31, 2**31)
    return [(v + 2**31) & 0xffffffff for v in t.tolist()]


def u64(n):
    # int64 random_(-2^63, None) is the full 64-bit range: random64() as is.
    t = torch.empty(n, dtype=torch.int64).random_(-2**63, None)
    return [v & 0xffffffffffffffff for v in t.tolist()]


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001b3) & 0xffffffffffffffff
    return h


def run_op(w, op, *args, digest=False):
    """Draws with torch, records the op line and its values."""
    if op == "seed":
        torch.manual_seed(args[0])
        w.line("seed %d" % args[0])
    elif op == "skip":
        u32(args[0])
        w.line("skip %d" % args[0])
    elif op in ("u32", "u64"):
        vals = (u32 if op == "u32" else u64)(args[0])
        w.line("%s %d" % (op, args[0]))
        w.values(vals, lambda v: "%x" % v)
    else:
        dt, n, a, b = args
        t = torch.empty(n, dtype=DT[dt])
        if op == "uniform":
            t.uniform_(a, b)
        else:
            t.normal_(a, b)
        w.line("%s %s %d %s %s" % (op, dt, n, hexf(a), hexf(b)))
        if digest:
            le = {"f32": "<f4", "f64": "<f8"}[dt]
            w.line("digest %016x" % fnv1a64(t.numpy().astype(le).tobytes()))
        else:
            w.values(t.tolist(), hexf)
        return t


def api_checks():
    """The high-level calls the C runtime stands in for are the ops recorded."""
    torch.manual_seed(7)
    a = torch.rand(3, 4)
    torch.manual_seed(7)
    assert torch.equal(a.flatten(), torch.empty(12).uniform_(0, 1))
    torch.manual_seed(7)
    a = torch.randn(5, 7, dtype=torch.float64)
    torch.manual_seed(7)
    assert torch.equal(a.flatten(), torch.empty(35, dtype=torch.float64).normal_(0, 1))
    # nn.Linear(25, 6).reset_parameters() is kaiming_uniform_(a=sqrt(5)) then
    # uniform_(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias; the bounds below
    # are what nn.init computes.
    torch.manual_seed(7)
    lin = torch.nn.Linear(25, 6)
    torch.manual_seed(7)
    w = torch.empty(6, 25).uniform_(-kaiming_bound(25), kaiming_bound(25))
    b = torch.empty(6).uniform_(-1 / math.sqrt(25), 1 / math.sqrt(25))
    assert torch.equal(lin.weight.data, w) and torch.equal(lin.bias.data, b)
    assert torch.Generator().initial_seed() == DEFAULT_SEED


def kaiming_bound(fan_in, a=math.sqrt(5)):
    # torch.nn.init.kaiming_uniform_(mode='fan_in', nonlinearity='leaky_relu')
    gain = math.sqrt(2.0 / (1 + a ** 2))
    std = gain / math.sqrt(fan_in)
    return math.sqrt(3.0) * std


def avx2_cases(w):
    # Fresh generator per op: every seed x size x dtype for rand and randn.
    for seed in [0, 1, 42, DEFAULT_SEED]:
        sname = "dflt" if seed == DEFAULT_SEED else str(seed)
        for dt in ["f32", "f64"]:
            for n in SIZES:
                for op, a, b in [("uniform", 0.0, 1.0), ("normal", 0.0, 1.0)]:
                    w.case("s%s_%s_%s_n%d" % (sname, "rand" if op == "uniform" else "randn", dt, n),
                           "avx2")
                    run_op(w, "seed", seed)
                    run_op(w, op, dt, n, a, b)
                    w.line("end")
    # n = 1000 (62 full blocks and a tail of 8): values for three, digests for
    # the rest, to keep the file small.
    full = [(0, "normal", "f32"), (1, "normal", "f64"), (DEFAULT_SEED, "uniform", "f32")]
    for seed in [0, 1, 42, DEFAULT_SEED]:
        sname = "dflt" if seed == DEFAULT_SEED else str(seed)
        for dt in ["f32", "f64"]:
            for op in ["uniform", "normal"]:
                w.case("s%s_%s_%s_n1000" % (sname, "rand" if op == "uniform" else "randn", dt),
                       "avx2")
                run_op(w, "seed", seed)
                run_op(w, op, dt, 1000, 0.0, 1.0, digest=(seed, op, dt) not in full)
                w.line("end")

    # Raw words. 6 + 2*4 + 609 = 623 words in, the next random64() takes the
    # state's last word and, after regenerating it, the new state's first.
    for seed in [0, 1, 42, DEFAULT_SEED]:
        w.case("raw_s%d" % seed, "avx2")
        run_op(w, "seed", seed)
        run_op(w, "u32", 6)
        run_op(w, "u64", 4)
        run_op(w, "skip", 609)
        run_op(w, "u64", 3)
        run_op(w, "uniform", "f64", 3, 0.0, 1.0)
        w.line("end")
    w.case("raw_seed_2pow40_plus_5", "avx2")  # only the low 32 bits seed mt19937
    run_op(w, "seed", 2**40 + 5)
    run_op(w, "u32", 4)
    w.line("end")

    # Sequences on one generator.
    w.case("seq_rand_randn_uniform", "avx2")
    run_op(w, "seed", 0)
    run_op(w, "uniform", "f32", 12, 0.0, 1.0)    # torch.rand(3, 4)
    run_op(w, "normal", "f32", 5, 0.0, 1.0)      # torch.randn(5): leaves a cached value
    run_op(w, "uniform", "f32", 150, -0.2, 0.2)  # uniform_ keeps the cache
    run_op(w, "normal", "f32", 2, 0.0, 1.0)      # the cached value, then a new pair
    run_op(w, "normal", "f32", 20, 0.0, 1.0)     # vector fill: ignores the cache
    run_op(w, "normal", "f64", 1, 0.0, 1.0)      # still the cached sine half
    run_op(w, "normal", "f64", 3, 0.5, 2.0)
    w.line("end")

    w.case("seq_conv_linear_init", "avx2")  # nn.Conv2d(1, 6, 5) then nn.Linear(16, 3)
    run_op(w, "seed", DEFAULT_SEED)
    kb = kaiming_bound(25)
    run_op(w, "uniform", "f32", 150, -kb, kb)
    run_op(w, "uniform", "f32", 6, -1 / math.sqrt(25), 1 / math.sqrt(25))
    kb = kaiming_bound(16)
    run_op(w, "uniform", "f32", 48, -kb, kb)
    run_op(w, "uniform", "f32", 3, -1 / math.sqrt(16), 1 / math.sqrt(16))
    kb = kaiming_bound(400)
    run_op(w, "uniform", "f64", 17, -kb, kb)
    w.line("end")

    w.case("seq_mean_std", "avx2")
    run_op(w, "seed", 42)
    run_op(w, "normal", "f32", 33, 0.5, 2.0)
    run_op(w, "normal", "f32", 7, -1.25, 0.1)
    run_op(w, "normal", "f64", 33, -1.25, 0.1)
    run_op(w, "normal", "f64", 15, 0.5, 2.0)
    run_op(w, "uniform", "f32", 40, -0.7071067811865476, 0.3)
    run_op(w, "uniform", "f64", 9, -3e-3, 1e4)
    run_op(w, "normal", "f32", 16, 3.0, 0.25)
    w.line("end")

    stress_case(w, "stress", "avx2", 3)


def stress_case(w, name, cap, seed):
    """Many draws, recorded as digests only: catches rare one-ulp differences
    (an FMA torch's compiler made or did not make, log vs log1p) cheaply."""
    w.case(name, cap)
    run_op(w, "seed", seed)
    for _ in range(40):
        run_op(w, "normal", "f64", 15, -0.3, 1.7, digest=True)  # scalar path, with cache
        run_op(w, "normal", "f32", 7, 0.1, 0.3, digest=True)
    for dt in ["f32", "f64"]:
        run_op(w, "normal", dt, 10007, 0.0, 1.0, digest=True)
        run_op(w, "normal", dt, 10007, -0.3, 1.7, digest=True)
        run_op(w, "uniform", dt, 10007, -0.2, 0.3, digest=True)
    w.line("end")


def default_cases(w):
    """Drawn by torch's portable kernels (libm, no FMA): ATEN_CPU_CAPABILITY=default."""
    for seed in [0, 42]:
        w.case("portable_s%d" % seed, "default")
        run_op(w, "seed", seed)
        run_op(w, "normal", "f32", 17, 0.0, 1.0)
        run_op(w, "normal", "f32", 100, 0.5, 2.0)
        run_op(w, "normal", "f64", 33, 0.5, 2.0)
        run_op(w, "normal", "f64", 5, 0.5, 2.0)
        run_op(w, "uniform", "f32", 31, -0.2, 0.3)
        run_op(w, "uniform", "f64", 5, -1.0, 3.0)
        w.line("end")
    stress_case(w, "portable_stress", "default", 5)


CAPS = {"avx2": "AVX2", "default": "NO AVX"}  # as torch.__config__.show() names them


def cases_for(cap):
    """Prints the cases for one CPU capability; runs in a child whose
    ATEN_CPU_CAPABILITY was set before torch loaded."""
    want = "CPU capability usage: %s" % CAPS[cap]
    if want not in torch.__config__.show():
        sys.exit("torch does not run its %s kernels here; cannot write the %s cases" % (CAPS[cap], cap))
    api_checks()
    w = Writer()
    (avx2_cases if cap == "avx2" else default_cases)(w)
    print("\n".join(w.lines))


def write_rng(path):
    lines = ["# rng_cases.txt: written by scripts/gen_runtime_goldens.py with torch %s; do not edit."
             % torch.__version__,
             "# Format: see that script's docstring."]
    for cap in CAPS:
        env = dict(os.environ, ATEN_CPU_CAPABILITY=cap)
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--cases", cap],
                             env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
        lines.extend(out.splitlines())
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# ---- .npy goldens ------------------------------------------------------------

def npy_goldens(d):
    f32 = (np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.75) - np.float32(1.5))
    f32[1, 2] = np.float32(1) / np.float32(3)
    np.save(os.path.join(d, "f32_2x3.npy"), f32)
    np.save(os.path.join(d, "f64_scalar.npy"), np.array(math.pi))
    np.save(os.path.join(d, "i64_vec.npy"),
            np.array([0, -1, 2**40 + 3, -2**63, 2**63 - 1], dtype="<i8"))
    np.save(os.path.join(d, "i32_2x2.npy"), np.array([[7, -8], [2**31 - 1, -2**31]], dtype="<i4"))
    np.save(os.path.join(d, "bool_4.npy"), np.array([True, False, False, True]))
    np.save(os.path.join(d, "u8_3x1x2.npy"),
            np.array([0, 1, 127, 128, 254, 255], dtype=np.uint8).reshape(3, 1, 2))
    for ver, name, arr in [((2, 0), "v2_f32_2x3.npy", f32),
                           ((3, 0), "v3_i64_vec.npy", np.array([5, -6, 7], dtype="<i8"))]:
        with open(os.path.join(d, name), "wb") as f:
            np.lib.format.write_array(f, arr, version=ver)
    np.save(os.path.join(d, "fortran_f32_2x3.npy"), np.asfortranarray(f32))
    np.save(os.path.join(d, "bigendian_f32_2x3.npy"), f32.astype(">f4"))
    # Check what was written is what the C test expects to find.
    assert np.load(os.path.join(d, "fortran_f32_2x3.npy")).flags.f_contiguous
    for name in ["v2_f32_2x3.npy", "v3_i64_vec.npy"]:
        with open(os.path.join(d, name), "rb") as f:
            assert f.read(8)[6] == int(name[1])


# ---- --check-saved -------------------------------------------------------------

def saved_arrays():
    """What test_runtime's save test writes (keep in sync with saved_* there)."""
    return {
        "saved_f32.npy": (np.arange(24, dtype=np.float32).reshape(2, 3, 4) / np.float32(8)
                          - np.float32(1)),
        "saved_f64.npy": np.array([math.pi, -0.0, 1e-300, 2.5]),
        "saved_i32.npy": np.array([[1, -2], [2**31 - 1, -2**31]], dtype="<i4"),
        "saved_i64.npy": np.array([0, -1, 2**62, -2**63, 2**63 - 1], dtype="<i8"),
        "saved_bool.npy": np.array([[True, False, True]]),
        "saved_u8.npy": np.array([0, 200, 255], dtype=np.uint8),
        "saved_scalar.npy": np.array(np.float32(-2.5)),
    }


def check_saved(d):
    import io
    bad = 0
    for name, want in saved_arrays().items():
        path = os.path.join(d, name)
        got = np.load(path)
        buf = io.BytesIO()
        np.save(buf, want)
        ok = (got.dtype == want.dtype and got.shape == want.shape
              and np.array_equal(got, want) and open(path, "rb").read() == buf.getvalue())
        print("%s %s: %s %s" % ("ok  " if ok else "FAIL", name, got.dtype.str, got.shape))
        bad += not ok
    if bad:
        sys.exit(1)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--cases":
        cases_for(sys.argv[2])
        return
    if len(sys.argv) > 2 and sys.argv[1] == "--check-saved":
        check_saved(sys.argv[2])
        return
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    os.makedirs(d, exist_ok=True)
    write_rng(os.path.join(d, "rng_cases.txt"))
    npy_goldens(d)


if __name__ == "__main__":
    main()
