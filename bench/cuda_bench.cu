// ctnn's CUDA backend timed like bench/torch_baseline.py --device cuda times PyTorch: the seed
// CNN and the Fashion-MNIST convnet, Adam, cross-entropy; training images/s at batch 32 and 256
// (batch already on the device, as the baseline's; and from host memory), inference latency
// at batch 1 (host in, host out: the copies are included) and images/s at batch 256.
// Prints `name.cuda.figure value unit` lines, the baseline's format. Built and run by
// bench/cuda_check.sh.
#include <ctnn/backends/cuda/all.hpp>
#include <ctnn/ctnn.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace {

using namespace ctnn;
using clock_type = std::chrono::steady_clock;

template <class F>
double median_seconds(F&& f, int reps, int warm = 5) {
    for (int i = 0; i < warm; ++i) f();
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = clock_type::now();
        f();
        t.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

template <class Net>
void run(const char* name) {
    Net net(0);
    cuda::device_net<Net> gpu(net, 256);
    rng g(1);
    std::vector<float> x(256 * Net::input_size);
    for (auto& v : x) v = g.normal();
    std::vector<std::int32_t> y(256);
    for (auto& l : y) l = std::int32_t(g.below(Net::output_size));
    std::vector<float> out(256 * Net::output_size);

    std::printf("# %s launch plan: %s\n", name, cuda::device_net<Net>::plan().c_str());
    std::printf("%s.cuda.infer_b1_us %.1f us\n", name, 1e6 * median_seconds([&] { gpu.forward(x.data(), out.data(), 1); }, 300));
    std::printf("%s.cuda.infer_b256_img_s %.0f img/s\n", name, 256 / median_seconds([&] { gpu.forward(x.data(), out.data(), 256); }, 20));

    gpu.set_optimizer(cuda::adam{.lr = 1e-3f});
    gpu.load_batch(x.data(), y.data(), 256);  // the batch stays on the device, as the baseline's
    for (std::size_t b : {std::size_t(32), std::size_t(256)}) {
        const int steps = b == 32 ? 200 : 50;
        // steps queued back to back, one wait at the end: throughput, as a training loop sees it
        const double dev = median_seconds([&] { for (int i = 0; i < steps; ++i) gpu.train_step_on_device(b); gpu.synchronize(); }, 5, 1);
        std::printf("%s.cuda.train_b%zu_img_s %.0f img/s\n", name, b, double(b) * steps / dev);
        const double host = median_seconds([&] { for (int i = 0; i < steps; ++i) gpu.train_step(x.data(), y.data(), b); gpu.synchronize(); }, 5, 1);
        std::printf("%s.cuda.train_b%zu_host_img_s %.0f img/s\n", name, b, double(b) * steps / host);
    }
}

}  // namespace

int main() try {
    if (!cuda::device_available()) {
        std::printf("cuda_bench: no CUDA device\n");
        return 1;
    }
    std::printf("# device: %s\n", cuda::device_name().c_str());
    using SeedNet = Sequential<Input<3, 32, 32>, Conv<3, 16, 3, 1, 1>, ReLU, MaxPool<2>, Conv<16, 32, 3, 1, 1>, ReLU,
                               MaxPool<2>, Flatten, Linear<32 * 8 * 8, 10>>;
    using FmnistNet = Sequential<Input<1, 28, 28>, Conv<1, 32, 5, 1, 2>, ReLU, MaxPool<2>, Conv<32, 64, 5, 1, 2>, ReLU,
                                 MaxPool<2>, Flatten, Linear<7 * 7 * 64, 1024>, ReLU, Dropout<40>, Linear<1024, 10>>;
    run<SeedNet>("seed_cnn");
    run<FmnistNet>("fmnist_cnn");
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_bench: %s\n", e.what());
    return 1;
}
