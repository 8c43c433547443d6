// The CUDA backend's kernels, run on the host: every kernel's per-thread function (the code the
// GPU runs, include/ctnn/backends/cuda/threads/) executed for every block and thread of its grid
// and compared with the reference backend on random inputs of awkward sizes. Outputs are
// poisoned with NaN first, so a thread the grid misses shows up as a mismatch.
//
// Tolerances, relative to max(1, |reference|) (the reference sums in its own order):
//   1e-5  forward, dx, Linear's parameter gradients, BatchNorm's running statistics and inference:
//         sums of at most a few hundred products of values in [-1, 1] (float's rounding, about
//         6e-8 per add, stays under 1e-6 of the sum's scale).
//   1e-4  Conv's dweight / dbias (sums over n x OH x OW positions, accumulated onto earlier
//         values) and BatchNorm's training forward, mean / rstd, dx and dgamma / dbeta (a
//         batch's statistics, then a division by its standard deviation, which scales rounding).
//   1e-4  the whole nets of device_checks.hpp (why at its top).
// An index error (a wrong tap, channel or sample) changes elements by O(0.1) or leaves NaN.
//
// Then the device net itself, on the CUDA runtime emulated on the host (CTNN_CUDA_EMULATE,
// backends/cuda/emulation.hpp): the checks the GPU test runs (tests/cuda/device_checks.hpp) --
// whole nets against the CPU reference, training steps, graph capture and replay.
#define CTNN_CUDA_EMULATE 1
#include <catch2/catch.hpp>

#include <ctnn/backends/cuda/threads/all.hpp>
#include <ctnn/ctnn.hpp>

#include "cuda/device_checks.hpp"
#include "../examples/custom_layers.hpp"

#include <cmath>
#include <cstdint>
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

/// Every element within tol · max(1, |reference|); names the first that is not.
void require_close(const fvec& got, const fvec& want, double tol, const std::string& what) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double d = std::abs(double(got[i]) - double(want[i]));
        if (!(d <= tol * std::max(1.0, std::abs(double(want[i]))))) {
            INFO(what << ": element " << i << " of " << got.size() << " is " << got[i] << ", reference " << want[i]);
            REQUIRE(false);
        }
    }
}

template <class L, class In>
void ref_forward(const fvec& x, fvec& y, std::size_t n, const fvec& params = {}, float* buffers = nullptr,
                 float* saved = nullptr, bool training = false) {
    forward_args a;
    a.x = x.data(); a.y = y.data(); a.n = n; a.params = params.data(); a.buffers = buffers;
    a.saved = saved; a.training = training;
    kernel<L, In, reference>::forward(a);
}

template <class L, class In>
void ref_backward(const fvec& x, const fvec& y, const fvec& dy, fvec* dx, std::size_t n, const fvec& params = {},
                  fvec* dparams = nullptr, const float* saved = nullptr, const float* buffers = nullptr) {
    backward_args a;
    a.x = x.data(); a.y = y.data(); a.dy = dy.data(); a.dx = dx ? dx->data() : nullptr; a.n = n;
    a.params = params.data(); a.dparams = dparams ? dparams->data() : nullptr; a.saved = saved; a.buffers = buffers;
    kernel<L, In, reference>::backward(a);
}

// ---- Conv: plain, and fused with bias + activation + pool --------------------------------------

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t H, std::size_t W>
void check_conv(std::size_t n, std::uint64_t seed) {
    using L = Conv<Ci, Co, K, S, P>;
    using In = Shape<Ci, H, W>;
    using G = conv_geometry<Ci, Co, K, S, P, H, W>;
    const fvec x = random(n * In::size, seed), params = random(G::weights + Co, seed + 1);
    const std::size_t ny = n * Co * G::OH * G::OW;
    fvec want(ny), got = poisoned(ny);
    ref_forward<L, In>(x, want, n, params);
    run_on_host<conv_forward<G, act_identity, 1>>({x.data(), params.data(), got.data(), nullptr, nullptr, n});
    require_close(got, want, 1e-5, "conv forward");

    const fvec dy = random(ny, seed + 2);
    fvec dx_want(n * In::size), dp_want = random(params.size(), seed + 3), dp_got = dp_want;
    ref_backward<L, In>(x, want, dy, &dx_want, n, params, &dp_want);
    fvec dx_got = poisoned(n * In::size);
    run_on_host<conv_backward_dx<G>>({dy.data(), params.data(), dx_got.data(), n});
    run_on_host<conv_backward_dparams<G>>({x.data(), dy.data(), dp_got.data(), n});
    require_close(dx_got, dx_want, 1e-5, "conv dx");
    require_close(dp_got, dp_want, 1e-4, "conv dweight/dbias (accumulated)");
}

