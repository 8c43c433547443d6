// Conv with stride, dilation and groups: the layer's rules, the reference kernel against PyTorch
// and finite differences, and the cpu kernels (conv_gemm.hpp: im2col + GEMM, 1x1, grouped;
// conv_depthwise.hpp) against the reference at 1, 2 and 3 threads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <ctnn/ctnn.hpp>

#include "golden_check.hpp"
#include "gradcheck.hpp"
#include "thread_count_guard.hpp"

using namespace ctnn;

TEST_CASE("Conv: dilation and groups in the layer's rules", "[conv][layer]") {
    using L = Conv<6, 4, 3, 2, 3, 2, 2>;
    STATIC_REQUIRE(L::output(chw(6, 13, 11)) == chw(4, 8, 7));  // (13 + 6 - 4 - 1) / 2 + 1, (11 + 6 - 4 - 1) / 2 + 1
    STATIC_REQUIRE(L::params(chw(6, 13, 11)).t[0].size() == 4 * 3 * 3 * 3);
    STATIC_REQUIRE(L::params(chw(6, 13, 11)).t[0].shape[1] == 3);
    // the dilated extent D(K-1)+1 = 5 must fit the padded input
    STATIC_REQUIRE(Conv<1, 1, 3, 1, 0, 2>::check(chw(1, 4, 9)).what == problem::kernel_too_large);
    STATIC_REQUIRE(Conv<1, 1, 3, 1, 0, 2>::check(chw(1, 5, 9)).ok());
    STATIC_REQUIRE(Conv<1, 1, 3, 1, 0, 2>::output(chw(1, 5, 9)) == chw(1, 1, 5));
    CHECK(L::name() == "Conv(6->4, k3 s2 p3 d2 g2)");
    CHECK(Conv<3, 8, 3, 2, 1>::name() == "Conv(3->8, k3 s2 p1)");  // unchanged without them
    CHECK(Conv<5, 5, 3, 1, 1, 1, 5>::name() == "Conv(5->5, k3 s1 p1 g5)");
    CHECK(to_string(L::hparams()) ==
          "in_channels=6 out_channels=4 kernel_size=3 stride=2 padding=3 dilation=2 groups=2");
    CHECK(to_string(Conv<3, 8, 3>::hparams()) ==
          "in_channels=3 out_channels=8 kernel_size=3 stride=1 padding=0 dilation=1 groups=1");
    // PyTorch's init: U(-b, b), b = 1 / sqrt(fan_in), fan_in = (In / Groups) K K
    using Dw = Conv<16, 16, 3, 1, 1, 1, 16>;
    std::vector<float> p(Dw::params(chw(16, 8, 8)).total());
    rng g(5);
    Dw::init(chw(16, 8, 8), p.data(), nullptr, g);
    const float b = 1.0f / 3.0f, most = *std::max_element(p.begin(), p.end(), [](float x, float y) { return std::abs(x) < std::abs(y); });
    CHECK(std::abs(most) <= b);
    CHECK(std::abs(most) > 0.8f * b);  // (In K K would give a bound of 1/12)
}

TEST_CASE("Conv with dilation and groups matches PyTorch (reference kernel)", "[golden][conv]") {
    using ctnn_test::layer_case;
    layer_case<Conv<4, 6, 3, 1, 2, 2>, Shape<4, 9, 11>>("conv_c4o6_k3_s1_p2_d2_9x11_n7");
    layer_case<Conv<4, 6, 3, 2, 1, 1, 2>, Shape<4, 9, 11>>("conv_c4o6_k3_s2_p1_g2_9x11_n1");
    layer_case<Conv<6, 9, 3, 1, 1, 1, 3>, Shape<6, 7, 10>>("conv_c6o9_k3_s1_p1_g3_7x10_n7");
    layer_case<Conv<5, 5, 3, 1, 1, 1, 5>, Shape<5, 9, 11>>("conv_c5o5_k3_s1_p1_g5_9x11_n7");   // depthwise
    layer_case<Conv<5, 5, 3, 2, 1, 1, 5>, Shape<5, 9, 11>>("conv_c5o5_k3_s2_p1_g5_9x11_n1");   // depthwise, stride 2
    layer_case<Conv<5, 5, 5, 2, 2, 1, 5>, Shape<5, 11, 9>>("conv_c5o5_k5_s2_p2_g5_11x9_n7");   // depthwise 5x5
    layer_case<Conv<3, 6, 3, 1, 1, 1, 3>, Shape<3, 8, 9>>("conv_c3o6_k3_s1_p1_g3_8x9_n7");     // multiplier 2
    layer_case<Conv<6, 4, 3, 2, 3, 2, 2>, Shape<6, 13, 11>>("conv_c6o4_k3_s2_p3_d2_g2_13x11_n7");
}

