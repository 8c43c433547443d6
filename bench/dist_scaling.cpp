// One line of bench/dist_scaling.sh: training steps of a benchmark net at a global batch of 64,
// split over the ranks mpirun started, each with `threads` threads (ctnn::dist::data_parallel).
//
//   mpirun -np R dist_scaling NET THREADS [STEPS]      NET: seed | fmnist
//
// Prints (rank 0): net, ranks, threads, ms per step (mean over the timed steps, after 5 warm-up
// steps), bytes all-reduced per step and rank, the share of the step spent waiting on
// communication (in data_parallel::step: the wait for the all-reduce to complete), and the
// compute time per step (step minus wait) that docs/distributed.md's cost model takes.
#include <ctnn/dist.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "nets.hpp"

template <class Net>
int run(const char* name, int threads, std::size_t steps) {
    ctnn::dist::comm world;
    const std::size_t global = 64, ranks = static_cast<std::size_t>(world.size()), per_rank = global / ranks;
    if (global % ranks) throw ctnn::error("the batch of 64 must split evenly over the ranks");
    ctnn::set_num_threads(static_cast<std::size_t>(threads));
    std::vector<float> images(per_rank * Net::input_size);
    std::vector<std::int32_t> labels(per_rank);
    ctnn::rng g(static_cast<std::uint64_t>(world.rank()) + 1);
    for (float& x : images) x = g.uniform(-1.0f, 1.0f);
    for (auto& l : labels) l = static_cast<std::int32_t>(g.below(Net::output_size));
    auto net = std::make_unique<Net>(1);
    ctnn::SGD opt(*net, 0.01f, {.momentum = 0.9f});
    ctnn::dist::data_parallel dp(*net, opt);
    for (int i = 0; i < 5; ++i) dp.step(ctnn::CrossEntropy{}, images.data(), labels.data(), per_rank, global);
    const ctnn::dist::comm_stats warm = dp.stats();
    for (std::size_t i = 0; i < steps; ++i) dp.step(ctnn::CrossEntropy{}, images.data(), labels.data(), per_rank, global);
    const ctnn::dist::comm_stats& s = dp.stats();
    double v[2] = {(s.step_seconds - warm.step_seconds) / double(steps), (s.wait_seconds - warm.wait_seconds) / double(steps)};
    dp.sum(v, 2);  // (the mean over the ranks)
    v[0] /= double(ranks);
    v[1] /= double(ranks);
    if (world.rank() == 0)
        std::printf("%-7s %2zu ranks x %d threads: %8.3f ms/step, %9llu bytes reduced/step/rank, %5.1f%% waiting, compute %8.3f ms/step, %zu buckets\n",
                    name, ranks, threads, v[0] * 1e3, static_cast<unsigned long long>((s.bytes_reduced - warm.bytes_reduced) / steps),
                    100.0 * v[1] / v[0], (v[0] - v[1]) * 1e3, dp.buckets());
    return 0;
}

int main(int argc, char** argv) {
    ctnn::dist::mpi_env env(argc, argv);
    if (argc < 3) {
        std::fprintf(stderr, "usage: mpirun -np R %s seed|fmnist THREADS [STEPS]\n", argv[0]);
        return 2;
    }
    try {
        const std::string net = argv[1];
        const int threads = std::atoi(argv[2]);
        const std::size_t steps = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 50;
        if (net == "seed") return run<ctnn_bench::SeedCNN>("seed", threads, steps);
        if (net == "fmnist") return run<ctnn_bench::FmnistCNN>("fmnist", threads, steps);
        std::fprintf(stderr, "dist_scaling: unknown net %s\n", net.c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dist_scaling: %s\n", e.what());
        return 1;
    }
}
