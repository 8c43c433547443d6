// Trains the seed CNN (CIFAR-10 shaped, 3×32×32 -> 10 classes) on the GPU with ctnn's CUDA
// backend: parameters, gradients, activations and Adam's moments stay on the device; each
// training step is one replay of a captured CUDA Graph.
//
//   cuda_train [CIFAR10_DIR] [EPOCHS]      (an empty CIFAR10_DIR: synthetic data)
//
// With a CIFAR-10 binary directory it trains on it and reports test accuracy; without one it
// trains on a synthetic, learnable stand-in (each class a fixed random pattern plus noise).
// Without a CUDA device it says so and exits 0.
#include <ctnn/backends/cuda/all.hpp>
#include <ctnn/ctnn.hpp>
#include <ctnn/data.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <numeric>
#include <string>
#include <vector>

using SeedNet = ctnn::Sequential<ctnn::Input<3, 32, 32>,
    ctnn::Conv<3, 16, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Conv<16, 32, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Flatten, ctnn::Linear<32 * 8 * 8, 10>>;

namespace {

/// 10 classes, each a fixed random image; samples are that image plus noise.
ctnn::data::dataset synthetic(std::size_t count, std::uint64_t seed) {
    ctnn::data::dataset d;
    d.count = count; d.channels = 3; d.height = 32; d.width = 32; d.classes = 10;
    d.images.resize(count * d.sample_size());
    d.labels.resize(count);
    ctnn::rng patterns(1234), g(seed);
    std::vector<float> proto(10 * d.sample_size());
    for (auto& v : proto) v = patterns.normal();
    for (std::size_t i = 0; i < count; ++i) {
        d.labels[i] = std::int32_t(g.below(10));
        for (std::size_t k = 0; k < d.sample_size(); ++k)
            d.images[i * d.sample_size() + k] = proto[std::size_t(d.labels[i]) * d.sample_size() + k] + 2.0f * g.normal();
    }
    return d;
}

double accuracy(ctnn::cuda::device_net<SeedNet>& gpu, const ctnn::data::dataset& d) {
    std::vector<float> logits(d.count * 10);
    gpu.forward(d.images.data(), logits.data(), d.count);
    std::size_t right = 0;
    for (std::size_t i = 0; i < d.count; ++i) {
        const float* z = logits.data() + i * 10;
        right += std::size_t(std::max_element(z, z + 10) - z) == std::size_t(d.labels[i]);
    }
    return double(right) / double(d.count);
}

}  // namespace

int main(int argc, char** argv) try {
    if (!ctnn::cuda::device_available()) {
        std::printf("cuda_train: no CUDA device: nothing to train on (this program needs an NVIDIA GPU)\n");
        return 0;
    }
    const int epochs = argc > 2 ? std::atoi(argv[2]) : 3;
    ctnn::data::dataset train, test;
    if (argc > 1 && argv[1][0] != 0) {
        train = ctnn::data::load_cifar10_dir(argv[1], true);
        test = ctnn::data::load_cifar10_dir(argv[1], false);
        const auto [mean, stddev] = ctnn::data::channel_stats(train);
        ctnn::data::normalize(train, mean, stddev);
        ctnn::data::normalize(test, mean, stddev);
    } else {
        std::printf("no CIFAR-10 directory given: training on synthetic data\n");
        train = synthetic(10000, 1);
        test = synthetic(2000, 2);
    }
    std::printf("device: %s\n%s", ctnn::cuda::device_name().c_str(), SeedNet::summary().c_str());
    std::printf("launch plan: %s\n", ctnn::cuda::device_net<SeedNet>::plan().c_str());

    constexpr std::size_t batch = 32;
    SeedNet net(42);
    ctnn::cuda::device_net<SeedNet> gpu(net, 256);
    gpu.set_optimizer(ctnn::cuda::adam{.lr = 1e-3f});
    std::vector<std::size_t> order(train.count);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::vector<float> x(batch * SeedNet::input_size);
    std::vector<std::int32_t> y(batch);
    ctnn::rng shuffle(7);
    for (int e = 0; e < epochs; ++e) {
        for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
        const auto t0 = std::chrono::steady_clock::now();
        std::size_t seen = 0;
        for (std::size_t b0 = 0; b0 + batch <= train.count; b0 += batch, seen += batch) {
            for (std::size_t j = 0; j < batch; ++j) {
                const std::size_t s = order[b0 + j];
                std::copy(train.image(s), train.image(s) + SeedNet::input_size, x.begin() + j * SeedNet::input_size);
                y[j] = train.labels[s];
            }
            gpu.train_step(x.data(), y.data(), batch);
        }
        const float loss = gpu.loss();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("epoch %d: last loss %.4f, %.0f images/s (host batching included), test accuracy %.3f\n", e + 1,
                    loss, double(seen) / s, accuracy(gpu, test));
    }
    gpu.download(net);  // the trained parameters, back in the host net
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_train: %s\n", e.what());
    return 1;
}
