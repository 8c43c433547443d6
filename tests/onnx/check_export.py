#!/usr/bin/env python3
"""Checks the ONNX files ctnn::save_onnx wrote (tests/onnx/export_nets.cpp):

    check_export.py DIR [--need-onnxruntime]

every DIR/NAME.onnx must pass onnx.checker (full_check: with shape inference); and where
onnxruntime is installed (a PyPI venv; Debian 12 has none), onnxruntime's outputs on
DIR/NAME.io.safetensors's "x" must equal ctnn's "y" within 1e-5 * max(1, |y|). Prints each net's
largest absolute and relative errors. Exit 1 on any failure; with --need-onnxruntime, also when
onnxruntime is missing.
"""
import argparse
import glob
import json
import os
import struct
import sys

import numpy as np
import onnx


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (path, name, t["dtype"])
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(t["shape"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--need-onnxruntime", action="store_true")
    a = ap.parse_args()
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
        print("onnxruntime is not installed: onnx.checker only" + (" (FAIL: --need-onnxruntime)" if a.need_onnxruntime else ""))
    failed = bool(a.need_onnxruntime and ort is None)
    for path in sorted(glob.glob(os.path.join(a.dir, "*.onnx"))):
        name = os.path.basename(path)[:-5]
        try:
            onnx.checker.check_model(onnx.load(path), full_check=True)
        except Exception as e:  # the checker's own exception types differ between versions
            print(f"FAIL {name}: onnx.checker: {e}")
            failed = True
            continue
        if ort is None:
            print(f"PASS {name}: onnx.checker (onnx {onnx.__version__})")
            continue
        io = read_safetensors(path[:-5] + ".io.safetensors")
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: io["x"]})[0]
        want = io["y"]
        err = np.abs(got.astype(np.float64) - want)
        ok = got.shape == want.shape and bool((err <= 1e-5 * np.maximum(1.0, np.abs(want))).all())
        big = np.abs(want) > 1e-3
        rel = float((err[big] / np.abs(want[big])).max()) if big.any() else 0.0
        print(f"{'PASS' if ok else 'FAIL'} {name}: onnx.checker (onnx {onnx.__version__}); onnxruntime {ort.__version__} "
              f"vs ctnn, batch {want.shape[0]}: max abs error {err.max():.3g}, max rel error (|y| > 1e-3) {rel:.3g}")
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
