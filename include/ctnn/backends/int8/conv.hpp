// int8 Conv (+ BatchNorm folded into it, + ReLU fused into its requantize, + MaxPool / AvgPool
// fused after it), all of it the GEMM of gemm.hpp, whose epilogue writes u8 NHWC:
//   direct     a 1x1 stride-1 unpadded convolution over a multiple of 4 channels reads its input
//              as it is (one GEMM row per pixel)
//   in place   groups 1, dilation 1: the GEMM reads each output pixel's KS kernel rows (KS * C
//              contiguous bytes each in NHWC) from the input itself, or from a copy padded with the
//              input's zero point (real 0) when there is padding: no im2col. Each kernel row is
//              padded to a multiple of 4 with zero weights, so it may read up to 3 bytes past it
//   im2col     anything else (groups, dilation): rows of Kp bytes per output pixel and group
// With a pooling layer fused, the full-size map is never written: a 2x2 stride-2 MaxPool is taken
// in the GEMM's accumulators (its tile of 4 pixels is one window; the requantize is monotonic, so
// the code of the largest sum is the largest code); any other pooling gets the convolution's rows
// a few at a time (those the next pooled row needs, into a ring of PK rows that stays in L1) and
// pools them with pool_row, the function pool_node runs. Either way the result is the unfused
// one, bit for bit.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "../../layers/avgpool.hpp"
#include "../../layers/batchnorm.hpp"
#include "../../layers/conv.hpp"
#include "../../layers/maxpool.hpp"
#include "../../layers/relu.hpp"
#include "../../quant/node.hpp"
#include "../../quant/weights.hpp"
#include "pooling.hpp"

namespace ctnn::quant {

namespace detail {
/// The pooling fused after a Conv (void: none): its output shape, window and kind.
template <class Pool>
struct fused_pool {
    static constexpr dims output(dims d) { return Pool::output(d); }
    static constexpr std::size_t kernel = Pool::kernel_size, stride = Pool::stride;
    static constexpr bool max = std::is_same_v<Pool, MaxPool<kernel, stride>>;
    static std::string name() { return " + " + Pool::name() + " (fused)"; }
};
template <>
struct fused_pool<void> {
    static constexpr dims output(dims d) { return d; }
    static constexpr std::size_t kernel = 1, stride = 1;
    static constexpr bool max = true;
    static std::string name() { return ""; }
};
}  // namespace detail

template <class L, dims In, bool BN, bool Relu, class Kern, class Pool = void>
struct conv_node {
    using pool = detail::fused_pool<Pool>;
    static constexpr bool pooled = !std::is_void_v<Pool>;
    static constexpr dims in = In, full = L::output(In), out = pool::output(full);
    static constexpr std::size_t layers = 1 + BN + Relu + pooled;
    static constexpr std::size_t C = In.d[0], H = In.d[1], W = In.d[2], OH = full.d[1], OW = full.d[2], Co = L::out_channels;
    static constexpr std::size_t G = L::groups, Cg = C / G, KS = L::kernel_size, S = L::stride, P = L::padding,
                                 D = L::dilation;
    static constexpr std::size_t PK = pool::kernel, PS = pool::stride, PH = out.d[1], PW = out.d[2];
    static constexpr bool max2 = pooled && pool::max && PK == 2 && PS == 2;  // pooled in the accumulators
    static constexpr std::size_t K = KS * KS * Cg;
    static constexpr bool direct = KS == 1 && S == 1 && P == 0 && G == 1 && C % 4 == 0;
    static constexpr bool in_place = !direct && G == 1 && D == 1, padded = in_place && P > 0;
    static_assert(!pooled || G == 1, "a pooling is fused only after an ungrouped Conv");
    static constexpr std::size_t KR = in_place ? KS : 1;  // kernel rows per GEMM row
    static constexpr std::size_t Kp = KR * int8::round_up(K / KR, 4);
    static constexpr std::size_t WP = padded ? W + 2 * P : W;  // (the padded copy's width)
    static constexpr std::size_t prep = direct || (in_place && !padded) ? 0
                                        : in_place                      ? slot_bytes((H + 2 * P) * WP * C)
                                                                        : slot_bytes(OH * OW * Kp);
    static constexpr std::size_t params = param_floats<L>(In) + (BN ? 2 * Co : 0);
    static constexpr std::size_t buffers = BN ? buffer_floats<BatchNorm<Co>>(full) : 0;
    static constexpr std::size_t work = prep + (pooled && !max2 ? slot_bytes(PK * OW * Co) : 0);

