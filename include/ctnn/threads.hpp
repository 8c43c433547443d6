// Threads: a small persistent pool that the cpu backend's kernels use to split work.
//
//   ctnn::set_num_threads(2);     // or the environment variable CTNN_NUM_THREADS=2
//   ctnn::num_threads();          // default: every core (std::thread::hardware_concurrency)
//
// Work is split statically: task t of T always covers the same range, and the cpu kernels reduce
// per-task partial sums (convolution weight gradients) in task order. So for a fixed thread count
// results are bit-reproducible, and they depend on the count only through float reassociation.
// A parallel_for called inside another one, or while another user thread holds the pool, runs
// its tasks one after another on the calling thread (same partition, same results).
//
// Each thread also owns a scratch arena: detail::work_scratch() for kernels on the executing
// thread, detail::shared_scratch() on the thread that called parallel_for (for per-task partials
// every task writes into), and detail::tile_scratch() for a host inference's activations in
// flight. A net reserves them on the calling thread and the pool's workers before its first
// forward (Sequential::warm_up), so inference allocates nothing after that on those threads.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cerrno>
#include <cstdint>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "error.hpp"
#include "memory.hpp"

namespace ctnn {

namespace detail {

inline constexpr std::size_t max_threads = 64;

/// The thread count CTNN_NUM_THREADS asks for (`value`, unset or empty: `fallback`). Not a
/// positive decimal integer, or out of long's range, throws ctnn::error; above max_threads it
/// is clamped, and `note` (stderr for the pool) says so, since the user asked for something else.
inline std::size_t threads_from_env(const char* value, std::size_t fallback, std::FILE* note) {
    if (!value || !*value) return fallback;
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(value, &end, 10);
    if (*end || v < 1 || errno == ERANGE || !(*value >= '0' && *value <= '9'))
        throw error("ctnn: CTNN_NUM_THREADS='" + std::string(value) + "' is not a positive integer (1 to " +
                    std::to_string(max_threads) + ")");
    if (static_cast<unsigned long>(v) > max_threads && note)
        std::fprintf(note, "ctnn: CTNN_NUM_THREADS=%ld is more than the %zu threads ctnn uses; using %zu\n", v, max_threads,
                     max_threads);
    return std::min<std::size_t>(static_cast<std::size_t>(v), max_threads);
}

struct scratch_arena {
    aligned_floats work, shared, tiles;
};
inline scratch_arena& arena() {
    thread_local scratch_arena a;
    return a;
}
inline std::atomic<std::size_t>& reserved_work() { static std::atomic<std::size_t> r{0}; return r; }
inline std::atomic<std::size_t>& reserved_tiles() { static std::atomic<std::size_t> r{0}; return r; }
inline bool& inside_parallel() { thread_local bool b = false; return b; }

/// The executing thread's work scratch, at least n floats (grows only if nothing reserved it).
inline float* work_scratch(std::size_t n) {
    aligned_floats& w = arena().work;
    if (w.size() < n) w.reserve(std::max(n, reserved_work().load()));
    return w.data();
}
/// The executing thread's inference tiles, at least n floats.
inline float* tile_scratch(std::size_t n) {
    aligned_floats& w = arena().tiles;
    if (w.size() < n) w.reserve(std::max(n, reserved_tiles().load()));
    return w.data();
}
/// The calling thread's shared scratch (for partials of every task), at least n floats.
inline float* shared_scratch(std::size_t n) {
    aligned_floats& s = arena().shared;
    if (s.size() < n) s.reserve(n);
    return s.data();
}

class thread_pool {
public:
    static thread_pool& instance() {
        static thread_pool p;
        return p;
    }
    std::size_t threads() const { return n_.load(std::memory_order_relaxed); }

    void set_threads(std::size_t n) {
        n = std::clamp<std::size_t>(n, 1, max_threads);
        std::lock_guard<std::mutex> lock(m_);
        stop_workers();
        n_.store(n, std::memory_order_relaxed);
        start_workers();
    }

