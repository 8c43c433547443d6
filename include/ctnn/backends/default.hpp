// The backend Sequential uses when none is named: the fastest one compiled in, the cpu backend
// (xsimd kernels for the instruction set the compiler targets; see backends/cpu/simd.hpp).
#pragma once
#include "../backend.hpp"
#include "cpu/all.hpp"
#include "reference/all.hpp"

namespace ctnn {
using default_backend = cpu;
}  // namespace ctnn