TEST_CASE("gradcheck: dilated, grouped and depthwise Conv", "[gradcheck][conv]") {
    using namespace ctnn_test;
    using Net = Sequential<Input<4, 9, 8>, Conv<4, 6, 3, 1, 2, 2, 2>, Tanh, Conv<6, 6, 3, 2, 1, 1, 6>, Tanh,
                           Conv<6, 12, 3, 1, 1, 1, 6>, Tanh, Flatten, Linear<12 * 5 * 4, 3>>;
    const auto r = check_net<Net>("conv-dilated-grouped-depthwise", 3, 8, 6, 1e-2f);
    CHECK(r.failed == 0);
    CHECK(r.skipped == 0);
    CHECK(r.checked == 8 + 6 + 8 + 6 + 8 + 8 + 8 + 3 + 8);  // 3 convs' weights and biases, linear, input
}

namespace {

std::vector<float> random_vec(std::size_t n, std::uint64_t seed) {
    rng g(seed);
    std::vector<float> v(n);
    for (float& x : v) x = g.uniform(-1.0f, 1.0f);
    return v;
}

/// max |got - want| <= 1e-5 * max |want|; a NaN in got (an element never written) fails.
void check_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
    REQUIRE(got.size() == want.size());
    double worst = 0, scale = 0;
    std::size_t at = 0;
    for (float w : want) scale = std::max(scale, double(std::abs(w)));
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double e = std::abs(double(got[i]) - double(want[i]));
        if (!(e <= worst)) worst = e, at = i;
    }
    INFO(what << ": max error " << worst << " at " << at << " (got " << got[at] << ", want " << want[at] << "), scale " << scale);
    CHECK(scale > 0);
    CHECK(worst <= 1e-5 * scale);
}

struct run_result {
    std::vector<float> y, dx, dp, dp_over;
};

/// Forward (y NaN-prefilled), backward accumulating into dp0 (dx NaN-prefilled), and, for kernels
/// that overwrite, backward into NaN-filled dparams with overwrite_dparams.
template <class Kn, class L, class In>
run_result run_kernel(std::size_t n, const std::vector<float>& x, const std::vector<float>& p, const std::vector<float>& dy,
                      const std::vector<float>& dp0) {
    constexpr dims in = In::value, out = L::output(in);
    run_result r{std::vector<float>(n * out.size(), std::nanf("")), std::vector<float>(n * in.size(), std::nanf("")), dp0, {}};
    forward_args f;
    f.x = x.data(); f.y = r.y.data(); f.n = n; f.params = p.data(); f.training = true;
    Kn::forward(f);
    backward_args b;
    b.x = x.data(); b.y = r.y.data(); b.dy = dy.data(); b.dx = r.dx.data(); b.n = n; b.params = p.data(); b.dparams = r.dp.data();
    Kn::backward(b);
    if constexpr (Kn::traits.overwrites_dparams) {
        r.dp_over.assign(dp0.size(), std::nanf(""));
        b.dparams = r.dp_over.data();
        b.dx = nullptr;
        b.overwrite_dparams = true;
        Kn::backward(b);
    }
    return r;
}

