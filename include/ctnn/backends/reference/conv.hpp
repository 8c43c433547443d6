// Reference kernel: Conv. Direct loops, double accumulators; the definition of correct.
// Output channel co belongs to group g = co / Cog and sees input channels [g * Cig, (g + 1) * Cig);
// kernel tap (kh, kw) of output (oh, ow) reads input (oh * S - P + kh * D, ow * S - P + kw * D).
#pragma once
#include <algorithm>

#include "../../backend.hpp"
#include "../../layers/conv.hpp"

namespace ctnn {

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, std::size_t G,
          class In>
struct kernel<Conv<Ci, Co, K, S, P, D, G>, In, reference> : kernel_base {
    static constexpr std::size_t H = In::value.d[1], W = In::value.d[2];
    static constexpr dims out = Conv<Ci, Co, K, S, P, D, G>::output(In::value);
    static constexpr std::size_t OH = out.d[1], OW = out.d[2];
    static constexpr std::size_t Cig = Ci / G, Cog = Co / G;
    // x [n, Ci, H, W]  weight [Co, Cig, K, K]  bias [Co]  y [n, Co, OH, OW]

    /// The input coordinate that tap k of output o reads (may be outside [0, extent)).
    static constexpr std::ptrdiff_t at(std::size_t o, std::size_t k) {
        return std::ptrdiff_t(o * S + k * D) - std::ptrdiff_t(P);
    }
    static constexpr std::size_t widx(std::size_t co, std::size_t c, std::size_t kh, std::size_t kw) {
        return ((co * Cig + c) * K + kh) * K + kw;
    }

    static void forward(const forward_args& a) {
        const float* w = a.params;
        const float* bias = a.params + Co * Cig * K * K;
        for (std::size_t n = 0; n < a.n; ++n) {
            const float* x = a.x + n * Ci * H * W;
            float* y = a.y + n * Co * OH * OW;
            for (std::size_t co = 0; co < Co; ++co)
                for (std::size_t oh = 0; oh < OH; ++oh)
                    for (std::size_t ow = 0; ow < OW; ++ow) {
                        double acc = bias[co];
                        for (std::size_t c = 0; c < Cig; ++c) {
                            const float* xc = x + (co / Cog * Cig + c) * H * W;
                            for (std::size_t kh = 0; kh < K; ++kh) {
                                const std::ptrdiff_t ih = at(oh, kh);
                                if (ih < 0 || ih >= std::ptrdiff_t(H)) continue;
                                for (std::size_t kw = 0; kw < K; ++kw) {
                                    const std::ptrdiff_t iw = at(ow, kw);
                                    if (iw < 0 || iw >= std::ptrdiff_t(W)) continue;
                                    acc += double(w[widx(co, c, kh, kw)]) * xc[ih * std::ptrdiff_t(W) + iw];
                                }
                            }
                        }
                        y[(co * OH + oh) * OW + ow] = static_cast<float>(acc);
                    }
        }
    }

    /// The output index that tap k reaches from input coordinate i, or -1 when none does.
    static constexpr std::ptrdiff_t reached(std::size_t i, std::size_t k, std::size_t extent) {
        const std::ptrdiff_t t = std::ptrdiff_t(i + P) - std::ptrdiff_t(k * D);
        if (t < 0 || t % std::ptrdiff_t(S)) return -1;
        return std::size_t(t) / S < extent ? t / std::ptrdiff_t(S) : -1;
    }

    static void backward_dx(const backward_args& a) {
        const float* w = a.params;
        for (std::size_t n = 0; n < a.n; ++n) {
            const float* dy = a.dy + n * Co * OH * OW;
            float* dx = a.dx + n * Ci * H * W;
            for (std::size_t ci = 0; ci < Ci; ++ci)
                for (std::size_t ih = 0; ih < H; ++ih)
                    for (std::size_t iw = 0; iw < W; ++iw) {
                        double acc = 0;
                        const std::size_t g = ci / Cig, c = ci % Cig;
                        for (std::size_t co = g * Cog; co < (g + 1) * Cog; ++co)
                            for (std::size_t kh = 0; kh < K; ++kh) {
                                const std::ptrdiff_t oh = reached(ih, kh, OH);
                                if (oh < 0) continue;
                                for (std::size_t kw = 0; kw < K; ++kw) {
                                    const std::ptrdiff_t ow = reached(iw, kw, OW);
                                    if (ow < 0) continue;
                                    acc += double(w[widx(co, c, kh, kw)]) * dy[(co * OH + std::size_t(oh)) * OW + std::size_t(ow)];
                                }
                            }
                        dx[(ci * H + ih) * W + iw] = static_cast<float>(acc);
                    }
        }
    }

    static void backward_dparams(const backward_args& a) {
        float* dw = a.dparams;
        float* db = a.dparams + Co * Cig * K * K;
        for (std::size_t co = 0; co < Co; ++co) {
            double bacc = 0;
            for (std::size_t n = 0; n < a.n; ++n)
                for (std::size_t o = 0; o < OH * OW; ++o) bacc += a.dy[(n * Co + co) * OH * OW + o];
            db[co] += static_cast<float>(bacc);
            for (std::size_t c = 0; c < Cig; ++c)
                for (std::size_t kh = 0; kh < K; ++kh)
                    for (std::size_t kw = 0; kw < K; ++kw) {
                        double acc = 0;
                        for (std::size_t n = 0; n < a.n; ++n) {
                            const float* x = a.x + (n * Ci + co / Cog * Cig + c) * H * W;
                            const float* dy = a.dy + (n * Co + co) * OH * OW;
                            for (std::size_t oh = 0; oh < OH; ++oh) {
                                const std::ptrdiff_t ih = at(oh, kh);
                                if (ih < 0 || ih >= std::ptrdiff_t(H)) continue;
                                for (std::size_t ow = 0; ow < OW; ++ow) {
                                    const std::ptrdiff_t iw = at(ow, kw);
                                    if (iw < 0 || iw >= std::ptrdiff_t(W)) continue;
                                    acc += double(x[ih * std::ptrdiff_t(W) + iw]) * dy[oh * OW + ow];
                                }
                            }
                        }
                        dw[widx(co, c, kh, kw)] += static_cast<float>(acc);
                    }
        }
    }

    static void backward(const backward_args& a) {
        if (a.dx) backward_dx(a);
        if (a.dparams) backward_dparams(a);
    }
};

}  // namespace ctnn
