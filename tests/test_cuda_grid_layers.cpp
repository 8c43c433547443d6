// The CUDA kernels of Upsample, ConvTranspose, SqueezeExcite, Conv with dilation or groups, and
// the GELU / SiLU / Hardswish / Hardsigmoid activations, run on the host: each per-thread function
// (include/ctnn/backends/cuda/threads/) over every block and thread of its grid, against the
// reference kernel on random inputs of awkward sizes; forward, dx and the parameter gradients
// (accumulated onto random values, as after an earlier backward). Outputs are prefilled with NaN
// and the comparison fails on NaN, so an element no thread writes is a mismatch.
//
// Tolerances, relative to max(1, |reference|): the reference sums in double, the kernels in float.
//   1e-5  forward and dx: sums of at most a few hundred products of values in [-1, 1], float's
//         rounding (about 6e-8 per add) stays below 1e-6 of the sum's scale here.
//   1e-4  dweight / dbias: sums over up to n·OH·OW ~ 2,000 products (SE: several steps of
//         rounded vectors feeding the activations' derivatives), ten times the float error seen.
//   0     Upsample: copies, and sums in the reference's own order.
// An index error (a wrong tap, channel, group or sample) changes elements by O(0.1) or leaves NaN.
//
// Then the device net on the emulated CUDA runtime (CTNN_CUDA_EMULATE): a net with every new layer
// against the CPU net (inference, training forward, every gradient, two SGD steps), SqueezeExcite's
// chunked path (batch > its 64-sample scratch), and the fusion plan: activations whose gradient
// needs their input are never fused into a Conv epilogue.
#define CTNN_CUDA_EMULATE 1
#include <catch2/catch.hpp>

#include <ctnn/backends/cuda/all.hpp>
#include <ctnn/ctnn.hpp>
#include <ctnn/train.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

namespace {

using namespace ctnn;
using namespace ctnn::cuda;
using fvec = std::vector<float>;

constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();

fvec random(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    rng g(seed);
    fvec v(n);
    for (auto& x : v) x = g.uniform(lo, hi);
    return v;
}
fvec poisoned(std::size_t n) { return fvec(n, nan_f); }

/// Largest |got - want| / max(1, |want|), or NaN when any element gives NaN (never <= a tolerance).
double max_err(const fvec& got, const fvec& want) {
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double d = std::abs(double(got[i]) - double(want[i])) / std::max(1.0, std::abs(double(want[i])));
        if (d != d) return d;
        worst = std::max(worst, d);
    }
    return worst;
}
/// Largest |got - want| / max |want|: for tensors far below 1 (a deep net's first gradients),
/// where max_err's floor of 1 would hide any error.
double scaled_err(const fvec& got, const fvec& want) {
    double scale = 0;
    for (float w : want) scale = std::max(scale, std::abs(double(w)));
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double d = std::abs(double(got[i]) - double(want[i])) / (scale > 0 ? scale : 1.0);
        if (d != d) return d;
        worst = std::max(worst, d);
    }
    return worst;
}

/// Every element within tol; prints the error when CTNN_GRID_VERBOSE is set (for the record).
void require_close(const fvec& got, const fvec& want, double tol, const std::string& what, bool scaled = false) {
    REQUIRE(got.size() == want.size());
    const double e = scaled ? scaled_err(got, want) : max_err(got, want);
    if (std::getenv("CTNN_GRID_VERBOSE")) std::printf("%-60s max error %.3g (tolerance %.0e)\n", what.c_str(), e, tol);
    INFO(what << ": max relative error " << e << ", tolerance " << tol);
    REQUIRE(e <= tol);
}

template <class L, class In>
void ref_forward(const fvec& x, fvec& y, std::size_t n, const fvec& params = {}, float* saved = nullptr) {
    forward_args a;
    a.x = x.data(); a.y = y.data(); a.n = n; a.params = params.data(); a.saved = saved; a.training = saved != nullptr;
    kernel<L, In, reference>::forward(a);
}

template <class L, class In>
void ref_backward(const fvec& x, const fvec& y, const fvec& dy, fvec* dx, std::size_t n, const fvec& params = {},
                  fvec* dparams = nullptr, float* saved = nullptr) {
    backward_args a;
    a.x = x.data(); a.y = y.data(); a.dy = dy.data(); a.dx = dx ? dx->data() : nullptr; a.n = n;
    a.params = params.data(); a.dparams = dparams ? dparams->data() : nullptr; a.saved = saved;
    kernel<L, In, reference>::backward(a);
}

