// What blocks (layers made of layers: Chain, Residual, Concat) are built from.
//
// A block's children form one or more sub-nets: each a plan of its own (plan.hpp), run by the
// same executor (executor.hpp) as a whole net, on the block's backend, with memory carved out of
// the block's:
//   training   the block's saved floats (layer.hpp: saved) hold each sub-net's inner activations,
//              its layers' saved state and its backward's two gradient buffers, for the batch;
//              they stay valid from the training forward to its backward
//   inference  the block's work floats (layer.hpp: work) hold two tile buffers (ping, pong) per
//              sub-net in flight and its children's own work
// Parameters, buffers, gradients and prepared parameters of the sub-nets are stored one after
// another, in the order of the block's for_each_child. A block's kernel is the same on every
// backend: it is generic over the backend B, its children's kernels are B's, and the little it
// does itself (a sum, slice copies) is B's block_ops, on B's memory.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "backend.hpp"
#include "executor.hpp"
#include "layer.hpp"
#include "memory.hpp"
#include "plan.hpp"
#include "workspace.hpp"

namespace ctnn {

/// The defaults of a block (a block has no tensors of its own: see layer.hpp).
struct block_base {
    using block_tag = void;
    static constexpr bool trainable = true;
    static constexpr bool aliases_input = false;
    static constexpr hparam_list hparams() { return {}; }
    static constexpr std::size_t saved(dims, std::size_t) { return 0; }
};

/// The array operations of a block kernel besides its children's kernels, on backend B's memory,
/// ordered on the call's stream (null on the host). The host backends share these loops; a device
/// backend specializes block_ops in its folder (backends/cuda/block_ops.hpp), and a backend
/// without them has no block kernels.
///   add(y, a, b, n, stream)                          y[i] = a[i] + b[i], i < n (y may be a or b)
///   copy_slices<Gather>(dst, src, n, per, stride, s)  n samples of `per` floats from a dense
///                                                     src into dst's samples `stride` apart
///                                                     (Gather: from the strided src, dense dst)
template <class B>
struct block_ops;

template <host_backend B>
struct block_ops<B> {
    static void add(float* y, const float* a, const float* b, std::size_t n, void*) {
        for (std::size_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
    }
    template <bool Gather>
    static void copy_slices(float* dst, const float* src, std::size_t n, std::size_t per, std::size_t stride, void*) {
        for (std::size_t s = 0; s < n; ++s) {
            if constexpr (Gather) std::copy_n(src + s * stride, per, dst + s * per);
            else std::copy_n(src + s * per, per, dst + s * stride);
        }
    }
};

/// A backend block kernels run on.
template <class B>
concept block_backend = requires(float* p, std::size_t n) {
    block_ops<B>::add(p, p, p, n, nullptr);
    block_ops<B>::template copy_slices<true>(p, p, n, n, n, nullptr);
};

namespace detail {

/// What a block passes unchanged to its children: the call's stream, device seed and scratch
/// (a device backend's; null on the host). Children run one after another, so they share the
/// block's scratch (sized for the largest: block_traits).
struct call_context {
    void* stream = nullptr;
    const std::uint64_t* seed = nullptr;
    float* scratch = nullptr;
};
template <class Args>
call_context context_of(const Args& a) {
    return {a.stream, a.seed, a.scratch};
}

/// Layers Ls run as a net inside a block. Its shape walk and memory layout are functions of the
/// input's dims (a block's shape rule and sizes are); its runs take the input as a Shape type In.
template <class... Ls>
struct subnet {
    static constexpr std::size_t depth = sizeof...(Ls);
    template <class In> using plan_t = plan<In, Ls...>;
    static constexpr std::size_t at_x = std::numeric_limits<std::size_t>::max(), at_y = at_x - 1;

    /// shapes[k]: the shape entering child k (shapes[depth]: the output); as plan.hpp.
    static constexpr std::array<dims, depth + 1> shapes(dims in) {
        std::array<dims, depth + 1> s{};
        s[0] = in;
        std::size_t i = 0;
        ((s[i + 1] = Ls::output(s[i]), ++i), ...);
        return s;
    }
    static constexpr dims output(dims in) { return shapes(in)[depth]; }
    /// The first child whose shape rule fails (depth: none), and its check.
    static constexpr std::size_t first_error(dims in) {
        const auto s = shapes(in);
        std::size_t i = 0, bad = depth;
        ((bad = bad == depth && !Ls::check(s[i]).ok() ? i : bad, ++i), ...);
        return bad;
    }
    static constexpr layer_check check(dims in) {
        const auto s = shapes(in);
        layer_check c{};
        std::size_t i = 0;
        ((c = c.ok() ? Ls::check(s[i]) : c, ++i), ...);
        return c;
    }
    /// The largest activation per sample, input and output included, and the largest inner one
    /// (between two children; 0 for one child).
    static constexpr std::size_t max_activation(dims in) {
        std::size_t m = 0;
        for (const dims& d : shapes(in)) m = std::max(m, d.size());
        return m;
    }
    static constexpr std::size_t inner_max(dims in) {
        const auto s = shapes(in);
        std::size_t m = 0;
        for (std::size_t k = 1; k < depth; ++k) m = std::max(m, s[k].size());
        return m;
    }

