// A ResNet-style net trained on Fashion-MNIST with augmentation (random crop with padding,
// horizontal flip), to a real result on a 2-core machine. The recipe is the one of
// tools/torch_fashion_resnet.py, so the two can be timed side by side.
//
//   fashion_resnet [DIR] [EPOCHS]      DIR default /usr/share/datasets/fashion-mnist, EPOCHS 20
//
// The net: a 3x3 stem and a 2x2 max pool to 14x14 (the 28x28 map is where most of a ResNet's
// multiply-adds would go), then basic blocks (conv-BN-ReLU-conv-BN plus a shortcut, ReLU): one at
// 32 x 14 x 14, a stride-2 block with a 1x1 projection shortcut and one more at 64 x 7 x 7, a
// stride-2 block to 128 x 4 x 4, global average pooling and a linear classifier.
// Recipe: pixels normalised with the training set's mean and standard deviation; each epoch
// shuffled with a fixed seed, every image padded by 1 (with the background's value) and cropped
// back at a random offset, mirrored with probability 1/2; batches of 128; SGD with Nesterov
// momentum 0.9 and weight decay 5e-4; the learning rate warms up linearly from 0.01 to 0.1
// over the first epoch, then follows a cosine to 0; cross-entropy. The number of epochs is what
// fits in 20 minutes on the 2-core development machine (docs/training.md has the measured run).
// After the last epoch the test accuracy is also given with flip averaging (evaluate with
// tta::hflip: the mean of the outputs for each image and its mirror).
// Writes fashion_resnet_metrics.csv and fashion_resnet.ckpt in the current directory.
#include <ctnn/data.hpp>
#include <ctnn/train.hpp>

#include "args.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

using namespace ctnn;

template <std::size_t Cin, std::size_t Cout, std::size_t Stride = 1>
using Conv3x3 = Conv<Cin, Cout, 3, Stride, 1>;
template <std::size_t Cin, std::size_t Cout, std::size_t Stride, class Shortcut>
using BasicBlock = Chain<Residual<Chain<Conv3x3<Cin, Cout, Stride>, BatchNorm<Cout>, ReLU, Conv3x3<Cout, Cout>, BatchNorm<Cout>>,
                                  Shortcut>,
                         ReLU>;
template <std::size_t C>
using Basic = BasicBlock<C, C, 1, Identity>;
template <std::size_t Cin, std::size_t Cout>
using Down = BasicBlock<Cin, Cout, 2, Chain<Conv<Cin, Cout, 1, 2, 0>, BatchNorm<Cout>>>;

using FashionResNet = Sequential<Input<1, 28, 28>,
    Conv3x3<1, 32>, BatchNorm<32>, ReLU, MaxPool<2>,  // 32 x 14 x 14
    Basic<32>,                                        // 32 x 14 x 14
    Down<32, 64>, Basic<64>,                          // 64 x 7 x 7
    Down<64, 128>,                                    // 128 x 4 x 4
    GlobalAvgPool, Linear<128, 10>>;

static_assert(FashionResNet::output_size == 10);

int main(int argc, char** argv) {
    if (argc > 3 || (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
        std::cerr << "usage: " << argv[0] << " [DIR] [EPOCHS]\n"
                  << "  DIR: Fashion-MNIST IDX files (default " << data::fashion_mnist_default_dir << ")\n"
                  << "  EPOCHS: default 20\n";
        return 2;
    }
    try {
        const auto t0 = std::chrono::steady_clock::now();
        const std::string dir = argc > 1 ? argv[1] : data::fashion_mnist_default_dir;
        std::size_t epochs = 20;
        if (argc > 2) epochs = examples::positive_arg(argv[2], "EPOCHS");
        constexpr float mean = 0.2860f, sd = 0.3530f;
        data::dataset train = data::load_mnist_dir(dir, true);
        data::dataset test = data::load_mnist_dir(dir, false);
        data::normalize(train, {mean}, {sd});
        data::normalize(test, {mean}, {sd});
        std::cout << "Fashion-MNIST from " << dir << ": " << train.count << " training and " << test.count
                  << " test images\n"
                  << FashionResNet::summary() << num_threads() << " threads\n";

        constexpr std::size_t batch = 128;
        constexpr float lr = 0.1f;
        FashionResNet net(1);
        SGD opt(net, lr, {.momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = true});
        const data::augment aug{.pad_crop = 1, .hflip = true, .fill = (0.0f - mean) / sd};
        data::loader batches(train, batch, 1, /*shuffle=*/true, aug);
        const std::size_t per_epoch = batches.batches_per_epoch();
        fit_options o;
        o.epochs = epochs;
        o.lr_schedule = warmup{per_epoch, 0.1f, cosine_lr{lr, (epochs - 1) * per_epoch}};
        o.metrics_csv = std::filesystem::absolute("fashion_resnet_metrics.csv").string();
        o.checkpoint = std::filesystem::absolute("fashion_resnet.ckpt").string();
        std::cout << "recipe: SGD (Nesterov 0.9, weight decay 5e-4), lr 0.1 (1 epoch warm-up, cosine to 0), batch "
                  << batch << ", " << epochs << " epochs, crop with padding 1 and horizontal flip\n";
        const auto h = fit(net, opt, CrossEntropy{}, batches, &test, o);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double flip = evaluate(net, test, 256, tta::hflip);
        const double all = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "test accuracy " << h.back().test_acc * 100.0 << "% after " << epochs << " epochs, " << secs
                  << " s in all\ntest accuracy with flip averaging " << flip * 100.0 << "% (" << all << " s in all)\n"
                  << "metrics written to " << o.metrics_csv << "\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "fashion_resnet: " << e.what() << "\n";
        return 1;
    } catch (...) {
        std::cerr << "fashion_resnet: failed with an unknown exception\n";
        return 1;
    }
}
