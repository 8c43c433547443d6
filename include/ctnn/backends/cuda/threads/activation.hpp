// Per-thread work of the element-wise activations (ReLU, LeakyReLU, Sigmoid, Tanh), and the
// activation functors the fused Conv / Linear kernels apply in their epilogue.
//
// An activation functor A has f(x) and df(y, dy): the backward is written in terms of the
// output y only, so a fused kernel need not keep the pre-activation. For LeakyReLU with a
// slope >= 0, y > 0 exactly when x > 0, so this equals PyTorch's rule on x.
#pragma once
#include <type_traits>

#include "../../../layers/leaky_relu.hpp"
#include "../../../layers/relu.hpp"
#include "../../../layers/sigmoid.hpp"
#include "../../../layers/tanh.hpp"
#include "hd.hpp"

namespace ctnn::cuda {

struct act_identity {
    static CTNN_HD float f(float x) { return x; }
    static CTNN_HD float df(float, float dy) { return dy; }
};
struct act_relu {
    static CTNN_HD float f(float x) { return x > 0.0f ? x : (is_nan(x) ? x : 0.0f); }  // NaN passes
    static CTNN_HD float df(float y, float dy) { return y > 0.0f || is_nan(y) ? dy : 0.0f; }  // NaN passes dy, as PyTorch
};
template <std::size_t Num, std::size_t Den>
struct act_leaky_relu {
    static constexpr float slope = LeakyReLU<Num, Den>::slope;
    static CTNN_HD float f(float x) { return x > 0.0f ? x : x * slope; }
    static CTNN_HD float df(float y, float dy) { return y > 0.0f ? dy : dy * slope; }
};
struct act_sigmoid {
    static CTNN_HD float f(float x) { return 1.0f / (1.0f + ::expf(-x)); }
    static CTNN_HD float df(float y, float dy) { return dy * y * (1.0f - y); }
};
struct act_tanh {
    static CTNN_HD float f(float x) { return ::tanhf(x); }
    static CTNN_HD float df(float y, float dy) { return dy * (1.0f - y * y); }
};

/// The functor of an activation layer type; `void` for a layer that is not one.
template <class L> struct activation_of { using type = void; };
template <> struct activation_of<ReLU> { using type = act_relu; };
template <std::size_t N, std::size_t D> struct activation_of<LeakyReLU<N, D>> { using type = act_leaky_relu<N, D>; };
template <> struct activation_of<Sigmoid> { using type = act_sigmoid; };
template <> struct activation_of<Tanh> { using type = act_tanh; };
template <class L> inline constexpr bool is_activation = !std::is_void_v<typename activation_of<L>::type>;

/// y = A::f(x), one thread per element.
template <class A>
struct act_forward {
    struct args {
        const float* x;
        float* y;
        std::size_t count;
    };
    static grid_size grid(const args& a) { return map_grid(a.count); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i < a.count) a.y[i] = A::f(a.x[i]);
    }
};

/// dx = A::df(y, dy), one thread per element.
template <class A>
struct act_backward {
    struct args {
        const float* y;
        const float* dy;
        float* dx;
        std::size_t count;
    };
    static grid_size grid(const args& a) { return map_grid(a.count); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i < a.count) a.dx[i] = A::df(a.y[i], a.dy[i]);
    }
};

/// y = x, one thread per element (Flatten when not aliased, Dropout in inference).
struct copy_kernel {
    struct args {
        const float* x;
        float* y;
        std::size_t count;
    };
    static grid_size grid(const args& a) { return map_grid(a.count); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i < a.count) a.y[i] = a.x[i];
    }
};

}  // namespace ctnn::cuda
