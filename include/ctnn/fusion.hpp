// Compile-time fusion hook. Sequential asks, for each layer L0 (with the two layers after it,
// or no_layer), whether the backend runs a group of layers as ONE inference kernel:
//
//   fused<Backend, In, L0, L1, L2>::layers     1: no fusion (the default); 2 or 3: L0..L(layers-1)
//   fused<...>::forward(const forward_args&)   params: L0's; y: the output of the group's last layer
//
// The cpu backend fuses Conv + ReLU (+ MaxPool) and Linear + ReLU: the activation and the pool
// run in the GEMM's epilogue, on the same float values the unfused kernels would produce.
//
// Training may fuse too, when the group also declares
//
//   fused<...>::train_layers                       0: none (the default); else the group's size
//   fused<...>::forward_train(const forward_args&) y: the group's output; saved: the saved state
//                                                  of the group's LAST layer (its size is that
//                                                  layer's saved())
//   fused<...>::backward(const backward_args&)     x: the group's input; y, dy: its output and
//                                                  gradient; saved as above; params and dparams:
//                                                  L0's; dx may be null
//
// The activations between the group's layers are then never written. The results are the
// unfused kernels' bits: the cpu backend fuses Conv + ReLU + MaxPool<2> this way.
#pragma once
#include <cstddef>

namespace ctnn {

/// Stands for "no layer here" past the end of a net.
struct no_layer {};

template <class Backend, class In, class L0, class L1, class L2>
struct fused {
    static constexpr std::size_t layers = 1;
};

namespace detail {
template <class F>
constexpr std::size_t train_layers_of() {
    if constexpr (requires { F::train_layers; }) return F::train_layers;
    else return 0;
}
}  // namespace detail

}  // namespace ctnn
