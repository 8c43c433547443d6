// Per-thread work of Conv on the GPU, with the fused epilogue: Conv + bias + activation A
// (+ a MaxPool<PK, PK> whose windows tile the map exactly, PK = 1 for none) as one kernel.
//   x [n, Ci, H, W]  weight [Co, Ci, K, K]  bias [Co]  conv map [n, Co, OH, OW]
//   pooled y [n, Co, OH / PK, OW / PK]
#pragma once
#include "../../../layers/conv.hpp"
#include "activation.hpp"

namespace ctnn::cuda {

/// Compile-time geometry of Conv<Ci, Co, K, S, P> on an H×W input.
template <std::size_t Ci_, std::size_t Co_, std::size_t K_, std::size_t S_, std::size_t P_, std::size_t H_, std::size_t W_>
struct conv_geometry {
    static constexpr std::size_t Ci = Ci_, Co = Co_, K = K_, S = S_, P = P_, H = H_, W = W_;
    static constexpr dims out = Conv<Ci, Co, K, S, P>::output(chw(Ci, H, W));  // the layer's own rule
    static constexpr std::size_t OH = out.d[1], OW = out.d[2];
    static constexpr std::size_t weights = Co * Ci * K * K;
};

/// Forward: one thread per element of the (pooled) output. Each computes the PK×PK conv values
/// of its window, applies bias and A, keeps the first maximum (a NaN wins, and of several NaNs the
/// last, as PyTorch and the reference MaxPool), and writes
/// the post-activation map `act` (training: backward needs it) and the argmax `arg` if asked.
template <class G, class A, std::size_t PK>
struct conv_forward {
    static_assert(G::OH % PK == 0 && G::OW % PK == 0, "ctnn cuda: a fused pool must tile the conv map");
    static constexpr std::size_t PH = G::OH / PK, PW = G::OW / PK;
    struct args {
        const float* x;
        const float* params;  // weight then bias
        float* y;             // [n, Co, PH, PW]
        float* act;           // [n, Co, OH, OW] post-activation, or null (inference)
        float* arg;           // [n, Co, PH, PW] argmax within the OH×OW map, or null
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * G::Co * PH * PW); }
    static CTNN_HD float conv_at(const args& a, std::size_t nn, std::size_t co, std::size_t oh, std::size_t ow) {
        const float* w = a.params + co * G::Ci * G::K * G::K;
        const float* x = a.x + nn * G::Ci * G::H * G::W;
        float acc = a.params[G::weights + co];
        for (std::size_t ci = 0; ci < G::Ci; ++ci)
            for (std::size_t kh = 0; kh < G::K; ++kh) {
                const std::ptrdiff_t ih = std::ptrdiff_t(oh * G::S + kh) - std::ptrdiff_t(G::P);
                if (ih < 0 || ih >= std::ptrdiff_t(G::H)) continue;
                for (std::size_t kw = 0; kw < G::K; ++kw) {
                    const std::ptrdiff_t iw = std::ptrdiff_t(ow * G::S + kw) - std::ptrdiff_t(G::P);
                    if (iw < 0 || iw >= std::ptrdiff_t(G::W)) continue;
                    acc += w[(ci * G::K + kh) * G::K + kw] * x[(ci * G::H + std::size_t(ih)) * G::W + std::size_t(iw)];
                }
            }
        return acc;
    }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.n * G::Co * PH * PW) return;
        const std::size_t pw = i % PW, ph = (i / PW) % PH, co = (i / (PW * PH)) % G::Co, nn = i / (PW * PH * G::Co);
        float best = 0.0f;
        std::size_t best_at = 0;
        for (std::size_t dh = 0; dh < PK; ++dh)
            for (std::size_t dw = 0; dw < PK; ++dw) {
                const std::size_t oh = ph * PK + dh, ow = pw * PK + dw;
                const float v = A::f(conv_at(a, nn, co, oh, ow));
                if (a.act) a.act[((nn * G::Co + co) * G::OH + oh) * G::OW + ow] = v;
                if ((dh == 0 && dw == 0) || v > best || is_nan(v)) {
                    best = v;
                    best_at = oh * G::OW + ow;
                }
            }
        a.y[i] = best;
        if (PK > 1 && a.arg) a.arg[i] = static_cast<float>(best_at);
    }
};

