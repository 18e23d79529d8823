#!/usr/bin/python3
"""The full-width check of samples/resnet18.tg against torchvision (tests/test_codegen.c runs it
where /usr/bin/python3 has torchvision, and skips it elsewhere).

    /usr/bin/python3 scripts/check_torchvision_resnet.py DIR

Writes into DIR: resnet18.safetensors (torchvision's resnet18, randomly initialized after
torch.manual_seed(0), its batch norms' weights and statistics made unequal, exported with
scripts/export_safetensors.py's writer), x.npy (a 1x3x64x64 input) and
torchvision's outputs on it: want_eval.npy (eval mode) and want_train.npy (training mode, batch
statistics), then want_mean.npy, layer1.0.bn1's running mean after that training-mode pass.
"""
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_safetensors import save_safetensors  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    # batch norm as a trained network has it: a buffer loaded into the wrong layer would show
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(7)
    save_safetensors(os.path.join(out, "resnet18.safetensors"), net.state_dict())
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    np.save(os.path.join(out, "x.npy"), x.numpy())
    with torch.no_grad():
        net.eval()
        np.save(os.path.join(out, "want_eval.npy"), net(x).numpy())
        net.train()
        np.save(os.path.join(out, "want_train.npy"), net(x).numpy())
        np.save(os.path.join(out, "want_mean.npy"), net.layer1[0].bn1.running_mean.numpy())


if __name__ == "__main__":
    main()
