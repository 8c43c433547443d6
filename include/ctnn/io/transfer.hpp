// Transfer: a trained trunk under a new head, in memory.
//
//   ctnn::copy_layers<6>(trained, fresh);   // layers 0..5's parameters and buffers
//
// Checked at compile time: both nets must have the same layer type (a frozen layer counts as its
// inner one) on the same input shape at each copied layer. A mismatch is one error naming the
// first layer that differs and both its types.
#pragma once
#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "../layer.hpp"
#include "../layers/frozen.hpp"
#include "../plan.hpp"
#include "../sequential.hpp"

namespace ctnn {

/// Named by the compiler when copy_layers<Count> meets a layer that differs between the nets.
template <std::size_t Layer, class SrcLayer, class DstLayer> struct copy_layers_needs_the_same_layer_and_input_shape_at;

namespace detail {

template <class Src, class Dst, std::size_t Count>
constexpr std::size_t first_mismatch() {
    std::size_t bad = Count;
    for_each_index<Count>([&]<std::size_t I>() {
        using A = unfrozen_t<typename Src::template layer_type<I>>;
        using B = unfrozen_t<typename Dst::template layer_type<I>>;
        if (bad == Count && !(std::is_same_v<A, B> && Src::shapes[I] == Dst::shapes[I])) bad = I;
    });
    return bad;
}

template <class Src, class Dst, std::size_t I, bool Ok>
struct copy_mismatch {};
template <class Src, class Dst, std::size_t I>
struct copy_mismatch<Src, Dst, I, false> {
    static_assert(sizeof(copy_layers_needs_the_same_layer_and_input_shape_at<I, typename Src::template layer_type<I>,
                                                                             typename Dst::template layer_type<I>>) > 0);
};

/// Instantiated by copy_layers: one error for a Count past either net's end or for the first
/// layer that differs, and nothing else.
template <class Src, class Dst, std::size_t Count>
struct copy_check {
    static constexpr bool fits = Count <= Src::depth && Count <= Dst::depth;
    static_assert(fits, "ctnn::copy_layers<Count>: Count exceeds a net's depth");
    static constexpr std::size_t first = [] {
        if constexpr (fits) return first_mismatch<Src, Dst, Count>();
        else return Count;
    }();
    static constexpr bool ok = fits && first == Count;
    [[no_unique_address]] copy_mismatch<Src, Dst, first, first == Count> mismatch;
};

}  // namespace detail

/// Copies the parameters and buffers of layers 0 .. Count-1 from `src` to `dst`.
template <std::size_t Count, class Src, class Dst>
    requires(is_sequential<Src> && is_sequential<Dst>)
void copy_layers(const Src& src, Dst& dst) {
    using check = detail::copy_check<Src, Dst, Count>;
    [[maybe_unused]] constexpr check instantiated{};
    if constexpr (check::ok) {
        std::copy_n(src.params().data(), Src::param_offset[Count], dst.params().data());
        std::copy_n(src.buffers().data(), Src::buffer_offset[Count], dst.buffers().data());
    }
}

}  // namespace ctnn
