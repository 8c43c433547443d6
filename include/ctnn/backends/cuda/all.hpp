// The CUDA backend (nvcc only): kernels for every layer, fused groups, the device-side net,
// on-device loss and optimizers, and CUDA Graph capture of the training step.
//   #include <ctnn/ctnn.hpp>
//   #include <ctnn/backends/cuda/all.hpp>   // in a .cu file
// A plain C++ translation unit sees nothing of it (each header stops with an #error), unless it
// defines CTNN_CUDA_EMULATE: the host tests run it on an emulated CUDA runtime (emulation.hpp).
#pragma once
#include "all_kernels.hpp"
#include "device_net.hpp"
#include "launch.hpp"
#include "threads/all.hpp"
