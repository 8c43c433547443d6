// ctnn::dist::nccl_data_parallel: data-parallel training of a cuda::device_net over NCCL, one GPU
// per rank, started by mpirun (nvcc only; link libnccl and MPI).
//
//   ctnn::dist::mpi_env env(argc, argv);
//   ctnn::dist::comm world;                             // MPI: start-up checks, NCCL's id, metrics
//   cudaSetDevice(local_rank);                          // one GPU per rank
//   Net net(1);
//   ctnn::cuda::device_net<Net> gpu(net, per_rank);
//   gpu.set_optimizer(ctnn::cuda::adam{.lr = 1e-3f});
//   ctnn::dist::nccl_data_parallel dp(gpu, net, world);  // same net type everywhere, rank 0's weights
//   dp.step(images, labels, per_rank);                   // every rank the same share of the batch
//
// The same design as data_parallel (data_parallel.hpp), on the GPU: device_net's training step
// reports through its grad_hook when backward's kernels for the layers from i on are enqueued;
// each gradient bucket they complete is then all-reduced (ncclAllReduce, ncclAvg) on a stream of
// its own, which waits for an event recorded on the compute stream there, so the reduction runs
// while the earlier layers' backward kernels do. Before the optimizer the compute stream waits
// for the reduction. Every rank steps on the same number of samples (the average of equal means
// is the global mean); CUDA Graphs are off for the step while a reducer is installed.
//
// Faults: step() waits for its step with the comm's deadline, polling the compute stream and
// ncclCommGetAsyncError; past the deadline, or on an NCCL error, the NCCL communicator is aborted
// (ncclCommAbort: the other ranks' collectives fail too) and ctnn::error names the step.
#pragma once
#if !defined(__CUDACC__)
#error "ctnn/dist/nccl.hpp needs nvcc: compile this translation unit as CUDA (a .cu file)"
#endif
#include <nccl.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "../backends/cuda/device_net.hpp"
#include "../train/checkpoint.hpp"
#include "data_parallel.hpp"
#include "mpi_comm.hpp"