TEST_CASE("cuda grid: Conv forward, dx, dweight and dbias match the reference", "[cuda_grid]") {
    check_conv<3, 5, 3, 2, 1, 7, 9>(3, 11);     // stride 2, padding, odd sizes
    check_conv<2, 3, 5, 1, 2, 6, 5>(2, 12);     // 5×5 "same"
    check_conv<1, 4, 2, 3, 0, 8, 11>(5, 13);    // stride > kernel: inputs no output reads
    check_conv<4, 2, 1, 1, 0, 3, 3>(1, 14);     // 1×1, batch 1
}

/// As require_close, but a NaN in the reference must be a NaN in got (and only there).
void require_close_nan(const fvec& got, const fvec& want, double tol, const std::string& what) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(want[i]) && std::isnan(got[i])) continue;
        const double d = std::abs(double(got[i]) - double(want[i]));
        if (!(d <= tol * std::max(1.0, std::abs(double(want[i]))))) {
            INFO(what << ": element " << i << " of " << got.size() << " is " << got[i] << ", reference " << want[i]);
            REQUIRE(false);
        }
    }
}

/// nan_at: an input element set to NaN (it spreads to a K x K patch of conv values, so pool
/// windows hold several NaNs: the argmax must be the last, as in the reference and PyTorch).
template <class Act, class Ref, std::size_t PK, std::size_t K = 3, std::size_t S = 1, std::size_t P = 1,
          std::size_t H = 6, std::size_t W = 10>
void check_fused_conv(std::uint64_t seed, std::size_t nan_at = std::size_t(-1)) {
    constexpr std::size_t Ci = 2, Co = 3, n = 3;
    using C = Conv<Ci, Co, K, S, P>;
    using In = Shape<Ci, H, W>;
    using G = conv_geometry<Ci, Co, K, S, P, H, W>;
    using Mid = Shape<Co, G::OH, G::OW>;
    using Pool = MaxPool<PK>;
    using Out = Shape<Co, G::OH / PK, G::OW / PK>;
    fvec x = random(n * In::size, seed, -2, 2);
    const fvec params = random(G::weights + Co, seed + 1);
    if (nan_at < x.size()) x[nan_at] = nan_f;
    fvec conv(n * Mid::size), act(n * Mid::size), pooled(n * Out::size), arg(n * Out::size);
    ref_forward<C, In>(x, conv, n, params);
    ref_forward<Ref, Mid>(conv, act, n);
    if constexpr (PK > 1) ref_forward<Pool, Mid>(act, pooled, n, {}, nullptr, arg.data(), true);
    else pooled = act;

    fvec y = poisoned(n * Out::size), act_got = poisoned(n * Mid::size), arg_got = poisoned(n * Out::size);
    run_on_host<conv_forward<G, Act, PK>>({x.data(), params.data(), y.data(), act_got.data(), arg_got.data(), n});
    require_close_nan(y, pooled, 1e-5, "fused conv output");  // (every element is written: arg below)
    require_close_nan(act_got, act, 1e-5, "fused conv post-activation map");
    if constexpr (PK > 1) require_close(arg_got, arg, 0, "fused conv argmax");

    // backward of the epilogue: pool, then activation, against the reference chain
    const fvec dy = random(n * Out::size, seed + 2);
    fvec dact(n * Mid::size), dpre_want(n * Mid::size);
    if constexpr (PK > 1) ref_backward<Pool, Mid>(act, pooled, dy, &dact, n, {}, nullptr, arg.data());
    else dact = dy;
    ref_backward<Ref, Mid>(conv, act, dact, &dpre_want, n);
    fvec dpre = poisoned(n * Mid::size);
    run_on_host<conv_epilogue_backward<G, Act, PK>>({act_got.data(), arg_got.data(), dy.data(), dpre.data(), n});
    require_close(dpre, dpre_want, 1e-5, "fused epilogue backward");
}

