// Identity: y = x, any shape; PyTorch's nn.Identity(). Residual's default shortcut. Its output
// aliases its input, so no kernel runs (the reference kernel copies, for where a copy cannot be
// avoided: executor.hpp).
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct Identity : layer_base {
    static constexpr std::string_view kind = "Identity";
    static std::string name() { return "Identity"; }
    static constexpr bool aliases_input = true;
};

}  // namespace ctnn
