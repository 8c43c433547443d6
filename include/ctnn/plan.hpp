// The plan of a net: everything about it that is known before run time, computed once from the
// layer list and kept apart from storage (host or device blocks) and from the executor.
//
//   shapes[I], shape_at<I>     the shape entering layer I (I = depth: the output)
//   first_error                the first layer whose shape rule fails (depth: none)
//   param/grad/buffer sizes and offsets in their blocks; counts
//   trainable[I], aliases[I]   layer traits (aliases: output is the input viewed, no kernel runs)
//   kernel<B, I>, group<B, I>  the kernel and the fused-group candidate at layer I on backend B
//   groups<B, Training>[I]     how many layers the kernel run at layer I covers on B (0: layer I
//                              ran inside an earlier group)
//   scratch<B>, shared_scratch<B>, prepared<B, I>   what B's kernels ask of the storage
//
// The layer list and the walks over it use Boost.Hana (hana::tuple_t, at_c, for_each over a
// range); shapes and sizes are constexpr loops over plain values (shape.hpp), so the plan costs
// one instantiation per layer, not a recursion as deep as the net.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <boost/hana/at.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/range.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>

#include "backend.hpp"
#include "layer.hpp"
#include "layers/frozen.hpp"
#include "memory.hpp"
#include "shape.hpp"

namespace ctnn {

namespace detail {
/// Calls f.template operator()<I>() for I = 0 .. N-1, in order.
template <std::size_t N, class F>
constexpr void for_each_index(F&& f) {
    boost::hana::for_each(boost::hana::make_range(boost::hana::size_c<0>, boost::hana::size_c<N>),
                          [&](auto i) { f.template operator()<decltype(i)::value>(); });
}
/// The same for I = N-1 .. 0.
template <std::size_t N, class F>
constexpr void for_each_index_reverse(F&& f) {
    for_each_index<N>([&]<std::size_t J>() { f.template operator()<N - 1 - J>(); });
}
}  // namespace detail

template <class InputShape, class... Ls>
struct plan;

template <std::size_t... D, class... Ls>
struct plan<Shape<D...>, Ls...> {
    static constexpr std::size_t depth = sizeof...(Ls);
    static constexpr auto layer_list = boost::hana::tuple_t<Ls...>;

    /// The I-th layer type (0-based, Input not counted: PyTorch's nn.Sequential index).
    template <std::size_t I>
    using layer_type = typename decltype(+boost::hana::at_c<I>(layer_list))::type;

    /// shapes[I]: the shape entering layer I (shapes[depth] is the output). Computed through
    /// every layer even after a failed check (output() never overflows), so that one mistake
    /// gives one error.
    static constexpr std::array<dims, depth + 1> shapes = [] {
        std::array<dims, depth + 1> s{};
        s[0] = Shape<D...>::value;
        std::size_t i = 0;
        ((s[i + 1] = Ls::output(s[i]), ++i), ...);
        return s;
    }();
    static constexpr std::size_t first_error = [] {
        std::size_t i = 0, bad = depth;
        ((bad = bad == depth && !Ls::check(shapes[i]).ok() ? i : bad, ++i), ...);
        return bad;
    }();
    static constexpr bool ok = first_error == depth;

    template <std::size_t I>
    using shape_at = shape_t<shapes[I].rank, shapes[I].d[0], shapes[I].d[1], shapes[I].d[2]>;

private:
    template <class F>
    static constexpr std::array<std::size_t, depth> per_layer(F f) {
        std::array<std::size_t, depth> r{};
        detail::for_each_index<depth>([&]<std::size_t I>() { r[I] = f.template operator()<I>(); });
        return r;
    }

public:
    static constexpr std::array<std::size_t, depth + 1> offsets(const std::array<std::size_t, depth>& sizes) {
        std::array<std::size_t, depth + 1> o{};
        for (std::size_t i = 0; i < depth; ++i) o[i + 1] = o[i] + sizes[i];
        return o;
    }

    static constexpr std::array<std::size_t, depth> param_sizes =
        per_layer([]<std::size_t I>() { return param_floats<layer_type<I>>(shapes[I]); });
    static constexpr std::array<std::size_t, depth> buffer_sizes =
        per_layer([]<std::size_t I>() { return buffer_floats<layer_type<I>>(shapes[I]); });
    static constexpr std::array<bool, depth> trainable = [] {
        std::array<bool, depth> r{};
        detail::for_each_index<depth>([&]<std::size_t I>() { r[I] = layer_type<I>::trainable && param_sizes[I] > 0; });
        return r;
    }();
    static constexpr std::array<bool, depth> aliases = {Ls::aliases_input...};
    static constexpr std::array<std::size_t, depth> grad_sizes =
        per_layer([]<std::size_t I>() { return trainable[I] ? param_sizes[I] : std::size_t(0); });

    static constexpr std::array<std::size_t, depth + 1> param_offset = offsets(param_sizes);
    static constexpr std::array<std::size_t, depth + 1> grad_offset = offsets(grad_sizes);
    static constexpr std::array<std::size_t, depth + 1> buffer_offset = offsets(buffer_sizes);
    static constexpr std::size_t param_count = param_offset[depth];
    static constexpr std::size_t grad_count = grad_offset[depth];
    static constexpr std::size_t buffer_count = buffer_offset[depth];

