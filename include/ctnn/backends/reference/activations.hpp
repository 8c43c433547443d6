// Reference kernels: the element-wise activations ReLU, LeakyReLU, Sigmoid, Tanh.
// Each is one function of x for forward and one of (x, y, dy) for backward.
#pragma once
#include <cmath>

#include "../../backend.hpp"
#include "../../layers/leaky_relu.hpp"
#include "../../layers/relu.hpp"
#include "../../layers/sigmoid.hpp"
#include "../../layers/tanh.hpp"

namespace ctnn::detail {

/// An element-wise layer from its two scalar functions F::f(x) and F::df(x, y, dy).
template <class F, class In>
struct elementwise_kernel {
    static constexpr std::size_t N = In::size;
    static void forward(const forward_args& a) {
        for (std::size_t i = 0; i < a.n * N; ++i) a.y[i] = F::f(a.x[i]);
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        for (std::size_t i = 0; i < a.n * N; ++i) a.dx[i] = F::df(a.x[i], a.y[i], a.dy[i]);
    }
};

struct relu_fn {
    static float f(float x) { return x > 0.0f ? x : (x == x ? 0.0f : x); }  // NaN passes, as in PyTorch
    static float df(float, float y, float dy) { return y > 0.0f || y != y ? dy : 0.0f; }  // NaN passes dy, as PyTorch
};
template <class L>
struct leaky_relu_fn {
    static float f(float x) { return x > 0.0f ? x : x * L::slope; }
    static float df(float x, float, float dy) { return x > 0.0f ? dy : dy * L::slope; }
};
struct sigmoid_fn {
    static float f(float x) { return 1.0f / (1.0f + std::exp(-x)); }
    static float df(float, float y, float dy) { return dy * y * (1.0f - y); }
};
struct tanh_fn {
    static float f(float x) { return std::tanh(x); }
    static float df(float, float y, float dy) { return dy * (1.0f - y * y); }
};

}  // namespace ctnn::detail

namespace ctnn {

template <class In>
struct kernel<ReLU, In, reference> : detail::elementwise_kernel<detail::relu_fn, In> {};
template <std::size_t Num, std::size_t Den, class In>
struct kernel<LeakyReLU<Num, Den>, In, reference>
    : detail::elementwise_kernel<detail::leaky_relu_fn<LeakyReLU<Num, Den>>, In> {};
template <class In>
struct kernel<Sigmoid, In, reference> : detail::elementwise_kernel<detail::sigmoid_fn, In> {};
template <class In>
struct kernel<Tanh, In, reference> : detail::elementwise_kernel<detail::tanh_fn, In> {};

}  // namespace ctnn
