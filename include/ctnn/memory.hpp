// Aligned float storage whose size is fixed when it is made (the size comes from the net's type).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace ctnn {

inline constexpr std::size_t alignment = 64;  // one cache line; enough for AVX-512 loads

/// A heap block of N floats, 64-byte aligned, zero-initialised, deep-copied on copy. Blocks of
/// 2 MiB and more are 2 MiB aligned and, on Linux, asked to be backed by huge pages
/// (madvise(MADV_HUGEPAGE); the kernel may decline): a large weight matrix read a column panel at
/// a time touches a new 4 KiB page every row (docs/benchmarks.md, "Design measurements").
class aligned_floats {
public:
    aligned_floats() = default;
    explicit aligned_floats(std::size_t n) : n_(n) {
        if (n_) {
            p_ = static_cast<float*>(::operator new(n_ * sizeof(float), std::align_val_t{align_of(n_)}));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
            if (align_of(n_) == huge) ::madvise(p_, (n_ * sizeof(float) + huge - 1) / huge * huge, MADV_HUGEPAGE);
#endif
            std::fill(p_, p_ + n_, 0.0f);
        }
    }
    aligned_floats(const aligned_floats& o) : aligned_floats(o.n_) {
        if (n_) std::memcpy(p_, o.p_, n_ * sizeof(float));
    }
    aligned_floats(aligned_floats&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
    aligned_floats& operator=(aligned_floats o) noexcept { swap(o); return *this; }
    ~aligned_floats() { if (p_) ::operator delete(p_, std::align_val_t{align_of(n_)}); }

    void swap(aligned_floats& o) noexcept { std::swap(p_, o.p_); std::swap(n_, o.n_); }
    float* data() { return p_; }
    const float* data() const { return p_; }
    std::size_t size() const { return n_; }
    float& operator[](std::size_t i) { return p_[i]; }
    const float& operator[](std::size_t i) const { return p_[i]; }
    float* begin() { return p_; }
    float* end() { return p_ + n_; }
    const float* begin() const { return p_; }
    const float* end() const { return p_ + n_; }

    /// Grow to at least n floats (contents are not kept). Never shrinks.
    void reserve(std::size_t n) { if (n > n_) *this = aligned_floats(n); }

private:
    static constexpr std::size_t huge = std::size_t(2) << 20;
    static constexpr std::size_t align_of(std::size_t n) { return n * sizeof(float) >= huge ? huge : alignment; }

    float* p_ = nullptr;
    std::size_t n_ = 0;
};

/// Round n up to a multiple of 16 floats (64 bytes), so sub-buffers stay aligned.
constexpr std::size_t align_floats(std::size_t n) { return (n + 15) / 16 * 16; }

}  // namespace ctnn
