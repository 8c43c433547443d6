// Conv<In, Out, Kernel, Stride = 1, Pad = 0>: 2-D convolution with bias, square kernel,
// zero padding; PyTorch's nn.Conv2d(In, Out, Kernel, Stride, Pad).
//   in  [Cin, H, W]   out [Cout, (H + 2P - K) / S + 1, (W + 2P - K) / S + 1]
//   params: weight [Cout, Cin, K, K], bias [Cout]
#pragma once
#include <cmath>
#include <string>

#include "../layer.hpp"

namespace ctnn {

template <std::size_t In, std::size_t Out, std::size_t Kernel, std::size_t Stride = 1, std::size_t Pad = 0>
struct Conv : layer_base {
    static_assert(In > 0 && Out > 0, "ctnn::Conv<In, Out, Kernel, Stride, Pad>: channel counts must be positive");
    static_assert(Kernel > 0, "ctnn::Conv<In, Out, Kernel, Stride, Pad>: Kernel must be positive");
    static_assert(Stride > 0, "ctnn::Conv<In, Out, Kernel, Stride, Pad>: Stride must be positive");

    static constexpr std::size_t in_channels = In, out_channels = Out;
    static constexpr std::size_t kernel_size = Kernel, stride = Stride, padding = Pad;
    static constexpr std::string_view kind = "Conv";
    static std::string name() {
        return "Conv(" + std::to_string(In) + "->" + std::to_string(Out) + ", k" + std::to_string(Kernel) +
               " s" + std::to_string(Stride) + " p" + std::to_string(Pad) + ")";
    }

    static constexpr hparam_list hparams() {
        return {{"in_channels", In}, {"out_channels", Out}, {"kernel_size", Kernel}, {"stride", Stride}, {"padding", Pad}};
    }

    static constexpr layer_check check(dims in) {
        if (in.rank != 3) return {problem::image_input, chw(In, 0, 0), in};
        if (in.d[0] != In) return {problem::in_channels, flat(In), flat(in.d[0])};
        if (in.d[1] + 2 * Pad < Kernel || in.d[2] + 2 * Pad < Kernel)
            return {problem::kernel_too_large, dims{2, {Kernel, Kernel, 0}},
                    dims{2, {in.d[1] + 2 * Pad, in.d[2] + 2 * Pad, 0}}};
        return {};
    }
    static constexpr std::size_t out_extent(std::size_t x) {
        return x + 2 * Pad >= Kernel && Stride > 0 ? (x + 2 * Pad - Kernel) / Stride + 1 : 1;  // (no second error for stride 0)
    }
    static constexpr dims output(dims in) {
        return in.rank == 3 ? chw(Out, out_extent(in.d[1]), out_extent(in.d[2])) : chw(Out, 1, 1);
    }
    static constexpr tensor_list params(dims) {
        return {2, {{"weight", 4, {Out, In, Kernel, Kernel}}, {"bias", 1, {Out}}}};
    }
    /// PyTorch's default: kaiming_uniform_(a = sqrt(5)) for the weight, i.e. U(-b, b) with
    /// b = 1 / sqrt(fan_in), and the same bound for the bias.
    static void init(dims, float* p, float*, rng& g) {
        const float b = 1.0f / std::sqrt(static_cast<float>(In * Kernel * Kernel));
        for (std::size_t i = 0; i < Out * In * Kernel * Kernel + Out; ++i) p[i] = g.uniform(-b, b);
    }
};

}  // namespace ctnn
