// Training: losses, optimizers and schedules against PyTorch (tests/data/train/reference.json,
// made by tools/make_train_reference.py), error paths, checkpoints, the trainer, and the CIFAR-10
// example's file handling.
#include <catch2/catch.hpp>

#include <ctnn/train.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <unistd.h>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <atomic>
#include <vector>

namespace {

using json = nlohmann::json;

const json& reference() {
    static const json j = [] {
        const std::string path = std::string(CTNN_TEST_DATA) + "/train/reference.json";
        std::ifstream f(path);
        if (!f) throw std::runtime_error("cannot open " + path);
        return json::parse(f);
    }();
    return j;
}

std::vector<float> floats(const json& j) { return j.get<std::vector<float>>(); }

/// max |a - b| / max(|b|, floor): relative error, with small reference values compared absolutely;
/// NaN when any element is NaN (std::max would drop it: `!(e <= m)` keeps it).
double max_rel_err(const float* a, const std::vector<float>& b, double floor = 1e-3) {
    double m = 0;
    for (std::size_t i = 0; i < b.size(); ++i)
        if (const double e = std::abs(double(a[i]) - b[i]) / std::max(std::abs(double(b[i])), floor); !(e <= m)) m = e;
    return m;
}

using TestNet = ctnn::Sequential<ctnn::Input<2, 8, 8>, ctnn::Conv<2, 4, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
                                 ctnn::Conv<4, 6, 3>, ctnn::ReLU, ctnn::Flatten, ctnn::Linear<24, 5>>;
using FrozenNet = ctnn::Sequential<ctnn::Input<2, 8, 8>, ctnn::Frozen<ctnn::Conv<2, 4, 3, 1, 1>>, ctnn::ReLU,
                                   ctnn::MaxPool<2>, ctnn::Conv<4, 6, 3>, ctnn::ReLU, ctnn::Flatten, ctnn::Linear<24, 5>>;

template <class Net, class Opt>
void check_case(const json& c, Net& net, Opt& opt) {
    const auto init = floats(c["init"]);
    REQUIRE(init.size() == Net::param_count);
    std::copy(init.begin(), init.end(), net.params().begin());
    const ctnn::CrossEntropy ce{c["smoothing"].get<float>()};
    const json& batches = reference()["batches"];
    for (std::size_t s = 0; s < c["steps"].size(); ++s) {
        const auto x = floats(batches[s]["x"]);
        const auto y = batches[s]["y"].get<std::vector<std::int32_t>>();
        const float loss = ctnn::train_step(net, opt, ce, x.data(), y.data(), y.size());
        const json& st = c["steps"][s];
        INFO(c["name"].get<std::string>() << " step " << s + 1);
        CHECK(std::abs(loss - st["loss"].get<double>()) <= 1e-5 * std::abs(st["loss"].get<double>()));
        CHECK(max_rel_err(net.params().data(), floats(st["params"])) <= 1e-5);
    }
}

const json& find_case(const std::string& name) {
    for (const json& c : reference()["cases"])
        if (c["name"] == name) return c;
    throw std::runtime_error("no case " + name);
}

}  // namespace

TEST_CASE("train_step with SGD (momentum, Nesterov, weight decay, dampening) matches PyTorch step by step", "[train][optim]") {
    {
        TestNet net;
        ctnn::SGD opt(net, 0.05f, {.momentum = 0.9f});
        check_case(find_case("sgd_momentum"), net, opt);
    }
    {
        TestNet net;
        ctnn::SGD opt(net, 0.05f, {.momentum = 0.9f, .weight_decay = 0.01f, .nesterov = true});
        check_case(find_case("sgd_nesterov_wd"), net, opt);
    }
    {
        TestNet net;
        ctnn::SGD opt(net, 0.05f, {.momentum = 0.8f, .dampening = 0.3f, .weight_decay = 0.01f});
        check_case(find_case("sgd_dampening"), net, opt);
    }
}

TEST_CASE("train_step with Adam and AdamW matches PyTorch step by step", "[train][optim]") {
    {
        TestNet net;
        ctnn::Adam opt(net, 1e-2f);
        static_assert(std::is_same_v<decltype(opt), ctnn::Adam<TestNet>>);
        check_case(find_case("adam"), net, opt);
    }
    {
        TestNet net;
        ctnn::Adam opt(net, 1e-2f, {.beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f, .weight_decay = 0.05f});
        check_case(find_case("adam_wd"), net, opt);
    }
    {
        TestNet net;
        ctnn::AdamW opt(net, 1e-2f, {.weight_decay = 0.1f});
        check_case(find_case("adamw"), net, opt);
    }
    {
        TestNet net;
        ctnn::Adam opt(net, 1e-2f);
        check_case(find_case("adam_smoothing"), net, opt);
    }
}

TEST_CASE("the optimizer updates trainable layers only; a frozen layer has no state", "[train][optim]") {
    static_assert(FrozenNet::grad_count == TestNet::grad_count - (4 * 2 * 9 + 4));
    FrozenNet net;
    ctnn::Adam opt(net, 1e-2f);
    CHECK(opt.state().size() == 2 * FrozenNet::grad_count);
    const json& c = find_case("adam_frozen0");
    check_case(c, net, opt);  // PyTorch: requires_grad=False on layer 0
    const auto init = floats(c["init"]);
    CHECK(std::equal(net.params(0).begin(), net.params(0).end(), init.begin()));
    CHECK(!std::equal(net.params(3).begin(), net.params(3).end(), init.begin() + FrozenNet::param_offset[3]));
}

