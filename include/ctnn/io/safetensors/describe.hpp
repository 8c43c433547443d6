// The structured description of a net that ctnn writes into a safetensors file's "__metadata__"
// (key "ctnn_layers", a JSON array; "ctnn_input" holds the input shape): per layer its index,
// kind, hyper-parameters by PyTorch's keyword names (layer.hpp), input and output shapes, whether
// it is trainable, and its name() for people; a block (Chain, Residual, Concat) lists its children
// the same way under "children", each with its name in the block ("child": "0", "body", ...). tools/safetensors_to_torch.py rebuilds the PyTorch
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

/// One layer on input `in`: kind, hyper-parameters, shapes, trainable, name; a block also lists
/// its children (each with its "name" in the block: "0", "body", ...) under "children".
template <class L>
nlohmann::json describe_layer(dims in) {
    nlohmann::json j = {{"kind", std::string(L::kind)},
                        {"hparams", json_of(L::hparams())},
                        {"in", dims_vector(in)},
                        {"out", dims_vector(L::output(in))},
                        {"trainable", bool(L::trainable)},
                        {"name", L::name()}};
    if constexpr (block<L>) {
        nlohmann::json children = nlohmann::json::array();
        L::for_each_child(in, [&]<class C>(std::string_view name, dims cin) {
            nlohmann::json c = describe_layer<C>(cin);
            c["child"] = std::string(name);
            children.push_back(std::move(c));
        });
        j["children"] = std::move(children);
    }
    return j;
}

/// The "ctnn_layers" JSON text of a net.
template <class Net>
std::string describe_layers() {
    using P = typename Net::plan_type;
    nlohmann::json layers = nlohmann::json::array();
    for_each_index<P::depth>([&]<std::size_t I>() {
        nlohmann::json j = describe_layer<typename P::template layer_type<I>>(P::shapes[I]);
        j["index"] = I;
        layers.push_back(std::move(j));
    });
    return layers.dump();
}

}  // namespace ctnn::detail
