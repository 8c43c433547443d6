// The CUDA backend's kernel specializations, one per layer kind (nvcc only). Each follows the
// kernel contract of backend.hpp on DEVICE pointers, launching the per-thread functions of
// threads/ on a stream. Besides forward(const forward_args&) / backward(const backward_args&)
// (default stream), each has forward(args, exec) / backward(args, exec) taking the stream, the
// device-side Dropout seed and the layer's scratch; device_net uses those.
#pragma once
#if !defined(__CUDACC__) && !defined(CTNN_CUDA_EMULATE)
#error "ctnn/backends/cuda/kernels.hpp needs nvcc: compile this translation unit as CUDA (a .cu file)"
#endif
#include <cstdint>

#include "../../backend.hpp"
#include "../../layers/avgpool.hpp"
#include "../../layers/batchnorm.hpp"
#include "../../layers/conv.hpp"
#include "../../layers/dropout.hpp"
#include "../../layers/flatten.hpp"
#include "../../layers/global_avg_pool.hpp"
#include "../../layers/linear.hpp"
#include "../../layers/maxpool.hpp"
#include "../../layers/softmax.hpp"
#include "launch.hpp"
#include "threads/all.hpp"

namespace ctnn::cuda {

/// The CUDA backend: kernels run on the GPU, on device buffers. There is no fallback to the
/// host: device_net checks at compile time that every layer has a CUDA kernel.
struct backend {
    static constexpr std::string_view name = "cuda";
    using fallback = reference;
};

/// What a CUDA kernel needs besides forward_args / backward_args.
struct exec {
    cudaStream_t stream = nullptr;
    const std::uint64_t* seed = nullptr;  // device memory: Dropout's seed for this step
    float* scratch = nullptr;             // device memory: kernel<...>::scratch floats
};

/// A kernel's forward and backward without the exec argument, on the default stream.
template <class Self>
struct default_exec {
    static void forward(const forward_args& a) { Self::forward(a, exec{}); }
    static void backward(const backward_args& a) { Self::backward(a, exec{}); }
};

/// Scratch floats a CUDA kernel needs beyond the layer's saved() (0 unless it says).
template <class K> constexpr std::size_t scratch_of() {
    if constexpr (requires { K::scratch; }) return K::scratch;
    else return 0;
}

}  // namespace ctnn::cuda

