// Continual learning: a net trained on tasks one after another, the metrics that say how much
// it forgot, and what keeps it from forgetting, as pieces that compose with fit and train_step.
//
//   auto tasks = ctnn::continual::split_by_class(train_set, 2);    // Split Fashion-MNIST: 5 tasks
//   ctnn::continual::accuracy_matrix acc(tasks.size());
//   ctnn::continual::reservoir memory(1000, seed);                 // experience replay's memory
//   for (std::size_t t = 0; t < tasks.size(); ++t) {
//       ctnn::data::loader batches(tasks[t], 64, seed);
//       ctnn::continual::replay_loader mixed(batches, memory, 32); // 64 new + 32 remembered
//       ctnn::fit(net, opt, ctnn::CrossEntropy{}, mixed, nullptr, o);
//       memory.offer(tasks[t]);
//       for (std::size_t j = 0; j < tasks.size(); ++j) acc.set(t, j, ctnn::evaluate(net, test_tasks[j]));
//   }
//   acc.average(); acc.forgetting();
//
// Scenarios (van de Ven and Tolias, 2019), with one output layer over all classes:
//   class-incremental  train with CrossEntropy, test with the argmax over every class (evaluate)
//   task-incremental   the task is known: train with task_cross_entropy (the softmax over the
//                      sample's own task's classes: a head per task) and test with the argmax
//                      over the task's classes (evaluate_within)
// EWC is in ewc.hpp; LwF is distillation from the previous model (distill.hpp, lwf_loss below).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../data.hpp"
#include "../error.hpp"
#include "../random.hpp"
#include "loss.hpp"

