// int8 Conv (+ BatchNorm folded into it, + ReLU fused into its requantize): an NHWC im2col per
// group (a 1x1 stride-1 unpadded convolution over a multiple of 4 channels reads its input as
// it is), then the GEMM of gemm.hpp, whose epilogue writes u8 NHWC. Padding is the input's zero
// point (real 0). Any stride, padding, dilation and group count; a depthwise convolution is
// groups of one channel (correct, not fast: K = 9 per group).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../../layers/batchnorm.hpp"
#include "../../layers/conv.hpp"
#include "../../layers/relu.hpp"
#include "../../quant/node.hpp"
#include "../../quant/weights.hpp"

namespace ctnn::quant {

template <class L, dims In, bool BN, bool Relu, class Kern>
struct conv_node {
    static constexpr dims in = In, out = L::output(In);
    static constexpr std::size_t layers = 1 + BN + Relu;
    static constexpr std::size_t C = In.d[0], H = In.d[1], W = In.d[2], OH = out.d[1], OW = out.d[2], Co = L::out_channels;
    static constexpr std::size_t G = L::groups, Cg = C / G, KS = L::kernel_size, S = L::stride, P = L::padding,
                                 D = L::dilation;
    static constexpr std::size_t K = KS * KS * Cg, Kp = int8::round_up(K, 4);
    static constexpr bool direct = KS == 1 && S == 1 && P == 0 && G == 1 && C % 4 == 0;
    static constexpr std::size_t params = param_floats<L>(In) + (BN ? 2 * Co : 0);
    static constexpr std::size_t buffers = BN ? buffer_floats<BatchNorm<Co>>(out) : 0;
    static constexpr std::size_t work = direct ? 0 : slot_bytes(OH * OW * Kp);

    gemm_weights w{Co, K, G, Relu, false};
    observer obs;

    static std::string describe() {
        return L::name() + (BN ? " + BatchNorm (folded)" : "") + (Relu ? " + ReLU" : "") + "  [int8]";
    }

    void calibrate(const float* p, const float* b, const float* x, float* y, std::size_t n, const calib_context& c) {
        run_fp32<L, In>(p, nullptr, x, y, n);
        if constexpr (BN) run_fp32<BatchNorm<Co>, out>(p + param_floats<L>(In), b, y, y, n);
        if constexpr (Relu)
            for (std::size_t i = 0; i < n * out.size(); ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        obs.observe(y, n * out.size(), c.pass);
    }

    template <class M>
    qparams finalize(const float* p, const float* b, qparams in_qp, const M& method) {
        std::vector<float> wf(Co * K), bf(Co);
        fold(p, b, wf.data(), bf.data());
        w.make(wf.data(), bf.data(), in_qp, obs.result(method));
        in_zp_ = std::uint8_t(in_qp.zero_point);
        return w.out;
    }

    void run(const std::uint8_t* x, std::uint8_t* y, std::uint8_t* scratch) const {
        if constexpr (direct) {
            Kern::gemm(w.args(0, x, C, OH * OW, y, nullptr, Co));
        } else {
            for (std::size_t g = 0; g < G; ++g) {
                im2col(x, scratch, g);
                Kern::gemm(w.args(g, scratch, Kp, OH * OW, y, nullptr, Co));
            }
        }
    }

    template <class F>
    void tensors(const std::string& prefix, F&& f) {
        w.tensors(prefix, f);
    }
    qparams loaded(qparams in_qp) {
        in_zp_ = std::uint8_t(in_qp.zero_point);
        w.pack();
        return w.out;
    }

private:
    std::uint8_t in_zp_ = 0;  // the padding's value

    /// The fp32 weights in im2col order [co][kh][kw][ci], BatchNorm folded in.
    static void fold(const float* p, const float* b, float* wf, float* bf) {
        const float* wt = p;  // [Co][Cg][KS][KS]
        const float* bias = p + Co * Cg * KS * KS;
        for (std::size_t o = 0; o < Co; ++o) {
            float s = 1.0f, t = bias[o];
            if constexpr (BN) {
                const float* bn = p + param_floats<L>(In);  // gamma [Co], beta [Co]
                s = bn[o] / std::sqrt(b[Co + o] + BatchNorm<Co>::eps);
                t = (bias[o] - b[o]) * s + bn[Co + o];
            }
            for (std::size_t ci = 0; ci < Cg; ++ci)
                for (std::size_t kh = 0; kh < KS; ++kh)
                    for (std::size_t kw = 0; kw < KS; ++kw)
                        wf[o * K + (kh * KS + kw) * Cg + ci] = wt[((o * Cg + ci) * KS + kh) * KS + kw] * s;
            bf[o] = t;
        }
    }

    /// Rows of Kp bytes, one per output pixel, for group g: the Cg channels at each of the
    /// KS x KS taps (the zero point where a tap falls in the padding), then zeros to Kp. Without
    /// groups and dilation a kernel row's KS taps are KS * C contiguous bytes of x (NHWC): one
    /// copy where the whole kernel row is inside.
    void im2col(const std::uint8_t* x, std::uint8_t* col, std::size_t g) const {
        constexpr bool rows_contiguous = G == 1 && D == 1;
        for (std::size_t oh = 0; oh < OH; ++oh)
            for (std::size_t ow = 0; ow < OW; ++ow) {
                std::uint8_t* row = col + (oh * OW + ow) * Kp;
                const std::ptrdiff_t iw0 = std::ptrdiff_t(ow * S) - std::ptrdiff_t(P);
                const bool inside_w = iw0 >= 0 && iw0 + std::ptrdiff_t((KS - 1) * D) < std::ptrdiff_t(W);
                for (std::size_t kh = 0; kh < KS; ++kh, row += KS * Cg) {
                    const std::ptrdiff_t ih = std::ptrdiff_t(oh * S + kh * D) - std::ptrdiff_t(P);
                    if (ih < 0 || ih >= std::ptrdiff_t(H)) {
                        std::memset(row, in_zp_, KS * Cg);
                        continue;
                    }
                    const std::uint8_t* src = x + std::size_t(ih) * W * C + g * Cg;
                    if (rows_contiguous && inside_w) {
                        std::memcpy(row, src + std::size_t(iw0) * C, KS * Cg);
                        continue;
                    }
                    for (std::size_t kw = 0; kw < KS; ++kw) {
                        const std::ptrdiff_t iw = iw0 + std::ptrdiff_t(kw * D);
                        if (iw < 0 || iw >= std::ptrdiff_t(W)) std::memset(row + kw * Cg, in_zp_, Cg);
                        else std::memcpy(row + kw * Cg, src + std::size_t(iw) * C, Cg);
                    }
                }
                if constexpr (Kp > K) std::memset(row, 0, Kp - K);
            }
    }
};

}  // namespace ctnn::quant
