// What a fused cpu kernel applies to each value it produces: an activation and, for Conv, a pool.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#if !defined(CTNN_NO_SIMD) && defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "../../layers/maxpool.hpp"
#include "../../layers/relu.hpp"
#include "simd.hpp"

namespace ctnn::cpu_detail {

/// An activation layer's math (layer.hpp) as an epilogue applies it: f on one float, v on a
/// vector of type Vt.
template <class L>
struct act {
    static float f(float x) { return L::template f<simd::scalar>(x); }
    template <class Vt> static typename Vt::type v(typename Vt::type x) { return L::template f<Vt>(x); }
};
struct identity {
    static float f(float x) { return x; }
    template <class Vt> static typename Vt::type v(typename Vt::type x) { return x; }
};
using relu = act<ReLU>;

/// Act after an inference BatchNorm folded into a convolution's epilogue (conv_bn.hpp): channel
/// c's conv output z (bias included, as unfused) becomes Act(fma(z, scale[c], shift[c])). The
/// kernels take the coefficients where they take the bias: coef = [bias | scale | shift], C each.
/// Only without a pool (a negative scale would change which value is a window's maximum).
template <class A>
struct bn_then : A {
    static constexpr bool folds_bn = true;
};
template <class Act>
inline constexpr bool folds_bn = requires { Act::folds_bn; };

/// Channel c's part of the epilogue before the activation: z * scale[c] + shift[c] where Act folds
/// a BatchNorm (coef as bn_then says), else z. Vt: the vector type (or simd::scalar).
template <class Act, class Vt>
struct chan_affine {
    typename Vt::type s{}, t{};
    chan_affine(const float* coef, std::size_t C, std::size_t c) {
        if constexpr (folds_bn<Act>) {
            s = Vt::set1(coef[C + c]);
            t = Vt::set1(coef[2 * C + c]);
        }
    }
    /// The same for W consecutive channels c0.. across the vector (channels-last epilogues).
    chan_affine(const float* coef, std::size_t C, std::size_t c0, bool) {
        if constexpr (folds_bn<Act>) {
            s = Vt::load(coef + C + c0);
            t = Vt::load(coef + 2 * C + c0);
        }
    }
    typename Vt::type operator()(typename Vt::type z) const {
        if constexpr (folds_bn<Act>) return Vt::fma(z, s, t);
        else return z;
    }
};

/// Act (after a folded BatchNorm's affine, for bn_then) in place over the maps of channels
/// [c0, c1) of one sample, y [C, N]; coef as bn_then says (only its scale and shift are read).
/// For kernels whose GEMM writes the output itself: the maps are still in cache.
template <class Act, std::size_t C, std::size_t N>
inline void channel_epilogue(float* y, const float* coef, std::size_t c0, std::size_t c1) {
    using Vt = simd::vec;
    for (std::size_t c = c0; c < c1; ++c) {
        const chan_affine<Act, Vt> bn(coef, C, c);
        const chan_affine<Act, simd::scalar> bn1(coef, C, c);
        float* r = y + c * N;
        std::size_t i = 0;
        for (; i + Vt::width <= N; i += Vt::width) Vt::store(r + i, Act::template v<Vt>(bn(Vt::load(r + i))));
        for (; i < N; ++i) r[i] = Act::f(bn1(r[i]));
    }
}

/// y[i] += r[i], i < n: a Residual's sum formed by the kernel that wrote y (forward_args::addend),
/// right after it wrote these values, while they are in cache; the sum's bits are those of the
/// block's own add. r null: nothing.
inline void add_residual(float* y, const float* r, std::size_t n) {
    if (!r) return;
    using Vt = simd::vec;
    const std::size_t nv = n - n % Vt::width;
    for (std::size_t i = 0; i < nv; i += Vt::width) Vt::store(y + i, Vt::load(y + i) + Vt::load(r + i));
    for (std::size_t i = nv; i < n; ++i) y[i] += r[i];
}

struct no_pool {
    static constexpr std::size_t K = 1, S = 1;
};
template <std::size_t PK, std::size_t PS>
struct max_pool {
    static constexpr std::size_t K = PK, S = PS;
};
/// A 2x2 stride-2 max pool in a training forward: it also saves, per output, the index of the
/// window's maximum in the (unpooled) map, as the MaxPool kernels do.
struct max_pool_saving {
    static constexpr std::size_t K = 2, S = 2;
};
template <class Pool>
inline constexpr bool saves_index = std::is_same_v<Pool, max_pool_saving>;

/// The 2x2 window (a, b; c, d) at index base (row stride ow) as the reference MaxPool scans it:
/// the first maximum in row-major order, or, with a NaN, the last NaN. Sets *m and returns the index.
inline std::size_t window4(const float* v, std::size_t base, std::size_t ow, float* m) {
    const std::size_t off[4] = {0, 1, ow, ow + 1};
    std::size_t best = 0;
    float mx = v[0];
    bool bad = v[0] != v[0];
    for (std::size_t k = 1; k < 4; ++k) {
        if (v[k] > mx) {
            mx = v[k];
            best = k;
        }
        bad |= v[k] != v[k];
    }
    if (bad) [[unlikely]] {
        best = 0;
        for (std::size_t k = 1; k < 4; ++k)
            if (v[k] > v[best] || v[k] != v[k]) best = k;
        mx = v[best];
    }
    *m = mx;
    return base + off[best];
}

/// One row of 2x2 stride-2 windows over the map rows s0 and s1 (ow: the map's width, base: the
/// index of s0[0] in the map): y[pw] = Act(maximum), sv[pw] = its index, for pw < PW.
/// sv may be null (inference).
template <class Act, std::size_t PW>
inline void pool2x2_row(const float* s0, const float* s1, std::size_t ow, std::size_t base, float* y, float* sv) {
    std::size_t pw = 0;
#if !defined(CTNN_NO_SIMD) && defined(__AVX512F__)
    if constexpr (simd::vec::width == 16) {
        // 16 windows at a time: even and odd columns apart with one permute each; a NaN in the
        // 16 takes the scalar path
        using Vz = simd::vec;
        const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        const __m512 iota2 = _mm512_setr_ps(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const auto mask = [](std::size_t k) { return __mmask16(k >= 16 ? 0xFFFFu : (1u << k) - 1u); };
        for (; pw < PW; pw += 16) {
            const std::size_t n = std::min<std::size_t>(16, PW - pw), cols = 2 * n;
            const __mmask16 mlo = mask(cols), mhi = mask(cols > 16 ? cols - 16 : 0), mo = mask(n);
            const __m512 p0 = _mm512_maskz_loadu_ps(mlo, s0 + 2 * pw), p1 = _mm512_maskz_loadu_ps(mhi, s0 + 2 * pw + 16);
            const __m512 q0 = _mm512_maskz_loadu_ps(mlo, s1 + 2 * pw), q1 = _mm512_maskz_loadu_ps(mhi, s1 + 2 * pw + 16);
            const __m512 a = _mm512_permutex2var_ps(p0, ie, p1), b = _mm512_permutex2var_ps(p0, io, p1);
            const __m512 c = _mm512_permutex2var_ps(q0, ie, q1), d = _mm512_permutex2var_ps(q0, io, q1);
            const __mmask16 nan = _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(c, d, _CMP_UNORD_Q);
            if (nan) [[unlikely]] {
                for (std::size_t l = 0; l < n; ++l) {
                    const std::size_t j = pw + l;
                    const float v[4] = {s0[2 * j], s0[2 * j + 1], s1[2 * j], s1[2 * j + 1]};
                    float m;
                    const std::size_t i = window4(v, base + 2 * j, ow, &m);
                    if (sv) sv[j] = float(i);
                    y[j] = Act::f(m);
                }
                continue;
            }
            __m512 m = a, off = _mm512_setzero_ps();
            __mmask16 k = _mm512_cmp_ps_mask(b, m, _CMP_GT_OQ);
            m = _mm512_mask_blend_ps(k, m, b);
            off = _mm512_mask_blend_ps(k, off, _mm512_set1_ps(1.0f));
            k = _mm512_cmp_ps_mask(c, m, _CMP_GT_OQ);
            m = _mm512_mask_blend_ps(k, m, c);
            off = _mm512_mask_blend_ps(k, off, _mm512_set1_ps(float(ow)));
            k = _mm512_cmp_ps_mask(d, m, _CMP_GT_OQ);
            m = _mm512_mask_blend_ps(k, m, d);
            off = _mm512_mask_blend_ps(k, off, _mm512_set1_ps(float(ow + 1)));
            const __m512 idx = _mm512_add_ps(_mm512_add_ps(_mm512_set1_ps(float(base + 2 * pw)), iota2), off);
            typename Vz::type r = Act::template v<Vz>(typename Vz::type(m));
            _mm512_mask_storeu_ps(y + pw, mo, __m512(r));
            if (sv) _mm512_mask_storeu_ps(sv + pw, mo, idx);
        }
        return;
    }
#endif
    for (; pw < PW; ++pw) {
        const float v[4] = {s0[2 * pw], s0[2 * pw + 1], s1[2 * pw], s1[2 * pw + 1]};
        float m;
        const std::size_t i = window4(v, base + 2 * pw, ow, &m);
        if (sv) sv[pw] = float(i);
        y[pw] = Act::f(m);
    }
}

/// The maximum of n values at stride s, NaN if any is NaN (as the reference MaxPool). Branch-free
/// except on NaN.
inline float window_max(const float* p, std::size_t n, std::size_t s) {
    float m = p[0];
    bool bad = m != m;
    for (std::size_t i = 1; i < n; ++i) {
        const float v = p[i * s];
        m = v > m ? v : m;  // maxss
        bad |= v != v;
    }
    return bad ? p[0] * 0.0f + __builtin_nanf("") : m;
}

/// The backward of ReLU + MaxPool<2> for one channel: d [OH, OW] (dense, every element written)
/// gets 0 + g where a window's maximum was (sv: its index) and the pooled output y is > 0 or NaN,
/// else +0: the unfused MaxPool and ReLU backward's bits.
template <std::size_t OH, std::size_t OW>
inline void unpool2x2_relu(const float* y, const float* g, const float* sv, float* d) {
    constexpr std::size_t PH = OH / 2, PW = OW / 2;
#if !defined(CTNN_NO_SIMD) && defined(__AVX512F__)
    if constexpr (simd::vec::width == 16 && OH % 2 == 0 && OW % 2 == 0) {
        // 16 windows at a time: the gradient goes to one of four vectors by the index's offset in
        // its window; even and odd columns are interleaved back with one permute each
        const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        const __m512 iota2 = _mm512_setr_ps(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const auto mask = [](std::size_t k) { return __mmask16(k >= 16 ? 0xFFFFu : (1u << k) - 1u); };
        const __m512 zero = _mm512_setzero_ps();
        for (std::size_t ph = 0; ph < PH; ++ph)
            for (std::size_t pw = 0; pw < PW; pw += 16) {
                const std::size_t n = std::min<std::size_t>(16, PW - pw), j = ph * PW + pw;
                const __mmask16 m = mask(n);
                const __m512 yv = _mm512_maskz_loadu_ps(m, y + j), gv = _mm512_maskz_loadu_ps(m, g + j);
                const __m512 code = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, sv + j),
                                                  _mm512_add_ps(_mm512_set1_ps(float(2 * ph * OW + 2 * pw)), iota2));
                using Vz = simd::vec;  // ReLU's own gradient rule (layers/relu.hpp), then + 0: -0 becomes +0
                const __m512 dv = _mm512_add_ps(__m512(ReLU::df<Vz>(typename Vz::type(yv), typename Vz::type(yv), typename Vz::type(gv))), zero);
                const auto at = [&](float c) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(code, _mm512_set1_ps(c), _CMP_EQ_OQ), dv); };
                const __m512 e0 = at(0.0f), o0 = at(1.0f), e1 = at(float(OW)), o1 = at(float(OW + 1));
                float* r0 = d + 2 * ph * OW + 2 * pw;
                const __mmask16 ml = mask(2 * n), mh = mask(2 * n > 16 ? 2 * n - 16 : 0);
                _mm512_mask_storeu_ps(r0, ml, _mm512_permutex2var_ps(e0, lo, o0));
                _mm512_mask_storeu_ps(r0 + 16, mh, _mm512_permutex2var_ps(e0, hi, o0));
                _mm512_mask_storeu_ps(r0 + OW, ml, _mm512_permutex2var_ps(e1, lo, o1));
                _mm512_mask_storeu_ps(r0 + OW + 16, mh, _mm512_permutex2var_ps(e1, hi, o1));
            }
        return;
    }
#endif
    std::fill(d, d + OH * OW, 0.0f);
    for (std::size_t j = 0; j < PH * PW; ++j) {
        // branch-free: the sign of the output is data, a branch on it mispredicts half the time
        const float v = ReLU::df<simd::scalar>(y[j], y[j], g[j]);
        d[static_cast<std::uint32_t>(sv[j])] = 0.0f + v;  // windows do not overlap: one write each
    }
}

}  // namespace ctnn::cpu_detail
