// The math an element-wise formula is written in, so that one formula serves every backend.
//
// An activation layer writes its function once, as a template over a math type M:
//
//   CTNN_HD_TEMPLATE template <class M> static CTNN_HD typename M::type f(typename M::type x) {
//       return M::select(x <= M::zero(), M::zero(), x);             // ReLU
//   }
//
// M is scalar_math (below: float, plain C++, also device code under nvcc) in the reference
// kernels and on the GPU, and the cpu backend's vector type (backends/cpu/simd.hpp: xsimd
// batches, the same names) in the cpu kernels. So the reference, the SIMD and the CUDA kernels
// compute the same formula; they differ only in how exp, tanh and erf are evaluated (the
// vector versions are xsimd's, within a few ulp of the C library's).
#pragma once
#include <cmath>

// Functions callable from host and device code: __host__ __device__ under nvcc, else inline.
#if !defined(CTNN_HD)
#if defined(__CUDACC__)
#define CTNN_HD __host__ __device__ __forceinline__
#else
#define CTNN_HD inline
#endif
#endif

// Before a CTNN_HD function template that is also instantiated with host-only types (the cpu
// backend's xsimd vectors): nvcc then checks the call targets only where it runs on the device.
#if defined(__CUDACC__)
#define CTNN_HD_TEMPLATE _Pragma("nv_exec_check_disable")
#else
#define CTNN_HD_TEMPLATE
#endif

namespace ctnn {

/// One float at a time. Comparisons give bool; select(m, a, b) is m ? a : b.
struct scalar_math {
    using type = float;
    static CTNN_HD type set1(float c) { return c; }
    static CTNN_HD type zero() { return 0.0f; }
    static CTNN_HD type one() { return 1.0f; }
    static CTNN_HD type select(bool m, type a, type b) { return m ? a : b; }
    static CTNN_HD type fma(type a, type b, type c) { return a * b + c; }  // (contracted where the target has FMA)
    static CTNN_HD bool isnan(type x) { return x != x; }
    static CTNN_HD type abs(type x) { return x < 0.0f ? -x : x; }
    static CTNN_HD type min(type a, type b) { return b < a ? b : a; }
    static CTNN_HD type max(type a, type b) { return a < b ? b : a; }
#if defined(__CUDA_ARCH__)
    static CTNN_HD type exp(type x) { return ::expf(x); }
    static CTNN_HD type tanh(type x) { return ::tanhf(x); }
    static CTNN_HD type erf(type x) { return ::erff(x); }
    static CTNN_HD type sqrt(type x) { return ::sqrtf(x); }
#else
    static CTNN_HD type exp(type x) { return std::exp(x); }
    static CTNN_HD type tanh(type x) { return std::tanh(x); }
    static CTNN_HD type erf(type x) { return std::erf(x); }
    static CTNN_HD type sqrt(type x) { return std::sqrt(x); }
#endif
};

}  // namespace ctnn
