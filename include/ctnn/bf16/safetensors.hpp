// Saving a bf16 net (bf16/net.hpp) as safetensors: the tensors the net keeps as bf16 values
// (is_bf16_tensor) as BF16, exactly (their low 16 bits are zero); counters (num_batches_tracked)
// as I64; everything else F32; in the data section counters first and BF16 last (alignment). The names and metadata are save_safetensors's for the fp32
// net (io/safetensors/net.hpp), plus "ctnn_bf16": "weights", so the file loads with
// load_safetensors (which converts BF16 to float) into the bf16 net or into the fp32 net, and
// into PyTorch. The file is written atomically (io/atomic_file.hpp).
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../backends/bf16/convert.hpp"
#include "../error.hpp"
#include "../io/atomic_file.hpp"
#include "../io/safetensors/net.hpp"
#include "../layer.hpp"

namespace ctnn::bf16_detail {

/// Whether a net's tensor is stored as bf16: weights of rank >= 2.
inline bool is_bf16_tensor(const tensor_desc& d, tensor_kind k) {
    return k == tensor_kind::parameter && d.name == "weight" && d.rank >= 2;
}

/// The bytes of the file: header (JSON, padded to 8 bytes) and data, as safetensors::encode.
template <class Net>
std::vector<char> file_bytes(const Net& net) {
    nlohmann::json header = nlohmann::json::object();
    const dims in = Net::shapes[0];
    header["__metadata__"] = std::map<std::string, std::string>{
        {"format", "pt"},
        {"producer", "ctnn " CTNN_VERSION_STRING},
        {"ctnn_input", nlohmann::json(std::vector<std::size_t>(in.d, in.d + in.rank)).dump()},
        {"ctnn_layers", ctnn::detail::describe_layers<Net>()},
        {"ctnn_bf16", "weights"}};
    std::vector<char> data;
    const auto append = [&](std::uint64_t v, int bytes) {
        for (int i = 0; i < bytes; ++i) data.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    };
    // counters, then F32, then BF16 tensors: each starts aligned to its element size
    for (const int phase : {0, 1, 2})
        net.for_each_tensor([&](const std::string& name, const tensor_desc& d, const float* p, tensor_kind k) {
            const bool counter = ctnn::detail::is_counter(d.name), half = is_bf16_tensor(d, k);
            if ((counter ? 0 : half ? 2 : 1) != phase) return;
            const std::size_t begin = data.size();
            for (std::size_t i = 0; i < d.size(); ++i) {
                if (counter) append(static_cast<std::uint64_t>(static_cast<std::int64_t>(std::llround(p[i]))), 8);
                else if (half) append(round(p[i]), 2);
                else append(std::bit_cast<std::uint32_t>(p[i]), 4);
            }
            header[name] = {{"dtype", counter ? "I64" : half ? "BF16" : "F32"},
                            {"shape", std::vector<std::size_t>(d.shape, d.shape + d.rank)},
                            {"data_offsets", {begin, data.size()}}};
        });
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::vector<char> out;
    out.reserve(8 + text.size() + data.size());
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((std::uint64_t(text.size()) >> (8 * i)) & 0xFF));
    out.insert(out.end(), text.begin(), text.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

template <class Net>
void save(const Net& net, const std::string& path) {
    const std::vector<char> bytes = bf16_detail::file_bytes(net);
    ctnn::detail::write_file_atomically(path, bytes, "ctnn::bf16_net::save", "safetensors file");
}

}  // namespace ctnn::bf16_detail
