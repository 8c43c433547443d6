// Elastic weight consolidation (Kirkpatrick et al., 2017) for continual learning (continual.hpp):
// after a task, the diagonal of the Fisher information says how much each parameter mattered to
// it; later tasks pay lambda / 2 * sum_i F_i (theta_i - theta*_i)^2 for moving it.
//
//   ctnn::continual::ewc<Net> reg(net, {.lambda = 100.0f});
//   ctnn::continual::penalized<ctnn::SGD<Net>, ctnn::continual::ewc<Net>> opt(reg, net, 0.05f);
//   for (task ...) {
//       ctnn::fit(net, opt, ctnn::CrossEntropy{}, batches, nullptr, o);   // penalty's gradient added
//       reg.consolidate(task_data);                                       // F and theta* of this task
//   }
//
// Fisher information as Avalanche computes it for EWC: the mean over the task's batches of the
// squared gradient of the batch's mean cross-entropy, with the labels of the data (the empirical
// Fisher), the net in training mode (batch statistics; running statistics are left as they
// were, and Dropout's generator too). Separate (one penalty per earlier task, as the paper) or
// online (Schwarz et al., 2018: F = gamma F_old + F_new, one anchor, the latest parameters).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../data.hpp"
#include "../error.hpp"
#include "loss.hpp"

namespace ctnn::continual {

/// The empirical Fisher diagonal of net's trainable parameters on d (gradient layout,
/// Net::grad_count floats; see above), from batches of `batch` samples in d's order, of the loss
/// the net is trained with (a class-label loss: CrossEntropy, or task_cross_entropy for
/// task-incremental learning, where the other tasks' outputs are not trained and must not count).
template <class Backend = void, class Net, class Loss = CrossEntropy>
std::vector<float> fisher_diagonal(Net& net, const data::dataset& d, std::size_t batch = 64, const Loss& loss = {}) {
    if (d.sample_size() != Net::input_size)
        throw error("continual::fisher_diagonal: the data set's samples have " + std::to_string(d.sample_size()) +
                    " values but the net's input has " + std::to_string(Net::input_size));
    if (d.count == 0) throw error("continual::fisher_diagonal: the data set is empty");
    batch = std::max<std::size_t>(batch, 1);
    const std::vector<float> buffers(net.buffers().begin(), net.buffers().end());
    const std::uint64_t rng_state = net.generator().state();
    std::vector<double> f(Net::grad_count, 0.0);
    std::vector<float> dout(batch * Net::output_size);
    std::size_t batches = 0;
    for (std::size_t i = 0; i < d.count; i += batch, ++batches) {
        const std::size_t n = std::min(batch, d.count - i);
        const float* out = net.template forward_train<Backend>(d.images.data() + i * Net::input_size, n);
        loss(out, d.labels.data() + i, n, Net::output_size, dout.data());
        net.zero_grad();
        net.template backward<Backend>(dout.data());
        const auto g = net.grads();
        for (std::size_t j = 0; j < Net::grad_count; ++j) f[j] += static_cast<double>(g[j]) * g[j];
    }
    std::copy(buffers.begin(), buffers.end(), net.buffers().begin());
    net.generator().set_state(rng_state);
    net.zero_grad();
    std::vector<float> out(Net::grad_count);
    for (std::size_t j = 0; j < Net::grad_count; ++j) out[j] = static_cast<float>(f[j] / static_cast<double>(batches));
    return out;
}

/// How EWC weighs earlier tasks.
struct ewc_options {
    float lambda = 1.0f;   // the penalty's weight
    bool online = false;   // one running Fisher and anchor (else one per task)
    float gamma = 1.0f;    // online: the old Fisher's decay per task
    std::size_t batch = 64;  // of the Fisher's batches
};

template <class Net>
class ewc {
public:
    explicit ewc(Net& net, ewc_options o = {}) : net_(&net), o_(o) {
        if (!(o.lambda >= 0.0f) || !(o.gamma >= 0.0f && o.gamma <= 1.0f))
            throw error("continual::ewc: lambda " + std::to_string(o.lambda) + " must be >= 0 and gamma " +
                        std::to_string(o.gamma) + " in [0, 1]");
    }

    /// After training on a task: its Fisher diagonal (on `task`, with the training loss) and the
    /// net's parameters now.
    template <class Backend = void, class Loss = CrossEntropy>
    void consolidate(const data::dataset& task, const Loss& loss = {}) {
        std::vector<float> f = fisher_diagonal<Backend>(*net_, task, o_.batch, loss);
        std::vector<float> anchor = parameters();
        if (o_.online && !terms_.empty()) {
            auto& [F, a] = terms_.front();
            for (std::size_t j = 0; j < f.size(); ++j) F[j] = o_.gamma * F[j] + f[j];
            a = std::move(anchor);
        } else {
            terms_.emplace_back(std::move(f), std::move(anchor));
        }
    }

    /// lambda / 2 * sum over terms and parameters of F (theta - theta*)^2.
    double penalty() const {
        const std::vector<float> p = parameters();
        double s = 0;
        for (const auto& [F, a] : terms_)
            for (std::size_t j = 0; j < p.size(); ++j) s += static_cast<double>(F[j]) * (p[j] - a[j]) * (p[j] - a[j]);
        return 0.5 * o_.lambda * s;
    }
    /// Adds the penalty's gradient, lambda * sum F (theta - theta*), to the net's gradients.
    void add_gradient() const {
        if (terms_.empty()) return;
        float* g = net_->grads().data();
        const float* params = net_->params().data();
        for_each_parameter([&](std::size_t j, std::size_t pj) {
            float s = 0.0f;
            for (const auto& [F, a] : terms_) s += F[j] * (params[pj] - a[j]);
            g[j] += o_.lambda * s;
        });
    }
    std::size_t terms() const { return terms_.size(); }
    const std::vector<float>& fisher(std::size_t t = 0) const { return terms_.at(t).first; }
    Net& net() const { return *net_; }

private:
    /// f(j, pj) for every gradient element j and its parameter's index pj.
    template <class F>
    static void for_each_parameter(F&& f) {
        for (std::size_t i = 0; i < Net::depth; ++i)
            if (Net::trainable[i])
                for (std::size_t j = Net::grad_offset[i]; j < Net::grad_offset[i + 1]; ++j)
                    f(j, Net::param_offset[i] + (j - Net::grad_offset[i]));
    }
    /// The trainable parameters in the gradient layout.
    std::vector<float> parameters() const {
        std::vector<float> p(Net::grad_count);
        const float* params = net_->params().data();
        for_each_parameter([&](std::size_t j, std::size_t pj) { p[j] = params[pj]; });
        return p;
    }

    Net* net_;
    ewc_options o_;
    std::vector<std::pair<std::vector<float>, std::vector<float>>> terms_;  // (Fisher, anchor)
};

/// An optimizer that adds a penalty's gradient (add_gradient(): ewc) to the net's gradients before
/// each of its steps; everything else is Opt's, so it goes wherever Opt goes (fit, train_step,
/// checkpoints, which save Opt's state only).
template <class Opt, class Penalty>
class penalized : public Opt {
public:
    template <class... Args>
    explicit penalized(const Penalty& p, Args&&... args) : Opt(std::forward<Args>(args)...), penalty_(&p) {}
    void step() {
        penalty_->add_gradient();
        Opt::step();
    }

private:
    const Penalty* penalty_;
};

}  // namespace ctnn::continual
