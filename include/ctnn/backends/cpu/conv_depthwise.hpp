// cpu kernel: depthwise Conv (one input channel per group: Groups == In, Out = M * In with a
// channel multiplier M), any stride, padding and dilation. Direct loops, vectorised along output
// rows. (conv_gemm.hpp routes a Conv here.)
//
// Each input channel is copied into a zero-padded plane stored by column phase: padded column
// c = j * S + s lives at plane[(r * S + s) * Wq + j]. Tap (kh, kw) of output (oh, ow) reads padded
// (oh * S + kh * D, ow * S + kw * D): phase (kw * D) % S, column ow + (kw * D) / S, so for every
// stride the taps of consecutive outputs are consecutive floats.
//   forward: per output row, vector accumulators over ow, taps in (kh, kw) order.
//   dX:      stride 1: the correlation of dY, zero-padded by E = D(K-1) on every side, with the
//            flipped kernels, gathered like the forward (vector accumulators over iw, taps in
//            (m, kh, kw) order); a scatter there would store and reload overlapping vectors.
//            Other strides: scattered into a phased plane of the forward's layout (tap by tap,
//            in (co, oh, kh, kw) order), then read back without the padding.
//   dW:      per (co, kh), 2 x K vector accumulators over the output rows, summed per sample; the
//            samples are added in order per channel.
// Work is split over (sample, channel) pairs (forward, dX) and over channels (dW), and every
// value is formed the same way in any split: results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <type_traits>

#include "../../backend.hpp"
#include "../../layers/conv.hpp"
#include "../../threads.hpp"
#include "conv.hpp"  // contiguous_sum
#include "gemm.hpp"

namespace ctnn::cpu_detail {

/// Copies n floats: a vector loop for short rows (a memcpy of a run-time length compiles to a
/// `rep movs`, slow to start).
inline void copy_row(float* dst, const float* src, std::size_t n) {
    std::size_t i = 0;
    for (; i + W <= n; i += W) V::store(dst + i, V::load(src + i));
    for (; i < n; ++i) dst[i] = src[i];
}

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, class In>
struct conv_depthwise {
    static constexpr std::size_t H = In::value.d[1], Wd = In::value.d[2], HW = H * Wd;
    static constexpr dims out = Conv<Ci, Co, K, S, P, D, Ci>::output(In::value);
    static constexpr std::size_t OH = out.d[1], OW = out.d[2], Nc = OH * OW;
    static constexpr std::size_t M = Co / Ci, KK = K * K;
    static constexpr std::size_t Hp = H + 2 * P, Wp = Wd + 2 * P, Wq = (Wp + S - 1) / S;
    // Small maps (rows shorter than a vector): the forward runs over the plane's flattened rows,
    // j = oh * RS + ow (RS: the plane floats from one output row's taps to the next's), computing
    // the RS - OW values between rows too and dropping them: a vector chain per W positions
    // instead of a scalar chain per output. The plane is long enough for the last vector's reads
    // (its tail is zero, as the padding).
    static constexpr std::size_t RS = S * S * Wq, span = (OH - 1) * RS + OW, span_v = (span + W - 1) / W;
    static constexpr bool wide = span_v < OH * (OW / W + OW % W) && span_v * W <= 1024;
    static constexpr std::size_t last_tap = ((K - 1) * D * S + ((K - 1) * D) % S) * Wq + ((K - 1) * D) / S;
    static constexpr std::size_t plane = align_floats(std::max(Hp * S * Wq, wide ? last_tap + span_v * W : 0));
    static constexpr std::size_t acc_size = align_floats(M * (KK + 1));
    static constexpr std::size_t E = D * (K - 1), Hy = OH + 2 * E, Wy = OW + 2 * E;  // stride 1's padded dY
    static constexpr std::size_t dplane = align_floats(Hy * Wy);
    static constexpr std::size_t dx_scratch = S == 1 ? M * dplane : plane;
    static constexpr std::size_t scratch_floats = std::max(plane + acc_size, dx_scratch);

    /// Where tap (kh, kw) of output (oh, 0) is in the phased plane.
    static constexpr std::size_t tap(std::size_t oh, std::size_t kh, std::size_t kw) {
        return ((oh * S + kh * D) * S + (kw * D) % S) * Wq + (kw * D) / S;
    }
    static constexpr std::size_t at(std::size_t h, std::size_t w) {  // input (h, w) in the phased plane
        return ((h + P) * S + (w + P) % S) * Wq + (w + P) / S;
    }

