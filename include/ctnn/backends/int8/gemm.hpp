// The int8 backend's one compute kernel: u8 activations x s8 weights -> s32, with the requantize
// (or dequantize) epilogue fused. Conv (after an NHWC im2col, or reading a padded copy of its
// input in place: "implicit im2col") and Linear are both this GEMM.
//
//   a     P rows of Kp bytes, k contiguous within a kernel row. Row p starts at
//         a + (p / pw) * lda_row + (p % pw) * lda (pw = 0: at a + p * lda); it is kr kernel rows
//         of Kp / kr bytes each, kernel row j at offset j * ka (kr = 1: one contiguous row)
//   w     packed [ceil(Co / 8)][Kp / 4][8][4]: blocks of 8 output channels, 4 consecutive k of
//         one channel adjacent (the vpmaddubsw / vpdpbusd operand order); channels past Co and
//         k past K (in each kernel row) are 0
//   acc   acc[p][c] = bias[c] + sum_k a[p][k] * w[c][k]   (bias already holds -zp_x * sum_k w)
//   out   u8:  y[p * ldy + c] = clamp(round_half_even(float(acc) * mult[c]), lo, hi) + zp
//         f32: yf[p * ldy + c] = float(acc) * mult[c]
//   max2  (u8 out only) a 2x2 stride-2 MaxPool in the accumulators: P counts windows, pw per row
//         of windows; window q's pixels are at w0 + {0, lda, lda_row, lda_row + lda}, w0 =
//         a + (q / pw) * 2 * lda_row + (q % pw) * 2 * lda, and acc[q][c] is the largest of their
//         four sums. The requantize is monotonic (mult >= 0), so this is the code of the max.
//
// Three implementations, picked at compile time (never at run time: machines without an
// instruction set never see its code):
//   reference   plain C++; the definition of the integers
//   avx2        vpmaddubsw + vpmaddwd + vpaddd per 32 multiply-adds (needs |w| <= 63: qparams.hpp)
//   vnni        vpdpbusd on 256-bit vectors (__AVXVNNI__, or __AVX512VNNI__ with __AVX512VL__),
//               one instruction per 32 multiply-adds; compiled in CI-style syntax checks only:
//               the development machine has no VNNI, so it has never run
// All three give the same integers (tests/test_int8.cpp checks reference against the one built).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../quant/qparams.hpp"

#if defined(__AVXVNNI__) || (defined(__AVX512VNNI__) && defined(__AVX512VL__))
#define CTNN_INT8_VNNI 1
#endif
#if !defined(CTNN_NO_SIMD) && defined(__AVX2__) && (defined(CTNN_INT8_VNNI) || !defined(CTNN_INT8_WEIGHT_QMAX) || CTNN_INT8_WEIGHT_QMAX <= 63)
#define CTNN_INT8_AVX2 1
#include <immintrin.h>
#endif

