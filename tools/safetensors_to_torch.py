#!/usr/bin/env python3
"""Load a ctnn .safetensors file back into the equivalent PyTorch nn.Sequential.

ctnn writes a structured description of the net into the file's __metadata__ ("ctnn_layers": per
layer its kind, hyper-parameters by PyTorch's keyword names, input and output shapes; a block its
"children"), so the nn.Sequential is rebuilt from it without any other description. Blocks become
the modules a PyTorch user writes, with the same state_dict names as ctnn's tensors:
    Chain       nn.Sequential of its children               "3.0.weight"
    Residual    Residual below: body(x) + shortcut(x)       "3.body.0.weight", "3.shortcut.1.bias"
    Concat      Concat below (nn.ModuleList): torch.cat, 1  "3.1.weight" (branch 1)
    Identity    nn.Identity

    python3 tools/safetensors_to_torch.py net.safetensors                # print the model
    python3 tools/safetensors_to_torch.py net.safetensors --io io.safetensors [--tol 1e-5]
    python3 tools/safetensors_to_torch.py net.safetensors --modules my_layers.py
    python3 tools/safetensors_to_torch.py net.safetensors --names names.txt  # ctnn's names, in order

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
import re
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


def _squeeze_excite(hp, in_shape, name=""):
    # torchvision.ops.SqueezeExcitation when torchvision is there, else the same module here. The
    # activations are not numeric hyper-parameters: they are read from the layer's name
    # ("SqueezeExcite(8->2, ReLU, Hardsigmoid)") when both name a torch.nn module taking no
    # argument, else ReLU and Hardsigmoid (ctnn's defaults, MobileNetV3's); --io shows any difference.
    try:
        from torchvision.ops import SqueezeExcitation as se
    except ImportError:
        se = SqueezeExcitation
    act, gate = nn.ReLU, nn.Hardsigmoid
    m = re.fullmatch(r"SqueezeExcite\(\d+->\d+, (\w+), (\w+)\)", name)
    if m and all(isinstance(getattr(nn, k, None), type) for k in m.groups()):
        act, gate = getattr(nn, m.group(1)), getattr(nn, m.group(2))
    return se(**hp, activation=act, scale_activation=gate)


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation's tensors (fc1, fc2: 1x1 Conv2d) and computation."""

    def __init__(self, input_channels, squeeze_channels, activation=nn.ReLU, scale_activation=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x):
        return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x


# kind -> factory(hyper-parameters, input shape), for the kinds whose torch.nn module has another
# name; any other kind that names a torch.nn module (Linear, ReLU, Dropout, LeakyReLU, Softmax, ...)
# is that module, with the layer's hyper-parameters as its arguments
MODULES = {
    "Conv": lambda hp, s: nn.Conv2d(**hp),
    "ConvTranspose": lambda hp, s: nn.ConvTranspose2d(**hp),
    "SqueezeExcite": _squeeze_excite,
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


class Residual(nn.Module):
    """ctnn::Residual<Body, Shortcut>: body(x) + shortcut(x), attributes `body` and `shortcut`."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class Concat(nn.ModuleList):
    """ctnn::Concat<B...>: the branches' outputs concatenated along dim 1; branch j is "j"."""

    def forward(self, x):
        return torch.cat([b(x) for b in self], dim=1)


def _children(layer, names):
    """The modules of a block's children, checked against the names ctnn gives them."""
    kids = layer.get("children")
    if kids is None:
        raise ValueError(f"the ctnn block {layer['kind']!r} ({layer['name']}) lists no children "
                         "(written by a ctnn before blocks were described?)")
    got = [c.get("child") for c in kids]
    if got != names(len(kids)):
        raise ValueError(f"the ctnn block {layer['kind']!r} ({layer['name']}): children named {got}, "
                         f"expected {names(len(kids))}")
    return [module_for(c) for c in kids]


def _indexed(n):
    return [str(i) for i in range(n)]


# blocks: kind -> builder(layer description), from the modules of the children
BLOCKS = {
    "Chain": lambda l: nn.Sequential(*_children(l, _indexed)),
    "Residual": lambda l: Residual(*_children(l, lambda n: ["body", "shortcut"])),
    "Concat": lambda l: Concat(_children(l, _indexed)),
}


def module_for(layer):
    """The PyTorch module equivalent to one ctnn layer (a block: with its children), from its description."""
    if layer["kind"] in BLOCKS:
        return BLOCKS[layer["kind"]](layer)
    if layer["kind"] == "SqueezeExcite" and MODULES.get("SqueezeExcite") is _squeeze_excite:
        return _squeeze_excite(dict(layer["hparams"]), layer["in"], layer.get("name", ""))
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
    ap.add_argument("--names", help="a text file of ctnn's tensor names, one a line, in ctnn's order "
                    "(net.for_each_tensor): the state_dict keys must be these, in this order")
    a = ap.parse_args()
    if a.modules:
        load_modules(a.modules)
    model, in_shape = load_sequential(a.net)
    print(model)
    if a.names:
        with open(a.names) as f:
            want = [line.strip() for line in f if line.strip()]
        got = list(model.state_dict())
        if got != want:
            diff = next(i for i in range(max(len(got), len(want))) if got[i:i + 1] != want[i:i + 1])
            print(f"FAIL: state_dict keys differ from ctnn's tensor names at #{diff}: "
                  f"PyTorch {got[diff:diff + 1]}, ctnn {want[diff:diff + 1]} ({len(got)} vs {len(want)} names)")
            return 1
        print(f"OK: the {len(got)} state_dict keys are ctnn's tensor names, in ctnn's order")
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
