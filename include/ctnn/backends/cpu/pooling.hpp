// cpu kernel: MaxPool (same saved layout as the reference: the argmax index in the H x W map).
#pragma once
#include <algorithm>
#include <array>
#include <type_traits>
#include <cstdint>

#include "../../layers/maxpool.hpp"
#include "../../threads.hpp"
#include "gemm.hpp"
#include "tag.hpp"

namespace ctnn {

template <std::size_t K, std::size_t S, class In>
struct kernel<MaxPool<K, S>, In, cpu> : kernel_base {
    static constexpr std::size_t C = In::value.d[0], H = In::value.d[1], W = In::value.d[2];
    static constexpr std::size_t OH = MaxPool<K, S>::output(In::value).d[1], OW = MaxPool<K, S>::output(In::value).d[2];
    static constexpr kernel_traits traits{.strided_output = true};
    /// Channel nc's (n * C + c) output map: samples y_stride apart (dense: C * OH * OW).
    static float* out_map(const forward_args& a, std::size_t nc) {
        return a.y + nc / C * a.y_step(C * OH * OW) + nc % C * OH * OW;
    }

    /// 2x2 windows, stride 2: the larger of each column pair with vectors (the upper one on
    /// ties), then of each pair of columns (the smaller index on ties): the reference's first
    /// maximum in row-major window order. Rows with a NaN take the general path.
#ifndef CTNN_NO_SIMD
    template <class V>
    static bool forward_2x2_row(const float* x, std::size_t oh, float* y, float* sv) {
        const float* r0 = x + 2 * oh * W;
        const float* r1 = r0 + W;
        constexpr std::size_t L = 2 * OW;
        alignas(64) float cm[L + V::width + 1] = {};
        alignas(64) float ci[L + V::width + 1] = {};
        std::size_t j = 0;
        auto nan = xsimd::isnan(V::zero());  // all false (a load here would read past a row shorter than a vector)
        for (; j + V::width <= L; j += V::width) {
            const auto a = V::load(r0 + j), c = V::load(r1 + j);
            nan = nan | xsimd::isnan(a) | xsimd::isnan(c);
            const auto down = c > a;
            V::store(cm + j, xsimd::select(down, c, a));
            V::store(ci + j, xsimd::select(down, V::set1(float(W)), V::zero()) + V::load(column_index.data() + j));
        }
        if (xsimd::any(nan)) return false;
        for (; j < L; ++j) {
            if (r0[j] != r0[j] || r1[j] != r1[j]) return false;
            const bool down = r1[j] > r0[j];
            cm[j] = down ? r1[j] : r0[j];
            ci[j] = (down ? float(W) : 0.0f) + float(j);
        }
        // every column against the next one; the even columns are the outputs
        for (j = 0; j < L; j += V::width) {
            const auto v0 = V::load(cm + j), v1 = V::load(cm + j + 1);
            const auto i0 = V::load(ci + j), i1 = V::load(ci + j + 1);
            const auto right = (v1 > v0) | ((v1 == v0) & (i1 < i0));
            V::store(cm + j, xsimd::select(right, v1, v0));
            V::store(ci + j, xsimd::select(right, i1, i0));
        }
        for (std::size_t ow = 0; ow < OW; ++ow) y[ow] = cm[2 * ow];
        if (sv)
            for (std::size_t ow = 0; ow < OW; ++ow) sv[ow] = float(2 * oh * W) + ci[2 * ow];
        return true;
    }
    static constexpr std::array<float, 2 * OW + 64> column_index = [] {
        std::array<float, 2 * OW + 64> c{};
        for (std::size_t i = 0; i < c.size(); ++i) c[i] = float(i);
        return c;
    }();
#endif

    static void forward_range(const forward_args& a, std::size_t b, std::size_t e) {
#ifndef CTNN_NO_SIMD
        if constexpr (K == 2 && S == 2 && !std::is_same_v<cpu_detail::V, simd::scalar>) {
            for (std::size_t nc = b * C; nc < e * C; ++nc) {
                const float* x = a.x + nc * H * W;
                float* y = out_map(a, nc);
                float* sv = a.saved ? a.saved + nc * OH * OW : nullptr;
                for (std::size_t oh = 0; oh < OH; ++oh)
                    if (!forward_2x2_row<cpu_detail::V>(x, oh, y + oh * OW, sv ? sv + oh * OW : nullptr))
                        general_row(x, oh, y, sv);
            }
        } else
#endif
        {
            for (std::size_t nc = b * C; nc < e * C; ++nc) {
                const float* x = a.x + nc * H * W;
                float* y = out_map(a, nc);
                float* sv = a.saved ? a.saved + nc * OH * OW : nullptr;
                for (std::size_t oh = 0; oh < OH; ++oh) general_row(x, oh, y, sv);
            }
        }
    }

    /// One output row, any window: branch-free first maximum; a window with a NaN takes the
    /// exact slow path. x, y, sv: this channel's map, outputs and saved indices.
    static void general_row(const float* x, std::size_t oh, float* y, float* sv) {
        for (std::size_t ow = 0; ow < OW; ++ow) {
            std::uint32_t best = static_cast<std::uint32_t>(oh * S * W + ow * S);
            float m = x[best];
            bool bad = false;
            for (std::size_t kh = 0; kh < K; ++kh)
                for (std::size_t kw = 0; kw < K; ++kw) {
                    const std::uint32_t i = static_cast<std::uint32_t>((oh * S + kh) * W + ow * S + kw);
                    const float v = x[i];
                    const std::uint32_t take = 0u - static_cast<std::uint32_t>(v > m);
                    best ^= (best ^ i) & take;
                    m = v > m ? v : m;  // maxss
                    bad |= v != v;
                }
            if (bad) [[unlikely]] {  // PyTorch's (and the reference's) scan: the last NaN wins
                best = static_cast<std::uint32_t>(oh * S * W + ow * S);
                for (std::size_t kh = 0; kh < K; ++kh)
                    for (std::size_t kw = 0; kw < K; ++kw) {
                        const std::uint32_t i = static_cast<std::uint32_t>((oh * S + kh) * W + ow * S + kw);
                        if (x[i] > x[best] || x[i] != x[i]) best = i;
                    }
                m = x[best];
            }
            y[oh * OW + ow] = m;
            if (sv) sv[oh * OW + ow] = static_cast<float>(best);
        }
    }
    static void forward(const forward_args& a) {
        const std::size_t T = a.n * In::size >= 32768 ? std::min(num_threads(), a.n) : 1;
        parallel_for(T, [&](std::size_t t) {
            const range r = split(a.n, t, T);
            forward_range(a, r.begin, r.end);
        });
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        const std::size_t T = a.n * In::size >= 32768 ? std::min(num_threads(), a.n) : 1;
        parallel_for(T, [&](std::size_t t) {
            const range r = split(a.n, t, T);
            std::fill(a.dx + r.begin * In::size, a.dx + r.end * In::size, 0.0f);
            for (std::size_t nc = r.begin * C; nc < r.end * C; ++nc)
                for (std::size_t o = 0; o < OH * OW; ++o)
                    a.dx[nc * H * W + static_cast<std::size_t>(a.saved[nc * OH * OW + o])] += a.dy[nc * OH * OW + o];
        });
    }
};

}  // namespace ctnn