    /// Copies channel x [H, Wd] into the phased plane (whose padding is zero and stays so).
    static void load_plane(const float* x, float* xs) {
        for (std::size_t h = 0; h < H; ++h) {
            if constexpr (S == 1) copy_row(xs + at(h, 0), x + h * Wd, Wd);
            else
                for (std::size_t s = 0; s < S; ++s) {  // phase s: input columns j * S + s - P
                    const std::size_t j0 = P > s ? (P - s + S - 1) / S : 0, j1 = (Wd - 1 + P - s) / S + 1;
                    float* dst = xs + ((h + P) * S + s) * Wq;
                    const float* src = x + h * Wd + (j0 * S + s - P);
                    for (std::size_t j = j0; j < j1; ++j) dst[j] = src[(j - j0) * S];
                }
        }
    }

    /// Outputs [ow0, ow0 + NV * W) (Vt: V, or simd::scalar for the tail one at a time) of row oh.
    template <class Vt, std::size_t NV>
    static void forward_block(const float* xs, const float* wk, float b, std::size_t oh, std::size_t ow0, float* yr) {
        constexpr std::size_t w = Vt::width;
        typename Vt::type acc[NV];
        for (std::size_t v = 0; v < NV; ++v) acc[v] = Vt::set1(b);
        for (std::size_t kh = 0; kh < K; ++kh)
#pragma GCC unroll 8
            for (std::size_t kw = 0; kw < K; ++kw) {
                const float* p = xs + tap(oh, kh, kw) + ow0;
                const auto wv = Vt::set1(wk[kh * K + kw]);
#pragma GCC unroll 4
                for (std::size_t v = 0; v < NV; ++v) acc[v] = Vt::fma(wv, Vt::load(p + v * w), acc[v]);
            }
        for (std::size_t v = 0; v < NV; ++v) Vt::store(yr + ow0 + v * w, acc[v]);
    }

    /// One output channel's map from the phased plane.
    static void forward_channel(const float* xs, const float* wk, float b, float* y) {
        if constexpr (wide) {
            alignas(64) float t[span_v * W];
            std::size_t j = 0;  // (forward_block at row 0 reads tap(0, kh, kw) + j: the flattened rows)
            for (; j + 4 * W <= span_v * W; j += 4 * W) forward_block<V, 4>(xs, wk, b, 0, j, t);
            for (; j < span_v * W; j += W) forward_block<V, 1>(xs, wk, b, 0, j, t);
            for (std::size_t oh = 0; oh < OH; ++oh) copy_row(y + oh * OW, t + oh * RS, OW);
            return;
        }
        for (std::size_t oh = 0; oh < OH; ++oh) {
            float* yr = y + oh * OW;
            std::size_t ow = 0;
            for (; ow + 4 * W <= OW; ow += 4 * W) forward_block<V, 4>(xs, wk, b, oh, ow, yr);
            for (; ow + W <= OW; ow += W) forward_block<V, 1>(xs, wk, b, oh, ow, yr);
            for (; ow < OW; ++ow) forward_block<simd::scalar, 1>(xs, wk, b, oh, ow, yr);
        }
    }

