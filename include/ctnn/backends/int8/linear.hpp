// int8 Linear (+ ReLU fused into its requantize): the GEMM of gemm.hpp with one row, the input
// vector itself. As the net's last node it writes the fp32 logits (float_out) instead of u8.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../../layers/linear.hpp"
#include "../../quant/node.hpp"
#include "../../quant/weights.hpp"

namespace ctnn::quant {

template <class L, dims In, bool Relu, class Kern>
struct linear_node {
    static constexpr dims in = In, out = L::output(In);
    static constexpr std::size_t layers = 1 + Relu;
    static constexpr std::size_t Ci = L::in_features, Co = L::out_features;
    static constexpr std::size_t params = param_floats<L>(In), buffers = 0, work = 0;
    static constexpr bool can_float_out = !Relu;

    gemm_weights w{Co, Ci, 1, Relu, false};
    observer obs;

    static std::string describe() { return L::name() + (Relu ? " + ReLU" : "") + "  [int8]"; }

    void calibrate(const float* p, const float*, const float* x, float* y, std::size_t n, const calib_context& c) {
        run_fp32<L, In>(p, nullptr, x, y, n);
        if constexpr (Relu)
            for (std::size_t i = 0; i < n * Co; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        obs.observe(y, n * Co, c.pass);
    }

    /// From now on (finalize, load) the node writes fp32: the net's output.
    void set_float_out() { w.float_out = true; }

    template <class M>
    qparams finalize(const float* p, const float*, qparams in_qp, const M& method) {
        w.make(p, p + Co * Ci, in_qp, obs.result(method));  // PyTorch's [out][in] is already the GEMM's order
        return w.out;
    }
    void run(const std::uint8_t* x, std::uint8_t* y, std::uint8_t*) const { Kern::gemm(w.args(0, x, w.Kp, 1, y, nullptr, Co)); }
    void run_float(const std::uint8_t* x, float* y, std::uint8_t*) const { Kern::gemm(w.args(0, x, w.Kp, 1, nullptr, y, Co)); }

    template <class F>
    void tensors(const std::string& prefix, F&& f) { w.tensors(prefix, f); }
    qparams loaded(qparams) {
        w.pack();
        return w.out;
    }
};

}  // namespace ctnn::quant
