// Per-thread work of Softmax and Dropout on the GPU.
#pragma once
#include <cstdint>

#include "hd.hpp"

namespace ctnn::cuda {

/// Softmax over the C channels, one thread per (sample, position); inner = H·W or 1.
template <std::size_t C, std::size_t Inner>
struct softmax_forward {
    struct args {
        const float* x;
        float* y;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * Inner); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t k = item(b, t, nt);
        if (k >= a.n * Inner) return;
        const std::size_t o = (k / Inner) * C * Inner + k % Inner;
        float m = a.x[o];
        for (std::size_t c = 1; c < C; ++c) m = a.x[o + c * Inner] > m ? a.x[o + c * Inner] : m;
        float s = 0.0f;
        for (std::size_t c = 0; c < C; ++c) s += ::expf(a.x[o + c * Inner] - m);
        for (std::size_t c = 0; c < C; ++c) a.y[o + c * Inner] = ::expf(a.x[o + c * Inner] - m) / s;
    }
};

template <std::size_t C, std::size_t Inner>
struct softmax_backward {
    struct args {
        const float* y;
        const float* dy;
        float* dx;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * Inner); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t k = item(b, t, nt);
        if (k >= a.n * Inner) return;
        const std::size_t o = (k / Inner) * C * Inner + k % Inner;
        float dot = 0.0f;
        for (std::size_t c = 0; c < C; ++c) dot += a.dy[o + c * Inner] * a.y[o + c * Inner];
        for (std::size_t c = 0; c < C; ++c) a.dx[o + c * Inner] = a.y[o + c * Inner] * (a.dy[o + c * Inner] - dot);
    }
};

/// Dropout (training): mask = 0 with probability p, else 1 / (1 - p), from a counter-based hash
/// of (seed, element); the seed lives in device memory so each replay of a captured step draws
/// a new mask. The mask is kept in `saved` for backward.
template <std::size_t Percent>
struct dropout_forward {
    static constexpr float p = static_cast<float>(Percent) / 100.0f;
    static constexpr float keep_scale = 1.0f / (1.0f - p);
    struct args {
        const float* x;
        float* y;
        float* mask;
        const std::uint64_t* seed;  // device memory
        std::size_t count;          // n · features
    };
    static grid_size grid(const args& a) { return map_grid(a.count); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.count) return;
        const float m = hash_uniform(*a.seed, i) < p ? 0.0f : keep_scale;
        a.mask[i] = m;
        a.y[i] = a.x[i] * m;
    }
};

/// dx = dy · mask (Dropout backward).
struct mask_backward {
    struct args {
        const float* mask;
        const float* dy;
        float* dx;
        std::size_t count;
    };
    static grid_size grid(const args& a) { return map_grid(a.count); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i < a.count) a.dx[i] = a.dy[i] * a.mask[i];
    }
};

}  // namespace ctnn::cuda
