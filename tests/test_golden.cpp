// Golden tests: every layer's reference forward and backward against PyTorch 1.13
// (tests/data/golden, written by tools/make_reference.py), and Dropout by its properties.
//
// Tolerance. A value passes when |got - want| <= 1e-5 * max(|want|, s), where s is a scale floor:
//   - outputs, input gradients, running statistics: s = RMS of the wanted tensor;
//   - parameter gradients: s = RMS of the owning layer's whole gradient (weight and bias together).
// Why a floor: an entry that is a sum of terms of typical size T is only known to float32 precision
// relative to T, not to its own value; where the terms cancel (an output near zero, a Conv bias
// gradient in front of a training-mode BatchNorm, which is exactly zero mathematically) a purely
// relative test would demand more than float32 can hold. The RMS of the tensor is the typical size
// of its terms' results; for a layer's parameters, weight and bias gradients are sums over the same
// upstream gradient, so the layer's RMS is their common scale. The wanted values are PyTorch's
// float64 results from float32 inputs, rounded to float32; PyTorch's own float32 results stay within
// 3.1e-6 of them by this metric (tools/make_reference.py prints it per case).
// Set CTNN_GOLDEN_REPORT=1 to print the largest error of every comparison.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>

#include "golden_check.hpp"

using namespace ctnn;
using namespace ctnn_test;


TEST_CASE("golden: Conv matches PyTorch (stride, padding, kernel, non-square, batch 1 and 7)", "[golden]") {
    layer_case<Conv<3, 5, 3, 1, 1>, Shape<3, 7, 11>>("conv_c3o5_k3_s1_p1_7x11_n7");
    layer_case<Conv<5, 6, 3, 2, 1>, Shape<5, 7, 11>>("conv_c5o6_k3_s2_p1_7x11_n1");
    layer_case<Conv<3, 7, 5, 1, 2>, Shape<3, 9, 12>>("conv_c3o7_k5_s1_p2_9x12_n7");
    layer_case<Conv<2, 3, 5, 2, 0>, Shape<2, 11, 7>>("conv_c2o3_k5_s2_p0_11x7_n7");
    layer_case<Conv<13, 5, 1, 1, 0>, Shape<13, 7, 11>>("conv_c13o5_k1_s1_p0_7x11_n7");
    layer_case<Conv<5, 3, 1, 2, 0>, Shape<5, 7, 11>>("conv_c5o3_k1_s2_p0_7x11_n1");
    layer_case<Conv<4, 9, 3, 2, 2>, Shape<4, 8, 11>>("conv_c4o9_k3_s2_p2_8x11_n7");
    layer_case<Conv<3, 5, 3, 2, 0>, Shape<3, 8, 11>>("conv_c3o5_k3_s2_p0_8x11_n7");
    layer_case<Conv<3, 4, 3, 3, 1>, Shape<3, 10, 7>>("conv_c3o4_k3_s3_p1_10x7_n7");
    layer_case<Conv<3, 5, 2, 2, 1>, Shape<3, 7, 11>>("conv_c3o5_k2_s2_p1_7x11_n7");
    layer_case<Conv<1, 3, 5, 1, 2>, Shape<1, 5, 5>>("conv_c1o3_k5_s1_p2_5x5_n1");
}

TEST_CASE("golden: Linear matches PyTorch", "[golden]") {
    layer_case<Linear<37, 13>, Shape<37>>("linear_37_13_n7");
    layer_case<Linear<20, 7>, Shape<20>>("linear_20_7_n1");
}

TEST_CASE("golden: activations match PyTorch", "[golden]") {
    layer_case<ReLU, Shape<3, 5, 7>>("relu_3x5x7_n7");
    layer_case<ReLU, Shape<19>>("relu_19_n1");
    layer_case<LeakyReLU<>, Shape<3, 5, 7>>("leaky_relu_001_3x5x7_n7");
    layer_case<LeakyReLU<1, 5>, Shape<19>>("leaky_relu_02_19_n7");
    layer_case<Sigmoid, Shape<3, 5, 7>>("sigmoid_3x5x7_n7");
    layer_case<Sigmoid, Shape<19>>("sigmoid_19_n1");
    layer_case<Tanh, Shape<3, 5, 7>>("tanh_3x5x7_n7");
    layer_case<Tanh, Shape<19>>("tanh_19_n1");
    // NaN, +-inf and +-0 among random inputs
    layer_case<ReLU, Shape<19>>("relu_special_19_n2");
    layer_case<LeakyReLU<1, 5>, Shape<19>>("leaky_relu_02_special_19_n2");
    layer_case<Sigmoid, Shape<19>>("sigmoid_special_19_n2");
    layer_case<Tanh, Shape<19>>("tanh_special_19_n2");
}

