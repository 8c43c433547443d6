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
//   work(dims in, n)          floats of per-call workspace an inference forward needs besides its
//                             output, batch n (optional; 0: none; blocks keep their inner
//                             activations there)
//
// A block (a layer made of layers: Chain, Residual, Concat) has no params()/buffers() of its own:
// it names its children instead, and its tensors are theirs, under the children's names:
//   for_each_child(dims in, f)  calls f.template operator()<Child>(std::string_view name, dims
//                               child_in) for each child, in PyTorch's state_dict order; the
//                               children's parameters (and buffers) are stored in that order
// param_floats<L>, buffer_floats<L>, init_layer<L> and for_each_tensor_of<L> (below) see through
// blocks; code that walks a net's tensors uses them, never L::params() directly.
//
// An element-wise activation also provides its math, once for every backend (math.hpp):
//   CTNN_HD_TEMPLATE template <class M> static CTNN_HD typename M::type f(typename M::type x);
//   template <class M> static CTNN_HD typename M::type df(typename M::type x, typename M::type y,
//                                                        typename M::type dy);   // dLoss/dx
//   (no local variables of type M::type in f and df: nvcc 13 rejects a local of the cpu
//   backend's vector type in a host-device template; pass intermediates to a helper instead)
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

/// What every layer and block has.
template <class L>
concept layer_common = requires(dims d) {
    { L::kind } -> std::convertible_to<std::string_view>;
    { L::name() } -> std::convertible_to<std::string>;
    { L::hparams() } -> std::same_as<hparam_list>;
    { L::check(d) } -> std::same_as<layer_check>;
    { L::output(d) } -> std::same_as<dims>;
    { L::saved(d, std::size_t{}) } -> std::same_as<std::size_t>;
    { L::trainable } -> std::convertible_to<bool>;
    { L::aliases_input } -> std::convertible_to<bool>;
};

/// A block: a layer made of layers (see the file comment), marked by a member type block_tag.
template <class L>
concept block = layer_common<L> && requires { typename L::block_tag; };

/// A layer with tensors of its own.
template <class L>
concept leaf_layer = layer_common<L> && !requires { typename L::block_tag; } && requires(dims d, float* p, rng& g) {
    { L::params(d) } -> std::same_as<tensor_list>;
    { L::buffers(d) } -> std::same_as<tensor_list>;
    L::init(d, p, p, g);
};

/// The contract above, as a concept: Sequential accepts only types that satisfy it.
template <class L>
concept layer = leaf_layer<L> || block<L>;

/// An element-wise activation: a parameter-free, shape-preserving layer with its math.
template <class L>
concept activation = layer<L> && requires(float x) {
    { L::template f<scalar_math>(x) } -> std::same_as<float>;
    { L::template df<scalar_math>(x, x, x) } -> std::same_as<float>;
    { L::grad_from_output } -> std::convertible_to<bool>;
};

/// Which block of a net a named tensor lives in.
enum class tensor_kind { parameter, buffer };

/// Floats of L's parameters and buffers on input `in` (a block: its children's).
template <class L>
constexpr std::size_t param_floats(dims in);
template <class L>
constexpr std::size_t buffer_floats(dims in);

namespace detail {
template <class L>
constexpr std::size_t tensor_floats(dims in, tensor_kind k) {
    if constexpr (block<L>) {
        std::size_t s = 0;
        L::for_each_child(in, [&]<class C>(std::string_view, dims cin) { s += tensor_floats<C>(cin, k); });
        return s;
    } else {
        return (k == tensor_kind::parameter ? L::params(in) : L::buffers(in)).total();
    }
}
}  // namespace detail

template <class L>
constexpr std::size_t param_floats(dims in) { return detail::tensor_floats<L>(in, tensor_kind::parameter); }
template <class L>
constexpr std::size_t buffer_floats(dims in) { return detail::tensor_floats<L>(in, tensor_kind::buffer); }

/// L::work(in, n) where L has it, else 0.
template <class L>
constexpr std::size_t work_floats(dims in, std::size_t n) {
    if constexpr (requires { { L::work(in, n) } -> std::convertible_to<std::size_t>; }) return L::work(in, n);
    else return 0;
}

/// PyTorch's default initialisation of L's parameters p and buffers b (a block: each child's,
/// in order, from one generator).
template <class L>
void init_layer(dims in, float* p, float* b, rng& g) {
    if constexpr (block<L>) {
        L::for_each_child(in, [&]<class C>(std::string_view, dims cin) {
            init_layer<C>(cin, p, b, g);
            p += param_floats<C>(cin);
            b += buffer_floats<C>(cin);
        });
    } else {
        L::init(in, p, b, g);
    }
}

/// Calls f(name, desc, offset, kind) for every tensor of L on input `in`, in PyTorch's
/// state_dict order: name is prefix + the tensor's name ("weight"; in a block "body.0.weight"),
/// offset counts floats from L's first parameter (a parameter) or first buffer (a buffer).
template <class L, class F>
void for_each_tensor_of(dims in, const std::string& prefix, F&& f, std::size_t param_off = 0, std::size_t buffer_off = 0) {
    if constexpr (block<L>) {
        L::for_each_child(in, [&]<class C>(std::string_view name, dims cin) {
            for_each_tensor_of<C>(cin, prefix + std::string(name) + ".", f, param_off, buffer_off);
            param_off += param_floats<C>(cin);
            buffer_off += buffer_floats<C>(cin);
        });
    } else {
        const tensor_list p = L::params(in), b = L::buffers(in);
        for (std::size_t t = 0; t < p.count; param_off += p.t[t].size(), ++t)
            f(prefix + std::string(p.t[t].name), p.t[t], param_off, tensor_kind::parameter);
        for (std::size_t t = 0; t < b.count; buffer_off += b.t[t].size(), ++t)
            f(prefix + std::string(b.t[t].name), b.t[t], buffer_off, tensor_kind::buffer);
    }
}

/// L itself, or the layer a Frozen<L> wraps (layers/frozen.hpp specializes it): the one place
/// a wrapper is seen through, so kernels and fused groups match a frozen layer as its inner one.
template <class L> struct unfrozen { using type = L; };
template <class L> using unfrozen_t = typename unfrozen<L>::type;

}  // namespace ctnn