/// The cpu kernel of L against the reference at 1, 2 and 3 threads, batch n: y, dx, dparams added
/// to non-zero values and written over NaN; and the same bits at every thread count.
template <class L, class In, class Impl = void>
void compare(std::size_t n, std::uint64_t seed) {
    constexpr dims in = In::value, out = L::output(in);
    using Kc = kernel_for<L, In, cpu>;
    if constexpr (!std::is_void_v<Impl>) STATIC_REQUIRE(std::is_same_v<typename Kc::impl, Impl>);
    STATIC_REQUIRE(Kc::traits.overwrites_dparams);
    const std::size_t np = L::params(in).total();
    const auto x = random_vec(n * in.size(), seed), p = random_vec(np, seed + 1);
    const auto dy = random_vec(n * out.size(), seed + 2), dp0 = random_vec(np, seed + 3);
    const run_result ref = run_kernel<kernel<L, In, reference>, L, In>(n, x, p, dy, dp0);
    std::vector<float> fresh(np);
    for (std::size_t i = 0; i < np; ++i) fresh[i] = ref.dp[i] - dp0[i];
    run_result first;
    for (std::size_t threads : {1, 2, 3}) {
        set_num_threads(threads);
        const run_result got = run_kernel<Kc, L, In>(n, x, p, dy, dp0);
        INFO(L::name() << " on " << to_string(in) << ", batch " << n << ", " << threads << " threads");
        check_close(got.y, ref.y, "y");
        check_close(got.dx, ref.dx, "dx");
        check_close(got.dp, ref.dp, "dparams (accumulated)");
        check_close(got.dp_over, fresh, "dparams (overwritten)");
        if (threads == 1) first = got;
        else {
            CHECK(got.y == first.y);  // (no NaN here: check_close passed)
            CHECK(got.dx == first.dx);
            CHECK(got.dp == first.dp);
            CHECK(got.dp_over == first.dp_over);
        }
    }
}

using ctnn_test::thread_count_guard;

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, std::size_t G, class In>
using gemm_impl = cpu_detail::conv_gemm<Ci, Co, K, S, P, D, G, In>;
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, class In>
using dw_impl = cpu_detail::conv_depthwise<Ci, Co, K, S, P, D, In>;

}  // namespace

TEST_CASE("cpu strided and dilated Conv (im2col + GEMM) matches the reference", "[simd][conv]") {
    const thread_count_guard guard;
    for (std::size_t n : {1, 5}) {
        using A = Shape<3, 9, 11>;
        compare<Conv<3, 8, 3, 2, 1>, A, gemm_impl<3, 8, 3, 2, 1, 1, 1, A>>(n, 10 + n);
        using B = Shape<5, 13, 7>;
        compare<Conv<5, 11, 5, 2, 2>, B, gemm_impl<5, 11, 5, 2, 2, 1, 1, B>>(n, 20 + n);
        using C = Shape<4, 10, 7>;
        compare<Conv<4, 9, 3, 3, 1>, C, gemm_impl<4, 9, 3, 3, 1, 1, 1, C>>(n, 30 + n);      // stride 3
        using E = Shape<3, 9, 11>;
        compare<Conv<3, 7, 3, 1, 2, 2>, E, gemm_impl<3, 7, 3, 1, 2, 2, 1, E>>(n, 40 + n);   // dilation 2
        using F = Shape<2, 14, 13>;
        compare<Conv<2, 6, 3, 2, 0, 3>, F, gemm_impl<2, 6, 3, 2, 0, 3, 1, F>>(n, 50 + n);   // stride 2, dilation 3
        using Q = Shape<17, 8, 9>;
        compare<Conv<17, 19, 2, 2, 0>, Q>(n, 60 + n);                                        // k2 s2
        using R = Shape<3, 4, 4>;
        compare<Conv<3, 5, 3, 2, 3>, R>(n, 70 + n);                                          // P >= K
    }
    compare<Conv<16, 32, 3, 2, 1>, Shape<16, 17, 15>>(4, 80);
    // dW with several samples per dot product (small output maps): two whole chunks and a short one
    using S4 = Shape<64, 7, 7>;
    STATIC_REQUIRE(gemm_impl<64, 128, 3, 2, 1, 1, 1, S4>::SB == 8);  // 4 x 4 outputs
    compare<Conv<64, 128, 3, 2, 1>, S4>(19, 90);
    using S7 = Shape<6, 13, 14>;
    STATIC_REQUIRE(gemm_impl<6, 5, 3, 2, 1, 1, 1, S7>::SB == 2);      // 7 x 7 outputs
    compare<Conv<6, 5, 3, 2, 1>, S7>(7, 91);
}

