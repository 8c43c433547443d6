// cpu kernel: every Conv that is not stride 1, dilation 1 and one group (those run on conv_s1,
// conv.hpp). Depthwise convolutions (one input channel per group) go to conv_depthwise.hpp; the
// rest run here, per sample and group, as GEMMs on im2col columns:
//   forward  Y_g [Cog, Nc] = bias + W_g [Cog, Kg] x Xc [Kg, Nc]      (bcast_gemm, written into y)
//   dX       dXc [Kg, Nc] = W_g^T x dY_g, scattered back (col2im)    (bcast_gemm)
//   dW       dW_g [Cog, Kg] += dY_g [Cog, Nc] . Xc^T                  (one group: bcast_gemm on Xr =
//            Xc^T of SB samples, the sum over their outputs kept in registers; groups: dot_gemm)
// with Kg = (Ci / G) * K * K and Nc = OH * OW. Xc row (c, kh, kw) holds, for every output, the
// input under that tap (zero where it falls in the padding). A 1x1 stride-1 unpadded Conv needs no
// Xc: its input planes are the rows as they are, and its dX is the GEMM's output.
// Work is split over (sample, group) pairs (forward, dX) and over output channels (dW, every task
// summing its rows over all samples in order): every value is formed the same way in any split,
// so results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <type_traits>

#include "conv.hpp"
#include "conv_depthwise.hpp"

namespace ctnn::cpu_detail {

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, std::size_t G,
          class In>
struct conv_gemm {
    static constexpr std::size_t H = In::value.d[1], Wd = In::value.d[2], HW = H * Wd;
    static constexpr dims out = Conv<Ci, Co, K, S, P, D, G>::output(In::value);
    static constexpr std::size_t OH = out.d[1], OW = out.d[2], Nc = OH * OW;
    static constexpr std::size_t Cig = Ci / G, Cog = Co / G, KK = K * K, Kg = Cig * KK;
    static constexpr bool direct = K == 1 && S == 1 && P == 0;  // Xc is the input itself
    // dW of one group: SB samples at a time (about 128 outputs), as a GEMM over their outputs
    // with the taps across the vector, dWt [Co, Kg] += dYb [Co, Lb] x Xr [Lb, Kg]: each dW tile
    // sums all Lb terms in registers (the dot-product form, Nc-long sums reduced across the
    // vector at the end, ran at a fraction of the FMA rate on 7x7 and 4x4 maps). Xr is Xc
    // transposed with the taps in (kh, kw, c) order (row l = sample s, output p), so that a row
    // is K*K copies of Ci contiguous floats from the sample's zero-padded channels-last copy Xp;
    // dWt has the same column order and is added to dW, permuted, once.
    static constexpr std::size_t SB = G == 1 && !direct ? std::max<std::size_t>(1, std::min<std::size_t>(16, 128 / Nc)) : 1;
    static constexpr std::size_t Lb = SB * Nc;  // a batched row's length
    static constexpr std::size_t PH = H + 2 * P, PW = Wd + 2 * P;  // Xp [PH, PW, Ci]
    static constexpr std::size_t dw_floats = align_floats(Kg * Lb) + align_floats(Co * Lb) + align_floats(PH * PW * Ci) + align_floats(Co * Kg);
    // Forward and dX of one group: SBf samples' columns side by side (Lf of them, padded to whole
    // vectors), one GEMM per chunk, so the weights are read once per chunk rather than once per
    // sample and a 4x4 or 7x7 map's few columns fill whole vectors. With fewer chunks than tasks
    // (batch 1) the forward splits a chunk's output channels over the tasks, each with its own
    // copy of the columns. Every value is the same sum whatever the chunk or the split.
    static constexpr bool batched = G == 1 && !direct;
    static constexpr std::size_t SBf = batched ? std::max<std::size_t>(1, std::min<std::size_t>(8, 128 / Nc)) : 1;
    static constexpr std::size_t Lf = (SBf * Nc + W - 1) / W * W;
    static constexpr std::size_t fwd_floats = align_floats(Kg * Lf) + align_floats(Co * Lf);  // Xc + Yc, or dXc + dYc
    static constexpr std::size_t scratch_floats =
        direct ? 0 : batched ? std::max(dw_floats, fwd_floats) : align_floats(Kg * Nc);  // Xc / dXc, or the batched paths'
    using dwb = bcast_blocking<Co, Kg>;
    using fwdb = bcast_blocking<Co, Lf, 50>;  // loads weigh more here than the default model says (docs/benchmarks.md)
    using dxbb = bcast_blocking<Kg, Lf>;

