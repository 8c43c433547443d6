// Chain<L...>: layers in sequence, usable wherever a layer is (a Residual's body, a Concat's
// branch); PyTorch's nested nn.Sequential. Child j's tensors are named "j.<name>" inside the
// block's own prefix ("3.1.weight" for a Chain at index 3 of a net).
//
// Its kernel is the same on every host backend (block.hpp): the children run as a net of their
// own, by the executor, with the backend's kernels and fused groups.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "../block.hpp"
#include "../layer.hpp"

namespace ctnn {

namespace detail {
/// "0" .. "99": the names of a Chain's or a Concat's children.
struct index_names_t {
    char s[100][3]{};
    constexpr index_names_t() {
        for (std::size_t i = 0; i < 100; ++i) {
            if (i < 10) s[i][0] = char('0' + i);
            else s[i][0] = char('0' + i / 10), s[i][1] = char('0' + i % 10);
        }
    }
};
inline constexpr index_names_t index_names{};
constexpr std::string_view index_name(std::size_t i) { return index_names.s[i]; }

template <class... Ls>
std::string joined_names() {
    std::string s;
    ((s += (s.empty() ? "" : ", ") + Ls::name()), ...);
    return s;
}
}  // namespace detail

template <class... Ls>
struct Chain : block_base {
    static_assert(sizeof...(Ls) > 0, "ctnn::Chain<> is empty: a Chain needs at least one layer");
    static_assert(sizeof...(Ls) <= 100, "ctnn::Chain: at most 100 layers (nest Chains for more)");
    static_assert((layer<Ls> && ...), "ctnn::Chain: every element must be a ctnn layer type (see the ctnn::layer concept)");
    using net = detail::subnet<Ls...>;

    static constexpr std::string_view kind = "Chain";
    static std::string name() { return "Chain(" + detail::joined_names<Ls...>() + ")"; }
    static constexpr layer_check check(dims in) { return net::check(in); }
    static constexpr dims output(dims in) { return net::output(in); }
    static constexpr std::size_t saved(dims in, std::size_t n) { return net::template saved_floats<false>(in, n); }
    static constexpr std::size_t work(dims in, std::size_t n) { return net::work_floats(in, n); }
    template <class F>
    static constexpr void for_each_child(dims in, F&& f) {
        const auto s = net::shapes(in);
        std::size_t i = 0;
        ((f.template operator()<Ls>(detail::index_name(i), s[i]), ++i), ...);
    }
};

template <class... Ls, class In, block_backend B>
    requires(detail::subnet<Ls...>::template runs_on<In, B>)
struct kernel<Chain<Ls...>, In, B> : kernel_base {
    using net = detail::subnet<Ls...>;
    static constexpr kernel_traits traits = net::template traits<In, B>;
    static void prepare(const float* params, float* out) { net::template prepare<In, B>(params, out); }
    static void forward(const forward_args& a) {
        const typename net::part p{a.x, a.y, a.params, a.buffers, nullptr, a.prepared, a.training ? a.saved : a.work, a.gen,
                                   detail::context_of(a), a.addend, a.y_stride};
        net::template forward<In, B, false>(p, a.n, a.training);
    }
    static void backward(const backward_args& a) {
        // (y and buffers are only read; saved holds the forward's state and backward's buffers)
        const typename net::part p{a.x, const_cast<float*>(a.y), a.params, const_cast<float*>(a.buffers), a.dparams, nullptr, const_cast<float*>(a.saved), nullptr,
                                   detail::context_of(a)};
        net::template backward<In, B, false>(p, a.dy, a.dx, a.n);
    }
};

}  // namespace ctnn
