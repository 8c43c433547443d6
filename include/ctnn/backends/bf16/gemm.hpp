// The bf16 GEMM every bf16 kernel is built from:
//
//   C[m, j] = bias[m] + sum over pairs p of ( A[m, 2p+1] * B[2p+1, j]  then  A[m, 2p] * B[2p, j] )
//
// with A (weights) and B (activations) bf16 and the sum in fp32, one accumulator per C value,
// pairs in increasing p and, within a pair, the odd k first: the order of Intel's pseudocode for
// vdpbf16ps. Each product of two bf16 is exact in fp32 (8 + 8 significant bits), so a fused
// multiply-add and a multiply then an add give the same bits, and every path below gives the
// same C bits as gemm_reference (tests/test_bf16.cpp checks the one compiled in):
//
//   __AVX512BF16__        _mm512_dpbf16_ps, 16 columns a vector, A as pairs broadcast.
//                         COMPILED ONLY (syntax-checked), NEVER RUN on the development machine
//                         (Zen 3: no AVX-512). vdpbf16ps also flushes denormal inputs and outputs
//                         to zero, which the reference does not: results may differ there.
//   __AVX2__ && __FMA__   B's pairs loaded 8 at a time, widened by a shift (even k: low half
//                         << 16) and a mask (odd k: the high half as it is), two FMAs; A kept
//                         widened to fp32 (prepared once), broadcast from memory.
//   otherwise (SSE2, CTNN_NO_SIMD)  the scalar reference loops.
//
// Layouts (all sizes in 32-bit words):
//   B   b[p * ldb + j]: pair(B[2p, j], B[2p+1, j]); j < N, N a multiple of col_align (columns
//       past the real ones hold anything: their C is computed and dropped)
//   A   packed by pack_a from fp32 weights w[m * K + k] (rounded to nearest even), a_words(M, K)
//       words: pairs a[m * Kp + p] (dp and scalar paths), or floats a[m * 2Kp + k] (AVX2 path)
//   C   c[m * ldc + j], ldc >= N
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "convert.hpp"

#if !defined(CTNN_NO_SIMD) && (defined(__AVX512BF16__) || (defined(__AVX2__) && defined(__FMA__)))
#include <immintrin.h>
#endif

// The tiles' loops over rows and vectors must unroll, or the accumulators live on the stack
// (GCC 12 at -O2 kept them there: a third of the speed).
#if defined(__clang__)
#define CTNN_BF16_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define CTNN_BF16_UNROLL _Pragma("GCC unroll 16")
#else
#define CTNN_BF16_UNROLL
#endif

