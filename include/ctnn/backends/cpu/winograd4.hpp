// cpu kernel helper: Winograd F(4x4, 3x3) and F(4x4, 5x5) for stride-1 convolutions whose output
// maps are small (the tiles of a sample fill few vectors).
//
// The same identity as winograd.hpp, Y = A^T [ (G g G^T) .* (B^T d B) ] A, with 4x4 output tiles
// and (R+3)x(R+3) transforms: per output and input channel (R+3)^2 / 16 multiply-adds instead of
// F(2x2)'s (R+1)^2 / 4 (5x5: 4.0 instead of 9.0 per 2x2 block, 3x3: 2.25 instead of 4.0), paid
// for with larger transforms. The points (0, +-3/2, +-2/3 for 3x3; 0, +-1, +-2, +-1/2 for 5x5)
// are checked exactly by tools/winograd_matrices.py, which with --fp32 also measures their
// rounding error (1.3e-6 and 7e-6 of the output's scale over 32 input channels).
//
// Layout: the tiles of one sample run across the vector (a Fashion-MNIST conv2 sample, 14 x 14
// outputs, is 16 tiles: one AVX-512 vector), so
//   1. the zero-padded input is kept as plain planes; the input transform reads the patch element
//      (i, q) of W tiles at once: with 16-float vectors and rows of 4 tiles by row loads and 4x4
//      transposes (patch_row4), otherwise with a gather (the tiles' offsets are constants);
//   2. V[xi][ci][t] = (B^T d B)[xi], the GEMMs M[xi] [Co x T] = U[xi] [Co x Ci] x V[xi] [Ci x T]
//      (bcast_gemm, U broadcast), a block of output channels at a time, so that M stays in L1/L2;
//   3. Y = A^T M A plus bias, activation and, for a 2x2 stride-2 max pool, the four windows of
//      each tile, written a row at a time (rows of 4 tiles, AVX-512) or lane by lane.
// The weight gradient is the transposed identity (F(RxR, 4x4), below). As in winograd.hpp the
// caller uses this only for finite weights and inputs.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "winograd.hpp"
#include "winograd4_transforms.hpp"

namespace ctnn::cpu_detail {

/// Winograd F(4x4, RxR) (R = 3 or 5): Ci -> Co channels, H x Wd input, padding P, stride 1. The
/// same interface as winograd (transform_weights, clear_input, load_input, run_sample).
template <std::size_t Ci, std::size_t Co, std::size_t H, std::size_t Wd, std::size_t P, std::size_t R>
struct winograd4 {
    static_assert(R == 3 || R == 5);
    static constexpr std::size_t A = R + 3, A2 = A * A;  // the transform's size, positions
    using Gm = typename wino4_mats<R>::G;
    static constexpr std::size_t OH = H + 2 * P - (R - 1), OW = Wd + 2 * P - (R - 1);
    static constexpr std::size_t TH = (OH + 3) / 4, TW = (OW + 3) / 4, T = TH * TW;
    static constexpr std::size_t NC = (T + W - 1) / W, Tp = NC * W;  // vectors of tiles; V's, M's row length
    static constexpr std::size_t PR = 4 * TH + R - 1, RS = 4 * TW + R - 1;  // padded rows, row stride
    static constexpr std::size_t plane = PR * RS;
    static constexpr std::size_t Pn = Co * Ci, Pp = pair_stride(Pn);
    static constexpr std::size_t u_size = align_floats(A2 * Pp + R * R * Pp);  // U [A2][Pp], then a staging copy
    static constexpr std::size_t x_size = align_floats(Ci * plane + 16);  // (+ what patch_row4 reads past the end)
    // V's plane stride, off a multiple of 1 KiB (the input transform stores to all A2 planes at
    // once: planes 4 KiB apart share one cache set)
    static constexpr std::size_t VS = Ci * Tp + ((Ci * Tp) % 256 == 0 ? 16 : 0);
    static constexpr std::size_t v_size = align_floats(A2 * VS);
    // the GEMMs and the output transform run CB output channels at a time (M: A2 x CB x Tp)
    static constexpr std::size_t CB = std::min<std::size_t>(Co, 16);
    static constexpr std::size_t MS = CB * Tp + ((CB * Tp) % 256 == 0 ? 16 : 0);  // M's plane stride
    static constexpr std::size_t m_size = align_floats(A2 * MS);
    static constexpr std::size_t scratch_floats = u_size + x_size + v_size + m_size;
    using blk = bcast_blocking<CB, Tp, 15>;

