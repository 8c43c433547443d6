// GELU, SiLU, Hardswish, Hardsigmoid and Upsample<Scale>: against PyTorch (golden files from
// tools/make_reference.py, with NaN, ±inf, ±0 and the kinks at ±3 among the inputs), PyTorch's
// conventions at the kinks by hand, gradients by finite differences, the cpu kernels against the
// reference at awkward sizes and thread counts, and a net that uses all five: one training step,
// the backends agreeing, its summary and its safetensors description.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <type_traits>
#include <unistd.h>
#include <utility>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/io.hpp>
#include <ctnn/train.hpp>

#include "golden_check.hpp"
#include "gradcheck.hpp"
#include "thread_count_guard.hpp"

using namespace ctnn;
using namespace ctnn_test;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

static_assert(activation<GELU> && activation<SiLU> && activation<Hardswish> && activation<Hardsigmoid>);
static_assert(!activation<Upsample<2>>);
// None of the four has a gradient that is a function of its output (see each header for why).
static_assert(!GELU::grad_from_output && !SiLU::grad_from_output && !Hardswish::grad_from_output &&
              !Hardsigmoid::grad_from_output);
static_assert(Upsample<3>::output(chw(2, 5, 7)) == chw(2, 15, 21));
static_assert(Upsample<1>::output(chw(2, 5, 7)) == chw(2, 5, 7));
static_assert(Upsample<2>::check(flat(12)).what == problem::image_input);
static_assert(Upsample<2>::hparams().count == 1 && Upsample<2>::hparams().p[0].name == "scale_factor" &&
              Upsample<2>::hparams().p[0].num == 2);

/// One forward and one backward of layer L through backend B's kernel, batch n.
template <class L, class In, class B>
std::pair<std::vector<float>, std::vector<float>> run_layer(const std::vector<float>& x, const std::vector<float>& dy,
                                                            std::size_t n) {
    std::vector<float> y(dy.size(), 12345.0f), dx(x.size(), 12345.0f);
    forward_args f;
    f.x = x.data(); f.y = y.data(); f.n = n; f.training = true;
    kernel_for<L, In, B>::forward(f);
    backward_args b;
    b.x = x.data(); b.y = y.data(); b.dy = dy.data(); b.dx = dx.data(); b.n = n;
    kernel_for<L, In, B>::backward(b);
    return {y, dx};
}

/// Largest |a - b| / max(|b|, 1) over the elements; NaN must meet NaN and an infinity the same
/// infinity, else the error is infinite. (`!(e <= worst)` so that a NaN error is not skipped.)
double max_err(const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) continue;
        double e = std::abs(double(a[i]) - b[i]) / std::max(std::abs(double(b[i])), 1.0);
        if (std::isnan(e) || std::isinf(a[i]) || std::isinf(b[i])) e = kInf;
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/// Inputs in [-8, 8], with NaN, ±inf, ±0, ±3 and values just inside and outside ±3 spread over
/// vector positions and the scalar tail.
std::vector<float> act_input(std::size_t size, std::uint64_t seed) {
    rng g(seed);
    std::vector<float> x(size);
    for (float& v : x) v = g.uniform(-8.0f, 8.0f);
    const float special[] = {kNaN, kInf, -kInf, 0.0f, -0.0f, 3.0f, -3.0f, std::nextafter(3.0f, 0.0f),
                             std::nextafter(-3.0f, 0.0f), std::nextafter(3.0f, 4.0f), -20.0f, 88.0f};
    for (std::size_t i = 0; i < std::size(special); ++i) x[std::size_t(g.below(size))] = special[i];
    return x;
}

/// Worst error of the cpu kernel against the reference kernel for L on In, batch n.
template <class L, class In>
double cpu_vs_reference(std::size_t n, std::uint64_t seed) {
    const auto x = act_input(n * In::size, seed);
    rng g(seed + 1);
    std::vector<float> dy(x.size());
    for (float& v : dy) v = g.uniform(-1.0f, 1.0f);
    const auto [yr, dxr] = run_layer<L, In, reference>(x, dy, n);
    const auto [yc, dxc] = run_layer<L, In, cpu>(x, dy, n);
    INFO(L::name() << " on " << to_string(In::value) << ", batch " << n);
    return std::max(max_err(yc, yr), max_err(dxc, dxr));
}

}  // namespace