    using fwd = bcast_blocking<Cog, Nc, 15>;
    using dxb = bcast_blocking<Kg, Nc>;
    static constexpr std::size_t dot_r = 2, dot_c = V::registers >= 32 ? 8 : 4;

    /// The outputs [begin, end) along an axis whose tap k lands inside the input (extent long).
    static constexpr range inside(std::size_t k, std::size_t extent, std::size_t outs) {
        const std::size_t lo = P > k * D ? (P - k * D + S - 1) / S : 0;
        const std::size_t hi = extent + P > k * D ? std::min(outs, (extent - 1 + P - k * D) / S + 1) : 0;
        return {std::min(lo, hi), hi};
    }

    /// Xc's rows (`stride` apart) from the group's input channels x [Cig, H, Wd]; only the part
    /// inside the input is written (the rest is zero from clear and stays so).
    static void load_columns(const float* x, float* xc, std::size_t stride = Nc) {
        for (std::size_t c = 0; c < Cig; ++c)
            for (std::size_t kh = 0; kh < K; ++kh) {
                const range rh = inside(kh, H, OH);
                for (std::size_t kw = 0; kw < K; ++kw) {
                    const range rw = inside(kw, Wd, OW);
                    if (rw.begin == rw.end) continue;
                    float* row = xc + ((c * K + kh) * K + kw) * stride;
                    for (std::size_t oh = rh.begin; oh < rh.end; ++oh) {
                        const float* src = x + (c * H + oh * S + kh * D - P) * Wd;  // the input row
                        const std::size_t iw0 = rw.begin * S + kw * D - P;          // its column for rw.begin
                        float* o = row + oh * OW;
                        if constexpr (S == 1) copy_row(o + rw.begin, src + iw0, rw.end - rw.begin);
                        else
                            for (std::size_t ow = rw.begin; ow < rw.end; ++ow) o[ow] = src[iw0 + (ow - rw.begin) * S];
                    }
                }
            }
    }

    /// dx [Cig, H, Wd] (zeroed first) = the sum of dXc's rows (`stride` apart) at the inputs their taps read.
    static void store_columns(const float* dxc, float* dx, std::size_t stride = Nc) {
        std::fill(dx, dx + Cig * HW, 0.0f);
        for (std::size_t c = 0; c < Cig; ++c)
            for (std::size_t kh = 0; kh < K; ++kh) {
                const range rh = inside(kh, H, OH);
                for (std::size_t kw = 0; kw < K; ++kw) {
                    const range rw = inside(kw, Wd, OW);
                    if (rw.begin == rw.end) continue;
                    const float* row = dxc + ((c * K + kh) * K + kw) * stride;
                    for (std::size_t oh = rh.begin; oh < rh.end; ++oh) {
                        float* dst = dx + (c * H + oh * S + kh * D - P) * Wd + (rw.begin * S + kw * D - P);
                        const float* s = row + oh * OW;
                        for (std::size_t ow = rw.begin; ow < rw.end; ++ow) dst[(ow - rw.begin) * S] += s[ow];
                    }
                }
            }
    }

