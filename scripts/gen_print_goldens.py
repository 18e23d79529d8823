#!/usr/bin/python3
"""gen_print_goldens.py: golden texts for the runtime's printers (runtime/print.c).

Run with the system Python that has torch 1.13 and numpy 1.24:

    /usr/bin/python3 scripts/gen_print_goldens.py [tests/golden/print_cases.txt]

Each case holds some data, the way it is printed (str(tensor), str(ndarray),
repr(float), str(torch.Size)) and the exact text PyTorch / numpy / Python print
for it. tests/test_print.c prints the same data with tg_print_* and compares.

File format (all ASCII; parsed line by line):

    # comment
    case <id> <kind> <dtype> <rank> <dim0> ... <dimN-1>
        kind: torch | numpy | pyfloat | size;  dtype: f32 f64 i32 i64 bool u8 (- for size)
    note <text>                      what the case covers (ignored by the test)
    list <count>                     then <count> values, whitespace separated, on
                                     the following lines: floats as Python's
                                     float.hex (exact; "inf", "-inf", "nan"),
                                     integers and bools (0/1) in decimal
    gen <mul> <mod> <off> <div> <scale>
                                     instead of list, for big tensors: element i
                                     (row-major) is v = (i*mul) % mod - off, an
                                     integer; float dtypes use
                                     (double)v / div * scale evaluated in double
                                     (div, scale written as float.hex), then
                                     rounded to the dtype; bool is v != 0
    suffix <text to end of line>     an extra suffix for tg_print_tensor, in order
    expect <nbytes>                  then exactly <nbytes> bytes of expected
                                     output, then a newline
    end

f32 values are the exact float32 values torch/numpy hold, widened to double.
"""
import math
import sys

import numpy as np
import torch

DTYPES = {
    "f32": (torch.float32, np.float32),
    "f64": (torch.float64, np.float64),
    "i32": (torch.int32, np.int32),
    "i64": (torch.int64, np.int64),
    "bool": (torch.bool, np.bool_),
    "u8": (torch.uint8, np.uint8),
}
TORCH_NAMES = {v[0]: k for k, v in DTYPES.items()}
NUMPY_NAMES = {np.dtype(v[1]): k for k, v in DTYPES.items()}

cases = []


def fmt_value(dtype, v):
    if dtype in ("f32", "f64"):
        return float(v).hex()
    return str(int(v))


def gen_values(n, mul, mod, off, div=1.0, scale=1.0, dtype="f32"):
    """The generator the C test mirrors (see the file format above)."""
    out = []
    for i in range(n):
        k = (i * mul) % mod - off
        if dtype in ("f32", "f64"):
            out.append(float(k) / div * scale)
        elif dtype == "bool":
            out.append(k != 0)
        else:
            out.append(k)
    return out


def add(kind, dtype, shape, text, values=None, gen=None, suffixes=(), note=""):
    cases.append(dict(kind=kind, dtype=dtype, shape=list(shape), text=text,
                      values=values, gen=gen, suffixes=list(suffixes), note=note))


def torch_case(t, note="", suffixes=None):
    """str(t) of a real tensor; a grad_fn or requires_grad becomes a suffix."""
    text = str(t)
    sfx = []
    if t.grad_fn is not None:
        sfx.append("grad_fn=<%s>" % type(t.grad_fn).__name__)
    elif t.requires_grad:
        sfx.append("requires_grad=True")
    d = t.detach()
    dtype = TORCH_NAMES[d.dtype]
    values = [fmt_value(dtype, v) for v in d.reshape(-1).tolist()]
    add("torch", dtype, d.shape, text, values=values, suffixes=sfx, note=note)


def torch_gen(shape, dtype, mul, mod, off, div=1.0, scale=1.0, note=""):
    n = math.prod(shape)
    vals = gen_values(n, mul, mod, off, div, scale, dtype)
    t = torch.tensor(vals, dtype=DTYPES[dtype][0]).reshape(shape)
    add("torch", dtype, shape, str(t), gen=(mul, mod, off, div, scale), note=note)


