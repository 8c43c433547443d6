// AutoML (include/ctnn/train/automl.hpp, automl_arch.hpp): the space's draws (deterministic,
// in range, log-uniform on the log scale), random search and successive halving (which trials run
// at which budget, who is promoted), the trial log (one JSON line per trial), resuming an
// interrupted search without running a logged trial again, refusing another search's log, and
// the architecture search's Pareto front and latency.
#include <catch2/catch.hpp>

#include <ctnn/train.hpp>
#include <ctnn/train/automl.hpp>
#include <ctnn/train/automl_arch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using namespace ctnn;
using automl::config;

automl::space lr_space() {
    automl::space s;
    s.log_uniform("lr", 1e-4, 1e-1).choice("batch", std::vector<double>{32, 64, 128}).uniform("dropout", 0.0, 0.5)
        .choice("optimizer", std::vector<std::string>{"sgd", "adam", "adamw"});
    return s;
}

/// A score that prefers lr near 1e-2 and grows with the budget.
double toy_score(const config& c, std::size_t budget) {
    return -std::abs(std::log10(c.number("lr")) + 2.0) + 0.01 * double(budget);
}

std::string temp_log(const std::string& name) {
    const auto p = std::filesystem::temp_directory_path() / ("ctnn_automl_" + name + "_" + std::to_string(::getpid()) + ".jsonl");
    std::filesystem::remove(p);
    return p.string();
}

std::size_t lines_of(const std::string& path) {
    std::ifstream in(path);
    std::size_t n = 0;
    for (std::string l; std::getline(in, l);) n += !l.empty();
    return n;
}

}  // namespace

TEST_CASE("automl: the space's draws are deterministic, in range, and log-uniform on the log scale", "[automl]") {
    const auto s = lr_space();
    rng a(5), b(5);
    int below = 0;
    std::map<std::string, int> opts;
    for (int i = 0; i < 4000; ++i) {
        const config c = s.sample(a);
        CHECK(c == s.sample(b));
        const double lr = c.number("lr");
        REQUIRE((lr >= 1e-4 && lr <= 1e-1));
        below += lr < std::sqrt(1e-4 * 1e-1);  // the geometric mean: half the draws on each side
        const double bs = c.number("batch");
        REQUIRE((bs == 32 || bs == 64 || bs == 128));
        REQUIRE((c.number("dropout") >= 0.0 && c.number("dropout") <= 0.5));
        ++opts[c.choice("optimizer")];
    }
    CHECK(std::abs(below - 2000) < 150);
    CHECK(opts.size() == 3);
    for (const auto& [name, n] : opts) CHECK(std::abs(n - 4000 / 3) < 150);
    CHECK_THROWS_WITH(config{}.number("lr"), Catch::Contains("no number 'lr'"));
    CHECK_THROWS_WITH(automl::space{}.log_uniform("lr", 0.0, 1.0), Catch::Contains("0 < lo"));
}

