// MaxPool<Kernel, Stride = Kernel>: max over K×K windows; PyTorch's nn.MaxPool2d(K, S).
//   in [C, H, W]   out [C, (H - K) / S + 1, (W - K) / S + 1]
// A training forward keeps the index of each window's maximum for backward (first maximum wins,
// as in PyTorch; a window holding NaN gives NaN, and its last NaN gets the gradient, as in PyTorch).
#pragma once
#include <string>

#include "pool_rule.hpp"

namespace ctnn {

template <std::size_t Kernel, std::size_t Stride = Kernel>
struct MaxPool : detail::pool_rule<Kernel, Stride> {
    static constexpr std::string_view kind = "MaxPool";
    static std::string name() { return "MaxPool(k" + std::to_string(Kernel) + " s" + std::to_string(Stride) + ")"; }
    /// One index (stored as float, exact below 2^24) per output element.
    static constexpr std::size_t saved(dims in, std::size_t n) {
        return detail::pool_rule<Kernel, Stride>::output(in).size() * n;
    }
};

}  // namespace ctnn
