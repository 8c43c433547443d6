#!/usr/bin/env python3
"""Exports the four reference nets from current PyTorch to ONNX and records onnxruntime's outputs,
the data tests/onnx checks tools/onnx2ctnn against (run with a Python that has torch, onnx,
onnxscript and onnxruntime, e.g. a PyPI venv; Debian's PyTorch 1.13 is too old):

    .venv/bin/python tools/onnx_export_models.py OUT_DIR [--nets seed,fmnist,resnet20,mobilenet]

For each net, OUT_DIR/NAME.onnx (torch.onnx.export's default exporter, dynamic batch; the
*_noopt ones without its optimizer, *_legacy through the TorchScript exporter) and
OUT_DIR/NAME.io.safetensors: "x" (4 random inputs) and "y" (onnxruntime's outputs for them, CPU).
The nets are the PyTorch twins of bench/nets.hpp's: the seed CNN, the Fashion-MNIST convnet
(tools/torch_fashion_mnist.py), ResNet-20 and the MobileNet-style net (tools/resnet_params.py), and
a small net of the activations PyTorch exports as more than one node (GELU, SiLU),
in eval mode with random weights and random BatchNorm statistics (so no layer is the identity).
"""
import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import resnet_params  # noqa: E402
from onnx2ctnn_layers import write_safetensors  # noqa: E402


def seed_cnn():
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 8 * 8, 10))


def fmnist_cnn():  # tools/torch_fashion_mnist.py's bench_net (Fashion-MNIST's benchmark/convnet.py)
    return nn.Sequential(nn.Conv2d(1, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(32, 64, 5, 1, 2), nn.ReLU(),
                         nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(7 * 7 * 64, 1024), nn.ReLU(), nn.Dropout(0.4),
                         nn.Linear(1024, 10))


def activations():  # GELU (opset 20's Gelu op), SiLU (Sigmoid and Mul) and Softmax on features
    return nn.Sequential(nn.Linear(10, 16), nn.GELU(), nn.Linear(16, 16), nn.SiLU(), nn.Linear(16, 8), nn.Softmax(dim=1))


NETS = {"seed": (seed_cnn, (3, 32, 32)), "fmnist": (fmnist_cnn, (1, 28, 28)),
        "resnet20": (resnet_params.resnet20, (3, 32, 32)), "mobilenet": (resnet_params.mobilenet, (3, 32, 32)),
        "activations": (activations, (10,))}
# The same net through the TorchScript exporter (dynamo=False, opset 17): GELU in its erf form.
LEGACY = {"activations_legacy": "activations"}
# The exporter's optimizer folds each eval-mode BatchNorm into the Conv before it; these are also
# exported without it (optimize=False), so BatchNormalization nodes reach the generator too.
UNOPTIMIZED = {"resnet20_noopt": "resnet20", "mobilenet_noopt": "mobilenet"}


def randomize_batchnorms(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
            m.bias.data.uniform_(-0.2, 0.2, generator=gen)
            m.running_mean.uniform_(-0.2, 0.2, generator=gen)
            m.running_var.uniform_(0.5, 1.5, generator=gen)


def export(name, out_dir):
    import onnxruntime as ort
    make, shape = NETS[UNOPTIMIZED.get(name, LEGACY.get(name, name))]
    torch.manual_seed(16)
    gen = torch.Generator().manual_seed(16)
    model = make()
    randomize_batchnorms(model, gen)
    model.eval()
    x = torch.randn(4, *shape, generator=gen)
    path = os.path.join(out_dir, name + ".onnx")
    if name in LEGACY:
        torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], dynamo=False, opset_version=17,
                          dynamic_axes={"x": {0: "batch"}})
    else:
        torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False,
                          optimize=name not in UNOPTIMIZED)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        diff = float(np.abs(model(x).numpy() - y).max())
    write_safetensors(os.path.join(out_dir, name + ".io.safetensors"), [("x", x.numpy()), ("y", y)])
    print(f"{name}: {path} ({os.path.getsize(path)} bytes), onnxruntime vs PyTorch max |diff| {diff:.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--nets", default=",".join([*NETS, *UNOPTIMIZED, *LEGACY]))
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    for name in a.nets.split(","):
        export(name, a.out_dir)


if __name__ == "__main__":
    main()
