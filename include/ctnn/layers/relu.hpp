// ReLU: y = max(x, 0), any shape; PyTorch's nn.ReLU().
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct ReLU : layer_base {
    static constexpr std::string_view kind = "ReLU";
    static std::string name() { return "ReLU"; }
};

}  // namespace ctnn
