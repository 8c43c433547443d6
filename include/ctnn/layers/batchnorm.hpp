// BatchNorm<Channels>: batch normalisation over a C×H×W map (PyTorch's nn.BatchNorm2d(C)) or
// over C features (nn.BatchNorm1d(C)); eps = 1e-5, momentum = 0.1.
//   params:  weight [C] (ones), bias [C] (zeros)
//   buffers: running_mean [C] (zeros), running_var [C] (ones), num_batches_tracked [] (0;
//            a float here, exact up to 2^24 batches; I64 in a safetensors file)
// Training uses the batch's statistics and updates the running ones (the unbiased variance, as
// PyTorch); inference uses the running ones. A training forward keeps each channel's mean and
// 1 / sqrt(var + eps) for backward.
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

template <std::size_t Channels>
struct BatchNorm : layer_base {
    static_assert(Channels > 0, "ctnn::BatchNorm<Channels>: Channels must be positive");
    static constexpr std::size_t channels = Channels;
    static constexpr float eps = 1e-5f;
    static constexpr float momentum = 0.1f;
    static constexpr std::string_view kind = "BatchNorm";
    static std::string name() { return "BatchNorm(" + std::to_string(Channels) + ")"; }

    static constexpr hparam_list hparams() {
        return {{"num_features", Channels}, {"eps", 1, 100000}, {"momentum", 1, 10}};
    }

    static constexpr layer_check check(dims in) {
        if (in.d[0] != Channels) return {problem::channels, flat(Channels), flat(in.d[0])};
        return {};
    }
    static constexpr tensor_list params(dims) {
        return {2, {{"weight", 1, {Channels}}, {"bias", 1, {Channels}}}};
    }
    static constexpr tensor_list buffers(dims) {
        return {3, {{"running_mean", 1, {Channels}}, {"running_var", 1, {Channels}}, {"num_batches_tracked", 0, {}}}};
    }
    static constexpr std::size_t saved(dims, std::size_t) { return 2 * Channels; }
    static void init(dims, float* p, float* b, rng&) {
        for (std::size_t c = 0; c < Channels; ++c) {
            p[c] = 1.0f; p[Channels + c] = 0.0f;          // weight, bias
            b[c] = 0.0f; b[Channels + c] = 1.0f;          // running_mean, running_var
        }
        b[2 * Channels] = 0.0f;                           // num_batches_tracked
    }
};

}  // namespace ctnn
