// cpu kernel: ReLU, vectorised (LeakyReLU, Sigmoid, Tanh run on the reference backend).
#pragma once
#include <algorithm>

#include "../../layers/relu.hpp"
#include "../../threads.hpp"
#include "gemm.hpp"
#include "tag.hpp"

namespace ctnn {

template <class In>
struct kernel<ReLU, In, cpu> {
    static constexpr std::size_t N = In::size;
    template <class F>
    static void split_elements(std::size_t count, F&& f) {
        const std::size_t T = count >= 65536 ? num_threads() : 1;
        parallel_for(T, [&](std::size_t t) {
            const range r = split(count, t, T, 64);
            f(r.begin, r.end);
        });
    }
    static void forward(const forward_args& a) {
        using V = cpu_detail::V;
        split_elements(a.n * N, [&](std::size_t b, std::size_t e) {
            std::size_t i = b;
            for (; i + V::width <= e; i += V::width) V::store(a.y + i, V::relu(V::load(a.x + i)));
            for (; i < e; ++i) a.y[i] = simd::scalar::relu(a.x[i]);
        });
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        using V = cpu_detail::V;
        split_elements(a.n * N, [&](std::size_t b, std::size_t e) {
            std::size_t i = b;
            for (; i + V::width <= e; i += V::width) V::store(a.dx + i, V::relu_grad(V::load(a.y + i), V::load(a.dy + i)));
            for (; i < e; ++i) a.dx[i] = a.y[i] > 0.0f || a.y[i] != a.y[i] ? a.dy[i] : 0.0f;  // NaN passes dy
        });
    }
};

}  // namespace ctnn
