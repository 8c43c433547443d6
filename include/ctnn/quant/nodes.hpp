// The nodes of an int8 net made from a layer list: which layers run as int8 kernels, which are
// fused, and the fp32 fallback for every other layer kind (node.hpp has the node contract).
//
// A layer list (a Sequential's, a Chain's) is read left to right, each node taking what it
// fuses: Conv [+ BatchNorm] [+ ReLU] [+ MaxPool or AvgPool], Linear [+ ReLU], Residual [+ ReLU]
// (the ReLU clamps the requantize; the pooling runs on rows of the Conv's output while they are
// in L1), then MaxPool, AvgPool, GlobalAvgPool, Flatten, Identity, ReLU on their own, a
// Chain as a nested list, and any other layer as a fallback_node: dequantize, the layer's fp32
// cpu kernel, quantize (with the range calibrated at its output). summary() says which is which.
#pragma once
#include <cstddef>
#include <array>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../backends/int8/conv.hpp"
#include "../backends/int8/elementwise.hpp"
#include "../backends/int8/linear.hpp"
#include "../backends/int8/pooling.hpp"
#include "../layers/chain.hpp"
#include "../layers/residual.hpp"
#include "node.hpp"

namespace ctnn::quant {

/// Any layer without an int8 kernel: its fp32 cpu kernel between a dequantize and a quantize.
template <class L, dims In>
struct fallback_node {
    static constexpr dims in = In, out = L::output(In);
    static constexpr std::size_t layers = 1, params = param_floats<L>(In), buffers = buffer_floats<L>(In);
    static constexpr std::size_t fwork = work_floats<L>(In, 1);
    static constexpr std::size_t work = slot_bytes(4 * In.size()) + slot_bytes(4 * out.size()) + slot_bytes(4 * fwork);
    observer obs;
    std::vector<float> p, b;  // the fp32 layer's own parameters and buffers
    qparams in_qp, out_qp;

