// Knowledge distillation on Fashion-MNIST: a wide CNN teacher, then the seed-sized student
// (examples/fashion_mnist.cpp's net) trained with cross-entropy alone and with distillation from
// the teacher, the same epochs and recipe, over 3 seeds each; mean and spread of the test accuracy.
//
//   distillation [DIR] [STUDENT_EPOCHS] [T] [ALPHA]
//       DIR default /usr/share/datasets/fashion-mnist, STUDENT_EPOCHS 4, T 4, ALPHA 0.9
//
// Teacher: Conv 1->32, BN, ReLU, pool, Conv 32->64, BN, ReLU, pool, Conv 64->128, BN, ReLU,
// Flatten, Linear 6272 -> 10; Adam lr 2e-3 with a cosine to 0, batch 64, 6 epochs, horizontal
// flips. Students: Adam lr 2e-3 with a cosine to 0, batch 64, no augmentation; the distilled ones
// on Distillation{T, alpha} against the teacher's outputs for the training images,
// computed once (set_teacher_targets). The last line:
//   distillation: teacher=XX.XX% student_ce=XX.XX%±X.XX student_kd=XX.XX%±X.XX
// (± is the sample standard deviation over the seeds; docs/techniques.md has a measured run.)
#include <ctnn/data.hpp>
#include <ctnn/train.hpp>

#include "args.hpp"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

using namespace ctnn;

using Teacher = Sequential<Input<1, 28, 28>,
    Conv<1, 32, 3, 1, 1>, BatchNorm<32>, ReLU, MaxPool<2>,
    Conv<32, 64, 3, 1, 1>, BatchNorm<64>, ReLU, MaxPool<2>,
    Conv<64, 128, 3, 1, 1>, BatchNorm<128>, ReLU,
    Flatten, Linear<128 * 7 * 7, 10>>;
using Student = Sequential<Input<1, 28, 28>,
    Conv<1, 16, 3, 1, 1>, ReLU, MaxPool<2>,
    Conv<16, 32, 3, 1, 1>, ReLU, MaxPool<2>,
    Flatten, Linear<32 * 7 * 7, 10>>;

namespace {

/// Test accuracy of a net trained with Adam (lr 2e-3, cosine to 0), batch 64, `epochs` epochs:
/// with cross-entropy, or (kd) with distillation from train's targets.
template <class Net>
double train_one(Net& net, const data::dataset& train, const data::dataset& test, std::size_t epochs, std::uint64_t seed,
                 const Distillation* kd, data::augment aug = {}) {
    constexpr float lr = 2e-3f;
    Adam opt(net, lr);
    data::loader batches(train, 64, seed, true, aug);
    fit_options o;
    o.epochs = epochs;
    o.lr_schedule = cosine_lr{lr, epochs * batches.batches_per_epoch()};
    o.progress = progress_mode::none;
    const auto h = kd ? distill(net, opt, *kd, batches, &test, o) : fit(net, opt, CrossEntropy{}, batches, &test, o);
    return h.back().test_acc;
}

float parse_float(const char* s, const char* what) {
    char* end = nullptr;
    errno = 0;
    const float v = std::strtof(s, &end);
    if (!end || *end || errno == ERANGE || !std::isfinite(v)) throw error(std::string(what) + " must be a number, got '" + s + "'");
    return v;
}

struct stats {
    double mean = 0, sd = 0;
};
stats mean_sd(const std::vector<double>& v) {
    stats s;
    for (double x : v) s.mean += x / double(v.size());
    for (double x : v) s.sd += (x - s.mean) * (x - s.mean) / double(v.size() - 1);
    s.sd = std::sqrt(s.sd);
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 5 || (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
        std::cerr << "usage: " << argv[0] << " [DIR] [STUDENT_EPOCHS] [T] [ALPHA]\n"
                  << "  DIR: Fashion-MNIST IDX files (default " << data::fashion_mnist_default_dir << ")\n"
                  << "  STUDENT_EPOCHS: default 4; T: the temperature, default 4; ALPHA: the soft term's weight, default 0.9\n";
        return 2;
    }
    try {
        const auto t0 = std::chrono::steady_clock::now();
        const std::string dir = argc > 1 ? argv[1] : data::fashion_mnist_default_dir;
        std::size_t epochs = 4;
        if (argc > 2) epochs = examples::positive_arg(argv[2], "STUDENT_EPOCHS");
        data::dataset train = data::load_mnist_dir(dir, true);
        data::dataset test = data::load_mnist_dir(dir, false);
        data::normalize(train, {0.2860f}, {0.3530f});
        data::normalize(test, {0.2860f}, {0.3530f});
        std::cout << "Fashion-MNIST from " << dir << ": " << train.count << " training and " << test.count << " test images, "
                  << num_threads() << " threads\n"
                  << "teacher: " << Teacher::param_count << " parameters; student: " << Student::param_count << " parameters\n";

        Teacher teacher(100);
        const double teacher_acc = train_one(teacher, train, test, 6, 100, nullptr, {.hflip = true});
        std::printf("teacher: %.2f%% after 6 epochs\n", 100 * teacher_acc);
        set_teacher_targets(teacher, train);  // its outputs for every training image, once

        Distillation kd{.temperature = 4.0f, .alpha = 0.9f};
        if (argc > 3) kd.temperature = parse_float(argv[3], "T");
        if (argc > 4) kd.alpha = parse_float(argv[4], "ALPHA");
        std::printf("distillation with T = %g, alpha = %g\n", kd.temperature, kd.alpha);
        std::vector<double> ce, dist;
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            Student a(seed), b(seed);  // the same initial weights and batch order for both
            ce.push_back(train_one(a, train, test, epochs, seed, nullptr));
            dist.push_back(train_one(b, train, test, epochs, seed, &kd));
            std::printf("seed %llu: student with cross-entropy %.2f%%, with distillation %.2f%%\n",
                        static_cast<unsigned long long>(seed), 100 * ce.back(), 100 * dist.back());
        }
        const stats c = mean_sd(ce), d = mean_sd(dist);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%zu student epochs each, %.0f s in all\n", epochs, secs);
        std::printf("distillation: teacher=%.2f%% student_ce=%.2f%%\u00b1%.2f student_kd=%.2f%%\u00b1%.2f\n", 100 * teacher_acc,
                    100 * c.mean, 100 * c.sd, 100 * d.mean, 100 * d.sd);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "distillation: " << e.what() << "\n";
        return 1;
    } catch (...) {
        std::cerr << "distillation: failed with an unknown exception\n";
        return 1;
    }
}
