// ConvTranspose and SqueezeExcite: reference kernels against PyTorch 1.13 (golden files from
// tools/make_reference.py; tolerance as in golden_check.hpp), gradients by finite differences,
// shape rules, initialisation, and an encoder-decoder that uses both on the default backend.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/train.hpp>

#include "golden_check.hpp"
#include "gradcheck.hpp"
#include "heap_counter.hpp"

using namespace ctnn;
using namespace ctnn_test;

// Each golden case name is make_reference.py's; the template arguments repeat its hyper-parameters.
TEST_CASE("golden: ConvTranspose matches PyTorch (stride, padding, output_padding, kernel, batch 1 and 7)",
          "[golden][conv_transpose]") {
    layer_case<ConvTranspose<3, 5, 3, 1, 1>, Shape<3, 7, 11>>("convt_c3o5_k3_s1_p1_7x11_n7");
    layer_case<ConvTranspose<5, 4, 3, 2, 1, 1>, Shape<5, 5, 6>>("convt_c5o4_k3_s2_p1_op1_5x6_n1");
    layer_case<ConvTranspose<4, 6, 4, 2, 1>, Shape<4, 5, 7>>("convt_c4o6_k4_s2_p1_5x7_n7");
    layer_case<ConvTranspose<3, 4, 2, 2, 0>, Shape<3, 6, 5>>("convt_c3o4_k2_s2_p0_6x5_n7");
    layer_case<ConvTranspose<2, 3, 3, 3, 0, 2>, Shape<2, 4, 5>>("convt_c2o3_k3_s3_p0_op2_4x5_n7");
    layer_case<ConvTranspose<3, 5, 4, 3, 2, 1>, Shape<3, 4, 6>>("convt_c3o5_k4_s3_p2_op1_4x6_n1");
    layer_case<ConvTranspose<1, 3, 2, 3, 0>, Shape<1, 3, 4>>("convt_c1o3_k2_s3_p0_3x4_n7");  // stride > kernel: gaps
    layer_case<ConvTranspose<13, 5, 1, 1, 0>, Shape<13, 7, 11>>("convt_c13o5_k1_s1_p0_7x11_n7");
    layer_case<ConvTranspose<2, 3, 2, 3, 3>, Shape<2, 5, 5>>("convt_c2o3_k2_s3_p3_5x5_n7");  // padding > kernel
    layer_case<ConvTranspose<3, 2, 3, 2, 1, 1>, Shape<3, 1, 1>>("convt_c3o2_k3_s2_p1_op1_1x1_n7");
}

TEST_CASE("golden: SqueezeExcite matches torchvision's SqueezeExcitation (ReLU/Sigmoid, ReLU/Hardsigmoid)",
          "[golden][squeeze_excite]") {
    layer_case<SqueezeExcite<6, 3, ReLU, Sigmoid>, Shape<6, 5, 7>>("se_c6s3_relu_sigmoid_5x7_n7");
    layer_case<SqueezeExcite<5, 2, ReLU, Sigmoid>, Shape<5, 4, 3>>("se_c5s2_relu_sigmoid_4x3_n1");
    // fc2's weights 12x the default: half the gates saturate at 0 or 1, the rest on the slope
    layer_case<SqueezeExcite<8, 4>, Shape<8, 5, 6>>("se_c8s4_relu_hardsigmoid_5x6_n7");
    layer_case<SqueezeExcite<4, 2>, Shape<4, 3, 3>>("se_c4s2_relu_hardsigmoid_3x3_n1");
}

// PyTorch: Sequential(Conv2d(3, 8, 3, 2, 1), ReLU(), SqueezeExcitation(8, 4, ReLU, Hardsigmoid),
//                     ConvTranspose2d(8, 4, 4, 2, 1), ReLU(), ConvTranspose2d(4, 2, 3, 2, 1, 1))
using EncDecSmall = Sequential<Input<3, 6, 7>, Conv<3, 8, 3, 2, 1>, ReLU, SqueezeExcite<8, 4>,
                               ConvTranspose<8, 4, 4, 2, 1>, ReLU, ConvTranspose<4, 2, 3, 2, 1, 1>>;

