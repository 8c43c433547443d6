// The CUDA backend's checks, shared by the device test (test_cuda_device.cu, nvcc, on a GPU) and
// the host test (tests/test_cuda_grid.cpp, g++, with the CUDA runtime emulated on the host:
// CTNN_CUDA_EMULATE). Whole nets against the CPU reference at 1e-4 on random inputs, with the
// device workspace poisoned with NaN first; training steps against ctnn's CPU step; CUDA Graph
// replay against eager launches; error paths. Include it in one translation unit.
//
// Tolerances, relative to max(1, |reference|), and why they are not the per-kernel 1e-5:
//   1e-4  whole nets (outputs, every gradient, running buffers, parameters after steps): the
//         device sums in other orders than the CPU reference (tiles, per-block partial sums of
//         dW over batch x positions, BatchNorm's statistics over the batch), its expf/erff differ
//         from the host's by a few ulp, and a net chains 5-16 layers, BatchNorm dividing by a
//         batch standard deviation that can be small; each layer's own kernels are held to 1e-5
//         (forward, dx) in tests/test_cuda_grid*.cpp. On a GPU every comparison prints the error
//         it measured (print_errors), so the margin under 1e-4 is on record, not assumed.
//   0     graph replay against eager launches: the same kernels in the same order, bit for bit.
#pragma once
#include <ctnn/backends/cuda/all.hpp>
#include <ctnn/ctnn.hpp>
#include <ctnn/train.hpp>

#include "../../examples/custom_layers.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ctnn_cuda_checks {

using namespace ctnn;
using fvec = std::vector<float>;

inline int failures = 0, checks = 0;
inline bool print_errors = false;  // print every comparison's measured error (the GPU test does)

void expect(bool ok, const std::string& what) {
    ++checks;
    if (!ok) {
        ++failures;
        std::printf("FAIL: %s\n", what.c_str());
    }
}

fvec random(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    rng g(seed);
    fvec v(n);
    for (auto& x : v) x = g.uniform(lo, hi);
    return v;
}
std::vector<std::int32_t> random_labels(std::size_t n, std::size_t classes, std::uint64_t seed) {
    rng g(seed);
    std::vector<std::int32_t> v(n);
    for (auto& x : v) x = std::int32_t(g.below(classes));
    return v;
}

/// Largest |a - b| / max(1, |b|); NaN anywhere counts as infinite.
double max_err(const float* a, const float* b, std::size_t n) {
    double m = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double d = std::abs(double(a[i]) - double(b[i])) / std::max(1.0, std::abs(double(b[i])));
        if (!(d == d)) return INFINITY;
        m = std::max(m, d);
    }
    return m;
}
void expect_close(const float* a, const float* b, std::size_t n, double tol, const std::string& what) {
    const double e = max_err(a, b, n);
    if (print_errors) std::printf("  %.2e (tol %.0e)  %s\n", e, tol, what.c_str());
    expect(e <= tol, what + ": max relative error " + std::to_string(e) + " > " + std::to_string(tol));
}

/// Forward (inference and training) and backward of a whole net on the GPU against the CPU
/// reference: outputs, input gradient path, every parameter gradient, running buffers.
template <class Net>
void check_net_parity(const char* name, std::size_t batch, std::uint64_t seed) {
    Net cpu(seed);
    cuda::device_net<Net> gpu(cpu, batch);
    std::printf("%s: plan %s\n", name, cuda::device_net<Net>::plan().c_str());
    const fvec x = random(batch * Net::input_size, seed + 1);

    fvec want(batch * Net::output_size), got(batch * Net::output_size, NAN);
    cpu.forward(x.data(), want.data(), batch);
    gpu.poison_workspace();
    gpu.forward(x.data(), got.data(), batch);
    expect_close(got.data(), want.data(), want.size(), 1e-4, std::string(name) + " inference (graph)");
    gpu.use_graphs(false);
    gpu.poison_workspace();
    gpu.forward(x.data(), got.data(), batch);
    expect_close(got.data(), want.data(), want.size(), 1e-4, std::string(name) + " inference (eager)");

    const float* yt = cpu.forward_train(x.data(), batch);
    gpu.poison_workspace();
    gpu.forward_train(x.data(), got.data(), batch);
    expect_close(got.data(), yt, want.size(), 1e-4, std::string(name) + " training forward");

    const fvec dout = random(batch * Net::output_size, seed + 2);
    cpu.zero_grad();
    cpu.backward(dout.data());
    gpu.zero_grad();
    gpu.backward(dout.data());
    fvec g(Net::grad_count);
    gpu.download_grads(g.data());
    for (std::size_t i = 0; i < Net::depth; ++i)
        if (Net::grad_sizes[i])
            expect_close(g.data() + Net::grad_offset[i], cpu.grads().data() + Net::grad_offset[i], Net::grad_sizes[i], 1e-4,
                         std::string(name) + " gradient of layer " + std::to_string(i));

    Net back(seed + 99);
    gpu.download(back);
    expect_close(back.buffers().data(), cpu.buffers().data(), Net::buffer_count, 1e-4, std::string(name) + " running buffers");
    expect_close(back.params().data(), cpu.params().data(), Net::param_count, 0.0, std::string(name) + " parameters round trip");
}

