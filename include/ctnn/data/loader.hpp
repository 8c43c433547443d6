// Mini-batches from a dataset: seeded shuffling, batching and image augmentation.
//
// Deterministic: the order of epoch e depends only on (seed, e), and the augmentation of the
// sample at position p of epoch e only on (seed, e, p), never on the batch size or on what was
// read before, so the same seed gives the same batches on every machine.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <numeric>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../memory.hpp"
#include "../random.hpp"
#include "dataset.hpp"

namespace ctnn::data {

/// Image augmentation applied to every sample the loader hands out.
struct augment {
    std::size_t pad_crop = 0;  // pad every side with `fill`, then crop back to H x W at a random offset
    bool hflip = false;        // mirror left-right with probability 1/2 (after the crop)
    float fill = 0.0f;         // value of padded pixels (after normalize, 0 is the mean)
};

/// Hands out a dataset in batches: images [batch_size(), C, H, W], labels [batch_size()] and, when
/// the dataset has float targets, targets [batch_size(), target_size].
///
///     loader train(ds, 64, seed, true, {.pad_crop = 4, .hflip = true});
///     for (std::size_t e = 0; e < epochs; ++e) {
///         train.start_epoch(e);
///         while (train.next()) step(train.images(), train.labels(), train.batch_size());
///     }
///
/// next() returns false once the epoch is used up; calling it again then starts epoch()+1.
/// The dataset must outlive the loader (a temporary is rejected at compile time). Changing its
/// pixels in place (normalize) is fine at any time; a change of size takes effect at start_epoch.
class loader {
public:
    loader(const dataset& d, std::size_t batch, std::uint64_t seed, bool shuffle = true, augment aug = {},
           bool drop_last = false)
        : d_(&d), batch_(batch), seed_(seed), shuffle_(shuffle), drop_last_(drop_last), aug_(aug) {
        if (batch == 0) throw error("loader: batch size must be at least 1");
        d.check();
        if (aug.pad_crop || aug.hflip) {
            if (d.height == 0 || d.width == 0) throw error("loader: augmentation needs images with a size");
        }
        // A header can declare images far larger than any sample it holds (an IDX file of 0
        // images of 4294967295 x 4294967295): refuse the batch buffer by size, not by bad_alloc.
        const std::size_t s = d.sample_size();
        if (s && batch > (std::size_t{1} << 40) / (s * sizeof(float)))
            throw error("loader: a batch of " + std::to_string(batch) + " samples of " + std::to_string(s) +
                        " floats is larger than 1 TiB");
        try {
            images_ = aligned_floats(batch * s);
            labels_.resize(batch);
            targets_.resize(batch * d.target_size);
            indices_.resize(batch);
            order_.resize(d.count);
        } catch (const std::bad_alloc&) {
            throw error("loader: out of memory for a batch of " + std::to_string(batch) + " samples of " +
                        std::to_string(s) + " floats");
        }
        start_epoch(0);
    }
    loader(dataset&&, std::size_t, std::uint64_t, bool = true, augment = {}, bool = false) = delete;

    /// Starts epoch `epoch`: a fresh order from (seed, epoch) (identity without shuffle).
    void start_epoch(std::size_t epoch) {
        if (d_->count != order_.size() || d_->sample_size() * batch_ != images_.size()) {
            d_->check();  // the data set was changed since the last epoch: adopt its new size
            images_ = aligned_floats(batch_ * d_->sample_size());
            order_.resize(d_->count);
        }
        if (targets_.size() != batch_ * d_->target_size) {
            d_->check();
            targets_.resize(batch_ * d_->target_size);
        }
        epoch_ = epoch;
        std::iota(order_.begin(), order_.end(), std::size_t{0});
        if (shuffle_ && order_.size() > 1) {
            rng r(mix(mix(seed_, 0x5348554646ull), epoch));  // "SHUFF"
            for (std::size_t i = order_.size() - 1; i > 0; --i)
                std::swap(order_[i], order_[static_cast<std::size_t>(r.below(i + 1))]);
        }
        reset();
    }

    /// Goes back to the first batch of the current epoch (same order, same augmentation).
    void reset() {
        pos_ = 0;
        batch_index_ = 0;
        cur_ = 0;
        done_ = false;
    }

