// Per-thread work of MaxPool<K, S>, AvgPool<K, S> and GlobalAvgPool on the GPU.
//   x [n, C, H, W]  y [n, C, OH, OW]; backward gathers (one thread per input element, no atomics).
#pragma once
#include "../../../layers/pool_rule.hpp"
#include "hd.hpp"

namespace ctnn::cuda {

template <std::size_t C_, std::size_t H_, std::size_t W_, std::size_t K_, std::size_t S_>
struct pool_geometry {
    static constexpr std::size_t C = C_, H = H_, W = W_, K = K_, S = S_;
    static constexpr dims out = ctnn::detail::pool_rule<K, S>::output(chw(C, H, W));  // the layers' own rule
    static constexpr std::size_t OH = out.d[1], OW = out.d[2];
    /// The windows (rows or columns) that contain input coordinate i: [first, last).
    static CTNN_HD std::size_t first(std::size_t i) { return i + 1 > K ? (i + 1 - K + S - 1) / S : 0; }
    static CTNN_HD std::size_t last(std::size_t i, std::size_t out) { return i / S + 1 < out ? i / S + 1 : out; }
};

/// MaxPool forward: one thread per output; keeps the first maximum as an index into the H×W map
/// when `arg` is given. A NaN wins, and of several NaNs the last (PyTorch's scan, as the reference).
template <class G>
struct maxpool_forward {
    struct args {
        const float* x;
        float* y;
        float* arg;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * G::C * G::OH * G::OW); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.n * G::C * G::OH * G::OW) return;
        const std::size_t ow = i % G::OW, oh = (i / G::OW) % G::OH, nc = i / (G::OW * G::OH);
        const float* x = a.x + nc * G::H * G::W;
        std::size_t best = oh * G::S * G::W + ow * G::S;
        for (std::size_t kh = 0; kh < G::K; ++kh)
            for (std::size_t kw = 0; kw < G::K; ++kw) {
                const std::size_t j = (oh * G::S + kh) * G::W + ow * G::S + kw;
                if (x[j] > x[best] || is_nan(x[j])) best = j;
            }
        a.y[i] = x[best];
        if (a.arg) a.arg[i] = static_cast<float>(best);
    }
};

/// MaxPool backward: one thread per input element, summing dy of the windows whose argmax it is.
template <class G>
struct maxpool_backward {
    struct args {
        const float* arg;
        const float* dy;
        float* dx;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * G::C * G::H * G::W); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.n * G::C * G::H * G::W) return;
        const std::size_t p = i % (G::H * G::W), nc = i / (G::H * G::W), ih = p / G::W, iw = p % G::W;
        const float me = static_cast<float>(p);
        float acc = 0.0f;
        for (std::size_t oh = G::first(ih); oh < G::last(ih, G::OH); ++oh)
            for (std::size_t ow = G::first(iw); ow < G::last(iw, G::OW); ++ow) {
                const std::size_t o = (nc * G::OH + oh) * G::OW + ow;
                if (a.arg[o] == me) acc += a.dy[o];
            }
        a.dx[i] = acc;
    }
};

template <class G>
struct avgpool_forward {
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
        const float* x = a.x + nc * G::H * G::W;
        float acc = 0.0f;
        for (std::size_t kh = 0; kh < G::K; ++kh)
            for (std::size_t kw = 0; kw < G::K; ++kw) acc += x[(oh * G::S + kh) * G::W + ow * G::S + kw];
        a.y[i] = acc / float(G::K * G::K);
    }
};

template <class G>
struct avgpool_backward {
    struct args {
        const float* dy;
        float* dx;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * G::C * G::H * G::W); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.n * G::C * G::H * G::W) return;
        const std::size_t p = i % (G::H * G::W), nc = i / (G::H * G::W), ih = p / G::W, iw = p % G::W;
        float acc = 0.0f;
        for (std::size_t oh = G::first(ih); oh < G::last(ih, G::OH); ++oh)
            for (std::size_t ow = G::first(iw); ow < G::last(iw, G::OW); ++ow)
                acc += a.dy[(nc * G::OH + oh) * G::OW + ow] / float(G::K * G::K);
        a.dx[i] = acc;
    }
};

/// GlobalAvgPool forward: one block per (sample, channel), threads split the H·W map.
template <std::size_t C, std::size_t HW>
struct global_avgpool_forward {
    using value = float;
    struct args {
        const float* x;
        float* y;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return {static_cast<unsigned>(a.n * C), reduce_threads(HW)}; }
    static CTNN_HD float partial(unsigned b, unsigned t, unsigned nt, const args& a) {
        float acc = 0.0f;
        for (std::size_t i = t; i < HW; i += nt) acc += a.x[std::size_t(b) * HW + i];
        return acc;
    }
    static CTNN_HD void finish(unsigned b, float s, const args& a) { a.y[b] = s / float(HW); }
};

template <std::size_t C, std::size_t HW>
struct global_avgpool_backward {
    struct args {
        const float* dy;
        float* dx;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * C * HW); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i < a.n * C * HW) a.dx[i] = a.dy[i / HW] / float(HW);
    }
};

}  // namespace ctnn::cuda