TEST_CASE("optimizer options that are NaN, infinite or out of range are refused, naming the option", "[train][optim][errors]") {
    TestNet net;
    const float nan = std::nanf(""), inf = INFINITY;
    const auto refused = [](auto make, const char* option) {
        INFO(option);
        CHECK_THROWS_WITH(make(), Catch::Contains(option));
    };
    refused([&] { return ctnn::SGD(net, 0.1f, {.momentum = nan}); }, "momentum");
    refused([&] { return ctnn::SGD(net, 0.1f, {.dampening = inf}); }, "dampening");
    refused([&] { return ctnn::SGD(net, 0.1f, {.weight_decay = -1.0f}); }, "weight_decay");
    refused([&] { return ctnn::SGD(net, nan); }, "learning rate");
    refused([&] { return ctnn::Adam(net, 1e-3f, {.beta1 = nan}); }, "beta1");
    refused([&] { return ctnn::Adam(net, 1e-3f, {.beta2 = 1.0f}); }, "beta2");
    refused([&] { return ctnn::AdamW(net, 1e-3f, {.eps = inf}); }, "eps");
    refused([&] { return ctnn::AdamW(net, 1e-3f, {.weight_decay = nan}); }, "weight_decay");
    CHECK_NOTHROW(ctnn::SGD(net, 0.1f, {.momentum = 0.9f, .dampening = 0.1f, .weight_decay = 1e-4f}));
}

TEST_CASE("losses match PyTorch's values and gradients", "[train][loss]") {
    const json& L = reference()["losses"];
    for (const char* name : {"ce_0.0", "ce_0.1", "ce_big"}) {
        INFO(name);
        const json& c = L[name];
        const auto z = floats(c["logits"]);
        const auto y = c["labels"].get<std::vector<std::int32_t>>();
        const float s = std::string(name) == "ce_0.1" ? 0.1f : 0.0f;
        std::vector<float> g(z.size());
        const float loss = ctnn::CrossEntropy{s}(z.data(), y.data(), y.size(), 5, g.data());
        CHECK(std::abs(loss - c["loss"].get<double>()) <= 1e-6 * std::max(1.0, std::abs(c["loss"].get<double>())));
        CHECK(max_rel_err(g.data(), floats(c["grad"]), 1e-2) <= 1e-5);
    }
    for (const char* name : {"bce", "mse"}) {
        INFO(name);
        const json& c = L[name];
        const auto x = floats(c["logits"]), t = floats(c["targets"]);
        std::vector<float> g(x.size());
        const float loss = std::string(name) == "bce" ? ctnn::BCEWithLogits{}(x.data(), t.data(), 7, 3, g.data())
                                                      : ctnn::MSE{}(x.data(), t.data(), 7, 3, g.data());
        CHECK(std::abs(loss - c["loss"].get<double>()) <= 1e-6 * std::abs(c["loss"].get<double>()));
        CHECK(max_rel_err(g.data(), floats(c["grad"]), 1e-2) <= 1e-5);
    }
}

TEST_CASE("SoftCrossEntropy and Distillation match PyTorch (CrossEntropyLoss with probabilities, kl_div * T^2)", "[train][loss]") {
    const json& L = reference()["losses"];
    {
        const json& c = L["soft_ce"];
        const auto z = floats(c["logits"]), t = floats(c["targets"]);
        std::vector<float> g(z.size());
        const float loss = ctnn::SoftCrossEntropy{}(z.data(), t.data(), 7, 5, g.data());
        CHECK(std::abs(loss - c["loss"].get<double>()) <= 1e-6 * std::abs(c["loss"].get<double>()));
        CHECK(max_rel_err(g.data(), floats(c["grad"]), 1e-2) <= 1e-5);
    }
    int cases = 0;
    for (const auto& [name, c] : L.items()) {
        if (name.rfind("kd_", 0) != 0) continue;
        INFO(name);
        ++cases;
        const auto z = floats(c["logits"]), t = floats(c["teacher"]);
        const auto y = c["labels"].get<std::vector<std::int32_t>>();
        const ctnn::Distillation kd{c["temperature"].get<float>(), c["alpha"].get<float>(), c["smoothing"].get<float>()};
        std::vector<float> g(z.size());
        const float loss = kd(z.data(), t.data(), y.data(), y.size(), 5, g.data());
        CHECK(std::abs(loss - c["loss"].get<double>()) <= 1e-6 * std::abs(c["loss"].get<double>()));
        CHECK(max_rel_err(g.data(), floats(c["grad"]), 1e-2) <= 1e-5);
        // bound to the teacher's logits it is a loss on labels, for train_step
        std::vector<float> g2(z.size());
        CHECK(kd.with_teacher(t.data())(z.data(), y.data(), y.size(), 5, g2.data()) == loss);
        CHECK(g2 == g);
    }
    CHECK(cases == 4);
}

TEST_CASE("Distillation rejects what PyTorch would compute nonsense from", "[train][loss]") {
    const std::vector<float> z(10, 0.0f), t(10, 1.0f);
    const std::int32_t y[2] = {1, 7};
    CHECK_THROWS_WITH((ctnn::Distillation{.temperature = 0.0f}(z.data(), t.data(), y, 2, 5, nullptr)), Catch::Contains("temperature 0"));
    CHECK_THROWS_WITH((ctnn::Distillation{.alpha = 1.5f}(z.data(), t.data(), y, 2, 5, nullptr)), Catch::Contains("alpha 1.5"));
    CHECK_THROWS_WITH((ctnn::Distillation{}(z.data(), t.data(), y, 2, 5, nullptr)), Catch::Contains("label 7"));
    CHECK_THROWS_WITH((ctnn::Distillation{}(z.data(), nullptr, y, 2, 5, nullptr)), Catch::Contains("null"));
}

