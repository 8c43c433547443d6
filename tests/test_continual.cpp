// Continual learning pieces (include/ctnn/train/continual.hpp, ewc.hpp): task splits, the
// accuracy matrix's metrics, reservoir sampling's uniformity, replay batches through fit, the
// task-masked cross-entropy, LwF's loss, the Fisher diagonal against PyTorch (Avalanche's
// definition; tools/make_train_reference.py), and the EWC penalty's gradient against finite
// differences.
#include <catch2/catch.hpp>

#include <ctnn/train.hpp>
#include <ctnn/train/continual.hpp>
#include <ctnn/train/ewc.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace ctnn;
using json = nlohmann::json;

using TestNet = Sequential<Input<2, 8, 8>, Conv<2, 4, 3, 1, 1>, ReLU, MaxPool<2>, Conv<4, 6, 3>, ReLU, Flatten, Linear<24, 5>>;
using Small = Sequential<Input<1, 4, 4>, Conv<1, 3, 3, 1, 1>, ReLU, Flatten, Linear<48, 6>>;

/// n samples of 1x4x4 over `classes` classes: class c lights pixel c, plus noise.
data::dataset toy(std::size_t n, std::size_t classes, std::uint64_t seed) {
    data::dataset d;
    d.count = n; d.channels = 1; d.height = 4; d.width = 4; d.classes = classes;
    d.images.resize(n * 16);
    d.labels.resize(n);
    rng g(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<std::int32_t>(g.below(classes));
        d.labels[i] = c;
        for (std::size_t k = 0; k < 16; ++k) d.images[i * 16 + k] = 0.2f * g.normal();
        d.images[i * 16 + static_cast<std::size_t>(c) * 2] += 2.0f;
    }
    return d;
}

}  // namespace

TEST_CASE("continual: split_by_class makes tasks of consecutive classes, labels kept", "[continual]") {
    const auto d = toy(300, 6, 1);
    const auto tasks = continual::split_by_class(d, 2);
    REQUIRE(tasks.size() == 3);
    std::size_t total = 0;
    for (std::size_t t = 0; t < 3; ++t) {
        total += tasks[t].count;
        CHECK(tasks[t].classes == 6);
        for (auto l : tasks[t].labels) CHECK((l == std::int32_t(2 * t) || l == std::int32_t(2 * t + 1)));
    }
    CHECK(total == 300);
    CHECK_THROWS_WITH(continual::split_by_class(d, 4), Catch::Contains("6 classes do not split into tasks of 4"));
}

TEST_CASE("continual: average accuracy and forgetting as Avalanche (and Chaudhry et al.) define them", "[continual]") {
    continual::accuracy_matrix r(3);
    const double m[3][3] = {{0.9, 0.1, 0.0}, {0.6, 0.8, 0.2}, {0.5, 0.7, 0.95}};
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 3; ++j) r.set(i, j, m[i][j]);
    CHECK(r.average() == Approx((0.5 + 0.7 + 0.95) / 3));
    CHECK(r.forgetting() == Approx(((0.9 - 0.5) + (0.8 - 0.7)) / 2));
    r.set(1, 0, 0.95);  // task 0 got better while task 1 trained: the max-based forgetting sees it
    CHECK(r.forgetting() == Approx(((0.9 - 0.5) + (0.8 - 0.7)) / 2));
    CHECK(r.max_forgetting() == Approx(((0.95 - 0.5) + (0.8 - 0.7)) / 2));
}