namespace ctnn {

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, class In>
struct kernel<Conv<Ci, Co, K, S, P>, In, cuda::backend> : cuda::default_exec<kernel<Conv<Ci, Co, K, S, P>, In, cuda::backend>> {
    using G = cuda::conv_geometry<Ci, Co, K, S, P, In::value.d[1], In::value.d[2]>;
    using cuda::default_exec<kernel>::forward;
    using cuda::default_exec<kernel>::backward;
    static void forward(const forward_args& a, const cuda::exec& e) {
        cuda::launch<cuda::conv_forward<G, cuda::act_identity, 1>>({a.x, a.params, a.y, nullptr, nullptr, a.n}, e.stream);
    }
    static void backward(const backward_args& a, const cuda::exec& e) {
        if (a.dparams) cuda::launch<cuda::conv_backward_dparams<G>>({a.x, a.dy, a.dparams, a.n}, e.stream);
        if (a.dx) cuda::launch<cuda::conv_backward_dx<G>>({a.dy, a.params, a.dx, a.n}, e.stream);
    }
};

template <std::size_t I, std::size_t O, class In>
struct kernel<Linear<I, O>, In, cuda::backend> : cuda::default_exec<kernel<Linear<I, O>, In, cuda::backend>> {
    using cuda::default_exec<kernel>::forward;
    using cuda::default_exec<kernel>::backward;
    static void forward(const forward_args& a, const cuda::exec& e) {
        cuda::launch<cuda::linear_forward<I, O, cuda::act_identity>>({a.x, a.params, a.y, a.n}, e.stream);
    }
    static void backward(const backward_args& a, const cuda::exec& e) {
        if (a.dparams) cuda::launch<cuda::linear_backward_dparams<I, O>>({a.x, a.dy, a.dparams, a.n}, e.stream);
        if (a.dx) cuda::launch<cuda::linear_backward_dx<I, O>>({a.dy, a.params, a.dx, a.n}, e.stream);
    }
};

namespace cuda {
/// An element-wise activation layer on the GPU.
template <class L, class In>
struct activation_kernel : default_exec<activation_kernel<L, In>> {
    using A = typename activation_of<L>::type;
    using default_exec<activation_kernel>::forward;
    using default_exec<activation_kernel>::backward;
    static void forward(const forward_args& a, const exec& e) { launch<act_forward<A>>({a.x, a.y, a.n * In::size}, e.stream); }
    static void backward(const backward_args& a, const exec& e) {
        if (a.dx) launch<act_backward<A>>({a.y, a.dy, a.dx, a.n * In::size}, e.stream);
    }
};
}  // namespace cuda

template <class In> struct kernel<ReLU, In, cuda::backend> : cuda::activation_kernel<ReLU, In> {};
template <std::size_t N, std::size_t D, class In>
struct kernel<LeakyReLU<N, D>, In, cuda::backend> : cuda::activation_kernel<LeakyReLU<N, D>, In> {};
template <class In> struct kernel<Sigmoid, In, cuda::backend> : cuda::activation_kernel<Sigmoid, In> {};
template <class In> struct kernel<Tanh, In, cuda::backend> : cuda::activation_kernel<Tanh, In> {};

template <std::size_t K, std::size_t S, class In>
struct kernel<MaxPool<K, S>, In, cuda::backend> : cuda::default_exec<kernel<MaxPool<K, S>, In, cuda::backend>> {
    using G = cuda::pool_geometry<In::value.d[0], In::value.d[1], In::value.d[2], K, S>;
    using cuda::default_exec<kernel>::forward;
    using cuda::default_exec<kernel>::backward;
    static void forward(const forward_args& a, const cuda::exec& e) {
        cuda::launch<cuda::maxpool_forward<G>>({a.x, a.y, a.saved, a.n}, e.stream);
    }
    static void backward(const backward_args& a, const cuda::exec& e) {
        if (a.dx) cuda::launch<cuda::maxpool_backward<G>>({a.saved, a.dy, a.dx, a.n}, e.stream);
    }
};

template <std::size_t K, std::size_t S, class In>
struct kernel<AvgPool<K, S>, In, cuda::backend> : cuda::default_exec<kernel<AvgPool<K, S>, In, cuda::backend>> {
    using G = cuda::pool_geometry<In::value.d[0], In::value.d[1], In::value.d[2], K, S>;
    using cuda::default_exec<kernel>::forward;
    using cuda::default_exec<kernel>::backward;
    static void forward(const forward_args& a, const cuda::exec& e) { cuda::launch<cuda::avgpool_forward<G>>({a.x, a.y, a.n}, e.stream); }
    static void backward(const backward_args& a, const cuda::exec& e) {
        if (a.dx) cuda::launch<cuda::avgpool_backward<G>>({a.dy, a.dx, a.n}, e.stream);
    }
};

template <class In>
struct kernel<GlobalAvgPool, In, cuda::backend> : cuda::default_exec<kernel<GlobalAvgPool, In, cuda::backend>> {
    static constexpr std::size_t C = In::value.d[0], HW = In::value.d[1] * In::value.d[2];
    using cuda::default_exec<kernel>::forward;
    using cuda::default_exec<kernel>::backward;
    static void forward(const forward_args& a, const cuda::exec& e) {
        cuda::launch<cuda::global_avgpool_forward<C, HW>>({a.x, a.y, a.n}, e.stream);
    }
    static void backward(const backward_args& a, const cuda::exec& e) {
        if (a.dx) cuda::launch<cuda::global_avgpool_backward<C, HW>>({a.dy, a.dx, a.n}, e.stream);
    }
};

template <class In>
struct kernel<Flatten, In, cuda::backend> : cuda::default_exec<kernel<Flatten, In, cuda::backend>> {
    using cuda::default_exec<kernel>::forward;
    using cuda::default_exec<kernel>::backward;
    static void forward(const forward_args& a, const cuda::exec& e) {
        if (a.y != a.x) cuda::launch<cuda::copy_kernel>({a.x, a.y, a.n * In::size}, e.stream);
    }
    static void backward(const backward_args& a, const cuda::exec& e) {
        if (a.dx && a.dx != a.dy) cuda::launch<cuda::copy_kernel>({a.dy, a.dx, a.n * In::size}, e.stream);
    }
};

template <std::size_t Percent, class In>
struct kernel<Dropout<Percent>, In, cuda::backend> : cuda::default_exec<kernel<Dropout<Percent>, In, cuda::backend>> {
    using cuda::default_exec<kernel>::forward;
    using cuda::default_exec<kernel>::backward;
    static void forward(const forward_args& a, const cuda::exec& e) {
        const std::size_t count = a.n * In::size;
        if (!a.training) {
            if (a.y != a.x) cuda::launch<cuda::copy_kernel>({a.x, a.y, count}, e.stream);
            return;
        }
        if (!e.seed) throw error("ctnn cuda: Dropout training needs a device seed (run it through ctnn::cuda::device_net)");
        cuda::launch<cuda::dropout_forward<Percent>>({a.x, a.y, a.saved, e.seed, count}, e.stream);
    }
    static void backward(const backward_args& a, const cuda::exec& e) {
        if (a.dx) cuda::launch<cuda::mask_backward>({a.saved, a.dy, a.dx, a.n * In::size}, e.stream);
    }
};

template <std::size_t C, class In>
struct kernel<BatchNorm<C>, In, cuda::backend> : cuda::default_exec<kernel<BatchNorm<C>, In, cuda::backend>> {
    static constexpr std::size_t inner = In::size / C;
    using B = cuda::batchnorm_kernels<C, inner>;
    static constexpr std::size_t scratch = 2 * C;  // the two per-channel sums of backward
    using cuda::default_exec<kernel>::forward;
    using cuda::default_exec<kernel>::backward;
    static void forward(const forward_args& a, const cuda::exec& e) {
        if (a.training) {
            if (a.n * inner < 2)
                throw error("ctnn::BatchNorm: training needs more than one value per channel (batch " +
                            std::to_string(a.n) + " of " + std::to_string(inner) + " values per channel)");
            const typename B::stats_args s{a.x, a.saved, a.buffers, a.n};
            cuda::launch<typename B::mean>(s, e.stream);
            cuda::launch<typename B::variance>(s, e.stream);
        }
        cuda::launch<typename B::apply>({a.x, a.y, a.params, a.saved, a.buffers, a.training, a.n}, e.stream);
    }
    static void backward(const backward_args& a, const cuda::exec& e) {
        if (!e.scratch) throw error("ctnn cuda: BatchNorm backward needs scratch (run it through ctnn::cuda::device_net)");
        const typename B::backward_args b{a.x, a.dy, a.dx, a.params, a.dparams, a.saved, e.scratch, a.n};
        cuda::launch<typename B::backward_sums>(b, e.stream);
        if (a.dx) cuda::launch<typename B::backward_dx>(b, e.stream);
    }
};

template <class In>
struct kernel<Softmax, In, cuda::backend> : cuda::default_exec<kernel<Softmax, In, cuda::backend>> {
    static constexpr std::size_t C = In::value.d[0], inner = In::size / C;
    using cuda::default_exec<kernel>::forward;
    using cuda::default_exec<kernel>::backward;
    static void forward(const forward_args& a, const cuda::exec& e) {
        cuda::launch<cuda::softmax_forward<C, inner>>({a.x, a.y, a.n}, e.stream);
    }
    static void backward(const backward_args& a, const cuda::exec& e) {
        if (a.dx) cuda::launch<cuda::softmax_backward<C, inner>>({a.y, a.dy, a.dx, a.n}, e.stream);
    }
};

}  // namespace ctnn
