// The kernel contract. A kernel is a specialization of ctnn::kernel<Layer, InShape, Backend>:
//
//   template <class In> struct kernel<MyLayer, In, reference> : kernel_base {
//       static void forward(const forward_args&);    // y = f(x) for a batch of n samples
//       static void backward(const backward_args&);  // dx (if non-null) and dparams += (if non-null)
//   };
//
// What a kernel needs besides its arguments it declares in one `traits` value (kernel_base has
// the defaults); a misspelled field there does not compile:
//
//   static constexpr kernel_traits traits{.scratch = 4096, .overwrites_dparams = true};
//
// A backend that has no kernel for a layer falls back to its `fallback` backend, ending at the
// reference backend, which has one for every layer (a backend without fallback: void). A kernel
// for Frozen<L> is never looked up: L's runs (unfrozen_t).
//
// A backend may also run several consecutive layers as one kernel: a specialization of
// fused<Backend, In, L0, L1, L2> (layers after the net's end are no_layer) with traits.fuses =
// how many of them it covers (2 or 3) and traits.fuses_in_training when it also trains, and
//
//   static void forward(const group_forward_args<G>&);     // G = traits.fuses
//   static void backward(const group_backward_args<G>&);   // if fuses_in_training
//
// Its arguments are what each layer would get unfused (see group_forward_args). The plan
// (plan.hpp) asks for a group at every layer, with frozen layers seen through.
//
// Which kernel runs must not depend on the translation unit: a backend's type is complete only
// in its all.hpp, after every kernel of that backend is declared; a user's layer declares its
// kernels in its own header (docs/extending.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "layer.hpp"
#include "random.hpp"

namespace ctnn {

/// A backend whose kernels run on the host (the CUDA backend marks itself on_device).
template <class B>
concept host_backend = !requires { requires B::on_device; };

/// The reference backend: plain C++ loops, the definition of correct. Its type is complete
/// only in backends/reference/all.hpp.
struct reference;

/// Arguments of a forward kernel. Buffers are NCHW (or NC), batch-major, n samples.
struct forward_args {
    const float* x = nullptr;        // [n, in_shape]
    float* y = nullptr;              // [n, out_shape]
    std::size_t n = 0;               // batch size (run-time)
    const float* params = nullptr;   // this layer's parameters, in the order of L::params()
    float* buffers = nullptr;        // this layer's buffers (running statistics), updated in training
    float* saved = nullptr;          // L::saved(in, n) floats kept for backward (training only)
    bool training = false;           // BatchNorm batch statistics, Dropout masks
    rng* gen = nullptr;              // host randomness for training (Dropout)
    // The kernel's prepare(params, ...) output for these very params (traits.prepared floats),
    // or null: the kernel then works from params alone.
    const float* prepared = nullptr;
    // Where the storage gives each layer its own scratch (traits.scratch floats: the device
    // net), that scratch; null on the host, where kernels use their thread's scratch.
    float* scratch = nullptr;
    // Inference: L's work(in, n) floats of workspace (layer.hpp; the calling thread's tile
    // memory on the host), or null where L asks for none. Training: null (a block keeps its inner
    // activations in saved).
    float* work = nullptr;
    void* stream = nullptr;                  // the backend's queue (CUDA: the cudaStream_t), or null
    const std::uint64_t* seed = nullptr;     // device memory: this step's random seed (CUDA Dropout)
    // Inference, kernels (and groups: on the last layer's arguments) with traits.adds only: an
    // array [n, out_shape] the kernel adds to what it writes, y = f(x) + addend, while y is still
    // in cache (a Residual's shortcut). Null: nothing is added. It may be x itself, never y.
    const float* addend = nullptr;
    // Inference, kernels (and groups: on the last layer's arguments) with traits.strided_output
    // only: floats from one sample of y to the next, when y is a slice of a wider array (a
    // Concat's channel slice, so that a branch writes into place); 0: dense, out_shape's size.
    // Only y is strided: x and addend stay dense.
    std::size_t y_stride = 0;