TEST_CASE("golden: GELU, SiLU, Hardswish, Hardsigmoid match PyTorch (also NaN, inf, +-0, +-3)", "[golden][activation]") {
    layer_case<GELU, Shape<3, 5, 7>>("gelu_3x5x7_n7");
    layer_case<GELU, Shape<19>>("gelu_19_n1");
    layer_case<GELU, Shape<19>>("gelu_special_19_n2");
    layer_case<SiLU, Shape<3, 5, 7>>("silu_3x5x7_n7");
    layer_case<SiLU, Shape<19>>("silu_19_n1");
    layer_case<SiLU, Shape<19>>("silu_special_19_n2");
    layer_case<Hardswish, Shape<3, 5, 7>>("hardswish_3x5x7_n7");
    layer_case<Hardswish, Shape<19>>("hardswish_19_n1");
    layer_case<Hardswish, Shape<19>>("hardswish_special_19_n2");
    layer_case<Hardsigmoid, Shape<3, 5, 7>>("hardsigmoid_3x5x7_n7");
    layer_case<Hardsigmoid, Shape<19>>("hardsigmoid_19_n1");
    layer_case<Hardsigmoid, Shape<19>>("hardsigmoid_special_19_n2");
}

TEST_CASE("golden: Upsample (nearest, scale 2 and 3) and a net with all five layers match PyTorch", "[golden][upsample]") {
    layer_case<Upsample<2>, Shape<3, 5, 7>>("upsample_s2_3x5x7_n7");
    layer_case<Upsample<3>, Shape<2, 3, 5>>("upsample_s3_2x3x5_n1");
    layer_case<Upsample<3>, Shape<1, 1, 1>>("upsample_s3_1x1x1_n7");
    using Net = Sequential<Input<3, 8, 8>, Conv<3, 4, 3, 1, 1>, Hardswish, Upsample<2>, Conv<4, 2, 3, 1, 1>, GELU,
                           Flatten, Linear<2 * 16 * 16, 3>, SiLU>;
    net_case<Net>("net_act2_upsample_n5");
}

TEST_CASE("activations at the kinks and special values follow PyTorch's definitions", "[activation]") {
    using M = scalar_math;
    // Hardswish: PyTorch's hardswish_backward: 0 below -3, dy (x/3 + 1/2) on the closed [-3, 3],
    // dy above 3 and for NaN (which fails every comparison)
    CHECK(Hardswish::df<M>(-3.0f, 0.0f, 2.0f) == -1.0f);
    CHECK(Hardswish::df<M>(std::nextafter(-3.0f, -4.0f), 0.0f, 2.0f) == 0.0f);
    CHECK(Hardswish::df<M>(3.0f, 0.0f, 2.0f) == 3.0f);
    CHECK(Hardswish::df<M>(std::nextafter(3.0f, 4.0f), 0.0f, 2.0f) == 2.0f);
    CHECK(Hardswish::df<M>(0.0f, 0.0f, 2.0f) == 1.0f);
    CHECK(Hardswish::df<M>(kNaN, kNaN, 2.0f) == 2.0f);
    CHECK(Hardswish::df<M>(kInf, kInf, 2.0f) == 2.0f);
    CHECK(Hardswish::df<M>(-kInf, kNaN, 2.0f) == 0.0f);
    CHECK(Hardswish::f<M>(3.0f) == 3.0f);
    CHECK(Hardswish::f<M>(-3.0f) == 0.0f);
    CHECK(std::signbit(Hardswish::f<M>(-5.0f)));  // x · 0 = -0, as PyTorch
    CHECK(std::isnan(Hardswish::f<M>(-kInf)));      // -inf · 0
    CHECK(Hardswish::f<M>(kInf) == kInf);
    // Hardsigmoid: dy / 6 strictly inside (-3, 3), 0 at ±3, outside, and for NaN
    CHECK(Hardsigmoid::df<M>(3.0f, 1.0f, 6.0f) == 0.0f);
    CHECK(Hardsigmoid::df<M>(-3.0f, 0.0f, 6.0f) == 0.0f);
    CHECK(Hardsigmoid::df<M>(std::nextafter(3.0f, 0.0f), 1.0f, 6.0f) == 6.0f * (1.0f / 6.0f));
    CHECK(Hardsigmoid::df<M>(kNaN, kNaN, 6.0f) == 0.0f);
    CHECK(Hardsigmoid::f<M>(std::nextafter(3.0f, 0.0f)) == 1.0f);  // why grad_from_output is false
    CHECK(std::isnan(Hardsigmoid::f<M>(kNaN)));
    CHECK(Hardsigmoid::f<M>(-kInf) == 0.0f);
    CHECK(Hardsigmoid::f<M>(kInf) == 1.0f);
    // GELU and SiLU: NaN where PyTorch has it (-inf · 0, inf · 0), -0 kept
    CHECK(std::isnan(GELU::f<M>(-kInf)));
    CHECK(GELU::f<M>(kInf) == kInf);
    CHECK(std::isnan(GELU::df<M>(kInf, kInf, 1.0f)));
    CHECK(GELU::df<M>(0.0f, 0.0f, 1.0f) == 0.5f);
    CHECK(std::isnan(SiLU::f<M>(-kInf)));
    CHECK(SiLU::f<M>(kInf) == kInf);
    CHECK(std::signbit(SiLU::f<M>(-0.0f)));
    CHECK(std::isnan(SiLU::df<M>(-kInf, kNaN, 1.0f)));
    CHECK(SiLU::df<M>(0.0f, 0.0f, 1.0f) == 0.5f);
    for (float v : {GELU::f<M>(kNaN), SiLU::f<M>(kNaN), Hardswish::f<M>(kNaN), GELU::df<M>(kNaN, kNaN, 1.0f),
                    SiLU::df<M>(kNaN, kNaN, 1.0f)})
        CHECK(std::isnan(v));
}

