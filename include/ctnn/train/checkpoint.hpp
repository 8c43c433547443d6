// Checkpoints: weights, buffers, optimizer state, epoch and random state in one small binary file,
// written atomically (io/atomic_file.hpp), so a crash leaves either the old checkpoint or the new
// one, never half of one.
//
// Format (version 2, little-endian, all integers uint64 unless noted):
//   "CTNNCKPT"  u32 version  u32 0x01020304 (byte-order mark)
//   fingerprint (FNV-1a 64 of the layout text)
//   layout text: length, bytes  — one line per layer: "layer <i> <kind> [<hparams>] in <shape>"
//                                 then one per tensor: "<name> <param|buffer|frozen> [d0,d1,..]"
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
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "../io/atomic_file.hpp"
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

/// A checkpoint file's bytes. Every failure is a ctnn::error naming the file: missing, not a
/// regular file (a directory would make the stream throw std::ios_base::failure), unreadable,
/// or too large for memory.
inline std::vector<char> read_checkpoint_bytes(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (st.type() == fs::file_type::not_found) throw error(path + ": cannot open checkpoint (no such file)");
    if (ec) throw error(path + ": cannot open checkpoint (" + ec.message() + ")");
    if (!fs::is_regular_file(st)) throw error(path + ": cannot open checkpoint (not a regular file)");
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec) throw error(path + ": cannot read the checkpoint's size (" + ec.message() + ")");
    std::ifstream f(path, std::ios::binary);
    if (!f) throw error(path + ": cannot open checkpoint (" + std::strerror(errno) + ")");
    std::vector<char> b;
    try {
        b.resize(static_cast<std::size_t>(size));
    } catch (const std::exception&) {  // bad_alloc, length_error
        throw error(path + ": out of memory for the checkpoint's " + std::to_string(size) + " bytes");
    }
    bool whole = false;
    try {  // libstdc++'s filebuf throws std::ios_base::failure on a failed read(2), whatever the mask
        whole = f.read(b.data(), static_cast<std::streamsize>(size)) && f.peek() == std::ifstream::traits_type::eof();
    } catch (const std::exception& e) {
        throw error(path + ": cannot read the checkpoint (" + e.what() + ")");
    }
    if (!whole) throw error(path + ": cannot read the checkpoint (it changed size while being read, or a read error)");
    return b;
}

inline constexpr std::uint32_t checkpoint_version = 2;  // 2: the layout has a line per layer

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

/// Where a checkpoint's layout and the net's differ, in words: the first layer line and the
/// first tensor line that differ (or are missing on one side).
inline std::string layout_difference(const std::string& file, const std::string& net) {
    const auto lines = [](const std::string& text, bool layers) {
        std::vector<std::string> v;
        std::istringstream in(text);
        for (std::string l; std::getline(in, l);)
            if (l.starts_with("layer ") == layers) v.push_back(l);
        return v;
    };
    std::string msg;
    for (const bool layers : {true, false}) {
        const auto a = lines(file, layers), m = lines(net, layers);
        for (std::size_t i = 0; i < std::max(a.size(), m.size()); ++i) {
            if (i < a.size() && i < m.size() && a[i] == m[i]) continue;
            msg += msg.empty() ? "" : "; ";
            if (i < a.size() && i < m.size()) msg += "'" + a[i] + "' in the file but '" + m[i] + "' in this net";
            else if (i < a.size()) msg += "the file has '" + a[i] + "', which this net lacks";
            else msg += "this net's '" + m[i] + "' is missing from the file";
            break;
        }
    }
    return msg.empty() ? "the fingerprint does not match this net's architecture" : msg;
}

}  // namespace detail

namespace detail {
/// "layer <path> <kind> [<hparams>] in <shape>[ frozen]" for L, and the same for a block's
/// children (path "2.body.0"), so blocks of another make-up differ in a line.
template <class L>
void architecture_lines(std::string& s, const std::string& path, dims in) {
    s += "layer " + path + " " + std::string(L::kind) + " [" + to_string(L::hparams()) + "] in " + to_string(in) +
         (L::trainable ? "" : " frozen") + "\n";
    if constexpr (block<L>)
        L::for_each_child(in, [&]<class C>(std::string_view name, dims cin) { architecture_lines<C>(s, path + "." + std::string(name), cin); });
}
}  // namespace detail

/// The net's architecture as text, what a checkpoint's fingerprint hashes: one line per layer
/// (index, kind, hyper-parameters, input shape, frozen or not) and one per tensor (name,
/// parameter / buffer / frozen, shape). A checkpoint of another architecture differs in a line
/// even when its tensors have the same names and shapes (a ReLU where a Tanh was).
template <class Net>
std::string architecture_layout(const Net& net) {
    using P = typename Net::plan_type;
    std::string s;
    detail::for_each_index<P::depth>([&]<std::size_t I>() {
        detail::architecture_lines<typename P::template layer_type<I>>(s, std::to_string(I), P::shapes[I]);
    });
    net.for_each_tensor([&](const std::string& name, const tensor_desc& d, const float*, tensor_kind kind) {
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
    detail::write_file_atomically(path, w.bytes(), "ctnn::save_checkpoint", "checkpoint");
}

/// Loads a checkpoint written by save_checkpoint for the same net type and optimizer kind into
/// net and opt, and returns what it recorded. Throws ctnn::error naming the file when it is
/// missing, not a checkpoint, truncated or corrupt, or made for another architecture or optimizer;
/// net and opt are unchanged then.
template <class Net, class Opt>
checkpoint_info load_checkpoint(const std::string& path, Net& net, Opt& opt) {
    const std::vector<char> b = detail::read_checkpoint_bytes(path);
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
    if (fingerprint != detail::fnv1a(mine.data(), mine.size()) || layout != mine)
        throw error(path + ": checkpoint is for another architecture: " + detail::layout_difference(layout, mine));
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
