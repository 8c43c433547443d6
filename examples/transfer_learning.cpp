// Transfer learning on Fashion-MNIST: train a CNN on classes 0-4 (T-shirt/top, Trouser, Pullover,
// Dress, Coat), save it, then put a new head on its frozen trunk and train only that head on
// classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot).
//
//   transfer_learning [DIR] [EPOCHS] [LIMIT]
//     DIR     Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)
//     EPOCHS  epochs of each phase (default 3)
//     LIMIT   use at most LIMIT training images per phase (default: all 30,000)
//
// Phase 1 trains every layer of TrunkNet on classes 0-4 and saves it to trunk.safetensors.
// Phase 2 builds HeadNet: the same trunk with every layer Frozen<>, and a new Linear head.
// load_safetensors(..., {.layers = head_index}) loads the trunk's weights and leaves the new
// head at its fresh initialisation; Adam then has state for the head only (HeadNet::grad_count).
#include <ctnn/data.hpp>
#include <ctnn/io.hpp>
#include <ctnn/train.hpp>

#include "args.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

using namespace ctnn;

// Layers 0-9 are the trunk; layer 10 is the head.
using TrunkNet = Sequential<Input<1, 28, 28>,
    Conv<1, 8, 3, 1, 1>, ReLU, MaxPool<2>,            // 0 1 2
    Conv<8, 16, 3, 1, 1>, ReLU, MaxPool<2>,           // 3 4 5
    Flatten, Linear<16 * 7 * 7, 64>, ReLU, Dropout<10>,  // 6 7 8 9
    Linear<64, 5>>;                                   // 10: classes 0-4
using HeadNet = Sequential<Input<1, 28, 28>,
    Frozen<Conv<1, 8, 3, 1, 1>>, ReLU, MaxPool<2>,
    Frozen<Conv<8, 16, 3, 1, 1>>, ReLU, MaxPool<2>,
    Flatten, Frozen<Linear<16 * 7 * 7, 64>>, ReLU, Dropout<10>,
    Linear<64, 5>>;                                   // 10: a new head for classes 5-9
constexpr std::size_t head_index = 10;

// The frozen trunk has no gradients and no optimizer state: only the head's 325 parameters train.
static_assert(HeadNet::param_count == TrunkNet::param_count);
static_assert(HeadNet::grad_count == 64 * 5 + 5);


/// The samples of classes [lo, hi], relabelled 0..hi-lo, at most `limit` of them.
static data::dataset classes(const data::dataset& d, int lo, int hi, std::size_t limit) {
    data::dataset r = d.filter_classes(lo, hi, /*relabel=*/true);
    if (r.count <= limit) return r;
    std::vector<std::size_t> idx(limit);
    for (std::size_t i = 0; i < limit; ++i) idx[i] = i;
    return r.subset(std::move(idx));
}

template <class Net>
static double train(Net& net, const data::dataset& train_set, const data::dataset& test_set, std::size_t epochs,
                    float lr) {
    Adam opt(net, lr);
    data::loader batches(train_set, 64, 1, /*shuffle=*/true);
    fit_options o;
    o.epochs = epochs;
    o.lr_schedule = cosine_lr{lr, epochs * batches.batches_per_epoch()};
    o.progress = progress_mode::lines;
    fit(net, opt, CrossEntropy{}, batches, &test_set, o);
    return evaluate(net, test_set);
}

int main(int argc, char** argv) {
    if (argc > 4 || (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
        std::cerr << "usage: " << argv[0] << " [DIR] [EPOCHS] [LIMIT]\n";
        return 2;
    }
    try {
        const auto t0 = std::chrono::steady_clock::now();
        const std::string dir = argc > 1 ? argv[1] : data::fashion_mnist_default_dir;
        const std::size_t epochs = argc > 2 ? examples::positive_arg(argv[2], "EPOCHS") : 3;
        const std::size_t limit = argc > 3 ? examples::positive_arg(argv[3], "LIMIT") : std::size_t(-1);
        data::dataset train_all = data::load_mnist_dir(dir, true), test_all = data::load_mnist_dir(dir, false);
        data::normalize(train_all, {0.2860f}, {0.3530f});
        data::normalize(test_all, {0.2860f}, {0.3530f});

        // Phase 1: the whole net on classes 0-4.
        const auto train_a = classes(train_all, 0, 4, limit), test_a = classes(test_all, 0, 4, test_all.count);
        std::cout << "== phase 1: train every layer on classes 0-4 (" << train_a.count << " images, "
                  << epochs << " epochs)\n" << TrunkNet::summary();
        TrunkNet trunk(1);
        const double acc_a = train(trunk, train_a, test_a, epochs, 2e-3f);
        const std::string path = std::filesystem::absolute("trunk.safetensors").string();
        save_safetensors(trunk, path);

        // Phase 2: the trunk's weights, frozen, under a new head, on classes 5-9.
        const auto train_b = classes(train_all, 5, 9, limit), test_b = classes(test_all, 5, 9, test_all.count);
        HeadNet net(2);
        load_safetensors(net, path, {.layers = head_index});  // trunk from the file, head kept fresh
        // (in memory, the same is copy_layers<head_index>(trunk, net), checked at compile time)
        std::cout << "\n== phase 2: frozen trunk from " << path << ", new head on classes 5-9 ("
                  << train_b.count << " images, " << epochs << " epochs)\n" << HeadNet::summary();
        std::cout << "before training the head: " << evaluate(net, test_b) * 100.0 << "% on classes 5-9\n";
        const double acc_b = train(net, train_b, test_b, epochs, 1e-2f);

        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "\nclasses 0-4, whole net trained:   test accuracy " << acc_a * 100.0 << "%, "
                  << TrunkNet::grad_count << " trainable parameters\n"
                  << "classes 5-9, new head on frozen trunk: test accuracy " << acc_b * 100.0 << "%, "
                  << HeadNet::grad_count << " trainable parameters (of " << HeadNet::param_count << ")\n"
                  << secs << " s in all\n";
        return 0;
    } catch (const std::exception& e) {  // ctnn::error, or the standard library's (filesystem_error: no cwd)
        std::cerr << "transfer_learning: " << e.what() << "\n";
        return 1;
    } catch (...) {
        std::cerr << "transfer_learning: failed with an unknown exception\n";
        return 1;
    }
}
