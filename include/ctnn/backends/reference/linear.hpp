// Reference kernel: Linear. Plain loops, double accumulators.
#pragma once
#include "../../backend.hpp"
#include "../../layers/linear.hpp"

namespace ctnn {

template <std::size_t I, std::size_t O, class In>
struct kernel<Linear<I, O>, In, reference> : kernel_base {
    // x [n, I]  weight [O, I]  bias [O]  y [n, O]
    static void forward(const forward_args& a) {
        const float* w = a.params;
        const float* b = a.params + O * I;
        for (std::size_t n = 0; n < a.n; ++n)
            for (std::size_t o = 0; o < O; ++o) {
                double acc = b[o];
                for (std::size_t i = 0; i < I; ++i) acc += double(w[o * I + i]) * a.x[n * I + i];
                a.y[n * O + o] = static_cast<float>(acc);
            }
    }
    static void backward(const backward_args& a) {
        const float* w = a.params;
        if (a.dx)
            for (std::size_t n = 0; n < a.n; ++n)
                for (std::size_t i = 0; i < I; ++i) {
                    double acc = 0;
                    for (std::size_t o = 0; o < O; ++o) acc += double(w[o * I + i]) * a.dy[n * O + o];
                    a.dx[n * I + i] = static_cast<float>(acc);
                }
        if (a.dparams) {
            float* dw = a.dparams;
            float* db = a.dparams + O * I;
            for (std::size_t o = 0; o < O; ++o) {
                double bacc = 0;
                for (std::size_t n = 0; n < a.n; ++n) bacc += a.dy[n * O + o];
                db[o] += static_cast<float>(bacc);
                for (std::size_t i = 0; i < I; ++i) {
                    double acc = 0;
                    for (std::size_t n = 0; n < a.n; ++n) acc += double(a.dy[n * O + o]) * a.x[n * I + i];
                    dw[o * I + i] += static_cast<float>(acc);
                }
            }
        }
    }
};

}  // namespace ctnn
