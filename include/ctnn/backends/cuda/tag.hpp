// The CUDA backend's type, declared: its kernels specialize kernel<Layer, In, cuda::backend>
// (kernels.hpp) and fused<cuda::backend, ...> (fused.hpp). It is defined, with no fallback to the
// host (every layer of a device net needs a CUDA kernel), in backend.hpp after all of them.
#pragma once
#include "../../backend.hpp"

namespace ctnn::cuda {
struct backend;
}  // namespace ctnn::cuda
