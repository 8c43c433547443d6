// cpu kernel: Conv with stride 1, dilation 1 and one group (the others: conv_gemm.hpp).
//
// "Shifted-plane" implicit GEMM, no im2col. The input is copied once into a zero-padded plane
// per channel, Hp x Wp. Output row oh, column ow is computed at flat position p = oh * Wp + ow, so
// the term of weight (ci, kh, kw) for every p is the padded plane read at p + kh * Wp + kw: a
// contiguous row. Forward is then  Y'[co, p] = bias[co] + sum_k W[co, k] * X(k)[p]  with the
// bcast_gemm micro-kernel (Co rows x a few vectors of p per register tile, chosen from the
// shapes at compile time); the (Wp - OW) extra columns per row are computed and dropped by the
// epilogue, which also applies a fused activation and max pool.
// Backward uses the same trick: dX is the full correlation of dY (zero-padded the same way) with
// the weights, dW[co, k] = sum_p dY'[co, p] X(k)[p] (formed against dY transposed, Co across the
// vector), accumulated per thread over its samples and summed in thread order (conv_backward.hpp).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../backend.hpp"
#include "../../layers/conv.hpp"
#include "../../threads.hpp"
#include "epilogue.hpp"
#include "gemm.hpp"
#include "tag.hpp"
#include "winograd.hpp"
#include "winograd4.hpp"

namespace ctnn::cpu_detail {

constexpr std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

/// The sum of n contiguous floats: four vector accumulators, then the scalar tail (a fixed order:
/// the same bits for the same data).
template <std::size_t n>
inline float contiguous_sum(const float* p) {
    constexpr std::size_t n4 = n / (4 * W) * (4 * W), n1 = n / W * W;
    V::type s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
    if constexpr (n4 > 0)
        for (std::size_t i = 0; i < n4; i += 4 * W) {
            s0 = s0 + V::load(p + i);
            s1 = s1 + V::load(p + i + W);
            s2 = s2 + V::load(p + i + 2 * W);
            s3 = s3 + V::load(p + i + 3 * W);
        }
    if constexpr (n1 > n4)
        for (std::size_t i = n4; i < n1; i += W) s0 = s0 + V::load(p + i);
    float t = V::sum((s0 + s1) + (s2 + s3));
    for (std::size_t i = n1; i < n; ++i) t += p[i];
    return t;
}

template <class C>
struct conv_s1_one;  // a single sample split over threads (conv_one_sample.hpp)

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t P, class In>
struct conv_s1 {
    static constexpr std::size_t Cin = Ci, Cout = Co;
    static constexpr std::size_t H = In::value.d[1], Wd = In::value.d[2];
    static constexpr std::size_t Hp = H + 2 * P, Wp = Wd + 2 * P, OH = Hp - K + 1, OW = Wp - K + 1;
    static constexpr std::size_t KK = K * K, Kd = Ci * KK, plane = Hp * Wp, N = OH * Wp;

