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
#include "../backends/int8/gemm.hpp"
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

/// One float -> its u8 code: round(x / scale) + zp, clamped (x * (1 / scale): the form both
/// quantize_span paths compute).
inline std::uint8_t quantize_one(float x, float inv, float zp) {
    const float r = std::nearbyint(x * inv) + zp;
    return static_cast<std::uint8_t>(std::min(std::max(r, 0.0f), 255.0f));
}

/// n contiguous floats -> u8 codes; with AVX2 32 at a time, the same operations in the same order
/// (vroundps to nearest is nearbyint in the default rounding mode), so the same codes.
inline void quantize_span(const float* x, std::uint8_t* q, std::size_t n, float inv, float zp) {
    std::size_t i = 0;
#if defined(CTNN_INT8_AVX2)
    const __m256 vi = _mm256_set1_ps(inv), vz = _mm256_set1_ps(zp), lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(255.0f);
    auto one = [&](std::size_t j) {
        const __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), vi), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        return _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, vz), lo), hi));
    };
    for (; i + 32 <= n; i += 32) {
        const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(one(i), one(i + 8)), _mm256_packs_epi32(one(i + 16), one(i + 24)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
#endif
    for (; i < n; ++i) q[i] = quantize_one(x[i], inv, zp);
}

/// NCHW floats of one sample -> u8 NHWC (rank 1: as is).
template <dims D>
void quantize_in(const float* x, std::uint8_t* q, qparams p) {
    constexpr std::size_t C = D.channels(), HW = D.height() * D.width();
    const float inv = 1.0f / p.scale, zp = float(p.zero_point);
    if constexpr (C == 1 || HW == 1) {
        quantize_span(x, q, C * HW, inv, zp);
    } else {
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t i = 0; i < HW; ++i) q[i * C + c] = quantize_one(x[c * HW + i], inv, zp);
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