    /// The offset in a padded plane of each tile's top left corner, W tiles a vector (tiles
    /// past T read the corner of tile 0; their results are dropped).
    alignas(64) static constexpr std::array<std::int32_t, Tp> corner = [] {
        std::array<std::int32_t, Tp> c{};
        for (std::size_t t = 0; t < T; ++t) c[t] = std::int32_t(4 * (t / TW) * RS + 4 * (t % TW));
        return c;
    }();

    template <class Gf>
    static void transform_weights(const Gf& g, float* u, float* k = nullptr) {
        transform_kernels<Gm, R, Ci, Co, Pp, false>(g, u, k ? k : u + A2 * Pp);
    }

    /// Zeroes the padded input planes (their borders stay zero; load_input writes the inside).
    static void clear_input(float* xs) { std::fill(xs, xs + x_size, 0.0f); }

    /// The inside of the padded planes from one sample x [Ci, H, Wd] (input channels [ci0, ci1)).
    static void load_input(const float* x, float* xs, std::size_t ci0 = 0, std::size_t ci1 = Ci) {
        for (std::size_t ci = ci0; ci < ci1; ++ci)
            for (std::size_t h = 0; h < H; ++h)
                std::memcpy(xs + ci * plane + (h + P) * RS + P, x + (ci * H + h) * Wd, Wd * sizeof(float));
    }

    /// The pooled index of window (a, b) of each tile, lane by lane: 2 ph OW + 2 pw.
    alignas(64) static constexpr std::array<std::array<std::array<float, W>, 4>, NC> pool_base = [] {
        std::array<std::array<std::array<float, W>, 4>, NC> b{};
        for (std::size_t c = 0; c < NC; ++c)
            for (std::size_t wdw = 0; wdw < 4; ++wdw)
                for (std::size_t l = 0; l < W; ++l) {
                    const std::size_t t = c * W + l, ph = 2 * (t / TW) + wdw / 2, pw = 2 * (t % TW) + wdw % 2;
                    b[c][wdw][l] = float(2 * ph * OW + 2 * pw);
                }
        return b;
    }();
    // With 16-float vectors and rows of 4 tiles, a vector is 4 tile rows: its patch elements are
    // read with plain loads of those rows and 4x4 transposes, not gathers (a 16-float gather is
    // slow on Zen 4; docs/benchmarks.md, "Design measurements").
#if !defined(CTNN_NO_SIMD) && defined(__AVX512F__)
    static constexpr bool rows4 = W == 16 && TW == 4 && TH % 4 == 0;
    /// The pooled outputs of a vector of tiles (4 tile rows of 4 from tile row 4 c): r[2a + b] lane
    /// 4k + tw is window (a, b) of tile (4c + k, tw), pooled row 2 (4c + k) + a = ph0 + 2k + a,
    /// column 2 tw + b: rows of 8 interleaved from two vectors, stored masked to PW (<= 8)
    /// columns and PH rows. y: one channel's PH x PW map.
    static void store_pooled_rows4(const float (*r)[W], float* y, std::size_t ph0) {
        constexpr std::size_t PH = OH / 2, PW = OW / 2;
        static_assert(PW <= 8);
        const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        constexpr __mmask16 m = (1u << PW) - 1u;
        #pragma GCC unroll 2
        for (std::size_t a = 0; a < 2; ++a) {
            const __m512 v0 = _mm512_load_ps(r[2 * a]), v1 = _mm512_load_ps(r[2 * a + 1]);
            const __m512 rows[2] = {_mm512_permutex2var_ps(v0, lo, v1), _mm512_permutex2var_ps(v0, hi, v1)};
            #pragma GCC unroll 4
            for (std::size_t k = 0; k < 4; ++k) {  // rows[k / 2], half k % 2: tile row 4c + k
                const std::size_t ph = ph0 + 2 * k + a;
                if (ph >= PH) continue;
                if (k % 2 == 0) _mm512_mask_storeu_ps(y + ph * PW, m, rows[k / 2]);
                else _mm512_mask_storeu_ps(y + ph * PW - 8, __mmask16(m << 8), rows[k / 2]);
            }
        }
    }
    /// The outputs of a vector of tiles (as above): r[i][q] lane 4k + tw is output row
    /// oh0 + 4k + i, column 4 tw + q; rows of 16 by 4x4 transposes, stored masked to OW (<= 16)
    /// columns and OH rows. y: one channel's OH x OW map.
    static void store_rows4(const float (*r)[4][W], float* y, std::size_t oh0) {
        static_assert(OW <= 16);
        // pairs (q, q + 1) of 2 tile rows: lanes 8k' + 2 tw + (q odd) for tile row k' of the pair
        const __m512i j0 = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const __m512i j1 = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        // a row from the pairs (0, 1) and (2, 3): lane 4 tw + q
        const __m512i k0 = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
        const __m512i k1 = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
        constexpr __mmask16 m = OW == 16 ? __mmask16(0xFFFF) : __mmask16((1u << OW) - 1u);
        #pragma GCC unroll 4
        for (std::size_t i = 0; i < 4; ++i) {
            const __m512 r0 = _mm512_load_ps(r[i][0]), r1 = _mm512_load_ps(r[i][1]);
            const __m512 r2 = _mm512_load_ps(r[i][2]), r3 = _mm512_load_ps(r[i][3]);
            const __m512 p01 = _mm512_permutex2var_ps(r0, j0, r1), q01 = _mm512_permutex2var_ps(r2, j0, r3);
            const __m512 p23 = _mm512_permutex2var_ps(r0, j1, r1), q23 = _mm512_permutex2var_ps(r2, j1, r3);
            const __m512 rows[4] = {_mm512_permutex2var_ps(p01, k0, q01), _mm512_permutex2var_ps(p01, k1, q01),
                                    _mm512_permutex2var_ps(p23, k0, q23), _mm512_permutex2var_ps(p23, k1, q23)};
            #pragma GCC unroll 4
            for (std::size_t k = 0; k < 4; ++k) {
                const std::size_t oh = oh0 + 4 * k + i;
                if (oh < OH) _mm512_mask_storeu_ps(y + oh * OW, m, rows[k]);
            }
        }
    }
#else
    static constexpr bool rows4 = false;
    static void store_pooled_rows4(const float (*)[W], float*, std::size_t) {}
    static void store_rows4(const float (*)[4][W], float*, std::size_t) {}
#endif

