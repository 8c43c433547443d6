// cpu kernel helper: Winograd F(2x2, 3x3) for a 3x3 stride-1 convolution (Lavin and Gray, 2015).
//
// Each 2x2 block of outputs (a "tile") is computed from the 4x4 input patch under it as
//     Y = A^T [ (G g G^T) .* (B^T d B) ] A
// so the 36 multiply-adds per output and input channel of the direct convolution become 16 per
// tile, i.e. 4 per output: 2.25x fewer. Per sample:
//   1. the zero-padded input is stored with even and odd columns apart (xe, xo), so that the
//      4x4 patches of W neighbouring tiles are read with plain vector loads;
//   2. input transform: V[xi][ci][t] = (B^T d B)[xi] for the 16 positions xi, tiles t;
//   3. 16 GEMMs, one per position: M[xi] [Co x T] = U[xi] [Co x Ci] x V[xi] [Ci x T], with the
//      bcast_gemm micro-kernel; U = G g G^T is computed once per call (the weights may change
//      between calls);
//   4. output transform Y = A^T M A, plus bias, activation, and, when a 2x2 stride-2 max pool
//      follows, the maximum of the tile (a tile is exactly one pool window).
// The transforms only add and subtract (and halve, in G), so the results differ from the direct
// sum by float rounding only (tests: 1e-5 of the tensor's scale). Non-finite values do not: an
// Inf or NaN in a patch spreads to the whole tile, and Inf - Inf is NaN. The caller therefore uses
// this path only for finite weights and checks each sample's input (all_finite) first.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>
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

/// Winograd F(2x2, 3x3): Ci -> Co channels, H x Wd input, padding P, stride 1.
template <std::size_t Ci, std::size_t Co, std::size_t H, std::size_t Wd, std::size_t P>
struct winograd_f2 {
    static constexpr std::size_t OH = H + 2 * P - 2, OW = Wd + 2 * P - 2;
    static constexpr std::size_t TH = (OH + 1) / 2, TW = (OW + 1) / 2, T = TH * TW;
    using TV = simd::vec_for<TW>;  // the transforms' vector: W' tiles of one tile row
    static constexpr std::size_t TVw = TV::width;
    static constexpr std::size_t TWr = (TW + TVw - 1) / TVw * TVw;  // a tile row in whole vectors
    static constexpr std::size_t PR = 2 * TH + 2;                   // padded rows
    static constexpr std::size_t RS = TWr + TVw;                    // row stride of xe, xo
    static constexpr std::size_t Tp = T + TVw;  // row length of V and M (the last vector may run over)
    using blk = bcast_blocking<Co, T, 15>;

    // (co, ci) pairs; the row stride, padded off a multiple of 1 KiB (16 rows a power of two
    // apart share a few cache sets: measured 3x slower)
    static constexpr std::size_t Pn = Co * Ci, Pp = (Pn + W - 1) / W * W + ((Pn + W - 1) / W * W % 256 == 0 ? W : 0);
    static constexpr std::size_t u_size = align_floats(16 * Pp + 9 * Pp);     // U [16][Pp], then a staging copy
    static constexpr std::size_t x_size = align_floats(2 * Ci * PR * RS);
    static constexpr std::size_t v_size = align_floats(16 * Ci * Tp);
    static constexpr std::size_t m_size = align_floats(16 * Co * Tp);
    static constexpr std::size_t scratch_floats = u_size + x_size + v_size + m_size;

