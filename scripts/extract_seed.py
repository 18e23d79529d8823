#!/usr/bin/python3
"""Extracts the printed outputs of the blitz tutorial's cells (the seed text in
../shared/seeds/) into tests/golden/seed/<sample>.txt, one file per sample.

A golden is one block of text that must start the sample's output, or several blocks
separated by lines "~~~" that must appear in order. The seed is a notebook export: each ```python block is followed by its output,
indented by four spaces. Outputs that print random tensors cannot be
reproduced digit for digit (the notebook's generator state is unknown), so
their digits are written as '?', which the test matches against any digit;
everything else, spaces included, must match exactly.

    /usr/bin/python3 scripts/extract_seed.py [SEED_FILE]
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# sample -> list of (marker in the cell's code, mask random digits?)
CELLS = {
    "tensor_like": [("x_ones = torch.ones_like", "Random Tensor")],
    "tensor_shape": [("rand_tensor = torch.rand(shape)", "Random Tensor")],
    "tensor_attributes": [("Shape of tensor:", None)],
    "tensor_indexing": [('print(f"First row:', None)],
    "tensor_cat": [("t1 = torch.cat", None)],
    "tensor_matmul": [("y1 = tensor @ tensor.T", None)],
    "tensor_mul": [("z1 = tensor * tensor", None)],
    "tensor_sum": [("agg = tensor.sum()", None)],
    "tensor_inplace": [("tensor.add_(5)", None)],
    "bridge_to_numpy": [("n = t.numpy()", None)],
    "bridge_from_numpy": [("np.add(n, 1, out=n)", None)],
    "lenet_forward": [("net = Net()\nprint(net)", None), ("print(len(params))", None)],
    "autograd": [("print(9*a**2 == a.grad)", None)],
    # random values with random signs cannot be matched digit by digit: only the deterministic parts,
    # each a block that must appear, in order, somewhere in the output
    "lenet_backward": [("loss = criterion(output, target)\nprint(loss)", "*"),
                       ("print('conv1.bias.grad before backward')", ("before", 3))],
}


def cells(text):
    """Yields (code, output) for every python cell."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith("```python"):
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            code = "\n".join(lines[i + 1:j])
            k = j + 1
            out = []
            # output: blank lines and lines indented by 4, until other text
            while k < len(lines) and (lines[k] == "" or lines[k].startswith("    ")):
                out.append(lines[k][4:] if lines[k].startswith("    ") else "")
                k += 1
            while out and out[-1] == "":
                out.pop()
            while out and out[0] == "":
                out.pop(0)
            yield code, "\n".join(out)
            i = k
        else:
            i += 1


def mask_random(out, title):
    """Replaces the digits of the tensor printed after `title` with '?'."""
    res, masking = [], False
    for line in out.split("\n"):
        if line.startswith(title):
            masking = True
        elif masking and line.strip() == "":
            masking = False
        if masking and "tensor" in line or (masking and line.startswith("  ")):
            line = re.sub(r"[0-9]", "?", line)
        res.append(line)
    return "\n".join(res)


def main():
    seed = sys.argv[1] if len(sys.argv) > 1 else sorted(glob.glob(os.path.join(ROOT, "..", "shared", "seeds", "*.txt")))[0]
    text = open(seed, encoding="utf-8").read()
    all_cells = list(cells(text))
    for sample, parts in CELLS.items():
        outs = []
        for marker, random_title in parts:
            found = [o for c, o in all_cells if marker in c and o]
            if not found:
                sys.exit(f"extract_seed: no output for cell '{marker}'")
            o = found[0]
            if random_title == "*":
                o = re.sub(r"[0-9]", "?", o)
            elif isinstance(random_title, tuple):
                o = "\n".join(o.split("\n")[:random_title[1]])
            elif random_title:
                o = mask_random(o, random_title)
            outs.append(o)
        path = os.path.join(ROOT, "tests", "golden", "seed", sample + ".txt")
        # blocks of one sample are separated by a line "~~~": other output may come between them
        sep = "\n~~~\n" if sample == "lenet_backward" else "\n"
        with open(path, "w", encoding="utf-8") as f:
            f.write(sep.join(outs) + "\n")
        print("wrote", os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
