// GlobalAvgPool: mean over each channel's H×W map.
//   in [C, H, W]   out [C]
// PyTorch: nn.AdaptiveAvgPool2d(1) followed by nn.Flatten() (two modules there, one here).
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct GlobalAvgPool : layer_base {
    static constexpr std::string_view kind = "GlobalAvgPool";
    static std::string name() { return "GlobalAvgPool"; }
    static constexpr layer_check check(dims in) {
        if (in.rank != 3) return {problem::image_input, {}, in};
        return {};
    }
    static constexpr dims output(dims in) { return flat(in.d[0]); }
};

}  // namespace ctnn
