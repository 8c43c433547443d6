#!/usr/bin/env python3
"""Load a ctnn .safetensors file back into the equivalent PyTorch nn.Sequential.

ctnn writes each layer's name and input shape into the file's __metadata__ ("ctnn_layers"), so
the nn.Sequential is rebuilt without any other description:

    python3 tools/safetensors_to_torch.py net.safetensors                # print the model
    python3 tools/safetensors_to_torch.py net.safetensors --io io.safetensors [--tol 1e-5]

With --io, the file must hold "input" [N, ...] and "output" [N, ...] (ctnn's outputs); the model
runs in eval mode on the input and the script exits 1 when any output differs by more than
tol * max(1, |ctnn's value|).
"""
import argparse
import json
import os
import re
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_safetensors import load_file  # noqa: E402


def module_for(name, in_shape):
    """The PyTorch module equivalent to one ctnn layer, from its name() and input shape."""
    name = name.removeprefix("Frozen ")
    if m := re.fullmatch(r"Conv\((\d+)->(\d+), k(\d+) s(\d+) p(\d+)\)", name):
        i, o, k, s, p = map(int, m.groups())
        return nn.Conv2d(i, o, k, s, p)
    if m := re.fullmatch(r"Linear\((\d+)->(\d+)\)", name):
        return nn.Linear(int(m[1]), int(m[2]))
    if m := re.fullmatch(r"BatchNorm\((\d+)\)", name):
        return (nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d)(int(m[1]))
    if m := re.fullmatch(r"(Max|Avg)Pool\(k(\d+) s(\d+)\)", name):
        return (nn.MaxPool2d if m[1] == "Max" else nn.AvgPool2d)(int(m[2]), int(m[3]))
    if m := re.fullmatch(r"LeakyReLU\((\d+)/(\d+)\)", name):
        return nn.LeakyReLU(int(m[1]) / int(m[2]))
    if m := re.fullmatch(r"Dropout\((\d+)%\)", name):
        return nn.Dropout(int(m[1]) / 100)
    simple = {"ReLU": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "Flatten": nn.Flatten,
              "Softmax": lambda: nn.Softmax(dim=1),
              # one ctnn layer, two PyTorch modules: nested so the layer indices stay equal
              "GlobalAvgPool": lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())}
    if name in simple:
        return simple[name]()
    raise ValueError(f"no PyTorch module known for the ctnn layer {name!r}")


def load_sequential(path):
    """Returns (nn.Sequential in eval mode with the file's weights, input shape)."""
    tensors, meta = load_file(path)
    if "ctnn_layers" not in meta:
        raise ValueError(f"{path}: no ctnn_layers in __metadata__ (not written by ctnn?)")
    layers = json.loads(meta["ctnn_layers"])
    model = nn.Sequential(*[module_for(l["layer"], l["in"]) for l in layers])
    model.load_state_dict(tensors, strict=True)
    return model.eval(), json.loads(meta["ctnn_input"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("net")
    ap.add_argument("--io", help="safetensors file with 'input' and ctnn's 'output'")
    ap.add_argument("--tol", type=float, default=1e-5)
    a = ap.parse_args()
    model, in_shape = load_sequential(a.net)
    print(model)
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            print(f"{name} = {int(t)}")
    if not a.io:
        return 0
    io, _ = load_file(a.io)
    x, want = io["input"], io["output"]
    assert list(x.shape[1:]) == in_shape, f"input shape {list(x.shape)} does not fit {in_shape}"
    with torch.no_grad():
        got = model(x)
    err = ((got - want).abs() / want.abs().clamp(min=1)).max().item()
    print(f"{x.shape[0]} samples: max |PyTorch - ctnn| / max(1, |ctnn|) = {err:.3g} (tol {a.tol:g})")
    if not err <= a.tol:
        print("FAIL: PyTorch does not reproduce ctnn's outputs")
        return 1
    print("OK: PyTorch reproduces ctnn's outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
