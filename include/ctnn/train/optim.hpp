// Optimizers with PyTorch's exact update rules (torch.optim, single-tensor path, float32).
//
// An optimizer is made from a net and keeps its state (momentum, moments) in one block sized
// from the net's type: Net::grad_count floats per state tensor, in the gradient layout. It
// updates trainable layers only; a Frozen<L> layer has no gradient and no state.
//
//   ctnn::SGD   opt(net, 0.1f, {.momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = true});
//   ctnn::Adam  opt(net, 1e-3f);
//   ctnn::AdamW opt(net, 1e-3f, {.weight_decay = 1e-2f});
//   ... net.backward(...); opt.step();
//
// Every optimizer has: step(), lr() / set_lr(), steps() (updates done), state() (the floats a
// checkpoint saves), kind ("SGD", "Adam", "AdamW") and net().
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "../error.hpp"
#include "../memory.hpp"
#include "../backends/cpu/simd.hpp"
#include "../threads.hpp"
#include "../sequential.hpp"

namespace ctnn {

namespace detail {

/// Runs f.template operator()<Vt>(p, g, j) for every element j of the gradient layout
/// [0, Net::grad_count): g is the gradient block and p the parameter block shifted per layer so
/// that p[j] is gradient j's parameter (j also indexes an optimizer's state). Vt::width elements
/// at a time, then each layer's scalar tail. All layers are split over the pool's threads as one
/// range: one parallel region per update, not one per layer (a 2-thread step of the seed CNN
/// spent 22 us in three serial ones). `work` is an element's cost in multiply-adds (tasks_for).
/// Each element is computed the same way whatever the split, so results do not depend on the
/// thread count.
template <class Net, class F>
void for_trainable_elements(Net& net, double work, F&& f) {
    using V = simd::vec;
    float* params = net.params().data();
    const float* grads = net.grads().data();
    constexpr std::size_t n = Net::grad_count;
    const std::size_t T = tasks_for(num_threads(), double(n) * work);
    parallel_for(T, [&](std::size_t t) {
        const range r = split(n, t, T, 64);
        for (std::size_t i = 0; i < Net::depth; ++i) {
            const std::size_t b = std::max(r.begin, Net::grad_offset[i]), e = std::min(r.end, Net::grad_offset[i + 1]);
            if (!Net::trainable[i] || b >= e) continue;
            float* p = params + (Net::param_offset[i] - Net::grad_offset[i]);
            std::size_t j = b;
            for (; j + V::width <= e; j += V::width) f.template operator()<V>(p, grads, j);
            for (; j < e; ++j) f.template operator()<simd::scalar>(p, grads, j);
        }
    });
}

inline void check_lr(std::string_view who, float lr) {
    if (!(lr >= 0.0f) || !std::isfinite(lr))
        throw error("ctnn::" + std::string(who) + ": learning rate " + std::to_string(lr) + " is not a finite value >= 0");
}

}  // namespace detail

/// Hyper-parameters of SGD besides the learning rate (PyTorch's names and defaults).
struct sgd_options {
    float momentum = 0.0f;
    float dampening = 0.0f;
    float weight_decay = 0.0f;
    bool nesterov = false;
};

/// torch.optim.SGD: g += wd * p; buf = g on the first step, else buf = momentum * buf +
/// (1 - dampening) * g; Nesterov: g += momentum * buf, else g = buf; p -= lr * g.
template <class Net>
class SGD {
public:
    static constexpr std::string_view kind = "SGD";

    SGD(Net& net, float lr, sgd_options o = {})
        : net_(&net), lr_(lr), o_(o), buf_(o.momentum != 0.0f ? Net::grad_count : 0) {
        detail::check_lr(kind, lr);
        if (o.momentum < 0.0f || o.weight_decay < 0.0f)
            throw error("ctnn::SGD: momentum and weight_decay must be >= 0");
        if (o.nesterov && (o.momentum <= 0.0f || o.dampening != 0.0f))
            throw error("ctnn::SGD: Nesterov momentum requires momentum > 0 and dampening 0");
    }

    void step() {
        const float lr = lr_, wd = o_.weight_decay, mom = o_.momentum, damp = 1.0f - o_.dampening;
        const bool first = steps_ == 0;
        const bool nesterov = o_.nesterov, momentum = buf_.size() != 0;  // no buffers without momentum
        float* b = buf_.data();
        detail::for_trainable_elements(*net_, 8.0, [&]<class Vt>(float* p, const float* g, std::size_t i) {
            using T = typename Vt::type;
            T d = Vt::load(g + i);
            const T pi = Vt::load(p + i);
            if (wd != 0.0f) d = d + Vt::set1(wd) * pi;
            if (momentum) {
                const T bi = first ? d : Vt::load(b + i) * Vt::set1(mom) + Vt::set1(damp) * d;
                Vt::store(b + i, bi);
                d = nesterov ? d + Vt::set1(mom) * bi : bi;
            }
            Vt::store(p + i, pi - Vt::set1(lr) * d);
        });
        ++steps_;
    }

