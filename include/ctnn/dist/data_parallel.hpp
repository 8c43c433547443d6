// ctnn::dist::data_parallel: data-parallel training of a host net over MPI.
//
//   ctnn::dist::mpi_env env(argc, argv);
//   Net net(1);  ctnn::Adam opt(net, 1e-3f);
//   ctnn::dist::data_parallel dp(net, opt);       // checks every rank's setup, rank 0's weights to all
//   ctnn::dist::shard_loader batches(train, 64, dp.rank(), dp.size(), seed);   // shard.hpp
//   while (batches.next())
//       dp.step(loss, batches.images(), batches.labels(), batches.batch_size(), batches.global_batch_size());
//
// Every rank holds the whole net and steps on its shard of each global batch; gradients are
// summed over the ranks with MPI_Iallreduce, each rank's first weighted by its share of the
// global batch (n_local / n_global), so the update is the one a single process makes on the
// whole global batch (the losses are means over the batch), within float reassociation.
//
// Invariants the class keeps, which make the ranks' weights identical after every step:
// - at start, every rank runs the same net type (the fingerprint of its architecture layout, as
//   a checkpoint records it) and the same optimizer kind and hyper-parameters, or every rank
//   throws ctnn::error naming the ranks that differ; then rank 0's parameters, buffers, optimizer
//   state and step count are broadcast;
// - every rank calls step() the same number of times (with n_local 0 when its shard is empty);
// - a step fails on every rank or on none: a bad label, a failed forward or a non-finite loss on
//   one rank is counted in a small all-reduce of {loss, correct, failed}, and every rank then
//   throws before its optimizer steps (parameters, buffers and generator left as they were).
//
// Overlap: the gradient block is cut into buckets of whole layers, last layers first (backward's
// order), of at least options::bucket_bytes. Sequential::backward's hook (executor.hpp,
// grads_done) reports when the layers from i on are final; each bucket whose layers are then
// final is started at once, while the earlier layers' backward runs, and the started ones are
// polled (MPI_Testall) at every later report, which is when OpenMPI progresses them.
//
// BatchNorm: each rank normalises with its shard's statistics (PyTorch DDP without
// SyncBatchNorm), so a net with BatchNorm does not equal one process at the global batch; with
// options::broadcast_buffers (DDP's default) rank 0's running statistics are sent to every rank
// before each step, so the ranks' buffers stay identical.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include "../train/checkpoint.hpp"
#include "../train/loss.hpp"
#include "../train/train_step.hpp"
#include "mpi_comm.hpp"

namespace ctnn::dist {

struct options {
    double timeout_s = 60.0;                    // a collective not done by then: ctnn::error, job aborted
    std::size_t bucket_bytes = std::size_t{256} << 10;  // gradient buckets: at least this many bytes
    bool broadcast_buffers = true;              // rank 0's buffers (BatchNorm statistics) to all, each step
};

/// What the steps cost in communication, on this rank, summed over the steps.
struct comm_stats {
    std::uint64_t steps = 0;
    std::uint64_t bytes_reduced = 0;  // bytes this rank handed to all-reduce (gradients and metrics)
    double step_seconds = 0;          // whole steps
    double wait_seconds = 0;          // in step(), waiting for collectives to complete
    std::uint64_t early_buckets = 0;  // buckets started while backward still had layers to run
};

namespace detail {
/// The optimizer's kind and hyper-parameters as text: every rank must agree on it.
template <class Opt>
std::string optimizer_text(Opt& o) {
    std::string s = std::string(Opt::kind) + " state " + std::to_string(o.state().size());
    const auto& p = o.options();
    auto add = [&](const char* name, double v) {  // (%.9g: every float distinctly, 1e-7 is not 2e-7)
        char buf[32];
        std::snprintf(buf, sizeof buf, " %s %.9g", name, v);
        s += buf;
    };
    add("lr", o.lr());
    if constexpr (requires { p.momentum; }) {
        add("momentum", p.momentum);
        add("dampening", p.dampening);
        add("nesterov", p.nesterov);
    }
    if constexpr (requires { p.beta1; }) {
        add("beta1", p.beta1);
        add("beta2", p.beta2);
        add("eps", p.eps);
    }
    add("weight_decay", p.weight_decay);
    return s;
}
inline std::uint64_t hash_text(const std::string& s) { return ctnn::detail::fnv1a(s.data(), s.size()); }
}  // namespace detail

template <class Net, class Opt>
class data_parallel {
public:
    data_parallel(Net& net, Opt& opt, options o = {}, MPI_Comm c = MPI_COMM_WORLD)
        : net_(&net), opt_(&opt), o_(o), comm_(c, o.timeout_s) {
        make_buckets();
        check_same_setup();
        broadcast_state(0);
    }