TEST_CASE("loss gradients agree with finite differences", "[train][loss]") {
    ctnn::rng g(7);
    const std::size_t n = 4, k = 6;
    std::vector<float> z(n * k), t(n * k), grad(n * k);
    std::vector<std::int32_t> y(n);
    for (auto& v : z) v = g.uniform(-3, 3);
    for (auto& v : t) v = g.uniform();
    for (auto& v : y) v = std::int32_t(g.below(k));
    auto check = [&](auto&& f) {
        f(z.data(), grad.data());
        for (std::size_t i = 0; i < z.size(); ++i) {
            std::vector<float> zp = z, zm = z;
            const float h = 1e-2f;
            zp[i] += h; zm[i] -= h;
            const double fd = (double(f(zp.data(), nullptr)) - f(zm.data(), nullptr)) / (2 * h);
            CHECK(grad[i] == Approx(fd).margin(2e-4));
        }
    };
    check([&](const float* x, float* d) { return ctnn::CrossEntropy{0.2f}(x, y.data(), n, k, d); });
    check([&](const float* x, float* d) { return ctnn::BCEWithLogits{}(x, t.data(), n, k, d); });
    check([&](const float* x, float* d) { return ctnn::MSE{}(x, t.data(), n, k, d); });
    check([&](const float* x, float* d) { return ctnn::SoftCrossEntropy{}(x, t.data(), n, k, d); });
    std::vector<float> teacher(n * k);
    for (auto& v : teacher) v = g.uniform(-4, 4);
    check([&](const float* x, float* d) { return ctnn::Distillation{3.0f, 0.7f, 0.1f}(x, teacher.data(), y.data(), n, k, d); });
    check([&](const float* x, float* d) { return ctnn::Distillation{2.0f, 1.0f}(x, teacher.data(), y.data(), n, k, d); });
}

TEST_CASE("label smoothing: uniform logits give log(classes); confident logits cost more", "[train][loss]") {
    const std::vector<float> flat(10, 0.5f);
    const std::int32_t y = 3;
    CHECK(ctnn::CrossEntropy{0.3f}(flat.data(), &y, 1, 10, nullptr) == Approx(std::log(10.0)).epsilon(1e-6));
    std::vector<float> sure(10, 0.0f);
    sure[3] = 30.0f;
    CHECK(ctnn::CrossEntropy{}(sure.data(), &y, 1, 10, nullptr) < 1e-6f);
    CHECK(ctnn::CrossEntropy{0.1f}(sure.data(), &y, 1, 10, nullptr) > 2.0f);  // 0.1 * 9/10 * 30
}

TEST_CASE("schedules match PyTorch's StepLR, CosineAnnealingLR and LinearLR", "[train][schedule]") {
    const json& S = reference()["schedules"];
    const ctnn::step_lr step{0.1f, 7, 0.5f};
    const ctnn::cosine_lr cosine{0.1f, 20, 0.001f};
    const ctnn::warmup lin{8, 0.25f, ctnn::constant_lr{0.1f}};
    for (std::size_t t = 0; t < S["step"].size(); ++t) {
        INFO("t = " << t);
        CHECK(step(t) == Approx(S["step"][t].get<double>()).epsilon(1e-6));
        CHECK(cosine(t) == Approx(S["cosine"][t].get<double>()).epsilon(1e-5));
        CHECK(lin(t) == Approx(S["linear_warmup"][t].get<double>()).epsilon(1e-6));
    }
    const ctnn::warmup wc{5, 0.0f, ctnn::cosine_lr{1.0f, 10}};
    CHECK(wc(0) == 0.0f);
    CHECK(wc(5) == 1.0f);
    CHECK(wc(15) == Approx(0.0f).margin(1e-7));
    ctnn::schedule any = wc;
    CHECK(any(3) == wc(3));
}

