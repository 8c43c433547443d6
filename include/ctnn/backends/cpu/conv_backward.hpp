// cpu kernel: the backward of a stride-1 Conv (conv.hpp), in named steps. Per task (a range of
// samples on one thread): carve the task's scratch; for each sample form dY (a fused group's: from
// the pooled gradient), add the sample's dW (Winograd or direct) to the task's partial sums and
// write its dX (Winograd or direct); then the tasks' partial sums are reduced in task order, so the
// result depends on the thread count only through that split.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../../layers/relu.hpp"
// (included by conv.hpp, after conv_s1)

namespace ctnn::cpu_detail {

/// Backward of conv_s1<Ci, Co, K, P, In>; with Pooled, of Conv + ReLU + MaxPool<2> run by the
/// forward with max_pool_saving: a.y, a.dy are the pooled output and its gradient and a.saved the
/// maxima's indices, from which each sample's dY (the unfused ReLU and MaxPool backward) is formed
/// in scratch.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t P, class In, bool Pooled>
struct conv_s1_backward : conv_s1<Ci, Co, K, P, In> {
    using C = conv_s1<Ci, Co, K, P, In>;
    using C::aoff, C::boff, C::boff2, C::compact_dw, C::Copad, C::dot_c, C::dot_r, C::dw_dot, C::G, C::H, C::Kd, C::KK,
        C::L, C::N, C::Nc, C::Ncpad, C::Nd, C::OH, C::OW, C::part_size, C::Qpad, C::scratch_floats, C::Wd, C::wino_dw,
        C::wino_dx, C::Wp, C::xc_size, C::xp_size;
    using dwb = typename C::dwb;
    using dxb = typename C::dxb;
    using wb = typename C::wb;  // dX by Winograd (void: never)
    using wf = typename C::wf;  // dW by Winograd (void: never)

    /// What a task works in: pointers into its thread's work scratch, in the order the forward's
    /// scratch lays out (a sample that falls back to the direct path leaves the Winograd parts alone).
    struct task_scratch {
        float *xp, *xc, *dyb, *dxp, *dyt;  // direct paths: padded planes, columns, padded dY, dX, dY transposed
        float *ub, *wxs;                   // Winograd dX (transformed weights, input), dW input
        float *wv = nullptr, *wdyt = nullptr, *wdyw = nullptr, *wacc = nullptr;  // Winograd dW
        float* dyc;                        // a pooled group's dY
    };

    static void run(const backward_args& a) {
        const std::size_t T = tasks_for(a.n, 2.0 * double(a.n) * double(Co * Kd * N));
        float* parts = a.dparams ? detail::shared_scratch(T * part_size) : nullptr;
        bool wdx = false;  // dX by Winograd (finite weights)
        if constexpr (wino_dx) wdx = a.dx && all_finite<Co * Kd>(a.params);
        parallel_for(T, [&](std::size_t t) {
            float* part = parts ? parts + t * part_size : nullptr;
            if (part) std::fill(part, part + part_size, 0.0f);
            const range r = split(a.n, t, T);
            if (r.begin < r.end) task(a, r, part, wdx);
        });
        if (a.dparams) reduce_parts(a, parts, T);
    }

private:
    /// Samples [r.begin, r.end): dW into part (if given), dX into a.dx (if given).
    static void task(const backward_args& a, range r, float* part, bool wdx) {
        task_scratch s = carve(a, part, wdx);
        const bool dyb_dw = part && dw_dot && !compact_dw;  // the dW sums read dyb
        for (std::size_t n = r.begin; n < r.end; ++n) {
            const float* dy = a.dy + n * Co * OH * OW;
            if constexpr (Pooled) dy = pooled_dy(a, n, s, part);  // (instantiated only for pooled groups)
            const float* xn = a.x + n * Ci * H * Wd;
            // (dY's finiteness, checked once for both Winograd paths)
            [[maybe_unused]] const bool dy_finite =
                (wino_dx && wdx) || (wino_dw && part) ? all_finite<Co * OH * OW>(dy) : false;
            bool dx_wino = false;
            if constexpr (wino_dx) dx_wino = wdx && dy_finite;
            if ((a.dx && !dx_wino) || dyb_dw)
                for (std::size_t co = 0; co < Co; ++co)
                    for (std::size_t oh = 0; oh < OH; ++oh)
                        std::memcpy(s.dyb + co * L + G + oh * Wp, dy + (co * OH + oh) * OW, OW * sizeof(float));
            bool dw_wino = false;
            if constexpr (wino_dw) dw_wino = part && dy_finite && all_finite<Ci * H * Wd>(xn);
            if (dw_wino) dw_sample_winograd(xn, dy, s, part);
            else if (part) dw_sample_direct(xn, dy, s, part);
            if (dx_wino) dx_sample_winograd(dy, s, a.dx + n * Ci * H * Wd);
            else if (a.dx) dx_sample_direct(a.params, s, a.dx + n * Ci * H * Wd);
        }
        if constexpr (wino_dw)
            if (part) wf::finish_dw(s.wacc, part);  // part [(ci * KK + kh * K + kw) * Copad + co]
    }

