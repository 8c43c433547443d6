// A Keras-style table of a net's plan: index, layer, output shape, parameters; then the totals.
#pragma once
#include <algorithm>
#include <array>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "plan.hpp"

namespace ctnn {

namespace detail {
inline std::string with_commas(std::size_t v) {
    std::string s = std::to_string(v);
    for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(std::size_t(i), ",");
    return s;
}
/// A block's row shows its kind (its children follow); a layer's, its name.
template <class L>
std::string summary_name() {
    if constexpr (block<L>) return std::string(L::trainable ? "" : "Frozen ") + std::string(L::kind);
    else return L::name();
}
/// One row per child of block L (and theirs, indented): its path in the block, its name, its
/// output shape and parameters.
template <class L, class Row>
void summary_children(const Row& row, dims in, const std::string& indent, const std::string& path) {
    if constexpr (block<L>) {
        L::for_each_child(in, [&]<class C>(std::string_view name, dims cin) {
            const std::string p = path + std::string(name);
            row("", indent + p + " " + summary_name<C>(), to_string(C::output(cin)), with_commas(param_floats<C>(cin)));
            summary_children<C>(row, cin, indent + "  ", p + ".");
        });
    }
}
}  // namespace detail

template <class Plan>
std::string summary_of() {
    // Rows first: the layer column is as wide as its longest name (nested block rows are long),
    // at least 28, so a net without blocks prints as it always did.
    std::vector<std::array<std::string, 4>> rows;
    const auto row = [&](const std::string& a, const std::string& b, const std::string& c, const std::string& d) {
        rows.push_back({a, b, c, d});
    };
    row("", "Input", to_string(Plan::shapes[0]), "0");
    detail::for_each_index<Plan::depth>([&]<std::size_t I>() {
        using L = typename Plan::template layer_type<I>;
        row(std::to_string(I), detail::summary_name<L>(), to_string(Plan::shapes[I + 1]), detail::with_commas(Plan::param_sizes[I]));
        detail::summary_children<L>(row, Plan::shapes[I], "  ", "");
    });
    std::size_t w = 28;
    for (const auto& r : rows) w = std::max(w, r[1].size() + 1);
    std::ostringstream o;
    const auto print = [&](const std::array<std::string, 4>& r) {
        o << std::left << std::setw(5) << r[0] << std::setw(int(w)) << r[1] << std::setw(16) << r[2] << std::right
          << std::setw(12) << r[3] << "\n";
    };
    const std::string rule(33 + w, '-');
    print({"#", "Layer", "Output shape", "Params"});
    o << rule << "\n";
    for (const auto& r : rows) print(r);
    o << rule << "\n";
    o << "Total params: " << detail::with_commas(Plan::param_count) << " (" << detail::with_commas(Plan::param_count * 4) << " bytes)\n";
    o << "Trainable params: " << detail::with_commas(Plan::grad_count) << "\n";
    o << "Non-trainable: " << detail::with_commas(Plan::param_count - Plan::grad_count) << " params, "
      << detail::with_commas(Plan::buffer_count) << " buffer values\n";
    return o.str();
}

}  // namespace ctnn