    /// y's sample stride: y_stride, or dense (out_shape's size) where that is 0.
    constexpr std::size_t y_step(std::size_t dense) const { return y_stride ? y_stride : dense; }
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
    // What forward kept. The memory is the net's own and writable: a block's backward works in
    // it (block.hpp), through a const_cast.
    const float* saved = nullptr;
    // dparams hold stale values to be overwritten, not added to (a training step's first
    // backward after zero_grad). Set only for kernels with traits.overwrites_dparams; others
    // are given zeroed dparams.
    bool overwrite_dparams = false;
    float* scratch = nullptr;        // as forward_args
    void* stream = nullptr;
    const std::uint64_t* seed = nullptr;
};

/// What a kernel (or fused group) asks of the storage and the executor, besides its arguments.
struct kernel_traits {
    std::size_t scratch = 0;             // floats of scratch per call (host: per thread)
    std::size_t shared_per_task = 0;     // host: floats per task in the calling thread's scratch
    std::size_t prepared = 0;            // floats of prepared parameters: prepare(params, out)
    bool overwrites_dparams = false;     // honours backward_args::overwrite_dparams
    std::size_t fuses = 1;               // fused groups: the layers it covers
    bool fuses_in_training = false;      // fused groups: also runs the training forward and backward
    bool adds = false;                   // inference forward honours forward_args::addend
    bool strided_output = false;         // inference forward honours forward_args::y_stride
};

/// The defaults every kernel derives from.
struct kernel_base {
    static constexpr kernel_traits traits{};
    static void prepare(const float*, float*) {}
};

/// The kernel of Layer for input shape In on Backend. Not specialized: falls back.
template <class Layer, class In, class Backend>
struct kernel {
    using not_specialized = void;
};

template <class Layer, class In, class Backend>
concept has_kernel = !requires { typename kernel<Layer, In, Backend>::not_specialized; };

/// What the executor calls: forward, backward, traits; prepare when traits.prepared > 0.
template <class K>
concept kernel_type = requires(const forward_args& f, const backward_args& b, const float* p, float* o) {
    { K::traits } -> std::convertible_to<kernel_traits>;
    K::forward(f);
    K::backward(b);
    K::prepare(p, o);
};

/// Whether Backend or a backend it falls back to has a kernel for Layer (a frozen layer: its
/// inner layer) on In.
template <class Layer, class In, class Backend>
constexpr bool kernel_exists() {
    if constexpr (std::is_void_v<Backend>) return false;
    else if constexpr (has_kernel<unfrozen_t<Layer>, In, Backend>) return true;
    else return kernel_exists<Layer, In, typename Backend::fallback>();
}

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
struct select_kernel<Layer, In, void> {
    using type = kernel<Layer, In, void>;  // none: a net checks kernel_exists first
};
}  // namespace detail

/// The kernel that runs Layer (a frozen layer: its inner layer) on In for Backend: its own, or
/// its fallback's.
template <class Layer, class In, class Backend>
using kernel_for = typename detail::select_kernel<unfrozen_t<Layer>, In, Backend>::type;

// ---- fused groups ------------------------------------------------------------------------------

/// Stands for "no layer here" past the end of a net.
struct no_layer {};

/// The default: no fusion.
template <class Backend, class In, class L0, class L1, class L2>
struct fused {
    static constexpr kernel_traits traits{};
};

/// A fused group's forward arguments: layer[j] is what layer j of the group would get unfused
/// (its x, y, params, buffers, saved, prepared). The group reads layer[0].x and writes
/// layer[G-1].y. In inference the outputs of the inner layers may be null (no memory is kept for
/// them); in training each layer's y and saved are its own buffers, and the group may use them as
/// it likes for its backward (the executor reads only the last y).
template <std::size_t G>
struct group_forward_args {
    forward_args layer[G];
    const forward_args& first() const { return layer[0]; }
    const forward_args& last() const { return layer[G - 1]; }
};

/// A fused group's backward arguments: layer[j] as unfused, except that dy is given only to the
/// last layer and dx (null when not needed) only to the first. inner[j] is layer j's output
/// buffer (j < G-1, the same memory as layer[j].y), writable: the group's backward may use it,
/// for example for the gradient of that output, once it no longer needs what is there.
template <std::size_t G>
struct group_backward_args {
    backward_args layer[G];
    float* inner[G - 1]{};
    const backward_args& first() const { return layer[0]; }
    const backward_args& last() const { return layer[G - 1]; }
};

/// The backend a net runs on when none is named (Backend = void): default_backend_of<void>::type,
/// defined once, in backends/default.hpp (which <ctnn/ctnn.hpp> includes), so it is the same in
/// every translation unit. Without that header a call that names no backend does not compile.
template <class T> struct default_backend_of;
template <class B> struct resolve_backend { using type = B; };
template <class B>
    requires std::is_void_v<B>
struct resolve_backend<B> { using type = typename default_backend_of<B>::type; };
template <class B> using backend_t = typename resolve_backend<B>::type;

}  // namespace ctnn
