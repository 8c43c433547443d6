// The default demo (scripts/demo): train a CNN on Fashion-MNIST from the Debian package
// dataset-fashion-mnist, with no download and no argument.
//
//   fashion_mnist [DIR] [EPOCHS]       DIR default /usr/share/datasets/fashion-mnist
//
// The net is the seed's CIFAR-10 CNN adapted to 1x28x28 input (Conv 1->16, pool, Conv 16->32,
// pool, Linear 32*7*7 -> 10). Recipe: pixels normalised with the training set's mean and
// standard deviation (0.2860, 0.3530), batches of 64 shuffled with a fixed seed, Adam with
// lr 2e-3 annealed to 0 along a cosine over all steps, cross-entropy, 12 epochs.
// Writes fashion_mnist_metrics.csv and fashion_mnist.ckpt in the current directory.
#include <ctnn/data.hpp>
#include <ctnn/train.hpp>

#include "args.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

using Net = ctnn::Sequential<ctnn::Input<1, 28, 28>,
    ctnn::Conv<1, 16, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Conv<16, 32, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Flatten, ctnn::Linear<32 * 7 * 7, 10>>;

int main(int argc, char** argv) {
    if (argc > 3 || (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
        std::cerr << "usage: " << argv[0] << " [DIR] [EPOCHS]\n"
                  << "  DIR: Fashion-MNIST IDX files (default " << ctnn::data::fashion_mnist_default_dir << ")\n"
                  << "  EPOCHS: default 12\n";
        return 2;
    }
    try {
        const auto t0 = std::chrono::steady_clock::now();
        const std::string dir = argc > 1 ? argv[1] : ctnn::data::fashion_mnist_default_dir;
        std::size_t epochs = 12;
        if (argc > 2) epochs = examples::positive_arg(argv[2], "EPOCHS");
        ctnn::data::dataset train = ctnn::data::load_mnist_dir(dir, true);
        ctnn::data::dataset test = ctnn::data::load_mnist_dir(dir, false);
        ctnn::data::normalize(train, {0.2860f}, {0.3530f});
        ctnn::data::normalize(test, {0.2860f}, {0.3530f});
        std::cout << "Fashion-MNIST from " << dir << ": " << train.count << " training and " << test.count
                  << " test images\n"
                  << Net::summary();

        constexpr std::size_t batch = 64;
        constexpr float lr = 2e-3f;
        Net net(1);
        ctnn::Adam opt(net, lr);
        ctnn::data::loader batches(train, batch, 1, /*shuffle=*/true);
        ctnn::fit_options o;
        o.epochs = epochs;
        o.lr_schedule = ctnn::cosine_lr{lr, epochs * batches.batches_per_epoch()};
        o.metrics_csv = std::filesystem::absolute("fashion_mnist_metrics.csv").string();
        o.checkpoint = std::filesystem::absolute("fashion_mnist.ckpt").string();
        std::cout << "recipe: Adam lr " << lr << " (cosine to 0), batch " << batch << ", " << epochs
                  << " epochs, normalised pixels\n"
                  << "metrics: " << o.metrics_csv << "\n";
        const auto h = ctnn::fit(net, opt, ctnn::CrossEntropy{}, batches, &test, o);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "test accuracy " << h.back().test_acc * 100.0 << "% after " << epochs << " epochs, "
                  << secs << " s in all\n"
                  << "metrics written to " << o.metrics_csv << "\n"
                  << "checkpoint (weights and optimizer state) in " << o.checkpoint << "\n";
        return 0;
    } catch (const std::exception& e) {  // ctnn::error, or the standard library's (filesystem_error: no cwd)
        std::cerr << "fashion_mnist: " << e.what() << "\n";
        return 1;
    } catch (...) {
        std::cerr << "fashion_mnist: failed with an unknown exception\n";
        return 1;
    }
}
