// MPI plumbing for dist.hpp: starting and ending MPI, and every collective ctnn::dist runs, each
// one non-blocking and waited for with a deadline.
//
//   int main(int argc, char** argv) {
//       ctnn::dist::mpi_env env(argc, argv);     // MPI_Init_thread; MPI_Finalize at the end
//       ctnn::dist::comm c(MPI_COMM_WORLD, 60);  // collectives give up after 60 s
//   }
//
// Why a deadline: a blocking MPI collective waits forever for a rank that hangs (or, without
// fault tolerance, for one that died but whose death mpirun has not yet noticed). Every wait here
// polls its request with MPI_Test until it completes or the deadline passes; past it the
// communicator is marked failed and ctnn::error names the operation, the rank and the time waited.
// mpi_env then ends the job with MPI_Abort (MPI_Finalize would wait for the missing rank too).
// When a process of the job exits without MPI_Finalize, OpenMPI's mpirun kills the others itself.
// Polling also drives OpenMPI's progress of the non-blocking collectives (it has no progress
// thread by default), which is what lets dist.hpp's bucketed all-reduce overlap backward.
#pragma once
// ctnn uses MPI's C API only: skip the deprecated C++ bindings (their headers warn, and cost time).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "../error.hpp"

namespace ctnn::dist {

/// Set when a collective failed or timed out: the job cannot go on, and MPI_Finalize would hang.
inline bool& comm_failed() {
    static bool failed = false;
    return failed;
}

/// MPI for the life of main(): MPI_Init_thread (FUNNELED: only the thread that calls ctnn::dist
/// talks to MPI; ctnn's worker threads never do) and, at the end, MPI_Finalize, or MPI_Abort when
/// a collective failed or an exception is unwinding past it, so the other ranks end too.
class mpi_env {
public:
    mpi_env(int& argc, char**& argv) {
        int inited = 0;
        MPI_Initialized(&inited);
        if (!inited) {
            int provided = 0;
            if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
                throw error("ctnn::dist: MPI_Init_thread failed");
            owner_ = true;
        }
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);  // errors become ctnn::error, not abort
    }
    mpi_env(const mpi_env&) = delete;
    mpi_env& operator=(const mpi_env&) = delete;
    ~mpi_env() {
        if (!owner_) return;
        if (comm_failed() || std::uncaught_exceptions() > 0) {
            std::cerr.flush();
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        MPI_Finalize();
    }
    static int rank() { return comm_rank(MPI_COMM_WORLD); }
    static int size() { return comm_size(MPI_COMM_WORLD); }
    static int comm_rank(MPI_Comm c) {
        int r = 0;
        MPI_Comm_rank(c, &r);
        return r;
    }
    static int comm_size(MPI_Comm c) {
        int s = 1;
        MPI_Comm_size(c, &s);
        return s;
    }

private:
    bool owner_ = false;
};

/// A communicator and the deadline of its collectives (seconds).
class comm {
public:
    explicit comm(MPI_Comm c = MPI_COMM_WORLD, double timeout_s = 60.0)
        : c_(c), rank_(mpi_env::comm_rank(c)), size_(mpi_env::comm_size(c)), timeout_s_(timeout_s) {
        if (!(timeout_s > 0)) throw error("ctnn::dist::comm: the timeout must be positive");
        MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
    }
    int rank() const { return rank_; }
    int size() const { return size_; }
    MPI_Comm get() const { return c_; }
    double timeout() const { return timeout_s_; }

    /// Throws (and marks the job failed) when an MPI call did not succeed.
    void check(int rc, const std::string& what) const {
        if (rc == MPI_SUCCESS) return;
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, msg, &len);
        fail(what + " failed: " + std::string(msg, static_cast<std::size_t>(len)));
    }
    [[noreturn]] void fail(const std::string& why) const {
        comm_failed() = true;
        throw error("ctnn::dist: rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " + why);
    }

    /// Polls the requests until all complete; past the deadline, fails naming `what`. Returns the
    /// seconds spent waiting.
    double wait(std::span<MPI_Request> reqs, const std::string& what) const {
        using clock = std::chrono::steady_clock;
        const auto t0 = clock::now();
        const auto end = t0 + std::chrono::duration<double>(timeout_s_);
        for (std::size_t spins = 0;; ++spins) {
            int done = 0;
            check(MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE), what);
            if (done) return std::chrono::duration<double>(clock::now() - t0).count();
            if (clock::now() > end)
                fail(what + " did not complete within " + std::to_string(timeout_s_) +
                     " s: another rank has died, hangs, or runs a different sequence of steps");
            if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(20));  // leave the core to others
        }
    }
    /// Drives progress of started requests without waiting (true when all are done).
    bool test(std::span<MPI_Request> reqs, const std::string& what) const {
        int done = 0;
        check(MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE), what);
        return done != 0;
    }

    // ---- collectives, each non-blocking and waited for with the deadline ----------------------

    /// root's `count` values to every rank, in place. MPI counts are ints, so the bytes go in
    /// chunks of 1 GiB, up to `group` chunks in flight at once with their requests on the stack:
    /// data_parallel broadcasts BatchNorm's buffers every step, and this allocates nothing and
    /// keeps no state in the comm. The deadline applies to each group of 8 GiB rather than to the
    /// whole broadcast, which differs only for broadcasts larger than that.
    template <class T>
    void broadcast(T* data, std::size_t count, int root, const std::string& what) const {
        constexpr std::size_t chunk = std::size_t{1} << 30, group = 8;
        auto* bytes = reinterpret_cast<char*>(data);
        const std::size_t n = count * sizeof(T);
        for (std::size_t first = 0; first < n; first += chunk * group) {
            MPI_Request rs[group];
            std::size_t k = 0;
            for (std::size_t o = first; o < n && k < group; o += chunk, ++k)
                check(MPI_Ibcast(bytes + o, static_cast<int>(std::min(chunk, n - o)), MPI_BYTE, root, c_, &rs[k]), what);
            wait({rs, k}, what);
        }
    }
    void sum(double* data, std::size_t count, const std::string& what) const {
        MPI_Request r;
        check(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_DOUBLE, MPI_SUM, c_, &r), what);
        wait({&r, 1}, what);
    }
    /// Every rank's `mine`, in rank order.
    std::vector<std::uint64_t> gather_all(std::uint64_t mine, const std::string& what) const {
        std::vector<std::uint64_t> all(static_cast<std::size_t>(size_));
        MPI_Request r;
        check(MPI_Iallgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, c_, &r), what);
        wait({&r, 1}, what);
        return all;
    }
    void barrier(const std::string& what) const {
        MPI_Request r;
        check(MPI_Ibarrier(c_, &r), what);
        wait({&r, 1}, what);
    }
    /// A string from root to every rank.
    std::string broadcast_string(std::string s, int root, const std::string& what) const {
        std::uint64_t n = s.size();
        broadcast(&n, 1, root, what);
        s.resize(n);
        if (n) broadcast(s.data(), n, root, what);
        return s;
    }

private:
    MPI_Comm c_;
    int rank_, size_;
    double timeout_s_;
};

}  // namespace ctnn::dist