    /// y = Act(conv(x)) (+ a.addend), y's samples a.y_stride apart where set; coef: a folded
    /// BatchNorm's coefficients (epilogue.hpp), else null (the bias).
    template <class Act = identity>
    static void forward(const forward_args& a, const float* coef = nullptr) {
        const float* bias = coef ? coef : a.params + Co * KK;
        const std::size_t ys = a.y_step(Co * Nc);
        const std::size_t items = a.n * Ci;
        const std::size_t T = tasks_for(items, double(a.n) * double(Co * KK * Nc));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(items, t, T);
            if (r.begin == r.end) return;
            float* xs = detail::work_scratch(scratch_floats);
            std::fill(xs, xs + plane, 0.0f);
            for (std::size_t i = r.begin; i < r.end; ++i) {  // i = n * Ci + g
                load_plane(a.x + i * HW, xs);
                float* yn = a.y + i / Ci * ys;
                for (std::size_t co = (i % Ci) * M; co < (i % Ci + 1) * M; ++co) {
                    forward_channel(xs, a.params + co * KK, bias[co], yn + co * Nc);
                    if constexpr (!std::is_same_v<Act, identity>) channel_epilogue<Act, Co, Nc>(yn, bias, co, co + 1);
                    if (a.addend) add_residual(yn + co * Nc, a.addend + (i / Ci * Co + co) * Nc, Nc);
                }
            }
        });
    }

    /// Stride 1: dX [iw0, iw0 + NV * W) of input row ih from the M padded dY planes dyp.
    template <class Vt, std::size_t NV>
    static void dx_gather_block(const float* dyp, const float* wg, std::size_t ih, std::size_t iw0, float* dxr) {
        constexpr std::size_t w = Vt::width;
        typename Vt::type acc[NV];
        for (std::size_t v = 0; v < NV; ++v) acc[v] = Vt::zero();
        for (std::size_t m = 0; m < M; ++m)
            for (std::size_t kh = 0; kh < K; ++kh)
#pragma GCC unroll 8
                for (std::size_t kw = 0; kw < K; ++kw) {
                    const float* p = dyp + m * dplane + (ih + P + E - kh * D) * Wy + (P + E - kw * D) + iw0;
                    const auto wv = Vt::set1(wg[m * KK + kh * K + kw]);
#pragma GCC unroll 4
                    for (std::size_t v = 0; v < NV; ++v) acc[v] = Vt::fma(wv, Vt::load(p + v * w), acc[v]);
                }
        for (std::size_t v = 0; v < NV; ++v) Vt::store(dxr + iw0 + v * w, acc[v]);
    }

    /// Stride 1: dX of input channel g (dy: its M output channels' dY) via the padded planes dyp
    /// (whose borders are zero and stay so).
    static void dx_channel_gather(const float* wg, const float* dy, float* dyp, float* dx) {
        for (std::size_t m = 0; m < M; ++m)
            for (std::size_t oh = 0; oh < OH; ++oh) copy_row(dyp + m * dplane + (oh + E) * Wy + E, dy + m * Nc + oh * OW, OW);
        for (std::size_t ih = 0; ih < H; ++ih) {
            float* dxr = dx + ih * Wd;
            std::size_t iw = 0;
            for (; iw + 4 * W <= Wd; iw += 4 * W) dx_gather_block<V, 4>(dyp, wg, ih, iw, dxr);
            for (; iw + W <= Wd; iw += W) dx_gather_block<V, 1>(dyp, wg, ih, iw, dxr);
            for (; iw < Wd; ++iw) dx_gather_block<simd::scalar, 1>(dyp, wg, ih, iw, dxr);
        }
    }

    /// dY row oh of one output channel scattered into the phased dX plane through its taps.
    template <class Vt, std::size_t NV>
    static void dx_block(float* dxs, const float* wk, std::size_t oh, std::size_t ow0, const float* dyr) {
        constexpr std::size_t w = Vt::width;
        typename Vt::type d[NV];
        for (std::size_t v = 0; v < NV; ++v) d[v] = Vt::load(dyr + ow0 + v * w);
        for (std::size_t kh = 0; kh < K; ++kh)
#pragma GCC unroll 8
            for (std::size_t kw = 0; kw < K; ++kw) {
                float* p = dxs + tap(oh, kh, kw) + ow0;
                const auto wv = Vt::set1(wk[kh * K + kw]);
#pragma GCC unroll 4
                for (std::size_t v = 0; v < NV; ++v) Vt::store(p + v * w, Vt::fma(wv, d[v], Vt::load(p + v * w)));
            }
    }

    /// dX of input channel g of one sample (dy: the sample's dY, dx: the channel's plane).
    static void dx_channel(const float* w, const float* dy, std::size_t g, float* dxs, float* dx) {
        std::fill(dxs, dxs + plane, 0.0f);
        for (std::size_t co = g * M; co < (g + 1) * M; ++co)
            for (std::size_t oh = 0; oh < OH; ++oh) {
                const float* dyr = dy + co * Nc + oh * OW;
                std::size_t ow = 0;
                for (; ow + 2 * W <= OW; ow += 2 * W) dx_block<V, 2>(dxs, w + co * KK, oh, ow, dyr);
                for (; ow + W <= OW; ow += W) dx_block<V, 1>(dxs, w + co * KK, oh, ow, dyr);
                for (; ow < OW; ++ow) dx_block<simd::scalar, 1>(dxs, w + co * KK, oh, ow, dyr);
            }
        for (std::size_t h = 0; h < H; ++h) {
            if constexpr (S == 1) copy_row(dx + h * Wd, dxs + at(h, 0), Wd);
            else
                for (std::size_t w2 = 0; w2 < Wd; ++w2) dx[h * Wd + w2] = dxs[at(h, w2)];
        }
    }

    /// acc[kw] += sum over the map of dY * the input under tap (kh, kw), for one output channel.
    static void dw_row_sums(const float* xs, const float* dy, std::size_t kh, float* acc) {
        V::type s[2][K];
        float t[K] = {};
#pragma GCC unroll 8
        for (std::size_t kw = 0; kw < K; ++kw) s[0][kw] = s[1][kw] = V::zero();
        for (std::size_t oh = 0; oh < OH; ++oh) {
            const float* dyr = dy + oh * OW;
            std::size_t ow = 0;
            for (; ow + 2 * W <= OW; ow += 2 * W) {
                const V::type d0 = V::load(dyr + ow), d1 = V::load(dyr + ow + W);
#pragma GCC unroll 8
                for (std::size_t kw = 0; kw < K; ++kw) {
                    const float* p = xs + tap(oh, kh, kw) + ow;
                    s[0][kw] = V::fma(d0, V::load(p), s[0][kw]);
                    s[1][kw] = V::fma(d1, V::load(p + W), s[1][kw]);
                }
            }
            for (; ow + W <= OW; ow += W) {
                const V::type d0 = V::load(dyr + ow);
#pragma GCC unroll 8
                for (std::size_t kw = 0; kw < K; ++kw) s[0][kw] = V::fma(d0, V::load(xs + tap(oh, kh, kw) + ow), s[0][kw]);
            }
            for (; ow < OW; ++ow)
                for (std::size_t kw = 0; kw < K; ++kw) t[kw] += dyr[ow] * xs[tap(oh, kh, kw) + ow];
        }
#pragma GCC unroll 8
        for (std::size_t kw = 0; kw < K; ++kw) acc[kw] += V::sum(s[0][kw] + s[1][kw]) + t[kw];
    }

    /// dW and the bias gradient of input channel g's M output channels, over all samples in order.
    static void dw_channel(const backward_args& a, std::size_t g, float* xs, float* acc) {
        std::fill(acc, acc + M * (KK + 1), 0.0f);
        for (std::size_t n = 0; n < a.n; ++n) {
            load_plane(a.x + (n * Ci + g) * HW, xs);
            for (std::size_t m = 0; m < M; ++m) {
                const float* dy = a.dy + (n * Co + g * M + m) * Nc;
                for (std::size_t kh = 0; kh < K; ++kh) dw_row_sums(xs, dy, kh, acc + m * KK + kh * K);
                acc[M * KK + m] += contiguous_sum<Nc>(dy);
            }
        }
        float* dw = a.dparams + g * M * KK;
        float* db = a.dparams + Co * KK + g * M;
        for (std::size_t i = 0; i < M * KK; ++i) dw[i] = (a.overwrite_dparams ? 0.0f : dw[i]) + acc[i];
        for (std::size_t m = 0; m < M; ++m) db[m] = (a.overwrite_dparams ? 0.0f : db[m]) + acc[M * KK + m];
    }

    static void backward(const backward_args& a) {
        const double work = double(a.n) * double(Co * KK * Nc);
        if (a.dx) {
            const std::size_t items = a.n * Ci, T = tasks_for(items, work);
            parallel_for(T, [&](std::size_t t) {
                const range r = split(items, t, T);
                if (r.begin == r.end) return;
                float* buf = detail::work_scratch(scratch_floats);
                if constexpr (S == 1) std::fill(buf, buf + M * dplane, 0.0f);
                for (std::size_t i = r.begin; i < r.end; ++i) {  // i = n * Ci + g
                    const std::size_t g = i % Ci;
                    if constexpr (S == 1)
                        dx_channel_gather(a.params + g * M * KK, a.dy + (i / Ci * Co + g * M) * Nc, buf, a.dx + i * HW);
                    else
                        dx_channel(a.params, a.dy + i / Ci * Co * Nc, g, buf, a.dx + i * HW);
                }
            });
        }
        if (a.dparams) {
            const std::size_t T = tasks_for(Ci, work);
            parallel_for(T, [&](std::size_t t) {
                const range r = split(Ci, t, T);
                float* xs = detail::work_scratch(scratch_floats);
                std::fill(xs, xs + plane, 0.0f);
                for (std::size_t g = r.begin; g < r.end; ++g) dw_channel(a, g, xs, xs + plane);
            });
        }
    }
};

}  // namespace ctnn::cpu_detail
