// What every layer type provides. A layer type says *what*: its hyper-parameters (template
// arguments), its shape rule, its parameter tensors and their PyTorch default initialisation.
// How it computes lives in kernel specializations, one per backend (backends/<name>/).
//
// A layer type L provides, as static members (layer_base supplies the defaults):
//   kind                      std::string_view, e.g. "Conv"
//   name()                    std::string with the hyper-parameters, e.g. "Conv(3->16, k3 s1 p1)"
//   check(dims in)            layer_check: ok, or what it needs and what it got
//   output(dims in)           dims: the output shape (must not overflow even when check failed)
//   params(dims in)           tensor_list: trainable tensors in PyTorch's state_dict order
//   buffers(dims in)          tensor_list: non-trainable state (BatchNorm's running statistics)
//   saved(dims in, n)         floats of scratch a training forward keeps for backward, batch n
//   init(dims in, p, b, rng)  PyTorch's default initialisation of params p and buffers b
//   trainable                 false for Frozen<L>: no gradient buffer, no optimizer state
#pragma once
#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>

#include "diagnostics.hpp"
#include "random.hpp"
#include "shape.hpp"

namespace ctnn {

/// One named tensor of a layer: name as in PyTorch's state_dict, shape as in PyTorch.
struct tensor_desc {
    std::string_view name{};
    std::size_t rank = 0;
    std::size_t shape[4] = {0, 0, 0, 0};
    constexpr std::size_t size() const {
        std::size_t s = 1;
        for (std::size_t i = 0; i < rank; ++i) s *= shape[i];
        return s;  // rank 0 is a scalar: one element
    }
};

/// Up to four tensors, stored contiguously in this order.
struct tensor_list {
    std::size_t count = 0;
    tensor_desc t[4]{};
    constexpr std::size_t total() const {
        std::size_t s = 0;
        for (std::size_t i = 0; i < count; ++i) s += t[i].size();
        return s;
    }
};

/// Defaults for a parameter-free, shape-preserving layer.
struct layer_base {
    static constexpr bool trainable = true;
    static constexpr layer_check check(dims) { return {}; }
    static constexpr dims output(dims in) { return in; }
    static constexpr tensor_list params(dims) { return tensor_list{}; }
    static constexpr tensor_list buffers(dims) { return tensor_list{}; }
    static constexpr std::size_t saved(dims, std::size_t /*batch*/) { return 0; }
    static void init(dims, float*, float*, rng&) {}
};

/// The contract above, as a concept: Sequential accepts only types that satisfy it.
template <class L>
concept layer = requires(dims d, float* p, rng& g) {
    { L::kind } -> std::convertible_to<std::string_view>;
    { L::name() } -> std::convertible_to<std::string>;
    { L::check(d) } -> std::same_as<layer_check>;
    { L::output(d) } -> std::same_as<dims>;
    { L::params(d) } -> std::same_as<tensor_list>;
    { L::buffers(d) } -> std::same_as<tensor_list>;
    { L::saved(d, std::size_t{}) } -> std::same_as<std::size_t>;
    { L::trainable } -> std::convertible_to<bool>;
    L::init(d, p, p, g);
};

}  // namespace ctnn
