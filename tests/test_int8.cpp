// int8 inference (quant/, backends/int8/): the GEMM kernels against the scalar reference at
// awkward sizes, the Conv node against a direct integer convolution, whole nets (reference and
// SIMD kernels give the same integers with 1, 2 and 3 threads, close to fp32), the fp32
// fallback, no heap allocation after warm_up, and save/load.
#include <catch2/catch.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/quant.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "heap_counter.hpp"

using namespace ctnn;

namespace {

std::vector<float> uniform(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    rng g(seed);
    std::vector<float> v(n);
    for (float& x : v) x = g.uniform(lo, hi);
    return v;
}

/// Random GEMM operands: rows a [P][Kp], weights q [Co][K] in [-63, 63], bias, multipliers.
struct gemm_case {
    std::size_t P, Co, K, Kp;
    std::vector<std::uint8_t> a;
    std::vector<std::int8_t> q, packed;
    std::vector<std::int32_t> bias;
    std::vector<float> mult;
    gemm_case(std::size_t p, std::size_t co, std::size_t k, std::uint64_t seed)
        : P(p), Co(co), K(k), Kp(int8::round_up(k, 4)), a(p * Kp + 64), q(co * k), packed(int8::round_up(co, 8) * Kp),
          bias(int8::round_up(co, 8)), mult(int8::round_up(co, 8)) {
        rng g(seed);
        for (auto& x : a) x = std::uint8_t(g.uniform(0.0f, 255.99f));  // (the k >= K tail too: its weights are 0)
        for (auto& x : q) x = std::int8_t(std::lround(g.uniform(-63.0f, 63.0f)));
        for (std::size_t c = 0; c < Co; ++c) bias[c] = std::int32_t(g.uniform(-20000.0f, 20000.0f)), mult[c] = g.uniform(1e-4f, 4e-3f);
        int8::pack_weights(q.data(), Co, K, Kp, packed.data());
    }
    int8::gemm_args args(std::uint8_t* y, float* yf, bool relu) const {
        int8::gemm_args r;
        r.a = a.data();
        r.lda = Kp;
        r.P = P;
        r.Kp = Kp;
        r.w = packed.data();
        r.Co = Co;
        r.bias = bias.data();
        r.mult = mult.data();
        r.zp = relu ? 0 : 37;
        r.lo = relu ? 0.0f : -37.0f;
        r.hi = 255.0f - float(r.zp);
        r.y = y;
        r.yf = yf;
        r.ldy = Co;
        return r;
    }
};

}  // namespace

TEST_CASE("int8 GEMM: the SIMD kernel gives the reference's integers at awkward sizes", "[int8]") {
    INFO("kernel: " << int8::simd::name);
    std::uint64_t seed = 1;
    for (std::size_t P : {1, 3, 5, 8, 13})
        for (std::size_t Co : {1, 7, 9, 16, 17, 33})
            for (std::size_t K : {1, 9, 12, 37, 144}) {
                const gemm_case c(P, Co, K, seed++);
                for (bool relu : {false, true}) {
                    std::vector<std::uint8_t> y1(P * Co, 1), y2(P * Co, 2);
                    int8::reference::gemm(c.args(y1.data(), nullptr, relu));
                    int8::simd::gemm(c.args(y2.data(), nullptr, relu));
                    INFO("P " << P << " Co " << Co << " K " << K << " relu " << relu);
                    CHECK(y1 == y2);
                }
                std::vector<float> f1(P * Co, 1.0f), f2(P * Co, 2.0f);
                int8::reference::gemm(c.args(nullptr, f1.data(), false));
                int8::simd::gemm(c.args(nullptr, f2.data(), false));
                CHECK(f1 == f2);
            }
}

