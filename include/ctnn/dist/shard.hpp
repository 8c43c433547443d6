// ctnn::dist::shard_loader: one rank's share of each global batch.
//
//   ctnn::dist::shard_loader batches(train, 64, rank, ranks, seed, true, {.hflip = true});
//   batches.start_epoch(e);
//   while (batches.next()) dp.step(loss, batches.images(), batches.labels(), batches.batch_size(),
//                                  batches.global_batch_size());
//
// The global batches are exactly data::loader's at batch `per_rank * ranks` with the same seed
// (one shuffled order per epoch from (seed, epoch); the augmentation of each sample from (seed,
// epoch, position)), and rank r takes positions [m r / R, m (r + 1) / R) of a global batch of m
// samples: per_rank each for a full batch, shares differing by at most one in an epoch's short
// last batch (a rank may get none; data_parallel::step takes n_local 0). So N ranks at batch B
// see the batches one process sees at batch N B, and every rank assembles only its own samples.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../data/loader.hpp"
#include "../error.hpp"
#include "../random.hpp"

namespace ctnn::dist {

class shard_loader {
public:
    shard_loader(const data::dataset& d, std::size_t per_rank, int rank, int ranks, std::uint64_t seed, bool shuffle = true,
                 data::augment aug = {}, bool drop_last = false)
        : d_(&d), order_(d, 1, seed, shuffle, aug), per_rank_(per_rank), rank_(static_cast<std::size_t>(rank)),
          ranks_(static_cast<std::size_t>(ranks)), drop_last_(drop_last), aug_(aug) {
        if (per_rank == 0) throw error("ctnn::dist::shard_loader: batch size must be at least 1");
        if (ranks <= 0 || rank < 0 || rank >= ranks)
            throw error("ctnn::dist::shard_loader: rank " + std::to_string(rank) + " of " + std::to_string(ranks));
        images_ = aligned_floats(per_rank * d.sample_size() + 1);
        labels_.resize(per_rank);
        targets_.resize(per_rank * d.target_size);
        start_epoch(0);
    }
    shard_loader(data::dataset&&, std::size_t, int, int, std::uint64_t, bool = true, data::augment = {}, bool = false) = delete;

    void start_epoch(std::size_t epoch) {
        order_.start_epoch(epoch);  // (the order only: the inner loader's batch of 1 is never filled)
        pos_ = 0;
        cur_ = 0;
        global_ = 0;
        done_ = false;
    }

    /// The next global batch's share of this rank (possibly 0 samples); false at the epoch's end.
    bool next() {
        if (done_) start_epoch(order_.epoch() + 1);
        const std::size_t count = order_.order().size(), global = per_rank_ * ranks_;
        const std::size_t left = count - pos_;
        if (left == 0 || (drop_last_ && left < global)) {
            done_ = true;
            cur_ = global_ = 0;
            return false;
        }
        global_ = std::min(global, left);
        const std::size_t begin = pos_ + global_ * rank_ / ranks_, end = pos_ + global_ * (rank_ + 1) / ranks_;
        cur_ = end - begin;
        const std::size_t s = d_->sample_size(), t = d_->target_size;
        for (std::size_t k = 0; k < cur_; ++k) {
            const std::size_t p = begin + k, i = order_.order()[p];
            labels_[k] = d_->labels[i];
            if (t) std::memcpy(targets_.data() + k * t, d_->targets.data() + i * t, t * sizeof(float));
            const float* src = d_->images.data() + i * s;
            if (aug_.pad_crop || aug_.hflip) {
                rng r(order_.augment_seed(order_.epoch(), p));
                data::loader::apply(aug_, d_->channels, d_->height, d_->width, src, images_.data() + k * s, r);
            } else if (s) {
                std::memcpy(images_.data() + k * s, src, s * sizeof(float));
            }
        }
        pos_ += global_;
        return true;
    }

    const float* images() const { return images_.data(); }
    const std::int32_t* labels() const { return labels_.data(); }
    const float* targets() const { return targets_.empty() ? nullptr : targets_.data(); }
    std::size_t batch_size() const { return cur_; }            // this rank's share of the current batch
    std::size_t global_batch_size() const { return global_; }  // the current global batch
    std::size_t max_batch() const { return per_rank_; }
    std::size_t batches_per_epoch() const {
        const std::size_t n = order_.order().size(), g = per_rank_ * ranks_;
        return drop_last_ ? n / g : (n + g - 1) / g;
    }
    std::size_t epoch() const { return order_.epoch(); }
    const data::dataset& data() const { return *d_; }

private:
    const data::dataset* d_;
    data::loader order_;  // the shuffled order and augmentation seeds of data::loader
    std::size_t per_rank_, rank_, ranks_;
    bool drop_last_;
    data::augment aug_;
    aligned_floats images_;
    std::vector<std::int32_t> labels_;
    std::vector<float> targets_;
    std::size_t pos_ = 0, cur_ = 0, global_ = 0;
    bool done_ = false;
};

}  // namespace ctnn::dist
