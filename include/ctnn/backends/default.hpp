// The backend a net runs on when a call names none: the fastest one compiled in, the cpu backend
// (xsimd kernels for the instruction set the compiler targets; see backends/cpu/simd.hpp).
// <ctnn/ctnn.hpp> includes this header; the choice is this one specialization, so every
// translation unit that includes it makes the same one.
#pragma once
#include "../backend.hpp"
#include "cpu/all.hpp"
#include "reference/all.hpp"

namespace ctnn {

template <> struct default_backend_of<void> { using type = cpu; };
using default_backend = cpu;

}  // namespace ctnn
