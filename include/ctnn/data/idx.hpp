// IDX reader (MNIST, Fashion-MNIST, ...): files may be gzip-compressed (read with zlib) or raw.
//
// An IDX file is a 4-byte magic number 0x0000TTNN (TT = element type, 0x08 for unsigned bytes;
// NN = number of dimensions), NN big-endian 32-bit sizes, then the elements. Image files have 3
// dimensions (count, rows, columns), label files 1 (count). Pixels are scaled to [0, 1].
#pragma once
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../error.hpp"
#include "dataset.hpp"

namespace ctnn::data {

namespace detail {

/// Bytes of a file, gunzipped on the fly when the file starts with the gzip magic (1f 8b).
/// Every failure throws ctnn::error naming the file. The gzip path inflates with zlib directly
/// (not gzread, which silently ignores bytes after the last gzip member): concatenated members
/// are read in turn, anything else after a member is an error, and inflating happens only as far
/// as the caller reads, so a reader that stops at the size its header claims never expands a
/// gzip bomb further.
class byte_source {
public:
    explicit byte_source(std::string path) : path_(std::move(path)) {
        namespace fs = std::filesystem;
        std::error_code ec;
        const auto st = fs::status(path_, ec);
        if (st.type() == fs::file_type::not_found) fail("cannot open: file does not exist");
        if (ec) fail("cannot open: " + ec.message());  // EACCES (an unreadable folder) is not "missing"
        if (!fs::is_regular_file(st)) fail("cannot open: not a regular file");
        size_ = fs::file_size(path_, ec);
        if (ec) fail("cannot read the file size: " + ec.message());
        raw_ = std::fopen(path_.c_str(), "rb");
        if (!raw_) fail(std::string("cannot open: ") + std::strerror(errno));
        fill(2);
        gzip_ = avail_ >= 2 && in_[0] == 0x1f && in_[1] == 0x8b;
        if (gzip_ && inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) fail("cannot start zlib's inflate (out of memory)");
    }
    byte_source(const byte_source&) = delete;
    byte_source& operator=(const byte_source&) = delete;
    ~byte_source() {
        if (gzip_) inflateEnd(&z_);
        if (raw_) std::fclose(raw_);
    }

    const std::string& path() const { return path_; }
    bool gzip() const { return gzip_; }
    std::uint64_t file_size() const { return size_; }
    std::uint64_t position() const { return pos_; }
    /// An upper bound on the bytes this file can yield: its size, or for gzip the size times
    /// deflate's largest possible expansion (1032:1, rounded up).
    std::uint64_t max_content() const { return gzip_ ? size_ * 1100 + 4096 : size_; }

    /// Reads up to n bytes; returns how many were read (fewer only at the end of the data).
    std::size_t read(unsigned char* dst, std::size_t n) {
        std::size_t total = 0;
        while (total < n) {
            const std::size_t got = gzip_ ? inflate_some(dst + total, n - total) : copy_some(dst + total, n - total);
            if (got == 0) break;
            total += got;
            pos_ += got;
        }
        return total;
    }

    /// True when no byte is left (reads one byte to find out).
    bool at_end() {
        unsigned char b;
        return read(&b, 1) == 0;
    }

