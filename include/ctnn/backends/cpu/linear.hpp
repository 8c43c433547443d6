// cpu kernel: Linear.
//   forward  y[n, o] = b[o] + x[n, :] . W[o, :]
//            batch >= 8: yT = W xT in the bcast form (the batch across the vector, x transposed
//            into per-thread scratch in zero-padded panels of up to 2 vectors of samples, W
//            broadcast; ~peak FMA rate, no horizontal sums); split over outputs (each thread
//            streams only its rows of W), or over panels of samples when outputs are few.
//            batch < 8: dot_gemm (samples x outputs per register tile, the inner dimension across
//            the vector; batch 1 is a matrix-vector product, bound by reading W).
//            Which form is used depends on the batch size only, never on the thread count, and
//            each output's sum is formed the same way however the work is split.
//   backward dx = dy W  and  dW += dy^T x            bcast_gemm (inputs across the vector);
//            dW is split over output rows, so it does not depend on the thread count at all;
//            its rows are swept whole (row blocks outside), so the large dW streams contiguously.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../../backend.hpp"
#include "../../layers/linear.hpp"
#include "../../threads.hpp"
#include "epilogue.hpp"
#include "gemm.hpp"
#include "tag.hpp"

namespace ctnn::cpu_detail {

/// Forward tile of the batched path: R outputs x NV vectors of samples, yT = W xT, the batch across
/// the vector. xt: the transposed panel of x, row k at xt + k * P. Each y[j, o] is one fma chain over
/// k in order (then + bias, Act), whatever R, NV or lane: the same numbers however work is split.
/// ldy: floats from one sample of y to the next (O, or a Concat slice's forward_args::y_stride).
template <std::size_t I, std::size_t O, std::size_t P, std::size_t R, std::size_t NV, class Act>
inline void linear_fwd_tile(const float* w, const float* bias, std::size_t o0, const float* xt, float* y,
                            std::size_t j0, std::size_t ncols, std::size_t ldy) {
    typename V::type s[R][NV];
#pragma GCC unroll 16
    for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) s[r][v] = V::zero();
    const float* wp = w + o0 * I;
    for (std::size_t k = 0; k < I; ++k) {
        typename V::type xv[NV];
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) xv[v] = V::load(xt + k * P + v * W);
#pragma GCC unroll 16
        for (std::size_t r = 0; r < R; ++r) {
            const typename V::type av = V::set1(wp[r * I + k]);
#pragma GCC unroll 4
            for (std::size_t v = 0; v < NV; ++v) s[r][v] = V::fma(av, xv[v], s[r][v]);
        }
    }
    alignas(64) float t[R][NV * W];
#pragma GCC unroll 16
    for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) V::store(&t[r][v * W], s[r][v]);
    for (std::size_t j = 0; j < ncols; ++j)
        for (std::size_t r = 0; r < R; ++r) y[(j0 + j) * ldy + o0 + r] = Act::f(t[r][j] + bias[o0 + r]);
}

template <std::size_t I, std::size_t O>
struct linear_impl {
    static constexpr bool wide = V::registers >= 32;
    static constexpr std::size_t R = wide ? 4 : 2, NC = 4;  // batched tile
    static constexpr std::size_t R1 = wide ? 2 : 1, NC1 = wide ? 12 : 8, NCv = wide ? 16 : 8;  // small batches
    using bb = bcast_blocking<64, I>;

    // The batched forward (bcast form): panels of up to PV vectors of samples, x transposed into
    // per-thread scratch (I x P floats, zero-padded), R outputs per tile for NV vectors.
    static constexpr std::size_t PV = (W == 1) ? 1 : 2, P = PV * W;
    static constexpr std::size_t rows_for(std::size_t nv) {
        if (wide) return nv == 1 ? 16 : nv == 2 ? 14 : nv == 3 ? 9 : 6;
        return nv == 1 ? 12 : nv == 2 ? 6 : 3;
    }
    static constexpr std::size_t RB = rows_for(PV);  // the split grain over outputs
    // scratch <= 2 MB; and outputs enough to pay for transposing x (with few outputs, as the
    // seed CNN's 2048 -> 10, the dot form is faster, and splits over threads by samples)
    static constexpr bool batched_ok = W > 1 && I * P <= (std::size_t(1) << 19) && O >= 16;
    static constexpr std::size_t batched_min = 8;  // batch from which the bcast form is used
    static constexpr std::size_t scratch_floats = batched_ok ? I * P : 0;

