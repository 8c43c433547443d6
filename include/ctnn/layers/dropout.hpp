// Dropout<Percent>: in training, zero each element with probability Percent / 100 and scale the
// rest by 1 / (1 - p); identity in inference. PyTorch's nn.Dropout(Percent / 100).
// A percentage because clang 14 and nvcc do not take float template arguments.
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

template <std::size_t Percent>
struct Dropout : layer_base {
    static_assert(Percent < 100, "ctnn::Dropout<Percent>: Percent must be below 100");
    static constexpr float p = static_cast<float>(Percent) / 100.0f;
    static constexpr std::string_view kind = "Dropout";
    static std::string name() { return "Dropout(" + std::to_string(Percent) + "%)"; }
    static constexpr hparam_list hparams() { return {{"p", Percent, 100}}; }
    /// The mask actually applied (0 or 1 / (1 - p)) per element.
    static constexpr std::size_t saved(dims in, std::size_t n) { return in.size() * n; }
};

}  // namespace ctnn