    /// V = B^T d B for every tile of the input channels [ci0, ci1).
    static void transform_input(const float* xs, float* v, std::size_t ci0 = 0, std::size_t ci1 = Ci) {
        for (std::size_t ci = ci0; ci < ci1; ++ci)
            for (std::size_t c = 0; c < NC; ++c) {
                const float* base = xs + ci * plane + (rows4 ? 16 * c * RS : 0);
                wino4_tiles<R>::template input<rows4>(base, RS, corner.data() + c * W, v + ci * Tp + c * W, VS);
            }
    }

    static void transform_input_channels(const float* xs, float* v, std::size_t ci0, std::size_t ci1) {
        transform_input(xs, v, ci0, ci1);
    }

    /// M[xi] = U[xi] V[xi] for the output channels [co0, co1) (at most CB) and the A2 positions.
    static void multiply(const float* u, const float* v, float* m, std::size_t co0, std::size_t co1) {
        for (std::size_t xi = 0; xi < A2; ++xi) {
            const float* uk = u + xi * Pp + co0 * Ci;
            const float* vk = v + xi * VS;
            bcast_gemm<Tp, blk::R, blk::NV, init::zero>(
                0, co1 - co0, Ci, [uk](std::size_t r, std::size_t k) { return uk[r * Ci + k]; },
                [vk](std::size_t k) { return vk + k * Tp; }, m + xi * MS, Tp);
        }
    }

