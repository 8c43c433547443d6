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

#include "../../math.hpp"

#ifndef CTNN_NO_SIMD
#include <xsimd/xsimd.hpp>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ctnn::simd {

/// One lane: the scalar fallback, with the same interface as the vector type (and the math of
/// math.hpp, so layers' formulas run on it).
struct scalar : scalar_math {
    using type = float;
    static constexpr std::size_t width = 1;
    static constexpr std::size_t registers = 16;
    static constexpr std::string_view name = "scalar";
    static type load(const float* p) { return *p; }
    static void store(float* p, type v) { *p = v; }
    static void stream(float* p, type v) { *p = v; }
    static float sum(type v) { return v; }
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
    static float sum(type v) { return xsimd::hadd(v); }
    // math.hpp's interface, so layers' formulas (layer.hpp) run on vectors
    static type one() { return type(1.0f); }
    static type select(typename type::batch_bool_type m, type a, type b) { return xsimd::select(m, a, b); }
    static typename type::batch_bool_type isnan(type v) { return xsimd::isnan(v); }
    static type abs(type v) { return xsimd::abs(v); }
    static type min(type a, type b) { return xsimd::min(a, b); }
    static type max(type a, type b) { return xsimd::max(a, b); }
    static type exp(type v) { return xsimd::exp(v); }
    static type tanh(type v) { return xsimd::tanh(v); }
    static type erf(type v) { return xsimd::erf(v); }
    static type sqrt(type v) { return xsimd::sqrt(v); }
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
