// Compile-time shape errors. A layer's shape rule is a constexpr function returning a
// layer_check; when it fails, Sequential names an incomplete class template whose name carries
// the layer's position, its type, what it needs and what it got, so the compiler's first error
// line reads, for the seed's bug:
//
//   error: invalid application of 'sizeof' to incomplete type 'ctnn::shape_error_at_layer<7,
//          ctnn::Linear<512, 10>, ctnn::needs_in_features<512>, ctnn::got_in_features<2048> >'
//
// Positions count layers after Input from 0, the same index PyTorch's nn.Sequential uses.
#pragma once
#include <cstddef>

#include "shape.hpp"

namespace ctnn {

/// Named by the compiler when no backend in Backend's fallback chain has a kernel for the layer
/// at position Layer of a net (backend_check below: one error, naming the layer and the backend).
template <std::size_t Layer, class Kind, class Backend> struct no_kernel_for_layer_on_backend;

/// What a layer's shape rule can object to.
enum class problem {
    none,
    in_features,          // Linear<In, Out> after a flat shape of another size
    in_channels,          // Conv<Cin, ...> after a map with another channel count
    flat_input,           // Linear after a C×H×W map (a Flatten is missing)
    image_input,          // a spatial layer (Conv, pooling) after a flat shape
    kernel_too_large,     // Conv kernel larger than its padded input
    window_too_large,     // pooling window larger than its input
    channels,             // BatchNorm<C> after another channel / feature count
    shortcut_shape,       // Residual: the shortcut's output shape differs from the body's
    branch_size,          // Concat: a branch's output height × width differs from branch 0's
                          // (got.d[0] is the branch's index)
};

/// The result of a layer's shape rule: `needs` and `got` are the numbers the message shows.
struct layer_check {
    problem what = problem::none;
    dims needs{};
    dims got{};
    constexpr bool ok() const { return what == problem::none; }
};

// The tags that spell the problem in the diagnostic. They are never defined: only named.
template <std::size_t N> struct needs_in_features;
template <std::size_t N> struct got_in_features;
template <std::size_t C> struct needs_in_channels;
template <std::size_t C> struct got_in_channels;
template <std::size_t C> struct needs_channels;
template <std::size_t C> struct got_channels;
template <std::size_t N> struct needs_flat_input_of;  // N features: insert ctnn::Flatten
struct needs_CHW_input;
template <std::size_t... D> struct got_shape;
template <std::size_t H, std::size_t W> struct needs_padded_input_at_least;
template <std::size_t H, std::size_t W> struct got_padded_input;
template <std::size_t H, std::size_t W> struct needs_input_at_least;
template <std::size_t H, std::size_t W> struct got_input;
template <std::size_t... D> struct needs_shortcut_output;   // the body's output shape
template <std::size_t... D> struct got_shortcut_output;
template <std::size_t H, std::size_t W> struct needs_branch_size;               // branch 0's
template <std::size_t Branch, std::size_t H, std::size_t W> struct got_branch_size;

/// Never defined: naming it with sizeof is the compile-time shape error.
template <std::size_t Layer, class Kind, class Needs, class Got>
struct shape_error_at_layer;

namespace detail {

template <std::size_t Rank, std::size_t D0, std::size_t D1, std::size_t D2>
struct got_shape_of { using type = got_shape<D0, D1, D2>; };
template <std::size_t D0, std::size_t D1, std::size_t D2>
struct got_shape_of<1, D0, D1, D2> { using type = got_shape<D0>; };

template <problem P, std::size_t NR, std::size_t N0, std::size_t N1, std::size_t N2, std::size_t GR,
          std::size_t G0, std::size_t G1, std::size_t G2>
struct problem_tags;
template <std::size_t NR, std::size_t N0, std::size_t N1, std::size_t N2, std::size_t GR, std::size_t G0, std::size_t G1, std::size_t G2>
struct problem_tags<problem::in_features, NR, N0, N1, N2, GR, G0, G1, G2> {
    using needs = needs_in_features<N0>; using got = got_in_features<G0>; };
template <std::size_t NR, std::size_t N0, std::size_t N1, std::size_t N2, std::size_t GR, std::size_t G0, std::size_t G1, std::size_t G2>
struct problem_tags<problem::in_channels, NR, N0, N1, N2, GR, G0, G1, G2> {
    using needs = needs_in_channels<N0>; using got = got_in_channels<G0>; };
template <std::size_t NR, std::size_t N0, std::size_t N1, std::size_t N2, std::size_t GR, std::size_t G0, std::size_t G1, std::size_t G2>
struct problem_tags<problem::channels, NR, N0, N1, N2, GR, G0, G1, G2> {
    using needs = needs_channels<N0>; using got = got_channels<G0>; };
template <std::size_t NR, std::size_t N0, std::size_t N1, std::size_t N2, std::size_t GR, std::size_t G0, std::size_t G1, std::size_t G2>
struct problem_tags<problem::flat_input, NR, N0, N1, N2, GR, G0, G1, G2> {
    using needs = needs_flat_input_of<N0>; using got = typename got_shape_of<GR, G0, G1, G2>::type; };
template <std::size_t NR, std::size_t N0, std::size_t N1, std::size_t N2, std::size_t GR, std::size_t G0, std::size_t G1, std::size_t G2>
struct problem_tags<problem::image_input, NR, N0, N1, N2, GR, G0, G1, G2> {
    using needs = needs_CHW_input; using got = typename got_shape_of<GR, G0, G1, G2>::type; };
template <std::size_t NR, std::size_t N0, std::size_t N1, std::size_t N2, std::size_t GR, std::size_t G0, std::size_t G1, std::size_t G2>
struct problem_tags<problem::kernel_too_large, NR, N0, N1, N2, GR, G0, G1, G2> {
    using needs = needs_padded_input_at_least<N0, N1>; using got = got_padded_input<G0, G1>; };
template <std::size_t NR, std::size_t N0, std::size_t N1, std::size_t N2, std::size_t GR, std::size_t G0, std::size_t G1, std::size_t G2>
struct problem_tags<problem::window_too_large, NR, N0, N1, N2, GR, G0, G1, G2> {
    using needs = needs_input_at_least<N0, N1>; using got = got_input<G0, G1>; };

template <std::size_t Rank, std::size_t D0, std::size_t D1, std::size_t D2>
struct shortcut_tags { using needs = needs_shortcut_output<D0, D1, D2>; };
template <std::size_t D0, std::size_t D1, std::size_t D2>
struct shortcut_tags<1, D0, D1, D2> { using needs = needs_shortcut_output<D0>; };
template <std::size_t Rank, std::size_t D0, std::size_t D1, std::size_t D2>
struct got_shortcut_of { using type = got_shortcut_output<D0, D1, D2>; };
template <std::size_t D0, std::size_t D1, std::size_t D2>
struct got_shortcut_of<1, D0, D1, D2> { using type = got_shortcut_output<D0>; };
template <std::size_t NR, std::size_t N0, std::size_t N1, std::size_t N2, std::size_t GR, std::size_t G0, std::size_t G1, std::size_t G2>
struct problem_tags<problem::shortcut_shape, NR, N0, N1, N2, GR, G0, G1, G2> {
    using needs = typename shortcut_tags<NR, N0, N1, N2>::needs; using got = typename got_shortcut_of<GR, G0, G1, G2>::type; };
template <std::size_t NR, std::size_t N0, std::size_t N1, std::size_t N2, std::size_t GR, std::size_t G0, std::size_t G1, std::size_t G2>
struct problem_tags<problem::branch_size, NR, N0, N1, N2, GR, G0, G1, G2> {
    using needs = needs_branch_size<N0, N1>; using got = got_branch_size<G0, G1, G2>; };

/// Names shape_error_at_layer<...> (a hard error) for the first layer of a plan whose shape rule
/// fails, and only that one (one mistake gives one error, not a cascade: the net's members do not
/// instantiate kernels when the plan is not ok).
/// A net derives from it (an empty base): instantiating the net instantiates the check, and a
/// failed check is then one error on g++ and on clang (a static_assert on its result would add a
/// second, "not a constant expression").
template <class Plan, bool Ok = Plan::ok>
struct shape_check {};
template <class Plan>
struct shape_check<Plan, false> {
    static constexpr std::size_t I = Plan::first_error;
    using L = typename Plan::template layer_type<I>;
    static constexpr layer_check c = L::check(Plan::shapes[I]);
    using tags = problem_tags<c.what, c.needs.rank, c.needs.d[0], c.needs.d[1], c.needs.d[2], c.got.rank, c.got.d[0], c.got.d[1], c.got.d[2]>;
    static_assert(sizeof(shape_error_at_layer<I, L, typename tags::needs, typename tags::got>) > 0);
};

/// Instantiated by every call that runs a net on a backend: one error naming the first layer
/// that backend (and its fallbacks) has no kernel for, and nothing else (the call does not
/// instantiate kernels then). Nothing when the shapes already failed.
template <class Plan, class Backend, bool Ok = !Plan::ok || Plan::template first_unsupported<Backend> == Plan::depth>
struct backend_check {};
template <class Plan, class Backend>
struct backend_check<Plan, Backend, false> {
    static constexpr std::size_t I = Plan::template first_unsupported<Backend>;
    static_assert(sizeof(no_kernel_for_layer_on_backend<I, typename Plan::template layer_type<I>, Backend>) > 0);
};

}  // namespace detail
}  // namespace ctnn
