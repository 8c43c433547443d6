// More of the CUDA backend's kernel specializations (nvcc only; kernels.hpp's contract): Upsample,
// ConvTranspose, SqueezeExcite, and Conv with dilation or groups. Direct kernels (one thread per
// output element, gathers for dx, one reduction block per weight), none fused: an activation
// after them runs its own kernel.
#pragma once
#if !defined(__CUDACC__) && !defined(CTNN_CUDA_EMULATE)
#error "ctnn/backends/cuda/kernels_more.hpp needs nvcc: compile this translation unit as CUDA (a .cu file)"
#endif
#include <algorithm>

#include "../../backend.hpp"
#include "../../error.hpp"
#include "../../layers/conv.hpp"
#include "../../layers/conv_transpose.hpp"
#include "../../layers/squeeze_excite.hpp"
#include "../../layers/upsample.hpp"
#include "kernels.hpp"
#include "launch.hpp"
#include "tag.hpp"
#include "threads/conv_general.hpp"
#include "threads/conv_transpose.hpp"
#include "threads/squeeze_excite.hpp"
#include "threads/upsample.hpp"

namespace ctnn::cuda {
/// The runtime's stream type (the emulation's lives in ctnn::cuda, CUDA's in the global namespace).
using stream_type = cudaStream_t;
}  // namespace ctnn::cuda

namespace ctnn {

template <std::size_t S, class In>
struct kernel<Upsample<S>, In, cuda::backend> : kernel_base {
    using G = cuda::upsample_geometry<In::value.d[0], In::value.d[1], In::value.d[2], S>;
    static void forward(const forward_args& a) {
        cuda::launch<cuda::upsample_forward<G>>({a.x, a.y, a.n}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dx) cuda::launch<cuda::upsample_backward<G>>({a.dy, a.dx, a.n}, cuda::stream_of(a.stream));
    }
};

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t OP, class In>
struct kernel<ConvTranspose<Ci, Co, K, S, P, OP>, In, cuda::backend> : kernel_base {
    using G = cuda::tconv_geometry<Ci, Co, K, S, P, OP, In::value.d[1], In::value.d[2]>;
    static void forward(const forward_args& a) {
        cuda::launch<cuda::tconv_forward<G>>({a.x, a.params, a.y, a.n}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dparams) cuda::launch<cuda::tconv_backward_dparams<G>>({a.x, a.dy, a.dparams, a.n}, cuda::stream_of(a.stream));
        if (a.dx) cuda::launch<cuda::tconv_backward_dx<G>>({a.dy, a.params, a.dx, a.n}, cuda::stream_of(a.stream));
    }
};

/// Conv with dilation or groups (depthwise included); Conv<Ci, Co, K, S, P> (D = Gr = 1) is
/// kernels.hpp's, which fuses with its activation.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, std::size_t Gr,
          class In>
    requires(D != 1 || Gr != 1)
struct kernel<Conv<Ci, Co, K, S, P, D, Gr>, In, cuda::backend> : kernel_base {
    using G = cuda::gconv_geometry<Ci, Co, K, S, P, D, Gr, In::value.d[1], In::value.d[2]>;
    static void forward(const forward_args& a) {
        cuda::launch<cuda::gconv_forward<G>>({a.x, a.params, a.y, a.n}, cuda::stream_of(a.stream));
    }
    static void backward(const backward_args& a) {
        if (a.dparams) cuda::launch<cuda::gconv_backward_dparams<G>>({a.x, a.dy, a.dparams, a.n}, cuda::stream_of(a.stream));
        if (a.dx) cuda::launch<cuda::gconv_backward_dx<G>>({a.dy, a.params, a.dx, a.n}, cuda::stream_of(a.stream));
    }
};

/// SqueezeExcite. The training forward keeps its per-sample vectors in saved (the layer's layout);
/// an inference forward and the backward keep theirs in the layer's own scratch, which holds
/// `chunk` samples, so they run the batch chunk by chunk (a fixed scratch size serves any batch).
template <std::size_t C, std::size_t Sq, class Act, class Gate, class In>
struct kernel<SqueezeExcite<C, Sq, Act, Gate>, In, cuda::backend> : kernel_base {
    static constexpr std::size_t HW = In::value.d[1] * In::value.d[2];
    using K = cuda::se_kernels<C, Sq, Act, Gate, HW>;
    static constexpr std::size_t chunk = 64;
    static_assert(K::grad_per_sample <= K::PS, "ctnn cuda: SqueezeExcite's backward vectors must fit the scratch");
    static constexpr kernel_traits traits{.scratch = chunk * K::PS};

    static void forward(const forward_args& a) {
        const cuda::stream_type s = cuda::stream_of(a.stream);
        if (a.saved) return run_forward({a.x, a.params, a.y, a.saved, a.n}, s);
        if (!a.scratch) throw error("ctnn cuda: SqueezeExcite inference needs scratch (run it through ctnn::cuda::device_net)");
        for (std::size_t b0 = 0; b0 < a.n; b0 += chunk)
            run_forward({a.x + b0 * C * HW, a.params, a.y + b0 * C * HW, a.scratch, std::min(chunk, a.n - b0)}, s);
    }
    static void backward(const backward_args& a) {
        if (!a.scratch) throw error("ctnn cuda: SqueezeExcite backward needs scratch (run it through ctnn::cuda::device_net)");
        const cuda::stream_type s = cuda::stream_of(a.stream);
        for (std::size_t b0 = 0; b0 < a.n; b0 += chunk) {
            const typename K::backward_args b{a.x + b0 * C * HW, a.dy + b0 * C * HW, a.dx ? a.dx + b0 * C * HW : nullptr,
                                              a.params, a.dparams, a.saved + b0 * K::PS, a.scratch, std::min(chunk, a.n - b0)};
            cuda::launch<typename K::dgate>(b, s);
            cuda::launch<typename K::dact>(b, s);
            if (a.dparams) cuda::launch<typename K::dparams>(b, s);  // += per chunk: the batch's sum
            if (a.dx) {
                cuda::launch<typename K::dsqueeze>(b, s);
                cuda::launch<typename K::dx>(b, s);
            }
        }
    }

private:
    static void run_forward(const typename K::forward_args& f, cuda::stream_type s) {
        cuda::launch<typename K::squeeze>(f, s);
        cuda::launch<typename K::excite_fc1>(f, s);
        cuda::launch<typename K::excite_fc2>(f, s);
        cuda::launch<typename K::scale>(f, s);
    }
};

}  // namespace ctnn