TEST_CASE("cpu activations: GELU, SiLU, Hardswish, Hardsigmoid match the reference kernels", "[simd][activation]") {
    // Tolerance: the cpu kernels run the same formulas on xsimd vectors, whose exp and erf are
    // within a few ulp of the C library's. The error is measured against max(|ref|, 1): where the
    // formula cancels (1 + erf(x/√2) for x < -2, x (1 - σ) for large x) a few ulp of 1 are all
    // that float32 determines, in either kernel; 1e-6 is about 8 ulp of 1. Hardswish and
    // Hardsigmoid use no transcendental function: bit-identical results are required.
    const thread_count_guard guard;
    double worst_smooth = 0, worst_hard = 0;
    for (std::size_t threads : {1, 2, 3}) {
        set_num_threads(threads);
        for (std::size_t n : {1, 5}) {
            const std::uint64_t s = 1000 * threads + 10 * n;
            const auto smooth = [&]<class In>() {
                worst_smooth = std::max({worst_smooth, cpu_vs_reference<GELU, In>(n, s + 1), cpu_vs_reference<SiLU, In>(n, s + 2)});
                worst_hard = std::max({worst_hard, cpu_vs_reference<Hardswish, In>(n, s + 3),
                                       cpu_vs_reference<Hardsigmoid, In>(n, s + 4)});
            };
            smooth.template operator()<Shape<1>>();
            smooth.template operator()<Shape<7>>();
            smooth.template operator()<Shape<17>>();
            smooth.template operator()<Shape<31>>();
            smooth.template operator()<Shape<67>>();
            smooth.template operator()<Shape<3, 5, 7>>();
            smooth.template operator()<Shape<4, 33, 35>>();  // large enough to split over the threads
        }
    }
    if (std::getenv("CTNN_GOLDEN_REPORT"))
        std::printf("cpu vs reference: GELU/SiLU max err %.2e, Hardswish/Hardsigmoid %.2e\n", worst_smooth, worst_hard);
    CHECK(worst_smooth <= 1e-6);
    CHECK(worst_hard == 0.0);
}

TEST_CASE("cpu Upsample matches the reference exactly", "[simd][upsample]") {
    // forward copies; backward sums each block in the same order on both backends (and the
    // kernel in use is the cpu one, not the reference it would fall back to)
    static_assert(std::is_same_v<kernel_for<Upsample<2>, Shape<3, 5, 7>, cpu>, kernel<Upsample<2>, Shape<3, 5, 7>, cpu>>);
    const thread_count_guard guard;
    for (std::size_t threads : {1, 2, 3}) {
        set_num_threads(threads);
        for (std::size_t n : {1, 5}) {
            const auto check = [&]<class L, class In>() {
                const auto x = act_input(n * In::size, 77 + n);
                rng g(78 + n);
                std::vector<float> dy(n * L::output(In::value).size());
                for (float& v : dy) v = g.uniform(-1.0f, 1.0f);
                const auto [yr, dxr] = run_layer<L, In, reference>(x, dy, n);
                const auto [yc, dxc] = run_layer<L, In, cpu>(x, dy, n);
                INFO(L::name() << " on " << to_string(In::value) << ", batch " << n << ", threads " << threads);
                CHECK(max_err(yc, yr) == 0.0);
                CHECK(max_err(dxc, dxr) == 0.0);
            };
            check.template operator()<Upsample<2>, Shape<3, 5, 7>>();
            check.template operator()<Upsample<3>, Shape<2, 3, 5>>();
            check.template operator()<Upsample<2>, Shape<1, 1, 1>>();
            check.template operator()<Upsample<1>, Shape<2, 3, 4>>();
            check.template operator()<Upsample<2>, Shape<8, 17, 31>>();
            check.template operator()<Upsample<3>, Shape<5, 11, 13>>();
            check.template operator()<Upsample<2>, Shape<16, 40, 40>>();  // split over the threads
        }
    }
}

