// Architecture search over candidate net types, with two objectives: the score an objective
// gives a trained candidate (validation accuracy) and its batch-1 latency measured here. The
// types are known at compile time, so each candidate's parameter count and multiply-adds come
// from the type; every candidate is a separate instantiation of the training and inference code
// (docs/techniques.md has the compile cost per candidate).
//
//   template <std::size_t C, std::size_t D> using Cnn = ...;          // a grid: channels x depth
//   auto r = ctnn::automl::architecture_search<Cnn<8, 1>, Cnn<16, 1>, Cnn<16, 2>>(
//       {"c8d1", "c16d1", "c16d2"}, [&]<class Net>(Net& net) { return validation_accuracy(net); });
//   ctnn::automl::print_candidates(std::cout, r);   // the Pareto front marked
#pragma once
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"

namespace ctnn::automl {

/// A candidate's figures.
struct candidate {
    std::string name;
    std::size_t params = 0;
    std::size_t macs = 0;        // multiply-adds per sample, roughly (plan.hpp: work_per_sample)
    double score = 0;            // the objective's (higher is better)
    double latency_us = 0;       // batch-1 inference, median of the timed calls
    double train_seconds = 0;    // the objective's run time
    bool pareto = false;         // no other candidate is at least as good in both and better in one
};

/// The median time of one batch-1 forward of `net` on a zero input, in microseconds (after a
/// warm-up; `calls` timed calls).
template <class Net>
double latency_b1_us(Net& net, std::size_t calls = 300) {
    std::array<float, Net::input_size> x{};
    std::array<float, Net::output_size> y{};
    net.warm_up();
    for (int i = 0; i < 20; ++i) net.forward(x.data(), y.data(), 1);
    std::vector<double> t(std::max<std::size_t>(calls, 1));
    for (auto& v : t) {
        const auto t0 = std::chrono::steady_clock::now();
        net.forward(x.data(), y.data(), 1);
        v = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    }
    std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
    return t[t.size() / 2];
}

/// Marks the candidates on the Pareto front of (score up, latency down).
inline void mark_pareto(std::vector<candidate>& cs) {
    for (auto& a : cs) {
        a.pareto = true;
        for (const auto& b : cs)
            if (&a != &b && b.score >= a.score && b.latency_us <= a.latency_us && (b.score > a.score || b.latency_us < a.latency_us))
                a.pareto = false;
    }
}

/// Each net type in Nets, made with `seed`, given to f (which trains it and returns its score),
/// then timed at batch 1; the Pareto front marked.
template <class... Nets, class F>
std::vector<candidate> architecture_search(const std::array<std::string_view, sizeof...(Nets)>& names, F&& f,
                                           std::uint64_t seed = 1, std::size_t latency_calls = 300) {
    std::vector<candidate> out;
    std::size_t i = 0;
    const auto one = [&]<class Net>() {
        Net net(seed);
        candidate c;
        c.name = std::string(names[i++]);
        c.params = Net::param_count;
        c.macs = Net::work_per_sample;
        const auto t0 = std::chrono::steady_clock::now();
        c.score = f.template operator()<Net>(net);
        c.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        c.latency_us = latency_b1_us(net, latency_calls);
        out.push_back(c);
    };
    (one.template operator()<Nets>(), ...);
    mark_pareto(out);
    return out;
}

/// A table of the candidates, the Pareto front marked with '*'.
inline void print_candidates(std::ostream& os, const std::vector<candidate>& cs) {
    char line[200];
    std::snprintf(line, sizeof line, "%-12s %10s %12s %9s %12s %9s %s\n", "candidate", "params", "mult-adds", "score", "latency_b1", "train_s", "pareto");
    os << line;
    for (const auto& c : cs) {
        std::snprintf(line, sizeof line, "%-12s %10zu %12zu %8.2f%% %10.1fus %9.1f %s\n", c.name.c_str(), c.params, c.macs,
                      100 * c.score, c.latency_us, c.train_seconds, c.pareto ? "*" : "");
        os << line;
    }
}

}  // namespace ctnn::automl