    static void transpose_panel(const float* x, std::size_t j0, std::size_t nc, std::size_t ncp, float* xt) {
        for (std::size_t j = 0; j < nc; ++j) {
            const float* xr = x + (j0 + j) * I;
            for (std::size_t k = 0; k < I; ++k) xt[k * P + j] = xr[k];
        }
        for (std::size_t k = 0; k < I; ++k)
            for (std::size_t j = nc; j < ncp; ++j) xt[k * P + j] = 0.0f;
    }

    /// Outputs [o_begin, o_end) for samples [s_begin, s_end), panel by panel.
    template <class Act>
    static void forward_batched(const forward_args& a, std::size_t o_begin, std::size_t o_end, std::size_t s_begin,
                                std::size_t s_end) {
        if (o_begin >= o_end || s_begin >= s_end) return;
        const float* w = a.params;
        const float* bias = a.params + O * I;
        float* xt = detail::work_scratch(scratch_floats);
        // balanced panels: n = 33 is 3 vectors, not 2 + 1
        const std::size_t ns = s_end - s_begin, np = (ns + P - 1) / P, pc = ((ns + np - 1) / np + W - 1) / W * W;
        for (std::size_t j0 = s_begin; j0 < s_end; j0 += pc) {
            const std::size_t nc = std::min(pc, s_end - j0), nv = (nc + W - 1) / W;
            transpose_panel(a.x, j0, nc, nv * W, xt);
            with_rows<PV>(nv, [&]<std::size_t Nv>() {
                constexpr std::size_t Rt = rows_for(Nv);
                for_tiles<Rt>(o_begin, o_end, [&]<std::size_t Rr>(std::size_t o0) {
                    linear_fwd_tile<I, O, P, Rr, Nv, Act>(w, bias, o0, xt, a.y, j0, nc, a.y_step(O));
                });
            });
        }
    }

    template <class Act>
    static void forward(const forward_args& a) {
        if constexpr (batched_ok) {
            if (a.n >= batched_min) {
                const std::size_t T = tasks_for(a.n * O, double(a.n) * double(I * O));
                if (T == 1) return forward_batched<Act>(a, 0, O, 0, a.n);
                if (O >= RB * T) {  // over outputs: each thread reads its rows of W only
                    parallel_for(T, [&](std::size_t t) {
                        const range r = split(O, t, T, RB);
                        forward_batched<Act>(a, r.begin, r.end, 0, a.n);
                    });
                } else {  // few outputs: over panels of samples
                    const std::size_t tasks = std::min(T, (a.n + P - 1) / P);
                    parallel_for(tasks, [&](std::size_t t) {
                        const range r = split(a.n, t, tasks, P);
                        forward_batched<Act>(a, 0, O, r.begin, r.end);
                    });
                }
                return;
            }
        }
        forward_dot<Act>(a);
    }

    template <class Act>
    static void forward_dot(const forward_args& a) {
        const float* w = a.params;
        const float* bias = a.params + O * I;
        const auto A = [x = a.x](std::size_t m) { return x + m * I; };
        const auto B = [w](std::size_t j) { return w + j * I; };
        const std::size_t ys = a.y_step(O);
        const auto E = [y = a.y, bias, ys](std::size_t m, std::size_t j, float v) { y[m * ys + j] = Act::f(v + bias[j]); };
        const std::size_t n = a.n, T = tasks_for(n * O, double(n) * double(I * O));
        const auto run = [&]<std::size_t Rt, std::size_t Nt>() {
            if (T == 1) {
                dot_gemm<I, Rt, Nt>(0, n, 0, O, A, B, E);
            } else if (O >= 16 * Nt * T || n < Rt * T) {  // over outputs: each thread reads its part of W only
                const std::size_t tasks = std::min(T, (O + Nt - 1) / Nt);
                parallel_for(tasks, [&](std::size_t t) {
                    const range r = split(O, t, tasks, Nt);
                    dot_gemm<I, Rt, Nt>(0, n, r.begin, r.end, A, B, E);
                });
            } else {
                const std::size_t tasks = std::min(T, (n + Rt - 1) / Rt);
                parallel_for(tasks, [&](std::size_t t) {
                    const range r = split(n, t, tasks, Rt);
                    dot_gemm<I, Rt, Nt>(r.begin, r.end, 0, O, A, B, E);
                });
            }
        };
        // the tile does not change the numbers (each sum is formed the same way), only the speed
        if (n == 1) run.template operator()<1, NCv>();  // matrix-vector: more rows of W in flight
        else if (n < (wide ? batched_min : R)) run.template operator()<R1, NC1>();
        else run.template operator()<R, NC>();
    }

    // A weight matrix larger than a core's L2: dx prefetches W's next column panel, and a dW
    // that overwrites is written around the caches (the optimizer reads dW from memory either
    // way; docs/benchmarks.md, "Design measurements")
    static constexpr bool large = I * O * sizeof(float) >= (std::size_t(1) << 21);

