// The cpu backend's type, declared: its kernels specialize kernel<Layer, In, cpu>. It is defined
// (complete, usable to run a net) only in all.hpp, after every cpu kernel, so the same kernels
// are selected in every translation unit that runs a net on it.
#pragma once
#include "../../backend.hpp"

namespace ctnn {
struct cpu;
}  // namespace ctnn