    [[noreturn]] void fail(const std::string& what) const { throw error(path_ + ": " + what); }

private:
    /// Makes at least `want` unread bytes of the file available in in_ (fewer only at its end);
    /// returns how many there are.
    std::size_t fill(std::size_t want) {
        if (avail_ >= want || eof_) return avail_;
        if (start_ > 0) {
            std::memmove(in_.data(), in_.data() + start_, avail_);
            start_ = 0;
        }
        while (avail_ < want && !eof_) {
            const std::size_t got = std::fread(in_.data() + avail_, 1, in_.size() - avail_, raw_);
            if (got == 0 && std::ferror(raw_)) fail(std::string("read error: ") + std::strerror(errno));
            eof_ = got == 0;
            avail_ += got;
        }
        return avail_;
    }
    std::size_t copy_some(unsigned char* dst, std::size_t n) {
        if (fill(1) == 0) return 0;
        const std::size_t k = std::min(n, avail_);
        std::memcpy(dst, in_.data() + start_, k);
        start_ += k;
        avail_ -= k;
        return k;
    }
    /// Inflates into dst until some output is made or the data ends; 0 only at the end.
    std::size_t inflate_some(unsigned char* dst, std::size_t n) {
        for (;;) {
            if (member_done_ && !next_member()) return 0;
            if (fill(1) == 0) fail("truncated gzip data (unexpected end of file)");
            z_.next_in = in_.data() + start_;
            z_.avail_in = static_cast<uInt>(avail_);
            z_.next_out = dst;
            z_.avail_out = static_cast<uInt>(std::min<std::size_t>(n, std::size_t{1} << 30));
            const int r = ::inflate(&z_, Z_NO_FLUSH);
            start_ += avail_ - z_.avail_in;
            avail_ = z_.avail_in;
            const std::size_t made = static_cast<std::size_t>(z_.next_out - dst);
            if (r == Z_STREAM_END) member_done_ = true;
            else if (r == Z_MEM_ERROR) fail("out of memory inflating the gzip data");
            else if (r != Z_OK && r != Z_BUF_ERROR)
                fail(std::string("corrupt gzip data: ") + (z_.msg ? z_.msg : "unknown zlib error"));
            if (made) return made;
        }
    }
    /// After a gzip member: true when another member follows (and inflate is reset for it),
    /// false at the end of the file; anything else after a member is an error.
    bool next_member() {
        if (fill(2) == 0) return false;
        if (avail_ < 2 || in_[start_] != 0x1f || in_[start_ + 1] != 0x8b)
            fail(std::to_string(size_ - pos_in_file()) + " bytes after the end of the gzip data (not another gzip member)");
        if (inflateReset(&z_) != Z_OK) fail("cannot restart zlib's inflate");
        member_done_ = false;
        return true;
    }
    std::uint64_t pos_in_file() const {
        const long at = std::ftell(raw_);
        return at < 0 ? 0 : static_cast<std::uint64_t>(at) - avail_;
    }

    std::string path_;
    std::uint64_t size_ = 0, pos_ = 0;
    std::FILE* raw_ = nullptr;
    std::vector<unsigned char> in_ = std::vector<unsigned char>(std::size_t{1} << 16);
    std::size_t start_ = 0, avail_ = 0;  // unread file bytes: in_[start_, start_ + avail_)
    bool eof_ = false, gzip_ = false, member_done_ = false;
    z_stream z_{};
};

/// Runs a reader; a std::bad_alloc or std::length_error (a size the machine cannot hold) becomes
/// a ctnn::error naming `files`, so every reader failure is a ctnn::error.
template <class F>
auto naming_memory_failures(const std::string& files, F&& f) {
    try {
        return f();
    } catch (const std::bad_alloc&) {
        throw error(files + ": out of memory while loading");
    } catch (const std::length_error&) {
        throw error(files + ": out of memory while loading (a size too large for this machine)");
    }
}

/// Whether `path` exists; a path that cannot be examined (EACCES: a folder without permission)
/// throws ctnn::error with the reason rather than passing for missing.
inline bool exists_or_fail(const std::string& path) {
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (st.type() == std::filesystem::file_type::not_found) return false;
    if (ec) throw error(path + ": cannot examine: " + ec.message());
    return true;
}

/// Throws ctnn::error unless `dir` is a directory, saying whether it is missing, not a directory
/// or cannot be examined. `expected` says what the directory should hold.
inline void require_directory(const std::string& dir, const std::string& expected) {
    if (!exists_or_fail(dir)) throw error(dir + ": not a directory: it does not exist (expected " + expected + ")");
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) throw error(dir + ": not a directory (expected " + expected + ")");
}

inline std::string hex(std::uint32_t v, int digits) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%0*X", digits, v);
    return buf;
}

/// An opened IDX file of unsigned bytes whose header has been read and checked.
struct idx_file {
    byte_source src;
    std::vector<std::uint32_t> dims;
    std::uint64_t elements = 0;  // product of dims, checked against the file's possible content

