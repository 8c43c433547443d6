// Residual<Body, Shortcut = Identity>: y = Body(x) + Shortcut(x), the block of ResNet. Both
// branches see the same input; their output shapes must be equal (checked while compiling: the
// error names the block, the body's shape and the shortcut's). Tensors are named "body.<...>"
// and "shortcut.<...>", as in a PyTorch module with attributes `body` and `shortcut` (a Chain
// there is an nn.Sequential). An activation after the sum is simply the next layer.
//
// Its kernel is the same on every backend (block.hpp). An aliasing shortcut (Identity) runs
// nothing: x is added as it is. In inference the sum is formed by the body's last kernel as it
// writes its output, where that kernel can (kernel_traits::adds: the cpu convolutions), and
// otherwise by a pass after it; the bits are the same (one float add either way).
#pragma once
#include <cstddef>
#include <string>

#include "../block.hpp"
#include "../layer.hpp"
#include "identity.hpp"

namespace ctnn {

template <class Body, class Shortcut = Identity>
struct Residual : block_base {
    static_assert(layer<Body>, "ctnn::Residual<Body, Shortcut>: Body must be a ctnn layer type (a Chain<...> for several)");
    static_assert(layer<Shortcut>, "ctnn::Residual<Body, Shortcut>: Shortcut must be a ctnn layer type");
    using body_net = detail::subnet<Body>;
    using shortcut_net = detail::subnet<Shortcut>;
    /// The shortcut is x itself (Identity): nothing runs, nothing is kept.
    static constexpr bool identity_shortcut = Shortcut::aliases_input;

    static constexpr std::string_view kind = "Residual";
    static std::string name() { return "Residual(" + Body::name() + " + " + Shortcut::name() + ")"; }
    static constexpr layer_check check(dims in) {
        if (const layer_check b = body_net::check(in); !b.ok()) return b;
        if (const layer_check s = shortcut_net::check(in); !s.ok()) return s;
        const dims b = body_net::output(in), s = shortcut_net::output(in);
        if (!(b == s)) return {problem::shortcut_shape, b, s};
        return {};
    }
    static constexpr dims output(dims in) { return body_net::output(in); }
    template <class F>
    static constexpr void for_each_child(dims in, F&& f) {
        f.template operator()<Body>("body", in);
        f.template operator()<Shortcut>("shortcut", in);
    }

    // Training memory: the body's part (its output kept: y is the sum), then the shortcut's (its
    // output kept), then the shortcut's dx during backward. Inference: the shortcut's output,
    // then the larger of the two parts' work.
    static constexpr std::size_t body_saved(dims in, std::size_t n) { return body_net::template saved_floats<true>(in, n); }
    static constexpr std::size_t shortcut_saved(dims in, std::size_t n) {
        return identity_shortcut ? 0 : shortcut_net::template saved_floats<true>(in, n);
    }
    static constexpr std::size_t saved(dims in, std::size_t n) {
        return body_saved(in, n) + shortcut_saved(in, n) + (identity_shortcut ? 0 : align_floats(n * in.size()));
    }
    static constexpr std::size_t work(dims in, std::size_t n) {
        return align_floats(n * output(in).size()) + std::max(body_net::work_floats(in, n), shortcut_net::work_floats(in, n));
    }
};

template <class Body, class Shortcut, class In, block_backend B>
    requires(detail::subnet<Body>::template runs_on<In, B> && detail::subnet<Shortcut>::template runs_on<In, B>)
struct kernel<Residual<Body, Shortcut>, In, B> : kernel_base {
    using R = Residual<Body, Shortcut>;
    using body_net = typename R::body_net;
    using shortcut_net = typename R::shortcut_net;
    static constexpr dims in = In::value;
    static constexpr std::size_t body_params = param_floats<Body>(in), body_buffers = buffer_floats<Body>(in);
    static constexpr std::size_t body_prepared = body_net::template traits<In, B>.prepared;
    static constexpr std::size_t out_size = R::output(in).size();
    static constexpr kernel_traits traits =
        detail::block_traits(body_net::template traits<In, B>, shortcut_net::template traits<In, B>);
    using ops = block_ops<B>;
    /// The body's last kernel adds the shortcut into its output (forward_args::addend).
    static constexpr bool body_adds = body_net::template adds<In, B>;

