// Learning-rate schedules: a schedule is a value with `float operator()(std::size_t t) const`
// giving the learning rate at step t (t counts whatever the caller steps: epochs or batches).
// The closed forms of PyTorch's StepLR, CosineAnnealingLR and LinearLR:
//
//   constant_lr{lr}                         lr
//   step_lr{lr, step_size, gamma}           lr * gamma^floor(t / step_size)
//   cosine_lr{lr, t_max, eta_min}           eta_min + (lr - eta_min) * (1 + cos(pi * t / t_max)) / 2
//                                           (past t_max it rises again, as PyTorch's does)
//   warmup{steps, start_factor, inner}      lr of `inner` scaled from start_factor up to 1 over
//                                           `steps`, then inner(t - steps)
//
//   ctnn::warmup sched{500, 0.1f, ctnn::cosine_lr{2e-3f, total - 500}};
//   opt.set_lr(sched(step));
#pragma once
#include <cmath>
#include <cstddef>
#include <functional>

namespace ctnn {

struct constant_lr {
    float lr = 1e-3f;
    float operator()(std::size_t) const { return lr; }
};

/// PyTorch's StepLR: decay by gamma every step_size steps.
struct step_lr {
    float lr = 1e-3f;
    std::size_t step_size = 1;
    float gamma = 0.1f;
    float operator()(std::size_t t) const {
        const std::size_t k = step_size ? t / step_size : 0;
        return static_cast<float>(static_cast<double>(lr) * std::pow(static_cast<double>(gamma), static_cast<double>(k)));
    }
};

/// PyTorch's CosineAnnealingLR (its closed form): from lr at t = 0 to eta_min at t = t_max.
struct cosine_lr {
    float lr = 1e-3f;
    std::size_t t_max = 1;
    float eta_min = 0.0f;
    float operator()(std::size_t t) const {
        if (t_max == 0) return lr;
        const double x = static_cast<double>(t) / static_cast<double>(t_max);
        constexpr double pi = 3.14159265358979323846;
        return static_cast<float>(eta_min + (static_cast<double>(lr) - eta_min) * (1.0 + std::cos(pi * x)) / 2.0);
    }
};

/// Linear warm-up (PyTorch's LinearLR from start_factor to 1 over `steps`) before `inner`.
template <class Inner>
struct warmup {
    std::size_t steps = 0;
    float start_factor = 0.1f;
    Inner inner{};
    float operator()(std::size_t t) const {
        if (t >= steps) return inner(t - steps);
        const double f = start_factor + (1.0 - start_factor) * static_cast<double>(t) / static_cast<double>(steps);
        return static_cast<float>(f * inner(0));
    }
};
template <class Inner> warmup(std::size_t, float, Inner) -> warmup<Inner>;

/// Any schedule as one type, for code that picks a schedule at run time.
using schedule = std::function<float(std::size_t)>;

}  // namespace ctnn
