// Checkpoints: weights, buffers, optimizer state, epoch and random state in one small binary file,
// written atomically (a temporary file in the same directory, fsync, rename), so a crash leaves
// either the old checkpoint or the new one, never half of one.
//
// Format (version 1, little-endian, all integers uint64 unless noted):
//   "CTNNCKPT"  u32 version  u32 0x01020304 (byte-order mark)
//   fingerprint (FNV-1a 64 of the layout text)
//   layout text: length, bytes  — one line per tensor: "<name> <param|buffer|frozen> [d0,d1,..]"
//   optimizer kind: length, bytes
//   epoch, optimizer steps, net rng state, user value (e.g. the global step)
//   param_count, buffer_count, state_count, then that many float32 values each
//   FNV-1a 64 of every byte before it
// Loading checks all of it: another architecture's file throws ctnn::error naming the file and
// the first tensor that differs; a truncated or corrupt file throws ctnn::error naming the file.
#pragma once
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "../error.hpp"
#include "../sequential.hpp"

namespace ctnn {

/// What a checkpoint records besides the tensors.
struct checkpoint_info {
    std::uint64_t epoch = 0;       // epochs completed
    std::uint64_t steps = 0;       // optimizer steps done (restored into the optimizer)
    std::uint64_t rng_state = 0;   // the net's training generator (Dropout)
    std::uint64_t user = 0;        // free for the caller
};

namespace detail {

inline std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ull) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

inline constexpr char checkpoint_magic[8] = {'C', 'T', 'N', 'N', 'C', 'K', 'P', 'T'};
inline constexpr std::uint32_t checkpoint_version = 1;

class byte_writer {
public:
    void raw(const void* p, std::size_t n) {
        const auto* c = static_cast<const char*>(p);
        buf_.insert(buf_.end(), c, c + n);
    }
    void u32(std::uint32_t v) { raw(&v, 4); }
    void u64(std::uint64_t v) { raw(&v, 8); }
    void str(std::string_view s) { u64(s.size()); raw(s.data(), s.size()); }
    void floats(const float* p, std::size_t n) { u64(n); raw(p, n * sizeof(float)); }
    std::vector<char>& bytes() { return buf_; }

private:
    std::vector<char> buf_;
};

class byte_reader {
public:
    byte_reader(const std::vector<char>& b, std::size_t end, const std::string& path) : b_(b), end_(end), path_(path) {}
    void raw(void* p, std::size_t n) {
        if (n > end_ - pos_) throw error(path_ + ": checkpoint is truncated or corrupt (a field runs past the end)");
        if (n == 0) return;  // memcpy with a null pointer is undefined even for 0 bytes
        std::memcpy(p, b_.data() + pos_, n);
        pos_ += n;
    }
    std::uint32_t u32() { std::uint32_t v; raw(&v, 4); return v; }
    std::uint64_t u64() { std::uint64_t v; raw(&v, 8); return v; }
    std::string str() {
        const std::uint64_t n = u64();
        if (n > end_ - pos_) throw error(path_ + ": checkpoint is truncated or corrupt (a string runs past the end)");
        std::string s(b_.data() + pos_, n);
        pos_ += n;
        return s;
    }
    std::size_t pos() const { return pos_; }

private:
    const std::vector<char>& b_;
    std::size_t end_, pos_ = 0;
    std::string path_;
};

/// Writes bytes to path atomically: path.tmp-<pid> in the same directory, fsync, rename, fsync dir.
inline void write_file_atomically(const std::string& path, const std::vector<char>& bytes) {
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    const auto fail = [&](const std::string& what) {
        const std::string msg = path + ": cannot write checkpoint (" + what + ": " + std::strerror(errno) + ")";
        ::unlink(tmp.c_str());
        throw error(msg);
    };
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("open " + tmp);
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            ::close(fd);
            fail("write");
        }
        done += static_cast<std::size_t>(w);
    }
    if (::fsync(fd) != 0) { ::close(fd); fail("fsync"); }
    if (::close(fd) != 0) fail("close");
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename " + tmp);
    const auto slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { ::fsync(dfd); ::close(dfd); }
}

}  // namespace detail

/// The net's tensor layout as text, one line per tensor (what a checkpoint's fingerprint hashes).
template <class Net>
std::string architecture_layout(Net& net) {
    std::string s;
    net.for_each_tensor([&](const std::string& name, const tensor_desc& d, float*, tensor_kind kind) {
        const std::size_t layer = std::stoul(name.substr(0, name.find('.')));
        s += name;
        s += kind == tensor_kind::buffer ? " buffer [" : (Net::trainable[layer] ? " param [" : " frozen [");
        for (std::size_t i = 0; i < d.rank; ++i) s += (i ? "," : "") + std::to_string(d.shape[i]);
        s += "]\n";
    });
    return s;
}