    static void prepare(const float* params, float* out) {
        body_net::template prepare<In, B>(params, out);
        shortcut_net::template prepare<In, B>(params + body_params, out + body_prepared);
    }

    static void forward(const forward_args& a) {
        const std::size_t n = a.n;
        const float* pre = a.prepared;
        const detail::call_context c = detail::context_of(a);
        if (a.training) {
            const typename body_net::part pb{a.x, nullptr, a.params, a.buffers, nullptr, nullptr, a.saved, a.gen, c};
            body_net::template forward<In, B, true>(pb, n, true);
            const float* body_y = body_net::template output<In, true>(pb, n);
            if constexpr (R::identity_shortcut) {
                ops::add(a.y, body_y, a.x, n * out_size, a.stream);
            } else {
                const typename shortcut_net::part ps = shortcut_part(a.x, nullptr, a.params, a.buffers, nullptr, nullptr,
                                                                     a.saved + R::body_saved(in, n), a.gen, c);
                shortcut_net::template forward<In, B, true>(ps, n, true);
                ops::add(a.y, body_y, shortcut_net::template output<In, true>(ps, n), n * out_size, a.stream);
            }
            return;
        }
        // Inference: the shortcut first (into the work's head), then the body, whose last kernel
        // adds the shortcut to what it writes where it can (body_adds), else a pass adds it.
        float* tmp = a.work;  // the shortcut's output
        float* sub = a.work + align_floats(n * out_size);
        const float* shortcut_y = a.x;
        if constexpr (!R::identity_shortcut) {
            shortcut_net::template forward<In, B, true>(
                shortcut_part(a.x, tmp, a.params, a.buffers, nullptr, pre ? pre + body_prepared : nullptr, sub, nullptr, c), n, false);
            shortcut_y = tmp;
        }
        body_net::template forward<In, B, true>(
            {a.x, a.y, a.params, a.buffers, nullptr, pre, sub, nullptr, c, body_adds ? shortcut_y : nullptr}, n, false);
        if constexpr (!body_adds) ops::add(a.y, a.y, shortcut_y, n * out_size, a.stream);
    }

    static void backward(const backward_args& a) {
        const std::size_t n = a.n;
        const detail::call_context c = detail::context_of(a);
        float* buffers = const_cast<float*>(a.buffers);  // (only read)
        body_net::template backward<In, B, true>({a.x, nullptr, a.params, buffers, a.dparams, nullptr, const_cast<float*>(a.saved), nullptr, c},
                                                 a.dy, a.dx, n);
        if constexpr (R::identity_shortcut) {
            if (a.dx) ops::add(a.dx, a.dx, a.dy, n * in.size(), a.stream);
        } else {
            float* mem = const_cast<float*>(a.saved) + R::body_saved(in, n);
            float* dxs = a.dx ? mem + R::shortcut_saved(in, n) : nullptr;
            shortcut_net::template backward<In, B, true>(shortcut_part(a.x, nullptr, a.params, buffers, a.dparams, nullptr, mem, nullptr, c),
                                                         a.dy, dxs, n);
            if (a.dx) ops::add(a.dx, a.dx, dxs, n * in.size(), a.stream);
        }
    }

private:
    /// The shortcut's part: its parameters, buffers and gradients follow the body's.
    static typename shortcut_net::part shortcut_part(const float* x, float* y, const float* params, float* buffers, float* dparams,
                                                     const float* prepared, float* mem, rng* gen, detail::call_context c) {
        return {x, y, params + body_params, buffers + body_buffers, dparams ? dparams + body_params : nullptr, prepared, mem, gen, c};
    }
};

}  // namespace ctnn
