#!/usr/bin/python3
"""export_safetensors.py: a torchvision model's state_dict as a .safetensors file for tgc.

    /usr/bin/python3 scripts/export_safetensors.py MODEL OUT.safetensors [--weights FILE.pth]
                                                  [--seed N] [--width W] [--num-classes K]
    /usr/bin/python3 scripts/export_safetensors.py --selftest

MODEL is a torchvision classification model (resnet18, resnet34, resnet50, ...). Without
--weights the model is randomly initialized after torch.manual_seed(N) (default 0), exactly as
torchvision initializes it; with --weights, FILE.pth (a state_dict saved by torch.save, such as
torchvision's pretrained resnet18-f37072fd.pth) is loaded into the model first, so a file for
another architecture fails here with PyTorch's own message. --width W builds a ResNet whose base
width is W instead of 64 (every channel count scaled by W / 64; the tests use 8 so that goldens
stay small) with torchvision's module names, so the keys are the same. The file holds the
state_dict as it is, buffers and num_batches_tracked (I64, shape []) included, in state_dict
order; a program reads it with load_state(net, "OUT.safetensors").

Debian has no safetensors package, so the writer is here: save_safetensors(path, tensors,
metadata) writes the format exactly (an 8-byte little-endian header length, a JSON header padded
with spaces to a multiple of 8, the raw little-endian data in header order) and
load_safetensors(path) reads it back. Other scripts import them (scripts/ on sys.path).
--selftest round-trips every dtype, checks the bytes of a small file against ones spelled out by
hand, and checks that the width-scaled ResNet at width 64 is torchvision's resnet18, weights
included.
"""
import argparse
import json
import os
import struct
import sys

import torch
import torch.nn as nn

# safetensors' dtype names; every dtype torch and the format share
DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
TORCH_DTYPES = {v: k for k, v in DTYPES.items()}


def tensor_bytes(t):
    """The raw little-endian bytes of t, row-major."""
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: the same 2 bytes as int16
        t = t.view(torch.int16)
    a = t.numpy()
    return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def save_safetensors(path, tensors, metadata=None):
    """Writes tensors ({name: tensor}, in the dict's order) and string metadata to path.

    The file is written to path + '.tmp' and renamed over path, so path is never half-written.
    """
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        if name == "__metadata__" or t.dtype not in DTYPES:
            raise ValueError(f"{name}: cannot store a {t.dtype} tensor under this name")
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)  # 8 + len(h) is a multiple of 8: the data starts aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in chunks:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_safetensors(path):
    """Reads a .safetensors file: ({name: tensor} in header order, {metadata})."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for the header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} is past the end of the file")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        dt = TORCH_DTYPES[e["dtype"]]
        begin, end = e["data_offsets"]
        numel = 1
        for d in e["shape"]:
            numel *= d
        if not 0 <= begin <= end <= len(data) or end - begin != numel * torch.empty(0, dtype=dt).element_size():
            raise ValueError(f"{path}: {name} has bad data_offsets {e['data_offsets']}")
        if numel == 0:
            out[name] = torch.empty(e["shape"], dtype=dt)
            continue
        load_as = torch.int16 if dt == torch.bfloat16 else dt
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=load_as)
        out[name] = (t.view(dt) if load_as != dt else t).reshape(e["shape"])
    return out, metadata


class ScaledResNet(nn.Module):
    """torchvision's ResNet with base width `width` instead of 64.

    torchvision has no width option for BasicBlock ResNets (width_per_group only widens
    Bottleneck's inner convolutions), so this builds the same module tree, with the same names
    and the same initialization in the same order, with every channel count scaled. At width 64
    it is torchvision's model, weights included (--selftest checks it).
    """

    def __init__(self, block, layers, width, num_classes=1000):
        super().__init__()
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # the blocks' own width_per_group, not ours
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    # torchvision's own layer builder and forward pass (they read only the fields set above)
    def _make_layer(self, *args, **kwargs):
        from torchvision.models.resnet import ResNet
        return ResNet._make_layer(self, *args, **kwargs)

    def forward(self, x):
        from torchvision.models.resnet import ResNet
        return ResNet._forward_impl(self, x)


def resnet_layout(name):
    """(block, layers) of torchvision's resnetNN."""
    from torchvision.models.resnet import BasicBlock, Bottleneck
    layouts = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
               "resnet50": (Bottleneck, [3, 4, 6, 3]), "resnet101": (Bottleneck, [3, 4, 23, 3]),
               "resnet152": (Bottleneck, [3, 8, 36, 3])}
    if name not in layouts:
        raise SystemExit(f"export_safetensors: --width needs one of {', '.join(layouts)}, not {name}")
    return layouts[name]