    static std::string describe() { return L::name() + "  [fp32 fallback]"; }
    void calibrate(const float* pp, const float* bb, const float* x, float* y, std::size_t n, const calib_context& c) {
        run_fp32<L, In>(pp, bb, x, y, n);
        obs.observe(y, n * out.size(), c.pass);
    }
    template <class M>
    qparams finalize(const float* pp, const float* bb, qparams iq, const M& method) {
        p.assign(pp, pp + params);
        b.assign(bb, bb + buffers);
        out_qp = obs.result(method);
        return loaded(iq);
    }
    void run(const std::uint8_t* x, std::uint8_t* y, std::uint8_t* scratch) const {
        float* fx = reinterpret_cast<float*>(scratch);
        float* fy = reinterpret_cast<float*>(scratch + slot_bytes(4 * In.size()));
        float* fw = reinterpret_cast<float*>(scratch + slot_bytes(4 * In.size()) + slot_bytes(4 * out.size()));
        dequantize_out<In>(x, fx, in_qp);
        forward_args a;
        a.x = fx;
        a.y = fy;
        a.n = 1;
        a.params = p.data();
        a.buffers = const_cast<float*>(b.data());  // (inference only reads them)
        a.work = fw;
        kernel_for<L, shape_of<In>, cpu>::forward(a);
        quantize_in<out>(fy, y, out_qp);
    }
    template <class F>
    void tensors(const std::string& prefix, F&& f) {
        // the fp32 layer's tensors as they are, and the output's quantization
        if constexpr (params > 0) f(prefix + "fp32_params", stored::f32, std::vector<std::size_t>{params}, static_cast<void*>(p.data()), params * 4);
        if constexpr (buffers > 0) f(prefix + "fp32_buffers", stored::f32, std::vector<std::size_t>{buffers}, static_cast<void*>(b.data()), buffers * 4);
        f(prefix + "out_scale", stored::f32, std::vector<std::size_t>{1}, static_cast<void*>(&out_qp.scale), 4);
        f(prefix + "out_zero_point", stored::i32, std::vector<std::size_t>{1}, static_cast<void*>(&out_qp.zero_point), 4);
    }
    qparams loaded(qparams iq) {
        p.resize(params);
        b.resize(buffers);
        in_qp = iq;
        return out_qp;
    }
};

template <dims In, class Kern, class... Ls>
struct seq_node;
template <dims In, class L, bool Relu, class Kern>
struct flatten_linear_node;
template <class Body, class Shortcut, dims In, bool Relu, class Kern>
struct residual_node;

namespace detail {

/// The node for the front of a layer list, and (its `layers`) how many layers it takes.
template <dims In, class Kern, class L0, class... Ls>
struct front {
    using type = fallback_node<L0, In>;
};
template <class L>
inline constexpr bool is_batchnorm = false;
template <std::size_t C>
inline constexpr bool is_batchnorm<BatchNorm<C>> = true;
template <class L>
struct fusable_pool {
    using type = void;
};
template <std::size_t K, std::size_t S>
struct fusable_pool<MaxPool<K, S>> {
    using type = MaxPool<K, S>;
};
template <std::size_t K, std::size_t S>
struct fusable_pool<AvgPool<K, S>> {
    using type = AvgPool<K, S>;
};
/// Conv [+ BatchNorm] [+ ReLU] [+ MaxPool or AvgPool (groups 1 only)]: what follows the Conv,
/// read from Ls padded with voids.
template <dims In, class Kern, std::size_t... A, class... Ls>
struct front<In, Kern, Conv<A...>, Ls...> {
    using next = std::tuple<Ls..., void, void, void>;
    static constexpr bool bn = is_batchnorm<std::tuple_element_t<0, next>>;
    static constexpr bool relu = std::is_same_v<std::tuple_element_t<bn, next>, ReLU>;
    using pool = std::conditional_t<Conv<A...>::groups == 1, typename fusable_pool<std::tuple_element_t<bn + relu, next>>::type, void>;
    using type = conv_node<Conv<A...>, In, bn, relu, Kern, pool>;
};
template <dims In, class Kern, std::size_t I, std::size_t O, class... Ls>
struct front<In, Kern, Linear<I, O>, ReLU, Ls...> {
    using type = linear_node<Linear<I, O>, In, true, Kern>;
};
template <dims In, class Kern, std::size_t I, std::size_t O, class... Ls>
struct front<In, Kern, Linear<I, O>, Ls...> {
    using type = linear_node<Linear<I, O>, In, false, Kern>;
};
template <dims In, class Kern, class B, class S, class... Ls>
struct front<In, Kern, Residual<B, S>, ReLU, Ls...> {
    using type = residual_node<B, S, In, true, Kern>;
};
template <dims In, class Kern, class B, class S, class... Ls>
struct front<In, Kern, Residual<B, S>, Ls...> {
    using type = residual_node<B, S, In, false, Kern>;
};
template <dims In, class Kern, class... Cs, class... Ls>
struct front<In, Kern, Chain<Cs...>, Ls...> {
    using type = seq_node<In, Kern, Cs...>;
};
template <dims In, class Kern, std::size_t K, std::size_t S, class... Ls>
struct front<In, Kern, MaxPool<K, S>, Ls...> {
    using type = pool_node<MaxPool<K, S>, In, true>;
};
template <dims In, class Kern, std::size_t K, std::size_t S, class... Ls>
struct front<In, Kern, AvgPool<K, S>, Ls...> {
    using type = pool_node<AvgPool<K, S>, In, false>;
};
template <dims In, class Kern, class... Ls>
struct front<In, Kern, GlobalAvgPool, Ls...> {
    using type = gap_node<In>;
};
template <dims In, class Kern, class... Ls>
struct front<In, Kern, Flatten, Ls...> {
    using type = flatten_node<In>;
};
template <dims In, class Kern, std::size_t I, std::size_t O, class... Ls>
    requires(In.rank == 3 && In.channels() > 1)
struct front<In, Kern, Flatten, Linear<I, O>, ReLU, Ls...> {
    using type = flatten_linear_node<In, Linear<I, O>, true, Kern>;
};
template <dims In, class Kern, std::size_t I, std::size_t O, class... Ls>
    requires(In.rank == 3 && In.channels() > 1)
struct front<In, Kern, Flatten, Linear<I, O>, Ls...> {
    using type = flatten_linear_node<In, Linear<I, O>, false, Kern>;
};
template <dims In, class Kern, class... Ls>
struct front<In, Kern, Identity, Ls...> {
    using type = identity_node<In>;
};
template <dims In, class Kern, class... Ls>
struct front<In, Kern, ReLU, Ls...> {
    using type = relu_node<In>;
};

/// std::tuple of the nodes of the list Ls on input In.
template <dims In, class Kern, class... Ls>
struct nodes_of {
    using type = std::tuple<>;
};
template <std::size_t Drop, dims In, class Kern, class... Ls>
struct nodes_after;
template <dims In, class Kern, class... Ls>
struct nodes_after<0, In, Kern, Ls...> {
    using type = typename nodes_of<In, Kern, Ls...>::type;
};
template <std::size_t Drop, dims In, class Kern, class L, class... Ls>
    requires(Drop > 0)
struct nodes_after<Drop, In, Kern, L, Ls...> {
    using type = typename nodes_after<Drop - 1, In, Kern, Ls...>::type;
};
template <dims In, class Kern, class L0, class... Ls>
struct nodes_of<In, Kern, L0, Ls...> {
    using N = typename front<In, Kern, L0, Ls...>::type;
    using type = decltype(std::tuple_cat(std::declval<std::tuple<N>>(),
                                         std::declval<typename nodes_after<N::layers - 1, N::out, Kern, Ls...>::type>()));
};

/// A Residual's branch as a list: a Chain's children (so paths read "body.0" as in the fp32
/// net), or the one layer.
template <dims In, class Kern, class L>
struct as_seq {
    using type = seq_node<In, Kern, L>;
};
template <dims In, class Kern, class... Cs>
struct as_seq<In, Kern, Chain<Cs...>> {
    using type = seq_node<In, Kern, Cs...>;
};

template <class N>
concept composite = requires { N::composite; };
/// Whether node N can write fp32 (a Linear without ReLU: the net's logits).
template <class N>
concept writes_float = requires { N::can_float_out; } && N::can_float_out;

/// "a.b.6." -> "a.b.7.": the path of the layer k after the one a node's prefix names.
inline std::string later_layer(const std::string& prefix, std::size_t k) {
    const std::size_t end = prefix.size() - 1;  // the final '.'
    const std::size_t dot = end == 0 ? std::string::npos : prefix.rfind('.', end - 1);
    const std::size_t start = dot == std::string::npos ? 0 : dot + 1;
    return prefix.substr(0, start) + std::to_string(std::stoul(prefix.substr(start, end - start)) + k) + ".";
}

/// Appends N's lines for summary() under the index path `at`.
template <class N>
void describe_into(const std::string& at, std::string& out) {
    if constexpr (composite<N>) N::lines(at + ".", out);
    else out += "  " + at + std::string(at.size() < 10 ? 10 - at.size() : 1, ' ') + N::describe() + "\n";
}

}  // namespace detail

/// Flatten + Linear [+ ReLU]: the Linear reads the NHWC activation as it is, its weights' columns
/// reordered from the Flatten's CHW order when packed (saved as the fp32 net has them, under the
/// Linear's own path), so nothing is transposed at run time.
template <dims In, class L, bool Relu, class Kern>
struct flatten_linear_node : linear_node<L, flat(In.size()), Relu, Kern> {
    using base = linear_node<L, flat(In.size()), Relu, Kern>;
    static constexpr bool composite = true;
    static constexpr dims in = In;
    static constexpr std::size_t layers = 2 + Relu;

