// What a fused cpu kernel applies to each value it produces: an activation and, for Conv, a pool.
#pragma once
#include <cstddef>

#include "../../layers/maxpool.hpp"
#include "../../layers/relu.hpp"

namespace ctnn::cpu_detail {

struct identity {
    static float f(float x) { return x; }
    template <class Vt> static typename Vt::type v(typename Vt::type x) { return x; }
};
struct relu {
    // as the reference ReLU (NaN passes, -0 becomes +0), without a data-dependent branch
    static float f(float x) {
        const float r = x > 0.0f ? x : 0.0f;  // maxss
        return x != x ? x : r;
    }
    template <class Vt> static typename Vt::type v(typename Vt::type x) { return Vt::relu(x); }
};
template <class L> struct act_of;
template <> struct act_of<ReLU> { using type = relu; };

struct no_pool {
    static constexpr std::size_t K = 1, S = 1;
};
template <std::size_t PK, std::size_t PS>
struct max_pool {
    static constexpr std::size_t K = PK, S = PS;
};

/// The maximum of n values at stride s, NaN if any is NaN (as the reference MaxPool). Branch-free
/// except on NaN.
inline float window_max(const float* p, std::size_t n, std::size_t s) {
    float m = p[0];
    bool bad = m != m;
    for (std::size_t i = 1; i < n; ++i) {
        const float v = p[i * s];
        m = v > m ? v : m;  // maxss
        bad |= v != v;
    }
    return bad ? p[0] * 0.0f + __builtin_nanf("") : m;
}

}  // namespace ctnn::cpu_detail