    idx_file(const std::string& path, std::size_t want_dims, const char* kind) : src(path) {
        unsigned char head[4];
        const std::size_t got = src.read(head, 4);
        if (got < 4)
            src.fail("truncated: " + std::to_string(got) + " bytes, too short for an IDX header");
        const std::uint32_t magic = be32(head);
        const std::uint32_t expected = 0x0800u | static_cast<std::uint32_t>(want_dims);
        if (head[0] != 0 || head[1] != 0)
            src.fail("wrong magic number " + hex(magic, 8) + " (expected " + hex(expected, 8) +
                     ", an IDX " + kind + " file)");
        if (head[2] != 0x08)
            src.fail("unsupported IDX element type " + hex(head[2], 2) + " (magic " + hex(magic, 8) +
                     "); only unsigned bytes (0x08) are supported");
        if (head[3] != want_dims) {
            std::string hint;
            if (head[3] == 1) hint = "; this looks like a labels file";
            if (head[3] == 3) hint = "; this looks like an images file";
            src.fail("bad dimension count " + std::to_string(head[3]) + " (magic " + hex(magic, 8) +
                     "; expected " + std::to_string(want_dims) + " for an " + kind + " file" + hint + ")");
        }
        std::array<unsigned char, 4 * 255> raw{};
        const std::size_t dim_bytes = 4 * want_dims;
        if (src.read(raw.data(), dim_bytes) < dim_bytes)
            src.fail("truncated: the file ends inside the IDX header's " + std::to_string(want_dims) +
                     " dimension sizes");
        dims.resize(want_dims);
        elements = 1;
        bool overflow = false;
        for (std::size_t i = 0; i < want_dims; ++i) {
            dims[i] = be32(raw.data() + 4 * i);
            if (dims[i] && elements > UINT64_MAX / dims[i]) overflow = true;
            elements *= dims[i];
        }
        const std::uint64_t header = 4 + dim_bytes;
        const std::uint64_t room = src.max_content() > header ? src.max_content() - header : 0;
        if (overflow || elements > room) {
            std::string shape;
            for (std::size_t i = 0; i < want_dims; ++i) shape += (i ? "x" : "") + std::to_string(dims[i]);
            src.fail("truncated: the header says " + shape + " = " +
                     (overflow ? std::string("more than 2^64") : std::to_string(elements)) +
                     " bytes of data but the " + (src.gzip() ? "gzip " : "") + "file has only " +
                     std::to_string(src.file_size()) + " bytes" +
                     (src.gzip() ? " (too few to decompress to that much)" : ""));
        }
    }

    /// Reads all elements, calling sink(bytes, n) chunk by chunk; throws when the file is short
    /// or has bytes after the data.
    template <class Sink>
    void read_elements(Sink&& sink) {
        std::vector<unsigned char> buf(std::size_t{1} << 16);
        std::uint64_t left = elements;
        while (left) {
            const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
            const std::size_t got = src.read(buf.data(), want);
            sink(buf.data(), got);
            left -= got;
            if (got < want)
                src.fail("truncated: the header says " + std::to_string(elements) +
                         " bytes of data but the file ends after " + std::to_string(elements - left));
        }
        if (!src.at_end())
            src.fail("the file is longer than its IDX header says (data continues after " +
                     std::to_string(elements) + " bytes)");
    }

    static std::uint32_t be32(const unsigned char* p) {
        return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
               std::uint32_t{p[3]};
    }
};

/// byte / 255 for every byte value (the exact float the division gives).
inline const std::array<float, 256>& byte_scale() {
    static const std::array<float, 256> t = [] {
        std::array<float, 256> a{};
        for (int i = 0; i < 256; ++i) a[static_cast<std::size_t>(i)] = static_cast<float>(i) / 255.0f;
        return a;
    }();
    return t;
}

}  // namespace detail

/// Images larger than this many pixels are refused, whatever the count (even 0): the loader
/// sizes its batch buffer from the header's rows x columns (MNIST has 784).
inline constexpr std::uint64_t idx_max_image_pixels = std::uint64_t{1} << 24;