    flatten_linear_node() { this->w.nhwc_channels = In.channels(); }
    static void lines(const std::string& prefix, std::string& out) {
        const std::string at = prefix.substr(0, prefix.size() - 1), next = detail::later_layer(prefix, 1);
        out += "  " + at + std::string(at.size() < 10 ? 10 - at.size() : 1, ' ') + "Flatten (read as NHWC by the Linear)  [int8]\n";
        detail::describe_into<base>(next.substr(0, next.size() - 1), out);
    }
    template <class F>
    void tensors(const std::string& prefix, F&& f) { base::tensors(detail::later_layer(prefix, 1), f); }
};

/// A layer list (a Sequential's, a Chain's) as nodes run one after the other through two
/// per-sample buffers.
template <dims In, class Kern, class... Ls>
struct seq_node {
    static constexpr bool composite = true;
    using tuple = typename detail::nodes_of<In, Kern, Ls...>::type;
    static constexpr std::size_t count = std::tuple_size_v<tuple>;
    template <std::size_t I> using node = std::tuple_element_t<I, tuple>;
    static constexpr dims in = In, out = node<count - 1>::out;
    static constexpr std::size_t layers = 1;
    /// Where node I's parameters and buffers start.
    static constexpr auto offsets = [] {
        std::array<std::array<std::size_t, count + 1>, 2> o{};
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((o[0][I + 1] = o[0][I] + node<I>::params, o[1][I + 1] = o[1][I] + node<I>::buffers), ...);
        }(std::make_index_sequence<count>{});
        return o;
    }();
    static constexpr std::size_t params = offsets[0][count], buffers = offsets[1][count];
    /// The fp32 layer index node I starts at (its path in summary() and in a saved file).
    static constexpr auto first_layer = [] {
        std::array<std::size_t, count> f{};
        std::size_t i = 0;
        [&]<std::size_t... I>(std::index_sequence<I...>) { ((f[I] = i, i += node<I>::layers), ...); }(std::make_index_sequence<count>{});
        return f;
    }();
    /// The largest activation between two nodes (u8), and the largest node scratch.
    static constexpr std::size_t inner = [] {
        std::size_t m = 0;
        [&]<std::size_t... I>(std::index_sequence<I...>) { ((m = I + 1 < count ? std::max(m, node<I>::out.size()) : m), ...); }(std::make_index_sequence<count>{});
        return slot_bytes(m);
    }();
    static constexpr std::size_t node_work = [] {
        std::size_t m = 0;
        [&]<std::size_t... I>(std::index_sequence<I...>) { ((m = std::max(m, node<I>::work)), ...); }(std::make_index_sequence<count>{});
        return m;
    }();
    static constexpr std::size_t work = (count > 1 ? 2 * inner : 0) + node_work;

