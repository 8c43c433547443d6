// Kernel dispatch. A kernel is a specialization of ctnn::kernel<Layer, InShape, Backend> with two
// static functions:
//
//   static void forward(const forward_args&);   // y = f(x) for a batch of n samples
//   static void backward(const backward_args&); // dx (if non-null) and dparams += (if non-null)
//
// A backend that has no kernel for a layer falls back to its `fallback` backend, ending at the
// reference backend, which has one for every layer. So a new backend (xsimd, CUDA) is new
// specializations only; nothing else in the library changes.
#pragma once
#include <cstddef>
#include <string_view>

#include "random.hpp"

namespace ctnn {

/// Backends. `reference`: plain C++ loops, the definition of correct.
struct reference {
    static constexpr std::string_view name = "reference";
    using fallback = reference;
};

/// Arguments of a forward kernel. Buffers are NCHW (or NC), batch-major, n samples.
struct forward_args {
    const float* x = nullptr;        // [n, in_shape]
    float* y = nullptr;              // [n, out_shape]
    std::size_t n = 0;               // batch size (run-time)
    const float* params = nullptr;   // this layer's parameters, in the order of L::params()
    float* buffers = nullptr;        // this layer's buffers (running statistics), updated in training
    float* saved = nullptr;          // L::saved(in, n) floats kept for backward (training only)
    bool training = false;           // BatchNorm batch statistics, Dropout masks
    rng* gen = nullptr;              // randomness for training (Dropout)
    // Kernel::prepare(params, ...)'s output for these very params, or null (the kernel then
    // works from params alone). Only for kernels that declare prepared_floats; see Sequential.
    const float* prepared = nullptr;
};

/// Arguments of a backward kernel. Parameter gradients are accumulated (+=), like PyTorch.
struct backward_args {
    const float* x = nullptr;        // the forward input  [n, in_shape]
    const float* y = nullptr;        // the forward output [n, out_shape]
    const float* dy = nullptr;       // dLoss/dy           [n, out_shape]
    float* dx = nullptr;             // dLoss/dx           [n, in_shape]; null: not needed
    std::size_t n = 0;
    const float* params = nullptr;
    float* dparams = nullptr;        // gradient of params, same layout; null: frozen layer
    const float* buffers = nullptr;
    const float* saved = nullptr;    // what forward kept
    // dparams hold stale values to be overwritten, not added to (a training step's first
    // backward after zero_grad). Set only for kernels that declare overwrites_dparams = true;
    // others are given zeroed dparams.
    bool overwrite_dparams = false;
};

namespace detail {
/// Whether kernel K honours backward_args::overwrite_dparams.
template <class K>
inline constexpr bool overwrites_dparams = requires { requires K::overwrites_dparams; };
}  // namespace detail

/// The kernel of Layer for input shape In on Backend. Not specialized: falls back.
template <class Layer, class In, class Backend>
struct kernel {
    using not_specialized = void;
};

template <class Layer, class In, class Backend>
concept has_kernel = !requires { typename kernel<Layer, In, Backend>::not_specialized; };

namespace detail {
template <class Layer, class In, class Backend>
struct select_kernel {
    using type = typename select_kernel<Layer, In, typename Backend::fallback>::type;
};
template <class Layer, class In, class Backend>
    requires has_kernel<Layer, In, Backend>
struct select_kernel<Layer, In, Backend> {
    using type = kernel<Layer, In, Backend>;
};
template <class Layer, class In>
    requires(!has_kernel<Layer, In, reference>)
struct select_kernel<Layer, In, reference> {
    static_assert(has_kernel<Layer, In, reference>,
                  "ctnn: this layer has no reference kernel; include its backends/reference header");
    using type = kernel<Layer, In, reference>;
};
}  // namespace detail

/// The kernel that runs Layer on In for Backend: its own, or its fallback's.
template <class Layer, class In, class Backend>
using kernel_for = typename detail::select_kernel<Layer, In, Backend>::type;

}  // namespace ctnn
