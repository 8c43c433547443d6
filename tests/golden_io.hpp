// Reads the golden files written by tools/make_reference.py (tests/data/golden/<case>.bin).
//
// Format, little-endian: "CTNNGLD1", u32 count, then per tensor: u32 name length, name,
// u32 rank, u32 dims[rank], f32 data[prod(dims)]. Bytes are assembled explicitly, so the reader
// works on any host byte order.
#pragma once
#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <ctnn/error.hpp>

namespace ctnn_test {

struct golden_tensor {
    std::vector<std::size_t> shape;  // PyTorch's shape; empty for a scalar
    std::vector<float> data;
    std::size_t size() const { return data.size(); }
    /// Elements per sample: everything after the batch dimension.
    std::size_t per_sample() const { return shape.empty() || shape[0] == 0 ? 0 : data.size() / shape[0]; }
};

class golden_case {
public:
    /// Loads <dir>/golden/<name>.bin; dir defaults to the tests' data directory.
    explicit golden_case(std::string name, std::string dir = CTNN_TEST_DATA) : name_(std::move(name)) {
        path_ = dir + "/golden/" + name_ + ".bin";
        std::ifstream f(path_, std::ios::binary);
        if (!f) fail("cannot open (run tools/make_reference.py)");
        bytes_.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        if (bytes_.size() < 12 || std::memcmp(bytes_.data(), "CTNNGLD1", 8) != 0) fail("not a golden file");
        pos_ = 8;
        const std::uint32_t count = u32();
        for (std::uint32_t t = 0; t < count; ++t) {
            const std::uint32_t len = u32();
            need(len);
            std::string key(bytes_.data() + pos_, len);
            pos_ += len;
            golden_tensor g;
            const std::uint32_t rank = u32();
            if (rank > 8) fail("tensor '" + key + "' has rank " + std::to_string(rank));
            std::size_t n = 1;
            for (std::uint32_t r = 0; r < rank; ++r) {
                g.shape.push_back(u32());
                n *= g.shape.back();
            }
            need(4 * n);
            g.data.resize(n);
            for (std::size_t i = 0; i < n; ++i) g.data[i] = std::bit_cast<float>(u32());
            tensors_.emplace(std::move(key), std::move(g));
        }
        if (pos_ != bytes_.size()) fail("trailing bytes");
        bytes_.clear();
    }

    const std::string& name() const { return name_; }
    bool has(const std::string& key) const { return tensors_.count(key) != 0; }
    const golden_tensor& operator[](const std::string& key) const {
        const auto it = tensors_.find(key);
        if (it == tensors_.end()) fail("has no tensor '" + key + "'");
        return it->second;
    }
    const std::map<std::string, golden_tensor>& tensors() const { return tensors_; }

private:
    [[noreturn]] void fail(const std::string& what) const { throw ctnn::error("golden file " + path_ + ": " + what); }
    void need(std::size_t n) const {
        if (bytes_.size() - pos_ < n) fail("truncated");
    }
    std::uint32_t u32() {
        need(4);
        const auto* b = reinterpret_cast<const unsigned char*>(bytes_.data() + pos_);
        pos_ += 4;
        return std::uint32_t(b[0]) | std::uint32_t(b[1]) << 8 | std::uint32_t(b[2]) << 16 | std::uint32_t(b[3]) << 24;
    }

    std::string name_, path_;
    std::vector<char> bytes_;
    std::size_t pos_ = 0;
    std::map<std::string, golden_tensor> tensors_;
};

}  // namespace ctnn_test