    /// Runs f(t) for t in [0, tasks); the caller runs task 0. tasks <= threads().
    template <class F>
    void run(std::size_t tasks, F& f) {
        if (tasks <= 1 || inside_parallel() || !m_.try_lock()) {
            for (std::size_t t = 0; t < tasks; ++t) f(t);
            return;
        }
        std::lock_guard<std::mutex> lock(m_, std::adopt_lock);
        const std::size_t used = std::min(tasks, n_.load(std::memory_order_relaxed));
        if (used <= 1) {
            for (std::size_t t = 0; t < tasks; ++t) f(t);
            return;
        }
        // Publish the job as a seqlock: the generation goes odd while the job's fields change and
        // even (release) once they are written; wake the workers only if one sleeps. The fields
        // do not change again before every task of the job has run (the caller waits for them
        // below), and a worker that read them half-changed sees the generation moved.
        // (Release stores keep the odd generation before them; a worker's acquire loads keep its
        // second look at the generation after them.)
        gen_.fetch_add(1, std::memory_order_relaxed);
        fn_.store([](void* c, std::size_t t) { (*static_cast<F*>(c))(t); }, std::memory_order_release);
        ctx_.store(&f, std::memory_order_release);
        tasks_.store(used, std::memory_order_release);
        remaining_.store(used - 1, std::memory_order_relaxed);
        gen_.fetch_add(1, std::memory_order_seq_cst);
        if (sleepers_.load(std::memory_order_seq_cst) > 0) {  // (a worker counts itself before it
            { std::lock_guard<std::mutex> w(wake_m_); }     //  checks the generation: no lost wakeup)
            wake_cv_.notify_all();
        }
        inside_parallel() = true;
        f(0);
        for (std::size_t t = used; t < tasks; ++t) f(t);  // more tasks than threads: the caller's
        inside_parallel() = false;
        for (int spin = 0; remaining_.load(std::memory_order_acquire) != 0; ++spin) {
            if (spin > spin_limit) {
                std::unique_lock<std::mutex> d(done_m_);
                done_cv_.wait(d, [this] { return remaining_.load(std::memory_order_acquire) == 0; });
                break;
            }
        }
    }

    ~thread_pool() {
        std::lock_guard<std::mutex> lock(m_);
        stop_workers();
    }

private:
    thread_pool() {
        const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
        n_.store(std::clamp<std::size_t>(threads_from_env(std::getenv("CTNN_NUM_THREADS"), cores, stderr), 1, max_threads));
        start_workers();
    }
    void start_workers() {
        stop_.store(false, std::memory_order_relaxed);
        const std::uint64_t g = gen_.load(std::memory_order_acquire);  // read here, not in the thread:
        started_.store(0, std::memory_order_relaxed);
        const std::size_t n = n_.load(std::memory_order_relaxed);
        for (std::size_t i = 1; i < n; ++i) workers_.emplace_back([this, i, g] { worker(i, g); });  // no lost job
        // Each worker reserves its scratch when it starts: wait for that here, so that nothing a
        // new worker allocates lands in a later forward (which promises no allocation).
        while (started_.load(std::memory_order_acquire) + 1 < n) std::this_thread::yield();
    }
    void stop_workers() {
        {
            std::lock_guard<std::mutex> w(wake_m_);
            stop_.store(true, std::memory_order_relaxed);
            gen_.fetch_add(2, std::memory_order_seq_cst);  // (even: no job is being written)
        }
        wake_cv_.notify_all();
        for (auto& w : workers_) w.join();
        workers_.clear();
    }
    void worker(std::size_t id, std::uint64_t seen) {
        inside_parallel() = true;
        arena().work.reserve(reserved_work().load());
        arena().tiles.reserve(reserved_tiles().load());
        started_.fetch_add(1, std::memory_order_release);
        for (;;) {
            // Spin briefly (a step's kernels come microseconds apart), then sleep on the condvar.
            // No lock on the way to a job: a job that came through a mutex the caller still held
            // started late (the worker slept in a futex until the caller let go).
            std::uint64_t g = seen;
            const auto fresh = [&] { return (g = gen_.load(std::memory_order_seq_cst)) != seen && g % 2 == 0; };
            bool ready = false;
            for (int spin = 0; spin < spin_limit && !(ready = fresh()); ++spin) {}
            if (!ready) {
                std::unique_lock<std::mutex> w(wake_m_);
                sleepers_.fetch_add(1, std::memory_order_seq_cst);
                wake_cv_.wait(w, fresh);
                sleepers_.fetch_sub(1, std::memory_order_relaxed);
            }
            seen = g;
            if (stop_.load(std::memory_order_acquire)) return;
            const std::size_t tasks = tasks_.load(std::memory_order_acquire);
            const auto fn = fn_.load(std::memory_order_acquire);
            void* const ctx = ctx_.load(std::memory_order_acquire);
            if (gen_.load(std::memory_order_relaxed) != g || id >= tasks) continue;  // a later job, or none for us
            if (arena().work.size() < reserved_work().load()) arena().work.reserve(reserved_work().load());
            if (arena().tiles.size() < reserved_tiles().load()) arena().tiles.reserve(reserved_tiles().load());
            fn(ctx, id);
            if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                std::lock_guard<std::mutex> d(done_m_);  // the caller checks under done_m_:
                done_cv_.notify_one();                   // no lost wakeup
            }
        }
    }