/// Saves net and optimizer to `path` atomically. Throws ctnn::error if it cannot.
template <class Net, class Opt>
void save_checkpoint(const std::string& path, Net& net, Opt& opt, checkpoint_info info) {
    info.steps = opt.steps();
    info.rng_state = net.generator().state();
    const std::string layout = architecture_layout(net);
    detail::byte_writer w;
    w.raw(detail::checkpoint_magic, 8);
    w.u32(detail::checkpoint_version);
    w.u32(0x01020304u);
    w.u64(detail::fnv1a(layout.data(), layout.size()));
    w.str(layout);
    w.str(Opt::kind);
    w.u64(info.epoch);
    w.u64(info.steps);
    w.u64(info.rng_state);
    w.u64(info.user);
    w.floats(net.params().data(), Net::param_count);
    w.floats(net.buffers().data(), Net::buffer_count);
    const auto st = opt.state();
    w.floats(st.data(), st.size());
    w.u64(detail::fnv1a(w.bytes().data(), w.bytes().size()));
    detail::write_file_atomically(path, w.bytes());
}

/// Loads a checkpoint written by save_checkpoint for the same net type and optimizer kind into
/// net and opt, and returns what it recorded. Throws ctnn::error naming the file when it is
/// missing, not a checkpoint, truncated or corrupt, or made for another architecture or optimizer;
/// net and opt are unchanged then.
template <class Net, class Opt>
checkpoint_info load_checkpoint(const std::string& path, Net& net, Opt& opt) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw error(path + ": cannot open checkpoint (" + std::strerror(errno) + ")");
    const std::vector<char> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (b.empty() || std::memcmp(b.data(), detail::checkpoint_magic, std::min<std::size_t>(b.size(), 8)) != 0)
        throw error(path + ": not a ctnn checkpoint (no CTNNCKPT header)");
    if (b.size() < 8 + 4 + 4 + 8)
        throw error(path + ": checkpoint is truncated (" + std::to_string(b.size()) + " bytes)");
    std::uint64_t sum;
    std::memcpy(&sum, b.data() + b.size() - 8, 8);
    detail::byte_reader r(b, b.size() - 8, path);
    char magic[8];
    r.raw(magic, 8);
    const std::uint32_t version = r.u32(), bom = r.u32();
    if (bom != 0x01020304u) throw error(path + ": checkpoint was written on a machine of the other byte order");
    if (version != detail::checkpoint_version)
        throw error(path + ": checkpoint format version " + std::to_string(version) + ", this ctnn reads version " +
                    std::to_string(detail::checkpoint_version));
    if (sum != detail::fnv1a(b.data(), b.size() - 8))
        throw error(path + ": checkpoint is truncated or corrupt (checksum mismatch, " + std::to_string(b.size()) + " bytes)");
    const std::uint64_t fingerprint = r.u64();
    const std::string layout = r.str();
    const std::string mine = architecture_layout(net);
    if (fingerprint != detail::fnv1a(mine.data(), mine.size()) || layout != mine) {
        std::istringstream a(layout), m(mine);
        std::string la, lm;
        std::size_t line = 0;
        while (true) {
            const bool ga = bool(std::getline(a, la)), gm = bool(std::getline(m, lm));
            ++line;
            if (!ga && !gm) break;
            if (ga && gm && la == lm) continue;
            std::string msg = path + ": checkpoint is for another architecture: ";
            if (ga && gm)
                msg += "tensor " + std::to_string(line) + " is '" + la + "' in the file but '" + lm + "' in this net";
            else if (ga)
                msg += "the file has an extra tensor '" + la + "' that this net lacks";
            else
                msg += "this net's tensor '" + lm + "' is missing from the file";
            throw error(msg);
        }
        throw error(path + ": checkpoint fingerprint does not match this net's architecture");
    }
    const std::string kind = r.str();
    if (kind != Opt::kind)
        throw error(path + ": checkpoint holds " + kind + " optimizer state, but the optimizer is " + std::string(Opt::kind));
    checkpoint_info info;
    info.epoch = r.u64();
    info.steps = r.u64();
    info.rng_state = r.u64();
    info.user = r.u64();
    const auto st = opt.state();
    const std::uint64_t counts[3] = {Net::param_count, Net::buffer_count, st.size()};
    const char* names[3] = {"parameters", "buffer values", "optimizer state values"};
    std::vector<float> blocks[3];
    for (int i = 0; i < 3; ++i) {
        const std::uint64_t n = r.u64();
        if (n != counts[i])
            throw error(path + ": checkpoint has " + std::to_string(n) + " " + names[i] + ", expected " +
                        std::to_string(counts[i]) + " (another architecture or optimizer setting)");
        blocks[i].resize(n);
        r.raw(blocks[i].data(), n * sizeof(float));
    }
    if (r.pos() != b.size() - 8) throw error(path + ": checkpoint is corrupt (unexpected bytes after the data)");
    std::copy(blocks[0].begin(), blocks[0].end(), net.params().begin());
    std::copy(blocks[1].begin(), blocks[1].end(), net.buffers().begin());
    std::copy(blocks[2].begin(), blocks[2].end(), st.begin());
    opt.set_steps(info.steps);
    net.generator().set_state(info.rng_state);
    return info;
}

}  // namespace ctnn
