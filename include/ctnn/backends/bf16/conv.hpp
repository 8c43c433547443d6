// bf16 kernels for Conv (one group; any kernel size, stride, padding, dilation), inference only.
//
// cpu_bf16: per sample, the input is rounded to bf16 into zero-padded planes, gathered into B
// (im2col, pairs of consecutive k = (ci, kh, kw) in one word: gemm.hpp) and multiplied by the
// prepared weights (rounded to bf16 once, gemm.hpp's pack_a): Y'[Co, N] = bias + W B, N = OH * OW
// output positions, summed in fp32. The epilogue applies a fused BatchNorm (fp32 scale and shift
// from its running statistics, as the cpu backend's conv_bn.hpp) and activation, or ReLU and a
// 2x2 max pool, and writes y.
// Samples are split over threads; a lone sample splits its output channels (the same bits).
// reference_bf16: the definition, direct loops in the GEMM's order (gemm.hpp), no epilogue.
// Grouped and depthwise convolutions have no bf16 kernel: they run the fp32 ones (fallback).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../backend.hpp"
#include "../../error.hpp"
#include "../../layers/batchnorm.hpp"
#include "../../layers/conv.hpp"
#include "../../layers/maxpool.hpp"
#include "../../layers/relu.hpp"
#include "../../memory.hpp"
#include "../../threads.hpp"
#include "../cpu/conv_bn.hpp"
#include "../cpu/epilogue.hpp"
#include "gemm.hpp"
#include "pack.hpp"
#include "tag.hpp"

namespace ctnn::bf16_detail {

/// The shapes of Conv<Ci, Co, K, S, P, D> on In, and the packed sizes.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, class In>
struct conv_geometry {
    static constexpr std::size_t H = In::value.d[1], Wd = In::value.d[2];
    static constexpr std::size_t span = D * (K - 1) + 1;
    static constexpr std::size_t Hp = H + 2 * P, Wp = Wd + 2 * P;
    static constexpr std::size_t OH = (Hp - span) / S + 1, OW = (Wp - span) / S + 1;
    static constexpr std::size_t KK = K * K, Kd = Ci * KK, Kp = pairs(Kd), N = OH * OW;
    static constexpr std::size_t Npad = round_up(N, col_align);
    /// Where weight k = (ci, kh, kw) reads the padded planes, for output position (0, 0).
    static constexpr std::size_t offset(std::size_t k) { return (k / KK) * Hp * Wp + (k % KK / K) * D * Wp + (k % K) * D; }
};

/// Rounds x (input value) the way every bf16 kernel does; padding reads +0.
template <class G>
inline float input_at(const float* xn, std::size_t k, std::size_t oh, std::size_t ow) {
    const std::size_t ci = k / G::KK, kh = k % G::KK / G::kernel, kw = k % G::kernel;
    const std::ptrdiff_t h = std::ptrdiff_t(oh * G::stride + kh * G::dilation) - std::ptrdiff_t(G::pad);
    const std::ptrdiff_t w = std::ptrdiff_t(ow * G::stride + kw * G::dilation) - std::ptrdiff_t(G::pad);
    if (h < 0 || w < 0 || h >= std::ptrdiff_t(G::H) || w >= std::ptrdiff_t(G::Wd)) return 0.0f;
    return rounded(xn[(ci * G::H + std::size_t(h)) * G::Wd + std::size_t(w)]);
}

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, class In>
struct conv_bf16 : conv_geometry<Ci, Co, K, S, P, D, In> {
    using g = conv_geometry<Ci, Co, K, S, P, D, In>;
    static constexpr std::size_t kernel = K, stride = S, pad = P, dilation = D;
    using g::H, g::Wd, g::Hp, g::Wp, g::OH, g::OW, g::Kd, g::Kp, g::N, g::Npad;

    // per-thread scratch: the bf16 padded planes, B, Y', and packed weights when none are prepared
    static constexpr std::size_t plane_floats = align_floats((Ci * Hp * Wp + 1) / 2);
    static constexpr std::size_t b_floats = align_floats(Kp * Npad), y_floats = align_floats(Co * Npad);
    static constexpr std::size_t a_floats = align_floats(a_words(Co, Kd));
    static constexpr std::size_t scratch_floats = plane_floats + b_floats + y_floats + a_floats;

