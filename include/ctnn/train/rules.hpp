// The optimizers' update rules (PyTorch's torch.optim, single-tensor path, float32), written once
// over a math type M (math.hpp): the host optimizers (optim.hpp) run them on SIMD vectors, the
// device optimizer (backends/cuda/threads/train.hpp) on one float per GPU thread.
//
//   SGD:   g += wd p; buf = (first step) ? g : momentum buf + (1 - dampening) g;
//          g = nesterov ? g + momentum buf : buf (with momentum); p -= lr g
//   Adam:  g += wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g²;
//          p -= lr / (1 - b1^t) · m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   AdamW: as Adam, but p *= 1 - lr wd first instead of g += wd p.
//
// Each rule's per-step coefficients (bias corrections in double) are computed once per step by
// the *_step functions, on the host or by one GPU thread.
#pragma once
#include <cmath>
#include <cstdint>

#include "../math.hpp"

namespace ctnn {

struct sgd_step {
    float lr = 0.0f, weight_decay = 0.0f, momentum = 0.0f, damp = 1.0f;  // damp = 1 - dampening
    bool use_momentum = false, nesterov = false, first = true;
};

struct adam_step {
    float step_size = 0.0f, bc2_sqrt = 1.0f;   // lr / (1 - b1^t), sqrt(1 - b2^t)
    float beta1 = 0.9f, beta2 = 0.999f, a1 = 0.1f, a2 = 0.001f, eps = 1e-8f;  // a = 1 - beta
    float weight_decay = 0.0f, shrink = 1.0f;  // shrink = 1 - lr wd (AdamW)
    bool decoupled = false;                    // AdamW
};

/// Adam's coefficients for step t (1 on the first step).
CTNN_HD adam_step make_adam_step(float lr, float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                                 std::uint64_t t) {
    const double b1 = beta1, b2 = beta2;
#if defined(__CUDA_ARCH__)
    const double p1 = ::pow(b1, static_cast<double>(t)), p2 = ::pow(b2, static_cast<double>(t));
#else
    const double p1 = std::pow(b1, static_cast<double>(t)), p2 = std::pow(b2, static_cast<double>(t));
#endif
    adam_step s;
    s.step_size = static_cast<float>(static_cast<double>(lr) / (1.0 - p1));
#if defined(__CUDA_ARCH__)
    s.bc2_sqrt = static_cast<float>(::sqrt(1.0 - p2));
#else
    s.bc2_sqrt = static_cast<float>(std::sqrt(1.0 - p2));
#endif
    s.beta1 = beta1;
    s.beta2 = beta2;
    s.a1 = static_cast<float>(1.0 - b1);
    s.a2 = static_cast<float>(1.0 - b2);
    s.eps = eps;
    s.weight_decay = weight_decay;
    s.shrink = static_cast<float>(1.0 - static_cast<double>(lr) * static_cast<double>(weight_decay));
    s.decoupled = decoupled;
    return s;
}

/// One SGD update of parameter p with gradient g and momentum buffer buf.
CTNN_HD_TEMPLATE
template <class M, class T = typename M::type>
CTNN_HD void sgd_update(const sgd_step& s, T& p, T g, T& buf) {
    if (s.weight_decay != 0.0f) g = g + M::set1(s.weight_decay) * p;
    if (s.use_momentum) {
        buf = s.first ? g : buf * M::set1(s.momentum) + M::set1(s.damp) * g;
        g = s.nesterov ? g + M::set1(s.momentum) * buf : buf;
    }
    p = p - M::set1(s.lr) * g;
}

/// One Adam / AdamW update of parameter p with gradient g and moments m, v. The same operations
/// in the same order for vectors and scalars (one rounding per multiply, add, sqrt and divide;
/// the moment updates as fused multiply-adds).
CTNN_HD_TEMPLATE
template <class M, class T = typename M::type>
CTNN_HD void adam_update(const adam_step& s, T& p, T g, T& m, T& v) {
    if (s.decoupled) {
        if (s.weight_decay != 0.0f) p = p * M::set1(s.shrink);
    } else if (s.weight_decay != 0.0f) {
        g = M::fma(M::set1(s.weight_decay), p, g);
    }
    m = M::fma(m, M::set1(s.beta1), M::set1(s.a1) * g);
    v = M::fma(v, M::set1(s.beta2), (M::set1(s.a2) * g) * g);
    const T denom = M::sqrt(v) / M::set1(s.bc2_sqrt) + M::set1(s.eps);
    p = p - M::set1(s.step_size) * (m / denom);
}

}  // namespace ctnn
