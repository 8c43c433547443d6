// The CUDA backend's fused groups (nvcc only; backend.hpp's fused<> contract), in inference and
// training alike:
//   Conv + activation (+ a MaxPool<K, K> whose windows tile the conv's map)  one forward kernel
//   Linear + activation                                                        one forward kernel
// The activation is applied in the epilogue and its gradient taken from its output, so only
// activations with grad_from_output fuse (checked here, at compile time); others run unfused.
// In training the forward also writes the activation's output (the pool's input) and the pool's
// argmax; the backward forms the gradient before the activation in the first layer's own output
// buffer, which the fused forward leaves unused.
#pragma once
#if !defined(__CUDACC__) && !defined(CTNN_CUDA_EMULATE)
#error "ctnn/backends/cuda/fused.hpp needs nvcc: compile this translation unit as CUDA (a .cu file)"
#endif
#include "kernels.hpp"

namespace ctnn::cuda::detail {

template <class A>
concept output_grad_activation = activation<A> && A::grad_from_output;

/// A MaxPool<K, K> whose windows tile its C x H x W input exactly.
template <class L, class In>
inline constexpr std::size_t tiling_pool = 0;
template <std::size_t K, class In>
    requires(In::rank == 3 && In::value.d[1] % K == 0 && In::value.d[2] % K == 0)
inline constexpr std::size_t tiling_pool<MaxPool<K, K>, In> = K;

/// Conv + activation (+ pool of PK, 1: none) on device pointers.
template <class Geo, class A, std::size_t PK, std::size_t G>
struct conv_group : kernel_base {
    static constexpr kernel_traits traits{.fuses = G, .fuses_in_training = true};
    using epilogue = act_of<A>;
    static void forward(const group_forward_args<G>& g) {
        const forward_args& a = g.first();
        float* post = a.training && G == 3 ? g.layer[1].y : nullptr;  // G == 2: y is the post-activation map
        float* arg = a.training && G == 3 ? g.last().saved : nullptr;
        launch<conv_forward<Geo, epilogue, PK>>({a.x, a.params, g.last().y, post, arg, a.n}, stream_of(a.stream));
    }
    static void backward(const group_backward_args<G>& g) {
        const backward_args& f = g.first();
        const backward_args& l = g.last();
        const cudaStream_t s = stream_of(f.stream);
        float* dpre = g.inner[0];  // the conv's output buffer: the fused forward never wrote it
        launch<conv_epilogue_backward<Geo, epilogue, PK>>({g.layer[1].y, G == 3 ? l.saved : nullptr, l.dy, dpre, f.n}, s);
        if (f.dparams) launch<conv_backward_dparams<Geo>>({f.x, dpre, f.dparams, f.n}, s);
        if (f.dx) launch<conv_backward_dx<Geo>>({dpre, f.params, f.dx, f.n}, s);
    }
};

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, class In>
using conv_geometry_of = conv_geometry<Ci, Co, K, S, P, In::value.d[1], In::value.d[2]>;

}  // namespace ctnn::cuda::detail

namespace ctnn {

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, class In, class A, class L2>
    requires cuda::detail::output_grad_activation<A>
struct fused<cuda::backend, In, Conv<Ci, Co, K, S, P>, A, L2>
    : cuda::detail::conv_group<cuda::detail::conv_geometry_of<Ci, Co, K, S, P, In>, A, 1, 2> {};

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, class In, class A, std::size_t PK>
    requires(cuda::detail::output_grad_activation<A> &&
             cuda::detail::tiling_pool<MaxPool<PK, PK>, shape_t<3, Co, Conv<Ci, Co, K, S, P>::output(In::value).d[1],
                                                                  Conv<Ci, Co, K, S, P>::output(In::value).d[2]>> > 1)
struct fused<cuda::backend, In, Conv<Ci, Co, K, S, P>, A, MaxPool<PK, PK>>
    : cuda::detail::conv_group<cuda::detail::conv_geometry_of<Ci, Co, K, S, P, In>, A, PK, 3> {};

/// Linear + activation: one forward kernel; the backward takes the activation's gradient from
/// its output into the Linear's own output buffer.
template <std::size_t I, std::size_t O, class In, class A, class L2>
    requires cuda::detail::output_grad_activation<A>
struct fused<cuda::backend, In, Linear<I, O>, A, L2> : kernel_base {
    static constexpr kernel_traits traits{.fuses = 2, .fuses_in_training = true};
    using epilogue = cuda::act_of<A>;
    static void forward(const group_forward_args<2>& g) {
        const forward_args& a = g.first();
        cuda::launch<cuda::linear_forward<I, O, epilogue>>({a.x, a.params, g.last().y, a.n}, cuda::stream_of(a.stream));
    }
    static void backward(const group_backward_args<2>& g) {
        const backward_args& f = g.first();
        const auto s = cuda::stream_of(f.stream);
        float* dpre = g.inner[0];  // the Linear's output buffer: the fused forward never wrote it
        cuda::launch<cuda::act_backward<epilogue>>({g.last().y, g.last().dy, dpre, f.n * O}, s);
        if (f.dparams) cuda::launch<cuda::linear_backward_dparams<I, O>>({f.x, dpre, f.dparams, f.n}, s);
        if (f.dx) cuda::launch<cuda::linear_backward_dx<I, O>>({dpre, f.params, f.dx, f.n}, s);
    }
};

}  // namespace ctnn
