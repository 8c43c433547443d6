// Tanh: y = tanh(x), any shape; PyTorch's nn.Tanh().
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct Tanh : layer_base {
    static constexpr std::string_view kind = "Tanh";
    static std::string name() { return "Tanh"; }
};

}  // namespace ctnn