    // forward: Y' [Co, Npad] = W [Co, Kd] x X [Kd, Npad]
    using fwd_flat = bcast_blocking<Co, N, 15>;
    static constexpr std::size_t Npad = round_up(N, fwd_flat::NV * W);
    // Compact columns: when the (Wp - OW) extra columns per row of the flat layout cost more
    // than copying the shifted rows into an im2col matrix Xc [Kd, Ncpad] (OH * OW columns, rows
    // of OW), a GEMM runs on Xc instead. Xc lives in L2 where the padded planes fit in L1, so
    // the forward GEMM switches only for a large saving (14x14 maps padded to 18 wide: 224
    // columns instead of 256); the dW sums, which also skip a copy of dY, switch for any.
    static constexpr std::size_t Nc = OH * OW;
    using fwd_compact = bcast_blocking<Co, Nc, 15>;
    static constexpr std::size_t Ncpad = round_up(Nc, fwd_compact::NV * W);
    static constexpr bool compact = double(Ncpad) * 1.10 < double(Npad);  // forward on Xc
    static constexpr bool compact_dw = double(Nc) * 1.03 < double(N);    // dW on Xc
    using fwd = std::conditional_t<compact, fwd_compact, fwd_flat>;
    static constexpr std::size_t Ny = compact ? Ncpad : Npad;  // columns of Y'
    static constexpr std::size_t pitch = compact ? OW : Wp;    // output row stride inside Y'
    static constexpr std::size_t xc_size = compact || compact_dw ? align_floats(Kd * Ncpad) : 0;
    // A 1x1 convolution without padding: its GEMM reads the input as it is (no padded copy) over
    // exactly N columns, a block of rows at a time, and the epilogue runs on each block right
    // after the GEMM wrote it, while it is in L1. The GEMM writes the output in place where its
    // columns fill whole register tiles, else a block of Y' rows that the epilogue copies. Not
    // where input rows lie a multiple of 4 KiB apart (32 x 32 maps): reading them in place was
    // measured 1.5x slower than through the padded copy (docs/benchmarks.md).
    static constexpr bool pointwise = K == 1 && P == 0 && !compact && N % 1024 != 0;
    static constexpr bool pointwise_in_place = pointwise && Npad == N;
    static constexpr std::size_t xp_size =
        align_floats(std::max(Ci * plane, (Ci - 1) * plane + (K - 1) * Wp + (K - 1) + Npad) + W);
    static constexpr std::array<std::size_t, Kd> boff = [] {
        std::array<std::size_t, Kd> o{};
        for (std::size_t ci = 0; ci < Ci; ++ci)
            for (std::size_t kh = 0; kh < K; ++kh)
                for (std::size_t kw = 0; kw < K; ++kw) o[(ci * K + kh) * K + kw] = ci * plane + kh * Wp + kw;
        return o;
    }();

    // backward dW: dW^T [Kd, Copad] += X [Kd, N] x dY^T [N, Copad], or, when the planes are
    // long (first layers: few channels, large maps), as dot products of the zero-padded dY' rows
    // with the shifted input rows, which needs no transpose of dY.
    static constexpr std::size_t Copad = round_up(Co, W);
    static constexpr std::size_t Nd = compact_dw ? Nc : N;  // the dW sums' length
    static constexpr bool dw_dot = Nd >= 40 * W;
    static constexpr std::size_t dot_r = 2, dot_c = V::registers >= 32 ? 8 : 4;  // the best of the tiles tried (docs/benchmarks.md)
    using dwb = bcast_blocking<Kd, Copad>;
    static constexpr std::size_t part_size = align_floats(Kd * Copad + Copad);
    // backward dX: dX' [Ci, Qpad] = W' [Ci, Co*KK] x dY'' [Co*KK, Qpad]
    using dxb = bcast_blocking<Ci, H * Wp>;
    static constexpr std::size_t Qpad = round_up(H * Wp, dxb::NV * W), q0 = P * Wp;
    static constexpr std::size_t G = (K - 1) * (Wp + 1) > q0 ? (K - 1) * (Wp + 1) - q0 : 0;
    static constexpr std::size_t L = align_floats(std::max(G + q0 + Qpad, G + N) + W);
    static constexpr std::array<std::size_t, Co * KK> aoff = [] {
        std::array<std::size_t, Co * KK> o{};
        for (std::size_t co = 0; co < Co; ++co)
            for (std::size_t k = 0; k < KK; ++k) o[co * KK + k] = co * Ci * KK + k;
        return o;
    }();
    static constexpr std::array<std::size_t, Co * KK> boff2 = [] {
        std::array<std::size_t, Co * KK> o{};
        for (std::size_t co = 0; co < Co; ++co)
            for (std::size_t kh = 0; kh < K; ++kh)
                for (std::size_t kw = 0; kw < K; ++kw) o[(co * K + kh) * K + kw] = co * L + G + q0 - kh * Wp - kw;
        return o;
    }();

    static constexpr std::size_t fwd_scratch = xp_size + xc_size + align_floats(Co * Ny);
    static constexpr std::size_t bwd_scratch =
        xp_size + xc_size + align_floats(Co * L) + align_floats(Ci * Qpad) + align_floats(Nd * Copad);

