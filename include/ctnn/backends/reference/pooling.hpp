// Reference kernels: MaxPool, AvgPool, GlobalAvgPool.
#pragma once
#include <algorithm>
#include <cmath>

#include "../../backend.hpp"
#include "../../layers/avgpool.hpp"
#include "../../layers/global_avg_pool.hpp"
#include "../../layers/maxpool.hpp"

namespace ctnn {

template <std::size_t K, std::size_t S, class In>
struct kernel<MaxPool<K, S>, In, reference> : kernel_base {
    static constexpr std::size_t C = In::value.d[0], H = In::value.d[1], W = In::value.d[2];
    static constexpr std::size_t OH = MaxPool<K, S>::output(In::value).d[1], OW = MaxPool<K, S>::output(In::value).d[2];
    // x [n, C, H, W]  y [n, C, OH, OW]  saved: argmax (index into the H×W map) per output
    static void forward(const forward_args& a) {
        for (std::size_t nc = 0; nc < a.n * C; ++nc) {
            const float* x = a.x + nc * H * W;
            for (std::size_t oh = 0; oh < OH; ++oh)
                for (std::size_t ow = 0; ow < OW; ++ow) {
                    std::size_t best = oh * S * W + ow * S;
                    for (std::size_t kh = 0; kh < K; ++kh)
                        for (std::size_t kw = 0; kw < K; ++kw) {
                            const std::size_t i = (oh * S + kh) * W + ow * S + kw;
                            if (x[i] > x[best] || std::isnan(x[i])) best = i;  // PyTorch's scan: the last NaN wins
                        }
                    a.y[(nc * OH + oh) * OW + ow] = x[best];
                    if (a.saved) a.saved[(nc * OH + oh) * OW + ow] = static_cast<float>(best);
                }
        }
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        std::fill(a.dx, a.dx + a.n * C * H * W, 0.0f);
        for (std::size_t nc = 0; nc < a.n * C; ++nc)
            for (std::size_t o = 0; o < OH * OW; ++o)
                a.dx[nc * H * W + static_cast<std::size_t>(a.saved[nc * OH * OW + o])] += a.dy[nc * OH * OW + o];
    }
};

template <std::size_t K, std::size_t S, class In>
struct kernel<AvgPool<K, S>, In, reference> : kernel_base {
    static constexpr std::size_t C = In::value.d[0], H = In::value.d[1], W = In::value.d[2];
    static constexpr std::size_t OH = AvgPool<K, S>::output(In::value).d[1], OW = AvgPool<K, S>::output(In::value).d[2];
    static void forward(const forward_args& a) {
        for (std::size_t nc = 0; nc < a.n * C; ++nc)
            for (std::size_t oh = 0; oh < OH; ++oh)
                for (std::size_t ow = 0; ow < OW; ++ow) {
                    double acc = 0;
                    for (std::size_t kh = 0; kh < K; ++kh)
                        for (std::size_t kw = 0; kw < K; ++kw) acc += a.x[nc * H * W + (oh * S + kh) * W + ow * S + kw];
                    a.y[(nc * OH + oh) * OW + ow] = static_cast<float>(acc / double(K * K));
                }
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        std::fill(a.dx, a.dx + a.n * C * H * W, 0.0f);
        for (std::size_t nc = 0; nc < a.n * C; ++nc)
            for (std::size_t oh = 0; oh < OH; ++oh)
                for (std::size_t ow = 0; ow < OW; ++ow) {
                    const float g = a.dy[(nc * OH + oh) * OW + ow] / float(K * K);
                    for (std::size_t kh = 0; kh < K; ++kh)
                        for (std::size_t kw = 0; kw < K; ++kw) a.dx[nc * H * W + (oh * S + kh) * W + ow * S + kw] += g;
                }
    }
};

template <class In>
struct kernel<GlobalAvgPool, In, reference> : kernel_base {
    static constexpr std::size_t C = In::value.d[0], HW = In::value.d[1] * In::value.d[2];
    static void forward(const forward_args& a) {
        for (std::size_t nc = 0; nc < a.n * C; ++nc) {
            double acc = 0;
            for (std::size_t i = 0; i < HW; ++i) acc += a.x[nc * HW + i];
            a.y[nc] = static_cast<float>(acc / double(HW));
        }
    }
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        for (std::size_t nc = 0; nc < a.n * C; ++nc)
            for (std::size_t i = 0; i < HW; ++i) a.dx[nc * HW + i] = a.dy[nc] / float(HW);
    }
};

}  // namespace ctnn
