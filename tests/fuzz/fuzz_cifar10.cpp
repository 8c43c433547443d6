// libFuzzer target for the CIFAR-10 reader (ctnn::data::load_cifar10_file), raw and gzip: any file
// must load into a consistent data set or raise ctnn::error naming it, never read out of bounds
// (ASan), hit undefined behaviour (UBSan) or exhaust memory (-rss_limit_mb).
//
// Input: byte 0 = flags (bit 0: gzip the rest in the harness; clear, the bytes are written as
// given, so a gzip seed exercises the decompressor on mutated streams), then the file. Seeds:
// tests/fuzz/corpus_cifar10.
#include <cstddef>
#include <cstdint>

#include <ctnn/data.hpp>

#include "fuzz_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string path = fuzz::write_input("batch.bin", data + 1, size - 1, data[0] & 1);
    try {
        const ctnn::data::dataset d = ctnn::data::load_cifar10_file(path);
        d.check();
        if (d.count == 0 || d.sample_size() != ctnn::data::cifar10_image_bytes) __builtin_trap();
    } catch (const ctnn::error& e) {
        if (std::string(e.what()).find(path) == std::string::npos) __builtin_trap();  // must name the file
    }
    return 0;
}
