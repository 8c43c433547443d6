// Weights in and out: the safetensors format, with PyTorch's nn.Sequential state_dict names.
//
//   ctnn::save_safetensors(net, "net.safetensors");            // F32; num_batches_tracked as I64
//   ctnn::load_safetensors(net, "net.safetensors");            // F32, F16, BF16 (and F64) on load
//   ctnn::load_safetensors(net, path, {.layers = 6});          // only layers 0..5 (a trunk)
//   ctnn::load_safetensors(net, path, {.strict = false});      // like load_state_dict(strict=False)
//   ctnn::copy_layers<6>(trained, fresh);                      // same, in memory, checked at compile time
//
// A file is [u64 little-endian N][N bytes of JSON header][data]. The header maps each tensor name
// to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into data), plus an optional
// "__metadata__" object of strings. Names are "<layer index>.<tensor>" as in the state_dict of
// the equivalent nn.Sequential ("0.weight", "1.running_mean", ...), so such a state_dict loads as
// is. ctnn's GlobalAvgPool is one layer where PyTorch needs two modules (AdaptiveAvgPool2d(1),
// Flatten()): write those as one nested nn.Sequential in PyTorch to keep the indices equal.
//
// Reading trusts nothing in the file: the header length is checked against the file size and a
// cap (max_header_bytes) before anything is allocated; the JSON is parsed by nlohmann-json with
// duplicate keys, nesting deeper than a header needs and over-long arrays refused; every tensor's
// dtype must be known, its shape a list of integers, and its [begin, end) inside the data, in
// order, of exactly numel × dtype size bytes, and not overlapping another tensor. Loading checks
// every tensor of the net against the file first and changes nothing unless all of them fit; the
// error lists each tensor that is missing, extra or of the wrong shape or dtype.
//
// Saving is atomic: the file is written under a temporary name in the same directory, flushed to
// disk (fsync), then renamed over `path`; a failed save leaves any old file as it was.
#pragma once
#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "../layer.hpp"
#include "../layers/frozen.hpp"
#include "../sequential.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#define CTNN_POSIX_FILES 1
#else
#include <cstdio>
#endif

#ifndef CTNN_VERSION_STRING
#define CTNN_VERSION_STRING "0.1.0"
#endif

