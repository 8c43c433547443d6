// Per-thread work of ConvTranspose<Ci, Co, K, S, P, OP> on the GPU. Input pixel (ih, iw) through
// tap (kh, kw) lands on output (ih S + kh - P, iw S + kw - P); every kernel here gathers (the
// forward per output pixel, over the taps whose source pixel exists), so no two threads write one
// element and no atomics are needed.
//   x [n, Ci, H, W]  weight [Ci, Co, K, K] (PyTorch's transposed layout)  bias [Co]
//   y [n, Co, OH, OW]
#pragma once
#include "../../../layers/conv_transpose.hpp"
#include "hd.hpp"

namespace ctnn::cuda {

/// Compile-time geometry of ConvTranspose<Ci, Co, K, S, P, OP> on an H×W input.
template <std::size_t Ci_, std::size_t Co_, std::size_t K_, std::size_t S_, std::size_t P_, std::size_t OP_,
          std::size_t H_, std::size_t W_>
struct tconv_geometry {
    static constexpr std::size_t Ci = Ci_, Co = Co_, K = K_, S = S_, P = P_, OP = OP_, H = H_, W = W_;
    static constexpr dims out = ConvTranspose<Ci, Co, K, S, P, OP>::output(chw(Ci, H, W));  // the layer's own rule
    static constexpr std::size_t OH = out.d[1], OW = out.d[2];
    static constexpr std::size_t weights = Ci * Co * K * K;

    /// The input index that reaches output index o through tap k, or -1 when none does.
    static CTNN_HD std::ptrdiff_t source(std::size_t o, std::size_t k, std::size_t extent) {
        const std::ptrdiff_t t = std::ptrdiff_t(o + P) - std::ptrdiff_t(k);
        if (t < 0 || t % std::ptrdiff_t(S)) return -1;
        return std::size_t(t) / S < extent ? t / std::ptrdiff_t(S) : -1;
    }
    /// The output index input index i reaches through tap k, or -1 when it is cropped away.
    static CTNN_HD std::ptrdiff_t target(std::size_t i, std::size_t k, std::size_t extent) {
        const std::ptrdiff_t o = std::ptrdiff_t(i * S + k) - std::ptrdiff_t(P);
        return o >= 0 && o < std::ptrdiff_t(extent) ? o : -1;
    }
};

/// Forward: one thread per output element, the bias plus every (ci, kh, kw) whose source exists.
template <class G>
struct tconv_forward {
    struct args {
        const float* x;
        const float* params;  // weight then bias
        float* y;             // [n, Co, OH, OW], overwritten
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * G::Co * G::OH * G::OW); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.n * G::Co * G::OH * G::OW) return;
        const std::size_t ow = i % G::OW, oh = (i / G::OW) % G::OH, co = (i / (G::OW * G::OH)) % G::Co;
        const std::size_t nn = i / (G::OW * G::OH * G::Co);
        const float* x = a.x + nn * G::Ci * G::H * G::W;
        float acc = a.params[G::weights + co];
        for (std::size_t ci = 0; ci < G::Ci; ++ci)
            for (std::size_t kh = 0; kh < G::K; ++kh) {
                const std::ptrdiff_t ih = G::source(oh, kh, G::H);
                if (ih < 0) continue;
                for (std::size_t kw = 0; kw < G::K; ++kw) {
                    const std::ptrdiff_t iw = G::source(ow, kw, G::W);
                    if (iw < 0) continue;
                    acc += a.params[((ci * G::Co + co) * G::K + kh) * G::K + kw] *
                           x[(ci * G::H + std::size_t(ih)) * G::W + std::size_t(iw)];
                }
            }
        a.y[i] = acc;
    }
};

/// dx: one thread per input element; a plain strided convolution of dy (the taps it reaches).
template <class G>
struct tconv_backward_dx {
    struct args {
        const float* dy;      // [n, Co, OH, OW]
        const float* params;
        float* dx;            // [n, Ci, H, W], overwritten
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * G::Ci * G::H * G::W); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.n * G::Ci * G::H * G::W) return;
        const std::size_t iw = i % G::W, ih = (i / G::W) % G::H, ci = (i / (G::W * G::H)) % G::Ci;
        const std::size_t nn = i / (G::W * G::H * G::Ci);
        const float* dy = a.dy + nn * G::Co * G::OH * G::OW;
        float acc = 0.0f;
        for (std::size_t co = 0; co < G::Co; ++co)
            for (std::size_t kh = 0; kh < G::K; ++kh) {
                const std::ptrdiff_t oh = G::target(ih, kh, G::OH);
                if (oh < 0) continue;
                for (std::size_t kw = 0; kw < G::K; ++kw) {
                    const std::ptrdiff_t ow = G::target(iw, kw, G::OW);
                    if (ow < 0) continue;
                    acc += a.params[((ci * G::Co + co) * G::K + kh) * G::K + kw] *
                           dy[(co * G::OH + std::size_t(oh)) * G::OW + std::size_t(ow)];
                }
            }
        a.dx[i] = acc;
    }
};

/// dweight and dbias (+=): one block per weight, its threads splitting the n·H·W input positions;
/// then one block per bias, its threads splitting the n·OH·OW output positions.
template <class G>
struct tconv_backward_dparams {
    using value = float;
    struct args {
        const float* x;
        const float* dy;      // [n, Co, OH, OW]
        float* dparams;       // dweight [Ci, Co, K, K] then dbias [Co]
        std::size_t n;
    };
    static grid_size grid(const args& a) {
        const std::size_t longest = G::OH * G::OW > G::H * G::W ? G::OH * G::OW : G::H * G::W;
        return {static_cast<unsigned>(G::weights + G::Co), reduce_threads(a.n * longest)};
    }
    static CTNN_HD float partial(unsigned b, unsigned t, unsigned nt, const args& a) {
        constexpr std::size_t M = G::OH * G::OW, HW = G::H * G::W;
        float acc = 0.0f;
        if (b >= G::weights) {
            const std::size_t co = b - G::weights;
            for (std::size_t j = t; j < a.n * M; j += nt) acc += a.dy[((j / M) * G::Co + co) * M + j % M];
            return acc;
        }
        const std::size_t kw = b % G::K, kh = (b / G::K) % G::K, co = (b / (G::K * G::K)) % G::Co;
        const std::size_t ci = b / (G::K * G::K * G::Co);
        for (std::size_t j = t; j < a.n * HW; j += nt) {
            const std::size_t nn = j / HW, p = j % HW;
            const std::ptrdiff_t oh = G::target(p / G::W, kh, G::OH), ow = G::target(p % G::W, kw, G::OW);
            if (oh < 0 || ow < 0) continue;
            acc += a.x[(nn * G::Ci + ci) * HW + p] * a.dy[((nn * G::Co + co) * G::OH + std::size_t(oh)) * G::OW + std::size_t(ow)];
        }
        return acc;
    }
    static CTNN_HD void finish(unsigned b, float s, const args& a) { a.dparams[b] += s; }
};

}  // namespace ctnn::cuda
