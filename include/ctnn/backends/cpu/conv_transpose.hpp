// cpu kernel: ConvTranspose, as the adjoint of a convolution, with gemm.hpp's micro-kernels.
//   forward:   cols[(co, kh, kw), p] = sum over ci of w[ci, (co, kh, kw)] x[ci, p]   (bcast_gemm)
//              y = bias, then col2im: each cols row added into the output pixels its taps reach
//   dx:        im2col of dy (row (co, kh, kw) holds the dy pixel each input pixel reaches through
//              that tap, or 0), then dx[ci, p] = sum over rows of w[ci, row] im2col[row, p]
//   dweight:   dw[ci, row] += sum over samples and p of x[ci, p] im2col[row, p]          (dot_gemm)
// Rows of cols and im2col are made in chunks that fit the per-thread scratch. Work is split into
// tasks over fixed items (forward: sample x output-channel chunk; dx: sample x input-channel part;
// dweight: row chunk), and every output element is summed by one task in an order that depends
// on neither the split nor the tile it falls in, so results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>

#include "../../layers/conv_transpose.hpp"
#include "../../threads.hpp"
#include "gemm.hpp"
#include "tag.hpp"

namespace ctnn {

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t OP, class In>
struct kernel<ConvTranspose<Ci, Co, K, S, P, OP>, In, cpu> : kernel_base {
    static constexpr std::size_t H = In::value.d[1], W = In::value.d[2], HW = H * W;
    static constexpr dims out = ConvTranspose<Ci, Co, K, S, P, OP>::output(In::value);
    static constexpr std::size_t OH = out.d[1], OW = out.d[2], KK = K * K, R = Co * KK;
    // x [n, Ci, H, W]  weight [Ci, Co, K, K] = [Ci, R]  bias [Co]  y [n, Co, OH, OW]

    static constexpr std::size_t budget = 16384;                              // floats of one chunk of rows
    static constexpr std::size_t CB = std::clamp<std::size_t>(budget / (KK * HW), 1, Co);  // forward: channels
    static constexpr std::size_t RB = std::clamp<std::size_t>(budget / HW, 1, R);          // backward: rows
    static constexpr std::size_t dot_r = 2, dot_c = cpu_detail::V::registers >= 32 ? 8 : 4;  // as Conv's dweight
    static constexpr kernel_traits traits{.scratch = std::max(CB * KK * HW, RB * HW + Ci * RB), .strided_output = true};

    /// For tap k, the input indices [lo, hi) whose output index i S + k - P lies in [0, extent).
    struct span { std::size_t lo, hi; };
    static constexpr span reach(std::size_t k, std::size_t in, std::size_t extent) {
        const std::size_t lo = k >= P ? 0 : (P - k + S - 1) / S;
        const std::size_t hi = extent - 1 + P >= k ? std::min(in, (extent - 1 + P - k) / S + 1) : 0;
        return {lo, std::max(lo, hi)};
    }
    static constexpr auto make_spans(std::size_t in, std::size_t extent) {
        std::array<span, K> s{};
        for (std::size_t k = 0; k < K; ++k) s[k] = reach(k, in, extent);
        return s;
    }
    static constexpr auto hs = make_spans(H, OH), ws = make_spans(W, OW);

    /// Adds cols rows of channels [co0, co1) into y (one sample, already holding the bias).
    static void col2im(const float* cols, std::size_t co0, std::size_t co1, float* y) {
        for (std::size_t co = co0; co < co1; ++co)
            for (std::size_t kh = 0; kh < K; ++kh)
                for (std::size_t kw = 0; kw < K; ++kw) {
                    const float* row = cols + ((co - co0) * KK + kh * K + kw) * HW;
                    float* yc = y + co * OH * OW;
                    for (std::size_t ih = hs[kh].lo; ih < hs[kh].hi; ++ih) {
                        float* yr = yc + (ih * S + kh - P) * OW;  // output column iw S + kw - P >= 0 on ws[kw]
                        for (std::size_t iw = ws[kw].lo; iw < ws[kw].hi; ++iw) yr[iw * S + kw - P] += row[ih * W + iw];
                    }
                }
    }

    /// Rows [r0, r1) of the im2col of one sample's dy into cols.
    static void im2col(const float* dy, std::size_t r0, std::size_t r1, float* cols) {
        for (std::size_t r = r0; r < r1; ++r) {
            const std::size_t co = r / KK, kh = r % KK / K, kw = r % K;
            float* row = cols + (r - r0) * HW;
            std::fill(row, row + HW, 0.0f);
            const float* dc = dy + co * OH * OW;
            for (std::size_t ih = hs[kh].lo; ih < hs[kh].hi; ++ih) {
                const float* dr = dc + (ih * S + kh - P) * OW;
                for (std::size_t iw = ws[kw].lo; iw < ws[kw].hi; ++iw) row[ih * W + iw] = dr[iw * S + kw - P];
            }
        }
    }