namespace ctnn {

namespace safetensors {

/// A header larger than this is refused before it is read (real headers are kilobytes).
inline constexpr std::size_t max_header_bytes = std::size_t{100} << 20;
/// Tensors of higher rank are refused (PyTorch's conv weights have rank 4).
inline constexpr std::size_t max_rank = 8;

/// Every dtype the safetensors format defines. Only the float ones (and I64, I32 for
/// num_batches_tracked) can be loaded into a net; the others parse but are reported at load.
enum class dtype { BOOL, U8, I8, F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

namespace detail {
struct dtype_entry {
    std::string_view name;
    dtype type;
    std::size_t bytes;
};
inline constexpr dtype_entry dtypes[] = {
    {"BOOL", dtype::BOOL, 1}, {"U8", dtype::U8, 1},   {"I8", dtype::I8, 1},     {"F8_E4M3", dtype::F8_E4M3, 1},
    {"F8_E5M2", dtype::F8_E5M2, 1}, {"I16", dtype::I16, 2}, {"U16", dtype::U16, 2}, {"F16", dtype::F16, 2},
    {"BF16", dtype::BF16, 2}, {"I32", dtype::I32, 4}, {"U32", dtype::U32, 4}, {"F32", dtype::F32, 4},
    {"F64", dtype::F64, 8},   {"I64", dtype::I64, 8}, {"U64", dtype::U64, 8},
};
}  // namespace detail

inline std::string_view to_string(dtype t) {
    for (const auto& e : detail::dtypes)
        if (e.type == t) return e.name;
    return "?";
}
inline std::size_t size_of(dtype t) {
    for (const auto& e : detail::dtypes)
        if (e.type == t) return e.bytes;
    return 0;
}
inline std::optional<dtype> dtype_from(std::string_view s) {
    for (const auto& e : detail::dtypes)
        if (e.name == s) return e.type;
    return std::nullopt;
}

/// One tensor of a file, as its header describes it (already validated).
struct tensor_info {
    std::string name;
    dtype type = dtype::F32;
    std::vector<std::size_t> shape;
    std::size_t begin = 0, end = 0;  // byte range in the data section
    std::size_t numel() const {
        std::size_t n = 1;
        for (std::size_t d : shape) n *= d;
        return n;
    }
};

inline std::string shape_string(std::span<const std::size_t> s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

namespace detail {

[[noreturn]] inline void fail(std::string_view source, const std::string& what) {
    throw error("ctnn safetensors: \"" + std::string(source) + "\": " + what);
}

/// A first pass over the header with nlohmann's SAX interface: refuses duplicate keys (which a
/// DOM parse would silently merge), nesting deeper than a header has and arrays longer than a
/// shape, so the DOM built afterwards stays small. Returns false (stops) on the first problem.
class header_precheck {
public:
    using json = nlohmann::json;
    std::string problem;

    bool null() { return value(); }
    bool boolean(bool) { return value(); }
    bool number_integer(json::number_integer_t) { return value(); }
    bool number_unsigned(json::number_unsigned_t) { return value(); }
    bool number_float(json::number_float_t, const json::string_t&) { return value(); }
    bool string(json::string_t&) { return value(); }
    bool binary(json::binary_t&) { return value(); }
    bool start_object(std::size_t) {
        if (!value()) return false;
        if (stack_.size() >= 2) return refuse("objects nested deeper than a safetensors header has");
        stack_.push_back({true, 0, {}});
        return true;
    }
    bool key(json::string_t& k) {
        if (!stack_.back().keys.insert(k).second) return refuse("duplicate key \"" + k + "\"");
        return true;
    }
    bool end_object() { stack_.pop_back(); return true; }
    bool start_array(std::size_t) {
        if (!value()) return false;
        if (stack_.size() != 2) return refuse("an array where a safetensors header has none");
        stack_.push_back({false, 0, {}});
        return true;
    }
    bool end_array() { stack_.pop_back(); return true; }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
        return refuse(std::string("invalid JSON header: ") + ex.what());
    }

private:
    struct level {
        bool object;
        std::size_t items;
        std::set<std::string> keys;
    };
    bool value() {
        if (!stack_.empty() && !stack_.back().object && ++stack_.back().items > max_rank)
            return refuse("an array of more than " + std::to_string(max_rank) + " elements in the header");
        return true;
    }
    bool refuse(std::string p) {
        if (problem.empty()) problem = std::move(p);
        return false;
    }
    std::vector<level> stack_;
};

inline std::size_t as_size(const nlohmann::json& v, std::string_view source, const std::string& what) {
    if (!v.is_number_unsigned()) fail(source, what + " must be a non-negative integer, found " + v.dump());
    const auto u = v.get<std::uint64_t>();
    if (u > std::numeric_limits<std::size_t>::max()) fail(source, what + " is too large: " + v.dump());
    return static_cast<std::size_t>(u);
}

}  // namespace detail

/// A validated safetensors file held in memory.
class file {
public:
    /// Reads and validates `path`. Throws ctnn::error naming the file and the problem.
    static file read(const std::string& path) {
        std::error_code ec;
        const auto st = std::filesystem::status(path, ec);
        if (st.type() == std::filesystem::file_type::not_found) detail::fail(path, "cannot open: no such file");
        if (ec) detail::fail(path, "cannot open: " + ec.message());
        if (!std::filesystem::is_regular_file(st)) detail::fail(path, "not a regular file");
        std::ifstream in(path, std::ios::binary);
        if (!in) detail::fail(path, std::string("cannot open: ") + std::strerror(errno));
        in.seekg(0, std::ios::end);
        const std::streamoff end = in.tellg();
        in.seekg(0, std::ios::beg);
        if (end < 0 || !in) detail::fail(path, "cannot determine the file size");
        const auto size = static_cast<std::uint64_t>(end);
        if (size < 8) detail::fail(path, "the file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
        unsigned char len[8];
        if (!in.read(reinterpret_cast<char*>(len), 8)) detail::fail(path, "cannot read the header length");
        check_header_length(decode_u64(len), size, path);  // before allocating anything
        std::vector<std::byte> bytes(static_cast<std::size_t>(size));
        in.seekg(0, std::ios::beg);
        if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
            detail::fail(path, "cannot read " + std::to_string(size) + " bytes (was the file truncated while reading?)");
        return file(std::move(bytes), path);
    }

    /// Validates a whole file's bytes; `source` names it in messages.
    static file from_bytes(std::vector<std::byte> bytes, std::string source) {
        return file(std::move(bytes), std::move(source));
    }

    const std::string& source() const { return source_; }
    /// The tensors, sorted by name.
    const std::vector<tensor_info>& tensors() const { return tensors_; }
    /// "__metadata__" (empty when the file has none).
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const tensor_info* find(std::string_view name) const {
        auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const tensor_info& t, std::string_view n) { return t.name < n; });
        return it != tensors_.end() && it->name == name ? &*it : nullptr;
    }
    /// The raw little-endian bytes of tensor t.
    std::span<const std::byte> bytes(const tensor_info& t) const {
        return {bytes_.data() + data_start_ + t.begin, t.end - t.begin};
    }

