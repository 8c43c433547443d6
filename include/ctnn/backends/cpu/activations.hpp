// cpu kernel of every element-wise activation (the ctnn::activation concept): the layer's own
// math (layer.hpp) on vectors of the backend's width, split over the pool's threads.
//
// The forward computes every element with the vector math, the loop's scalar tail too (in lane 0
// of a vector): the vector functions (xsimd's exp, tanh) and the scalar ones (std::) round
// differently, and which elements fall in the tail depends on the batch, its split into tiles and
// over threads, and on whether the output is strided. So an element's bits depend on its value
// only.
#pragma once
#include "../../layer.hpp"
#include "elementwise.hpp"
#include "tag.hpp"

namespace ctnn {

template <activation L, class In>
struct kernel<L, In, cpu> : kernel_base {
    static constexpr std::size_t N = In::size;
    static constexpr kernel_traits traits{.strided_output = true};
    /// y[0..Vt::width) = f(x[0..Vt::width)) with the vector math (Vt::width 1: in lane 0).
    template <class Vt>
    static typename simd::vec::type f_vec(const float* x) {
        using V = simd::vec;
        if constexpr (Vt::width == V::width) {
            return L::template f<V>(V::load(x));
        } else {
            alignas(64) float t[V::width] = {*x};
            return L::template f<V>(V::load(t));
        }
    }
    static void forward(const forward_args& a) {
        using V = simd::vec;
        if (a.y_step(N) == N)
            return cpu_detail::elementwise(a.n * N, [&]<class Vt>(std::size_t i) {
                if constexpr (Vt::width == V::width) {
                    V::store(a.y + i, f_vec<Vt>(a.x + i));
                } else {
                    alignas(64) float t[V::width];
                    V::store(t, f_vec<Vt>(a.x + i));
                    a.y[i] = t[0];
                }
            });
        // samples a.y_stride apart: the same vectors over x as the dense loop, each element
        // stored where its sample is
        const std::size_t ys = a.y_stride;
        cpu_detail::elementwise(a.n * N, [&]<class Vt>(std::size_t g) {
            if (Vt::width == V::width && g % N + V::width <= N) return V::store(a.y + g / N * ys + g % N, f_vec<Vt>(a.x + g));
            alignas(64) float t[V::width];  // a vector across two samples, or the tail's lane 0
            V::store(t, f_vec<Vt>(a.x + g));
            for (std::size_t k = 0; k < Vt::width; ++k) a.y[(g + k) / N * ys + (g + k) % N] = t[k];
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
