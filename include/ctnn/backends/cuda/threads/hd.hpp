// Shared by every CUDA kernel's per-thread work: the CTNN_HD marker, the grid a kernel runs on,
// and the host runners that execute a kernel's per-thread function over its whole grid.
//
// Every CUDA kernel in ctnn is a struct K with
//   struct args { ... };                          // device pointers and sizes, passed by value
//   static grid_size grid(const args&);            // blocks × threads it is launched with
// and one of two bodies:
//   map:    static CTNN_HD void thread(unsigned b, unsigned t, unsigned nt, const args&);
//   reduce: using value = ...;                     // float or f2; + and {} must work
//           static CTNN_HD value partial(unsigned b, unsigned t, unsigned nt, const args&);
//           static CTNN_HD void finish(unsigned b, value sum, const args&);
// A reduce kernel's block b sums partial() over its nt threads (in shared memory on the GPU,
// in a loop here) and one thread calls finish() with the sum. These headers compile as plain
// C++ (CTNN_HD is empty without nvcc), so tests run exactly the code the GPU runs.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../../math.hpp"  // CTNN_HD

namespace ctnn::cuda {

/// How a kernel is launched: `blocks` blocks of `threads` threads (one-dimensional).
struct grid_size {
    unsigned blocks = 0;
    unsigned threads = 0;
};

/// Threads per block of map kernels: enough warps to hide latency, small enough to fill an SM.
inline constexpr unsigned map_threads = 256;

/// The grid of a map kernel with one thread per item.
inline grid_size map_grid(std::size_t items) {
    return {static_cast<unsigned>((items + map_threads - 1) / map_threads), map_threads};
}

/// Threads per block of a reduce kernel that sums `length` terms per block: a multiple of 32
/// (whole warps), at most 256.
inline unsigned reduce_threads(std::size_t length) {
    unsigned t = 32;
    while (t < 256 && t < length) t *= 2;
    return t;
}

/// Item index of thread t of block b in a map kernel with nt threads per block.
CTNN_HD std::size_t item(unsigned b, unsigned t, unsigned nt) { return std::size_t(b) * nt + t; }

/// Two sums carried together through one reduction (BatchNorm's backward needs two).
struct f2 {
    float a = 0.0f, b = 0.0f;
};
CTNN_HD f2 operator+(f2 x, f2 y) { return {x.a + y.a, x.b + y.b}; }

CTNN_HD bool is_nan(float x) { return x != x; }

/// splitmix64's finaliser: a counter-based hash for Dropout's masks (no state per thread).
CTNN_HD std::uint64_t mix64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/// Uniform in [0, 1) with 24 random bits from (seed, index).
CTNN_HD float hash_uniform(std::uint64_t seed, std::uint64_t i) {
    return static_cast<float>(mix64(seed + 0x9E3779B97F4A7C15ull * (i + 1)) >> 40) * (1.0f / 16777216.0f);
}

// ---- host runners: the whole grid, one thread after another --------------------------------

/// Runs a map kernel's per-thread function for every block and thread of its grid.
template <class K>
void run_map_on_host(const typename K::args& a) {
    const grid_size g = K::grid(a);
    for (unsigned b = 0; b < g.blocks; ++b)
        for (unsigned t = 0; t < g.threads; ++t) K::thread(b, t, g.threads, a);
}

/// Runs a reduce kernel: each block's partial sums, then its finish.
template <class K>
void run_reduce_on_host(const typename K::args& a) {
    const grid_size g = K::grid(a);
    for (unsigned b = 0; b < g.blocks; ++b) {
        typename K::value s{};
        for (unsigned t = 0; t < g.threads; ++t) s = s + K::partial(b, t, g.threads, a);
        K::finish(b, s, a);
    }
}

/// Either runner, by which body K has.
template <class K>
void run_on_host(const typename K::args& a) {
    if constexpr (requires { typename K::value; }) run_reduce_on_host<K>(a);
    else run_map_on_host<K>(a);
}

}  // namespace ctnn::cuda