    /// Whether tensor t's dtype converts to float: F32, F16, BF16, F64, and the integers I64 and
    /// I32 (meant for counters such as num_batches_tracked).
    static bool converts_to_float(dtype t) {
        return t == dtype::F32 || t == dtype::F16 || t == dtype::BF16 || t == dtype::F64 || t == dtype::I64 ||
               t == dtype::I32;
    }
    /// Converts tensor t to floats into out[0, numel). Precondition: converts_to_float(t.type).
    void to_floats(const tensor_info& t, float* out) const {
        const std::byte* p = bytes_.data() + data_start_ + t.begin;
        const std::size_t n = t.numel();
        switch (t.type) {
        case dtype::F32:
            if constexpr (std::endian::native == std::endian::little) {
                if (n) std::memcpy(out, p, n * 4);
            } else {
                for (std::size_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(std::uint32_t(decode(p + 4 * i, 4)));
            }
            break;
        case dtype::F16:
            for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float(std::uint16_t(decode(p + 2 * i, 2)));
            break;
        case dtype::BF16:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(std::uint32_t(decode(p + 2 * i, 2) << 16));
            break;
        case dtype::F64:
            for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(std::bit_cast<double>(decode(p + 8 * i, 8)));
            break;
        case dtype::I64:
            for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<std::int64_t>(decode(p + 8 * i, 8)));
            break;
        case dtype::I32:
            for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<std::int32_t>(decode(p + 4 * i, 4)));
            break;
        default:
            detail::fail(source_, "tensor \"" + t.name + "\" of dtype " + std::string(to_string(t.type)) + " cannot be read as float");
        }
    }
    std::vector<float> to_floats(const tensor_info& t) const {
        if (!converts_to_float(t.type))
            detail::fail(source_, "tensor \"" + t.name + "\" of dtype " + std::string(to_string(t.type)) + " cannot be read as float");
        std::vector<float> v(t.numel());
        to_floats(t, v.data());
        return v;
    }

    /// IEEE half (binary16) to float, exact for every value (subnormals, infinities, NaN).
    static float half_to_float(std::uint16_t h) {
        const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
        std::uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
        if (exp == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (man << 13));  // inf, NaN
        if (exp == 0) {
            if (man == 0) return std::bit_cast<float>(sign);  // ±0
            const float v = std::ldexp(static_cast<float>(man), -24);  // subnormal: man × 2^-24
            return sign ? -v : v;
        }
        return std::bit_cast<float>(sign | ((exp + 112) << 23) | (man << 13));
    }

    static std::uint64_t decode(const std::byte* p, int n) {
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) v |= std::uint64_t(std::to_integer<unsigned>(p[i])) << (8 * i);
        return v;
    }

private:
    static std::uint64_t decode_u64(const unsigned char* p) {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= std::uint64_t(p[i]) << (8 * i);
        return v;
    }
    static void check_header_length(std::uint64_t n, std::uint64_t size, std::string_view source) {
        if (n > max_header_bytes)
            detail::fail(source, "header length " + std::to_string(n) + " exceeds the " + std::to_string(max_header_bytes) +
                                     "-byte limit");
        if (n > size - 8)
            detail::fail(source, "header length " + std::to_string(n) + " runs past the end of the file (" +
                                     std::to_string(size) + " bytes)");
    }

