// LeakyReLU<Num = 1, Den = 100>: y = x > 0 ? x : (Num / Den) x, any shape;
// PyTorch's nn.LeakyReLU(Num / Den). The slope is a fraction because clang 14 and nvcc do not
// take float template arguments.
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

template <std::size_t Num = 1, std::size_t Den = 100>
struct LeakyReLU : layer_base {
    static_assert(Den > 0, "ctnn::LeakyReLU<Num, Den>: Den must be positive");
    static constexpr float slope = static_cast<float>(static_cast<double>(Num) / static_cast<double>(Den));
    static constexpr std::string_view kind = "LeakyReLU";
    static std::string name() { return "LeakyReLU(" + std::to_string(Num) + "/" + std::to_string(Den) + ")"; }
    static constexpr hparam_list hparams() { return {{"negative_slope", Num, Den}}; }
    // The slope is >= 0, so y > 0 exactly when x > 0 (NaN: neither): the gradient follows from y.
    static constexpr bool grad_from_output = true;
    CTNN_HD_TEMPLATE
    template <class M> static CTNN_HD typename M::type f(typename M::type x) {
        return M::select(x > M::zero(), x, x * M::set1(slope));
    }
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type df(typename M::type, typename M::type y, typename M::type dy) {
        return M::select(y > M::zero(), dy, dy * M::set1(slope));
    }
};

}  // namespace ctnn