namespace ctnn::bf16_detail {

#if !defined(CTNN_NO_SIMD) && defined(__AVX512BF16__) && defined(__AVX512F__)
#define CTNN_BF16_PATH_DP 1
inline constexpr const char* path_name = "avx512bf16 (vdpbf16ps)";
#elif !defined(CTNN_NO_SIMD) && defined(__AVX2__) && defined(__FMA__)
#define CTNN_BF16_PATH_AVX2 1
inline constexpr const char* path_name = "avx2 (widen by shift + fma)";
#else
inline constexpr const char* path_name = "scalar reference";
#endif

/// Columns of B and C come in multiples of this (one AVX-512 vector).
inline constexpr std::size_t col_align = 16;

/// Words of packed A for an M x K weight matrix.
constexpr std::size_t a_words(std::size_t M, std::size_t K) {
#if defined(CTNN_BF16_PATH_AVX2)
    return M * 2 * pairs(K);
#else
    return M * pairs(K);
#endif
}

/// Packs w [M, K] (fp32, row-major) into this path's A layout, rounding to bf16.
inline void pack_a(const float* w, std::size_t M, std::size_t K, float* out) {
    const std::size_t Kp = pairs(K);
    for (std::size_t m = 0; m < M; ++m)
        for (std::size_t p = 0; p < Kp; ++p) {
            const bf16_t e = round(w[m * K + 2 * p]), o = 2 * p + 1 < K ? round(w[m * K + 2 * p + 1]) : bf16_t(0);
#if defined(CTNN_BF16_PATH_AVX2)
            out[m * 2 * Kp + 2 * p] = widen(e);
            out[m * 2 * Kp + 2 * p + 1] = widen(o);
#else
            const std::uint32_t v = pair(e, o);
            std::memcpy(out + m * Kp + p, &v, 4);
#endif
        }
}

/// The definition: rows [m0, m1) of C from A as pairs a2[m * Kp + p] (not packed: plain pairs
/// in every build), in the order stated at the top.
inline void gemm_reference(const std::uint32_t* a2, const std::uint32_t* b, std::size_t Kp, std::size_t ldb, std::size_t m0,
                           std::size_t m1, std::size_t N, const float* bias, float* c, std::size_t ldc) {
    for (std::size_t m = m0; m < m1; ++m) {
        float* cr = c + m * ldc;
        for (std::size_t j = 0; j < N; ++j) cr[j] = bias[m];
        for (std::size_t p = 0; p < Kp; ++p) {
            const std::uint32_t w = a2[m * Kp + p];
            const float wo = widen(bf16_t(w >> 16)), we = widen(bf16_t(w & 0xFFFFu));
            const std::uint32_t* br = b + p * ldb;
            for (std::size_t j = 0; j < N; ++j) {
                cr[j] = cr[j] + wo * widen(bf16_t(br[j] >> 16));
                cr[j] = cr[j] + we * widen(bf16_t(br[j] & 0xFFFFu));
            }
        }
    }
}

#if defined(CTNN_BF16_PATH_AVX2)
/// R rows x NV vectors of 8 columns from (m0, j0).
template <std::size_t R, std::size_t NV>
inline void tile_avx2(const float* a, const std::uint32_t* b, std::size_t Kp, std::size_t ldb, std::size_t m0, std::size_t j0,
                      const float* bias, float* c, std::size_t ldc) {
    __m256 acc[R][NV];
    CTNN_BF16_UNROLL
    for (std::size_t r = 0; r < R; ++r)
        CTNN_BF16_UNROLL
        for (std::size_t v = 0; v < NV; ++v) acc[r][v] = _mm256_set1_ps(bias[m0 + r]);
    const __m256i high = _mm256_set1_epi32(int(0xFFFF0000u));
    const float* ar = a + m0 * 2 * Kp;
    for (std::size_t p = 0; p < Kp; ++p) {
        __m256 xe[NV], xo[NV];
        CTNN_BF16_UNROLL
        for (std::size_t v = 0; v < NV; ++v) {
            const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p * ldb + j0 + 8 * v));
            xe[v] = _mm256_castsi256_ps(_mm256_slli_epi32(t, 16));
            xo[v] = _mm256_castsi256_ps(_mm256_and_si256(t, high));
        }
        CTNN_BF16_UNROLL
        for (std::size_t r = 0; r < R; ++r) {
            const __m256 wo = _mm256_broadcast_ss(ar + r * 2 * Kp + 2 * p + 1);
            CTNN_BF16_UNROLL
            for (std::size_t v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(xo[v], wo, acc[r][v]);
            const __m256 we = _mm256_broadcast_ss(ar + r * 2 * Kp + 2 * p);
            CTNN_BF16_UNROLL
            for (std::size_t v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(xe[v], we, acc[r][v]);
        }
    }
    CTNN_BF16_UNROLL
    for (std::size_t r = 0; r < R; ++r)
        CTNN_BF16_UNROLL
        for (std::size_t v = 0; v < NV; ++v) _mm256_storeu_ps(c + (m0 + r) * ldc + j0 + 8 * v, acc[r][v]);
}
#endif

#if defined(CTNN_BF16_PATH_DP)
/// R rows x NV vectors of 16 columns from (m0, j0), by vdpbf16ps.
template <std::size_t R, std::size_t NV>
inline void tile_dp(const std::uint32_t* a, const std::uint32_t* b, std::size_t Kp, std::size_t ldb, std::size_t m0,
                    std::size_t j0, const float* bias, float* c, std::size_t ldc) {
    __m512 acc[R][NV];
    CTNN_BF16_UNROLL
    for (std::size_t r = 0; r < R; ++r)
        CTNN_BF16_UNROLL
        for (std::size_t v = 0; v < NV; ++v) acc[r][v] = _mm512_set1_ps(bias[m0 + r]);
    for (std::size_t p = 0; p < Kp; ++p) {
        __m512i x[NV];
        CTNN_BF16_UNROLL
        for (std::size_t v = 0; v < NV; ++v) x[v] = _mm512_loadu_si512(b + p * ldb + j0 + 16 * v);
        CTNN_BF16_UNROLL
        for (std::size_t r = 0; r < R; ++r) {
            const __m512i w = _mm512_set1_epi32(int(a[(m0 + r) * Kp + p]));
            CTNN_BF16_UNROLL
            for (std::size_t v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)w, (__m512bh)x[v]);
        }
    }
    CTNN_BF16_UNROLL
    for (std::size_t r = 0; r < R; ++r)
        CTNN_BF16_UNROLL
        for (std::size_t v = 0; v < NV; ++v) _mm512_storeu_ps(c + (m0 + r) * ldc + j0 + 16 * v, acc[r][v]);
}
#endif

/// Rows [m0, m1) of C (N columns, a multiple of col_align) from packed A (pack_a) and B, on
/// this build's path. Every C value is the same whatever rows a call covers.
inline void gemm(const float* a, const std::uint32_t* b, std::size_t Kp, std::size_t ldb, std::size_t m0, std::size_t m1,
                 std::size_t N, const float* bias, float* c, std::size_t ldc) {
#if defined(CTNN_BF16_PATH_AVX2) || defined(CTNN_BF16_PATH_DP)
#if defined(CTNN_BF16_PATH_AVX2)
    constexpr std::size_t R = 4, vec = 8;
    const auto tile = [&]<std::size_t Rt, std::size_t NV>(std::size_t m, std::size_t j) { tile_avx2<Rt, NV>(a, b, Kp, ldb, m, j, bias, c, ldc); };
#else
    constexpr std::size_t R = 8, vec = 16;
    const auto* a2 = reinterpret_cast<const std::uint32_t*>(a);
    const auto tile = [&]<std::size_t Rt, std::size_t NV>(std::size_t m, std::size_t j) { tile_dp<Rt, NV>(a2, b, Kp, ldb, m, j, bias, c, ldc); };
#endif
    const auto rows = [&]<std::size_t Rt>(std::size_t m) {
        std::size_t j = 0;
        for (; j + 2 * vec <= N; j += 2 * vec) tile.template operator()<Rt, 2>(m, j);
        for (; j < N; j += vec) tile.template operator()<Rt, 1>(m, j);
    };
    std::size_t m = m0;
    for (; m + R <= m1; m += R) rows.template operator()<R>(m);
    if constexpr (R > 4)
        if (m + 4 <= m1) rows.template operator()<4>(m), m += 4;
    if (m + 2 <= m1) rows.template operator()<2>(m), m += 2;
    if (m < m1) rows.template operator()<1>(m);
#else
    gemm_reference(reinterpret_cast<const std::uint32_t*>(a), b, Kp, ldb, m0, m1, N, bias, c, ldc);
#endif
}

}  // namespace ctnn::bf16_detail
