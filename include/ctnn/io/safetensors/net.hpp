// safetensors and nets: PyTorch interop with nn.Sequential state_dict names.
//
//   ctnn::save_safetensors(net, "net.safetensors");            // F32; num_batches_tracked as I64
//   ctnn::load_safetensors(net, "net.safetensors");            // F32, F16, BF16 (and F64) on load
//   ctnn::load_safetensors(net, path, {.layers = 6});          // only layers 0..5 (a trunk)
//   ctnn::load_safetensors(net, path, {.strict = false});      // like load_state_dict(strict=False)
//   ctnn::load_safetensors(net, path, {.rename = {{"features.", "0."}, {"classifier.", "3."}}});
//
// Names are "<layer index>.<tensor>" as in the state_dict of the equivalent nn.Sequential
// ("0.weight", "1.running_mean", ...), so such a state_dict loads as is. ctnn's GlobalAvgPool is
// one layer where PyTorch needs two modules (AdaptiveAvgPool2d(1), Flatten()): write those as one
// nested nn.Sequential in PyTorch to keep the indices equal.
//
// Loading checks every tensor of the net against the file first and changes nothing unless all
// of them fit; the error lists each tensor that is missing, extra, of the wrong shape or dtype, or
// holding values no net holds (NaN, infinity, a negative running variance). It returns what it
// loaded, what was missing and what was unexpected (load_report); matching nothing is an error.
// Saving writes the net's description into "__metadata__" (describe.hpp), from which
// tools/safetensors_to_torch.py rebuilds the PyTorch module.
#pragma once
#include <algorithm>
#include <cmath>
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
    /// For files whose names are not the equivalent nn.Sequential's: (file prefix, net prefix)
    /// pairs; a file tensor whose name starts with a file prefix (the first such pair) is taken
    /// as the net's tensor with that prefix replaced ("backbone.conv1.weight" with
    /// {"backbone.conv1.", "0."} is "0.weight"). A whole name is a prefix too. Two file tensors
    /// that come to the same name are an error.
    std::vector<std::pair<std::string, std::string>> rename;
    /// Match by position instead of by name: the file's tensors in the order of their data (the
    /// order they were written) are the net's tensors in its order (within `layers`), whatever
    /// their names; shapes must still agree. For a file whose writer kept the module order and
    /// whose names mean nothing to ctnn. (Not with `rename`.)
    bool by_order = false;
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

/// What load_safetensors did, by tensor name: `loaded`, the net's tensors it set; `missing`, the
/// net's tensors the file lacks (they kept their values); `unexpected`, the file's tensors the net
/// lacks (ignored). missing and unexpected are empty after a strict load (either is an error
/// there). Tensors of layers at or past load_options::layers appear in none of the three.
struct load_report {
    std::vector<std::string> loaded, missing, unexpected;
};

