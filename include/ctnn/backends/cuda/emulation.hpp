// A host emulation of the part of the CUDA runtime ctnn uses (plain C++; only when
// CTNN_CUDA_EMULATE is defined and the compiler is not nvcc). With it, kernels.hpp and
// device_net.hpp compile as ordinary C++: "device" memory is host memory, a kernel launch runs
// the kernel's per-thread function over its whole grid (run_on_host), streams run their work at
// once, and stream capture records the work into a graph that cudaGraphLaunch replays. So the
// host tests run the device net's whole orchestration -- buffer layout, fusion plan, backward
// wiring, optimizer segments, staging buffers, graph capture and replay -- against the CPU
// reference. Nothing here is for production use.
#pragma once
#if defined(__CUDACC__)
#error "ctnn/backends/cuda/emulation.hpp is for plain C++ host tests, not nvcc"
#endif
#include <cstddef>
#include <cstring>
#include <functional>
#include <new>
#include <utility>
#include <vector>

namespace ctnn::cuda {

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorStreamCaptureUnsupported = 900 };
enum cudaMemcpyKind { cudaMemcpyHostToHost = 0, cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal = 0, cudaStreamCaptureModeThreadLocal = 1 };
inline constexpr unsigned cudaStreamNonBlocking = 1, cudaEventDisableTiming = 2;
struct cudaDeviceProp {
    char name[256];
};

namespace emulation {
using work = std::vector<std::function<void()>>;
struct stream {
    work* capture = nullptr;  // non-null while capturing
};
struct graph {
    work ops;
};
/// Runs f now, or records it when the stream is capturing.
inline void submit(stream* s, std::function<void()> f) {
    if (s && s->capture) s->capture->push_back(std::move(f));
    else f();
}
/// Live allocations (device and pinned): a test can check that a net frees what it took.
inline long& live_allocations() {
    static long n = 0;
    return n;
}
inline bool capturing(stream* s) { return s && s->capture; }
}  // namespace emulation

using cudaStream_t = emulation::stream*;
using cudaEvent_t = int*;
using cudaGraph_t = emulation::graph*;
using cudaGraphExec_t = emulation::graph*;

inline const char* cudaGetErrorName(cudaError_t e) { return e == cudaSuccess ? "cudaSuccess" : "cudaErrorEmulated"; }
inline const char* cudaGetErrorString(cudaError_t e) {
    return e == cudaSuccess ? "no error" : "operation not permitted in the host emulation (e.g. a wait during stream capture)";
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
    std::strcpy(p->name, "ctnn host emulation");
    return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

template <class T>
cudaError_t cudaMalloc(T** p, std::size_t bytes) {
    *p = static_cast<T*>(::operator new(bytes));
    ++emulation::live_allocations();
    return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
    ::operator delete(p);
    --emulation::live_allocations();
    return cudaSuccess;
}
template <class T>
cudaError_t cudaMallocHost(T** p, std::size_t bytes) { return cudaMalloc(p, bytes); }
inline cudaError_t cudaFreeHost(void* p) { return cudaFree(p); }
inline cudaError_t cudaMemset(void* p, int v, std::size_t bytes) {
    std::memset(p, v, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, std::size_t bytes, cudaStream_t s) {
    emulation::submit(s, [=] { std::memset(p, v, bytes); });
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind, cudaStream_t s) {
    emulation::submit(s, [=] { std::memcpy(dst, src, bytes); });
    return cudaSuccess;
}

inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
    *s = new emulation::stream;
    return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
    delete s;
    return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    return emulation::capturing(s) ? cudaErrorStreamCaptureUnsupported : cudaSuccess;
}

inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
    *e = new int(0);
    return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    emulation::submit(s, [e] { ++*e; });
    return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }

inline cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
    if (!s || s->capture) return cudaErrorInvalidValue;
    s->capture = new emulation::work;
    return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
    if (!s || !s->capture) return cudaErrorInvalidValue;
    *g = new emulation::graph{std::move(*s->capture)};
    delete s->capture;
    s->capture = nullptr;
    return cudaSuccess;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
    *e = new emulation::graph(*g);
    return cudaSuccess;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    delete g;
    return cudaSuccess;
}
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    delete e;
    return cudaSuccess;
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
    for (const auto& op : e->ops) emulation::submit(s, op);
    return cudaSuccess;
}

}  // namespace ctnn::cuda