    // Winograd F(2x2, rxr) (winograd.hpp) and F(4x4, rxr) (winograd4.hpp) for 3x3 and 5x5 kernels with at least
    // 8 input and output channels: the forward pass, dX (the full correlation of dY with the flipped kernels) and dW.
    // Its GEMMs are Co x Ci (forward), Ci x Co (dX) and Ci x Co (dW) per tile position, so with
    // few channels they starve: on the seed CNN's first layer (3 -> 16) Winograd is no faster
    // than the direct path and its dX slower; on the second (16 -> 32) it is faster both ways
    // (docs/benchmarks.md, "Design measurements"). The Winograd scratch follows the direct
    // path's, so a sample that falls back to the direct path (a non-finite value) leaves it intact.
    static constexpr bool wino_k = K == 3 || K == 5;
    static constexpr bool wino_fwd = wino_k && Ci >= 8 && Co >= 8 && OH >= 2 && OW >= 2;
    static constexpr bool wino_dx = wino_k && P <= K - 1 && Ci >= 8 && Co >= 8 && H >= 2 && Wd >= 2;
    // dW by Winograd (F(rxr, 2x2) or F(rxr, 4x4), on the forward's input transform), where the forward uses it:
    // with 3 input channels (the seed CNN's first layer) its GEMMs are 3 rows deep and latency
    // bound, and forming dY's transform costs more than it saves
    static constexpr bool wino_dw = wino_fwd;
    // The forward, dX and dW use F(4x4) tiles (winograd4.hpp) where their GEMMs do at most 3/4
    // of F(2x2)'s multiplies (small maps, tiles across the vector: the Fashion-MNIST and seed
    // CNNs' second convs).
    static constexpr std::size_t Pdx = P <= K - 1 ? K - 1 - P : 0;  // dX's padding
    static constexpr bool wino4_fwd = wino_fwd && wino4_pays<K>(OH, OW);
    static constexpr bool wino4_dx = wino_dx && wino4_pays<K>(H, Wd);
    static constexpr bool wino4_dw = wino_dw && wino4_pays<K>(OH, OW);
    using wf2 = std::conditional_t<wino_fwd || wino_dw, winograd<Ci, Co, H, Wd, P, K>, void>;
    using wff = std::conditional_t<wino4_fwd, winograd4<Ci, Co, H, Wd, P, K>, wf2>;  // forward
    using wf = std::conditional_t<wino4_dw, winograd4<Ci, Co, H, Wd, P, K>, wf2>;    // dW
    using wb = std::conditional_t<wino_dx, std::conditional_t<wino4_dx, winograd4<Co, Ci, OH, OW, Pdx, K>, winograd<Co, Ci, OH, OW, Pdx, K>>, void>;
    template <class Wg>
    static constexpr std::size_t wino_scratch() {
        if constexpr (std::is_void_v<Wg>) return 0;
        else return Wg::scratch_floats;
    }
    template <class Wg>
    static constexpr std::size_t wino_dw_scratch() {
        if constexpr (std::is_void_v<Wg>) return 0;
        else return Wg::dw_scratch_floats;
    }
    // A sample split over threads shares its transformed input V, kept after the calling
    // thread's own forward scratch (conv_one_sample.hpp).
    template <class Wg>
    static constexpr std::size_t wino_shared() {
        if constexpr (std::is_void_v<Wg>) return 0;
        else return Wg::v_size;
    }
    static constexpr std::size_t scratch_floats =
        std::max(fwd_scratch + wino_scratch<wff>() + wino_shared<wff>(),
                 bwd_scratch + wino_scratch<wb>() + wino_dw_scratch<wf>() + align_floats(Co * OH * OW));
    static constexpr std::size_t shared_floats_per_task = part_size;

    static void load_padded(const float* x, float* xp) {
        for (std::size_t ci = 0; ci < Ci; ++ci)
            for (std::size_t h = 0; h < H; ++h)
                std::memcpy(xp + ci * plane + (h + P) * Wp + P, x + (ci * H + h) * Wd, Wd * sizeof(float));
    }