    /// Fills the next batch. Returns false (and an empty batch) at the end of the epoch; the call
    /// after that starts the next epoch.
    bool next() {
        if (done_) start_epoch(epoch_ + 1);
        if (d_->count != order_.size() || d_->sample_size() * batch_ != images_.size() ||
            d_->target_size * batch_ != targets_.size() || d_->targets.size() != d_->count * d_->target_size)
            throw error("loader: the data set changed size during an epoch (call start_epoch)");
        const std::size_t left = order_.size() - pos_;
        if (left == 0 || (drop_last_ && left < batch_)) {
            done_ = true;
            cur_ = 0;
            return false;
        }
        if (cur_ != 0) ++batch_index_;
        cur_ = std::min(batch_, left);
        const std::size_t s = d_->sample_size();
        for (std::size_t k = 0; k < cur_; ++k) {
            const std::size_t i = order_[pos_ + k];
            indices_[k] = i;
            labels_[k] = d_->labels[i];
            const std::size_t t = d_->target_size;
            if (t) std::memcpy(targets_.data() + k * t, d_->targets.data() + i * t, t * sizeof(float));
            const float* src = d_->images.data() + i * s;
            float* dst = images_.data() + k * s;
            if (aug_.pad_crop || aug_.hflip)
                augment_one(src, dst, pos_ + k);
            else if (s)
                std::memcpy(dst, src, s * sizeof(float));
        }
        pos_ += cur_;
        return true;
    }

    const float* images() const { return images_.data(); }         // [batch_size(), C, H, W]
    const std::int32_t* labels() const { return labels_.data(); }  // [batch_size()]
    /// [batch_size(), data().target_size], or null when the dataset has no float targets.
    const float* targets() const { return targets_.empty() ? nullptr : targets_.data(); }
    const std::size_t* indices() const { return indices_.data(); } // dataset index of each sample
    std::size_t batch_size() const { return cur_; }                 // current batch (0 before next())
    std::size_t max_batch() const { return batch_; }                // the batch size asked for
    std::size_t batches_per_epoch() const {
        const std::size_t n = d_->count;
        return drop_last_ ? n / batch_ : (n + batch_ - 1) / batch_;
    }
    std::size_t samples_per_epoch() const { return drop_last_ ? n_full() : d_->count; }
    std::size_t epoch() const { return epoch_; }
    std::size_t batch_index() const { return batch_index_; }        // index of the current batch
    const std::vector<std::size_t>& order() const { return order_; } // this epoch's sample order
    const dataset& data() const { return *d_; }
    const augment& augmentation() const { return aug_; }

    /// The seed of sample position `pos` of epoch `epoch` (exposed for tests).
    std::uint64_t augment_seed(std::size_t epoch, std::size_t pos) const {
        return mix(mix(mix(seed_, 0x4155474dull), epoch), pos);  // "AUGM"
    }

    /// Applies the augmentation of (rng r) to one [C, H, W] image: crop offsets dy, dx in
    /// [0, 2*pad] (drawn first when pad_crop > 0), then a flip bit (when hflip).
    /// out(c, y, x) = in(c, y + dy - pad, x' + dx - pad), x' = flip ? W-1-x : x; fill outside.
    static void apply(const augment& a, std::size_t C, std::size_t H, std::size_t W, const float* src,
                      float* dst, rng& r) {
        if ((!src || !dst) && C * H * W != 0) throw error("loader::apply: the image pointer is null");
        const std::size_t p = a.pad_crop;
        std::size_t dy = p, dx = p;
        if (p) {
            dy = static_cast<std::size_t>(r.below(2 * p + 1));
            dx = static_cast<std::size_t>(r.below(2 * p + 1));
        }
        const bool flip = a.hflip && (r.next() >> 63);
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t y = 0; y < H; ++y) {
                float* out = dst + (c * H + y) * W;
                const std::size_t sy = y + dy;  // row in the padded image
                if (sy < p || sy - p >= H) {
                    std::fill(out, out + W, a.fill);
                    continue;
                }
                const float* in = src + (c * H + (sy - p)) * W;
                for (std::size_t x = 0; x < W; ++x) {
                    const std::size_t sx = (flip ? W - 1 - x : x) + dx;  // column in the padded image
                    out[x] = (sx < p || sx - p >= W) ? a.fill : in[sx - p];
                }
            }
    }

private:
    static std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
        rng r(a ^ (b * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull));
        return r.next();
    }
    std::size_t n_full() const { return d_->count / batch_ * batch_; }
    void augment_one(const float* src, float* dst, std::size_t pos) const {
        rng r(augment_seed(epoch_, pos));
        apply(aug_, d_->channels, d_->height, d_->width, src, dst, r);
    }

    const dataset* d_;
    std::size_t batch_;
    std::uint64_t seed_;
    bool shuffle_, drop_last_;
    augment aug_;
    aligned_floats images_;
    std::vector<std::int32_t> labels_;
    std::vector<float> targets_;
    std::vector<std::size_t> indices_;
    std::vector<std::size_t> order_;
    std::size_t epoch_ = 0, pos_ = 0, cur_ = 0, batch_index_ = 0;
    bool done_ = false;
};

}  // namespace ctnn::data
