// The cpu (xsimd) backend against the reference backend: every kernel, forward and backward, on
// awkward shapes (widths and channel counts that are not multiples of the vector width) and
// several batch sizes; fusion against the unfused kernels; thread-count independence and
// bit-reproducibility for a fixed thread count.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace {

using namespace ctnn;

std::vector<float> random_vec(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    rng g(seed);
    std::vector<float> v(n);
    for (float& x : v) x = g.uniform(lo, hi);
    return v;
}

/// max |a - b| <= tol * max |b|: 1e-5 relative to the tensor's scale.
void check_close(const std::vector<float>& a, const std::vector<float>& b, const std::string& what, double tol = 1e-5) {
    REQUIRE(a.size() == b.size());
    double err = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        err = std::max(err, double(std::fabs(a[i] - b[i])));
        scale = std::max(scale, double(std::fabs(b[i])));
    }
    INFO(what << ": max error " << err << " at scale " << scale);
    CHECK(scale > 0);
    CHECK(err <= tol * scale);
}

/// Runs layer L on input shape In through backends A and B: forward and backward from the same
/// random data; dparams start non-zero to check accumulation; compares everything.
template <class L, class In>
void compare_layer(std::size_t n, std::uint64_t seed, bool exact = false) {
    constexpr dims in = In::value;
    constexpr dims out = L::output(in);
    const std::size_t np = L::params(in).total(), ns = L::saved(in, n);
    const auto x = random_vec(n * in.size(), seed);
    const auto p = random_vec(std::max<std::size_t>(np, 1), seed + 1);
    const auto dy = random_vec(n * out.size(), seed + 2);
    const auto dp0 = random_vec(std::max<std::size_t>(np, 1), seed + 3);
    struct result {
        std::vector<float> y, dx, dp, saved;
    };
    const auto run = [&]<class K>() {
        result r{std::vector<float>(n * out.size(), std::nanf("")), std::vector<float>(n * in.size(), std::nanf("")), dp0,
                 std::vector<float>(std::max<std::size_t>(ns, 1), 0.0f)};
        forward_args f;
        f.x = x.data(); f.y = r.y.data(); f.n = n; f.params = p.data(); f.saved = r.saved.data(); f.training = true;
        K::forward(f);
        backward_args b;
        b.x = x.data(); b.y = r.y.data(); b.dy = dy.data(); b.dx = r.dx.data(); b.n = n; b.params = p.data();
        b.dparams = np ? r.dp.data() : nullptr; b.saved = r.saved.data();
        K::backward(b);
        return r;
    };
    const result ref = run.template operator()<kernel<L, In, reference>>();
    const result got = run.template operator()<kernel_for<L, In, cpu>>();
    INFO(L::name() << " on " << to_string(in) << ", batch " << n);
    if (exact) {
        CHECK(got.y == ref.y);
        CHECK(got.dx == ref.dx);
        CHECK(got.saved == ref.saved);
    } else {
        check_close(got.y, ref.y, "y");
        check_close(got.dx, ref.dx, "dx");
        if (np) check_close(got.dp, ref.dp, "dparams (accumulated)");
    }
}

struct thread_count_guard {
    std::size_t saved = num_threads();
    ~thread_count_guard() { set_num_threads(saved); }
};

}  // namespace

TEST_CASE("cpu backend: the kernels it specializes", "[simd]") {
    STATIC_REQUIRE(!has_kernel<Conv<3, 8, 3, 2, 1>, Shape<3, 9, 9>, cpu>);  // strided: reference
    STATIC_REQUIRE(has_kernel<Conv<3, 8, 3, 1, 1>, Shape<3, 9, 9>, cpu>);
    STATIC_REQUIRE(has_kernel<Linear<5, 3>, Shape<5>, cpu>);
    STATIC_REQUIRE(has_kernel<MaxPool<2>, Shape<1, 4, 4>, cpu>);
    STATIC_REQUIRE(has_kernel<ReLU, Shape<7>, cpu>);
    STATIC_REQUIRE(std::is_same_v<default_backend, cpu>);
    INFO("vector: " << simd::vec::name << ", " << simd::width << " floats");
    CHECK(simd::width >= 1);
}