    /// Zeroes the padded planes' borders (all of xp) and Xc's padding columns [Nc, Ncpad).
    static void clear_scratch(float* xp, float* xc) {
        std::fill(xp, xp + xp_size, 0.0f);
        if constexpr (xc_size > 0 && Ncpad > Nc)
            for (std::size_t k = 0; k < Kd; ++k) std::fill(xc + k * Ncpad + Nc, xc + (k + 1) * Ncpad, 0.0f);
    }
    /// Xc from the padded planes: row k holds the OH rows of OW values that weight k meets.
    static void load_columns(const float* xp, float* xc) {
        for (std::size_t k = 0; k < Kd; ++k)
            for (std::size_t oh = 0; oh < OH; ++oh)
                std::memcpy(xc + k * Ncpad + oh * OW, xp + boff[k] + oh * Wp, OW * sizeof(float));
    }

    template <class Pool>  // the fused pool's output, by the MaxPool layer's own rule
    static constexpr std::size_t out_h = Pool::K == 1 ? OH : MaxPool<Pool::K, Pool::S>::output(chw(Co, OH, OW)).d[1];
    template <class Pool>
    static constexpr std::size_t out_w = Pool::K == 1 ? OW : MaxPool<Pool::K, Pool::S>::output(chw(Co, OH, OW)).d[2];

    /// y [n, Co, ...] for the samples [b, e) of x, with activation Act and pool Pool.
    /// With max_pool_saving, saved [n, Co, PH, PW] gets the index of each window's maximum.
    /// add: forward_args::addend (no pool), or null. ys: y's sample stride (forward_args::y_stride;
    /// 0: dense); saved and add are dense.
    template <class Act, class Pool>
    static void forward_samples(const float* x, float* y, const float* w, const float* bias, std::size_t b,
                                std::size_t e, float* saved = nullptr, const float* add = nullptr, std::size_t ys = 0) {
        constexpr std::size_t out_size = Co * out_h<Pool> * out_w<Pool>;
        if (ys == 0) ys = out_size;
        float* xp = detail::work_scratch(scratch_floats);
        if constexpr (!(pointwise && Pool::K == 1)) clear_scratch(xp, xp + xp_size);  // (a pointwise one reads none)
        for (std::size_t n = b; n < e; ++n)
            direct_sample<Act, Pool, fwd>(x + n * Ci * H * Wd, y + n * ys, w, bias, 0, Co,
                                          saves_index<Pool> ? saved + n * out_size : nullptr, xp,
                                          add ? add + n * out_size : nullptr);
    }

