// The executor: the one walk over a net's plan that runs its kernels, on every backend. The
// host net (sequential.hpp) and the device net (backends/cuda/device_net.hpp) differ only in the
// memory they hand it:
//
//   struct Memory {
//       float* act(std::size_t k) const;        // activation k: 0 the input, depth the output;
//                                               // null for a group's inner layers in inference
//       const float* params(std::size_t i) const;
//       float* buffers(std::size_t i) const;
//       float* saved(std::size_t i) const;      // null in inference
//       float* dparams(std::size_t i) const;    // null for a layer without gradient
//       const float* prepared(std::size_t i) const;   // layer i's prepared parameters, or null
//       float* scratch(std::size_t i) const;    // layer i's own scratch, or null (host)
//       float* work(std::size_t i) const;       // optional: layer i's inference workspace
//       const float* addend() const;            // optional: added to the output in inference,
//                                               // inside its kernel where adds_output says so
//       std::size_t y_stride() const;           // optional: the output's sample stride in
//                                               // inference where strides_output (0: dense)
//       float* grad_buffer(int which) const;    // backward's two gradient buffers (0, 1)
//       bool grads_stale() const;               // first backward since zero_grad: overwrite
//       void grads_done(std::size_t i) const;   // optional: layers i.. have their final gradients
//       rng* gen() const; void* stream() const; const std::uint64_t* seed() const;
//   };
//
// forward<Training> runs the groups of plan::groups<Backend, Training> in order; backward runs
// the training groups last to first, from dLoss/dOutput, stopping after the first layer that
// needs a gradient (or at the input, when dLoss/dInput is asked for). A layer that aliases its
// input (Flatten) runs no kernel: its output is its input's memory, and its gradient is its
// output's gradient. Only where the memory cannot alias (the net's output buffer, dLoss/dInput)
// its kernel runs, and copies.
//
// grads_done(i), when the memory has it, is called after each group's backward with the group's
// first layer: from then on backward writes no gradient of a layer >= i, so a caller may start
// reducing them (dist.hpp overlaps its all-reduce with the rest of backward this way). Layers
// before the first trainable one are not reported; nets whose memory lacks it are unchanged.
#pragma once
#include <algorithm>
#include <cstddef>

#include "backend.hpp"
#include "plan.hpp"

namespace ctnn {

/// A memory with the optional grads_done hook. (A named concept: nvcc 13 instantiates the call in
/// an inline requires-expression inside the walk's lambda and fails on memories without it.)
template <class M>
concept reports_grads = requires(const M& m, std::size_t i) { m.grads_done(i); };

template <class Plan, class Backend>
struct executor {
    static constexpr std::size_t depth = Plan::depth;

    template <bool Training, class M>
    static void forward(const M& m, std::size_t n) {
        detail::for_each_index<depth>([&]<std::size_t I>() {
            constexpr std::size_t G = Plan::template groups<Backend, Training>[I];
            if constexpr (G == 1 && Plan::aliases[I]) {
                if (m.act(I + 1) != m.act(I)) kernel<I>::forward(forward_of<I, Training>(m, n));
            } else if constexpr (G == 1) {
                kernel<I>::forward(forward_of<I, Training>(m, n));
            } else if constexpr (G > 1) {
                group_forward_args<G> g;
                detail::for_each_index<G>([&]<std::size_t J>() { g.layer[J] = forward_of<I + J, Training>(m, n); });
                Plan::template group<Backend, I>::forward(g);
            }
        });
    }

    /// Backward from dout [n, output]; writes din [n, input] when given. Parameter gradients are
    /// accumulated (or overwritten after zero_grad: Memory::grads_stale).
    template <class M>
    static void backward(const M& m, const float* dout, float* din, std::size_t n) {
        const std::size_t stop = din ? 0 : Plan::first_trainable;
        const float* g = dout;
        int next = 0;  // which gradient buffer the next dx goes to (dy is in the other)
        detail::for_each_index_reverse<depth>([&]<std::size_t I>() {
            constexpr std::size_t G = Plan::template groups<Backend, true>[I];
            if constexpr (G > 0) {
                // a group is entered at its first layer, once the layers after it are done; no
                // stop lies inside a group whose first layer needs a gradient
                if (I + G - 1 < stop) return;
                if constexpr (G == 1 && Plan::aliases[I]) {
                    if (I == 0 && din) kernel<I>::backward(backward_of<I>(m, g, din, n));
                    return;  // otherwise the gradient is the same array, in the input's shape
                }
                float* dx = I == 0 ? din : (I <= stop ? nullptr : m.grad_buffer(next));
                next ^= 1;
                if constexpr (G == 1) {
                    kernel<I>::backward(backward_of<I>(m, g, dx, n));
                } else {
                    group_backward_args<G> b;
                    detail::for_each_index<G>([&]<std::size_t J>() {
                        b.layer[J] = backward_of<I + J>(m, J + 1 == G ? g : nullptr, J == 0 ? dx : nullptr, n);
                        if constexpr (J + 1 < G) b.inner[J] = m.act(I + J + 1);
                    });
                    Plan::template group<Backend, I>::backward(b);
                }
                g = dx;
                if constexpr (reports_grads<M>) m.grads_done(I);
            }
        });
    }

private:
    template <std::size_t I>
    using kernel = typename Plan::template kernel<Backend, I>;

