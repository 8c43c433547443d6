// cpu kernel helper: Winograd F(2x2, 3x3) and F(2x2, 5x5) for stride-1 convolutions (Lavin and
// Gray, 2015; the matrices below, checked exactly by tools/winograd_matrices.py).
//
// Each 2x2 block of outputs (a "tile") is computed from the (R+1)x(R+1) input patch under it as
//     Y = A^T [ (G g G^T) .* (B^T d B) ] A
// so the R*R multiply-adds per output and input channel of the direct convolution become
// (R+1)^2 / 4: 2.25x fewer for 3x3, 2.8x for 5x5. Per sample:
//   1. the zero-padded input is stored with even and odd columns apart (xe, xo), so that the
//      patches of neighbouring tiles are read with plain vector loads;
//   2. input transform: V[xi][ci][t] = (B^T d B)[xi] for the A2 = (R+1)^2 positions xi, tiles t;
//   3. A2 GEMMs, one per position: M[xi] [Co x T] = U[xi] [Co x Ci] x V[xi] [Ci x T], with the
//      bcast_gemm micro-kernel; U = G g G^T is computed once per call (the weights may change
//      between calls);
//   4. output transform Y = A^T M A, plus bias, activation, and, when a 2x2 stride-2 max pool
//      follows, the maximum of the tile (a tile is exactly one pool window).
// The transforms are constant small matrices applied with their zeros skipped (mat_apply), so the
// results differ from the direct sum by float rounding only (tests: 1e-5 of the tensor's scale).
// Non-finite values do not: an Inf or NaN in a patch spreads to the whole tile, and Inf - Inf is
// NaN. The caller therefore uses this path only for finite weights and checks each sample's input
// (all_finite) first.
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
#include "winograd_common.hpp"

namespace ctnn::cpu_detail {

/// Winograd F(2x2, RxR) (R = 3 or 5): Ci -> Co channels, H x Wd input, padding P, stride 1.
template <std::size_t Ci, std::size_t Co, std::size_t H, std::size_t Wd, std::size_t P, std::size_t R = 3>
struct winograd {
    static constexpr std::size_t A = R + 1, A2 = A * A;  // the transform's size, positions
    using AT = typename wino_mats<R>::AT;
    using Am = transposed<AT>;
    using Gm = typename wino_mats<R>::G;
    using GT = transposed<Gm>;
    using BT = typename wino_mats<R>::BT;
    static constexpr std::size_t OH = H + 2 * P - (R - 1), OW = Wd + 2 * P - (R - 1);
    static constexpr std::size_t TH = (OH + 1) / 2, TW = (OW + 1) / 2, T = TH * TW;
    using TV = simd::vec_for<TW>;  // the transforms' vector: W' tiles of one tile row
    static constexpr std::size_t TVw = TV::width;
    static constexpr std::size_t TWr = (TW + TVw - 1) / TVw * TVw;  // a tile row in whole vectors
    static constexpr std::size_t PR = 2 * TH + R - 1;               // padded rows
    static constexpr std::size_t RS = TWr + TVw + A / 2;            // row stride of xe, xo
    static constexpr std::size_t Tp = T + TVw;  // row length of V and M (the last vector may run over)
    using blk = bcast_blocking<Co, T, 15>;
    // The GEMMs' orientation: M [Co x T] (tiles across the vector), or, when the tiles do not
    // fill whole vectors and the channels do, its transpose M' [T x Co] (channels across the
    // vector; the output transform then runs across channels): whole vectors in the GEMMs where
    // the tile count leaves a ragged last vector (docs/benchmarks.md, Design measurements); from
    // 4 tiles on (a 4x4 map: 4 tiles would otherwise run on the GEMM's scalar tail).
    static constexpr bool tr = T % W != 0 && Co % W == 0 && T >= 4;
    // transposed GEMMs run CH tile rows at a time (see run_sample), so their row blocking is
    // chosen for CH * TW rows
    static constexpr std::size_t CH0 = std::max<std::size_t>(1, 16 / TW);  // up to 16 tiles at a time
    template <std::size_t ch>  // ch tile rows split evenly into chunks, and a chunk into register tiles
    static constexpr bool even_chunks = TH % ch == 0 && (ch * TW) % bcast_blocking<ch * TW, Co, 15>::R == 0;
    // the most rows up to CH0 that leave no short register tiles (short tail tiles run at a
    // fraction of the FMA rate; e.g. the Fashion-MNIST dX, 64 -> 32 channels: one row of 7 tiles
    // with R = 7 instead of 2 + 2 + 2 + 1 rows with R = 14 and a 4 + 2 + 1 tail); else CH0
    static constexpr std::size_t CH = [] {
        if constexpr (!tr) {
            return TH;
        } else {
            std::size_t best = 0;
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                ((best = (best == 0 && even_chunks<CH0 - I>) ? CH0 - I : best), ...);
            }(std::make_index_sequence<CH0>{});
            return best ? best : CH0;
        }
    }();
    using blk_t = bcast_blocking<tr ? CH * TW : T, Co, 15>;

