// Sigmoid: y = 1 / (1 + exp(-x)), any shape; PyTorch's nn.Sigmoid().
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct Sigmoid : layer_base {
    static constexpr std::string_view kind = "Sigmoid";
    static std::string name() { return "Sigmoid"; }
    static constexpr bool grad_from_output = true;  // y (1 - y)
    CTNN_HD_TEMPLATE
    template <class M> static CTNN_HD typename M::type f(typename M::type x) {
        return M::one() / (M::one() + M::exp(-x));
    }
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type df(typename M::type, typename M::type y, typename M::type dy) {
        return dy * y * (M::one() - y);
    }
};

}  // namespace ctnn
