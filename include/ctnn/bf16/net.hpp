// ctnn::bf16_net<Net>: a trained fp32 net converted for bf16 inference, a type of its own.
//
//   ctnn::bf16_net<Net> b(net);        // copies net, rounds its weights to bf16
//   b.forward(in, out, batch);         // fp32 in [batch, input], fp32 logits out
//   b.save("net_bf16.safetensors");    // weights as BF16 tensors, the rest F32 (I64 counters)
//   b.load("net_bf16.safetensors");    // (or the fp32 net's own safetensors file: rounded here)
//
// What is bf16: every "weight" tensor of rank >= 2 (Conv, Linear, ConvTranspose, ...) is rounded
// to the nearest bf16 (ties to even, as PyTorch's .to(torch.bfloat16)) once, at conversion; the
// net keeps them as fp32 values (exact: their low 16 bits are zero) and the cpu_bf16 backend's
// kernels (backends/bf16/) pack them into bf16 once per load (the prepared parameters). Biases,
// BatchNorm parameters and statistics stay fp32: a BatchNorm after a Conv is applied in the
// Conv's epilogue in fp32 (scale and shift per channel), not folded into the bf16 weights, so the
// file is the fp32 net's state_dict with bf16 weights and loads into PyTorch as it is. Activations
// pass between layers as fp32 and are rounded to bf16 where a bf16 kernel packs them.
//
// Layers without a bf16 kernel (pooling, grouped or depthwise Conv, BatchNorm not after a Conv,
// ...) run the cpu backend's fp32 kernels: the backend's fallback, no list of layers here. Blocks
// (Chain, Residual, Concat) run their children on cpu_bf16 too. Inference only: forward
// allocates nothing after warm_up on a thread (it is Sequential's forward on cpu_bf16).
#pragma once
#include <array>
#include <cstddef>
#include <string>

#include "../backends/bf16/all.hpp"
#include "../backends/bf16/convert.hpp"
#include "../sequential.hpp"
#include "safetensors.hpp"

namespace ctnn {

template <class Net>
    requires is_sequential<Net>
class bf16_net {
public:
    using fp32_net = Net;
    static constexpr std::size_t input_size = Net::input_size, output_size = Net::output_size;

    /// A net of PyTorch's default initialisation (for load), rounded.
    bf16_net() : net_(0) { round_weights(); }
    /// The conversion of a trained net (the net is copied; it stays as it is).
    explicit bf16_net(const Net& net) : net_(net) { round_weights(); }

    /// Reserves what forward needs on this thread and packs the bf16 weights.
    template <class B = cpu_bf16>
    void warm_up() { net_.template warm_up<B>(); }

    /// Inference on `batch` samples: in [batch, input], out [batch, output], fp32. B: cpu_bf16,
    /// or reference_bf16 (the definition, slow).
    template <class B = cpu_bf16>
    void forward(const float* in, float* out, std::size_t batch) { net_.template forward<B>(in, out, batch); }

    std::array<float, output_size> operator()(const std::array<float, input_size>& x) {
        std::array<float, output_size> y;
        forward(x.data(), y.data(), 1);
        return y;
    }

    /// The net the kernels run: the fp32 net with its weights rounded to bf16 values.
    const Net& values() const { return net_; }

    /// Saves to a safetensors file, atomically: bf16 tensors as BF16 (exact), the rest as the
    /// fp32 net's file has them.
    void save(const std::string& path) const { bf16_detail::save(net_, path); }

    /// Loads a file of save (or of save_safetensors on the fp32 net: its weights are rounded
    /// here). Another net's file is refused with ctnn::error naming the tensors that differ; the
    /// net is unchanged then.
    void load(const std::string& path) {
        load_safetensors(net_, path);
        round_weights();
    }

private:
    void round_weights() {
        net_.for_each_tensor([](const std::string&, const tensor_desc& d, float* p, tensor_kind k) {
            if (bf16_detail::is_bf16_tensor(d, k))
                for (std::size_t i = 0; i < d.size(); ++i) p[i] = bf16_detail::rounded(p[i]);
        });
    }

    Net net_;
};

/// The bf16 conversion of a trained net.
template <class Net>
    requires is_sequential<Net>
bf16_net<Net> to_bf16(const Net& net) {
    return bf16_net<Net>(net);
}

}  // namespace ctnn
