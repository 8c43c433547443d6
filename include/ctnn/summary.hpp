// A Keras-style table of a net's plan: index, layer, output shape, parameters; then the totals.
#pragma once
#include <iomanip>
#include <sstream>
#include <string>

#include "plan.hpp"

namespace ctnn {

namespace detail {
inline std::string with_commas(std::size_t v) {
    std::string s = std::to_string(v);
    for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(std::size_t(i), ",");
    return s;
}
}  // namespace detail

template <class Plan>
std::string summary_of() {
    std::ostringstream o;
    const auto row = [&](const std::string& a, const std::string& b, const std::string& c, const std::string& d) {
        o << std::left << std::setw(5) << a << std::setw(28) << b << std::setw(16) << c << std::right << std::setw(12) << d << "\n";
    };
    const std::string rule(61, '-');
    row("#", "Layer", "Output shape", "Params");
    o << rule << "\n";
    row("", "Input", to_string(Plan::shapes[0]), "0");
    detail::for_each_index<Plan::depth>([&]<std::size_t I>() {
        row(std::to_string(I), Plan::template layer_type<I>::name(), to_string(Plan::shapes[I + 1]),
            detail::with_commas(Plan::param_sizes[I]));
    });
    o << rule << "\n";
    o << "Total params: " << detail::with_commas(Plan::param_count) << " (" << detail::with_commas(Plan::param_count * 4) << " bytes)\n";
    o << "Trainable params: " << detail::with_commas(Plan::grad_count) << "\n";
    o << "Non-trainable: " << detail::with_commas(Plan::param_count - Plan::grad_count) << " params, "
      << detail::with_commas(Plan::buffer_count) << " buffer values\n";
    return o.str();
}

}  // namespace ctnn
