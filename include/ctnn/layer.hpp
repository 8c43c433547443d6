// What every layer type provides. A layer type says *what*: its hyper-parameters (template
// arguments), its shape rule, its parameter tensors and their PyTorch default initialisation.
// How it computes lives in kernel specializations, one per backend (backend.hpp).
//
// A layer type L provides, as static members (layer_base supplies the defaults of all but the
// first two):
//   kind                      std::string_view, e.g. "Conv": names the layer in files and tools
//   name()                    std::string for people, e.g. "Conv(3->16, k3 s1 p1)" (summary())
//   hparams()                 hparam_list: its hyper-parameters by PyTorch's keyword names, e.g.
//                             {in_channels 3, out_channels 16, kernel_size 3, stride 1, padding 1};
//                             with `kind` they describe the layer in safetensors metadata and
//                             checkpoints, so tools rebuild the PyTorch module from them
//   check(dims in)            layer_check: ok, or what it needs and what it got
//   output(dims in)           dims: the output shape (must not overflow even when check failed)
//   params(dims in)           tensor_list: trainable tensors in PyTorch's state_dict order
//   buffers(dims in)          tensor_list: non-trainable state (BatchNorm's running statistics)
//   saved(dims in, n)         floats of scratch a training forward keeps for backward, batch n
//   init(dims in, p, b, rng)  PyTorch's default initialisation of params p and buffers b
//   trainable                 false for Frozen<L>: no gradient buffer, no optimizer state
//   aliases_input             true when the output is the input's memory viewed in another shape
//                             (Flatten): no kernel runs, and the gradient passes through as is
//
// An element-wise activation also provides its math, once for every backend (math.hpp):
//   CTNN_HD_TEMPLATE template <class M> static CTNN_HD typename M::type f(typename M::type x);
//   template <class M> static CTNN_HD typename M::type df(typename M::type x, typename M::type y,
//                                                        typename M::type dy);   // dLoss/dx
//   grad_from_output          true when df reads only y and dy (x may be anything): a fused
//                             kernel that keeps only the output may then use it (checked at
//                             compile time where it matters)
#pragma once
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "diagnostics.hpp"
#include "math.hpp"
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

/// One hyper-parameter: its PyTorch keyword and its value num / den. Template arguments are
/// integers (clang 14 and nvcc take no float template arguments), so a fraction is a ratio:
/// LeakyReLU<1, 100>'s negative_slope is {1, 100}; den is 1 for an integer.
struct hparam {
    std::string_view name{};
    std::int64_t num = 0;
    std::int64_t den = 1;
};

/// Up to eight hyper-parameters, in the order of the PyTorch module's arguments.
struct hparam_list {
    std::size_t count = 0;
    hparam p[8]{};
    constexpr hparam_list() = default;
    constexpr hparam_list(std::initializer_list<hparam> l) {
        for (const hparam& h : l) p[count++] = h;
    }
};

/// "in_channels=3 out_channels=16 ..." (a ratio as num/den): a layer's description in text.
inline std::string to_string(const hparam_list& h) {
    std::string s;
    for (std::size_t i = 0; i < h.count; ++i) {
        s += (i ? " " : "") + std::string(h.p[i].name) + "=" + std::to_string(h.p[i].num);
        if (h.p[i].den != 1) s += "/" + std::to_string(h.p[i].den);
    }
    return s;
}

/// Defaults for a parameter-free, shape-preserving layer.
struct layer_base {
    static constexpr bool trainable = true;
    static constexpr bool aliases_input = false;
    static constexpr hparam_list hparams() { return {}; }
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
    { L::hparams() } -> std::same_as<hparam_list>;
    { L::check(d) } -> std::same_as<layer_check>;
    { L::output(d) } -> std::same_as<dims>;
    { L::params(d) } -> std::same_as<tensor_list>;
    { L::buffers(d) } -> std::same_as<tensor_list>;
    { L::saved(d, std::size_t{}) } -> std::same_as<std::size_t>;
    { L::trainable } -> std::convertible_to<bool>;
    { L::aliases_input } -> std::convertible_to<bool>;
    L::init(d, p, p, g);
};

/// An element-wise activation: a parameter-free, shape-preserving layer with its math.
template <class L>
concept activation = layer<L> && requires(float x) {
    { L::template f<scalar_math>(x) } -> std::same_as<float>;
    { L::template df<scalar_math>(x, x, x) } -> std::same_as<float>;
    { L::grad_from_output } -> std::convertible_to<bool>;
};

/// L itself, or the layer a Frozen<L> wraps (layers/frozen.hpp specializes it): the one place
/// a wrapper is seen through, so kernels and fused groups match a frozen layer as its inner one.
template <class L> struct unfrozen { using type = L; };
template <class L> using unfrozen_t = typename unfrozen<L>::type;

}  // namespace ctnn