    static void backward(const backward_args& a) {
        const float* w = a.params;
        const std::size_t n = a.n;
        const std::size_t T = tasks_for(std::max(n, O), 2.0 * double(n) * double(I * O));
        const bool stream = large && W > 1 && a.overwrite_dparams && I % W == 0 &&
                            reinterpret_cast<std::uintptr_t>(a.dparams) % (W * sizeof(float)) == 0;
        // dW over its rows (outputs) when each task gets rows enough; else over column chunks
        // (inputs), so that a task reads only its columns of every sample's x. (The seed CNN's
        // 2048 -> 10 has 10 rows: split by rows, each task read all of x, half of it written by
        // the other core in the forward, which costs far more when the host puts the two vCPUs
        // far apart.) Each element is summed over the batch the same way either way.
        constexpr std::size_t CH = bb::NV * W, chunks = (I + CH - 1) / CH;
        const bool by_columns = O < 2 * bb::R * T && chunks >= T;
        parallel_for(T, [&](std::size_t t) {
            if (a.dx) {  // (the same samples per task as the other layers' kernels: no rows move between cores)
                const range r = split(n, t, T);
                bcast_gemm<I, bb::R, bb::NV, init::zero, true, large>(
                    r.begin, r.end, O, [dy = a.dy](std::size_t m, std::size_t k) { return dy[m * O + k]; },
                    [w](std::size_t k) { return w + k * I; }, a.dx, I);
            }
            if (a.dparams) {  // (over zeros, init::zero gives the same bits without reading dW)
                const auto A = [dy = a.dy](std::size_t m, std::size_t k) { return dy[k * O + m]; };
                if (by_columns) {
                    const range r = split(chunks, t, T);
                    for (std::size_t c = r.begin; c < r.end; ++c) {
                        const std::size_t j0 = c * CH;
                        const auto B = [x = a.x + j0](std::size_t k) { return x + k * I; };
                        const auto run = [&]<std::size_t Nc>() {
                            if (a.overwrite_dparams) bcast_gemm<Nc, bb::R, bb::NV, init::zero>(0, O, n, A, B, a.dparams + j0, I);
                            else bcast_gemm<Nc, bb::R, bb::NV, init::accumulate>(0, O, n, A, B, a.dparams + j0, I);
                        };
                        if (j0 + CH <= I) run.template operator()<CH>();
                        else if constexpr (I % CH != 0) run.template operator()<I % CH>();
                    }
                    return;
                }
                const range r = split(O, t, T, bb::R);
                const auto B = [x = a.x](std::size_t k) { return x + k * I; };
                if constexpr (large && W > 1) {
                    if (stream) {
                        bcast_gemm<I, bb::R, bb::NV, init::zero, false, false, true>(r.begin, r.end, n, A, B, a.dparams, I);
                        simd::stream_fence();
                        return;
                    }
                }
                if (a.overwrite_dparams) bcast_gemm<I, bb::R, bb::NV, init::zero, false>(r.begin, r.end, n, A, B, a.dparams, I);
                else bcast_gemm<I, bb::R, bb::NV, init::accumulate, false>(r.begin, r.end, n, A, B, a.dparams, I);
            }
        });
        if (a.dparams) {
            float* db = a.dparams + O * I;
            for (std::size_t o = 0; o < O; ++o) {
                float s = 0.0f;
                for (std::size_t i = 0; i < n; ++i) s += a.dy[i * O + o];
                db[o] = (a.overwrite_dparams ? 0.0f : db[o]) + s;
            }
        }
    }
};

}  // namespace ctnn::cpu_detail

namespace ctnn {

template <std::size_t I, std::size_t O, class In>
struct kernel<Linear<I, O>, In, cpu> : kernel_base {
    using impl = cpu_detail::linear_impl<I, O>;
    static constexpr kernel_traits traits{.scratch = impl::scratch_floats, .overwrites_dparams = true, .strided_output = true};
    static void forward(const forward_args& a) { impl::template forward<cpu_detail::identity>(a); }
    static void backward(const backward_args& a) { impl::backward(a); }
};

/// Linear + ReLU as one inference kernel.
template <std::size_t I, std::size_t O, class In, class L2>
struct fused<cpu, In, Linear<I, O>, ReLU, L2> : kernel_base {
    using impl = cpu_detail::linear_impl<I, O>;
    static constexpr kernel_traits traits{.scratch = impl::scratch_floats, .fuses = 2, .strided_output = true};
    static void forward(const group_forward_args<2>& g) {
        forward_args a = g.first();
        a.y = g.last().y;
        a.y_stride = g.last().y_stride;
        impl::template forward<cpu_detail::relu>(a);
    }
};

}  // namespace ctnn
