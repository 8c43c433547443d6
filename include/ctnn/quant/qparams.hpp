// Quantization parameters and calibration for int8 inference (quant/int8_net.hpp).
//
// Scheme (the one of onnxruntime's static QDQ quantization with QUInt8 activations and
// per-channel QInt8 weights, and of PyTorch's fbgemm engine):
//   activations  u8, per tensor, affine: real = scale * (q - zero_point), q in [0, 255]; the
//                range always contains 0 (so zero padding is exact); after a ReLU the zero
//                point is 0
//   weights      s8, per output channel, symmetric: real = scale[c] * q, q in [-weight_qmax,
//                weight_qmax]. weight_qmax is 63 (7 bits): the AVX2 kernel's vpmaddubsw adds two
//                u8 x s8 products in a saturating int16, and 255 * 63 * 2 = 32130 < 32767, so
//                no sum ever saturates (the choice and its cost: docs/deploy.md)
//   biases       s32 in the accumulator's scale, scale_x * scale_w[c]
//   requantize   q_y = clamp(round_half_even(float(acc) * M[c]), lo, hi) + zp_y with
//                M[c] = scale_x * scale_w[c] / scale_y: one float multiply, so every kernel
//                (scalar, AVX2, VNNI) gives the same integers
//
// Calibration observes each quantized tensor's real values on the calibration images with the
// fp32 kernels: minmax keeps the extremes; percentile{p} keeps the p-th and (100-p)-th
// percentiles, from a 2048-bin histogram over the min-max range (a second pass).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ctnn {

/// How calibration picks an activation's range.
namespace calibrate {
struct minmax {};
struct percentile {
    double p = 99.99;  // the upper percentile kept; the lower one is 100 - p
};
}  // namespace calibrate

namespace quant {

// (-DCTNN_INT8_WEIGHT_QMAX=127 gives 8-bit weights, for measuring what the 7th bit costs: the
// AVX2 kernel cannot take them, so int8::simd is then the reference kernel unless VNNI is there)
#ifdef CTNN_INT8_WEIGHT_QMAX
inline constexpr int weight_qmax = CTNN_INT8_WEIGHT_QMAX;
#else
inline constexpr int weight_qmax = 63;
#endif
static_assert(weight_qmax >= 1 && weight_qmax <= 127, "CTNN_INT8_WEIGHT_QMAX: 1 .. 127");
inline constexpr std::size_t histogram_bins = 2048;

/// An activation tensor's u8 quantization.
struct qparams {
    float scale = 1.0f;
    std::int32_t zero_point = 0;
};

/// The u8 quantization of the real range [lo, hi] (widened to contain 0).
inline qparams qparams_for(float lo, float hi) {
    lo = std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
    if (!(hi > lo)) return {1.0f, 0};  // an all-zero tensor (or no data): any scale is exact
    const float scale = (hi - lo) / 255.0f;
    const long z = std::lround(-lo / scale);
    return {scale, static_cast<std::int32_t>(std::clamp<long>(z, 0, 255))};
}

/// q = clamp(round(x / scale) + zp, 0, 255): the quantization of one real value.
inline std::uint8_t quantize_value(float x, qparams q) {
    const float r = std::nearbyint(x / q.scale) + static_cast<float>(q.zero_point);
    return static_cast<std::uint8_t>(std::clamp(r, 0.0f, 255.0f));
}
inline float dequantize_value(std::uint8_t q, qparams p) { return p.scale * static_cast<float>(int(q) - p.zero_point); }

/// Records the range of one tensor over the calibration images. Pass 0 finds min and max;
/// pass 1 (percentile only) fills a histogram over that range.
class observer {
public:
    void observe(const float* x, std::size_t count, int pass) {
        if (pass == 0) {
            for (std::size_t i = 0; i < count; ++i) {
                lo_ = std::min(lo_, x[i]);
                hi_ = std::max(hi_, x[i]);
            }
            seen_ = seen_ || count > 0;
            return;
        }
        if (hist_.empty()) hist_.assign(histogram_bins, 0);
        const float w = hi_ > lo_ ? (hi_ - lo_) / float(histogram_bins) : 1.0f;
        for (std::size_t i = 0; i < count; ++i) {
            const auto b = static_cast<std::size_t>(std::clamp((x[i] - lo_) / w, 0.0f, float(histogram_bins - 1)));
            ++hist_[b];
        }
    }
    /// The range chosen: min-max, or the percentiles of the histogram (p in (50, 100]).
    qparams result(const calibrate::minmax&) const { return seen_ ? qparams_for(lo_, hi_) : qparams{}; }
    qparams result(const calibrate::percentile& c) const {
        if (!seen_ || hist_.empty() || c.p >= 100.0) return result(calibrate::minmax{});
        std::uint64_t total = 0;
        for (auto h : hist_) total += h;
        const double cut = total * (100.0 - c.p) / 100.0;  // samples dropped at each end
        const float w = (hi_ - lo_) / float(histogram_bins);
        std::size_t a = 0, b = histogram_bins - 1;
        for (double s = 0; a + 1 < histogram_bins && s + hist_[a] <= cut; ++a) s += hist_[a];
        for (double s = 0; b > a && s + hist_[b] <= cut; --b) s += hist_[b];
        return qparams_for(lo_ + w * float(a), lo_ + w * float(b + 1));
    }
    float lo() const { return lo_; }
    float hi() const { return hi_; }

private:
    float lo_ = 0.0f, hi_ = 0.0f;  // start at 0: the range contains 0 anyway
    bool seen_ = false;
    std::vector<std::uint64_t> hist_;
};

/// Symmetric per-channel quantization of rows [rows, cols] of w: q [rows, cols], scale [rows].
inline void quantize_weights(const float* w, std::size_t rows, std::size_t cols, std::int8_t* q, float* scale) {
    for (std::size_t r = 0; r < rows; ++r) {
        float m = 0.0f;
        for (std::size_t k = 0; k < cols; ++k) m = std::max(m, std::fabs(w[r * cols + k]));
        const float s = m > 0.0f ? m / float(weight_qmax) : 1.0f;
        scale[r] = s;
        for (std::size_t k = 0; k < cols; ++k)
            q[r * cols + k] = static_cast<std::int8_t>(std::clamp(std::nearbyint(w[r * cols + k] / s), float(-weight_qmax), float(weight_qmax)));
    }
}

/// What calibration hands every node: the pass, and whether it records.
struct calib_context {
    int pass = 0;
};

}  // namespace quant
}  // namespace ctnn
