// The vector type of the cpu backend, chosen at COMPILE time from the compiler's target flags:
// xsimd::default_arch is the best instruction set the flags enable (-march=native on this
// project's own targets with CTNN_NATIVE=ON; -mavx2 -mfma or -march=x86-64-v3 for AVX2;
// plain x86-64 gives SSE2). Define CTNN_NO_SIMD to force the scalar fallback. There is no
// run-time dispatch: a binary runs on any CPU that has what it was compiled for.
#pragma once
#include <cmath>
#include <cstddef>
#include <string_view>
#include <type_traits>

#ifndef CTNN_NO_SIMD
#include <xsimd/xsimd.hpp>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ctnn::simd {

/// One lane: the scalar fallback, with the same interface as the vector type.
struct scalar {
    using type = float;
    static constexpr std::size_t width = 1;
    static constexpr std::size_t registers = 16;
    static constexpr std::string_view name = "scalar";
    static type load(const float* p) { return *p; }
    static void store(float* p, type v) { *p = v; }
    static type set1(float x) { return x; }
    static type zero() { return 0.0f; }
    static type fma(type a, type b, type c) { return a * b + c; }
    static void stream(float* p, type v) { *p = v; }
    static type sqrt(type v) { return std::sqrt(v); }
    static float sum(type v) { return v; }
    static type relu(type v) { return v > 0.0f ? v : (v == v ? 0.0f : v); }
    static type relu_grad(type y, type dy) { return y > 0.0f || y != y ? dy : 0.0f; }
};

#ifndef CTNN_NO_SIMD
template <class Arch>
struct xvec {
    using type = xsimd::batch<float, Arch>;
    static constexpr std::size_t width = type::size;
    static constexpr std::size_t registers = Arch::version() >= xsimd::avx512f::version() ? 32 : 16;
    static constexpr std::string_view name = Arch::name();
    static type load(const float* p) { return type::load_unaligned(p); }
    static void store(float* p, type v) { v.store_unaligned(p); }
    static type set1(float x) { return type(x); }
    static type zero() { return type(0.0f); }
    static type fma(type a, type b, type c) { return xsimd::fma(a, b, c); }
    /// A store that bypasses the caches where the target has one (p aligned to the vector): for
    /// large outputs read again only after much else. Call stream_fence() before other threads
    /// read them.
    static void stream(float* p, type v) {
#if defined(__AVX512F__)
        if constexpr (width == 16) return _mm512_stream_ps(p, v);
#endif
#if defined(__AVX__)
        if constexpr (width == 8) return _mm256_stream_ps(p, v);
#endif
#if defined(__SSE__)
        if constexpr (width == 4) return _mm_stream_ps(p, v);
#endif
        v.store_aligned(p);
    }
    static type sqrt(type v) { return xsimd::sqrt(v); }
    static float sum(type v) { return xsimd::hadd(v); }
    /// max(v, 0) that lets NaN through, like the reference ReLU.
    static type relu(type v) { return xsimd::select(v <= zero(), zero(), v); }
    /// dy where y > 0 or y is NaN, else 0 (the ReLU backward, as PyTorch)
    static type relu_grad(type y, type dy) { return xsimd::select((y > zero()) | xsimd::isnan(y), dy, zero()); }
};
using arch = xsimd::default_arch;
using vec = std::conditional_t<std::is_same_v<arch, xsimd::unavailable>, scalar, xvec<arch>>;
#else
using vec = scalar;
#endif

inline constexpr std::size_t width = vec::width;

/// Orders earlier stream() stores before later stores (x86 sfence; nothing elsewhere).
inline void stream_fence() {
#if defined(__SSE__)
    _mm_sfence();
#endif
}

}  // namespace ctnn::simd
