// cpu kernel helpers of the Winograd F(4x4, rxr) convolutions (winograd4.hpp): the transform
// matrices, their application with the +-p symmetry folded, and the gather / row-load reads of a
// sample's tile patches across the vector.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "winograd.hpp"

namespace ctnn::cpu_detail {

/// F(4, R): y = AT [ (G g) .* (BT d) ] for y_i = sum_k g_k d_(i+k), i < 4 (Cook-Toom; R = 3 on
/// 0, +-3/2, +-2/3, inf, R = 5 on 0, +-1, +-2, +-1/2, inf).
template <std::size_t R>
struct wino4_mats;
template <>
struct wino4_mats<3> {
    // points 0, +-3/2, +-2/3 rather than 0, +-1, +-2: in fp32 3.5x more accurate (1.5e-6 of the
    // output's scale over 32 channels, where +-1, +-2 give 5.5e-6 and failed the PyTorch golden
    // files' 1e-5 on the seed CNN)
    struct AT {
        static constexpr std::size_t rows = 4, cols = 6;
        static constexpr float v[4][6] = {{1, 1, 1, 1, 1, 0},
                                          {0, 1.5f, -1.5f, 2.0f / 3, -2.0f / 3, 0},
                                          {0, 2.25f, 2.25f, 4.0f / 9, 4.0f / 9, 0},
                                          {0, 3.375f, -3.375f, 8.0f / 27, -8.0f / 27, 1}};
    };
    struct G {
        static constexpr std::size_t rows = 6, cols = 3;
        static constexpr float v[6][3] = {{1, 0, 0},
                                          {8.0f / 65, 12.0f / 65, 18.0f / 65},
                                          {8.0f / 65, -12.0f / 65, 18.0f / 65},
                                          {-81.0f / 130, -27.0f / 65, -18.0f / 65},
                                          {-81.0f / 130, 27.0f / 65, -18.0f / 65},
                                          {0, 0, 1}};
    };
    struct BT {
        static constexpr std::size_t rows = 6, cols = 6;
        static constexpr float v[6][6] = {{1, 0, -97.0f / 36, 0, 1, 0},
                                          {0, -2.0f / 3, -4.0f / 9, 1.5f, 1, 0},
                                          {0, 2.0f / 3, -4.0f / 9, -1.5f, 1, 0},
                                          {0, -1.5f, -2.25f, 2.0f / 3, 1, 0},
                                          {0, 1.5f, -2.25f, -2.0f / 3, 1, 0},
                                          {0, 1, 0, -97.0f / 36, 0, 1}};
    };
};
template <>
struct wino4_mats<5> {
    struct AT {
        static constexpr std::size_t rows = 4, cols = 8;
        static constexpr float v[4][8] = {{1, 1, 1, 1, 1, 1, 1, 0},
                                          {0, 1, -1, 2, -2, 0.5f, -0.5f, 0},
                                          {0, 1, 1, 4, 4, 0.25f, 0.25f, 0},
                                          {0, 1, -1, 8, -8, 0.125f, -0.125f, 1}};
    };
    struct G {
        static constexpr std::size_t rows = 8, cols = 5;
        static constexpr float v[8][5] = {{-1, 0, 0, 0, 0},
                                          {-2.0f / 9, -2.0f / 9, -2.0f / 9, -2.0f / 9, -2.0f / 9},
                                          {-2.0f / 9, 2.0f / 9, -2.0f / 9, 2.0f / 9, -2.0f / 9},
                                          {1.0f / 90, 1.0f / 45, 2.0f / 45, 4.0f / 45, 8.0f / 45},
                                          {1.0f / 90, -1.0f / 45, 2.0f / 45, -4.0f / 45, 8.0f / 45},
                                          {32.0f / 45, 16.0f / 45, 8.0f / 45, 4.0f / 45, 2.0f / 45},
                                          {32.0f / 45, -16.0f / 45, 8.0f / 45, -4.0f / 45, 2.0f / 45},
                                          {0, 0, 0, 0, 1}};
    };
    struct BT {
        static constexpr std::size_t rows = 8, cols = 8;
        static constexpr float v[8][8] = {{-1, 0, 5.25f, 0, -5.25f, 0, 1, 0},
                                          {0, 1, 1, -4.25f, -4.25f, 1, 1, 0},
                                          {0, -1, 1, 4.25f, -4.25f, -1, 1, 0},
                                          {0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
                                          {0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0},
                                          {0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
                                          {0, -2, 4, 2.5f, -5, -0.5f, 1, 0},
                                          {0, -1, 0, 5.25f, 0, -5.25f, 0, 1}};
    };
};

// ---- applying the larger transforms with their symmetry ------------------------------------
// The points come in pairs +-p, so rows (BT) or columns (AT) come in pairs that differ only in
// the signs of the odd columns (rows): both rows of a pair are E + O and E - O, E and O the sums
// over the even and the odd columns; a pair of columns acts on in[j] + in[j+1] and
// in[j] - in[j+1]. For F(4, 5) this takes BT from 44 to 28 operations and AT from 25 to 16
// (the results differ from mat_apply's by float rounding).

/// Whether rows i and i + 1 of M are such a pair.
template <class M, std::size_t i>
constexpr bool row_pair() {
    if (i + 1 >= M::rows) return false;
    bool even = false, odd = false;
    for (std::size_t j = 0; j < M::cols; ++j) {
        if (M::v[i + 1][j] != (j % 2 ? -M::v[i][j] : M::v[i][j])) return false;
        if (M::v[i][j] != 0.0f) (j % 2 ? odd : even) = true;
    }
    return even && odd;
}
template <class M, std::size_t i, std::size_t Par>
constexpr std::size_t first_of_parity() {
    for (std::size_t j = Par; j < M::cols; j += 2)
        if (M::v[i][j] != 0.0f) return j;
    return M::cols;
}
template <class M, std::size_t i, std::size_t j, class T>
[[gnu::always_inline]] inline void parity_rest(const T* in, T& s) {
    if constexpr (j < M::cols) {
        constexpr float c = M::v[i][j];
        if constexpr (c == 1.0f) s = s + in[j];
        else if constexpr (c == -1.0f) s = s - in[j];
        else if constexpr (c != 0.0f) s = s + in[j] * T(c);
        parity_rest<M, i, j + 2>(in, s);
    }
}
/// sum over the columns j of parity Par of M[i][j] in[j]
template <class M, std::size_t i, std::size_t Par, class T>
[[gnu::always_inline]] inline T parity_sum(const T* in) {
    constexpr std::size_t j = first_of_parity<M, i, Par>();
    constexpr float c = M::v[i][j];
    T s = c == 1.0f ? in[j] : c == -1.0f ? T(0.0f) - in[j] : in[j] * T(c);
    parity_rest<M, i, j + 2>(in, s);
    return s;
}
/// out = M in, row pairs as E +- O, other rows as mat_apply.
template <class M, std::size_t i = 0, class T>
[[gnu::always_inline]] inline void mat_apply_rows(const T* in, T* out) {
    if constexpr (i < M::rows) {
        if constexpr (row_pair<M, i>()) {
            const T e = parity_sum<M, i, 0>(in), o = parity_sum<M, i, 1>(in);
            out[i] = e + o;
            out[i + 1] = e - o;
            mat_apply_rows<M, i + 2>(in, out);
        } else {
            mat_apply<M, i, i + 1>(in, out);
            mat_apply_rows<M, i + 1>(in, out);
        }
    }
}
/// Columns j, j + 1 of M that are a pair (column j + 1 is column j with odd rows negated).
template <class M>
constexpr std::array<bool, M::cols> col_pairs() {
    std::array<bool, M::cols> p{};
    for (std::size_t j = 0; j + 1 < M::cols; ++j) {
        if (j > 0 && p[j - 1]) continue;
        bool ok = true, even = false, odd = false;
        for (std::size_t r = 0; r < M::rows; ++r) {
            if (M::v[r][j + 1] != (r % 2 ? -M::v[r][j] : M::v[r][j])) ok = false;
            if (M::v[r][j] != 0.0f) (r % 2 ? odd : even) = true;
        }
        p[j] = ok && even && odd;
    }
    return p;
}
/// M acting on (in[j] + in[j+1], in[j] - in[j+1]) in place of (in[j], in[j+1]) for its column pairs.
template <class M>
struct col_pair_folded {
    static constexpr std::size_t rows = M::rows, cols = M::cols;
    static constexpr auto pairs = col_pairs<M>();
    static constexpr auto v = [] {
        std::array<std::array<float, cols>, rows> t{};
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t j = 0; j < cols; ++j) t[r][j] = M::v[r][j];
        for (std::size_t j = 0; j < cols; ++j)
            if (pairs[j])
                for (std::size_t r = 0; r < rows; ++r) {
                    t[r][j] = r % 2 ? 0.0f : M::v[r][j];
                    t[r][j + 1] = r % 2 ? M::v[r][j] : 0.0f;
                }
        return t;
    }();
};
/// out = M in, with M's column pairs and row pairs folded.
template <class M, class T>
[[gnu::always_inline]] inline void mat_apply_paired(const T* in, T* out) {
    using F = col_pair_folded<M>;
    if constexpr (std::find(F::pairs.begin(), F::pairs.end(), true) == F::pairs.end()) {
        mat_apply_rows<M>(in, out);
    } else {
        // p[j] = in[j] + in[j + 1] where a pair starts at j, in[j - 1] - in[j] where it ends, else in[j]
        constexpr auto starts = [](std::size_t j) { return j < M::cols && F::pairs[j]; };
        T p[M::cols];
        [&]<std::size_t... j>(std::index_sequence<j...>) {
            ((p[j] = starts(j) ? in[j] + in[std::min(j + 1, M::cols - 1)]
                     : j > 0 && starts(j - 1) ? in[j > 0 ? j - 1 : 0] - in[j] : in[j]), ...);
        }(std::make_index_sequence<M::cols>{});
        mat_apply_rows<F>(p, out);
    }
}

/// W floats base[idx[l]] (idx: W offsets, aligned to 64 bytes).
template <class Vt = V>
[[gnu::always_inline]] inline typename Vt::type gather(const float* base, const std::int32_t* idx) {
    constexpr std::size_t w = Vt::width;
#if !defined(CTNN_NO_SIMD) && defined(__AVX512F__)
    if constexpr (w == 16) return _mm512_i32gather_ps(_mm512_load_si512(idx), base, 4);
    else
#endif
#if !defined(CTNN_NO_SIMD) && defined(__AVX2__)
    if constexpr (w == 8) return _mm256_i32gather_ps(base, _mm256_load_si256(reinterpret_cast<const __m256i*>(idx)), 4);
    else
#endif
    {
        alignas(64) float t[w];
        for (std::size_t l = 0; l < w; ++l) t[l] = base[idx[l]];
        return Vt::load(t);
    }
}

/// The per-tile transforms of F(4x4, RxR), compiled once per R (not inlined into each shape's
/// loops: the sanitizer build of the tests compiles in a fraction of the time; the call costs
/// nothing measurable against a transform's few hundred operations).
template <std::size_t R>
struct wino4_tiles {
    static constexpr std::size_t A = R + 3;
    using AT = typename wino4_mats<R>::AT;
    using BT = typename wino4_mats<R>::BT;
    using Am = transposed<AT>;