    /// Where a training batch of n keeps things, in floats from the start of the sub-net's part
    /// of the block's saved memory. With OwnOutput the last activation is kept there too (the
    /// block combines it with others); else it is the block's output y.
    struct layout {
        std::array<std::size_t, depth + 1> act{};
        std::array<std::size_t, depth> saved{};
        std::size_t grad[2] = {0, 0};
        std::size_t total = 0;
    };
    template <bool OwnOutput>
    static constexpr layout training(dims in, std::size_t n) {
        const auto s = shapes(in);
        constexpr std::array<bool, depth> aliases = {Ls::aliases_input...};
        layout l;
        std::size_t off = 0;
        const auto take = [&](std::size_t floats) {
            const std::size_t o = off;
            off += align_floats(floats);
            return o;
        };
        l.act[0] = at_x;
        for (std::size_t i = 0; i < depth; ++i) {
            const bool last = i + 1 == depth;
            if (aliases[i] && !last) l.act[i + 1] = l.act[i];
            else l.act[i + 1] = last && !OwnOutput ? at_y : take(n * s[i + 1].size());
        }
        std::size_t i = 0;
        ((l.saved[i] = take(Ls::saved(s[i], n)), ++i), ...);
        // (one child gets dy and writes dx itself: no gradient buffers)
        const std::size_t g = depth > 1 ? n * max_activation(in) : 0;
        l.grad[0] = take(g);
        l.grad[1] = take(g);
        l.total = off;
        return l;
    }
    template <bool OwnOutput>
    static constexpr std::size_t saved_floats(dims in, std::size_t n) { return training<OwnOutput>(in, n).total; }
    /// Inference: ping and pong, then the most any child asks for.
    static constexpr std::size_t work_floats(dims in, std::size_t n) {
        const auto s = shapes(in);
        std::size_t w = 0, i = 0;
        ((w = std::max(w, ctnn::work_floats<Ls>(s[i], n)), ++i), ...);
        return 2 * align_floats(n * inner_max(in)) + align_floats(w);
    }

    /// The memory of one call: the block's arguments, shifted to this sub-net's part.
    struct part {
        const float* x = nullptr;
        float* y = nullptr;
        const float* params = nullptr;
        float* buffers = nullptr;
        float* dparams = nullptr;     // null: no parameter gradients
        const float* prepared = nullptr;
        float* mem = nullptr;         // training: the layout's base; inference: the work area
        rng* gen = nullptr;
        call_context ctx{};
        const float* addend = nullptr;  // inference: added to the output (adds says by whom)
        std::size_t y_stride = 0;       // inference: y's sample stride where strides (0: dense)
    };

    template <class In, bool OwnOutput>
    struct training_memory {
        using P = plan_t<In>;
        part p;
        layout l;
        float* act(std::size_t k) const {
            const std::size_t o = l.act[k];
            return o == at_x ? const_cast<float*>(p.x) : o == at_y ? p.y : p.mem + o;
        }
        const float* params(std::size_t i) const { return p.params + P::param_offset[i]; }
        float* buffers(std::size_t i) const { return p.buffers + P::buffer_offset[i]; }
        float* saved(std::size_t i) const { return p.mem + l.saved[i]; }
        float* dparams(std::size_t i) const { return p.dparams && P::trainable[i] ? p.dparams + P::param_offset[i] : nullptr; }
        const float* prepared(std::size_t) const { return nullptr; }  // (training: from params)
        float* scratch(std::size_t) const { return p.ctx.scratch; }
        float* grad_buffer(int which) const { return p.mem + l.grad[which]; }
        bool grads_stale() const { return false; }  // (the block's dparams were zeroed, or accumulate)
        rng* gen() const { return p.gen; }
        void* stream() const { return p.ctx.stream; }
        const std::uint64_t* seed() const { return p.ctx.seed; }
    };

