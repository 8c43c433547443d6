// Every CUDA kernel and fused group, then the CUDA backend's type: complete only here, after all
// of them, so a net run on it sees the same kernels in every translation unit.
#pragma once
#include <string_view>

#include "block_ops.hpp"
#include "fused.hpp"
#include "kernels.hpp"
#include "kernels_more.hpp"

namespace ctnn::cuda {

/// The CUDA backend: kernels run on the GPU, on device buffers. It has no fallback: a layer
/// without a CUDA kernel is a compile error naming it (no_kernel_for_layer_on_backend).
struct backend {
    static constexpr std::string_view name = "cuda";
    using fallback = void;
    static constexpr bool on_device = true;  // kernels take device memory (blocks: block_ops.hpp)
};

}  // namespace ctnn::cuda