    static void prepare(const float* params, float* out) { pack_a(params, Co, Kd, out); }

    /// Zeroes the planes (their borders stay zero: only the interior is written per sample) and
    /// B's padding columns (never written: no stray bits, such as denormals, in the GEMM).
    static void clear(bf16_t* xp, std::uint32_t* b) {
        std::fill(xp, xp + Ci * Hp * Wp, bf16_t(0));
        for (std::size_t p = 0; p < Kp; ++p) std::fill(b + p * Npad + N, b + (p + 1) * Npad, 0u);
    }

    /// B for one sample xn [Ci, H, Wd].
    static void pack_input(const float* xn, bf16_t* xp, std::uint32_t* b) {
        for (std::size_t ci = 0; ci < Ci; ++ci)
            for (std::size_t h = 0; h < H; ++h) round_row(xn + (ci * H + h) * Wd, xp + (ci * Hp + h + P) * Wp + P, Wd);
        for (std::size_t p = 0; p < Kp; ++p) {
            const bf16_t* e = xp + g::offset(2 * p);
            const bool has_odd = 2 * p + 1 < Kd;
            const bf16_t* o = xp + (has_odd ? g::offset(2 * p + 1) : 0);
            std::uint32_t* row = b + p * Npad;
            for (std::size_t oh = 0; oh < OH; ++oh) {
                const bf16_t* er = e + oh * S * Wp;
                const bf16_t* orow = o + oh * S * Wp;
                std::uint32_t* r = row + oh * OW;
                if constexpr (S == 1) {
                    pair_row(er, has_odd ? orow : nullptr, r, OW);
                } else {
                    for (std::size_t ow = 0; ow < OW; ++ow) r[ow] = pair(er[ow * S], has_odd ? orow[ow * S] : bf16_t(0));
                }
            }
        }
    }

    /// Channels [c0, c1) of y [Co, N] from Y' (bias included): Act(z), or Act(z * scale + shift)
    /// with a folded BatchNorm (coef = [bias | scale | shift]), as the cpu backend's epilogues.
    template <class Act>
    static void epilogue(const float* yt, float* yn, const float* coef, std::size_t c0, std::size_t c1) {
        using Vt = simd::vec;
        for (std::size_t c = c0; c < c1; ++c) {
            const float* r = yt + c * Npad;
            float* o = yn + c * N;
            const cpu_detail::chan_affine<Act, Vt> bn(coef, Co, c);
            const cpu_detail::chan_affine<Act, simd::scalar> bn1(coef, Co, c);
            std::size_t i = 0;
            for (; i + Vt::width <= N; i += Vt::width) Vt::store(o + i, Act::template v<Vt>(bn(Vt::load(r + i))));
            for (; i < N; ++i) o[i] = Act::f(bn1(r[i]));
        }
    }

    /// A fused 2x2 stride-2 max pool after Act (a monotone activation: max commutes with it),
    /// by the cpu backend's row kernel (the reference MaxPool's NaN rule): its output size.
    static constexpr std::size_t PH = OH / 2, PW = OW / 2;
    template <class Act>
    static void epilogue_pool(const float* yt, float* yn, std::size_t c0, std::size_t c1) {
        for (std::size_t c = c0; c < c1; ++c)
            for (std::size_t ph = 0; ph < PH; ++ph) {
                const float* r = yt + c * Npad + 2 * ph * OW;
                cpu_detail::pool2x2_row<Act, PW>(r, r + OW, OW, 2 * ph * OW, yn + (c * PH + ph) * PW, nullptr);
            }
    }
    template <class Act, bool Pool>
    static void finish(const float* yt, float* yn, const float* coef, std::size_t c0, std::size_t c1) {
        if constexpr (Pool) epilogue_pool<Act>(yt, yn, c0, c1);
        else epilogue<Act>(yt, yn, coef, c0, c1);
    }

