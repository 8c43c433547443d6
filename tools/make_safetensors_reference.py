#!/usr/bin/env python3
"""Makes the golden files of tests/test_safetensors.cpp and the fuzz seeds (run from anywhere):

  tests/data/safetensors/reference_net{,_f16,_bf16}.safetensors  a trained PyTorch nn.Sequential
  tests/data/safetensors/reference_io.safetensors                input and PyTorch's outputs
  tests/fuzz/corpus/*                                            seeds for fuzz_safetensors

The net (ctnn type in the test):
  Conv(3,8,3,p1) BN2d(8) ReLU MaxPool2 Conv(8,16,3) LeakyReLU(0.01) AvgPool2 Flatten
  Linear(64,32) BN1d(32) Tanh Dropout(0.25) Linear(32,10)
It is trained a few steps in train mode so the BatchNorm running statistics and
num_batches_tracked are not their defaults. "output" is PyTorch's eval-mode output with the F32
weights; "output_f16"/"output_bf16" with the weights rounded to F16/BF16 (computed in F32), which
is what ctnn computes after converting those files on load.
"""
import copy
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_safetensors import save_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "safetensors")
SEEDS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def rounded(model, dtype):
    m = copy.deepcopy(model)
    with torch.no_grad():
        for t in m.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.to(dtype).float())
    return m


def main():
    torch.manual_seed(20261128)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.LeakyReLU(0.01), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(64, 32), nn.BatchNorm1d(32), nn.Tanh(), nn.Dropout(0.25), nn.Linear(32, 10))
    with torch.no_grad():  # BatchNorm affine parameters away from their 1 / 0 defaults
        for i in (1, 9):
            net[i].weight.uniform_(0.5, 1.5)
            net[i].bias.uniform_(-0.5, 0.5)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    net.train()
    for _ in range(7):
        x = torch.randn(16, 3, 12, 12) * 1.5 + 0.3
        loss = nn.functional.cross_entropy(net(x), torch.randint(0, 10, (16,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    x = torch.randn(5, 3, 12, 12)
    io = {"input": x}
    with torch.no_grad():
        io["output"] = net(x)
        io["output_f16"] = rounded(net, torch.float16)(x)
        io["output_bf16"] = rounded(net, torch.bfloat16)(x)
    os.makedirs(DATA, exist_ok=True)
    meta = {"format": "pt", "producer": f"torch {torch.__version__} (tools/make_safetensors_reference.py)"}
    sd = net.state_dict()
    save_file(sd, os.path.join(DATA, "reference_net.safetensors"), meta)
    save_file(sd, os.path.join(DATA, "reference_net_f16.safetensors"), meta, dtype=torch.float16)
    save_file(sd, os.path.join(DATA, "reference_net_bf16.safetensors"), meta, dtype=torch.bfloat16)
    save_file(io, os.path.join(DATA, "reference_io.safetensors"), meta)
    print("num_batches_tracked:", int(sd["1.num_batches_tracked"]), " output[0]:", io["output"][0, :4].tolist())

    # Fuzz seeds: the fuzz target's own net, Linear(4,3) BatchNorm1d(3) ReLU Linear(3,2), valid
    # in several dtypes, plus a few hostile variants for the mutator to start from.
    os.makedirs(SEEDS, exist_ok=True)
    tiny = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    tsd = tiny.state_dict()
    save_file(tsd, os.path.join(SEEDS, "tiny_f32"))
    save_file(tsd, os.path.join(SEEDS, "tiny_f16"), dtype=torch.float16)
    save_file(tsd, os.path.join(SEEDS, "tiny_bf16"), {"format": "pt"}, dtype=torch.bfloat16)
    hostile = {
        "header_past_end": (1000).to_bytes(8, "little") + b"{}",
        "invalid_json": (5).to_bytes(8, "little") + b'{"a":',
        "duplicate": (0).to_bytes(8, "little"),
        "overlap": b"",
    }
    h = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    hostile["overlap"] = len(h).to_bytes(8, "little") + h + bytes(8)
    h = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    hostile["duplicate"] = len(h).to_bytes(8, "little") + h + bytes(4)
    for name, b in hostile.items():
        with open(os.path.join(SEEDS, name), "wb") as f:
            f.write(b)


if __name__ == "__main__":
    main()
