// An in-memory image data set: float pixels in NCHW order (one sample after another), int32 labels.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"

namespace ctnn::data {

/// Images as float, NCHW per sample, batch-major; labels as int32.
/// Invariant (see check()): images.size() == count * sample_size(), labels.size() == count.
struct dataset {
    std::vector<float> images;         // count * channels*height*width
    std::vector<std::int32_t> labels;  // count
    std::size_t count = 0, channels = 0, height = 0, width = 0;
    std::size_t classes = 0;           // number of classes (10 for MNIST-like / CIFAR-10)
    /// Optional float targets, target_size per sample (soft labels, a teacher's outputs,
    /// regression targets): count * target_size values; the loader batches them with the images.
    std::vector<float> targets;
    std::size_t target_size = 0;

    std::size_t sample_size() const { return channels * height * width; }
    bool empty() const { return count == 0; }

    /// Pixels of sample i ([channels, height, width]). Throws ctnn::error when i >= count.
    const float* image(std::size_t i) const {
        if (i >= count)
            throw error("dataset::image: index " + std::to_string(i) + " out of range (count " +
                        std::to_string(count) + ")");
        return images.data() + i * sample_size();
    }
    std::int32_t label(std::size_t i) const {
        if (i >= count)
            throw error("dataset::label: index " + std::to_string(i) + " out of range (count " +
                        std::to_string(count) + ")");
        return labels[i];
    }

    /// Throws ctnn::error if the sizes disagree (or overflow) or a label is outside [0, classes).
    void check() const {
        const std::size_t max = std::numeric_limits<std::size_t>::max();
        const bool overflow = (height && channels > max / height) || (width && channels * height > max / width) ||
                              (count && sample_size() > max / count);
        if (overflow)
            throw error("dataset: " + std::to_string(count) + " samples of " + std::to_string(channels) + "x" +
                        std::to_string(height) + "x" + std::to_string(width) + " overflow the size of memory");
        if (images.size() != count * sample_size() || labels.size() != count)
            throw error("dataset: inconsistent sizes (count " + std::to_string(count) + ", " +
                        std::to_string(images.size()) + " floats for samples of " +
                        std::to_string(sample_size()) + ", " + std::to_string(labels.size()) +
                        " labels)");
        if ((target_size && count > max / target_size) || targets.size() != count * target_size)
            throw error("dataset: " + std::to_string(targets.size()) + " float targets for " + std::to_string(count) +
                        " samples of " + std::to_string(target_size) + " targets each");
        for (std::size_t i = 0; i < count; ++i)
            if (labels[i] < 0 || (classes && static_cast<std::size_t>(labels[i]) >= classes))
                throw error("dataset: label " + std::to_string(labels[i]) + " of sample " +
                            std::to_string(i) + " is outside [0, " + std::to_string(classes) + ")");
    }

    /// Number of samples of each class (size classes; labels outside [0, classes) are not counted).
    std::vector<std::size_t> class_counts() const {
        std::vector<std::size_t> n(classes, 0);
        for (auto l : labels)
            if (l >= 0 && static_cast<std::size_t>(l) < classes) ++n[static_cast<std::size_t>(l)];
        return n;
    }

    /// A copy of the selected samples, in the order given (indices may repeat).
    dataset subset(std::vector<std::size_t> idx) const {
        dataset out = empty_like();
        const std::size_t s = sample_size();
        for (std::size_t i : idx)
            if (i >= count)
                throw error("dataset::subset: index " + std::to_string(i) + " out of range (count " +
                            std::to_string(count) + ")");
        out.count = idx.size();
        out.images.resize(out.count * s);
        out.labels.resize(out.count);
        out.targets.resize(out.count * target_size);
        for (std::size_t k = 0; k < idx.size(); ++k) {
            const float* src = images.data() + idx[k] * s;
            std::copy(src, src + s, out.images.data() + k * s);
            out.labels[k] = labels[idx[k]];
            std::copy_n(targets.data() + idx[k] * target_size, target_size, out.targets.data() + k * target_size);
        }
        return out;
    }

