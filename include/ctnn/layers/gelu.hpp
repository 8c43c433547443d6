// GELU: y = x Φ(x) = x / 2 (1 + erf(x / √2)), any shape; PyTorch's nn.GELU() (approximate='none').
// The formulas and their order of operations are PyTorch's CPU kernels' (1.13):
//   y  = (x · 0.5) · (1 + erf(x · √½))
//   dx = dy · (Φ(x) + x φ(x)),  Φ(x) = 0.5 (1 + erf(x · √½)),  φ(x) = exp(-x² / 2) / √(2π)
// As PyTorch: NaN gives NaN; y(+inf) = +inf and y(-inf) = NaN (-inf · 0), and the gradient at
// ±inf is NaN (±inf · 0). For x far below 0, 1 + erf(...) cancels: y keeps float32's absolute
// accuracy (about 1e-7 of |x|), not its relative one, exactly as PyTorch's float32 kernel.
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct GELU : layer_base {
    static constexpr std::string_view kind = "GELU";
    static std::string name() { return "GELU"; }
    // GELU is not monotonic (a minimum near x = -0.75): one y comes from two x with different
    // gradients, so the gradient needs x.
    static constexpr bool grad_from_output = false;
    static constexpr float sqrt1_2 = 0.70710678118654752440f;      // 1 / √2
    static constexpr float inv_sqrt_2pi = 0.39894228040143267794f; // 1 / √(2π)
    CTNN_HD_TEMPLATE
    template <class M> static CTNN_HD typename M::type f(typename M::type x) {
        return x * M::set1(0.5f) * (M::one() + M::erf(x * M::set1(sqrt1_2)));
    }
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type df(typename M::type x, typename M::type, typename M::type dy) {
        return dy * (M::set1(0.5f) * (M::one() + M::erf(x * M::set1(sqrt1_2))) +
                     x * (M::set1(inv_sqrt_2pi) * M::exp(x * x * M::set1(-0.5f))));
    }
};

}  // namespace ctnn