    /// Y = A^T M A plus bias, then Act (with a folded BatchNorm: epilogue.hpp), then Pool (no_pool
    /// or a 2x2 stride-2 max pool) for the output channels [co0, co1) (at most CB), into y [Co, ...]
    /// of one sample. bias may be null.
    template <class Act, class Pool>
    static void transform_output(const float* m, const float* bias, float* y, float* saved, std::size_t co0,
                                 std::size_t co1) {
        constexpr bool pooled = Pool::K == 2;
        static_assert(Pool::K == 1 || (Pool::K == 2 && Pool::S == 2));
        static_assert(!pooled || !folds_bn<Act>);
        constexpr std::size_t PH = OH / 2, PW = OW / 2;
        for (std::size_t co = co0; co < co1; ++co) {
            const auto b = V::set1(bias ? bias[co] : 0.0f);
            const chan_affine<Act, V> bn(bias, Co, co);
            for (std::size_t c = 0; c < NC; ++c) {
                V::type o[4][4];  // A^T M A, plus the bias
                wino4_tiles<R>::output(m + (co - co0) * Tp + c * W, MS, b, o);
                const std::size_t nl = std::min(W, T - c * W);  // the lanes that are tiles
                if constexpr (pooled) {
                    // the four 2x2 windows of each tile: max (the first in window order) before the
                    // activation, which is monotone, as the direct path
                    alignas(64) float r[4][W], at[4][W];
                    #pragma GCC unroll 4
                    for (std::size_t wdw = 0; wdw < 4; ++wdw) {
                        const std::size_t a = 2 * (wdw / 2), q = 2 * (wdw % 2);
                        V::type mx, off = V::zero();
                        if constexpr (saves_index<Pool>) {
                            window_argmax<V>(o[a][q], o[a][q + 1], o[a + 1][q], o[a + 1][q + 1], mx, off, float(OW));
                        } else {
                            mx = wino_max(wino_max(o[a][q], o[a][q + 1]), wino_max(o[a + 1][q], o[a + 1][q + 1]));
                        }
                        V::store(r[wdw], Act::template v<V>(mx));
                        if constexpr (saves_index<Pool>) V::store(at[wdw], off);
                    }
                    if constexpr (rows4) {
                        store_pooled_rows4(r, y + co * PH * PW, 8 * c);
                        if constexpr (saves_index<Pool>) {
                            #pragma GCC unroll 4
                            for (std::size_t wdw = 0; wdw < 4; ++wdw)
                                V::store(at[wdw], V::load(at[wdw]) + V::load(pool_base[c][wdw].data()));
                            store_pooled_rows4(at, saved + co * PH * PW, 8 * c);
                        }
                        continue;
                    }
                    for (std::size_t l = 0; l < nl; ++l) {
                        const std::size_t t = c * W + l, th = t / TW, tw = t % TW;
                        for (std::size_t wdw = 0; wdw < 4; ++wdw) {
                            const std::size_t ph = 2 * th + wdw / 2, pw = 2 * tw + wdw % 2;
                            if (ph >= PH || pw >= PW) continue;
                            const std::size_t i = (co * PH + ph) * PW + pw;
                            y[i] = r[wdw][l];
                            if constexpr (saves_index<Pool>) saved[i] = float(2 * ph * OW + 2 * pw) + at[wdw][l];
                        }
                    }
                } else {
                    alignas(64) float r[4][4][W];
                    #pragma GCC unroll 4
                    for (std::size_t i = 0; i < 4; ++i)
                        #pragma GCC unroll 4
                        for (std::size_t q = 0; q < 4; ++q) V::store(r[i][q], Act::template v<V>(bn(o[i][q])));
                    if constexpr (rows4) {
                        store_rows4(r, y + co * OH * OW, 16 * c);
                        continue;
                    }
                    for (std::size_t l = 0; l < nl; ++l) {
                        const std::size_t t = c * W + l, oh = 4 * (t / TW), ow = 4 * (t % TW);
                        const std::size_t ni = std::min<std::size_t>(4, OH - oh), nq = std::min<std::size_t>(4, OW - ow);
                        float* dst = y + (co * OH + oh) * OW + ow;
                        for (std::size_t i = 0; i < ni; ++i)
                            for (std::size_t q = 0; q < nq; ++q) dst[i * OW + q] = r[i][q][l];
                    }
                }
            }
        }
    }

    /// One sample, input planes xs to y (and saved): the input transform, then the GEMMs and the
    /// output transform CB output channels at a time.
    /// add: the sample's addend (forward_args::addend, no pool), or null.
    template <class Act, class Pool>
    static void run_sample(const float* u, const float* xs, float* v, float* m, const float* bias, float* y,
                           float* saved, const float* add = nullptr) {
        transform_input(xs, v);
        run_part<Act, Pool>(u, v, m, bias, y, saved, 0, Co, add);
    }

    /// A sample split over threads (conv_one_sample.hpp) is split over output channels, after the
    /// input transform (all of V): parts of `part_grain` channels (whole vectors where the blocks
    /// allow it). Every value is formed as in run_sample.
    static constexpr std::size_t parts = Co, part_grain = Co % W == 0 ? W : 1;
    /// The GEMMs and output transform of the output channels [p0, p1), from the whole V.
    /// The addend, when given, joins each block of channels as soon as it is written.
    template <class Act, class Pool>
    static void run_part(const float* u, const float* v, float* m, const float* bias, float* y, float* saved,
                         std::size_t p0, std::size_t p1, const float* add = nullptr) {
        for (std::size_t co0 = p0; co0 < p1; co0 += CB) {
            const std::size_t co1 = std::min(p1, co0 + CB);
            multiply(u, v, m, co0, co1);
            transform_output<Act, Pool>(m, bias, y, saved, co0, co1);
            if (add) add_residual(y + co0 * OH * OW, add + co0 * OH * OW, (co1 - co0) * OH * OW);
        }
    }