    /// Polls before sleeping on a condition variable (for tens of microseconds): a training step's
    /// kernels come microseconds apart, and waking a sleeping thread costs far more on a VM.
    static constexpr int spin_limit = 1 << 18;

    std::mutex m_;  // held by the thread that owns the pool for a run (or resizes it)
    std::vector<std::thread> workers_;
    // Written only under m_; read without it by threads() (a kernel choosing its split while
    // another thread calls set_num_threads): run() clamps to the count it reads under m_, and
    // the caller runs the tasks beyond it, so a split chosen with the old count stays correct.
    std::atomic<std::size_t> n_{1};
    std::mutex wake_m_;  // for sleeping workers only
    std::condition_variable wake_cv_;
    std::atomic<int> sleepers_{0};
    std::atomic<std::uint64_t> gen_{0};  // the job's generation (odd while it is written)
    std::atomic<void (*)(void*, std::size_t)> fn_{nullptr};  // the job: fn_(ctx_, t) for t < tasks_
    std::atomic<void*> ctx_{nullptr};
    std::atomic<std::size_t> tasks_{0};
    std::atomic<bool> stop_{false};
    std::mutex done_m_;
    std::condition_variable done_cv_;
    std::atomic<std::size_t> remaining_{0};
    std::atomic<std::size_t> started_{0};  // workers that have reserved their scratch
};

/// Makes every thread's work scratch at least n floats and tiles at least t floats, and the
/// caller's shared scratch at least s floats, so kernels that need no more allocate nothing.
inline void reserve_scratch(std::size_t n, std::size_t s, std::size_t t = 0) {
    if (reserved_work().load() >= n && reserved_tiles().load() >= t && arena().work.size() >= n &&
        arena().shared.size() >= s && arena().tiles.size() >= t)
        return;
    for (auto* r : {&reserved_work(), &reserved_tiles()}) {
        const std::size_t want = r == &reserved_work() ? n : t;
        std::size_t cur = r->load();
        while (cur < want && !r->compare_exchange_weak(cur, want)) {}
    }
    work_scratch(n);
    shared_scratch(s);
    tile_scratch(t);
    thread_pool& p = thread_pool::instance();
    if (p.threads() > 1 && !inside_parallel()) {
        auto f = [n, t](std::size_t) {
            work_scratch(n);
            tile_scratch(t);
        };
        p.run(p.threads(), f);
    }
}

}  // namespace detail

/// Threads the cpu kernels use from now on (1 to 64). Starts or stops pool threads.
inline void set_num_threads(std::size_t n) { detail::thread_pool::instance().set_threads(n); }
/// Threads the cpu kernels use: set_num_threads, else CTNN_NUM_THREADS, else every core.
inline std::size_t num_threads() { return detail::thread_pool::instance().threads(); }

/// Runs f(t) for t in [0, tasks) on up to `tasks` threads (tasks <= num_threads()).
template <class F>
void parallel_for(std::size_t tasks, F&& f) {
    detail::thread_pool::instance().run(tasks, f);
}

/// How many tasks to split `work` (about one unit per multiply-add) into: at most max_tasks and
/// num_threads(), and none smaller than `grain`, since waking a thread costs microseconds (far
/// more on a loaded machine). Depends only on the arguments and the thread count.
inline std::size_t tasks_for(std::size_t max_tasks, double work, double grain = 1 << 17) {
    const double t = work / grain;
    const std::size_t by_work = t < 1.0 ? 1 : static_cast<std::size_t>(t);
    return std::max<std::size_t>(1, std::min({max_tasks, num_threads(), by_work}));
}

/// The part [begin, end) of [0, n) that task t of T covers (contiguous, sizes differ by <= 1
/// step of `grain`).
struct range {
    std::size_t begin, end;
};
inline range split(std::size_t n, std::size_t t, std::size_t T, std::size_t grain = 1) {
    const std::size_t blocks = (n + grain - 1) / grain;
    const std::size_t b0 = blocks * t / T, b1 = blocks * (t + 1) / T;
    return {std::min(n, b0 * grain), std::min(n, b1 * grain)};
}

}  // namespace ctnn
