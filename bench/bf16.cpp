// bf16 inference against fp32 on the two Fashion-MNIST nets of the examples: test accuracy, and
// forward time at batch 1 and 256 on 1 and 2 threads, fp32 (cpu backend) and bf16 (bf16_net on
// cpu_bf16) timed in the same process, interleaved, repeated; medians. docs/deploy.md has the
// measured table.
//
//   ctnn_bench_bf16 FASHION_MNIST_CKPT FASHION_RESNET_CKPT [DIR] [ROUNDS]
//
// The checkpoints are the examples' (fashion_mnist.ckpt, fashion_resnet.ckpt: the net types below
// are the examples'; the checkpoint's architecture check refuses any other); "-" skips a net.
// Then single layers of those nets (random weights, batch 256, 1 thread), fp32 against bf16.
// DIR: the Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist); ROUNDS default 7.
#include <ctnn/bf16.hpp>
#include <ctnn/data.hpp>
#include <ctnn/train.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "fashion_nets.hpp"

using namespace ctnn;

using ctnn_bench::fashion::FashionNet;
using ctnn_bench::fashion::FashionResNet;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/// Accuracy of f(in, out, n) over the test set, in batches of 256, and the argmaxes.
template <class F>
double accuracy(F&& f, const data::dataset& d, std::vector<std::size_t>& picks) {
    std::vector<float> out(256 * 10);
    std::size_t correct = 0;
    picks.assign(d.count, 0);
    for (std::size_t i = 0; i < d.count; i += 256) {
        const std::size_t n = std::min<std::size_t>(256, d.count - i);
        f(d.images.data() + i * d.sample_size(), out.data(), n);
        for (std::size_t j = 0; j < n; ++j) {
            picks[i + j] = std::size_t(std::max_element(out.data() + j * 10, out.data() + j * 10 + 10) - out.data() - j * 10);
            correct += picks[i + j] == std::size_t(d.labels[i + j]);
        }
    }
    return double(correct) / double(d.count);
}

template <class Net>
void measure(const char* name, Net& net, const data::dataset& test, std::size_t rounds) {
    bf16_net<Net> b(net);
    std::vector<std::size_t> p32, p16;
    set_num_threads(2);
    const double a32 = accuracy([&](const float* x, float* y, std::size_t n) { net.forward(x, y, n); }, test, p32);
    const double a16 = accuracy([&](const float* x, float* y, std::size_t n) { b.forward(x, y, n); }, test, p16);
    std::size_t same = 0;
    for (std::size_t i = 0; i < p32.size(); ++i) same += p32[i] == p16[i];
    std::printf("%s: test accuracy fp32 %.2f%%, bf16 %.2f%% (%+.2f points); same prediction on %zu of %zu\n", name, 100 * a32,
                100 * a16, 100 * (a16 - a32), same, p32.size());

    for (std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        for (std::size_t batch : {std::size_t(1), std::size_t(256)}) {
            const float* x = test.images.data();
            std::vector<float> y(batch * 10);
            net.warm_up();
            b.warm_up();
            const std::size_t reps = batch == 1 ? 200 : 4;
            std::vector<double> t32, t16;
            for (std::size_t r = 0; r < rounds; ++r) {  // interleaved: fp32 then bf16, each round
                auto t0 = std::chrono::steady_clock::now();
                for (std::size_t k = 0; k < reps; ++k) net.forward(x, y.data(), batch);
                t32.push_back(seconds_since(t0) / double(reps));
                t0 = std::chrono::steady_clock::now();
                for (std::size_t k = 0; k < reps; ++k) b.forward(x, y.data(), batch);
                t16.push_back(seconds_since(t0) / double(reps));
            }
            const double m32 = median(t32), m16 = median(t16);
            std::printf("%s batch %3zu, %zu thread%s: fp32 %9.1f us, bf16 %9.1f us, bf16 speed-up %.2fx\n", name, batch, threads,
                        threads > 1 ? "s" : " ", m32 * 1e6, m16 * 1e6, m32 / m16);
        }
    }
}

