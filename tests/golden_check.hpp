// Shared by the golden tests: a layer or a whole net against a PyTorch golden file
// (tests/data/golden, written by tools/make_reference.py). The tolerance, as in test_golden.cpp:
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
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <ctnn/ctnn.hpp>

#include "golden_io.hpp"

namespace ctnn_test {
using namespace ctnn;

constexpr double tolerance = 1e-5;

inline double rms(const float* p, std::size_t n) {
    double s = 0;
    std::size_t finite = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (std::isfinite(p[i])) s += double(p[i]) * p[i], ++finite;
    return finite ? std::sqrt(s / double(finite)) : 0.0;
}

/// Compares n values of `got` to `want` with scale floor s (see the file comment).
inline void check_close(const std::string& what, const float* got, const golden_tensor& want, double s) {
    INFO(what);
    REQUIRE(got != nullptr);
    double worst = 0;
    std::size_t at = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double w = want.data[i];
        if ((std::isnan(w) && std::isnan(got[i])) || got[i] == w) continue;  // NaN where PyTorch has NaN; equal infinities
        const double e = std::abs(double(got[i]) - w) / std::max({std::abs(w), s, 1e-30});
        if (!(e <= worst)) {  // also catches NaN
            worst = e;
            at = i;
        }
    }
    if (std::getenv("CTNN_GOLDEN_REPORT")) std::printf("golden %-48s max rel err %.2e\n", what.c_str(), worst);
    INFO("worst at " << at << ": got " << (want.size() ? got[at] : 0.0f) << ", want " << (want.size() ? want.data[at] : 0.0f));
    CHECK(worst <= tolerance);
}
inline void check_close(const std::string& what, const float* got, const golden_tensor& want) {
    check_close(what, got, want, rms(want.data.data(), want.size()));
}

/// One layer through its reference kernel: parameters and buffers from p/<name>, a forward (training
/// or inference), then in training a backward with dy; compares y, dx, every parameter gradient and
/// the updated buffers. Also checks the kernel contract: dx is overwritten (it starts as NaN),
/// dparams accumulate (a second backward doubles them exactly), and the output shape rule.
template <class L, class In>
void layer_case(const std::string& name, bool training = true) {
    INFO("case " << name);
    const golden_case g(name);
    constexpr dims in = In::value;
    constexpr dims out = L::output(in);
    constexpr tensor_list P = L::params(in), B = L::buffers(in);
    static_assert(L::check(in).ok());

    const golden_tensor& x = g["x"];
    const std::size_t n = x.shape.at(0);
    REQUIRE(x.per_sample() == In::size);
    const golden_tensor& ywant = g["y"];
    REQUIRE(ywant.shape.size() == out.rank + 1);  // the shape rule agrees with PyTorch
    for (std::size_t r = 0; r < out.rank; ++r) CHECK(ywant.shape[r + 1] == out.d[r]);
    REQUIRE(ywant.size() == n * out.size());

    std::vector<float> params(P.total()), buffers(B.total());
    for (std::size_t t = 0, off = 0; t < P.count; off += P.t[t].size(), ++t) {
        const golden_tensor& p = g["p/" + std::string(P.t[t].name)];
        REQUIRE(p.size() == P.t[t].size());
        std::copy(p.data.begin(), p.data.end(), params.begin() + std::ptrdiff_t(off));
    }
    for (std::size_t t = 0, off = 0; t < B.count; off += B.t[t].size(), ++t) {
        const golden_tensor& b = g["p/" + std::string(B.t[t].name)];
        REQUIRE(b.size() == B.t[t].size());
        std::copy(b.data.begin(), b.data.end(), buffers.begin() + std::ptrdiff_t(off));
    }

    using K = kernel_for<L, In, reference>;
    std::vector<float> y(ywant.size()), saved(L::saved(in, n));
    rng gen(7);
    forward_args f;
    f.x = x.data.data(); f.y = y.data(); f.n = n;
    f.params = params.data(); f.buffers = buffers.data();
    f.saved = saved.data(); f.training = training; f.gen = &gen;
    K::forward(f);
    check_close(name + " y", y.data(), ywant);
    if (!training) return;  // ctnn runs backward only after a training forward

    for (std::size_t t = 0, off = 0; t < B.count; off += B.t[t].size(), ++t)
        check_close(name + " " + std::string(B.t[t].name), buffers.data() + off, g["b1/" + std::string(B.t[t].name)]);

    std::vector<float> dx(x.size(), std::numeric_limits<float>::quiet_NaN()), dparams(P.total(), 0.0f);
    backward_args b;
    b.x = x.data.data(); b.y = y.data(); b.dy = g["dy"].data.data(); b.dx = dx.data(); b.n = n;
    b.params = params.data(); b.dparams = dparams.data(); b.buffers = buffers.data(); b.saved = saved.data();
    K::backward(b);
    check_close(name + " dx", dx.data(), g["dx"]);
    const double layer_scale = rms(dparams.data(), dparams.size());
    for (std::size_t t = 0, off = 0; t < P.count; off += P.t[t].size(), ++t)
        check_close(name + " d" + std::string(P.t[t].name), dparams.data() + off, g["g/" + std::string(P.t[t].name)], layer_scale);

    if (P.count) {  // parameter gradients accumulate
        const std::vector<float> once = dparams;
        K::backward(b);
        bool doubled = true;
        for (std::size_t i = 0; i < once.size(); ++i) doubled = doubled && dparams[i] == 2.0f * once[i];
        CHECK(doubled);
    }
}

