// ctnn::dist::fit: fit() (train/trainer.hpp) for data-parallel training: epochs of
// data_parallel::step over a shard_loader, the test set evaluated in shards with the counts
// summed over the ranks, one line per epoch and the metrics CSV from rank 0, a checkpoint after
// every epoch written by rank 0 (atomically), and resume from it on any number of ranks.
//
// The learning-rate schedule is called with the optimizer's step count, the same on every rank.
// Resuming on another number of ranks at the same per-rank batch changes the global batch, so
// the steps per epoch (and a schedule laid out in steps) change with it.
#pragma once
#include <chrono>
#include <fstream>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "../data/dataset.hpp"
#include "../train/schedule.hpp"
#include "../train/trainer.hpp"
#include "data_parallel.hpp"
#include "shard.hpp"

namespace ctnn::dist {

struct fit_options {
    std::size_t epochs = 10;
    schedule lr_schedule;        // learning rate at each optimizer step; empty: keep the optimizer's
    std::string checkpoint;      // written by rank 0 (atomically) after every epoch; empty: none
    bool resume = false;         // continue from `checkpoint` when rank 0 has it
    std::string metrics_csv;     // rank 0: "epoch,train_loss,train_acc,test_acc,seconds,test_loss"
    std::ostream* out = &std::cout;  // rank 0's epoch lines; null: none
    std::size_t eval_batch = 256;
};

/// Accuracy and mean cross-entropy of the net on the data set, each rank evaluating a contiguous
/// share (evaluate_full's loop, train/trainer.hpp) and the sums reduced (the same figures on
/// every rank; 0 for an empty data set).
template <class Net, class Opt>
evaluation evaluate(data_parallel<Net, Opt>& dp, const data::dataset& d, std::size_t batch = 256) {
    const std::size_t R = static_cast<std::size_t>(dp.size()), r = static_cast<std::size_t>(dp.rank());
    const auto mine = ctnn::detail::evaluate_range<void>(dp.net(), d, d.count * r / R, d.count * (r + 1) / R, batch, tta::none);
    double v[2] = {mine.correct, mine.loss};
    dp.sum(v, 2);
    return {d.count ? v[0] / double(d.count) : 0.0, d.count ? v[1] / double(d.count) : 0.0};
}

/// Trains for o.epochs epochs (counting those a resumed checkpoint had done); returns every
/// epoch's figures (global: the same on every rank).
template <class Net, class Opt, class Loss>
std::vector<epoch_metrics> fit(data_parallel<Net, Opt>& dp, const Loss& loss, shard_loader& batches,
                               const data::dataset* test, const fit_options& o = {}) {
    std::size_t first = 0;
    if (o.resume && !o.checkpoint.empty() && dp.exists_on_root(o.checkpoint)) first = dp.load_checkpoint(o.checkpoint).epoch;
    const bool root = dp.rank() == 0;
    std::ofstream csv;
    if (root && !o.metrics_csv.empty()) {
        const bool fresh = first == 0 || !std::filesystem::exists(o.metrics_csv);
        csv.open(o.metrics_csv, fresh ? std::ios::trunc : std::ios::app);
        if (!csv) throw error("ctnn::dist::fit: cannot write " + o.metrics_csv);
        if (fresh) csv << "epoch,train_loss,train_acc,test_acc,seconds,test_loss\n";
    }
    std::vector<epoch_metrics> history;
    for (std::size_t e = first; e < o.epochs; ++e) {
        const auto t0 = std::chrono::steady_clock::now();
        batches.start_epoch(e);
        double loss_sum = 0, correct = 0, seen = 0;
        while (batches.next()) {
            if (o.lr_schedule) dp.optimizer().set_lr(o.lr_schedule(dp.optimizer().steps()));
            const std::size_t g = batches.global_batch_size();
            const step_result r = dp.step(loss, batches.images(), batches.labels(), batches.batch_size(), g);
            loss_sum += double(r.loss) * double(g);
            correct += double(r.correct);
            seen += double(g);
        }
        epoch_metrics m;
        m.epoch = e + 1;
        m.train_loss = seen ? loss_sum / seen : 0;
        m.train_acc = seen ? correct / seen : 0;
        m.test_acc = m.test_loss = std::numeric_limits<double>::quiet_NaN();
        if (test) {
            const evaluation ev = dist::evaluate(dp, *test, o.eval_batch);
            m.test_acc = ev.accuracy;
            m.test_loss = ev.loss;
        }
        m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!o.checkpoint.empty()) dp.save_checkpoint(o.checkpoint, {.epoch = e + 1});
        if (root && o.out)
            *o.out << "epoch " << m.epoch << "/" << o.epochs << ": train loss " << m.train_loss << ", train acc "
                   << m.train_acc * 100 << "%, test acc " << m.test_acc * 100 << "%, " << m.seconds << " s on "
                   << dp.size() << " rank(s) (" << seen / m.seconds << " img/s)" << std::endl;
        if (csv.is_open())
            csv << m.epoch << "," << m.train_loss << "," << m.train_acc << "," << m.test_acc << "," << m.seconds << ","
                << m.test_loss << std::endl;
        history.push_back(m);
    }
    return history;
}

}  // namespace ctnn::dist