    int rank() const { return comm_.rank(); }
    int size() const { return comm_.size(); }
    const dist::comm& communicator() const { return comm_; }
    const comm_stats& stats() const { return stats_; }
    std::size_t buckets() const { return buckets_.size(); }
    Net& net() { return *net_; }
    Opt& optimizer() { return *opt_; }

    /// One step on this rank's n_local samples of a global batch of n_global (the sum of every
    /// rank's n_local); returns the global batch's mean loss and correct count (same on every rank).
    template <class Loss>
    step_result step(const Loss& loss, const float* in, const typename Loss::target_type* targets, std::size_t n_local,
                     std::size_t n_global) {
        const auto t0 = std::chrono::steady_clock::now();
        if (n_local > n_global) throw error("ctnn::dist::data_parallel::step: n_local > n_global");
        double wait = 0;
        if (Net::buffer_count && o_.broadcast_buffers && size() > 1) {
            const auto b0 = std::chrono::steady_clock::now();
            comm_.broadcast(net_->buffers().data(), Net::buffer_count, 0, "the buffers' broadcast of step " + step_name());
            wait += seconds_since(b0);
        }
        saved_buffers_.assign(net_->buffers().begin(), net_->buffers().end());
        const std::uint64_t saved_rng = net_->generator().state();
        double metrics[3] = {0, 0, 0};  // loss * n_local, correct, ranks that failed
        std::string local_error;
        const bool ran = n_local > 0 && local_forward(loss, in, targets, n_local, metrics, local_error);
        MPI_Request mreq;  // (started now: it completes while backward runs)
        comm_.check(MPI_Iallreduce(MPI_IN_PLACE, metrics, 3, MPI_DOUBLE, MPI_SUM, comm_.get(), &mreq), "the metrics' all-reduce");
        scale_ = n_global ? float(double(n_local) / double(n_global)) : 0.0f;
        next_ = 0;
        reqs_.assign(1, mreq);
        net_->zero_grad();
        if (ran) {
            net_->backward(dout_.data(), nullptr, [&](std::size_t i, float* g) { on_grads(i, g); });
        } else {
            auto g = net_->grads();  // (materialised: zeros) this rank adds nothing
            std::fill(g.begin(), g.end(), 0.0f);
        }
        float* g = net_->grads().data();
        while (next_ < buckets_.size()) start_bucket(next_++, g);
        wait += comm_.wait(reqs_, "the gradient all-reduce of step " + step_name());
        if (metrics[2] > 0) {
            std::copy(saved_buffers_.begin(), saved_buffers_.end(), net_->buffers().begin());
            net_->generator().set_state(saved_rng);
            throw error(local_error.empty() ? "ctnn::dist: step " + step_name() + " failed on " + std::to_string(int(metrics[2])) +
                                                  " other rank(s) (see their messages); the net was not updated"
                                            : local_error);
        }
        opt_->step();
        stats_.steps += 1;
        stats_.bytes_reduced += Net::grad_count * sizeof(float) + sizeof metrics;
        stats_.wait_seconds += wait;
        stats_.step_seconds += seconds_since(t0);
        return {float(metrics[0] / double(n_global)), static_cast<std::size_t>(metrics[1])};
    }