/// Backward of the fused epilogue: one thread per conv-map element, d(pre-activation) from the
/// pooled gradient (only the window's argmax receives it) and A's derivative at the output.
template <class G, class A, std::size_t PK>
struct conv_epilogue_backward {
    static constexpr std::size_t PH = G::OH / PK, PW = G::OW / PK;
    struct args {
        const float* act;  // [n, Co, OH, OW] post-activation
        const float* arg;  // [n, Co, PH, PW] argmax (PK > 1)
        const float* dy;   // [n, Co, PH, PW]
        float* dpre;       // [n, Co, OH, OW]
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * G::Co * G::OH * G::OW); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.n * G::Co * G::OH * G::OW) return;
        float g;
        if constexpr (PK == 1) {
            g = a.dy[i];
        } else {
            const std::size_t o = i % (G::OH * G::OW), nc = i / (G::OH * G::OW);
            const std::size_t oh = o / G::OW, ow = o % G::OW;
            const std::size_t j = nc * PH * PW + (oh / PK) * PW + ow / PK;
            g = a.arg[j] == static_cast<float>(o) ? a.dy[j] : 0.0f;
        }
        a.dpre[i] = A::df(a.act[i], g);
    }
};

/// dx: one thread per input element, gathering over every output that reads it.
template <class G>
struct conv_backward_dx {
    struct args {
        const float* dy;      // [n, Co, OH, OW] (pre-activation gradient)
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
                const std::ptrdiff_t th = std::ptrdiff_t(ih + G::P) - std::ptrdiff_t(kh);
                if (th < 0 || th % std::ptrdiff_t(G::S)) continue;
                const std::size_t oh = std::size_t(th) / G::S;
                if (oh >= G::OH) continue;
                for (std::size_t kw = 0; kw < G::K; ++kw) {
                    const std::ptrdiff_t tw = std::ptrdiff_t(iw + G::P) - std::ptrdiff_t(kw);
                    if (tw < 0 || tw % std::ptrdiff_t(G::S)) continue;
                    const std::size_t ow = std::size_t(tw) / G::S;
                    if (ow >= G::OW) continue;
                    acc += a.params[((co * G::Ci + ci) * G::K + kh) * G::K + kw] * dy[(co * G::OH + oh) * G::OW + ow];
                }
            }
        a.dx[i] = acc;
    }
};

/// dweight and dbias (+=): one block per weight, then one per bias; each block's threads split
/// the n·OH·OW positions (consecutive threads read consecutive positions).
template <class G>
struct conv_backward_dparams {
    using value = float;
    struct args {
        const float* x;
        const float* dy;      // pre-activation gradient [n, Co, OH, OW]
        float* dparams;       // dweight [Co, Ci, K, K] then dbias [Co]
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
        const std::size_t kw = b % G::K, kh = (b / G::K) % G::K, ci = (b / (G::K * G::K)) % G::Ci;
        const std::size_t co = b / (G::K * G::K * G::Ci);
        for (std::size_t j = t; j < total; j += nt) {
            const std::size_t nn = j / M, o = j % M, oh = o / G::OW, ow = o % G::OW;
            const std::ptrdiff_t ih = std::ptrdiff_t(oh * G::S + kh) - std::ptrdiff_t(G::P);
            const std::ptrdiff_t iw = std::ptrdiff_t(ow * G::S + kw) - std::ptrdiff_t(G::P);
            if (ih < 0 || ih >= std::ptrdiff_t(G::H) || iw < 0 || iw >= std::ptrdiff_t(G::W)) continue;
            acc += a.x[((nn * G::Ci + ci) * G::H + std::size_t(ih)) * G::W + std::size_t(iw)] *
                   a.dy[(nn * G::Co + co) * M + o];
        }
        return acc;
    }
    static CTNN_HD void finish(unsigned b, float s, const args& a) { a.dparams[b] += s; }
};

}  // namespace ctnn::cuda