TEST_CASE("cuda grid: fused Conv + bias + activation (+ MaxPool) and its epilogue backward", "[cuda_grid]") {
    check_fused_conv<act_of<ReLU>, ReLU, 2>(21);
    check_fused_conv<act_of<ReLU>, ReLU, 1>(22);
    check_fused_conv<act_of<Tanh>, Tanh, 2>(23);
    check_fused_conv<act_of<Sigmoid>, Sigmoid, 1>(24);
    check_fused_conv<act_of<LeakyReLU<1, 10>>, LeakyReLU<1, 10>, 2>(25);
    check_fused_conv<act_of<ReLU>, ReLU, 3, 3, 2, 0, 13, 13>(26);   // stride 2, no padding, 6×6 map, 3×3 pool
    check_fused_conv<act_of<Tanh>, Tanh, 2, 5, 1, 2, 8, 4>(27);     // 5×5 "same", 2×2 pool
    check_fused_conv<act_of<ReLU>, ReLU, 2>(28, 6 * 10 + 10 + 4);   // a NaN pixel: windows with several NaNs
}

TEST_CASE("cuda grid: copy kernel (Flatten when not aliased, Dropout in inference)", "[cuda_grid]") {
    const fvec x = random(1000, 28);
    fvec y = poisoned(1000);
    run_on_host<copy_kernel>({x.data(), y.data(), 1000});
    require_close(y, x, 0, "copy");
}

// ---- Linear -----------------------------------------------------------------------------------

template <std::size_t I, std::size_t O, class Act, class Ref>
void check_linear(std::size_t n, std::uint64_t seed) {
    using L = Linear<I, O>;
    const fvec x = random(n * I, seed), params = random(O * I + O, seed + 1);
    fvec lin(n * O), want(n * O), got = poisoned(n * O);
    ref_forward<L, Shape<I>>(x, lin, n, params);
    if constexpr (std::is_void_v<Ref>) want = lin;
    else ref_forward<Ref, Shape<O>>(lin, want, n);
    run_on_host<linear_forward<I, O, Act>>({x.data(), params.data(), got.data(), n});
    require_close(got, want, 1e-5, "linear forward");

    const fvec dy = random(n * O, seed + 2);
    fvec dx_want(n * I), dp_want = random(params.size(), seed + 3), dp_got = dp_want, dx_got = poisoned(n * I);
    ref_backward<L, Shape<I>>(x, lin, dy, &dx_want, n, params, &dp_want);
    run_on_host<linear_backward_dx<I, O>>({dy.data(), params.data(), dx_got.data(), n});
    run_on_host<linear_backward_dparams<I, O>>({x.data(), dy.data(), dp_got.data(), n});
    require_close(dx_got, dx_want, 1e-5, "linear dx");
    require_close(dp_got, dp_want, 1e-5, "linear dweight/dbias (accumulated)");
}

TEST_CASE("cuda grid: Linear forward (with fused activation), dx, dweight and dbias", "[cuda_grid]") {
    check_linear<37, 5, act_identity, void>(3, 31);
    check_linear<300, 17, act_of<ReLU>, ReLU>(2, 32);     // longer than a block's 256 threads
    check_linear<1, 1, act_of<Sigmoid>, Sigmoid>(7, 33);
    check_linear<64, 10, act_identity, void>(1, 34);
}

// ---- element-wise activations -----------------------------------------------------------------

template <class L, class Act>
void check_activation(std::uint64_t seed) {
    using In = Shape<3, 5, 7>;
    const std::size_t n = 3, count = n * In::size;
    const fvec x = random(count, seed, -3, 3), dy = random(count, seed + 1);
    fvec y(count), dx(count), y_got = poisoned(count), dx_got = poisoned(count);
    ref_forward<L, In>(x, y, n);
    ref_backward<L, In>(x, y, dy, &dx, n);
    run_on_host<act_forward<Act>>({x.data(), y_got.data(), count});
    run_on_host<act_backward<Act>>({y_got.data(), dy.data(), dx_got.data(), count});
    require_close(y_got, y, 1e-6, std::string(L::kind) + " forward");
    require_close(dx_got, dx, 1e-6, std::string(L::kind) + " backward (epilogue, from the output)");
    fvec dx_layer = poisoned(count);  // the unfused layer's backward reads x, y and dy
    run_on_host<layer_act_backward<L>>({x.data(), y_got.data(), dy.data(), dx_layer.data(), count});
    require_close(dx_layer, dx, 1e-6, std::string(L::kind) + " backward (layer)");
}

