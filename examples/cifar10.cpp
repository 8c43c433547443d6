// The seed's CIFAR-10 program in C++: its exact network (with the Linear layer's input fixed to
// 32*8*8, the size the two pools leave) and its recipe: pixels scaled to [0, 1] and nothing else
// (torchvision's ToTensor), batches of 32 in file order (DataLoader without shuffle), Adam with
// lr 1e-3, cross-entropy, 10 epochs; train loss and accuracy per epoch, then test accuracy.
//
//   cifar10 DIR [EPOCHS]
//
// DIR holds the standard binary batches (data_batch_1.bin ... data_batch_5.bin, test_batch.bin),
// or the cifar-10-batches-bin folder of the official archive. There is no download.
#include <ctnn/data.hpp>
#include <ctnn/train.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

namespace cifar10_example {

using SeedNet = ctnn::Sequential<ctnn::Input<3, 32, 32>,
    ctnn::Conv<3, 16, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Conv<16, 32, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Flatten, ctnn::Linear<32 * 8 * 8, 10>>;

/// The whole program; returns the exit status. Errors go to `err` as one clear line.
inline int run(int argc, char** argv, std::ostream& out, std::ostream& err) {
    if (argc < 2 || argc > 3 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
        err << "usage: " << (argc ? argv[0] : "cifar10") << " DIR [EPOCHS]\n"
            << "  DIR: the CIFAR-10 binary version (data_batch_1.bin ... data_batch_5.bin, test_batch.bin)\n"
            << "  EPOCHS: default 10 (the seed's recipe)\n";
        return 2;
    }
    try {
        const std::string dir = argv[1];
        std::size_t epochs = 10;
        if (argc == 3) {
            char* end = nullptr;
            errno = 0;
            const long e = std::strtol(argv[2], &end, 10);
            if (!end || *end || e <= 0 || errno == ERANGE)  // ERANGE: too large for a long, not LONG_MAX epochs
                throw ctnn::error(std::string("EPOCHS must be a positive integer that fits in a long, got '") + argv[2] + "'");
            epochs = static_cast<std::size_t>(e);
        }
        for (const char* f : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                              "data_batch_5.bin", "test_batch.bin"}) {
            namespace fs = std::filesystem;
            if (!fs::exists(fs::path(dir) / f) && !fs::exists(fs::path(dir) / "cifar-10-batches-bin" / f))
                throw ctnn::error(dir + ": no " + f + " here; expected the CIFAR-10 binary version "
                                  "(data_batch_1.bin ... data_batch_5.bin, test_batch.bin from cifar-10-binary.tar.gz)");
        }
        const ctnn::data::dataset train = ctnn::data::load_cifar10_dir(dir, true);
        const ctnn::data::dataset test = ctnn::data::load_cifar10_dir(dir, false);
        out << "CIFAR-10 from " << dir << ": " << train.count << " training and " << test.count << " test images\n"
            << SeedNet::summary()
            << "recipe: Adam lr 1e-3, batch 32 in file order, cross-entropy, " << epochs << " epochs\n";

        SeedNet net(0);
        ctnn::Adam opt(net, 1e-3f);
        ctnn::data::loader batches(train, 32, 0, /*shuffle=*/false);
        ctnn::fit_options o;
        o.epochs = epochs;
        o.out = &out;
        ctnn::fit(net, opt, ctnn::CrossEntropy{}, batches, &test, o);
        out << "test accuracy " << ctnn::evaluate(net, test) * 100.0 << "%\n";
        return 0;
    } catch (const std::exception& e) {  // ctnn::error, or the standard library's
        err << "cifar10: " << e.what() << "\n";
        return 1;
    } catch (...) {
        err << "cifar10: failed with an unknown exception\n";
        return 1;
    }
}

}  // namespace cifar10_example

#ifndef CTNN_EXAMPLE_NO_MAIN
int main(int argc, char** argv) { return cifar10_example::run(argc, argv, std::cout, std::cerr); }
#endif
