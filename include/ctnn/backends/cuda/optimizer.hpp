// The device net's optimizers: PyTorch's names and defaults, validated as the host optimizers
// are (train/optim.hpp), and turned into the optimizer_state the captured step reads from device
// memory. The update rules themselves are train/rules.hpp, shared with the host.
#pragma once
#include "../../train/optim.hpp"
#include "threads/train.hpp"

namespace ctnn::cuda {

struct sgd {
    float lr = 0.01f;
    float momentum = 0.0f, dampening = 0.0f, weight_decay = 0.0f;
    bool nesterov = false;
};
struct adam {
    float lr = 1e-3f;
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
};
struct adamw {
    float lr = 1e-3f;
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 1e-2f;
};

inline optimizer_state state_of(const sgd& o) {
    ctnn::detail::check_lr("cuda::sgd", o.lr);
    ctnn::detail::check_options(sgd_options{o.momentum, o.dampening, o.weight_decay, o.nesterov});
    optimizer_state s;
    s.kind = optimizer_state::sgd; s.lr = o.lr; s.momentum = o.momentum; s.dampening = o.dampening;
    s.weight_decay = o.weight_decay; s.nesterov = o.nesterov;
    return s;
}
inline optimizer_state state_of(const adam& o) {
    ctnn::detail::check_lr("cuda::adam", o.lr);
    ctnn::detail::check_options("cuda::adam", adam_options{o.beta1, o.beta2, o.eps, o.weight_decay});
    optimizer_state s;
    s.kind = optimizer_state::adam; s.lr = o.lr; s.beta1 = o.beta1; s.beta2 = o.beta2; s.eps = o.eps;
    s.weight_decay = o.weight_decay;
    return s;
}
inline optimizer_state state_of(const adamw& o) {
    optimizer_state s = state_of(adam{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay});
    s.kind = optimizer_state::adamw;
    return s;
}

/// The trainable layers' places in the parameter and gradient blocks, from the net's plan.
template <class Plan>
segment_table<Plan::depth> segments_of() {
    segment_table<Plan::depth> t;
    for (std::size_t i = 0; i < Plan::depth; ++i)
        if (Plan::trainable[i]) {
            t.param_off[t.count] = Plan::param_offset[i];
            t.grad_off[t.count] = Plan::grad_offset[i];
            t.size[t.count] = Plan::grad_sizes[i];
            ++t.count;
        }
    return t;
}

}  // namespace ctnn::cuda
