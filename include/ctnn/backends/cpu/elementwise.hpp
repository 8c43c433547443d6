// Elementwise loops of the cpu backend: vectors of the backend's width, a scalar tail, split over
// the pool's threads. Used by the activation kernels (the optimizers split all layers at once:
// train/optim.hpp).
#pragma once
#include <cstddef>

#include "../../threads.hpp"
#include "simd.hpp"

namespace ctnn::cpu_detail {

/// Runs f.template operator()<Vt>(i) for every element i of [0, n): Vt::width elements at a time
/// with the cpu backend's vector type, the tail with simd::scalar, split over the pool's threads
/// in blocks of whole vectors once n is worth it. Each element is computed the same way whatever
/// the split, so results do not depend on the thread count.
template <class F>
void elementwise(std::size_t n, F&& f) {
    using V = simd::vec;
    const std::size_t T = tasks_for(num_threads(), double(n) * 8.0);
    parallel_for(T, [&](std::size_t t) {
        const range r = split(n, t, T, 64);
        std::size_t i = r.begin;
        for (; i + V::width <= r.end; i += V::width) f.template operator()<V>(i);
        for (; i < r.end; ++i) f.template operator()<simd::scalar>(i);
    });
}

}  // namespace ctnn::cpu_detail