    file(std::vector<std::byte> bytes, std::string source) : bytes_(std::move(bytes)), source_(std::move(source)) {
        using json = nlohmann::json;
        if (bytes_.size() < 8)
            detail::fail(source_, "the file is " + std::to_string(bytes_.size()) + " bytes, too short for the 8-byte header length");
        const std::uint64_t n = decode(bytes_.data(), 8);
        check_header_length(n, bytes_.size(), source_);
        data_start_ = 8 + static_cast<std::size_t>(n);
        const std::size_t data_size = bytes_.size() - data_start_;
        const char* h = reinterpret_cast<const char*>(bytes_.data() + 8);
        const std::string_view text(h, static_cast<std::size_t>(n));

        detail::header_precheck pre;
        try {
            json::sax_parse(text.begin(), text.end(), &pre);
        } catch (const json::exception& e) {
            detail::fail(source_, std::string("invalid JSON header: ") + e.what());
        }
        if (!pre.problem.empty()) detail::fail(source_, pre.problem);
        json doc;
        try {
            doc = json::parse(text.begin(), text.end());
        } catch (const json::exception& e) {
            detail::fail(source_, std::string("invalid JSON header: ") + e.what());
        }
        if (!doc.is_object()) detail::fail(source_, "the header must be a JSON object, found " + std::string(doc.type_name()));

        for (auto it = doc.begin(); it != doc.end(); ++it) {
            const std::string& name = it.key();
            const json& v = it.value();
            if (name == "__metadata__") {
                if (!v.is_object()) detail::fail(source_, "\"__metadata__\" must be an object of strings");
                for (auto m = v.begin(); m != v.end(); ++m) {
                    if (!m.value().is_string())
                        detail::fail(source_, "\"__metadata__\" entry \"" + m.key() + "\" must be a string, found " + m.value().dump());
                    metadata_[m.key()] = m.value().get<std::string>();
                }
                continue;
            }
            const std::string what = "tensor \"" + name + "\"";
            if (name.empty()) detail::fail(source_, "a tensor with an empty name");
            if (!v.is_object()) detail::fail(source_, what + " must be an object with dtype, shape and data_offsets");
            for (const char* field : {"dtype", "shape", "data_offsets"})
                if (!v.contains(field)) detail::fail(source_, what + " has no \"" + field + "\"");
            tensor_info t;
            t.name = name;
            const json& d = v["dtype"];
            if (!d.is_string()) detail::fail(source_, what + ": dtype must be a string, found " + d.dump());
            const auto type = dtype_from(d.get<std::string>());
            if (!type) detail::fail(source_, what + ": unknown dtype \"" + d.get<std::string>() + "\"");
            t.type = *type;
            const json& s = v["shape"];
            if (!s.is_array()) detail::fail(source_, what + ": shape must be an array of integers, found " + s.dump());
            std::size_t numel = 1;
            for (const json& e : s) {
                const std::size_t dim = detail::as_size(e, source_, what + ": a shape entry");
                if (dim != 0 && numel > std::numeric_limits<std::size_t>::max() / dim)
                    detail::fail(source_, what + ": shape " + s.dump() + " has too many elements");
                numel *= dim;
                t.shape.push_back(dim);
            }
            const json& o = v["data_offsets"];
            if (!o.is_array() || o.size() != 2)
                detail::fail(source_, what + ": data_offsets must be [begin, end], found " + o.dump());
            t.begin = detail::as_size(o[0], source_, what + ": data_offsets[0]");
            t.end = detail::as_size(o[1], source_, what + ": data_offsets[1]");
            if (t.begin > t.end)
                detail::fail(source_, what + ": data_offsets " + o.dump() + " are reversed (begin after end)");
            if (t.end > data_size)
                detail::fail(source_, what + ": data_offsets " + o.dump() + " run past the data, which has " +
                                          std::to_string(data_size) + " bytes");
            const std::size_t esize = size_of(t.type);
            if (numel > std::numeric_limits<std::size_t>::max() / esize || t.end - t.begin != numel * esize)
                detail::fail(source_, what + ": " + std::string(to_string(t.type)) + " " + shape_string(t.shape) + " needs " +
                                          std::to_string(numel) + " x " + std::to_string(esize) + " bytes but data_offsets " +
                                          o.dump() + " hold " + std::to_string(t.end - t.begin));
            tensors_.push_back(std::move(t));
        }
        // No two tensors may share bytes.
        std::vector<const tensor_info*> by_offset;
        for (const auto& t : tensors_) by_offset.push_back(&t);
        std::sort(by_offset.begin(), by_offset.end(), [](const tensor_info* a, const tensor_info* b) {
            return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
        });
        for (std::size_t i = 1; i < by_offset.size(); ++i)
            if (by_offset[i]->begin < by_offset[i - 1]->end)
                detail::fail(source_, "tensors \"" + by_offset[i - 1]->name + "\" [" + std::to_string(by_offset[i - 1]->begin) +
                                          ", " + std::to_string(by_offset[i - 1]->end) + ") and \"" + by_offset[i]->name + "\" [" +
                                          std::to_string(by_offset[i]->begin) + ", " + std::to_string(by_offset[i]->end) +
                                          ") overlap");
        // nlohmann::json keeps object keys sorted, so tensors_ is sorted by name for find().
    }