    // (co, ci) pairs and U's row stride
    static constexpr std::size_t Pn = Co * Ci, Pp = pair_stride(Pn);
    static constexpr std::size_t u_size = align_floats(A2 * Pp + R * R * Pp);  // U [A2][Pp], then a staging copy
    static constexpr std::size_t x_size = align_floats(2 * Ci * PR * RS);
    static constexpr std::size_t v_size = align_floats(A2 * Ci * Tp);
    static constexpr std::size_t MS = tr ? T * Co + ((T * Co) % 256 == 0 ? 16 : 0) : Co * Tp;  // M's plane stride
    static constexpr std::size_t m_size = align_floats(A2 * MS);
    static constexpr std::size_t scratch_floats = u_size + x_size + v_size + m_size;

    /// U[xi][co * Ci + ci] (tr: [ci * Co + co]) = (G g G^T)[xi] for every (co, ci), g(co, ci, kh, kw) the RxR kernel:
    /// the kernels are first copied tap-major (into k: R * R * Pp floats; by default after U), then
    /// transformed Pn at a time across the vector. Row stride of U: Pp.
    template <class Gf>
    static void transform_weights(const Gf& g, float* u, float* k = nullptr) {
        transform_kernels<Gm, R, Ci, Co, Pp, tr>(g, u, k ? k : u + A2 * Pp);
    }

    /// Zeroes the padded input planes (their borders stay zero; load_input writes the inside).
    static void clear_input(float* xs) { std::fill(xs, xs + x_size, 0.0f); }

