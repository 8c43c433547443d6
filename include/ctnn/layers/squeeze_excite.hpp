// SqueezeExcite<C, Squeeze, Act = ReLU, Gate = Hardsigmoid>: a squeeze-and-excitation gate on a
// C×H×W map (MobileNetV3's, with the default activations); torchvision's
// ops.SqueezeExcitation(input_channels = C, squeeze_channels = Squeeze, activation = Act,
// scale_activation = Gate), same tensor names:
//   s = mean over H, W of x            [C]
//   z = Act(fc1.weight s + fc1.bias)   [Squeeze]
//   g = Gate(fc2.weight z + fc2.bias)  [C]
//   y = x g                            (channel c of the map times g[c])
//   params: fc1.weight [Squeeze, C, 1, 1], fc1.bias [Squeeze], fc2.weight [C, Squeeze, 1, 1],
//           fc2.bias [C]  (torchvision's 1×1 Conv2d, and its default initialisation)
// Act and Gate are ctnn activations (layer.hpp's concept): their math runs on the squeezed vectors.
// A training forward keeps, per sample, s, fc1's output, z, fc2's output and g for backward.
#pragma once
#include <cmath>
#include <string>

#include "../layer.hpp"
#include "hardsigmoid.hpp"
#include "relu.hpp"

namespace ctnn {

template <std::size_t C, std::size_t Squeeze, class Act = ReLU, class Gate = Hardsigmoid>
struct SqueezeExcite : layer_base {
    static_assert(C > 0 && Squeeze > 0, "ctnn::SqueezeExcite<C, Squeeze, Act, Gate>: channel counts must be positive");
    static_assert(activation<Act>, "ctnn::SqueezeExcite<C, Squeeze, Act, Gate>: Act must be a ctnn activation");
    static_assert(activation<Gate>, "ctnn::SqueezeExcite<C, Squeeze, Act, Gate>: Gate must be a ctnn activation");

    static constexpr std::size_t channels = C, squeeze_channels = Squeeze;
    using act_type = Act;
    using gate_type = Gate;
    static constexpr std::string_view kind = "SqueezeExcite";
    static std::string name() {
        return "SqueezeExcite(" + std::to_string(C) + "->" + std::to_string(Squeeze) + ", " + Act::name() + ", " +
               Gate::name() + ")";
    }
    // torchvision's keywords; the activations are not numbers: name() carries them.
    static constexpr hparam_list hparams() { return {{"input_channels", C}, {"squeeze_channels", Squeeze}}; }

    static constexpr layer_check check(dims in) {
        if (in.rank != 3) return {problem::image_input, chw(C, 0, 0), in};
        if (in.d[0] != C) return {problem::channels, flat(C), flat(in.d[0])};
        return {};
    }

    // Offsets into the parameters (PyTorch's state_dict order) and into one sample's saved floats.
    static constexpr std::size_t w1 = 0, b1 = Squeeze * C, w2 = b1 + Squeeze, b2 = w2 + C * Squeeze;
    static constexpr std::size_t s_at = 0, a1_at = C, z_at = C + Squeeze, a2_at = C + 2 * Squeeze,
                                 g_at = 2 * C + 2 * Squeeze, per_sample = 3 * C + 2 * Squeeze;

    static constexpr tensor_list params(dims) {
        return {4, {{"fc1.weight", 4, {Squeeze, C, 1, 1}}, {"fc1.bias", 1, {Squeeze}},
                    {"fc2.weight", 4, {C, Squeeze, 1, 1}}, {"fc2.bias", 1, {C}}}};
    }
    static constexpr std::size_t saved(dims, std::size_t n) { return n * per_sample; }

    /// PyTorch's Conv2d default for each 1×1 convolution: U(-b, b), b = 1 / sqrt(fan_in), for
    /// weight and bias, fan_in = C for fc1 and Squeeze for fc2.
    static void init(dims, float* p, float*, rng& g) {
        const float u1 = 1.0f / std::sqrt(static_cast<float>(C)), u2 = 1.0f / std::sqrt(static_cast<float>(Squeeze));
        for (std::size_t i = w1; i < w2; ++i) p[i] = g.uniform(-u1, u1);
        for (std::size_t i = w2; i < b2 + C; ++i) p[i] = g.uniform(-u2, u2);
    }
};

}  // namespace ctnn