    /// The output channels [co0, co1) of one sample, xn [Ci, H, Wd] to yn [Co, PH, PW] (sn: its
    /// saved pool indices), through this thread's scratch xp (cleared by clear_scratch), by a
    /// GEMM with blocking Blk (any: every value is the same fma chain whatever the tile).
    /// With a folded BatchNorm (epilogue.hpp), bias is its coefficients; an: the sample's addend
    /// (forward_args::addend, no pool) or null.
    template <class Act, class Pool, class Blk>
    static void direct_sample(const float* xn, float* yn, const float* w, const float* bias, std::size_t co0,
                              std::size_t co1, float* sn, float* xp, const float* an = nullptr) {
        constexpr std::size_t PH = out_h<Pool>, PW = out_w<Pool>;
        static_assert(Pool::K == 1 || !folds_bn<Act>);
        float* xc = xp + xp_size;
        float* yt = xc + xc_size;
        if constexpr (pointwise && Pool::K == 1) {
            for (std::size_t c0 = co0; c0 < co1; c0 += Blk::R) {
                const std::size_t c1 = std::min(co1, c0 + Blk::R);
                if constexpr (pointwise_in_place) {
                    gemm_rows_pointwise<Blk>(w + c0 * Kd, bias + c0, c1 - c0, xn, yn + c0 * N, N);
                    if constexpr (!std::is_same_v<Act, identity>) channel_epilogue<Act, Co, N>(yn, bias, c0, c1);
                } else {
                    gemm_rows_pointwise<Blk>(w + c0 * Kd, bias + c0, c1 - c0, xn, yt, Ny);
                    for (std::size_t co = c0; co < c1; ++co) {
                        const chan_affine<Act, V> bn(bias, Co, co);
                        const chan_affine<Act, simd::scalar> bn1(bias, Co, co);
                        const float* r = yt + (co - c0) * Ny;
                        float* o = yn + co * N;
                        std::size_t i = 0;
                        for (; i + W <= N; i += W) V::store(o + i, Act::template v<V>(bn(V::load(r + i))));
                        for (; i < N; ++i) o[i] = Act::f(bn1(r[i]));
                    }
                }
                if (an) add_residual(yn + c0 * N, an + c0 * N, (c1 - c0) * N);
            }
            return;
        }
        load_padded(xn, xp);
        if constexpr (compact) load_columns(xp, xc);
        gemm_rows<Blk>(w, bias, co0, co1, xp, xc, yt);
        for (std::size_t co = co0; co < co1; ++co) {
            const float* r = yt + co * Ny;
            float* o = yn + co * PH * PW;
            if constexpr (Pool::K == 1) {
                const chan_affine<Act, V> bn(bias, Co, co);
                const chan_affine<Act, simd::scalar> bn1(bias, Co, co);
                for (std::size_t oh = 0; oh < OH; ++oh) {
                    std::size_t ow = 0;
                    for (; ow + W <= OW; ow += W) V::store(o + oh * OW + ow, Act::template v<V>(bn(V::load(r + oh * pitch + ow))));
                    for (; ow < OW; ++ow) o[oh * OW + ow] = Act::f(bn1(r[oh * pitch + ow]));
                }
                add_residual(o, an ? an + co * OH * OW : nullptr, OH * OW);
            } else if constexpr (Pool::K == 2 && Pool::S == 2) {
                // the activation commutes with max (it is monotone) and runs once per output
                float* sv = saves_index<Pool> ? sn + co * PH * PW : nullptr;
                for (std::size_t ph = 0; ph < PH; ++ph)
                    pool2x2_row<Act, PW>(r + 2 * ph * pitch, r + (2 * ph + 1) * pitch, OW, 2 * ph * OW, o + ph * PW,
                                         sv ? sv + ph * PW : nullptr);
            } else {
                // max over the K rows of each window (per column), then over K columns;
                // the activation commutes with max (it is monotone) and runs once per output
                float rowmax[OW];
                for (std::size_t ph = 0; ph < PH; ++ph) {
                    const float* s = r + ph * Pool::S * pitch;
                    for (std::size_t ow = 0; ow < OW; ++ow) rowmax[ow] = window_max(s + ow, Pool::K, pitch);
                    for (std::size_t pw = 0; pw < PW; ++pw) o[ph * PW + pw] = Act::f(window_max(rowmax + pw * Pool::S, Pool::K, 1));
                }
            }
        }
    }

    /// Rows [co0, co1) of Y' (direct_sample's GEMM), out of line: inlined into the loop of a
    /// larger epilogue (a folded BatchNorm's), GCC spilled the GEMM's register tile to the stack.
    template <class Blk>
    [[gnu::noinline]] static void gemm_rows(const float* w, const float* bias, std::size_t co0, std::size_t co1,
                                            const float* xp, const float* xc, float* yt) {
        const auto A = [w](std::size_t m, std::size_t k) { return w[m * Kd + k]; };
        const auto B = [xp, xc](std::size_t k) { return compact ? xc + k * Ncpad : xp + boff[k]; };
        bcast_gemm<Ny, Blk::R, Blk::NV, init::bias>(co0, co1, Kd, A, B, yt, Ny, bias);
    }

    /// rows output rows of a pointwise convolution (w, bias: from the first one's), ld floats apart
    /// from y, from xn [Ci, N] (out of line, as gemm_rows).
    template <class Blk>
    [[gnu::noinline]] static void gemm_rows_pointwise(const float* w, const float* bias, std::size_t rows, const float* xn,
                                                      float* y, std::size_t ld) {
        const auto A = [w](std::size_t m, std::size_t k) { return w[m * Kd + k]; };
        const auto B = [xn](std::size_t k) { return xn + k * N; };
        bcast_gemm<N, Blk::R, Blk::NV, init::bias>(0, rows, Kd, A, B, y, ld, bias);
    }

