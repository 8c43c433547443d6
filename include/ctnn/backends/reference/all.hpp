// The reference backend: every reference kernel, then the backend's type. It is complete only
// here, after all of them, so a net run on it sees the same kernels in every translation unit.
#pragma once
#include <string_view>

#include "activations.hpp"
#include "batchnorm.hpp"
#include "conv.hpp"
#include "conv_transpose.hpp"
#include "linear.hpp"
#include "pooling.hpp"
#include "shape_ops.hpp"
#include "squeeze_excite.hpp"
#include "upsample.hpp"

namespace ctnn {

struct reference {
    static constexpr std::string_view name = "reference";
    using fallback = void;  // the end of every fallback chain
};

}  // namespace ctnn