TEST_CASE("cuda grid: ReLU, LeakyReLU, Sigmoid, Tanh forward and backward", "[cuda_grid]") {
    check_activation<ReLU, act_of<ReLU>>(41);
    check_activation<LeakyReLU<1, 10>, act_of<LeakyReLU<1, 10>>>(42);
    check_activation<LeakyReLU<0, 1>, act_of<LeakyReLU<0, 1>>>(43);
    check_activation<Sigmoid, act_of<Sigmoid>>(44);
    check_activation<Tanh, act_of<Tanh>>(45);
    fvec x{nan_f, -1.0f}, y = poisoned(2);
    run_on_host<act_forward<act_of<ReLU>>>({x.data(), y.data(), 2});
    CHECK(std::isnan(y[0]));  // NaN passes through ReLU, as in PyTorch
    CHECK(y[1] == 0.0f);
}

// ---- pooling ----------------------------------------------------------------------------------

template <std::size_t K, std::size_t S, std::size_t C, std::size_t H, std::size_t W>
void check_pools(std::size_t n, std::uint64_t seed) {
    using In = Shape<C, H, W>;
    using G = pool_geometry<C, H, W, K, S>;
    const std::size_t nx = n * In::size, ny = n * C * G::OH * G::OW;
    const fvec x = random(nx, seed), dy = random(ny, seed + 1);
    {
        fvec y(ny), arg(ny), dx(nx), y_got = poisoned(ny), arg_got = poisoned(ny), dx_got = poisoned(nx);
        ref_forward<MaxPool<K, S>, In>(x, y, n, {}, nullptr, arg.data(), true);
        ref_backward<MaxPool<K, S>, In>(x, y, dy, &dx, n, {}, nullptr, arg.data());
        run_on_host<maxpool_forward<G>>({x.data(), y_got.data(), arg_got.data(), n});
        run_on_host<maxpool_backward<G>>({arg_got.data(), dy.data(), dx_got.data(), n});
        require_close(y_got, y, 0, "maxpool forward");
        require_close(arg_got, arg, 0, "maxpool argmax");
        require_close(dx_got, dx, 1e-6, "maxpool backward");
    }
    {
        fvec y(ny), dx(nx), y_got = poisoned(ny), dx_got = poisoned(nx);
        ref_forward<AvgPool<K, S>, In>(x, y, n);
        ref_backward<AvgPool<K, S>, In>(x, y, dy, &dx, n);
        run_on_host<avgpool_forward<G>>({x.data(), y_got.data(), n});
        run_on_host<avgpool_backward<G>>({dy.data(), dx_got.data(), n});
        require_close(y_got, y, 1e-6, "avgpool forward");
        require_close(dx_got, dx, 1e-6, "avgpool backward");
    }
    {
        const fvec gdy = random(n * C, seed + 2);
        fvec y(n * C), dx(nx), y_got = poisoned(n * C), dx_got = poisoned(nx);
        ref_forward<GlobalAvgPool, In>(x, y, n);
        ref_backward<GlobalAvgPool, In>(x, y, gdy, &dx, n);
        run_on_host<global_avgpool_forward<C, H * W>>({x.data(), y_got.data(), n});
        run_on_host<global_avgpool_backward<C, H * W>>({gdy.data(), dx_got.data(), n});
        require_close(y_got, y, 1e-6, "global avgpool forward");
        require_close(dx_got, dx, 1e-6, "global avgpool backward");
    }
}

TEST_CASE("cuda grid: MaxPool (argmax, NaN), AvgPool, GlobalAvgPool forward and backward", "[cuda_grid]") {
    check_pools<2, 2, 3, 8, 6>(2, 51);
    check_pools<3, 2, 2, 7, 9>(3, 52);    // overlapping windows, floor mode leaves a border
    check_pools<2, 3, 1, 8, 7>(2, 53);    // stride > kernel: gaps
    check_pools<3, 1, 2, 5, 5>(1, 54);
    using G = pool_geometry<1, 2, 2, 2, 2>;
    fvec x{1.0f, nan_f, 5.0f, nan_f}, y = poisoned(1), arg = poisoned(1);
    run_on_host<maxpool_forward<G>>({x.data(), y.data(), arg.data(), 1});
    CHECK(std::isnan(y[0]));
    CHECK(arg[0] == 3.0f);  // the last NaN wins, as in the reference kernel and PyTorch
    // and the gradient goes where the reference kernel sends it
    fvec dy{2.5f}, dx = poisoned(4), dx_ref(4), y_ref(1), arg_ref(1);
    ref_forward<MaxPool<2>, Shape<1, 2, 2>>(x, y_ref, 1, {}, nullptr, arg_ref.data(), true);
    ref_backward<MaxPool<2>, Shape<1, 2, 2>>(x, y_ref, dy, &dx_ref, 1, {}, nullptr, arg_ref.data());
    run_on_host<maxpool_backward<G>>({arg.data(), dy.data(), dx.data(), 1});
    CHECK(dx_ref[3] == 2.5f);
    require_close(dx, dx_ref, 0, "maxpool backward with two NaNs");
}