namespace ctnn::dist {

template <class Net>
class nccl_data_parallel : cuda::device_net<Net>::grad_hook {
public:
    /// Checks (over MPI) that every rank runs the same net type, creates the NCCL communicator
    /// (rank 0's unique id sent over MPI) and broadcasts rank 0's parameters and buffers
    /// (ncclBroadcast). `net` is the host net the device_net was made from.
    nccl_data_parallel(cuda::device_net<Net>& gpu, Net& net, const comm& world, options o = {})
        : gpu_(&gpu), world_(&world), o_(o) {
        const std::string layout = architecture_layout(net);
        const auto all = world.gather_all(detail::hash_text(layout), "the net-type check at start");
        for (std::size_t r = 1; r < all.size(); ++r)
            if (all[r] != all[0])
                throw error("ctnn::dist::nccl_data_parallel: rank " + std::to_string(r) + " runs another net type than rank 0");
        ncclUniqueId id;
        if (world.rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
        world.broadcast(&id, 1, 0, "NCCL's unique id");
        check(ncclCommInitRank(&nccl_, world.size(), id, world.rank()), "ncclCommInitRank");
        CTNN_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
        CTNN_CUDA_CHECK(cudaEventCreateWithFlags(&reduced_, cudaEventDisableTiming));
        make_buckets();
        broadcast_from_root(net);
        gpu.use_graphs(false);
        gpu.set_grad_hook(this);
    }
    nccl_data_parallel(const nccl_data_parallel&) = delete;
    nccl_data_parallel& operator=(const nccl_data_parallel&) = delete;
    ~nccl_data_parallel() {
        gpu_->set_grad_hook(nullptr);
        for (cudaEvent_t e : ready_) cudaEventDestroy(e);
        cudaEventDestroy(reduced_);
        cudaStreamDestroy(comm_stream_);
        if (failed_) ncclCommAbort(nccl_);
        else ncclCommDestroy(nccl_);
    }

    int rank() const { return world_->rank(); }
    int size() const { return world_->size(); }
    std::size_t buckets() const { return buckets_.size(); }

    /// One step on this rank's `n` samples (every rank the same n); returns the mean loss over
    /// all ranks' samples. Waits for the step, with the deadline.
    float step(const float* in, const std::int32_t* labels, std::size_t n) {
        gpu_->train_step(in, labels, n);
        wait_for_step();
        double loss = gpu_->loss();
        world_->sum(&loss, 1, "the loss's all-reduce");
        return float(loss / size());
    }

private:
    struct bucket {
        std::size_t first_layer, begin, count;
    };

    void check(ncclResult_t r, const char* what) {
        if (r == ncclSuccess) return;
        failed_ = comm_failed() = true;
        throw error(std::string("ctnn::dist::nccl_data_parallel: rank ") + std::to_string(rank()) + ": " + what +
                    " failed: " + ncclGetErrorString(r));
    }

    void make_buckets() {  // (as data_parallel: whole layers, last first, at least bucket_bytes)
        std::size_t hi = Net::depth;
        for (std::size_t i = Net::depth; i-- > 0;) {
            const std::size_t count = Net::grad_offset[hi] - Net::grad_offset[i];
            if (count == 0) {
                hi = i;
                continue;
            }
            if (count * sizeof(float) >= o_.bucket_bytes || Net::grad_offset[i] == 0) {
                buckets_.push_back({i, Net::grad_offset[i], count});
                hi = i;
            }
        }
        ready_.resize(buckets_.size());
        for (cudaEvent_t& e : ready_) CTNN_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    }

    void broadcast_from_root(Net& net) {
        gpu_->upload(net);  // (rank 0's values overwrite these below)
        std::vector<float> p(Net::param_count), b(Net::buffer_count);
        std::copy(net.params().begin(), net.params().end(), p.begin());
        float *dp = nullptr, *db = nullptr;
        CTNN_CUDA_CHECK(cudaMalloc(&dp, (p.size() + b.size() + 1) * sizeof(float)));
        db = dp + p.size();
        std::copy(net.buffers().begin(), net.buffers().end(), b.begin());
        CTNN_CUDA_CHECK(cudaMemcpy(dp, p.data(), p.size() * sizeof(float), cudaMemcpyHostToDevice));
        if (!b.empty()) CTNN_CUDA_CHECK(cudaMemcpy(db, b.data(), b.size() * sizeof(float), cudaMemcpyHostToDevice));
        check(ncclBroadcast(dp, dp, p.size() + b.size(), ncclFloat, 0, nccl_, comm_stream_), "ncclBroadcast");
        CTNN_CUDA_CHECK(cudaStreamSynchronize(comm_stream_));
        CTNN_CUDA_CHECK(cudaMemcpy(net.params().data(), dp, p.size() * sizeof(float), cudaMemcpyDeviceToHost));
        if (!b.empty()) CTNN_CUDA_CHECK(cudaMemcpy(net.buffers().data(), db, b.size() * sizeof(float), cudaMemcpyDeviceToHost));
        cudaFree(dp);
        gpu_->upload(net);
    }

    void grads_done(std::size_t i, float* grads, cudaStream_t s) override {
        while (next_ < buckets_.size() && buckets_[next_].first_layer >= i) start(next_++, grads, s);
    }
    void before_update(float* grads, cudaStream_t s) override {
        while (next_ < buckets_.size()) start(next_++, grads, s);
        next_ = 0;
        CTNN_CUDA_CHECK(cudaEventRecord(reduced_, comm_stream_));
        CTNN_CUDA_CHECK(cudaStreamWaitEvent(s, reduced_, 0));  // the optimizer sees the averaged gradients
    }
    void start(std::size_t b, float* grads, cudaStream_t s) {
        CTNN_CUDA_CHECK(cudaEventRecord(ready_[b], s));
        CTNN_CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, ready_[b], 0));
        float* p = grads + buckets_[b].begin;
        check(ncclAllReduce(p, p, buckets_[b].count, ncclFloat, ncclAvg, nccl_, comm_stream_), "ncclAllReduce");
    }

    /// Polls the step's completion and NCCL's errors until the deadline.
    void wait_for_step() {
        const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(world_->timeout());
        for (;;) {
            const cudaError_t q = cudaStreamQuery(gpu_->stream());
            if (q == cudaSuccess) return;
            if (q != cudaErrorNotReady) CTNN_CUDA_CHECK(q);
            ncclResult_t async = ncclSuccess;
            check(ncclCommGetAsyncError(nccl_, &async), "ncclCommGetAsyncError");
            check(async, "the gradient all-reduce");
            if (std::chrono::steady_clock::now() > end) {
                failed_ = comm_failed() = true;
                throw error("ctnn::dist::nccl_data_parallel: rank " + std::to_string(rank()) + ": a step did not complete within " +
                            std::to_string(world_->timeout()) + " s: another rank has died or hangs");
            }
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }

    cuda::device_net<Net>* gpu_;
    const comm* world_;
    options o_;
    ncclComm_t nccl_ = nullptr;
    cudaStream_t comm_stream_ = nullptr;
    cudaEvent_t reduced_ = nullptr;
    std::vector<cudaEvent_t> ready_;
    std::vector<bucket> buckets_;
    std::size_t next_ = 0;
    bool failed_ = false;
};

}  // namespace ctnn::dist