    /// The task's scratch, cleared where the paths it will take need zeros.
    static task_scratch carve(const backward_args& a, float* part, bool wdx) {
        task_scratch s;
        s.xp = detail::work_scratch(scratch_floats);
        s.xc = s.xp + xp_size;
        s.dyb = s.xc + xc_size;
        s.dxp = s.dyb + align_floats(Co * L);
        s.dyt = s.dxp + align_floats(Ci * Qpad);
        if (part) {
            C::clear_scratch(s.xp, s.xc);
            if (!dw_dot) std::fill(s.dyt, s.dyt + Nd * Copad, 0.0f);
        }
        if (a.dx || (part && dw_dot && !compact_dw)) std::fill(s.dyb, s.dyb + Co * L, 0.0f);
        s.ub = s.dyt + align_floats(Nd * Copad);
        if constexpr (wino_dx)
            if (wdx) {
                const float* w = a.params;
                wb::transform_weights([w](std::size_t ci, std::size_t co, std::size_t a2, std::size_t b2) {
                    return w[co * Kd + ci * KK + (K - 1 - a2) * K + (K - 1 - b2)];
                }, s.ub);
                wb::clear_input(s.ub + wb::u_size);
            }
        s.wxs = s.ub + C::template wino_scratch<wb>();
        if constexpr (wino_dw)
            if (part) {
                s.wv = s.wxs + wf::x_size;
                s.wdyt = s.wv + wf::v_size;
                s.wdyw = s.wdyt + wf::dyt_size;
                s.wacc = s.wdyw + wf::dyw_size;
                wf::clear_dw(s.wxs, s.wdyt, s.wacc);
            }
        s.dyc = s.wxs + C::template wino_dw_scratch<wf>();
        return s;
    }

    /// A pooled group's dY for sample n, formed in s.dyc (and, for the Winograd dW, scattered
    /// straight into its transposed layout).
    static const float* pooled_dy(const backward_args& a, std::size_t n, task_scratch& s, float* part) {
        constexpr std::size_t PQ = (OH / 2) * (OW / 2);
        const float* yp = a.y + n * Co * PQ;
        const float* gp = a.dy + n * Co * PQ;
        const float* sp = a.saved + n * Co * PQ;
        for (std::size_t co = 0; co < Co; ++co)
            unpool2x2_relu<OH, OW>(yp + co * PQ, gp + co * PQ, sp + co * PQ, s.dyc + co * OH * OW);
        if constexpr (wino_dw)
            if (part) {
                constexpr std::size_t CW = wf::CW, Cop = wf::Cop;
                static_assert(Cop == Copad);
                std::fill(s.wdyt, s.wdyt + wf::dyt_size, 0.0f);
                for (std::size_t co = 0; co < Co; ++co)
                    for (std::size_t j = 0; j < PQ; ++j) {
                        const float v = yp[co * PQ + j];
                        const float d = ReLU::df<simd::scalar>(v, v, gp[co * PQ + j]);
                        const std::uint32_t i = static_cast<std::uint32_t>(sp[co * PQ + j]);
                        s.wdyt[((i / OW) * CW + i % OW) * Cop + co] = 0.0f + d;
                    }
            }
        return s.dyc;
    }

    static void add_bias_grad(const float* dy, float* part) {
        for (std::size_t co = 0; co < Co; ++co) part[Kd * Copad + co] += contiguous_sum<OH * OW>(dy + co * OH * OW);
    }

