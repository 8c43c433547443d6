// Per-thread work of the element-wise activations on the GPU, and the activation functors the
// fused Conv / Linear kernels apply in their epilogue. The math is the layer's own (layer.hpp),
// on scalar_math (math.hpp), so it is the reference's formula.
//
// An epilogue functor A has f(x) and df(y, dy): a fused kernel keeps only the activation's
// output, so its backward works from y. act_of<L> is one only for layers whose gradient follows
// from their output (L::grad_from_output); fusion checks it at compile time (cuda/fused.hpp).
#pragma once
#include "../../../layer.hpp"
#include "../../../math.hpp"
#include "hd.hpp"

namespace ctnn::cuda {

struct act_identity {
    static CTNN_HD float f(float x) { return x; }
    static CTNN_HD float df(float, float dy) { return dy; }
};

/// Activation layer L's forward as a functor.
template <class L>
struct layer_f {
    static CTNN_HD float f(float x) { return L::template f<scalar_math>(x); }
};

/// Activation layer L as an epilogue functor.
template <class L>
struct act_of {
    static_assert(L::grad_from_output, "ctnn cuda: a fused epilogue keeps only the activation's output, so its gradient must follow from it");
    static CTNN_HD float f(float x) { return L::template f<scalar_math>(x); }
    static CTNN_HD float df(float y, float dy) { return L::template df<scalar_math>(y, y, dy); }
};

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

/// dx = A::df(y, dy), one thread per element (a fused epilogue's backward).
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

/// dx = L::df(x, y, dy), one thread per element: an activation layer's own backward, for any
/// activation (its gradient may need x).
template <class L>
struct layer_act_backward {
    struct args {
        const float* x;
        const float* y;
        const float* dy;
        float* dx;
        std::size_t count;
    };
    static grid_size grid(const args& a) { return map_grid(a.count); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i < a.count) a.dx[i] = L::template df<scalar_math>(a.x[i], a.y[i], a.dy[i]);
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