    /// The samples whose label is in [lo, hi], in their original order. With relabel, labels
    /// become label - lo (0 .. hi-lo) and classes becomes hi-lo+1; otherwise both are kept.
    dataset filter_classes(std::int32_t lo, std::int32_t hi, bool relabel) const {
        if (lo > hi || lo < 0)
            throw error("dataset::filter_classes: bad class range [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
        std::vector<std::size_t> idx;
        for (std::size_t i = 0; i < count; ++i)
            if (labels[i] >= lo && labels[i] <= hi) idx.push_back(i);
        dataset out = subset(std::move(idx));
        if (relabel) {
            for (auto& l : out.labels) l -= lo;
            out.classes = static_cast<std::size_t>(hi - lo) + 1;
        }
        return out;
    }

private:
    dataset empty_like() const {
        dataset d;
        d.channels = channels;
        d.height = height;
        d.width = width;
        d.classes = classes;
        d.target_size = target_size;
        return d;
    }
};

/// Per-channel normalization in place: x = (x - mean[c]) / stddev[c]. mean and stddev have one
/// entry per channel, or a single entry used for every channel. Throws ctnn::error on a size
/// mismatch or a standard deviation that is not positive.
inline void normalize(dataset& d, const std::vector<float>& mean, const std::vector<float>& stddev) {
    const std::size_t c = d.channels;
    auto bad_size = [&](const char* what, std::size_t n) {
        return error(std::string("normalize: ") + what + " has " + std::to_string(n) +
                     " entries but the data set has " + std::to_string(c) + " channels");
    };
    if (mean.size() != c && mean.size() != 1) throw bad_size("mean", mean.size());
    if (stddev.size() != c && stddev.size() != 1) throw bad_size("stddev", stddev.size());
    for (float s : stddev)
        if (!(s > 0.0f)) throw error("normalize: standard deviation " + std::to_string(s) + " is not positive");
    if (d.images.size() != d.count * d.sample_size()) d.check();  // throws with the details
    const std::size_t plane = d.height * d.width;
    for (std::size_t n = 0; n < d.count; ++n)
        for (std::size_t ch = 0; ch < c; ++ch) {
            const float m = mean.size() == 1 ? mean[0] : mean[ch];
            const float inv = 1.0f / (stddev.size() == 1 ? stddev[0] : stddev[ch]);
            float* p = d.images.data() + (n * c + ch) * plane;
            for (std::size_t k = 0; k < plane; ++k) p[k] = (p[k] - m) * inv;
        }
}

/// Per-channel mean and (population) standard deviation over the whole data set, in double.
inline std::pair<std::vector<float>, std::vector<float>> channel_stats(const dataset& d) {
    const std::size_t c = d.channels, plane = d.height * d.width;
    std::vector<double> sum(c, 0.0), sq(c, 0.0);
    for (std::size_t n = 0; n < d.count; ++n)
        for (std::size_t ch = 0; ch < c; ++ch) {
            const float* p = d.images.data() + (n * c + ch) * plane;
            for (std::size_t k = 0; k < plane; ++k) {
                sum[ch] += p[k];
                sq[ch] += static_cast<double>(p[k]) * p[k];
            }
        }
    std::vector<float> mean(c), sd(c);
    const double m = static_cast<double>(d.count) * static_cast<double>(plane);
    for (std::size_t ch = 0; ch < c; ++ch) {
        const double mu = m > 0 ? sum[ch] / m : 0.0;
        const double var = m > 0 ? sq[ch] / m - mu * mu : 0.0;
        mean[ch] = static_cast<float>(mu);
        sd[ch] = static_cast<float>(var > 0 ? std::sqrt(var) : 0.0);
    }
    return {mean, sd};
}

}  // namespace ctnn::data