TEST_CASE("continual: the reservoir keeps each offered sample with probability capacity / offered", "[continual]") {
    constexpr std::size_t N = 400, cap = 40, trials = 3000;
    data::dataset d = toy(N, 2, 2);
    for (std::size_t i = 0; i < N; ++i) d.images[i * 16] = float(i);  // an id in pixel 0
    std::vector<int> kept(N, 0);
    for (std::size_t t = 0; t < trials; ++t) {
        continual::reservoir r(cap, 1000 + t);
        r.offer(d);
        REQUIRE(r.size() == cap);
        REQUIRE(r.seen() == N);
        for (std::size_t k = 0; k < cap; ++k) ++kept[static_cast<std::size_t>(r.samples().images[k * 16])];
    }
    // each count is Binomial(trials, 0.1): mean 300, sd ~16.4; 5 sd either way, and the first and
    // last quarters (the kept-at-once and the offered-last samples) agree in their means
    const double mean = double(trials) * cap / N, sd = std::sqrt(mean * (1 - double(cap) / N));
    double first = 0, last = 0;
    for (std::size_t i = 0; i < N; ++i) {
        INFO("sample " << i);
        CHECK(std::abs(kept[i] - mean) < 5 * sd);
        if (i < N / 4) first += kept[i];
        if (i >= 3 * N / 4) last += kept[i];
    }
    CHECK(std::abs(first - last) / (N / 4) < 0.05 * mean);
    // fewer offered than the capacity: all kept, in order
    continual::reservoir small(50, 1);
    small.offer(d, 3);
    small.offer(d, 7);
    CHECK(small.size() == 2);
    CHECK(small.samples().images[16] == 7.0f);
    CHECK(small.samples().labels[0] == d.labels[3]);
}

TEST_CASE("continual: replay batches are the loader's plus distinct memory samples, and fit trains on them", "[continual]") {
    const auto d = toy(37, 6, 3);
    const auto tasks = continual::split_by_class(d, 2);
    continual::reservoir memory(20, 5);
    data::loader batches(tasks[1], 8, 1, true);
    continual::replay_loader mixed(batches, memory, 4, 9);
    mixed.start_epoch(0);
    REQUIRE(mixed.next());
    CHECK(mixed.batch_size() == 8);  // an empty memory adds nothing
    memory.offer(tasks[0]);
    mixed.start_epoch(1);
    std::size_t batches_seen = 0, replayed = 0;
    while (mixed.next()) {
        ++batches_seen;
        const std::size_t n = mixed.batch_size();
        const std::size_t fresh = std::min<std::size_t>(8, tasks[1].count - 8 * (batches_seen - 1));
        REQUIRE(n == fresh + std::min<std::size_t>(4, memory.size()));
        for (std::size_t k = fresh; k < n; ++k) {
            CHECK(mixed.labels()[k] < 2);  // task 0's classes, from the memory
            ++replayed;
        }
        for (std::size_t k = fresh + 1; k < n; ++k)
            CHECK(!std::equal(mixed.images() + k * 16, mixed.images() + (k + 1) * 16, mixed.images() + (k - 1) * 16));
    }
    CHECK(batches_seen == batches.batches_per_epoch());
    CHECK(replayed > 0);
    Small net(1);
    SGD opt(net, 0.1f);
    fit_options o;
    o.epochs = 2;
    o.progress = progress_mode::none;
    const auto h = fit(net, opt, CrossEntropy{}, mixed, nullptr, o);
    CHECK(h.size() == 2);
    CHECK(opt.steps() == 2 * batches.batches_per_epoch());
}

TEST_CASE("continual: task_cross_entropy is the cross-entropy over the sample's own task's outputs", "[continual]") {
    rng g(4);
    const std::size_t n = 5, k = 6;
    std::vector<float> z(n * k), grad(n * k);
    for (auto& v : z) v = g.uniform(-3, 3);
    const std::vector<std::int32_t> y{0, 3, 5, 2, 1};
    const continual::task_cross_entropy tce{2};
    const float loss = tce(z.data(), y.data(), n, k, grad.data());
    double want = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t first = std::size_t(y[i]) / 2 * 2;
        const std::int32_t local = y[i] - std::int32_t(first);
        want += CrossEntropy{}(z.data() + i * k + first, &local, 1, 2, nullptr);
        for (std::size_t c = 0; c < k; ++c)
            if (c < first || c >= first + 2) CHECK(grad[i * k + c] == 0.0f);
    }
    CHECK(loss == Approx(want / n).epsilon(1e-6));
    for (std::size_t i = 0; i < z.size(); ++i) {
        auto zp = z, zm = z;
        zp[i] += 1e-2f;
        zm[i] -= 1e-2f;
        const double fd = (double(tce(zp.data(), y.data(), n, k, nullptr)) - tce(zm.data(), y.data(), n, k, nullptr)) / 2e-2;
        CHECK(grad[i] == Approx(fd).margin(2e-4));
    }
}

