// The safetensors format: parsing and validating a file (PyTorch's and Hugging Face's format for
// tensors). A file is [u64 little-endian N][N bytes of JSON header][data]. The header maps each
// tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into data), plus
// an optional "__metadata__" object of strings.
//
// Reading trusts nothing in the file: the header length is checked against the file size and a
// cap (max_header_bytes) before anything is allocated; the header must start with '{', hold no
// NUL byte and be padded only with spaces (the format's rule); the JSON is parsed by nlohmann-json
// with duplicate keys, nesting deeper than a header needs, over-long arrays and more than
// max_tensors entries refused; every tensor's dtype must be known, its shape a list of integers,
// and its [begin, end) of exactly numel x dtype size bytes; the tensors must tile the data section
// exactly, as the reference implementation requires: no overlap, no hole, no byte after the last
// tensor (so a file cannot carry a second payload). Messages are capped (clip, max_message).
#pragma once
#include <algorithm>
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
#include <new>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../error.hpp"

namespace ctnn {

namespace safetensors {

/// A header larger than this is refused before it is read (real headers are kilobytes).
inline constexpr std::size_t max_header_bytes = std::size_t{100} << 20;
/// Tensors of higher rank are refused (PyTorch's conv weights have rank 4).
inline constexpr std::size_t max_rank = 8;
/// A header object with more entries than this (tensors and "__metadata__", or metadata strings)
/// is refused while it is scanned, before its DOM is built: real files hold hundreds to a few
/// thousand tensors, and 1.65 M zero-size tensors in a 99 MB header cost 1.4 GB of parse tree.
inline constexpr std::size_t max_tensors = std::size_t{1} << 16;
/// Error messages are cut to about this many bytes (a name in a header may be 100 MB long).
inline constexpr std::size_t max_message = 4096;

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

/// s, or its first `keep` bytes and how many more there were: names and values from a file go
/// into messages through this, so a hostile file cannot make a message of megabytes.
inline std::string clip(std::string_view s, std::size_t keep = 200) {
    if (s.size() <= keep) return std::string(s);
    return std::string(s.substr(0, keep)) + "...(" + std::to_string(s.size() - keep) + " more bytes)";
}

[[noreturn]] inline void fail(std::string_view source, const std::string& what) {
    throw error("ctnn safetensors: \"" + std::string(source) + "\": " + clip(what, max_message));
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
        if (stack_.back().keys.size() >= max_tensors)
            return refuse("more than " + std::to_string(max_tensors) + " entries in one object of the header");
        if (!stack_.back().keys.insert(k).second) return refuse("duplicate key \"" + clip(k) + "\"");
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
        return refuse(std::string("invalid JSON header: ") + clip(ex.what(), 400));
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
    if (!v.is_number_unsigned()) fail(source, what + " must be a non-negative integer, found " + clip(v.dump()));
    const auto u = v.get<std::uint64_t>();
    if (u > std::numeric_limits<std::size_t>::max()) fail(source, what + " is too large: " + clip(v.dump()));
    return static_cast<std::size_t>(u);
}

}  // namespace detail

/// A validated safetensors file held in memory.
class file {
public:
    /// Reads and validates `path`. Throws ctnn::error naming the file and the problem (also for
    /// what the standard library throws: std::ios_base::failure on a failed read, bad_alloc).
    static file read(const std::string& path) {
        try {
            return read_unchecked(path);
        } catch (const error&) {
            throw;
        } catch (const std::bad_alloc&) {
            detail::fail(path, "out of memory while reading the file");
        } catch (const std::exception& e) {
            detail::fail(path, std::string("read error: ") + e.what());
        }
    }

private:
    static file read_unchecked(const std::string& path) {
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
        std::vector<std::byte> bytes;
        try {
            bytes.resize(static_cast<std::size_t>(size));
        } catch (const std::bad_alloc&) {
            detail::fail(path, "out of memory for the file's " + std::to_string(size) + " bytes");
        }
        in.seekg(0, std::ios::beg);
        // (libstdc++'s filebuf throws std::ios_base::failure on a failed read(2): read() maps it.)
        if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
            detail::fail(path, "cannot read " + std::to_string(size) + " bytes (was the file truncated while reading?)");
        return file(std::move(bytes), path);
    }

public:

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
            detail::fail(source_, "tensor \"" + detail::clip(t.name) + "\" of dtype " + std::string(to_string(t.type)) + " cannot be read as float");
        }
    }
    std::vector<float> to_floats(const tensor_info& t) const {
        if (!converts_to_float(t.type))
            detail::fail(source_, "tensor \"" + detail::clip(t.name) + "\" of dtype " + std::string(to_string(t.type)) + " cannot be read as float");
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
        if (bytes_.size() < 8)
            detail::fail(source_, "the file is " + std::to_string(bytes_.size()) + " bytes, too short for the 8-byte header length");
        const std::uint64_t n = decode(bytes_.data(), 8);
        check_header_length(n, bytes_.size(), source_);
        data_start_ = 8 + static_cast<std::size_t>(n);
        const nlohmann::json doc = parse_header({reinterpret_cast<const char*>(bytes_.data() + 8), static_cast<std::size_t>(n)});
        for (auto it = doc.begin(); it != doc.end(); ++it) {
            if (it.key() == "__metadata__") read_metadata(it.value());
            else tensors_.push_back(read_tensor(it.key(), it.value(), bytes_.size() - data_start_));
        }
        check_tiling(bytes_.size() - data_start_);
        // nlohmann::json keeps object keys sorted, so tensors_ is sorted by name for find().
    }

    /// The format's rules for the header's bytes, which a JSON parser alone does not enforce: it
    /// holds no NUL (nlohmann-json stops at a NUL as at the end of its input, so anything after
    /// one would be ignored), starts with '{' and is padded after its closing '}' only with spaces.
    void check_no_nul(std::string_view text) const {
        if (const auto nul = text.find('\0'); nul != std::string_view::npos)
            detail::fail(source_, "the header has a NUL byte at offset " + std::to_string(nul) +
                                      " (a safetensors header is JSON text, padded only with spaces)");
    }
    void check_padding(std::string_view text) const {
        if (text.front() != '{') detail::fail(source_, "the header must begin with '{' (the format allows no leading space)");
        const auto last = text.find_last_not_of(' ');
        if (last != std::string_view::npos && text[last] != '}')
            detail::fail(source_, "the header's JSON object is followed by bytes other than spaces (byte " +
                                      std::to_string(static_cast<unsigned char>(text[last])) + " at offset " +
                                      std::to_string(last) + "); the format allows only spaces (0x20) as padding");
    }

    /// The header as JSON, after the SAX precheck (duplicate keys, nesting, array lengths).
    nlohmann::json parse_header(std::string_view text) const {
        using json = nlohmann::json;
        check_no_nul(text);
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
        check_padding(text);  // a non-empty object was parsed, so text is not empty
        return doc;
    }

    void read_metadata(const nlohmann::json& v) {
        if (!v.is_object()) detail::fail(source_, "\"__metadata__\" must be an object of strings");
        for (auto m = v.begin(); m != v.end(); ++m) {
            if (!m.value().is_string())
                detail::fail(source_, "\"__metadata__\" entry \"" + detail::clip(m.key()) + "\" must be a string, found " +
                                          detail::clip(m.value().dump()));
            metadata_[m.key()] = m.value().get<std::string>();
        }
    }

    /// One tensor's entry, checked: known dtype, integer shape, offsets inside the data section
    /// (data_size bytes) holding exactly numel x dtype size bytes.
    tensor_info read_tensor(const std::string& name, const nlohmann::json& v, std::size_t data_size) const {
        const std::string what = "tensor \"" + detail::clip(name) + "\"";
        if (name.empty()) detail::fail(source_, "a tensor with an empty name");
        if (!v.is_object()) detail::fail(source_, what + " must be an object with dtype, shape and data_offsets");
        for (const char* field : {"dtype", "shape", "data_offsets"})
            if (!v.contains(field)) detail::fail(source_, what + " has no \"" + field + "\"");
        tensor_info t;
        t.name = name;
        const auto& d = v["dtype"];
        if (!d.is_string()) detail::fail(source_, what + ": dtype must be a string, found " + d.dump());
        const auto type = dtype_from(d.get<std::string>());
        if (!type) detail::fail(source_, what + ": unknown dtype \"" + d.get<std::string>() + "\"");
        t.type = *type;
        const auto& s = v["shape"];
        if (!s.is_array()) detail::fail(source_, what + ": shape must be an array of integers, found " + s.dump());
        std::size_t numel = 1;
        for (const auto& e : s) {
            const std::size_t dim = detail::as_size(e, source_, what + ": a shape entry");
            if (dim != 0 && numel > std::numeric_limits<std::size_t>::max() / dim)
                detail::fail(source_, what + ": shape " + s.dump() + " has too many elements");
            numel *= dim;
            t.shape.push_back(dim);
        }
        const auto& o = v["data_offsets"];
        if (!o.is_array() || o.size() != 2) detail::fail(source_, what + ": data_offsets must be [begin, end], found " + o.dump());
        t.begin = detail::as_size(o[0], source_, what + ": data_offsets[0]");
        t.end = detail::as_size(o[1], source_, what + ": data_offsets[1]");
        if (t.begin > t.end) detail::fail(source_, what + ": data_offsets " + o.dump() + " are reversed (begin after end)");
        if (t.end > data_size)
            detail::fail(source_, what + ": data_offsets " + o.dump() + " run past the data, which has " + std::to_string(data_size) + " bytes");
        const std::size_t esize = size_of(t.type);
        if (numel > std::numeric_limits<std::size_t>::max() / esize || t.end - t.begin != numel * esize)
            detail::fail(source_, what + ": " + std::string(to_string(t.type)) + " " + shape_string(t.shape) + " needs " +
                                      std::to_string(numel) + " x " + std::to_string(esize) + " bytes but data_offsets " +
                                      o.dump() + " hold " + std::to_string(t.end - t.begin));
        return t;
    }

    /// The tensors tile the data section (data_size bytes): no two share bytes, none leaves a
    /// hole before it, and the last ends where the file ends (a zero-size tensor sits at a boundary).
    void check_tiling(std::size_t data_size) const {
        std::vector<const tensor_info*> by_offset;
        for (const auto& t : tensors_) by_offset.push_back(&t);
        std::sort(by_offset.begin(), by_offset.end(), [](const tensor_info* a, const tensor_info* b) {
            return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
        });
        const auto range = [](const tensor_info* t) {
            return "\"" + detail::clip(t->name) + "\" [" + std::to_string(t->begin) + ", " + std::to_string(t->end) + ")";
        };
        std::size_t covered = 0;  // the data is [0, covered) tiled so far
        const tensor_info* prev = nullptr;
        for (const tensor_info* t : by_offset) {
            if (t->begin < covered)
                detail::fail(source_, "tensors " + range(prev) + " and " + range(t) + " overlap");
            if (t->begin > covered)
                detail::fail(source_, "bytes [" + std::to_string(covered) + ", " + std::to_string(t->begin) +
                                          ") of the data belong to no tensor (a hole before " + range(t) +
                                          "); the format requires the tensors to fill the data exactly");
            if (t->end > covered) covered = t->end, prev = t;
        }
        if (covered != data_size)
            detail::fail(source_, std::to_string(data_size - covered) + " bytes after the last tensor's data (the data has " +
                                      std::to_string(data_size) + " bytes, the tensors end at " + std::to_string(covered) +
                                      "); the format requires the tensors to fill the data exactly");
    }

    std::vector<std::byte> bytes_;
    std::string source_;
    std::size_t data_start_ = 0;
    std::vector<tensor_info> tensors_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace safetensors

}  // namespace ctnn
