// Launching the per-thread functions of threads/ on the GPU (nvcc only): one __global__ template
// for map kernels and one for reduce kernels, CUDA error checks that throw ctnn::error, and
// RAII holders for device and pinned host memory.
//
// Under CTNN_CUDA_EMULATE (plain C++ host tests only) the CUDA runtime is emulation.hpp's and a
// launch runs the per-thread function over the grid on the host.
#pragma once
#if defined(__CUDACC__)
#include <cuda_runtime.h>
#elif defined(CTNN_CUDA_EMULATE)
#include "emulation.hpp"
#else
#error "ctnn/backends/cuda/launch.hpp needs nvcc: compile this translation unit as CUDA (a .cu file)"
#endif

#include <cstddef>
#include <string>
#include <utility>

#include "../../error.hpp"
#include "threads/hd.hpp"

namespace ctnn::cuda {

/// Throws ctnn::error naming the failed call, where it was made, and CUDA's reason.
inline void check(cudaError_t e, const char* call, const char* file, int line) {
    if (e != cudaSuccess)
        throw error(std::string("ctnn cuda: ") + call + " failed (" + file + ":" + std::to_string(line) +
                    "): " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}
#define CTNN_CUDA_CHECK(call) ::ctnn::cuda::check((call), #call, __FILE__, __LINE__)

/// True when a CUDA device can be used (a driver, and at least one device).
inline bool device_available() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();  // clear the sticky "no device / no driver" error
        return false;
    }
    return n > 0;
}

/// The device's name, e.g. "NVIDIA H200" (empty without a device).
inline std::string device_name(int device = 0) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) return {};
    return p.name;
}

#if defined(__CUDACC__)
template <class K>
__global__ void map_kernel(typename K::args a) {
    K::thread(blockIdx.x, threadIdx.x, blockDim.x, a);
}

/// A reduce kernel: each thread's partial into shared memory, a tree sum (blockDim.x is a power
/// of two, at most 256: reduce_threads), and thread 0 calls finish.
template <class K>
__global__ void reduce_kernel(typename K::args a) {
    using V = typename K::value;
    __shared__ __align__(16) unsigned char raw[256 * sizeof(V)];
    V* part = reinterpret_cast<V*>(raw);
    const unsigned t = threadIdx.x;
    part[t] = K::partial(blockIdx.x, t, blockDim.x, a);
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
        if (t < s) part[t] = part[t] + part[t + s];
        __syncthreads();
    }
    if (t == 0) K::finish(blockIdx.x, part[0], a);
}

/// Launches kernel K on `stream` with the grid K::grid(a) gives; checks the launch.
template <class K>
void launch(const typename K::args& a, cudaStream_t stream) {
    const grid_size g = K::grid(a);
    if (g.blocks == 0) return;
    if constexpr (requires { typename K::value; }) {
        if (g.threads > 256 || (g.threads & (g.threads - 1)))
            throw error("ctnn cuda: a reduce kernel needs a power-of-two block of at most 256 threads");
        reduce_kernel<K><<<g.blocks, g.threads, 0, stream>>>(a);
    } else {
        map_kernel<K><<<g.blocks, g.threads, 0, stream>>>(a);
    }
    CTNN_CUDA_CHECK(cudaGetLastError());
}
#else
/// Emulation: the kernel's per-thread function over its whole grid, when the stream runs it.
template <class K>
void launch(const typename K::args& a, cudaStream_t stream) {
    const grid_size g = K::grid(a);
    if (g.blocks == 0) return;
    if constexpr (requires { typename K::value; })
        if (g.threads > 256 || (g.threads & (g.threads - 1)))
            throw error("ctnn cuda: a reduce kernel needs a power-of-two block of at most 256 threads");
    emulation::submit(stream, [a] { run_on_host<K>(a); });
}
#endif

/// Device memory for `count` values of T (zeroed), freed when it goes.
template <class T>
class device_array {
public:
    device_array() = default;
    explicit device_array(std::size_t count) : n_(count) {
        if (n_) {
            CTNN_CUDA_CHECK(cudaMalloc(&p_, n_ * sizeof(T)));
            CTNN_CUDA_CHECK(cudaMemset(p_, 0, n_ * sizeof(T)));
        }
    }
    device_array(const device_array&) = delete;
    device_array& operator=(const device_array&) = delete;
    device_array(device_array&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    device_array& operator=(device_array&& o) noexcept {
        std::swap(p_, o.p_);
        std::swap(n_, o.n_);
        return *this;
    }
    ~device_array() { if (p_) cudaFree(p_); }
    T* data() const { return p_; }
    std::size_t size() const { return n_; }

private:
    T* p_ = nullptr;
    std::size_t n_ = 0;
};

/// Page-locked host memory for `count` values of T (asynchronous copies need it).
template <class T>
class pinned_array {
public:
    pinned_array() = default;
    explicit pinned_array(std::size_t count) : n_(count) {
        if (n_) CTNN_CUDA_CHECK(cudaMallocHost(&p_, n_ * sizeof(T)));
    }
    pinned_array(const pinned_array&) = delete;
    pinned_array& operator=(const pinned_array&) = delete;
    pinned_array(pinned_array&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    pinned_array& operator=(pinned_array&& o) noexcept {
        std::swap(p_, o.p_);
        std::swap(n_, o.n_);
        return *this;
    }
    ~pinned_array() { if (p_) cudaFreeHost(p_); }
    T* data() const { return p_; }
    std::size_t size() const { return n_; }

private:
    T* p_ = nullptr;
    std::size_t n_ = 0;
};

}  // namespace ctnn::cuda
