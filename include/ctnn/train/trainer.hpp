// The trainer: epochs of train_step over a data::loader, a progress display, per-epoch train
// loss / accuracy and test accuracy, a metrics CSV, checkpoints and resume.
//
//   ctnn::data::loader train(train_set, 64, seed, true, {.hflip = true});
//   ctnn::fit_options o{.epochs = 12, .metrics_csv = "metrics.csv", .checkpoint = "net.ckpt"};
//   auto history = ctnn::fit(net, opt, ctnn::CrossEntropy{}, train, &test_set, o);
//
// Output: on a terminal, a progress bar redrawn in place (images/s, time left, running loss);
// otherwise (a pipe, a file, CI) one plain line per epoch. Either way, one summary line per epoch.
// Reproducible: the loader's order and augmentation depend only on (seed, epoch), the net's
// Dropout generator is saved in checkpoints, so 2 epochs straight and 1 + resume + 1 are equal.
#pragma once
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "../backend.hpp"
#include "../data.hpp"
#include "../error.hpp"
#include "../io/atomic_file.hpp"
#include "checkpoint.hpp"
#include "loss.hpp"
#include "schedule.hpp"
#include "train_step.hpp"

namespace ctnn {

/// One epoch's figures (accuracies as fractions in [0, 1]; test_acc and test_loss are NaN without
/// a test set; test_loss is the mean cross-entropy of the net's outputs taken as logits).
struct epoch_metrics {
    std::size_t epoch = 0;  // 1-based
    double train_loss = 0, train_acc = 0, test_acc = 0, seconds = 0, test_loss = 0;
};

/// How fit() shows progress.
enum class progress_mode { automatic, bar, lines, none };

struct fit_options {
    std::size_t epochs = 10;
    std::string metrics_csv;          // "epoch,train_loss,train_acc,test_acc,seconds,test_loss"; empty: none
    std::string checkpoint;           // written (atomically) after every epoch; empty: none
    bool resume = false;              // continue from `checkpoint` if that file exists
    schedule lr_schedule;             // learning rate at each optimizer step; empty: keep opt's
    progress_mode progress = progress_mode::automatic;  // automatic: a bar only on a terminal
    std::ostream* out = &std::cout;
    std::size_t eval_batch = 256;
    std::function<void(const epoch_metrics&)> on_epoch;  // called after each epoch
    std::size_t patience = 0;         // early stopping: stop after this many epochs without a better
                                      // test accuracy (0: never; needs a test set)
    std::string best_checkpoint;      // written (atomically) whenever the test accuracy is the best so far
    std::string step_log;             // "step,epoch,loss,lr" for every optimizer step; empty: none
};

/// Test-time augmentation for evaluate(): none, or the mean of the net's outputs for the image
/// and its left-right mirror (what the `hflip` augmentation trains for). Costs a second forward.
enum class tta { none, hflip };

/// Accuracy and mean cross-entropy (the outputs taken as logits) of a net on a data set.
struct evaluation {
    double accuracy = 0, loss = 0;
};

namespace detail {

/// What evaluate_full and dist::evaluate (dist/fit.hpp) divide by the sample count.
struct evaluation_sums {
    double correct = 0, loss = 0;  // samples whose argmax is the label; sum of their cross-entropies
};

/// The one evaluation loop: samples [begin, end) of d in batches of `batch` (0 counts as 1)
/// through net.forward<Backend> (with aug, the outputs averaged with the mirror image's), summed.
/// dist::evaluate runs it on each rank's share and sums over the ranks.
template <class Backend, class Net>
evaluation_sums evaluate_range(Net& net, const data::dataset& d, std::size_t begin, std::size_t end, std::size_t batch,
                               tta aug) {
    if (d.sample_size() != Net::input_size)
        throw error("ctnn::evaluate: the data set's samples have " + std::to_string(d.sample_size()) +
                    " values but the net's input has " + std::to_string(Net::input_size));
    batch = std::max<std::size_t>(batch, 1);
    constexpr std::size_t k = Net::output_size, s = Net::input_size;
    const bool flip = aug == tta::hflip;
    std::vector<float> out(batch * k), out_flip(flip ? batch * k : 0), mirrored(flip ? batch * s : 0);
    std::size_t correct = 0;
    double loss = 0;
    for (std::size_t i = begin; i < end; i += batch) {
        const std::size_t n = std::min(batch, end - i);
        const float* x = d.images.data() + i * s;
        net.template forward<Backend>(x, out.data(), n);
        if (flip) {
            // Every row of every channel, mirrored; a flat (rank-1) input is one row.
            constexpr auto in = Net::input_shape::value;
            constexpr std::size_t w = in.d[in.rank - 1];
            const std::size_t rows = n * s / w;
            for (std::size_t r = 0; r < rows; ++r) std::reverse_copy(x + r * w, x + (r + 1) * w, mirrored.data() + r * w);
            net.template forward<Backend>(mirrored.data(), out_flip.data(), n);
            for (std::size_t j = 0; j < n * k; ++j) out[j] = 0.5f * (out[j] + out_flip[j]);
        }
        for (std::size_t j = 0; j < n; ++j) correct += argmax(out.data() + j * k, k) == static_cast<std::size_t>(d.labels[i + j]);
        loss += static_cast<double>(CrossEntropy{}(out.data(), d.labels.data() + i, n, k, nullptr)) * static_cast<double>(n);
    }
    return {static_cast<double>(correct), loss};
}

}  // namespace detail

/// evaluate() (below), with the mean cross-entropy of the (averaged) outputs as well.
template <class Backend = void, class Net>
evaluation evaluate_full(Net& net, const data::dataset& d, std::size_t batch = 256, tta aug = tta::none) {
    const detail::evaluation_sums sums = detail::evaluate_range<Backend>(net, d, 0, d.count, batch, aug);
    if (d.count == 0) return {std::nan(""), std::nan("")};
    return {sums.correct / static_cast<double>(d.count), sums.loss / static_cast<double>(d.count)};
}

/// Fraction of `d`'s samples whose argmax of net.forward (inference mode) equals the label; with
/// tta::hflip, the argmax of the mean of the outputs for the sample and its mirror image.
template <class Backend = void, class Net>
double evaluate(Net& net, const data::dataset& d, std::size_t batch = 256, tta aug = tta::none) {
    return evaluate_full<Backend>(net, d, batch, aug).accuracy;
}

namespace detail {

inline std::string format_duration(double s) {
    if (!(s >= 0) || !std::isfinite(s)) return "--:--";
    const long t = std::lround(s);
    char b[32];
    if (t >= 3600) std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(b, sizeof b, "%ld:%02ld", t / 60, t % 60);
    return b;
}

inline std::string percent(double f) {
    if (std::isnan(f)) return "  n/a ";
    char b[16];
    std::snprintf(b, sizeof b, "%.2f%%", 100.0 * f);
    return b;
}

}  // namespace detail

namespace detail {

/// One line of the progress bar: epoch e's `seen` of `per_epoch` samples, t0 its start.
inline void draw_progress(std::ostream& out, std::size_t e, std::size_t epochs, std::size_t seen, std::size_t per_epoch,
                          std::chrono::steady_clock::time_point t0, double mean_loss) {
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double ips = el > 0 ? static_cast<double>(seen) / el : 0;
    const double left = ips > 0 ? (static_cast<double>(per_epoch - seen) +
                                   static_cast<double>(epochs - e - 1) * static_cast<double>(per_epoch)) / ips
                                : std::nan("");
    constexpr int width = 24;
    const int filled = static_cast<int>(width * static_cast<double>(seen) / static_cast<double>(per_epoch));
    char line[200];
    std::snprintf(line, sizeof line, "\r\033[Kepoch %zu/%zu [%s%s] %zu/%zu  %.0f img/s  left %s  loss %.4f", e + 1, epochs,
                  std::string(static_cast<std::size_t>(filled), '#').c_str(),
                  std::string(static_cast<std::size_t>(width - filled), '.').c_str(), seen, per_epoch, ips,
                  format_duration(left).c_str(), mean_loss);
    out << line << std::flush;
}

/// Whether `path` exists; a path that cannot be examined (EACCES: a folder without permission)
/// throws ctnn::error with the reason rather than passing for missing.
inline bool file_exists(const std::string& path, std::string_view what) {
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (st.type() == std::filesystem::file_type::not_found) return false;
    if (ec) throw error(path + ": cannot examine the " + std::string(what) + ": " + ec.message());
    return true;
}

/// Throws ctnn::error naming `path` unless a file can be written there the way the atomic writer
/// writes it: the path is not a directory and its directory takes a new file (probed by creating
/// and removing an exclusive temporary file). So fit fails before its first step, not an epoch
/// later, when the checkpoint cannot be saved.
inline void check_writable(const std::string& path, std::string_view what) {
    const std::string head = path + ": cannot write the " + std::string(what) + " there: ";
    if (file_exists(path, what) && std::filesystem::is_directory(path)) throw error(head + "it is a directory");
#ifdef CTNN_POSIX_FILES
    const std::string probe = temporary_name(path, static_cast<std::uint64_t>(::getpid()) ^ 0x70726f6265ull);
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) throw error(head + "cannot create a file in its directory (" + std::strerror(errno) + ")");
    ::close(fd);
    ::unlink(probe.c_str());
#endif
}

/// The metrics file, opened for appending when a resumed run continues it, else written anew.
inline void open_metrics(std::ofstream& csv, const std::string& path, bool resumed) {
    const bool append = resumed && file_exists(path, "metrics file");
    errno = 0;
    csv.open(path, append ? std::ios::app : std::ios::trunc);
    if (!csv)
        throw error(path + ": cannot open the metrics file for writing (" +
                    (errno ? std::strerror(errno) : "reason unknown") + ")");
    if (!append) csv << "epoch,train_loss,train_acc,test_acc,seconds,test_loss\n";
    csv.flush();
}

/// The step log (fit_options::step_log), appended to when a resumed run continues it.
inline void open_step_log(std::ofstream& log, const std::string& path, bool resumed) {
    const bool append = resumed && file_exists(path, "step log");
    errno = 0;
    log.open(path, append ? std::ios::app : std::ios::trunc);
    if (!log) throw error(path + ": cannot open the step log for writing (" + (errno ? std::strerror(errno) : "reason unknown") + ")");
    if (!append) log << "step,epoch,loss,lr\n";
}

/// Early stopping and the best model (fit_options::patience, best_checkpoint): whether to stop
/// after epoch m. The best test accuracy counts from the start of this fit call.
template <class Net, class Opt>
bool note_best(const epoch_metrics& m, const fit_options& o, Net& net, Opt& opt, double& best, std::size_t& since) {
    if (std::isnan(m.test_acc)) return false;
    if (std::isnan(best) || m.test_acc > best) {
        best = m.test_acc;
        since = 0;
        if (!o.best_checkpoint.empty()) save_checkpoint(o.best_checkpoint, net, opt, {.epoch = m.epoch});
        return false;
    }
    return o.patience > 0 && ++since >= o.patience;
}

/// The targets a loss with targets of type T trains on: the loader's labels, or its float targets.
template <class T, class Loader>
const T* batch_targets(const Loader& train) {
    if constexpr (std::is_same_v<T, std::int32_t>) return train.labels();
    else return train.targets();
}

/// Epoch e's training steps, each with the loss loss_for(images, n) gives for its batch (fit: the
/// same loss; distill: the distillation loss bound to the teacher's outputs for the batch): the
/// mean loss and (for class labels) accuracy go into m (train_loss, train_acc).
template <class Backend, class Net, class Opt, class LossFor, class Loader>
void train_epoch(Net& net, Opt& opt, LossFor&& loss_for, Loader& train, const fit_options& o, bool bar, std::size_t e,
                 epoch_metrics& m, std::size_t& seen, std::ofstream* step_log = nullptr) {
    const auto t0 = std::chrono::steady_clock::now();
    auto last_draw = t0;
    const std::size_t per_epoch = train.samples_per_epoch(), batches = train.batches_per_epoch();
    train.start_epoch(e);
    double loss_sum = 0;
    std::size_t correct = 0, step = 0;
    seen = 0;
    bool labels = true;
    while (train.next()) {
        const std::size_t n = train.batch_size();
        if (o.lr_schedule) opt.set_lr(o.lr_schedule(static_cast<std::size_t>(opt.steps())));
        step_result r;
        try {
            const auto& loss = loss_for(train.images(), n);
            using T = typename std::decay_t<decltype(loss)>::target_type;
            labels = std::is_same_v<T, std::int32_t>;
            r = train_step_result<Backend>(net, opt, loss, train.images(), batch_targets<T>(train), n);
        } catch (const error& x) {
            if (bar) *o.out << "\n";
            throw error("training stopped at epoch " + std::to_string(e + 1) + ", step " + std::to_string(step + 1) +
                        " of " + std::to_string(batches) + ": " + x.what());
        }
        ++step;
        if (step_log) *step_log << opt.steps() << "," << e + 1 << "," << std::setprecision(7) << r.loss << "," << opt.lr() << "\n";
        loss_sum += static_cast<double>(r.loss) * static_cast<double>(n);
        correct += r.correct;
        seen += n;
        const auto now = std::chrono::steady_clock::now();
        if (bar && (now - last_draw > std::chrono::milliseconds(100) || seen == per_epoch)) {
            last_draw = now;
            draw_progress(*o.out, e, o.epochs, seen, per_epoch, t0, loss_sum / static_cast<double>(seen));
        }
    }
    m.train_loss = seen ? loss_sum / static_cast<double>(seen) : std::nan("");
    m.train_acc = seen && labels ? static_cast<double>(correct) / static_cast<double>(seen) : std::nan("");
}

inline void report_epoch(const epoch_metrics& m, const fit_options& o, bool bar, std::size_t seen) {
    char line[200];
    std::snprintf(line, sizeof line, "epoch %zu/%zu  train loss %.4f  train acc %s  test acc %s  %.1f s (%.0f img/s)", m.epoch,
                  o.epochs, m.train_loss, percent(m.train_acc).c_str(), percent(m.test_acc).c_str(), m.seconds,
                  m.seconds > 0 ? static_cast<double>(seen) / m.seconds : 0.0);
    *o.out << (bar ? "\r\033[K" : "") << line << "\n" << std::flush;
}

}  // namespace detail

