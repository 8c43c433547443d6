// cpu kernel: Upsample<Scale> (nearest). Planes (sample, channel) split over the pool's threads.
// Forward writes each block's first output row from the input row, then copies it Scale - 1 times.
// Backward sums in the reference's order (block rows in order, each left to right, from 0.0f), so
// both backends give the same bits whatever the thread count.
#pragma once
#include <algorithm>

#include "../../layers/upsample.hpp"
#include "../../threads.hpp"
#include "tag.hpp"

namespace ctnn {

template <std::size_t S, class In>
struct kernel<Upsample<S>, In, cpu> : kernel_base {
    static constexpr std::size_t C = In::value.d[0], H = In::value.d[1], W = In::value.d[2];
    static constexpr std::size_t OH = H * S, OW = W * S;
    static constexpr kernel_traits traits{.strided_output = true};

    /// Runs f(plane) for every plane of n samples, split over threads (work ~ output elements).
    template <class F>
    static void planes(std::size_t n, F&& f) {
        const std::size_t P = n * C;
        const std::size_t T = tasks_for(P, double(n) * double(C * OH * OW));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(P, t, T);
            for (std::size_t p = r.begin; p < r.end; ++p) f(p);
        });
    }
    static void forward(const forward_args& a) {
        const std::size_t ys = a.y_step(C * OH * OW);
        planes(a.n, [&](std::size_t p) {
            const float* x = a.x + p * H * W;
            float* y = a.y + p / C * ys + p % C * OH * OW;
            for (std::size_t h = 0; h < H; ++h) {
                float* row = y + h * S * OW;
                for (std::size_t w = 0; w < W; ++w)
                    for (std::size_t k = 0; k < S; ++k) row[w * S + k] = x[h * W + w];
                for (std::size_t k = 1; k < S; ++k) std::copy(row, row + OW, row + k * OW);
            }
        });
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        planes(a.n, [&](std::size_t p) {
            const float* dy = a.dy + p * OH * OW;
            float* dx = a.dx + p * H * W;
            for (std::size_t h = 0; h < H; ++h) {
                float* row = dx + h * W;
                std::fill(row, row + W, 0.0f);
                for (std::size_t kh = 0; kh < S; ++kh) {
                    const float* src = dy + (h * S + kh) * OW;
                    for (std::size_t kw = 0; kw < S; ++kw)
                        for (std::size_t w = 0; w < W; ++w) row[w] += src[w * S + kw];
                }
            }
        });
    }
};

}  // namespace ctnn
