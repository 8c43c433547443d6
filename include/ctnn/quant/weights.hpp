// The quantized parameters of a GEMM layer (Conv, Linear) and the packed form its kernel reads.
//
// From the fp32 weights w [Co][K] (a Conv's in its NHWC im2col order, BatchNorm folded) and
// bias b [Co], for an input quantized with (sx, zx) and an output with (sy, zy):
//   q[c][k]   = round(w[c][k] / sw[c]),  sw[c] = max_k |w[c][k]| / weight_qmax
//   bias[c]   = round(b[c] / (sx sw[c])) - zx * sum_k q[c][k]      (the input's zero point folded)
//   mult[c]   = sx sw[c] / sy   (u8 output)   or   sx sw[c]   (f32 output: the logits)
// Groups (a grouped Conv) are Co / groups consecutive channels each; every group is packed on
// its own (backends/int8/gemm.hpp) with its channels padded to 8. A Conv read in place (kr > 1
// kernel rows) has each kernel row's K / kr weights padded with zeros to a multiple of 4 in the
// packed form only: q, and so the saved file, is the same either way.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../backends/int8/gemm.hpp"
#include "../error.hpp"
#include "node.hpp"
#include "qparams.hpp"

namespace ctnn::quant {

struct gemm_weights {
    std::size_t Co = 0, K = 0, Kp = 0, groups = 1, kr = 1;
    std::size_t nhwc_channels = 0;  // > 0: q's columns are CHW (a Flatten's order), A's are NHWC
    bool relu = false, float_out = false;
    qparams out{};
    std::vector<std::int8_t> q;      // [Co][K]
    std::vector<float> wscale;       // [Co]
    std::vector<std::int32_t> bias;  // [Co]
    std::vector<float> mult;         // [Co]
    // derived (pack): per group, channels padded to 8
    std::vector<std::int8_t> packed;
    std::vector<std::int32_t> bias_p;
    std::vector<float> mult_p;

    gemm_weights() = default;
    gemm_weights(std::size_t co, std::size_t k, std::size_t g, bool relu_, bool float_out_, std::size_t kr_ = 1)
        : Co(co), K(k), Kp(kr_ * int8::round_up(k / kr_, 4)), groups(g), kr(kr_), relu(relu_), float_out(float_out_), q(co * k),
          wscale(co), bias(co), mult(co) {}

    std::size_t group_out() const { return Co / groups; }
    std::size_t padded_out() const { return int8::round_up(group_out(), 8); }

    /// Quantizes w [Co][K] and b [Co] for input qparams in and output qparams o.
    void make(const float* w, const float* b, qparams in, qparams o) {
        out = o;
        quantize_weights(w, Co, K, q.data(), wscale.data());
        for (std::size_t c = 0; c < Co; ++c) {
            const double acc_scale = double(in.scale) * double(wscale[c]);
            std::int64_t s = 0;
            for (std::size_t k = 0; k < K; ++k) s += q[c * K + k];
            const double bq = std::nearbyint(double(b[c]) / acc_scale);
            if (std::fabs(bq) > 1e9) throw error("ctnn::quantize: a bias is too large for int32 after quantization");
            bias[c] = static_cast<std::int32_t>(bq - double(in.zero_point) * double(s));
            mult[c] = float_out ? float(acc_scale) : float(acc_scale / double(out.scale));
        }
        pack();
    }

    /// The packed form the kernel reads, from q, bias and mult (q's columns reordered to NHWC
    /// when nhwc_channels is set: the Linear after a Flatten reads the NHWC activation as it is).
    void pack() {
        const std::size_t og = group_out(), op = padded_out();
        std::vector<std::int8_t> qn;
        if (nhwc_channels > 0) {
            const std::size_t C = nhwc_channels, HW = K / C;
            qn.resize(q.size());
            for (std::size_t o = 0; o < Co; ++o)
                for (std::size_t c = 0; c < C; ++c)
                    for (std::size_t i = 0; i < HW; ++i) qn[o * K + i * C + c] = q[o * K + c * HW + i];
        }
        const std::int8_t* src = nhwc_channels > 0 ? qn.data() : q.data();
        packed.assign(groups * op * Kp, 0);
        bias_p.assign(groups * op, 0);
        mult_p.assign(groups * op, 0.0f);
        for (std::size_t g = 0; g < groups; ++g) {
            int8::pack_weights(src + g * og * K, og, K, Kp, packed.data() + g * op * Kp, kr);
            for (std::size_t o = 0; o < og; ++o) {
                bias_p[g * op + o] = bias[g * og + o];
                mult_p[g * op + o] = mult[g * og + o];
            }
        }
    }

    /// The kernel's arguments for group g: rows a (stride lda), P of them, into y or yf (stride ldy).
    int8::gemm_args args(std::size_t g, const std::uint8_t* a, std::size_t lda, std::size_t P, std::uint8_t* y, float* yf,
                         std::size_t ldy) const {
        const std::size_t op = padded_out();
        int8::gemm_args r;
        r.a = a;
        r.lda = lda;
        r.P = P;
        r.Kp = Kp;
        r.kr = kr;
        r.w = packed.data() + g * op * Kp;
        r.Co = group_out();
        r.bias = bias_p.data() + g * op;
        r.mult = mult_p.data() + g * op;
        r.zp = out.zero_point;
        r.lo = relu ? 0.0f : -float(out.zero_point);
        r.hi = 255.0f - float(out.zero_point);
        r.y = y ? y + g * group_out() : nullptr;
        r.yf = yf ? yf + g * group_out() : nullptr;
        r.ldy = ldy;
        return r;
    }

    /// f(name, dtype, shape, data, bytes) for what save/load keep (pack() rebuilds the rest).
    template <class F>
    void tensors(const std::string& prefix, F&& f) {
        f(prefix + "weight", stored::i8, std::vector<std::size_t>{Co, K}, static_cast<void*>(q.data()), q.size());
        f(prefix + "weight_scale", stored::f32, std::vector<std::size_t>{Co}, static_cast<void*>(wscale.data()), Co * 4);
        f(prefix + "bias", stored::i32, std::vector<std::size_t>{Co}, static_cast<void*>(bias.data()), Co * 4);
        f(prefix + "multiplier", stored::f32, std::vector<std::size_t>{Co}, static_cast<void*>(mult.data()), Co * 4);
        f(prefix + "out_scale", stored::f32, std::vector<std::size_t>{1}, static_cast<void*>(&out.scale), 4);
        f(prefix + "out_zero_point", stored::i32, std::vector<std::size_t>{1}, static_cast<void*>(&out.zero_point), 4);
    }
};

}  // namespace ctnn::quant