    /// dst[(i * A + j) * vs] = (B^T d B)[i][j] for the W tiles of one channel: the patches at the
    /// offsets idx from base (gathered), or, with Rows4, the 4 tile rows of 4 tiles from base
    /// (row stride rs) read by rows (patch_row4).
    template <bool Rows4>
    [[gnu::noinline]] static void input(const float* base, std::size_t rs, const std::int32_t* idx, float* dst,
                                        std::size_t vs) {
        V::type e[A][A];  // e[i] = B^T (row i of the patches)
        #pragma GCC unroll 8
        for (std::size_t i = 0; i < A; ++i) {
            V::type d[A];
            if constexpr (Rows4) {
                patch_row4(base + i * rs, rs, d);
            } else {
                #pragma GCC unroll 8
                for (std::size_t q = 0; q < A; ++q) d[q] = gather(base + i * rs + q, idx);
            }
            mat_apply_paired<BT>(d, e[i]);
        }
        #pragma GCC unroll 8
        for (std::size_t j = 0; j < A; ++j) {  // B^T (d B), column by column
            V::type col[A], out[A];
            #pragma GCC unroll 8
            for (std::size_t i = 0; i < A; ++i) col[i] = e[i][j];
            mat_apply_paired<BT>(col, out);
            #pragma GCC unroll 8
            for (std::size_t i = 0; i < A; ++i) V::store(dst + (i * A + j) * vs, out[i]);
        }
    }