    /// y = Act(conv(x)) (Pool: then a 2x2 max pool) for a batch; coef: a folded BatchNorm's
    /// coefficients, else null (the bias).
    template <class Act, bool Pool = false>
    static void forward(const forward_args& a, const float* coef = nullptr) {
        static_assert(!Pool || !cpu_detail::folds_bn<Act>);
        constexpr std::size_t out_size = Pool ? Co * PH * PW : Co * N;
        const float* bias = coef ? coef : a.params + Co * Kd;
        if (a.n == 1 && !detail::inside_parallel()) {
            const std::size_t T = tasks_for((Co + 3) / 4, double(Co) * double(Kd * N));
            if (T > 1) return forward_one<Act, Pool>(a, bias, coef, T);
        }
        const std::size_t T = tasks_for(a.n, double(a.n) * double(Co * Kd * N));
        parallel_for(T, [&](std::size_t t) {
            const range r = split(a.n, t, T);
            if (r.begin == r.end) return;
            const scratch sc = carve(a);
            for (std::size_t n = r.begin; n < r.end; ++n) {
                pack_input(a.x + n * Ci * H * Wd, sc.xp, sc.b);
                gemm(sc.w, sc.b, Kp, Npad, 0, Co, Npad, bias, sc.yt, Npad);
                finish<Act, Pool>(sc.yt, a.y + n * out_size, coef, 0, Co);
            }
        });
    }

private:
    /// This thread's scratch: the padded input plane, B (cleared: its padding stays zero), the
    /// output tile, and the weights (prepared, or packed here into the rest).
    struct scratch {
        bf16_t* xp;
        std::uint32_t* b;
        float* yt;
        const float* w;
    };
    static scratch carve(const forward_args& a) {
        float* s = detail::work_scratch(scratch_floats);
        scratch sc{reinterpret_cast<bf16_t*>(s), reinterpret_cast<std::uint32_t*>(s + plane_floats), s + plane_floats + b_floats,
                   nullptr};
        sc.w = weights(a, sc.yt + y_floats);
        clear(sc.xp, sc.b);
        return sc;
    }

    /// The prepared weights, or (a call without them) this thread's packing of the parameters.
    static const float* weights(const forward_args& a, float* spare) {
        if (a.prepared) return a.prepared;
        pack_a(a.params, Co, Kd, spare);
        return spare;
    }

    /// One sample: B packed once by the calling thread (in its scratch), output channels split
    /// over T tasks in blocks of 4 rows (every value the same bits as unsplit).
    template <class Act, bool Pool>
    static void forward_one(const forward_args& a, const float* bias, const float* coef, std::size_t T) {
        const scratch sc = carve(a);
        pack_input(a.x, sc.xp, sc.b);
        parallel_for(T, [&](std::size_t t) {
            const range r = split(Co, t, T, 4);
            if (r.begin == r.end) return;
            gemm(sc.w, sc.b, Kp, Npad, r.begin, r.end, Npad, bias, sc.yt, Npad);
            finish<Act, Pool>(sc.yt, a.y, coef, r.begin, r.end);
        });
    }
};

/// The definition of a bf16 Conv (reference_bf16): for every output, acc = bias, then per pair
/// of k the odd then the even product of bf16-rounded weight and input, in fp32.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, class In>
inline void conv_reference(const forward_args& a) {
    using G = conv_bf16<Ci, Co, K, S, P, D, In>;
    const float* w = a.params;
    const float* bias = a.params + Co * G::Kd;
    const auto wt = [&](std::size_t co, std::size_t k) { return k < G::Kd ? rounded(w[co * G::Kd + k]) : 0.0f; };
    const auto xt = [&](const float* xn, std::size_t k, std::size_t oh, std::size_t ow) {
        return k < G::Kd ? input_at<G>(xn, k, oh, ow) : 0.0f;
    };
    for (std::size_t n = 0; n < a.n; ++n) {
        const float* xn = a.x + n * Ci * G::H * G::Wd;
        for (std::size_t co = 0; co < Co; ++co)
            for (std::size_t oh = 0; oh < G::OH; ++oh)
                for (std::size_t ow = 0; ow < G::OW; ++ow) {
                    float acc = bias[co];
                    for (std::size_t q = 0; q < 2 * G::Kp; ++q) acc = acc + wt(co, q ^ 1) * xt(xn, q ^ 1, oh, ow);  // k = 1, 0, 3, 2, ...
                    a.y[((n * Co + co) * G::OH + oh) * G::OW + ow] = acc;
                }
    }
}

[[noreturn]] inline void inference_only(const char* backend) {
    throw error(std::string("ctnn: the ") + backend + " backend runs inference only (convert a trained net: ctnn::bf16_net)");
}

}  // namespace ctnn::bf16_detail

