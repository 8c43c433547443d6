// LeakyReLU<Num = 1, Den = 100>: y = x > 0 ? x : (Num / Den) x, any shape;
// PyTorch's nn.LeakyReLU(Num / Den). The slope is a fraction because clang 14 and nvcc do not
// take float template arguments.
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

template <std::size_t Num = 1, std::size_t Den = 100>
struct LeakyReLU : layer_base {
    static_assert(Den > 0, "ctnn::LeakyReLU<Num, Den>: Den must be positive");
    static constexpr float slope = static_cast<float>(static_cast<double>(Num) / static_cast<double>(Den));
    static constexpr std::string_view kind = "LeakyReLU";
    static std::string name() { return "LeakyReLU(" + std::to_string(Num) + "/" + std::to_string(Den) + ")"; }
};

}  // namespace ctnn