TEST_CASE("golden: pooling and Flatten match PyTorch", "[golden]") {
    layer_case<MaxPool<2>, Shape<3, 7, 11>>("maxpool_k2_s2_3x7x11_n7");
    layer_case<MaxPool<3, 1>, Shape<3, 7, 11>>("maxpool_k3_s1_3x7x11_n1");
    layer_case<MaxPool<3, 2>, Shape<3, 8, 11>>("maxpool_k3_s2_3x8x11_n7");
    layer_case<MaxPool<3>, Shape<2, 10, 7>>("maxpool_k3_s3_2x10x7_n7");
    layer_case<MaxPool<2, 3>, Shape<2, 8, 11>>("maxpool_k2_s3_2x8x11_n7");
    layer_case<MaxPool<3, 1>, Shape<2, 6, 7>>("maxpool_ties_k3_s1_2x6x7_n7");  // ties: first maximum wins
    layer_case<MaxPool<2>, Shape<2, 6, 7>>("maxpool_ties_k2_s2_2x6x7_n7");
    layer_case<MaxPool<3, 1>, Shape<2, 6, 7>>("maxpool_nan_k3_s1_2x6x7_n2");   // NaN: output NaN, last NaN gets the gradient
    layer_case<AvgPool<2>, Shape<3, 7, 11>>("avgpool_k2_s2_3x7x11_n7");
    layer_case<AvgPool<3, 1>, Shape<3, 7, 11>>("avgpool_k3_s1_3x7x11_n1");
    layer_case<AvgPool<3, 2>, Shape<3, 8, 11>>("avgpool_k3_s2_3x8x11_n7");
    layer_case<AvgPool<2, 3>, Shape<2, 8, 11>>("avgpool_k2_s3_2x8x11_n7");
    // PyTorch: nn.AdaptiveAvgPool2d(1) followed by nn.Flatten()
    layer_case<GlobalAvgPool, Shape<5, 7, 11>>("global_avg_pool_5x7x11_n7");
    layer_case<GlobalAvgPool, Shape<3, 1, 1>>("global_avg_pool_3x1x1_n1");
    layer_case<Flatten, Shape<3, 4, 5>>("flatten_3x4x5_n7");
}

TEST_CASE("golden: BatchNorm matches PyTorch in training and inference", "[golden]") {
    // training: batch statistics, gradients, running_mean / running_var (unbiased) / num_batches_tracked
    layer_case<BatchNorm<5>, Shape<5, 7, 11>>("batchnorm2d_5x7x11_n7_train");
    layer_case<BatchNorm<3>, Shape<3, 4, 5>>("batchnorm2d_3x4x5_n1_train");
    layer_case<BatchNorm<13>, Shape<13>>("batchnorm1d_13_n7_train");
    // inference: running statistics
    layer_case<BatchNorm<5>, Shape<5, 7, 11>>("batchnorm2d_5x7x11_n7_eval", false);
    layer_case<BatchNorm<13>, Shape<13>>("batchnorm1d_13_n7_eval", false);

    // PyTorch refuses training statistics from one value per channel; so does ctnn.
    std::vector<float> x(13, 1.5f), y(13), p(26, 1.0f), b(27, 1.0f), saved(26);
    forward_args f;
    f.x = x.data(); f.y = y.data(); f.n = 1; f.params = p.data(); f.buffers = b.data(); f.saved = saved.data();
    f.training = true;
    CHECK_THROWS_AS((kernel_for<BatchNorm<13>, Shape<13>, reference>::forward(f)), ctnn::error);
    f.training = false;  // inference with one sample is fine
    CHECK_NOTHROW((kernel_for<BatchNorm<13>, Shape<13>, reference>::forward(f)));
}

TEST_CASE("golden: Softmax matches PyTorch (flat and over channels)", "[golden]") {
    layer_case<Softmax, Shape<10>>("softmax_10_n7");
    layer_case<Softmax, Shape<6, 5, 7>>("softmax_6x5x7_n7");
    layer_case<Softmax, Shape<10>>("softmax_special_10_n4");  // logits 30 apart, -inf entries, a NaN
}

TEST_CASE("golden: the seed CNN matches PyTorch (logits, dx, every parameter gradient)", "[golden]") {
    using SeedNet = Sequential<Input<3, 32, 32>,
        Conv<3, 16, 3, 1, 1>, ReLU, MaxPool<2>,
        Conv<16, 32, 3, 1, 1>, ReLU, MaxPool<2>,
        Flatten, Linear<32 * 8 * 8, 10>>;
    net_case<SeedNet>("net_seed_cnn_n5");  // 5 samples: more than one inference tile (4 today)
}