def numpy_case(a, note=""):
    a = np.asarray(a)
    dtype = NUMPY_NAMES[a.dtype]
    values = [fmt_value(dtype, v) for v in a.reshape(-1).tolist()]
    add("numpy", dtype, a.shape, str(a), values=values, note=note)


def numpy_gen(shape, dtype, mul, mod, off, div=1.0, scale=1.0, note=""):
    n = math.prod(shape)
    vals = gen_values(n, mul, mod, off, div, scale, dtype)
    a = np.array(vals, dtype=DTYPES[dtype][1]).reshape(shape)
    add("numpy", dtype, shape, str(a), gen=(mul, mod, off, div, scale), note=note)


def pyfloat_case(x, note=""):
    add("pyfloat", "f64", [], repr(float(x)), values=[float(x).hex()], note=note)


def size_case(shape):
    add("size", "-", shape, str(torch.Size(shape)), values=[], note="torch.Size")


def build():
    t = torch.tensor
    inf, nan = math.inf, math.nan

    # ---- the blitz ----------------------------------------------------------
    x = torch.ones(4, 4)
    x[:, 1] = 0
    torch_case(x, "blitz: ones(4,4) with column 1 zeroed")
    torch_case(torch.cat([x, x], dim=1), "blitz: cat dim=1")
    torch_case(x.sum(), "blitz: tensor(12.)")
    torch_case(x + 5, "blitz: add_(5)")
    torch_case(torch.ones(2, 2, dtype=torch.int64), "blitz: ones_like int")
    torch_case(torch.zeros(3, 4), "blitz: zeros")
    torch_case(torch.ones(5) * 2, "blitz: t")
    torch_case(torch.ones(5, dtype=torch.float64) * 2, "blitz: from_numpy float64")
    torch_case(t([True, True]), "blitz: autograd check")
    torch.manual_seed(0)
    torch_case(torch.rand(2, 2), "rand 2x2")
    torch_case(torch.rand(3, 4), "rand 3x4")
    torch_case(t([2.0, 3.0], requires_grad=True), "requires_grad suffix")
    torch.manual_seed(1)
    inp = torch.randn(1, 120)
    fc = torch.nn.Linear(120, 10)
    out = fc(inp)
    torch_case(out, "Linear output: AddmmBackward0 after a wrapped row")
    torch_case(out * 0.05, "MulBackward0 after a wrapped row")
    torch_case(torch.nn.functional.mse_loss(out, torch.randn(1, 10)),
               "0-d MseLossBackward0")
    torch_case(torch.zeros(6), "zeros(6)")
    torch.manual_seed(2)
    torch_case(torch.randn(6) * 0.01, "small negatives, aligned")

    # ---- float notation ----------------------------------------------------
    torch_case(t([1e-5, 1.0, 1000.0]), "sci: min < 1e-4")
    torch_case(t([1.0, 1e10]), "int_mode sci: ratio and > 1e8")
    torch_case(t([1e9]), "int_mode sci: single value > 1e8")
    torch_case(t([1e8]), "int_mode: exactly 1e8 stays fixed")
    torch_case(t([1.0, 1000.0]), "int_mode: ratio exactly 1000")
    torch_case(t([1.0, 1001.0]), "int_mode sci: ratio over 1000")
    torch_case(t([0.5, 500.25]), "sci: non-int ratio 1000.5")
    torch_case(t([0.5, 499.5]), "fixed: ratio 999")
    torch_case(t([1e-5, 2e-5, 3.5e-5]), "tiny values")
    torch_case(t([0.0001, 0.1]), "float32 1e-4 is below double 1e-4: sci")
    torch_case(t([0.0001, 0.1], dtype=torch.float64), "double 1e-4 is not: fixed")
    torch_case(t([123456.789, -0.5]), "wide fixed")
    torch_case(t([1.03125, 2.5, -1.03125]), "exact ties round to even")
    torch_case(t([-1.0, 2.0, -3.0]), "negative int_mode")
    torch_case(t([-1.5, 2.25, 1e-3]), "negative fixed")
    torch_case(t([1e-300, 1e300], dtype=torch.float64), "3-digit exponents")
    torch_case(t([3.0e38, -1.0]), "f32 near max")
    torch_case(t([nan, 1.5, inf, -inf]), "nan/inf in fixed mode")
    torch_case(t([1.0, inf]), "inf in int_mode is not padded")
    torch_case(t([nan, -inf, 1e-6]), "nan/inf in sci mode")
    torch_case(t([nan, nan]), "all nan")
    torch_case(t([nan, 0.0]), "nan and zero")
    torch_case(t([inf, -inf, 0.0, 3.0]), "inf int mode")
    torch_case(t([0.0, -0.0]), "negative zero")
    torch_case(t([-0.0, 0.5]), "negative zero fixed")
    torch_case(t([1e-8, -0.0, 0.0]), "negative zero sci")
    torch_case(t(-0.0), "0-d negative zero")
    torch_case(t(nan), "0-d nan")
    torch_case(t(-inf), "0-d -inf")
    torch_case(t(0.0), "0-d zero")
    torch_case(t(3.14159, dtype=torch.float64), "0-d f64")
    torch_case(t(1e-7), "0-d sci")
    torch_case(t(7), "0-d int64")
    torch_case(t(False), "0-d bool")
    torch_case(t(200, dtype=torch.uint8), "0-d uint8")
    torch_case(t(-3, dtype=torch.int32), "0-d int32")

    # ---- integer and bool dtypes -------------------------------------------
    torch_case(torch.arange(-5, 7, dtype=torch.int32).reshape(3, 4), "int32 negatives")
    torch_case(t([10**12, -5, 0]), "wide int64")
    torch_case(t([0, 7, 255], dtype=torch.uint8), "uint8")
    torch_case(t([[True, False, True], [False, False, True]]), "bool 2x3")
    torch_case(torch.arange(40) * 1000, "int64 row that wraps")

    # ---- ranks and wrapping -------------------------------------------------
    torch.manual_seed(3)
    torch_case(torch.randn(2, 3, 4), "rank 3 with blank lines")
    torch_case(torch.randn(2, 2, 2, 3), "rank 4")
    torch_case(torch.randn(20), "row wraps at 80 columns")
    torch_case(torch.randn(3, 20), "matrix rows wrap with indent")
    torch_case(torch.randn(2, 2, 15) * 100, "rank 3 rows wrap")
    torch_case(torch.randn(1, 1, 1), "1x1x1")
    torch_case(torch.randn(5, 1), "column")
    torch_case(torch.randn(1, 10), "1x10 (the blitz's net output shape)")
    torch_case(torch.randn(12, dtype=torch.float64), "f64 row")
    torch_case(torch.randn(8) * 1e5, "sci row wraps")
    torch_case(torch.arange(9.0), "int_mode exactly nine per line")
    torch_case(torch.arange(100.0).reshape(5, 20), "int_mode matrix wraps")

    # ---- summarization ------------------------------------------------------
    torch_gen([2000], "f32", 1, 2000, 0, 1.0, 1.0, "arange(2000.)")
    torch_gen([40, 40], "f32", 37, 101, 50, 7.0, 1.0, "40x40 fractions")
    torch_gen([3, 500], "f32", 13, 97, 48, 3.0, 1.0, "3x500: rows summarized only")
    torch_gen([10, 10, 20], "f64", 7, 1001, 500, 16.0, 1.0, "rank 3 summarized")
    torch_gen([8, 8, 8, 8], "f32", 11, 89, 40, 9.0, 1e-3, "rank 4 summarized")
    torch_gen([1001], "i64", 31, 997, 400, note="int64 summarized, 1001 elements")
    torch_gen([1000], "f32", 3, 1000, 0, 4.0, 1.0, "1000 elements: not summarized")
    torch_gen([2000], "u8", 1, 256, 0, note="uint8 summarized")
    torch_gen([50, 30], "bool", 1, 3, 0, note="bool summarized")
    torch_gen([2000], "i32", 3, 50000, 25000, note="int32 summarized")
    # the formatter sees only the printed edges: a tiny middle value must not
    # switch the whole tensor to scientific notation
    vals = [1.5 + i % 7 for i in range(2000)]
    vals[1000] = 1e-9
    tt = t(vals)
    add("torch", "f32", [2000], str(tt),
        values=[fmt_value("f32", v) for v in tt.tolist()],
        note="formatter sees only the summarized data")
    torch_gen([4, 300], "f32", 7, 13, 6, 1.0, 1e6, "summarized int_mode, rows wrap")
    torch_gen([5, 400], "f32", 7, 13, 6, 3.0, 1e-6, "summarized sci")

    # ---- empty --------------------------------------------------------------
    torch_case(t([]), "empty")
    torch_case(torch.zeros(0, 3), "empty (0, 3)")
    torch_case(t([], dtype=torch.int64), "empty int64 shows dtype")
    torch_case(torch.zeros(2, 0, 3, dtype=torch.float64), "empty rank 3 f64")
    torch_case(torch.zeros(0, dtype=torch.bool), "empty bool")
    torch_case(torch.zeros(0, 2, requires_grad=True), "empty with requires_grad")

    # ---- suffixes -----------------------------------------------------------
    torch_case(t([1.0, 2.0], dtype=torch.float64, requires_grad=True), "dtype then requires_grad")
    torch_case(t([1, 2], dtype=torch.int32), "int32 dtype suffix")
    torch_case(t([1, 2], dtype=torch.uint8), "uint8 dtype suffix")
    w = torch.randn(9, dtype=torch.float64, requires_grad=True)
    torch_case(w * 2, "long line: grad_fn wraps")
    w = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    torch_case(w + 1, "matrix: last line plus suffixes")
    w = torch.randn(7, requires_grad=True)
    torch_case(w.exp(), "ExpBackward0 just fits or wraps")
    w = torch.randn(6, requires_grad=True)
    torch_case(w.sum(), "0-d SumBackward0")

    # ---- numpy ---------------------------------------------------------------
    numpy_case(np.ones(5, dtype=np.float32), "blitz: t.numpy()")
    numpy_case(np.ones(5, dtype=np.float32) * 2, "blitz: after add_")
    numpy_case(np.ones(5) + 1, "blitz: np.add float64")
    numpy_case(np.array([[1, 2], [3, 4]]), "int matrix")
    numpy_case(np.array([0.1, 0.25]), "right padding")
    numpy_case(np.array([1.0, 0.25, 1.0]), "bare points padded")
    numpy_case(np.array([True, False, True]), "bool")
    numpy_case(np.array([[True], [False]]), "bool column")
    numpy_case(np.array(np.float32(0.1)), "0-d f32 shortest")
    numpy_case(np.array(0.1), "0-d f64")
    numpy_case(np.array(1e16), "0-d sci")
    numpy_case(np.array(np.float32(1e-5)), "0-d f32 sci")
    numpy_case(np.array(-0.0), "0-d -0.0")
    numpy_case(np.array(12.0), "0-d 12.0")
    numpy_case(np.array(np.nan), "0-d nan")
    numpy_case(np.array(np.int32(-7)), "0-d int")
    numpy_case(np.array(True), "0-d bool")
    numpy_case(np.array([1e-5, 0.1]), "sci with bare points")
    numpy_case(np.array([1.5e-5, 0.1, np.nan, -np.inf]), "sci with nan/inf")
    numpy_case(np.array([0.0, 1.5e-5, 1.0, -0.0, 1e100]), "sci 3-digit exponent, zeros")
    numpy_case(np.array([1e9, np.nan]), "sci nan padding")
    numpy_case(np.array([np.nan, np.inf]), "only nonfinite")
    numpy_case(np.array([-0.0, 1.0, 2.5]), "negative zero")
    numpy_case(np.array([1 / 3, 2 / 3, 1.0]), "maxprec: 8 digits")
    numpy_case(np.array([1e7 + 0.123456789, 1.0]), "maxprec: rounded fraction")
    numpy_case(np.array([1.000000001, 2.0]), "maxprec: rounds to a bare point")
    numpy_case(np.array([0.999999999, 0.5]), "maxprec: carry into the integer")
    numpy_case(np.array([1.0, 1000.00001]), "f64: ratio over 1000")
    numpy_case(np.array([1.0010030269622803, 1001.0030517578125], dtype=np.float32),
               "f32: the ratio rounds to exactly 1000 in float32")
    numpy_case(np.array([123456789.0, 1.0]), "sci: >= 1e8")
    numpy_case(np.array([1.23456789123e-5, 1.0]), "sci: 9 significant digits")
    numpy_case(np.array([1e-5, 1.0000001]), "sci: more digits than shortest")
    numpy_case(np.array([0.3, 3e-5]), "sci: min_digits rounds the exact value")
    numpy_case(np.array([2.0 ** -20, 1.0], dtype=np.float32), "f32 power of two, sci")
    np.random.seed(0)
    numpy_case(np.array([45553448, -69741936, 1.5e6], dtype=np.float32),
               "f32 integers past 2**24 print every integer digit")
    numpy_case(np.array(np.float32(45553448)), "0-d f32: the shortest digits")
    numpy_case(np.random.rand(3, 4).astype(np.float32), "f32 random: shortest float32 digits")
    numpy_case(np.random.randn(3, 9) * 1e4, "matrix rows wrap")
    numpy_case(np.random.randn(4, 5), "f64 random")
    numpy_case(np.random.randn(20), "row wraps at 75 columns")
    numpy_case(np.random.randn(2, 3, 12), "rank 3 rows wrap")
    numpy_case(np.random.randn(2, 2, 2, 2) * 1e-6, "rank 4 sci")
    numpy_case(np.arange(30, dtype=np.int32).reshape(2, 3, 5) - 10, "int rank 3")
    numpy_case(np.array([0, 128, 255], dtype=np.uint8), "uint8")
    numpy_case(np.zeros((0, 3)), "empty")
    numpy_case(np.arange(60, dtype=np.int64) * 12345, "int row wraps")
    numpy_case(np.array([[1.0, np.nan], [np.inf, -2.0]], dtype=np.float32), "nan/inf f32")
    numpy_gen([2000], "f64", 1, 2000, 0, 1.0, 1.0, "arange summarized")
    numpy_gen([40, 40], "i64", 37, 101, 50, note="40x40 ints summarized")
    numpy_gen([3, 500], "f32", 13, 97, 48, 3.0, 1.0, "3x500 f32 summarized")
    numpy_gen([10, 10, 20], "f32", 7, 1001, 500, 16.0, 1e-6, "rank 3 summarized sci")
    numpy_gen([2000], "bool", 1, 3, 0, note="bool summarized")

    # ---- repr(float) and torch.Size ----------------------------------------
    for v in [12.0, 0.1, 1e-5, 1e16, 1e15, 9999999999999998.0, 1e22, 1e-4, 9.999999999999999e-05,
              0.0, -0.0, inf, -inf, nan, 1 / 3, 2 / 3, 123456789.123, 5e-324,
              1.7976931348623157e308, 2.0 ** 53 + 2, 100.0, 1.5, -2.75e-7,
              float(np.float32(0.1)), 0.30000000000000004, 6.02214076e23]:
        pyfloat_case(v)
    for shape in ([3, 4], [], [6, 1, 5, 5], [0], [1, 10]):
        size_case(shape)


def write(path):
    out = ["# print_cases.txt: written by scripts/gen_print_goldens.py with torch %s and numpy %s;"
           % (torch.__version__, np.__version__),
           "# do not edit. The format is described at the top of that script."]
    for i, c in enumerate(cases):
        out.append("case %d %s %s %d%s" % (i, c["kind"], c["dtype"], len(c["shape"]),
                                           "".join(" %d" % d for d in c["shape"])))
        if c["note"]:
            out.append("note " + c["note"])
        if c["gen"] is not None:
            mul, mod, off, div, scale = c["gen"]
            out.append("gen %d %d %d %s %s" % (mul, mod, off, float(div).hex(),
                                               float(scale).hex()))
        else:
            vals = c["values"]
            out.append("list %d" % len(vals))
            for k in range(0, len(vals), 8):
                out.append(" ".join(vals[k:k + 8]))
        for s in c["suffixes"]:
            out.append("suffix " + s)
        data = c["text"].encode("ascii")
        out.append("expect %d" % len(data))
        out.append(c["text"])
        out.append("end")
    with open(path, "w", newline="\n") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    build()
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/print_cases.txt"
    write(path)
    kinds = {}
    for c in cases:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    print("%s: %d cases %s" % (path, len(cases), kinds))
