// cpu kernel: SqueezeExcite (layers/squeeze_excite.hpp). Per sample, the squeeze (channel means),
// the two small matrix-vector products and the gate are a few hundred floats; the passes over the
// map (the means, y = x g; in backward dg = sum dy x and dx = dy g + ds / HW) are vector loops.
// Samples are split over threads. The parameter gradients are summed over the batch a row at a
// time (rows split over threads, each row's sum over the samples in sample order), so every value
// is formed the same way whatever the thread count. Sums are in float (the reference: double).
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>

#include "../../backend.hpp"
#include "../../layers/squeeze_excite.hpp"
#include "../../threads.hpp"
#include "conv.hpp"  // contiguous_sum
#include "tag.hpp"

namespace ctnn {

namespace cpu_detail {

/// sum a[i] b[i] for n floats: vector accumulators, then the tail (a fixed order).
inline float dot(const float* a, const float* b, std::size_t n) {
    const std::size_t nv = n / W * W;
    V::type s = V::zero();
    for (std::size_t i = 0; i < nv; i += W) s = V::fma(V::load(a + i), V::load(b + i), s);
    float t = V::sum(s);
    for (std::size_t i = nv; i < n; ++i) t += a[i] * b[i];
    return t;
}

/// y[i] = x[i] g + c for n floats.
inline void scale_add(const float* x, float g, float c, float* y, std::size_t n) {
    const auto gv = V::set1(g), cv = V::set1(c);
    const std::size_t nv = n / W * W;
    for (std::size_t i = 0; i < nv; i += W) V::store(y + i, V::fma(V::load(x + i), gv, cv));
    for (std::size_t i = nv; i < n; ++i) y[i] = x[i] * g + c;
}

}  // namespace cpu_detail

template <std::size_t C, std::size_t Sq, class Act, class Gate, class In>
struct kernel<SqueezeExcite<C, Sq, Act, Gate>, In, cpu> : kernel_base {
    using L = SqueezeExcite<C, Sq, Act, Gate>;
    static constexpr std::size_t HW = In::value.d[1] * In::value.d[2];
    static constexpr std::size_t D = C + Sq;  // backward's per-sample vectors: da2 [C], then da1 [Sq]

    /// The gate of one sample into v (L::per_sample floats, the saved layout).
    static void squeeze(const float* x, const float* p, float* v) {
        for (std::size_t c = 0; c < C; ++c) v[L::s_at + c] = cpu_detail::contiguous_sum<HW>(x + c * HW) / float(HW);
        for (std::size_t q = 0; q < Sq; ++q) {
            const float a1 = p[L::b1 + q] + cpu_detail::dot(p + L::w1 + q * C, v + L::s_at, C);
            v[L::a1_at + q] = a1;
            v[L::z_at + q] = Act::template f<scalar_math>(a1);
        }
        for (std::size_t c = 0; c < C; ++c) {
            const float a2 = p[L::b2 + c] + cpu_detail::dot(p + L::w2 + c * Sq, v + L::z_at, Sq);
            v[L::a2_at + c] = a2;
            v[L::g_at + c] = Gate::template f<scalar_math>(a2);
        }
    }

    // Inference keeps the gate on the stack (no heap); training in saved, for backward.
    static void forward(const forward_args& a) {
        const std::size_t T = tasks_for(a.n, 3.0 * double(a.n) * double(C * HW + C * Sq));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(a.n, t, T);
            std::array<float, L::per_sample> local;
            for (std::size_t n = r.begin; n < r.end; ++n) {
                const float* x = a.x + n * C * HW;
                float* v = a.saved ? a.saved + n * L::per_sample : local.data();
                squeeze(x, a.params, v);
                for (std::size_t c = 0; c < C; ++c)
                    cpu_detail::scale_add(x + c * HW, v[L::g_at + c], 0.0f, a.y + n * C * HW + c * HW, HW);
            }
        });
    }

    /// One sample: its da2, da1 into d (D floats), and its dx when dx is not null.
    static void backward_sample(const float* x, const float* dy, const float* p, const float* v, float* d, float* dx) {
        float* da2 = d;
        float* da1 = d + C;
        for (std::size_t c = 0; c < C; ++c)  // through y = x g: dg[c] = sum of dy x over the map
            da2[c] = Gate::template df<scalar_math>(v[L::a2_at + c], v[L::g_at + c], cpu_detail::dot(dy + c * HW, x + c * HW, HW));
        for (std::size_t q = 0; q < Sq; ++q) {
            float dz = 0.0f;
            for (std::size_t c = 0; c < C; ++c) dz += p[L::w2 + c * Sq + q] * da2[c];
            da1[q] = Act::template df<scalar_math>(v[L::a1_at + q], v[L::z_at + q], dz);
        }
        if (!dx) return;
        for (std::size_t c = 0; c < C; ++c) {  // dx = dy g + ds / HW (the mean's gradient)
            float ds = 0.0f;
            for (std::size_t q = 0; q < Sq; ++q) ds += p[L::w1 + q * C + c] * da1[q];
            cpu_detail::scale_add(dy + c * HW, v[L::g_at + c], ds / float(HW), dx + c * HW, HW);
        }
    }

    /// Row `row` of the parameter gradients (fc2's rows c < C, then fc1's rows q), summed over the
    /// n samples in order: its weight row += sum d[n] * (z or s of sample n), its bias += sum d[n].
    static void add_row_grads(const float* saved, const float* d, std::size_t n, std::size_t row, float* dp) {
        const bool fc2 = row < C;
        const std::size_t len = fc2 ? Sq : C, at = fc2 ? L::z_at : L::s_at, di = fc2 ? row : C + (row - C);
        float* w = dp + (fc2 ? L::w2 + row * Sq : L::w1 + (row - C) * C);
        float* b = dp + (fc2 ? L::b2 + row : L::b1 + (row - C));
        float db = 0.0f;
        constexpr std::size_t vw = cpu_detail::W;
        for (std::size_t j0 = 0; j0 < len; j0 += vw) {
            const std::size_t m = std::min(vw, len - j0);
            alignas(64) float acc[vw] = {};
            for (std::size_t k = 0; k < n; ++k) {
                const float g = d[k * D + di];
                const float* u = saved + k * L::per_sample + at + j0;
                for (std::size_t j = 0; j < m; ++j) acc[j] += g * u[j];
            }
            for (std::size_t j = 0; j < m; ++j) w[j0 + j] += acc[j];
        }
        for (std::size_t k = 0; k < n; ++k) db += d[k * D + di];
        *b += db;
    }

    static void backward(const backward_args& a) {
        float* d = detail::shared_scratch(a.n * D);
        const std::size_t T = tasks_for(a.n, 4.0 * double(a.n) * double(C * HW + C * Sq));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(a.n, t, T);
            for (std::size_t n = r.begin; n < r.end; ++n)
                backward_sample(a.x + n * C * HW, a.dy + n * C * HW, a.params, a.saved + n * L::per_sample, d + n * D,
                                a.dx ? a.dx + n * C * HW : nullptr);
        });
        if (!a.dparams) return;
        const std::size_t Tp = tasks_for(C + Sq, 4.0 * double(a.n) * double(C * Sq));
        parallel_for(Tp, [&](std::size_t t) {
            const range r = split(C + Sq, t, Tp);
            for (std::size_t row = r.begin; row < r.end; ++row) add_row_grads(a.saved, d, a.n, row, a.dparams);
        });
    }
};

}  // namespace ctnn