// ---- Conv with dilation / groups -----------------------------------------------------------------

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, std::size_t Gr,
          std::size_t H, std::size_t W>
void check_gconv(std::size_t n, std::uint64_t seed) {
    using L = Conv<Ci, Co, K, S, P, D, Gr>;
    using In = Shape<Ci, H, W>;
    using G = gconv_geometry<Ci, Co, K, S, P, D, Gr, H, W>;
    static_assert(G::weights + Co == param_floats<L>(In::value));
    const std::string name = L::name();
    const fvec x = random(n * In::size, seed), params = random(G::weights + Co, seed + 1);
    const std::size_t ny = n * Co * G::OH * G::OW;
    fvec want(ny), got = poisoned(ny);
    ref_forward<L, In>(x, want, n, params);
    run_on_host<gconv_forward<G>>({x.data(), params.data(), got.data(), n});
    require_close(got, want, 1e-5, name + " forward");

    const fvec dy = random(ny, seed + 2);
    fvec dx_want(n * In::size), dp_want = random(params.size(), seed + 3), dp_got = dp_want;
    ref_backward<L, In>(x, want, dy, &dx_want, n, params, &dp_want);
    fvec dx_got = poisoned(n * In::size);
    run_on_host<gconv_backward_dx<G>>({dy.data(), params.data(), dx_got.data(), n});
    run_on_host<gconv_backward_dparams<G>>({x.data(), dy.data(), dp_got.data(), n});
    require_close(dx_got, dx_want, 1e-5, name + " dx");
    require_close(dp_got, dp_want, 1e-4, name + " dweight/dbias (accumulated)");
}

TEST_CASE("cuda grid: Conv with dilation and groups (depthwise too) forward, dx, dweight, dbias", "[cuda_grid]") {
    check_gconv<4, 6, 3, 1, 2, 2, 1, 9, 11>(3, 101);    // dilation 2, "same"-like padding
    check_gconv<6, 9, 3, 1, 1, 1, 3, 7, 10>(2, 102);    // 3 groups of 2 -> 3
    check_gconv<5, 5, 3, 2, 1, 1, 5, 9, 11>(3, 103);    // depthwise, stride 2
    check_gconv<5, 10, 5, 2, 2, 1, 5, 11, 9>(2, 104);   // depthwise multiplier 2, 5x5
    check_gconv<6, 4, 3, 2, 3, 2, 2, 13, 11>(3, 105);   // dilation and groups, padding > kernel/2
    check_gconv<2, 4, 2, 3, 0, 3, 2, 10, 8>(1, 106);    // stride > span: inputs no output reads, batch 1
    check_gconv<3, 3, 3, 1, 0, 3, 3, 7, 7>(2, 107);     // span 7 = the whole map: one output pixel
    check_gconv<8, 8, 1, 1, 0, 1, 4, 5, 3>(70, 108);    // 1x1 grouped, n·OH·OW > a block's 256 threads
}

// ---- ConvTranspose --------------------------------------------------------------------------------

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t OP, std::size_t H,
          std::size_t W>
void check_tconv(std::size_t n, std::uint64_t seed) {
    using L = ConvTranspose<Ci, Co, K, S, P, OP>;
    using In = Shape<Ci, H, W>;
    using G = tconv_geometry<Ci, Co, K, S, P, OP, H, W>;
    static_assert(G::weights + Co == param_floats<L>(In::value));
    const std::string name = L::name();
    const fvec x = random(n * In::size, seed), params = random(G::weights + Co, seed + 1);
    const std::size_t ny = n * Co * G::OH * G::OW;
    fvec want(ny), got = poisoned(ny);
    ref_forward<L, In>(x, want, n, params);
    run_on_host<tconv_forward<G>>({x.data(), params.data(), got.data(), n});
    require_close(got, want, 1e-5, name + " forward");

    const fvec dy = random(ny, seed + 2);
    fvec dx_want(n * In::size), dp_want = random(params.size(), seed + 3), dp_got = dp_want;
    ref_backward<L, In>(x, want, dy, &dx_want, n, params, &dp_want);
    fvec dx_got = poisoned(n * In::size);
    run_on_host<tconv_backward_dx<G>>({dy.data(), params.data(), dx_got.data(), n});
    run_on_host<tconv_backward_dparams<G>>({x.data(), dy.data(), dp_got.data(), n});
    require_close(dx_got, dx_want, 1e-5, name + " dx");
    require_close(dp_got, dp_want, 1e-4, name + " dweight/dbias (accumulated)");
}

