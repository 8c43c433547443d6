// Reference kernel: BatchNorm (2-d over C×H×W maps, 1-d over C features).
#pragma once
#include <cmath>
#include <string>

#include "../../backend.hpp"
#include "../../error.hpp"
#include "../../layers/batchnorm.hpp"

namespace ctnn {

namespace detail {

/// BatchNorm<C>'s per-channel scalar rules, written once for the host kernels (this reference
/// and cpu/batchnorm.hpp), which differ only in how they sum over a channel's values. Each
/// function touches channel c's entries alone, so kernels may call it for different channels
/// from different threads.
template <std::size_t C>
struct batchnorm_channel {
    static constexpr float eps = BatchNorm<C>::eps, momentum = BatchNorm<C>::momentum;
    struct affine {
        float scale, shift;  // y = x * scale + shift
    };

    /// Training divides by count - 1 (the unbiased variance of the running statistics).
    static void check_training(std::size_t n, std::size_t inner) {
        if (n * inner < 2)
            throw error("ctnn::BatchNorm: training needs more than one value per channel (batch " + std::to_string(n) +
                        " of " + std::to_string(inner) + " values per channel)");
    }
    /// Training, from the batch's mean m and biased variance var of channel c's `count` values:
    /// saves mean and rstd = 1 / sqrt(var + eps) for backward, moves the running statistics
    /// towards the batch's (PyTorch's rule: the running variance takes the unbiased variance).
    static affine train(std::size_t c, double m, double var, std::size_t count, const float* params, float* saved,
                        float* buffers) {
        const float mean = static_cast<float>(m), rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
        saved[c] = mean;
        saved[C + c] = rstd;
        buffers[c] = (1.0f - momentum) * buffers[c] + momentum * mean;
        buffers[C + c] = (1.0f - momentum) * buffers[C + c] +
                         momentum * static_cast<float>(var * double(count) / double(count - 1));
        return scale_shift(c, mean, rstd, params);
    }
    /// Inference: the running statistics.
    static affine infer(std::size_t c, const float* params, const float* buffers) {
        return scale_shift(c, buffers[c], 1.0f / std::sqrt(buffers[C + c] + eps), params);
    }
    /// After every channel's train(): num_batches_tracked += 1.
    static void count_batch(float* buffers) { buffers[2 * C] += 1.0f; }
    /// dweight += Σ dy·x̂, dbias += Σ dy over channel c.
    static void accumulate_dparams(std::size_t c, double sdyx, double sdy, float* dparams) {
        dparams[c] += static_cast<float>(sdyx);
        dparams[C + c] += static_cast<float>(sdy);
    }

private:
    static affine scale_shift(std::size_t c, float mean, float rstd, const float* params) {
        const float scale = params[c] * rstd;  // weight [C], then bias [C]
        return {scale, params[C + c] - mean * scale};
    }
};

}  // namespace detail

template <std::size_t C, class In>
struct kernel<BatchNorm<C>, In, reference> : kernel_base {
    static constexpr std::size_t inner = In::size / C;  // H·W, or 1 for a flat shape
    using rules = detail::batchnorm_channel<C>;
    // params: weight [C], bias [C]   buffers: running_mean [C], running_var [C], count []
    // saved: mean [C], rstd [C] of the batch
    static void forward(const forward_args& a) {
        const std::size_t count = a.n * inner;
        if (a.training) rules::check_training(a.n, inner);
        for (std::size_t c = 0; c < C; ++c) {
            typename rules::affine t;
            if (a.training) {
                double s = 0, s2 = 0;
                for (std::size_t n = 0; n < a.n; ++n)
                    for (std::size_t i = 0; i < inner; ++i) s += a.x[(n * C + c) * inner + i];
                const double m = s / double(count);
                for (std::size_t n = 0; n < a.n; ++n)
                    for (std::size_t i = 0; i < inner; ++i) {
                        const double d = a.x[(n * C + c) * inner + i] - m;
                        s2 += d * d;
                    }
                t = rules::train(c, m, s2 / double(count), count, a.params, a.saved, a.buffers);
            } else {
                t = rules::infer(c, a.params, a.buffers);
            }
            for (std::size_t n = 0; n < a.n; ++n)
                for (std::size_t i = 0; i < inner; ++i) {
                    const std::size_t k = (n * C + c) * inner + i;
                    a.y[k] = a.x[k] * t.scale + t.shift;
                }
        }
        if (a.training) rules::count_batch(a.buffers);
    }
    static void backward(const backward_args& a) {
        const float* gamma = a.params;
        const double count = double(a.n * inner);
        for (std::size_t c = 0; c < C; ++c) {
            const double mean = a.saved[c], rstd = a.saved[C + c];
            double sdy = 0, sdyx = 0;
            for (std::size_t n = 0; n < a.n; ++n)
                for (std::size_t i = 0; i < inner; ++i) {
                    const std::size_t k = (n * C + c) * inner + i;
                    sdy += a.dy[k];
                    sdyx += a.dy[k] * (a.x[k] - mean) * rstd;
                }
            if (a.dparams) rules::accumulate_dparams(c, sdyx, sdy, a.dparams);
            if (a.dx) {
                const double g = gamma[c] * rstd / count;
                for (std::size_t n = 0; n < a.n; ++n)
                    for (std::size_t i = 0; i < inner; ++i) {
                        const std::size_t k = (n * C + c) * inner + i;
                        const double xhat = (a.x[k] - mean) * rstd;
                        a.dx[k] = static_cast<float>(g * (count * a.dy[k] - sdy - xhat * sdyx));
                    }
            }
        }
    }
};

}  // namespace ctnn
