// The CUDA backend's block operations (block.hpp's block_ops contract): with them Chain,
// Residual and Concat run on the GPU, their children on their CUDA kernels, on the call's stream.
#pragma once
#if !defined(__CUDACC__) && !defined(CTNN_CUDA_EMULATE)
#error "ctnn/backends/cuda/block_ops.hpp needs nvcc: compile this translation unit as CUDA (a .cu file)"
#endif
#include <cstddef>

#include "../../block.hpp"
#include "kernels.hpp"
#include "launch.hpp"
#include "tag.hpp"
#include "threads/block_ops.hpp"

namespace ctnn {

template <>
struct block_ops<cuda::backend> {
    static void add(float* y, const float* a, const float* b, std::size_t n, void* stream) {
        cuda::launch<cuda::add_arrays>({y, a, b, n}, cuda::stream_of(stream));
    }
    template <bool Gather>
    static void copy_slices(float* dst, const float* src, std::size_t n, std::size_t per, std::size_t stride, void* stream) {
        cuda::launch<cuda::copy_slices<Gather>>({dst, src, n, per, stride}, cuda::stream_of(stream));
    }
};

}  // namespace ctnn
