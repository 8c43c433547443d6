// Sigmoid: y = 1 / (1 + exp(-x)), any shape; PyTorch's nn.Sigmoid().
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct Sigmoid : layer_base {
    static constexpr std::string_view kind = "Sigmoid";
    static std::string name() { return "Sigmoid"; }
};

}  // namespace ctnn
