// int8 element-wise layers on u8: ReLU on its own (max(q, zero point), the input's qparams: a
// ReLU after a Conv, Linear or Residual is fused into their requantize instead), Flatten (NHWC
// to the fp32 net's CHW order, so the Linear after it keeps PyTorch's weight order), Identity;
// and the residual sum's requantize.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../error.hpp"
#include "../../layers/flatten.hpp"
#include "../../layers/identity.hpp"
#include "../../layers/relu.hpp"
#include "../../quant/node.hpp"
#include "pooling.hpp"

namespace ctnn::quant {

template <dims In>
struct relu_node : passthrough_node<ReLU, In> {
    std::uint8_t zp = 0;
    template <class M>
    qparams finalize(const float*, const float*, qparams in_qp, const M&) { return loaded(in_qp); }
    qparams loaded(qparams in_qp) {
        zp = std::uint8_t(in_qp.zero_point);
        return in_qp;
    }
    void run(const std::uint8_t* x, std::uint8_t* y, std::uint8_t*) const {
        for (std::size_t i = 0; i < In.size(); ++i) y[i] = std::max(x[i], zp);
    }
};

template <dims In>
struct flatten_node : passthrough_node<Flatten, In> {
    static constexpr std::size_t C = In.channels(), HW = In.height() * In.width();
    void run(const std::uint8_t* x, std::uint8_t* y, std::uint8_t*) const {
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t i = 0; i < HW; ++i) y[c * HW + i] = x[i * C + c];
    }
};

template <dims In>
struct identity_node : passthrough_node<Identity, In> {
    static constexpr bool is_identity = true;
    void run(const std::uint8_t* x, std::uint8_t* y, std::uint8_t*) const {
        if (x != y) std::memcpy(y, x, In.size());
    }
};

/// y = requantize(sa (a - za) + sb (b - zb)) in fixed point: A = round(sa / sy * 2^16) (and B),
/// q = clamp((A (a - za) + B (b - zb) + 2^15) >> 16, lo, hi) + zy, all in int32 (|A|, |B| < 2^22
/// keeps every sum below 2^31; finalize checks it).
struct add_requant {
    std::int32_t A = 0, B = 0, za = 0, zb = 0, zy = 0, lo = 0, hi = 255;
    static constexpr int shift = 16;
    void make(qparams a, qparams b, qparams y, bool relu) {
        const double ra = double(a.scale) / y.scale * (1 << shift), rb = double(b.scale) / y.scale * (1 << shift);
        if (ra >= double(1 << 22) || rb >= double(1 << 22))
            throw error("ctnn::quantize: a residual sum's branches differ in scale by more than 2^6 from its output");
        A = std::int32_t(std::lround(ra));
        B = std::int32_t(std::lround(rb));
        za = a.zero_point;
        zb = b.zero_point;
        zy = y.zero_point;
        lo = relu ? 0 : -zy;
        hi = 255 - zy;
    }
    void run(const std::uint8_t* a, const std::uint8_t* b, std::uint8_t* y, std::size_t n) const {
        for (std::size_t i = 0; i < n; ++i) {
            const std::int32_t s = (A * (std::int32_t(a[i]) - za) + B * (std::int32_t(b[i]) - zb) + (1 << (shift - 1))) >> shift;
            y[i] = std::uint8_t(std::clamp(s, lo, hi) + zy);
        }
    }
};

}  // namespace ctnn::quant