namespace ctnn::int8 {

struct gemm_args {
    const std::uint8_t* a = nullptr;
    std::size_t lda = 0, P = 0, Kp = 0;  // Kp: a multiple of 4 * kr
    std::size_t pw = 0, lda_row = 0;     // pixels per row of the pixel grid (0: one row), its stride
    std::size_t kr = 1, ka = 0;          // kernel rows per pixel, and the stride between them
    bool max2 = false;                   // 2x2 stride-2 max pooling of the pixel grid (above)
    const std::int8_t* w = nullptr;      // packed (above)
    std::size_t Co = 0;
    const std::int32_t* bias = nullptr;  // [Co rounded up to 8]
    const float* mult = nullptr;         // [Co rounded up to 8]
    std::int32_t zp = 0;                 // u8 output: zero point, and the clamp [lo, hi] of q - zp
    float lo = 0.0f, hi = 255.0f;
    std::uint8_t* y = nullptr;           // u8 output, or
    float* yf = nullptr;                 // f32 output
    std::size_t ldy = 0;
};

constexpr std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

/// Where pixel p's row of A starts.
inline const std::uint8_t* pixel_row(const gemm_args& g, std::size_t p) {
    return g.pw ? g.a + p / g.pw * g.lda_row + p % g.pw * g.lda : g.a + p * g.lda;
}

/// Index of w[c][k] in the packed layout for Kp.
constexpr std::size_t packed_index(std::size_t c, std::size_t k, std::size_t Kp) {
    return ((c / 8 * (Kp / 4) + k / 4) * 8 + c % 8) * 4 + k % 4;
}

/// Packs q [Co][K] (row-major; kr kernel rows of K / kr each) into the layout above, each kernel
/// row padded with zero weights to Kp / kr bytes; out has round_up(Co, 8) * Kp bytes.
inline void pack_weights(const std::int8_t* q, std::size_t Co, std::size_t K, std::size_t Kp, std::int8_t* out, std::size_t kr = 1) {
    std::memset(out, 0, round_up(Co, 8) * Kp);
    const std::size_t kb = K / kr, rb = Kp / kr;
    for (std::size_t c = 0; c < Co; ++c)
        for (std::size_t k = 0; k < K; ++k) out[packed_index(c, k / kb * rb + k % kb, Kp)] = q[c * K + k];
}

/// The epilogue for one value (shared by every implementation's scalar tail).
inline void store_one(const gemm_args& g, std::size_t p, std::size_t c, std::int32_t acc) {
    const float f = static_cast<float>(acc) * g.mult[c];
    if (g.yf) {
        g.yf[p * g.ldy + c] = f;
    } else {
        const float r = std::nearbyint(std::min(std::max(f, g.lo), g.hi));
        g.y[p * g.ldy + c] = static_cast<std::uint8_t>(static_cast<std::int32_t>(r) + g.zp);
    }
}

struct reference {
    static constexpr const char* name = "reference (scalar C++)";
    /// Channel by channel, a plain dot product per pixel.
    static void gemm(const gemm_args& g) {
        for (std::size_t c = 0; c < g.Co; ++c)
            for (std::size_t p = 0; p < g.P; ++p) {
                if (!g.max2) {
                    store_one(g, p, c, dot(g, pixel_row(g, p), c));
                    continue;
                }
                const std::uint8_t* w0 = g.a + p / g.pw * 2 * g.lda_row + p % g.pw * 2 * g.lda;
                std::int32_t m = dot(g, w0, c);
                for (std::size_t off : {g.lda, g.lda_row, g.lda_row + g.lda}) m = std::max(m, dot(g, w0 + off, c));
                store_one(g, p, c, m);
            }
    }
    /// bias[c] + the dot product of channel c's weights with the row of A at a.
    static std::int32_t dot(const gemm_args& g, const std::uint8_t* a, std::size_t c) {
        const std::size_t rb = g.Kp / g.kr;
        std::int32_t acc = g.bias[c];
        for (std::size_t k = 0; k < g.Kp; ++k) acc += std::int32_t(a[k / rb * g.ka + k % rb]) * std::int32_t(g.w[packed_index(c, k, g.Kp)]);
        return acc;
    }
};

#if defined(CTNN_INT8_AVX2)
namespace detail {

/// 4 bytes of a row (k = 4 * k4 .. +3), broadcast to the 8 lanes.
inline __m256i broadcast4(const std::uint8_t* p) {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/// acc += a . w over 4 consecutive k per lane: vpdpbusd where the target has it, else
/// vpmaddubsw (pairs, int16: |a * w| * 2 <= 255 * 63 * 2, never saturates) then vpmaddwd by 1.
inline __m256i dot4(__m256i acc, __m256i a, __m256i w, [[maybe_unused]] __m256i ones) {
#if defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(acc, a, w);
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, a, w);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w), ones));
#endif
}

/// acc (bias included) -> the u8 code q = round(clamp(acc * mult, lo, hi)) + zp per int32 lane,
/// in [0, 255] (the reference's float operations, in its order).
inline __m256i requant8(const gemm_args& g, std::size_t c0, __m256i acc) {
    const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_loadu_ps(g.mult + c0));
    const __m256 r = _mm256_min_ps(_mm256_max_ps(f, _mm256_set1_ps(g.lo)), _mm256_set1_ps(g.hi));
    return _mm256_add_epi32(_mm256_cvtps_epi32(r), _mm256_set1_epi32(g.zp));
}

