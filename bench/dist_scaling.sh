#!/usr/bin/env bash
# bench/dist_scaling.sh [STEPS]: data-parallel scaling on this machine at a global batch of 64,
# for the seed CNN and Fashion-MNIST's convnet (bench/nets.hpp): 1 process x 1 thread,
# 2 processes x 1 thread (MPI, ctnn::dist), 1 process x 2 threads. Each line: ms per step,
# bytes all-reduced per step and rank, the share of the step spent waiting on communication,
# and the compute time per step (docs/distributed.md's cost model takes it: tools/dist_model.py).
# Needs OpenMPI (libopenmpi-dev openmpi-bin). Builds bench/dist_scaling.cpp with mpicxx -O2.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
steps="${1:-50}"
out="${CTNN_BUILD_ROOT:-$root/build}/dist_scaling"
mkdir -p "$(dirname "$out")"
mpicxx -std=c++20 -O2 -DNDEBUG -march=native -I"$root/include" "$root/bench/dist_scaling.cpp" -o "$out" -lz -pthread
mpirun=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $steps timed steps"
for net in seed fmnist; do
    "${mpirun[@]}" -np 1 "$out" "$net" 1 "$steps"
    "${mpirun[@]}" -np 2 "$out" "$net" 1 "$steps"
    "${mpirun[@]}" -np 1 "$out" "$net" 2 "$steps"
done