TEST_CASE("train_step rejects bad labels and non-finite losses without touching the net", "[train][errors]") {
    TestNet net(3);
    ctnn::Adam opt(net);
    std::vector<float> x(2 * TestNet::input_size);
    ctnn::rng g(5);
    for (auto& v : x) v = g.normal();
    const std::vector<float> before(net.params().begin(), net.params().end());
    const std::int32_t bad[2] = {1, 5};
    REQUIRE_THROWS_AS(ctnn::train_step(net, opt, ctnn::CrossEntropy{}, x.data(), bad, 2), ctnn::error);
    REQUIRE_THROWS_WITH(ctnn::train_step(net, opt, ctnn::CrossEntropy{}, x.data(), bad, 2),
                        Catch::Contains("label 5 at batch index 1"));
    const std::int32_t neg[2] = {-1, 0};
    REQUIRE_THROWS_WITH(ctnn::train_step(net, opt, ctnn::CrossEntropy{}, x.data(), neg, 2),
                        Catch::Contains("label -1 at batch index 0"));
    x[7] = std::nanf("");
    const std::int32_t ok[2] = {1, 2};
    REQUIRE_THROWS_WITH(ctnn::train_step(net, opt, ctnn::CrossEntropy{}, x.data(), ok, 2), Catch::Contains("NaN"));
    CHECK(opt.steps() == 0);
    CHECK(std::equal(before.begin(), before.end(), net.params().begin()));

    // Running statistics and the Dropout generator are restored too.
    using BNNet = ctnn::Sequential<ctnn::Input<2, 8, 8>, ctnn::Conv<2, 4, 3, 1, 1>, ctnn::BatchNorm<4>, ctnn::ReLU,
                                   ctnn::Flatten, ctnn::Dropout<10>, ctnn::Linear<256, 5>>;
    BNNet bn(4);
    ctnn::SGD sgd(bn, 0.1f);
    x[7] = 1.0f;
    ctnn::train_step(bn, sgd, ctnn::CrossEntropy{}, x.data(), ok, 2);  // move the statistics off their start
    const std::vector<float> stats(bn.buffers().begin(), bn.buffers().end());
    const auto rng_state = bn.generator().state();
    x[7] = std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_WITH(ctnn::train_step(bn, sgd, ctnn::CrossEntropy{}, x.data(), ok, 2), Catch::Contains("NaN"));
    CHECK(std::equal(stats.begin(), stats.end(), bn.buffers().begin()));
    CHECK(bn.generator().state() == rng_state);
    CHECK(sgd.steps() == 1);
}

TEST_CASE("freezing a layer at run time equals Frozen<> in the type; unfreezing trains it again", "[train][freeze]") {
    const json& B = reference()["batches"];
    TestNet a(3);
    FrozenNet b(3);
    std::copy(a.params().begin(), a.params().end(), b.params().begin());
    a.freeze(0);
    CHECK(a.frozen(0));
    ctnn::Adam oa(a, 1e-2f, {.weight_decay = 0.01f});
    ctnn::Adam ob(b, 1e-2f, {.weight_decay = 0.01f});
    const std::vector<float> conv0(a.params().begin(), a.params().begin() + 76);
    for (std::size_t s = 0; s < B.size(); ++s) {
        const auto x = floats(B[s]["x"]);
        const auto y = B[s]["y"].get<std::vector<std::int32_t>>();
        ctnn::train_step(a, oa, ctnn::CrossEntropy{}, x.data(), y.data(), y.size());
        ctnn::train_step(b, ob, ctnn::CrossEntropy{}, x.data(), y.data(), y.size());
    }
    CHECK(std::equal(a.params().begin(), a.params().end(), b.params().begin()));
    CHECK(std::equal(conv0.begin(), conv0.end(), a.params().begin()));  // untouched, weight decay included
    for (std::size_t j = 0; j < 76; ++j) CHECK(a.grads()[j] == 0.0f);   // no gradient: zero
    for (std::size_t j = 0; j < 76; ++j) CHECK(oa.exp_avg()[j] == 0.0f);  // no optimizer state either
    a.unfreeze(0);
    const auto x = floats(B[0]["x"]);
    const auto y = B[0]["y"].get<std::vector<std::int32_t>>();
    ctnn::train_step(a, oa, ctnn::CrossEntropy{}, x.data(), y.data(), y.size());
    CHECK(!std::equal(conv0.begin(), conv0.end(), a.params().begin()));
    a.freeze_first(5);
    CHECK((a.frozen(4) && !a.frozen(5)));
    CHECK_THROWS_WITH(a.freeze(99), Catch::Contains("layer 99"));
}

TEST_CASE("per-layer learning rates: layer i steps with lr * scale(i)", "[train][freeze]") {
    const json& B = reference()["batches"];
    const auto x = floats(B[0]["x"]);
    const auto y = B[0]["y"].get<std::vector<std::int32_t>>();
    TestNet net(4);
    ctnn::SGD opt(net, 0.1f);
    opt.set_lr_scale(0, 0.5f);
    opt.set_lr_scale(3, 0.0f);
    CHECK(opt.lr_scale(0) == 0.5f);
    const std::vector<float> before(net.params().begin(), net.params().end());
    ctnn::train_step(net, opt, ctnn::CrossEntropy{}, x.data(), y.data(), y.size());
    for (std::size_t i = 0; i < TestNet::depth; ++i) {
        const float lr = 0.1f * opt.lr_scale(i);
        for (std::size_t j = TestNet::param_offset[i]; j < TestNet::param_offset[i + 1]; ++j) {
            INFO("layer " << i << ", parameter " << j);
            CHECK(net.params()[j] == Approx(before[j] - lr * net.grads()[j]).epsilon(1e-6).margin(1e-9));
        }
    }
    CHECK(std::equal(before.begin() + TestNet::param_offset[3], before.begin() + TestNet::param_offset[4],
                     net.params().begin() + TestNet::param_offset[3]));  // scale 0
    ctnn::Adam adam(net, 1e-3f);
    CHECK_THROWS_WITH(adam.set_lr_scale(0, -1.0f), Catch::Contains("not a finite value >= 0"));
    CHECK_THROWS_WITH(adam.set_lr_scale(8, 1.0f), Catch::Contains("layer 8"));
}

