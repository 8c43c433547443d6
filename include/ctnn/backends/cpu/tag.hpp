// The cpu backend: xsimd kernels (arch picked at compile time, see simd.hpp) and the thread pool
// of threads.hpp. Layers it has no kernel for run on the reference backend.
#pragma once
#include <string_view>

#include "../../backend.hpp"

namespace ctnn {

struct cpu {
    static constexpr std::string_view name = "cpu";
    using fallback = reference;
};

}  // namespace ctnn
