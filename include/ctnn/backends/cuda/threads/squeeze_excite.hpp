// Per-thread work of SqueezeExcite<C, Sq, Act, Gate> on the GPU, in small steps with the per-sample
// vectors in device memory between them (a map thread cannot wait for other threads):
//   forward   squeeze (reduce: one block per (sample, channel), the mean over H·W), excite_fc1
//             (one thread per (sample, q): a1, z), excite_fc2 (per (sample, c): a2, g), scale
//             (one thread per element: y = x g).
//   backward  dgate (reduce per (sample, channel): dg = sum dy·x, da2 = Gate'), dact (per
//             (sample, q): da1 = Act'), dsqueeze (per (sample, c): the mean's share of dx),
//             dx (per element), dparams (one thread per parameter, summing over the samples).
// `v` holds L::per_sample floats per sample in the layer's saved layout (s, a1, z, a2, g): the
// training forward writes them to `saved`, an inference forward to scratch. `d` holds
// grad_per_sample floats per sample of backward's own vectors (da2, da1, share), in scratch.
// Act and Gate run their own math (layer.hpp) on scalar_math, as the reference kernel.
#pragma once
#include "../../../layers/squeeze_excite.hpp"
#include "hd.hpp"

namespace ctnn::cuda {

template <std::size_t C, std::size_t Sq, class Act, class Gate, std::size_t HW>
struct se_kernels {
    using L = SqueezeExcite<C, Sq, Act, Gate>;
    static constexpr std::size_t PS = L::per_sample;
    static constexpr std::size_t da2_at = 0, da1_at = C, share_at = C + Sq, grad_per_sample = 2 * C + Sq;