TEST_CASE("train_step with float targets (MSE, BCEWithLogits) lowers the loss", "[train]") {
    TestNet net(11);
    ctnn::SGD opt(net, 0.05f, {.momentum = 0.5f});
    std::vector<float> x(8 * TestNet::input_size), t(8 * 5);
    ctnn::rng g(2);
    for (auto& v : x) v = g.normal();
    for (auto& v : t) v = g.uniform();
    const float first = ctnn::train_step(net, opt, ctnn::MSE{}, x.data(), t.data(), 8);
    float last = first;
    for (int i = 0; i < 30; ++i) last = ctnn::train_step(net, opt, ctnn::MSE{}, x.data(), t.data(), 8);
    CHECK(last < 0.5f * first);
    const float b0 = ctnn::train_step(net, opt, ctnn::BCEWithLogits{}, x.data(), t.data(), 8);
    float b1 = b0;
    for (int i = 0; i < 30; ++i) b1 = ctnn::train_step(net, opt, ctnn::BCEWithLogits{}, x.data(), t.data(), 8);
    CHECK(b1 < b0);
}

// ---- checkpoints and the trainer ------------------------------------------------------------

namespace {

using DropNet = ctnn::Sequential<ctnn::Input<2, 8, 8>, ctnn::Conv<2, 4, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
                                 ctnn::Flatten, ctnn::Dropout<20>, ctnn::Linear<64, 5>>;
using OtherNet = ctnn::Sequential<ctnn::Input<2, 8, 8>, ctnn::Conv<2, 3, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
                                  ctnn::Flatten, ctnn::Dropout<20>, ctnn::Linear<48, 5>>;

/// A learnable toy set: class c has a bright blob at a class-dependent place, plus noise.
ctnn::data::dataset toy_set(std::size_t n, std::uint64_t seed) {
    ctnn::data::dataset d;
    d.count = n; d.channels = 2; d.height = 8; d.width = 8; d.classes = 5;
    d.images.resize(n * 128);
    d.labels.resize(n);
    ctnn::rng g(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = std::int32_t(g.below(5));
        d.labels[i] = c;
        float* p = d.images.data() + i * 128;
        for (std::size_t k = 0; k < 128; ++k) p[k] = 0.3f * g.normal();
        p[(c % 2) * 64 + std::size_t(c) * 12 + 9] += 3.0f;
    }
    return d;
}

std::string temp_dir(const std::string& name) {
    const auto p = std::filesystem::temp_directory_path() / ("ctnn_test_train_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p.string();
}

ctnn::fit_options quiet(std::size_t epochs) {
    ctnn::fit_options o;
    o.epochs = epochs;
    o.progress = ctnn::progress_mode::none;
    return o;
}

}  // namespace

TEST_CASE("evaluate with tta::hflip averages the outputs for each image and its mirror", "[train][trainer]") {
    const auto test = toy_set(37, 3);
    DropNet net(5);
    constexpr std::size_t in = DropNet::input_size, k = DropNet::output_size, w = 8;
    std::size_t correct = 0;
    for (std::size_t i = 0; i < test.count; ++i) {
        const float* x = test.images.data() + i * in;
        std::vector<float> m(in), y(k), ym(k);
        for (std::size_t r = 0; r < in / w; ++r)
            for (std::size_t c = 0; c < w; ++c) m[r * w + c] = x[r * w + (w - 1 - c)];
        net.forward(x, y.data(), 1);
        net.forward(m.data(), ym.data(), 1);
        for (std::size_t j = 0; j < k; ++j) y[j] = 0.5f * (y[j] + ym[j]);
        correct += ctnn::argmax(y.data(), k) == static_cast<std::size_t>(test.labels[i]);
    }
    const double want = static_cast<double>(correct) / static_cast<double>(test.count);
    CHECK(ctnn::evaluate(net, test, 7, ctnn::tta::hflip) == want);  // batches of 7: a short last one
    CHECK(ctnn::evaluate(net, test, 256, ctnn::tta::hflip) == want);
    CHECK(ctnn::evaluate(net, test, 7, ctnn::tta::none) == ctnn::evaluate(net, test, 7));
}

TEST_CASE("fit learns a toy set, writes the metrics CSV and plain progress lines", "[train][trainer]") {
    const auto train = toy_set(200, 1), test = toy_set(100, 2);
    DropNet net(1);
    ctnn::Adam opt(net, 1e-2f);
    ctnn::data::loader ld(train, 16, 7, true, {.hflip = false});
    const std::string dir = temp_dir("fit");
    std::ostringstream log;
    ctnn::fit_options o;
    o.epochs = 3;
    o.metrics_csv = dir + "/metrics.csv";
    o.out = &log;
    o.progress = ctnn::progress_mode::lines;
    const auto h = ctnn::fit(net, opt, ctnn::CrossEntropy{}, ld, &test, o);
    REQUIRE(h.size() == 3);
    CHECK(h[2].train_loss < h[0].train_loss);
    CHECK(h[2].test_acc > 0.9);
    CHECK(h[2].test_acc == ctnn::evaluate(net, test));
    CHECK(opt.steps() == 3 * 13);
    CHECK(log.str().find("epoch 3/3  train loss") != std::string::npos);
    CHECK(log.str().find('\r') == std::string::npos);
    std::ifstream csv(o.metrics_csv);
    std::string line;
    std::getline(csv, line);
    CHECK(line == "epoch,train_loss,train_acc,test_acc,seconds,test_loss");
    int rows = 0;
    while (std::getline(csv, line)) CHECK(line.rfind(std::to_string(++rows) + ",", 0) == 0);
    CHECK(rows == 3);
    // the test loss is the mean cross-entropy of the outputs on the test set
    std::vector<float> out(test.count * 5);
    net.forward(test.images.data(), out.data(), test.count);
    CHECK(h[2].test_loss == Approx(ctnn::CrossEntropy{}(out.data(), test.labels.data(), test.count, 5, nullptr)).epsilon(1e-5));
    std::filesystem::remove_all(dir);
}

TEST_CASE("fit: early stopping, the best checkpoint and the step log", "[train][trainer]") {
    const auto train = toy_set(96, 1), test = toy_set(60, 2);
    const std::string dir = temp_dir("best");
    ctnn::fit_options o;
    o.epochs = 8;
    o.progress = ctnn::progress_mode::none;
    o.patience = 2;
    o.best_checkpoint = dir + "/best.ckpt";
    o.step_log = dir + "/steps.csv";
    o.lr_schedule = ctnn::step_lr{0.05f, 12, 0.0f};  // 0.05 in epoch 1, then 0: nothing changes after it
    DropNet net(2);
    ctnn::SGD opt(net, 0.05f);
    ctnn::data::loader ld(train, 8, 3, true);
    const auto h = ctnn::fit(net, opt, ctnn::CrossEntropy{}, ld, &test, o);
    // epoch 1 sets the best; epochs 2 and 3 are no better (lr 0): stopped after epoch 3
    REQUIRE(h.size() == 3);
    CHECK(h[1].test_acc == h[0].test_acc);
    CHECK(opt.steps() == 3 * 12);
    DropNet best(9);
    ctnn::SGD best_opt(best, 0.05f);
    CHECK(ctnn::load_checkpoint(o.best_checkpoint, best, best_opt).epoch == 1);
    CHECK(ctnn::evaluate(best, test) == h[0].test_acc);
    std::ifstream log(o.step_log);
    std::string line;
    std::getline(log, line);
    CHECK(line == "step,epoch,loss,lr");
    int rows = 0;
    while (std::getline(log, line)) {
        ++rows;
        CHECK(line.rfind(std::to_string(rows) + "," + std::to_string((rows - 1) / 12 + 1) + ",", 0) == 0);
        CHECK(line.substr(line.rfind(',') + 1) == (rows <= 12 ? "0.05" : "0"));
    }
    CHECK(rows == 36);
    o.best_checkpoint.clear();
    CHECK_THROWS_WITH(ctnn::fit(net, opt, ctnn::CrossEntropy{}, ld, nullptr, o), Catch::Contains("need a test (validation) set"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("fit's progress bar redraws in place with throughput and time left", "[train][trainer]") {
    const auto train = toy_set(64, 1);
    DropNet net(1);
    ctnn::SGD opt(net, 0.01f);
    ctnn::data::loader ld(train, 8, 7, true);
    std::ostringstream log;
    ctnn::fit_options o;
    o.epochs = 1;
    o.out = &log;
    o.progress = ctnn::progress_mode::bar;
    ctnn::fit(net, opt, ctnn::CrossEntropy{}, ld, nullptr, o);
    const std::string s = log.str();
    CHECK(s.find("\r\033[Kepoch 1/1 [########################] 64/64") != std::string::npos);
    CHECK(s.find(" img/s  left ") != std::string::npos);
    CHECK(s.find("test acc   n/a") != std::string::npos);
}

TEST_CASE("training is reproducible, and resuming from a checkpoint is bit-identical", "[train][trainer][checkpoint]") {
    const auto train = toy_set(120, 3);
    const ctnn::data::augment aug{.pad_crop = 1, .hflip = true};
    const std::string dir = temp_dir("resume");
    const ctnn::cosine_lr sched{1e-2f, 2 * 8};

    auto straight = [&] {
        DropNet net(5);
        ctnn::AdamW opt(net, 1e-2f);
        ctnn::data::loader ld(train, 16, 9, true, aug);
        auto o = quiet(2);
        o.lr_schedule = sched;
        ctnn::fit(net, opt, ctnn::CrossEntropy{0.1f}, ld, nullptr, o);
        return std::vector<float>(net.params().begin(), net.params().end());
    };
    const auto a = straight(), b = straight();
    CHECK(a == b);

    {
        DropNet net(5);
        ctnn::AdamW opt(net, 1e-2f);
        ctnn::data::loader ld(train, 16, 9, true, aug);
        auto o = quiet(1);
        o.lr_schedule = sched;
        o.checkpoint = dir + "/net.ckpt";
        ctnn::fit(net, opt, ctnn::CrossEntropy{0.1f}, ld, nullptr, o);
    }
    for (const auto& e : std::filesystem::directory_iterator(dir))
        CHECK(e.path().filename() == "net.ckpt");  // no temporary file left behind
    DropNet net(99);  // different initial weights: all of them come from the checkpoint
    ctnn::AdamW opt(net, 1e-2f);
    ctnn::data::loader ld(train, 16, 9, true, aug);
    auto o = quiet(2);
    o.lr_schedule = sched;
    o.checkpoint = dir + "/net.ckpt";
    o.resume = true;
    const auto h = ctnn::fit(net, opt, ctnn::CrossEntropy{0.1f}, ld, nullptr, o);
    CHECK(h.size() == 1);
    CHECK(h[0].epoch == 2);
    CHECK(std::vector<float>(net.params().begin(), net.params().end()) == a);
    std::filesystem::remove_all(dir);
}

TEST_CASE("checkpoint saves: concurrent saves to one path, and a symlink planted at a temporary name", "[train][checkpoint][atomic]") {
    const std::string dir = temp_dir("atomic"), path = dir + "/a.ckpt";
    DropNet a(1), b(2);
    ctnn::SGD oa(a, 0.1f), ob(b, 0.1f);
    // the temporary name a checkpoint save used to take (path.tmp-<pid>, opened without O_EXCL):
    // a symlink there must not be followed
    const std::string victim = dir + "/victim.txt";
    { std::ofstream(victim) << "keep me"; }
    std::filesystem::create_symlink(victim, path + ".tmp-" + std::to_string(::getpid()));
    std::atomic<int> failures{0};
    const auto saver = [&](DropNet& net, ctnn::SGD<DropNet>& opt) {
        for (int i = 0; i < 30; ++i) try {
                ctnn::save_checkpoint(path, net, opt, {.epoch = 1});
            } catch (const ctnn::error&) {
                ++failures;
            }
    };
    std::thread t1(saver, std::ref(a), std::ref(oa)), t2(saver, std::ref(b), std::ref(ob));
    t1.join();
    t2.join();
    CHECK(failures == 0);
    std::ifstream v(victim);
    CHECK(std::string(std::istreambuf_iterator<char>(v), {}) == "keep me");
    DropNet c(3);
    ctnn::SGD oc(c, 0.1f);
    CHECK_NOTHROW(ctnn::load_checkpoint(path, c, oc));  // a whole checkpoint, of one of the two
    const std::vector<float> pc(c.params().begin(), c.params().end());
    CHECK((pc == std::vector<float>(a.params().begin(), a.params().end()) ||
           pc == std::vector<float>(b.params().begin(), b.params().end())));
    std::size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.path().filename().string().find("ctnn-tmp") != std::string::npos;
    CHECK(files == 0);  // no temporary left behind
    std::filesystem::remove_all(dir);
}

TEST_CASE("checkpoint round trip restores weights, optimizer state and random state", "[train][checkpoint]") {
    const std::string dir = temp_dir("roundtrip"), path = dir + "/a.ckpt";
    DropNet net(1);
    ctnn::SGD opt(net, 0.1f, {.momentum = 0.9f});
    const auto d = toy_set(32, 4);
    ctnn::train_step(net, opt, ctnn::CrossEntropy{}, d.images.data(), d.labels.data(), 32);
    ctnn::save_checkpoint(path, net, opt, {.epoch = 3, .user = 42});
    DropNet net2(2);
    ctnn::SGD opt2(net2, 0.1f, {.momentum = 0.9f});
    const auto info = ctnn::load_checkpoint(path, net2, opt2);
    CHECK(info.epoch == 3);
    CHECK(info.user == 42);
    CHECK(opt2.steps() == 1);
    CHECK(net2.generator().state() == net.generator().state());
    CHECK(std::equal(net.params().begin(), net.params().end(), net2.params().begin()));
    CHECK(std::equal(opt.state().begin(), opt.state().end(), opt2.state().begin()));
    // The same next step on both.
    ctnn::train_step(net, opt, ctnn::CrossEntropy{}, d.images.data(), d.labels.data(), 32);
    ctnn::train_step(net2, opt2, ctnn::CrossEntropy{}, d.images.data(), d.labels.data(), 32);
    CHECK(std::equal(net.params().begin(), net.params().end(), net2.params().begin()));
    std::filesystem::remove_all(dir);
}

TEST_CASE("bad checkpoints throw ctnn::error naming the file and the problem", "[train][checkpoint][errors]") {
    const std::string dir = temp_dir("bad"), path = dir + "/a.ckpt";
    DropNet net(1);
    ctnn::Adam opt(net);
    ctnn::save_checkpoint(path, net, opt, {.epoch = 1});
    std::ifstream f(path, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto write = [&](const std::string& p, const std::vector<char>& b) {
        std::ofstream o(p, std::ios::binary);
        o.write(b.data(), std::streamsize(b.size()));
    };

    OtherNet other;
    ctnn::Adam other_opt(other);
    REQUIRE_THROWS_WITH(ctnn::load_checkpoint(path, other, other_opt),
                        Catch::Contains(path) && Catch::Contains("another architecture") &&
                            Catch::Contains("out_channels=4") && Catch::Contains("out_channels=3") &&
                            Catch::Contains("0.weight param [4,2,3,3]") && Catch::Contains("0.weight param [3,2,3,3]"));
    // The same tensors, another layer kind (an activation): refused too, naming the layers.
    using ReluNet = ctnn::Sequential<ctnn::Input<6>, ctnn::Linear<6, 4>, ctnn::ReLU, ctnn::Linear<4, 2>>;
    using TanhNet = ctnn::Sequential<ctnn::Input<6>, ctnn::Linear<6, 4>, ctnn::Tanh, ctnn::Linear<4, 2>>;
    ReluNet rn(1);
    ctnn::SGD rn_opt(rn, 0.1f);
    ctnn::save_checkpoint(dir + "/relu.ckpt", rn, rn_opt, {});
    TanhNet tn(2);
    ctnn::SGD tn_opt(tn, 0.1f);
    const std::vector<float> tn_before(tn.params().begin(), tn.params().end());
    REQUIRE_THROWS_WITH(ctnn::load_checkpoint(dir + "/relu.ckpt", tn, tn_opt),
                        Catch::Contains("another architecture") && Catch::Contains("layer 1 ReLU") && Catch::Contains("layer 1 Tanh"));
    CHECK(std::vector<float>(tn.params().begin(), tn.params().end()) == tn_before);
    ctnn::SGD sgd(net, 0.1f);
    REQUIRE_THROWS_WITH(ctnn::load_checkpoint(path, net, sgd), Catch::Contains("holds Adam optimizer state"));
    REQUIRE_THROWS_WITH(ctnn::load_checkpoint(dir + "/missing.ckpt", net, opt),
                        Catch::Contains(dir + "/missing.ckpt") && Catch::Contains("cannot open"));
    for (std::size_t keep : {std::size_t(5), std::size_t(20), bytes.size() / 2, bytes.size() - 1}) {
        INFO("truncated to " << keep);
        write(dir + "/t.ckpt", std::vector<char>(bytes.begin(), bytes.begin() + std::ptrdiff_t(keep)));
        REQUIRE_THROWS_WITH(ctnn::load_checkpoint(dir + "/t.ckpt", net, opt),
                            Catch::Contains(dir + "/t.ckpt") && Catch::Contains("truncated"));
    }
    auto flipped = bytes;
    flipped[bytes.size() - 100] ^= 0x10;
    write(dir + "/c.ckpt", flipped);
    REQUIRE_THROWS_WITH(ctnn::load_checkpoint(dir + "/c.ckpt", net, opt), Catch::Contains("corrupt"));
    write(dir + "/n.ckpt", std::vector<char>{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'});
    REQUIRE_THROWS_WITH(ctnn::load_checkpoint(dir + "/n.ckpt", net, opt), Catch::Contains("not a ctnn checkpoint"));
    REQUIRE_THROWS_WITH(ctnn::save_checkpoint(dir + "/no/such/dir/x.ckpt", net, opt, {}),
                        Catch::Contains("cannot write checkpoint"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("fit stops on a NaN loss or a bad label, naming the epoch and step", "[train][trainer][errors]") {
    auto d = toy_set(64, 6);
    d.images[40 * 128 + 5] = std::numeric_limits<float>::infinity();
    DropNet net(1);
    ctnn::Adam opt(net);
    ctnn::data::loader ld(d, 16, 1, false);
    REQUIRE_THROWS_WITH(ctnn::fit(net, opt, ctnn::CrossEntropy{}, ld, nullptr, quiet(2)),
                        Catch::Contains("training stopped at epoch 1, step 3 of 4") && Catch::Contains("NaN"));
    auto e = toy_set(64, 6);
    e.classes = 10;
    e.labels[21] = 7;  // the net has 5 outputs
    ctnn::data::loader le(e, 16, 1, false);
    REQUIRE_THROWS_WITH(ctnn::fit(net, opt, ctnn::CrossEntropy{}, le, nullptr, quiet(1)),
                        Catch::Contains("epoch 1, step 2") && Catch::Contains("label 7 at batch index 5"));
}

// ---- examples/cifar10.cpp on a tiny generated CIFAR-10 directory -----------------------------

#define CTNN_EXAMPLE_NO_MAIN
#include "../examples/cifar10.cpp"

TEST_CASE("the CIFAR-10 example trains from a directory of binary batches and explains a bad one", "[train][example]") {
    const std::string dir = temp_dir("cifar");
    ctnn::rng g(8);
    auto write_batch = [&](const std::string& name, std::size_t records) {
        std::ofstream f(dir + "/" + name, std::ios::binary);
        for (std::size_t r = 0; r < records; ++r) {
            f.put(char(g.below(10)));
            for (std::size_t i = 0; i < 3072; ++i) f.put(char(g.below(256)));
        }
    };
    for (int i = 1; i <= 5; ++i) write_batch("data_batch_" + std::to_string(i) + ".bin", 7);
    std::ostringstream out, err;
    {
        const std::string s = dir;
        char* argv[] = {const_cast<char*>("cifar10"), const_cast<char*>(s.c_str()), const_cast<char*>("1")};
        CHECK(cifar10_example::run(3, argv, out, err) == 1);  // no test_batch.bin yet
        CHECK(err.str().find("no test_batch.bin") != std::string::npos);
        CHECK(err.str().find(dir) != std::string::npos);

        write_batch("test_batch.bin", 5);
        err.str("");
        CHECK(cifar10_example::run(3, argv, out, err) == 0);
        CHECK(err.str().empty());
        CHECK(out.str().find("35 training and 5 test images") != std::string::npos);
        CHECK(out.str().find("epoch 1/1  train loss") != std::string::npos);
        CHECK(out.str().find("test accuracy") != std::string::npos);

        std::filesystem::resize_file(dir + "/data_batch_3.bin", 3073 * 7 - 100);  // truncated
        err.str("");
        CHECK(cifar10_example::run(3, argv, out, err) == 1);
        CHECK(err.str().find("data_batch_3.bin") != std::string::npos);
    }
    {
        char* argv[] = {const_cast<char*>("cifar10"), const_cast<char*>("/nonexistent/cifar")};
        err.str("");
        CHECK(cifar10_example::run(2, argv, out, err) == 1);
        CHECK(err.str().find("/nonexistent/cifar") != std::string::npos);
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("the examples refuse an EPOCHS too large for a long instead of running 2^63-1 epochs", "[train][example]") {
    std::ostringstream out, err;
    char* argv[] = {const_cast<char*>("cifar10"), const_cast<char*>("/nonexistent/cifar"),
                    const_cast<char*>("99999999999999999999")};
    CHECK(cifar10_example::run(3, argv, out, err) == 1);
    CHECK(err.str().find("EPOCHS must be a positive integer that fits in a long, got '99999999999999999999'") !=
          std::string::npos);
}
