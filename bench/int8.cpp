// int8 inference against ctnn's fp32, on the two Fashion-MNIST nets (examples/fashion_mnist.cpp
// and examples/fashion_resnet.cpp), from their trained checkpoints:
//
//   ctnn_bench_int8 FASHION_MNIST_CKPT FASHION_RESNET_CKPT [CALIB=1000] [REPEATS=7] [EXPORT_DIR]
//
// Prints, per net: test accuracy fp32 / int8 min-max / int8 percentile 99.99 (calibrated on the
// first CALIB training images), then the median forward time over REPEATS interleaved rounds of
// fp32 and int8 at batch 1 and 256, with 1 and 2 threads, and the ratio. With EXPORT_DIR (and
// built with -DCTNN_INT8_ONNX, which needs libonnx-dev: see docs/deploy.md) it also writes each
// net as ONNX, the calibration images and the test set as raw float32 / int32 files, for
// bench/int8_ort.py (onnxruntime's static QDQ quantization of the same models).
#include <ctnn/ctnn.hpp>
#include <ctnn/data.hpp>
#include <ctnn/quant.hpp>
#include <ctnn/train.hpp>
#ifdef CTNN_INT8_ONNX
#include <ctnn/io/onnx.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "fashion_nets.hpp"

using namespace ctnn;

using ctnn_bench::fashion::FashionNet;
using ctnn_bench::fashion::FashionResNet;

namespace {

template <class F>
double accuracy(F&& forward, const data::dataset& test, std::size_t out) {
    constexpr std::size_t B = 256;
    std::vector<float> y(B * out);
    std::size_t right = 0;
    for (std::size_t b = 0; b < test.count; b += B) {
        const std::size_t n = std::min(B, test.count - b);
        forward(test.images.data() + b * 784, y.data(), n);
        for (std::size_t i = 0; i < n; ++i)
            right += std::size_t(std::max_element(y.data() + i * out, y.data() + (i + 1) * out) - (y.data() + i * out)) ==
                     std::size_t(test.labels[b + i]);
    }
    return 100.0 * double(right) / double(test.count);
}

template <class F>
double seconds(F&& f, std::size_t reps) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < reps; ++i) f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(reps);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

void write_raw(const std::string& path, const void* p, std::size_t bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(static_cast<const char*>(p), std::streamsize(bytes));
    if (!f) throw error("ctnn_bench_int8: cannot write " + path);
}

template <class Net, template <class> class Opt>
void run(const char* label, const std::string& ckpt, const data::dataset& train, const data::dataset& test, std::size_t calib,
         std::size_t repeats, const std::string& export_dir) {
    Net net(1);
    // (the optimizer of the example's recipe: a checkpoint holds its state and is refused by another)
    auto opt = [&] {
        if constexpr (std::is_same_v<Opt<Net>, SGD<Net>>) return SGD<Net>(net, 0.1f, {.momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = true});
        else return Opt<Net>(net, 2e-3f);
    }();
    load_checkpoint(ckpt, net, opt);
    auto q = quantize(net, train.images.data(), calib);
    auto qp = quantize(net, train.images.data(), calib, calibrate::percentile{99.99});
    if (label == std::string("fashion_resnet")) std::cout << q.summary();
    const double a32 = accuracy([&](const float* x, float* y, std::size_t n) { net.forward(x, y, n); }, test, 10);
    const double a8 = accuracy([&](const float* x, float* y, std::size_t n) { q.forward(x, y, n); }, test, 10);
    const double a8p = accuracy([&](const float* x, float* y, std::size_t n) { qp.forward(x, y, n); }, test, 10);
    std::printf("%s accuracy (10000 test images, calibration %zu): fp32 %.2f%%  int8 minmax %.2f%%  int8 percentile99.99 %.2f%%\n",
                label, calib, a32, a8, a8p);
    std::vector<float> y(256 * 10);
    for (std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        for (std::size_t batch : {std::size_t(1), std::size_t(256)}) {
            const std::size_t reps = batch == 1 ? 400 : 4;
            std::vector<double> t32, t8;
            net.forward(test.images.data(), y.data(), batch);
            q.forward(test.images.data(), y.data(), batch);
            for (std::size_t r = 0; r < repeats; ++r) {
                t32.push_back(seconds([&] { net.forward(test.images.data(), y.data(), batch); }, reps));
                t8.push_back(seconds([&] { q.forward(test.images.data(), y.data(), batch); }, reps));
            }
            const double m32 = median(t32), m8 = median(t8);
            std::printf("%s threads %zu batch %3zu: fp32 %9.1f us  int8 %9.1f us  speed-up %.2fx\n", label, threads, batch, m32 * 1e6,
                        m8 * 1e6, m32 / m8);
        }
    }
    set_num_threads(2);
    if (!export_dir.empty()) {
#ifdef CTNN_INT8_ONNX
        save_onnx(net, export_dir + "/" + label + ".onnx");
#else
        throw error("ctnn_bench_int8: built without -DCTNN_INT8_ONNX, cannot export ONNX");
#endif
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || argc > 6) {
        std::cerr << "usage: " << argv[0] << " FASHION_MNIST_CKPT FASHION_RESNET_CKPT [CALIB=1000] [REPEATS=7] [EXPORT_DIR]\n";
        return 2;
    }
    try {
        const std::size_t calib = argc > 3 ? std::stoul(argv[3]) : 1000;
        const std::size_t repeats = argc > 4 ? std::stoul(argv[4]) : 7;
        const std::string export_dir = argc > 5 ? argv[5] : "";
        data::dataset train = data::load_mnist_dir(data::fashion_mnist_default_dir, true);
        data::dataset test = data::load_mnist_dir(data::fashion_mnist_default_dir, false);
        data::normalize(train, {0.2860f}, {0.3530f});
        data::normalize(test, {0.2860f}, {0.3530f});
        if (calib == 0 || calib > train.count) throw error("ctnn_bench_int8: CALIB must be 1 .. 60000");
        std::cout << "int8 kernels: " << int8::simd::name << "\n";
        run<FashionNet, Adam>("fashion_mnist", argv[1], train, test, calib, repeats, export_dir);
        run<FashionResNet, SGD>("fashion_resnet", argv[2], train, test, calib, repeats, export_dir);
        if (!export_dir.empty()) {
            write_raw(export_dir + "/calib.f32", train.images.data(), calib * 784 * sizeof(float));
            write_raw(export_dir + "/test.f32", test.images.data(), test.images.size() * sizeof(float));
            write_raw(export_dir + "/test_labels.i32", test.labels.data(), test.labels.size() * sizeof(std::int32_t));
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "ctnn_bench_int8: " << e.what() << "\n";
        return 1;
    }
}
