// Frozen<L>: layer L with its parameters fixed. It has the same shape rule, parameters and
// kernels as L, but no gradient buffer and no optimizer state: Net::grad_count shows it at
// compile time. Its tensors keep L's names, so weights load as they would into L.
#pragma once
#include <string>

#include "../backend.hpp"
#include "../layer.hpp"

namespace ctnn {

template <layer L>
struct Frozen : L {
    using inner = L;
    static constexpr bool trainable = false;
    static std::string name() { return "Frozen " + L::name(); }
};

/// A frozen layer runs its inner layer's kernels; backward gets dparams == nullptr.
template <class L, class In, class Backend>
struct kernel<Frozen<L>, In, Backend> : kernel_for<L, In, Backend> {};

}  // namespace ctnn
