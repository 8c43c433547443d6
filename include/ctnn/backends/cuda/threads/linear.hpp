// Per-thread work of Linear<I, O> on the GPU, forward fused with an activation A.
//   x [n, I]  weight [O, I]  bias [O]  y [n, O]
#pragma once
#include "activation.hpp"

namespace ctnn::cuda {

/// Forward: one block per output (sample, feature); its threads split the I-long dot product
/// (consecutive threads read consecutive weights and inputs); finish adds bias and applies A.
template <std::size_t I, std::size_t O, class A>
struct linear_forward {
    using value = float;
    struct args {
        const float* x;
        const float* params;  // weight then bias
        float* y;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return {static_cast<unsigned>(a.n * O), reduce_threads(I)}; }
    static CTNN_HD float partial(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t nn = b / O, o = b % O;
        const float* w = a.params + o * I;
        const float* x = a.x + nn * I;
        float acc = 0.0f;
        for (std::size_t i = t; i < I; i += nt) acc += w[i] * x[i];
        return acc;
    }
    static CTNN_HD void finish(unsigned b, float s, const args& a) { a.y[b] = A::f(s + a.params[O * I + b % O]); }
};

/// dx: one thread per (sample, input feature), summing over the O outputs.
template <std::size_t I, std::size_t O>
struct linear_backward_dx {
    struct args {
        const float* dy;
        const float* params;
        float* dx;
        std::size_t n;
    };
    static grid_size grid(const args& a) { return map_grid(a.n * I); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t k = item(b, t, nt);
        if (k >= a.n * I) return;
        const std::size_t nn = k / I, i = k % I;
        float acc = 0.0f;
        for (std::size_t o = 0; o < O; ++o) acc += a.params[o * I + i] * a.dy[nn * O + o];
        a.dx[k] = acc;
    }
};

/// dweight, dbias (+=): one thread per weight (then per bias), summing over the batch.
template <std::size_t I, std::size_t O>
struct linear_backward_dparams {
    struct args {
        const float* x;
        const float* dy;
        float* dparams;
        std::size_t n;
    };
    static grid_size grid(const args&) { return map_grid(O * I + O); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t k = item(b, t, nt);
        if (k >= O * I + O) return;
        float acc = 0.0f;
        if (k < O * I) {
            const std::size_t o = k / I, i = k % I;
            for (std::size_t nn = 0; nn < a.n; ++nn) acc += a.dy[nn * O + o] * a.x[nn * I + i];
        } else {
            for (std::size_t nn = 0; nn < a.n; ++nn) acc += a.dy[nn * O + (k - O * I)];
        }
        a.dparams[k] += acc;
    }
};

}  // namespace ctnn::cuda