TEST_CASE("cpu Conv matches the reference, forward and backward", "[simd][conv]") {
    // both column layouts and both dW forms are among the shapes below (on AVX-512 and AVX2)
    using namespace cpu_detail;
    using fm2 = conv_s1<32, 64, 5, 2, Shape<32, 14, 14>>;
    using seed1 = conv_s1<3, 16, 3, 1, Shape<3, 32, 32>>;
    using flat = conv_s1<2, 6, 3, 0, Shape<2, 4, 128>>;
    using flat_dot = conv_s1<1, 4, 3, 0, Shape<1, 7, 128>>;
    STATIC_REQUIRE((fm2::compact && fm2::compact_dw && !fm2::dw_dot));
    STATIC_REQUIRE((!seed1::compact && seed1::compact_dw && seed1::dw_dot));
    STATIC_REQUIRE((!flat::compact && !flat::compact_dw && !flat::dw_dot));
    STATIC_REQUIRE((!flat_dot::compact && !flat_dot::compact_dw && flat_dot::dw_dot));
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
    STATIC_REQUIRE((conv_s1<8, 16, 3, 1, Shape<8, 9, 7>>::wf::tr && conv_s1<32, 64, 5, 2, Shape<32, 14, 14>>::wf::tr));
    STATIC_REQUIRE((!conv_s1<16, 32, 3, 1, Shape<16, 16, 16>>::wf::tr));
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

TEST_CASE("cpu Linear matches the reference, forward and backward", "[simd][linear]") {
    const thread_count_guard guard;
    for (std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        // batches around the vector width and the small-batch / batched switch (8)
        for (std::size_t n : {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64}) {
            compare_layer<Linear<37, 13>, Shape<37>>(n, 100 + n);
            compare_layer<Linear<64, 10>, Shape<64>>(n, 200 + n);
            compare_layer<Linear<3, 1>, Shape<3>>(n, 300 + n);
        }
        for (std::size_t n : {1, 5, 8, 33})
            compare_layer<Linear<300, 130>, Shape<300>>(n, 500 + n);
        compare_layer<Linear<2048, 10>, Shape<2048>>(5, 400);
        compare_layer<Linear<2048, 10>, Shape<2048>>(40, 410);
    }
    compare_layer<Linear<3136, 1024>, Shape<3136>>(33, 520);  // Fashion-MNIST's fc1
}

TEST_CASE("cpu Linear: forward numbers do not depend on the thread count; Linear+ReLU as unfused",
          "[simd][linear]") {
    const thread_count_guard guard;
    using L = Linear<300, 130>;
    using K = kernel_for<L, Shape<300>, cpu>;
    const auto p = random_vec(L::params(Shape<300>::value).total(), 1);
    for (std::size_t n : {1, 3, 8, 17, 40}) {
        const auto x = random_vec(n * 300, 2 + n);
        std::vector<std::vector<float>> ys;
        for (std::size_t threads : {1, 2, 3}) {
            set_num_threads(threads);
            std::vector<float> y(n * 130), yr(n * 130), yf(n * 130);
            forward_args f;
            f.x = x.data(); f.y = y.data(); f.n = n; f.params = p.data();
            K::forward(f);
            ys.push_back(y);
            f.x = y.data(); f.y = yr.data();
            kernel_for<ReLU, Shape<130>, cpu>::forward(f);
            f.x = x.data(); f.y = yf.data();
            fused<cpu, Shape<300>, L, ReLU, no_layer>::forward(f);
            CHECK(yf == yr);
        }
        CHECK(ys[1] == ys[0]);
        CHECK(ys[2] == ys[0]);
    }
}

TEST_CASE("cpu MaxPool and ReLU match the reference exactly", "[simd][pool]") {
    const thread_count_guard guard;
    for (std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        for (std::size_t n : {1, 4}) {
            compare_layer<MaxPool<2>, Shape<3, 7, 9>>(n, 600 + n, true);
            compare_layer<MaxPool<2>, Shape<16, 32, 32>>(n, 610 + n, true);
            compare_layer<MaxPool<3, 2>, Shape<2, 9, 11>>(n, 620 + n, true);
            compare_layer<MaxPool<2, 1>, Shape<2, 5, 37>>(n, 630 + n, true);
            compare_layer<ReLU, Shape<37>>(n, 640 + n, true);
            compare_layer<ReLU, Shape<4, 33, 35>>(n, 650 + n, true);
        }
    }
}

TEST_CASE("cpu MaxPool: ties and NaN pick the reference's index", "[simd][pool]") {
    using In = Shape<2, 6, 40>;
    const std::size_t n = 2;
    auto x = random_vec(n * In::size, 700);
    for (float& v : x) v = std::round(v * 1.5f);  // few distinct values: many ties
    x[5] = std::nanf("");                          // NaN in some windows
    x[44] = std::nanf("");                         // two NaNs in one window: the last one wins
    x[In::size + 41] = std::nanf("");
    x[100] = -std::numeric_limits<float>::infinity();
    x[161] = std::numeric_limits<float>::infinity();
    for (int which = 0; which < 2; ++which) {
        std::vector<float> y(n * 2 * 3 * 20), s(y.size());
        forward_args f;
        f.x = x.data(); f.y = y.data(); f.n = n; f.saved = s.data(); f.training = true;
        std::vector<float> y2 = y, s2 = s;
        kernel<MaxPool<2>, In, reference>::forward(f);
        f.y = y2.data(); f.saved = s2.data();
        kernel<MaxPool<2>, In, cpu>::forward(f);
        CHECK(s2 == s);
        for (std::size_t i = 0; i < y.size(); ++i) {
            INFO("output " << i);
            CHECK((y[i] == y2[i] || (std::isnan(y[i]) && std::isnan(y2[i]))));
        }
        for (float& v : x) v = v == v ? std::max(v, 0.0f) : v;  // ReLU'd input: ties at 0
    }
    // ReLU passes NaN and turns -0 into +0, like the reference.
    std::vector<float> r = {-0.0f, std::nanf(""), -1.0f, 2.0f, 0.0f};
    r.resize(37, 1.0f);
    std::vector<float> a(37), b(37);
    forward_args f;
    f.x = r.data(); f.y = a.data(); f.n = 1;
    kernel<ReLU, Shape<37>, reference>::forward(f);
    f.y = b.data();
    kernel<ReLU, Shape<37>, cpu>::forward(f);
    CHECK(std::signbit(b[0]) == std::signbit(a[0]));
    CHECK(std::isnan(b[1]));
    for (std::size_t i = 2; i < 37; ++i) CHECK(a[i] == b[i]);
    // Backward: a NaN output passes dy (as PyTorch), at a vector position and in the tail.
    std::vector<float> y = b, dy = random_vec(37, 5), dx_ref(37), dx_cpu(37);
    y[36] = std::nanf("");
    backward_args g;
    g.x = r.data(); g.y = y.data(); g.dy = dy.data(); g.n = 1; g.dx = dx_ref.data();
    kernel<ReLU, Shape<37>, reference>::backward(g);
    g.dx = dx_cpu.data();
    kernel<ReLU, Shape<37>, cpu>::backward(g);
    CHECK(dx_cpu == dx_ref);
    CHECK(dx_cpu[1] == dy[1]);
    CHECK(dx_cpu[36] == dy[36]);
}

namespace {
using FuseNet = Sequential<Input<3, 12, 10>, Conv<3, 7, 3, 1, 1>, ReLU, MaxPool<2>, Conv<7, 5, 3, 1, 1>, ReLU, Flatten,
                           Linear<150, 19>, ReLU, Linear<19, 5>>;
using SeedNet = Sequential<Input<3, 32, 32>, Conv<3, 16, 3, 1, 1>, ReLU, MaxPool<2>, Conv<16, 32, 3, 1, 1>, ReLU,
                           MaxPool<2>, Flatten, Linear<2048, 10>>;
// Winograd convolutions with fused ReLU + 2x2 pool on odd maps, and with ReLU alone
using WinoNet = Sequential<Input<9, 9, 11>, Conv<9, 10, 3, 1, 1>, ReLU, MaxPool<2>, Conv<10, 8, 3, 1, 0>, ReLU, Flatten,
                           Linear<48, 3>>;
// Winograd with the GEMMs transposed (tiles not a whole vector, channels a whole vector), 5x5
// after 3x3, odd maps, pooled and not
using WinoNetT = Sequential<Input<8, 9, 7>, Conv<8, 16, 3, 1, 1>, ReLU, MaxPool<2>, Conv<16, 32, 5, 1, 2>, ReLU,
                            Flatten, Linear<384, 5>>;
}  // namespace

TEST_CASE("cpu fusion: Conv+ReLU(+MaxPool) and Linear+ReLU give the unfused numbers", "[simd][fusion]") {
    STATIC_REQUIRE(FuseNet::fusion_plan<cpu> == std::array<std::size_t, 9>{3, 0, 0, 2, 0, 1, 2, 0, 1});
    STATIC_REQUIRE(SeedNet::fusion_plan<cpu> == std::array<std::size_t, 8>{3, 0, 0, 3, 0, 0, 1, 1});
    STATIC_REQUIRE(SeedNet::fusion_plan<reference> == std::array<std::size_t, 8>{1, 1, 1, 1, 1, 1, 1, 1});
    const thread_count_guard guard;
    for (std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        const auto check_net = [&]<class Net>() {
            Net net(3);
            for (std::size_t n : {1, 2, 7}) {
                const auto x = random_vec(n * Net::input_size, 800 + n);
                std::vector<float> fused(n * Net::output_size), ref(fused.size());
                net.template forward<cpu>(x.data(), fused.data(), n);
                net.template forward<reference>(x.data(), ref.data(), n);
                check_close(fused, ref, "fused cpu vs reference");
                // forward_train runs every layer's own cpu kernel (no BatchNorm or Dropout here)
                const float* unfused = net.template forward_train<cpu>(x.data(), n);
                CHECK(std::vector<float>(unfused, unfused + fused.size()) == fused);
            }
        };
        check_net.template operator()<FuseNet>();
        check_net.template operator()<WinoNet>();
        check_net.template operator()<WinoNetT>();
        check_net.template operator()<SeedNet>();
    }
}

TEST_CASE("cpu training fusion: Conv+ReLU+MaxPool<2> forward and backward give the reference's numbers", "[simd][fusion]") {
    STATIC_REQUIRE(SeedNet::train_plan<cpu> == std::array<std::size_t, 8>{3, 0, 0, 3, 0, 0, 1, 1});
    STATIC_REQUIRE(FuseNet::train_plan<cpu> == std::array<std::size_t, 9>{3, 0, 0, 1, 1, 1, 1, 1, 1});
    STATIC_REQUIRE(SeedNet::train_plan<reference> == std::array<std::size_t, 8>{1, 1, 1, 1, 1, 1, 1, 1});
    const thread_count_guard guard;
    // finite: close to the reference; with a NaN and an Inf in the input (and ties at 0 from
    // ReLU): the same NaN pattern, and the finite values close
    const auto compare = [&]<class Net>(std::size_t n, std::uint64_t seed, bool special) {
        Net net(seed);
        auto x = random_vec(n * Net::input_size, seed + 1);
        if (special) {
            x[7] = std::nanf("");
            x[Net::input_size + 40] = std::numeric_limits<float>::infinity();
        }
        const auto dy = random_vec(n * Net::output_size, seed + 2);
        const auto run = [&]<class B>(std::vector<float>& y, std::vector<float>& g, std::vector<float>& din) {
            const float* out = net.template forward_train<B>(x.data(), n);
            y.assign(out, out + n * Net::output_size);
            net.zero_grad();
            din.assign(n * Net::input_size, 0.0f);
            net.template backward<B>(dy.data(), din.data());
            g.assign(net.grads().begin(), net.grads().end());
        };
        std::vector<float> y1, g1, d1, y2, g2, d2;
        run.template operator()<reference>(y1, g1, d1);
        run.template operator()<cpu>(y2, g2, d2);
        const auto same = [](const std::vector<float>& a, const std::vector<float>& b, const char* what) {
            REQUIRE(a.size() == b.size());
            double err = 0, scale = 0;
            for (std::size_t i = 0; i < a.size(); ++i) {
                INFO(what << " element " << i);
                CHECK(std::isnan(a[i]) == std::isnan(b[i]));
                if (std::isfinite(b[i])) {
                    err = std::max(err, double(std::fabs(a[i] - b[i])));
                    scale = std::max(scale, double(std::fabs(b[i])));
                } else if (!std::isnan(b[i])) {
                    CHECK(a[i] == b[i]);
                }
            }
            INFO(what << ": max error " << err << " at scale " << scale);
            CHECK(err <= 1e-5 * scale);
        };
        same(y2, y1, "y");
        same(g2, g1, "parameter gradients");
        same(d2, d1, "input gradient");
    };
    for (std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        for (bool special : {false, true}) {
            compare.template operator()<SeedNet>(3, 40, special);
            compare.template operator()<WinoNet>(5, 41, special);
            compare.template operator()<WinoNetT>(3, 43, special);
            compare.template operator()<FuseNet>(2, 42, special);
        }
    }
}

TEST_CASE("zero_grad: the next backward overwrites the gradients, later ones add to them", "[simd][train]") {
    const thread_count_guard guard;
    set_num_threads(2);
    SeedNet net(7);
    const std::size_t n = 4;
    const auto x = random_vec(n * SeedNet::input_size, 8);
    const auto dy = random_vec(n * SeedNet::output_size, 9);
    for (float& g : net.grads()) g = 1e6f;  // stale values a missed overwrite would keep
    net.zero_grad();
    for (float g : net.grads()) REQUIRE(g == 0.0f);  // read as zeros
    for (float& g : net.grads()) g = 1e6f;
    net.zero_grad();
    net.forward_train(x.data(), n);
    net.backward(dy.data());
    const std::vector<float> once(net.grads().begin(), net.grads().end());
    net.forward_train<reference>(x.data(), n);
    net.zero_grad();
    net.backward<reference>(dy.data());
    check_close(once, std::vector<float>(net.grads().begin(), net.grads().end()), "first backward after zero_grad");
    net.zero_grad();
    net.forward_train(x.data(), n);
    net.backward(dy.data());
    net.backward(dy.data());  // no zero_grad: accumulates
    std::vector<float> twice(once.size());
    for (std::size_t i = 0; i < once.size(); ++i) twice[i] = 2.0f * once[i];
    check_close(std::vector<float>(net.grads().begin(), net.grads().end()), twice, "two backwards");
}

namespace {
/// Gradients after forward_train + backward with the default (cpu) backend.
template <class Net>
std::vector<float> train_grads(std::size_t threads, std::size_t n, std::uint64_t seed, std::vector<float>* din = nullptr) {
    set_num_threads(threads);
    Net net(seed);
    const auto x = random_vec(n * Net::input_size, seed + 1);
    const auto dy = random_vec(n * Net::output_size, seed + 2);
    net.forward_train(x.data(), n);
    net.zero_grad();
    if (din) din->assign(n * Net::input_size, 0.0f);
    net.backward(dy.data(), din ? din->data() : nullptr);
    return {net.grads().begin(), net.grads().end()};
}
}  // namespace

TEST_CASE("cpu threads: results depend on the thread count only by reassociation; reproducible", "[simd][threads]") {
    const thread_count_guard guard;
    std::vector<float> din1, din2, din2b;
    const auto g1 = train_grads<SeedNet>(1, 12, 5, &din1);
    const auto g2 = train_grads<SeedNet>(2, 12, 5, &din2);
    const auto g2b = train_grads<SeedNet>(2, 12, 5, &din2b);
    check_close(g2, g1, "grads, 2 threads vs 1");
    check_close(din2, din1, "input grads, 2 threads vs 1");
    CHECK(g2 == g2b);  // bit-reproducible for a fixed thread count
    CHECK(din2 == din2b);
    const auto g3 = train_grads<SeedNet>(3, 12, 5);  // more threads than cores
    check_close(g3, g1, "grads, 3 threads vs 1");

    // Inference does not depend on the thread count at all (each sample is computed alone).
    SeedNet net(9);
    const std::size_t n = 9;
    const auto x = random_vec(n * SeedNet::input_size, 10);
    std::vector<float> y1(n * 10), y2(n * 10);
    set_num_threads(1);
    net.forward(x.data(), y1.data(), n);
    set_num_threads(2);
    net.forward(x.data(), y2.data(), n);
    CHECK(y1 == y2);
}

TEST_CASE("cpu threads: set_num_threads and parallel_for", "[simd][threads]") {
    const thread_count_guard guard;
    set_num_threads(3);
    CHECK(num_threads() == 3);
    std::vector<int> hit(5, 0);
    parallel_for(5, [&](std::size_t t) { hit[t] += 1; });  // more tasks than threads
    CHECK(hit == std::vector<int>(5, 1));
    set_num_threads(0);
    CHECK(num_threads() == 1);
    const range r0 = split(10, 0, 3), r2 = split(10, 2, 3);
    CHECK(r0.begin == 0);
    CHECK(r2.end == 10);
}
