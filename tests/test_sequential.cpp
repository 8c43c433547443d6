// Sequential: what the type knows at compile time (shapes, sizes, layouts), the summary table,
// value semantics, inference without heap allocation, and the training plumbing (forward_train,
// backward accumulation, zero_grad, frozen layers).
#include <catch2/catch.hpp>
#include <ctnn/ctnn.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "heap_counter.hpp"

namespace {

using namespace ctnn;

// The seed's network, as in the issue.
using SeedNet = Sequential<Input<3, 32, 32>,
    Conv<3, 16, 3, 1, 1>, ReLU, MaxPool<2>,
    Conv<16, 32, 3, 1, 1>, ReLU, MaxPool<2>,
    Flatten, Linear<32 * 8 * 8, 10>>;

static_assert(std::is_same_v<SeedNet::output_shape, Shape<10>>);
static_assert(std::is_same_v<SeedNet::input_shape, Shape<3, 32, 32>>);
static_assert(SeedNet::param_count == 25'578);        // torch: sum(p.numel()) of the same net
static_assert(SeedNet::grad_count == 25'578);
static_assert(SeedNet::buffer_count == 0);
static_assert(SeedNet::depth == 8);
static_assert(std::is_same_v<SeedNet::shape_at<1>, Shape<16, 32, 32>>);
static_assert(std::is_same_v<SeedNet::shape_at<3>, Shape<16, 16, 16>>);
static_assert(std::is_same_v<SeedNet::shape_at<6>, Shape<32, 8, 8>>);
static_assert(std::is_same_v<SeedNet::shape_at<7>, Shape<2048>>);
static_assert(std::is_same_v<SeedNet::layer_type<7>, Linear<2048, 10>>);
static_assert(SeedNet::shapes[2] == chw(16, 32, 32) && SeedNet::shapes[8] == flat(10));
static_assert(SeedNet::param_sizes[0] == 16 * 3 * 9 + 16 && SeedNet::param_sizes[3] == 32 * 16 * 9 + 32);
static_assert(SeedNet::param_sizes[7] == 2048 * 10 + 10 && SeedNet::param_sizes[1] == 0);
static_assert(SeedNet::param_offset[3] == 448 && SeedNet::param_offset[7] == 448 + 4640);
static_assert(SeedNet::max_activation == 16 * 32 * 32);
static_assert(SeedNet::first_trainable == 0);

// Strided, padded, non-square convolutions; flat input; BatchNorm after Conv and after Linear.
using Mixed = Sequential<Input<2, 9, 13>,
    Conv<2, 4, 3, 2, 1>, BatchNorm<4>, LeakyReLU<1, 10>,   // (4, 5, 7)
    Conv<4, 6, 5, 1, 2>, Tanh, AvgPool<2, 1>,              // (6, 5, 7) -> (6, 4, 6)
    Conv<6, 3, 1>, Sigmoid, GlobalAvgPool,                 // (3, 4, 6) -> (3)
    Linear<3, 5>, BatchNorm<5>, Dropout<25>, Softmax>;
static_assert(std::is_same_v<Mixed::shape_at<1>, Shape<4, 5, 7>>);
static_assert(std::is_same_v<Mixed::shape_at<6>, Shape<6, 4, 6>>);
static_assert(std::is_same_v<Mixed::shape_at<9>, Shape<3>>);
static_assert(std::is_same_v<Mixed::output_shape, Shape<5>>);
static_assert(Mixed::param_count == (4 * 2 * 9 + 4) + 8 + (6 * 4 * 25 + 6) + (3 * 6 + 3) + (5 * 3 + 5) + 10);
static_assert(Mixed::buffer_count == (4 + 4 + 1) + (5 + 5 + 1));

using FlatNet = Sequential<Input<7>, Linear<7, 4>, ReLU, Linear<4, 2>>;
static_assert(std::is_same_v<FlatNet::output_shape, Shape<2>> && FlatNet::param_count == 32 + 10);

// Twenty layers, compiled with the compiler's default -ftemplate-depth.
using Deep = Sequential<Input<3, 32, 32>,
    Conv<3, 8, 3, 1, 1>, BatchNorm<8>, ReLU,
    Conv<8, 8, 3, 1, 1>, BatchNorm<8>, ReLU, MaxPool<2>,
    Conv<8, 16, 3, 1, 1>, BatchNorm<16>, LeakyReLU<>,
    Conv<16, 16, 3, 1, 1>, Tanh, AvgPool<2>,
    Conv<16, 32, 3, 1, 1>, Sigmoid, GlobalAvgPool,
    Linear<32, 32>, Dropout<10>, Linear<32, 10>, Softmax>;
static_assert(Deep::depth == 20);
static_assert(std::is_same_v<Deep::shape_at<13>, Shape<16, 8, 8>>);
static_assert(std::is_same_v<Deep::output_shape, Shape<10>>);

// A frozen trunk: same parameters, fewer gradients.
using FrozenTrunk = Sequential<Input<3, 8, 8>,
    Frozen<Conv<3, 4, 3, 1, 1>>, ReLU, Frozen<BatchNorm<4>>, MaxPool<2>,
    Flatten, Linear<4 * 4 * 4, 6>, ReLU, Linear<6, 3>>;
using Unfrozen = Sequential<Input<3, 8, 8>,
    Conv<3, 4, 3, 1, 1>, ReLU, BatchNorm<4>, MaxPool<2>,
    Flatten, Linear<4 * 4 * 4, 6>, ReLU, Linear<6, 3>>;
static_assert(FrozenTrunk::param_count == Unfrozen::param_count);
static_assert(FrozenTrunk::grad_count == Unfrozen::grad_count - (4 * 3 * 9 + 4) - 8);
static_assert(FrozenTrunk::grad_count == (64 * 6 + 6) + (6 * 3 + 3));
static_assert(FrozenTrunk::trainable[0] == 0 && FrozenTrunk::trainable[2] == 0 && FrozenTrunk::trainable[5] == 1);
static_assert(FrozenTrunk::grad_sizes[0] == 0 && FrozenTrunk::grad_offset[5] == 0);
static_assert(FrozenTrunk::first_trainable == 5);

// Smooth everywhere (no ReLU or max), for finite differences.
using SmoothNet = Sequential<Input<2, 6, 7>, Conv<2, 3, 3, 1, 1>, Tanh, AvgPool<2>, Flatten, Linear<3 * 3 * 3, 4>, Sigmoid>;

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    rng g(seed);
    std::vector<float> v(n);
    for (float& x : v) x = g.uniform(lo, hi);
    return v;
}

template <class Net>
std::vector<float> infer(Net& net, const std::vector<float>& in, std::size_t batch) {
    std::vector<float> out(batch * Net::output_size, std::nanf(""));
    net.forward(in.data(), out.data(), batch);
    return out;
}

bool all_finite(const std::vector<float>& v) {
    for (float x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

std::size_t nonzero(std::span<const float> v) {
    std::size_t n = 0;
    for (float x : v) n += x != 0.0f;
    return n;
}

}  // namespace

TEST_CASE("Sequential: summary() is a table of layers, output shapes and parameter counts", "[sequential]") {
    const std::string s = SeedNet::summary();
    INFO(s);
    CHECK(s.find("Conv(3->16, k3 s1 p1)") != std::string::npos);
    CHECK(s.find("(16, 32, 32)") != std::string::npos);
    CHECK(s.find("MaxPool(k2 s2)") != std::string::npos);
    CHECK(s.find("(32, 8, 8)") != std::string::npos);
    CHECK(s.find("Flatten") != std::string::npos);
    CHECK(s.find("(2048)") != std::string::npos);
    CHECK(s.find("Linear(2048->10)") != std::string::npos);
    CHECK(s.find("20,490") != std::string::npos);   // the Linear's parameters
    CHECK(s.find("4,640") != std::string::npos);    // the second Conv's
    CHECK(s.find("Total params: 25,578") != std::string::npos);
    CHECK(s.find("Trainable params: 25,578") != std::string::npos);
    // One row per layer plus the Input row: the layer names appear in order.
    std::size_t at = 0;
    for (const char* name : {"Input", "Conv(3->16", "ReLU", "MaxPool", "Conv(16->32", "ReLU", "MaxPool", "Flatten", "Linear"}) {
        const std::size_t p = s.find(name, at);
        CHECK(p != std::string::npos);
        at = p == std::string::npos ? at : p + 1;
    }

    const std::string f = FrozenTrunk::summary();
    INFO(f);
    CHECK(f.find("Frozen Conv(3->4, k3 s1 p1)") != std::string::npos);
    CHECK(f.find("Trainable params: " + std::to_string(FrozenTrunk::grad_count)) != std::string::npos);
    CHECK(f.find("Non-trainable: 120 params, 9 buffer values") != std::string::npos);
}

TEST_CASE("Sequential: parameters are PyTorch-initialised from the seed, one contiguous block", "[sequential]") {
    SeedNet a(42), b(42), c(43);
    REQUIRE(a.params().size() == SeedNet::param_count);
    REQUIRE(a.grads().size() == SeedNet::grad_count);
    CHECK(reinterpret_cast<std::uintptr_t>(a.params().data()) % ctnn::alignment == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(a.grads().data()) % ctnn::alignment == 0);
    CHECK(std::equal(a.params().begin(), a.params().end(), b.params().begin()));
    CHECK_FALSE(std::equal(a.params().begin(), a.params().end(), c.params().begin()));
    // Layer views are slices of the one block.
    CHECK(a.params(3).data() == a.params().data() + SeedNet::param_offset[3]);
    CHECK(a.params(7).size() == 20'490);
    CHECK(a.params(1).empty());
    // kaiming_uniform(a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weights and bias alike.
    const float bound0 = 1.0f / std::sqrt(27.0f), bound7 = 1.0f / std::sqrt(2048.0f);
    float max0 = 0, max7 = 0;
    for (float v : a.params(0)) max0 = std::max(max0, std::abs(v));
    for (float v : a.params(7)) max7 = std::max(max7, std::abs(v));
    CHECK(max0 <= bound0);
    CHECK(max0 > 0.9f * bound0);
    CHECK(max7 <= bound7);
    CHECK(max7 > 0.9f * bound7);
    // reset_parameters(seed) draws the same values again.
    c.reset_parameters(42);
    CHECK(std::equal(a.params().begin(), a.params().end(), c.params().begin()));
}

TEST_CASE("Sequential: for_each_tensor walks PyTorch's state_dict names and sizes", "[sequential]") {
    Mixed net(3);
    std::vector<std::string> names;
    std::size_t params = 0, buffers = 0;
    net.for_each_tensor([&](const std::string& name, const tensor_desc& d, float* data, tensor_kind kind) {
        names.push_back(name);
        (kind == tensor_kind::parameter ? params : buffers) += d.size();
        CHECK(data != nullptr);
    });
    CHECK(params == Mixed::param_count);
    CHECK(buffers == Mixed::buffer_count);
    const std::vector<std::string> expected = {
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "3.weight", "3.bias", "6.weight", "6.bias", "9.weight", "9.bias",
        "10.weight", "10.bias", "10.running_mean", "10.running_var", "10.num_batches_tracked"};
    CHECK(names == expected);
}

TEST_CASE("Sequential: copies are deep and independent; moves keep the parameters", "[sequential]") {
    const std::size_t batch = 3;
    const auto in = random_floats(batch * SeedNet::input_size, 11);
    SeedNet a(5);
    const auto ya = infer(a, in, batch);
    REQUIRE(all_finite(ya));

    SeedNet b = a;  // copy construction
    CHECK(b.params().data() != a.params().data());
    CHECK(std::equal(a.params().begin(), a.params().end(), b.params().begin()));
    CHECK(infer(b, in, batch) == ya);
    b.params()[0] += 1.0f;
    CHECK(a.params()[0] != b.params()[0]);
    CHECK(infer(a, in, batch) == ya);  // the original is untouched
    CHECK(infer(b, in, batch) != ya);

    SeedNet c(99);
    c = a;  // copy assignment
    CHECK(infer(c, in, batch) == ya);

    const float* block = c.params().data();
    SeedNet d = std::move(c);  // move construction takes the block itself
    CHECK(d.params().data() == block);
    CHECK(infer(d, in, batch) == ya);

    SeedNet e(1);
    e = std::move(d);  // move assignment
    CHECK(infer(e, in, batch) == ya);

    // A copy of a net in training carries its own workspace.
    Mixed m(2);
    const auto xin = random_floats(4 * Mixed::input_size, 12);
    m.forward_train(xin.data(), 4);
    Mixed m2 = m;
    const auto y1 = random_floats(4 * Mixed::output_size, 13);
    m2.zero_grad();
    m2.backward(y1.data());
    CHECK(nonzero(m2.grads()) > 0);
}

TEST_CASE("Sequential: inference forward and operator() never touch the heap", "[sequential][alloc]") {
    CTNN_NEEDS_HEAP_COUNT();
    SeedNet net(7);
    Mixed mixed(8);
    STATIC_REQUIRE(SeedNet::inference_tile < 9);  // batch 9 and 13 run in several tiles
    const std::size_t batches[] = {1, 2, SeedNet::inference_tile, 9, 13, 1};
    std::vector<std::vector<float>> ins, outs, mins, mouts;
    for (std::size_t b : batches) {
        ins.push_back(random_floats(b * SeedNet::input_size, 100 + b));
        outs.emplace_back(b * SeedNet::output_size, std::nanf(""));
        mins.push_back(random_floats(b * Mixed::input_size, 200 + b));
        mouts.emplace_back(b * Mixed::output_size, std::nanf(""));
    }
    std::array<float, SeedNet::input_size> one{};
    for (std::size_t i = 0; i < one.size(); ++i) one[i] = ins[0][i];
    std::array<float, SeedNet::output_size> y_one{};

    // Making a net allocates its blocks; warm_up reserves what a forward on a backend needs (the
    // calling thread's scratch and tiles, the pool's, prepared weights). A first forward does
    // the same; after either, forward allocates nothing.
    net.warm_up();
    net.warm_up<ctnn::reference>();
    mixed.warm_up();
    const long before = ctnn_test::heap_allocations();
    for (std::size_t i = 0; i < std::size(batches); ++i) {
        net.forward<ctnn::reference>(ins[i].data(), outs[i].data(), batches[i]);
        net.forward(ins[i].data(), outs[i].data(), batches[i]);  // the default backend's result stays
        mixed.forward(mins[i].data(), mouts[i].data(), batches[i]);
    }
    y_one = net(one);
    const long during = ctnn_test::heap_allocations() - before;

    CHECK(during == 0);
    for (std::size_t i = 0; i < std::size(batches); ++i) {
        CHECK(all_finite(outs[i]));
        CHECK(all_finite(mouts[i]));
    }
    // operator() on one sample agrees with forward on the same sample (same backend).
    for (std::size_t k = 0; k < SeedNet::output_size; ++k) CHECK(y_one[k] == Approx(outs[0][k]).epsilon(1e-5).margin(1e-6));
    // The allocation counter itself works: this vector is counted.
    const long c0 = ctnn_test::heap_allocations();
    std::vector<float> probe(17);
    CHECK(ctnn_test::heap_allocations() > c0);
}

TEST_CASE("Sequential: after warm_up, forward from another thread and on the pool's workers allocates nothing",
          "[sequential][alloc][threads]") {
    CTNN_NEEDS_HEAP_COUNT();
    const std::size_t saved_threads = num_threads();
    set_num_threads(2);  // the batch is split: a pool worker runs half of it
    SeedNet net(9);
    const std::size_t batch = 4 * SeedNet::inference_tile + 3;
    const auto in = random_floats(batch * SeedNet::input_size, 91);
    std::vector<float> want(batch * SeedNet::output_size), got(want.size(), std::nanf(""));
    net.forward(in.data(), want.data(), batch);
    long during = -1;
    std::thread other([&] {
        net.warm_up();  // this thread's own scratch and tiles
        const long before = ctnn_test::heap_allocations();
        for (int r = 0; r < 3; ++r) net.forward(in.data(), got.data(), batch);
        during = ctnn_test::heap_allocations() - before;
    });
    other.join();
    set_num_threads(saved_threads);
    CHECK(during == 0);
    CHECK(got == want);  // the same split, the same bits
}

namespace {

/// One batch of `batch` random samples per user, and the net's output for each, made now.
struct user_batches {
    std::vector<std::vector<float>> ins, wants;
};
template <class Net>
user_batches make_user_batches(Net& net, std::size_t users, std::size_t batch, std::uint64_t seed) {
    user_batches b;
    for (std::size_t u = 0; u < users; ++u) {
        b.ins.push_back(random_floats(batch * Net::input_size, seed + u));
        b.wants.emplace_back(batch * Net::output_size);
        net.forward(b.ins[u].data(), b.wants[u].data(), batch);
    }
    return b;
}

/// Every user runs forward on its batch `rounds` times, all users at once, each on its own thread;
/// returns per user how many outputs differ from its want by more than tol · (1 + |want|) (tol 0:
/// any difference; NaN always counts).
template <class Net>
std::vector<int> concurrent_forward_misses(Net& net, const user_batches& b, std::size_t rounds, float tol) {
    const std::size_t users = b.ins.size(), batch = b.ins[0].size() / Net::input_size;
    std::vector<int> wrong(users, 0);
    std::vector<std::thread> pool;
    for (std::size_t u = 0; u < users; ++u)
        pool.emplace_back([&, u] {
            std::vector<float> y(batch * Net::output_size);
            for (std::size_t r = 0; r < rounds; ++r) {
                net.forward(b.ins[u].data(), y.data(), batch);
                for (std::size_t k = 0; k < y.size(); ++k)
                    wrong[u] += !(std::fabs(y[k] - b.wants[u][k]) <= tol * (1.0f + std::fabs(b.wants[u][k])));
            }
        });
    for (auto& t : pool) t.join();
    return wrong;
}

}  // namespace

TEST_CASE("Sequential: several threads may run forward on one net at once", "[sequential][threads]") {
    // The threading contract (docs/reliability.md): inference uses the calling thread's tiles and
    // scratch, and prepared weights are made under a lock, so concurrent forwards on one net
    // each get their own correct output, bit for bit.
    SeedNet net(12);
    const user_batches b = make_user_batches(net, 4, 3, 500);
    net.params()[0] += 0.0f;  // (no change: the prepared weights stay valid)
    for (int w : concurrent_forward_misses(net, b, 25, 0.0f)) CHECK(w == 0);
}

TEST_CASE("Sequential: set_num_threads while other threads run forward changes only the split", "[sequential][threads]") {
    // set_num_threads waits for a running parallel section and a kernel keeps the split it chose
    // (threads.hpp): forwards that race with it are correct (up to float reassociation across
    // thread counts). Run under ThreadSanitizer by scripts/test (stage tsan).
    SeedNet net(13);
    const std::size_t before = ctnn::num_threads();
    const user_batches b = make_user_batches(net, 2, 5, 600);
    std::atomic<bool> done{false};
    std::thread changer([&] {
        for (std::size_t i = 0; !done.load(); ++i) ctnn::set_num_threads(1 + i % 3);
    });
    const std::vector<int> wrong = concurrent_forward_misses(net, b, 20, 1e-5f);
    done = true;
    changer.join();
    ctnn::set_num_threads(before);
    for (int w : wrong) CHECK(w == 0);
}

TEST_CASE("Sequential: a batch gives the same outputs as its samples one by one", "[sequential]") {
    SeedNet net(21);
    const std::size_t batch = 2 * SeedNet::inference_tile + 1;  // a partial last tile
    const auto in = random_floats(batch * SeedNet::input_size, 22);
    const auto y = infer(net, in, batch);
    for (std::size_t b = 0; b < batch; ++b) {
        std::vector<float> one(in.begin() + b * SeedNet::input_size, in.begin() + (b + 1) * SeedNet::input_size);
        const auto y1 = infer(net, one, 1);
        // Equal up to float reassociation: a backend may block a batch differently from one sample.
        for (std::size_t k = 0; k < SeedNet::output_size; ++k)
            CHECK(y1[k] == Approx(y[b * SeedNet::output_size + k]).epsilon(1e-5).margin(1e-6));
    }
}

TEST_CASE("Sequential: forward_train, backward, zero_grad", "[sequential][train]") {
    SeedNet net(31);
    const std::size_t batch = 5;
    const auto in = random_floats(batch * SeedNet::input_size, 32);
    const auto dout = random_floats(batch * SeedNet::output_size, 33);

    // Without BatchNorm or Dropout, training and inference forwards agree.
    const auto y = infer(net, in, batch);
    const float* yt = net.forward_train(in.data(), batch);
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(yt[i] == Approx(y[i]).epsilon(1e-6).margin(1e-7));

    net.zero_grad();
    CHECK(nonzero(net.grads()) == 0);
    std::vector<float> din(batch * SeedNet::input_size, std::nanf(""));
    net.backward(dout.data(), din.data());
    for (std::size_t l : {0, 3, 7}) {
        INFO("layer " << l);
        CHECK(nonzero(net.grads(l)) > net.grads(l).size() / 2);
    }
    CHECK(all_finite(din));
    CHECK(nonzero(std::span<const float>(din)) > din.size() / 2);
    const std::vector<float> g1(net.grads().begin(), net.grads().end());

    // Backward again accumulates: twice the gradient.
    net.backward(dout.data());
    for (std::size_t i = 0; i < g1.size(); i += 7) CHECK(net.grads()[i] == Approx(2 * g1[i]).epsilon(1e-5).margin(1e-7));

    net.zero_grad();
    CHECK(nonzero(net.grads()) == 0);
    // Parameters are not changed by forward_train / backward.
    SeedNet fresh(31);
    CHECK(std::equal(net.params().begin(), net.params().end(), fresh.params().begin()));
}

TEST_CASE("Sequential: dLoss/dInput agrees with a finite difference on a smooth net", "[sequential][train]") {
    SmoothNet net(71);
    const std::size_t batch = 3;
    const auto in = random_floats(batch * SmoothNet::input_size, 72);
    const auto dout = random_floats(batch * SmoothNet::output_size, 73);
    net.forward_train(in.data(), batch);
    std::vector<float> din(in.size(), std::nanf(""));
    net.zero_grad();
    net.backward(dout.data(), din.data());
    rng pick(74);
    for (int t = 0; t < 12; ++t) {
        const std::size_t i = pick.below(in.size());
        auto plus = in, minus = in;
        const float h = 1e-2f;
        plus[i] += h;
        minus[i] -= h;
        const auto yp = infer(net, plus, batch), ym = infer(net, minus, batch);
        double fd = 0;
        for (std::size_t k = 0; k < yp.size(); ++k) fd += double(dout[k]) * (double(yp[k]) - double(ym[k])) / (2.0 * h);
        INFO("input " << i);
        CHECK(din[i] == Approx(fd).epsilon(1e-2).margin(2e-5));
    }
}

TEST_CASE("Sequential: training misuse throws ctnn::error", "[sequential][train]") {
    SeedNet net(1);
    std::vector<float> d(SeedNet::output_size, 1.0f), in(SeedNet::input_size, 0.5f);
    CHECK_THROWS_AS(net.backward(d.data()), ctnn::error);
    CHECK_THROWS_AS(net.forward_train(in.data(), 0), ctnn::error);
}

TEST_CASE("Sequential: frozen layers get no gradient but pass dLoss/dInput through", "[sequential][frozen]") {
    FrozenTrunk net(4);
    REQUIRE(net.grads().size() == FrozenTrunk::grad_count);
    CHECK(net.grads(0).empty());
    CHECK(net.grads(2).empty());
    const std::size_t batch = 6;
    const auto in = random_floats(batch * FrozenTrunk::input_size, 41);
    const auto dout = random_floats(batch * FrozenTrunk::output_size, 42);
    const std::vector<float> p0(net.params().begin(), net.params().end());
    net.forward_train(in.data(), batch);
    net.zero_grad();
    std::vector<float> din(in.size(), std::nanf(""));
    net.backward(dout.data(), din.data());
    CHECK(nonzero(net.grads(5)) > 0);
    CHECK(nonzero(net.grads(7)) > 0);
    CHECK(all_finite(din));
    CHECK(nonzero(std::span<const float>(din)) > 0);
    CHECK(std::equal(p0.begin(), p0.end(), net.params().begin()));
}

TEST_CASE("Sequential: a 20-layer net runs forward and backward", "[sequential]") {
    Deep net(9);
    const std::size_t batch = 3;
    const auto in = random_floats(batch * Deep::input_size, 51);
    const auto y = infer(net, in, batch);
    REQUIRE(all_finite(y));
    for (std::size_t b = 0; b < batch; ++b) {  // Softmax: rows sum to 1
        double s = 0;
        for (std::size_t k = 0; k < 10; ++k) s += y[b * 10 + k];
        CHECK(s == Approx(1.0).epsilon(1e-5));
    }
    net.forward_train(in.data(), batch);
    net.zero_grad();
    const auto dout = random_floats(batch * Deep::output_size, 52);
    net.backward(dout.data());
    CHECK(all_finite(std::vector<float>(net.grads().begin(), net.grads().end())));
    CHECK(nonzero(net.grads(0)) > 0);
    CHECK(nonzero(net.grads(18)) > 0);
}

TEST_CASE("Sequential: flat input nets", "[sequential]") {
    FlatNet net(3);
    const auto in = random_floats(4 * 7, 61);
    const auto y = infer(net, in, 4);
    REQUIRE(all_finite(y));
    // y = W2 relu(W1 x + b1) + b2 by hand for the first sample.
    const auto p = net.params();
    float h[4];
    for (int o = 0; o < 4; ++o) {
        double s = p[28 + o];
        for (int i = 0; i < 7; ++i) s += double(p[o * 7 + i]) * in[i];
        h[o] = std::max(0.0f, float(s));
    }
    for (int o = 0; o < 2; ++o) {
        double s = p[32 + 8 + o];
        for (int i = 0; i < 4; ++i) s += double(p[32 + o * 4 + i]) * h[i];
        CHECK(y[o] == Approx(s).epsilon(1e-5));
    }
}
