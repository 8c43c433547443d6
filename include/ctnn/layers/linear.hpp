// Linear<In, Out>: y = W x + b; PyTorch's nn.Linear(In, Out).
//   in [In] (a flat shape: put ctnn::Flatten after a C×H×W map)   out [Out]
//   params: weight [Out, In], bias [Out]
#pragma once
#include <cmath>
#include <string>

#include "../layer.hpp"

namespace ctnn {

template <std::size_t In, std::size_t Out>
struct Linear : layer_base {
    static_assert(In > 0 && Out > 0, "ctnn::Linear<In, Out>: feature counts must be positive");
    static constexpr std::size_t in_features = In, out_features = Out;
    static constexpr std::string_view kind = "Linear";
    static std::string name() { return "Linear(" + std::to_string(In) + "->" + std::to_string(Out) + ")"; }

    static constexpr hparam_list hparams() { return {{"in_features", In}, {"out_features", Out}}; }

    static constexpr layer_check check(dims in) {
        if (in.rank != 1) return {problem::flat_input, flat(In), in};
        if (in.d[0] != In) return {problem::in_features, flat(In), in};
        return {};
    }
    static constexpr dims output(dims) { return flat(Out); }
    static constexpr tensor_list params(dims) {
        return {2, {{"weight", 2, {Out, In}}, {"bias", 1, {Out}}}};
    }
    /// PyTorch's default: U(-1/sqrt(In), 1/sqrt(In)) for weight and bias.
    static void init(dims, float* p, float*, rng& g) {
        const float b = 1.0f / std::sqrt(static_cast<float>(In));
        for (std::size_t i = 0; i < Out * In + Out; ++i) p[i] = g.uniform(-b, b);
    }
};

}  // namespace ctnn
