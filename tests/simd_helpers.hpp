// Helpers of the cpu backend tests (test_simd*.cpp): random data, closeness at 1e-5 of a tensor's
// scale, rank-1 tensors away from their initial values, one layer through two backends, a
// thread-count guard, and the test nets.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>

#include "thread_count_guard.hpp"

namespace {

using namespace ctnn;

std::vector<float> random_vec(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    rng g(seed);
    std::vector<float> v(n);
    for (float& x : v) x = g.uniform(lo, hi);
    return v;
}

/// max |a - b| <= tol * max |b|: 1e-5 relative to the tensor's scale. A NaN in either (an
/// element a kernel left unwritten in a NaN-filled output) fails: `!(e <= err)` keeps it, where
/// std::max would drop it.
void check_close(const std::vector<float>& a, const std::vector<float>& b, const std::string& what, double tol = 1e-5) {
    REQUIRE(a.size() == b.size());
    double err = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double e = std::fabs(double(a[i]) - double(b[i]));
        if (!(e <= err)) err = e;
        scale = std::max(scale, double(std::fabs(b[i])));
    }
    INFO(what << ": max error " << err << " at scale " << scale);
    CHECK(scale > 0);
    CHECK(err <= tol * scale);
}

/// A net's rank-1 tensors (biases, BatchNorm weights and statistics) away from their initial values.
template <class Net>
void perturb(Net& net, std::uint64_t seed) {
    rng g(seed);
    net.for_each_tensor([&](const std::string& name, const tensor_desc& d, float* p, tensor_kind) {
        if (d.rank != 1) return;
        const bool var = name.find("running_var") != std::string::npos;
        for (std::size_t i = 0; i < d.size(); ++i) p[i] = var ? g.uniform(0.3f, 2.0f) : g.uniform(-1.0f, 1.0f);
    });
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
    const result ref = run.template operator()<kernel_for<L, In, reference>>();
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
    using Kc = kernel_for<L, In, cpu>;
    if constexpr (Kc::traits.overwrites_dparams) {
        // the first backward after zero_grad: the gradient is written over stale values (NaN
        // here), into 64-byte aligned memory (where large layers use streaming stores) and not
        std::vector<float> want(np);
        for (std::size_t i = 0; i < np; ++i) want[i] = ref.dp[i] - dp0[i];  // the reference added to dp0
        for (std::size_t shift : {0, 1}) {
            aligned_floats buf(np + 16);
            std::fill(buf.begin(), buf.end(), std::nanf(""));
            std::vector<float> dx(n * in.size());
            backward_args b;
            b.x = x.data(); b.y = got.y.data(); b.dy = dy.data(); b.dx = dx.data(); b.n = n; b.params = p.data();
            b.dparams = buf.data() + shift; b.saved = got.saved.data(); b.overwrite_dparams = true;
            Kc::backward(b);
            INFO("overwriting dparams at an offset of " << shift << " floats from a 64-byte boundary");
            check_close(std::vector<float>(buf.data() + shift, buf.data() + shift + np), want, "dparams (overwritten)");
            check_close(dx, ref.dx, "dx");
        }
    }
}

using ctnn_test::thread_count_guard;

}  // namespace

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
// Winograd F(4x4, 5x5) pooled over a 13 x 15 map (4 x 4 tiles, the pool windows past the map
// dropped), 20 channels (GEMM blocks of 16 + 4), then F(2x2, 3x3) on the 6 x 7 map
using WinoNet4 = Sequential<Input<9, 13, 15>, Conv<9, 20, 5, 1, 2>, ReLU, MaxPool<2>, Conv<20, 12, 3, 1, 1>, ReLU,
                            Flatten, Linear<504, 4>>;
}  // namespace