    template <std::size_t I, bool Training, class M>
    static forward_args forward_of(const M& m, std::size_t n) {
        forward_args a;
        a.x = m.act(I);
        a.y = m.act(I + 1);
        a.n = n;
        a.params = m.params(I);
        a.buffers = m.buffers(I);
        a.saved = Training ? m.saved(I) : nullptr;
        a.training = Training;
        a.gen = m.gen();
        a.prepared = m.prepared(I);
        a.scratch = m.scratch(I);
        if constexpr (!Training && requires { m.work(I); }) a.work = m.work(I);
        if constexpr (!Training && I + 1 == depth && requires { m.addend(); })
            if constexpr (adds_output) a.addend = m.addend();
        if constexpr (!Training && I + 1 == writer_end && requires { m.y_stride(); })
            if constexpr (strides_output) a.y_stride = m.y_stride();
        a.stream = m.stream();
        a.seed = m.seed();
        return a;
    }

    template <std::size_t I, class M>
    static backward_args backward_of(const M& m, const float* dy, float* dx, std::size_t n) {
        backward_args a;
        a.x = m.act(I);
        a.y = m.act(I + 1);
        a.dy = dy;
        a.dx = dx;
        a.n = n;
        a.params = m.params(I);
        a.dparams = m.dparams(I);
        a.buffers = m.buffers(I);
        a.saved = m.saved(I);
        a.scratch = m.scratch(I);
        a.stream = m.stream();
        a.seed = m.seed();
        if (a.dparams && m.grads_stale()) {  // (only host memory has stale gradients)
            constexpr std::size_t G = Plan::template groups<Backend, true>[group_start<I>()];
            if constexpr (runner<group_start<I>(), G>::traits.overwrites_dparams) a.overwrite_dparams = true;
            else std::fill_n(a.dparams, Plan::grad_sizes[I], 0.0f);
        }
        return a;
    }

    /// The start of the training group layer I belongs to.
    template <std::size_t I>
    static constexpr std::size_t group_start() {
        std::size_t s = I;
        while (Plan::template groups<Backend, true>[s] == 0) --s;
        return s;
    }
    /// What runs a group: the layer's kernel, or the fused group.
    template <std::size_t I, std::size_t G>
    using runner = std::conditional_t<G == 1, kernel<I>, typename Plan::template group<Backend, I>>;
    /// The traits of inference group s's runner; none on device backends (no device kernel
    /// takes an addend or a stride yet) or for an empty net.
    template <std::size_t s>
    static constexpr kernel_traits group_traits = [] {
        if constexpr (depth == 0 || !host_backend<Backend>) return kernel_traits{};
        else return kernel_traits(runner<s, Plan::template groups<Backend, false>[s]>::traits);
    }();
    static constexpr std::size_t last = [] {
        if constexpr (depth == 0) return std::size_t(0);
        else return Plan::template last_group<Backend, false>;
    }();
    /// Whether the net ends in a layer that aliases its input (its kernel may not run at all).
    static constexpr bool ends_aliased = depth > 0 && Plan::template groups<Backend, false>[last] == 1 && Plan::aliases[last];
    /// The inference group whose kernel writes the output: the last one that does not alias its
    /// input (layers after it that do alias leave it there: workspace.hpp, inference_slots), else
    /// the last one (an aliasing layer's copy from the input).
    static constexpr std::size_t writer = [] {
        constexpr auto groups = Plan::template groups<Backend, false>;
        std::size_t w = last;
        for (std::size_t i = 0; i < depth; ++i)
            if (groups[i] > 0 && !(groups[i] == 1 && Plan::aliases[i])) w = i;
        return w;
    }();
    static constexpr std::size_t writer_end = depth == 0 ? 0 : writer + Plan::template groups<Backend, false>[writer];

public:
    /// Whether an inference forward adds the memory's addend() to the net's output inside the
    /// kernel that writes it (forward_args::addend): the last group's runner honours one. When
    /// not, the executor passes none and the caller adds it (block.hpp: a Residual's body).
    /// Host backends only. Not after a layer that aliases its input: its kernel may not run.
    static constexpr bool adds_output = !ends_aliased && group_traits<last>.adds;
    /// Whether an inference forward writes the net's output with the memory's y_stride() between
    /// samples (forward_args::y_stride): the runner of the group that writes it (writer) honours
    /// one. When not, the executor passes none, the output is dense, and the caller moves it
    /// (block.hpp: a Concat's branch). Host backends only.
    static constexpr bool strides_output = group_traits<writer>.strided_output;
};

}  // namespace ctnn
