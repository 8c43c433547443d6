// cpu kernel of every element-wise activation (the ctnn::activation concept): the layer's own
// math (layer.hpp) on vectors of the backend's width, split over the pool's threads.
#pragma once
#include "../../layer.hpp"
#include "elementwise.hpp"
#include "tag.hpp"

namespace ctnn {

template <activation L, class In>
struct kernel<L, In, cpu> : kernel_base {
    static constexpr std::size_t N = In::size;
    static void forward(const forward_args& a) {
        cpu_detail::elementwise(a.n * N, [&]<class Vt>(std::size_t i) {
            Vt::store(a.y + i, L::template f<Vt>(Vt::load(a.x + i)));
        });
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        cpu_detail::elementwise(a.n * N, [&]<class Vt>(std::size_t i) {
            Vt::store(a.dx + i, L::template df<Vt>(Vt::load(a.x + i), Vt::load(a.y + i), Vt::load(a.dy + i)));
        });
    }
};

}  // namespace ctnn