    /// One sample's dW by Winograd (finite x and dY), into the task's Winograd accumulators.
    static void dw_sample_winograd(const float* xn, const float* dy, task_scratch& s, float* part) {
        if constexpr (wino_dw) {
            add_bias_grad(dy, part);
            wf::load_input(xn, s.wxs);
            if constexpr (!Pooled) wf::transpose_dy(dy, s.wdyt);  // (pooled: scattered by pooled_dy)
            wf::accumulate_dw(s.wxs, s.wv, s.wdyt, s.wdyw, s.wacc);
        }
    }

    /// One sample's dW directly: the shifted input rows against dY's rows (dot products), or
    /// against dY transposed (Co across the vector).
    static void dw_sample_direct(const float* xn, const float* dy, task_scratch& s, float* part) {
        C::load_padded(xn, s.xp);
        if constexpr (compact_dw) C::load_columns(s.xp, s.xc);
        add_bias_grad(dy, part);
        // row k of the input terms, Nd long: Xc's row, or the shifted padded plane
        const auto xrow = [xp = s.xp, xc = s.xc](std::size_t k) { return compact_dw ? xc + k * Ncpad : xp + boff[k]; };
        if constexpr (dw_dot) {  // dY as it is, or its padded copy
            dot_gemm<Nd, dot_r, dot_c>(
                0, Co, 0, Kd, [dy, dyb = s.dyb](std::size_t m) { return compact_dw ? dy + m * Nc : dyb + m * L + G; },
                xrow, [part](std::size_t m, std::size_t j, float v) { part[j * Copad + m] += v; });
        } else {
            float* dyt = s.dyt;
            for (std::size_t co = 0; co < Co; ++co)
                for (std::size_t oh = 0; oh < OH; ++oh)
                    for (std::size_t ow = 0; ow < OW; ++ow) dyt[(oh * (Nd / OH) + ow) * Copad + co] = dy[(co * OH + oh) * OW + ow];
            bcast_gemm<Copad, dwb::R, dwb::NV, init::accumulate>(
                0, Kd, Nd, [xrow](std::size_t m, std::size_t k) { return xrow(m)[k]; },
                [dyt](std::size_t k) { return dyt + k * Copad; }, part, Copad);
        }
    }

    /// One sample's dX by Winograd: the full correlation of dY with the flipped kernels.
    static void dx_sample_winograd(const float* dy, task_scratch& s, float* dx) {
        if constexpr (wino_dx) {
            float* xs = s.ub + wb::u_size;
            float* v = xs + wb::x_size;
            float* m = v + wb::v_size;
            wb::load_input(dy, xs);
            wb::template run_sample<identity, no_pool>(s.ub, xs, v, m, nullptr, dx, nullptr);
        }
    }

    /// One sample's dX directly: W' [Ci, Co*KK] x the padded dY's shifted rows, then unpadded.
    static void dx_sample_direct(const float* w, task_scratch& s, float* dx) {
        bcast_gemm<Qpad, dxb::R, dxb::NV, init::zero>(
            0, Ci, Co * KK, [w](std::size_t m, std::size_t k) { return w[m * KK + aoff[k]]; },
            [dyb = s.dyb](std::size_t k) { return dyb + boff2[k]; }, s.dxp, Qpad);
        for (std::size_t ci = 0; ci < Ci; ++ci)
            for (std::size_t h = 0; h < H; ++h)
                std::memcpy(dx + (ci * H + h) * Wd, s.dxp + ci * Qpad + h * Wp + P, Wd * sizeof(float));
    }

    /// The tasks' partial sums in task order, a row of Copad at a time, stored transposed into
    /// dparams (row Kd: the bias); written over stale values when the args say so.
    static void reduce_parts(const backward_args& a, const float* parts, std::size_t T) {
        for (std::size_t k = 0; k <= Kd; ++k) {
            alignas(64) float s[Copad];
            for (std::size_t c = 0; c < Copad; c += W) {
                V::type v = V::load(parts + k * Copad + c);
                for (std::size_t t = 1; t < T; ++t) v = v + V::load(parts + t * part_size + k * Copad + c);
                V::store(s + c, v);
            }
            float* d = k < Kd ? a.dparams + k : a.dparams + Co * Kd;
            const std::size_t stride = k < Kd ? Kd : 1;
            for (std::size_t co = 0; co < Co; ++co) d[co * stride] = (a.overwrite_dparams ? 0.0f : d[co * stride]) + s[co];
        }
    }
};

}  // namespace ctnn::cpu_detail
