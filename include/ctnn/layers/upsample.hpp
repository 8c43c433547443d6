// Upsample<Scale>: nearest-neighbour upsampling by an integer factor; PyTorch's
// nn.Upsample(scale_factor=Scale, mode='nearest').
//   in [C, H, W]   out [C, H·Scale, W·Scale],   y[c, i, j] = x[c, i / Scale, j / Scale]
// Backward sums dy over each Scale×Scale block into the input pixel it copies. Scale 1 is the
// identity (as in PyTorch). Only C×H×W inputs: a flat shape is a compile-time shape error.
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

template <std::size_t Scale>
struct Upsample : layer_base {
    static_assert(Scale >= 1, "ctnn::Upsample<Scale>: Scale must be at least 1");
    static constexpr std::size_t scale_factor = Scale;
    static constexpr std::string_view kind = "Upsample";
    static std::string name() { return "Upsample(x" + std::to_string(Scale) + ", nearest)"; }
    // mode is not a hyper-parameter: nearest is nn.Upsample's default and the only mode here
    static constexpr hparam_list hparams() { return {{"scale_factor", Scale}}; }
    static constexpr layer_check check(dims in) {
        if (in.rank != 3) return {problem::image_input, {}, in};
        return {};
    }
    static constexpr dims output(dims in) {
        return in.rank == 3 ? chw(in.d[0], in.d[1] * Scale, in.d[2] * Scale) : chw(1, 1, 1);
    }
};

}  // namespace ctnn
