// int8 pooling on u8 NHWC, in the input's quantization (no requantize): MaxPool (the max of the
// codes is the code of the max: quantization is monotonic), AvgPool and GlobalAvgPool (the mean
// of the codes, rounded half up, is the code of the mean to within half a step; both have the
// same scale and zero point). The loops run over contiguous channels, which the compiler
// vectorizes.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "../../layers/avgpool.hpp"
#include "../../layers/global_avg_pool.hpp"
#include "../../layers/maxpool.hpp"
#include "../../quant/node.hpp"

namespace ctnn::quant {

/// What a node that keeps its input's qparams and has no parameters has (the fp32 forward for
/// calibration is the layer's cpu kernel; nothing is observed).
template <class L, dims In>
struct passthrough_node {
    static constexpr dims in = In, out = L::output(In);
    static constexpr std::size_t layers = 1, params = 0, buffers = 0, work = 0;
    static std::string describe() { return L::name() + "  [int8]"; }
    void calibrate(const float* p, const float* b, const float* x, float* y, std::size_t n, const calib_context&) {
        run_fp32<L, In>(p, b, x, y, n);
    }
    template <class M>
    qparams finalize(const float*, const float*, qparams in_qp, const M&) { return in_qp; }
    template <class F>
    void tensors(const std::string&, F&&) {}
    qparams loaded(qparams in_qp) { return in_qp; }
};

/// One output row of a KS x KS, stride S pooling over C channels: rows[kh] is input row
/// oh * S + kh (at least (OW - 1) * S + KS pixels of C bytes), o the OW * C bytes out. Shared by
/// pool_node and the Conv node that fuses the pooling (conv.hpp), so both give the same codes.
template <bool Max, std::size_t C, std::size_t KS, std::size_t S, std::size_t OW>
void pool_row(const std::uint8_t* const* rows, std::uint8_t* o) {
    for (std::size_t ow = 0; ow < OW; ++ow, o += C) {
        // (a local accumulator the taps cannot alias: the compiler vectorizes over channels)
        if constexpr (Max) {
            std::uint8_t m[C];
            std::memcpy(m, rows[0] + ow * S * C, C);
            for (std::size_t kh = 0; kh < KS; ++kh)
                for (std::size_t kw = 0; kw < KS; ++kw) {
                    const std::uint8_t* r = rows[kh] + (ow * S + kw) * C;
                    for (std::size_t c = 0; c < C; ++c) m[c] = m[c] > r[c] ? m[c] : r[c];
                }
            std::memcpy(o, m, C);
        } else {
            std::uint32_t acc[C];
            for (std::size_t c = 0; c < C; ++c) acc[c] = KS * KS / 2;  // round half up
            for (std::size_t kh = 0; kh < KS; ++kh)
                for (std::size_t kw = 0; kw < KS; ++kw) {
                    const std::uint8_t* r = rows[kh] + (ow * S + kw) * C;
                    for (std::size_t c = 0; c < C; ++c) acc[c] += r[c];
                }
            for (std::size_t c = 0; c < C; ++c) o[c] = std::uint8_t(acc[c] / (KS * KS));
        }
    }
}

template <class L, dims In, bool Max>
struct pool_node : passthrough_node<L, In> {
    static constexpr dims out = L::output(In);
    static constexpr std::size_t C = In.d[0], W = In.d[2], OH = out.d[1], OW = out.d[2], KS = L::kernel_size, S = L::stride;
    void run(const std::uint8_t* x, std::uint8_t* y, std::uint8_t*) const {
        for (std::size_t oh = 0; oh < OH; ++oh) {
            const std::uint8_t* rows[KS];
            for (std::size_t kh = 0; kh < KS; ++kh) rows[kh] = x + (oh * S + kh) * W * C;
            pool_row<Max, C, KS, S, OW>(rows, y + oh * OW * C);
        }
    }
};

template <dims In>
struct gap_node : passthrough_node<GlobalAvgPool, In> {
    static constexpr std::size_t C = In.d[0], HW = In.d[1] * In.d[2];
    void run(const std::uint8_t* x, std::uint8_t* y, std::uint8_t*) const {
        std::uint32_t acc[C];
        for (std::size_t c = 0; c < C; ++c) acc[c] = HW / 2;
        for (std::size_t i = 0; i < HW; ++i)
            for (std::size_t c = 0; c < C; ++c) acc[c] += x[i * C + c];
        for (std::size_t c = 0; c < C; ++c) y[c] = std::uint8_t(acc[c] / HW);
    }
};

}  // namespace ctnn::quant
