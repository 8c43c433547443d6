// SiLU (swish): y = x σ(x) = x / (1 + exp(-x)), any shape; PyTorch's nn.SiLU().
// The formulas and their order of operations are PyTorch's CPU kernels' (1.13):
//   y  = x / (1 + exp(-x))
//   dx = dy · σ · (1 + x (1 - σ)),  σ = 1 / (1 + exp(-x))
// As PyTorch: NaN gives NaN; y(+inf) = +inf, y(-inf) = NaN (-inf / inf), and the gradient at ±inf
// is NaN (inf · 0); -0 gives -0.
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct SiLU : layer_base {
    static constexpr std::string_view kind = "SiLU";
    static std::string name() { return "SiLU"; }
    // SiLU is not monotonic (a minimum near x = -1.28): one y comes from two x with different
    // gradients, so the gradient needs x.
    static constexpr bool grad_from_output = false;
    CTNN_HD_TEMPLATE
    template <class M> static CTNN_HD typename M::type f(typename M::type x) {
        return x / (M::one() + M::exp(-x));
    }
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type df(typename M::type x, typename M::type, typename M::type dy) {
        return grad<M>(x, M::one() / (M::one() + M::exp(-x)), dy);
    }
    /// df with s = σ(x) passed in (nvcc rejects a local of xsimd's vector type in a CTNN_HD template).
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type grad(typename M::type x, typename M::type s, typename M::type dy) {
        return dy * s * (M::one() + x * (M::one() - s));
    }
};

}  // namespace ctnn
