// The bf16 backends (inference only):
//
//   cpu_bf16        Conv (one group) and Linear multiply bf16 weights by bf16-rounded inputs,
//                   summing in fp32 (gemm.hpp: vdpbf16ps where the compiler targets
//                   AVX512-BF16, else AVX2 + FMA on widened values, else scalar loops); every
//                   other layer runs the cpu backend's fp32 kernel (the fallback), on the fp32
//                   activations that pass between layers.
//   reference_bf16  the definition: the same products and sums in plain loops, one layer at a
//                   time; every other layer runs the reference backend's kernel.
//
// Both read fp32 parameters and round Conv and Linear weights to bf16 themselves; ctnn::bf16_net
// (bf16/net.hpp) holds a net whose weights are already bf16 values.
#pragma once
#include <string_view>

#include "../cpu/all.hpp"
#include "../reference/all.hpp"
#include "conv.hpp"
#include "linear.hpp"
#include "tag.hpp"

namespace ctnn {

struct cpu_bf16 {
    static constexpr std::string_view name = "cpu_bf16";
    using fallback = cpu;
};

struct reference_bf16 {
    static constexpr std::string_view name = "reference_bf16";
    using fallback = reference;
};

}  // namespace ctnn