    /// U[xi][co * Ci + ci] = (G g G^T)[xi] for every (co, ci), g(co, ci, kh, kw) the 3x3 kernel
    /// (G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]): the kernels are first copied tap-major, then
    /// transformed Pn at a time across the vector. Row stride of U: Pp.
    template <class G>
    static void transform_weights(const G& g, float* u) {
        float* k = u + 16 * Pp;  // k[tap][pair]
        for (std::size_t a = 0; a < 3; ++a)  // tap-major: contiguous stores (measured 4x faster)
            for (std::size_t b = 0; b < 3; ++b)
                for (std::size_t co = 0; co < Co; ++co)
                    for (std::size_t ci = 0; ci < Ci; ++ci) k[(a * 3 + b) * Pp + co * Ci + ci] = g(co, ci, a, b);
        if constexpr (Pp > Pn)
            for (std::size_t t = 0; t < 9; ++t) std::fill(k + t * Pp + Pn, k + (t + 1) * Pp, 0.0f);
        const auto half = V::set1(0.5f);
        for (std::size_t p = 0; p < Pp; p += W) {
            V::type t[4][3];  // G g
            for (std::size_t b = 0; b < 3; ++b) {
                const auto k0 = V::load(k + b * Pp + p), k1 = V::load(k + (3 + b) * Pp + p), k2 = V::load(k + (6 + b) * Pp + p);
                t[0][b] = k0;
                t[1][b] = half * (k0 + k1 + k2);
                t[2][b] = half * (k0 - k1 + k2);
                t[3][b] = k2;
            }
            for (std::size_t a = 0; a < 4; ++a) {  // (G g) G^T
                V::store(u + (a * 4 + 0) * Pp + p, t[a][0]);
                V::store(u + (a * 4 + 1) * Pp + p, half * (t[a][0] + t[a][1] + t[a][2]));
                V::store(u + (a * 4 + 2) * Pp + p, half * (t[a][0] - t[a][1] + t[a][2]));
                V::store(u + (a * 4 + 3) * Pp + p, t[a][2]);
            }
        }
    }

    /// Zeroes the padded input planes (their borders stay zero; load_input writes the inside).
    static void clear_input(float* xs) { std::fill(xs, xs + x_size, 0.0f); }

    /// xe/xo from one sample x [Ci, H, Wd]: padded column c of row r goes to xe (even c) or xo
    /// (odd c) at c / 2.
    static void load_input(const float* x, float* xs) {
        float* xe = xs;
        float* xo = xs + Ci * PR * RS;
        for (std::size_t ci = 0; ci < Ci; ++ci)
            for (std::size_t h = 0; h < H; ++h) {
                const float* src = x + (ci * H + h) * Wd;
                // source column w lands at c = w + P: even w go to (P even ? xe : xo), odd w to the other
                float* ev = (P % 2 ? xo : xe) + (ci * PR + h + P) * RS + P / 2;
                float* od = (P % 2 ? xe : xo) + (ci * PR + h + P) * RS + (P + 1) / 2;
#if !defined(CTNN_NO_SIMD) && defined(__AVX512F__)
                if constexpr (W == 16) {
                    deinterleave_avx512(src, ev, od);
                    continue;
                }
#endif
                for (std::size_t j = 0; j < Wd / 2; ++j) {
                    ev[j] = src[2 * j];
                    od[j] = src[2 * j + 1];
                }
                if constexpr (Wd % 2) ev[Wd / 2] = src[Wd - 1];
            }
    }

    /// V = B^T d B for every channel and tile (B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]).
    static void transform_input(const float* xs, float* v) {
        const float* xe = xs;
        const float* xo = xs + Ci * PR * RS;
        for (std::size_t ci = 0; ci < Ci; ++ci)
            for (std::size_t th = 0; th < TH; ++th)
                for (std::size_t j0 = 0; j0 < TWr; j0 += TVw) {
                    typename TV::type c[4][4];
                    for (std::size_t i = 0; i < 4; ++i) {  // d B for row i of the patch
                        const float* re = xe + (ci * PR + 2 * th + i) * RS + j0;
                        const float* ro = xo + (ci * PR + 2 * th + i) * RS + j0;
                        const auto e0 = TV::load(re), e1 = TV::load(re + 1), o0 = TV::load(ro), o1 = TV::load(ro + 1);
                        c[i][0] = e0 - e1;
                        c[i][1] = o0 + e1;
                        c[i][2] = e1 - o0;
                        c[i][3] = o0 - o1;
                    }
                    float* dst = v + ci * Tp + th * TW + j0;
                    for (std::size_t j = 0; j < 4; ++j) {  // B^T (d B)
                        TV::store(dst + (0 * 4 + j) * Ci * Tp, c[0][j] - c[2][j]);
                        TV::store(dst + (1 * 4 + j) * Ci * Tp, c[1][j] + c[2][j]);
                        TV::store(dst + (2 * 4 + j) * Ci * Tp, c[2][j] - c[1][j]);
                        TV::store(dst + (3 * 4 + j) * Ci * Tp, c[1][j] - c[3][j]);
                    }
                }
    }

