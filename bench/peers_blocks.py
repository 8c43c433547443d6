#!/usr/bin/env python3
"""What a user would pick today, on ResNet-20 and the MobileNetV3-style net (bench/nets.hpp,
examples/resnet.cpp, examples/mobilenet.cpp): current PyTorch eager, inference_mode +
channels_last ("tuned"), torch.compile (inductor) and ONNX Runtime, timed exactly as
/work/shared/bench/peers.py times the two small nets: this script loads that file and runs it
with these nets added to its table. The PyTorch modules come from tools/resnet_params.py (the
same module tree and state_dict names as the ctnn types; every Conv2d with a bias, as ctnn's).

Set-up, once (in the project root; .venv-peers is git-ignored):
    python3 -m venv .venv-peers && .venv-peers/bin/pip install torch onnxruntime onnx onnxscript numpy
Run:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv-peers/bin/python bench/peers_blocks.py --threads 1
    ... --threads 2 --engines ort,compile --nets resnet20
    /usr/bin/python3 bench/peers_blocks.py --threads 1      # Debian's PyTorch 1.13, eager, labelled pt113
bench/compare.py --nets resnet20,mobilenet runs this next to ctnn_bench_nets and prints ratios.

Options are peers.py's (--threads --engines --nets --figures --repeats --scale --label --workdir);
--nets defaults to resnet20,mobilenet. Output: peers.py's, one line per figure,
    <engine> <net>.<figure> <median> [<min>-<max>] n=<repeats>x<iters> ...
and '#' comments. Figures: infer_b1_us, infer_b1_mean_us, infer_b256_img_s(_med), train_b32_img_s(_med);
training is zero_grad, forward, CrossEntropyLoss, backward, Adam(lr=1e-3) with BatchNorm in
training mode; inference in eval mode (BatchNorm with running statistics, foldable by compile / ORT).
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.environ.get("CTNN_PEERS_PY", os.path.join(ROOT, "..", "shared", "bench", "peers.py"))
BLOCK_NETS = ("resnet20", "mobilenet")


def load_peers(argv):
    """Import peers.py as a module with argv as its command line (it parses its arguments and sets
    the thread environment at import, before torch loads)."""
    if "-h" in argv or "--help" in argv:
        print(__doc__)
    if not any(a == "--nets" or a.startswith("--nets=") for a in argv):
        argv = argv + ["--nets", ",".join(BLOCK_NETS)]
    saved = sys.argv
    sys.argv = [PEERS] + argv
    try:
        spec = importlib.util.spec_from_file_location("ctnn_peers", PEERS)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.argv = saved
    return mod


def main():
    peers = load_peers(sys.argv[1:])
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import resnet_params  # noqa: E402  (imports torch: after peers.py set the threads)
    for name in BLOCK_NETS:
        peers.NETS[name] = (getattr(resnet_params, name), (3, 32, 32))
    peers.out(f"# peers.py: {os.path.realpath(PEERS)}; nets from tools/resnet_params.py")
    return peers.main()


if __name__ == "__main__":
    sys.exit(main())