TEST_CASE("cuda grid: ConvTranspose forward, dx, dweight, dbias (stride, crop, output padding, gaps)", "[cuda_grid]") {
    check_tconv<3, 5, 3, 1, 1, 0, 7, 11>(3, 111);
    check_tconv<5, 4, 3, 2, 1, 1, 5, 6>(1, 112);     // output padding, batch 1
    check_tconv<4, 6, 4, 2, 1, 0, 5, 7>(2, 113);
    check_tconv<2, 3, 3, 3, 0, 2, 4, 5>(3, 114);     // output padding 2
    check_tconv<1, 3, 2, 3, 0, 0, 3, 4>(3, 115);     // stride > kernel: outputs no input reaches (bias only)
    check_tconv<2, 3, 2, 3, 3, 0, 5, 5>(2, 116);     // padding > kernel: crops taps away
    check_tconv<3, 2, 3, 2, 1, 1, 1, 1>(4, 117);     // a 1x1 input
    check_tconv<2, 2, 3, 2, 1, 0, 9, 8>(5, 118);     // n·OH·OW > a block's 256 threads
}

// ---- Upsample ---------------------------------------------------------------------------------------

template <std::size_t S, std::size_t C, std::size_t H, std::size_t W>
void check_upsample(std::size_t n, std::uint64_t seed) {
    using L = Upsample<S>;
    using In = Shape<C, H, W>;
    using G = upsample_geometry<C, H, W, S>;
    const std::size_t nx = n * In::size, ny = n * C * G::OH * G::OW;
    const fvec x = random(nx, seed), dy = random(ny, seed + 1);
    fvec y(ny), dx(nx), y_got = poisoned(ny), dx_got = poisoned(nx);
    ref_forward<L, In>(x, y, n);
    ref_backward<L, In>(x, y, dy, &dx, n);
    run_on_host<upsample_forward<G>>({x.data(), y_got.data(), n});
    run_on_host<upsample_backward<G>>({dy.data(), dx_got.data(), n});
    require_close(y_got, y, 0, L::name() + " forward");
    require_close(dx_got, dx, 0, L::name() + " backward (the reference's order: exact)");
}

TEST_CASE("cuda grid: Upsample (nearest) forward and backward", "[cuda_grid]") {
    check_upsample<2, 3, 5, 7>(3, 121);
    check_upsample<3, 2, 4, 1>(2, 122);
    check_upsample<1, 4, 3, 3>(2, 123);    // scale 1: the identity
    check_upsample<4, 1, 3, 5>(1, 124);
}

// ---- SqueezeExcite ----------------------------------------------------------------------------------

template <std::size_t C, std::size_t Sq, class Act, class Gate, std::size_t H, std::size_t W>
void check_se(std::size_t n, std::uint64_t seed, float fc2_scale = 1.0f) {
    using L = SqueezeExcite<C, Sq, Act, Gate>;
    using In = Shape<C, H, W>;
    using K = se_kernels<C, Sq, Act, Gate, H * W>;
    const std::string name = L::name();
    const std::size_t nx = n * In::size, np = L::b2 + C, ns = n * L::per_sample;
    const fvec x = random(nx, seed, -2, 2);
    fvec params = random(np, seed + 1);
    for (std::size_t i = L::w2; i < np; ++i) params[i] *= fc2_scale;  // larger: some gates saturate
    fvec y(nx), saved(ns), y_got = poisoned(nx), v = poisoned(ns);
    ref_forward<L, In>(x, y, n, params, saved.data());
    const typename K::forward_args f{x.data(), params.data(), y_got.data(), v.data(), n};
    run_on_host<typename K::squeeze>(f);
    run_on_host<typename K::excite_fc1>(f);
    run_on_host<typename K::excite_fc2>(f);
    run_on_host<typename K::scale>(f);
    require_close(y_got, y, 1e-5, name + " forward");
    require_close(v, saved, 1e-5, name + " saved s, a1, z, a2, g");
    if (fc2_scale > 1.0f) {  // both kinds of gate: saturated (zero gradient) and on the slope
        std::size_t flat = 0;
        for (std::size_t k = 0; k < n * C; ++k) {
            const float g = saved[(k / C) * L::per_sample + L::g_at + k % C];
            flat += g == 0.0f || g == 1.0f;
        }
        CHECK(flat > 0);
        CHECK(flat < n * C);
    }

    const fvec dy = random(nx, seed + 2);
    fvec dx(nx), dp = random(np, seed + 3), dx_got = poisoned(nx), dp_got = dp;
    fvec d = poisoned(n * K::grad_per_sample);
    ref_backward<L, In>(x, y, dy, &dx, n, params, &dp, saved.data());
    const typename K::backward_args b{x.data(), dy.data(), dx_got.data(), params.data(), dp_got.data(), v.data(), d.data(), n};
    run_on_host<typename K::dgate>(b);
    run_on_host<typename K::dact>(b);
    run_on_host<typename K::dparams>(b);
    run_on_host<typename K::dsqueeze>(b);
    run_on_host<typename K::dx>(b);
    require_close(dx_got, dx, 1e-5, name + " dx");
    require_close(dp_got, dp, 1e-4, name + " dparams (accumulated)");
}