TEST_CASE("automl: successive halving runs n, n/eta, ... configurations at growing budgets and keeps the best", "[automl]") {
    automl::search s(lr_space(), 3);
    std::map<std::size_t, std::size_t> runs_at;
    const auto trials = s.successive_halving(9, 1, 9, 3, [&](const config& c, std::size_t b) {
        ++runs_at[b];
        return toy_score(c, b);
    });
    CHECK(runs_at == std::map<std::size_t, std::size_t>{{1, 9}, {3, 3}, {9, 1}});
    CHECK(trials.size() == 13);
    // the promoted ones are the rung's best
    std::vector<automl::trial> rung0(trials.begin(), trials.begin() + 9);
    std::sort(rung0.begin(), rung0.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
    for (std::size_t k = 0; k < 3; ++k) CHECK(trials[9 + k].id == rung0[k].id);
    const auto& best = automl::search::best(trials);
    CHECK(best.budget == 9);
    CHECK(best.id == rung0[0].id);
    CHECK(best.cfg == s.configuration(best.id));
    // random search: n trials at one budget, in order
    const auto r = s.random(4, 2, toy_score);
    REQUIRE(r.size() == 4);
    for (std::size_t i = 0; i < 4; ++i) CHECK((r[i].id == i && r[i].budget == 2));
}

TEST_CASE("automl: every trial is logged; an interrupted search resumes without running logged trials again", "[automl]") {
    const std::string log = temp_log("resume");
    std::size_t calls = 0;
    {
        automl::search s(lr_space(), 11, log);
        CHECK_THROWS_WITH(s.successive_halving(8, 1, 4, 2, [&](const config& c, std::size_t b) {
            if (++calls == 10) throw error("interrupted");  // during rung 2, after 8 + 1 trials
            return toy_score(c, b);
        }), Catch::Contains("interrupted"));
    }
    CHECK(lines_of(log) == 9);
    std::size_t again = 0;
    automl::search s(lr_space(), 11, log);
    const auto trials = s.successive_halving(8, 1, 4, 2, [&](const config& c, std::size_t b) {
        ++again;
        return toy_score(c, b);
    });
    CHECK(again == 8 + 4 + 2 - 9);  // only what was not logged
    CHECK(lines_of(log) == 14);
    std::size_t read_back = 0;
    for (const auto& t : trials) read_back += t.from_log;
    CHECK(read_back == 9);
    // the same as a search that was never interrupted
    automl::search fresh(lr_space(), 11);
    const auto want = fresh.successive_halving(8, 1, 4, 2, toy_score);
    REQUIRE(want.size() == trials.size());
    for (std::size_t i = 0; i < want.size(); ++i) CHECK((want[i].id == trials[i].id && want[i].score == trials[i].score));

    // a log cut short in its last line (killed while writing) is read up to it
    { std::ofstream(log, std::ios::app) << "{\"trial\": 3, \"bud"; }
    CHECK_NOTHROW(automl::search(lr_space(), 11, log));
    // another search's log is refused
    automl::search other(lr_space(), 12, log);
    CHECK_THROWS_WITH(other.random(1, 1, toy_score), Catch::Contains("another configuration"));
    { std::ofstream(log, std::ios::app) << "\nnot json\n{}\n"; }
    CHECK_THROWS_WITH(automl::search(lr_space(), 11, log), Catch::Contains("is not a trial record"));
    std::filesystem::remove(log);
}

TEST_CASE("automl: architecture search trains each candidate type, times it, and marks the Pareto front", "[automl]") {
    using A = Sequential<Input<1, 6, 6>, Flatten, Linear<36, 3>>;
    using B = Sequential<Input<1, 6, 6>, Conv<1, 8, 3, 1, 1>, ReLU, Flatten, Linear<288, 3>>;
    using C = Sequential<Input<1, 6, 6>, Conv<1, 16, 3, 1, 1>, ReLU, Conv<16, 16, 3, 1, 1>, ReLU, Flatten, Linear<576, 3>>;
    const std::map<std::size_t, double> score = {{A::param_count, 0.5}, {B::param_count, 0.9}, {C::param_count, 0.8}};
    std::vector<std::size_t> seen;
    auto r = automl::architecture_search<A, B, C>({"linear", "conv8", "conv16x2"}, [&]<class Net>(Net& net) {
        seen.push_back(Net::param_count);
        CHECK(net.params().size() == Net::param_count);
        return score.at(Net::param_count);
    }, 1, 50);
    REQUIRE(r.size() == 3);
    CHECK(seen == std::vector<std::size_t>{A::param_count, B::param_count, C::param_count});
    CHECK(r[0].name == "linear");
    for (const auto& c : r) CHECK(c.latency_us > 0.0);
    CHECK(r[2].macs > r[1].macs);
    CHECK(r[1].macs > r[0].macs);
    // C scores below B; it is on the front only if it were faster, which it is not (more work)
    CHECK(r[1].pareto);
    CHECK(!r[2].pareto);
    // by hand: the front of (score, latency)
    std::vector<automl::candidate> hand = {{"a", 0, 0, 0.9, 10.0}, {"b", 0, 0, 0.8, 5.0}, {"c", 0, 0, 0.7, 6.0}, {"d", 0, 0, 0.9, 12.0}};
    automl::mark_pareto(hand);
    CHECK((hand[0].pareto && hand[1].pareto && !hand[2].pareto && !hand[3].pareto));
    std::ostringstream os;
    automl::print_candidates(os, r);
    CHECK(os.str().find("conv8") != std::string::npos);
}