    /// M[xi] = U[xi] V[xi] for the 16 positions.
    static void multiply(const float* u, const float* v, float* m) {
        for (std::size_t xi = 0; xi < 16; ++xi) {
            const float* uk = u + xi * Pp;
            const float* vk = v + xi * Ci * Tp;
            bcast_gemm<T, blk::R, blk::NV, init::zero>(
                0, Co, Ci, [uk](std::size_t r, std::size_t k) { return uk[r * Ci + k]; },
                [vk](std::size_t k) { return vk + k * Tp; }, m + xi * Co * Tp, Tp);
        }
    }

    /// Y = A^T M A (A^T = [1 1 1 0; 0 1 -1 -1]) plus bias, then Act, then Pool (no_pool or a 2x2
    /// stride-2 max pool) into y [Co, ...] of one sample. bias may be null.
    template <class Act, class Pool>
    static void transform_output(const float* m, const float* bias, float* y, float* saved = nullptr) {
        constexpr bool pooled = Pool::K == 2;
        static_assert(Pool::K == 1 || (Pool::K == 2 && Pool::S == 2));
        constexpr std::size_t PH = OH / 2, PW = OW / 2;
        constexpr std::size_t rows = pooled ? PH : TH;
        for (std::size_t co = 0; co < Co; ++co) {
            const auto b = TV::set1(bias ? bias[co] : 0.0f);
            for (std::size_t th = 0; th < rows; ++th)
                for (std::size_t j0 = 0; j0 < TWr; j0 += TVw) {
                    const float* src = m + co * Tp + th * TW + j0;
                    typename TV::type s[2][4];
                    for (std::size_t j = 0; j < 4; ++j) {  // A^T M
                        const auto m0 = TV::load(src + (0 * 4 + j) * Co * Tp), m1 = TV::load(src + (1 * 4 + j) * Co * Tp),
                                   m2 = TV::load(src + (2 * 4 + j) * Co * Tp), m3 = TV::load(src + (3 * 4 + j) * Co * Tp);
                        s[0][j] = m0 + m1 + m2;
                        s[1][j] = m1 - m2 - m3;
                    }
                    const auto y00 = s[0][0] + s[0][1] + s[0][2] + b, y01 = s[0][1] - s[0][2] - s[0][3] + b;
                    const auto y10 = s[1][0] + s[1][1] + s[1][2] + b, y11 = s[1][1] - s[1][2] - s[1][3] + b;
                    if constexpr (pooled) {
                        // max is taken before the activation (it is monotone), as the direct path
                        typename TV::type mx;
                        [[maybe_unused]] typename TV::type idx;
                        if constexpr (saves_index<Pool>) {
                            // the first maximum in window order, and its index in the OH x OW map
                            // (the values are finite here)
                            static constexpr std::array<float, TWr + TVw> col2 = [] {
                                std::array<float, TWr + TVw> c{};
                                for (std::size_t i = 0; i < c.size(); ++i) c[i] = float(2 * i);
                                return c;
                            }();
                            mx = y00;
                            auto off = TV::zero();
                            const auto take = [&](const typename TV::type& c, float o) {
                                const auto k = c > mx;
                                mx = xsimd_select(k, c, mx);
                                off = xsimd_select(k, TV::set1(o), off);
                            };
                            take(y01, 1.0f);
                            take(y10, float(OW));
                            take(y11, float(OW + 1));
                            idx = TV::set1(float(2 * th * OW)) + TV::load(col2.data() + j0) + off;
                        } else {
                            mx = xsimd_max(xsimd_max(y00, y01), xsimd_max(y10, y11));
                        }
                        const auto r = Act::template v<TV>(mx);
                        float* dst = y + (co * PH + th) * PW + j0;
                        [[maybe_unused]] float* sdst = saved ? saved + (co * PH + th) * PW + j0 : nullptr;
                        if (j0 + TVw <= PW) {
                            TV::store(dst, r);
                            if constexpr (saves_index<Pool>) TV::store(sdst, idx);
                        } else if (j0 < PW) {
                            alignas(64) float tmp[TVw];
                            TV::store(tmp, r);
                            std::memcpy(dst, tmp, (PW - j0) * sizeof(float));
                            if constexpr (saves_index<Pool>) {
                                TV::store(tmp, idx);
                                std::memcpy(sdst, tmp, (PW - j0) * sizeof(float));
                            }
                        }
                    } else {
                        alignas(64) float t[4][TVw];
                        TV::store(t[0], Act::template v<TV>(y00));
                        TV::store(t[1], Act::template v<TV>(y01));
                        TV::store(t[2], Act::template v<TV>(y10));
                        TV::store(t[3], Act::template v<TV>(y11));
                        float* r0 = y + (co * OH + 2 * th) * OW;
                        float* r1 = r0 + OW;
                        const std::size_t n = std::min(TVw, TW - std::min(TW, j0));
                        for (std::size_t l = 0; l < n; ++l) {
                            const std::size_t ow = 2 * (j0 + l);
                            r0[ow] = t[0][l];
                            if (ow + 1 < OW) r0[ow + 1] = t[1][l];
                            if (2 * th + 1 < OH) {
                                r1[ow] = t[2][l];
                                if (ow + 1 < OW) r1[ow + 1] = t[3][l];
                            }
                        }
                    }
                }
        }
    }

