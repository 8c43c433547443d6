// AutoML: hyper-parameter search (random search, successive halving) with every trial logged and
// a search resumable after an interruption; architecture search over candidate net types
// (automl_arch.hpp). Not part of train.hpp: it needs nlohmann-json for its log.
//
//   ctnn::automl::space s;
//   s.log_uniform("lr", 1e-4, 1e-1).choice("batch", {32, 64, 128}).log_uniform("weight_decay", 1e-6, 1e-3)
//    .choice("optimizer", {"sgd", "adam", "adamw"}).choice("schedule", {"constant", "cosine"});
//   ctnn::automl::search search(s, /*seed*/ 1, "trials.jsonl");
//   auto best = search.successive_halving(16, /*min epochs*/ 1, /*max epochs*/ 4, /*eta*/ 2,
//       [&](const ctnn::automl::config& c, std::size_t epochs) { return validation_accuracy(c, epochs); });
//
// Budgets are what the objective makes of them (epochs, steps); an objective trains from scratch
// for the budget it is given and returns the score to maximise (validation accuracy). The same
// seed and space give the same configurations, so a search run again with the same log file
// reads back the trials it finds there (same id, budget and configuration) instead of running
// them, and continues where it stopped; a log from another search is refused.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "../random.hpp"

namespace ctnn::automl {

/// One point of a space: numbers by name, and the names chosen for categorical dimensions.
struct config {
    std::map<std::string, double> num;
    std::map<std::string, std::string> cat;
    double number(const std::string& name) const {
        const auto it = num.find(name);
        if (it == num.end()) throw error("automl::config: no number '" + name + "'");
        return it->second;
    }
    const std::string& choice(const std::string& name) const {
        const auto it = cat.find(name);
        if (it == cat.end()) throw error("automl::config: no choice '" + name + "'");
        return it->second;
    }
    nlohmann::json to_json() const { return {{"num", num}, {"cat", cat}}; }
    bool operator==(const config&) const = default;
};

/// A search space: dimensions drawn independently, in the order they were added.
class space {
public:
    space& log_uniform(std::string name, double lo, double hi) {
        if (!(lo > 0 && hi >= lo)) throw error("automl::space: log_uniform '" + name + "' needs 0 < lo <= hi");
        dims_.push_back({std::move(name), kind::log_uniform, lo, hi, {}, {}});
        return *this;
    }
    space& uniform(std::string name, double lo, double hi) {
        if (!(hi >= lo)) throw error("automl::space: uniform '" + name + "' needs lo <= hi");
        dims_.push_back({std::move(name), kind::uniform, lo, hi, {}, {}});
        return *this;
    }
    space& choice(std::string name, std::vector<double> values) {
        if (values.empty()) throw error("automl::space: choice '" + name + "' has no values");
        dims_.push_back({std::move(name), kind::number_choice, 0, 0, std::move(values), {}});
        return *this;
    }
    space& choice(std::string name, std::vector<std::string> options) {
        if (options.empty()) throw error("automl::space: choice '" + name + "' has no options");
        dims_.push_back({std::move(name), kind::name_choice, 0, 0, {}, std::move(options)});
        return *this;
    }
    config sample(rng& g) const {
        config c;
        for (const auto& d : dims_) {
            const double u = (static_cast<double>(g.next() >> 11) + 0.5) / 9007199254740992.0;  // (0, 1)
            switch (d.k) {
            case kind::log_uniform: c.num[d.name] = std::exp(std::log(d.lo) + u * (std::log(d.hi) - std::log(d.lo))); break;
            case kind::uniform: c.num[d.name] = d.lo + u * (d.hi - d.lo); break;
            case kind::number_choice: c.num[d.name] = d.values[std::min(d.values.size() - 1, std::size_t(u * double(d.values.size())))]; break;
            case kind::name_choice: c.cat[d.name] = d.options[std::min(d.options.size() - 1, std::size_t(u * double(d.options.size())))]; break;
            }
        }
        return c;
    }
    std::size_t size() const { return dims_.size(); }

private:
    enum class kind { log_uniform, uniform, number_choice, name_choice };
    struct dim {
        std::string name;
        kind k;
        double lo, hi;
        std::vector<double> values;
        std::vector<std::string> options;
    };
    std::vector<dim> dims_;
};

/// A configuration's result at one budget.
struct trial {
    std::size_t id = 0;      // the configuration's index in the search's sequence
    std::size_t budget = 0;
    config cfg;
    double score = 0;        // what the objective returned (higher is better; NaN: failed)
    double seconds = 0;      // its run time (0 when read back from the log)
    bool from_log = false;
};

using objective = std::function<double(const config&, std::size_t budget)>;

/// Searches a space with a seed, logging every trial to a JSON-lines file (empty: no log).
class search {
public:
    search(space s, std::uint64_t seed, std::string log = {}) : space_(std::move(s)), seed_(seed), log_(std::move(log)) {
        read_log();
    }

