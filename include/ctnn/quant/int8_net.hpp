// int8_net<Net>: post-training static int8 quantization of an fp32 net, as a type.
//
//   auto q = ctnn::quantize(net, calib_images, n);                              // min-max
//   auto q = ctnn::quantize(net, calib_images, n, ctnn::calibrate::percentile{99.99});
//   q.forward(x, logits, batch);   // fp32 NCHW in, fp32 out, like Net::forward
//   q.save("net.int8.safetensors");  int8_net<Net> r; r.load("net.int8.safetensors");
//
// The nodes (quant/nodes.hpp) are made from Net's layer list at compile time; every buffer a
// sample needs is a compile-time size (sample_bytes), kept per thread in ctnn's tile scratch:
// forward allocates nothing after warm_up. Samples are split into one contiguous part per
// thread; each runs its samples one at a time through the nodes. The kernel set Kern is chosen
// at compile time (backends/int8/gemm.hpp): int8::simd (AVX2, or VNNI where the compiler
// targets it) or int8::reference. Activations are u8 NHWC with per-tensor scale and zero point
// (qparams.hpp); the last node writes fp32 (a Linear directly from its int32 sums; any other
// node dequantizes).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "../error.hpp"
#include "../layers/input.hpp"
#include "../sequential.hpp"
#include "../threads.hpp"
#include "nodes.hpp"
#include "qparams.hpp"

namespace ctnn {

template <class Net, class Kern = int8::simd>
class int8_net;

template <std::size_t... D, class... Ls, class Kern>
class int8_net<Sequential<Input<D...>, Ls...>, Kern> {
public:
    using fp32_net = Sequential<Input<D...>, Ls...>;
    using kernels = Kern;
    using seq = quant::seq_node<Shape<D...>::value, Kern, Ls...>;
    static constexpr dims in = seq::in, out = seq::out;
    static constexpr std::size_t input_size = in.size(), output_size = out.size();
    using last = typename seq::template node<seq::count - 1>;
    static constexpr bool float_last = quant::detail::writes_float<last>;
    /// Bytes of one sample's workspace: the quantized input, the output (when the last node
    /// writes u8), the nodes' buffers.
    static constexpr std::size_t sample_bytes = quant::slot_bytes(input_size) + quant::slot_bytes(output_size) + seq::work;

    /// An empty net, to load() into.
    int8_net() {
        if constexpr (float_last) std::get<seq::count - 1>(seq_.nodes).set_float_out();
    }

    /// Calibrates on n images (NCHW floats, the net's input) and quantizes.
    template <class Method = calibrate::minmax>
    int8_net(const fp32_net& net, const float* images, std::size_t n, Method method = {}) {
        if (n == 0) throw error("ctnn::quantize: no calibration images");
        if constexpr (float_last) std::get<seq::count - 1>(seq_.nodes).set_float_out();
        const int passes = std::is_same_v<Method, calibrate::minmax> ? 1 : 2;
        constexpr std::size_t chunk = 64;
        std::vector<float> y(chunk * output_size);
        for (int pass = 0; pass < passes; ++pass)
            for (std::size_t b = 0; b < n; b += chunk) {
                const std::size_t m = std::min(chunk, n - b);
                in_obs_.observe(images + b * input_size, m * input_size, pass);
                seq_.calibrate(net.params().data(), net.buffers().data(), images + b * input_size, y.data(), m, {pass});
            }
        in_qp_ = in_obs_.result(method);
        out_qp_ = seq_.finalize(net.params().data(), net.buffers().data(), in_qp_, method);
        method_ = std::is_same_v<Method, calibrate::minmax> ? "minmax" : "percentile";
        ready_ = true;
    }

    /// Reserves every thread's workspace: after it, forward on this thread allocates nothing.
    void warm_up() const { detail::reserve_scratch(0, 0, sample_bytes / sizeof(float) + 1); }

    /// Inference on `batch` samples: in [batch, input] fp32 NCHW, out [batch, output] fp32.
    void forward(const float* x, float* y, std::size_t batch) const {
        if (!ready_) throw error("ctnn::int8_net::forward: not quantized or loaded yet");
        warm_up();
        const std::size_t tasks = tasks_for(batch, double(batch) * double(fp32_net::work_per_sample) / 4.0);
        parallel_for(tasks, [&](std::size_t t) {
            const range r = split(batch, t, tasks);
            auto* s = reinterpret_cast<std::uint8_t*>(detail::tile_scratch(sample_bytes / sizeof(float) + 1));
            for (std::size_t i = r.begin; i < r.end; ++i) run_one(x + i * input_size, y + i * output_size, s);
        });
    }

    /// One line per node: its layers, and whether it runs int8 kernels or an fp32 fallback.
    static std::string summary() {
        std::string s = "int8 net (" + std::string(Kern::name) + "), u8 activations, s8 weights (" +
                        std::to_string(quant::weight_qmax) + " max), per-channel:\n";
        seq::lines("", s);
        return s;
    }

    quant::qparams input_qparams() const { return in_qp_; }
    const std::string& method() const { return method_; }

    void save(const std::string& path);
    void load(const std::string& path);

private:
    void run_one(const float* x, float* y, std::uint8_t* s) const {
        std::uint8_t* qx = s;
        std::uint8_t* qy = s + quant::slot_bytes(input_size);
        std::uint8_t* w = qy + quant::slot_bytes(output_size);
        quant::quantize_in<in>(x, qx, in_qp_);
        if constexpr (float_last) {
            const std::uint8_t* h = seq_.template run_until<seq::count - 1>(qx, qy, w);
            std::get<seq::count - 1>(seq_.nodes).run_float(h, y, w + (seq::count > 1 ? 2 * seq::inner : 0));
        } else {
            seq_.run(qx, qy, w);
            quant::dequantize_out<out>(qy, y, out_qp());
        }
    }
    quant::qparams out_qp() const { return out_qp_; }  // the last node's (finalize's, loaded's)

    seq seq_;
    quant::observer in_obs_;
    quant::qparams in_qp_, out_qp_;
    std::string method_;
    bool ready_ = false;

    template <class N, class K2>
    friend struct quant_io;
};

/// quantize(net, images, n[, method]): the int8 net of `net`, calibrated on n images.
template <class Net, class Method = calibrate::minmax>
int8_net<Net> quantize(const Net& net, const float* images, std::size_t n, Method method = {}) {
    return int8_net<Net>(net, images, n, method);
}

}  // namespace ctnn
