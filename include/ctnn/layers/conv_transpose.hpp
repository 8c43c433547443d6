// ConvTranspose<In, Out, Kernel, Stride = 1, Pad = 0, OutPad = 0>: transposed 2-D convolution
// with bias, square kernel; PyTorch's nn.ConvTranspose2d(In, Out, Kernel, Stride, Pad, OutPad)
// (groups 1, dilation 1). It is the adjoint (input gradient) of Conv<Out, In, Kernel, Stride, Pad>:
// every input pixel scatters Kernel×Kernel weighted copies into the output, Stride apart; Pad crops
// the result on every side and OutPad adds rows and columns at the bottom and right.
//   in  [Cin, H, W]   out [Cout, (H - 1) S - 2P + K + OutPad, (W - 1) S - 2P + K + OutPad]
//   params: weight [Cin, Cout, K, K] (PyTorch's layout for the transposed convolution), bias [Cout]
// As PyTorch: OutPad < Stride (else two output sizes would be the same input's), and an output
// extent <= 0 (padding that crops everything) is an error, here a shape error at compile time.
#pragma once
#include <cmath>
#include <string>

#include "../layer.hpp"

namespace ctnn {

template <std::size_t In, std::size_t Out, std::size_t Kernel, std::size_t Stride = 1, std::size_t Pad = 0,
          std::size_t OutPad = 0>
struct ConvTranspose : layer_base {
    static_assert(In > 0 && Out > 0,
                  "ctnn::ConvTranspose<In, Out, Kernel, Stride, Pad, OutPad>: channel counts must be positive");
    static_assert(Kernel > 0, "ctnn::ConvTranspose<In, Out, Kernel, Stride, Pad, OutPad>: Kernel must be positive");
    static_assert(Stride > 0, "ctnn::ConvTranspose<In, Out, Kernel, Stride, Pad, OutPad>: Stride must be positive");
    static_assert(OutPad < Stride,
                  "ctnn::ConvTranspose<In, Out, Kernel, Stride, Pad, OutPad>: OutPad must be smaller than Stride "
                  "(PyTorch: output padding must be smaller than stride)");

    static constexpr std::size_t in_channels = In, out_channels = Out;
    static constexpr std::size_t kernel_size = Kernel, stride = Stride, padding = Pad, output_padding = OutPad;
    static constexpr std::string_view kind = "ConvTranspose";
    static std::string name() {
        return "ConvTranspose(" + std::to_string(In) + "->" + std::to_string(Out) + ", k" + std::to_string(Kernel) +
               " s" + std::to_string(Stride) + " p" + std::to_string(Pad) + " op" + std::to_string(OutPad) + ")";
    }

    static constexpr hparam_list hparams() {
        return {{"in_channels", In}, {"out_channels", Out}, {"kernel_size", Kernel},
                {"stride", Stride}, {"padding", Pad}, {"output_padding", OutPad}};
    }

    /// (x - 1) S + K + OutPad before cropping; the output extent is this minus 2P when positive.
    static constexpr std::size_t uncropped(std::size_t x) { return (x ? x - 1 : 0) * Stride + Kernel + OutPad; }
    /// The smallest input extent whose output extent is positive: uncropped(x) > 2P.
    static constexpr std::size_t min_input() {
        const std::size_t need = 2 * Pad + 1;  // uncropped(x) >= need
        return need <= Kernel + OutPad ? 1 : (need - Kernel - OutPad + Stride - 1) / Stride + 1;
    }

    // Input too small for the padding: the same tags as a pooling window larger than its input
    // ("needs_input_at_least<H, W>, got_input<H, W>"), which say exactly this.
    static constexpr layer_check check(dims in) {
        if (in.rank != 3) return {problem::image_input, chw(In, 0, 0), in};
        if (in.d[0] != In) return {problem::in_channels, flat(In), flat(in.d[0])};
        if (in.d[1] < min_input() || in.d[2] < min_input())
            return {problem::window_too_large, dims{2, {min_input(), min_input(), 0}}, dims{2, {in.d[1], in.d[2], 0}}};
        return {};
    }
    static constexpr std::size_t out_extent(std::size_t x) {
        return uncropped(x) > 2 * Pad ? uncropped(x) - 2 * Pad : 1;  // (no overflow when check failed)
    }
    static constexpr dims output(dims in) {
        return in.rank == 3 ? chw(Out, out_extent(in.d[1]), out_extent(in.d[2])) : chw(Out, 1, 1);
    }
    static constexpr tensor_list params(dims) {
        return {2, {{"weight", 4, {In, Out, Kernel, Kernel}}, {"bias", 1, {Out}}}};
    }
    /// PyTorch's default: kaiming_uniform_(a = sqrt(5)), i.e. U(-b, b) with b = 1 / sqrt(fan_in),
    /// and the same bound for the bias. PyTorch computes fan_in from the weight's dimension 1,
    /// which for the transposed layout [In, Out, K, K] is Out: fan_in = Out K K.
    static void init(dims, float* p, float*, rng& g) {
        const float b = 1.0f / std::sqrt(static_cast<float>(Out * Kernel * Kernel));
        for (std::size_t i = 0; i < In * Out * Kernel * Kernel + Out; ++i) p[i] = g.uniform(-b, b);
    }
};

}  // namespace ctnn
