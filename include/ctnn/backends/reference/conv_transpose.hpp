// Reference kernel: ConvTranspose. Direct loops, double accumulators; the definition of correct.
// Input pixel (ih, iw) through tap (kh, kw) lands on output (ih S + kh - P, iw S + kw - P); the
// forward gathers, for each output pixel, the taps whose input pixel exists (oh + P - kh a
// non-negative multiple of S below H S), so each output is one sum and no scatter order matters.
#pragma once
#include <algorithm>
#include <cstddef>

#include "../../backend.hpp"
#include "../../layers/conv_transpose.hpp"

namespace ctnn {

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t OP, class In>
struct kernel<ConvTranspose<Ci, Co, K, S, P, OP>, In, reference> : kernel_base {
    static constexpr std::size_t H = In::value.d[1], W = In::value.d[2];
    static constexpr dims out = ConvTranspose<Ci, Co, K, S, P, OP>::output(In::value);
    static constexpr std::size_t OH = out.d[1], OW = out.d[2];
    // x [n, Ci, H, W]  weight [Ci, Co, K, K]  bias [Co]  y [n, Co, OH, OW]

    /// The input index that reaches output index o through tap k, or -1 when none does.
    static constexpr std::ptrdiff_t source(std::size_t o, std::size_t k, std::size_t extent) {
        const std::ptrdiff_t t = std::ptrdiff_t(o + P) - std::ptrdiff_t(k);
        if (t < 0 || t % std::ptrdiff_t(S)) return -1;
        return std::size_t(t) / S < extent ? t / std::ptrdiff_t(S) : -1;
    }
    /// The output index input index i reaches through tap k, or -1 when it is cropped away.
    static constexpr std::ptrdiff_t target(std::size_t i, std::size_t k, std::size_t extent) {
        const std::ptrdiff_t o = std::ptrdiff_t(i * S + k) - std::ptrdiff_t(P);
        return o >= 0 && o < std::ptrdiff_t(extent) ? o : -1;
    }
    static constexpr std::size_t widx(std::size_t ci, std::size_t co, std::size_t kh, std::size_t kw) {
        return ((ci * Co + co) * K + kh) * K + kw;
    }

    static void forward(const forward_args& a) {
        const float* w = a.params;
        const float* bias = a.params + Ci * Co * K * K;
        for (std::size_t n = 0; n < a.n; ++n) {
            const float* x = a.x + n * Ci * H * W;
            float* y = a.y + n * Co * OH * OW;
            for (std::size_t co = 0; co < Co; ++co)
                for (std::size_t oh = 0; oh < OH; ++oh)
                    for (std::size_t ow = 0; ow < OW; ++ow) {
                        double acc = bias[co];
                        for (std::size_t ci = 0; ci < Ci; ++ci)
                            for (std::size_t kh = 0; kh < K; ++kh) {
                                const std::ptrdiff_t ih = source(oh, kh, H);
                                if (ih < 0) continue;
                                for (std::size_t kw = 0; kw < K; ++kw) {
                                    const std::ptrdiff_t iw = source(ow, kw, W);
                                    if (iw < 0) continue;
                                    acc += double(w[widx(ci, co, kh, kw)]) * x[(ci * H + std::size_t(ih)) * W + std::size_t(iw)];
                                }
                            }
                        y[(co * OH + oh) * OW + ow] = static_cast<float>(acc);
                    }
        }
    }

    static void backward(const backward_args& a) {
        if (a.dx) backward_dx(a);
        if (a.dparams) backward_dparams(a);
    }

    /// dx[ci, ih, iw] = sum over co, kh, kw of w[ci, co, kh, kw] dy[co, target(ih, kh), target(iw, kw)]:
    /// a plain strided convolution of dy.
    static void backward_dx(const backward_args& a) {
        const float* w = a.params;
        for (std::size_t n = 0; n < a.n; ++n) {
            const float* dy = a.dy + n * Co * OH * OW;
            float* dx = a.dx + n * Ci * H * W;
            for (std::size_t ci = 0; ci < Ci; ++ci)
                for (std::size_t ih = 0; ih < H; ++ih)
                    for (std::size_t iw = 0; iw < W; ++iw) {
                        double acc = 0;
                        for (std::size_t co = 0; co < Co; ++co)
                            for (std::size_t kh = 0; kh < K; ++kh) {
                                const std::ptrdiff_t oh = target(ih, kh, OH);
                                if (oh < 0) continue;
                                for (std::size_t kw = 0; kw < K; ++kw) {
                                    const std::ptrdiff_t ow = target(iw, kw, OW);
                                    if (ow < 0) continue;
                                    acc += double(w[widx(ci, co, kh, kw)]) * dy[(co * OH + std::size_t(oh)) * OW + std::size_t(ow)];
                                }
                            }
                        dx[(ci * H + ih) * W + iw] = static_cast<float>(acc);
                    }
        }
    }

    /// dweight[ci, co, kh, kw] += sum over n, ih, iw of x[ci, ih, iw] dy[co, target(ih, kh), target(iw, kw)];
    /// dbias[co] += sum of dy[co]. One += per element, so a second backward doubles exactly.
    static void backward_dparams(const backward_args& a) {
        float* dw = a.dparams;
        float* db = a.dparams + Ci * Co * K * K;
        for (std::size_t co = 0; co < Co; ++co) {
            double bacc = 0;
            for (std::size_t n = 0; n < a.n; ++n)
                for (std::size_t o = 0; o < OH * OW; ++o) bacc += a.dy[(n * Co + co) * OH * OW + o];
            db[co] += static_cast<float>(bacc);
        }
        for (std::size_t ci = 0; ci < Ci; ++ci)
            for (std::size_t co = 0; co < Co; ++co)
                for (std::size_t kh = 0; kh < K; ++kh)
                    for (std::size_t kw = 0; kw < K; ++kw) {
                        double acc = 0;
                        for (std::size_t n = 0; n < a.n; ++n) {
                            const float* x = a.x + (n * Ci + ci) * H * W;
                            const float* dy = a.dy + (n * Co + co) * OH * OW;
                            for (std::size_t ih = 0; ih < H; ++ih) {
                                const std::ptrdiff_t oh = target(ih, kh, OH);
                                if (oh < 0) continue;
                                for (std::size_t iw = 0; iw < W; ++iw) {
                                    const std::ptrdiff_t ow = target(iw, kw, OW);
                                    if (ow < 0) continue;
                                    acc += double(x[ih * W + iw]) * dy[std::size_t(oh) * OW + std::size_t(ow)];
                                }
                            }
                        }
                        dw[widx(ci, co, kh, kw)] += static_cast<float>(acc);
                    }
    }
};

}  // namespace ctnn
