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
//   SoftCrossEntropy  logits [n, classes], float targets [n, classes] (probabilities: PyTorch's
//                  CrossEntropyLoss with a probability target): -sum_c t_c log softmax(z)_c, mean over n.
//   Distillation   the student's logits, the teacher's and integer labels (Hinton et al. 2015):
//                  alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y), KL as
//                  F.kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean").
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

/// softmax(z / T) of k logits into p (double), and log-sum-exp of z / T.
inline double softmax_t(const float* z, std::size_t k, double t, double* p) {
    double m = -INFINITY;
    for (std::size_t c = 0; c < k; ++c) m = std::max(m, static_cast<double>(z[c]) / t);
    double sum = 0.0;
    for (std::size_t c = 0; c < k; ++c) sum += p[c] = std::exp(static_cast<double>(z[c]) / t - m);
    for (std::size_t c = 0; c < k; ++c) p[c] /= sum;
    return m + std::log(sum);
}

/// Up to this many classes the soft losses keep their probabilities on the stack.
inline constexpr std::size_t soft_loss_max_classes = 1024;
inline void check_soft_classes(std::string_view who, std::size_t k) {
    if (k > soft_loss_max_classes)
        throw error(std::string(who) + ": " + std::to_string(k) + " classes; at most " + std::to_string(soft_loss_max_classes));
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

/// Cross-entropy against probability targets (PyTorch's nn.CrossEntropyLoss with a [n, classes]
/// float target): loss = -sum_c t_c log softmax(z)_c, mean over n; dloss/dz = (softmax(z) * sum_c t_c - t) / n.
/// Targets are not checked to sum to 1 (PyTorch does not either).
struct SoftCrossEntropy {
    static constexpr std::string_view kind = "SoftCrossEntropy";
    using target_type = float;

    float operator()(const float* logits, const float* targets, std::size_t n, std::size_t k, float* grad) const {
        detail::check_loss_args("ctnn::SoftCrossEntropy", logits, targets, n, k);
        detail::check_soft_classes("ctnn::SoftCrossEntropy", k);
        double p[detail::soft_loss_max_classes];
        const double inv_n = 1.0 / static_cast<double>(n);
        double total = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            const float* z = logits + i * k;
            const float* t = targets + i * k;
            const double lse = detail::softmax_t(z, k, 1.0, p);
            double tsum = 0.0;
            for (std::size_t c = 0; c < k; ++c) {
                total -= static_cast<double>(t[c]) * (static_cast<double>(z[c]) - lse);
                tsum += t[c];
            }
            if (grad)
                for (std::size_t c = 0; c < k; ++c) grad[i * k + c] = static_cast<float>((p[c] * tsum - t[c]) * inv_n);
        }
        return static_cast<float>(total * inv_n);
    }
};

/// A loss on (student logits, teacher logits, labels) with one batch's teacher logits bound: a
/// loss on class labels, for train_step (Distillation, continual::lwf_loss; distill.hpp).
template <class Loss>
struct teacher_bound {
    static constexpr std::string_view kind = Loss::kind;
    using target_type = std::int32_t;
    const Loss* loss;
    const float* teacher;
    float operator()(const float* student, const std::int32_t* labels, std::size_t n, std::size_t k, float* grad) const {
        return (*loss)(student, teacher, labels, n, k, grad);
    }
};

/// Knowledge distillation (Hinton, Vinyals and Dean, 2015) with PyTorch's conventions:
///   loss = alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, y)
/// the KL term as F.kl_div(F.log_softmax(s / T), F.softmax(t / T), reduction="batchmean"), CE as
/// CrossEntropy (with its label smoothing). s: the student's logits [n, k], t: the teacher's
/// [n, k], y: labels. The T^2 keeps the soft term's gradient, T (q - p) / n, on the scale of the
/// hard term's as T changes. with_teacher(t) binds one batch's teacher logits: the result is a
/// loss on class labels, for train_step (and distill(), train/distill.hpp).
struct Distillation {
    static constexpr std::string_view kind = "Distillation";
    float temperature = 4.0f;
    float alpha = 0.9f;            // weight of the soft (teacher) term; 1 - alpha on the labels
    float label_smoothing = 0.0f;  // of the hard term

    float operator()(const float* student, const float* teacher, const std::int32_t* labels, std::size_t n, std::size_t k,
                     float* grad) const {
        if (!(temperature > 0.0f && std::isfinite(temperature)))
            throw error("ctnn::Distillation: temperature " + std::to_string(temperature) + " must be positive and finite");
        if (!(alpha >= 0.0f && alpha <= 1.0f)) throw error("ctnn::Distillation: alpha " + std::to_string(alpha) + " is outside [0, 1]");
        detail::check_loss_args("ctnn::Distillation", student, teacher, n, k);
        detail::check_soft_classes("ctnn::Distillation", k);
        detail::check_labels(labels, n, k, "ctnn::Distillation");
        const double hard = alpha < 1.0f ? CrossEntropy{label_smoothing}(student, labels, n, k, grad) : 0.0;
        if (grad)  // the hard term's gradient, weighted; the soft term's is added to it
            for (std::size_t i = 0; i < n * k; ++i) grad[i] = alpha < 1.0f ? (1.0f - alpha) * grad[i] : 0.0f;
        const double soft = soft_term(student, teacher, n, k, temperature, alpha, grad);
        return static_cast<float>(alpha * soft + (1.0 - alpha) * hard);
    }

    /// T^2 KL(softmax(t / T) || softmax(s / T)) / n over the n rows of s and t [n, k] (the caller
    /// has checked them); when grad is given, adds scale times its gradient, T (q - p) / n, to it.
    static double soft_term(const float* s, const float* t, std::size_t n, std::size_t k, double T, double scale,
                            float* grad) {
        const double inv_n = 1.0 / static_cast<double>(n);
        double p[detail::soft_loss_max_classes], q[detail::soft_loss_max_classes];
        double kl = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            const double lse_t = detail::softmax_t(t + i * k, k, T, p);
            const double lse_s = detail::softmax_t(s + i * k, k, T, q);
            for (std::size_t c = 0; c < k; ++c)
                if (p[c] > 0.0)  // 0 log 0 = 0 (PyTorch's kl_div: xlogy)
                    kl += p[c] * ((static_cast<double>(t[i * k + c]) / T - lse_t) - (static_cast<double>(s[i * k + c]) / T - lse_s));
            if (grad)
                for (std::size_t c = 0; c < k; ++c) grad[i * k + c] += static_cast<float>(scale * T * (q[c] - p[c]) * inv_n);
        }
        return T * T * kl * inv_n;
    }

    using bound = teacher_bound<Distillation>;
    bound with_teacher(const float* teacher_logits) const { return {this, teacher_logits}; }
};

}  // namespace ctnn
