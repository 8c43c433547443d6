// The cpu BatchNorm kernel (backends/cpu/batchnorm.hpp) against the reference kernel: training
// forward (output, batch statistics, running statistics and count), backward (dx, dgamma and dbeta
// accumulated onto earlier values) and inference, at awkward sizes (maps that are not a whole
// vector, 1-d features, one sample, a mean far from zero), with 1, 2 and 3 threads, which must
// give the same bits.
#include "simd_helpers.hpp"

namespace {

struct bn_result {
    std::vector<float> y, saved, buffers, dx, dp, y_eval;
};

template <std::size_t C, class In, class B>
bn_result run_bn(std::size_t n, const std::vector<float>& x, const std::vector<float>& p, const std::vector<float>& buf0,
                 const std::vector<float>& dy, const std::vector<float>& dp0) {
    using K = kernel_for<BatchNorm<C>, In, B>;
    bn_result r{std::vector<float>(x.size(), std::nanf("")), std::vector<float>(2 * C, std::nanf("")), buf0,
                std::vector<float>(x.size(), std::nanf("")), dp0, std::vector<float>(x.size(), std::nanf(""))};
    forward_args f;
    f.x = x.data(); f.y = r.y.data(); f.n = n; f.params = p.data(); f.buffers = r.buffers.data();
    f.saved = r.saved.data(); f.training = true;
    K::forward(f);
    backward_args b;
    b.x = x.data(); b.y = r.y.data(); b.dy = dy.data(); b.dx = r.dx.data(); b.n = n; b.params = p.data();
    b.dparams = r.dp.data(); b.saved = r.saved.data();
    K::backward(b);
    forward_args e = f;  // inference with the running statistics just updated
    e.y = r.y_eval.data(); e.training = false; e.saved = nullptr;
    std::vector<float> bufs = r.buffers;
    e.buffers = bufs.data();
    K::forward(e);
    return r;
}

template <std::size_t C, class In>
void bn_matches_reference(std::size_t n, float offset, std::uint64_t seed) {
    INFO("BatchNorm<" << C << "> on " << to_string(In::value) << ", batch " << n << ", inputs around " << offset);
    rng g(seed);
    std::vector<float> x(n * In::size), dy(x.size()), p(2 * C), dp0(2 * C), buf0(2 * C + 1);
    for (auto& v : x) v = offset + g.normal();
    for (auto& v : dy) v = g.normal();
    for (auto& v : p) v = g.uniform(0.5f, 1.5f);
    for (auto& v : dp0) v = g.uniform(-1.0f, 1.0f);
    for (std::size_t c = 0; c < C; ++c) {
        buf0[c] = g.uniform(-0.5f, 0.5f);
        buf0[C + c] = g.uniform(0.5f, 2.0f);
    }
    buf0[2 * C] = 3.0f;  // num_batches_tracked
    const bn_result ref = run_bn<C, In, reference>(n, x, p, buf0, dy, dp0);
    const thread_count_guard guard;
    std::vector<bn_result> got;
    for (std::size_t t : {1, 2, 3}) {
        set_num_threads(t);
        got.push_back(run_bn<C, In, cpu>(n, x, p, buf0, dy, dp0));
        INFO(t << " threads");
        check_close(got.back().y, ref.y, "y");
        check_close(got.back().saved, ref.saved, "batch mean and rstd");
        check_close(got.back().buffers, ref.buffers, "running mean, var and count");
        check_close(got.back().dx, ref.dx, "dx");
        check_close(got.back().dp, ref.dp, "dgamma, dbeta (accumulated)");
        check_close(got.back().y_eval, ref.y_eval, "inference", 1e-6);
    }
    for (std::size_t t : {1, 2}) {
        INFO("threads " << t + 1 << " against 1");
        CHECK(got[t].y == got[0].y);
        CHECK(got[t].dx == got[0].dx);
        CHECK(got[t].dp == got[0].dp);
        CHECK(got[t].buffers == got[0].buffers);
    }
}

}  // namespace

TEST_CASE("cpu BatchNorm matches the reference (awkward sizes, 1-d, batch 1, far-off mean; 1, 2 and 3 threads)",
          "[simd][batchnorm][threads]") {
    static_assert(std::is_same_v<kernel_for<BatchNorm<5>, Shape<5, 7, 3>, cpu>, kernel<BatchNorm<5>, Shape<5, 7, 3>, cpu>>);
    bn_matches_reference<5, Shape<5, 7, 3>>(4, 0.0f, 1);       // rows of 21: vectors and a tail
    bn_matches_reference<16, Shape<16, 4, 4>>(3, 0.0f, 2);     // rows of a whole vector
    bn_matches_reference<3, Shape<3, 28, 28>>(2, 0.0f, 3);     // long rows
    bn_matches_reference<7, Shape<7, 13, 11>>(1, 0.0f, 4);     // one sample
    bn_matches_reference<11, Shape<11>>(7, 0.0f, 5);           // 1-d: rows of one value
    bn_matches_reference<33, Shape<33, 1, 1>>(2, 0.0f, 6);     // the fewest values that train
    bn_matches_reference<64, Shape<64, 7, 7>>(5, 0.0f, 7);     // enough work for 3 tasks
    bn_matches_reference<6, Shape<6, 9, 5>>(3, 40.0f, 8);      // mean 40x the standard deviation
}

TEST_CASE("cpu BatchNorm refuses to train on one value per channel, as the reference", "[simd][batchnorm]") {
    using K = kernel_for<BatchNorm<4>, Shape<4>, cpu>;
    std::vector<float> x(4, 1.0f), y(4), p(8, 1.0f), buf(9, 0.0f), saved(8);
    forward_args f;
    f.x = x.data(); f.y = y.data(); f.n = 1; f.params = p.data(); f.buffers = buf.data(); f.saved = saved.data();
    f.training = true;
    CHECK_THROWS_WITH(K::forward(f), Catch::Contains("more than one value per channel"));
    CHECK(buf == std::vector<float>(9, 0.0f));  // nothing moved
}