/// Writes the 8 channels c0 .. c0+7 (those below Co) of pixel p from acc (bias included).
inline void store8(const gemm_args& g, std::size_t p, std::size_t c0, __m256i acc) {
    const std::size_t n = std::min<std::size_t>(8, g.Co - c0);
    if (g.yf) {
        const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_loadu_ps(g.mult + c0));
        if (n == 8) _mm256_storeu_ps(g.yf + p * g.ldy + c0, f);
        else {
            alignas(32) float t[8];
            _mm256_store_ps(t, f);
            std::memcpy(g.yf + p * g.ldy + c0, t, n * sizeof(float));
        }
        return;
    }
    const __m256i q = requant8(g, c0, acc);
    // byte 0 of each int32 to the low 4 bytes of each 128-bit half, then the halves side by side
    const __m256i s = _mm256_shuffle_epi8(q, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                                             0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
    const __m128i b = _mm_unpacklo_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    std::uint8_t* dst = g.y + p * g.ldy + c0;
    if (n == 8) _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), b);
    else {
        alignas(16) std::uint8_t t[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(t), b);
        std::memcpy(dst, t, n);
    }
}

/// Writes 16 channels c0 .. c0+15 (all below Co) of pixel p from two accumulators, clamping
/// below after rounding, on int16, to save instructions. The same codes as the reference:
/// round(min(f, hi)) is round(clamp(f, lo, hi)) wherever that is >= lo (lo and hi are integers);
/// where it is below lo (even INT_MIN, cvtps's answer past 2^31) every later step keeps it below
/// lo + zp (packs and adds saturate, packus clamps to [0, 255]), and the last max lifts it to
/// lo + zp, which is 0 (no ReLU: packus already did it) or zp.
inline void store16(const gemm_args& g, std::size_t p, std::size_t c0, __m256i acc0, __m256i acc1) {
    const __m256 hi = _mm256_set1_ps(g.hi);
    const __m256 f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc0), _mm256_loadu_ps(g.mult + c0));
    const __m256 f1 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc1), _mm256_loadu_ps(g.mult + c0 + 8));
    __m256i w = _mm256_packs_epi32(_mm256_cvtps_epi32(_mm256_min_ps(f0, hi)), _mm256_cvtps_epi32(_mm256_min_ps(f1, hi)));
    w = _mm256_adds_epi16(w, _mm256_set1_epi16(std::int16_t(g.zp)));
    __m256i b = _mm256_max_epu8(_mm256_packus_epi16(w, w), _mm256_set1_epi8(char(std::int32_t(g.lo) + g.zp)));
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));  // the 4-byte groups in order
    _mm_storeu_si128(reinterpret_cast<__m128i*>(g.y + p * g.ldy + c0), _mm256_castsi256_si128(b));
}

// (every loop over NP and NB is unrolled, so acc stays in registers: 8 of the 16 ymm)
#if defined(__clang__)
#define CTNN_INT8_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define CTNN_INT8_UNROLL _Pragma("GCC unroll 8")
#else
#define CTNN_INT8_UNROLL
#endif

