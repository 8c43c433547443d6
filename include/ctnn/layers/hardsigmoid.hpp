// Hardsigmoid: y = min(max(x + 3, 0), 6) / 6, any shape; PyTorch's nn.Hardsigmoid().
// Gradient as PyTorch's (1.13): dy / 6 for -3 < x < 3 (dy · float(1/6)), else 0: 0 at x = ±3
// exactly, and 0 for NaN (NaN fails both comparisons). Forward: NaN gives NaN, ±inf give 1 and 0.
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

namespace detail {
/// min(max(t, 0), 6) written with select, NaN passing through: xsimd's min and max (x86
/// minps/maxps) return their second operand when either is NaN, unlike std::min and std::max,
/// so the vector and scalar kernels would differ on NaN. Comparisons with NaN are false here,
/// which keeps t.
CTNN_HD_TEMPLATE
template <class M> CTNN_HD typename M::type clamp_0_6(typename M::type t) {
    return M::select(t < M::zero(), M::zero(), M::select(t > M::set1(6.0f), M::set1(6.0f), t));
}
}  // namespace detail

struct Hardsigmoid : layer_base {
    static constexpr std::string_view kind = "Hardsigmoid";
    static std::string name() { return "Hardsigmoid"; }
    // Not a function of y: x just below 3 rounds x + 3 up to 6, so y == 1 there while the gradient
    // is dy / 6 (x = 2.9999998f), and y == 1 at x = 3 has gradient 0.
    static constexpr bool grad_from_output = false;
    CTNN_HD_TEMPLATE
    template <class M> static CTNN_HD typename M::type f(typename M::type x) {
        return detail::clamp_0_6<M>(x + M::set1(3.0f)) / M::set1(6.0f);
    }
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type df(typename M::type x, typename M::type, typename M::type dy) {
        return M::select(x > M::set1(-3.0f), M::select(x < M::set1(3.0f), dy * M::set1(1.0f / 6.0f), M::zero()),
                         M::zero());
    }
};

}  // namespace ctnn
