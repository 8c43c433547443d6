// The CUDA backend's kernel specializations, one per layer kind (nvcc only). Each follows the
// kernel contract of backend.hpp on DEVICE pointers, launching the per-thread functions of
// threads/ on the args' stream (null: the default stream); Dropout reads the args' device seed
// and BatchNorm's backward its own scratch (traits.scratch), which device_net provides.
#pragma once
#if !defined(__CUDACC__) && !defined(CTNN_CUDA_EMULATE)
#error "ctnn/backends/cuda/kernels.hpp needs nvcc: compile this translation unit as CUDA (a .cu file)"
#endif
#include <cstdint>

#include "../../backend.hpp"
#include "../../error.hpp"
#include "../../layers/avgpool.hpp"
#include "../../layers/batchnorm.hpp"
#include "../../layers/conv.hpp"
#include "../../layers/dropout.hpp"
#include "../../layers/flatten.hpp"
#include "../../layers/global_avg_pool.hpp"
#include "../../layers/identity.hpp"
#include "../../layers/linear.hpp"
#include "../../layers/maxpool.hpp"
#include "../../layers/softmax.hpp"
#include "launch.hpp"
#include "tag.hpp"
#include "threads/all.hpp"

namespace ctnn::cuda {

/// The queue a kernel launches on: the executor's stream (device_net's), or the default stream.
inline cudaStream_t stream_of(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace ctnn::cuda

namespace ctnn {

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, class In>
struct kernel<Conv<Ci, Co, K, S, P>, In, cuda::backend> : kernel_base {
    using G = cuda::conv_geometry<Ci, Co, K, S, P, In::value.d[1], In::value.d[2]>;
    static void forward(const forward_args& a) {
        cuda::launch<cuda::conv_forward<G, cuda::act_identity, 1>>({a.x, a.params, a.y, nullptr, nullptr, a.n}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dparams) cuda::launch<cuda::conv_backward_dparams<G>>({a.x, a.dy, a.dparams, a.n}, cuda::stream_of(a.stream));
        if (a.dx) cuda::launch<cuda::conv_backward_dx<G>>({a.dy, a.params, a.dx, a.n}, cuda::stream_of(a.stream));
    }
};

template <std::size_t I, std::size_t O, class In>
struct kernel<Linear<I, O>, In, cuda::backend> : kernel_base {
    static void forward(const forward_args& a) {
        cuda::launch<cuda::linear_forward<I, O, cuda::act_identity>>({a.x, a.params, a.y, a.n}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dparams) cuda::launch<cuda::linear_backward_dparams<I, O>>({a.x, a.dy, a.dparams, a.n}, cuda::stream_of(a.stream));
        if (a.dx) cuda::launch<cuda::linear_backward_dx<I, O>>({a.dy, a.params, a.dx, a.n}, cuda::stream_of(a.stream));
    }
};

/// Every element-wise activation (the ctnn::activation concept), from the layer's own math.
template <activation L, class In>
struct kernel<L, In, cuda::backend> : kernel_base {
    static void forward(const forward_args& a) {
        cuda::launch<cuda::act_forward<cuda::layer_f<L>>>({a.x, a.y, a.n * In::size}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dx) cuda::launch<cuda::layer_act_backward<L>>({a.x, a.y, a.dy, a.dx, a.n * In::size}, cuda::stream_of(a.stream));
    }
};

template <std::size_t K, std::size_t S, class In>
struct kernel<MaxPool<K, S>, In, cuda::backend> : kernel_base {
    using G = cuda::pool_geometry<In::value.d[0], In::value.d[1], In::value.d[2], K, S>;
    static void forward(const forward_args& a) {
        cuda::launch<cuda::maxpool_forward<G>>({a.x, a.y, a.saved, a.n}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dx) cuda::launch<cuda::maxpool_backward<G>>({a.saved, a.dy, a.dx, a.n}, cuda::stream_of(a.stream));
    }
};

template <std::size_t K, std::size_t S, class In>
struct kernel<AvgPool<K, S>, In, cuda::backend> : kernel_base {
    using G = cuda::pool_geometry<In::value.d[0], In::value.d[1], In::value.d[2], K, S>;
    static void forward(const forward_args& a) { cuda::launch<cuda::avgpool_forward<G>>({a.x, a.y, a.n}, cuda::stream_of(a.stream)); }
    static void backward(const backward_args& a) {
        if (a.dx) cuda::launch<cuda::avgpool_backward<G>>({a.dy, a.dx, a.n}, cuda::stream_of(a.stream));
    }
};

template <class In>
struct kernel<GlobalAvgPool, In, cuda::backend> : kernel_base {
    static constexpr std::size_t C = In::value.d[0], HW = In::value.d[1] * In::value.d[2];
    static void forward(const forward_args& a) {
        cuda::launch<cuda::global_avgpool_forward<C, HW>>({a.x, a.y, a.n}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dx) cuda::launch<cuda::global_avgpool_backward<C, HW>>({a.dy, a.dx, a.n}, cuda::stream_of(a.stream));
    }
};

template <class In>
struct kernel<Flatten, In, cuda::backend> : kernel_base {
    static void forward(const forward_args& a) {
        if (a.y != a.x) cuda::launch<cuda::copy_kernel>({a.x, a.y, a.n * In::size}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dx && a.dx != a.dy) cuda::launch<cuda::copy_kernel>({a.dy, a.dx, a.n * In::size}, cuda::stream_of(a.stream));
    }
};

/// Identity (a Residual's shortcut) aliases its input like Flatten: a copy only where it cannot.
template <class In>
struct kernel<Identity, In, cuda::backend> : kernel<Flatten, In, cuda::backend> {};

template <std::size_t Percent, class In>
struct kernel<Dropout<Percent>, In, cuda::backend> : kernel_base {
    static void forward(const forward_args& a) {
        const std::size_t count = a.n * In::size;
        if (!a.training) {
            if (a.y != a.x) cuda::launch<cuda::copy_kernel>({a.x, a.y, count}, cuda::stream_of(a.stream));
            return;
        }
        if (!a.seed) throw error("ctnn cuda: Dropout training needs a device seed (run it through ctnn::cuda::device_net)");
        cuda::launch<cuda::dropout_forward<Percent>>({a.x, a.y, a.saved, a.seed, count}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dx) cuda::launch<cuda::mask_backward>({a.saved, a.dy, a.dx, a.n * In::size}, cuda::stream_of(a.stream));
    }
};

template <std::size_t C, class In>
struct kernel<BatchNorm<C>, In, cuda::backend> : kernel_base {
    static constexpr std::size_t inner = In::size / C;
    using B = cuda::batchnorm_kernels<C, inner>;
    static constexpr kernel_traits traits{.scratch = 2 * C};  // the two per-channel sums of backward
    static void forward(const forward_args& a) {
        if (a.training) {
            if (a.n * inner < 2)
                throw error("ctnn::BatchNorm: training needs more than one value per channel (batch " +
                            std::to_string(a.n) + " of " + std::to_string(inner) + " values per channel)");
            const typename B::stats_args s{a.x, a.saved, a.buffers, a.n};
            cuda::launch<typename B::mean>(s, cuda::stream_of(a.stream));
            cuda::launch<typename B::variance>(s, cuda::stream_of(a.stream));
        }
        cuda::launch<typename B::apply>({a.x, a.y, a.params, a.saved, a.buffers, a.training, a.n}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (!a.scratch) throw error("ctnn cuda: BatchNorm backward needs scratch (run it through ctnn::cuda::device_net)");
        const typename B::backward_args b{a.x, a.dy, a.dx, a.params, a.dparams, a.saved, a.scratch, a.n};
        cuda::launch<typename B::backward_sums>(b, cuda::stream_of(a.stream));
        if (a.dx) cuda::launch<typename B::backward_dx>(b, cuda::stream_of(a.stream));
    }
};

template <class In>
struct kernel<Softmax, In, cuda::backend> : kernel_base {
    static constexpr std::size_t C = In::value.d[0], inner = In::size / C;
    static void forward(const forward_args& a) {
        cuda::launch<cuda::softmax_forward<C, inner>>({a.x, a.y, a.n}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dx) cuda::launch<cuda::softmax_backward<C, inner>>({a.y, a.dy, a.dx, a.n}, cuda::stream_of(a.stream));
    }
};

}  // namespace ctnn
