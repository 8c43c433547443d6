// Reference kernel of every element-wise activation (the ctnn::activation concept): the layer's
// own math (layer.hpp) on one float at a time.
#pragma once
#include "../../backend.hpp"
#include "../../layer.hpp"

namespace ctnn {

template <activation L, class In>
struct kernel<L, In, reference> : kernel_base {
    static constexpr std::size_t N = In::size;
    static void forward(const forward_args& a) {
        for (std::size_t i = 0; i < a.n * N; ++i) a.y[i] = L::template f<scalar_math>(a.x[i]);
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        for (std::size_t i = 0; i < a.n * N; ++i) a.dx[i] = L::template df<scalar_math>(a.x[i], a.y[i], a.dy[i]);
    }
};

}  // namespace ctnn