namespace ctnn::continual {

/// Tasks of `per_task` consecutive classes: task t holds the samples of classes
/// [t * per_task, (t + 1) * per_task), in their order, labels unchanged (one head over all).
inline std::vector<data::dataset> split_by_class(const data::dataset& d, std::size_t per_task) {
    if (per_task == 0 || d.classes == 0 || d.classes % per_task)
        throw error("continual::split_by_class: " + std::to_string(d.classes) + " classes do not split into tasks of " +
                    std::to_string(per_task));
    std::vector<data::dataset> tasks;
    for (std::size_t first = 0; first < d.classes; first += per_task)
        tasks.push_back(d.filter_classes(static_cast<std::int32_t>(first), static_cast<std::int32_t>(first + per_task - 1), false));
    return tasks;
}

/// Task-incremental accuracy: the fraction of d's samples whose argmax over the outputs
/// [first, first + count) (their task's classes) is the label.
template <class Backend = void, class Net>
double evaluate_within(Net& net, const data::dataset& d, std::size_t first, std::size_t count, std::size_t batch = 256) {
    constexpr std::size_t k = Net::output_size;
    if (d.sample_size() != Net::input_size || count == 0 || first + count > k)
        throw error("continual::evaluate_within: classes [" + std::to_string(first) + ", " + std::to_string(first + count) +
                    ") of a net with " + std::to_string(k) + " outputs, samples of " + std::to_string(d.sample_size()) +
                    " values for an input of " + std::to_string(Net::input_size));
    if (d.count == 0) return std::nan("");
    batch = std::max<std::size_t>(batch, 1);
    std::vector<float> out(batch * k);
    std::size_t correct = 0;
    for (std::size_t i = 0; i < d.count; i += batch) {
        const std::size_t n = std::min(batch, d.count - i);
        net.template forward<Backend>(d.images.data() + i * Net::input_size, out.data(), n);
        for (std::size_t j = 0; j < n; ++j)
            correct += first + argmax(out.data() + j * k + first, count) == static_cast<std::size_t>(d.labels[i + j]);
    }
    return static_cast<double>(correct) / static_cast<double>(d.count);
}

/// r(i, j): the accuracy on task j after training on tasks 0 .. i.
class accuracy_matrix {
public:
    explicit accuracy_matrix(std::size_t tasks) : t_(tasks), r_(tasks * tasks, std::nan("")) {}
    void set(std::size_t i, std::size_t j, double acc) { r_.at(i * t_ + j) = acc; }
    double operator()(std::size_t i, std::size_t j) const { return r_.at(i * t_ + j); }
    std::size_t tasks() const { return t_; }
    /// The mean accuracy over all tasks after the last one (Avalanche's stream accuracy at the end).
    double average() const {
        double s = 0;
        for (std::size_t j = 0; j < t_; ++j) s += (*this)(t_ - 1, j);
        return s / static_cast<double>(t_);
    }
    /// The mean over tasks j before the last of r(j, j) - r(last, j): the accuracy each lost from
    /// right after its own training to the end (Avalanche's forgetting metric).
    double forgetting() const {
        if (t_ < 2) return 0.0;
        double s = 0;
        for (std::size_t j = 0; j + 1 < t_; ++j) s += (*this)(j, j) - (*this)(t_ - 1, j);
        return s / static_cast<double>(t_ - 1);
    }
    /// The same with the best accuracy task j ever had before the end (Chaudhry et al., 2018).
    double max_forgetting() const {
        if (t_ < 2) return 0.0;
        double s = 0;
        for (std::size_t j = 0; j + 1 < t_; ++j) {
            double best = -INFINITY;
            for (std::size_t i = j; i + 1 < t_; ++i) best = std::max(best, (*this)(i, j));
            s += best - (*this)(t_ - 1, j);
        }
        return s / static_cast<double>(t_ - 1);
    }

private:
    std::size_t t_;
    std::vector<double> r_;
};

/// Experience replay's memory: a uniform sample of every sample offered so far, at most
/// `capacity` of them (reservoir sampling, Vitter's algorithm R: the i-th sample offered is kept
/// with probability capacity / i, in place of a random kept one).
class reservoir {
public:
    reservoir(std::size_t capacity, std::uint64_t seed) : cap_(capacity), gen_(seed) {
        if (capacity == 0) throw error("continual::reservoir: capacity must be at least 1");
    }
    /// Offers one sample (image of the memory's sample size; the first sample sets its shape).
    void offer(const data::dataset& d, std::size_t i) {
        if (mem_.count == 0 && seen_ == 0) shape_like(d);
        if (d.sample_size() != mem_.sample_size())
            throw error("continual::reservoir: a sample of " + std::to_string(d.sample_size()) + " values offered to a memory of " +
                        std::to_string(mem_.sample_size()));
        ++seen_;
        std::size_t slot;
        if (mem_.count < cap_) {
            slot = mem_.count++;
            mem_.images.resize(mem_.count * mem_.sample_size());
            mem_.labels.resize(mem_.count);
        } else {
            slot = static_cast<std::size_t>(gen_.below(seen_));
            if (slot >= cap_) return;
        }
        std::memcpy(mem_.images.data() + slot * mem_.sample_size(), d.image(i), mem_.sample_size() * sizeof(float));
        mem_.labels[slot] = d.label(i);
        mem_.classes = std::max(mem_.classes, d.classes);
    }
    /// Offers every sample of d, in order.
    void offer(const data::dataset& d) {
        for (std::size_t i = 0; i < d.count; ++i) offer(d, i);
    }
    const data::dataset& samples() const { return mem_; }
    std::size_t size() const { return mem_.count; }
    std::size_t capacity() const { return cap_; }
    std::uint64_t seen() const { return seen_; }

private:
    void shape_like(const data::dataset& d) {
        mem_.channels = d.channels;
        mem_.height = d.height;
        mem_.width = d.width;
    }
    std::size_t cap_;
    rng gen_;
    std::uint64_t seen_ = 0;
    data::dataset mem_;
};

/// A loader's batches with `extra` samples of a reservoir appended to each (drawn uniformly,
/// without repeats within a batch; none while the memory is empty): experience replay through
/// fit. The memory is read, not changed: offer a task's samples after training on it. Float
/// targets are not carried (targets() is null).
class replay_loader {
public:
    replay_loader(data::loader& base, const reservoir& memory, std::size_t extra, std::uint64_t seed = 1)
        : base_(&base), mem_(&memory), extra_(extra), seed_(seed) {
        const std::size_t s = base.data().sample_size(), b = base.max_batch() + extra;
        images_.resize(b * s);
        labels_.resize(b);
    }
    void start_epoch(std::size_t e) {
        base_->start_epoch(e);
        gen_ = rng(seed_ ^ (0x9E3779B97F4A7C15ull * (e + 1)));
    }
    bool next() {
        if (!base_->next()) return false;
        const std::size_t s = base_->data().sample_size(), n = base_->batch_size();
        std::memcpy(images_.data(), base_->images(), n * s * sizeof(float));
        std::memcpy(labels_.data(), base_->labels(), n * sizeof(std::int32_t));
        const data::dataset& m = mem_->samples();
        if (m.count && m.sample_size() != s)
            throw error("continual::replay_loader: the memory's samples have " + std::to_string(m.sample_size()) +
                        " values, the loader's " + std::to_string(s));
        const std::size_t k = std::min(extra_, m.count);
        pick_.clear();
        while (pick_.size() < k) {  // k distinct indices (k is small next to the memory)
            const std::size_t i = static_cast<std::size_t>(gen_.below(m.count));
            if (std::find(pick_.begin(), pick_.end(), i) == pick_.end()) pick_.push_back(i);
        }
        for (std::size_t j = 0; j < k; ++j) {
            std::memcpy(images_.data() + (n + j) * s, m.image(pick_[j]), s * sizeof(float));
            labels_[n + j] = m.labels[pick_[j]];
        }
        cur_ = n + k;
        return true;
    }
    const float* images() const { return images_.data(); }
    const std::int32_t* labels() const { return labels_.data(); }
    const float* targets() const { return nullptr; }
    std::size_t batch_size() const { return cur_; }
    std::size_t max_batch() const { return base_->max_batch() + extra_; }
    std::size_t batches_per_epoch() const { return base_->batches_per_epoch(); }
    /// New samples per epoch (the replayed ones come on top).
    std::size_t samples_per_epoch() const { return base_->samples_per_epoch(); }
    const data::dataset& data() const { return base_->data(); }

private:
    data::loader* base_;
    const reservoir* mem_;
    std::size_t extra_;
    std::uint64_t seed_;
    rng gen_{1};
    std::vector<float> images_;
    std::vector<std::int32_t> labels_;
    std::vector<std::size_t> pick_;
    std::size_t cur_ = 0;
};

/// Cross-entropy over each sample's own task's classes only (task-incremental learning with one
/// output layer: a head per task): sample i's softmax runs over the outputs
/// [t * per_task, (t + 1) * per_task), t = label / per_task; the other outputs get no gradient.
struct task_cross_entropy {
    static constexpr std::string_view kind = "TaskCrossEntropy";
    using target_type = std::int32_t;
    std::size_t per_task = 2;

