// The cpu (xsimd) Conv kernels against the reference backend: direct and Winograd paths, forward and
// backward, on awkward shapes; non-finite inputs. (A translation unit of its own: it instantiates
// many kernels, and the builds compile the test files in parallel.)
#include "simd_helpers.hpp"

using namespace ctnn;

TEST_CASE("cpu Conv matches the reference, forward and backward", "[simd][conv]") {
    // both column layouts and both dW forms are among the shapes below (on AVX-512 and AVX2)
    using namespace cpu_detail;
    using fm2 = conv_s1<32, 64, 5, 2, Shape<32, 14, 14>>;
    using seed1 = conv_s1<3, 16, 3, 1, Shape<3, 32, 32>>;
    using flat = conv_s1<2, 6, 3, 0, Shape<2, 4, 128>>;
    using flat_dot = conv_s1<1, 4, 3, 0, Shape<1, 7, 128>>;
    if (simd::width == 8 || simd::width == 16) {  // the layouts are chosen from the vector width
        CHECK((fm2::compact && fm2::compact_dw && !fm2::dw_dot));
        CHECK((!seed1::compact && seed1::compact_dw && seed1::dw_dot));
        CHECK((!flat::compact && !flat::compact_dw && !flat::dw_dot));
        CHECK((!flat_dot::compact && !flat_dot::compact_dw && flat_dot::dw_dot));
    }
    const thread_count_guard guard;
    for (std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        for (std::size_t n : {1, 3, 5}) {
            compare_layer<Conv<3, 5, 3, 1, 1>, Shape<3, 7, 9>>(n, 10 + n);      // Co 5, width 9
            compare_layer<Conv<2, 17, 5, 1, 2>, Shape<2, 11, 13>>(n, 20 + n);   // Co 17, k5 p2
            compare_layer<Conv<4, 8, 3, 1, 0>, Shape<4, 6, 5>>(n, 30 + n);      // no padding
            compare_layer<Conv<3, 4, 2, 1, 3>, Shape<3, 3, 4>>(n, 40 + n);      // P >= K
            compare_layer<Conv<1, 1, 1, 1, 0>, Shape<1, 1, 19>>(n, 50 + n);     // 1x1, one channel
            compare_layer<Frozen<Conv<3, 6, 3, 1, 1>>, Shape<3, 5, 5>>(n, 60 + n);
        }
        compare_layer<Conv<16, 32, 3, 1, 1>, Shape<16, 16, 16>>(4, 70);      // the seed CNN's
        compare_layer<Conv<3, 16, 3, 1, 1>, Shape<3, 32, 32>>(3, 71);        // (dW as dot products)
        compare_layer<Conv<1, 32, 5, 1, 2>, Shape<1, 28, 28>>(3, 72);
        compare_layer<Conv<2, 6, 3, 1, 0>, Shape<2, 4, 128>>(3, 73);         // flat columns
        compare_layer<Conv<1, 4, 3, 1, 0>, Shape<1, 7, 128>>(3, 74);        // flat, dW as dot products
        compare_layer<Conv<32, 64, 5, 1, 2>, Shape<32, 14, 14>>(2, 80);      // Fashion-MNIST's
        compare_layer<Conv<3, 8, 3, 2, 1>, Shape<3, 9, 9>>(2, 90);           // strided (reference)
    }
}

