#!/usr/bin/env python3
"""Write and read safetensors files with only torch and the standard library.

The `safetensors` package is not on Debian 12; this is the format in ~60 lines:
[u64 little-endian N][N bytes of JSON header][raw little-endian data].

As a program it exports a PyTorch nn.Sequential (or state_dict) saved with torch.save:

    python3 tools/export_safetensors.py model.pt model.safetensors [--dtype f32|f16|bf16]

As a module:  save_file(model.state_dict(), path, metadata=None, dtype=None)
              tensors, metadata = load_file(path)
"""
import argparse
import ctypes
import json
import os
import sys

import torch

DTYPES = {  # torch dtype -> safetensors dtype name
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
TORCH_DTYPES = {v: k for k, v in DTYPES.items()}

if sys.byteorder != "little":
    raise SystemExit("export_safetensors.py assumes a little-endian machine")


def tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""


def save_file(tensors, path, metadata=None, dtype=None):
    """Writes a dict name -> tensor. dtype (e.g. torch.float16) converts floating tensors;
    integer tensors (num_batches_tracked) stay I64. Atomic: temporary file, fsync, rename."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    # Widest elements first keeps every tensor aligned to its element size.
    order = sorted(tensors.items(), key=lambda kv: -kv[1].element_size())
    for name, t in order:
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        if t.dtype not in DTYPES:
            raise ValueError(f"{name}: dtype {t.dtype} has no safetensors name")
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in chunks:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_file(path):
    """Returns (dict name -> tensor, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    body = bytearray(data[8 + n:])
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dt = TORCH_DTYPES[info["dtype"]]
        if end > begin:
            t = torch.frombuffer(body, dtype=dt, count=(end - begin) // torch.tensor([], dtype=dt).element_size(),
                                 offset=begin).clone()
        else:
            t = torch.empty(0, dtype=dt)
        tensors[name] = t.reshape(info["shape"])
    return tensors, metadata


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a torch.save'd nn.Module or state_dict")
    ap.add_argument("out", help="the .safetensors file to write")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    a = ap.parse_args()
    obj = torch.load(a.model, map_location="cpu")
    sd = obj.state_dict() if isinstance(obj, torch.nn.Module) else obj
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    save_file(sd, a.out, {"format": "pt", "producer": f"torch {torch.__version__}"}, dtype=dt)
    print(f"wrote {len(sd)} tensors to {a.out}")


if __name__ == "__main__":
    main()
