// libFuzzer target for the checkpoint reader (ctnn::load_checkpoint): any file must load or raise
// ctnn::error naming it, never read out of bounds (ASan) or hit undefined behaviour (UBSan); a
// failed load must leave the net and the optimizer unchanged.
//
// Input: byte 0 = flags (bit 0: the harness rewrites the file's last 8 bytes with the checksum of
// the rest, so that mutations reach the parser behind the checksum; bit 1: Adam instead of SGD
// with momentum), then the file. Seeds: tests/fuzz/corpus_checkpoint (checkpoints of Tiny).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/train.hpp>

#include "fuzz_files.hpp"

using Tiny = ctnn::Sequential<ctnn::Input<4>, ctnn::Linear<4, 3>, ctnn::BatchNorm<3>, ctnn::ReLU, ctnn::Linear<3, 2>>;

template <class Opt>
static void load(const std::string& path, Opt& opt, Tiny& net) {
    std::vector<float> before(net.params().begin(), net.params().end());
    before.insert(before.end(), net.buffers().begin(), net.buffers().end());
    const auto st = opt.state();
    before.insert(before.end(), st.begin(), st.end());
    const std::uint64_t steps = opt.steps(), rng = net.generator().state();
    try {
        ctnn::load_checkpoint(path, net, opt);
    } catch (const ctnn::error& e) {
        if (std::string(e.what()).find(path) == std::string::npos) __builtin_trap();  // must name the file
        std::vector<float> after(net.params().begin(), net.params().end());
        after.insert(after.end(), net.buffers().begin(), net.buffers().end());
        after.insert(after.end(), st.begin(), st.end());
        if (after != before || opt.steps() != steps || net.generator().state() != rng) __builtin_trap();
    }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    std::vector<unsigned char> b(data + 1, data + size);
    if ((data[0] & 1) && b.size() >= 8) {  // a valid checksum over whatever the fuzzer made
        const std::uint64_t sum = ctnn::detail::fnv1a(b.data(), b.size() - 8);
        std::memcpy(b.data() + b.size() - 8, &sum, 8);
    }
    const std::string path = fuzz::write_temp("net.ckpt", b.data(), b.size());
    Tiny net(1);
    if (data[0] & 2) {
        ctnn::Adam opt(net, 1e-3f);
        load(path, opt, net);
    } else {
        ctnn::SGD opt(net, 0.1f, {.momentum = 0.9f});
        load(path, opt, net);
    }
    return 0;
}