using SeedNet = Sequential<Input<3, 32, 32>, Conv<3, 16, 3, 1, 1>, ReLU, MaxPool<2>, Conv<16, 32, 3, 1, 1>, ReLU,
                           MaxPool<2>, Flatten, Linear<32 * 8 * 8, 10>>;
using FmnistNet = Sequential<Input<1, 28, 28>, Conv<1, 32, 5, 1, 2>, ReLU, MaxPool<2>, Conv<32, 64, 5, 1, 2>, ReLU,
                             MaxPool<2>, Flatten, Linear<7 * 7 * 64, 1024>, ReLU, Dropout<0>, Linear<1024, 10>>;
// Every other kernel, unfused: BatchNorm 2-d and 1-d, overlapping MaxPool, AvgPool, GlobalAvgPool,
// LeakyReLU, Sigmoid, Tanh, Softmax, a Frozen layer, a strided conv with no activation after it.
using MixedNet = Sequential<Input<3, 17, 15>, Conv<3, 6, 3, 2, 1>, BatchNorm<6>, LeakyReLU<1, 10>, MaxPool<3, 2>,
                            Frozen<Conv<6, 8, 1>>, Tanh, AvgPool<2, 1>, Conv<8, 12, 2>, Sigmoid, GlobalAvgPool,
                            Linear<12, 9>, BatchNorm<9>, Tanh, Linear<9, 7>, Softmax>;
// A conv + activation whose pool does not tile the map (not fused with the pool); Linear + Sigmoid fused.
using OddNet = Sequential<Input<2, 9, 9>, Conv<2, 5, 3, 1, 1>, ReLU, MaxPool<2>, Flatten, Linear<80, 33>, Sigmoid,
                          Linear<33, 4>>;

// An activation defined in user code (examples/custom_layers.hpp) whose gradient needs its input:
// it runs unfused, on the generic CUDA activation kernels, from its own math.
using SwishNet = Sequential<Input<2, 6, 6>, Conv<2, 3, 3, 1, 1>, my::Swish, Flatten, Linear<108, 5>, my::Swish, Linear<5, 3>>;

// Every block kind on the device: a ResNet basic block (identity shortcut, BatchNorm inside, the
// ReLU after the sum is the next layer), a stride-2 block with a projection shortcut, an inverted
// residual with a depthwise Conv and SqueezeExcite (its kernel's scratch passes through the
// block), and a Concat of a 1x1 Conv and a Chain whose Conv + ReLU fuse, nested in a Residual.
using BlocksNet =
    Sequential<Input<3, 9, 7>, Conv<3, 8, 3, 1, 1>, BatchNorm<8>, ReLU,
               Residual<Chain<Conv<8, 8, 3, 1, 1>, BatchNorm<8>, ReLU, Conv<8, 8, 3, 1, 1>, BatchNorm<8>>>, ReLU,
               Residual<Chain<Conv<8, 12, 3, 2, 1>, BatchNorm<12>, ReLU, Conv<12, 12, 3, 1, 1>>, Chain<Conv<8, 12, 1, 2, 0>, BatchNorm<12>>>,
               Residual<Chain<Conv<12, 24, 1>, Hardswish, Conv<24, 24, 3, 1, 1, 1, 24>, SqueezeExcite<24, 8>, Conv<24, 12, 1>, BatchNorm<12>>>,
               Residual<Concat<Conv<12, 5, 1>, Chain<Conv<12, 7, 3, 1, 1>, ReLU>>>, SiLU, GlobalAvgPool, Linear<12, 5>>;

