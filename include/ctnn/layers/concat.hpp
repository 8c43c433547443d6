// Concat<B...>: branches on the same input, their outputs concatenated along channels (features
// for flat outputs); PyTorch's torch.cat([b(x) for b in branches], dim=1). Branch j's tensors are
// named "j.<...>" (an nn.ModuleList). The branches' outputs must agree in height and width (and
// rank): a compile error names the first branch that does not.
//
// Its kernel is the same on every backend (block.hpp): each branch runs as a net of its own.
// In inference a branch writes its channel slice of y in place: for one sample the slice is
// contiguous; for a batch its samples are out_size apart, which the kernel that writes the
// branch's output takes as forward_args::y_stride where it can (kernel_traits::strided_output:
// the cpu convolutions, ConvTranspose, Linear, activations, MaxPool, Upsample, copies).
// Otherwise, and in training (where the branch's output is kept for backward), the branch writes
// a dense array the block copies into its slice.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

#include "../block.hpp"
#include "../layer.hpp"
#include "chain.hpp"

namespace ctnn {

template <class... Bs>
struct Concat : block_base {
    static_assert(sizeof...(Bs) > 0, "ctnn::Concat<> is empty: a Concat needs at least one branch");
    static_assert(sizeof...(Bs) <= 100, "ctnn::Concat: at most 100 branches");
    static_assert((layer<Bs> && ...), "ctnn::Concat: every branch must be a ctnn layer type (a Chain<...> for several)");
    static constexpr std::size_t branches = sizeof...(Bs);

    static constexpr std::string_view kind = "Concat";
    static std::string name() { return "Concat(" + detail::joined_names<Bs...>() + ")"; }
    /// Each branch's output shape.
    static constexpr std::array<dims, branches> outputs(dims in) { return {detail::subnet<Bs>::output(in)...}; }
    static constexpr layer_check check(dims in) {
        layer_check c{};
        ((c = c.ok() ? detail::subnet<Bs>::check(in) : c), ...);
        if (!c.ok()) return c;
        const auto o = outputs(in);
        for (std::size_t j = 1; j < branches; ++j)
            if (o[j].rank != o[0].rank || o[j].height() != o[0].height() || o[j].width() != o[0].width())
                return {problem::branch_size, dims{2, {o[0].height(), o[0].width(), 0}}, dims{3, {j, o[j].height(), o[j].width()}}};
        return {};
    }
    static constexpr dims output(dims in) {
        const auto o = outputs(in);
        dims r = o[0];
        for (std::size_t j = 1; j < branches; ++j) r.d[0] += o[j].d[0];
        return r;
    }
    template <class F>
    static constexpr void for_each_child(dims in, F&& f) {
        std::size_t i = 0;
        ((f.template operator()<Bs>(detail::index_name(i), in), ++i), ...);
    }

    // Training memory: each branch's part (its output kept), then dy's slice for one branch and a
    // branch's dx during backward. Inference: one branch's output, then the most any branch's
    // work asks for.
    static constexpr std::array<std::size_t, branches + 1> saved_offsets(dims in, std::size_t n) {
        std::array<std::size_t, branches + 1> o{};
        std::size_t j = 0;
        ((o[j + 1] = o[j] + detail::subnet<Bs>::template saved_floats<true>(in, n), ++j), ...);
        return o;
    }
    static constexpr std::size_t largest_output(dims in) {
        std::size_t m = 0;
        for (const dims& d : outputs(in)) m = std::max(m, d.size());
        return m;
    }
    static constexpr std::size_t saved(dims in, std::size_t n) {
        return saved_offsets(in, n)[branches] + align_floats(n * largest_output(in)) + align_floats(n * in.size());
    }
    static constexpr std::size_t work(dims in, std::size_t n) {
        return align_floats(n * largest_output(in)) + std::max({detail::subnet<Bs>::work_floats(in, n)...});
    }
};

template <class... Bs, class In, block_backend B>
    requires((detail::subnet<Bs>::template runs_on<In, B> && ...))
struct kernel<Concat<Bs...>, In, B> : kernel_base {
    using C = Concat<Bs...>;
    static constexpr dims in = In::value;
    static constexpr std::size_t branches = sizeof...(Bs);
    static constexpr std::size_t out_size = C::output(in).size();
    static constexpr std::array<std::size_t, branches> out_sizes = [] {
        std::array<std::size_t, branches> s{};
        for (std::size_t j = 0; j < branches; ++j) s[j] = C::outputs(in)[j].size();
        return s;
    }();
    template <class F>
    static constexpr std::array<std::size_t, branches + 1> prefix(F size_of) {
        std::array<std::size_t, branches + 1> o{};
        std::size_t j = 0;
        ((o[j + 1] = o[j] + size_of.template operator()<Bs>(), ++j), ...);
        return o;
    }
    static constexpr auto param_off = prefix([]<class L>() { return param_floats<L>(in); });
    static constexpr auto buffer_off = prefix([]<class L>() { return buffer_floats<L>(in); });
    static constexpr auto prepared_off = prefix([]<class L>() { return detail::subnet<L>::template traits<In, B>.prepared; });
    static constexpr auto slice_off = prefix([]<class L>() { return detail::subnet<L>::output(in).size(); });
    static constexpr kernel_traits traits = detail::block_traits(detail::subnet<Bs>::template traits<In, B>...);
    using ops = block_ops<B>;