namespace ctnn {

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, class In>
struct kernel<Conv<Ci, Co, K, S, P, D, 1>, In, cpu_bf16> : kernel_base {
    using impl = bf16_detail::conv_bf16<Ci, Co, K, S, P, D, In>;
    static constexpr kernel_traits traits{.scratch = impl::scratch_floats, .prepared = bf16_detail::a_words(Co, impl::Kd)};
    static void prepare(const float* params, float* out) { impl::prepare(params, out); }
    static void forward(const forward_args& a) { impl::template forward<cpu_detail::identity>(a); }
    static void backward(const backward_args&) { bf16_detail::inference_only("cpu_bf16"); }
};

template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, class In>
struct kernel<Conv<Ci, Co, K, S, P, D, 1>, In, reference_bf16> : kernel_base {
    static void forward(const forward_args& a) { bf16_detail::conv_reference<Ci, Co, K, S, P, D, In>(a); }
    static void backward(const backward_args&) { bf16_detail::inference_only("reference_bf16"); }
};

/// Conv + BatchNorm (+ an activation L2) as one inference kernel on cpu_bf16.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, class In, class L2>
struct fused<cpu_bf16, In, Conv<Ci, Co, K, S, P, D, 1>, BatchNorm<Co>, L2> : kernel_base {
    using impl = bf16_detail::conv_bf16<Ci, Co, K, S, P, D, In>;
    static constexpr bool with_act = activation<L2>;
    static constexpr std::size_t layers = with_act ? 3 : 2;
    using Act = cpu_detail::bn_then<std::conditional_t<with_act, cpu_detail::act<L2>, cpu_detail::identity>>;
    static constexpr std::size_t coef_at = impl::scratch_floats;  // (after the conv's own scratch)
    static constexpr kernel_traits traits{.scratch = coef_at + align_floats(3 * Co), .fuses = layers};

    static void forward(const group_forward_args<layers>& g) {
        const forward_args& c = g.first();
        // (on the calling thread: the conv's tasks read it from there)
        float* coef = detail::work_scratch(traits.scratch) + coef_at;
        cpu_detail::bn_coefficients<Co>(c.params + Co * impl::Kd, g.layer[1].params, g.layer[1].buffers, coef);
        impl::template forward<Act>(cpu_detail::merged(c, g.last()), coef);
    }
};

/// Conv + an activation as one inference kernel on cpu_bf16.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, class In, class L1,
          class L2>
    requires activation<L1>
struct fused<cpu_bf16, In, Conv<Ci, Co, K, S, P, D, 1>, L1, L2> : kernel_base {
    using impl = bf16_detail::conv_bf16<Ci, Co, K, S, P, D, In>;
    static constexpr kernel_traits traits{.scratch = impl::scratch_floats, .fuses = 2};
    static void forward(const group_forward_args<2>& g) {
        impl::template forward<cpu_detail::act<L1>>(cpu_detail::merged(g.first(), g.last()));
    }
};

/// Conv + ReLU + a 2x2 stride-2 MaxPool as one inference kernel on cpu_bf16.
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P, std::size_t D, class In>
    requires(bf16_detail::conv_bf16<Ci, Co, K, S, P, D, In>::PH > 0 && bf16_detail::conv_bf16<Ci, Co, K, S, P, D, In>::PW > 0)
struct fused<cpu_bf16, In, Conv<Ci, Co, K, S, P, D, 1>, ReLU, MaxPool<2, 2>> : kernel_base {
    using impl = bf16_detail::conv_bf16<Ci, Co, K, S, P, D, In>;
    static constexpr kernel_traits traits{.scratch = impl::scratch_floats, .fuses = 3};
    static void forward(const group_forward_args<3>& g) {
        impl::template forward<cpu_detail::relu, true>(cpu_detail::merged(g.first(), g.last()));
    }
};

}  // namespace ctnn
