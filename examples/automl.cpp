// AutoML on Fashion-MNIST: a hyper-parameter search (successive halving) for a small CNN, then an
// architecture search over a grid of candidate net types (channels x depth) with the best
// hyper-parameters, scored by validation accuracy and batch-1 latency; the Pareto front printed.
//
//   automl [DIR] [LOG]      DIR default /usr/share/datasets/fashion-mnist, LOG automl_trials.jsonl
//
// Data: 20,000 training and 10,000 validation images, both drawn from the shuffled training set
// (the test set is not used). Search space: learning rate log-uniform in [1e-4, 3e-2], batch
// {32, 64, 128}, weight decay log-uniform in [1e-6, 1e-3], optimizer {sgd (momentum 0.9), adam,
// adamw}, schedule {constant, cosine};
// successive halving of 12 configurations over budgets of 1, 2 and 4 epochs (eta 2). Every trial
// goes to LOG (JSON lines); run it again after an interruption and it resumes. The candidates:
// Conv(C) - pool - [Conv(2C) - pool] - Linear for C in {8, 16, 32} and one or two conv stages,
// each trained 3 epochs with the winning hyper-parameters. The last line:
//   automl: best=<name> acc=XX.XX% latency_b1=XX.Xus pareto=N trials=M
// (acc: validation accuracy of the most accurate candidate; docs/techniques.md has a measured run).
#include <ctnn/data.hpp>
#include <ctnn/train.hpp>
#include <ctnn/train/automl.hpp>
#include <ctnn/train/automl_arch.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

using namespace ctnn;

// A grid of candidates: C channels, one or two conv stages.
template <std::size_t C, std::size_t Stages>
struct cnn;
template <std::size_t C>
struct cnn<C, 1> {
    using type = Sequential<Input<1, 28, 28>, Conv<1, C, 3, 1, 1>, ReLU, MaxPool<2>, Flatten, Linear<C * 14 * 14, 10>>;
};
template <std::size_t C>
struct cnn<C, 2> {
    using type = Sequential<Input<1, 28, 28>, Conv<1, C, 3, 1, 1>, ReLU, MaxPool<2>, Conv<C, 2 * C, 3, 1, 1>, ReLU, MaxPool<2>,
                            Flatten, Linear<2 * C * 7 * 7, 10>>;
};
template <std::size_t C, std::size_t Stages>
using Cnn = typename cnn<C, Stages>::type;

namespace {

/// Trains net with the configuration's hyper-parameters for `epochs` epochs; validation accuracy.
template <class Net, class Opt>
double train_with(Net& net, Opt& opt, const automl::config& c, const data::dataset& train, const data::dataset& val,
                  std::size_t epochs) {
    data::loader batches(train, static_cast<std::size_t>(c.number("batch")), 1, true);
    fit_options o;
    o.epochs = epochs;
    o.progress = progress_mode::none;
    const float lr = static_cast<float>(c.number("lr"));
    if (c.choice("schedule") == "cosine") o.lr_schedule = cosine_lr{lr, epochs * batches.batches_per_epoch()};
    return fit(net, opt, CrossEntropy{}, batches, &val, o).back().test_acc;
}

template <class Net>
double objective(Net& net, const automl::config& c, const data::dataset& train, const data::dataset& val, std::size_t epochs) {
    const float lr = static_cast<float>(c.number("lr")), wd = static_cast<float>(c.number("weight_decay"));
    const std::string& opt = c.choice("optimizer");
    try {
        if (opt == "sgd") {
            SGD o(net, lr, {.momentum = 0.9f, .weight_decay = wd});
            return train_with(net, o, c, train, val, epochs);
        }
        if (opt == "adam") {
            Adam o(net, lr, {.weight_decay = wd});
            return train_with(net, o, c, train, val, epochs);
        }
        AdamW o(net, lr, {.weight_decay = wd});
        return train_with(net, o, c, train, val, epochs);
    } catch (const error& e) {  // a configuration that diverges (NaN loss) scores nothing
        std::printf("  (trial failed: %s)\n", e.what());
        return 0.0;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 3 || (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
        std::cerr << "usage: " << argv[0] << " [DIR] [LOG]\n"
                  << "  DIR: Fashion-MNIST IDX files (default " << data::fashion_mnist_default_dir << ")\n"
                  << "  LOG: the trial log, JSON lines (default automl_trials.jsonl; an existing one resumes)\n";
        return 2;
    }
    try {
        const auto t0 = std::chrono::steady_clock::now();
        const std::string dir = argc > 1 ? argv[1] : data::fashion_mnist_default_dir;
        const std::string log = argc > 2 ? argv[2] : "automl_trials.jsonl";
        data::dataset all = data::load_mnist_dir(dir, true);
        data::dataset test = data::load_mnist_dir(dir, false);
        data::normalize(all, {0.2860f}, {0.3530f});
        data::normalize(test, {0.2860f}, {0.3530f});
        std::vector<std::size_t> order(all.count);
        std::iota(order.begin(), order.end(), std::size_t{0});
        rng g(2024);
        for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[g.below(i + 1)]);
        const data::dataset train = all.subset({order.begin(), order.begin() + 20000});
        const data::dataset val = all.subset({order.end() - 10000, order.end()});
        std::printf("Fashion-MNIST: %zu training, %zu validation images; %zu threads; trials logged to %s\n", train.count, val.count,
                    num_threads(), log.c_str());

        automl::space s;
        s.log_uniform("lr", 1e-4, 3e-2).choice("batch", std::vector<double>{32, 64, 128}).log_uniform("weight_decay", 1e-6, 1e-3)
            .choice("optimizer", std::vector<std::string>{"sgd", "adam", "adamw"})
            .choice("schedule", std::vector<std::string>{"constant", "cosine"});
        automl::search search(s, 7, log);
        using Base = Cnn<16, 2>;
        const auto trials = search.successive_halving(12, 1, 4, 2, [&](const automl::config& c, std::size_t epochs) {
            Base net(1);
            const double acc = objective(net, c, train, val, epochs);
            std::printf("  %s, %zu epochs: %.2f%%\n", c.to_json().dump().c_str(), epochs, 100 * acc);
            std::fflush(stdout);
            return acc;
        });
        const automl::trial& best = automl::search::best(trials);
        std::printf("hyper-parameters: %zu trials; best %s: %.2f%% after %zu epochs\n", trials.size(), best.cfg.to_json().dump().c_str(),
                    100 * best.score, best.budget);

        auto cands = automl::architecture_search<Cnn<8, 1>, Cnn<16, 1>, Cnn<32, 1>, Cnn<8, 2>, Cnn<16, 2>, Cnn<32, 2>>(
            {"c8x1", "c16x1", "c32x1", "c8x2", "c16x2", "c32x2"},
            [&]<class Net>(Net& net) { return objective(net, best.cfg, train, val, 3); });
        automl::print_candidates(std::cout, cands);
        std::size_t top = 0, front = 0;
        for (std::size_t i = 0; i < cands.size(); ++i) {
            if (cands[i].score > cands[top].score) top = i;
            front += cands[i].pareto;
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%.0f s in all\n", secs);
        std::printf("automl: best=%s acc=%.2f%% latency_b1=%.1fus pareto=%zu trials=%zu\n", cands[top].name.c_str(),
                    100 * cands[top].score, cands[top].latency_us, front, trials.size() + cands.size());
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "automl: " << e.what() << "\n";
        return 1;
    } catch (...) {
        std::cerr << "automl: failed with an unknown exception\n";
        return 1;
    }
}