TEST_CASE("golden: Conv, SqueezeExcite and ConvTranspose in one net match PyTorch (state_dict names too)",
          "[golden][conv_transpose][squeeze_excite]") {
    static_assert(EncDecSmall::output_shape::value == chw(2, 12, 16));
    net_case<EncDecSmall>("net_conv_se_convt_n3");  // reference and default backend
}

TEST_CASE("ConvTranspose: shape rule, hyper-parameters, name", "[conv_transpose]") {
    using A = ConvTranspose<8, 4, 4, 2, 1>;
    static_assert(A::output(chw(8, 5, 7)) == chw(4, 10, 14));  // (H - 1) S - 2P + K
    using B = ConvTranspose<3, 2, 3, 3, 1, 2>;
    static_assert(B::output(chw(3, 4, 1)) == chw(2, 12, 3));  // 3 S - 2 + 3 + 2; 0 S - 2 + 3 + 2
    // Padding that crops everything: PyTorch refuses an output extent <= 0; the smallest input is named.
    using Crop = ConvTranspose<2, 2, 3, 2, 4>;  // (x - 1) 2 + 3 > 8 from x = 4
    static_assert(Crop::min_input() == 4);
    static_assert(Crop::check(chw(2, 4, 4)).ok());
    constexpr layer_check c = Crop::check(chw(2, 3, 9));
    static_assert(c.what == problem::window_too_large && c.needs.d[0] == 4 && c.got.d[0] == 3 && c.got.d[1] == 9);
    static_assert(Crop::output(chw(2, 1, 1)) == chw(2, 1, 1));  // no underflow where check fails
    static_assert(A::check(chw(7, 5, 5)).what == problem::in_channels);
    static_assert(A::check(flat(8)).what == problem::image_input);
    static_assert(ConvTranspose<2, 2, 1, 1, 0>::min_input() == 1);
    static_assert(ConvTranspose<2, 2, 2, 3, 3>::min_input() == 3);  // (x - 1) 3 + 2 > 6

    const hparam_list h = B::hparams();
    CHECK(to_string(h) == "in_channels=3 out_channels=2 kernel_size=3 stride=3 padding=1 output_padding=2");
    CHECK(B::name() == "ConvTranspose(3->2, k3 s3 p1 op2)");
    CHECK(B::kind == "ConvTranspose");
    constexpr tensor_list p = A::params(chw(8, 5, 7));
    static_assert(p.count == 2 && p.t[0].shape[0] == 8 && p.t[0].shape[1] == 4 && p.t[0].shape[2] == 4 && p.t[1].size() == 4);
}

TEST_CASE("SqueezeExcite: shape rule, hyper-parameters, name, saved floats", "[squeeze_excite]") {
    using S = SqueezeExcite<16, 4>;
    static_assert(S::output(chw(16, 5, 3)) == chw(16, 5, 3));
    static_assert(S::check(chw(16, 1, 1)).ok());
    static_assert(S::check(chw(15, 4, 4)).what == problem::channels);
    static_assert(S::check(flat(16)).what == problem::image_input);
    static_assert(S::saved(chw(16, 5, 3), 7) == 7 * (3 * 16 + 2 * 4));
    static_assert(S::params(chw(16, 5, 3)).total() == 4 * 16 + 4 + 16 * 4 + 16);
    CHECK(S::name() == "SqueezeExcite(16->4, ReLU, Hardsigmoid)");
    CHECK(SqueezeExcite<6, 2, LeakyReLU<1, 5>, Sigmoid>::name() == "SqueezeExcite(6->2, LeakyReLU(1/5), Sigmoid)");
    CHECK(to_string(S::hparams()) == "input_channels=16 squeeze_channels=4");
    CHECK(S::kind == "SqueezeExcite");
    constexpr tensor_list p = S::params(chw(16, 5, 3));
    CHECK(std::string(p.t[0].name) == "fc1.weight");
    CHECK(std::string(p.t[3].name) == "fc2.bias");
    static_assert(p.t[0].rank == 4 && p.t[0].shape[0] == 4 && p.t[0].shape[1] == 16 && p.t[2].shape[0] == 16);
}