    /// forward_samples by Winograd; weights and bias must be finite. A sample with a non-finite
    /// input runs on the direct path, which gives the reference's NaN and Inf pattern.
    /// (u: the transformed weights from prepare, or null to transform them here)
    template <class Act, class Pool>
    static void forward_samples_wino(const float* x, float* y, const float* w, const float* bias, std::size_t b,
                                     std::size_t e, float* saved = nullptr, const float* u = nullptr,
                                     const float* add = nullptr, std::size_t ys = 0) {
        constexpr std::size_t out_size = Co * out_h<Pool> * out_w<Pool>;
        if (ys == 0) ys = out_size;
        float* us = detail::work_scratch(scratch_floats) + fwd_scratch;
        float* xs = us + wff::u_size;
        float* v = xs + wff::x_size;
        float* m = v + wff::v_size;
        if (!u) {
            transform_fwd_weights(w, us);
            u = us;
        }
        wff::clear_input(xs);
        for (std::size_t n = b; n < e; ++n) {
            const float* xn = x + n * Ci * H * Wd;
            if (!all_finite<Ci * H * Wd>(xn)) {
                forward_samples<Act, Pool>(x, y, w, bias, n, n + 1, saved, add, ys);
                continue;
            }
            wff::load_input(xn, xs);
            wff::template run_sample<Act, Pool>(u, xs, v, m, bias, y + n * ys, saves_index<Pool> ? saved + n * out_size : nullptr,
                                                add ? add + n * out_size : nullptr);
        }
    }

    static void transform_fwd_weights(const float* w, float* u, float* staging = nullptr) {
        wff::transform_weights([w](std::size_t co, std::size_t ci, std::size_t kh, std::size_t kw) { return w[co * Kd + ci * KK + kh * K + kw]; }, u, staging);
    }

    // Prepared parameters (Sequential keeps them while the weights stay the same): whether
    // weights and bias are all finite, then U, the Winograd-transformed weights (staged through
    // the calling thread's scratch, which Sequential reserves first).
    static constexpr std::size_t prepared_floats = [] {
        if constexpr (wino_fwd) return W + wff::A2 * wff::Pp;
        else return std::size_t(0);
    }();
    static void prepare(const float* params, float* out) {
        if constexpr (wino_fwd) {
            const bool finite = all_finite<Co * Kd + Co>(params);
            out[0] = finite ? 1.0f : 0.0f;
            if (finite) transform_fwd_weights(params, out + W, detail::work_scratch(scratch_floats));
        }
    }

    /// y = Pool(Act(conv(x))) (+ a.addend, without a pool) for a batch, y's samples a.y_stride
    /// apart where set (one sample: any stride is the same); coef: a folded
    /// BatchNorm's coefficients (epilogue.hpp), else null (the bias).
    template <class Act, class Pool>
    static void forward(const forward_args& a, const float* coef = nullptr) {
        const float* w = a.params;
        const float* bias = coef ? coef : a.params + Co * Kd;
        constexpr bool pool_ok = Pool::K == 1 || (Pool::K == 2 && Pool::S == 2);
        bool wino = false;
        [[maybe_unused]] const float* u = nullptr;
        if constexpr (wino_fwd && pool_ok) {
            if (a.prepared) {
                wino = a.prepared[0] != 0.0f;
                u = a.prepared + W;
            } else {
                wino = all_finite<Co * Kd + Co>(a.params);
            }
        }
        // One sample (and not inside another parallel region): split it over threads where the
        // work pays for waking them (conv_one_sample.hpp; the same bits as one thread).
        if (a.n == 1 && !detail::inside_parallel()) {
            const std::size_t Ts = tasks_for(Co, double(Co * Kd * N));
            if (Ts > 1) return conv_s1_one<conv_s1>::template forward<Act, Pool>(a, bias, wino, u, Ts);
        }
        const std::size_t T = tasks_for(a.n, double(a.n) * double(Co * Kd * N));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(a.n, t, T);
            if (r.begin == r.end) return;
            if constexpr (wino_fwd && pool_ok)
                if (wino) return forward_samples_wino<Act, Pool>(a.x, a.y, w, bias, r.begin, r.end, a.saved, u, a.addend, a.y_stride);
            forward_samples<Act, Pool>(a.x, a.y, w, bias, r.begin, r.end, a.saved, a.addend, a.y_stride);
        });
    }
};

}  // namespace ctnn::cpu_detail

