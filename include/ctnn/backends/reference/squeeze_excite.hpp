// Reference kernel: SqueezeExcite. Plain loops, double accumulators for every sum; the
// activations' own math (layer.hpp) on single floats, as the reference activation kernels.
#pragma once
#include <array>
#include <cstddef>
#include <vector>

#include "../../backend.hpp"
#include "../../layers/squeeze_excite.hpp"

namespace ctnn {

template <std::size_t C, std::size_t Sq, class Act, class Gate, class In>
struct kernel<SqueezeExcite<C, Sq, Act, Gate>, In, reference> : kernel_base {
    using L = SqueezeExcite<C, Sq, Act, Gate>;
    static constexpr std::size_t HW = In::value.d[1] * In::value.d[2];
    // x, y [n, C, H, W]; params fc1.weight [Sq, C], fc1.bias [Sq], fc2.weight [C, Sq], fc2.bias [C];
    // saved per sample: s [C], a1 = fc1(s) [Sq], z = Act(a1) [Sq], a2 = fc2(z) [C], g = Gate(a2) [C]

    /// The gate of one sample into v (L::per_sample floats, the saved layout).
    static void squeeze(const float* x, const float* p, float* v) {
        for (std::size_t c = 0; c < C; ++c) {
            double acc = 0;
            for (std::size_t i = 0; i < HW; ++i) acc += x[c * HW + i];
            v[L::s_at + c] = static_cast<float>(acc / double(HW));
        }
        for (std::size_t q = 0; q < Sq; ++q) {
            double acc = p[L::b1 + q];
            for (std::size_t c = 0; c < C; ++c) acc += double(p[L::w1 + q * C + c]) * v[L::s_at + c];
            v[L::a1_at + q] = static_cast<float>(acc);
            v[L::z_at + q] = Act::template f<scalar_math>(v[L::a1_at + q]);
        }
        for (std::size_t c = 0; c < C; ++c) {
            double acc = p[L::b2 + c];
            for (std::size_t q = 0; q < Sq; ++q) acc += double(p[L::w2 + c * Sq + q]) * v[L::z_at + q];
            v[L::a2_at + c] = static_cast<float>(acc);
            v[L::g_at + c] = Gate::template f<scalar_math>(v[L::a2_at + c]);
        }
    }

    // Inference keeps the gate on the stack (no heap); training in saved, for backward.
    static void forward(const forward_args& a) {
        std::array<float, L::per_sample> local;
        for (std::size_t n = 0; n < a.n; ++n) {
            const float* x = a.x + n * C * HW;
            float* v = a.saved ? a.saved + n * L::per_sample : local.data();
            squeeze(x, a.params, v);
            float* y = a.y + n * C * HW;
            for (std::size_t c = 0; c < C; ++c)
                for (std::size_t i = 0; i < HW; ++i) y[c * HW + i] = x[c * HW + i] * v[L::g_at + c];
        }
    }

    /// One sample: adds its parameter gradients to dp (double, the parameters' layout) and writes
    /// its dx when dx is not null.
    static void backward_sample(const float* x, const float* dy, const float* p, const float* v, double* dp, float* dx) {
        std::array<float, C> da2;
        std::array<float, Sq> da1;
        for (std::size_t c = 0; c < C; ++c) {  // through y = x g: dg[c] = sum of dy x over the map
            double dg = 0;
            for (std::size_t i = 0; i < HW; ++i) dg += double(dy[c * HW + i]) * x[c * HW + i];
            da2[c] = Gate::template df<scalar_math>(v[L::a2_at + c], v[L::g_at + c], static_cast<float>(dg));
            dp[L::b2 + c] += da2[c];
            for (std::size_t q = 0; q < Sq; ++q) dp[L::w2 + c * Sq + q] += double(da2[c]) * v[L::z_at + q];
        }
        for (std::size_t q = 0; q < Sq; ++q) {
            double dz = 0;
            for (std::size_t c = 0; c < C; ++c) dz += double(p[L::w2 + c * Sq + q]) * da2[c];
            da1[q] = Act::template df<scalar_math>(v[L::a1_at + q], v[L::z_at + q], static_cast<float>(dz));
            dp[L::b1 + q] += da1[q];
            for (std::size_t c = 0; c < C; ++c) dp[L::w1 + q * C + c] += double(da1[q]) * v[L::s_at + c];
        }
        if (!dx) return;
        for (std::size_t c = 0; c < C; ++c) {  // dx = dy g + ds / HW (the mean's gradient)
            double ds = 0;
            for (std::size_t q = 0; q < Sq; ++q) ds += double(p[L::w1 + q * C + c]) * da1[q];
            const double g = v[L::g_at + c], share = ds / double(HW);
            for (std::size_t i = 0; i < HW; ++i) dx[c * HW + i] = static_cast<float>(dy[c * HW + i] * g + share);
        }
    }

    // Parameter gradients are summed over the batch in double and added once, so a second
    // backward adds exactly the same values.
    static void backward(const backward_args& a) {
        constexpr std::size_t np = L::b2 + C;
        std::vector<double> dp(np, 0.0);
        for (std::size_t n = 0; n < a.n; ++n)
            backward_sample(a.x + n * C * HW, a.dy + n * C * HW, a.params, a.saved + n * L::per_sample, dp.data(),
                            a.dx ? a.dx + n * C * HW : nullptr);
        if (a.dparams)
            for (std::size_t i = 0; i < np; ++i) a.dparams[i] += static_cast<float>(dp[i]);
    }
};

}  // namespace ctnn
