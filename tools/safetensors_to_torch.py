#!/usr/bin/env python3
"""Load a ctnn .safetensors file back into the equivalent PyTorch nn.Sequential.

ctnn writes a structured description of the net into the file's __metadata__ ("ctnn_layers": per
layer its kind, hyper-parameters by PyTorch's keyword names, input and output shapes), so the
nn.Sequential is rebuilt from it without any other description:

    python3 tools/safetensors_to_torch.py net.safetensors                # print the model
    python3 tools/safetensors_to_torch.py net.safetensors --io io.safetensors [--tol 1e-5]
    python3 tools/safetensors_to_torch.py net.safetensors --modules my_layers.py

With --io, the file must hold "input" [N, ...] and "output" [N, ...] (ctnn's outputs); the model
runs in eval mode on the input and the script exits 1 when any output differs by more than
tol * max(1, |ctnn's value|).

Layers defined in user code (docs/extending.md) need their PyTorch module: --modules names a Python
file that defines MODULES = {"Kind": factory}, where factory(hparams, in_shape) returns the module.
"""
import argparse
import importlib.util
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_safetensors import load_file  # noqa: E402


def _global_avg_pool(hp, in_shape):
    # one ctnn layer, two PyTorch modules: nested so the layer indices stay equal
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _batch_norm(hp, in_shape):
    return (nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d)(**hp)


# kind -> factory(hyper-parameters, input shape), for the kinds whose torch.nn module has another
# name; any other kind that names a torch.nn module (Linear, ReLU, Dropout, LeakyReLU, Softmax, ...)
# is that module, with the layer's hyper-parameters as its arguments
MODULES = {
    "Conv": lambda hp, s: nn.Conv2d(**hp),
    "BatchNorm": _batch_norm,
    "MaxPool": lambda hp, s: nn.MaxPool2d(**hp),
    "AvgPool": lambda hp, s: nn.AvgPool2d(**hp),
    "GlobalAvgPool": _global_avg_pool,
}


def load_modules(path):
    """Adds the MODULES of a user's Python file (layers defined outside ctnn)."""
    spec = importlib.util.spec_from_file_location("ctnn_user_modules", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    MODULES.update(mod.MODULES)


def module_for(layer):
    """The PyTorch module equivalent to one ctnn layer, from its description."""
    factory = MODULES.get(layer["kind"])
    if factory is None and isinstance(getattr(nn, layer["kind"], None), type):
        factory = lambda hp, s, cls=getattr(nn, layer["kind"]): cls(**hp)
    if factory is None:
        raise ValueError(f"no PyTorch module known for the ctnn layer kind {layer['kind']!r} ({layer['name']}); "
                         "give one with --modules")
    return factory(dict(layer["hparams"]), layer["in"])


def load_sequential(path):
    """Returns (nn.Sequential in eval mode with the file's weights, input shape)."""
    tensors, meta = load_file(path)
    if "ctnn_layers" not in meta:
        raise ValueError(f"{path}: no ctnn_layers in __metadata__ (not written by ctnn?)")
    layers = json.loads(meta["ctnn_layers"])
    model = nn.Sequential(*[module_for(l) for l in layers])
    model.load_state_dict(tensors, strict=True)
    return model.eval(), json.loads(meta["ctnn_input"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("net")
    ap.add_argument("--io", help="safetensors file with 'input' and ctnn's 'output'")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--modules", help="a Python file defining MODULES = {kind: factory(hparams, in_shape)}")
    a = ap.parse_args()
    if a.modules:
        load_modules(a.modules)
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