    float lr() const { return lr_; }
    void set_lr(float lr) { detail::check_lr(kind, lr); lr_ = lr; }
    const sgd_options& options() const { return o_; }
    std::uint64_t steps() const { return steps_; }
    void set_steps(std::uint64_t s) { steps_ = s; }
    /// The momentum buffers (empty without momentum), in the gradient layout.
    std::span<float> state() { return {buf_.data(), buf_.size()}; }
    Net& net() { return *net_; }

private:
    Net* net_;
    float lr_;
    sgd_options o_;
    aligned_floats buf_;
    std::uint64_t steps_ = 0;
};

/// Hyper-parameters of Adam and AdamW besides the learning rate (PyTorch's names). The weight
/// decay default is Adam's (0); AdamW's default is 1e-2 (adamw_options).
struct adam_options {
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 0.0f;
};
struct adamw_options {
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 1e-2f;
    operator adam_options() const { return {beta1, beta2, eps, weight_decay}; }
};

namespace detail {

/// Adam's moment update and step (shared by Adam and AdamW); `coupled_wd` adds wd * p to the
/// gradient (Adam), `decoupled` multiplies p by (1 - lr * wd) first (AdamW).
template <class Net>
void adam_step(Net& net, float* m, float* v, std::uint64_t t, float lr, const adam_options& o, bool decoupled) {
    const double b1 = o.beta1, b2 = o.beta2;
    const double bc1 = 1.0 - std::pow(b1, static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(b2, static_cast<double>(t));
    const float step_size = static_cast<float>(static_cast<double>(lr) / bc1);
    const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    const float a1 = static_cast<float>(1.0 - b1), a2 = static_cast<float>(1.0 - b2);
    const float beta1 = o.beta1, beta2 = o.beta2, eps = o.eps, wd = o.weight_decay;
    const float shrink = static_cast<float>(1.0 - static_cast<double>(lr) * static_cast<double>(wd));
    // The same operations in the same order for vectors and the scalar tail (one rounding per
    // multiply, add, sqrt and divide; the moment updates as fused multiply-adds).
    // (with its sqrt and divide an element costs about as much as 32 multiply-adds)
    for_trainable_elements(net, 32.0, [&]<class Vt>(float* p, const float* g, std::size_t i) {
        using T = typename Vt::type;
        T pi = Vt::load(p + i), gi = Vt::load(g + i);
        if (decoupled) {
            if (wd != 0.0f) pi = pi * Vt::set1(shrink);
        } else if (wd != 0.0f) {
            gi = Vt::fma(Vt::set1(wd), pi, gi);
        }
        const T mi = Vt::fma(Vt::load(m + i), Vt::set1(beta1), Vt::set1(a1) * gi);
        const T vi = Vt::fma(Vt::load(v + i), Vt::set1(beta2), (Vt::set1(a2) * gi) * gi);
        const T denom = Vt::sqrt(vi) / Vt::set1(bc2_sqrt) + Vt::set1(eps);
        Vt::store(m + i, mi);
        Vt::store(v + i, vi);
        Vt::store(p + i, pi - Vt::set1(step_size) * (mi / denom));
    });
}

template <class Net, bool Decoupled, class Options>
class adam_family {
public:
    static constexpr std::string_view kind = Decoupled ? "AdamW" : "Adam";

    adam_family(Net& net, float lr, Options o)
        : net_(&net), lr_(lr), o_(o), state_(2 * Net::grad_count) {
        check_lr(kind, lr);
        if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f && o.beta2 >= 0.0f && o.beta2 < 1.0f))
            throw error("ctnn::" + std::string(kind) + ": betas must be in [0, 1)");
        if (!(o.eps >= 0.0f) || !(o.weight_decay >= 0.0f))
            throw error("ctnn::" + std::string(kind) + ": eps and weight_decay must be >= 0");
    }

    void step() {
        ++steps_;
        adam_step(*net_, state_.data(), state_.data() + Net::grad_count, steps_, lr_, o_, Decoupled);
    }

    float lr() const { return lr_; }
    void set_lr(float lr) { check_lr(kind, lr); lr_ = lr; }
    const Options& options() const { return o_; }
    std::uint64_t steps() const { return steps_; }
    void set_steps(std::uint64_t s) { steps_ = s; }
    /// First moments then second moments, each in the gradient layout.
    std::span<float> state() { return {state_.data(), state_.size()}; }
    std::span<float> exp_avg() { return {state_.data(), Net::grad_count}; }
    std::span<float> exp_avg_sq() { return {state_.data() + Net::grad_count, Net::grad_count}; }
    Net& net() { return *net_; }

private:
    Net* net_;
    float lr_;
    Options o_;
    aligned_floats state_;
    std::uint64_t steps_ = 0;
};

}  // namespace detail

/// torch.optim.Adam (amsgrad off): g += wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g²;
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
template <class Net>
class Adam : public detail::adam_family<Net, false, adam_options> {
public:
    Adam(Net& net, float lr = 1e-3f, adam_options o = {}) : detail::adam_family<Net, false, adam_options>(net, lr, o) {}
};

/// torch.optim.AdamW: p *= 1 - lr * wd, then Adam's update without weight decay in the gradient.
template <class Net>
class AdamW : public detail::adam_family<Net, true, adamw_options> {
public:
    AdamW(Net& net, float lr = 1e-3f, adamw_options o = {}) : detail::adam_family<Net, true, adamw_options>(net, lr, o) {}
};

template <class Net> SGD(Net&, float, sgd_options = {}) -> SGD<Net>;
template <class Net> Adam(Net&, float = 1e-3f, adam_options = {}) -> Adam<Net>;
template <class Net> AdamW(Net&, float = 1e-3f, adamw_options = {}) -> AdamW<Net>;

}  // namespace ctnn
