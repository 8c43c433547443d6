// Continual learning on Split Fashion-MNIST: 5 tasks of 2 classes learnt one after another by the
// seed-sized CNN (examples/fashion_mnist.cpp's net), in the two scenarios of van de Ven and
// Tolias (2019), with the strategies of ctnn/train/continual.hpp and ewc.hpp:
//   naive    fine-tuning on each task in turn
//   replay   a reservoir memory of 1,000 samples of the earlier tasks; each batch of 64 new
//            samples gets 32 from the memory
//   ewc      elastic weight consolidation, online (gamma 1), lambda 20,000
//   lwf      learning without forgetting: distillation (T = 2, weight 1) from the net as it was
//            before the task
//   joint    all tasks' data at once, the same number of epochs: the upper bound
// Class-incremental: one 10-way head, CrossEntropy, the argmax over all 10 classes at test.
// Task-incremental: the task's classes only (task_cross_entropy in training, evaluate_within at test).
// Each task: SGD (momentum 0.9) lr 0.01, batch 64, EPOCHS epochs. Metrics: average accuracy over
// the 5 tasks after the last, and average forgetting (Avalanche's definitions).
//
//   continual [DIR] [EPOCHS]     DIR default /usr/share/datasets/fashion-mnist, EPOCHS 2 per task
//
// The last line: continual: naive=XX.XX% replay=XX.XX% ewc=XX.XX% lwf=XX.XX% joint=XX.XX%
// (class-incremental average accuracy after the last task; docs/techniques.md has a measured run).
#include <ctnn/data.hpp>
#include <ctnn/train.hpp>
#include <ctnn/train/continual.hpp>
#include <ctnn/train/ewc.hpp>

#include "args.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

using namespace ctnn;
namespace cl = ctnn::continual;

using Net = Sequential<Input<1, 28, 28>,
    Conv<1, 16, 3, 1, 1>, ReLU, MaxPool<2>,
    Conv<16, 32, 3, 1, 1>, ReLU, MaxPool<2>,
    Flatten, Linear<32 * 7 * 7, 10>>;

namespace {

enum class strategy { naive, replay, ewc, lwf, joint };
constexpr const char* names[] = {"naive", "replay", "ewc", "lwf", "joint"};
constexpr std::size_t per_task = 2, batch = 64, memory_size = 1000, replayed = 32;
constexpr float lr = 0.01f, ewc_lambda = 2e4f;

struct setup {
    std::vector<data::dataset> train, test;  // per task
    data::dataset all;                       // every task's training data (joint)
    std::size_t epochs;
};

/// The accuracy on every test task, in the scenario (task_il: within the task's classes).
void record(Net& net, const setup& s, bool task_il, std::size_t after, cl::accuracy_matrix& r) {
    for (std::size_t j = 0; j < s.test.size(); ++j)
        r.set(after, j, task_il ? cl::evaluate_within(net, s.test[j], j * per_task, per_task) : evaluate(net, s.test[j]));
}

/// One strategy in one scenario: the accuracy matrix after each task.
template <class Hard>
cl::accuracy_matrix run(strategy st, const setup& s, const Hard& hard, bool task_il) {
    const std::size_t T = s.train.size();
    cl::accuracy_matrix r(T);
    Net net(7);
    fit_options o;
    o.epochs = s.epochs;
    o.progress = progress_mode::none;
    if (st == strategy::joint) {  // the upper bound: one pass of the same length over all tasks
        SGD opt(net, lr, {.momentum = 0.9f});
        data::loader b(s.all, batch, 1);
        fit(net, opt, hard, b, nullptr, o);
        for (std::size_t i = 0; i < T; ++i) record(net, s, task_il, i, r);
        return r;
    }
    cl::reservoir memory(memory_size, 3);
    cl::ewc<Net> reg(net, {.lambda = ewc_lambda, .online = true, .gamma = 1.0f});
    cl::penalized<SGD<Net>, cl::ewc<Net>> opt(reg, net, lr, sgd_options{.momentum = 0.9f});
    const cl::lwf_loss<Hard> lwf{hard, 2.0f, 1.0f};
    for (std::size_t t = 0; t < T; ++t) {
        data::loader b(s.train[t], batch, 1 + t);
        if (st == strategy::replay) {
            cl::replay_loader mixed(b, memory, replayed, 5 + t);
            fit(net, opt, hard, mixed, nullptr, o);
            memory.offer(s.train[t]);
        } else if (st == strategy::lwf && t > 0) {
            Net before = net;  // the model as it was after the previous task: the teacher
            distill(net, opt, before, lwf, b, nullptr, o);
        } else {
            fit(net, opt, hard, b, nullptr, o);
        }
        if (st == strategy::ewc) reg.consolidate(s.train[t], hard);
        record(net, s, task_il, t, r);
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 3 || (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
        std::cerr << "usage: " << argv[0] << " [DIR] [EPOCHS]\n"
                  << "  DIR: Fashion-MNIST IDX files (default " << data::fashion_mnist_default_dir << ")\n"
                  << "  EPOCHS: per task, default 2\n";
        return 2;
    }
    try {
        const auto t0 = std::chrono::steady_clock::now();
        const std::string dir = argc > 1 ? argv[1] : data::fashion_mnist_default_dir;
        setup s;
        s.epochs = 2;
        if (argc > 2) s.epochs = examples::positive_arg(argv[2], "EPOCHS");
        s.all = data::load_mnist_dir(dir, true);
        data::dataset test = data::load_mnist_dir(dir, false);
        data::normalize(s.all, {0.2860f}, {0.3530f});
        data::normalize(test, {0.2860f}, {0.3530f});
        s.train = cl::split_by_class(s.all, per_task);
        s.test = cl::split_by_class(test, per_task);
        std::printf("Split Fashion-MNIST: %zu tasks of %zu classes, %zu epochs per task, %zu threads\n", s.train.size(), per_task,
                    s.epochs, num_threads());
        std::printf("%-8s %26s %26s\n", "", "class-incremental", "task-incremental");
        std::printf("%-8s %13s %12s %13s %12s\n", "strategy", "avg acc", "forgetting", "avg acc", "forgetting");
        double class_il[5] = {};
        for (int k = 0; k < 5; ++k) {
            const auto st = static_cast<strategy>(k);
            const cl::accuracy_matrix ci = run(st, s, CrossEntropy{}, false);
            const cl::accuracy_matrix ti = run(st, s, cl::task_cross_entropy{per_task}, true);
            class_il[k] = ci.average();
            std::printf("%-8s %12.2f%% %11.2f%% %12.2f%% %11.2f%%\n", names[k], 100 * ci.average(), 100 * ci.forgetting(),
                        100 * ti.average(), 100 * ti.forgetting());
            std::fflush(stdout);
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%.0f s in all\n", secs);
        std::printf("continual: naive=%.2f%% replay=%.2f%% ewc=%.2f%% lwf=%.2f%% joint=%.2f%%\n", 100 * class_il[0],
                    100 * class_il[1], 100 * class_il[2], 100 * class_il[3], 100 * class_il[4]);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "continual: " << e.what() << "\n";
        return 1;
    } catch (...) {
        std::cerr << "continual: failed with an unknown exception\n";
        return 1;
    }
}
