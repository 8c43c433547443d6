// Per-thread work of the general Conv on the GPU: Conv<Ci, Co, K, S, P, D, Gr> with Dilation D > 1
// or Groups Gr > 1 (depthwise included). Conv with D = Gr = 1 runs conv.hpp's kernels (fused with
// its activation); these are the same direct kernels with the two extra index rules:
//   output channel co belongs to group g = co / Cog and reads input channels [g Cig, (g + 1) Cig);
//   tap (kh, kw) of output (oh, ow) reads input (oh S - P + kh D, ow S - P + kw D).
//   x [n, Ci, H, W]  weight [Co, Cig, K, K]  bias [Co]  y [n, Co, OH, OW]
// Not fused: each activation after it runs its own kernel.
#pragma once
#include "../../../layers/conv.hpp"
#include "hd.hpp"

namespace ctnn::cuda {

/// Compile-time geometry of Conv<Ci, Co, K, S, P, D, Gr> on an H×W input.
template <std::size_t Ci_, std::size_t Co_, std::size_t K_, std::size_t S_, std::size_t P_, std::size_t D_,
          std::size_t Gr_, std::size_t H_, std::size_t W_>
struct gconv_geometry {
    static constexpr std::size_t Ci = Ci_, Co = Co_, K = K_, S = S_, P = P_, D = D_, Gr = Gr_, H = H_, W = W_;
    static constexpr std::size_t Cig = Ci / Gr, Cog = Co / Gr;
    static constexpr dims out = Conv<Ci, Co, K, S, P, D, Gr>::output(chw(Ci, H, W));  // the layer's own rule
    static constexpr std::size_t OH = out.d[1], OW = out.d[2];
    static constexpr std::size_t weights = Co * Cig * K * K;

    /// The input coordinate tap k of output o reads (may lie outside [0, extent): padding).
    static CTNN_HD std::ptrdiff_t at(std::size_t o, std::size_t k) {
        return std::ptrdiff_t(o * S + k * D) - std::ptrdiff_t(P);
    }
    /// The output coordinate that reads input coordinate i through tap k, or -1 when none does.
    static CTNN_HD std::ptrdiff_t reached(std::size_t i, std::size_t k, std::size_t extent) {
        const std::ptrdiff_t t = std::ptrdiff_t(i + P) - std::ptrdiff_t(k * D);
        if (t < 0 || t % std::ptrdiff_t(S)) return -1;
        return std::size_t(t) / S < extent ? t / std::ptrdiff_t(S) : -1;
    }
};

/// Forward: one thread per output element, the bias plus the group's Cig·K·K taps.
template <class G>
struct gconv_forward {
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
        const float* w = a.params + co * G::Cig * G::K * G::K;
        const float* x = a.x + (nn * G::Ci + co / G::Cog * G::Cig) * G::H * G::W;  // the group's first channel
        float acc = a.params[G::weights + co];
        for (std::size_t c = 0; c < G::Cig; ++c)
            for (std::size_t kh = 0; kh < G::K; ++kh) {
                const std::ptrdiff_t ih = G::at(oh, kh);
                if (ih < 0 || ih >= std::ptrdiff_t(G::H)) continue;
                for (std::size_t kw = 0; kw < G::K; ++kw) {
                    const std::ptrdiff_t iw = G::at(ow, kw);
                    if (iw < 0 || iw >= std::ptrdiff_t(G::W)) continue;
                    acc += w[(c * G::K + kh) * G::K + kw] * x[(c * G::H + std::size_t(ih)) * G::W + std::size_t(iw)];
                }
            }
        a.y[i] = acc;
    }
};

/// dx: one thread per input element, gathering over the Cog output channels of its group and
/// every tap that reads it (no atomics).
template <class G>
struct gconv_backward_dx {
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
        const std::size_t g = ci / G::Cig, c = ci % G::Cig;
        const float* dy = a.dy + nn * G::Co * G::OH * G::OW;
        float acc = 0.0f;
        for (std::size_t co = g * G::Cog; co < (g + 1) * G::Cog; ++co)
            for (std::size_t kh = 0; kh < G::K; ++kh) {
                const std::ptrdiff_t oh = G::reached(ih, kh, G::OH);
                if (oh < 0) continue;
                for (std::size_t kw = 0; kw < G::K; ++kw) {
                    const std::ptrdiff_t ow = G::reached(iw, kw, G::OW);
                    if (ow < 0) continue;
                    acc += a.params[((co * G::Cig + c) * G::K + kh) * G::K + kw] *
                           dy[(co * G::OH + std::size_t(oh)) * G::OW + std::size_t(ow)];
                }
            }
        a.dx[i] = acc;
    }
};

/// dweight and dbias (+=): one block per weight, then one per bias; each block's threads split
/// the n·OH·OW output positions (consecutive threads read consecutive positions).
template <class G>
struct gconv_backward_dparams {
    using value = float;
    struct args {
        const float* x;
        const float* dy;      // [n, Co, OH, OW]
        float* dparams;       // dweight [Co, Cig, K, K] then dbias [Co]
        std::size_t n;
    };
    static grid_size grid(const args& a) {
        return {static_cast<unsigned>(G::weights + G::Co), reduce_threads(a.n * G::OH * G::OW)};
    }
    static CTNN_HD float partial(unsigned b, unsigned t, unsigned nt, const args& a) {
        constexpr std::size_t M = G::OH * G::OW;
        const std::size_t total = a.n * M;
        float acc = 0.0f;
        if (b >= G::weights) {
            const std::size_t co = b - G::weights;
            for (std::size_t j = t; j < total; j += nt) acc += a.dy[((j / M) * G::Co + co) * M + j % M];
            return acc;
        }
        const std::size_t kw = b % G::K, kh = (b / G::K) % G::K, c = (b / (G::K * G::K)) % G::Cig;
        const std::size_t co = b / (G::K * G::K * G::Cig), ci = co / G::Cog * G::Cig + c;
        for (std::size_t j = t; j < total; j += nt) {
            const std::size_t nn = j / M, o = j % M;
            const std::ptrdiff_t ih = G::at(o / G::OW, kh), iw = G::at(o % G::OW, kw);
            if (ih < 0 || ih >= std::ptrdiff_t(G::H) || iw < 0 || iw >= std::ptrdiff_t(G::W)) continue;
            acc += a.x[((nn * G::Ci + ci) * G::H + std::size_t(ih)) * G::W + std::size_t(iw)] *
                   a.dy[(nn * G::Co + co) * M + o];
        }
        return acc;
    }
    static CTNN_HD void finish(unsigned b, float s, const args& a) { a.dparams[b] += s; }
};

}  // namespace ctnn::cuda