TEST_CASE("cuda grid: SqueezeExcite forward (saved vectors), dx and every parameter gradient", "[cuda_grid]") {
    check_se<6, 3, ReLU, Sigmoid, 5, 7>(3, 131);
    check_se<8, 4, ReLU, Hardsigmoid, 5, 6>(3, 132, 6.0f);   // MobileNetV3's; half the gates saturated
    check_se<5, 2, SiLU, Sigmoid, 1, 1>(4, 133);             // a 1x1 map
    check_se<3, 7, GELU, Hardsigmoid, 17, 19>(2, 134);       // Sq > C; H·W > a block's 256 threads
    check_se<4, 2, Hardswish, Tanh, 3, 3>(1, 135);           // batch 1
}

// ---- the activations that landed with them -----------------------------------------------------------

template <class L>
void check_unfused_activation(std::uint64_t seed) {
    static_assert(!L::grad_from_output, "these activations' gradient needs x");
    static_assert(!ctnn::cuda::detail::output_grad_activation<L>, "so the CUDA Conv / Linear epilogues must not fuse them");
    using In = Shape<3, 5, 7>;
    const std::size_t n = 3, count = n * In::size;
    fvec x = random(count, seed, -5, 5);
    x[0] = 3.0f, x[1] = -3.0f, x[2] = 0.0f, x[3] = 2.9999998f;  // Hardsigmoid / Hardswish kinks
    const fvec dy = random(count, seed + 1);
    fvec y(count), dx(count), y_got = poisoned(count), dx_got = poisoned(count);
    ref_forward<L, In>(x, y, n);
    ref_backward<L, In>(x, y, dy, &dx, n);
    run_on_host<act_forward<layer_f<L>>>({x.data(), y_got.data(), count});
    run_on_host<layer_act_backward<L>>({x.data(), y_got.data(), dy.data(), dx_got.data(), count});
    require_close(y_got, y, 1e-6, std::string(L::kind) + " forward");
    require_close(dx_got, dx, 1e-6, std::string(L::kind) + " backward (from x)");
}

TEST_CASE("cuda grid: GELU, SiLU, Hardswish, Hardsigmoid run on the generic activation kernels", "[cuda_grid]") {
    check_unfused_activation<GELU>(141);
    check_unfused_activation<SiLU>(142);
    check_unfused_activation<Hardswish>(143);
    check_unfused_activation<Hardsigmoid>(144);
}

// ---- the device net on the emulated runtime ------------------------------------------------------------

// Every new layer: a dilated Conv, a depthwise Conv, SqueezeExcite (both gate kinds), Upsample,
// ConvTranspose with output padding, a grouped Conv, the four activations; a plain Conv + GELU
// (not fused) and a Conv + ReLU (fused), so both paths meet the new kernels.
using NewLayersNet =
    Sequential<Input<3, 9, 7>, Conv<3, 6, 3, 1, 2, 2>, GELU, Conv<6, 6, 3, 2, 1, 1, 6>, SiLU, SqueezeExcite<6, 3>,
               Upsample<2>, ConvTranspose<6, 4, 3, 2, 1, 1>, Hardswish, Conv<4, 8, 3, 1, 1, 1, 2>, Hardsigmoid,
               Conv<8, 4, 3, 2, 1>, GELU, SqueezeExcite<4, 5, SiLU, Sigmoid>, Conv<4, 4, 1>, ReLU, GlobalAvgPool,
               Linear<4, 5>>;