namespace {
/// A cpu kernel (ConvTranspose, SqueezeExcite) against the reference on one shape, batch n, with 1, 2 and 3
/// threads: forward y, dx, and dparams accumulated onto non-zero values; within 1e-5 of each
/// tensor's RMS (the cpu kernel sums in float, in another order), and bitwise the same whatever the
/// thread count.
template <class L, class In>
void cpu_matches_reference(std::size_t n) {
    constexpr dims in = In::value, out = L::output(in);
    constexpr std::size_t np = L::params(in).total();
    INFO(L::name() << " on " << to_string(in) << ", batch " << n);
    rng g(n * 31 + np);
    std::vector<float> x(n * in.size()), dy(n * out.size()), p(np), d0(np), saved(L::saved(in, n));
    for (auto& v : x) v = g.normal();
    for (auto& v : dy) v = g.normal();
    for (auto& v : p) v = g.uniform(-0.5f, 0.5f);
    for (auto& v : d0) v = g.uniform(-1.0f, 1.0f);
    const auto run = [&]<class B>(std::vector<float>& y, std::vector<float>& dx, std::vector<float>& dp) {
        y.assign(n * out.size(), 0.0f);
        dx.assign(x.size(), std::nanf(""));
        dp = d0;
        forward_args f;
        f.x = x.data(); f.y = y.data(); f.n = n; f.params = p.data();
        f.saved = saved.empty() ? nullptr : saved.data(); f.training = !saved.empty();
        kernel_for<L, In, B>::forward(f);
        backward_args b;
        b.x = x.data(); b.y = y.data(); b.dy = dy.data(); b.dx = dx.data(); b.n = n;
        b.params = p.data(); b.dparams = dp.data(); b.saved = f.saved;
        kernel_for<L, In, B>::backward(b);
    };
    std::vector<float> yr, dxr, dpr, y1, dx1, dp1;
    run.template operator()<reference>(yr, dxr, dpr);
    const auto close = [](const std::vector<float>& got, const std::vector<float>& want, const char* what) {
        const double s = rms(want.data(), want.size());
        double worst = 0;
        for (std::size_t i = 0; i < want.size(); ++i)
            if (const double e = std::abs(double(got[i]) - want[i]) / s; !(e <= worst)) worst = e;  // (NaN too)
        INFO(what << ": max |cpu - reference| / rms " << worst);
        CHECK(worst <= 1e-5);
    };
    const std::size_t saved_threads = num_threads();
    for (std::size_t threads : {1u, 2u, 3u}) {
        set_num_threads(threads);
        INFO(threads << " threads");
        std::vector<float> y, dx, dp;
        run.template operator()<cpu>(y, dx, dp);
        close(y, yr, "y");
        close(dx, dxr, "dx");
        close(dp, dpr, "dparams");
        if (threads == 1) y1 = y, dx1 = dx, dp1 = dp;
        CHECK((y == y1 && dx == dx1 && dp == dp1));
    }
    set_num_threads(saved_threads);
}

/// Largest |value| in [begin, end): with a few hundred uniform draws, close to the bound.
float max_abs(const float* begin, const float* end) {
    float m = 0;
    for (const float* p = begin; p != end; ++p) m = std::max(m, std::abs(*p));
    return m;
}
}  // namespace

TEST_CASE("ConvTranspose and SqueezeExcite: PyTorch's default initialisation bounds", "[conv_transpose][squeeze_excite]") {
    // ConvTranspose2d's fan_in is weight.shape[1] K K = Out K K (torch: _calculate_fan_in_and_fan_out
    // on [In, Out, K, K]); 1 / sqrt(fan_in) bounds weight and bias.
    using Net = Sequential<Input<20, 4, 4>, ConvTranspose<20, 3, 3, 2>, SqueezeExcite<3, 50>>;
    Net net(11);
    const auto ct = net.params(0);
    const float b = 1.0f / std::sqrt(3.0f * 9.0f);
    CHECK(max_abs(ct.data(), ct.data() + ct.size()) <= b);
    CHECK(max_abs(ct.data(), ct.data() + 20 * 3 * 9) > 0.95f * b);  // not 1 / sqrt(In K K) = 0.075
    const auto se = net.params(1);  // fc1 [50, 3] + [50]: bound 1/sqrt(3); fc2 [3, 50] + [3]: 1/sqrt(50)
    const float b1 = 1.0f / std::sqrt(3.0f), b2 = 1.0f / std::sqrt(50.0f);
    CHECK(max_abs(se.data(), se.data() + 200) <= b1);
    CHECK(max_abs(se.data(), se.data() + 200) > 0.95f * b1);
    CHECK(max_abs(se.data() + 200, se.data() + se.size()) <= b2);
    CHECK(max_abs(se.data() + 200, se.data() + se.size()) > 0.9f * b2);
}

