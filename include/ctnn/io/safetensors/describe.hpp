// The structured description of a net that ctnn writes into a safetensors file's "__metadata__"
// (key "ctnn_layers", a JSON array; "ctnn_input" holds the input shape): per layer its index,
// kind, hyper-parameters by PyTorch's keyword names (layer.hpp), input and output shapes, whether
// it is trainable, and its name() for people. tools/safetensors_to_torch.py rebuilds the PyTorch
// module from it: a layer's kind picks the module and its hyper-parameters are the module's
// arguments, so a layer defined in user code needs no parsing of its name.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../layer.hpp"
#include "../../plan.hpp"

namespace ctnn::detail {

inline nlohmann::json json_of(const hparam_list& h) {
    nlohmann::json o = nlohmann::json::object();
    for (std::size_t i = 0; i < h.count; ++i) {
        const hparam& p = h.p[i];
        if (p.den == 1) o[std::string(p.name)] = p.num;
        else o[std::string(p.name)] = static_cast<double>(p.num) / static_cast<double>(p.den);
    }
    return o;
}

inline std::vector<std::size_t> dims_vector(const dims& d) { return std::vector<std::size_t>(d.d, d.d + d.rank); }

/// The "ctnn_layers" JSON text of a net.
template <class Net>
std::string describe_layers() {
    using P = typename Net::plan_type;
    nlohmann::json layers = nlohmann::json::array();
    for_each_index<P::depth>([&]<std::size_t I>() {
        using L = typename P::template layer_type<I>;
        layers.push_back({{"index", I},
                          {"kind", std::string(L::kind)},
                          {"hparams", json_of(L::hparams())},
                          {"in", dims_vector(P::shapes[I])},
                          {"out", dims_vector(P::shapes[I + 1])},
                          {"trainable", bool(L::trainable)},
                          {"name", L::name()}});
    });
    return layers.dump();
}

}  // namespace ctnn::detail