    tuple nodes;

    static void lines(const std::string& prefix, std::string& out) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (detail::describe_into<node<I>>(prefix + std::to_string(first_layer[I]), out), ...);
        }(std::make_index_sequence<count>{});
    }

    void calibrate(const float* p, const float* b, const float* x, float* y, std::size_t n, const calib_context& c) {
        std::vector<float> cur(x, x + n * In.size()), next;
        each([&]<std::size_t I>(auto& nd) {
            float* dst = y;
            if (I + 1 < count) {
                next.resize(n * node<I>::out.size());
                dst = next.data();
            }
            nd.calibrate(p + offsets[0][I], b + offsets[1][I], cur.data(), dst, n, c);
            if (I + 1 < count) std::swap(cur, next);
        });
    }
    template <class M>
    qparams finalize(const float* p, const float* b, qparams q, const M& method) {
        each([&]<std::size_t I>(auto& nd) { q = nd.finalize(p + offsets[0][I], b + offsets[1][I], q, method); });
        return q;
    }
    qparams loaded(qparams q) {
        each([&]<std::size_t I>(auto& nd) { q = nd.loaded(q); });
        return q;
    }
    template <class F>
    void tensors(const std::string& prefix, F&& f) {
        each([&]<std::size_t I>(auto& nd) { nd.tensors(prefix + std::to_string(first_layer[I]) + ".", f); });
    }

    /// Runs nodes [0, Stop) from x; the last of them writes y. Returns nothing: y holds it.
    template <std::size_t Stop = count>
    const std::uint8_t* run_until(const std::uint8_t* x, std::uint8_t* y, std::uint8_t* scratch) const {
        const std::uint8_t* cur = x;
        std::uint8_t* bufs[2] = {scratch, scratch + inner};
        std::uint8_t* w = scratch + (count > 1 ? 2 * inner : 0);
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (([&] {
                 std::uint8_t* dst = I + 1 == Stop && Stop == count ? y : bufs[I % 2];
                 std::get<I>(nodes).run(cur, dst, w);
                 cur = dst;
             }()),
             ...);
        }(std::make_index_sequence<Stop>{});
        return cur;
    }
    void run(const std::uint8_t* x, std::uint8_t* y, std::uint8_t* scratch) const { run_until<count>(x, y, scratch); }

    template <class F>
    void each(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (f.template operator()<I>(std::get<I>(nodes)), ...); }(std::make_index_sequence<count>{});
    }
};

