// Tanh: y = tanh(x), any shape; PyTorch's nn.Tanh().
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct Tanh : layer_base {
    static constexpr std::string_view kind = "Tanh";
    static std::string name() { return "Tanh"; }
    static constexpr bool grad_from_output = true;  // 1 - y²
    CTNN_HD_TEMPLATE
    template <class M> static CTNN_HD typename M::type f(typename M::type x) { return M::tanh(x); }
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type df(typename M::type, typename M::type y, typename M::type dy) {
        return dy * (M::one() - y * y);
    }
};

}  // namespace ctnn