    static void prepare(const float* params, float* out) {
        std::size_t j = 0;
        ((detail::subnet<Bs>::template prepare<In, B>(params + param_off[j], out + prepared_off[j]), ++j), ...);
    }

    static void forward(const forward_args& a) {
        const std::size_t n = a.n;
        const auto saved_off = C::saved_offsets(in, n);
        const detail::call_context c = detail::context_of(a);
        std::size_t j = 0;
        const auto run = [&]<class L>() {
            using S = detail::subnet<L>;
            const float* out;
            if (a.training) {
                const typename S::part p{a.x, nullptr, a.params + param_off[j], a.buffers + buffer_off[j], nullptr, nullptr,
                                         a.saved + saved_off[j], a.gen, c};
                S::template forward<In, B, true>(p, n, true);
                out = S::template output<In, true>(p, n);
            } else {
                const bool in_place = n == 1 || S::template strides<In, B>;
                float* tmp = in_place ? a.y + slice_off[j] : a.work;
                const float* pre = a.prepared ? a.prepared + prepared_off[j] : nullptr;
                S::template forward<In, B, true>({a.x, tmp, a.params + param_off[j], a.buffers + buffer_off[j], nullptr, pre,
                                                  a.work + align_floats(n * C::largest_output(in)), nullptr, c, nullptr,
                                                  in_place && n > 1 ? out_size : 0},
                                                 n, false);
                out = tmp;
            }
            if (out != a.y + slice_off[j]) ops::template copy_slices<false>(a.y + slice_off[j], out, n, out_sizes[j], out_size, a.stream);
            ++j;
        };
        (run.template operator()<Bs>(), ...);
    }

    static void backward(const backward_args& a) {
        const std::size_t n = a.n;
        const auto saved_off = C::saved_offsets(in, n);
        float* saved = const_cast<float*>(a.saved);  // (the block's own memory: backend.hpp)
        float* dy_j = saved + saved_off[branches];
        float* dx_j = dy_j + align_floats(n * C::largest_output(in));
        float* buffers = const_cast<float*>(a.buffers);  // (only read)
        const detail::call_context c = detail::context_of(a);
        std::size_t j = 0;
        const auto run = [&]<class L>() {
            using S = detail::subnet<L>;
            ops::template copy_slices<true>(dy_j, a.dy + slice_off[j], n, out_sizes[j], out_size, a.stream);
            float* dx = a.dx ? (j == 0 ? a.dx : dx_j) : nullptr;
            S::template backward<In, B, true>({a.x, nullptr, a.params + param_off[j], buffers + buffer_off[j],
                                               a.dparams ? a.dparams + param_off[j] : nullptr, nullptr, saved + saved_off[j], nullptr, c},
                                              dy_j, dx, n);
            if (a.dx && j > 0) ops::add(a.dx, a.dx, dx_j, n * in.size(), a.stream);
            ++j;
        };
        (run.template operator()<Bs>(), ...);
    }
};

}  // namespace ctnn