    // ---- the weight gradient, by Winograd F(3x3, 2x2) ----------------------------------------
    // dW[co, ci] = sum over tiles of the 3x3 correlation of the 4x4 input patch with the 2x2 dY
    // tile; by the same identity as above (its transpose),
    //     dW = G^T [ sum_t (A dY_t A^T) .* (B^T x_t B) ] G,
    // so the input transform is the forward one, and the sum over tiles (and over a task's
    // samples) is 16 GEMMs acc[xi] [Ci x Co] += V[xi] [Ci x T] x DY[xi] [T x Co], Co across the
    // vector. finish_dw applies G^T . G once per task.
    static constexpr std::size_t Cop = (Co + W - 1) / W * W;
    static constexpr std::size_t dyt_size = align_floats(2 * TH * 2 * TW * Cop);  // dY [row, col, co]
    // DY is formed and consumed TB tiles at a time, so its 16 planes (TB x Cop each) stay in L1;
    // their stride is kept off multiples of 1 KiB (16 streams 4 KiB apart share one set of cache
    // lines: measured 5x slower on whole planes).
    static constexpr std::size_t TB = std::min<std::size_t>(T, std::max<std::size_t>(4, 384 / Cop));
    static constexpr std::size_t DS = TB * Cop + ((TB * Cop) % 256 == 0 ? 16 : 0);
    static constexpr std::size_t dyw_size = align_floats(16 * DS);
    static constexpr std::size_t acc_size = align_floats(16 * Ci * Cop);
    static constexpr std::size_t dw_scratch_floats = x_size + v_size + dyt_size + dyw_size + acc_size;
    using dw_blk = bcast_blocking<Ci, Cop>;

    /// Zeroes what the dW path needs zero: the padded input planes, dY's transposed copy (its
    /// rows and columns past OH, OW and channels past Co stay zero) and the accumulators.
    static void clear_dw(float* xs, float* dyt, float* acc) {
        clear_input(xs);
        std::fill(dyt, dyt + dyt_size, 0.0f);
        std::fill(acc, acc + acc_size, 0.0f);
    }

    /// dyt [row, col, co] (2 TH x 2 TW x Cop) from one sample's dY [Co, OH, OW].
    static void transpose_dy(const float* dy, float* dyt) {
        constexpr std::size_t CW = 2 * TW;
        for (std::size_t co = 0; co < Co; ++co)
            for (std::size_t oh = 0; oh < OH; ++oh)
                for (std::size_t ow = 0; ow < OW; ++ow) dyt[(oh * CW + ow) * Cop + co] = dy[(co * OH + oh) * OW + ow];
    }

    /// DY[xi][t - t0][co] = (A dY_t A^T)[xi] (A = [1 0; 1 1; 1 -1; 0 -1]) for the tiles
    /// [t0, t0 + nt), from dyt.
    static void transform_dyt(const float* dyt, float* dyw, std::size_t t0, std::size_t nt) {
        constexpr std::size_t CW = 2 * TW;
        for (std::size_t t = t0; t < t0 + nt; ++t) {
            const std::size_t th = t / TW, tw = t % TW;
            for (std::size_t c0 = 0; c0 < Cop; c0 += W) {
                const float* d = dyt + ((2 * th) * CW + 2 * tw) * Cop + c0;
                const auto d00 = V::load(d), d01 = V::load(d + Cop), d10 = V::load(d + CW * Cop), d11 = V::load(d + CW * Cop + Cop);
                // columns: e[i] = A (d[i][0], d[i][1])
                const V::type e0[4] = {d00, d00 + d01, d00 - d01, V::zero() - d01};
                const V::type e1[4] = {d10, d10 + d11, d10 - d11, V::zero() - d11};
                float* o = dyw + (t - t0) * Cop + c0;
                for (std::size_t q = 0; q < 4; ++q) {  // rows
                    V::store(o + (0 * 4 + q) * DS, e0[q]);
                    V::store(o + (1 * 4 + q) * DS, e0[q] + e1[q]);
                    V::store(o + (2 * 4 + q) * DS, e0[q] - e1[q]);
                    V::store(o + (3 * 4 + q) * DS, V::zero() - e1[q]);
                }
            }
        }
    }