namespace detail {
inline dataset read_idx(const std::string& images_path, const std::string& labels_path, std::size_t classes) {
    detail::idx_file img(images_path, 3, "images");
    detail::idx_file lab(labels_path, 1, "labels");
    if (img.dims[0] != lab.dims[0])
        throw error(images_path + " has " + std::to_string(img.dims[0]) + " images but " + labels_path +
                    " has " + std::to_string(lab.dims[0]) + " labels");
    if (img.dims[0] && (img.dims[1] == 0 || img.dims[2] == 0))
        img.src.fail("bad image size " + std::to_string(img.dims[1]) + "x" + std::to_string(img.dims[2]));
    if (std::uint64_t{img.dims[1]} * img.dims[2] > idx_max_image_pixels)
        img.src.fail("image size " + std::to_string(img.dims[1]) + "x" + std::to_string(img.dims[2]) + " exceeds the " +
                     std::to_string(idx_max_image_pixels) + "-pixel limit (idx_max_image_pixels)");
    if (classes == 0 || classes > 256) throw error("load_idx: bad class count " + std::to_string(classes));

    dataset d;
    d.count = img.dims[0];
    d.channels = 1;
    d.height = img.dims[1];
    d.width = img.dims[2];
    d.classes = classes;

    d.labels.reserve(d.count);
    lab.read_elements([&](const unsigned char* p, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            if (p[i] >= classes)
                lab.src.fail("label " + std::to_string(p[i]) + " of item " + std::to_string(d.labels.size()) +
                             " is out of range (expected 0.." + std::to_string(classes - 1) + ")");
            d.labels.push_back(p[i]);
        }
    });

    // The header's size was checked against what the file can hold; for gzip that bound is loose,
    // so reserve at most a modest multiple of the compressed size and let the vector grow.
    const std::uint64_t cap = img.src.gzip() ? img.src.file_size() * 16 + (1u << 20) : img.elements;
    d.images.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(img.elements, cap)));
    const auto& scale = detail::byte_scale();
    img.read_elements([&](const unsigned char* p, std::size_t n) {
        const std::size_t at = d.images.size();
        d.images.resize(at + n);
        for (std::size_t i = 0; i < n; ++i) d.images[at + i] = scale[p[i]];
    });
    return d;
}
}  // namespace detail

/// Reads an IDX images file (3 dimensions) and an IDX labels file (1 dimension), gzip or raw.
/// Pixels become float in [0, 1] (byte / 255), channels = 1. Labels must be below `classes`.
/// Throws ctnn::error naming the file and the problem: missing or unreadable file, wrong magic,
/// bad dimension count, truncated data, data after the end, counts that disagree, bad labels.
inline dataset load_idx(const std::string& images_path, const std::string& labels_path,
                        std::size_t classes = 10) {
    return detail::naming_memory_failures(images_path + " and " + labels_path, [&] {
        return detail::read_idx(images_path, labels_path, classes);
    });
}

/// MNIST-style directory: train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]
/// (train = true, 60k samples for MNIST / Fashion-MNIST), or the t10k-* files (test set).
inline dataset load_mnist_dir(const std::string& dir, bool train, std::size_t classes = 10) {
    namespace fs = std::filesystem;
    detail::require_directory(dir, "MNIST-style IDX files");
    const std::string prefix = train ? "train" : "t10k";
    auto find = [&](const std::string& name) {
        for (const std::string& cand : {name + ".gz", name}) {
            const fs::path p = fs::path(dir) / cand;
            if (detail::exists_or_fail(p.string())) return p.string();
        }
        throw error((fs::path(dir) / name).string() + "[.gz]: file does not exist");
    };
    return load_idx(find(prefix + "-images-idx3-ubyte"), find(prefix + "-labels-idx1-ubyte"), classes);
}

/// Where the Debian package dataset-fashion-mnist installs Fashion-MNIST.
inline constexpr const char* fashion_mnist_default_dir = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST class names, by label.
inline constexpr const char* fashion_mnist_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                          "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                          "Bag",         "Ankle boot"};

}  // namespace ctnn::data