// ---- BatchNorm ----------------------------------------------------------------------------------

template <std::size_t C, class In>
void check_batchnorm(std::size_t n, std::uint64_t seed) {
    using L = BatchNorm<C>;
    using K = batchnorm_kernels<C, In::size / C>;
    const std::size_t count = n * In::size;
    const fvec x = random(count, seed, 2, 5);  // a mean far from 0: two-pass variance matters
    const fvec params = random(2 * C, seed + 1);
    fvec buf_ref = random(2 * C + 1, seed + 2, 0.5f, 1.5f), buf_got = buf_ref;
    fvec y(count), saved(2 * C), y_got = poisoned(count), saved_got = poisoned(2 * C);
    ref_forward<L, In>(x, y, n, params, buf_ref.data(), saved.data(), true);
    typename K::stats_args s{x.data(), saved_got.data(), buf_got.data(), n};
    run_on_host<typename K::mean>(s);
    run_on_host<typename K::variance>(s);
    run_on_host<typename K::apply>({x.data(), y_got.data(), params.data(), saved_got.data(), buf_got.data(), true, n});
    require_close(y_got, y, 1e-4, "batchnorm training forward");
    require_close(saved_got, saved, 1e-4, "batchnorm mean / rstd");
    require_close(buf_got, buf_ref, 1e-5, "batchnorm running statistics and count");

    const fvec dy = random(count, seed + 3);
    fvec dx(count), dp = random(2 * C, seed + 4), dx_got = poisoned(count), dp_got = dp, scratch = poisoned(2 * C);
    ref_backward<L, In>(x, y, dy, &dx, n, params, &dp, saved.data());
    typename K::backward_args b{x.data(), dy.data(), dx_got.data(), params.data(), dp_got.data(), saved_got.data(),
                                scratch.data(), n};
    run_on_host<typename K::backward_sums>(b);
    run_on_host<typename K::backward_dx>(b);
    require_close(dx_got, dx, 1e-4, "batchnorm dx");
    require_close(dp_got, dp, 1e-4, "batchnorm dgamma / dbeta");

    fvec yi(count), yi_got = poisoned(count);
    ref_forward<L, In>(x, yi, n, params, buf_ref.data(), nullptr, false);
    run_on_host<typename K::apply>({x.data(), yi_got.data(), params.data(), nullptr, buf_got.data(), false, n});
    require_close(yi_got, yi, 1e-5, "batchnorm inference");
}

TEST_CASE("cuda grid: BatchNorm 2-d and 1-d, training, backward and inference", "[cuda_grid]") {
    check_batchnorm<3, Shape<3, 5, 7>>(4, 61);
    check_batchnorm<5, Shape<5>>(9, 62);
    check_batchnorm<2, Shape<2, 17, 19>>(2, 63);  // more values per channel than a block's threads
}

// ---- Softmax, Dropout -------------------------------------------------------------------------

TEST_CASE("cuda grid: Softmax forward and backward, flat and over channels", "[cuda_grid]") {
    const auto check = []<class In, std::size_t C, std::size_t Inner>(std::size_t n, std::uint64_t seed) {
        const std::size_t count = n * In::size;
        const fvec x = random(count, seed, -4, 4), dy = random(count, seed + 1);
        fvec y(count), dx(count), y_got = poisoned(count), dx_got = poisoned(count);
        ref_forward<Softmax, In>(x, y, n);
        ref_backward<Softmax, In>(x, y, dy, &dx, n);
        run_on_host<softmax_forward<C, Inner>>({x.data(), y_got.data(), n});
        run_on_host<softmax_backward<C, Inner>>({y_got.data(), dy.data(), dx_got.data(), n});
        require_close(y_got, y, 1e-6, "softmax forward");
        require_close(dx_got, dx, 1e-6, "softmax backward");
    };
    check.operator()<Shape<10>, 10, 1>(5, 71);
    check.operator()<Shape<4, 3, 5>, 4, 15>(3, 72);
}

