// libFuzzer target for the safetensors reader: any bytes must either parse into a validated file
// or raise ctnn::error, never read out of bounds (ASan) or hit undefined behaviour (UBSan); a
// failed load must leave the net unchanged. Built with clang++-14
// -fsanitize=fuzzer,address,undefined by tests/fuzz/CMakeLists.txt; seeds: tests/fuzz/corpus
// (made by tools/make_safetensors_reference.py) and tests/data/safetensors.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <ctnn/io.hpp>

using Tiny = ctnn::Sequential<ctnn::Input<4>, ctnn::Linear<4, 3>, ctnn::BatchNorm<3>, ctnn::ReLU, ctnn::Linear<3, 2>>;

static std::vector<float> snapshot(Tiny& net) {
    std::vector<float> v(net.params().begin(), net.params().end());
    v.insert(v.end(), net.buffers().begin(), net.buffers().end());
    return v;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::byte> bytes(size);
    if (size) std::memcpy(bytes.data(), data, size);
    try {
        const auto f = ctnn::safetensors::file::from_bytes(std::move(bytes), "fuzz");
        float sink = 0;
        for (const auto& t : f.tensors()) {  // touch every tensor's bytes
            if (!ctnn::safetensors::file::converts_to_float(t.type)) continue;
            for (float v : f.to_floats(t)) sink += v;
        }
        (void)sink;
        for (const ctnn::load_options opt : {ctnn::load_options{}, ctnn::load_options{.strict = false},
                                             ctnn::load_options{.strict = true, .layers = 2}}) {
            Tiny net(1);
            const auto before = snapshot(net);
            try {
                ctnn::load_safetensors(net, f, opt);
            } catch (const ctnn::error&) {
                if (snapshot(net) != before) __builtin_trap();  // a failed load changed the net
            }
        }
    } catch (const ctnn::error&) {
    }
    return 0;
}