    struct forward_args {
        const float* x;       // [n, C, HW]
        const float* params;  // fc1.weight [Sq, C], fc1.bias [Sq], fc2.weight [C, Sq], fc2.bias [C]
        float* y;             // [n, C, HW]
        float* v;             // [n, PS]
        std::size_t n;
    };
    /// s = the mean of each channel's map.
    struct squeeze {
        using value = float;
        using args = forward_args;
        static grid_size grid(const args& a) { return {static_cast<unsigned>(a.n * C), reduce_threads(HW)}; }
        static CTNN_HD float partial(unsigned b, unsigned t, unsigned nt, const args& a) {
            float acc = 0.0f;
            for (std::size_t i = t; i < HW; i += nt) acc += a.x[std::size_t(b) * HW + i];
            return acc;
        }
        static CTNN_HD void finish(unsigned b, float s, const args& a) {
            a.v[(b / C) * PS + L::s_at + b % C] = s / float(HW);
        }
    };
    /// a1 = fc1(s), z = Act(a1).
    struct excite_fc1 {
        using args = forward_args;
        static grid_size grid(const args& a) { return map_grid(a.n * Sq); }
        static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
            const std::size_t k = item(b, t, nt);
            if (k >= a.n * Sq) return;
            const std::size_t q = k % Sq;
            float* v = a.v + (k / Sq) * PS;
            float acc = a.params[L::b1 + q];
            for (std::size_t c = 0; c < C; ++c) acc += a.params[L::w1 + q * C + c] * v[L::s_at + c];
            v[L::a1_at + q] = acc;
            v[L::z_at + q] = Act::template f<scalar_math>(acc);
        }
    };
    /// a2 = fc2(z), g = Gate(a2).
    struct excite_fc2 {
        using args = forward_args;
        static grid_size grid(const args& a) { return map_grid(a.n * C); }
        static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
            const std::size_t k = item(b, t, nt);
            if (k >= a.n * C) return;
            const std::size_t c = k % C;
            float* v = a.v + (k / C) * PS;
            float acc = a.params[L::b2 + c];
            for (std::size_t q = 0; q < Sq; ++q) acc += a.params[L::w2 + c * Sq + q] * v[L::z_at + q];
            v[L::a2_at + c] = acc;
            v[L::g_at + c] = Gate::template f<scalar_math>(acc);
        }
    };
    /// y = x g, one thread per element.
    struct scale {
        using args = forward_args;
        static grid_size grid(const args& a) { return map_grid(a.n * C * HW); }
        static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
            const std::size_t i = item(b, t, nt);
            if (i >= a.n * C * HW) return;
            const std::size_t nc = i / HW;
            a.y[i] = a.x[i] * a.v[(nc / C) * PS + L::g_at + nc % C];
        }
    };

    struct backward_args {
        const float* x;
        const float* dy;
        float* dx;            // null: not needed
        const float* params;
        float* dparams;       // null: frozen
        const float* v;       // [n, PS] the forward's vectors
        float* d;             // [n, grad_per_sample]
        std::size_t n;
    };
    /// da2 = Gate'(a2, g, dg), dg = sum over the map of dy·x (y = x g).
    struct dgate {
        using value = float;
        using args = backward_args;
        static grid_size grid(const args& a) { return {static_cast<unsigned>(a.n * C), reduce_threads(HW)}; }
        static CTNN_HD float partial(unsigned b, unsigned t, unsigned nt, const args& a) {
            float acc = 0.0f;
            for (std::size_t i = t; i < HW; i += nt) acc += a.dy[std::size_t(b) * HW + i] * a.x[std::size_t(b) * HW + i];
            return acc;
        }
        static CTNN_HD void finish(unsigned b, float s, const args& a) {
            const float* v = a.v + (b / C) * PS;
            const std::size_t c = b % C;
            a.d[(b / C) * grad_per_sample + da2_at + c] = Gate::template df<scalar_math>(v[L::a2_at + c], v[L::g_at + c], s);
        }
    };
    /// da1 = Act'(a1, z, dz), dz = fc2.weightᵀ da2.
    struct dact {
        using args = backward_args;
        static grid_size grid(const args& a) { return map_grid(a.n * Sq); }
        static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
            const std::size_t k = item(b, t, nt);
            if (k >= a.n * Sq) return;
            const std::size_t q = k % Sq;
            const float* v = a.v + (k / Sq) * PS;
            float* d = a.d + (k / Sq) * grad_per_sample;
            float dz = 0.0f;
            for (std::size_t c = 0; c < C; ++c) dz += a.params[L::w2 + c * Sq + q] * d[da2_at + c];
            d[da1_at + q] = Act::template df<scalar_math>(v[L::a1_at + q], v[L::z_at + q], dz);
        }
    };
    /// share = (fc1.weightᵀ da1) / HW: the gradient of the mean, the same for every pixel of a channel.
    struct dsqueeze {
        using args = backward_args;
        static grid_size grid(const args& a) { return map_grid(a.n * C); }
        static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
            const std::size_t k = item(b, t, nt);
            if (k >= a.n * C) return;
            const std::size_t c = k % C;
            float* d = a.d + (k / C) * grad_per_sample;
            float ds = 0.0f;
            for (std::size_t q = 0; q < Sq; ++q) ds += a.params[L::w1 + q * C + c] * d[da1_at + q];
            d[share_at + c] = ds / float(HW);
        }
    };
    /// dx = dy g + share, one thread per element.
    struct dx {
        using args = backward_args;
        static grid_size grid(const args& a) { return map_grid(a.n * C * HW); }
        static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
            const std::size_t i = item(b, t, nt);
            if (i >= a.n * C * HW) return;
            const std::size_t nc = i / HW, nn = nc / C, c = nc % C;
            a.dx[i] = a.dy[i] * a.v[nn * PS + L::g_at + c] + a.d[nn * grad_per_sample + share_at + c];
        }
    };
    /// dparams += the sums over the n samples, one thread per parameter:
    /// fc1.weight[q, c] da1[q] s[c], fc1.bias[q] da1[q], fc2.weight[c, q] da2[c] z[q], fc2.bias[c] da2[c].
    struct dparams {
        using args = backward_args;
        static constexpr std::size_t count = L::b2 + C;
        static grid_size grid(const args&) { return map_grid(count); }
        static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
            const std::size_t k = item(b, t, nt);
            if (k >= count) return;
            float acc = 0.0f;
            for (std::size_t nn = 0; nn < a.n; ++nn) {
                const float* v = a.v + nn * PS;
                const float* d = a.d + nn * grad_per_sample;
                if (k < L::b1) acc += d[da1_at + k / C] * v[L::s_at + k % C];
                else if (k < L::w2) acc += d[da1_at + (k - L::b1)];
                else if (k < L::b2) acc += d[da2_at + (k - L::w2) / Sq] * v[L::z_at + (k - L::w2) % Sq];
                else acc += d[da2_at + (k - L::b2)];
            }
            a.dparams[k] += acc;
        }
    };
};

}  // namespace ctnn::cuda