TEST_CASE("cuda grid: Dropout masks drop about p, scale the rest, and backward applies the mask", "[cuda_grid]") {
    constexpr std::size_t count = 20000;
    const fvec x = random(count, 81), dy = random(count, 82);
    fvec y = poisoned(count), mask = poisoned(count), dx = poisoned(count);
    const std::uint64_t seed = 12345;
    run_on_host<dropout_forward<30>>({x.data(), y.data(), mask.data(), &seed, count});
    std::size_t dropped = 0;
    for (std::size_t i = 0; i < count; ++i) {
        REQUIRE((mask[i] == 0.0f || std::abs(mask[i] - 1.0f / 0.7f) < 1e-6f));
        REQUIRE(y[i] == x[i] * mask[i]);
        dropped += mask[i] == 0.0f;
    }
    CHECK(std::abs(double(dropped) / count - 0.3) < 0.02);
    fvec dx_want(count);
    ref_backward<Dropout<30>, Shape<count>>(x, y, dy, &dx_want, 1, {}, nullptr, mask.data());
    run_on_host<mask_backward>({mask.data(), dy.data(), dx.data(), count});
    require_close(dx, dx_want, 0, "dropout backward");
    const std::uint64_t seed2 = 54321;
    fvec mask2 = poisoned(count);
    run_on_host<dropout_forward<30>>({x.data(), y.data(), mask2.data(), &seed2, count});
    CHECK(mask2 != mask);  // a new seed draws a new mask
}

// ---- training-step kernels ----------------------------------------------------------------------

TEST_CASE("cuda grid: cross-entropy loss and its gradient (PyTorch's definition)", "[cuda_grid]") {
    constexpr std::size_t C = 7;
    for (std::size_t n : {1u, 5u, 300u}) {  // 300 > one block's threads: strided samples
        const fvec z = random(n * C, 90 + n, -5, 5);
        std::vector<std::int32_t> labels(n);
        rng g(n);
        for (auto& l : labels) l = std::int32_t(g.below(C));
        fvec dz = poisoned(n * C), dz_want(n * C);
        float loss = nan_f;
        run_on_host<cross_entropy<C>>({z.data(), labels.data(), dz.data(), &loss, n});
        double want = 0;
        for (std::size_t j = 0; j < n; ++j) {
            double m = z[j * C], s = 0;
            for (std::size_t c = 0; c < C; ++c) m = std::max(m, double(z[j * C + c]));
            for (std::size_t c = 0; c < C; ++c) s += std::exp(z[j * C + c] - m);
            want += m + std::log(s) - z[j * C + labels[j]];
            for (std::size_t c = 0; c < C; ++c)
                dz_want[j * C + c] = float((std::exp(z[j * C + c] - m) / s - (int(c) == labels[j])) / double(n));
        }
        CHECK(std::abs(loss - want / double(n)) < 1e-5 * std::max(1.0, want / double(n)));
        require_close(dz, dz_want, 1e-6, "cross-entropy gradient");
    }
}

/// PyTorch's update rules, written out in double, for the optimizer kernel to match.
void reference_update(const optimizer_state& o, std::size_t t, std::vector<double>& p, const fvec& g,
                      std::vector<double>& m, std::vector<double>& v) {
    for (std::size_t i = 0; i < p.size(); ++i) {
        double gi = g[i];
        if (o.kind == optimizer_state::sgd) {
            if (o.weight_decay) gi += double(o.weight_decay) * p[i];
            if (o.momentum) {
                m[i] = t == 1 ? gi : double(o.momentum) * m[i] + (1.0 - double(o.dampening)) * gi;
                gi = o.nesterov ? gi + double(o.momentum) * m[i] : m[i];
            }
            p[i] -= double(o.lr) * gi;
            continue;
        }
        if (o.kind == optimizer_state::adamw) p[i] *= 1.0 - double(o.lr) * double(o.weight_decay);
        else gi += double(o.weight_decay) * p[i];
        m[i] = double(o.beta1) * m[i] + (1.0 - double(o.beta1)) * gi;
        v[i] = double(o.beta2) * v[i] + (1.0 - double(o.beta2)) * gi * gi;
        const double bc1 = 1.0 - std::pow(double(o.beta1), double(t)), bc2 = 1.0 - std::pow(double(o.beta2), double(t));
        p[i] -= double(o.lr) / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + double(o.eps));
    }
}

