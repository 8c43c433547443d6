// Per-thread work of the training step's own kernels on the GPU: cross-entropy loss with its
// gradient, the optimizers (PyTorch's SGD, Adam, AdamW: the rules of train/rules.hpp, shared with
// the host optimizers), and the step counter.
#pragma once
#include <cstdint>

#include "../../../train/rules.hpp"
#include "hd.hpp"

namespace ctnn::cuda {

/// Mean cross-entropy of logits [n, C] against integer labels, as PyTorch's
/// nn.CrossEntropyLoss(): loss = mean(logsumexp(z) - z[label]); dz = (softmax(z) - onehot) / n.
/// One block; its threads take samples t, t + nt, ...; finish writes the mean loss.
template <std::size_t C>
struct cross_entropy {
    using value = float;
    struct args {
        const float* logits;
        const std::int32_t* labels;
        float* dlogits;  // [n, C], overwritten
        float* loss;     // one float
        std::size_t n;
    };
    static grid_size grid(const args& a) { return {1u, reduce_threads(a.n)}; }
    static CTNN_HD float partial(unsigned, unsigned t, unsigned nt, const args& a) {
        float acc = 0.0f;
        const float inv_n = 1.0f / float(a.n);
        for (std::size_t j = t; j < a.n; j += nt) {
            const float* z = a.logits + j * C;
            float m = z[0];
            for (std::size_t c = 1; c < C; ++c) m = z[c] > m ? z[c] : m;
            float s = 0.0f;
            for (std::size_t c = 0; c < C; ++c) s += ::expf(z[c] - m);
            const std::size_t label = static_cast<std::size_t>(a.labels[j]);
            acc += m + ::logf(s) - z[label];
            for (std::size_t c = 0; c < C; ++c)
                a.dlogits[j * C + c] = (::expf(z[c] - m) / s - (c == label ? 1.0f : 0.0f)) * inv_n;
        }
        return acc;
    }
    static CTNN_HD void finish(unsigned, float s, const args& a) { *a.loss = s / float(a.n); }
};

/// Which update rule, and its hyper-parameters; kept in device memory so a captured step reads
/// the current values (a learning-rate schedule needs no new capture).
struct optimizer_state {
    enum kind_t : std::int32_t { sgd = 0, adam = 1, adamw = 2 };
    std::int32_t kind = adam;
    float lr = 1e-3f;
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    float weight_decay = 0.0f;
    float momentum = 0.0f, dampening = 0.0f;
    std::int32_t nesterov = 0;
};

/// What one training step advances: the optimizer's step t (1 on the first step), the Dropout
/// seed, and the update rule's coefficients for this step (train/rules.hpp).
struct step_counters {
    std::uint64_t step = 0;
    std::uint64_t seed = 0;
    sgd_step sgd{};
    adam_step adam{};
};

/// Advances the counters at the start of a step and computes the step's coefficients (one thread).
struct step_begin {
    struct args {
        step_counters* counters;
        const optimizer_state* opt;
    };
    static grid_size grid(const args&) { return {1u, 32u}; }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned, const args& a) {
        if (b != 0 || t != 0) return;
        step_counters& c = *a.counters;
        const optimizer_state& o = *a.opt;
        c.step += 1;
        c.seed = mix64(c.seed + 0x632BE59BD9B4E019ull);
        if (o.kind == optimizer_state::sgd) {
            c.sgd = sgd_step{o.lr, o.weight_decay, o.momentum, 1.0f - o.dampening, o.momentum != 0.0f, o.nesterov != 0, c.step <= 1};
        } else {
            c.adam = make_adam_step(o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.kind == optimizer_state::adamw, c.step);
        }
    }
};

/// Where each trainable layer's values sit: parameters at param_off, gradients (and optimizer
/// moments) at grad_off, size values.
template <std::size_t N>
struct segment_table {
    std::size_t count = 0;
    std::size_t param_off[N]{}, grad_off[N]{}, size[N]{};
};

/// One optimizer step over every trainable value, one thread per gradient, by the rules of
/// train/rules.hpp with this step's coefficients (step_begin). SGD's momentum buffer is m.
template <std::size_t N>
struct optimizer_step {
    struct args {
        float* params;
        const float* grads;
        float* m;
        float* v;
        const optimizer_state* opt;      // device memory
        const step_counters* counters;   // device memory
        segment_table<N> segments;
        std::size_t count;               // grad_count
    };
    static grid_size grid(const args& a) { return map_grid(a.count); }
    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args& a) {
        const std::size_t i = item(b, t, nt);
        if (i >= a.count) return;
        std::size_t s = 0;
        while (s + 1 < a.segments.count && i >= a.segments.grad_off[s + 1]) ++s;
        float& p = a.params[a.segments.param_off[s] + (i - a.segments.grad_off[s])];
        if (a.opt->kind == optimizer_state::sgd) sgd_update<scalar_math>(a.counters->sgd, p, a.grads[i], a.m[i]);
        else adam_update<scalar_math>(a.counters->adam, p, a.grads[i], a.m[i], a.v[i]);
    }
};

}  // namespace ctnn::cuda