    /// acc[xi] += V[xi] DY[xi] for the 16 positions, over one sample's tiles: V from
    /// transform_input, dyt its dY transposed; dyw: scratch.
    static void accumulate_dw(const float* v, const float* dyt, float* dyw, float* acc) {
        for (std::size_t t0 = 0; t0 < T; t0 += TB) {
            const std::size_t nt = std::min(TB, T - t0);
            transform_dyt(dyt, dyw, t0, nt);
            for (std::size_t xi = 0; xi < 16; ++xi) {
                const float* vk = v + xi * Ci * Tp + t0;
                const float* dk = dyw + xi * DS;
                bcast_gemm<Cop, dw_blk::R, dw_blk::NV, init::accumulate>(
                    0, Ci, nt, [vk](std::size_t r, std::size_t k) { return vk[r * Tp + k]; },
                    [dk](std::size_t k) { return dk + k * Cop; }, acc + xi * Ci * Cop, Cop);
            }
        }
    }

    /// add(co, ci, kh, kw, value) for every weight: value = (G^T acc G)[kh][kw].
    template <class Add>
    static void finish_dw(const float* acc, const Add& add) {
        for (std::size_t ci = 0; ci < Ci; ++ci)
            for (std::size_t co = 0; co < Co; ++co) {
                float m[4][4];
                for (std::size_t xi = 0; xi < 16; ++xi) m[xi / 4][xi % 4] = acc[(xi * Ci + ci) * Cop + co];
                float t[3][4];  // G^T m, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]
                for (std::size_t q = 0; q < 4; ++q) {
                    t[0][q] = m[0][q] + 0.5f * (m[1][q] + m[2][q]);
                    t[1][q] = 0.5f * (m[1][q] - m[2][q]);
                    t[2][q] = 0.5f * (m[1][q] + m[2][q]) + m[3][q];
                }
                for (std::size_t a = 0; a < 3; ++a) {  // (G^T m) G
                    add(co, ci, a, 0, t[a][0] + 0.5f * (t[a][1] + t[a][2]));
                    add(co, ci, a, 1, 0.5f * (t[a][1] - t[a][2]));
                    add(co, ci, a, 2, 0.5f * (t[a][1] + t[a][2]) + t[a][3]);
                }
            }
    }

private:
#if !defined(CTNN_NO_SIMD) && defined(__AVX512F__)
    /// ev[j] = src[2j], od[j] = src[2j + 1] for the Wd floats at src, 32 at a time (masked at the end).
    static void deinterleave_avx512(const float* src, float* ev, float* od) {
        const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for (std::size_t w0 = 0; w0 < Wd; w0 += 32) {
            const std::size_t n = std::min<std::size_t>(32, Wd - w0);
            const auto mask = [](std::size_t k) { return __mmask16(k >= 16 ? 0xFFFFu : (1u << k) - 1u); };
            const __m512 a = _mm512_maskz_loadu_ps(mask(n), src + w0);
            const __m512 b = _mm512_maskz_loadu_ps(mask(n > 16 ? n - 16 : 0), src + w0 + 16);
            _mm512_mask_storeu_ps(ev + w0 / 2, mask((n + 1) / 2), _mm512_permutex2var_ps(a, ie, b));
            _mm512_mask_storeu_ps(od + w0 / 2, mask(n / 2), _mm512_permutex2var_ps(a, io, b));
        }
    }
#endif

    template <class X>
    static X xsimd_max(const X& a, const X& b) {
        if constexpr (std::is_same_v<X, float>) return a > b ? a : b;
        else return xsimd::max(a, b);
    }
    template <class M, class X>
    static X xsimd_select(const M& k, const X& a, const X& b) {
        if constexpr (std::is_same_v<X, float>) return k ? a : b;
        else return xsimd::select(k, a, b);
    }
};

}  // namespace ctnn::cpu_detail
