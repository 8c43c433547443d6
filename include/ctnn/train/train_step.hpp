// One training step on a batch: forward (training mode), loss, backward, optimizer update.
//
//   ctnn::Adam opt(net, 1e-3f);
//   float loss = ctnn::train_step(net, opt, ctnn::CrossEntropy{}, in, labels, batch);  // int32 labels
//   float loss = ctnn::train_step(net, opt, ctnn::MSE{}, in, targets, batch);          // float targets
//
// The loss is checked before anything changes: a label outside the net's outputs or a NaN or
// infinite loss throws ctnn::error and leaves the net (parameters, running statistics, random
// state) and the optimizer as they were.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "../backend.hpp"
#include "../error.hpp"
#include "loss.hpp"

namespace ctnn {

/// What a step measured: the mean loss and, for class labels, how many argmaxes were right.
struct step_result {
    float loss = 0.0f;
    std::size_t correct = 0;
};

/// Index of the largest of k values (the first one on ties, like torch.argmax).
inline std::size_t argmax(const float* v, std::size_t k) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < k; ++i)
        if (v[i] > v[best]) best = i;
    return best;
}

/// train_step, also counting correct predictions (class labels only).
template <class Backend = void, class Net, class Opt, class Loss>
step_result train_step_result(Net& net, Opt& opt, const Loss& loss, const float* in,
                              const typename Loss::target_type* targets, std::size_t batch) {
    constexpr std::size_t k = Net::output_size;
    if constexpr (std::is_same_v<typename Loss::target_type, std::int32_t>)
        detail::check_labels(targets, batch, k, "ctnn::train_step");  // before the forward pass changes anything
    thread_local std::vector<float> dout, saved_buffers;
    if (dout.size() < batch * k) dout.resize(batch * k);
    // The training forward updates running statistics and draws Dropout masks: keep both so a
    // failed step leaves the net as it was.
    saved_buffers.assign(net.buffers().begin(), net.buffers().end());
    const std::uint64_t saved_rng = net.generator().state();
    const float* out = nullptr;
    step_result r;
    try {  // (the forward itself may throw: BatchNorm at batch 1, after earlier layers changed state)
        out = net.template forward_train<Backend>(in, batch);
        r.loss = loss(out, targets, batch, k, dout.data());
    } catch (...) {
        std::copy(saved_buffers.begin(), saved_buffers.end(), net.buffers().begin());
        net.generator().set_state(saved_rng);
        throw;
    }
    if (!std::isfinite(r.loss)) {
        std::copy(saved_buffers.begin(), saved_buffers.end(), net.buffers().begin());
        net.generator().set_state(saved_rng);
        throw error(std::string("ctnn::train_step: the ") + std::string(Loss::kind) + " loss is " +
                    (std::isnan(r.loss) ? "NaN" : "infinite") + " (learning rate " + std::to_string(opt.lr()) +
                    ", after " + std::to_string(opt.steps()) + " optimizer steps); the net was not updated");
    }
    if constexpr (std::is_same_v<typename Loss::target_type, std::int32_t>)
        for (std::size_t i = 0; i < batch; ++i)
            r.correct += argmax(out + i * k, k) == static_cast<std::size_t>(targets[i]);
    net.zero_grad();
    net.template backward<Backend>(dout.data());
    opt.step();
    return r;
}

/// One training step; returns the batch's mean loss.
template <class Backend = void, class Net, class Opt, class Loss>
float train_step(Net& net, Opt& opt, const Loss& loss, const float* in, const typename Loss::target_type* targets,
                 std::size_t batch) {
    return train_step_result<Backend>(net, opt, loss, in, targets, batch).loss;
}

}  // namespace ctnn
