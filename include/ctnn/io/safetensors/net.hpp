// safetensors and nets: PyTorch interop with nn.Sequential state_dict names.
//
//   ctnn::save_safetensors(net, "net.safetensors");            // F32; num_batches_tracked as I64
//   ctnn::load_safetensors(net, "net.safetensors");            // F32, F16, BF16 (and F64) on load
//   ctnn::load_safetensors(net, path, {.layers = 6});          // only layers 0..5 (a trunk)
//   ctnn::load_safetensors(net, path, {.strict = false});      // like load_state_dict(strict=False)
//
// Names are "<layer index>.<tensor>" as in the state_dict of the equivalent nn.Sequential
// ("0.weight", "1.running_mean", ...), so such a state_dict loads as is. ctnn's GlobalAvgPool is
// one layer where PyTorch needs two modules (AdaptiveAvgPool2d(1), Flatten()): write those as one
// nested nn.Sequential in PyTorch to keep the indices equal.
//
// Loading checks every tensor of the net against the file first and changes nothing unless all
// of them fit; the error lists each tensor that is missing, extra or of the wrong shape or dtype.
// Saving writes the net's description into "__metadata__" (describe.hpp), from which
// tools/safetensors_to_torch.py rebuilds the PyTorch module.
#pragma once
#include <algorithm>
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../error.hpp"
#include "../../layer.hpp"
#include "../../sequential.hpp"
#include "../atomic_file.hpp"
#include "describe.hpp"
#include "encode.hpp"
#include "format.hpp"

#ifndef CTNN_VERSION_STRING
#define CTNN_VERSION_STRING "0.1.0"
#endif

namespace ctnn {

/// How load_safetensors matches a file to a net.
struct load_options {
    /// true: the file must hold exactly the net's tensors (within `layers`). false: tensors the
    /// net lacks are ignored and tensors the file lacks keep their values, as PyTorch's
    /// load_state_dict(strict=False); a tensor present in both must still have the same shape.
    bool strict = true;
    /// Load only layers 0 .. layers-1 (e.g. a trained trunk under a new head); the file's tensors
    /// of later layers are ignored and the net's later layers keep their values.
    std::size_t layers = std::numeric_limits<std::size_t>::max();
};

namespace detail {

/// Integer counters among the tensors: stored as I64 in a file, as PyTorch does.
inline bool is_counter(std::string_view tensor_name) { return tensor_name == "num_batches_tracked"; }

/// The layer index a state_dict name starts with ("12.weight" -> 12), if any.
inline std::optional<std::size_t> layer_index_of(std::string_view name) {
    std::size_t i = 0, v = 0;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9' && i < 18) v = v * 10 + std::size_t(name[i++] - '0');
    if (i == 0 || i >= name.size() || name[i] != '.') return std::nullopt;
    return v;
}

inline std::string desc_shape(const tensor_desc& d) {
    return safetensors::shape_string(std::span<const std::size_t>(d.shape, d.rank));
}
}  // namespace detail

/// Loads a net's tensors from a parsed file. Validates everything first: on failure it throws a
/// ctnn::error listing each tensor that is missing, extra, or of the wrong shape or dtype (name,
/// expected, found) and the net is left unchanged.
template <class Net>
    requires is_sequential<Net>
void load_safetensors(Net& net, const safetensors::file& f, const load_options& opt = {}) {
    using safetensors::tensor_info;
    std::vector<std::string> problems;
    std::vector<std::pair<const tensor_info*, float*>> plan;
    std::set<std::string> wanted;
    net.for_each_tensor([&](const std::string& name, const tensor_desc& d, float* data, tensor_kind) {
        const auto layer = detail::layer_index_of(name);
        if (layer && *layer >= opt.layers) return;
        wanted.insert(name);
        const tensor_info* t = f.find(name);
        const std::string want = std::string(detail::is_counter(d.name) ? "I64 " : "F32 ") + detail::desc_shape(d);
        if (!t) {
            if (opt.strict) problems.push_back("missing      " + name + ": expected " + want + ", not in the file");
            return;
        }
        const bool shape_ok = t->shape.size() == d.rank && std::equal(t->shape.begin(), t->shape.end(), d.shape);
        const std::string found = std::string(safetensors::to_string(t->type)) + " " + safetensors::shape_string(t->shape);
        if (!shape_ok) {
            problems.push_back("wrong shape  " + name + ": expected " + want + ", found " + found);
            return;
        }
        if (!safetensors::file::converts_to_float(t->type)) {
            problems.push_back("wrong dtype  " + name + ": expected " + want + " (or F16, BF16, F64), found " + found);
            return;
        }
        plan.emplace_back(t, data);
    });
    for (const tensor_info& t : f.tensors()) {
        if (wanted.count(t.name)) continue;
        const auto layer = detail::layer_index_of(t.name);
        if (layer && *layer >= opt.layers) continue;
        if (opt.strict)
            problems.push_back("extra        " + t.name + ": found " + std::string(safetensors::to_string(t.type)) + " " +
                               safetensors::shape_string(t.shape) + ", not in the net");
    }
    if (!problems.empty()) {
        std::string msg = "ctnn::load_safetensors: \"" + f.source() + "\" does not fit this net (" +
                          std::to_string(problems.size()) + (problems.size() == 1 ? " problem):" : " problems):");
        for (const auto& p : problems) msg += "\n  " + p;
        throw error(msg);
    }
    for (const auto& [t, data] : plan) f.to_floats(*t, data);  // cannot fail: all checked above
}

/// Loads a net's tensors from a safetensors file (see load_safetensors(net, file, options)).
template <class Net>
    requires is_sequential<Net>
void load_safetensors(Net& net, const std::string& path, const load_options& opt = {}) {
    load_safetensors(net, safetensors::file::read(path), opt);
}
/// The bytes of a safetensors file holding the net's tensors: F32, and I64 for
/// num_batches_tracked (written first, so every tensor is aligned to its element size). The
/// metadata names the producer and describes the layers (see detail::describe_layers).
template <class Net>
    requires is_sequential<Net>
std::vector<char> safetensors_bytes(const Net& net) {
    std::vector<safetensors::tensor_view> views;
    for (const bool counters : {true, false})
        net.for_each_tensor([&](const std::string& name, const tensor_desc& d, const float* p, tensor_kind) {
            if (detail::is_counter(d.name) == counters)
                views.push_back({name, std::vector<std::size_t>(d.shape, d.shape + d.rank), p, counters});
        });
    const dims in = Net::shapes[0];
    return safetensors::encode(views, {{"format", "pt"},
                                       {"producer", "ctnn " CTNN_VERSION_STRING},
                                       {"ctnn_input", nlohmann::json(std::vector<std::size_t>(in.d, in.d + in.rank)).dump()},
                                       {"ctnn_layers", detail::describe_layers<Net>()}});
}


/// Saves every parameter and buffer of the net to `path` in the safetensors format, atomically.
template <class Net>
    requires is_sequential<Net>
void save_safetensors(const Net& net, const std::string& path) {
    const std::vector<char> bytes = safetensors_bytes(net);
    detail::write_file_atomically(path, bytes, "ctnn::save_safetensors", "safetensors file");
}

}  // namespace ctnn