TEST_CASE("cuda grid: SGD, Adam and AdamW steps over segmented (frozen-gap) parameters", "[cuda_grid]") {
    // params: [a: 300 trainable][frozen: 40][b: 77 trainable]; grads hold a then b
    segment_table<3> seg;
    seg.count = 2;
    seg.param_off[0] = 0; seg.grad_off[0] = 0; seg.size[0] = 300;
    seg.param_off[1] = 340; seg.grad_off[1] = 300; seg.size[1] = 77;
    const std::size_t np = 417, ng = 377;
    optimizer_state sgd_plain{optimizer_state::sgd, 0.1f};
    optimizer_state sgd_mom = sgd_plain;
    sgd_mom.momentum = 0.9f; sgd_mom.dampening = 0.1f; sgd_mom.weight_decay = 5e-3f;
    optimizer_state sgd_nest = sgd_mom;
    sgd_nest.dampening = 0.0f; sgd_nest.nesterov = 1;
    optimizer_state adam{optimizer_state::adam, 1e-2f};
    adam.weight_decay = 1e-2f;
    optimizer_state adamw{optimizer_state::adamw, 1e-2f};
    adamw.weight_decay = 1e-1f;
    for (const optimizer_state& o : {sgd_plain, sgd_mom, sgd_nest, adam, adamw}) {
        INFO("optimizer kind " << o.kind << " momentum " << o.momentum << " nesterov " << o.nesterov);
        fvec p = random(np, 100), m(ng, 0.0f), v(ng, 0.0f);
        std::vector<double> pr(p.begin(), p.end()), mr(ng, 0.0), vr(ng, 0.0);
        step_counters counters;
        for (std::size_t t = 1; t <= 5; ++t) {
            const fvec g = random(ng, 200 + t);
            run_on_host<step_begin>({&counters, &o});
            REQUIRE(counters.step == t);
            run_on_host<optimizer_step<3>>({p.data(), g.data(), m.data(), v.data(), &o, &counters, seg, ng});
            std::vector<double> sub(ng);  // the reference update on the trainable values only
            for (std::size_t i = 0; i < 300; ++i) sub[i] = pr[i];
            for (std::size_t i = 0; i < 77; ++i) sub[300 + i] = pr[340 + i];
            reference_update(o, t, sub, g, mr, vr);
            for (std::size_t i = 0; i < 300; ++i) pr[i] = sub[i];
            for (std::size_t i = 0; i < 77; ++i) pr[340 + i] = sub[300 + i];
        }
        require_close(p, fvec(pr.begin(), pr.end()), 1e-5, "parameters after 5 steps (frozen ones unchanged)");
    }
}

}  // namespace

TEST_CASE("cuda plan: fused groups follow the kernels' traits and the activations' gradient rule", "[cuda_grid]") {
    // an activation whose gradient needs its input (Swish, a user's layer) does not fuse into the
    // epilogue (which keeps only the output); a frozen Conv fuses as a Conv
    using Net = Sequential<Input<2, 8, 8>, Frozen<Conv<2, 4, 3, 1, 1>>, ReLU, MaxPool<2>, Conv<4, 4, 3, 1, 1>, my::Swish,
                           Flatten, Linear<64, 8>, Tanh, Linear<8, 3>, my::Swish>;
    CHECK(device_net<Net>::plan() == "[Conv+ReLU+MaxPool] [Conv] [Swish] [Flatten: alias] [Linear+Tanh] [Linear] [Swish]");
    STATIC_REQUIRE(Net::train_plan<backend> == std::array<std::size_t, 10>{3, 0, 0, 1, 1, 1, 2, 0, 1, 1});
}

TEST_CASE("cuda emulated: the device net's checks (parity, training, graphs, errors) on the host", "[cuda_grid]") {
    const long live = ctnn::cuda::emulation::live_allocations();
    const int failed = ctnn_cuda_checks::run_all_checks(true);
    INFO(ctnn_cuda_checks::failures << " of " << ctnn_cuda_checks::checks << " checks failed (see the FAIL lines above)");
    CHECK(ctnn_cuda_checks::checks > 50);
    CHECK(failed == 0);
    CHECK(ctnn::cuda::emulation::live_allocations() == live);  // every device_net freed what it took
}
