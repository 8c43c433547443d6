// A small, fast, portable random generator: the same seed gives the same numbers on every
// compiler and standard library (std::uniform_real_distribution does not promise that).
#pragma once
#include <cmath>
#include <cstdint>

namespace ctnn {

/// splitmix64: 64-bit state, passes BigCrush, trivially seedable and copyable.
class rng {
public:
    explicit rng(std::uint64_t seed = 0) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, 1) with 24 random bits (every value exactly representable in float).
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
    /// Uniform in [lo, hi). Computed in double, where (hi - lo) * u is exact (24-bit u times a
    /// float width), so the result is the same whether or not the compiler fuses the multiply
    /// and add into an FMA: the same seed gives the same parameters in every build and context.
    float uniform(float lo, float hi) {
        const double w = static_cast<double>(hi) - static_cast<double>(lo);
        return static_cast<float>(static_cast<double>(lo) + w * static_cast<double>(uniform()));
    }
    /// Uniform integer in [0, n).
    std::uint64_t below(std::uint64_t n) { return n ? next() % n : 0; }
    /// Standard normal (Box-Muller).
    float normal() {
        float u1 = uniform(), u2 = uniform();
        if (u1 < 1e-12f) u1 = 1e-12f;
        return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853071795864f * u2);
    }
    std::uint64_t state() const { return state_; }
    void set_state(std::uint64_t s) { state_ = s; }

private:
    std::uint64_t state_;
};

}  // namespace ctnn