    std::vector<std::byte> bytes_;
    std::string source_;
    std::size_t data_start_ = 0;
    std::vector<tensor_info> tensors_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace safetensors

// ---- nets --------------------------------------------------------------------------------------

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

/// f(layer index, name, desc, const float* data, kind) for every tensor of a const net, in
/// state_dict order (Sequential::for_each_tensor is the non-const walk).
template <class Net, class F>
void for_each_tensor_of(const Net& net, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (
            [&] {
                using L = typename Net::template layer_type<I>;
                const tensor_list p = L::params(Net::shapes[I]);
                const float* d = net.params().data() + Net::param_offset[I];
                for (std::size_t t = 0; t < p.count; d += p.t[t].size(), ++t)
                    f(I, std::to_string(I) + "." + std::string(p.t[t].name), p.t[t], d, tensor_kind::parameter);
                const tensor_list b = L::buffers(Net::shapes[I]);
                d = net.buffers().data() + Net::buffer_offset[I];
                for (std::size_t t = 0; t < b.count; d += b.t[t].size(), ++t)
                    f(I, std::to_string(I) + "." + std::string(b.t[t].name), b.t[t], d, tensor_kind::buffer);
            }(),
            ...);
    }(std::make_index_sequence<Net::depth>{});
}

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

/// A JSON description of the net for "__metadata__": each layer's name() and input shape, so
/// tools/safetensors_to_torch.py can rebuild the equivalent nn.Sequential.
template <class Net>
std::string describe_layers() {
    nlohmann::json layers = nlohmann::json::array();
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((layers.push_back({{"layer", Net::template layer_type<I>::name()},
                            {"in", std::vector<std::size_t>(Net::shapes[I].d, Net::shapes[I].d + Net::shapes[I].rank)}})),
         ...);
    }(std::make_index_sequence<Net::depth>{});
    return layers.dump();
}

#ifdef CTNN_POSIX_FILES
inline void write_all(int fd, const char* p, std::size_t n, const std::string& tmp) {
    while (n > 0) {
        const ::ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) throw error("ctnn::save_safetensors: writing \"" + tmp + "\" failed: " + std::strerror(errno));
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}
#endif

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

void save(const std::string& path, std::span<const tensor_view> tensors,
          const std::map<std::string, std::string>& metadata = {});

}  // namespace safetensors

/// The bytes of a safetensors file holding the net's tensors: F32, and I64 for
/// num_batches_tracked (written first, so every tensor is aligned to its element size). The
/// metadata names the producer and describes the layers (see detail::describe_layers).
template <class Net>
    requires is_sequential<Net>
