// examples/fashion_mnist.cpp, data-parallel over MPI: the same net, recipe and output, trained by
// every process mpirun starts, each on its share of every batch of 64 (docs/distributed.md).
//
//   mpirun -np 2 fashion_mnist_dist [DIR] [EPOCHS]      (as root: mpirun --allow-run-as-root ...)
//
// The global batch stays 64 whatever the number of ranks (each takes 64 / N; N must divide 64),
// so N ranks train the net one process trains, within float rounding. Rank 0 prints, writes
// fashion_mnist_dist_metrics.csv and the checkpoint fashion_mnist_dist.ckpt (after every epoch,
// atomically); run it again to resume, on any number of ranks.
#include <ctnn/dist.hpp>

#include "../args.hpp"

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
    ctnn::dist::mpi_env env(argc, argv);
    const int rank = ctnn::dist::mpi_env::rank(), ranks = ctnn::dist::mpi_env::size();
    if (argc > 3 || (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
        if (rank == 0) std::cerr << "usage: mpirun -np N " << argv[0] << " [DIR] [EPOCHS]\n";
        return 2;
    }
    try {
        const auto t0 = std::chrono::steady_clock::now();
        const std::string dir = argc > 1 ? argv[1] : ctnn::data::fashion_mnist_default_dir;
        std::size_t epochs = 12;
        if (argc > 2) epochs = examples::positive_arg(argv[2], "EPOCHS");
        constexpr std::size_t batch = 64;
        if (batch % static_cast<std::size_t>(ranks) != 0)
            throw ctnn::error("the batch of 64 must split evenly over the ranks: run 1, 2, 4, 8, ... processes, not " +
                              std::to_string(ranks));
        ctnn::data::dataset train = ctnn::data::load_mnist_dir(dir, true);
        ctnn::data::dataset test = ctnn::data::load_mnist_dir(dir, false);
        ctnn::data::normalize(train, {0.2860f}, {0.3530f});
        ctnn::data::normalize(test, {0.2860f}, {0.3530f});
        if (rank == 0) std::cout << "Fashion-MNIST from " << dir << " on " << ranks << " rank(s)\n" << Net::summary();

        constexpr float lr = 2e-3f;
        Net net(1);
        ctnn::Adam opt(net, lr);
        ctnn::dist::data_parallel dp(net, opt);
        ctnn::dist::shard_loader batches(train, batch / ranks, rank, ranks, 1, /*shuffle=*/true);
        ctnn::dist::fit_options o;
        o.epochs = epochs;
        o.lr_schedule = ctnn::cosine_lr{lr, epochs * batches.batches_per_epoch()};
        o.metrics_csv = std::filesystem::absolute("fashion_mnist_dist_metrics.csv").string();
        o.checkpoint = std::filesystem::absolute("fashion_mnist_dist.ckpt").string();
        o.resume = true;
        const auto h = ctnn::dist::fit(dp, ctnn::CrossEntropy{}, batches, &test, o);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const ctnn::dist::comm_stats& s = dp.stats();
        if (rank == 0 && !h.empty())
            std::cout << "test accuracy " << h.back().test_acc * 100.0 << "% after " << epochs << " epochs, " << secs
                      << " s in all\n"
                      << "per step on rank 0: " << s.bytes_reduced / std::max<std::uint64_t>(s.steps, 1)
                      << " bytes all-reduced, " << 100.0 * s.wait_seconds / std::max(s.step_seconds, 1e-9)
                      << "% of the step waiting on communication\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "fashion_mnist_dist (rank " << rank << "): " << e.what() << "\n";
        return 1;
    }
}
