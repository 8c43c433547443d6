// ctnn_bench_peak: the fp32 FMA rate one core sustains with the cpu backend's vector type (12
// independent chains of fused multiply-adds, no memory traffic): the "peak" that bench/compare.py
// quotes GFLOP/s against. Prints e.g. "peak 117.3 GFLOP/s per core (avx512bw, 16 floats)".
#include <chrono>
#include <cstdio>

#include <ctnn/backends/cpu/simd.hpp>

int main() {
    using V = ctnn::simd::vec;
    constexpr int chains = 12;
    typename V::type acc[chains];
    const typename V::type b = V::set1(1.0000001f), c = V::set1(1e-7f);
    for (int i = 0; i < chains; ++i) acc[i] = V::set1(float(i));
    double best = 0.0;
    for (int rep = 0; rep < 5; ++rep) {
        constexpr long iters = 20'000'000;
        const auto t0 = std::chrono::steady_clock::now();
        for (long k = 0; k < iters; ++k) {
#pragma GCC unroll 12
            for (int i = 0; i < chains; ++i) acc[i] = V::fma(acc[i], b, c);
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double gflops = double(iters) * chains * double(V::width) * 2.0 / s * 1e-9;
        if (gflops > best) best = gflops;
    }
    float sink = 0.0f;
    for (int i = 0; i < chains; ++i) sink += V::sum(acc[i]);
    std::printf("peak %.1f GFLOP/s per core (%.*s, %zu floats) [%g]\n", best, int(V::name.size()), V::name.data(),
                V::width, double(sink));
}
