// Reference kernel: BatchNorm (2-d over C×H×W maps, 1-d over C features).
#pragma once
#include <cmath>

#include "../../backend.hpp"
#include "../../error.hpp"
#include "../../layers/batchnorm.hpp"

namespace ctnn {

template <std::size_t C, class In>
struct kernel<BatchNorm<C>, In, reference> : kernel_base {
    static constexpr std::size_t inner = In::size / C;  // H·W, or 1 for a flat shape
    static constexpr float eps = BatchNorm<C>::eps, momentum = BatchNorm<C>::momentum;
    // params: weight [C], bias [C]   buffers: running_mean [C], running_var [C], count []
    // saved: mean [C], rstd [C] of the batch
    static void forward(const forward_args& a) {
        const float* gamma = a.params;
        const float* beta = a.params + C;
        float* rmean = a.buffers;
        float* rvar = a.buffers + C;
        const std::size_t count = a.n * inner;
        if (a.training && count < 2)
            throw error("ctnn::BatchNorm: training needs more than one value per channel (batch " +
                        std::to_string(a.n) + " of " + std::to_string(inner) + " values per channel)");
        for (std::size_t c = 0; c < C; ++c) {
            float mean, rstd;
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
                const double var = s2 / double(count);
                mean = static_cast<float>(m);
                rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
                a.saved[c] = mean;
                a.saved[C + c] = rstd;
                rmean[c] = (1.0f - momentum) * rmean[c] + momentum * mean;
                rvar[c] = (1.0f - momentum) * rvar[c] + momentum * static_cast<float>(var * double(count) / double(count - 1));
            } else {
                mean = rmean[c];
                rstd = 1.0f / std::sqrt(rvar[c] + eps);
            }
            const float scale = gamma[c] * rstd, shift = beta[c] - mean * scale;
            for (std::size_t n = 0; n < a.n; ++n)
                for (std::size_t i = 0; i < inner; ++i) {
                    const std::size_t k = (n * C + c) * inner + i;
                    a.y[k] = a.x[k] * scale + shift;
                }
        }
        if (a.training) a.buffers[2 * C] += 1.0f;
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
            if (a.dparams) {
                a.dparams[c] += static_cast<float>(sdyx);
                a.dparams[C + c] += static_cast<float>(sdy);
            }
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
