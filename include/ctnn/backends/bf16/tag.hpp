// The bf16 backends' types, declared: their kernels specialize kernel<Layer, In, cpu_bf16> and
// kernel<Layer, In, reference_bf16>. They are defined (complete, usable to run a net) only in
// all.hpp, after every bf16 kernel, so the same kernels are selected in every translation unit.
#pragma once
#include "../../backend.hpp"

namespace ctnn {
struct cpu_bf16;
struct reference_bf16;
}  // namespace ctnn
