// Reference kernels: Flatten and Identity (a copy, run only where the output cannot alias the
// input), Dropout, Softmax.
#pragma once
#include <algorithm>
#include <cmath>

#include "../../backend.hpp"
#include "../../layers/dropout.hpp"
#include "../../layers/flatten.hpp"
#include "../../layers/identity.hpp"
#include "../../layers/softmax.hpp"

namespace ctnn {

template <class In>
struct kernel<Flatten, In, reference> : kernel_base {
    static constexpr kernel_traits traits{.strided_output = true};
    static void forward(const forward_args& a) {
        if (a.y == a.x) return;
        for (std::size_t s = 0; s < a.n; ++s) std::copy_n(a.x + s * In::size, In::size, a.y + s * a.y_step(In::size));
    }
    static void backward(const backward_args& a) {
        if (a.dx && a.dx != a.dy) std::copy(a.dy, a.dy + a.n * In::size, a.dx);
    }
};

template <class In>
struct kernel<Identity, In, reference> : kernel<Flatten, In, reference> {};

template <std::size_t Percent, class In>
struct kernel<Dropout<Percent>, In, reference> : kernel_base {
    static constexpr std::size_t N = In::size;
    static constexpr float keep_scale = 1.0f / (1.0f - Dropout<Percent>::p);
    // training: saved = the mask applied, 0 or 1 / (1 - p)
    static void forward(const forward_args& a) {
        if (!a.training || Percent == 0) {
            if (a.y != a.x) std::copy(a.x, a.x + a.n * N, a.y);
            if (a.training) std::fill(a.saved, a.saved + a.n * N, 1.0f);
            return;
        }
        for (std::size_t i = 0; i < a.n * N; ++i) {
            const float m = a.gen->uniform() < Dropout<Percent>::p ? 0.0f : keep_scale;
            a.saved[i] = m;
            a.y[i] = a.x[i] * m;
        }
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        for (std::size_t i = 0; i < a.n * N; ++i) a.dx[i] = a.dy[i] * a.saved[i];
    }
};

template <class In>
struct kernel<Softmax, In, reference> : kernel_base {
    static constexpr std::size_t C = In::value.d[0];
    static constexpr std::size_t inner = In::size / C;  // H·W, or 1 for a flat shape
    static void forward(const forward_args& a) {
        for (std::size_t n = 0; n < a.n; ++n)
            for (std::size_t i = 0; i < inner; ++i) {
                const float* x = a.x + n * In::size + i;
                float* y = a.y + n * In::size + i;
                float m = x[0];
                for (std::size_t c = 1; c < C; ++c) m = std::max(m, x[c * inner]);
                double s = 0;
                for (std::size_t c = 0; c < C; ++c) s += std::exp(double(x[c * inner]) - m);
                for (std::size_t c = 0; c < C; ++c) y[c * inner] = static_cast<float>(std::exp(double(x[c * inner]) - m) / s);
            }
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        for (std::size_t n = 0; n < a.n; ++n)
            for (std::size_t i = 0; i < inner; ++i) {
                const std::size_t o = n * In::size + i;
                double dot = 0;
                for (std::size_t c = 0; c < C; ++c) dot += double(a.dy[o + c * inner]) * a.y[o + c * inner];
                for (std::size_t c = 0; c < C; ++c)
                    a.dx[o + c * inner] = static_cast<float>(a.y[o + c * inner] * (a.dy[o + c * inner] - dot));
            }
    }
};

}  // namespace ctnn
