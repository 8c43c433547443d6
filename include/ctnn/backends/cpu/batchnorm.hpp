// cpu kernel: BatchNorm (2-d over C×H×W maps, 1-d over C features), training and inference.
// Channels are split over the pool's threads; a channel's statistics, its running buffers and its
// parameter gradients are computed by one task, so the results do not depend on the thread count.
//
// Sums: each sample's row of H·W values is summed in vector lanes (float), the rows' sums are
// added in double, as the reference adds every value in double; the two agree to about 1e-7 of
// the sums' scale (a row is at most a few thousand values). Mean and variance are two passes
// (sum, then squared deviations from the mean), as in the reference: no E[x^2] - E[x]^2
// cancellation. The scalar rules (the running statistics' update, rstd, scale and shift, the
// parameter gradients) are the reference's own functions (detail::batchnorm_channel in
// reference/batchnorm.hpp): y = x * scale + shift with the reference's scale and shift, so
// inference gives the reference's bits.
#pragma once

#include "../../layers/batchnorm.hpp"
#include "../../threads.hpp"
#include "../reference/batchnorm.hpp"  // detail::batchnorm_channel
#include "simd.hpp"
#include "tag.hpp"

namespace ctnn {

template <std::size_t C, class In>
struct kernel<BatchNorm<C>, In, cpu> : kernel_base {
    using V = simd::vec;
    using vt = typename V::type;
    static constexpr std::size_t W = V::width;
    static constexpr std::size_t inner = In::size / C;  // H·W, or 1 for a flat shape
    using rules = detail::batchnorm_channel<C>;

    /// Runs f(c) for every channel, split over threads (work ~ `passes` reads of n·inner values each).
    template <class F>
    static void channels(std::size_t n, double passes, F&& f) {
        const std::size_t T = tasks_for(C, passes * double(n) * double(In::size));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(C, t, T);
            for (std::size_t c = r.begin; c < r.end; ++c) f(c);
        });
    }
    /// Σ over the n rows of channel c of g(row, i) for i < inner: lanes in float, rows in double.
    /// g takes a row offset and returns a vector (i a multiple of W) or a scalar (the tail).
    template <class G>
    static double row_sums(std::size_t n, std::size_t c, G&& g) {
        double s = 0;
        for (std::size_t b = 0; b < n; ++b) {
            const std::size_t k = (b * C + c) * inner;
            vt acc = vt(0.0f);
            std::size_t i = 0;
            for (; i + W <= inner; i += W) acc = acc + g.vec(k + i);
            float tail = 0.0f;
            for (; i < inner; ++i) tail += g.one(k + i);
            s += double(V::sum(acc)) + double(tail);
        }
        return s;
    }
    /// y = x * scale + shift over channel c's rows.
    static void affine(const float* x, float* y, std::size_t n, std::size_t c, float scale, float shift) {
        const vt vs = vt(scale), vb = vt(shift);
        for (std::size_t b = 0; b < n; ++b) {
            const std::size_t k = (b * C + c) * inner;
            std::size_t i = 0;
            for (; i + W <= inner; i += W) V::store(y + k + i, V::load(x + k + i) * vs + vb);
            for (; i < inner; ++i) y[k + i] = x[k + i] * scale + shift;
        }
    }

    static void forward(const forward_args& a) {
        const std::size_t count = a.n * inner;
        if (a.training) rules::check_training(a.n, inner);
        const float* x = a.x;
        channels(a.n, a.training ? 3.0 : 1.0, [&](std::size_t c) {
            typename rules::affine t;
            if (a.training) {
                struct {
                    const float* x;
                    vt vec(std::size_t k) const { return V::load(x + k); }
                    float one(std::size_t k) const { return x[k]; }
                } sum{x};
                const double m = row_sums(a.n, c, sum) / double(count);
                struct {
                    const float* x;
                    float m;
                    vt vec(std::size_t k) const { const vt d = V::load(x + k) - vt(m); return d * d; }
                    float one(std::size_t k) const { const float d = x[k] - m; return d * d; }
                } sq{x, static_cast<float>(m)};
                t = rules::train(c, m, row_sums(a.n, c, sq) / double(count), count, a.params, a.saved, a.buffers);
            } else {
                t = rules::infer(c, a.params, a.buffers);
            }
            affine(x, a.y, a.n, c, t.scale, t.shift);
        });
        if (a.training) rules::count_batch(a.buffers);
    }

    static void backward(const backward_args& a) {
        const float* gamma = a.params;
        const float count = static_cast<float>(a.n * inner);
        channels(a.n, a.dx ? 4.0 : 2.0, [&](std::size_t c) {
            const float mean = a.saved[c], rstd = a.saved[C + c];
            struct {
                const float* dy;
                vt vec(std::size_t k) const { return V::load(dy + k); }
                float one(std::size_t k) const { return dy[k]; }
            } sdy_f{a.dy};
            struct {
                const float* dy;
                const float* x;
                float m;
                vt vec(std::size_t k) const { return V::load(dy + k) * (V::load(x + k) - vt(m)); }
                float one(std::size_t k) const { return dy[k] * (x[k] - m); }
            } sdyx_f{a.dy, a.x, mean};
            const double sdy = row_sums(a.n, c, sdy_f);
            const double sdyx = row_sums(a.n, c, sdyx_f) * double(rstd);  // Σ dy · x̂
            if (a.dparams) rules::accumulate_dparams(c, sdyx, sdy, a.dparams);
            if (a.dx) {
                // dx = gamma·rstd·(dy − Σdy/count − x̂·Σdy·x̂/count), x̂ = (x − mean)·rstd:
                // dx = dy·g + (x − mean)·k + b with g = gamma·rstd, k = −g·rstd·Σdy·x̂/count,
                // b = −g·Σdy/count ((x − mean) first: no cancellation when |mean| >> std).
                const float g = gamma[c] * rstd;
                const float k = static_cast<float>(-double(g) * double(rstd) * sdyx / double(count));
                const float b = static_cast<float>(-double(g) * sdy / double(count));
                const vt vg = vt(g), vk = vt(k), vb = vt(b), vm = vt(mean);
                for (std::size_t s = 0; s < a.n; ++s) {
                    const std::size_t o = (s * C + c) * inner;
                    std::size_t i = 0;
                    for (; i + W <= inner; i += W)
                        V::store(a.dx + o + i, V::load(a.dy + o + i) * vg + ((V::load(a.x + o + i) - vm) * vk + vb));
                    for (; i < inner; ++i) a.dx[o + i] = a.dy[o + i] * g + ((a.x[o + i] - mean) * k + b);
                }
            }
        });
    }
};

}  // namespace ctnn
