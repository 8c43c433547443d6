// Input<D...>: the first element of every Sequential; the shape of one sample.
//   Input<3, 32, 32> (channels, height, width) or Input<784> (features).
#pragma once
#include "../shape.hpp"

namespace ctnn {

template <std::size_t... D>
struct Input {
    using shape = Shape<D...>;
};

template <class T> inline constexpr bool is_input = false;
template <std::size_t... D> inline constexpr bool is_input<Input<D...>> = true;

}  // namespace ctnn