/// A whole net: every tensor from p/<state_dict name>; inference output (y_eval when the case has
/// one, else y: nets without BatchNorm compute the same in both modes), then training forward and
/// backward; compares y, dx, every parameter gradient and every updated buffer. Runs on the
/// reference backend, and on the default backend too when that is another one.
template <class Net, class Backend = reference>
void net_case(const std::string& case_name) {
    if constexpr (std::is_same_v<Backend, reference> && !std::is_same_v<default_backend, reference>)
        net_case<Net, default_backend>(case_name);
    const std::string name = case_name + " [" + std::string(Backend::name) + "]";
    INFO("case " << name);
    const golden_case g(case_name);
    const golden_tensor& x = g["x"];
    const std::size_t n = x.shape.at(0);
    REQUIRE(x.per_sample() == Net::input_size);
    REQUIRE(g["y"].per_sample() == Net::output_size);

    Net net(123);
    std::size_t loaded = 0;
    net.for_each_tensor([&](const std::string& key, const tensor_desc& d, float* data, tensor_kind) {
        const golden_tensor& t = g["p/" + key];
        REQUIRE(t.size() == d.size());
        std::copy(t.data.begin(), t.data.end(), data);
        ++loaded;
    });
    std::size_t in_file = 0;
    for (const auto& [key, t] : g.tensors()) in_file += key.rfind("p/", 0) == 0;
    CHECK(loaded == in_file);  // every tensor PyTorch has, ctnn has, under the same name

    std::vector<float> out(n * Net::output_size);
    net.template forward<Backend>(x.data.data(), out.data(), n);
    check_close(name + " inference y", out.data(), g[g.has("y_eval") ? "y_eval" : "y"]);

    net.zero_grad();
    const float* y = net.template forward_train<Backend>(x.data.data(), n);
    check_close(name + " y", y, g["y"]);
    std::vector<float> dx(x.size(), std::numeric_limits<float>::quiet_NaN());
    net.template backward<Backend>(g["dy"].data.data(), dx.data());
    check_close(name + " dx", dx.data(), g["dx"]);

    net.for_each_tensor([&](const std::string& key, const tensor_desc& d, float* data, tensor_kind kind) {
        if (kind == tensor_kind::buffer) {
            check_close(name + " " + key, data, g["b1/" + key]);
            return;
        }
        const std::size_t layer = std::stoul(key.substr(0, key.find('.')));
        const std::size_t off = std::size_t(data - net.params(layer).data());
        const auto grads = net.grads(layer);
        REQUIRE(off + d.size() <= grads.size());
        check_close(name + " d" + key, grads.data() + off, g["g/" + key], rms(grads.data(), grads.size()));
    });
}

}  // namespace ctnn_test