    static void forward(const forward_args& a) {
        using namespace cpu_detail;
        using bb = bcast_blocking<CB * KK, HW, 15>;
        constexpr std::size_t chunks = (Co + CB - 1) / CB;
        const std::size_t items = a.n * chunks;
        const std::size_t T = tasks_for(items, double(a.n) * Ci * R * HW);
        const float* w = a.params;
        const float* bias = a.params + Ci * R;
        parallel_for(T, [&](std::size_t t) {
            float* cols = detail::work_scratch(traits.scratch);
            const range it = split(items, t, T);
            for (std::size_t i = it.begin; i < it.end; ++i) {
                const std::size_t n = i / chunks, co0 = i % chunks * CB, co1 = std::min(Co, co0 + CB);
                const auto A = [w = w + co0 * KK](std::size_t m, std::size_t k) { return w[k * R + m]; };
                const auto B = [x = a.x + n * Ci * HW](std::size_t k) { return x + k * HW; };
                bcast_gemm<HW, bb::R, bb::NV, init::zero>(0, (co1 - co0) * KK, Ci, A, B, cols, HW);
                float* y = a.y + n * a.y_step(Co * OH * OW);
                for (std::size_t co = co0; co < co1; ++co) std::fill(y + co * OH * OW, y + (co + 1) * OH * OW, bias[co]);
                col2im(cols, co0, co1, y);
            }
        });
    }

    static void backward(const backward_args& a) {
        if (a.dx) backward_dx(a);
        if (a.dparams) backward_dparams(a);
    }

    /// Each task: its (sample, input-channel part) items, im2col chunk by chunk, dx accumulated.
    static void backward_dx(const backward_args& a) {
        using namespace cpu_detail;
        const std::size_t T = tasks_for(a.n * Ci, double(a.n) * Ci * R * HW);
        const std::size_t parts = std::clamp<std::size_t>((T + a.n - 1) / a.n, 1, Ci);  // split channels when n < T
        const std::size_t items = a.n * parts;
        parallel_for(T, [&](std::size_t t) {
            float* cols = detail::work_scratch(traits.scratch);
            const range it = split(items, t, T);
            for (std::size_t i = it.begin; i < it.end; ++i) {
                const std::size_t n = i / parts;
                const range c = split(Ci, i % parts, parts);
                if (c.begin == c.end) continue;
                float* dx = a.dx + (n * Ci + c.begin) * HW;
                for (std::size_t r0 = 0; r0 < R; r0 += RB) {
                    const std::size_t r1 = std::min(R, r0 + RB);
                    im2col(a.dy + n * Co * OH * OW, r0, r1, cols);
                    const auto A = [w = a.params + c.begin * R + r0](std::size_t m, std::size_t k) { return w[m * R + k]; };
                    const auto B = [cols](std::size_t k) { return cols + k * HW; };
                    using bb = bcast_blocking<Ci, HW>;
                    if (r0 == 0) bcast_gemm<HW, bb::R, bb::NV, init::zero>(0, c.end - c.begin, r1 - r0, A, B, dx, HW);
                    else bcast_gemm<HW, bb::R, bb::NV, init::accumulate>(0, c.end - c.begin, r1 - r0, A, B, dx, HW);
                }
            }
        });
    }

    /// Each task: its chunks of rows, summed over the samples in scratch, then added to dweight.
    static void backward_dparams(const backward_args& a) {
        using namespace cpu_detail;
        constexpr std::size_t chunks = (R + RB - 1) / RB;
        const std::size_t T = tasks_for(chunks, double(a.n) * Ci * R * HW);
        parallel_for(T, [&](std::size_t t) {
            float* cols = detail::work_scratch(traits.scratch);
            float* part = cols + RB * HW;  // [Ci, rows of the chunk]
            const range it = split(chunks, t, T);
            for (std::size_t ch = it.begin; ch < it.end; ++ch) {
                const std::size_t r0 = ch * RB, r1 = std::min(R, r0 + RB), rows = r1 - r0;
                std::fill(part, part + Ci * rows, 0.0f);
                for (std::size_t n = 0; n < a.n; ++n) {
                    im2col(a.dy + n * Co * OH * OW, r0, r1, cols);
                    dot_gemm<HW, dot_r, dot_c>(0, Ci, 0, rows, [x = a.x + n * Ci * HW](std::size_t m) { return x + m * HW; },
                                       [cols](std::size_t j) { return cols + j * HW; },
                                       [part, rows](std::size_t m, std::size_t j, float v) { part[m * rows + j] += v; });
                }
                for (std::size_t ci = 0; ci < Ci; ++ci)
                    for (std::size_t j = 0; j < rows; ++j) a.dparams[ci * R + r0 + j] += part[ci * rows + j];
            }
        });
        float* db = a.dparams + Ci * R;
        for (std::size_t co = 0; co < Co; ++co) {
            double s = 0;
            for (std::size_t n = 0; n < a.n; ++n)
                for (std::size_t o = 0; o < OH * OW; ++o) s += a.dy[(n * Co + co) * OH * OW + o];
            db[co] += static_cast<float>(s);
        }
    }
};

}  // namespace ctnn
