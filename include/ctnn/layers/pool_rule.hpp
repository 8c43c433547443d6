// The shape rule shared by the pooling layers (MaxPool, AvgPool): a K×K window, stride S,
// no padding, floor mode; PyTorch's defaults for nn.MaxPool2d / nn.AvgPool2d.
#pragma once
#include "../layer.hpp"

namespace ctnn::detail {

template <std::size_t K, std::size_t S>
struct pool_rule : layer_base {
    static_assert(K > 0 && S > 0, "ctnn pooling: Kernel and Stride must be positive");
    static constexpr std::size_t kernel_size = K, stride = S;
    static constexpr hparam_list hparams() { return {{"kernel_size", K}, {"stride", S}}; }
    static constexpr layer_check check(dims in) {
        if (in.rank != 3) return {problem::image_input, {}, in};
        if (in.d[1] < K || in.d[2] < K) return {problem::window_too_large, dims{2, {K, K, 0}}, dims{2, {in.d[1], in.d[2], 0}}};
        return {};
    }
    static constexpr std::size_t out_extent(std::size_t x) { return x >= K && S > 0 ? (x - K) / S + 1 : 1; }
    static constexpr dims output(dims in) {
        return in.rank == 3 ? chw(in.d[0], out_extent(in.d[1]), out_extent(in.d[2])) : chw(1, 1, 1);
    }
};

}  // namespace ctnn::detail