    // ---- the weight gradient, by Winograd F(RxR, 4x4) -----------------------------------------
    // As in winograd.hpp, dW = G^T [ sum_t (A dY_t A^T) .* (B^T x_t B) ] G with the forward's
    // input transform, now for 4x4 dY tiles: per sample A2 GEMMs [Ci x T] x [T x Co] summed over
    // the sample's T tiles (one vector's worth here), each added to the task's sum as it ends
    // (bcast_gemm's SumTo: a sample's sum apart from the batch's, for accuracy, at no extra pass).
    static constexpr std::size_t Cop = (Co + W - 1) / W * W;
    static constexpr std::size_t CW = 4 * TW;  // dyt's columns
    static constexpr std::size_t dyt_size = align_floats(4 * TH * CW * Cop);  // dY [row, col, co]
    static constexpr std::size_t DS = T * Cop + ((T * Cop) % 256 == 0 ? 16 : 0);  // DY's plane stride
    static constexpr std::size_t dyw_size = align_floats(A2 * DS);
    static constexpr std::size_t acc_size = align_floats(A2 * Ci * Cop);
    static constexpr std::size_t dw_scratch_floats = x_size + v_size + dyt_size + dyw_size + acc_size;
    using dw_blk = bcast_blocking<Ci, Cop>;
    using GT = transposed<Gm>;

    /// Zeroes what the dW path needs zero: the padded input planes, dY's transposed copy (its
    /// rows and columns past OH, OW and channels past Co stay zero) and the accumulators.
    static void clear_dw(float* xs, float* dyt, float* acc) {
        clear_input(xs);
        std::fill(dyt, dyt + dyt_size, 0.0f);
        std::fill(acc, acc + acc_size, 0.0f);
    }

    /// dyt [row, col, co] (4 TH x 4 TW x Cop) from one sample's dY [Co, OH, OW].
    static void transpose_dy(const float* dy, float* dyt) { transpose_dy_rows<Co, OH, OW>(dy, dyt, CW, Cop); }

    /// DY[xi][t][co] = (A dY_t A^T)[xi] for every tile, from dyt.
    static void transform_dyt(const float* dyt, float* dyw) {
        for (std::size_t t = 0; t < T; ++t) {
            const std::size_t th = t / TW, tw = t % TW;
            for (std::size_t c0 = 0; c0 < Cop; c0 += W)
                wino4_tiles<R>::dy(dyt + (4 * th * CW + 4 * tw) * Cop + c0, CW * Cop, Cop, dyw + t * Cop + c0, DS);
        }
    }

    /// acc[xi] += V[xi] DY[xi] over one sample's tiles: xs the sample's input planes, dyt its dY
    /// transposed; v and dyw: scratch.
    static void accumulate_dw(const float* xs, float* v, const float* dyt, float* dyw, float* acc) {
        transform_input(xs, v);
        transform_dyt(dyt, dyw);
        for (std::size_t xi = 0; xi < A2; ++xi) {
            const float* vk = v + xi * VS;
            const float* dk = dyw + xi * DS;
            float* ak = acc + xi * Ci * Cop;
            bcast_gemm<Cop, dw_blk::R, dw_blk::NV, init::zero, false, false, false, true>(
                0, Ci, T, [vk](std::size_t r, std::size_t k) { return vk[r * Tp + k]; },
                [dk](std::size_t k) { return dk + k * Cop; }, ak, Cop, nullptr, ak);
        }
    }

    /// dw[(ci * R * R + kh * R + kw) * Cop + co] += (G^T acc G)[kh][kw] for every weight.
    static void finish_dw(const float* acc, float* dw) { finish_weight_grads<GT>(acc, Ci, Cop, dw); }
};

/// Whether F(4x4) pays over F(2x2) for a stride-1 RxR conv with an OH x OW output: its GEMMs
/// (tiles rounded up to whole vectors) do at most 3/4 of F(2x2)'s multiplies.
template <std::size_t R>
constexpr bool wino4_pays(std::size_t OH, std::size_t OW) {
    const std::size_t t4 = ((OH + 3) / 4) * ((OW + 3) / 4), t2 = ((OH + 1) / 2) * ((OW + 1) / 2);
    const std::size_t a4 = (R + 3) * (R + 3), a2 = (R + 1) * (R + 1);
    return W >= 8 && 4 * a4 * ((t4 + W - 1) / W * W) <= 3 * a2 * t2;
}

}  // namespace ctnn::cpu_detail
