// Finite-difference gradient checks through whole nets (forward_train / backward on the reference
// backend, whose kernels are the definition of correct; other backends are checked against it).
//
// Loss: L = sum(r ⊙ y) with a fixed random r, summed in double; so dL/dy = r is the upstream
// gradient handed to backward. For a sample of parameters (up to `per_tensor` from every tensor,
// biases included) and inputs, the central difference
//     fd = (L(v + h) - L(v - h)) / ((v + h) - (v - h))      (the step as actually stored in float)
// is compared with the analytic gradient g: |fd - g| <= 1e-2 * max(|g|, s), s = RMS of the
// analytic gradient of the same layer (or of the whole input gradient).
// Why these numbers: the kernels are float, so L carries rounding noise of about 1e-7 relative to
// the size of its terms; with h = 1e-2 that is ~1e-5 relative in fd, and the truncation error
// (h² f'''/6) is ~1e-5 as well; 1e-2 leaves room for both and still catches any wrong formula, whose
// error is O(1) relative.
// Kinks (ReLU, LeakyReLU, MaxPool): a sample whose fd fails is tried again with h/2; if fd(h/2)
// passes, a kink lay within h but not h/2 and the sample passes; if the two differences disagree
// the function is not smooth within either step and the sample is skipped, not failed. A wrong
// analytic gradient cannot hide this way: fd(h) and fd(h/2) then agree with each other and not
// with g. Smooth nets must skip and fail nothing. In the seed
// CNN a Conv bias moves 2 k ReLU inputs per sample at once, so L is piecewise linear with pieces
// narrower than any usable step; in nets with kinks at most one sample may fail (a kink the noise
// floor hid), and at most a third of a tensor's samples and 10% overall may fail or be skipped
// (a wrong formula fails every sample of its tensor).
// Noise floor: L's rounding noise, measured by evaluating it at 41 points 1 ulp apart and fitting a
// line, stays below 2^-23 of sum |r ⊙ y| (seed CNN 2^-25, the BatchNorm net 2^-23); so a
// difference of two losses is known to 2^-22 of it, and fd to that over 2h, which is subtracted
// from |fd - g| before the relative test.
// Dropout: the net's generator is reset before every forward, so every evaluation uses one mask.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace ctnn_test {
using namespace ctnn;


struct gradcheck_result {
    std::size_t checked = 0, skipped = 0, failed = 0;
    std::size_t bad_tensors = 0;  // tensors (or the input) with more than a third of their samples bad
    std::size_t bad() const { return failed + skipped; }
    std::size_t total() const { return checked + skipped; }
    double worst = 0;      // largest (|fd - g| - noise floor) / max(|g|, s) over the checked samples
    double worst_raw = 0;  // largest |fd - g| / max(|g|, s), no noise floor
};

template <class Net>
class gradcheck {
public:
    static constexpr double tolerance = 1e-2;

    gradcheck(Net& net, std::size_t batch, std::uint64_t seed, float h, float x_scale = 1.0f)
        : net_(net), n_(batch), h_(h), x_(batch * Net::input_size), r_(batch * Net::output_size), pick_(seed) {
        rng g(seed * 7919 + 1);
        for (auto& v : x_) v = g.normal() * x_scale + 0.01f;  // never exactly zero in practice
        for (auto& v : r_) v = g.uniform(-1.0f, 1.0f);
        gen_state_ = net_.generator().state();
    }

    /// L = sum(r ⊙ y) at the current parameters and input.
    double loss() {
        net_.generator().set_state(gen_state_);
        const float* y = net_.template forward_train<reference>(x_.data(), n_);
        double s = 0;
        abs_terms_ = 0;
        for (std::size_t i = 0; i < r_.size(); ++i) {
            s += double(r_[i]) * y[i];
            abs_terms_ += std::abs(double(r_[i]) * y[i]);
        }
        return s;
    }

