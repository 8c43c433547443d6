// The cpu backend: xsimd kernels (arch picked at compile time, see simd.hpp) on the thread pool
// of threads.hpp. Layers it has no kernel for (AvgPool, GlobalAvgPool, Dropout, Softmax,
// Flatten's copy) run their reference kernel.
#pragma once
#include <string_view>

#include "../reference/all.hpp"
#include "activations.hpp"
#include "batchnorm.hpp"
#include "conv.hpp"
#include "conv_bn.hpp"  // Conv + BatchNorm (+ activation) in inference
#include "conv_gemm.hpp"  // strided, dilated, grouped and depthwise Conv
#include "conv_transpose.hpp"
#include "elementwise.hpp"
#include "linear.hpp"
#include "pooling.hpp"
#include "squeeze_excite.hpp"
#include "tag.hpp"
#include "upsample.hpp"

namespace ctnn {

struct cpu {
    static constexpr std::string_view name = "cpu";
    using fallback = reference;
};

}  // namespace ctnn