/// One layer (and its fused followers) alone, random weights, batch 256, 1 thread: where the
/// nets' times come from. Interleaved as above.
template <class Net>
void layer(const char* what, std::size_t rounds) {
    Net net(1);
    bf16_net<Net> b(net);
    constexpr std::size_t n = 256;
    std::vector<float> x(n * Net::input_size), y(n * Net::output_size);
    rng g(3);
    for (float& v : x) v = g.uniform(-1.0f, 1.0f);
    net.warm_up();
    b.warm_up();
    std::vector<double> t32, t16;
    for (std::size_t r = 0; r < rounds; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        net.forward(x.data(), y.data(), n);
        t32.push_back(seconds_since(t0));
        t0 = std::chrono::steady_clock::now();
        b.forward(x.data(), y.data(), n);
        t16.push_back(seconds_since(t0));
    }
    std::printf("layer %-34s fp32 %8.0f us, bf16 %8.0f us, bf16 speed-up %.2fx\n", what, median(t32) * 1e6, median(t16) * 1e6,
                median(t32) / median(t16));
}

void layers(std::size_t rounds) {
    set_num_threads(1);
    layer<Sequential<Input<1, 28, 28>, Conv<1, 16, 3, 1, 1>, ReLU, MaxPool<2>>>("Conv 1->16 3x3 @28 +ReLU+pool", rounds);
    layer<Sequential<Input<16, 14, 14>, Conv<16, 32, 3, 1, 1>, ReLU, MaxPool<2>>>("Conv 16->32 3x3 @14 +ReLU+pool", rounds);
    layer<Sequential<Input<1568>, Linear<1568, 10>>>("Linear 1568->10", rounds);
    layer<Sequential<Input<32, 14, 14>, Conv<32, 32, 3, 1, 1>, BatchNorm<32>, ReLU>>("Conv 32->32 3x3 @14 +BN+ReLU", rounds);
    layer<Sequential<Input<64, 7, 7>, Conv<64, 64, 3, 1, 1>, BatchNorm<64>, ReLU>>("Conv 64->64 3x3 @7 +BN+ReLU", rounds);
    layer<Sequential<Input<64, 7, 7>, Conv<64, 128, 3, 2, 1>, BatchNorm<128>>>("Conv 64->128 3x3 s2 @7 +BN", rounds);
    layer<Sequential<Input<128, 4, 4>, Conv<128, 128, 3, 1, 1>, BatchNorm<128>>>("Conv 128->128 3x3 @4 +BN", rounds);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || argc > 5) {
        std::cerr << "usage: " << argv[0] << " FASHION_MNIST_CKPT FASHION_RESNET_CKPT [DIR] [ROUNDS]   (\"-\" skips a net)\n";
        return 2;
    }
    try {
        const std::string dir = argc > 3 ? argv[3] : data::fashion_mnist_default_dir;
        const std::size_t rounds = argc > 4 ? std::size_t(std::max(1, std::atoi(argv[4]))) : 7;
        data::dataset test = data::load_mnist_dir(dir, false);
        data::normalize(test, {0.2860f}, {0.3530f});
        std::printf("bf16 GEMM path: %s; %zu rounds, medians\n", bf16_detail::path_name, rounds);
        if (std::string(argv[1]) != "-") {
            FashionNet net(1);
            Adam opt(net, 2e-3f);
            load_checkpoint(argv[1], net, opt);
            measure("fashion convnet", net, test, rounds);
        }
        if (std::string(argv[2]) != "-") {
            FashionResNet net(1);
            SGD opt(net, 0.1f, {.momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = true});
            load_checkpoint(argv[2], net, opt);
            measure("fashion resnet", net, test, rounds);
        }
        layers(rounds);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "ctnn_bench_bf16: " << e.what() << "\n";
        return 1;
    }
}
