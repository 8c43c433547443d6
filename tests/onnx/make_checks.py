#!/usr/bin/python3
"""Prepares the ONNX import checks (scripts/test's stage onnx; Debian's python3-onnx):

    tests/onnx/make_checks.py OUT [--node-data DIR] [--models DIR...]

1. ONNX's own backend node tests (Debian's libonnx-testdata) of every op tools/onnx2ctnn maps:
   each model's inputs after the first become initializers (their values from test_data_set_0),
   then the generator runs; it either writes a net or refuses with an error naming node and op.
2. The PyTorch-exported models (tests/onnx/models/*.onnx, with NAME.io.safetensors holding "x"
   and onnxruntime's "y"; tools/onnx_export_models.py makes both).
Writes OUT/gen/*.hpp + *.safetensors, OUT/io/NAME.safetensors (x, y), OUT/onnx_checks.cpp (one
translation unit that runs every generated net on x and compares with y) and OUT/node_tests.txt
(per test: generated, or refused and why). Exits 1 when a test outside REFUSALS_OK's reasons is
refused, or when the list of generated node tests differs from tests/onnx/node_tests_generated.txt.
"""
import argparse
import glob
import os
import shutil
import sys

import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
from onnx2ctnn_layers import ImportError_, write_safetensors  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402

_loader = importlib.machinery.SourceFileLoader("onnx2ctnn", os.path.join(HERE, "..", "..", "tools", "onnx2ctnn"))
_spec = importlib.util.spec_from_loader("onnx2ctnn", _loader)
onnx2ctnn = importlib.util.module_from_spec(_spec)
_loader.exec_module(onnx2ctnn)

NODE_DATA = "/usr/share/libonnx-testdata/data/node"
# The ops of issue 16's list; a node test whose one node is one of these is tried.
OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "HardSwish",
       "HardSigmoid", "Mul", "Add", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape",
       "BatchNormalization", "Softmax", "Resize", "Dropout", "Identity"}


def read_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def node_test(test_dir):
    """The node test's model with inputs 1.. as initializers, its input x and expected output y."""
    m = onnx.load(os.path.join(test_dir, "model.onnx"))
    data = os.path.join(test_dir, "test_data_set_0")
    number = lambda p: int(os.path.basename(p)[:-3].split("_")[-1])
    try:
        ins = [read_pb(p) for p in sorted(glob.glob(os.path.join(data, "input_*.pb")), key=number)]
        outs = [read_pb(p) for p in sorted(glob.glob(os.path.join(data, "output_*.pb")), key=number)]
    except ValueError:  # an optional or a sequence, not a tensor
        return m, None, None
    graph_inputs = [i for i in m.graph.input if i.name not in {t.name for t in m.graph.initializer}]
    for gi, value in list(zip(graph_inputs, ins))[1:]:
        m.graph.initializer.append(numpy_helper.from_array(value, gi.name))
    return m, ins[0] if ins else None, outs[0] if outs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--node-data", default=NODE_DATA)
    ap.add_argument("--models", nargs="*", default=[os.path.join(HERE, "models")])
    ap.add_argument("--exported", help="the folder of ctnn::save_onnx's files (export_nets.cpp): import them too, "
                                       "and static_assert that each comes back as export_nets.hpp says")
    a = ap.parse_args()
    gen, io = os.path.join(a.out, "gen"), os.path.join(a.out, "io")
    for d in (gen, io):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    nets, report = [], []
    for test_dir in sorted(glob.glob(os.path.join(a.node_data, "test_*"))):
        m = onnx.load(os.path.join(test_dir, "model.onnx"))
        if len(m.graph.node) != 1 or m.graph.node[0].op_type not in OPS:
            continue
        op, test = m.graph.node[0].op_type, os.path.basename(test_dir)
        m, x, y = node_test(test_dir)
        try:
            if x is None or y is None or x.dtype.kind != "f" or y.dtype.kind != "f":
                raise ImportError_(f"node '{m.graph.node[0].name}' (op {op}): not float data")
            onnx2ctnn.generate(m, test, gen, f"{op} node test {test}")
        except ImportError_ as e:
            report.append((op, test, "refused", str(e)))
            continue
        write_safetensors(os.path.join(io, test + ".safetensors"), [("x", x), ("y", y)])
        nets.append((op, test))
        report.append((op, test, "generated", ""))
    for d in a.models:
        for path in sorted(glob.glob(os.path.join(d, "*.onnx"))):
            name = "model_" + os.path.basename(path)[:-5]
            onnx2ctnn.generate(onnx.load(path), name, gen, os.path.basename(path))
            shutil.copy(path[:-5] + ".io.safetensors", os.path.join(io, name + ".safetensors"))
            nets.append(("model", name))
    roundtrip = {}
    for path in sorted(glob.glob(os.path.join(a.exported, "*.onnx"))) if a.exported else []:
        base = os.path.basename(path)[:-5]
        name = "exported_" + base
        try:
            onnx2ctnn.generate(onnx.load(path), name, gen, os.path.basename(path))
        except ImportError_ as e:
            print(f"exported net {base}: the generator refuses it: {e}")
            roundtrip[base] = "void"
            continue
        shutil.copy(path[:-5] + ".io.safetensors", os.path.join(io, name + ".safetensors"))
        nets.append(("exported", name))
        roundtrip[base] = name
    write_cpp(os.path.join(a.out, "onnx_checks.cpp"), [n for _, n in nets], roundtrip)
    with open(os.path.join(a.out, "node_tests.txt"), "w") as f:
        for op, test, what, why in report:
            f.write(f"{op}\t{test}\t{what}\t{why}\n")
    generated = sorted(t for op, t, what, _ in report if what == "generated")
    want_path = os.path.join(HERE, "node_tests_generated.txt")
    want = sorted(l.strip() for l in open(want_path) if l.strip()) if os.path.exists(want_path) else None
    print(f"{len(generated)} node tests generated, {len(report) - len(generated)} refused; {len(nets) - len(generated)} models")
    if want is not None and want != generated:
        print(f"FAIL: generated node tests differ from {want_path}:\n  now only: {sorted(set(generated) - set(want))}"
              f"\n  expected, not generated: {sorted(set(want) - set(generated))}")
        return 1
    return 0