TEST_CASE("int8 GEMM: the reference computes the documented formula", "[int8]") {
    const gemm_case c(3, 5, 7, 99);
    std::vector<std::uint8_t> y(15);
    int8::reference::gemm(c.args(y.data(), nullptr, false));
    for (std::size_t p = 0; p < 3; ++p)
        for (std::size_t o = 0; o < 5; ++o) {
            long acc = c.bias[o];
            for (std::size_t k = 0; k < 7; ++k) acc += long(c.a[p * c.Kp + k]) * c.q[o * 7 + k];
            const double r = std::clamp(std::nearbyint(double(float(acc) * c.mult[o])), -37.0, 218.0) + 37.0;
            CHECK(int(y[p * 5 + o]) == int(r));
        }
}

TEST_CASE("int8 quantize: the vector path gives the scalar codes (ties, both clamps)", "[int8]") {
    std::vector<float> x(203);
    rng g(41);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = i % 5 == 0 ? float(int(i) - 100) * 0.5f : g.uniform(-3.0f, 3.0f);  // halves: ties
    for (float inv : {1.0f, 37.5f, 200.0f})
        for (float zp : {0.0f, 13.0f, 128.0f}) {
            std::vector<std::uint8_t> q(x.size() + 1, 7);
            quant::quantize_span(x.data(), q.data() + 1, x.size(), inv, zp);  // (unaligned)
            std::size_t wrong = 0;
            for (std::size_t i = 0; i < x.size(); ++i) wrong += q[i + 1] != quant::quantize_one(x[i], inv, zp);
            INFO("inv " << inv << " zp " << zp);
            CHECK(wrong == 0);
            CHECK(q[0] == 7);
        }
}

