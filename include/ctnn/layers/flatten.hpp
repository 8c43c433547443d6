// Flatten: [C, H, W] -> [C·H·W] (a flat shape stays as it is); PyTorch's nn.Flatten().
// The data does not move: NCHW is already batch-major, so the output aliases the input and no
// kernel runs (the reference kernel copies, for when a copy is unavoidable: see executor.hpp).
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct Flatten : layer_base {
    static constexpr std::string_view kind = "Flatten";
    static std::string name() { return "Flatten"; }
    static constexpr bool aliases_input = true;
    static constexpr dims output(dims in) { return flat(in.size()); }
};

}  // namespace ctnn
