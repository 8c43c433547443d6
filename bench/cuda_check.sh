#!/usr/bin/env bash
# bench/cuda_check.sh: ctnn's CUDA backend on a machine with an NVIDIA GPU (made for an H200 with
# CUDA PyTorch). It
#   1. builds the CUDA tests and examples (CMake, CTNN_CUDA=ON, sm_90 + PTX) and runs them: the
#      device tests must PASS here (skipping counts as a failure on a GPU machine);
#   2. builds bench/cuda_bench.cu and runs it beside `torch_baseline.py --device cuda` (PyTorch
#      eager, cuDNN) in the same run, on the same GPU;
#   3. prints one table: seed CNN and Fashion-MNIST convnet, training images/s at batch 32 and
#      256, inference latency at batch 1 and images/s at batch 256, ctnn vs PyTorch.
#
#   bench/cuda_check.sh [BUILD_DIR]        (default: build-cuda-check in the repository)
# Environment: NVCC (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc), PYTHON (python3),
# CTNN_JOBS (build jobs, default: all cores). Everything it prints is also saved in
# BUILD_DIR/cuda_check.txt.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build-cuda-check}"
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
python="${PYTHON:-python3}"
jobs="${CTNN_JOBS:-$(nproc)}"
[ -x "$nvcc" ] || { echo "cuda_check: no nvcc (set NVCC)"; exit 1; }
mkdir -p "$build"
log="$build/cuda_check.txt"
exec > >(tee "$log") 2>&1

echo "==> GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || { echo "cuda_check: nvidia-smi failed: no GPU?"; exit 1; }

echo "==> build (CTNN_CUDA=ON) and CUDA tests"
t0=$SECONDS
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCTNN_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
    -DCTNN_FUZZ=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target ctnn_cuda_tests cuda_train
echo "build: $((SECONDS - t0)) s"
tests_ok=1
"$build/tests/cuda/ctnn_cuda_tests" | tee "$build/cuda_tests.txt" || tests_ok=0
if grep -q "SKIPPED" "$build/cuda_tests.txt"; then echo "cuda_check: the CUDA tests skipped on a GPU machine"; tests_ok=0; fi
"$build/examples/cuda/cuda_train" "" 1 || true   # smoke run of the example (synthetic data, one epoch)

echo "==> benchmarks"
"$nvcc" -std=c++20 -O3 -arch=sm_90 -diag-suppress=445,1675 -I "$root/include" \
    "$root/bench/cuda_bench.cu" -o "$build/cuda_bench"
baseline="$root/bench/torch_baseline.py"
[ -f "$baseline" ] || baseline="$root/../shared/bench/torch_baseline.py"
"$build/cuda_bench" | tee "$build/ctnn.txt"
"$python" "$baseline" --device cuda | tee "$build/torch.txt"

echo "==> ctnn vs PyTorch (eager, cuDNN) on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
"$python" - "$build/ctnn.txt" "$build/torch.txt" <<'PY'
import sys
def read(path):
    r = {}
    for line in open(path):
        if line.startswith("#"): continue
        p = line.split()
        if len(p) == 3:
            try: r[p[0]] = (float(p[1]), p[2])
            except ValueError: pass
    return r
c, t = read(sys.argv[1]), read(sys.argv[2])
rows = [("train_b32_img_s", "train b32 (img/s)"), ("train_b256_img_s", "train b256 (img/s)"),
        ("train_b32_host_img_s", "train b32, batch from host (img/s)"),
        ("train_b256_host_img_s", "train b256, batch from host (img/s)"),
        ("infer_b1_us", "infer b1 latency (us)"), ("infer_b256_img_s", "infer b256 (img/s)")]
print(f"{'model':<12} {'figure':<38} {'ctnn':>12} {'PyTorch':>12} {'ctnn/PyTorch':>13}")
for net in ("seed_cnn", "fmnist_cnn"):
    for key, label in rows:
        ck = c.get(f"{net}.cuda.{key}")
        tk = t.get(f"{net}.cuda.{key.replace('_host', '')}")
        cs = f"{ck[0]:.1f}" if ck else "-"
        ts = f"{tk[0]:.1f}" if tk else "-"
        if ck and tk:
            ratio = tk[0] / ck[0] if key.endswith("_us") else ck[0] / tk[0]
            rs = f"{ratio:.2f}x"
        else:
            rs = "-"
        print(f"{net:<12} {label:<38} {cs:>12} {ts:>12} {rs:>13}")
print("ratios: higher is better for ctnn (latency: PyTorch time / ctnn time).")
print("PyTorch's figures keep the batch on the GPU; 'batch from host' rows compare ctnn's")
print("host-upload path with the same PyTorch figure. ctnn's b1 latency includes host<->device copies.")
PY
if [ "$tests_ok" -ne 1 ]; then
    echo "cuda_check: the CUDA tests FAILED (see $build/cuda_tests.txt); the timings above are not trustworthy"
    exit 1
fi
echo "cuda_check: CUDA tests passed; log in $log"
