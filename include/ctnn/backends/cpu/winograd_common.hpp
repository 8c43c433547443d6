// cpu kernel helpers shared by the Winograd convolutions (winograd.hpp: F(2x2, rxr);
// winograd4.hpp: F(4x4, rxr)): finiteness checks, the window argmax of a fused pool, the F(2x2)
// transform matrices and their application with zeros skipped, the weights' transform, and dY's
// per-sample transposed copy for dW.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <type_traits>
#if !defined(CTNN_NO_SIMD) && defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "../../memory.hpp"
#include "epilogue.hpp"
#include "gemm.hpp"
#include "simd.hpp"

namespace ctnn::simd {
/// The vector type for rows of n floats: the build's vector, or, when n fills less than one
/// AVX-512 vector, an AVX2 one (rows of 8 tiles are common).
template <std::size_t n>
struct vec_for_impl {
    using type = vec;
};
#if !defined(CTNN_NO_SIMD) && XSIMD_WITH_AVX2
template <std::size_t n>
    requires(n < 16 && vec::width == 16)
struct vec_for_impl<n> {
    using type = xvec<xsimd::avx2>;
};
#endif
template <std::size_t n>
using vec_for = typename vec_for_impl<n>::type;
}  // namespace ctnn::simd

namespace ctnn::cpu_detail {

/// True when none of the n floats at p is Inf or NaN (x - x is 0 exactly for finite x).
template <std::size_t n>
inline bool all_finite(const float* p) {
    constexpr std::size_t n2 = n / (2 * W) * (2 * W);
    V::type a0 = V::zero(), a1 = V::zero();
    if constexpr (n2 > 0)
        for (std::size_t i = 0; i < n2; i += 2 * W) {
            const auto u = V::load(p + i), v = V::load(p + i + W);
            a0 = a0 + (u - u);
            a1 = a1 + (v - v);
        }
    float s = V::sum(a0 + a1);
    if constexpr (n > n2)
        for (std::size_t i = n2; i < n; ++i) s += p[i] - p[i];
    return s == 0.0f;
}

/// max and select for vectors and floats alike (the scalar build's vector is a float).
template <class X>
inline X wino_max(const X& a, const X& b) {
    if constexpr (std::is_same_v<X, float>) return a > b ? a : b;
#ifndef CTNN_NO_SIMD
    else return xsimd::max(a, b);
#endif
}
template <class M, class X>
inline X wino_select(const M& k, const X& a, const X& b) {
    if constexpr (std::is_same_v<X, float>) return k ? a : b;
#ifndef CTNN_NO_SIMD
    else return xsimd::select(k, a, b);
#endif
}
/// The first maximum of a 2x2 pool window's outputs in window order (finite values), and its
/// offset in an ow-wide output map (0, 1, ow or ow + 1), lane by lane.
template <class Vt>
inline void window_argmax(const typename Vt::type& y00, const typename Vt::type& y01, const typename Vt::type& y10,
                          const typename Vt::type& y11, typename Vt::type& mx, typename Vt::type& off, float ow) {
    mx = y00;
    off = Vt::zero();
    const auto take = [&](const typename Vt::type& c, float o) {
        const auto k = c > mx;
        mx = wino_select(k, c, mx);
        off = wino_select(k, Vt::set1(o), off);
    };
    take(y01, 1.0f);
    take(y10, ow);
    take(y11, ow + 1.0f);
}

// ---- the transform matrices ----------------------------------------------------------------
// F(2, R) with alpha = R + 1 points: y = AT [ (G g) .* (BT d) ] for y_i = sum_k g_k d_(i+k).
// R = 3: points 0, 1, -1, inf (Lavin and Gray); R = 5: 0, 1, -1, -2, 1/2, inf (Cook-Toom; checked
// exactly with rationals by tools/winograd_matrices.py). Each is a type with rows, cols, v.
template <std::size_t R>
struct wino_mats;
template <>
struct wino_mats<3> {
    struct AT { static constexpr std::size_t rows = 2, cols = 4; static constexpr float v[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}}; };
    struct G {
        static constexpr std::size_t rows = 4, cols = 3;
        static constexpr float v[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
    };
    struct BT {
        static constexpr std::size_t rows = 4, cols = 4;
        static constexpr float v[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
    };
};
template <>
struct wino_mats<5> {
    // points 0, 1, -1, -2, 1/2 rather than the symmetric 0, +-1, +-2: in fp32 the forward's
    // error is 3x and dW's 2x smaller (tools/winograd_matrices.py --fp32 measures them)
    struct AT {
        static constexpr std::size_t rows = 2, cols = 6;
        static constexpr float v[2][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, -2, 0.5f, 1}};
    };
    struct G {
        static constexpr std::size_t rows = 6, cols = 5;
        static constexpr float v[6][5] = {{1, 0, 0, 0, 0},
                                          {1.0f / 3, 1.0f / 3, 1.0f / 3, 1.0f / 3, 1.0f / 3},
                                          {-1.0f / 3, 1.0f / 3, -1.0f / 3, 1.0f / 3, -1.0f / 3},
                                          {1.0f / 15, -2.0f / 15, 4.0f / 15, -8.0f / 15, 16.0f / 15},
                                          {-16.0f / 15, -8.0f / 15, -4.0f / 15, -2.0f / 15, -1.0f / 15},
                                          {0, 0, 0, 0, 1}};
    };
    struct BT {
        static constexpr std::size_t rows = 6, cols = 6;
        static constexpr float v[6][6] = {{1, -1.5f, -2, 1.5f, 1, 0},  {0, -1, 0.5f, 2.5f, 1, 0}, {0, 1, -2.5f, 0.5f, 1, 0},
                                          {0, 0.5f, -1, -0.5f, 1, 0}, {0, -2, -1, 2, 1, 0},     {0, 1, -1.5f, -2, 1.5f, 1}};
    };
};
/// The transpose of a matrix type.
template <class M>
struct transposed {
    static constexpr std::size_t rows = M::cols, cols = M::rows;
    static constexpr auto v = [] {
        std::array<std::array<float, M::rows>, M::cols> t{};
        for (std::size_t i = 0; i < M::rows; ++i)
            for (std::size_t j = 0; j < M::cols; ++j) t[j][i] = M::v[i][j];
        return t;
    }();
};

/// Row i of M: its common |coefficient| when every non-zero one has the same (then the row is
/// a signed sum times that), else 0.
template <class M, std::size_t i>
constexpr float common_scale() {
    float g = 0.0f;
    for (std::size_t j = 0; j < M::cols; ++j) {
        const float c = M::v[i][j] < 0 ? -M::v[i][j] : M::v[i][j];
        if (c == 0.0f) continue;
        if (g == 0.0f) g = c;
        else if (g != c) return 0.0f;
    }
    return g;
}
template <class M, std::size_t i>
constexpr std::size_t first_nonzero() {
    for (std::size_t j = 0; j < M::cols; ++j)
        if (M::v[i][j] != 0.0f) return j;
    return M::cols;
}
/// s (+)= M[i][j] * x, the row's common scale divided out (no float template arguments: clang 14
/// and nvcc do not take them).
template <class M, std::size_t i, std::size_t j, class T>
[[gnu::always_inline]] inline void mat_term(T& s, const T& x, bool first) {
    constexpr float c = M::v[i][j], g = common_scale<M, i>();
    constexpr float k = g != 0.0f ? c / g : c;
    if constexpr (k == 1.0f) s = first ? x : s + x;
    else if constexpr (k == -1.0f) s = first ? T(0.0f) - x : s - x;
    else if constexpr (k != 0.0f) s = first ? x * T(k) : s + x * T(k);
}
template <class M, std::size_t i, std::size_t j, class T>
[[gnu::always_inline]] inline void mat_row(const T* in, T& s) {
    if constexpr (j < M::cols) {
        mat_term<M, i, j>(s, in[j], false);
        mat_row<M, i, j + 1>(in, s);
    }
}
/// out[i] = sum_j M[i][j] in[j] with the constants folded: zero terms skipped, +-1 as add and
/// subtract, a row of equal magnitudes as one multiply. in and out: arrays of M::cols and M::rows
/// values (floats or vectors).
/// (rows [i, e) only)
template <class M, std::size_t i = 0, std::size_t e = M::rows, class T>
[[gnu::always_inline]] inline void mat_apply(const T* in, T* out) {
    if constexpr (i < e) {
        constexpr std::size_t j0 = first_nonzero<M, i>();
        static_assert(j0 < M::cols, "a transform row of zeros");
        constexpr float g = common_scale<M, i>();
        T s = in[j0];
        mat_term<M, i, j0>(s, in[j0], true);
        mat_row<M, i, j0 + 1>(in, s);
        if constexpr (g != 0.0f && g != 1.0f) s = s * T(g);
        out[i] = s;
        mat_apply<M, i + 1, e>(in, out);
    }
}

/// u[(a * A + b) * pp + p] = (G g G^T)[a][b] for the kernels g held tap-major in k (R * R rows of
/// pp floats), pp at a time across the vector. (Compiled once per G, not per shape.)
template <class Gm>
[[gnu::noinline]] inline void transform_taps(const float* k, float* u, std::size_t pp) {
    constexpr std::size_t A = Gm::rows, R = Gm::cols;
    for (std::size_t p = 0; p < pp; p += W) {
        V::type t[A][R];  // G g, column by column
        #pragma GCC unroll 8
        for (std::size_t b = 0; b < R; ++b) {
            V::type col[R], out[A];
            #pragma GCC unroll 8
            for (std::size_t a = 0; a < R; ++a) col[a] = V::load(k + (a * R + b) * pp + p);
            mat_apply<Gm>(col, out);
            #pragma GCC unroll 8
            for (std::size_t a = 0; a < A; ++a) t[a][b] = out[a];
        }
        #pragma GCC unroll 8
        for (std::size_t a = 0; a < A; ++a) {  // (G g) G^T, row by row
            V::type out[A];
            mat_apply<Gm>(t[a], out);
            #pragma GCC unroll 8
            for (std::size_t b = 0; b < A; ++b) V::store(u + (a * A + b) * pp + p, out[b]);
        }
    }
}

/// U[xi][co * Ci + ci] (Tr: [ci * Co + co]) = (G g G^T)[xi] for the A2 = A * A positions xi and
/// every (co, ci), g(co, ci, kh, kw) the RxR kernel, G = Gm (A x R); row stride of U: Pp. The
/// kernels are first copied tap-major into k (R * R * Pp floats), then transformed Pp at a time
/// across the vector.
template <class Gm, std::size_t R, std::size_t Ci, std::size_t Co, std::size_t Pp, bool Tr, class Gf>
inline void transform_kernels(const Gf& g, float* u, float* k) {
    constexpr std::size_t Pn = Ci * Co;
    static_assert(Gm::cols == R && Pp % W == 0 && Pp >= Pn);
    #pragma GCC unroll 8
    for (std::size_t a = 0; a < R; ++a)  // tap-major: contiguous stores
        #pragma GCC unroll 8
        for (std::size_t b = 0; b < R; ++b)
            for (std::size_t co = 0; co < Co; ++co)
                for (std::size_t ci = 0; ci < Ci; ++ci) k[(a * R + b) * Pp + (Tr ? ci * Co + co : co * Ci + ci)] = g(co, ci, a, b);
    if constexpr (Pp > Pn)
        for (std::size_t t = 0; t < R * R; ++t) std::fill(k + t * Pp + Pn, k + (t + 1) * Pp, 0.0f);
    transform_taps<Gm>(k, u, Pp);
}

/// The row stride of U for n (co, ci) pairs: whole vectors, off a multiple of 1 KiB (16 rows a
/// power of two apart share a few cache sets and evict each other).
constexpr std::size_t pair_stride(std::size_t n) {
    const std::size_t v = (n + W - 1) / W * W;
    return v + (v % 256 == 0 ? W : 0);
}

/// The weight gradient from the A2 = A * A accumulated positions acc [xi][ci][cop] (co across
/// the vector, cop a whole number of vectors): dw[(ci * R * R + kh * R + kw) * cop + co] +=
/// (G^T acc G)[kh][kw] for ci < ci_n; GT = G^T (R x A). (Compiled once per G, not per shape.)
template <class GT>
[[gnu::noinline]] inline void finish_weight_grads(const float* acc, std::size_t ci_n, std::size_t cop, float* dw) {
    constexpr std::size_t R = GT::rows, A = GT::cols;
    for (std::size_t ci = 0; ci < ci_n; ++ci)
        for (std::size_t co = 0; co < cop; co += W) {
            V::type t[R][A];  // G^T m, column by column
            #pragma GCC unroll 8
            for (std::size_t q = 0; q < A; ++q) {
                V::type col[A], out[R];
                #pragma GCC unroll 8
                for (std::size_t p = 0; p < A; ++p) col[p] = V::load(acc + ((p * A + q) * ci_n + ci) * cop + co);
                mat_apply<GT>(col, out);
                #pragma GCC unroll 8
                for (std::size_t a = 0; a < R; ++a) t[a][q] = out[a];
            }
            #pragma GCC unroll 8
            for (std::size_t a = 0; a < R; ++a) {  // (G^T m) G, row by row
                V::type out[R];
                mat_apply<GT>(t[a], out);
                #pragma GCC unroll 8
                for (std::size_t b = 0; b < R; ++b) {
                    float* d = dw + (ci * R * R + a * R + b) * cop + co;
                    V::store(d, V::load(d) + out[b]);
                }
            }
        }
}

/// dyt [row, col, co] (rows of `cw` columns, `cop` channels) from one sample's dY [Co, OH, OW]:
/// the dW paths' per-sample copy of dY, channels innermost (both Winograd sizes use it).
template <std::size_t Co, std::size_t OH, std::size_t OW>
inline void transpose_dy_rows(const float* dy, float* dyt, std::size_t cw, std::size_t cop) {
    for (std::size_t co = 0; co < Co; ++co)
        for (std::size_t oh = 0; oh < OH; ++oh)
            for (std::size_t ow = 0; ow < OW; ++ow) dyt[(oh * cw + ow) * cop + co] = dy[(co * OH + oh) * OW + ow];
}

}  // namespace ctnn::cpu_detail
