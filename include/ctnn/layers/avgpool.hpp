// AvgPool<Kernel, Stride = Kernel>: mean over K×K windows; PyTorch's nn.AvgPool2d(K, S).
//   in [C, H, W]   out [C, (H - K) / S + 1, (W - K) / S + 1]
#pragma once
#include <string>

#include "pool_rule.hpp"

namespace ctnn {

template <std::size_t Kernel, std::size_t Stride = Kernel>
struct AvgPool : detail::pool_rule<Kernel, Stride> {
    static constexpr std::string_view kind = "AvgPool";
    static std::string name() { return "AvgPool(k" + std::to_string(Kernel) + " s" + std::to_string(Stride) + ")"; }
};

}  // namespace ctnn