    float operator()(const float* logits, const std::int32_t* labels, std::size_t n, std::size_t k, float* grad) const {
        detail::check_loss_args("continual::task_cross_entropy", logits, labels, n, k);
        detail::check_labels(labels, n, k, "continual::task_cross_entropy");
        if (per_task == 0 || k % per_task)
            throw error("continual::task_cross_entropy: " + std::to_string(k) + " outputs do not split into tasks of " +
                        std::to_string(per_task));
        if (grad) std::fill(grad, grad + n * k, 0.0f);
        double total = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t first = static_cast<std::size_t>(labels[i]) / per_task * per_task;
            const std::int32_t y = labels[i] - static_cast<std::int32_t>(first);
            total += static_cast<double>(CrossEntropy{}(logits + i * k + first, &y, 1, per_task, grad ? grad + i * k + first : nullptr));
        }
        if (grad)
            for (std::size_t i = 0; i < n * k; ++i) grad[i] /= static_cast<float>(n);
        return static_cast<float>(total / static_cast<double>(n));
    }
};

/// Learning without Forgetting (Li and Hoiem, 2016): a loss on the labels (Hard: CrossEntropy,
/// task_cross_entropy) plus lambda * T^2 * KL(softmax(old / T) || softmax(new / T)) against the
/// outputs of the model as it was before the task (distill.hpp runs it on each batch: bind with
/// with_teacher, as Distillation's).
template <class Hard = CrossEntropy>
struct lwf_loss {
    static constexpr std::string_view kind = "LwF";
    Hard hard{};
    float temperature = 2.0f;
    float lambda = 1.0f;

    float operator()(const float* s, const float* old, const std::int32_t* labels, std::size_t n, std::size_t k,
                     float* grad) const {
        const float h = hard(s, labels, n, k, grad);  // (checks the arguments and labels)
        detail::check_loss_args("continual::lwf_loss", s, old, n, k);
        detail::check_soft_classes("continual::lwf_loss", k);
        if (!(temperature > 0.0f && std::isfinite(temperature)))
            throw error("continual::lwf_loss: temperature " + std::to_string(temperature) + " must be positive and finite");
        const double soft = Distillation::soft_term(s, old, n, k, temperature, lambda, grad);  // adds to the hard gradient
        return static_cast<float>(h + lambda * soft);
    }
    using bound = teacher_bound<lwf_loss>;
    bound with_teacher(const float* old) const { return {this, old}; }
};

}  // namespace ctnn::continual