    /// n configurations, each run once at `budget`. Returns the trials in order.
    std::vector<trial> random(std::size_t n, std::size_t budget, const objective& f) {
        std::vector<trial> out;
        for (std::size_t i = 0; i < n; ++i) out.push_back(run(i, budget, f));
        return out;
    }

    /// Successive halving (Jamieson and Talwalkar, 2016; synchronous ASHA, Li et al., 2020): n
    /// configurations at min_budget; the best 1/eta of each rung go on at eta times the budget,
    /// up to max_budget. Returns every trial, rung after rung; best() picks the winner.
    std::vector<trial> successive_halving(std::size_t n, std::size_t min_budget, std::size_t max_budget, std::size_t eta,
                                          const objective& f) {
        if (n == 0 || min_budget == 0 || max_budget < min_budget || eta < 2)
            throw error("automl::search::successive_halving: needs n >= 1, 1 <= min_budget <= max_budget, eta >= 2");
        std::vector<trial> all;
        std::vector<std::size_t> ids(n);
        for (std::size_t i = 0; i < n; ++i) ids[i] = i;
        for (std::size_t b = min_budget;; b = std::min(max_budget, b * eta)) {
            std::vector<trial> rung;
            for (std::size_t id : ids) rung.push_back(run(id, b, f));
            all.insert(all.end(), rung.begin(), rung.end());
            if (b == max_budget || rung.size() == 1) break;
            std::stable_sort(rung.begin(), rung.end(), [](const trial& a, const trial& c) { return better(a.score, c.score); });
            rung.resize(std::max<std::size_t>(1, rung.size() / eta));
            ids.clear();
            for (const auto& t : rung) ids.push_back(t.id);
        }
        return all;
    }

    /// The configuration with id `id` (the seed's sequence: the same for every run of the search).
    config configuration(std::size_t id) const {
        rng g(seed_ ^ (0xA076F0C2D1E5B3ull * (id + 1)));
        return space_.sample(g);
    }

    /// The best trial at the largest budget any trial reached (ties: the earlier).
    static const trial& best(const std::vector<trial>& ts) {
        if (ts.empty()) throw error("automl::search::best: no trials");
        std::size_t top = 0;
        for (const auto& t : ts) top = std::max(top, t.budget);
        const trial* b = nullptr;
        for (const auto& t : ts)
            if (t.budget == top && (!b || better(t.score, b->score))) b = &t;
        return *b;
    }

private:
    static bool better(double a, double b) { return !std::isnan(a) && (std::isnan(b) || a > b); }

    trial run(std::size_t id, std::size_t budget, const objective& f) {
        trial t{id, budget, configuration(id), 0, 0, false};
        if (const auto it = logged_.find({id, budget}); it != logged_.end()) {
            if (!(it->second.cfg == t.cfg))
                throw error(log_ + ": trial " + std::to_string(id) + " in the log has another configuration: the log is from "
                            "another search (seed or space); use a new log file");
            t.score = it->second.score;
            t.from_log = true;
            return t;
        }
        const auto t0 = std::chrono::steady_clock::now();
        t.score = f(t.cfg, budget);
        t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        append(t);
        return t;
    }

    void append(const trial& t) {
        if (log_.empty()) return;
        std::ofstream out(log_, std::ios::app);
        nlohmann::json j = {{"trial", t.id}, {"budget", t.budget}, {"config", t.cfg.to_json()}, {"seconds", t.seconds}};
        j["score"] = std::isnan(t.score) ? nlohmann::json(nullptr) : nlohmann::json(t.score);
        out << j.dump() << "\n";
        out.flush();
        if (!out) throw error(log_ + ": cannot append to the trial log");
    }

    /// The trials of an earlier run of this search. A last line cut short (the run was killed
    /// while writing it) is ignored; any other bad line is an error naming it.
    void read_log() {
        if (log_.empty()) return;
        std::ifstream in(log_);
        if (!in) return;  // a new search
        std::string line;
        std::size_t n = 0;
        std::vector<std::string> lines;
        while (std::getline(in, line)) lines.push_back(line);
        for (const auto& l : lines) {
            ++n;
            if (l.empty()) continue;
            try {
                const auto j = nlohmann::json::parse(l);
                trial t;
                t.id = j.at("trial").get<std::size_t>();
                t.budget = j.at("budget").get<std::size_t>();
                t.cfg.num = j.at("config").at("num").get<std::map<std::string, double>>();
                t.cfg.cat = j.at("config").at("cat").get<std::map<std::string, std::string>>();
                t.score = j.at("score").is_null() ? std::nan("") : j.at("score").get<double>();
                logged_[{t.id, t.budget}] = t;
            } catch (const nlohmann::json::exception& e) {
                if (n == lines.size()) break;  // the last line, cut short
                throw error(log_ + ": line " + std::to_string(n) + " is not a trial record: " + e.what());
            }
        }
    }

    space space_;
    std::uint64_t seed_;
    std::string log_;
    std::map<std::pair<std::size_t, std::size_t>, trial> logged_;
};

}  // namespace ctnn::automl