TEST_CASE("gradcheck: GELU, SiLU and Upsample (smooth)", "[gradcheck][activation]") {
    using Net = Sequential<Input<2, 5, 6>, Conv<2, 3, 3, 1, 1>, GELU, Upsample<2>, Conv<3, 2, 3, 1, 1>, SiLU, Flatten,
                           Linear<2 * 10 * 12, 4>, GELU>;
    const auto r = check_net<Net>("gelu-silu-upsample", 3, 8, 11, 1e-2f, 2.0f, 2.0f);
    CHECK(r.failed == 0);
    CHECK(r.skipped == 0);
    CHECK(r.checked == 8 + 3 + 8 + 2 + 8 + 4 + 8);  // conv, conv, linear (weight, bias), input
}

TEST_CASE("gradcheck: Hardswish, Hardsigmoid (kinks at +-3) and Upsample<3>", "[gradcheck][activation]") {
    // weights and inputs scaled up so pre-activations spread well past ±3: the flat parts, the
    // kinks and the middle pieces all carry samples
    using Flat = Sequential<Input<12>, Linear<12, 10>, Hardswish, Linear<10, 8>, Hardsigmoid, Linear<8, 4>>;
    const auto a = check_net<Flat>("hardswish-hardsigmoid", 5, 10, 12, 1e-3f, 3.0f, 3.0f);
    check_kinked(a);
    CHECK(a.total() == 10 + 10 + 10 + 8 + 10 + 4 + 10);
    using Map = Sequential<Input<2, 3, 4>, Upsample<3>, Conv<2, 3, 3>, Hardswish, Flatten, Linear<3 * 7 * 10, 5>,
                           Hardsigmoid>;
    const auto b = check_net<Map>("upsample3-hardswish", 3, 10, 13, 1e-3f, 3.0f, 3.0f);
    check_kinked(b);
    CHECK(b.total() == 10 + 3 + 10 + 5 + 10);
}

namespace {
using ActNet = Sequential<Input<3, 8, 8>, Conv<3, 4, 3, 1, 1>, Hardswish, Upsample<2>, Conv<4, 2, 3, 1, 1>, GELU,
                          Flatten, Linear<2 * 16 * 16, 3>, SiLU>;
}

TEST_CASE("a net with Hardswish, Upsample, GELU, SiLU trains a step; the backends agree", "[train][activation]") {
    static_assert(std::is_same_v<ActNet::shape_at<3>, Shape<4, 16, 16>>);
    ActNet net(21);
    const std::vector<float> before(net.params().begin(), net.params().end());
    rng g(22);
    std::vector<float> x(4 * ActNet::input_size);
    for (float& v : x) v = g.normal() * 2.0f;
    const std::vector<std::int32_t> labels = {0, 2, 1, 2};
    SGD opt(net, 0.1f);
    const float loss = train_step(net, opt, CrossEntropy{}, x.data(), labels.data(), labels.size());
    CHECK(std::isfinite(loss));
    std::size_t changed = 0;
    for (std::size_t i = 0; i < before.size(); ++i) {
        REQUIRE(std::isfinite(net.params()[i]));
        changed += net.params()[i] != before[i];
    }
    CHECK(changed * 10 > before.size() * 9);  // nearly every parameter moved
    std::vector<float> yd(4 * ActNet::output_size), yr(yd.size());
    net.forward(x.data(), yd.data(), 4);
    net.forward<reference>(x.data(), yr.data(), 4);
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < yd.size(); ++i) {
        worst = std::max(worst, std::abs(double(yd[i]) - yr[i]));
        scale = std::max(scale, std::abs(double(yr[i])));
        REQUIRE(std::isfinite(yd[i]));
    }
    CHECK(worst <= 1e-5 * scale);  // only summation order and xsimd's erf/exp differ
}

TEST_CASE("summary() and the safetensors description name the new layers", "[activation][upsample]") {
    const std::string s = ActNet::summary();
    for (const char* name : {"Hardswish", "Upsample(x2, nearest)", "GELU", "SiLU"}) {
        INFO(name);
        CHECK(s.find(name) != std::string::npos);
    }
    CHECK(Hardsigmoid::name() == "Hardsigmoid");
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("ctnn_act2_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    ActNet net(5);
    save_safetensors(net, (dir / "net.safetensors").string());
    const auto f = safetensors::file::read((dir / "net.safetensors").string());
    const auto layers = nlohmann::json::parse(f.metadata().at("ctnn_layers"));
    REQUIRE(layers.size() == ActNet::depth);
    CHECK(layers[1]["kind"] == "Hardswish");
    CHECK(layers[2]["kind"] == "Upsample");
    CHECK(layers[2]["hparams"] == nlohmann::json{{"scale_factor", 2}});
    CHECK(layers[2]["in"] == nlohmann::json{4, 8, 8});
    CHECK(layers[4]["kind"] == "GELU");
    CHECK(layers[7]["kind"] == "SiLU");
    ActNet back(6);
    load_safetensors(back, (dir / "net.safetensors").string());
    CHECK(std::equal(net.params().begin(), net.params().end(), back.params().begin()));
    fs::remove_all(dir);
}