    /// o = A^T M A + b for W tiles, M's positions ms apart from src.
    [[gnu::noinline]] static void output(const float* src, std::size_t ms, V::type b, V::type (&o)[4][4]) {
        V::type s[4][A];  // A^T M, column by column
        #pragma GCC unroll 8
        for (std::size_t j = 0; j < A; ++j) {
            V::type col[A], out[4];
            #pragma GCC unroll 8
            for (std::size_t i = 0; i < A; ++i) col[i] = V::load(src + (i * A + j) * ms);
            mat_apply_paired<AT>(col, out);
            #pragma GCC unroll 4
            for (std::size_t r = 0; r < 4; ++r) s[r][j] = out[r];
        }
        #pragma GCC unroll 4
        for (std::size_t r = 0; r < 4; ++r) {
            mat_apply_paired<AT>(s[r], o[r]);
            #pragma GCC unroll 4
            for (std::size_t q = 0; q < 4; ++q) o[r][q] = o[r][q] + b;
        }
    }

    /// o[(p * A + q) * ds] = (A dY A^T)[p][q] for W channels of one 4x4 dY tile: row i of the tile
    /// at d + i * row, its columns step apart.
    [[gnu::noinline]] static void dy(const float* d, std::size_t row, std::size_t step, float* o, std::size_t ds) {
        V::type e[4][A];  // e[i] = A (row i of the tile)
        #pragma GCC unroll 4
        for (std::size_t i = 0; i < 4; ++i) {
            const float* r = d + i * row;
            const V::type x[4] = {V::load(r), V::load(r + step), V::load(r + 2 * step), V::load(r + 3 * step)};
            mat_apply_paired<Am>(x, e[i]);
        }
        #pragma GCC unroll 8
        for (std::size_t q = 0; q < A; ++q) {  // A (e column q)
            const V::type col[4] = {e[0][q], e[1][q], e[2][q], e[3][q]};
            V::type out[A];
            mat_apply_paired<Am>(col, out);
            #pragma GCC unroll 8
            for (std::size_t p = 0; p < A; ++p) V::store(o + (p * A + q) * ds, out[p]);
        }
    }

private:
#if !defined(CTNN_NO_SIMD) && defined(__AVX512F__)
    /// d[q] lane 4 th + tw = row 4 th (of the 4 tile rows from p, rs apart) at column 4 tw + q, q < A.
    static void patch_row4(const float* p, std::size_t rs, V::type* d) {
        // from two rows a and b (16 floats each): lanes 0-3 a[4tw + q0], 4-7 b[4tw + q0],
        // 8-11 a[4tw + q0 + 1], 12-15 b[4tw + q0 + 1], for q0 = 0 and 2
        const __m512i i0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
        const __m512i i2 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
        #pragma GCC unroll 2
        for (std::size_t h = 0; h < (A + 3) / 4; ++h) {  // columns 4h + [0, 4)
            const __m512 r0 = _mm512_loadu_ps(p + 4 * h), r1 = _mm512_loadu_ps(p + 4 * rs + 4 * h);
            const __m512 r2 = _mm512_loadu_ps(p + 8 * rs + 4 * h), r3 = _mm512_loadu_ps(p + 12 * rs + 4 * h);
            const __m512 a0 = _mm512_permutex2var_ps(r0, i0, r1), b0 = _mm512_permutex2var_ps(r2, i0, r3);
            d[4 * h + 0] = _mm512_shuffle_f32x4(a0, b0, 0x44);
            d[4 * h + 1] = _mm512_shuffle_f32x4(a0, b0, 0xEE);
            if (4 * h + 2 < A) {
                const __m512 a2 = _mm512_permutex2var_ps(r0, i2, r1), b2 = _mm512_permutex2var_ps(r2, i2, r3);
                d[4 * h + 2] = _mm512_shuffle_f32x4(a2, b2, 0x44);
                d[4 * h + 3] = _mm512_shuffle_f32x4(a2, b2, 0xEE);
            }
        }
    }
#else
    static void patch_row4(const float*, std::size_t, V::type*) {}
#endif
};

}  // namespace ctnn::cpu_detail
