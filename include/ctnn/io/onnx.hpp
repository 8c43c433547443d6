// ctnn::save_onnx(net, path): a net as an ONNX model (opset 17, IR version 8), for onnxruntime
// and the other tools that read ONNX. Optional: not part of <ctnn/ctnn.hpp> nor <ctnn/io.hpp>,
// because it needs ONNX's protobuf classes (Debian: libonnx-dev, libprotobuf-dev; compile with
// -DONNX_ML=1 -DONNX_NAMESPACE=onnx, link -lonnx_proto -lprotobuf, or CMake's ONNX::onnx_proto).
//
//   #include <ctnn/io/onnx.hpp>
//   ctnn::save_onnx(net, "net.onnx");           // atomic, like save_safetensors
//
// The model: one input "input" [N, ...input shape] (N is the dynamic batch), one output (named
// by the last layer's path, e.g. "7"); the weights are initializers under ctnn's (PyTorch's) tensor names ("3.0.0.body.0.weight").
// Each layer is a node (or a few: SqueezeExcite, GlobalAvgPool, SiLU, GELU) named by its path
// in the net ("3.0.0.body.1"; a layer's helper nodes "<path>/<what>"), which is how
// tools/onnx2ctnn rebuilds the Chains: importing an exported net gives back its type (see
// docs/deploy.md for the exceptions). Residual is an Add(body, shortcut), Concat a Concat on
// axis 1; a Chain has no node of its own. Inference semantics: BatchNorm uses the running
// statistics, Dropout is ONNX's Dropout (the identity outside training).
#pragma once
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <onnx/onnx_pb.h>

#include "../error.hpp"
#include "../layer.hpp"
#include "../sequential.hpp"
#include "atomic_file.hpp"

namespace ctnn {
namespace detail::onnx_export {

/// Builds one GraphProto: nodes whose output value has the node's name (names are paths, so
/// unique), initializers taken from the net's tensors by name.
struct graph_writer {
    onnx::GraphProto& g;
    std::map<std::string, std::pair<tensor_desc, const float*>, std::less<>> tensors;

    /// A node `op` named `name` (also its output's name) on `inputs`; returns it for attributes.
    onnx::NodeProto& node(std::string_view op, const std::string& name, std::initializer_list<std::string> inputs) {
        onnx::NodeProto& n = *g.add_node();
        n.set_op_type(std::string(op));
        n.set_name(name);
        for (const std::string& i : inputs) n.add_input(i);
        n.add_output(name);
        return n;
    }
    /// The net's tensor `name` as an initializer (once); returns its name.
    std::string weight(const std::string& name) {
        auto it = tensors.find(name);
        if (it == tensors.end()) throw error("ctnn::save_onnx: the net has no tensor \"" + name + "\"");
        const auto& [desc, data] = it->second;
        if (data != nullptr) {
            add_floats(name, std::vector<std::int64_t>(desc.shape, desc.shape + desc.rank), {data, desc.size()});
            it->second.second = nullptr;  // written
        }
        return name;
    }
    std::string constant(const std::string& name, std::vector<std::int64_t> shape, std::vector<float> values) {
        add_floats(name, std::move(shape), values);
        return name;
    }
    void add_floats(const std::string& name, std::vector<std::int64_t> shape, std::span<const float> values) {
        onnx::TensorProto& t = *g.add_initializer();
        t.set_name(name);
        t.set_data_type(onnx::TensorProto::FLOAT);
        for (std::int64_t d : shape) t.add_dims(d);
        t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    }
};

inline void attr(onnx::NodeProto& n, const char* name, std::vector<std::int64_t> v) {
    onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::INTS);
    for (std::int64_t x : v) a.add_ints(x);
}
inline void attr(onnx::NodeProto& n, const char* name, std::int64_t v) {
    onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(v);
}
inline void attr(onnx::NodeProto& n, const char* name, float v) {
    onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::FLOAT);
    a.set_f(v);
}
inline void attr(onnx::NodeProto& n, const char* name, const char* v) {
    onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::STRING);
    a.set_s(v);
}

/// A hyper-parameter of L by its PyTorch keyword (layer.hpp's hparams()), as num / den.
template <class L>
constexpr double hp(std::string_view name) {
    const hparam_list h = L::hparams();
    for (std::size_t i = 0; i < h.count; ++i)
        if (h.p[i].name == name) return double(h.p[i].num) / double(h.p[i].den);
    return 0;
}
template <class L>
std::int64_t hpi(std::string_view name) {
    return static_cast<std::int64_t>(hp<L>(name));
}

template <class L>
std::string emit(graph_writer& w, const std::string& path, dims in, const std::string& x);

