// Helpers for the file readers' fuzz targets: the readers take paths, so each input is written to
// a file of this process's own (in /dev/shm when there is one: no disk I/O per run), optionally
// gzip-compressed first so that the fuzzer reaches the parser behind the decompressor as well as
// the decompressor itself.
#pragma once
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

namespace fuzz {

using bytes = std::vector<unsigned char>;

/// This process's folder for its input files, removed at exit (by a static's destructor).
inline const std::string& temp_dir() {
    struct folder {
        std::string path;
        folder() {
            const std::filesystem::path base =
                std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
            path = (base / ("ctnn_fuzz_" + std::to_string(::getpid()))).string();
            std::filesystem::create_directories(path);
        }
        ~folder() {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    };
    static const folder f;
    return f.path;
}

/// A path for file `name` of this process.
inline std::string temp_path(const std::string& name) { return temp_dir() + "/" + name; }

/// Writes b to temp_path(name) and returns the path; aborts if it cannot (a broken harness).
inline std::string write_temp(const std::string& name, const unsigned char* p, std::size_t n) {
    const std::string path = temp_path(name);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || (n && std::fwrite(p, 1, n, f) != n) || std::fclose(f) != 0) __builtin_trap();
    return path;
}

/// b as one gzip member (zlib, level 1: the fuzzer's time goes to the reader).
inline bytes gzip(const unsigned char* p, std::size_t n) {
    bytes out(compressBound(static_cast<uLong>(n)) + 64);
    z_stream z{};
    if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) __builtin_trap();
    z.next_in = const_cast<unsigned char*>(p);
    z.avail_in = static_cast<uInt>(n);
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) __builtin_trap();
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

/// Writes n bytes at p to file `name`, gzip-compressed first when `compress`.
inline std::string write_input(const std::string& name, const unsigned char* p, std::size_t n, bool compress) {
    if (!compress) return write_temp(name, p, n);
    const bytes z = gzip(p, n);
    return write_temp(name, z.data(), z.size());
}

}  // namespace fuzz