    /// Rank `root`'s parameters, buffers, optimizer state and step count, and its generator, to every rank.
    void broadcast_state(int root) {
        comm_.broadcast(net_->params().data(), Net::param_count, root, "the parameters' broadcast");
        if (Net::buffer_count) comm_.broadcast(net_->buffers().data(), Net::buffer_count, root, "the buffers' broadcast");
        const auto st = opt_->state();
        if (!st.empty()) comm_.broadcast(st.data(), st.size(), root, "the optimizer state's broadcast");
        std::uint64_t counters[2] = {opt_->steps(), net_->generator().state()};
        comm_.broadcast(counters, 2, root, "the step count's broadcast");
        opt_->set_steps(counters[0]);
        net_->generator().set_state(counters[1]);
    }

    /// Sums values over the ranks (metrics); every rank gets the sums.
    void sum(double* v, std::size_t n) const { comm_.sum(v, n, "the metrics' all-reduce"); }

    /// Rank 0 writes the checkpoint (ctnn::save_checkpoint: atomically); every rank returns once
    /// it is written, or throws the same ctnn::error when it could not be.
    void save_checkpoint(const std::string& path, checkpoint_info info) {
        std::string err;
        if (rank() == 0) try {
                ctnn::save_checkpoint(path, *net_, *opt_, info);
            } catch (const std::exception& e) { err = e.what(); }
        err = comm_.broadcast_string(err, 0, "the checkpoint's status");
        if (!err.empty()) throw error("ctnn::dist: rank 0 could not write the checkpoint: " + err);
    }
    /// Rank 0 reads the checkpoint and sends it to every rank (the others need not see the file);
    /// a checkpoint holds no rank count, so it resumes on any number of ranks.
    checkpoint_info load_checkpoint(const std::string& path) {
        std::string err;
        checkpoint_info info;
        if (rank() == 0) try {
                info = ctnn::load_checkpoint(path, *net_, *opt_);
            } catch (const std::exception& e) { err = e.what(); }
        err = comm_.broadcast_string(err, 0, "the checkpoint's status");
        if (!err.empty()) throw error("ctnn::dist: rank 0 could not read the checkpoint: " + err);
        comm_.broadcast(&info, 1, 0, "the checkpoint's broadcast");
        broadcast_state(0);
        return info;
    }
    /// Whether `path` exists on rank 0 (the same answer on every rank).
    bool exists_on_root(const std::string& path) const {
        std::uint64_t e = rank() == 0 && std::filesystem::exists(path);
        comm_.broadcast(&e, 1, 0, "the checkpoint's existence");
        return e != 0;
    }

private:
    struct bucket {
        std::size_t first_layer, begin, count;  // layers [first_layer, ...), gradient floats [begin, begin + count)
    };

    static double seconds_since(std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    }
    std::string step_name() const { return std::to_string(opt_->steps() + 1); }

    /// Forward and loss on this rank's samples; on failure records why (the step then fails on
    /// every rank, after the collectives every rank joins).
    template <class Loss>
    bool local_forward(const Loss& loss, const float* in, const typename Loss::target_type* targets, std::size_t n,
                       double* metrics, std::string& why) {
        constexpr std::size_t k = Net::output_size;
        try {
            if constexpr (std::is_same_v<typename Loss::target_type, std::int32_t>)
                ctnn::detail::check_labels(targets, n, k, "ctnn::dist::data_parallel::step");
            if (dout_.size() < n * k) dout_.resize(n * k);
            const float* out = net_->forward_train(in, n);
            const float l = loss(out, targets, n, k, dout_.data());
            if (!std::isfinite(l))
                throw error("ctnn::dist::data_parallel::step: the " + std::string(Loss::kind) + " loss is " +
                            (std::isnan(l) ? "NaN" : "infinite") + " on rank " + std::to_string(rank()) + " at step " +
                            step_name() + "; the net was not updated");
            metrics[0] = double(l) * double(n);
            if constexpr (std::is_same_v<typename Loss::target_type, std::int32_t>)
                for (std::size_t i = 0; i < n; ++i) metrics[1] += argmax(out + i * k, k) == static_cast<std::size_t>(targets[i]);
            return true;
        } catch (const std::exception& e) {
            why = e.what();
            metrics[2] = 1;
            return false;
        }
    }

