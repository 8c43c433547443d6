// Per-thread work of BatchNorm<C> on the GPU (over C×H×W maps or C features; inner = H·W or 1).
// Training forward: mean (one block per channel), variance around it (two passes, as exact as
// the reference's), then normalise. Backward: the two per-channel sums, then dx.
//   saved: mean [C], rstd [C]   scratch: sum dy [C], sum dy·xhat [C]
#pragma once
#include "hd.hpp"

namespace ctnn::cuda {

template <std::size_t C, std::size_t Inner>
struct batchnorm_kernels {
    static constexpr float eps = 1e-5f, momentum = 0.1f;

    struct stats_args {
        const float* x;
        float* saved;    // mean [C], rstd [C]
        float* buffers;  // running_mean [C], running_var [C], num_batches_tracked
        std::size_t n;
    };
    /// Channel mean into saved[c].
    struct mean {
        using value = float;
        using args = stats_args;
        static grid_size grid(const args& a) { return {static_cast<unsigned>(C), reduce_threads(a.n * Inner)}; }
        static CTNN_HD float partial(unsigned b, unsigned t, unsigned nt, const args& a) {
            float acc = 0.0f;
            for (std::size_t j = t; j < a.n * Inner; j += nt) acc += a.x[((j / Inner) * C + b) * Inner + j % Inner];
            return acc;
        }
        static CTNN_HD void finish(unsigned b, float s, const args& a) { a.saved[b] = s / float(a.n * Inner); }
    };
    /// Biased variance around the mean: rstd into saved[C + c]; running statistics updated.
    struct variance {
        using value = float;
        using args = stats_args;
        static grid_size grid(const args& a) { return mean::grid(a); }
        static CTNN_HD float partial(unsigned b, unsigned t, unsigned nt, const args& a) {
            const float m = a.saved[b];
            float acc = 0.0f;
            for (std::size_t j = t; j < a.n * Inner; j += nt) {
                const float d = a.x[((j / Inner) * C + b) * Inner + j % Inner] - m;
                acc += d * d;
            }
            return acc;
        }
        static CTNN_HD void finish(unsigned b, float s, const args& a) {
            const float count = float(a.n * Inner);
            const float var = s / count;
            a.saved[C + b] = 1.0f / ::sqrtf(var + eps);
            a.buffers[b] = (1.0f - momentum) * a.buffers[b] + momentum * a.saved[b];
            a.buffers[C + b] = (1.0f - momentum) * a.buffers[C + b] + momentum * (var * count / (count - 1.0f));
            if (b == 0) a.buffers[2 * C] += 1.0f;
        }
    };
    /// y = gamma (x - mean) rstd + beta, one thread per element; batch statistics in training,
    /// running ones in inference.
    struct apply {
        struct args {
            const float* x;
            float* y;
            const float* params;   // gamma [C], beta [C]
            const float* saved;    // training: mean, rstd
            const float* buffers;  // inference: running_mean, running_var
            bool training;
            std::size_t n;
        };
        static grid_size grid(const args& a) { return map_grid(a.n * C * Inner); }
        static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
            const std::size_t i = item(b, t, nt);
            if (i >= a.n * C * Inner) return;
            const std::size_t c = (i / Inner) % C;
            const float m = a.training ? a.saved[c] : a.buffers[c];
            const float r = a.training ? a.saved[C + c] : 1.0f / ::sqrtf(a.buffers[C + c] + eps);
            const float scale = a.params[c] * r;
            a.y[i] = a.x[i] * scale + (a.params[C + c] - m * scale);
        }
    };
    struct backward_args {
        const float* x;
        const float* dy;
        float* dx;            // null: not needed
        const float* params;
        float* dparams;       // null: frozen
        const float* saved;
        float* scratch;       // sum dy [C], sum dy·xhat [C]
        std::size_t n;
    };
    /// The two sums per channel; dgamma += sum dy·xhat, dbeta += sum dy.
    struct backward_sums {
        using value = f2;
        using args = backward_args;
        static grid_size grid(const args& a) { return {static_cast<unsigned>(C), reduce_threads(a.n * Inner)}; }
        static CTNN_HD f2 partial(unsigned b, unsigned t, unsigned nt, const args& a) {
            const float m = a.saved[b], r = a.saved[C + b];
            f2 acc{};
            for (std::size_t j = t; j < a.n * Inner; j += nt) {
                const std::size_t k = ((j / Inner) * C + b) * Inner + j % Inner;
                acc.a += a.dy[k];
                acc.b += a.dy[k] * (a.x[k] - m) * r;
            }
            return acc;
        }
        static CTNN_HD void finish(unsigned b, f2 s, const args& a) {
            a.scratch[b] = s.a;
            a.scratch[C + b] = s.b;
            if (a.dparams) {
                a.dparams[b] += s.b;
                a.dparams[C + b] += s.a;
            }
        }
    };
    /// dx = gamma rstd / N (N dy - sum dy - xhat sum dy·xhat), one thread per element.
    struct backward_dx {
        using args = backward_args;
        static grid_size grid(const args& a) { return map_grid(a.n * C * Inner); }
        static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
            const std::size_t i = item(b, t, nt);
            if (i >= a.n * C * Inner) return;
            const std::size_t c = (i / Inner) % C;
            const float count = float(a.n * Inner), r = a.saved[C + c];
            const float xhat = (a.x[i] - a.saved[c]) * r;
            a.dx[i] = a.params[c] * r / count * (count * a.dy[i] - a.scratch[c] - xhat * a.scratch[C + c]);
        }
    };
};

}  // namespace ctnn::cuda
