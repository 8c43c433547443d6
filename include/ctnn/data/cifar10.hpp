// CIFAR-10 binary reader: data_batch_1.bin ... data_batch_5.bin (train), test_batch.bin (test).
//
// Each file is a sequence of 3073-byte records: one label byte (0..9), then 3072 pixel bytes,
// 32x32 red, then green, then blue, row-major (already CHW). Pixels are scaled to [0, 1].
// Files may also be gzip-compressed (read with zlib).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "../error.hpp"
#include "dataset.hpp"
#include "idx.hpp"

namespace ctnn::data {

inline constexpr std::size_t cifar10_image_bytes = 3 * 32 * 32;
inline constexpr std::size_t cifar10_record_bytes = 1 + cifar10_image_bytes;  // 3073
/// A file with more records than this is refused: the whole data set has 60000 (a batch file
/// 10000), and CIFAR-10 has no header to bound a gzip file's content, so without a cap a 1.5 MB
/// gzip file of 1.6 GB of records would load as 6.4 GB of floats.
inline constexpr std::size_t cifar10_max_records = 60000;

/// CIFAR-10 class names, by label.
inline constexpr const char* cifar10_classes[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                    "dog",      "frog",       "horse", "ship", "truck"};

namespace detail {

[[noreturn]] inline void too_many_records(const byte_source& src) {
    src.fail("more than " + std::to_string(cifar10_max_records) + " records of 3073 bytes (the whole CIFAR-10 data set has " +
             std::to_string(cifar10_max_records) + "); refused as not a CIFAR-10 batch (cifar10_max_records)");
}

/// Appends the records of one CIFAR-10 binary file to d (which must be 3x32x32, 10 classes).
inline void append_cifar10(dataset& d, const std::string& path) {
    byte_source src(path);
    const std::uint64_t rec = cifar10_record_bytes;
    if (!src.gzip()) {
        if (src.file_size() == 0) src.fail("empty file (expected 3073-byte CIFAR-10 records)");
        if (src.file_size() % rec != 0)
            src.fail("size " + std::to_string(src.file_size()) + " bytes is not a multiple of the " +
                     std::to_string(rec) + "-byte CIFAR-10 record (1 label byte + 3x32x32 pixels); "
                     "the file is truncated or not a CIFAR-10 binary batch");
        const std::uint64_t records = src.file_size() / rec;
        if (records > cifar10_max_records) too_many_records(src);
        d.images.reserve(d.images.size() + static_cast<std::size_t>(records * cifar10_image_bytes));
        d.labels.reserve(d.labels.size() + static_cast<std::size_t>(records));
    }
    const auto& scale = byte_scale();
    std::vector<unsigned char> buf(cifar10_record_bytes);
    std::uint64_t n = 0;
    for (;; ++n) {
        const std::size_t got = src.read(buf.data(), buf.size());
        if (got == 0) break;
        if (n == cifar10_max_records) too_many_records(src);  // stops inflating a gzip bomb here
        if (got < buf.size())
            src.fail("size " + std::to_string(n * rec + got) + " bytes (uncompressed) is not a multiple of the " +
                     std::to_string(rec) + "-byte CIFAR-10 record; the last record has only " +
                     std::to_string(got) + " bytes");
        if (buf[0] >= 10)
            src.fail("label " + std::to_string(buf[0]) + " of record " + std::to_string(n) +
                     " is out of range (expected 0..9)");
        d.labels.push_back(buf[0]);
        const std::size_t at = d.images.size();
        d.images.resize(at + cifar10_image_bytes);
        for (std::size_t i = 0; i < cifar10_image_bytes; ++i) d.images[at + i] = scale[buf[1 + i]];
    }
    if (n == 0) src.fail("empty file (expected 3073-byte CIFAR-10 records)");
    d.count += static_cast<std::size_t>(n);
}

inline dataset empty_cifar10() {
    dataset d;
    d.channels = 3;
    d.height = 32;
    d.width = 32;
    d.classes = 10;
    return d;
}

}  // namespace detail

/// One CIFAR-10 binary batch file (any number of 3073-byte records).
inline dataset load_cifar10_file(const std::string& path) {
    return detail::naming_memory_failures(path, [&] {
        dataset d = detail::empty_cifar10();
        detail::append_cifar10(d, path);
        return d;
    });
}

/// A CIFAR-10 binary directory: data_batch_1.bin ... data_batch_5.bin (train = true, 50000
/// samples) or test_batch.bin (10000). If dir has no such files but a cifar-10-batches-bin
/// subdirectory (the layout of the official archive), that subdirectory is used.
inline dataset load_cifar10_dir(const std::string& dir, bool train) {
    namespace fs = std::filesystem;
    detail::require_directory(dir, "CIFAR-10 binary batches");
    fs::path base(dir);
    const char* probe = train ? "data_batch_1.bin" : "test_batch.bin";
    if (!detail::exists_or_fail((base / probe).string()) &&
        detail::exists_or_fail((base / "cifar-10-batches-bin" / probe).string()))
        base /= "cifar-10-batches-bin";
    std::vector<std::string> files;
    if (train)
        for (int i = 1; i <= 5; ++i) files.push_back((base / ("data_batch_" + std::to_string(i) + ".bin")).string());
    else
        files.push_back((base / "test_batch.bin").string());
    return detail::naming_memory_failures(dir, [&] {
        dataset d = detail::empty_cifar10();
        for (const auto& f : files) detail::append_cifar10(d, f);
        return d;
    });
}

}  // namespace ctnn::data