    /// Whole layers, last first, until a bucket holds bucket_bytes; the first layers' rest is the last bucket.
    void make_buckets() {
        std::size_t hi = Net::depth;
        for (std::size_t i = Net::depth; i-- > 0;) {
            const std::size_t count = Net::grad_offset[hi] - Net::grad_offset[i];
            if (count == 0) {
                hi = i;  // (a layer without gradients starts no bucket of its own)
                continue;
            }
            if (count * sizeof(float) >= o_.bucket_bytes || i == 0 || Net::grad_offset[i] == 0) {
                buckets_.push_back({i, Net::grad_offset[i], count});
                hi = i;
            }
        }
    }
    /// Backward's report: layers from i on are final. Starts every bucket they complete.
    void on_grads(std::size_t i, float* g) {
        const std::size_t before = next_;
        while (next_ < buckets_.size() && buckets_[next_].first_layer >= i) start_bucket(next_++, g);
        if (i > Net::first_trainable) stats_.early_buckets += next_ - before;  // (backward has layers left to run)
        if (reqs_.size() > 1) comm_.test(reqs_, "the gradient all-reduce of step " + step_name());
    }
    void start_bucket(std::size_t b, float* g) {
        const bucket& k = buckets_[b];
        float* p = g + k.begin;
        if (scale_ != 1.0f) std::transform(p, p + k.count, p, [s = scale_](float v) { return v * s; });
        reqs_.emplace_back();
        comm_.check(MPI_Iallreduce(MPI_IN_PLACE, p, static_cast<int>(k.count), MPI_FLOAT, MPI_SUM, comm_.get(), &reqs_.back()),
                    "the gradient all-reduce");
    }

    void check_same_setup() {
        const std::string layout = architecture_layout(*net_);
        const std::string optimizer = detail::optimizer_text(*opt_);
        const auto nets = comm_.gather_all(detail::hash_text(layout), "the net-type check at start");
        const auto opts = comm_.gather_all(detail::hash_text(optimizer), "the optimizer check at start");
        std::string bad_net, bad_opt;
        for (std::size_t r = 1; r < nets.size(); ++r) {
            if (nets[r] != nets[0]) bad_net += (bad_net.empty() ? "" : ", ") + std::to_string(r);
            if (opts[r] != opts[0]) bad_opt += (bad_opt.empty() ? "" : ", ") + std::to_string(r);
        }
        if (!bad_net.empty()) {  // (every rank sees the same lists, so every rank takes this branch)
            const std::string root = comm_.broadcast_string(layout, 0, "the net-type check at start");
            std::string mine = layout == root ? "" : "; on this rank: " + ctnn::detail::layout_difference(root, layout);
            for (auto [from, to] : {std::pair{"in the file", "on rank 0"}, std::pair{"in this net", "on this rank"}})
                if (const auto at = mine.find(from); at != std::string::npos) mine.replace(at, std::strlen(from), to);
            throw error("ctnn::dist: rank(s) " + bad_net + " run another net type than rank 0 (their architecture's " +
                        "fingerprint differs)" + mine);
        }
        if (!bad_opt.empty()) {
            const std::string root = comm_.broadcast_string(optimizer, 0, "the optimizer check at start");
            throw error("ctnn::dist: rank(s) " + bad_opt + " run another optimizer than rank 0 (" + root + ")" +
                        (optimizer == root ? "" : "; this rank's: " + optimizer));
        }
    }

    Net* net_;
    Opt* opt_;
    options o_;
    dist::comm comm_;
    std::vector<bucket> buckets_;
    std::vector<MPI_Request> reqs_;
    std::size_t next_ = 0;
    float scale_ = 1.0f;
    std::vector<float> dout_, saved_buffers_;
    comm_stats stats_;
};

}  // namespace ctnn::dist