/// Conv, ConvTranspose (their 2-D attributes from the layer's hyper-parameters).
template <class L>
std::string emit_conv(graph_writer& w, const std::string& path, const std::string& x) {
    const std::int64_t k = hpi<L>("kernel_size"), s = hpi<L>("stride"), p = hpi<L>("padding");
    onnx::NodeProto& n = w.node(L::kind, path, {x, w.weight(path + ".weight"), w.weight(path + ".bias")});
    attr(n, "kernel_shape", {k, k});
    attr(n, "strides", {s, s});
    attr(n, "pads", {p, p, p, p});
    if constexpr (L::kind == "Conv") {
        attr(n, "dilations", {hpi<L>("dilation"), hpi<L>("dilation")});
        attr(n, "group", hpi<L>("groups"));
    } else {
        attr(n, "output_padding", {hpi<L>("output_padding"), hpi<L>("output_padding")});
    }
    return path;
}

/// The parameter-free layers that are one ONNX node, or a few.
template <class L>
std::string emit_simple(graph_writer& w, const std::string& path, const std::string& x) {
    constexpr std::string_view k = L::kind;
    if constexpr (k == "ReLU" || k == "Sigmoid" || k == "Tanh" || k == "Identity") {
        w.node(k == "ReLU" ? "Relu" : k, path, {x});
    } else if constexpr (k == "LeakyReLU") {
        attr(w.node("LeakyRelu", path, {x}), "alpha", float(hp<L>("negative_slope")));
    } else if constexpr (k == "Hardswish") {
        w.node("HardSwish", path, {x});
    } else if constexpr (k == "Hardsigmoid") {
        onnx::NodeProto& n = w.node("HardSigmoid", path, {x});
        attr(n, "alpha", 1.0f / 6.0f);
        attr(n, "beta", 0.5f);
    } else if constexpr (k == "SiLU") {
        w.node("Mul", path, {x, w.node("Sigmoid", path + "/sigmoid", {x}).output(0)});
    } else if constexpr (k == "GELU") {  // x * 0.5 * (1 + erf(x / sqrt 2)): opset 17 has no Gelu
        const std::string& d = w.node("Div", path + "/div", {x, w.constant(path + "/sqrt2", {}, {std::sqrt(2.0f)})}).output(0);
        const std::string& e = w.node("Erf", path + "/erf", {d}).output(0);
        const std::string& a = w.node("Add", path + "/add", {e, w.constant(path + "/one", {}, {1.0f})}).output(0);
        const std::string& m = w.node("Mul", path + "/mul", {x, a}).output(0);
        w.node("Mul", path, {m, w.constant(path + "/half", {}, {0.5f})});
    } else if constexpr (k == "MaxPool" || k == "AvgPool") {
        onnx::NodeProto& n = w.node(k == "MaxPool" ? "MaxPool" : "AveragePool", path, {x});
        attr(n, "kernel_shape", {hpi<L>("kernel_size"), hpi<L>("kernel_size")});
        attr(n, "strides", {hpi<L>("stride"), hpi<L>("stride")});
    } else if constexpr (k == "GlobalAvgPool") {
        attr(w.node("Flatten", path + "/flatten", {w.node("GlobalAveragePool", path, {x}).output(0)}), "axis", std::int64_t{1});
        return path + "/flatten";
    } else if constexpr (k == "Upsample") {
        const float s = float(hp<L>("scale_factor"));
        onnx::NodeProto& n = w.node("Resize", path, {x, "", w.constant(path + "/scales", {4}, {1, 1, s, s})});
        attr(n, "mode", "nearest");
        attr(n, "coordinate_transformation_mode", "asymmetric");
        attr(n, "nearest_mode", "floor");
    } else if constexpr (k == "Flatten") {  // (of a flat shape too: ONNX's Flatten then keeps it)
        attr(w.node("Flatten", path, {x}), "axis", std::int64_t{1});
    } else if constexpr (k == "Dropout") {
        w.node("Dropout", path, {x, w.constant(path + "/ratio", {}, {float(hp<L>("p"))})});
    } else if constexpr (k == "Softmax") {
        attr(w.node("Softmax", path, {x}), "axis", std::int64_t{1});
    } else {
        throw error("ctnn::save_onnx: layer " + std::string(path) + " (" + L::name() + ") has no ONNX form");
    }
    return path;
}

/// torchvision's SqueezeExcitation as ONNX nodes: x * Gate(fc2(Act(fc1(GlobalAveragePool(x))))).
template <class L>
std::string emit_squeeze_excite(graph_writer& w, const std::string& path, dims in, const std::string& x) {
    const auto fc = [&](const char* which, const std::string& v) {
        const std::string p = path + "." + which;
        onnx::NodeProto& n = w.node("Conv", path + "/" + which, {v, w.weight(p + ".weight"), w.weight(p + ".bias")});
        attr(n, "kernel_shape", {1, 1});
        return path + "/" + which;
    };
    const dims squeezed{3, {in.d[0], 1, 1}};
    std::string v = w.node("GlobalAveragePool", path + "/pool", {x}).output(0);
    v = emit<typename L::act_type>(w, path + "/act", squeezed, fc("fc1", v));
    v = emit<typename L::gate_type>(w, path + "/gate", squeezed, fc("fc2", v));
    w.node("Mul", path, {x, v});
    return path;
}