    /// y = Act(conv(x)) (+ a.addend), y's samples a.y_stride apart where set; coef: a folded
    /// BatchNorm's coefficients (epilogue.hpp), else null (the bias).
    template <class Act = identity>
    static void forward(const forward_args& a, const float* coef = nullptr) {
        const float* bias = coef ? coef : a.params + Co * Kg;
        const std::size_t ys = a.y_step(Co * Nc);
        if constexpr (batched) return forward_batched<Act>(a, bias, ys);
        const std::size_t items = a.n * G;
        const std::size_t T = tasks_for(items, double(a.n) * double(Co * Kg * Nc));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(items, t, T);
            if (r.begin == r.end) return;
            float* xc = detail::work_scratch(scratch_floats);
            if constexpr (!direct) std::fill(xc, xc + Kg * Nc, 0.0f);
            for (std::size_t i = r.begin; i < r.end; ++i) {  // i = n * G + g
                const std::size_t g = i % G;
                const float* xg = a.x + (i / G * Ci + g * Cig) * HW;
                if constexpr (!direct) load_columns(xg, xc);
                const float* wg = a.params + g * Cog * Kg;
                float* yn = a.y + i / G * ys;
                bcast_gemm<Nc, fwd::R, fwd::NV, init::bias>(
                    0, Cog, Kg, [wg](std::size_t m, std::size_t k) { return wg[m * Kg + k]; },
                    [xg, xc](std::size_t k) { return direct ? xg + k * HW : xc + k * Nc; }, yn + g * Cog * Nc,
                    Nc, bias + g * Cog);
                if constexpr (!std::is_same_v<Act, identity>)
                    channel_epilogue<Act, Co, Nc>(yn, bias, g * Cog, (g + 1) * Cog);
                if (a.addend) add_residual(yn + g * Cog * Nc, a.addend + (i / G * Co + g * Cog) * Nc, Cog * Nc);
            }
        });
    }

    /// forward, batched: task items are (chunk, part of the output channels).
    template <class Act>
    static void forward_batched(const forward_args& a, const float* bias, std::size_t ys) {
        const std::size_t chunks = (a.n + SBf - 1) / SBf;
        const std::size_t T = tasks_for(a.n * Co, double(a.n) * double(Co * Kg * Nc));
        const std::size_t parts = chunks >= T ? 1 : (T + chunks - 1) / chunks, items = chunks * parts;
        parallel_for(std::min(T, items), [&](std::size_t t) {
            const range r = split(items, t, std::min(T, items));
            if (r.begin == r.end) return;
            float* xc = detail::work_scratch(scratch_floats);
            float* yc = xc + align_floats(Kg * Lf);
            std::fill(xc, xc + Kg * Lf, 0.0f);  // the padding taps stay zero
            for (std::size_t i = r.begin; i < r.end; ++i) {
                const std::size_t n0 = i / parts * SBf, sb = std::min(SBf, a.n - n0);
                const range m = split(Co, i % parts, parts);
                if (i == r.begin || i % parts == 0)
                    for (std::size_t s = 0; s < sb; ++s) load_columns(a.x + (n0 + s) * Ci * HW, xc + s * Nc, Lf);
                bcast_gemm<Lf, fwdb::R, fwdb::NV, init::bias>(
                    m.begin, m.end, Kg, [w = a.params](std::size_t o, std::size_t k) { return w[o * Kg + k]; },
                    [xc](std::size_t k) { return xc + k * Lf; }, yc, Lf, bias);
                for (std::size_t s = 0; s < sb; ++s) {
                    float* yn = a.y + (n0 + s) * ys;
                    for (std::size_t o = m.begin; o < m.end; ++o) std::copy_n(yc + o * Lf + s * Nc, Nc, yn + o * Nc);
                    if constexpr (!std::is_same_v<Act, identity>) channel_epilogue<Act, Co, Nc>(yn, bias, m.begin, m.end);
                    if (a.addend)
                        add_residual(yn + m.begin * Nc, a.addend + ((n0 + s) * Co + m.begin) * Nc, (m.end - m.begin) * Nc);
                }
            }
        });
    }

    /// dX, batched: task items are chunks. (Columns past the chunk's samples hold whatever was
    /// there; their results are not read.)
    static void backward_dx_batched(const backward_args& a) {
        const std::size_t chunks = (a.n + SBf - 1) / SBf;
        const std::size_t T = tasks_for(chunks, double(a.n) * double(Co * Kg * Nc));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(chunks, t, T);
            float* dxc = detail::work_scratch(scratch_floats);
            float* dyc = dxc + align_floats(Kg * Lf);
            for (std::size_t c = r.begin; c < r.end; ++c) {
                const std::size_t n0 = c * SBf, sb = std::min(SBf, a.n - n0);
                for (std::size_t m = 0; m < Co; ++m)
                    for (std::size_t s = 0; s < sb; ++s) std::copy_n(a.dy + ((n0 + s) * Co + m) * Nc, Nc, dyc + m * Lf + s * Nc);
                bcast_gemm<Lf, dxbb::R, dxbb::NV, init::zero>(
                    0, Kg, Co, [w = a.params](std::size_t m, std::size_t k) { return w[k * Kg + m]; },
                    [dyc](std::size_t k) { return dyc + k * Lf; }, dxc, Lf);
                for (std::size_t s = 0; s < sb; ++s) store_columns(dxc + s * Nc, a.dx + (n0 + s) * Ci * HW, Lf);
            }
        });
    }

    static void backward_dx(const backward_args& a) {
        if constexpr (batched) return backward_dx_batched(a);
        const std::size_t items = a.n * G;
        const std::size_t T = tasks_for(items, double(a.n) * double(Co * Kg * Nc));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(items, t, T);
            float* dxc = detail::work_scratch(scratch_floats);
            for (std::size_t i = r.begin; i < r.end; ++i) {
                const std::size_t g = i % G;
                const float* wg = a.params + g * Cog * Kg;
                const float* dyg = a.dy + (i / G * Co + g * Cog) * Nc;
                float* dxg = a.dx + (i / G * Ci + g * Cig) * HW;
                bcast_gemm<Nc, dxb::R, dxb::NV, init::zero>(
                    0, Kg, Cog, [wg](std::size_t m, std::size_t k) { return wg[k * Kg + m]; },
                    [dyg](std::size_t k) { return dyg + k * Nc; }, direct ? dxg : dxc, Nc);
                if constexpr (!direct) store_columns(dxc, dxg);
            }
        });
    }

    /// Xr's rows for one sample x [Ci, H, Wd]: xr[p * Kg + (kh * K + kw) * Ci + c] = the input
    /// under tap (c, kh, kw) of output p, through xp (its borders zero).
    static void load_rows(const float* x, float* xr, float* xp) {
        for (std::size_t c = 0; c < Ci; ++c)
            for (std::size_t h = 0; h < H; ++h)
                for (std::size_t w = 0; w < Wd; ++w) xp[((h + P) * PW + w + P) * Ci + c] = x[(c * H + h) * Wd + w];
        for (std::size_t oh = 0; oh < OH; ++oh)
            for (std::size_t ow = 0; ow < OW; ++ow)
                for (std::size_t kh = 0; kh < K; ++kh)
                    for (std::size_t kw = 0; kw < K; ++kw)
                        std::copy_n(xp + ((oh * S + kh * D) * PW + ow * S + kw * D) * Ci, Ci, xr + (oh * OW + ow) * Kg + (kh * K + kw) * Ci);
    }

    /// dW of output channels [r.begin, r.end) (one group), SB samples at a time: Xr [Lb, Kg] and
    /// dYb [rows, Lb] hold the chunk's (a short last chunk runs with fewer terms), dWt their sum
    /// over the batch. Every dW value is the same sum in the same order whatever the split.
    static void dw_rows_batched(const backward_args& a, range r, float* dw) {
        float* xr = detail::work_scratch(scratch_floats);
        float* yb = xr + align_floats(Kg * Lb);
        float* xp = yb + align_floats(Co * Lb);
        float* dwt = xp + align_floats(PH * PW * Ci);
        if (a.n == 0) return;
        std::fill(xp, xp + PH * PW * Ci, 0.0f);
        for (std::size_t n0 = 0; n0 < a.n; n0 += SB) {
            const std::size_t sb = std::min(SB, a.n - n0);
            for (std::size_t s = 0; s < sb; ++s) load_rows(a.x + (n0 + s) * Ci * HW, xr + s * Nc * Kg, xp);
            for (std::size_t m = r.begin; m < r.end; ++m)
                for (std::size_t s = 0; s < sb; ++s) std::copy_n(a.dy + ((n0 + s) * Co + m) * Nc, Nc, yb + (m - r.begin) * Lb + s * Nc);
            const auto gemm = [&]<init I>() {
                bcast_gemm<Kg, dwb::R, dwb::NV, I>(
                    r.begin, r.end, sb * Nc, [yb, r](std::size_t m, std::size_t l) { return yb[(m - r.begin) * Lb + l]; },
                    [xr](std::size_t l) { return xr + l * Kg; }, dwt, Kg);
            };
            if (n0 == 0) gemm.template operator()<init::zero>();
            else gemm.template operator()<init::accumulate>();
        }
        for (std::size_t m = r.begin; m < r.end; ++m)
            for (std::size_t c = 0; c < Ci; ++c)
                for (std::size_t t = 0; t < KK; ++t) dw[m * Kg + c * KK + t] += dwt[m * Kg + t * Ci + c];
    }

    /// dW and the bias gradient of output channels [r.begin, r.end), over all samples in order.
    static void dw_rows(const backward_args& a, range r) {
        float* dw = a.dparams;
        float* db = a.dparams + Co * Kg;
        if (a.overwrite_dparams)
            for (std::size_t co = r.begin; co < r.end; ++co) std::fill(dw + co * Kg, dw + (co + 1) * Kg, 0.0f);
        if constexpr (G == 1 && !direct) dw_rows_batched(a, r, dw);
        else dw_rows_per_sample(a, r, dw);
        for (std::size_t co = r.begin; co < r.end; ++co) {
            float s = 0.0f;
            for (std::size_t n = 0; n < a.n; ++n) s += contiguous_sum<Nc>(a.dy + (n * Co + co) * Nc);
            db[co] = (a.overwrite_dparams ? 0.0f : db[co]) + s;
        }
    }

    /// dW of output channels [r.begin, r.end), one sample and group at a time.
    static void dw_rows_per_sample(const backward_args& a, range r, float* dw) {
        float* xc = detail::work_scratch(scratch_floats);
        if constexpr (!direct) std::fill(xc, xc + Kg * Nc, 0.0f);
        for (std::size_t n = 0; n < a.n; ++n)
            for (std::size_t g = r.begin / Cog; g * Cog < r.end; ++g) {
                const float* xg = a.x + (n * Ci + g * Cig) * HW;
                if constexpr (!direct) load_columns(xg, xc);
                const float* dyn = a.dy + n * Co * Nc;
                dot_gemm<Nc, dot_r, dot_c>(
                    std::max(r.begin, g * Cog), std::min(r.end, (g + 1) * Cog), 0, Kg,
                    [dyn](std::size_t m) { return dyn + m * Nc; },
                    [xg, xc](std::size_t j) { return direct ? xg + j * HW : xc + j * Nc; },
                    [dw](std::size_t m, std::size_t j, float v) { dw[m * Kg + j] += v; });
            }
    }

    static void backward(const backward_args& a) {
        if (a.dx) backward_dx(a);
        if (a.dparams) {
            const std::size_t T = tasks_for(Co, double(a.n) * double(Co * Kg * Nc));
            parallel_for(T, [&](std::size_t t) {
                const range r = split(Co, t, T);
                if (r.begin < r.end) dw_rows(a, r);
            });
        }
    }
};

}  // namespace ctnn::cpu_detail

namespace ctnn {

/// Strided, dilated and grouped Conv: depthwise (one input channel per group) directly, the rest
/// by im2col and GEMMs. (Stride 1, dilation 1, one group: conv.hpp.)
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, std::size_t G,
          class In>
    requires(!(S == 1 && D == 1 && G == 1))
struct kernel<Conv<Ci, Co, K, S, P, D, G>, In, cpu> : kernel_base {
    using impl = std::conditional_t<(Ci == G && G > 1), cpu_detail::conv_depthwise<Ci, Co, K, S, P, D, In>,
                                    cpu_detail::conv_gemm<Ci, Co, K, S, P, D, G, In>>;
    static constexpr kernel_traits traits{.scratch = impl::scratch_floats, .overwrites_dparams = true, .adds = true, .strided_output = true};
    static void forward(const forward_args& a) { impl::forward(a); }
    static void backward(const backward_args& a) { impl::backward(a); }
};

}  // namespace ctnn
