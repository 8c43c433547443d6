// Per-thread work of Upsample<S> (nearest) on the GPU.
//   x [n, C, H, W]  y [n, C, H S, W S],  y[c, i, j] = x[c, i / S, j / S]
#pragma once
#include "hd.hpp"

namespace ctnn::cuda {

template <std::size_t C_, std::size_t H_, std::size_t W_, std::size_t S_>
struct upsample_geometry {
    static constexpr std::size_t C = C_, H = H_, W = W_, S = S_, OH = H * S, OW = W * S;
};

/// Forward: one thread per output element, a copy of the input pixel it lies over.
template <class G>
struct upsample_forward {
    struct args {
        const float* x;
        float* y;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * G::C * G::OH * G::OW); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.n * G::C * G::OH * G::OW) return;
        const std::size_t ow = i % G::OW, oh = (i / G::OW) % G::OH, nc = i / (G::OW * G::OH);
        a.y[i] = a.x[(nc * G::H + oh / G::S) * G::W + ow / G::S];
    }
};

/// Backward: one thread per input element, the sum of dy over its S×S block in the reference's
/// order (rows in order, each left to right, in float), so the result is the reference's bit for bit.
template <class G>
struct upsample_backward {
    struct args {
        const float* dy;
        float* dx;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * G::C * G::H * G::W); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.n * G::C * G::H * G::W) return;
        const std::size_t w = i % G::W, h = (i / G::W) % G::H, nc = i / (G::W * G::H);
        const float* dy = a.dy + (nc * G::OH + h * G::S) * G::OW + w * G::S;
        float s = 0.0f;
        for (std::size_t kh = 0; kh < G::S; ++kh)
            for (std::size_t kw = 0; kw < G::S; ++kw) s += dy[kh * G::OW + kw];
        a.dx[i] = s;
    }
};

}  // namespace ctnn::cuda
