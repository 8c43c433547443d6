// What every node of an int8 net (quant/int8_net.hpp) has, and the helpers they share.
//
// A node runs one or a few consecutive layers of the fp32 net (Conv + BatchNorm + ReLU is one
// node) on u8 activations in NHWC order (channels last: a pixel's channels are contiguous, the
// im2col row of a convolution is a few memcpys, and a 1x1 convolution needs none); rank-1
// tensors are plain vectors. A node provides:
//
//   in, out                      dims entering and leaving (the fp32 layers' shapes)
//   layers                       how many layers of the enclosing list it covers
//   params, buffers              floats of the fp32 layers' parameters and buffers it reads
//   work                         bytes of per-sample scratch its run needs besides x and y
//   describe(prefix)             lines for summary(): "<index> <what runs> [int8 | fp32 fallback]"
//   calibrate(p, b, x, y, n, c)  the fp32 forward of its layers on n samples (NCHW floats, the
//                                cpu kernels), recording the ranges it quantizes with
//   finalize(p, b, in_qp, m)     quantizes its parameters for an input of in_qp with method m;
//                                returns its output's qparams
//   run(x, y, work)              one sample: u8 x (in_qp) -> u8 y (out qparams)
//   tensors(f)                   f(name, dtype, shape, bytes, size): what save/load keep
//   loaded(in_qp)                rebuilds derived state after load; returns its output's qparams
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../backend.hpp"
#include "../backends/cpu/all.hpp"
#include "../layer.hpp"
#include "../shape.hpp"
#include "qparams.hpp"

namespace ctnn::quant {

/// Bytes rounded up to 64 (every buffer in a sample's workspace starts on a cache line) plus 64
/// of slack: a GEMM row of Kp bytes may read up to 3 bytes past a tensor (their weights are 0).
constexpr std::size_t slot_bytes(std::size_t n) { return (n + 63) / 64 * 64 + 64; }

template <dims D>
using shape_of = shape_t<D.rank, D.d[0], D.d[1], D.d[2]>;

/// The fp32 inference forward of layer L on n samples with the cpu backend's kernel.
template <class L, dims In>
void run_fp32(const float* params, const float* buffers, const float* x, float* y, std::size_t n) {
    using K = kernel_for<L, shape_of<In>, cpu>;
    std::vector<float> work(work_floats<L>(In, n) + 16);
    forward_args a;
    a.x = x;
    a.y = y;
    a.n = n;
    a.params = params;
    a.buffers = const_cast<float*>(buffers);  // (inference only reads them)
    a.work = work.data();
    K::forward(a);
}

/// The dtypes a node's tensors are saved as.
enum class stored { i8, i32, f32 };

/// NCHW floats of one sample -> u8 NHWC (rank 1: as is).
template <dims D>
void quantize_in(const float* x, std::uint8_t* q, qparams p) {
    constexpr std::size_t C = D.channels(), HW = D.height() * D.width();
    const float inv = 1.0f / p.scale;
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t i = 0; i < HW; ++i) {
            const float r = std::nearbyint(x[c * HW + i] * inv) + float(p.zero_point);
            q[i * C + c] = static_cast<std::uint8_t>(std::min(std::max(r, 0.0f), 255.0f));
        }
}
/// u8 NHWC of one sample -> NCHW floats.
template <dims D>
void dequantize_out(const std::uint8_t* q, float* x, qparams p) {
    constexpr std::size_t C = D.channels(), HW = D.height() * D.width();
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t i = 0; i < HW; ++i) x[c * HW + i] = dequantize_value(q[i * C + c], p);
}

}  // namespace ctnn::quant
