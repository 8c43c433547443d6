// Hardswish: y = x · min(max(x + 3, 0), 6) / 6, any shape; PyTorch's nn.Hardswish().
// Gradient as PyTorch defines hardswish_backward (its CUDA kernel and its CPU kernel's scalar loop):
//   x < -3: 0      -3 <= x <= 3: dy · (x / 3 + 0.5)      x > 3: dy      NaN: dy
// so -dy / 2 at x = -3 and 1.5 dy at x = 3 (the middle piece is closed), and NaN, failing every
// comparison, gets dy, as ReLU's NaN does. PyTorch 1.13's vectorized CPU loop differs from that
// definition at x = 3 (dy: it tests x >= 3, fixed in pytorch#143899) and at NaN (NaN): what
// PyTorch 1.13 on a CPU gives there depends on where in the tensor the element sits, so ctnn
// follows the definition. Forward: NaN gives NaN, +inf gives +inf, -inf gives NaN (-inf · 0), and
// x <= -3 gives x · 0, i.e. -0 for negative x, as PyTorch.
#pragma once
#include <string>

#include "../layer.hpp"
#include "hardsigmoid.hpp"  // detail::clamp_0_6

namespace ctnn {

struct Hardswish : layer_base {
    static constexpr std::string_view kind = "Hardswish";
    static std::string name() { return "Hardswish"; }
    // Hardswish is not monotonic (a minimum at x = -1.5): one y comes from two x with different
    // gradients, so the gradient needs x.
    static constexpr bool grad_from_output = false;
    CTNN_HD_TEMPLATE
    template <class M> static CTNN_HD typename M::type f(typename M::type x) {
        return x * detail::clamp_0_6<M>(x + M::set1(3.0f)) / M::set1(6.0f);
    }
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type df(typename M::type x, typename M::type, typename M::type dy) {
        return M::select(x < M::set1(-3.0f), M::zero(),
                         M::select(x <= M::set1(3.0f), dy * (x / M::set1(3.0f) + M::set1(0.5f)), dy));
    }
};

}  // namespace ctnn
