// Per-thread work of the block operations on the GPU (block.hpp's block_ops): the sum of a
// Residual's branches and the channel slices of a Concat. One thread per output element.
#pragma once
#include "hd.hpp"

namespace ctnn::cuda {

/// y[i] = a[i] + b[i], i < n (y may be a or b: each thread reads its own element first).
struct add_arrays {
    struct args {
        float* y;
        const float* a;
        const float* b;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i < a.n) a.y[i] = a.a[i] + a.b[i];
    }
};

/// n samples of `per` floats: from a dense src into dst's samples `stride` apart (Gather: from
/// src's samples `stride` apart into a dense dst).
template <bool Gather>
struct copy_slices {
    struct args {
        float* dst;
        const float* src;
        std::size_t n, per, stride;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * a.per); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.n * a.per) return;
        const std::size_t s = i / a.per, k = i % a.per;
        if constexpr (Gather) a.dst[i] = a.src[s * a.stride + k];
        else a.dst[s * a.stride + k] = a.src[i];
    }
};

}  // namespace ctnn::cuda