CPP_HEAD = """// Generated by tests/onnx/make_checks.py: every net tools/onnx2ctnn made, run on its inputs and
// compared with the expected outputs (ONNX's node tests; onnxruntime for the exported models).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/io.hpp>
"""

CPP_BODY = """
// Runs Net on the file's x and compares with its y: passes when every |ctnn - expected| is at
// most 1e-5 * max(1, |expected|). Prints the largest absolute and relative errors.
template <class Net>
bool check(const std::string& dir, const char* name) {
    auto net = std::make_unique<Net>(1);
    ctnn::load_safetensors(*net, dir + "/gen/" + name + ".safetensors");
    auto io = ctnn::safetensors::file::read(dir + "/io/" + name + ".safetensors");
    const auto* xt = io.find("x");
    const auto* yt = io.find("y");
    std::vector<float> x(xt->numel()), want(yt->numel());
    io.to_floats(*xt, x.data());
    io.to_floats(*yt, want.data());
    const std::size_t batch = x.size() / Net::input_size;
    bool ok = batch * Net::input_size == x.size() && batch * Net::output_size == want.size();
    std::vector<float> got(batch * Net::output_size);
    if (ok) net->forward(x.data(), got.data(), batch);
    double max_abs = 0, max_rel = 0;
    for (std::size_t i = 0; ok && i < got.size(); ++i) {
        const double d = std::abs(double(got[i]) - want[i]), m = std::abs(double(want[i]));
        max_abs = std::max(max_abs, d);
        if (m > 1e-3) max_rel = std::max(max_rel, d / m);
        if (!(d <= 1e-5 * std::max(1.0, m))) ok = false;
    }
    std::printf("%s %-60s batch %zu, max abs error %.3g, max rel error (|y| > 1e-3) %.3g\\n", ok ? "PASS" : "FAIL", name,
                batch, max_abs, max_rel);
    return ok;
}

template <class F>
bool guarded(F&& f, const char* name) {
    try {
        return f();
    } catch (const std::exception& e) {
        std::printf("FAIL %s: %s\\n", name, e.what());
        return false;
    }
}

int main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : ".";
    int failed = 0, total = 0;
"""


def write_cpp(path, names, roundtrip):
    with open(path, "w") as f:
        f.write(CPP_HEAD)
        for n in names:
            f.write(f'#include "gen/{n}.hpp"\n')
        if roundtrip:
            f.write(f'#include "{os.path.join(HERE, "export_nets.hpp")}"\n\n')
            f.write("// import after export gives the same type (void: the generator refused the file)\n")
            for base, imported in roundtrip.items():
                f.write(f"using roundtrip_{base} = {imported};\n")
            f.write("#define CTNN_ROUNDTRIP(name, net, imported) \\\n"
                    "    static_assert(std::is_same_v<roundtrip_##name, imported>, \"import after export: \" #name);\n"
                    "CTNN_ONNX_EXPORTED(CTNN_ROUNDTRIP)\n")
        f.write(CPP_BODY)
        for n in names:
            f.write(f'    ++total; failed += !guarded([&] {{ return check<{n}>(dir, "{n}"); }}, "{n}");\n')
        f.write('    std::printf("%d of %d ONNX nets match\\n", total - failed, total);\n    return failed ? 1 : 0;\n}\n')


if __name__ == "__main__":
    sys.exit(main())
