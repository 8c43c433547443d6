// cpu fused groups for inference: Conv -> BatchNorm (-> an activation), as in ResNet and
// MobileNet blocks, in one pass of the convolution's kernel.
//
// In inference BatchNorm is a per-channel affine map with the running statistics,
//     y = (z - mean) * gamma / sqrt(var + eps) + beta = z * scale + shift,
// so the group runs the Conv kernel with an epilogue (epilogue.hpp, bn_then) that applies it to
// each output z (the conv's own sum, bias included, exactly as unfused) and then the activation,
// while the value is still in registers (stride 1: conv.hpp) or in cache (conv_gemm.hpp,
// conv_depthwise.hpp: right after the GEMM or the channel wrote it). scale and shift are
// computed per call from the BatchNorm's parameters (gamma, beta) and buffers (running_mean,
// running_var), with the reference kernel's formulas: C values, cheap, and never stale (the
// prepared-parameter cache sees only parameters, not buffers). The weights are not touched,
// so the Winograd weights prepared for the Conv serve the group as they are.
//
// Numbers: z * scale + shift is one fma here, a multiply and an add in the reference kernel
// (unless the compiler contracts them): one rounding apart, far inside the tests' 1e-5 of the
// output's scale; nothing is reassociated. Training runs the layers unfused (batch statistics).
#pragma once
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "../../backend.hpp"
#include "../../layers/batchnorm.hpp"
#include "../../layers/conv.hpp"
#include "conv.hpp"
#include "conv_gemm.hpp"
#include "epilogue.hpp"
#include "tag.hpp"

namespace ctnn::cpu_detail {

/// coef = [bias | scale | shift] (bn_then's layout) from the Conv's bias and the BatchNorm's
/// params (gamma [C], beta [C]) and buffers (running_mean [C], running_var [C]).
template <std::size_t C>
inline void bn_coefficients(const float* bias, const float* bn_params, const float* bn_buffers, float* coef) {
    const float* gamma = bn_params;
    const float* beta = bn_params + C;
    const float* mean = bn_buffers;
    const float* var = bn_buffers + C;
    for (std::size_t c = 0; c < C; ++c) {
        const float rstd = 1.0f / std::sqrt(var[c] + BatchNorm<C>::eps);  // (as the reference kernel)
        const float scale = gamma[c] * rstd;
        coef[c] = bias[c];
        coef[C + c] = scale;
        coef[2 * C + c] = beta[c] - mean[c] * scale;
    }
}

/// The kernel a Conv runs on (as kernel<Conv, In, cpu> picks it) and how to call it with an
/// epilogue Act and coefficients.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, std::size_t G,
          class In>
struct conv_impl_of {
    static constexpr bool s1 = S == 1 && D == 1 && G == 1;
    using type = std::conditional_t<s1, conv_s1<Ci, Co, K, P, In>,
                                    std::conditional_t<(Ci == G && G > 1), conv_depthwise<Ci, Co, K, S, P, D, In>,
                                                       conv_gemm<Ci, Co, K, S, P, D, G, In>>>;
    template <class Act>
    static void forward(const forward_args& a, const float* coef) {
        if constexpr (s1) type::template forward<Act, no_pool>(a, coef);
        else type::template forward<Act>(a, coef);
    }
};

}  // namespace ctnn::cpu_detail

namespace ctnn {

/// Conv + BatchNorm (+ an element-wise activation L2) as one inference kernel; without an
/// activation after it, Conv + BatchNorm.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, std::size_t G,
          class In, class L2>
struct fused<cpu, In, Conv<Ci, Co, K, S, P, D, G>, BatchNorm<Co>, L2> : kernel_base {
    using conv = cpu_detail::conv_impl_of<Ci, Co, K, S, P, D, G, In>;
    static constexpr bool with_act = activation<L2>;
    static constexpr std::size_t layers = with_act ? 3 : 2;
    using Act = cpu_detail::bn_then<std::conditional_t<with_act, cpu_detail::act<L2>, cpu_detail::identity>>;
    // the coefficients follow the Conv's own scratch in the calling thread's
    static constexpr std::size_t coef_at = conv::type::scratch_floats;
    static constexpr kernel_traits traits{.scratch = coef_at + align_floats(3 * Co), .fuses = layers, .adds = true, .strided_output = true};

    static void forward(const group_forward_args<layers>& g) {
        const forward_args& c = g.first();
        float* coef = detail::work_scratch(traits.scratch) + coef_at;
        cpu_detail::bn_coefficients<Co>(c.params + Co * (Ci / G) * K * K, g.layer[1].params, g.layer[1].buffers, coef);
        conv::template forward<Act>(cpu_detail::merged(c, g.last()), coef);
    }
};

}  // namespace ctnn