std::vector<char> safetensors_bytes(const Net& net) {
    std::vector<safetensors::tensor_view> views;
    for (const bool counters : {true, false})
        detail::for_each_tensor_of(net, [&](std::size_t, const std::string& name, const tensor_desc& d, const float* p, tensor_kind) {
            if (detail::is_counter(d.name) == counters)
                views.push_back({name, std::vector<std::size_t>(d.shape, d.shape + d.rank), p, counters});
        });
    const dims in = Net::shapes[0];
    return safetensors::encode(views, {{"format", "pt"},
                                       {"producer", "ctnn " CTNN_VERSION_STRING},
                                       {"ctnn_input", nlohmann::json(std::vector<std::size_t>(in.d, in.d + in.rank)).dump()},
                                       {"ctnn_layers", detail::describe_layers<Net>()}});
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename
/// (then fsync of the directory). On failure the temporary file is removed and `path` is untouched.
inline void write_file_atomically(const std::string& path, std::span<const char> bytes) {
#ifdef CTNN_POSIX_FILES
    static std::atomic<std::uint64_t> counter{0};
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
        tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) throw error("ctnn::save_safetensors: cannot create \"" + tmp + "\": " + std::strerror(errno));
    try {
        detail::write_all(fd, bytes.data(), bytes.size(), tmp);
        if (::fsync(fd) != 0) throw error("ctnn::save_safetensors: fsync of \"" + tmp + "\" failed: " + std::strerror(errno));
        const int closed = ::close(fd);
        fd = -1;
        if (closed != 0) throw error("ctnn::save_safetensors: closing \"" + tmp + "\" failed: " + std::strerror(errno));
        if (::rename(tmp.c_str(), path.c_str()) != 0)
            throw error("ctnn::save_safetensors: cannot rename \"" + tmp + "\" to \"" + path + "\": " + std::strerror(errno));
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    const std::size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);  // make the rename itself durable; best effort
        ::close(dfd);
    }
#else
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw error("ctnn::save_safetensors: cannot create \"" + tmp + "\"");
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) {
            out.close();
            std::remove(tmp.c_str());
            throw error("ctnn::save_safetensors: writing \"" + tmp + "\" failed");
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        throw error("ctnn::save_safetensors: cannot rename \"" + tmp + "\" to \"" + path + "\": " + ec.message());
    }
#endif
}

/// Saves named float tensors (inputs, outputs, anything) to `path` atomically.
inline void safetensors::save(const std::string& path, std::span<const tensor_view> tensors,
                              const std::map<std::string, std::string>& metadata) {
    write_file_atomically(path, encode(tensors, metadata));
}

/// Saves every parameter and buffer of the net to `path` in the safetensors format, atomically.
template <class Net>
    requires is_sequential<Net>
void save_safetensors(const Net& net, const std::string& path) {
    const std::vector<char> bytes = safetensors_bytes(net);
    write_file_atomically(path, bytes);
}

// ---- transfer: a trained trunk under a new head --------------------------------------------------

namespace detail {
template <class L> struct unfrozen { using type = L; };
template <class L> struct unfrozen<Frozen<L>> : unfrozen<L> {};

/// Named by the compiler when copy_layers<Count> meets a layer that differs between the nets.
template <std::size_t Layer, class SrcLayer, class DstLayer> struct copy_layers_needs_the_same_layer_and_input_shape_at;

template <class Src, class Dst, std::size_t I>
constexpr bool same_layer_at() {
    using A = typename unfrozen<typename Src::template layer_type<I>>::type;
    using B = typename unfrozen<typename Dst::template layer_type<I>>::type;
    constexpr bool ok = std::is_same_v<A, B> && Src::shapes[I] == Dst::shapes[I];
    if constexpr (!ok)
        return sizeof(copy_layers_needs_the_same_layer_and_input_shape_at<I, typename Src::template layer_type<I>,
                                                                          typename Dst::template layer_type<I>>) > 0;
    return ok;
}
}  // namespace detail

/// Copies the parameters and buffers of layers 0 .. Count-1 from `src` to `dst`: a trained trunk
/// into a net with a new head. Checked at compile time: both nets must have the same layer type
/// (Frozen<L> counts as L) on the same input shape at each of those layers.
template <std::size_t Count, class Src, class Dst>
    requires(is_sequential<Src> && is_sequential<Dst>)
void copy_layers(const Src& src, Dst& dst) {
    static_assert(Count <= Src::depth && Count <= Dst::depth, "ctnn::copy_layers<Count>: Count exceeds a net's depth");
    static_assert([]<std::size_t... I>(std::index_sequence<I...>) { return (detail::same_layer_at<Src, Dst, I>() && ... && true); }(
                      std::make_index_sequence<Count>{}),
                  "ctnn::copy_layers<Count>: the nets differ in a copied layer");
    std::copy_n(src.params().data(), Src::param_offset[Count], dst.params().data());
    std::copy_n(src.buffers().data(), Src::buffer_offset[Count], dst.buffers().data());
}

}  // namespace ctnn