TEST_CASE("golden: a net with BatchNorm, Tanh, AvgPool, Sigmoid matches PyTorch", "[golden]") {
    using Net = Sequential<Input<3, 12, 10>,
        Conv<3, 6, 3, 1, 1>, BatchNorm<6>, Tanh, AvgPool<2>,
        Flatten, Linear<6 * 6 * 5, 9>, BatchNorm<9>, Sigmoid, Linear<9, 4>>;
    net_case<Net>("net_bn_tanh_avgpool_n5");
}

// ---- Dropout: PyTorch's random stream cannot be matched, so test what Dropout promises ----------

TEST_CASE("Dropout: identity in inference; in training a 0 or 1/(1-p) mask, p dropped, same mask backward", "[golden][dropout]") {
    constexpr std::size_t N = 20000, batch = 5;
    using Net = Sequential<Input<N>, Dropout<30>>;
    using K = kernel_for<Dropout<30>, Shape<N>, reference>;
    const float p = 0.3f, scale = 1.0f / (1.0f - p);

    rng data(11);
    std::vector<float> x(N * batch), dy(N * batch);
    for (auto& v : x) v = data.uniform(0.5f, 2.0f) * (data.uniform() < 0.5f ? -1.0f : 1.0f);
    for (auto& v : dy) v = data.uniform(0.5f, 2.0f);

    Net net(3);
    std::vector<float> out(N * batch);
    net.forward(x.data(), out.data(), batch);
    CHECK(out == x);  // inference: identity

    const float* y = net.forward_train(x.data(), batch);
    std::vector<float> dx(N * batch, std::numeric_limits<float>::quiet_NaN());
    net.backward(dy.data(), dx.data());
    std::size_t dropped = 0, bad_value = 0, bad_grad = 0;
    for (std::size_t i = 0; i < N * batch; ++i) {
        const bool drop = y[i] == 0.0f;
        dropped += drop;
        if (!drop && y[i] != x[i] * scale) ++bad_value;
        if (dx[i] != (drop ? 0.0f : dy[i] * scale)) ++bad_grad;  // backward applies the same mask
    }
    CHECK(bad_value == 0);
    CHECK(bad_grad == 0);
    const double frac = double(dropped) / double(N * batch);  // 100k draws: sd 0.0014, allow ~7 sd
    INFO("fraction dropped " << frac);
    CHECK(std::abs(frac - p) < 0.01);

    // Each sample gets its own mask (not one mask repeated over the batch).
    std::size_t same = 0;
    for (std::size_t i = 0; i < N; ++i) same += (y[i] == 0.0f) == (y[N + i] == 0.0f);
    CHECK(same < N * 9 / 10);

    // Reproducible: the same seed gives the same masks; another seed, other masks.
    const std::vector<float> first(y, y + N * batch);
    Net again(3), other(4);
    const float* y2 = again.forward_train(x.data(), batch);
    CHECK(std::equal(first.begin(), first.end(), y2));
    const float* y3 = other.forward_train(x.data(), batch);
    CHECK(!std::equal(first.begin(), first.end(), y3));

    // A second training forward draws a fresh mask.
    const float* y4 = net.forward_train(x.data(), batch);
    CHECK(!std::equal(first.begin(), first.end(), y4));

    // The kernel alone: the mask it saves is exactly 0 or 1/(1-p), and backward reads it.
    std::vector<float> yk(N), saved(N), dxk(N);
    rng g(5);
    forward_args f;
    f.x = x.data(); f.y = yk.data(); f.n = 1; f.saved = saved.data(); f.training = true; f.gen = &g;
    K::forward(f);
    bool mask_ok = true;
    for (std::size_t i = 0; i < N; ++i) mask_ok = mask_ok && (saved[i] == 0.0f || saved[i] == scale) && yk[i] == x[i] * saved[i];
    CHECK(mask_ok);
    backward_args b;
    b.x = x.data(); b.y = yk.data(); b.dy = dy.data(); b.dx = dxk.data(); b.n = 1; b.saved = saved.data();
    K::backward(b);
    bool grad_ok = true;
    for (std::size_t i = 0; i < N; ++i) grad_ok = grad_ok && dxk[i] == dy[i] * saved[i];
    CHECK(grad_ok);
}

TEST_CASE("Dropout<0> is the identity in training too", "[golden][dropout]") {
    using Net = Sequential<Input<64>, Dropout<0>>;
    Net net(1);
    std::vector<float> x(64 * 2), dy(64 * 2), dx(64 * 2);
    rng g(2);
    for (auto& v : x) v = g.uniform(-1.0f, 1.0f) + 2.0f;
    for (auto& v : dy) v = g.uniform(0.5f, 1.0f);
    const float* y = net.forward_train(x.data(), 2);
    CHECK(std::equal(x.begin(), x.end(), y));
    net.backward(dy.data(), dx.data());
    CHECK(dx == dy);
}