TEST_CASE("cpu Conv 3x3 by Winograd F(2x2,3x3) matches the reference", "[simd][conv][winograd]") {
    using namespace cpu_detail;
    // forward by Winograd from 8 input channels, dX from 8 output channels (see conv.hpp)
    STATIC_REQUIRE((conv_s1<16, 32, 3, 1, Shape<16, 16, 16>>::wino_fwd && conv_s1<16, 32, 3, 1, Shape<16, 16, 16>>::wino_dx));
    STATIC_REQUIRE((!conv_s1<3, 16, 3, 1, Shape<3, 32, 32>>::wino_fwd && !conv_s1<3, 16, 3, 1, Shape<3, 32, 32>>::wino_dx));
    STATIC_REQUIRE(!conv_s1<3, 16, 3, 1, Shape<3, 32, 32>>::wino_dw);
    STATIC_REQUIRE((conv_s1<8, 11, 3, 0, Shape<8, 6, 13>>::wino_dw && conv_s1<8, 11, 3, 0, Shape<8, 6, 13>>::wino_dx));
    STATIC_REQUIRE((conv_s1<32, 64, 5, 2, Shape<32, 14, 14>>::wino_fwd && conv_s1<32, 64, 5, 2, Shape<32, 14, 14>>::wino_dx));  // F(2x2,5x5)
    STATIC_REQUIRE((!conv_s1<8, 8, 7, 3, Shape<8, 9, 9>>::wino_fwd && !conv_s1<8, 8, 7, 3, Shape<8, 9, 9>>::wino_dx));
    if (simd::width == 8 || simd::width == 16) {  // the GEMM orientation follows the vector width
        CHECK((conv_s1<8, 16, 3, 1, Shape<8, 9, 7>>::wf2::tr && conv_s1<32, 64, 5, 2, Shape<32, 14, 14>>::wf2::tr));
        CHECK((!conv_s1<16, 32, 3, 1, Shape<16, 16, 16>>::wf2::tr));
    }
    STATIC_REQUIRE((!conv_s1<9, 5, 3, 1, Shape<9, 7, 9>>::wino_fwd && !conv_s1<9, 5, 3, 1, Shape<9, 7, 9>>::wino_dx));
    const thread_count_guard guard;
    for (std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        for (std::size_t n : {1, 3}) {
            compare_layer<Conv<9, 8, 3, 1, 1>, Shape<9, 7, 9>>(n, 110 + n);     // odd output rows and columns
            compare_layer<Conv<8, 11, 3, 1, 0>, Shape<8, 6, 13>>(n, 120 + n);   // no padding (dX: padding 2)
            compare_layer<Conv<10, 9, 3, 1, 2>, Shape<10, 5, 4>>(n, 130 + n);   // padding 2 (dX: none)
            compare_layer<Conv<16, 8, 3, 1, 1>, Shape<16, 2, 2>>(n, 150 + n);   // one tile
            compare_layer<Conv<8, 9, 5, 1, 2>, Shape<8, 9, 11>>(n, 170 + n);    // 5x5: odd rows and columns
            compare_layer<Conv<9, 8, 5, 1, 0>, Shape<9, 8, 7>>(n, 180 + n);     // 5x5, no padding (dX: 4)
            compare_layer<Conv<8, 10, 5, 1, 4>, Shape<8, 3, 5>>(n, 190 + n);    // 5x5, padding 4 (dX: none)
            compare_layer<Conv<12, 8, 5, 1, 2>, Shape<12, 4, 37>>(n, 200 + n);  // 5x5, 19 tiles a row
            compare_layer<Conv<8, 16, 3, 1, 1>, Shape<8, 9, 7>>(n, 210 + n);    // 20 tiles, 16 channels: GEMMs transposed
            compare_layer<Conv<16, 32, 5, 1, 2>, Shape<16, 7, 7>>(n, 220 + n);  // the same for 5x5 (and dX)
            compare_layer<Conv<12, 8, 3, 1, 1>, Shape<12, 3, 37>>(n, 140 + n);  // 19 tiles a row: two vectors
        }
    }
}

/// Whether a Winograd helper reads its patches with plain loads (winograd4 with 16-float vectors).
template <class Wg>
constexpr bool rows4() {
    if constexpr (requires { Wg::rows4; }) return Wg::rows4;
    else return false;
}