TEST_CASE("continual: LwF's loss is the label loss plus lambda times the soft term, its gradient too", "[continual]") {
    rng g(6);
    const std::size_t n = 4, k = 6;
    std::vector<float> s(n * k), old(n * k), grad(n * k);
    for (auto& v : s) v = g.uniform(-3, 3);
    for (auto& v : old) v = g.uniform(-3, 3);
    const std::vector<std::int32_t> y{1, 4, 0, 5};
    const continual::lwf_loss<continual::task_cross_entropy> lwf{{2}, 2.0f, 0.7f};
    const float loss = lwf(s.data(), old.data(), y.data(), n, k, grad.data());
    const double hard = continual::task_cross_entropy{2}(s.data(), y.data(), n, k, nullptr);
    const double soft = Distillation{.temperature = 2.0f, .alpha = 1.0f}(s.data(), old.data(), y.data(), n, k, nullptr);
    CHECK(loss == Approx(hard + 0.7 * soft).epsilon(1e-6));
    const auto bound = lwf.with_teacher(old.data());
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto sp = s, sm = s;
        sp[i] += 1e-2f;
        sm[i] -= 1e-2f;
        const double fd = (double(bound(sp.data(), y.data(), n, k, nullptr)) - bound(sm.data(), y.data(), n, k, nullptr)) / 2e-2;
        CHECK(grad[i] == Approx(fd).margin(2e-4));
    }
}

TEST_CASE("continual: evaluate_within takes the argmax over the task's classes only", "[continual]") {
    const auto d = toy(40, 6, 7);
    Small net(3);
    std::vector<float> out(6);
    std::size_t want = 0;
    const auto task = continual::split_by_class(d, 2)[2];
    for (std::size_t i = 0; i < task.count; ++i) {
        net.forward(task.image(i), out.data(), 1);
        want += 4 + (out[5] > out[4] ? 1 : 0) == std::size_t(task.labels[i]);
    }
    CHECK(continual::evaluate_within(net, task, 4, 2, 3) == double(want) / double(task.count));
    CHECK_THROWS_WITH(continual::evaluate_within(net, task, 5, 2), Catch::Contains("classes [5, 7)"));
}

TEST_CASE("continual: the Fisher diagonal matches PyTorch (Avalanche's EWC importances)", "[continual]") {
    std::ifstream f(std::string(CTNN_TEST_DATA) + "/train/reference.json");
    REQUIRE(f);
    const json ref = json::parse(f);
    const json& c = ref["fisher"];
    TestNet net(0);
    const auto init = c["init"].get<std::vector<float>>();
    REQUIRE(init.size() == TestNet::param_count);
    std::copy(init.begin(), init.end(), net.params().begin());
    data::dataset d;
    d.channels = 2; d.height = 8; d.width = 8; d.classes = 5;
    for (const auto& b : ref["batches"]) {
        for (float v : b["x"].get<std::vector<float>>()) d.images.push_back(v);
        for (auto l : b["y"].get<std::vector<std::int32_t>>()) d.labels.push_back(l);
    }
    d.count = d.labels.size();
    REQUIRE(d.count == 24);
    const auto fisher = continual::fisher_diagonal(net, d, c["batch"].get<std::size_t>());
    const auto want = c["fisher"].get<std::vector<float>>();
    REQUIRE(fisher.size() == want.size());
    double scale = 0;
    for (float v : want) scale = std::max(scale, double(v));
    for (std::size_t j = 0; j < want.size(); ++j) {
        INFO("parameter " << j);
        CHECK(std::abs(fisher[j] - want[j]) <= 1e-5 * scale + 1e-5 * std::abs(want[j]));
    }
    CHECK(std::equal(init.begin(), init.end(), net.params().begin()));  // the net is as it was

    // with the task-incremental loss, outputs of other tasks get no gradient: no Fisher there
    const auto task0 = continual::split_by_class(toy(40, 6, 10), 2)[0];
    Small small(3);
    const auto ft = continual::fisher_diagonal(small, task0, 8, continual::task_cross_entropy{2});
    const auto fc = continual::fisher_diagonal(small, task0, 8);
    constexpr std::size_t w = Small::grad_offset[3];  // the Linear's weights [6, 48], then its bias
    for (std::size_t c = 2; c < 6; ++c) {
        for (std::size_t k = 0; k < 48; ++k) CHECK(ft[w + c * 48 + k] == 0.0f);
        CHECK(ft[w + 6 * 48 + c] == 0.0f);  // the bias
        CHECK(fc[w + 6 * 48 + c] > 0.0f);   // (with cross-entropy over all six they count)
    }
}