#include "conv_backward.hpp"    // conv_s1_backward: the backward, in named steps
#include "conv_one_sample.hpp"  // conv_s1_one: one sample over several threads

namespace ctnn {

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t P, class In>
struct kernel<Conv<Ci, Co, K, 1, P>, In, cpu> : kernel_base {
    using impl = cpu_detail::conv_s1<Ci, Co, K, P, In>;
    // prepared: the Winograd-transformed weights (also used by the fused groups that start with this Conv)
    static constexpr kernel_traits traits{.scratch = impl::scratch_floats,
                                          .shared_per_task = impl::shared_floats_per_task,
                                          .prepared = impl::prepared_floats,
                                          .overwrites_dparams = true,
                                          .adds = true,
                                          .strided_output = true};
    static void prepare(const float* params, float* out) { impl::prepare(params, out); }
    static void forward(const forward_args& a) { impl::template forward<cpu_detail::identity, cpu_detail::no_pool>(a); }
    static void backward(const backward_args& a) { cpu_detail::conv_s1_backward<Ci, Co, K, P, In, false>::run(a); }
};

namespace cpu_detail {
/// A fused Conv group's arguments as one kernel call: the group's input, output and the last
/// layer's saved state, with the Conv's parameters (and prepared weights).
inline forward_args merged(const forward_args& first, const forward_args& last) {
    forward_args a = first;
    a.y = last.y;
    a.saved = last.saved;
    a.addend = last.addend;
    a.y_stride = last.y_stride;
    return a;
}
inline backward_args merged(const backward_args& first, const backward_args& last) {
    backward_args a = first;
    a.y = last.y;
    a.dy = last.dy;
    a.saved = last.saved;
    return a;
}
}  // namespace cpu_detail

/// Conv + ReLU as one inference kernel.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t P, class In, class L2>
struct fused<cpu, In, Conv<Ci, Co, K, 1, P>, ReLU, L2> : kernel_base {
    using impl = cpu_detail::conv_s1<Ci, Co, K, P, In>;
    static constexpr kernel_traits traits{.scratch = impl::scratch_floats, .fuses = 2, .adds = true, .strided_output = true};
    static void forward(const group_forward_args<2>& g) {
        impl::template forward<cpu_detail::relu, cpu_detail::no_pool>(cpu_detail::merged(g.first(), g.last()));
    }
};

/// Conv + ReLU + MaxPool as one inference kernel; with a 2x2 stride-2 pool also in training:
/// the forward keeps the conv output only in scratch (saving the pool's argmax indices in the
/// MaxPool's saved state), and the backward forms dY from them.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t P, class In, std::size_t PK, std::size_t PS>
struct fused<cpu, In, Conv<Ci, Co, K, 1, P>, ReLU, MaxPool<PK, PS>> : kernel_base {
    using impl = cpu_detail::conv_s1<Ci, Co, K, P, In>;
    static constexpr bool trains = PK == 2 && PS == 2 && impl::OH >= 2 && impl::OW >= 2;
    static constexpr kernel_traits traits{.scratch = impl::scratch_floats,
                                          .shared_per_task = trains ? impl::shared_floats_per_task : 0,
                                          .overwrites_dparams = true,
                                          .fuses = 3,
                                          .fuses_in_training = trains,
                                          .strided_output = true};
    static void forward(const group_forward_args<3>& g) {
        const forward_args a = cpu_detail::merged(g.first(), g.last());
        if constexpr (trains)
            if (a.training) return impl::template forward<cpu_detail::relu, cpu_detail::max_pool_saving>(a);
        impl::template forward<cpu_detail::relu, cpu_detail::max_pool<PK, PS>>(a);
    }
    static void backward(const group_backward_args<3>& g) {
        if constexpr (trains) cpu_detail::conv_s1_backward<Ci, Co, K, P, In, true>::run(cpu_detail::merged(g.first(), g.last()));
    }
};

}  // namespace ctnn
