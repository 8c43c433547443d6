// The MPI data-parallel tests (scripts/test stage mpi), one program run under mpirun:
//
//   mpirun -np N test_mpi equal       N ranks at batch B give one process's weights at batch N B
//                                     (SGD with momentum, Adam; 1e-5 relative), ranks identical,
//                                     checkpoint by rank 0 resumes on 1 rank and on N ranks;
//                                     dist::evaluate over N ranks = evaluate_full in one process
//   mpirun -np N test_mpi mismatch    rank 1 runs another net type: every rank is refused at start
//   mpirun -np N test_mpi die         rank 1 exits during training: the job must end (mpirun), not hang
//   mpirun -np N test_mpi kill        rank 1 is killed (SIGKILL) during training: the same
//   mpirun -np N test_mpi hang        rank 1 stops answering: the others fail after their 3 s deadline
//
// Every rank computes the single-process reference itself, on the whole global batch.
#include <ctnn/dist.hpp>

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

namespace {

using Net = ctnn::Sequential<ctnn::Input<1, 8, 8>, ctnn::Conv<1, 4, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>, ctnn::Flatten,
                             ctnn::Linear<4 * 4 * 4, 16>, ctnn::Tanh, ctnn::Linear<16, 10>>;
using Other = ctnn::Sequential<ctnn::Input<1, 8, 8>, ctnn::Conv<1, 4, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>, ctnn::Flatten,
                               ctnn::Linear<4 * 4 * 4, 16>, ctnn::ReLU, ctnn::Linear<16, 10>>;

constexpr std::size_t per_rank = 8;
const ctnn::data::augment aug{.pad_crop = 1, .hflip = true};

ctnn::data::dataset make_data(std::size_t count) {
    ctnn::data::dataset d;
    d.count = count;
    d.channels = 1;
    d.height = d.width = 8;
    d.images.resize(count * 64);
    d.labels.resize(count);
    d.classes = 10;
    ctnn::rng g(7);
    for (float& x : d.images) x = static_cast<float>(g.uniform(-1.0f, 1.0f));
    for (auto& l : d.labels) l = static_cast<std::int32_t>(g.below(10));
    return d;
}

int failures = 0;
void check(bool ok, const std::string& what, int rank) {
    if (!ok) ++failures;
    if (!ok || rank == 0) std::cout << "rank " << rank << (ok ? ": ok   " : ": FAIL ") << what << std::endl;
}

/// Largest |a - b| / max(|b|, 1e-2) over the parameters (relative, with a floor for near-zero weights).
double rel_diff(const Net& a, const Net& b) {
    double m = 0;
    for (std::size_t i = 0; i < Net::param_count; ++i)
        m = std::max(m, std::abs(double(a.params()[i]) - b.params()[i]) / std::max(std::abs(double(b.params()[i])), 1e-2));
    return m;
}

/// One process at the global batch, epochs [from, to), with ctnn::train_step and data::loader.
template <class Opt>
void reference(Net& net, Opt& opt, const ctnn::data::dataset& d, std::size_t global, std::size_t from, std::size_t to) {
    ctnn::data::loader l(d, global, 3, true, aug);
    for (std::size_t e = from; e < to; ++e) {
        l.start_epoch(e);
        while (l.next()) ctnn::train_step(net, opt, ctnn::CrossEntropy{}, l.images(), l.labels(), l.batch_size());
    }
}

template <class Dp>
void train(Dp& dp, ctnn::dist::shard_loader& l, std::size_t from, std::size_t to) {
    for (std::size_t e = from; e < to; ++e) {
        l.start_epoch(e);
        while (l.next()) dp.step(ctnn::CrossEntropy{}, l.images(), l.labels(), l.batch_size(), l.global_batch_size());
    }
}

template <class MakeOpt>
void equal_case(const char* name, MakeOpt make_opt, const ctnn::dist::comm& c) {
    const int rank = c.rank(), ranks = c.size();
    const ctnn::data::dataset d = make_data(203);  // (203: an epoch's last global batch is short and uneven)
    Net net(rank == 0 ? 11 : 99);                  // (rank 0's weights must reach every rank)
    auto opt = make_opt(net);
    ctnn::dist::data_parallel dp(net, opt, {.timeout_s = 30, .bucket_bytes = 256});
    ctnn::dist::shard_loader l(d, per_rank, rank, ranks, 3, true, aug);
    const std::string ckpt = std::filesystem::temp_directory_path() / ("ctnn_test_mpi_" + std::string(name) + ".ckpt");
    train(dp, l, 0, 1);
    dp.save_checkpoint(ckpt, {.epoch = 1});
    train(dp, l, 1, 3);

    Net ref(11);
    auto ref_opt = make_opt(ref);
    reference(ref, ref_opt, d, per_rank * ranks, 0, 3);
    const double diff = rel_diff(net, ref);
    check(diff <= 1e-5, std::string(name) + ": " + std::to_string(ranks) + " ranks at batch 8 = 1 process at batch " +
                            std::to_string(per_rank * ranks) + " after 3 epochs (" + std::to_string(dp.buckets()) +
                            " buckets; largest relative difference " + std::to_string(diff) + ")", rank);
    Net wrong(11);  // (the check can fail: one process at the per-rank batch ends elsewhere)
    auto wrong_opt = make_opt(wrong);
    reference(wrong, wrong_opt, d, per_rank, 0, 3);
    check(rel_diff(net, wrong) > 1e-3, std::string(name) + ": the comparison tells batch 8 from batch " + std::to_string(per_rank * ranks), rank);
    check(dp.stats().early_buckets > 0 && dp.buckets() > 1,
          std::string(name) + ": " + std::to_string(dp.stats().early_buckets) + " of " +
              std::to_string(dp.buckets() * dp.stats().steps) + " bucket all-reduces started while backward still ran", rank);
    const auto hashes = c.gather_all(ctnn::detail::fnv1a(net.params().data(), Net::param_count * 4), "test");
    bool same = true;
    for (auto h : hashes) same = same && h == hashes[0];
    check(same, std::string(name) + ": every rank holds the same weights, bit for bit", rank);

    Net one(5);  // rank 0's checkpoint after epoch 1, resumed by one process
    auto one_opt = make_opt(one);
    ctnn::load_checkpoint(ckpt, one, one_opt);
    reference(one, one_opt, d, per_rank * ranks, 1, 3);
    check(rel_diff(net, one) <= 1e-5, std::string(name) + ": the checkpoint resumes on 1 process", rank);
    Net again(5);  // and by every rank again, through rank 0
    auto again_opt = make_opt(again);
    ctnn::dist::data_parallel dp2(again, again_opt, {.timeout_s = 30});
    check(dp2.load_checkpoint(ckpt).epoch == 1, std::string(name) + ": the checkpoint records epoch 1", rank);
    train(dp2, l, 1, 3);
    check(rel_diff(net, again) == 0, std::string(name) + ": resumed on " + std::to_string(ranks) + " ranks, bit for bit", rank);
    c.barrier("test");
    if (rank == 0) std::filesystem::remove(ckpt);
}

/// dist::evaluate (each rank a share, the sums reduced) gives evaluate_full's figures for the
/// whole set in one process, on every rank; the same for a set smaller than the ranks.
void evaluate_case(const ctnn::dist::comm& c) {
    const int rank = c.rank();
    Net net(rank == 0 ? 11 : 99);  // (data_parallel sends rank 0's weights to every rank)
    ctnn::SGD opt(net, 0.05f);
    ctnn::dist::data_parallel dp(net, opt, {.timeout_s = 30});
    for (const std::size_t count : {std::size_t{203}, std::size_t{1}}) {
        const ctnn::data::dataset d = make_data(count);
        const ctnn::evaluation got = ctnn::dist::evaluate(dp, d, 16);
        Net one(11);
        const ctnn::evaluation want = ctnn::evaluate_full(one, d, 16);
        const std::string what = "dist::evaluate over " + std::to_string(c.size()) + " ranks of " + std::to_string(count) +
                                 " samples: accuracy " + std::to_string(got.accuracy) + " (one process " +
                                 std::to_string(want.accuracy) + "), loss " + std::to_string(got.loss) + " (" +
                                 std::to_string(want.loss) + ")";
        check(got.accuracy == want.accuracy && std::abs(got.loss - want.loss) <= 1e-6 * want.loss, what, rank);
        double both[2] = {got.accuracy, got.loss};
        const auto hashes = c.gather_all(ctnn::detail::fnv1a(both, sizeof both), "test");
        bool same = true;
        for (auto h : hashes) same = same && h == hashes[0];
        check(same, "dist::evaluate: the same figures on every rank, bit for bit", rank);
    }
}

int run_equal(const ctnn::dist::comm& c) {
    equal_case("SGD", [](Net& n) { return ctnn::SGD(n, 0.05f, {.momentum = 0.9f, .weight_decay = 1e-3f}); }, c);
    equal_case("Adam", [](Net& n) { return ctnn::Adam(n, 1e-2f); }, c);
    evaluate_case(c);
    return failures ? 1 : 0;
}

int run_mismatch(const ctnn::dist::comm& c) {
    try {
        if (c.rank() == 1) {
            Other net(1);
            ctnn::SGD opt(net, 0.1f);
            ctnn::dist::data_parallel dp(net, opt);
        } else {
            Net net(1);
            ctnn::SGD opt(net, 0.1f);
            ctnn::dist::data_parallel dp(net, opt);
        }
        check(false, "a rank with another net type was not refused", c.rank());
    } catch (const ctnn::error& e) {
        std::cout << "rank " << c.rank() << " refused: " << e.what() << std::endl;
        check(std::string(e.what()).find("rank(s) 1 run another net type than rank 0") != std::string::npos,
              "another net type is refused at start on every rank", c.rank());
    }
    try {  // another optimizer setting
        Net net(1);
        ctnn::SGD opt(net, c.rank() == 1 ? 0.2f : 0.1f);
        ctnn::dist::data_parallel dp(net, opt);
        check(false, "a rank with another learning rate was not refused", c.rank());
    } catch (const ctnn::error& e) {
        check(std::string(e.what()).find("another optimizer") != std::string::npos, "another optimizer is refused at start",
              c.rank());
    }
    return failures ? 1 : 0;
}

/// Rank 1 dies (exits without MPI_Finalize) or stops answering at step 5; the others train on.
int run_fault(const ctnn::dist::comm& c, bool die, bool kill = false) {
    const ctnn::data::dataset d = make_data(4000);
    Net net(1);
    ctnn::SGD opt(net, 0.05f);
    ctnn::dist::data_parallel dp(net, opt, {.timeout_s = 3});
    ctnn::dist::shard_loader l(d, per_rank, c.rank(), c.size(), 3);
    for (std::size_t e = 0; e < 100; ++e) {
        l.start_epoch(e);
        while (l.next()) {
            if (c.rank() == 1 && opt.steps() == 5) {
                std::cout << "rank 1: " << (die ? "exiting" : kill ? "killed" : "hanging") << " at step 6" << std::endl;
                if (die) std::_Exit(3);
                if (kill) std::raise(SIGKILL);
                std::this_thread::sleep_for(std::chrono::hours(1));
            }
            dp.step(ctnn::CrossEntropy{}, l.images(), l.labels(), l.batch_size(), l.global_batch_size());
        }
    }
    std::cout << "rank " << c.rank() << ": FAIL trained on without rank 1" << std::endl;
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    ctnn::dist::mpi_env env(argc, argv);
    ctnn::set_num_threads(1);
    const std::string mode = argc > 1 ? argv[1] : "equal";
    try {
        ctnn::dist::comm c(MPI_COMM_WORLD, 30);
        if (c.size() < 2) {
            std::cerr << "test_mpi: run it under mpirun -np 2 or more\n";
            return 2;
        }
        if (mode == "equal") return run_equal(c);
        if (mode == "mismatch") return run_mismatch(c);
        if (mode == "die" || mode == "hang") return run_fault(c, mode == "die");
        if (mode == "kill") return run_fault(c, false, true);
        std::cerr << "test_mpi: unknown mode " << mode << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cout << "rank " << ctnn::dist::mpi_env::rank() << " stopped: " << e.what() << std::endl;
        return 1;
    }
}