TEST_CASE("cpu 1x1 Conv (a GEMM) matches the reference", "[simd][conv]") {
    const thread_count_guard guard;
    for (std::size_t n : {1, 5}) {
        using A = Shape<13, 7, 11>;
        compare<Conv<13, 10, 1, 2, 0>, A, gemm_impl<13, 10, 1, 2, 0, 1, 1, A>>(n, 110 + n);  // stride 2
        using B = Shape<12, 5, 9>;
        compare<Conv<12, 9, 1, 1, 0, 1, 3>, B, gemm_impl<12, 9, 1, 1, 0, 1, 3, B>>(n, 120 + n);  // grouped: no im2col
        STATIC_REQUIRE(gemm_impl<12, 9, 1, 1, 0, 1, 3, B>::direct);
        using C = Shape<3, 6, 5>;
        compare<Conv<3, 4, 1, 2, 1>, C>(n, 130 + n);  // padded
        using E = Shape<9, 11, 13>;
        compare<Conv<9, 17, 1>, E>(n, 140 + n);       // stride 1: conv_s1's path
        STATIC_REQUIRE(cpu_detail::conv_s1<9, 17, 1, 0, E>::pointwise);  // (a partial tile: through a block of rows)
        using F = Shape<7, 8, 8>;                     // stride 1, pointwise in place (whole tiles)
        STATIC_REQUIRE((cpu_detail::conv_s1<7, 13, 1, 0, F>::pointwise_in_place || cpu_detail::W != 8));
        compare<Conv<7, 13, 1>, F>(n, 150 + n);
        using G = Shape<3, 6, 5>;
        compare<Conv<3, 4, 1, 1, 1>, G>(n, 160 + n);  // stride 1, padded: not pointwise
        STATIC_REQUIRE(!cpu_detail::conv_s1<3, 4, 1, 1, G>::pointwise);
    }
}

TEST_CASE("cpu depthwise Conv matches the reference", "[simd][conv]") {
    const thread_count_guard guard;
    for (std::size_t n : {1, 5}) {
        using A = Shape<5, 9, 11>;
        compare<Conv<5, 5, 3, 1, 1, 1, 5>, A, dw_impl<5, 5, 3, 1, 1, 1, A>>(n, 210 + n);
        compare<Conv<5, 5, 3, 2, 1, 1, 5>, A, dw_impl<5, 5, 3, 2, 1, 1, A>>(n, 220 + n);
        using B = Shape<11, 21, 19>;  // rows of several vectors plus a tail
        compare<Conv<11, 11, 5, 1, 2, 1, 11>, B, dw_impl<11, 11, 5, 1, 2, 1, B>>(n, 230 + n);
        compare<Conv<11, 11, 5, 2, 2, 1, 11>, B, dw_impl<11, 11, 5, 2, 2, 1, B>>(n, 240 + n);
        compare<Conv<11, 11, 3, 2, 0, 1, 11>, B>(n, 250 + n);  // no padding
        using C = Shape<3, 8, 9>;
        compare<Conv<3, 6, 3, 1, 1, 1, 3>, C, dw_impl<3, 6, 3, 1, 1, 1, C>>(n, 260 + n);  // multiplier 2
        using E = Shape<4, 13, 12>;
        compare<Conv<4, 12, 3, 2, 2, 2, 4>, E>(n, 270 + n);    // multiplier 3, dilation 2
        using F = Shape<7, 40, 37>;
        compare<Conv<7, 7, 3, 3, 4, 1, 7>, F>(n, 280 + n);     // stride 3, padding past the kernel
        // small maps (rows shorter than a vector): over the flattened rows
        using G4 = Shape<9, 4, 4>;
        STATIC_REQUIRE((dw_impl<9, 9, 3, 1, 1, 1, G4>::wide || cpu_detail::W != 8));  // (rows of 4 fill an SSE vector)
        compare<Conv<9, 9, 3, 1, 1, 1, 9>, G4, dw_impl<9, 9, 3, 1, 1, 1, G4>>(n, 290 + n);
        using G8 = Shape<6, 8, 7>;
        STATIC_REQUIRE((dw_impl<6, 6, 3, 2, 1, 1, G8>::wide || cpu_detail::W != 8));
        compare<Conv<6, 6, 3, 2, 1, 1, 6>, G8, dw_impl<6, 6, 3, 2, 1, 1, G8>>(n, 300 + n);   // stride 2: 4 x 4
        using G3 = Shape<3, 5, 3>;
        compare<Conv<3, 6, 3, 1, 2, 2, 3>, G3, dw_impl<3, 6, 3, 1, 2, 2, G3>>(n, 310 + n);   // dilation 2, multiplier 2
        compare<Conv<3, 3, 5, 1, 2, 1, 3>, G3, dw_impl<3, 3, 5, 1, 2, 1, G3>>(n, 320 + n);   // 5x5 over 5 x 3
    }
}