/// Training steps on the GPU (graph replay) against ctnn's CPU step (CrossEntropy + SGD with
/// momentum), then the loss of a longer run going down.
template <class Net>
void check_training(const char* name, std::size_t batch, std::uint64_t seed, int fall_steps) {
    Net cpu(seed);
    cuda::device_net<Net> gpu(cpu, batch);
    const cuda::sgd opt{.lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-4f};
    gpu.set_optimizer(opt);
    SGD cpu_opt(cpu, opt.lr, {.momentum = opt.momentum, .weight_decay = opt.weight_decay});
    CrossEntropy ce;
    fvec dlogits(batch * Net::output_size);
    for (int step = 0; step < 3; ++step) {
        const fvec x = random(batch * Net::input_size, seed + 10 + step);
        const auto labels = random_labels(batch, Net::output_size, seed + 20 + step);
        const float* y = cpu.forward_train(x.data(), batch);
        const float want = ce(y, labels.data(), batch, Net::output_size, dlogits.data());
        cpu.zero_grad();
        cpu.backward(dlogits.data());
        cpu_opt.step();
        gpu.train_step(x.data(), labels.data(), batch);
        const float got = gpu.loss();
        expect(std::abs(got - want) <= 1e-4f * std::max(1.0f, std::abs(want)),
               std::string(name) + " loss of step " + std::to_string(step) + ": " + std::to_string(got) + " vs " + std::to_string(want));
    }
    Net after(0);
    gpu.download(after);
    expect_close(after.params().data(), cpu.params().data(), Net::param_count, 1e-4, std::string(name) + " parameters after 3 SGD steps");

    // a fixed batch, fall_steps Adam steps: the loss must fall
    if (fall_steps == 0) return;
    const fvec x = random(batch * Net::input_size, seed + 50);
    const auto labels = random_labels(batch, Net::output_size, seed + 51);
    gpu.set_optimizer(cuda::adam{.lr = 1e-2f});
    gpu.train_step(x.data(), labels.data(), batch);
    const float first = gpu.loss();
    for (int i = 0; i < fall_steps; ++i) gpu.train_step(x.data(), labels.data(), batch);
    const float last = gpu.loss();
    expect(last < 0.5f * first, std::string(name) + " loss on a fixed batch falls: " + std::to_string(first) + " -> " + std::to_string(last));
}

/// Captured steps must equal eager launches bit for bit (same kernels, no atomics), for each
/// optimizer, including an odd last batch and a learning-rate change between replays.
template <class Net>
void check_graph_equals_eager(const char* name, std::size_t batch) {
    for (int kind = 0; kind < 3; ++kind) {
        Net host(7);
        cuda::device_net<Net> a(host, batch), b(host, batch);
        b.use_graphs(false);
        const auto set = [&](float lr) {
            if (kind == 0) { a.set_optimizer(cuda::sgd{.lr = lr, .momentum = 0.9f, .nesterov = true}); b.set_optimizer(cuda::sgd{.lr = lr, .momentum = 0.9f, .nesterov = true}); }
            if (kind == 1) { a.set_optimizer(cuda::adam{.lr = lr, .weight_decay = 1e-3f}); b.set_optimizer(cuda::adam{.lr = lr, .weight_decay = 1e-3f}); }
            if (kind == 2) { a.set_optimizer(cuda::adamw{.lr = lr}); b.set_optimizer(cuda::adamw{.lr = lr}); }
        };
        set(1e-3f);
        for (int s = 0; s < 5; ++s) {
            const std::size_t n = s == 4 ? batch - 3 : batch;
            if (s == 2) set(5e-4f);
            const fvec x = random(n * Net::input_size, 300 + s);
            const auto labels = random_labels(n, Net::output_size, 400 + s);
            a.train_step(x.data(), labels.data(), n);
            b.train_step(x.data(), labels.data(), n);
        }
        Net pa(0), pb(0);
        a.download(pa);
        b.download(pb);
        expect_close(pa.params().data(), pb.params().data(), Net::param_count, 0.0,
                     std::string(name) + " graph replay == eager, optimizer " + std::to_string(kind));
        expect(a.loss() == b.loss(), std::string(name) + " graph loss == eager loss");
    }
}

