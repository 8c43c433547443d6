// ReLU: y = max(x, 0), any shape; PyTorch's nn.ReLU(). As PyTorch: NaN passes (forward and
// backward), -0 gives +0, and the gradient at 0 is 0.
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct ReLU : layer_base {
    static constexpr std::string_view kind = "ReLU";
    static std::string name() { return "ReLU"; }
    static constexpr bool grad_from_output = true;
    CTNN_HD_TEMPLATE
    template <class M> static CTNN_HD typename M::type f(typename M::type x) {
        return M::select(x <= M::zero(), M::zero(), x);
    }
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type df(typename M::type, typename M::type y, typename M::type dy) {
        return M::select(y <= M::zero(), M::zero(), dy);
    }
};

}  // namespace ctnn