    /// The first layer that needs a backward pass (layers before it are frozen or parameter-free).
    static constexpr std::size_t first_trainable = [] {
        for (std::size_t i = 0; i < depth; ++i)
            if (trainable[i]) return i;
        return depth;
    }();
    /// The largest per-sample activation, input and output included.
    static constexpr std::size_t max_activation = [] {
        std::size_t m = 0;
        for (const dims& s : shapes) m = std::max(m, s.size());
        return m;
    }();
    /// Floats of inference workspace (layer.hpp: work) the most demanding layer asks for at
    /// batch n: layers run one at a time, so they share it.
    static constexpr std::size_t work_floats_at(std::size_t n) {
        std::size_t m = 0;
        detail::for_each_index<depth>([&]<std::size_t I>() { m = std::max(m, work_floats<layer_type<I>>(shapes[I], n)); });
        return m;
    }
    /// Host inference runs in tiles of this many samples (a ~256 KiB buffer per tile), counting
    /// the activations inside blocks (their work holds two of the largest).
    static constexpr std::size_t inference_tile =
        std::clamp<std::size_t>(65536 / std::max(max_activation, work_floats_at(1) / 2), 1, 64);
    /// Rough multiply-adds per sample (parameters times output positions, plus activations):
    /// decides how many threads an inference batch is worth.
    static constexpr std::size_t work_per_sample = [] {
        std::size_t w = 0;
        for (std::size_t i = 0; i < depth; ++i)
            w += param_sizes[i] * shapes[i + 1].height() * shapes[i + 1].width() + shapes[i + 1].size();
        return w;
    }();

    // ---- per backend -------------------------------------------------------------------------

    /// Layer J, or no_layer past the end (frozen layers seen through).
    template <std::size_t J>
    using layer_or_none = unfrozen_t<typename std::conditional_t<(J < depth), std::type_identity<layer_type<(J < depth ? J : 0)>>,
                                                                 std::type_identity<no_layer>>::type>;
    /// The first layer no kernel of B (or its fallbacks) runs (depth: none; diagnostics.hpp).
    template <class B>
    static constexpr std::size_t first_unsupported = []<std::size_t... I>(std::index_sequence<I...>) {
        std::size_t bad = depth;
        ((bad = bad == depth && !kernel_exists<layer_type<I>, shape_at<I>, B>() ? I : bad), ...);
        return bad;
    }(std::make_index_sequence<depth>{});
    /// Whether the net runs on B: its shapes are right and every layer has a kernel there.
    template <class B>
    static constexpr bool runs_on = ok && first_unsupported<B> == depth;

    /// The kernel that runs layer I on backend B.
    template <class B, std::size_t I>
    using kernel = kernel_for<layer_type<I>, shape_at<I>, B>;
    /// The fused group B would run from layer I (traits.fuses == 1: none).
    template <class B, std::size_t I>
    using group = fused<B, shape_at<I>, layer_or_none<I>, layer_or_none<I + 1>, layer_or_none<I + 2>>;

    /// groups<B, Training>[I]: how many layers the kernel run at layer I covers (1: itself only;
    /// 0: layer I is part of an earlier group). Greedy from the first layer.
    template <class B, bool Training>
    static constexpr std::array<std::size_t, depth> group_sizes() {
        std::array<std::size_t, depth> r{};
        std::size_t next = 0;
        detail::for_each_index<depth>([&]<std::size_t I>() {
            constexpr kernel_traits t = group<B, I>::traits;
            constexpr std::size_t g = Training && !t.fuses_in_training ? 1 : std::min(std::max<std::size_t>(t.fuses, 1), depth - I);
            if (I >= next) {
                r[I] = g;
                next = I + g;
            }
        });
        return r;
    }
    template <class B, bool Training>
    static constexpr std::array<std::size_t, depth> groups = group_sizes<B, Training>();

    /// The first layer of the last group on B (depth: no layers). (From group_sizes, not from
    /// groups: nvcc 13 cannot read one static constexpr array in the initializer of another.)
    template <class B, bool Training>
    static constexpr std::size_t last_group = [] {
        const std::array<std::size_t, depth> g = group_sizes<B, Training>();
        std::size_t s = depth;
        for (std::size_t i = 0; i < depth; ++i)
            if (g[i] > 0) s = i;
        return s;
    }();

    /// Floats of per-thread scratch the largest of B's kernels and groups asks for, and of the
    /// calling thread's per-task scratch.
    template <class B>
    static constexpr std::size_t scratch = [] {
        std::size_t m = 0;
        detail::for_each_index<depth>([&]<std::size_t I>() {
            m = std::max({m, kernel<B, I>::traits.scratch, group<B, I>::traits.scratch});
        });
        return m;
    }();
    template <class B>
    static constexpr std::size_t shared_scratch = [] {
        std::size_t m = 0;
        detail::for_each_index<depth>([&]<std::size_t I>() {
            m = std::max({m, kernel<B, I>::traits.shared_per_task, group<B, I>::traits.shared_per_task});
        });
        return m;
    }();
    /// Floats of layer I's prepared parameters on B (0: none), aligned.
    template <class B, std::size_t I>
    static constexpr std::size_t prepared_size = align_floats(kernel<B, I>::traits.prepared);
    template <class B>
    static constexpr std::array<std::size_t, depth + 1> prepared_offset =
        offsets(per_layer([]<std::size_t I>() { return prepared_size<B, I>; }));
};

}  // namespace ctnn
