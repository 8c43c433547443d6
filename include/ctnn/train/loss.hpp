// Losses: each takes the net's output for a batch, returns the mean loss (PyTorch's default
// reduction) and, when asked, writes dLoss/dOutput. Values are computed in double and stored in
// float; the gradient is exactly what PyTorch's autograd gives for the same loss.
//
//   CrossEntropy   logits [n, classes], integer labels; fused, stable log-softmax; mean over n.
//                  Optional label smoothing (PyTorch's label_smoothing): the target is
//                  (1 - s) * onehot + s / classes.
//   BCEWithLogits  logits [n, k], float targets in [0, 1]; mean over all n * k elements.
//                  loss = max(x, 0) - x * t + log(1 + exp(-|x|)),   dloss/dx = sigmoid(x) - t.
//   MSE            outputs [n, k], float targets; mean over all n * k elements.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../error.hpp"

namespace ctnn {

namespace detail {
/// Every label in [0, classes), or ctnn::error naming the first that is not, its index and who
/// asked. The one label check: the losses, train_step (before anything changes) and the device net.
inline void check_labels(const std::int32_t* labels, std::size_t n, std::size_t classes, std::string_view who) {
    if (!labels && n) throw error(std::string(who) + ": the labels pointer is null (" + std::to_string(n) + " labels expected)");
    for (std::size_t i = 0; i < n; ++i)
        if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= classes)
            throw error(std::string(who) + ": label " + std::to_string(labels[i]) + " at batch index " + std::to_string(i) +
                        " is outside [0, " + std::to_string(classes) + ") (the net has " + std::to_string(classes) +
                        " outputs)");
}

/// A loss's arguments: a batch of at least one sample of at least one output (a mean over zero
/// elements is NaN, which would surface a step later as a "non-finite loss"), and no null
/// pointer. The gradient pointer may be null (no gradient wanted).
inline void check_loss_args(std::string_view who, const float* out, const void* targets, std::size_t n, std::size_t k) {
    if (n == 0) throw error(std::string(who) + ": the batch is empty (n = 0); a mean loss over no samples is undefined");
    if (k == 0) throw error(std::string(who) + ": each sample has 0 outputs; a mean loss over no outputs is undefined");
    if (!out) throw error(std::string(who) + ": the outputs pointer is null");
    if (!targets) throw error(std::string(who) + ": the targets (labels) pointer is null");
}
}  // namespace detail

/// Cross-entropy on logits with integer class labels (PyTorch's nn.CrossEntropyLoss).
struct CrossEntropy {
    static constexpr std::string_view kind = "CrossEntropy";
    using target_type = std::int32_t;
    float label_smoothing = 0.0f;

    /// Mean loss over the batch; grad (may be null) gets dLoss/dlogits [n, classes].
    /// Throws ctnn::error for a label outside [0, classes), naming the label and its index, and
    /// for an empty batch or a null pointer (detail::check_loss_args).
    float operator()(const float* logits, const std::int32_t* labels, std::size_t n, std::size_t classes,
                     float* grad) const {
        if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
            throw error("ctnn::CrossEntropy: label_smoothing " + std::to_string(label_smoothing) + " is outside [0, 1]");
        detail::check_loss_args("ctnn::CrossEntropy", logits, labels, n, classes);
        detail::check_labels(labels, n, classes, "ctnn::CrossEntropy");
        const double s = label_smoothing, inv_n = 1.0 / static_cast<double>(n);
        double total = 0.0;
        constexpr std::size_t kept = 64;  // up to this many classes, p = exp(z - m) / sum reuses the exps
        double e[kept];
        const bool keep = classes <= kept;
        for (std::size_t i = 0; i < n; ++i) {
            const float* z = logits + i * classes;
            const float m = *std::max_element(z, z + classes);
            double sum = 0.0, sum_z = 0.0;
            for (std::size_t c = 0; c < classes; ++c) {
                const double ex = std::exp(static_cast<double>(z[c]) - m);
                if (keep) e[c] = ex;
                sum += ex;
                sum_z += static_cast<double>(z[c]) - m;
            }
            const double lse = std::log(sum);  // log-sum-exp of (z - m)
            const std::size_t y = static_cast<std::size_t>(labels[i]);
            const double nll = lse - (static_cast<double>(z[y]) - m);
            const double smooth = static_cast<double>(classes) * lse - sum_z;  // -sum_c log p_c
            total += (1.0 - s) * nll + s * smooth / static_cast<double>(classes);
            if (grad) {
                float* g = grad + i * classes;
                for (std::size_t c = 0; c < classes; ++c) {
                    const double p = keep ? e[c] / sum : std::exp(static_cast<double>(z[c]) - m - lse);
                    const double t = (c == y ? 1.0 - s : 0.0) + s / static_cast<double>(classes);
                    g[c] = static_cast<float>((p - t) * inv_n);
                }
            }
        }
        return static_cast<float>(total * inv_n);
    }
};

/// Binary cross-entropy on logits (PyTorch's nn.BCEWithLogitsLoss), mean over all elements.
struct BCEWithLogits {
    static constexpr std::string_view kind = "BCEWithLogits";
    using target_type = float;

    /// n samples of k outputs; targets [n, k]; grad (may be null) gets dLoss/dlogits.
    float operator()(const float* logits, const float* targets, std::size_t n, std::size_t k, float* grad) const {
        detail::check_loss_args("ctnn::BCEWithLogits", logits, targets, n, k);
        const std::size_t count = n * k;
        const double inv = 1.0 / static_cast<double>(count);
        double total = 0.0;
        for (std::size_t i = 0; i < count; ++i) {
            const double x = logits[i], t = targets[i];
            total += std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x)));
            if (grad) {
                const double sig = x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
                grad[i] = static_cast<float>((sig - t) * inv);
            }
        }
        return static_cast<float>(total * inv);
    }
};

/// Mean squared error (PyTorch's nn.MSELoss), mean over all elements.
struct MSE {
    static constexpr std::string_view kind = "MSE";
    using target_type = float;

    float operator()(const float* out, const float* targets, std::size_t n, std::size_t k, float* grad) const {
        detail::check_loss_args("ctnn::MSE", out, targets, n, k);
        const std::size_t count = n * k;
        const double inv = 1.0 / static_cast<double>(count);
        double total = 0.0;
        for (std::size_t i = 0; i < count; ++i) {
            const double d = static_cast<double>(out[i]) - targets[i];
            total += d * d;
            if (grad) grad[i] = static_cast<float>(2.0 * d * inv);
        }
        return static_cast<float>(total * inv);
    }
};

}  // namespace ctnn
