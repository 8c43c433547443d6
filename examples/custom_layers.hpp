// Two layers defined outside ctnn, in a user's own header, with no edit under include/
// (docs/extending.md walks through them):
//
//   my::ChannelScale<C>  y = weight[c] * x + bias[c] per channel (or per feature): a layer with
//                        parameters, its shape rule, a reference kernel and a cpu (SIMD) kernel
//   my::Swish            y = x * sigmoid(x): an element-wise activation; its math, written once,
//                        runs on the reference, cpu (SIMD) and CUDA backends
//
// Both then work in a Sequential like ctnn's own layers: inference, training, safetensors
// save / load, summary(). examples/custom_layers.py gives tools/safetensors_to_torch.py their
// PyTorch modules. Used by examples/custom_layer.cpp and tests/test_user_layer.cpp.
#pragma once
#include <string>

#include <ctnn/ctnn.hpp>

namespace my {

/// y[n, c, ...] = weight[c] * x[n, c, ...] + bias[c]; on C channels of a map or C features.
template <std::size_t C>
struct ChannelScale : ctnn::layer_base {
    // what it is: a kind (names it in files and tools), hyper-parameters by the PyTorch module's
    // argument names, a name for people
    static constexpr std::string_view kind = "ChannelScale";
    static constexpr ctnn::hparam_list hparams() { return {{"num_features", C}}; }
    static std::string name() { return "ChannelScale(" + std::to_string(C) + ")"; }

    // its shape rule (checked while compiling: a mismatch names this layer and both shapes)
    static constexpr ctnn::layer_check check(ctnn::dims in) {
        if (in.d[0] != C) return {ctnn::problem::channels, ctnn::flat(C), ctnn::flat(in.d[0])};
        return {};
    }
    // output(in) = in: layer_base's default

    // its parameters, in PyTorch's state_dict order, and their initialisation
    static constexpr ctnn::tensor_list params(ctnn::dims) {
        return {2, {{"weight", 1, {C}}, {"bias", 1, {C}}}};
    }
    static void init(ctnn::dims, float* p, float*, ctnn::rng&) {
        for (std::size_t c = 0; c < C; ++c) p[c] = 1.0f, p[C + c] = 0.0f;
    }
};

/// Swish (PyTorch's SiLU): y = x sigmoid(x). Its gradient needs x, not only y.
struct Swish : ctnn::layer_base {
    static constexpr std::string_view kind = "Swish";
    static std::string name() { return "Swish"; }
    static constexpr bool grad_from_output = false;
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type f(typename M::type x) {
        return x / (M::one() + M::exp(-x));
    }
    CTNN_HD_TEMPLATE
    template <class M>
    static CTNN_HD typename M::type df(typename M::type x, typename M::type y, typename M::type dy) {
        const auto s = M::one() / (M::one() + M::exp(-x));  // d(x s)/dx = s + x s (1 - s) = s + y (1 - s)
        return dy * (s + y * (M::one() - s));
    }
};

}  // namespace my

// ---- kernels: how ChannelScale computes ------------------------------------------------------
// (Swish needs none: the backends' activation kernels run its math.)

/// The reference kernel: plain loops, the definition of correct.
template <std::size_t C, class In>
struct ctnn::kernel<my::ChannelScale<C>, In, ctnn::reference> : ctnn::kernel_base {
    static constexpr std::size_t inner = In::size / C;  // H * W, or 1 for features
    static void forward(const forward_args& a) {
        for (std::size_t n = 0; n < a.n; ++n)
            for (std::size_t c = 0; c < C; ++c)
                for (std::size_t i = 0; i < inner; ++i) {
                    const std::size_t k = (n * C + c) * inner + i;
                    a.y[k] = a.params[c] * a.x[k] + a.params[C + c];
                }
    }
    static void backward(const backward_args& a) {
        for (std::size_t c = 0; c < C; ++c) {
            double dw = 0, db = 0;
            for (std::size_t n = 0; n < a.n; ++n)
                for (std::size_t i = 0; i < inner; ++i) {
                    const std::size_t k = (n * C + c) * inner + i;
                    dw += double(a.dy[k]) * a.x[k];
                    db += a.dy[k];
                    if (a.dx) a.dx[k] = a.params[c] * a.dy[k];
                }
            if (a.dparams) {  // accumulated, as every backward does
                a.dparams[c] += static_cast<float>(dw);
                a.dparams[C + c] += static_cast<float>(db);
            }
        }
    }
};

/// A cpu kernel: the forward with the backend's SIMD vectors, split over ctnn's threads; the
/// backward is the reference's (a kernel may reuse another backend's functions).
template <std::size_t C, class In>
struct ctnn::kernel<my::ChannelScale<C>, In, ctnn::cpu> : ctnn::kernel_base {
    static constexpr std::size_t inner = In::size / C;
    static void forward(const forward_args& a) {
        using V = ctnn::simd::vec;
        const std::size_t tasks = ctnn::tasks_for(a.n, double(a.n) * double(In::size));
        ctnn::parallel_for(tasks, [&](std::size_t t) {
            const ctnn::range r = ctnn::split(a.n, t, tasks);
            for (std::size_t n = r.begin; n < r.end; ++n)
                for (std::size_t c = 0; c < C; ++c) {
                    const float* x = a.x + (n * C + c) * inner;
                    float* y = a.y + (n * C + c) * inner;
                    const auto w = V::set1(a.params[c]), b = V::set1(a.params[C + c]);
                    std::size_t i = 0;
                    for (; i + V::width <= inner; i += V::width) V::store(y + i, V::fma(w, V::load(x + i), b));
                    for (; i < inner; ++i) y[i] = a.params[c] * x[i] + a.params[C + c];
                }
        });
    }
    static void backward(const backward_args& a) { ctnn::kernel<my::ChannelScale<C>, In, ctnn::reference>::backward(a); }
};