/// NP pixels (their rows of A at ap[0 .. NP)) from p0 x NB blocks of 8 channels from block cb0:
/// NP * NB accumulators in registers, started at the bias. Max2: the 4 pixels are window p0.
template <int NP, int NB, bool Max2 = false>
inline void tile(const gemm_args& g, const std::uint8_t* const* ap, std::size_t p0, std::size_t cb0) {
    __m256i acc[NP][NB];
    CTNN_INT8_UNROLL for (int b = 0; b < NB; ++b) {
        const __m256i bias = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.bias + (cb0 + b) * 8));
        CTNN_INT8_UNROLL for (int p = 0; p < NP; ++p) acc[p][b] = bias;
    }
    const __m256i ones = _mm256_set1_epi16(1);
    const std::size_t K4 = g.Kp / 4, rk4 = K4 / g.kr;
    const std::int8_t* wk = g.w + cb0 * K4 * 32;
    for (std::size_t j = 0; j < g.kr; ++j) {
        const std::size_t off = j * g.ka;
        for (std::size_t k4 = 0; k4 < rk4; ++k4, wk += 32) {
            __m256i w[NB];
            CTNN_INT8_UNROLL for (int b = 0; b < NB; ++b) w[b] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wk + b * K4 * 32));
            CTNN_INT8_UNROLL for (int p = 0; p < NP; ++p) {
                const __m256i x = broadcast4(ap[p] + off + 4 * k4);
                CTNN_INT8_UNROLL for (int b = 0; b < NB; ++b) acc[p][b] = dot4(acc[p][b], x, w[b], ones);
            }
        }
    }
    if (Max2) {  // the 4 pixels are one window: their largest sums, stored as pixel p0
        CTNN_INT8_UNROLL for (int b = 0; b < NB; ++b)
            acc[0][b] = _mm256_max_epi32(_mm256_max_epi32(acc[0][b], acc[1 % NP][b]), _mm256_max_epi32(acc[2 % NP][b], acc[3 % NP][b]));
    }
    CTNN_INT8_UNROLL for (int p = 0; p < (Max2 ? 1 : NP); ++p) {
        if (NB == 2 && !g.yf && (cb0 + 2) * 8 <= g.Co) store16(g, p0 + p, cb0 * 8, acc[p][0], acc[p][NB - 1]);
        else CTNN_INT8_UNROLL for (int b = 0; b < NB; ++b) store8(g, p0 + p, (cb0 + b) * 8, acc[p][b]);
    }
}

/// Every pixel for blocks cb0 .. cb0+NB-1: tiles of 4 pixels, then one of the 1-3 left. The
/// pixels' rows of A are found by walking the pixel grid (no division per pixel).
template <int NB>
inline void pixels(const gemm_args& g, std::size_t cb0) {
    if (g.max2) {
        const std::uint8_t* row = g.a;
        for (std::size_t q = 0, col = 0; q < g.P; ++q) {
            const std::uint8_t* w0 = row + col * 2 * g.lda;
            const std::uint8_t* ap[4] = {w0, w0 + g.lda, w0 + g.lda_row, w0 + g.lda_row + g.lda};
            tile<4, NB, true>(g, ap, q, cb0);
            if (++col == g.pw) col = 0, row += 2 * g.lda_row;
        }
        return;
    }
    const std::size_t pw = g.pw ? g.pw : g.P;
    const std::uint8_t* row = g.a;
    std::size_t col = 0;
    const std::uint8_t* ap[4];
    std::size_t p = 0;
    while (p < g.P) {
        const std::size_t n = std::min<std::size_t>(4, g.P - p);
        for (std::size_t i = 0; i < n; ++i) {
            ap[i] = row + col * g.lda;
            if (++col == pw) col = 0, row += g.lda_row;
        }
        switch (n) {
            case 4: tile<4, NB>(g, ap, p, cb0); break;
            case 3: tile<3, NB>(g, ap, p, cb0); break;
            case 2: tile<2, NB>(g, ap, p, cb0); break;
            default: tile<1, NB>(g, ap, p, cb0); break;
        }
        p += n;
    }
}

}  // namespace detail

struct avx2 {
#if defined(CTNN_INT8_VNNI)
    static constexpr const char* name = "VNNI (vpdpbusd, 256-bit)";
#else
    static constexpr const char* name = "AVX2 (vpmaddubsw + vpmaddwd)";
#endif
    static void gemm(const gemm_args& g) {
        const std::size_t blocks = (g.Co + 7) / 8;
        std::size_t cb = 0;
        for (; cb + 2 <= blocks; cb += 2) detail::pixels<2>(g, cb);
        if (cb < blocks) detail::pixels<1>(g, cb);
    }
};
using simd = avx2;
#else
// no AVX2 (or CTNN_NO_SIMD, or 8-bit weights without VNNI): the scalar kernel, chosen at compile time
using simd = reference;
#endif

}  // namespace ctnn::int8
