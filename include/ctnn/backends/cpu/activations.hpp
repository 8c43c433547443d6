// cpu kernel: ReLU, vectorised (LeakyReLU, Sigmoid, Tanh run on the reference backend).
#pragma once
#include <algorithm>

#include "../../layers/relu.hpp"
#include "elementwise.hpp"
#include "tag.hpp"

namespace ctnn {

template <class In>
struct kernel<ReLU, In, cpu> {
    static constexpr std::size_t N = In::size;
    static void forward(const forward_args& a) {
        cpu_detail::elementwise(a.n * N, [&]<class Vt>(std::size_t i) { Vt::store(a.y + i, Vt::relu(Vt::load(a.x + i))); });
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;  // NaN passes dy, as PyTorch (relu_grad)
        cpu_detail::elementwise(a.n * N, [&]<class Vt>(std::size_t i) {
            Vt::store(a.dx + i, Vt::relu_grad(Vt::load(a.y + i), Vt::load(a.dy + i)));
        });
    }
};

}  // namespace ctnn