    gemm_weights w{Co, K, G, Relu, false, KR};
    observer obs;

    static std::string describe() {
        return L::name() + (BN ? " + BatchNorm (folded)" : "") + (Relu ? " + ReLU" : "") + pool::name() + "  [int8]";
    }

    /// The fp32 layers on n samples; the range observed is the Conv's (+ BN, ReLU) output, which
    /// the pooling keeps.
    void calibrate(const float* p, const float* b, const float* x, float* y, std::size_t n, const calib_context& c) {
        std::vector<float> f(pooled ? n * full.size() : 0);
        float* z = pooled ? f.data() : y;
        run_fp32<L, In>(p, nullptr, x, z, n);
        if constexpr (BN) run_fp32<BatchNorm<Co>, full>(p + param_floats<L>(In), b, z, z, n);
        if constexpr (Relu)
            for (std::size_t i = 0; i < n * full.size(); ++i) z[i] = z[i] > 0.0f ? z[i] : 0.0f;
        obs.observe(z, n * full.size(), c.pass);
        if constexpr (pooled) run_fp32<Pool, full>(nullptr, nullptr, z, y, n);
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
        if constexpr (G > 1) {
            for (std::size_t g = 0; g < G; ++g) {
                im2col(x, scratch, g);
                Kern::gemm(w.args(g, scratch, Kp, OH * OW, y, nullptr, Co));
            }
            return;
        }
        const std::uint8_t* a = x;
        if constexpr (padded) a = pad(x, scratch);
        else if constexpr (!direct && !in_place) im2col(x, scratch, 0), a = scratch;
        if constexpr (!pooled) {
            Kern::gemm(grid(a, 0, OH, y));
        } else if constexpr (max2) {
            int8::gemm_args g = grid(a, 0, 0, y);
            g.max2 = true;
            g.P = PH * PW;
            g.pw = PW;
            Kern::gemm(g);
        } else {
            std::uint8_t* ring = scratch + prep;  // conv row r in slot r % PK
            std::size_t next = 0;                 // the first row not computed yet
            for (std::size_t ph = 0; ph < PH; ++ph) {
                const std::size_t hi = ph * PS + PK;
                for (std::size_t r = std::max(next, ph * PS); r < hi;) {
                    const std::size_t slot = r % PK, n = std::min(hi - r, PK - slot);  // slots that do not wrap
                    Kern::gemm(grid(a, r, n, ring + slot * OW * Co));
                    r += n;
                }
                next = hi;
                const std::uint8_t* rp[PK];
                for (std::size_t kh = 0; kh < PK; ++kh) rp[kh] = ring + (ph * PS + kh) % PK * OW * Co;
                pool_row<pool::max, Co, PK, PS, PW>(rp, y + ph * PW * Co);
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

    /// The GEMM for the convolution's output rows [r0, r0 + n) into y (OW * Co bytes each): a
    /// grid of OW pixels per row over a, which is x itself (direct, or in place without padding),
    /// its padded copy, or its im2col (groups 1).
    int8::gemm_args grid(const std::uint8_t* a, std::size_t r0, std::size_t n, std::uint8_t* y) const {
        int8::gemm_args g = w.args(0, a, Kp, n * OW, y, nullptr, Co);
        g.pw = OW;
        if constexpr (direct) {
            g.a = a + r0 * OW * C;
            g.lda = C;
            g.lda_row = OW * C;
        } else if constexpr (in_place) {
            g.a = a + r0 * S * WP * C;
            g.lda = S * C;           // the next pixel of an output row
            g.lda_row = S * WP * C;  // the next output row
            g.ka = WP * C;           // the next kernel row
        } else {
            g.a = a + r0 * OW * Kp;
            g.lda_row = OW * Kp;
        }
        return g;
    }

    /// x with P pixels of the zero point around it (and 4 zero bytes after: the last kernel row's
    /// padding to 4 may read 3 bytes past the copy; their weights are 0). Returns the copy.
    const std::uint8_t* pad(const std::uint8_t* x, std::uint8_t* p) const {
        constexpr std::size_t row = WP * C, side = P * C;
        std::memset(p, in_zp_, P * row);
        for (std::size_t h = 0; h < H; ++h) {
            std::uint8_t* r = p + (P + h) * row;
            std::memset(r, in_zp_, side);
            std::memcpy(r + side, x + h * W * C, W * C);
            std::memset(r + side + W * C, in_zp_, side);
        }
        std::memset(p + (P + H) * row, in_zp_, P * row);
        std::memset(p + (H + 2 * P) * row, 0, 4);
        return p;
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