/// A Chain's children in turn; a Residual's two branches and an Add; a Concat's branches and a Concat.
template <class L>
std::string emit_block(graph_writer& w, const std::string& path, dims in, const std::string& x) {
    const std::string prefix = path + ".";
    if constexpr (L::kind == "Chain") {
        std::string v = x;
        L::for_each_child(in, [&]<class C>(std::string_view name, dims cin) { v = emit<C>(w, prefix + std::string(name), cin, v); });
        return v;
    } else {
        std::vector<std::string> outs;
        L::for_each_child(in, [&]<class C>(std::string_view name, dims cin) { outs.push_back(emit<C>(w, prefix + std::string(name), cin, x)); });
        onnx::NodeProto& n = w.node(L::kind == "Residual" ? "Add" : "Concat", path, {});
        for (const std::string& o : outs) n.add_input(o);
        if constexpr (L::kind == "Concat") attr(n, "axis", std::int64_t{1});
        else static_assert(L::kind == "Residual", "ctnn::save_onnx: a block other than Chain, Residual, Concat");
        return path;
    }
}

/// Layer L at `path` on value x with per-sample input shape `in`; returns its output value.
template <class L>
std::string emit(graph_writer& w, const std::string& path, dims in, const std::string& x) {
    using U = unfrozen_t<L>;  // a frozen layer is its layer here
    if constexpr (block<U>) {
        return emit_block<U>(w, path, in, x);
    } else if constexpr (U::kind == "Conv" || U::kind == "ConvTranspose") {
        return emit_conv<U>(w, path, x);
    } else if constexpr (U::kind == "Linear") {
        attr(w.node("Gemm", path, {x, w.weight(path + ".weight"), w.weight(path + ".bias")}), "transB", std::int64_t{1});
        return path;
    } else if constexpr (U::kind == "BatchNorm") {
        const std::string p = path + ".";
        attr(w.node("BatchNormalization", path, {x, w.weight(p + "weight"), w.weight(p + "bias"), w.weight(p + "running_mean"),
                                                 w.weight(p + "running_var")}),
             "epsilon", 1e-5f);
        return path;
    } else if constexpr (U::kind == "SqueezeExcite") {
        return emit_squeeze_excite<U>(w, path, in, x);
    } else {
        return emit_simple<U>(w, path, x);
    }
}

inline void value_info(onnx::ValueInfoProto& v, const std::string& name, const dims& d) {
    v.set_name(name);
    onnx::TypeProto_Tensor& t = *v.mutable_type()->mutable_tensor_type();
    t.set_elem_type(onnx::TensorProto::FLOAT);
    t.mutable_shape()->add_dim()->set_dim_param("N");
    for (std::size_t i = 0; i < d.rank; ++i) t.mutable_shape()->add_dim()->set_dim_value(std::int64_t(d.d[i]));
}

}  // namespace detail::onnx_export

/// The net as an ONNX ModelProto (what save_onnx writes).
template <class Net>
onnx::ModelProto to_onnx(const Net& net) {
    using P = typename Net::plan_type;
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.set_producer_name("ctnn");
    m.add_opset_import()->set_version(17);
    onnx::GraphProto& g = *m.mutable_graph();
    g.set_name("ctnn");
    detail::onnx_export::graph_writer w{g, {}};
    net.for_each_tensor([&](const std::string& name, const tensor_desc& d, const float* data, tensor_kind) {
        if (d.name != "num_batches_tracked") w.tensors.emplace(name, std::pair{d, data});  // (training state)
    });
    std::string v = "input";
    detail::for_each_index<P::depth>([&]<std::size_t I>() {
        v = detail::onnx_export::emit<typename P::template layer_type<I>>(w, std::to_string(I), P::shapes[I], v);
    });
    // the output is the last node's value, named by its path (an Identity to rename it would
    // come back from tools/onnx2ctnn as one more layer)
    detail::onnx_export::value_info(*g.add_input(), "input", P::shapes[0]);
    detail::onnx_export::value_info(*g.add_output(), v, P::shapes[P::depth]);
    return m;
}

/// Writes the net as an ONNX file, atomically (atomic_file.hpp). Throws ctnn::error.
template <class Net>
void save_onnx(const Net& net, const std::string& path) {
    std::string bytes;
    if (!to_onnx(net).SerializeToString(&bytes)) throw error("ctnn::save_onnx: cannot serialise the model for \"" + path + "\"");
    detail::write_file_atomically(path, std::span<const char>(bytes.data(), bytes.size()), "ctnn::save_onnx", "ONNX model");
}

}  // namespace ctnn