namespace detail {

/// fit's loop, with the loss of each batch from loss_for (train_epoch). `Targets` is the type of
/// the losses' targets: int32 class labels, or float targets of the net's output size.
template <class Backend, class Targets, class Net, class Opt, class LossFor, class Loader>
std::vector<epoch_metrics> fit_with(Net& net, Opt& opt, LossFor&& loss_for, Loader& train, const data::dataset* test,
                                    const fit_options& o) {
    if (train.data().sample_size() != Net::input_size)
        throw error("ctnn::fit: the training set's samples have " + std::to_string(train.data().sample_size()) +
                    " values but the net's input has " + std::to_string(Net::input_size));
    if constexpr (!std::is_same_v<Targets, std::int32_t>)
        if (train.data().target_size != Net::output_size)
            throw error("ctnn::fit: the loss trains on float targets, but the training set has " +
                        std::to_string(train.data().target_size) + " per sample (dataset::targets) and the net " +
                        std::to_string(Net::output_size) + " outputs");
    const bool bar = o.progress == progress_mode::bar ||
                     (o.progress == progress_mode::automatic && o.out == &std::cout && ::isatty(STDOUT_FILENO));
    const bool quiet = o.progress == progress_mode::none;
    // Everything that can be checked is checked before the first step, not after an epoch.
    if (test && test->sample_size() != Net::input_size)
        throw error("ctnn::fit: the test set's samples have " + std::to_string(test->sample_size()) +
                    " values but the net's input has " + std::to_string(Net::input_size));
    if (test) test->check();
    if (!o.checkpoint.empty()) detail::check_writable(o.checkpoint, "checkpoint");
    if (!o.best_checkpoint.empty()) detail::check_writable(o.best_checkpoint, "best checkpoint");
    if ((o.patience || !o.best_checkpoint.empty()) && !test)
        throw error("ctnn::fit: early stopping and the best checkpoint need a test (validation) set");

    std::size_t first_epoch = 0;
    if (o.resume && !o.checkpoint.empty() && detail::file_exists(o.checkpoint, "checkpoint")) {
        const checkpoint_info info = load_checkpoint(o.checkpoint, net, opt);
        first_epoch = static_cast<std::size_t>(info.epoch);
        if (!quiet) *o.out << "resumed from " << o.checkpoint << " after epoch " << first_epoch << "\n";
    }
    std::ofstream csv, steps;
    if (!o.metrics_csv.empty()) detail::open_metrics(csv, o.metrics_csv, first_epoch > 0);
    if (!o.step_log.empty()) detail::open_step_log(steps, o.step_log, first_epoch > 0);

    std::vector<epoch_metrics> history;
    double best = std::nan("");
    std::size_t since_best = 0;
    for (std::size_t e = first_epoch; e < o.epochs; ++e) {
        const auto t0 = std::chrono::steady_clock::now();
        epoch_metrics m;
        m.epoch = e + 1;
        std::size_t seen = 0;
        detail::train_epoch<Backend>(net, opt, loss_for, train, o, bar, e, m, seen, steps.is_open() ? &steps : nullptr);
        const evaluation v = test ? evaluate_full<Backend>(net, *test, o.eval_batch) : evaluation{std::nan(""), std::nan("")};
        m.test_acc = v.accuracy;
        m.test_loss = v.loss;
        m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        history.push_back(m);
        if (!o.checkpoint.empty()) save_checkpoint(o.checkpoint, net, opt, {.epoch = e + 1});
        if (steps.is_open()) steps.flush();
        if (csv.is_open()) {
            csv << m.epoch << "," << std::setprecision(6) << m.train_loss << "," << m.train_acc << "," << m.test_acc << ","
                << std::setprecision(4) << m.seconds << "," << std::setprecision(6) << m.test_loss << "\n";
            csv.flush();
        }
        if (!quiet) detail::report_epoch(m, o, bar, seen);
        if (o.on_epoch) o.on_epoch(m);
        if (detail::note_best(m, o, net, opt, best, since_best)) {
            if (!quiet) *o.out << "early stop: no better test accuracy in " << o.patience << " epochs\n";
            break;
        }
    }
    return history;
}

}  // namespace detail

/// Trains `net` with `opt` and `loss` for o.epochs epochs of `train` (epoch e uses
/// train.start_epoch(e)), evaluating on `test` (may be null) after each epoch. Returns the
/// metrics of the epochs it ran. A NaN or infinite loss, or a bad label, throws ctnn::error
/// naming the epoch and step. A loss on class labels (CrossEntropy) trains on the loader's
/// labels; a loss on float targets (SoftCrossEntropy, MSE, BCEWithLogits) on its targets()
/// (dataset::targets, the net's output size per sample; train_acc is then NaN). `train` is a
/// data::loader, or anything with its batch interface (continual::replay_loader).
template <class Backend = void, class Net, class Opt, class Loss, class Loader>
std::vector<epoch_metrics> fit(Net& net, Opt& opt, const Loss& loss, Loader& train, const data::dataset* test,
                               const fit_options& o) {
    return detail::fit_with<Backend, typename Loss::target_type>(
        net, opt, [&](const float*, std::size_t) -> const Loss& { return loss; }, train, test, o);
}

}  // namespace ctnn
