// Reference kernel: Upsample<Scale> (nearest).
#pragma once
#include "../../backend.hpp"
#include "../../layers/upsample.hpp"

namespace ctnn {

template <std::size_t S, class In>
struct kernel<Upsample<S>, In, reference> : kernel_base {
    static constexpr std::size_t H = In::value.d[1], W = In::value.d[2];
    static constexpr std::size_t OH = H * S, OW = W * S;
    // x [n, C, H, W]  y [n, C, OH, OW]; the plane index nc runs over n·C
    static void forward(const forward_args& a) {
        const std::size_t planes = a.n * In::value.d[0];
        for (std::size_t nc = 0; nc < planes; ++nc)
            for (std::size_t oh = 0; oh < OH; ++oh)
                for (std::size_t ow = 0; ow < OW; ++ow)
                    a.y[(nc * OH + oh) * OW + ow] = a.x[(nc * H + oh / S) * W + ow / S];
    }
    // dx[h, w] = sum of dy over the block [h·S, h·S + S) × [w·S, w·S + S), rows in order, each
    // row left to right, in float (at most S² terms of one upstream gradient)
    static void backward(const backward_args& a) {
        if (!a.dx) return;
        const std::size_t planes = a.n * In::value.d[0];
        for (std::size_t nc = 0; nc < planes; ++nc)
            for (std::size_t h = 0; h < H; ++h)
                for (std::size_t w = 0; w < W; ++w) {
                    float s = 0.0f;
                    for (std::size_t kh = 0; kh < S; ++kh)
                        for (std::size_t kw = 0; kw < S; ++kw) s += a.dy[(nc * OH + h * S + kh) * OW + w * S + kw];
                    a.dx[(nc * H + h) * W + w] = s;
                }
    }
};

}  // namespace ctnn
