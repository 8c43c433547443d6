// ctnn_bench_c2c: how far apart the two cores a 2-thread run gets are, as the round trip of one
// cache line between two threads (one pinned to each of the first two CPUs this process may use).
// A 2-thread training step moves parameters, gradients and activations between the cores, so
// bench/compare.py prints this with each round's 2-thread scaling, as a record of the machine's
// state. On this VM it changed within minutes between ~50 and ~360 ns (2026-11-29); the seed
// CNN's training scaling was 1.97x in a round measured at 358 ns, so it is no predictor alone.
// Prints e.g. "core-to-core round trip 52 ns (CPUs 0 and 1)", or why it could not measure.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <pthread.h>
#include <sched.h>

namespace {
bool pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return pthread_setaffinity_np(pthread_self(), sizeof s, &s) == 0;
}
alignas(64) std::atomic<long> line{0};
}  // namespace

int main() {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        std::printf("core-to-core round trip: unknown (no CPU affinity)\n");
        return 0;
    }
    int cpus[2], found = 0;
    for (int c = 0; c < CPU_SETSIZE && found < 2; ++c)
        if (CPU_ISSET(c, &allowed)) cpus[found++] = c;
    if (found < 2) {
        std::printf("core-to-core round trip: unknown (one CPU)\n");
        return 0;
    }
    constexpr long rounds = 200000;
    std::thread other([&] {
        pin(cpus[1]);
        for (long i = 0; i < rounds; ++i) {
            while (line.load(std::memory_order_acquire) != 2 * i + 1) {}
            line.store(2 * i + 2, std::memory_order_release);
        }
    });
    pin(cpus[0]);
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < rounds; ++i) {
        line.store(2 * i + 1, std::memory_order_release);
        while (line.load(std::memory_order_acquire) != 2 * i + 2) {}
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / rounds;
    other.join();
    std::printf("core-to-core round trip %.0f ns (CPUs %d and %d)\n", ns, cpus[0], cpus[1]);
}
