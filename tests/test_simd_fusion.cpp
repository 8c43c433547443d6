// cpu fusion (inference and training) against the unfused kernels and the reference backend, and
// zero_grad's lazy overwrite. (A translation unit of its own, for compile time.)
#include "simd_helpers.hpp"

using namespace ctnn;

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
        check_net.template operator()<WinoNet4>();
        check_net.template operator()<SeedNet>();
    }
}

TEST_CASE("cpu Conv: the net's prepared (Winograd-transformed) weights follow every change of the weights", "[simd][fusion]") {
    // WinoNet's convolutions keep transformed weights between calls; change the weights behind
    // the net's back (through a span taken before the first forward) and the next forward, of
    // either kind, must still see them, including a NaN weight (the direct path) and its removal
    const thread_count_guard guard;
    set_num_threads(1);
    WinoNet net(5);
    const std::span<float> p = net.params();  // kept across the forwards below
    const std::size_t n = 3;
    const auto x = random_vec(n * WinoNet::input_size, 61);
    std::vector<float> got(n * WinoNet::output_size), want(got.size());
    const auto compare = [&](const char* when) {
        INFO(when);
        net.forward<cpu>(x.data(), got.data(), n);
        net.forward<reference>(x.data(), want.data(), n);
        for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::isnan(got[i]) == std::isnan(want[i]));
        if (std::isfinite(want[0])) check_close(got, want, "forward");
        const float* t = net.forward_train<cpu>(x.data(), n);
        const std::vector<float> tr(t, t + got.size());
        for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::isnan(tr[i]) == std::isnan(want[i]));
        if (std::isfinite(want[0])) check_close(tr, want, "forward_train");
    };
    compare("as initialised");
    const float before = p[3];
    p[3] += 0.75f;  // the first conv's weights
    compare("after one weight of the first Conv changed");
    p[3] = std::nanf("");
    compare("with a NaN weight");
    CHECK(std::isnan(got[0]));
    p[3] = before;
    compare("with the weight restored");
    for (float& v : p) v *= -0.5f;  // every parameter, as an optimizer step would
    compare("after every parameter changed");
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
            compare.template operator()<WinoNet4>(3, 44, special);
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

TEST_CASE("cpu fusion: a frozen trunk fuses as the unfrozen one does, in inference and training", "[simd][fusion][frozen]") {
    using Trunk = Sequential<Input<3, 32, 32>, Frozen<Conv<3, 16, 3, 1, 1>>, ReLU, MaxPool<2>, Frozen<Conv<16, 32, 3, 1, 1>>,
                             ReLU, MaxPool<2>, Flatten, Linear<2048, 10>>;
    STATIC_REQUIRE(Trunk::fusion_plan<cpu> == SeedNet::fusion_plan<cpu>);
    STATIC_REQUIRE(Trunk::train_plan<cpu> == SeedNet::train_plan<cpu>);
    STATIC_REQUIRE(Trunk::grad_count == 2048 * 10 + 10);
    const thread_count_guard guard;
    set_num_threads(2);
    Trunk frozen(4);
    SeedNet plain(4);  // the same parameters: the same seed, the same layouts
    REQUIRE(std::equal(frozen.params().begin(), frozen.params().end(), plain.params().begin()));
    const std::size_t n = 5;
    const auto x = random_vec(n * SeedNet::input_size, 71), dout = random_vec(n * 10, 72);
    std::vector<float> yf(n * 10), yp(n * 10);
    frozen.forward(x.data(), yf.data(), n);
    plain.forward(x.data(), yp.data(), n);
    CHECK(yf == yp);
    const float* tf = frozen.forward_train(x.data(), n);
    const float* tp = plain.forward_train(x.data(), n);
    CHECK(std::vector<float>(tf, tf + n * 10) == std::vector<float>(tp, tp + n * 10));
    frozen.zero_grad();
    plain.zero_grad();
    frozen.backward(dout.data());
    plain.backward(dout.data());
    const auto head = plain.grads(7);
    CHECK(std::vector<float>(frozen.grads().begin(), frozen.grads().end()) == std::vector<float>(head.begin(), head.end()));
}