/// Residual<Body, Shortcut> [+ ReLU]: the body into y, the shortcut (unless Identity: x itself)
/// into scratch, then the requantized sum in place.
template <class Body, class Shortcut, dims In, bool Relu, class Kern>
struct residual_node {
    using R = Residual<Body, Shortcut>;
    static constexpr bool composite = true;
    using body_t = typename detail::as_seq<In, Kern, Body>::type;
    using shortcut_t = typename detail::as_seq<In, Kern, Shortcut>::type;
    static constexpr bool identity = R::identity_shortcut;
    static constexpr dims in = In, out = R::output(In);
    static constexpr std::size_t layers = 1 + Relu;
    static constexpr std::size_t params = body_t::params + shortcut_t::params, buffers = body_t::buffers + shortcut_t::buffers;
    static constexpr std::size_t work = (identity ? 0 : slot_bytes(out.size())) + std::max(body_t::work, shortcut_t::work);

    body_t body;
    shortcut_t shortcut;
    observer obs;
    add_requant add;
    qparams out_qp;

    static void lines(const std::string& prefix, std::string& o) {
        body_t::lines(prefix + "body.", o);
        if constexpr (!identity) shortcut_t::lines(prefix + "shortcut.", o);
        o += "  " + prefix.substr(0, prefix.size() - 1) + "  (sum" + (Relu ? " + ReLU" : "") + ")  [int8]\n";
    }

    void calibrate(const float* p, const float* b, const float* x, float* y, std::size_t n, const calib_context& c) {
        body.calibrate(p, b, x, y, n, c);
        std::vector<float> s(n * out.size());
        shortcut.calibrate(p + body_t::params, b + body_t::buffers, x, s.data(), n, c);
        for (std::size_t i = 0; i < n * out.size(); ++i) {
            y[i] += s[i];
            if (Relu && y[i] < 0.0f) y[i] = 0.0f;
        }
        obs.observe(y, n * out.size(), c.pass);
    }
    template <class M>
    qparams finalize(const float* p, const float* b, qparams q, const M& method) {
        bq_ = body.finalize(p, b, q, method);
        sq_ = shortcut.finalize(p + body_t::params, b + body_t::buffers, q, method);
        out_qp = obs.result(method);
        add.make(bq_, sq_, out_qp, Relu);
        return out_qp;
    }
    qparams loaded(qparams q) {
        bq_ = body.loaded(q);
        sq_ = shortcut.loaded(q);
        add.make(bq_, sq_, out_qp, Relu);
        return out_qp;
    }
    template <class F>
    void tensors(const std::string& prefix, F&& f) {
        body.tensors(prefix + "body.", f);
        shortcut.tensors(prefix + "shortcut.", f);
        f(prefix + "out_scale", stored::f32, std::vector<std::size_t>{1}, static_cast<void*>(&out_qp.scale), 4);
        f(prefix + "out_zero_point", stored::i32, std::vector<std::size_t>{1}, static_cast<void*>(&out_qp.zero_point), 4);
    }
    void run(const std::uint8_t* x, std::uint8_t* y, std::uint8_t* scratch) const {
        std::uint8_t* w = scratch + (identity ? 0 : slot_bytes(out.size()));
        body.run(x, y, w);
        const std::uint8_t* s = x;
        if constexpr (!identity) {
            shortcut.run(x, scratch, w);
            s = scratch;
        }
        add.run(y, s, y, out.size());
    }

private:
    qparams bq_, sq_;
};

}  // namespace ctnn::quant