TEST_CASE("continual: EWC's gradient is the penalty's (finite differences); online EWC keeps one decayed term", "[continual]") {
    const auto d = toy(30, 6, 8);
    Small net(2);
    continual::ewc<Small> reg(net, {.lambda = 50.0f, .batch = 7});
    reg.consolidate(d);
    CHECK(reg.terms() == 1);
    CHECK(reg.penalty() == 0.0);  // at the anchor
    rng g(3);
    for (auto& p : net.params()) p += 0.05f * g.normal();  // move away from the anchor
    reg.consolidate(continual::split_by_class(d, 2)[0]);    // a second task: a second term
    CHECK(reg.terms() == 2);
    for (auto& p : net.params()) p += 0.05f * g.normal();
    net.zero_grad();
    reg.add_gradient();
    const std::vector<float> grad(net.grads().begin(), net.grads().end());
    for (std::size_t j = 0; j < Small::param_count; j += 7) {
        const float keep = net.params()[j];
        net.params()[j] = keep + 1e-2f;
        const double up = reg.penalty();
        net.params()[j] = keep - 1e-2f;
        const double down = reg.penalty();
        net.params()[j] = keep;
        INFO("parameter " << j);
        CHECK(grad[j] == Approx((up - down) / 2e-2).epsilon(1e-3).margin(1e-5));
    }

    Small a(4);
    continual::ewc<Small> online(a, {.lambda = 1.0f, .online = true, .gamma = 0.5f, .batch = 7});
    online.consolidate(d);
    const std::vector<float> f1 = online.fisher();
    const auto t2 = continual::split_by_class(d, 2)[1];
    online.consolidate(t2);
    CHECK(online.terms() == 1);
    const auto f2 = continual::fisher_diagonal(a, t2, 7);
    for (std::size_t j = 0; j < f1.size(); ++j) CHECK(online.fisher()[j] == Approx(0.5f * f1[j] + f2[j]));

    // through fit: the penalized optimizer's steps add the gradient, so the net pays less penalty
    // than the same net trained without it (lambda chosen so that lr * lambda * F <= 1: stable)
    Small free_net(5), held_net(5);
    const auto f0 = continual::fisher_diagonal(held_net, d, 10);
    const float lambda = 1.0f / (0.1f * *std::max_element(f0.begin(), f0.end()));
    continual::ewc<Small> hold(held_net, {.lambda = lambda, .batch = 10}), watch(free_net, {.lambda = lambda, .batch = 10});
    hold.consolidate(d);
    watch.consolidate(d);  // the same Fisher and anchor, for the net trained without the penalty
    SGD opt_free(free_net, 0.1f);
    continual::penalized<SGD<Small>, continual::ewc<Small>> opt_held(hold, held_net, 0.1f);
    const auto other = toy(30, 6, 9);
    data::loader l1(other, 10, 1), l2(other, 10, 1);
    fit_options o;
    o.epochs = 3;
    o.progress = progress_mode::none;
    fit(free_net, opt_free, CrossEntropy{}, l1, nullptr, o);
    fit(held_net, opt_held, CrossEntropy{}, l2, nullptr, o);
    INFO("penalty without EWC " << watch.penalty() << ", with " << hold.penalty());
    CHECK(watch.penalty() > 0.0);
    CHECK(hold.penalty() < 0.5 * watch.penalty());
}