namespace detail {

/// The problems a load found, listed up to a limit so that a file of 65536 tensors cannot make a
/// message of megabytes; the count is always exact.
struct load_problems {
    static constexpr std::size_t listed = 24;
    std::vector<std::string> lines;
    std::size_t count = 0;
    void add(std::string line) {
        if (count++ < listed) lines.push_back(std::move(line));
    }
    [[noreturn]] void raise(const std::string& source) const {
        std::string msg = "ctnn::load_safetensors: \"" + source + "\" does not fit this net (" + std::to_string(count) +
                          (count == 1 ? " problem):" : " problems):");
        for (const auto& p : lines) msg += "\n  " + p;
        if (count > lines.size()) msg += "\n  ... and " + std::to_string(count - lines.size()) + " more";
        throw error(msg);
    }
};

/// One tensor to load: where it is in the file, where it goes in the net, what it is.
struct load_item {
    const safetensors::tensor_info* from;
    float* to;
    std::string_view kind;  // the layer's tensor name: "weight", "running_var", ...
    std::string name;       // the net's name for it
};

/// Which dtypes a net tensor accepts: floats for parameters and statistics (an integer tensor
/// there is a wrong file, not a value to convert); the counter also I64 and I32, as PyTorch
/// writes it.
inline bool dtype_fits(safetensors::dtype t, bool counter) {
    using safetensors::dtype;
    const bool is_float = t == dtype::F32 || t == dtype::F16 || t == dtype::BF16 || t == dtype::F64;
    return is_float || (counter && (t == dtype::I64 || t == dtype::I32));
}

/// Matches the net's tensors (within opt.layers) to the file's: fills `plan` and `report`, and
/// `problems` with every tensor of the wrong shape or dtype (and, when strict, missing or extra).
/// The name the net knows a file tensor by (load_options::rename applied).
inline std::string renamed(const std::string& name, const load_options& opt) {
    for (const auto& [from, to] : opt.rename)
        if (name.compare(0, from.size(), from) == 0) return to + name.substr(from.size());
    return name;
}

/// The file's tensors by the names the net knows them by: renamed, or (by_order) the k-th in data
/// order as the net's k-th tensor `net_names[k]` (the file's tensors past the net's keep their names).
inline std::map<std::string, const safetensors::tensor_info*> renamed_tensors(const safetensors::file& f, const load_options& opt,
                                                                               const std::vector<std::string>& net_names,
                                                                               load_problems& problems) {
    std::map<std::string, const safetensors::tensor_info*> by_name;
    if (opt.by_order) {
        if (!opt.rename.empty()) throw error("ctnn::load_safetensors: by_order and rename cannot be combined");
        std::vector<const safetensors::tensor_info*> in_order;
        for (const auto& t : f.tensors()) in_order.push_back(&t);
        std::stable_sort(in_order.begin(), in_order.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
        for (std::size_t k = 0; k < in_order.size(); ++k) by_name.emplace(k < net_names.size() ? net_names[k] : in_order[k]->name, in_order[k]);
        return by_name;
    }
    for (const auto& t : f.tensors()) {
        const std::string name = renamed(t.name, opt);
        const auto [it, fresh] = by_name.emplace(name, &t);
        if (!fresh)
            problems.add("ambiguous    " + name + ": both " + safetensors::detail::clip(it->second->name) + " and " +
                         safetensors::detail::clip(t.name) + " in the file come to this name");
    }
    return by_name;
}

template <class Net>
void match_tensors(Net& net, const safetensors::file& f, const load_options& opt, std::vector<load_item>& plan,
                   load_report& report, load_problems& problems) {
    using safetensors::tensor_info;
    std::vector<std::string> net_names;
    net.for_each_tensor([&](const std::string& name, const tensor_desc&, float*, tensor_kind) {
        const auto layer = layer_index_of(name);
        if (!layer || *layer < opt.layers) net_names.push_back(name);
    });
    const auto file_tensors = renamed_tensors(f, opt, net_names, problems);
    std::set<std::string> wanted;
    net.for_each_tensor([&](const std::string& name, const tensor_desc& d, float* data, tensor_kind) {
        const auto layer = layer_index_of(name);
        if (layer && *layer >= opt.layers) return;
        wanted.insert(name);
        const auto found_it = file_tensors.find(name);
        const tensor_info* t = found_it == file_tensors.end() ? nullptr : found_it->second;
        const bool counter = is_counter(d.name);
        const std::string want = std::string(counter ? "I64 " : "F32 ") + desc_shape(d);
        if (!t) {
            if (opt.strict) problems.add("missing      " + name + ": expected " + want + ", not in the file");
            else report.missing.push_back(name);
            return;
        }
        const bool shape_ok = t->shape.size() == d.rank && std::equal(t->shape.begin(), t->shape.end(), d.shape);
        const std::string found = std::string(safetensors::to_string(t->type)) + " " + safetensors::shape_string(t->shape);
        if (!shape_ok) return problems.add("wrong shape  " + name + ": expected " + want + ", found " + found);
        if (!dtype_fits(t->type, counter))
            return problems.add("wrong dtype  " + name + ": expected " + want +
                                (counter ? " (or I32, or a float type)" : " (or F16, BF16, F64)") + ", found " + found);
        plan.push_back({t, data, d.name, name});
    });
    std::map<const tensor_info*, std::string> net_name_of;
    for (const auto& [name, tp] : file_tensors) net_name_of.emplace(tp, name);
    for (const tensor_info& t : f.tensors()) {
        const auto it = net_name_of.find(&t);
        const std::string name = it != net_name_of.end() ? it->second : renamed(t.name, opt);
        if (wanted.count(name)) continue;
        const auto layer = layer_index_of(name);
        if (layer && *layer >= opt.layers) continue;
        if (opt.strict)
            problems.add("extra        " + safetensors::detail::clip(t.name) + ": found " +
                         std::string(safetensors::to_string(t.type)) + " " + safetensors::shape_string(t.shape) +
                         ", not in the net");
        else report.unexpected.push_back(t.name);
    }
    if (!wanted.empty() && plan.empty() && problems.count == 0)
        throw error("ctnn::load_safetensors: \"" + f.source() + "\" has none of this net's " + std::to_string(wanted.size()) +
                    " tensors (it holds " + std::to_string(f.tensors().size()) +
                    "; are its names those of the equivalent nn.Sequential, \"0.weight\", ...?)");
}

/// Converts every planned tensor into `staged` (one block, in plan order) and adds a problem for
/// each value no trained net holds: NaN or infinity anywhere (a file with them is a bug upstream,
/// not weights), and a negative BatchNorm running variance.
inline void stage_values(const safetensors::file& f, const std::vector<load_item>& plan, std::vector<float>& staged,
                         load_problems& problems) {
    std::size_t total = 0;
    for (const auto& it : plan) total += it.from->numel();
    staged.resize(total);
    std::size_t at = 0;
    for (const auto& it : plan) {
        const std::size_t n = it.from->numel();
        f.to_floats(*it.from, staged.data() + at);
        const bool variance = it.kind == "running_var";
        for (std::size_t i = 0; i < n; ++i) {
            const float v = staged[at + i];
            if (std::isfinite(v) && !(variance && v < 0)) continue;
            problems.add("bad value    " + it.from->name + ": element " + std::to_string(i) + " is " + std::to_string(v) +
                         (std::isfinite(v) ? " (a variance is never negative)" : " (not a finite number)"));
            break;  // one line per tensor
        }
        at += n;
    }
}

}  // namespace detail

/// Loads a net's tensors from a parsed file. Validates everything first: on failure it throws a
/// ctnn::error listing each tensor that is missing, extra, of the wrong shape or dtype (name,
/// expected, found) or holding a NaN, an infinity or a negative running variance, and the net is
/// left unchanged. A load that would set none of the net's tensors is an error, strict or not.
template <class Net>
    requires is_sequential<Net>
load_report load_safetensors(Net& net, const safetensors::file& f, const load_options& opt = {}) {
    load_report report;
    detail::load_problems problems;
    std::vector<detail::load_item> plan;
    detail::match_tensors(net, f, opt, plan, report, problems);
    std::vector<float> staged;
    if (problems.count == 0) detail::stage_values(f, plan, staged, problems);
    if (problems.count) problems.raise(f.source());
    std::size_t at = 0;  // from here nothing can fail: every value was converted and checked
    for (const auto& it : plan) {
        const std::size_t n = it.from->numel();
        std::copy(staged.begin() + static_cast<std::ptrdiff_t>(at), staged.begin() + static_cast<std::ptrdiff_t>(at + n), it.to);
        at += n;
        report.loaded.push_back(it.name);
    }
    return report;
}

/// Loads a net's tensors from a safetensors file (see load_safetensors(net, file, options)).
template <class Net>
    requires is_sequential<Net>
load_report load_safetensors(Net& net, const std::string& path, const load_options& opt = {}) {
    return load_safetensors(net, safetensors::file::read(path), opt);
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
