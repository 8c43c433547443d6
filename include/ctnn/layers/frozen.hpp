// Frozen<L>: layer L with its parameters fixed. It has the same shape rule, parameters and
// kernels as L, but no gradient buffer and no optimizer state: Net::grad_count shows it at
// compile time. Its tensors keep L's names, so weights load as they would into L.
//
// Kernels and fused groups see L itself (unfrozen_t, layer.hpp): a frozen layer runs L's
// kernels, fuses as L does on every backend, and its backward gets dparams == nullptr.
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

template <layer L>
struct Frozen : L {
    using inner = L;
    static constexpr bool trainable = false;
    static std::string name() { return "Frozen " + L::name(); }
};

template <class L> struct unfrozen<Frozen<L>> : unfrozen<L> {};

}  // namespace ctnn