    /// xe/xo from one sample x [Ci, H, Wd] (input channels [ci0, ci1)): padded column c of row r
    /// goes to xe (even c) or xo (odd c) at c / 2.
    static void load_input(const float* x, float* xs, std::size_t ci0 = 0, std::size_t ci1 = Ci) {
        float* xe = xs;
        float* xo = xs + Ci * PR * RS;
        for (std::size_t ci = ci0; ci < ci1; ++ci)
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

    /// V = B^T d B for every channel and tile.
    /// (tile rows [th0, th1) only, at v's columns from 0; input channels [ci0, ci1) only)
    static void transform_input(const float* xs, float* v, std::size_t th0 = 0, std::size_t th1 = TH, std::size_t ci0 = 0,
                                std::size_t ci1 = Ci) {
        const float* xe = xs;
        const float* xo = xs + Ci * PR * RS;
        for (std::size_t ci = ci0; ci < ci1; ++ci)
            for (std::size_t th = th0; th < th1; ++th)
                for (std::size_t j0 = 0; j0 < TWr; j0 += TVw) {
                    typename TV::type c[A][A];  // c[i] = B^T (row i of the patch)
                    #pragma GCC unroll 8
                    for (std::size_t i = 0; i < A; ++i) {
                        const float* re = xe + (ci * PR + 2 * th + i) * RS + j0;
                        const float* ro = xo + (ci * PR + 2 * th + i) * RS + j0;
                        typename TV::type d[A];  // patch column q: even columns in xe, odd in xo
                        #pragma GCC unroll 8
                        for (std::size_t q = 0; q < A; ++q) d[q] = TV::load((q % 2 ? ro : re) + q / 2);
                        mat_apply<BT>(d, c[i]);
                    }
                    float* dst = v + ci * Tp + (th - th0) * TW + j0;
                    #pragma GCC unroll 8
                    for (std::size_t j = 0; j < A; ++j) {  // B^T (d B), column by column
                        typename TV::type col[A], out[A];
                        #pragma GCC unroll 8
                        for (std::size_t i = 0; i < A; ++i) col[i] = c[i][j];
                        mat_apply<BT>(col, out);
                        #pragma GCC unroll 8
                        for (std::size_t i = 0; i < A; ++i) TV::store(dst + (i * A + j) * Ci * Tp, out[i]);
                    }
                }
    }

    /// V for every tile of the input channels [ci0, ci1).
    static void transform_input_channels(const float* xs, float* v, std::size_t ci0, std::size_t ci1) {
        transform_input(xs, v, 0, TH, ci0, ci1);
    }

    /// M[xi] = U[xi] V[xi] for the A2 positions: rows [r0, r1) of M, tiles (tr) or output
    /// channels (by default all: the first nt tiles, or every channel).
    static void multiply(const float* u, const float* v, float* m, std::size_t nt = T, std::size_t r0 = 0,
                         std::size_t r1 = 0) {
        for (std::size_t xi = 0; xi < A2; ++xi) {
            const float* uk = u + xi * Pp;
            const float* vk = v + xi * Ci * Tp;
            if constexpr (tr)
                bcast_gemm<Co, blk_t::R, blk_t::NV, init::zero>(
                    r0, r1 ? r1 : nt, Ci, [vk](std::size_t t, std::size_t k) { return vk[k * Tp + t]; },
                    [uk](std::size_t k) { return uk + k * Co; }, m + xi * MS, Co);
            else
                bcast_gemm<T, blk::R, blk::NV, init::zero>(
                    r0, r1 ? r1 : Co, Ci, [uk](std::size_t r, std::size_t k) { return uk[r * Ci + k]; },
                    [vk](std::size_t k) { return vk + k * Tp; }, m + xi * MS, Tp);
        }
    }

    /// Y = A^T M A plus bias, then Act (with a folded BatchNorm: epilogue.hpp), then Pool (no_pool
    /// or a 2x2 stride-2 max pool) into y [Co, ...] of one sample (output channels [co0, co1)).
    /// bias may be null.
    template <class Act, class Pool>
    static void transform_output(const float* m, const float* bias, float* y, float* saved = nullptr, std::size_t co0 = 0,
                                 std::size_t co1 = Co) {
        if constexpr (tr) return transform_output_tr<Act, Pool>(m, bias, y, saved, 0, TH);
        constexpr bool pooled = Pool::K == 2;
        static_assert((Pool::K == 1 || (Pool::K == 2 && Pool::S == 2)) && (!pooled || !folds_bn<Act>));
        constexpr std::size_t PH = OH / 2, PW = OW / 2, rows = pooled ? PH : TH;
        for (std::size_t co = co0; co < co1; ++co) {
            const auto b = TV::set1(bias ? bias[co] : 0.0f);
            const chan_affine<Act, TV> bn(bias, Co, co);
            for (std::size_t th = 0; th < rows; ++th)
                for (std::size_t j0 = 0; j0 < TWr; j0 += TVw) {
                    const float* src = m + co * Tp + th * TW + j0;  // (MS = Co * Tp)
                    typename TV::type s[2][A];  // A^T M, column by column
                    #pragma GCC unroll 8
                    for (std::size_t j = 0; j < A; ++j) {
                        typename TV::type col[A], out[2];
                        #pragma GCC unroll 8
                        for (std::size_t i = 0; i < A; ++i) col[i] = TV::load(src + (i * A + j) * Co * Tp);
                        mat_apply<AT>(col, out);
                        s[0][j] = out[0];
                        s[1][j] = out[1];
                    }
                    typename TV::type r0[2], r1[2];  // (A^T M) A
                    mat_apply<AT>(s[0], r0);
                    mat_apply<AT>(s[1], r1);
                    const auto y00 = r0[0] + b, y01 = r0[1] + b, y10 = r1[0] + b, y11 = r1[1] + b;
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
                            typename TV::type off;
                            window_argmax<TV>(y00, y01, y10, y11, mx, off, float(OW));
                            idx = TV::set1(float(2 * th * OW)) + TV::load(col2.data() + j0) + off;
                        } else {
                            mx = wino_max(wino_max(y00, y01), wino_max(y10, y11));
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
                        TV::store(t[0], Act::template v<TV>(bn(y00)));
                        TV::store(t[1], Act::template v<TV>(bn(y01)));
                        TV::store(t[2], Act::template v<TV>(bn(y10)));
                        TV::store(t[3], Act::template v<TV>(bn(y11)));
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

    /// One sample, input planes xs to y (and saved): the input transform, GEMMs and output
    /// transform, with transposed GEMMs CH tile rows at a time, so that V and M stay in L2 beside
    /// U (whole, the Fashion-MNIST conv's three take 1 MB, more than a core's L2).
    /// add: the sample's addend (forward_args::addend, no pool), or null.
    template <class Act, class Pool>
    static void run_sample(const float* u, const float* xs, float* v, float* m, const float* bias, float* y,
                           float* saved, const float* add = nullptr) {
        if constexpr (!tr) {
            transform_input(xs, v);
            multiply(u, v, m);
            transform_output<Act, Pool>(m, bias, y, saved);
            add_residual(y, add, Co * OH * OW);
        } else {
            for (std::size_t th0 = 0; th0 < TH; th0 += CH) {
                const std::size_t th1 = std::min(TH, th0 + CH);
                transform_input(xs, v, th0, th1);
                multiply(u, v, m, (th1 - th0) * TW);
                transform_output_tr<Act, Pool>(m, bias, y, saved, th0, th1);
                add_rows(y, add, th0, th1);
            }
        }
    }

    /// The addend (or null) added to the output rows of tile rows [th0, th1), all channels.
    static void add_rows(float* y, const float* add, std::size_t th0, std::size_t th1) {
        if (!add) return;
        const std::size_t r0 = 2 * th0, r1 = std::min(OH, 2 * th1);
        for (std::size_t co = 0; co < Co; ++co) add_residual(y + (co * OH + r0) * OW, add + (co * OH + r0) * OW, (r1 - r0) * OW);
    }

    /// A sample split over threads (conv_one_sample.hpp) is split, after the input transform (all
    /// of V), over output channels, or with transposed GEMMs over tile rows (parts of part_grain).
    /// Every value is formed as in run_sample.
    static constexpr std::size_t parts = tr ? TH : Co, part_grain = !tr && Co % W == 0 ? W : 1;
    /// The GEMMs and output transform of the parts [p0, p1), from the whole V into M (whole).
    template <class Act, class Pool>
    static void run_part(const float* u, const float* v, float* m, const float* bias, float* y, float* saved,
                         std::size_t p0, std::size_t p1, const float* add = nullptr) {
        if (p0 >= p1) return;  // (multiply's r1 = 0 means every row)
        if constexpr (tr) {
            multiply(u, v, m, T, p0 * TW, p1 * TW);
            transform_output_tr<Act, Pool>(m + p0 * TW * Co, bias, y, saved, p0, p1);
            add_rows(y, add, p0, p1);
        } else {
            multiply(u, v, m, T, p0, p1);
            transform_output<Act, Pool>(m, bias, y, saved, p0, p1);
            if (add) add_residual(y + p0 * OH * OW, add + p0 * OH * OW, (p1 - p0) * OH * OW);
        }
    }

    /// transform_output for M' [xi][t][co]: tile by tile, W channels at a time across the vector.
    /// (tile rows [th0, th1), from M's row 0)
    template <class Act, class Pool>
    static void transform_output_tr(const float* m, const float* bias, float* y, float* saved, std::size_t th0,
                                    std::size_t th1) {
        constexpr bool pooled = Pool::K == 2;
        constexpr std::size_t PH = OH / 2, PW = OW / 2;
        constexpr std::size_t rows = pooled ? PH : TH, cols = pooled ? PW : TW;
        for (std::size_t th = th0; th < std::min(th1, rows); ++th)
            for (std::size_t tw = 0; tw < cols; ++tw) {
                const float* src = m + ((th - th0) * TW + tw) * Co;
                for (std::size_t c0 = 0; c0 < Co; c0 += W) {
                    V::type s2[2][A];  // A^T M, column by column
#pragma GCC unroll 8
                    for (std::size_t j = 0; j < A; ++j) {
                        V::type col[A], out[2];
#pragma GCC unroll 8
                        for (std::size_t i = 0; i < A; ++i) col[i] = V::load(src + (i * A + j) * MS + c0);
                        mat_apply<AT>(col, out);
                        s2[0][j] = out[0];
                        s2[1][j] = out[1];
                    }
                    V::type r0[2], r1[2];  // (A^T M) A
                    mat_apply<AT>(s2[0], r0);
                    mat_apply<AT>(s2[1], r1);
                    const auto b = bias ? V::load(bias + c0) : V::zero();
                    const chan_affine<Act, V> bn(bias, Co, c0, true);
                    const auto y00 = r0[0] + b, y01 = r0[1] + b, y10 = r1[0] + b, y11 = r1[1] + b;
                    alignas(64) float t[4][W];
                    if constexpr (pooled) {
                        // the first maximum in window order (the values are finite here), then Act
                        auto mx = y00, off = V::zero();
                        if constexpr (saves_index<Pool>) {
                            window_argmax<V>(y00, y01, y10, y11, mx, off, float(OW));
                        } else {
                            mx = wino_max(wino_max(y00, y01), wino_max(y10, y11));
                        }
                        V::store(t[0], Act::template v<V>(mx));
                        V::store(t[1], off);
                        const std::size_t o = th * PW + tw;
                        const float base = float(2 * th * OW + 2 * tw);
                        for (std::size_t l = 0; l < W; ++l) {
                            y[(c0 + l) * PH * PW + o] = t[0][l];
                            if constexpr (saves_index<Pool>) saved[(c0 + l) * PH * PW + o] = base + t[1][l];
                        }
                    } else {
                        V::store(t[0], Act::template v<V>(bn(y00)));
                        V::store(t[1], Act::template v<V>(bn(y01)));
                        V::store(t[2], Act::template v<V>(bn(y10)));
                        V::store(t[3], Act::template v<V>(bn(y11)));
                        const std::size_t ow = 2 * tw, oh = 2 * th;
                        for (std::size_t l = 0; l < W; ++l) {
                            float* r = y + ((c0 + l) * OH + oh) * OW + ow;
                            r[0] = t[0][l];
                            if (ow + 1 < OW) r[1] = t[1][l];
                            if (oh + 1 < OH) {
                                r[OW] = t[2][l];
                                if (ow + 1 < OW) r[OW + 1] = t[3][l];
                            }
                        }
                    }
                }
            }
    }

    // ---- the weight gradient, by Winograd F(RxR, 2x2) ----------------------------------------
    // dW[co, ci] = sum over tiles of the RxR correlation of the AxA input patch with the 2x2 dY
    // tile; by the same identity as above (its transpose),
    //     dW = G^T [ sum_t (A dY_t A^T) .* (B^T x_t B) ] G,
    // so the input transform is the forward one, and the sum over tiles (and over a task's
    // samples) is A2 GEMMs acc[xi] [Ci x Co] += V[xi] [Ci x T] x DY[xi] [T x Co], Co across the
    // vector. finish_dw applies G^T . G once per task.
    static constexpr std::size_t Cop = (Co + W - 1) / W * W;
    static constexpr std::size_t CW = 2 * TW;  // dyt's columns
    static constexpr std::size_t dyt_size = align_floats(2 * TH * CW * Cop);  // dY [row, col, co]
    // DY is formed and consumed about TB tiles (whole tile rows) at a time, so its A2 planes
    // (TB x Cop each) stay in cache; their stride is kept off multiples of 1 KiB (16 streams
    // 4 KiB apart share one set of cache lines and evict each other).
    static constexpr std::size_t TB = std::min<std::size_t>(T, std::max<std::size_t>({16, 2048 / Cop, TW}));  // >= one tile row
    static constexpr std::size_t DS = TB * Cop + ((TB * Cop) % 256 == 0 ? 16 : 0);
    static constexpr std::size_t dyw_size = align_floats(A2 * DS);
    // the accumulators: the task's sum, then the current sample's (summed apart and then added:
    // one running sum over all of a batch's tiles loses digits in proportion to their number, and
    // failed the 1e-5 standard at real batch sizes; tests check batch 12)
    static constexpr std::size_t AS = A2 * Ci * Cop;
    static constexpr std::size_t acc_size = align_floats(2 * AS);
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
    static void transpose_dy(const float* dy, float* dyt) { transpose_dy_rows<Co, OH, OW>(dy, dyt, CW, Cop); }

    /// DY[xi][t - t0][co] = (A dY_t A^T)[xi] (A = [1 0; 1 1; 1 -1; 0 -1]) for the tiles
    /// [t0, t0 + nt), from dyt.
    static void transform_dyt(const float* dyt, float* dyw, std::size_t t0, std::size_t nt) {
        for (std::size_t t = t0; t < t0 + nt; ++t) {
            const std::size_t th = t / TW, tw = t % TW;
            for (std::size_t c0 = 0; c0 < Cop; c0 += W) {
                const float* d = dyt + ((2 * th) * CW + 2 * tw) * Cop + c0;
                const V::type d0[2] = {V::load(d), V::load(d + Cop)}, d1[2] = {V::load(d + CW * Cop), V::load(d + CW * Cop + Cop)};
                V::type e[2][A];  // e[i] = A (row i of the tile)
                mat_apply<Am>(d0, e[0]);
                mat_apply<Am>(d1, e[1]);
                float* o = dyw + (t - t0) * Cop + c0;
                #pragma GCC unroll 8
                for (std::size_t q = 0; q < A; ++q) {  // A (e column q)
                    const V::type col[2] = {e[0][q], e[1][q]};
                    V::type out[A];
                    mat_apply<Am>(col, out);
                    #pragma GCC unroll 8
                    for (std::size_t p = 0; p < A; ++p) V::store(o + (p * A + q) * DS, out[p]);
                }
            }
        }
    }

    /// acc[xi] += V[xi] DY[xi] for the A2 positions, over one sample's tiles, a few tile rows
    /// at a time (the input transform and DY for those rows only, so they stay in cache): xs the
    /// sample's input planes, dyt its dY transposed; v and dyw: scratch. The sample's sum is
    /// formed apart (in acc + AS), and its last GEMMs add it to the task's.
    static constexpr std::size_t CHd = std::max<std::size_t>(1, TB / TW);
    static void accumulate_dw(const float* xs, float* v, const float* dyt, float* dyw, float* acc) {
        float* sample = acc + AS;
        for (std::size_t th0 = 0; th0 < TH; th0 += CHd) {
            const std::size_t th1 = std::min(TH, th0 + CHd), t0 = th0 * TW, nt = (th1 - th0) * TW;
            transform_input(xs, v, th0, th1);
            transform_dyt(dyt, dyw, t0, nt);
            for (std::size_t xi = 0; xi < A2; ++xi) {
                const float* vk = v + xi * Ci * Tp;
                const float* dk = dyw + xi * DS;
                // the sample's first rows start its sum, its last rows add it to the task's
                const auto gemm = [&]<init I, bool Last>() {
                    bcast_gemm<Cop, dw_blk::R, dw_blk::NV, I, false, false, false, Last>(
                        0, Ci, nt, [vk](std::size_t r, std::size_t k) { return vk[r * Tp + k]; },
                        [dk](std::size_t k) { return dk + k * Cop; }, sample + xi * Ci * Cop, Cop, nullptr, acc + xi * Ci * Cop);
                };
                const bool first = th0 == 0, last = th1 == TH;
                if (first && last) gemm.template operator()<init::zero, true>();
                else if (first) gemm.template operator()<init::zero, false>();
                else if (last) gemm.template operator()<init::accumulate, true>();
                else gemm.template operator()<init::accumulate, false>();
            }
        }
    }

    /// dw[(ci * R * R + kh * R + kw) * Cop + co] += (G^T acc G)[kh][kw] for every weight.
    static void finish_dw(const float* acc, float* dw) { finish_weight_grads<GT>(acc, Ci, Cop, dw); }

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

};

}  // namespace ctnn::cpu_detail
