#!/usr/bin/env python3
"""onnxruntime's static int8 quantization (QDQ, per-channel weights) of the nets that
ctnn_bench_int8 exported, beside their fp32 ONNX models: test accuracy and median forward time.

    ctnn_bench_int8 FM_CKPT FR_CKPT 1000 7 DIR      # (built with -DCTNN_INT8_ONNX) writes DIR/*.onnx, calib, test
    python bench/int8_ort.py DIR [REPEATS=7]

The quantization is quantize_static(QuantFormat.QDQ, per_channel=True, QUInt8 activations,
QInt8 weights, MinMax calibration) on the same calibration images as ctnn's (the first 1000
training images, normalised). Each session runs with intra_op_num_threads = 1 and 2 and
ORT_SEQUENTIAL; times are medians of REPEATS rounds, the rounds of fp32 and int8 interleaved.
"""
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process


class Reader(CalibrationDataReader):
    def __init__(self, images, name):
        self.batches = iter([{name: images[i:i + 1]} for i in range(len(images))])

    def get_next(self):
        return next(self.batches, None)


def session(path, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def accuracy(s, x, labels):
    name = s.get_inputs()[0].name
    right = 0
    for b in range(0, len(x), 256):
        y = s.run(None, {name: x[b:b + 256]})[0]
        right += int((y.argmax(1) == labels[b:b + 256]).sum())
    return 100.0 * right / len(x)


def seconds(s, x, reps):
    name = s.get_inputs()[0].name
    t0 = time.perf_counter()
    for _ in range(reps):
        s.run(None, {name: x})
    return (time.perf_counter() - t0) / reps


def main():
    d = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    calib = np.fromfile(os.path.join(d, "calib.f32"), dtype=np.float32).reshape(-1, 1, 28, 28)
    test = np.fromfile(os.path.join(d, "test.f32"), dtype=np.float32).reshape(-1, 1, 28, 28)
    labels = np.fromfile(os.path.join(d, "test_labels.i32"), dtype=np.int32)
    print(f"onnxruntime {ort.__version__}, calibration {len(calib)} images")
    for net in ["fashion_mnist", "fashion_resnet"]:
        fp32 = os.path.join(d, net + ".onnx")
        pre = os.path.join(d, net + ".pre.onnx")
        q8 = os.path.join(d, net + ".qdq.onnx")
        quant_pre_process(fp32, pre)
        name = ort.InferenceSession(pre, providers=["CPUExecutionProvider"]).get_inputs()[0].name
        quantize_static(pre, q8, Reader(calib, name), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        a32 = accuracy(session(fp32, 2), test, labels)
        a8 = accuracy(session(q8, 2), test, labels)
        print(f"{net} accuracy: ORT fp32 {a32:.2f}%  ORT int8 QDQ {a8:.2f}%")
        for threads in [1, 2]:
            s32, s8 = session(fp32, threads), session(q8, threads)
            for batch in [1, 256]:
                x = test[:batch]
                reps = 400 if batch == 1 else 4
                seconds(s32, x, 2), seconds(s8, x, 2)
                t32, t8 = [], []
                for _ in range(repeats):
                    t32.append(seconds(s32, x, reps))
                    t8.append(seconds(s8, x, reps))
                m32, m8 = statistics.median(t32), statistics.median(t8)
                print(f"{net} threads {threads} batch {batch:3d}: ORT fp32 {m32 * 1e6:9.1f} us  ORT int8 {m8 * 1e6:9.1f} us  "
                      f"speed-up {m32 / m8:.2f}x")


if __name__ == "__main__":
    main()