    /// Runs the sampled checks; returns the tally.
    gradcheck_result run(const std::string& what, std::size_t per_tensor) {
        // analytic gradients
        net_.zero_grad();
        loss();
        std::vector<float> dx(x_.size());
        net_.template backward<reference>(r_.data(), dx.data());
        noise_ = std::ldexp(abs_terms_, -22) / (2 * h_);
        const std::vector<float> grads(net_.grads().begin(), net_.grads().end());

        gradcheck_result res;
        net_.for_each_tensor([&](const std::string& key, const tensor_desc& d, float* data, tensor_kind kind) {
            if (kind != tensor_kind::parameter) return;
            const std::size_t layer = std::stoul(key.substr(0, key.find('.')));
            const std::size_t off = std::size_t(data - net_.params(layer).data());
            const float* g = grads.data() + Net::grad_offset[layer];
            const double s = rms(g, Net::grad_sizes[layer]);
            const std::size_t bad0 = res.bad();
            for (std::size_t k : sample(d.size(), per_tensor)) check_one(what + " " + key, data + k, g[off + k], s, res);
            tally(res, bad0, std::min(d.size(), per_tensor));
        });
        const double s = rms(dx.data(), dx.size());
        const std::size_t bad0 = res.bad();
        for (std::size_t k : sample(x_.size(), per_tensor)) check_one(what + " input", x_.data() + k, dx[k], s, res);
        tally(res, bad0, std::min(x_.size(), per_tensor));
        if (std::getenv("CTNN_GOLDEN_REPORT"))
            std::printf("gradcheck %-18s h %.0e checked %3zu skipped %2zu failed %zu max rel err %.2e (without noise floor %.2e; floor %.1e)\n",
                        what.c_str(), double(h_), res.checked, res.skipped, res.failed, res.worst, res.worst_raw, noise_);
        return res;
    }

private:
    static double rms(const float* p, std::size_t n) {
        double s = 0;
        for (std::size_t i = 0; i < n; ++i) s += double(p[i]) * p[i];
        return n ? std::sqrt(s / double(n)) : 0.0;
    }
    static void tally(gradcheck_result& res, std::size_t bad_before, std::size_t samples) {
        if ((res.bad() - bad_before) * 3 > samples) ++res.bad_tensors;
    }
    std::vector<std::size_t> sample(std::size_t size, std::size_t k) {
        std::vector<std::size_t> idx;
        if (size <= k) {
            for (std::size_t i = 0; i < size; ++i) idx.push_back(i);
        } else {
            while (idx.size() < k) {
                const std::size_t i = std::size_t(pick_.below(size));
                if (std::find(idx.begin(), idx.end(), i) == idx.end()) idx.push_back(i);
            }
        }
        return idx;
    }
    double central(float* v, float step) {
        const float orig = *v, up = orig + step, down = orig - step;
        *v = up;
        const double lu = loss();
        *v = down;
        const double ld = loss();
        *v = orig;
        return (lu - ld) / (double(up) - double(down));
    }
    void check_one(const std::string& what, float* v, float g, double s, gradcheck_result& res) {
        const double scale = std::max({std::abs(double(g)), s, 1e-30});
        const double fd = central(v, h_);
        double err = std::max(std::abs(fd - g) - noise_, 0.0) / scale;
        if (!(err <= tolerance)) {
            const double fd2 = central(v, h_ / 2);
            const double err2 = std::max(std::abs(fd2 - g) - 2 * noise_, 0.0) / scale;
            if (err2 <= tolerance) {  // a kink within h but not within h/2: fd converges to g
                err = err2;
            } else if ((std::abs(fd2 - fd) - 3 * noise_) / scale > tolerance / 2) {  // not smooth within either step
                ++res.skipped;
                return;
            } else {
                err = std::max(err, err2);
                ++res.failed;
                UNSCOPED_INFO(what << ": analytic " << g << ", finite difference " << fd << " (h/2: " << fd2 << ")");
            }
        }
        ++res.checked;
        res.worst = std::max(res.worst, err);
        res.worst_raw = std::max(res.worst_raw, std::abs(fd - g) / scale);
    }

    Net& net_;
    std::size_t n_;
    float h_;
    double abs_terms_ = 0, noise_ = 0;
    std::vector<float> x_, r_;
    rng pick_;
    std::uint64_t gen_state_ = 0;
};

template <class Net>
gradcheck_result check_net(const std::string& what, std::size_t batch, std::size_t per_tensor, std::uint64_t seed,
                           float h, float x_scale = 1.0f, float param_scale = 1.0f) {
    Net net(seed);
    for (float& v : net.params()) v *= param_scale;
    gradcheck<Net> gc(net, batch, seed, h, x_scale);
    return gc.run(what, per_tensor);
}

/// For a net with kinks: at most a third of any tensor's samples and 10% overall may fail or be
/// skipped, and at most one may fail.
inline void check_kinked(const gradcheck_result& r) {
    CHECK(r.failed <= 1);  // fd(h) and fd(h/2) agree and differ from g: that is not a kink
    CHECK(r.bad_tensors == 0);
    CHECK(r.bad() * 10 <= r.total());
}

}  // namespace ctnn_test