TEST_CASE("ConvTranspose: the cpu kernel matches the reference (awkward sizes, 1, 2 and 3 threads)",
          "[conv_transpose][cpu]") {
    static_assert(std::is_same_v<kernel_for<ConvTranspose<9, 6, 4, 2, 1>, Shape<9, 15, 13>, cpu>,
                                 kernel<ConvTranspose<9, 6, 4, 2, 1>, Shape<9, 15, 13>, cpu>>);
    // enough work for 3 tasks; output channels and im2col rows in two chunks each
    cpu_matches_reference<ConvTranspose<9, 6, 4, 2, 1>, Shape<9, 15, 13>>(5);
    cpu_matches_reference<ConvTranspose<16, 8, 4, 2, 1>, Shape<16, 17, 15>>(1);  // dx split over channels
    cpu_matches_reference<ConvTranspose<7, 5, 3, 2, 1, 1>, Shape<7, 13, 11>>(7);
    cpu_matches_reference<ConvTranspose<3, 4, 2, 3, 3>, Shape<3, 9, 10>>(7);     // padding above the kernel
    cpu_matches_reference<ConvTranspose<2, 3, 3, 3, 0, 2>, Shape<2, 4, 5>>(3);
    cpu_matches_reference<ConvTranspose<1, 3, 2, 3, 0>, Shape<1, 3, 4>>(2);      // stride above the kernel
    cpu_matches_reference<ConvTranspose<13, 5, 1, 1, 0>, Shape<13, 7, 11>>(3);
    cpu_matches_reference<ConvTranspose<3, 2, 3, 2, 1, 1>, Shape<3, 1, 1>>(4);
    cpu_matches_reference<ConvTranspose<5, 7, 5, 1, 2>, Shape<5, 6, 9>>(3);
}

TEST_CASE("SqueezeExcite: the cpu kernel matches the reference (awkward sizes, 1, 2 and 3 threads)",
          "[squeeze_excite][cpu]") {
    static_assert(std::is_same_v<kernel_for<SqueezeExcite<8, 4>, Shape<8, 4, 4>, cpu>, kernel<SqueezeExcite<8, 4>, Shape<8, 4, 4>, cpu>>);
    cpu_matches_reference<SqueezeExcite<17, 5>, Shape<17, 3, 5>>(7);             // tails everywhere
    cpu_matches_reference<SqueezeExcite<8, 4>, Shape<8, 4, 4>>(1);
    cpu_matches_reference<SqueezeExcite<6, 3, Tanh, Sigmoid>, Shape<6, 5, 7>>(5);
    cpu_matches_reference<SqueezeExcite<40, 11, ReLU, Sigmoid>, Shape<40, 1, 1>>(3);  // a 1x1 map
    cpu_matches_reference<SqueezeExcite<240, 60>, Shape<240, 4, 4>>(9);          // MobileNet's last block
}

// Finite differences (gradcheck.hpp): smooth nets must check every sample; with ReLU and
// Hardsigmoid kinks the usual allowance (check_kinked).
TEST_CASE("gradcheck: ConvTranspose (stride 2 with output_padding, stride 3 above the kernel with padding)",
          "[gradcheck][conv_transpose]") {
    using Net = Sequential<Input<2, 4, 5>, ConvTranspose<2, 3, 3, 2, 1, 1>, Tanh, ConvTranspose<3, 2, 2, 3, 2>,
                           Flatten, Linear<2 * 19 * 25, 4>>;
    const auto r = check_net<Net>("conv-transpose", 3, 10, 3, 1e-2f);
    CHECK(r.failed == 0);
    CHECK(r.skipped == 0);
    CHECK(r.checked == 10 + 3 + 10 + 2 + 10 + 4 + 10);  // weights, biases, linear, input
}