namespace {

/// conv_node<L> on In against a direct integer convolution of the same quantized parameters
/// (no im2col): the node's im2col, padding, groups and GEMM together.
template <class L, dims In, class Kern = int8::simd>
void check_conv_node() {
    using N = quant::conv_node<L, In, false, false, Kern>;
    constexpr dims out = N::out;
    N node;
    const auto w = uniform(param_floats<L>(In), 5);
    const auto x = uniform(4 * In.size(), 6);
    std::vector<float> y(4 * out.size());
    for (int pass : {0})
        node.calibrate(w.data(), nullptr, x.data(), y.data(), 4, {pass});
    const quant::qparams in_qp{0.01f, 17};
    node.finalize(w.data(), nullptr, in_qp, calibrate::minmax{});
    std::vector<std::uint8_t> qx(quant::slot_bytes(In.size())), qy(out.size()), scratch(N::work + 64);
    rng g(7);
    for (std::size_t i = 0; i < In.size(); ++i) qx[i] = std::uint8_t(g.uniform(0.0f, 255.99f));
    node.run(qx.data(), qy.data(), scratch.data());
    const std::size_t C = In.d[0], H = In.d[1], W = In.d[2], Co = out.d[0], OH = out.d[1], OW = out.d[2];
    const std::size_t G = L::groups, Cg = C / G, KS = L::kernel_size;
    const auto& q = node.w;
    std::size_t wrong = 0;
    for (std::size_t o = 0; o < Co; ++o)
        for (std::size_t oh = 0; oh < OH; ++oh)
            for (std::size_t ow = 0; ow < OW; ++ow) {
                long acc = q.bias[o];
                const std::size_t gi = o / (Co / G);
                for (std::size_t kh = 0; kh < KS; ++kh)
                    for (std::size_t kw = 0; kw < KS; ++kw)
                        for (std::size_t ci = 0; ci < Cg; ++ci) {
                            const long ih = long(oh * L::stride + kh * L::dilation) - long(L::padding);
                            const long iw = long(ow * L::stride + kw * L::dilation) - long(L::padding);
                            const bool pad = ih < 0 || iw < 0 || ih >= long(H) || iw >= long(W);
                            const long v = pad ? in_qp.zero_point : qx[(std::size_t(ih) * W + std::size_t(iw)) * C + gi * Cg + ci];
                            acc += v * q.q[o * q.K + (kh * KS + kw) * Cg + ci];
                        }
                const float f = float(acc) * q.mult[o];
                const int r = int(std::nearbyint(std::min(std::max(f, -float(q.out.zero_point)), 255.0f - float(q.out.zero_point)))) + q.out.zero_point;
                wrong += qy[(oh * OW + ow) * Co + o] != r;
            }
    CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("int8 Conv node: im2col, padding, stride, dilation, groups against a direct convolution", "[int8]") {
    check_conv_node<Conv<5, 11, 3, 2, 1>, chw(5, 9, 7)>();
    check_conv_node<Conv<3, 9, 3, 1, 1>, chw(3, 5, 6)>();
    check_conv_node<Conv<6, 9, 3, 1, 2, 2, 3>, chw(6, 7, 8)>();  // dilation 2, 3 groups
    check_conv_node<Conv<4, 4, 3, 1, 1, 1, 4>, chw(4, 5, 5)>();  // depthwise
    check_conv_node<Conv<8, 5, 1>, chw(8, 3, 5)>();              // 1x1: no im2col
    check_conv_node<Conv<7, 10, 1, 2, 0>, chw(7, 5, 5)>();       // 1x1 stride 2: in place, unpadded
    check_conv_node<Conv<1, 16, 3, 1, 1>, chw(1, 7, 9)>();       // 1 channel: kernel rows of 3 bytes, read as 4
    check_conv_node<Conv<6, 9, 5, 3, 2>, chw(6, 11, 8)>();       // 5x5 stride 3
    check_conv_node<Conv<1, 16, 3, 1, 1>, chw(1, 7, 9), int8::reference>();
    check_conv_node<Conv<5, 11, 3, 2, 1>, chw(5, 9, 7), int8::reference>();
    check_conv_node<Conv<7, 10, 1, 2, 0>, chw(7, 5, 5), int8::reference>();
}

namespace {

// Channels not multiples of 8, odd sizes, every int8 node kind, and a Tanh (the fp32 fallback).
using OddNet = Sequential<Input<3, 11, 9>, Conv<3, 10, 3, 1, 1>, BatchNorm<10>, ReLU, MaxPool<2>,
                          Residual<Chain<Conv<10, 10, 3, 1, 1>, BatchNorm<10>, ReLU, Conv<10, 10, 3, 1, 1>, BatchNorm<10>>>, ReLU,
                          Residual<Chain<Conv<10, 13, 3, 2, 1>, BatchNorm<13>>, Chain<Conv<10, 13, 1, 2, 0>, BatchNorm<13>>>, Tanh,
                          AvgPool<2, 1>, GlobalAvgPool, Linear<13, 7>>;

template <class Net>
Net trained_like(std::uint64_t seed) {
    Net net(seed);
    // BatchNorm running statistics away from (0, 1), as after training
    auto b = net.buffers();
    rng g(seed + 1);
    net.for_each_tensor([&](const std::string& name, const tensor_desc& d, float* data, tensor_kind k) {
        if (k != tensor_kind::buffer) return;
        for (std::size_t i = 0; i < d.size(); ++i)
            data[i] = name.ends_with("running_var") ? g.uniform(0.5f, 2.0f) : name.ends_with("running_mean") ? g.uniform(-0.3f, 0.3f) : data[i];
    });
    (void)b;
    return net;
}

}  // namespace

TEST_CASE("int8 net: reference and SIMD kernels agree bit for bit; 1, 2, 3 threads; close to fp32", "[int8]") {
    OddNet net = trained_like<OddNet>(3);
    const auto calib = uniform(40 * OddNet::input_size, 11);
    const int8_net<OddNet, int8::reference> ref(net, calib.data(), 40);
    const int8_net<OddNet, int8::simd> fast(net, calib.data(), 40);
    const auto x = uniform(5 * OddNet::input_size, 12);
    std::vector<float> y32(5 * 7), yr(5 * 7);
    net.forward(x.data(), y32.data(), 5);
    ref.forward(x.data(), yr.data(), 5);
    const std::size_t before = num_threads();
    for (std::size_t threads : {1, 2, 3}) {
        set_num_threads(threads);
        for (std::size_t batch : {1, 3, 5}) {
            std::vector<float> yf(batch * 7, -1.0f);
            fast.forward(x.data(), yf.data(), batch);
            INFO("threads " << threads << " batch " << batch);
            CHECK(std::vector<float>(yr.begin(), yr.begin() + batch * 7) == yf);
        }
    }
    set_num_threads(before);
    float range = 0.0f, err = 0.0f;
    for (std::size_t i = 0; i < y32.size(); ++i) range = std::max(range, std::fabs(y32[i])), err = std::max(err, std::fabs(y32[i] - yr[i]));
    INFO("largest |fp32 - int8| " << err << " of logits up to " << range);
    CHECK(err < 0.1f * range);
    CHECK(err > 0.0f);  // (it is quantized)
}

namespace {

/// Fused nets and the same nets with an Identity between each Conv (+ ReLU) and its pooling,
/// which keeps the pooling a node of its own: odd sizes, pool 2 and 3, stride below, equal to
/// and above the window, max and average, the in-place, direct and im2col Conv paths, and a
/// grouped Conv (never fused).
using FusedA = Sequential<Input<3, 11, 9>, Conv<3, 10, 3, 1, 1>, BatchNorm<10>, ReLU, MaxPool<2>, Conv<10, 12, 3, 1, 1>, ReLU,
                          MaxPool<3, 2>, Flatten, Linear<12 * 2 * 1, 7>>;
using PlainA = Sequential<Input<3, 11, 9>, Conv<3, 10, 3, 1, 1>, BatchNorm<10>, ReLU, Identity, MaxPool<2>, Conv<10, 12, 3, 1, 1>,
                          ReLU, Identity, MaxPool<3, 2>, Flatten, Identity, Linear<12 * 2 * 1, 7>>;  // (and Flatten + Linear)
using FusedB = Sequential<Input<1, 15, 17>, Conv<1, 16, 3, 1, 1>, ReLU, MaxPool<3>, Conv<16, 8, 1>, MaxPool<2, 1>,
                          Conv<8, 8, 3, 1, 2, 2>, ReLU, AvgPool<2, 3>, Flatten, Linear<8, 7>>;
using PlainB = Sequential<Input<1, 15, 17>, Conv<1, 16, 3, 1, 1>, ReLU, Identity, MaxPool<3>, Conv<16, 8, 1>, Identity, MaxPool<2, 1>,
                          Conv<8, 8, 3, 1, 2, 2>, ReLU, Identity, AvgPool<2, 3>, Flatten, Linear<8, 7>>;
using FusedC = Sequential<Input<4, 13, 10>, Conv<4, 9, 3, 2, 1>, AvgPool<2>, Conv<9, 6, 3, 1, 1, 1, 3>, ReLU, MaxPool<2>, Flatten,
                          Linear<6 * 1 * 1, 7>>;
using PlainC = Sequential<Input<4, 13, 10>, Conv<4, 9, 3, 2, 1>, Identity, AvgPool<2>, Conv<9, 6, 3, 1, 1, 1, 3>, ReLU, MaxPool<2>,
                          Flatten, Linear<6 * 1 * 1, 7>>;

// 2x2 stride-2 MaxPool (taken in the GEMM's accumulators) after each Conv path: in place and
// padded, direct (1x1), im2col (dilation 2); 16 and 17 channels (16-channel stores and a tail)
using FusedD = Sequential<Input<2, 9, 11>, Conv<2, 16, 3, 1, 1>, ReLU, MaxPool<2>, Conv<16, 17, 1>, MaxPool<2>, Conv<17, 8, 3, 1, 2, 2>,
                          BatchNorm<8>, ReLU, MaxPool<2>, Flatten, Linear<8, 7>>;
using PlainD = Sequential<Input<2, 9, 11>, Conv<2, 16, 3, 1, 1>, ReLU, Identity, MaxPool<2>, Conv<16, 17, 1>, Identity, MaxPool<2>,
                          Conv<17, 8, 3, 1, 2, 2>, BatchNorm<8>, ReLU, Identity, MaxPool<2>, Flatten, Linear<8, 7>>;

template <class Fused, class Plain>
void check_fused_pool(std::uint64_t seed) {
    static_assert(Fused::param_count == Plain::param_count && Fused::buffer_count == Plain::buffer_count);
    const Fused f = trained_like<Fused>(seed);
    Plain p(1);
    std::copy(f.params().begin(), f.params().end(), p.params().begin());
    std::copy(f.buffers().begin(), f.buffers().end(), p.buffers().begin());
    const auto calib = uniform(20 * Fused::input_size, seed + 10);
    const int8_net<Fused, int8::reference> fr(f, calib.data(), 20);
    const int8_net<Plain, int8::reference> pr(p, calib.data(), 20);
    const int8_net<Fused, int8::simd> fs(f, calib.data(), 20);
    const int8_net<Plain, int8::simd> ps(p, calib.data(), 20);
    const std::size_t out = Fused::output_size;
    const auto x = uniform(5 * Fused::input_size, seed + 20);
    std::vector<float> want(5 * out);
    pr.forward(x.data(), want.data(), 5);
    const std::size_t before = num_threads();
    for (std::size_t threads : {1, 2, 3}) {
        set_num_threads(threads);
        for (std::size_t batch : {1, 3, 5}) {
            INFO("threads " << threads << " batch " << batch);
            const std::vector<float> w(want.begin(), want.begin() + batch * out);
            auto same = [&](const auto& net, const char* which) {
                std::vector<float> y(batch * out, -1.0f);
                net.forward(x.data(), y.data(), batch);
                INFO(which);
                CHECK(y == w);
            };
            same(fr, "fused, reference kernel");
            same(fs, "fused, SIMD kernel");
            same(ps, "unfused, SIMD kernel");
        }
    }
    set_num_threads(before);
    CHECK(int8_net<Fused>::summary().find("(fused)") != std::string::npos);
    CHECK(int8_net<Plain>::summary().find("(fused)") == std::string::npos);
}

}  // namespace

TEST_CASE("int8 net: a pooling fused into the Conv gives the unfused codes bit for bit", "[int8]") {
    check_fused_pool<FusedA, PlainA>(21);
    check_fused_pool<FusedB, PlainB>(22);
    check_fused_pool<FusedC, PlainC>(23);
    check_fused_pool<FusedD, PlainD>(24);
    const std::string s = int8_net<FusedB>::summary();
    CHECK(s.find("Conv(1->16, k3 s1 p1) + ReLU + MaxPool(k3 s3) (fused)  [int8]") != std::string::npos);
    CHECK(s.find("Conv(8->8, k3 s1 p2 d2) + ReLU + AvgPool(k2 s3) (fused)  [int8]") != std::string::npos);
    CHECK(int8_net<FusedC>::summary().find("g3) + ReLU  [int8]") != std::string::npos);  // grouped: not fused
}

TEST_CASE("int8 net: Flatten + Linear reads NHWC; summary and saved names keep the Linear's index", "[int8]") {
    const std::string s = int8_net<FusedA>::summary();
    CHECK(s.find("  7         Flatten (read as NHWC by the Linear)  [int8]\n  8         Linear(24->7)  [int8]") != std::string::npos);
    CHECK(int8_net<PlainA>::summary().find("Flatten  [int8]") != std::string::npos);
    const FusedA net = trained_like<FusedA>(31);
    const auto calib = uniform(8 * FusedA::input_size, 32);
    auto q = quantize(net, calib.data(), 8);
    const std::string path = (std::filesystem::temp_directory_path() / ("ctnn_int8_fl_" + std::to_string(::getpid()) + ".safetensors")).string();
    q.save(path);
    const auto f = safetensors::file::read(path);
    CHECK(f.find("8.weight") != nullptr);
    CHECK(f.find("7.weight") == nullptr);
    int8_net<FusedA, int8::reference> r;
    r.load(path);
    std::filesystem::remove(path);
    std::vector<float> y1(3 * 7), y2(3 * 7);
    q.forward(calib.data(), y1.data(), 3);
    r.forward(calib.data(), y2.data(), 3);
    CHECK(y1 == y2);
}

TEST_CASE("int8 net: summary names the fused layers and the fp32 fallback", "[int8]") {
    const std::string s = int8_net<OddNet>::summary();
    CHECK(s.find("Conv(3->10, k3 s1 p1) + BatchNorm (folded) + ReLU + MaxPool(k2 s2) (fused)  [int8]") != std::string::npos);
    CHECK(s.find("Tanh  [fp32 fallback]") != std::string::npos);
    CHECK(s.find("(sum + ReLU)  [int8]") != std::string::npos);
}

TEST_CASE("int8 net: percentile calibration narrows ranges and stays close", "[int8]") {
    OddNet net = trained_like<OddNet>(4);
    const auto calib = uniform(40 * OddNet::input_size, 13);
    const auto a = quantize(net, calib.data(), 40);
    const auto b = quantize(net, calib.data(), 40, calibrate::percentile{99.0});
    CHECK(b.input_qparams().scale < a.input_qparams().scale);
    CHECK(a.method() == "minmax");
    CHECK(b.method() == "percentile");
}

TEST_CASE("int8 net: forward allocates nothing after warm_up", "[int8]") {
    CTNN_NEEDS_HEAP_COUNT();
    OddNet net = trained_like<OddNet>(5);
    const auto calib = uniform(8 * OddNet::input_size, 14);
    const auto q = quantize(net, calib.data(), 8);
    std::vector<float> y(4 * 7);
    q.warm_up();
    q.forward(calib.data(), y.data(), 4);
    const long before = ctnn_test::heap_allocations();
    q.forward(calib.data(), y.data(), 4);
    q.forward(calib.data(), y.data(), 1);
    CHECK(ctnn_test::heap_allocations() == before);
}

TEST_CASE("int8 net: save and load give the same outputs; another net's file is refused", "[int8]") {
    OddNet net = trained_like<OddNet>(6);
    const auto calib = uniform(8 * OddNet::input_size, 15);
    auto q = quantize(net, calib.data(), 8, calibrate::percentile{99.9});
    const std::string dir = (std::filesystem::temp_directory_path() / ("ctnn_int8_" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/odd.int8.safetensors";
    q.save(path);
    int8_net<OddNet, int8::reference> r;  // another kernel set reads the same file
    r.load(path);
    std::vector<float> y1(3 * 7), y2(3 * 7);
    q.forward(calib.data(), y1.data(), 3);
    r.forward(calib.data(), y2.data(), 3);
    CHECK(y1 == y2);
    CHECK(r.method() == "percentile");

    using Other = Sequential<Input<3, 11, 9>, Conv<3, 10, 3, 1, 1>, ReLU, GlobalAvgPool, Linear<10, 7>>;
    int8_net<Other> o;
    CHECK_THROWS_AS(o.load(path), ctnn::error);
    CHECK_THROWS_WITH(o.load(path), Catch::Contains("made for another net"));
    int8_net<OddNet> empty;
    CHECK_THROWS_AS(empty.forward(calib.data(), y1.data(), 1), ctnn::error);
    {  // a truncated file
        std::ifstream in(path, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        std::ofstream(dir + "/cut.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() - 10);
    }
    CHECK_THROWS_AS(empty.load(dir + "/cut.safetensors"), ctnn::error);
    CHECK_THROWS_AS(empty.load(dir + "/missing.safetensors"), ctnn::error);
    std::filesystem::remove_all(dir);
}
