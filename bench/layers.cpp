// Per-layer benchmarks: each cpu kernel of the two benchmark nets (and the ResNets' strided
// convolutions) at batch 32, forward and backward, against the reference kernel where it runs in
// reasonable time. Counter: GFLOP/s
// (Conv and Linear: 2 per multiply-add; backward with both dx and dW: 2x forward).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace {

using namespace ctnn;

template <class L, class In>
constexpr double layer_flops() {
    constexpr dims out = L::output(In::value);
    if constexpr (requires { L::kernel_size; L::in_channels; })
        return 2.0 * double(out.size()) * double(L::in_channels * L::kernel_size * L::kernel_size);
    else if constexpr (requires { L::in_features; })
        return 2.0 * double(In::size) * double(out.size());
    else
        return 0.0;
}

/// Mode 0: forward; 1: backward with dx and dW; 2: backward without dx (a net's first layer).
template <class L, class In, class B, int Mode>
void layer(benchmark::State& s) {
    set_num_threads(static_cast<std::size_t>(s.range(0)));
    constexpr std::size_t n = 32;
    constexpr dims in = In::value, out = L::output(In::value);
    rng g(3);
    const auto fill = [&](std::size_t k) {
        std::vector<float> v(k);
        for (float& x : v) x = g.uniform(-1.0f, 1.0f);
        return v;
    };
    const std::size_t np = std::max<std::size_t>(L::params(in).total(), 1);
    auto x = fill(n * in.size()), p = fill(np), dy = fill(n * out.size()), dp = fill(np);
    std::vector<float> y(n * out.size()), dx(n * in.size()), saved(std::max<std::size_t>(L::saved(in, n), 1));
    // kernels that keep per-thread scratch get it here, as Sequential does
    detail::reserve_scratch(kernel_for<L, In, B>::traits.scratch, 64 * kernel_for<L, In, B>::traits.shared_per_task);
    forward_args f;
    f.x = x.data(); f.y = y.data(); f.n = n; f.params = p.data(); f.saved = saved.data(); f.training = true;
    backward_args b;
    b.x = x.data(); b.y = y.data(); b.dy = dy.data(); b.dx = Mode == 2 ? nullptr : dx.data(); b.n = n; b.params = p.data();
    b.dparams = L::params(in).total() ? dp.data() : nullptr; b.saved = saved.data();
    kernel_for<L, In, B>::forward(f);
    for (auto _ : s) {
        if constexpr (Mode > 0) kernel_for<L, In, B>::backward(b);
        else kernel_for<L, In, B>::forward(f);
        benchmark::ClobberMemory();
    }
    s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations() * n));
    s.counters["GFLOP/s"] = benchmark::Counter(layer_flops<L, In>() * (Mode == 1 ? 2.0 : 1.0) * n * 1e-9,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

#define CTNN_LAYER(L, In, label)                                                                              \
    BENCHMARK_TEMPLATE(layer, L, In, cpu, 0)->Name(label "/cpu/forward")->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime(); \
    BENCHMARK_TEMPLATE(layer, L, In, cpu, 1)->Name(label "/cpu/backward")->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()
/// A net's first layer: backward computes no dx.
#define CTNN_FIRST_LAYER(L, In, label)                                                                        \
    CTNN_LAYER(L, In, label);                                                                                 \
    BENCHMARK_TEMPLATE(layer, L, In, cpu, 2)->Name(label "/cpu/backward_no_dx")->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()

// the layers of the seed CNN and of the Fashion-MNIST convnet, with their input shapes
using seed_conv1 = Conv<3, 16, 3, 1, 1>;    using seed_in1 = Shape<3, 32, 32>;
using seed_conv2 = Conv<16, 32, 3, 1, 1>;   using seed_in2 = Shape<16, 16, 16>;
using seed_pool1 = MaxPool<2>;              using seed_relu1 = Shape<16, 32, 32>;
using seed_fc = Linear<2048, 10>;           using seed_flat = Shape<2048>;
using fm_conv1 = Conv<1, 32, 5, 1, 2>;      using fm_in1 = Shape<1, 28, 28>;
using fm_conv2 = Conv<32, 64, 5, 1, 2>;     using fm_in2 = Shape<32, 14, 14>;
using fm_fc1 = Linear<3136, 1024>;          using fm_flat = Shape<3136>;
using fm_fc2 = Linear<1024, 10>;            using fm_hidden = Shape<1024>;

CTNN_FIRST_LAYER(seed_conv1, seed_in1, "seed/conv1");
CTNN_LAYER(ReLU, seed_relu1, "seed/relu1");
CTNN_LAYER(seed_pool1, seed_relu1, "seed/pool1");
CTNN_LAYER(seed_conv2, seed_in2, "seed/conv2");
CTNN_LAYER(seed_fc, seed_flat, "seed/fc");
CTNN_FIRST_LAYER(fm_conv1, fm_in1, "fmnist/conv1");
CTNN_LAYER(fm_conv2, fm_in2, "fmnist/conv2");
CTNN_LAYER(fm_fc1, fm_flat, "fmnist/fc1");
CTNN_LAYER(fm_fc2, fm_hidden, "fmnist/fc2");
// the strided 3x3 convolutions of the ResNet-style nets (conv_gemm.hpp's batched GEMMs)
using s2_fres1 = Conv<32, 64, 3, 2, 1>;     using s2_fres1_in = Shape<32, 14, 14>;
using s2_fres2 = Conv<64, 128, 3, 2, 1>;    using s2_fres2_in = Shape<64, 7, 7>;
using s2_r20a = Conv<16, 32, 3, 2, 1>;      using s2_r20a_in = Shape<16, 32, 32>;
using s2_r20b = Conv<32, 64, 3, 2, 1>;      using s2_r20b_in = Shape<32, 16, 16>;
CTNN_LAYER(s2_fres1, s2_fres1_in, "fashion_resnet/conv_s2_32_64");
CTNN_LAYER(s2_fres2, s2_fres2_in, "fashion_resnet/conv_s2_64_128");
CTNN_LAYER(s2_r20a, s2_r20a_in, "resnet20/conv_s2_16_32");
CTNN_LAYER(s2_r20b, s2_r20b_in, "resnet20/conv_s2_32_64");
// MobileNet's 1x1 convolutions (conv.hpp's pointwise GEMM: in place at 16 x 16 and 8 x 8, through a
// block of rows at 14 x 14 and 7 x 7, the padded copy at 32 x 32) and its depthwise convolutions
// on small maps (conv_depthwise.hpp: over the flattened rows at 4 x 4); inference forward only
#define CTNN_FORWARD(L, In, label) \
    BENCHMARK_TEMPLATE(layer, L, In, cpu, 0)->Name(label "/cpu/forward")->ArgName("threads")->Arg(1)->UseRealTime()
using mb_pw1 = Conv<16, 64, 1>;              using mb_pw1_in = Shape<16, 32, 32>;
using mb_pw2 = Conv<24, 72, 1>;              using mb_pw2_in = Shape<24, 16, 16>;
using mb_pw3 = Conv<40, 120, 1>;             using mb_pw3_in = Shape<40, 8, 8>;
using mb_pw4 = Conv<32, 96, 1>;              using mb_pw4_in = Shape<32, 14, 14>;
using mb_pw5 = Conv<96, 32, 1>;              using mb_pw5_in = Shape<96, 7, 7>;
using mb_dw1 = Conv<240, 240, 3, 2, 1, 1, 240>;  using mb_dw1_in = Shape<240, 8, 8>;
using mb_dw2 = Conv<200, 200, 3, 1, 1, 1, 200>;  using mb_dw2_in = Shape<200, 4, 4>;
CTNN_FORWARD(mb_pw1, mb_pw1_in, "mobilenet/conv1x1_16_64_32x32");
CTNN_FORWARD(mb_pw2, mb_pw2_in, "mobilenet/conv1x1_24_72_16x16");
CTNN_FORWARD(mb_pw3, mb_pw3_in, "mobilenet/conv1x1_40_120_8x8");
CTNN_FORWARD(mb_pw4, mb_pw4_in, "conv1x1_32_96_14x14");
CTNN_FORWARD(mb_pw5, mb_pw5_in, "conv1x1_96_32_7x7");
CTNN_FORWARD(mb_dw1, mb_dw1_in, "mobilenet/depthwise_240_s2_8x8");
CTNN_FORWARD(mb_dw2, mb_dw2_in, "mobilenet/depthwise_200_4x4");
BENCHMARK_TEMPLATE(layer, seed_conv2, seed_in2, reference, 0)->Name("seed/conv2/reference/forward")->ArgName("threads")->Arg(1)->UseRealTime();

}  // namespace
BENCHMARK_MAIN();
