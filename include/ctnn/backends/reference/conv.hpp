// Reference kernel: Conv. Direct loops, double accumulators; the definition of correct.
#pragma once
#include <algorithm>

#include "../../backend.hpp"
#include "../../layers/conv.hpp"

namespace ctnn {

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, class In>
struct kernel<Conv<Ci, Co, K, S, P>, In, reference> : kernel_base {
    static constexpr std::size_t H = In::value.d[1], W = In::value.d[2];
    static constexpr dims out = Conv<Ci, Co, K, S, P>::output(In::value);
    static constexpr std::size_t OH = out.d[1], OW = out.d[2];
    // x [n, Ci, H, W]  weight [Co, Ci, K, K]  bias [Co]  y [n, Co, OH, OW]

    static void forward(const forward_args& a) {
        const float* w = a.params;
        const float* bias = a.params + Co * Ci * K * K;
        for (std::size_t n = 0; n < a.n; ++n) {
            const float* x = a.x + n * Ci * H * W;
            float* y = a.y + n * Co * OH * OW;
            for (std::size_t co = 0; co < Co; ++co)
                for (std::size_t oh = 0; oh < OH; ++oh)
                    for (std::size_t ow = 0; ow < OW; ++ow) {
                        double acc = bias[co];
                        for (std::size_t ci = 0; ci < Ci; ++ci)
                            for (std::size_t kh = 0; kh < K; ++kh) {
                                const std::ptrdiff_t ih = std::ptrdiff_t(oh * S + kh) - std::ptrdiff_t(P);
                                if (ih < 0 || ih >= std::ptrdiff_t(H)) continue;
                                for (std::size_t kw = 0; kw < K; ++kw) {
                                    const std::ptrdiff_t iw = std::ptrdiff_t(ow * S + kw) - std::ptrdiff_t(P);
                                    if (iw < 0 || iw >= std::ptrdiff_t(W)) continue;
                                    acc += double(w[((co * Ci + ci) * K + kh) * K + kw]) * x[(ci * H + ih) * W + iw];
                                }
                            }
                        y[(co * OH + oh) * OW + ow] = static_cast<float>(acc);
                    }
        }
    }

    static void backward(const backward_args& a) {
        const float* w = a.params;
        if (a.dx) {
            std::fill(a.dx, a.dx + a.n * Ci * H * W, 0.0f);
            for (std::size_t n = 0; n < a.n; ++n) {
                const float* dy = a.dy + n * Co * OH * OW;
                float* dx = a.dx + n * Ci * H * W;
                for (std::size_t ci = 0; ci < Ci; ++ci)
                    for (std::size_t ih = 0; ih < H; ++ih)
                        for (std::size_t iw = 0; iw < W; ++iw) {
                            double acc = 0;
                            for (std::size_t co = 0; co < Co; ++co)
                                for (std::size_t kh = 0; kh < K; ++kh) {
                                    const std::ptrdiff_t t = std::ptrdiff_t(ih + P) - std::ptrdiff_t(kh);
                                    if (t < 0 || t % std::ptrdiff_t(S)) continue;
                                    const std::size_t oh = std::size_t(t) / S;
                                    if (oh >= OH) continue;
                                    for (std::size_t kw = 0; kw < K; ++kw) {
                                        const std::ptrdiff_t u = std::ptrdiff_t(iw + P) - std::ptrdiff_t(kw);
                                        if (u < 0 || u % std::ptrdiff_t(S)) continue;
                                        const std::size_t ow = std::size_t(u) / S;
                                        if (ow >= OW) continue;
                                        acc += double(w[((co * Ci + ci) * K + kh) * K + kw]) * dy[(co * OH + oh) * OW + ow];
                                    }
                                }
                            dx[(ci * H + ih) * W + iw] = static_cast<float>(acc);
                        }
            }
        }
        if (a.dparams) {
            float* dw = a.dparams;
            float* db = a.dparams + Co * Ci * K * K;
            for (std::size_t co = 0; co < Co; ++co) {
                double bacc = 0;
                for (std::size_t n = 0; n < a.n; ++n)
                    for (std::size_t o = 0; o < OH * OW; ++o) bacc += a.dy[(n * Co + co) * OH * OW + o];
                db[co] += static_cast<float>(bacc);
                for (std::size_t ci = 0; ci < Ci; ++ci)
                    for (std::size_t kh = 0; kh < K; ++kh)
                        for (std::size_t kw = 0; kw < K; ++kw) {
                            double acc = 0;
                            for (std::size_t n = 0; n < a.n; ++n) {
                                const float* x = a.x + (n * Ci + ci) * H * W;
                                const float* dy = a.dy + (n * Co + co) * OH * OW;
                                for (std::size_t oh = 0; oh < OH; ++oh) {
                                    const std::ptrdiff_t ih = std::ptrdiff_t(oh * S + kh) - std::ptrdiff_t(P);
                                    if (ih < 0 || ih >= std::ptrdiff_t(H)) continue;
                                    for (std::size_t ow = 0; ow < OW; ++ow) {
                                        const std::ptrdiff_t iw = std::ptrdiff_t(ow * S + kw) - std::ptrdiff_t(P);
                                        if (iw < 0 || iw >= std::ptrdiff_t(W)) continue;
                                        acc += double(x[ih * W + iw]) * dy[oh * OW + ow];
                                    }
                                }
                            }
                            dw[((co * Ci + ci) * K + kh) * K + kw] += static_cast<float>(acc);
                        }
            }
        }
    }
};

}  // namespace ctnn
