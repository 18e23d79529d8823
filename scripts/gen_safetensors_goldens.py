#!/usr/bin/python3
"""gen_safetensors_goldens.py: .safetensors goldens written by export_safetensors.py's writer.

    /usr/bin/python3 scripts/gen_safetensors_goldens.py [golden-dir]   (default tests/golden/safetensors)

writes, under golden-dir:

  tiny.safetensors  the state_dict of Sequential(Conv2d(2, 3, 3), BatchNorm2d(3)) (the batch
                    norm's affine parameters drawn from U(0, 1)) after three training-mode
                    forward passes: conv weight and bias, the batch norm's weight,
                    bias, running_mean, running_var and num_batches_tracked (I64, shape [], 3),
                    in state_dict order, as a torchvision model's would be;
  tiny.txt          every value of it, one tensor a line: name dtype rank dims... values...
                    (floats as float.hex, exact), for tests/test_safetensors.c;
  small.safetensors the parameters of tests/programs/safetensors_load.tg's model (Conv2d(1, 2, 3),
                    Linear(32, 3)), made with torch.manual_seed(7);
  small.out         what PyTorch prints for that program (tests/test_codegen.c compares).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_safetensors import DTYPES, load_safetensors, save_safetensors  # noqa: E402


def write_tiny(out):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))
    nn.init.uniform_(m[1].weight)  # no tensor all ones or zeros: a misplaced read shows
    nn.init.uniform_(m[1].bias)
    m.train()
    for _ in range(3):  # running statistics move and num_batches_tracked counts to 3
        m(torch.randn(4, 2, 5, 5))
    state = m.state_dict()
    save_safetensors(os.path.join(out, "tiny.safetensors"), state, {"format": "pt"})
    back, _ = load_safetensors(os.path.join(out, "tiny.safetensors"))
    assert all(torch.equal(back[k], state[k]) for k in state)
    with open(os.path.join(out, "tiny.txt"), "w") as f:
        f.write("# tiny.safetensors by value (scripts/gen_safetensors_goldens.py): "
                "name dtype rank dims... values...\n")
        for k, t in state.items():
            vals = [str(int(v)) if not t.is_floating_point() else float(v).hex() for v in t.flatten().tolist()]
            f.write(" ".join([k, DTYPES[t.dtype], str(t.dim())] + [str(d) for d in t.shape] + vals) + "\n")


class Small(nn.Module):
    """tests/programs/safetensors_load.tg's model."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(F.relu(self.conv(x)), 1))


def write_small(out):
    torch.manual_seed(7)  # weights unlike the program's own initialization (seed 0)
    path = os.path.join(out, "small.safetensors")
    save_safetensors(path, Small().state_dict(), {"format": "pt"})
    # the program, as PyTorch runs it
    torch.manual_seed(0)
    net = Small()
    net.load_state_dict(load_safetensors(path)[0])
    lines = [str(net.fc.bias), str(net(torch.randn(2, 1, 6, 6)))]
    with open(os.path.join(out, "small.out"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "golden", "safetensors")
    os.makedirs(out, exist_ok=True)
    write_tiny(out)
    write_small(out)
    for name in sorted(os.listdir(out)):
        print(f"{os.path.join(out, name)}: {os.path.getsize(os.path.join(out, name))} bytes")


if __name__ == "__main__":
    main()