void check_dropout() {
    using Net = Sequential<Input<4096>, Dropout<25>, Linear<4096, 3>>;
    Net host(1);
    cuda::device_net<Net> gpu(host, 8);
    const fvec x = random(8 * 4096, 5);
    fvec y(8 * 3), y_eval(8 * 3);
    gpu.forward(x.data(), y_eval.data(), 8);
    fvec want(8 * 3);
    host.forward(x.data(), want.data(), 8);
    expect_close(y_eval.data(), want.data(), want.size(), 1e-4, "dropout is the identity in inference");
    gpu.forward_train(x.data(), y.data(), 8);
    expect(max_err(y.data(), want.data(), want.size()) > 1e-3, "dropout changes the training forward");
}

/// A step on a batch placed in the device buffers equals a step on the same batch from the host.
void check_resident_batch() {
    SeedNet host(3);
    cuda::device_net<SeedNet> a(host, 8), b(host, 8);
    const fvec x = random(8 * SeedNet::input_size, 31);
    const auto labels = random_labels(8, 10, 32);
    for (int s = 0; s < 2; ++s) {
        a.train_step(x.data(), labels.data(), 8);
        b.load_batch(x.data(), labels.data(), 8);
        b.train_step_on_device(8);
    }
    SeedNet pa(0), pb(0);
    a.download(pa);
    b.download(pb);
    expect_close(pa.params().data(), pb.params().data(), SeedNet::param_count, 0.0, "train_step_on_device == train_step");
    expect(a.loss() == b.loss(), "train_step_on_device loss == train_step loss");
}

void check_errors() {
    SeedNet host(1);
    cuda::device_net<SeedNet> gpu(host, 4);
    const fvec x = random(4 * SeedNet::input_size, 1);
    std::vector<std::int32_t> bad{0, 1, 10, 2};
    bool threw = false;
    try { gpu.train_step(x.data(), bad.data(), 4); } catch (const error& e) { threw = std::string(e.what()).find("label 10 at batch index 2") != std::string::npos; }
    expect(threw, "a label outside [0, 10) is refused, naming it");
    threw = false;
    try { gpu.train_step(x.data(), bad.data(), 5); } catch (const error& e) { threw = std::string(e.what()).find("max_batch") != std::string::npos; }
    expect(threw, "a batch over max_batch is refused");
}

/// Every check; `quick` (the host emulation) uses smaller batches and fewer steps. Returns the
/// number of failed checks.
int run_all_checks(bool quick) {
    check_net_parity<SeedNet>("seed CNN", quick ? 3 : 5, 1);
    check_net_parity<FmnistNet>("Fashion-MNIST convnet", quick ? 2 : 3, 2);
    check_net_parity<MixedNet>("mixed layers", 4, 3);
    check_net_parity<OddNet>("odd sizes", 7, 4);
    check_net_parity<SwishNet>("user activation", 5, 8);
    check_training<SeedNet>("seed CNN", quick ? 4 : 32, 5, quick ? 0 : 60);
    check_training<OddNet>("odd sizes", 13, 6, 60);
    check_graph_equals_eager<SeedNet>("seed CNN", quick ? 5 : 16);
    check_net_parity<BlocksNet>("blocks", 3, 12);
    check_net_parity<BlocksNet>("blocks, one sample", 1, 13);  // (Concat's branches write into y)
    check_training<BlocksNet>("blocks", 6, 14, quick ? 0 : 60);
    check_graph_equals_eager<BlocksNet>("blocks", 5);
    check_dropout();
    check_resident_batch();
    check_errors();
    return failures;
}

}  // namespace ctnn_cuda_checks
