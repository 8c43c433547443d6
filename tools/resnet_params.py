#!/usr/bin/python3
"""The PyTorch modules of examples/resnet.cpp (ResNet-20, CIFAR form), examples/mobilenet.cpp
(a small MobileNetV3-style net) and examples/fashion_resnet.cpp, built by hand with the same module tree as the ctnn types, so the
same state_dict names; prints each net's parameter count (the number the examples static_assert)
and its state_dict keys.

    /usr/bin/python3 tools/resnet_params.py resnet20|mobilenet|fashion_resnet   # count and keys
    /usr/bin/python3 tools/resnet_params.py resnet20 --names names.txt     # check ctnn's names

--names takes the names the example prints with --names (ctnn's net.for_each_tensor, in its
order) and exits 1 unless they are the state_dict keys, in the same order.

ctnn's Conv always has a bias, so every nn.Conv2d here has bias=True (ResNet and MobileNet
usually leave it out before a BatchNorm, where it changes nothing: BatchNorm removes it).
"""
import argparse
import sys

import torch
from torch import nn


class Residual(nn.Module):
    """ctnn::Residual<Body, Shortcut>: body(x) + shortcut(x)."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class GlobalAvgPool(nn.Sequential):
    """ctnn::GlobalAvgPool (no tensors): mean over H, W, flattened."""

    def __init__(self):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten())


# ---- ResNet-20 (He et al. 2016, section 4.2), projection shortcuts (option B) ----------------

def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=True)


def basic(cin, cout, stride):
    """Chain<Residual<Chain<Conv3x3(s), BN, ReLU, Conv3x3, BN>, Shortcut>, ReLU>."""
    body = nn.Sequential(conv3x3(cin, cout, stride), nn.BatchNorm2d(cout), nn.ReLU(),
                         conv3x3(cout, cout), nn.BatchNorm2d(cout))
    shortcut = None
    if stride != 1 or cin != cout:
        shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=True), nn.BatchNorm2d(cout))
    return nn.Sequential(Residual(body, shortcut), nn.ReLU())


def stage(cin, cout, stride, blocks=3):
    return nn.Sequential(basic(cin, cout, stride), *[basic(cout, cout, 1) for _ in range(blocks - 1)])


def resnet20(classes=10):
    return nn.Sequential(conv3x3(3, 16), nn.BatchNorm2d(16), nn.ReLU(),
                         stage(16, 16, 1), stage(16, 32, 2), stage(32, 64, 2),
                         GlobalAvgPool(), nn.Linear(64, classes))


def fashion_resnet(classes=10):
    """examples/fashion_resnet.cpp (1x28x28): stem and pool to 14x14, blocks at 32, 64, 128 channels."""
    return nn.Sequential(conv3x3(1, 32), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         basic(32, 32, 1), basic(32, 64, 2), basic(64, 64, 1), basic(64, 128, 2),
                         GlobalAvgPool(), nn.Linear(128, classes))


# ---- MobileNetV3-style net for 3x32x32 -------------------------------------------------------

class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation(C, S, ReLU, Hardsigmoid): ctnn::SqueezeExcite<C, S>."""

    def __init__(self, input_channels, squeeze_channels):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x


def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    """ConvBNAct / ConvBN: Chain<Conv<cin, cout, k, stride, k / 2, 1, groups>, BatchNorm[, Hardswish]>."""
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, 1, groups, bias=True), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([nn.Hardswish()] if act else []))


def inverted_residual(cin, e, cout, stride, se):
    """1x1 expand, 3x3 depthwise (stride), [SqueezeExcite<e, e / 4>], 1x1 project; a Residual
    with identity shortcut when stride 1 and cin == cout."""
    body = nn.Sequential(conv_bn(cin, e, 1), conv_bn(e, e, 3, stride, groups=e),
                         *([SqueezeExcitation(e, e // 4)] if se else []), conv_bn(e, cout, 1, act=False))
    return Residual(body) if stride == 1 and cin == cout else body


def mobilenet(classes=10):
    return nn.Sequential(conv_bn(3, 16, 3),
                         inverted_residual(16, 64, 24, 2, False),
                         inverted_residual(24, 72, 24, 1, False),
                         inverted_residual(24, 96, 40, 2, True),
                         inverted_residual(40, 120, 40, 1, True),
                         inverted_residual(40, 240, 80, 2, True),
                         inverted_residual(80, 200, 80, 1, False),
                         conv_bn(80, 256, 1),
                         GlobalAvgPool(), nn.Linear(256, classes))


NETS = {"resnet20": resnet20, "mobilenet": mobilenet, "fashion_resnet": fashion_resnet}
INPUTS = {"resnet20": (3, 32, 32), "mobilenet": (3, 32, 32), "fashion_resnet": (1, 28, 28)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("net", choices=sorted(NETS))
    ap.add_argument("--names", help="ctnn's tensor names, one a line (the example's --names output)")
    a = ap.parse_args()
    model = NETS[a.net]()
    keys = list(model.state_dict())
    count = sum(p.numel() for p in model.parameters())
    print(f"{a.net}: {count} parameters, {len(keys)} state_dict entries")
    with torch.no_grad():  # the shapes fit (the output is [1, 10])
        assert list(model.eval()(torch.zeros(1, *INPUTS[a.net])).shape) == [1, 10]
    if not a.names:
        print("\n".join(keys))
        return 0
    with open(a.names) as f:
        want = [line.strip() for line in f if line.strip()]
    if keys != want:
        i = next(i for i in range(max(len(keys), len(want))) if keys[i:i + 1] != want[i:i + 1])
        print(f"FAIL: state_dict keys differ from ctnn's names at #{i}: PyTorch {keys[i:i + 1]}, "
              f"ctnn {want[i:i + 1]} ({len(keys)} vs {len(want)} names)")
        return 1
    print(f"OK: the {len(keys)} state_dict keys are ctnn's tensor names, in ctnn's order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
