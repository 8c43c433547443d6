// bf16 kernels for Linear, inference only.
//
// cpu_bf16: the batch in chunks of up to `chunk` samples, each chunk's inputs rounded to bf16
// and transposed into B (pairs of consecutive inputs in one word, a column per sample: gemm.hpp),
// Y'[Out, chunk] = bias + W B with the prepared bf16 weights, then written back sample-major.
// Samples are split over threads in multiples of col_align.
// reference_bf16: the definition, plain loops in the GEMM's order.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../../backend.hpp"
#include "../../layers/linear.hpp"
#include "../../memory.hpp"
#include "../../threads.hpp"
#include "conv.hpp"  // inference_only
#include "gemm.hpp"
#include "tag.hpp"

namespace ctnn::bf16_detail {

template <std::size_t I, std::size_t O>
struct linear_bf16 {
    static constexpr std::size_t Kp = pairs(I), chunk = 64;
    static constexpr std::size_t b_floats = align_floats(Kp * chunk), y_floats = align_floats(O * chunk);
    static constexpr std::size_t scratch_floats = b_floats + y_floats + align_floats(a_words(O, I));

    /// B [Kp, ld] for the samples x [m, I] (m <= ld; columns m .. ld-1 zero).
    static void pack_input(const float* x, std::size_t m, std::size_t ld, std::uint32_t* b) {
        for (std::size_t p = 0; p < Kp; ++p) {
            std::uint32_t* row = b + p * ld;
            for (std::size_t j = 0; j < m; ++j) {
                const float* xj = x + j * I;
                row[j] = pair(round(xj[2 * p]), 2 * p + 1 < I ? round(xj[2 * p + 1]) : bf16_t(0));
            }
            std::fill(row + m, row + ld, 0u);
        }
    }

    /// Samples [b0, e) of a batch through this thread's scratch.
    static void run(const forward_args& a, std::size_t b0, std::size_t e) {
        float* s = detail::work_scratch(scratch_floats);
        auto* b = reinterpret_cast<std::uint32_t*>(s);
        float* yt = s + b_floats;
        const float* w = a.prepared;
        if (!w) {
            pack_a(a.params, O, I, yt + y_floats);
            w = yt + y_floats;
        }
        const float* bias = a.params + O * I;
        for (std::size_t n0 = b0; n0 < e; n0 += chunk) {
            const std::size_t m = std::min(chunk, e - n0), ld = round_up(m, col_align);
            pack_input(a.x + n0 * I, m, ld, b);
            gemm(w, b, Kp, ld, 0, O, ld, bias, yt, ld);
            for (std::size_t j = 0; j < m; ++j)
                for (std::size_t o = 0; o < O; ++o) a.y[(n0 + j) * O + o] = yt[o * ld + j];
        }
    }

    static void forward(const forward_args& a) {
        const std::size_t blocks = (a.n + col_align - 1) / col_align;
        const std::size_t T = tasks_for(blocks, double(a.n) * double(I * O));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(a.n, t, T, col_align);
            if (r.begin < r.end) run(a, r.begin, r.end);
        });
    }
};

/// The definition of a bf16 Linear (reference_bf16), in gemm.hpp's order.
template <std::size_t I, std::size_t O>
inline void linear_reference(const forward_args& a) {
    const float* w = a.params;
    const float* bias = a.params + O * I;
    const auto at = [](const float* v, std::size_t k) { return k < I ? rounded(v[k]) : 0.0f; };
    for (std::size_t n = 0; n < a.n; ++n)
        for (std::size_t o = 0; o < O; ++o) {
            float acc = bias[o];
            // k = 1, 0, 3, 2, ...: one statement per term (GCC 12's loop vectorizer got the
            // two-statement form of this in-order sum wrong at -O2)
            for (std::size_t q = 0; q < 2 * pairs(I); ++q) acc = acc + at(w + o * I, q ^ 1) * at(a.x + n * I, q ^ 1);
            a.y[n * O + o] = acc;
        }
}

}  // namespace ctnn::bf16_detail

namespace ctnn {

template <std::size_t I, std::size_t O, class In>
struct kernel<Linear<I, O>, In, cpu_bf16> : kernel_base {
    using impl = bf16_detail::linear_bf16<I, O>;
    static constexpr kernel_traits traits{.scratch = impl::scratch_floats, .prepared = bf16_detail::a_words(O, I)};
    static void prepare(const float* params, float* out) { bf16_detail::pack_a(params, O, I, out); }
    static void forward(const forward_args& a) { impl::forward(a); }
    static void backward(const backward_args&) { bf16_detail::inference_only("cpu_bf16"); }
};

template <std::size_t I, std::size_t O, class In>
struct kernel<Linear<I, O>, In, reference_bf16> : kernel_base {
    static void forward(const forward_args& a) { bf16_detail::linear_reference<I, O>(a); }
    static void backward(const backward_args&) { bf16_detail::inference_only("reference_bf16"); }
};

}  // namespace ctnn