TEST_CASE("cpu Conv by Winograd F(4x4, 3x3) and F(4x4, 5x5) matches the reference", "[simd][conv][winograd]") {
    using namespace cpu_detail;
    // 4x4 tiles where their GEMMs do at most 3/4 of the 2x2 tiles' multiplies (vectors of 8 or 16)
    constexpr bool wide = simd::width == 8 || simd::width == 16;
    using F = conv_s1<32, 64, 5, 2, Shape<32, 14, 14>>;  // Fashion-MNIST's conv2
    using S = conv_s1<16, 32, 3, 1, Shape<16, 16, 16>>;  // the seed CNN's conv2
    using N = conv_s1<9, 8, 5, 0, Shape<9, 20, 20>>;     // forward 16 x 16, dX 20 x 20 (padding 4)
    using G = conv_s1<10, 9, 5, 2, Shape<10, 11, 17>>;   // 3 x 5 tiles
    STATIC_REQUIRE((F::wino4_fwd && F::wino4_dx && F::wino4_dw && S::wino4_fwd && S::wino4_dx && S::wino4_dw && N::wino4_fwd &&
                    N::wino4_dx && N::wino4_dw) == wide);
    STATIC_REQUIRE((!conv_s1<8, 16, 3, 1, Shape<8, 9, 7>>::wino4_fwd && !conv_s1<8, 16, 3, 1, Shape<8, 9, 7>>::wino4_dx));
    // with 16-float vectors, rows of 4 tiles (a vector is 4 tile rows) are loaded, not gathered
    STATIC_REQUIRE((rows4<F::wff>() && rows4<F::wb>() && rows4<S::wff>() && rows4<N::wff>()) == (simd::width == 16));
    STATIC_REQUIRE((!rows4<N::wb>() && !rows4<G::wff>()));
    const thread_count_guard guard;
    for (std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        for (std::size_t n : {1, 3}) {
            compare_layer<Conv<9, 20, 5, 1, 2>, Shape<9, 13, 15>>(n, 310 + n);  // 13 x 15 in 4 x 4 tiles; Co 20
            compare_layer<Conv<8, 12, 3, 1, 1>, Shape<8, 15, 13>>(n, 320 + n);  // 3x3
            compare_layer<Conv<10, 9, 5, 1, 2>, Shape<10, 11, 17>>(n, 330 + n); // 3 x 5 tiles (gathered)
            compare_layer<Conv<8, 8, 3, 1, 1>, Shape<8, 28, 28>>(n, 340 + n);   // 49 tiles: 4 vectors
            compare_layer<Conv<9, 8, 5, 1, 0>, Shape<9, 20, 20>>(n, 350 + n);   // no padding (dX: 4)
        }
        compare_layer<Conv<32, 64, 5, 1, 2>, Shape<32, 14, 14>>(2, 360);
    }
    // dW summed over a training batch's tiles (12 x 49): one running fp32 sum over them all was
    // 2.6e-5 of the scale; summed per sample, then added, it is within 1e-5
    set_num_threads(1);
    compare_layer<Conv<32, 64, 5, 1, 2>, Shape<32, 14, 14>>(12, 362);
}

TEST_CASE("cpu Conv: Inf and NaN inputs give the reference's pattern (Winograd falls back)", "[simd][conv][winograd]") {
    using L = Conv<8, 9, 3, 1, 1>;
    using In = Shape<8, 6, 7>;
    constexpr dims out = L::output(In::value);
    const std::size_t n = 3, np = L::params(In::value).total();
    auto x = random_vec(n * In::size, 160);
    x[In::size + 17] = std::nanf("");                                  // sample 1: a NaN
    x[2 * In::size + 50] = std::numeric_limits<float>::infinity();     // sample 2: an Inf
    const auto p = random_vec(np, 161);
    auto dy = random_vec(n * out.size(), 162);
    dy[5] = -std::numeric_limits<float>::infinity();                   // sample 0 of dY: an Inf
    const auto run = [&]<class K>(std::vector<float>& y, std::vector<float>& dx) {
        forward_args f;
        f.x = x.data(); f.y = y.data(); f.n = n; f.params = p.data(); f.training = true;
        K::forward(f);
        std::vector<float> dp(np, 0.0f);
        backward_args b;
        b.x = x.data(); b.y = y.data(); b.dy = dy.data(); b.dx = dx.data(); b.n = n; b.params = p.data(); b.dparams = dp.data();
        K::backward(b);
    };
    std::vector<float> y_ref(n * out.size()), y_cpu(y_ref.size()), dx_ref(n * In::size), dx_cpu(dx_ref.size());
    run.template operator()<kernel<L, In, reference>>(y_ref, dx_ref);
    run.template operator()<kernel_for<L, In, cpu>>(y_cpu, dx_cpu);
    const auto same = [](const std::vector<float>& a, const std::vector<float>& b, const char* what) {
        std::size_t special = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            INFO(what << " element " << i << ": " << a[i] << " vs reference " << b[i]);
            if (std::isfinite(b[i])) {
                CHECK(std::abs(a[i] - b[i]) <= 1e-4f * std::max(1.0f, std::abs(b[i])));
            } else {
                ++special;
                CHECK((std::isnan(a[i]) ? std::isnan(b[i]) : a[i] == b[i]));
            }
        }
        CHECK(special > 0);
    };
    same(y_cpu, y_ref, "y");
    same(dx_cpu, dx_ref, "dx");
}
