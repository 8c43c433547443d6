// The cpu (xsimd) backend against the reference backend: Linear, MaxPool and ReLU, forward and
// backward, on awkward shapes (widths and channel counts that are not multiples of the vector
// width) and several batch sizes; thread-count independence and bit-reproducibility for a fixed
// thread count; an optimizer update split over threads. Conv: test_simd_conv.cpp; fusion:
// test_simd_fusion.cpp.
#include "simd_helpers.hpp"

#include <ctnn/train/optim.hpp>

using namespace ctnn;

TEST_CASE("cpu backend: the kernels it specializes", "[simd]") {
    STATIC_REQUIRE(has_kernel<Conv<3, 8, 3, 2, 1>, Shape<3, 9, 9>, cpu>);  // strided: im2col + GEMM (conv_gemm.hpp)
    STATIC_REQUIRE(has_kernel<Conv<3, 8, 3, 1, 1>, Shape<3, 9, 9>, cpu>);
    STATIC_REQUIRE(has_kernel<Linear<5, 3>, Shape<5>, cpu>);
    STATIC_REQUIRE(has_kernel<MaxPool<2>, Shape<1, 4, 4>, cpu>);
    STATIC_REQUIRE(has_kernel<ReLU, Shape<7>, cpu>);
    STATIC_REQUIRE(std::is_same_v<default_backend, cpu>);
    INFO("vector: " << simd::vec::name << ", " << simd::width << " floats");
    CHECK(simd::width >= 1);
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
    // few outputs: dW split over column chunks (2 or 3 tasks; 1000 leaves a chunk of 40 columns)
    for (std::size_t threads : {2, 3}) {
        set_num_threads(threads);
        compare_layer<Linear<2048, 10>, Shape<2048>>(37, 420 + threads);
        compare_layer<Linear<1000, 7>, Shape<1000>>(33, 430 + threads);
    }
    compare_layer<Linear<3136, 1024>, Shape<3136>>(33, 520);  // Fashion-MNIST's fc1
    // weights over 2 MiB: dx prefetches panels ahead, an overwritten dW is stored around the
    // caches when aligned; widths that leave a vector tail (1037) and a scalar tail (1043)
    compare_layer<Linear<1040, 515>, Shape<1040>>(19, 530);
    compare_layer<Linear<1037, 517>, Shape<1037>>(9, 540);
    compare_layer<Linear<1043, 513>, Shape<1043>>(17, 550);
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
            group_forward_args<2> g;
            g.layer[0] = f;
            g.layer[0].x = x.data();
            g.layer[1].y = yf.data();
            fused<cpu, Shape<300>, L, ReLU, no_layer>::forward(g);
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
            compare_layer<MaxPool<2>, Shape<8, 2, 2>>(n, 635 + n, true);  // rows shorter than a vector: no read past x
            compare_layer<ReLU, Shape<37>>(n, 640 + n, true);
            compare_layer<ReLU, Shape<4, 33, 35>>(n, 650 + n, true);
        }
    }
}

TEST_CASE("cpu activations: each layer's math on vectors matches the reference kernel", "[simd][activation]") {
    // LeakyReLU is exact (no rounding differs); Sigmoid and Tanh use xsimd's exp and tanh, within a
    // few ulp of the C library's; with NaN, infinities and signed zeros in the input
    const thread_count_guard guard;
    for (std::size_t threads : {1, 2, 3}) {
        set_num_threads(threads);
        for (std::size_t n : {1, 3, 17}) {
            compare_layer<LeakyReLU<1, 10>, Shape<3, 7, 11>>(n, 660 + n, true);
            compare_layer<LeakyReLU<0, 1>, Shape<37>>(n, 670 + n, true);
            compare_layer<Sigmoid, Shape<5, 9, 13>>(n, 680 + n);
            compare_layer<Tanh, Shape<5, 9, 13>>(n, 690 + n);
        }
    }
    std::vector<float> x = {std::nanf(""), INFINITY, -INFINITY, 0.0f, -0.0f, 88.0f, -88.0f, 1e-30f, 20.0f, -20.0f, 3.0f, -0.5f};
    x.resize(64, 0.25f);
    const auto run = [&]<class L, class B>() {
        std::vector<float> y(x.size());
        forward_args f;
        f.x = x.data(); f.y = y.data(); f.n = 1; 
        kernel_for<L, Shape<64>, B>::forward(f);
        return y;
    };
    const auto check = [&]<class L>() {
        const auto a = run.template operator()<L, cpu>(), b = run.template operator()<L, reference>();
        for (std::size_t i = 0; i < x.size(); ++i) {
            INFO(L::kind << " at " << x[i]);
            CHECK(std::isnan(a[i]) == std::isnan(b[i]));
            if (!std::isnan(b[i])) CHECK(a[i] == Approx(b[i]).epsilon(1e-6).margin(1e-30));
        }
    };
    check.template operator()<Sigmoid>();
    check.template operator()<Tanh>();
    check.template operator()<ReLU>();
    check.template operator()<LeakyReLU<1, 10>>();
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

TEST_CASE("cpu optimizers: one update split over threads gives the 1-thread bits", "[simd][threads][train]") {
    // 40k trainable parameters (and a parameter-free layer between): Adam's update splits into
    // 2 or 3 tasks, SGD's into 2, across layer boundaries; every element must be updated, once.
    using Net = Sequential<Input<300>, Linear<300, 130>, ReLU, Linear<130, 7>>;
    STATIC_REQUIRE(Net::grad_count == 300 * 130 + 130 + 130 * 7 + 7);
    const thread_count_guard guard;
    const auto run = [](std::size_t threads, bool adam) {
        set_num_threads(threads);
        Net net(3);
        Adam adam_opt(net, 1e-2f, {.weight_decay = 1e-3f});
        SGD sgd_opt(net, 1e-2f, {.momentum = 0.9f, .weight_decay = 1e-3f, .nesterov = true});
        for (std::uint64_t s = 0; s < 3; ++s) {
            const auto g = random_vec(Net::grad_count, 40 + s);
            std::copy(g.begin(), g.end(), net.grads().begin());
            if (adam) adam_opt.step();
            else sgd_opt.step();
        }
        std::vector<float> out(net.params().begin(), net.params().end());
        const auto st = adam ? adam_opt.state() : sgd_opt.state();
        out.insert(out.end(), st.begin(), st.end());
        return out;
    };
    for (bool adam : {true, false}) {
        INFO((adam ? "Adam" : "SGD"));
        const auto one = run(1, adam);
        Net fresh(3);
        std::size_t unchanged = 0;
        for (std::size_t i = 0; i < Net::param_count; ++i) unchanged += one[i] == fresh.params()[i];
        CHECK(unchanged == 0);
        CHECK(run(2, adam) == one);
        CHECK(run(3, adam) == one);
    }
}
