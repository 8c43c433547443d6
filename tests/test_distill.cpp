// Knowledge distillation and soft targets through the trainer (include/ctnn/train/distill.hpp,
// dataset::targets): distill() is exactly train_step with the Distillation loss bound to the
// teacher's outputs for the same (augmented) batch; precomputed teacher outputs give the same
// student when nothing is augmented; fit trains on float targets; the loader batches targets
// with their images; bad targets are refused before the first step. The loss itself is checked
// against PyTorch in tests/test_train.cpp.
#include <catch2/catch.hpp>

#include <ctnn/train.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

namespace {

using Student = ctnn::Sequential<ctnn::Input<1, 6, 6>, ctnn::Conv<1, 3, 3>, ctnn::ReLU, ctnn::Flatten, ctnn::Linear<48, 4>>;
using Teacher = ctnn::Sequential<ctnn::Input<1, 6, 6>, ctnn::Conv<1, 8, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>, ctnn::Flatten,
                                 ctnn::Linear<72, 4>>;

/// Class c: a bright pixel in row c, plus noise.
ctnn::data::dataset blobs(std::size_t n, std::uint64_t seed) {
    ctnn::data::dataset d;
    d.count = n; d.channels = 1; d.height = 6; d.width = 6; d.classes = 4;
    d.images.resize(n * 36);
    d.labels.resize(n);
    ctnn::rng g(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<std::int32_t>(g.below(4));
        d.labels[i] = c;
        for (std::size_t k = 0; k < 36; ++k) d.images[i * 36 + k] = 0.3f * g.normal();
        d.images[i * 36 + static_cast<std::size_t>(c) * 6 + 1 + g.below(4)] += 2.5f;
    }
    return d;
}

ctnn::fit_options quiet(std::size_t epochs) {
    ctnn::fit_options o;
    o.epochs = epochs;
    o.progress = ctnn::progress_mode::none;
    return o;
}

std::vector<float> params_of(const Student& s) { return {s.params().begin(), s.params().end()}; }

}  // namespace

TEST_CASE("distill is train_step with Distillation bound to the teacher's outputs for the same augmented batch", "[train][distill]") {
    const auto train = blobs(70, 1);
    Teacher teacher(3);
    const ctnn::Distillation kd{.temperature = 3.0f, .alpha = 0.8f};
    const ctnn::data::augment aug{.pad_crop = 1, .hflip = true};

    Student a(5);
    ctnn::SGD opt_a(a, 0.05f, {.momentum = 0.9f});
    ctnn::data::loader la(train, 16, 9, true, aug);  // 70 = 4 batches of 16 and one of 6
    const auto h = ctnn::distill(a, opt_a, teacher, kd, la, &train, quiet(2));
    REQUIRE(h.size() == 2);

    Student b(5);
    ctnn::SGD opt_b(b, 0.05f, {.momentum = 0.9f});
    ctnn::data::loader lb(train, 16, 9, true, aug);
    std::vector<float> t(16 * 4);
    double loss_sum = 0;
    for (std::size_t e = 0; e < 2; ++e) {
        lb.start_epoch(e);
        loss_sum = 0;
        while (lb.next()) {
            teacher.forward(lb.images(), t.data(), lb.batch_size());
            loss_sum += ctnn::train_step(b, opt_b, kd.with_teacher(t.data()), lb.images(), lb.labels(), lb.batch_size()) *
                        double(lb.batch_size());
        }
    }
    CHECK(params_of(a) == params_of(b));
    CHECK(h[1].train_loss == Approx(loss_sum / 70).epsilon(1e-12));
    CHECK(h[1].test_acc == ctnn::evaluate(a, train));
}

TEST_CASE("distill from precomputed teacher outputs equals distill with the teacher when nothing is augmented", "[train][distill]") {
    auto train = blobs(50, 2);
    Teacher teacher(4);
    const ctnn::Distillation kd{.temperature = 2.0f, .alpha = 0.5f, .label_smoothing = 0.1f};
    Student a(6), b(6);
    ctnn::Adam oa(a, 1e-2f), ob(b, 1e-2f);
    ctnn::data::loader la(train, 8, 3, true);
    ctnn::distill(a, oa, teacher, kd, la, nullptr, quiet(2));

    ctnn::set_teacher_targets(teacher, train, 7);  // batches of 7 for the teacher: any batch gives the same outputs
    REQUIRE(train.target_size == 4);
    REQUIRE(train.targets.size() == 50 * 4);
    ctnn::data::loader lb(train, 8, 3, true);
    ctnn::distill(b, ob, kd, lb, nullptr, quiet(2));
    CHECK(params_of(a) == params_of(b));

    Student c(6);
    ctnn::Adam oc(c, 1e-2f);
    auto plain = blobs(50, 2);
    ctnn::data::loader lc(plain, 8, 3, true);
    CHECK_THROWS_WITH(ctnn::distill(c, oc, kd, lc, nullptr, quiet(1)), Catch::Contains("0 float targets per sample"));
}

