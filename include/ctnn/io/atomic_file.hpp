// The one way ctnn writes a file (safetensors, checkpoints): atomically. The bytes go to a new
// temporary file in the same directory, created exclusively (O_CREAT | O_EXCL | O_NOFOLLOW, so a
// file or symlink planted at its name is never followed or overwritten) under an unpredictable
// name; it is flushed to disk (fsync), renamed over the target, and the directory is flushed so
// the rename itself survives a crash. A failed write removes its temporary file and leaves any
// old file as it was. What a crash (kill -9, power loss) can leave: the old file or the new one,
// never part of one, and possibly a temporary file named ".<name>.ctnn-tmp-<hex>" beside it.
#pragma once
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "../error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#define CTNN_POSIX_FILES 1
#else
#include <cstdio>
#include <filesystem>
#include <fstream>
#endif

namespace ctnn::detail {

/// A temporary name beside `path`: ".<name>.ctnn-tmp-<16 hex digits>" in the same directory.
inline std::string temporary_name(const std::string& path, std::uint64_t salt) {
    static std::atomic<std::uint64_t> counter{0};
    std::uint64_t z = salt + 0x9E3779B97F4A7C15ull * (++counter) +
                      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    static constexpr char hex[] = "0123456789abcdef";
    std::string tag(16, '0');
    for (int i = 0; i < 16; ++i) tag[i] = hex[(z >> (4 * i)) & 15];
    const std::size_t slash = path.find_last_of('/');
    const std::size_t cut = slash == std::string::npos ? 0 : slash + 1;
    return path.substr(0, cut) + "." + path.substr(cut) + ".ctnn-tmp-" + tag;
}

/// Writes `bytes` to `path` atomically (see above). Throws ctnn::error "<who>: cannot write <what>
/// "<path>" (<step>: <reason>)".
inline void write_file_atomically(const std::string& path, std::span<const char> bytes, std::string_view who,
                                  std::string_view what) {
    const auto fail = [&](const std::string& step, int err) {
        throw error(std::string(who) + ": cannot write " + std::string(what) + " \"" + path + "\" (" + step + ": " +
                    std::strerror(err) + ")");
    };
#ifdef CTNN_POSIX_FILES
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
        tmp = temporary_name(path, static_cast<std::uint64_t>(::getpid()));
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) fail("cannot create a temporary file beside it", errno);
    try {
        const char* p = bytes.data();
        std::size_t n = bytes.size();
        while (n > 0) {
            const ::ssize_t w = ::write(fd, p, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) fail("writing \"" + tmp + "\" failed", w < 0 ? errno : EIO);
            p += w;
            n -= static_cast<std::size_t>(w);
        }
        if (::fsync(fd) != 0) fail("fsync of \"" + tmp + "\" failed", errno);
        const int closed = ::close(fd);
        fd = -1;
        if (closed != 0) fail("closing \"" + tmp + "\" failed", errno);
        if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename \"" + tmp + "\" to it", errno);
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    const std::size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);  // make the rename itself durable; best effort
        ::close(dfd);
    }
#else
    const std::string tmp = temporary_name(path, 0);
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail("cannot create a temporary file beside it", errno);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) {
            const int err = errno;
            out.close();
            std::remove(tmp.c_str());
            fail("writing \"" + tmp + "\" failed", err);
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        fail("cannot rename \"" + tmp + "\" to it", ec.value());
    }
#endif
}

}  // namespace ctnn::detail