TEST_CASE("gradcheck: SqueezeExcite (Tanh/Sigmoid smooth; ReLU/Hardsigmoid)", "[gradcheck][squeeze_excite]") {
    using Smooth = Sequential<Input<6, 4, 5>, Conv<6, 6, 3, 1, 1>, SqueezeExcite<6, 3, Tanh, Sigmoid>, Flatten,
                              Linear<120, 3>>;
    const auto r = check_net<Smooth>("se-smooth", 3, 10, 4, 1e-2f, 1.0f, 2.0f);
    CHECK(r.failed == 0);
    CHECK(r.skipped == 0);
    CHECK(r.checked == 10 + 6 + 10 + 3 + 10 + 6 + 10 + 3 + 10);

    using Default = Sequential<Input<6, 4, 5>, Conv<6, 6, 3, 1, 1>, SqueezeExcite<6, 3>, SqueezeExcite<6, 2>, Flatten,
                               Linear<120, 3>>;
    Default net(5);
    // fc2 weights 8x the default, so some Hardsigmoid gates sit on the flat parts (gradient 0 there)
    for (std::size_t layer : {1u, 2u}) {
        auto p = net.params(layer);
        const std::size_t sq = layer == 1 ? 3 : 2, w2 = sq * 6 + sq;
        for (std::size_t i = w2; i < w2 + 6 * sq; ++i) p[i] *= 8.0f;
    }
    gradcheck<Default> gc(net, 3, 6, 1e-3f, 2.0f);
    const auto k = gc.run("se-default", 10);
    check_kinked(k);
    CHECK(k.total() == 10 + 6 + (10 + 3 + 10 + 6) + (10 + 2 + 10 + 6) + 10 + 3 + 10);
}

// The encoder-decoder of the task: stride-2 Conv down, the gate, ConvTranspose back up.
// PyTorch (torchvision.ops.SqueezeExcitation, or tools/make_reference.py's equivalent):
//   m = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), SqueezeExcitation(16, 4, nn.ReLU, nn.Hardsigmoid),
//                     nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(), nn.Conv2d(8, 3, 3, 1, 1))
//   sum(p.numel() for p in m.parameters())   # 2871;  m(torch.randn(2, 3, 16, 16)).shape == (2, 3, 16, 16)
using EncDec = Sequential<Input<3, 16, 16>, Conv<3, 16, 3, 2, 1>, ReLU, SqueezeExcite<16, 4>,
                          ConvTranspose<16, 8, 4, 2, 1>, ReLU, Conv<8, 3, 3, 1, 1>>;

TEST_CASE("an encoder-decoder with SqueezeExcite and ConvTranspose: PyTorch's parameter count, inference without "
          "heap allocation, training lowers the loss", "[conv_transpose][squeeze_excite]") {
    static_assert(EncDec::param_count == 2871);
    static_assert(EncDec::output_shape::value == chw(3, 16, 16));
    const std::string s = EncDec::summary();
    CHECK(s.find("SqueezeExcite(16->4, ReLU, Hardsigmoid)") != std::string::npos);
    CHECK(s.find("ConvTranspose(16->8, k4 s2 p1 op0)") != std::string::npos);

    EncDec net(21);
    constexpr std::size_t n = 6;
    rng g(4);
    std::vector<float> x(n * EncDec::input_size), target(x.size()), y(x.size()), yr(x.size());
    for (auto& v : x) v = g.normal();
    for (std::size_t i = 0; i < x.size(); ++i) target[i] = 0.5f * std::tanh(x[i]);  // learn a smooth map

    net.warm_up();
    net.warm_up<reference>();
    const long before = heap_allocations();
    net.forward(x.data(), y.data(), n);
    net.forward<reference>(x.data(), yr.data(), n);
    CHECK(heap_allocations() == before);
    for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == Approx(yr[i]).epsilon(1e-5).margin(1e-6));

    Adam opt(net, 1e-2f);
    const float first = train_step(net, opt, MSE{}, x.data(), target.data(), n);
    float last = first;
    for (int step = 0; step < 30; ++step) last = train_step(net, opt, MSE{}, x.data(), target.data(), n);
    INFO("loss " << first << " -> " << last);
    CHECK(std::isfinite(last));
    CHECK(last < 0.5f * first);
}
