// cpu kernel: Linear.
//   forward  y[n, o] = b[o] + x[n, :] . W[o, :]     dot_gemm (samples x outputs per register tile,
//            the inner dimension across the vector); split over outputs when there are many
//            (each thread streams only its rows of W) or the batch is small, else over samples.
//   backward dx = dy W  and  dW += dy^T x            bcast_gemm (inputs across the vector);
//            dW is split over output rows, so it does not depend on the thread count at all.
#pragma once
#include <algorithm>

#include "../../fusion.hpp"
#include "../../layers/linear.hpp"
#include "../../threads.hpp"
#include "epilogue.hpp"
#include "gemm.hpp"
#include "tag.hpp"

namespace ctnn::cpu_detail {

template <std::size_t I, std::size_t O>
struct linear_impl {
    static constexpr bool wide = V::registers >= 32;
    static constexpr std::size_t R = wide ? 4 : 2, NC = 4;  // batched tile
    static constexpr std::size_t R1 = wide ? 2 : 1, NC1 = 8; // small-batch tile
    using bb = bcast_blocking<64, I>;

    template <class Act>
    static void forward(const forward_args& a) {
        const float* w = a.params;
        const float* bias = a.params + O * I;
        const auto A = [x = a.x](std::size_t m) { return x + m * I; };
        const auto B = [w](std::size_t j) { return w + j * I; };
        const auto E = [y = a.y, bias](std::size_t m, std::size_t j, float v) { y[m * O + j] = Act::f(v + bias[j]); };
        const std::size_t T = tasks_for(a.n * O, double(a.n) * double(I * O));
        if (T == 1) {
            if (a.n >= R) dot_gemm<I, R, NC>(0, a.n, 0, O, A, B, E);
            else dot_gemm<I, R1, NC1>(0, a.n, 0, O, A, B, E);
        } else if (O >= 16 * NC * T && a.n >= 4) {  // many outputs: each thread reads its part of W only
            const std::size_t tasks = T;
            parallel_for(tasks, [&](std::size_t t) {
                const range r = split(O, t, tasks, NC);
                dot_gemm<I, R, NC>(0, a.n, r.begin, r.end, A, B, E);
            });
        } else if (a.n >= 4 * T) {
            const std::size_t tasks = std::min(T, (a.n + R - 1) / R);
            parallel_for(tasks, [&](std::size_t t) {
                const range r = split(a.n, t, tasks, R);
                dot_gemm<I, R, NC>(r.begin, r.end, 0, O, A, B, E);
            });
        } else {
            const std::size_t tasks = std::min(T, (O + NC1 - 1) / NC1);
            parallel_for(tasks, [&](std::size_t t) {
                const range r = split(O, t, tasks, NC1);
                dot_gemm<I, R1, NC1>(0, a.n, r.begin, r.end, A, B, E);
            });
        }
    }

    static void backward(const backward_args& a) {
        const float* w = a.params;
        const std::size_t n = a.n;
        const std::size_t T = tasks_for(std::max(n, O), 2.0 * double(n) * double(I * O));
        parallel_for(T, [&](std::size_t t) {
            if (a.dx) {
                const range r = split(n, t, T, bb::R);
                bcast_gemm<I, bb::R, bb::NV, init::zero, true>(
                    r.begin, r.end, O, [dy = a.dy](std::size_t m, std::size_t k) { return dy[m * O + k]; },
                    [w](std::size_t k) { return w + k * I; }, a.dx, I);
            }
            if (a.dparams) {
                const range r = split(O, t, T, bb::R);
                bcast_gemm<I, bb::R, bb::NV, init::accumulate, true>(
                    r.begin, r.end, n, [dy = a.dy](std::size_t m, std::size_t k) { return dy[k * O + m]; },
                    [x = a.x](std::size_t k) { return x + k * I; }, a.dparams, I);
            }
        });
        if (a.dparams) {
            float* db = a.dparams + O * I;
            for (std::size_t o = 0; o < O; ++o) {
                float s = 0.0f;
                for (std::size_t i = 0; i < n; ++i) s += a.dy[i * O + o];
                db[o] += s;
            }
        }
    }
};

}  // namespace ctnn::cpu_detail

namespace ctnn {

template <std::size_t I, std::size_t O, class In>
struct kernel<Linear<I, O>, In, cpu> {
    using impl = cpu_detail::linear_impl<I, O>;
    static void forward(const forward_args& a) { impl::template forward<cpu_detail::identity>(a); }
    static void backward(const backward_args& a) { impl::backward(a); }
};

/// Linear + ReLU as one inference kernel.
template <std::size_t I, std::size_t O, class In, class L2>
struct fused<cpu, In, Linear<I, O>, ReLU, L2> {
    static constexpr std::size_t layers = 2;
    static void forward(const forward_args& a) { cpu_detail::linear_impl<I, O>::template forward<cpu_detail::relu>(a); }
};

}  // namespace ctnn
