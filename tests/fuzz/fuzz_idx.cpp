// libFuzzer target for the IDX reader (ctnn::data::load_idx), raw and gzip: any pair of files must
// load into a consistent data set or raise ctnn::error naming a file, never read out of bounds
// (ASan), hit undefined behaviour (UBSan) or exhaust memory (-rss_limit_mb). A loaded set must
// also feed a loader (whose batch buffer is sized from the header).
//
// Input: byte 0 = flags (bit 0: gzip the images file, bit 1: gzip the labels file, in the harness;
// clear, the bytes are written as given, so a seed that is itself gzip exercises the decompressor
// on mutated streams), bytes 1-2 = the images file's length (big-endian, modulo what is left), then
// the images file, then the labels file. Seeds: tests/fuzz/corpus_idx.
#include <cstddef>
#include <cstdint>

#include <ctnn/data.hpp>

#include "fuzz_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const unsigned flags = data[0];
    const std::size_t rest = size - 3, split = ((std::size_t{data[1]} << 8) | data[2]) % (rest + 1);
    const std::string img = fuzz::write_input("images", data + 3, split, flags & 1);
    const std::string lab = fuzz::write_input("labels", data + 3 + split, rest - split, flags & 2);
    try {
        const ctnn::data::dataset d = ctnn::data::load_idx(img, lab);
        d.check();
        if (d.count) {
            ctnn::data::loader l(d, 4, 1, true, {.pad_crop = 1, .hflip = true});
            while (l.next()) {
            }
        }
    } catch (const ctnn::error& e) {
        const std::string m = e.what();
        if (m.find(img) == std::string::npos && m.find(lab) == std::string::npos && m.rfind("loader:", 0) != 0)
            __builtin_trap();  // an error that names neither file
    }
    return 0;
}