    template <class In, class B>
    struct inference_memory {
        using P = plan_t<In>;
        part p;
        std::size_t n;
        float* act(std::size_t k) const {
            switch (inference_slots<P, B>::value[k]) {
            case slot::input: return const_cast<float*>(p.x);
            case slot::output: return p.y;
            case slot::ping: return p.mem;
            case slot::pong: return p.mem + align_floats(n * inner_max(In::value));
            default: return nullptr;
            }
        }
        const float* params(std::size_t i) const { return p.params + P::param_offset[i]; }
        float* buffers(std::size_t i) const { return p.buffers + P::buffer_offset[i]; }
        float* saved(std::size_t) const { return nullptr; }
        float* dparams(std::size_t) const { return nullptr; }
        const float* prepared(std::size_t i) const {
            constexpr auto& off = P::template prepared_offset<B>;
            return p.prepared && off[i + 1] > off[i] ? p.prepared + off[i] : nullptr;
        }
        float* scratch(std::size_t) const { return p.ctx.scratch; }
        float* work(std::size_t) const { return p.mem + 2 * align_floats(n * inner_max(In::value)); }
        const float* addend() const { return p.addend; }
        std::size_t y_stride() const { return p.y_stride; }
        float* grad_buffer(int) const { return nullptr; }
        bool grads_stale() const { return false; }
        rng* gen() const { return nullptr; }
        void* stream() const { return p.ctx.stream; }
        const std::uint64_t* seed() const { return p.ctx.seed; }
    };

    /// Forward of n samples; in training with OwnOutput the output is left at output(p, n).
    template <class In, class B, bool OwnOutput>
    static void forward(const part& p, std::size_t n, bool training_mode) {
        if (training_mode)
            executor<plan_t<In>, B>::template forward<true>(training_memory<In, OwnOutput>{p, training<OwnOutput>(In::value, n)}, n);
        else
            executor<plan_t<In>, B>::template forward<false>(inference_memory<In, B>{p, n}, n);
    }
    template <class In, bool OwnOutput>
    static float* output(const part& p, std::size_t n) {
        return training_memory<In, OwnOutput>{p, training<OwnOutput>(In::value, n)}.act(depth);
    }
    /// Backward of the last training forward (p as then, with dparams): dLoss/dx into dx (null:
    /// not needed) from dy.
    template <class In, class B, bool OwnOutput>
    static void backward(const part& p, const float* dy, float* dx, std::size_t n) {
        executor<plan_t<In>, B>::backward(training_memory<In, OwnOutput>{p, training<OwnOutput>(In::value, n)}, dy, dx, n);
    }
    /// The children's prepared parameters from theirs.
    template <class In, class B>
    static void prepare(const float* params, float* out) {
        using P = plan_t<In>;
        detail::for_each_index<depth>([&]<std::size_t I>() {
            if constexpr (P::template prepared_size<B, I> > 0)
                P::template kernel<B, I>::prepare(params + P::param_offset[I], out + P::template prepared_offset<B>[I]);
        });
    }
    /// Whether an inference forward adds part::addend to the output in the kernel that writes it
    /// (executor.hpp: adds_output); if not, the caller adds it.
    template <class In, class B>
    static constexpr bool adds = executor<plan_t<In>, B>::adds_output;
    /// Whether an inference forward writes y with part::y_stride between samples (executor.hpp:
    /// strides_output); if not, y is dense and the caller moves it.
    template <class In, class B>
    static constexpr bool strides = executor<plan_t<In>, B>::strides_output;
    template <class In, class B>
    static constexpr kernel_traits traits{.scratch = plan_t<In>::template scratch<B>,
                                          .shared_per_task = plan_t<In>::template shared_scratch<B>,
                                          .prepared = plan_t<In>::template prepared_offset<B>[depth],
                                          .adds = adds<In, B>,
                                          .strided_output = strides<In, B>};
    template <class In, class B>
    static constexpr bool runs_on = plan_t<In>::template runs_on<B>;
};

/// The traits of a block kernel running sub-nets with these traits: the most scratch any asks
/// for, and all their prepared parameters one after another.
template <class... T>
constexpr kernel_traits block_traits(const T&... sub) {
    kernel_traits t{};
    ((t.scratch = std::max(t.scratch, sub.scratch), t.shared_per_task = std::max(t.shared_per_task, sub.shared_per_task),
      t.prepared += sub.prepared),
     ...);
    return t;
}

}  // namespace detail
}  // namespace ctnn
