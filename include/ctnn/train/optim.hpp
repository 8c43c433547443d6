// Optimizers with PyTorch's exact update rules (torch.optim, single-tensor path, float32; the
// rules themselves are in rules.hpp, shared with the device optimizer).
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
#include <array>
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
#include "rules.hpp"

namespace ctnn {

namespace detail {

/// Runs f.template operator()<Vt>(p, g, j, l) for every element j of the gradient layout
/// [0, Net::grad_count) of layers that are trainable and not frozen at run time (l: the layer):
/// g is the gradient block and p the parameter block shifted per layer so
/// that p[j] is gradient j's parameter (j also indexes an optimizer's state). Vt::width elements
/// at a time, then each layer's scalar tail. All layers are split over the pool's threads as one
/// range: one parallel region per update, not one per layer (each layer alone is too small to
/// split, and its region ran on one thread). `work` is an element's cost in multiply-adds (tasks_for).
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
            if (!Net::trainable[i] || net.frozen(i) || b >= e) continue;
            float* p = params + (Net::param_offset[i] - Net::grad_offset[i]);
            std::size_t j = b;
            for (; j + V::width <= e; j += V::width) f.template operator()<V>(p, grads, j, i);
            for (; j < e; ++j) f.template operator()<simd::scalar>(p, grads, j, i);
        }
    });
}

inline void check_lr(std::string_view who, float lr) {
    if (!(lr >= 0.0f) || !std::isfinite(lr))
        throw error("ctnn::" + std::string(who) + ": learning rate " + std::to_string(lr) + " is not a finite value >= 0");
}

/// Per-layer learning rates (PyTorch's parameter groups, one per layer): layer i steps with
/// lr * scale(i). Every optimizer has them.
template <std::size_t Depth>
class lr_scales {
public:
    lr_scales() { s_.fill(1.0f); }
    void set_lr_scale(std::size_t layer, float s) {
        if (layer >= Depth) throw error("ctnn: set_lr_scale: layer " + std::to_string(layer) + " of a net of " + std::to_string(Depth));
        check_lr("set_lr_scale", s);
        s_[layer] = s;
    }
    float lr_scale(std::size_t layer) const { return s_.at(layer); }

protected:
    std::array<float, Depth> s_;
};

}  // namespace detail

/// Hyper-parameters of SGD besides the learning rate (PyTorch's names and defaults).
struct sgd_options {
    float momentum = 0.0f;
    float dampening = 0.0f;
    float weight_decay = 0.0f;
    bool nesterov = false;
};

namespace detail {
/// Refuses what PyTorch refuses, and NaN or infinite values (which would make the net NaN a step
/// later, blamed on the loss), naming the option. Shared with the device optimizers (cuda).
inline void check_option(std::string_view who, const char* name, float v, bool ok) {
    if (!std::isfinite(v) || !ok)
        throw error("ctnn::" + std::string(who) + ": " + name + " " + std::to_string(v) + " is not allowed");
}
inline void check_options(const sgd_options& o) {
    check_option("SGD", "momentum", o.momentum, o.momentum >= 0.0f);
    check_option("SGD", "dampening", o.dampening, true);
    check_option("SGD", "weight_decay", o.weight_decay, o.weight_decay >= 0.0f);
    if (o.nesterov && (o.momentum <= 0.0f || o.dampening != 0.0f))
        throw error("ctnn::SGD: Nesterov momentum requires momentum > 0 and dampening 0");
}
}  // namespace detail

/// torch.optim.SGD: g += wd * p; buf = g on the first step, else buf = momentum * buf +
/// (1 - dampening) * g; Nesterov: g += momentum * buf, else g = buf; p -= lr * g.
template <class Net>
class SGD : public detail::lr_scales<Net::depth> {
public:
    static constexpr std::string_view kind = "SGD";

    SGD(Net& net, float lr, sgd_options o = {})
        : net_(&net), lr_(lr), o_(o), buf_(o.momentum != 0.0f ? Net::grad_count : 0) {
        detail::check_lr(kind, lr);
        detail::check_options(o);
    }

    void step() {
        sgd_step c;
        c.lr = lr_;
        c.weight_decay = o_.weight_decay;
        c.momentum = o_.momentum;
        c.damp = 1.0f - o_.dampening;
        c.use_momentum = buf_.size() != 0;  // no buffers without momentum
        c.nesterov = o_.nesterov;
        c.first = steps_ == 0;
        float* b = buf_.data();
        std::array<sgd_step, Net::depth> per_layer;
        for (std::size_t l = 0; l < Net::depth; ++l) {
            per_layer[l] = c;
            per_layer[l].lr = lr_ * this->s_[l];
        }
        detail::for_trainable_elements(*net_, 8.0, [&]<class Vt>(float* p, const float* g, std::size_t i, std::size_t l) {
            typename Vt::type pi = Vt::load(p + i), bi = c.use_momentum ? Vt::load(b + i) : Vt::zero();
            sgd_update<Vt>(per_layer[l], pi, Vt::load(g + i), bi);
            if (c.use_momentum) Vt::store(b + i, bi);
            Vt::store(p + i, pi);
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

inline void check_options(std::string_view who, const adam_options& o) {
    check_option(who, "beta1", o.beta1, o.beta1 >= 0.0f && o.beta1 < 1.0f);
    check_option(who, "beta2", o.beta2, o.beta2 >= 0.0f && o.beta2 < 1.0f);
    check_option(who, "eps", o.eps, o.eps >= 0.0f);
    check_option(who, "weight_decay", o.weight_decay, o.weight_decay >= 0.0f);
}

/// Adam's moment update and step (shared by Adam and AdamW); `coupled_wd` adds wd * p to the
/// gradient (Adam), `decoupled` multiplies p by (1 - lr * wd) first (AdamW).
template <class Net>
void adam_update_all(Net& net, float* m, float* v, std::uint64_t t, float lr, const adam_options& o, bool decoupled,
                     const std::array<float, Net::depth>& scale) {
    std::array<adam_step, Net::depth> c;
    for (std::size_t l = 0; l < Net::depth; ++l)
        c[l] = make_adam_step(lr * scale[l], o.beta1, o.beta2, o.eps, o.weight_decay, decoupled, t);
    // (with its sqrt and divide an element costs about as much as 32 multiply-adds)
    for_trainable_elements(net, 32.0, [&]<class Vt>(float* p, const float* g, std::size_t i, std::size_t l) {
        typename Vt::type pi = Vt::load(p + i), mi = Vt::load(m + i), vi = Vt::load(v + i);
        adam_update<Vt>(c[l], pi, Vt::load(g + i), mi, vi);
        Vt::store(m + i, mi);
        Vt::store(v + i, vi);
        Vt::store(p + i, pi);
    });
}

template <class Net, bool Decoupled, class Options>
class adam_family : public lr_scales<Net::depth> {
public:
    static constexpr std::string_view kind = Decoupled ? "AdamW" : "Adam";

    adam_family(Net& net, float lr, Options o)
        : net_(&net), lr_(lr), o_(o), state_(2 * Net::grad_count) {
        check_lr(kind, lr);
        check_options(kind, adam_options(o));
    }

    void step() {
        ++steps_;
        adam_update_all(*net_, state_.data(), state_.data() + Net::grad_count, steps_, lr_, o_, Decoupled, this->s_);
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
