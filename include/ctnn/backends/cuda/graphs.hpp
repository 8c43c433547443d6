// CUDA Graphs for the device net: work enqueued on a stream is captured once per key (batch
// size, staging buffer, training or not) and replayed after; and the net's own stream.
#pragma once
#include <cstdint>
#include <map>

#include "../../error.hpp"
#include "launch.hpp"

namespace ctnn::cuda {

/// A non-blocking stream, destroyed last (after every buffer that work on it may touch).
class stream_owner {
public:
    stream_owner() {
        if (!device_available()) throw error("ctnn::cuda::device_net: no CUDA device");
        CTNN_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking));
    }
    stream_owner(const stream_owner&) = delete;
    stream_owner& operator=(const stream_owner&) = delete;
    ~stream_owner() {
        if (s_) cudaStreamDestroy(s_);
    }
    cudaStream_t get() const { return s_; }

private:
    cudaStream_t s_ = nullptr;
};

/// Captured graphs by key, replayed on a stream.
class graph_cache {
public:
    graph_cache() = default;
    graph_cache(const graph_cache&) = delete;
    graph_cache& operator=(const graph_cache&) = delete;
    ~graph_cache() { clear(); }
    /// Forgets every captured graph (what a step enqueues changed).
    void clear() {
        for (auto& [key, g] : graphs_) cudaGraphExecDestroy(g);
        graphs_.clear();
    }

    /// Runs `enqueue` on the stream: captured once per key as a CUDA Graph and replayed, or
    /// launched directly when graphs are off (for debugging).
    template <class F>
    void run(cudaStream_t stream, std::uint64_t key, bool use_graphs, F&& enqueue) {
        if (!use_graphs) {
            enqueue();
            return;
        }
        auto it = graphs_.find(key);
        if (it == graphs_.end()) it = graphs_.emplace(key, capture(stream, enqueue)).first;
        CTNN_CUDA_CHECK(cudaGraphLaunch(it->second, stream));
    }

private:
    template <class F>
    static cudaGraphExec_t capture(cudaStream_t stream, F& enqueue) {
        CTNN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
        cudaGraph_t g = nullptr;
        try {
            enqueue();
        } catch (...) {
            cudaStreamEndCapture(stream, &g);
            if (g) cudaGraphDestroy(g);
            throw;
        }
        CTNN_CUDA_CHECK(cudaStreamEndCapture(stream, &g));
        cudaGraphExec_t exec = nullptr;
        const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
        cudaGraphDestroy(g);
        CTNN_CUDA_CHECK(e);
        return exec;
    }

    std::map<std::uint64_t, cudaGraphExec_t> graphs_;
};

}  // namespace ctnn::cuda
