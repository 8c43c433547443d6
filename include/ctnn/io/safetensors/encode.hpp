// Writing safetensors files: any named float tensors (encode, save), atomically (atomic_file.hpp).
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../error.hpp"
#include "../atomic_file.hpp"

namespace ctnn {

namespace safetensors {

/// A tensor to write: its name, shape and numel floats, stored as F32, or as I64 (rounded)
/// when `as_i64` (counters such as num_batches_tracked).
struct tensor_view {
    std::string name;
    std::vector<std::size_t> shape;
    const float* data = nullptr;
    bool as_i64 = false;
};

/// The bytes of a safetensors file holding `tensors` in the order given, plus `metadata`.
inline std::vector<char> encode(std::span<const tensor_view> tensors, const std::map<std::string, std::string>& metadata = {}) {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::vector<char> data;
    const auto append = [&](std::uint64_t v, int bytes) {
        for (int i = 0; i < bytes; ++i) data.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    };
    for (const tensor_view& t : tensors) {
        if (t.name.empty() || t.name == "__metadata__" || header.contains(t.name))
            throw error("ctnn safetensors: cannot write a tensor named \"" + t.name + "\" (empty, reserved or repeated)");
        std::size_t n = 1;
        for (std::size_t d : t.shape) n *= d;
        const std::size_t begin = data.size();
        for (std::size_t i = 0; i < n; ++i) {
            if (t.as_i64) append(static_cast<std::uint64_t>(static_cast<std::int64_t>(std::llround(t.data[i]))), 8);
            else append(std::bit_cast<std::uint32_t>(t.data[i]), 4);
        }
        header[t.name] = {{"dtype", t.as_i64 ? "I64" : "F32"}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned
    std::vector<char> out;
    out.reserve(8 + text.size() + data.size());
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((std::uint64_t(text.size()) >> (8 * i)) & 0xFF));
    out.insert(out.end(), text.begin(), text.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}


/// Saves named float tensors (inputs, outputs, anything) to `path` atomically.
inline void save(const std::string& path, std::span<const tensor_view> tensors,
                 const std::map<std::string, std::string>& metadata = {}) {
    const std::vector<char> bytes = encode(tensors, metadata);
    detail::write_file_atomically(path, bytes, "ctnn::safetensors::save", "safetensors file");
}

}  // namespace safetensors
}  // namespace ctnn
