// Row operations of the bf16 kernels' packing, vectorised on AVX2 and AVX-512 builds (GCC 12 at
// -O2 leaves the plain loops scalar): the same bits as the scalar loops (convert.hpp's round and
// pair), which they fall back to in other builds and for the tails.
//
//   round_row(src, dst, n)      dst[i] = round(src[i])
//   pair_row(e, o, dst, n)      dst[i] = pair(e[i], o[i])       (o null: pair(e[i], 0))
#pragma once
#include <cstddef>
#include <cstdint>

#include "convert.hpp"
#include "gemm.hpp"

namespace ctnn::bf16_detail {

inline void round_row(const float* src, bf16_t* dst, std::size_t n) {
    std::size_t i = 0;
#if defined(CTNN_BF16_PATH_AVX2) || defined(CTNN_BF16_PATH_DP)
    const __m256i one = _mm256_set1_epi32(1), half = _mm256_set1_epi32(0x7FFF), quiet = _mm256_set1_epi32(0x40);
    const __m256i abs = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    for (; i + 8 <= n; i += 8) {
        const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(src + i));
        const __m256i hi = _mm256_srli_epi32(u, 16);
        const __m256i nearest = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, half), _mm256_and_si256(hi, one)), 16);
        // (u & abs) and inf are non-negative: the signed compare is the unsigned one
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
        const __m256i r = _mm256_blendv_epi8(nearest, _mm256_or_si256(hi, quiet), nan);
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);  // (values < 2^16: exact)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_castsi256_si128(packed));
    }
#endif
    for (; i < n; ++i) dst[i] = round(src[i]);
}

inline void pair_row(const bf16_t* e, const bf16_t* o, std::uint32_t* dst, std::size_t n) {
    std::size_t i = 0;
#if defined(CTNN_BF16_PATH_AVX2) || defined(CTNN_BF16_PATH_DP)
    for (; i + 8 <= n; i += 8) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(e + i));
        const __m128i b = o ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(o + i)) : _mm_setzero_si128();
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_unpacklo_epi16(a, b));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i + 4), _mm_unpackhi_epi16(a, b));
    }
#endif
    for (; i < n; ++i) dst[i] = pair(e[i], o ? o[i] : bf16_t(0));
}

}  // namespace ctnn::bf16_detail
