// Conv<In, Out, Kernel, Stride = 1, Pad = 0, Dilation = 1, Groups = 1>: 2-D convolution with
// bias, square kernel, zero padding; PyTorch's nn.Conv2d(In, Out, Kernel, Stride, Pad, Dilation,
// Groups). Groups == In == Out is a depthwise convolution.
//   in  [In, H, W]   out [Out, (H + 2P - D(K-1) - 1) / S + 1, (W + 2P - D(K-1) - 1) / S + 1]
//   params: weight [Out, In / Groups, K, K], bias [Out]
// Output channel o of group g = o / (Out / Groups) sees input channels [g * In / Groups,
// (g + 1) * In / Groups) only.
#pragma once
#include <cmath>
#include <string>

#include "../layer.hpp"

namespace ctnn {

template <std::size_t In, std::size_t Out, std::size_t Kernel, std::size_t Stride = 1, std::size_t Pad = 0,
          std::size_t Dilation = 1, std::size_t Groups = 1>
struct Conv : layer_base {
    static_assert(In > 0 && Out > 0, "ctnn::Conv<In, Out, Kernel, Stride, Pad>: channel counts must be positive");
    static_assert(Kernel > 0, "ctnn::Conv<In, Out, Kernel, Stride, Pad>: Kernel must be positive");
    static_assert(Stride > 0, "ctnn::Conv<In, Out, Kernel, Stride, Pad>: Stride must be positive");
    static_assert(Dilation > 0, "ctnn::Conv<In, Out, Kernel, Stride, Pad, Dilation, Groups>: Dilation must be positive");
    static_assert(Groups > 0 && In % Groups == 0 && Out % Groups == 0,
                  "ctnn::Conv<In, Out, Kernel, Stride, Pad, Dilation, Groups>: Groups must divide both In and Out");

    static constexpr std::size_t in_channels = In, out_channels = Out;
    static constexpr std::size_t kernel_size = Kernel, stride = Stride, padding = Pad;
    static constexpr std::size_t dilation = Dilation, groups = Groups;
    // (a Groups of 0 has its static_assert above; 1 here keeps that the only error)
    static constexpr std::size_t group_in = Groups > 0 ? In / Groups : 1;  // input channels each output sees
    static constexpr std::size_t span = Dilation * (Kernel - 1) + 1;       // the dilated kernel's extent
    static constexpr std::string_view kind = "Conv";
    static std::string name() {
        return "Conv(" + std::to_string(In) + "->" + std::to_string(Out) + ", k" + std::to_string(Kernel) +
               " s" + std::to_string(Stride) + " p" + std::to_string(Pad) +
               (Dilation != 1 ? " d" + std::to_string(Dilation) : "") + (Groups != 1 ? " g" + std::to_string(Groups) : "") +
               ")";
    }

    static constexpr hparam_list hparams() {
        return {{"in_channels", In}, {"out_channels", Out}, {"kernel_size", Kernel}, {"stride", Stride},
                {"padding", Pad},    {"dilation", Dilation}, {"groups", Groups}};
    }

    static constexpr layer_check check(dims in) {
        if (in.rank != 3) return {problem::image_input, chw(In, 0, 0), in};
        if (in.d[0] != In) return {problem::in_channels, flat(In), flat(in.d[0])};
        if (in.d[1] + 2 * Pad < span || in.d[2] + 2 * Pad < span)
            return {problem::kernel_too_large, dims{2, {span, span, 0}}, dims{2, {in.d[1] + 2 * Pad, in.d[2] + 2 * Pad, 0}}};
        return {};
    }
    static constexpr std::size_t out_extent(std::size_t x) {
        return x + 2 * Pad >= span && Stride > 0 ? (x + 2 * Pad - span) / Stride + 1 : 1;  // (no second error for stride 0)
    }
    static constexpr dims output(dims in) {
        return in.rank == 3 ? chw(Out, out_extent(in.d[1]), out_extent(in.d[2])) : chw(Out, 1, 1);
    }
    static constexpr tensor_list params(dims) {
        return {2, {{"weight", 4, {Out, group_in, Kernel, Kernel}}, {"bias", 1, {Out}}}};
    }
    /// PyTorch's default: kaiming_uniform_(a = sqrt(5)) for the weight, i.e. U(-b, b) with
    /// b = 1 / sqrt(fan_in), fan_in = (In / Groups) * K * K, and the same bound for the bias.
    static void init(dims, float* p, float*, rng& g) {
        const float b = 1.0f / std::sqrt(static_cast<float>(group_in * Kernel * Kernel));
        for (std::size_t i = 0; i < Out * group_in * Kernel * Kernel + Out; ++i) p[i] = g.uniform(-b, b);
    }
};

}  // namespace ctnn