/// The CPU net against the device net (workspace poisoned with NaN first): inference (graph and
/// eager), training forward, every layer's gradient; at 1e-4, as tests/cuda/device_checks.hpp,
/// and the gradients also at 1e-4 of each one's largest element (float sums in different orders).
template <class Net>
void check_parity(std::size_t batch, std::uint64_t seed) {
    Net cpu(seed);
    device_net<Net> gpu(cpu, batch);
    const fvec x = random(batch * Net::input_size, seed + 1);
    fvec want(batch * Net::output_size), got = poisoned(batch * Net::output_size);
    cpu.forward(x.data(), want.data(), batch);
    gpu.poison_workspace();
    gpu.forward(x.data(), got.data(), batch);
    require_close(got, want, 1e-4, "device net inference (graph)");
    gpu.use_graphs(false);
    gpu.poison_workspace();
    got = poisoned(got.size());
    gpu.forward(x.data(), got.data(), batch);
    require_close(got, want, 1e-4, "device net inference (eager)");

    const float* yt = cpu.forward_train(x.data(), batch);
    gpu.poison_workspace();
    gpu.forward_train(x.data(), got.data(), batch);
    require_close(got, fvec(yt, yt + got.size()), 1e-4, "device net training forward");
    const fvec dout = random(got.size(), seed + 2);
    cpu.zero_grad();
    cpu.backward(dout.data());
    gpu.zero_grad();
    gpu.backward(dout.data());
    fvec g = poisoned(Net::grad_count);
    gpu.download_grads(g.data());
    for (std::size_t i = 0; i < Net::depth; ++i) {
        if (!Net::grad_sizes[i]) continue;
        const auto at = [&](const float* p) { return fvec(p + Net::grad_offset[i], p + Net::grad_offset[i] + Net::grad_sizes[i]); };
        const std::string what = "device net gradient of layer " + std::to_string(i);
        require_close(at(g.data()), at(cpu.grads().data()), 1e-4, what);
        require_close(at(g.data()), at(cpu.grads().data()), 1e-4, what + ", relative to its largest", true);
    }
}

TEST_CASE("cuda emulated: a device net with every new layer matches the CPU net", "[cuda_grid]") {
    CHECK(device_net<NewLayersNet>::plan() ==
          "[Conv] [GELU] [Conv] [SiLU] [SqueezeExcite] [Upsample] [ConvTranspose] [Hardswish] [Conv] [Hardsigmoid] "
          "[Conv] [GELU] [SqueezeExcite] [Conv+ReLU] [GlobalAvgPool] [Linear]");
    const long live = emulation::live_allocations();
    check_parity<NewLayersNet>(3, 151);
    // SqueezeExcite's inference and backward run 64 samples per chunk of scratch: 70 is two chunks
    check_parity<Sequential<Input<4, 3, 2>, SqueezeExcite<4, 3, ReLU, Hardsigmoid>, Flatten, Linear<24, 3>>>(70, 152);
    CHECK(emulation::live_allocations() == live);
}

TEST_CASE("cuda emulated: SGD steps on the device net with the new layers follow the CPU's", "[cuda_grid]") {
    using Net = NewLayersNet;
    constexpr std::size_t batch = 4;
    Net cpu(161);
    device_net<Net> gpu(cpu, batch);
    const cuda::sgd opt{.lr = 0.05f, .momentum = 0.9f};
    gpu.set_optimizer(opt);
    SGD cpu_opt(cpu, opt.lr, {.momentum = opt.momentum});
    CrossEntropy ce;
    fvec dlogits(batch * Net::output_size);
    for (int step = 0; step < 2; ++step) {
        const fvec x = random(batch * Net::input_size, 170 + step);
        std::vector<std::int32_t> labels{0, 3, 1, 4};
        const float* y = cpu.forward_train(x.data(), batch);
        const float want = ce(y, labels.data(), batch, Net::output_size, dlogits.data());
        cpu.zero_grad();
        cpu.backward(dlogits.data());
        cpu_opt.step();
        gpu.train_step(x.data(), labels.data(), batch);
        CHECK(std::abs(gpu.loss() - want) <= 1e-4f * std::max(1.0f, std::abs(want)));
    }
    Net after(0);
    gpu.download(after);
    const float* p_gpu = after.params().data();
    const float* p_cpu = cpu.params().data();
    require_close(fvec(p_gpu, p_gpu + Net::param_count), fvec(p_cpu, p_cpu + Net::param_count), 1e-4,
                  "parameters after 2 SGD steps");
}

}  // namespace