TEST_CASE("cpu grouped Conv matches the reference", "[simd][conv]") {
    const thread_count_guard guard;
    for (std::size_t n : {1, 5}) {
        using A = Shape<6, 7, 10>;
        compare<Conv<6, 9, 3, 1, 1, 1, 3>, A, gemm_impl<6, 9, 3, 1, 1, 1, 3, A>>(n, 310 + n);
        using B = Shape<4, 9, 11>;
        compare<Conv<4, 6, 3, 2, 1, 1, 2>, B>(n, 320 + n);
        using C = Shape<6, 13, 11>;
        compare<Conv<6, 4, 3, 2, 3, 2, 2>, C>(n, 330 + n);
        using E = Shape<20, 9, 9>;
        compare<Conv<20, 10, 5, 1, 2, 1, 5>, E>(n, 340 + n);  // 4 in, 2 out per group
    }
    compare<Conv<32, 32, 3, 1, 1, 1, 4>, Shape<32, 12, 12>>(3, 350);
}

TEST_CASE("Nets with grouped and depthwise Conv: cpu as the reference, in inference and training", "[simd][conv]") {
    using Net = Sequential<Input<6, 15, 13>, Conv<6, 12, 3, 2, 1, 1, 3>, ReLU, Conv<12, 12, 3, 1, 1, 1, 12>, ReLU,
                           Conv<12, 8, 1>, ReLU, Conv<8, 8, 3, 1, 2, 2, 8>, Flatten, Linear<8 * 8 * 7, 4>>;
    const thread_count_guard guard;
    set_num_threads(2);
    Net a(3), b(3);
    const std::size_t n = 3;
    const auto x = random_vec(n * Net::input_size, 400);
    std::vector<float> ya(n * Net::output_size), yb(ya.size());
    a.forward<reference>(x.data(), ya.data(), n);
    b.forward<cpu>(x.data(), yb.data(), n);
    check_close(yb, ya, "inference y");
    a.zero_grad();
    b.zero_grad();
    const float* ta = a.forward_train<reference>(x.data(), n);
    const float* tb = b.forward_train<cpu>(x.data(), n);
    check_close(std::vector<float>(tb, tb + ya.size()), std::vector<float>(ta, ta + ya.size()), "training y");
    const auto dy = random_vec(ya.size(), 401);
    std::vector<float> dxa(x.size()), dxb(x.size());
    a.backward<reference>(dy.data(), dxa.data());
    b.backward<cpu>(dy.data(), dxb.data());
    check_close(dxb, dxa, "dx");
    for (std::size_t layer : {0u, 2u, 4u, 6u}) {
        const auto ga = a.grads(layer), gb = b.grads(layer);
        check_close(std::vector<float>(gb.begin(), gb.end()), std::vector<float>(ga.begin(), ga.end()),
                    "grads of layer " + std::to_string(layer));
    }
}
