// Whole-net benchmarks: the seed's CIFAR-10 CNN and the Fashion-MNIST benchmark convnet, as in
// bench/torch_baseline.py, and ResNet-20 and the MobileNetV3-style net (examples/resnet.cpp,
// examples/mobilenet.cpp; their PyTorch peers: bench/peers_blocks.py). Names: <net>/<case>/threads:<n>; counters: img/s (items_per_second)
// and GFLOP/s (forward FLOPs x 3 for a training step). Real (wall) time, like PyTorch's figures.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <ctnn/train/loss.hpp>
#include <ctnn/train/optim.hpp>
#include <ctnn/train/train_step.hpp>

#include "nets.hpp"

namespace {

using namespace ctnn_bench;

template <class Net>
std::vector<float> input(std::size_t n) {
    ctnn::rng g(1);
    std::vector<float> x(n * Net::input_size);
    for (float& v : x) v = g.normal();
    return x;
}

void counters(benchmark::State& s, std::size_t batch, double flops) {
    s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations() * batch));
    s.counters["GFLOP/s"] = benchmark::Counter(flops * double(batch) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

template <class Net, std::size_t Batch>
void infer(benchmark::State& s) {
    ctnn::set_num_threads(static_cast<std::size_t>(s.range(0)));
    Net net(0);
    const auto x = input<Net>(Batch);
    std::vector<float> y(Batch * Net::output_size);
    net.forward(x.data(), y.data(), Batch);  // warm-up, untimed: workspaces and prepared weights (as the peers' warm-up)
    for (auto _ : s) {
        net.forward(x.data(), y.data(), Batch);
        benchmark::DoNotOptimize(y.data());
    }
    counters(s, Batch, flops_per_sample<Net>());
}

template <class Net, std::size_t Batch>
void train(benchmark::State& s) {
    ctnn::set_num_threads(static_cast<std::size_t>(s.range(0)));
    Net net(0);
    ctnn::Adam opt(net, 1e-3f);
    const auto x = input<Net>(Batch);
    ctnn::rng g(2);
    std::vector<std::int32_t> labels(Batch);
    for (auto& l : labels) l = static_cast<std::int32_t>(g.below(10));
    // warm-up, untimed: the first step allocates and zeroes the training memory (ResNet-20 at batch
    // 32: tens of MB, a visible share of a run of a few steps) and the optimizer's state
    ctnn::train_step(net, opt, ctnn::CrossEntropy{}, x.data(), labels.data(), Batch);
    for (auto _ : s) benchmark::DoNotOptimize(ctnn::train_step(net, opt, ctnn::CrossEntropy{}, x.data(), labels.data(), Batch));
    counters(s, Batch, 3 * flops_per_sample<Net>());
}

#define CTNN_NET_BENCH(fn, Net, B, label)                                                          \
    BENCHMARK_TEMPLATE(fn, Net, B)->Name(label)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime() \
        ->Unit(benchmark::kMicrosecond)

CTNN_NET_BENCH(infer, SeedCNN, 1, "seed_cnn/infer_b1");
CTNN_NET_BENCH(infer, SeedCNN, 256, "seed_cnn/infer_b256");
CTNN_NET_BENCH(train, SeedCNN, 32, "seed_cnn/train_b32");
CTNN_NET_BENCH(infer, FmnistCNN, 1, "fmnist_cnn/infer_b1");
CTNN_NET_BENCH(infer, FmnistCNN, 256, "fmnist_cnn/infer_b256");
CTNN_NET_BENCH(train, FmnistCNN, 32, "fmnist_cnn/train_b32");
CTNN_NET_BENCH(infer, ResNet20, 1, "resnet20/infer_b1");
CTNN_NET_BENCH(infer, ResNet20, 256, "resnet20/infer_b256");
CTNN_NET_BENCH(train, ResNet20, 32, "resnet20/train_b32");
CTNN_NET_BENCH(infer, MobileNet, 1, "mobilenet/infer_b1");
CTNN_NET_BENCH(infer, MobileNet, 256, "mobilenet/infer_b256");
CTNN_NET_BENCH(train, MobileNet, 32, "mobilenet/train_b32");

// An Inception-style block on 8 x 8 maps, four branches concatenated along channels (1x1; 1x1
// then 3x3; 1x1 then two 3x3; the input itself), each Conv with BatchNorm and ReLU: the branches
// write their channel slices of the output in place (layers/concat.hpp). No peer figure.
template <std::size_t I, std::size_t O, std::size_t K = 1>
using CBR = ctnn::Chain<ctnn::Conv<I, O, K, 1, K / 2>, ctnn::BatchNorm<O>, ctnn::ReLU>;
using InceptionBlock = ctnn::Sequential<ctnn::Input<64, 8, 8>,
                                        ctnn::Concat<CBR<64, 32>, ctnn::Chain<CBR<64, 48>, CBR<48, 64, 3>>,
                                                     ctnn::Chain<CBR<64, 16>, CBR<16, 32, 3>, CBR<32, 32, 3>>, ctnn::Identity>>;
CTNN_NET_BENCH(infer, InceptionBlock, 64, "inception_block/infer_b64");

}  // namespace

BENCHMARK_MAIN();