TEST_CASE("a student distilled from a trained teacher learns the task", "[train][distill]") {
    const auto train = blobs(400, 5), test = blobs(200, 6);
    Teacher teacher(7);
    ctnn::Adam ot(teacher, 1e-2f);
    ctnn::data::loader lt(train, 32, 1, true);
    ctnn::fit(teacher, ot, ctnn::CrossEntropy{}, lt, nullptr, quiet(6));
    REQUIRE(ctnn::evaluate(teacher, test) > 0.9);
    Student s(8);
    ctnn::Adam os(s, 1e-2f);
    ctnn::data::loader ls(train, 32, 2, true);
    // alpha = 1: the labels play no part; what the student learns comes from the teacher
    const auto h = ctnn::distill(s, os, teacher, ctnn::Distillation{.temperature = 4.0f, .alpha = 1.0f}, ls, &test, quiet(6));
    CHECK(h.back().test_acc > 0.85);
}

TEST_CASE("fit trains on float targets: SoftCrossEntropy on one-hot targets is CrossEntropy", "[train][distill]") {
    const auto hard = blobs(60, 3);
    auto soft = hard;
    soft.target_size = 4;
    soft.targets.assign(60 * 4, 0.0f);
    for (std::size_t i = 0; i < 60; ++i) soft.targets[i * 4 + static_cast<std::size_t>(hard.labels[i])] = 1.0f;
    Student a(9), b(9);
    ctnn::SGD oa(a, 0.1f), ob(b, 0.1f);
    ctnn::data::loader la(hard, 16, 4, true, {.hflip = true}), lb(soft, 16, 4, true, {.hflip = true});
    const auto ha = ctnn::fit(a, oa, ctnn::CrossEntropy{}, la, &hard, quiet(3));
    const auto hb = ctnn::fit(b, ob, ctnn::SoftCrossEntropy{}, lb, &hard, quiet(3));
    const auto pa = params_of(a), pb = params_of(b);
    for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pb[i] == Approx(pa[i]).epsilon(1e-4).margin(1e-5));
    CHECK(hb.back().train_loss == Approx(ha.back().train_loss).epsilon(1e-4));
    CHECK(std::isnan(hb.back().train_acc));  // no labels: no training accuracy
    CHECK(hb.back().test_acc == Approx(ha.back().test_acc).margin(0.02));

    Student c(9);
    ctnn::SGD oc(c, 0.1f);
    CHECK_THROWS_WITH(ctnn::fit(c, oc, ctnn::SoftCrossEntropy{}, la, nullptr, quiet(1)),
                      Catch::Contains("float targets") && Catch::Contains("has 0 per sample"));
}

TEST_CASE("the loader batches float targets with their samples; a dataset with the wrong number is refused", "[train][distill][data]") {
    auto d = blobs(23, 4);
    d.target_size = 3;
    d.targets.resize(23 * 3);
    for (std::size_t i = 0; i < d.targets.size(); ++i) d.targets[i] = float(i);
    ctnn::data::loader ld(d, 5, 11, true);
    std::size_t seen = 0;
    while (ld.next())
        for (std::size_t k = 0; k < ld.batch_size(); ++k, ++seen) {
            const std::size_t i = ld.indices()[k];
            CHECK(ld.labels()[k] == d.labels[i]);
            for (std::size_t j = 0; j < 3; ++j) CHECK(ld.targets()[k * 3 + j] == float(i * 3 + j));
        }
    CHECK(seen == 23);
    const auto sub = d.subset({4, 4, 20});
    REQUIRE(sub.target_size == 3);
    CHECK(std::vector<float>(sub.targets.begin(), sub.targets.begin() + 3) == std::vector<float>{12, 13, 14});
    CHECK(std::vector<float>(sub.targets.begin() + 6, sub.targets.end()) == std::vector<float>{60, 61, 62});
    d.targets.pop_back();
    CHECK_THROWS_WITH(d.check(), Catch::Contains("68 float targets for 23 samples of 3"));
    CHECK_THROWS_WITH(ctnn::data::loader(d, 5, 1), Catch::Contains("float targets"));
    ctnn::data::dataset none = blobs(3, 1);
    ctnn::data::loader ln(none, 2, 1);
    CHECK(ln.targets() == nullptr);
}