def build_model(name, width=None, num_classes=1000):
    """torchvision's model `name`, randomly initialized from the current torch generator."""
    import torchvision.models as models
    if width is not None:
        block, layers = resnet_layout(name)
        return ScaledResNet(block, layers, width, num_classes)
    fn = getattr(models, name, None)
    if not callable(fn) or name.startswith("_") or name[0].isupper():
        raise SystemExit(f"export_safetensors: torchvision has no model {name!r}")
    return fn(weights=None, num_classes=num_classes)


def read_weights(path):
    """A state_dict from a torch.save file (a state_dict, or a whole pickled model)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a pickled nn.Module needs the full unpickler (trusted files only)
        obj = torch.load(path, map_location="cpu")
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SystemExit(f"export_safetensors: {path} holds no state_dict (a dict of tensors)")
    return obj


def selftest():
    import tempfile
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "t.safetensors")

    # every dtype, rank 0, an empty tensor and a non-contiguous one, round trip
    g = torch.Generator().manual_seed(1)
    want = {
        "conv1.weight": torch.randn(2, 3, 2, 2, generator=g),
        "bn1.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
        "scale": torch.tensor([1.5, -1 / 3], dtype=torch.float64),
        "half": torch.tensor([0.5, -2.0, 65504.0], dtype=torch.float16),
        "brain": torch.tensor([1.0, -3.5], dtype=torch.bfloat16),
        "idx": torch.tensor([-2**31, 7, 2**31 - 1], dtype=torch.int32),
        "small": torch.tensor([-32768, 5], dtype=torch.int16),
        "tiny": torch.tensor([-128, 127], dtype=torch.int8),
        "pix": torch.tensor([0, 128, 255], dtype=torch.uint8),
        "mask": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 4),
        "transposed": torch.arange(6.0).reshape(2, 3).t(),
    }
    save_safetensors(path, want, {"format": "pt", "note": 'a "quoted" caf\u00e9'})
    assert not os.path.exists(path + ".tmp")
    got, meta = load_safetensors(path)
    assert list(got) == list(want), (list(got), list(want))
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        assert torch.equal(got[k], want[k]), (k, got[k], want[k])
    assert meta == {"format": "pt", "note": 'a "quoted" caf\u00e9'}, meta
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0 and raw[8 + n - 1:8 + n] in (b"}", b" "), n

    # the exact bytes of a small file, spelled out by hand
    save_safetensors(path, {"a": torch.tensor([1.0, -2.0]), "n": torch.tensor(3)})
    h = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}'
    h += b" " * (-len(h) % 8)
    expect = struct.pack("<Q", len(h)) + h + struct.pack("<ffq", 1.0, -2.0, 3)
    assert open(path, "rb").read() == expect, open(path, "rb").read()

    # the scaled ResNet at width 64 is torchvision's, initialization included
    import torchvision.models as models
    torch.manual_seed(0)
    ref = models.resnet18(weights=None).state_dict()
    torch.manual_seed(0)
    mine = build_model("resnet18", width=64).state_dict()
    assert list(ref) == list(mine)
    for k in ref:
        assert torch.equal(ref[k], mine[k]), k
    torch.manual_seed(0)
    narrow = build_model("resnet18", width=8, num_classes=10)
    assert list(narrow.state_dict()) == list(ref)
    assert narrow.state_dict()["layer4.1.conv2.weight"].shape == (64, 64, 3, 3)
    assert narrow(torch.zeros(1, 3, 64, 64)).shape == (1, 10)
    os.remove(path)
    os.rmdir(tmp)
    print("export_safetensors: selftest passed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", help="torchvision model name: resnet18, resnet34, ...")
    ap.add_argument("out", nargs="?", help="the .safetensors file to write")
    ap.add_argument("--weights", help="a state_dict saved by torch.save (default: random initialization)")
    ap.add_argument("--seed", type=int, default=0, help="torch.manual_seed before initializing (default 0)")
    ap.add_argument("--width", type=int, help="ResNet base width instead of 64")
    ap.add_argument("--num-classes", type=int, default=1000, help="outputs of fc (default 1000)")
    ap.add_argument("--selftest", action="store_true", help="check the writer, the reader and --width")
    args = ap.parse_args()
    if args.selftest:
        selftest()
        return
    if not args.model or not args.out:
        ap.error("MODEL and OUT are required")
    if args.width is not None and args.width <= 0:
        ap.error("--width must be positive")
    torch.manual_seed(args.seed)
    model = build_model(args.model, args.width, args.num_classes)
    if args.weights:
        try:  # strict: the file must fit MODEL
            model.load_state_dict(read_weights(args.weights))
        except RuntimeError as e:
            raise SystemExit(f"export_safetensors: {args.weights} does not fit {args.model}: {e}")
    state = model.state_dict()
    save_safetensors(args.out, state, {"format": "pt"})
    print(f"{args.out}: {len(state)} tensors, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
