// Sequential<Input<...>, Layers...>: a network as a type.
//
// The type holds everything known before run time: every layer's input and output shape
// (checked while compiling; a mismatch is a shape_error_at_layer<...> error naming the layer),
// the parameter, gradient and buffer layouts, and the size of the inference workspace. An object
// of the type owns one aligned block of parameters, one of gradients (trainable layers only) and
// one of buffers (BatchNorm running statistics), all sized by compile-time constants.
//
// Inference (`forward`) runs in tiles of up to `inference_tile` samples through a workspace made
// when the net is made: it allocates nothing. The batch is split into one contiguous part per
// thread (ctnn::num_threads()), and a backend may run a group of layers as one kernel (see
// fusion.hpp: the cpu backend fuses Conv + ReLU + MaxPool and Linear + ReLU). Training
// (`forward_train`, `backward`) keeps every
// layer's output for the batch in a workspace that grows to the largest batch seen.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include "backend.hpp"
#include "backends/default.hpp"
#include "diagnostics.hpp"
#include "error.hpp"
#include "fusion.hpp"
#include "layer.hpp"
#include "layers/flatten.hpp"
#include "layers/input.hpp"
#include "memory.hpp"
#include "random.hpp"
#include "shape.hpp"
#include "threads.hpp"

namespace ctnn {

/// Which block a named tensor lives in.
enum class tensor_kind { parameter, buffer };

namespace detail {

template <class... Ts> struct type_list {};
template <class T, class List> struct prepend;
template <class T, class... Ts> struct prepend<T, type_list<Ts...>> { using type = type_list<T, Ts...>; };
template <std::size_t I, class List> struct at;
template <std::size_t I, class T, class... Ts> struct at<I, type_list<T, Ts...>> : at<I - 1, type_list<Ts...>> {};
template <class T, class... Ts> struct at<0, type_list<T, Ts...>> { using type = T; };

/// Walks the layers once: checks each layer's shape rule against the shape before it (raising
/// shape_error_at_layer on the first failure only) and lists the shapes between layers.
template <std::size_t I, bool Ok, class In, class... Ls>
struct chain {
    using shapes = type_list<In>;
};
template <std::size_t I, bool Ok, class In, class L, class... Rest>
struct chain<I, Ok, In, L, Rest...> {
    static constexpr layer_check c = L::check(In::value);
    static constexpr bool raised = diagnose_layer<Ok && !c.ok(), I, L,
        problem_tags<c.what, c.needs.d[0], c.needs.d[1], c.needs.d[2], c.got.rank, c.got.d[0], c.got.d[1], c.got.d[2]>>::value;
    static constexpr dims o = L::output(In::value);
    using Out = shape_t<o.rank, o.d[0], o.d[1], o.d[2]>;
    using shapes = typename prepend<In, typename chain<I + 1, Ok && c.ok() && raised, Out, Rest...>::shapes>::type;
};

template <class List> struct dims_of;
template <class... S> struct dims_of<type_list<S...>> {
    static constexpr std::array<dims, sizeof...(S)> value{S::value...};
};

inline std::string with_commas(std::size_t v) {
    std::string s = std::to_string(v);
    for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(std::size_t(i), ",");
    return s;
}

template <class... Ts> inline constexpr bool first_is_input = false;
template <class T, class... Ts> inline constexpr bool first_is_input<T, Ts...> = is_input<T>;
/// Scratch a kernel asks for (0 if it says nothing).
template <class K>
constexpr std::size_t scratch_of() {
    if constexpr (requires { K::scratch_floats; }) return K::scratch_floats;
    else return 0;
}
template <class K>
constexpr std::size_t shared_scratch_of() {
    if constexpr (requires { K::shared_floats_per_task; }) return K::shared_floats_per_task;
    else return 0;
}
/// Floats of prepared parameters a kernel asks for (0 if it says nothing): a kernel may declare
///   static constexpr std::size_t prepared_floats;
///   static void prepare(const float* params, float* prepared);   // e.g. transformed weights
/// and then finds them in forward_args::prepared (forward and training forward).
template <class K>
constexpr std::size_t prepared_of() {
    if constexpr (requires { K::prepared_floats; }) return K::prepared_floats;
    else return 0;
}

template <class... Ts> inline constexpr bool rest_are_layers = false;
template <class T, class... Ts> inline constexpr bool rest_are_layers<T, Ts...> = (layer<Ts> && ...);

}  // namespace detail

/// Reached only by a Sequential that is not Input followed by layers: says which rule is broken.
template <class... Ts>
class Sequential {
    static_assert(sizeof...(Ts) > 0,
                  "ctnn::Sequential<> is empty: write ctnn::Sequential<ctnn::Input<C, H, W>, layers...>");
    static_assert(sizeof...(Ts) == 0 || detail::first_is_input<Ts...>,
                  "ctnn::Sequential: the first element must be ctnn::Input<C, H, W> or ctnn::Input<Features>");
    static_assert(sizeof...(Ts) != 1 || !detail::first_is_input<Ts...>,
                  "ctnn::Sequential<ctnn::Input<...>> has no layers: a network needs at least one layer after its Input");
    static_assert(sizeof...(Ts) < 2 || !detail::first_is_input<Ts...> || detail::rest_are_layers<Ts...>,
                  "ctnn::Sequential: every element after Input must be a ctnn layer type (see the ctnn::layer concept)");
};

template <std::size_t... D, layer... Ls>
    requires(sizeof...(Ls) > 0)
class Sequential<Input<D...>, Ls...> {
    using chain = detail::chain<0, true, Shape<D...>, Ls...>;
    using shape_list = typename chain::shapes;

public:
    static constexpr std::size_t depth = sizeof...(Ls);

    /// The I-th layer type (0-based, Input not counted: PyTorch's nn.Sequential index).
    template <std::size_t I> using layer_type = typename detail::at<I, detail::type_list<Ls...>>::type;
    /// The shape entering layer I; shape_at<depth> is the output shape.
    template <std::size_t I> using shape_at = typename detail::at<I, shape_list>::type;

    using input_shape = Shape<D...>;
    using output_shape = shape_at<depth>;
    static constexpr std::size_t input_size = input_shape::size;
    static constexpr std::size_t output_size = output_shape::size;

    /// shapes[I]: the shape entering layer I (shapes[depth] is the output).
    static constexpr std::array<dims, depth + 1> shapes = detail::dims_of<shape_list>::value;

private:
    template <class F>
    static constexpr std::array<std::size_t, depth> per_layer(F f) {
        std::array<std::size_t, depth> r{};
        [&]<std::size_t... I>(std::index_sequence<I...>) { ((r[I] = f.template operator()<I>()), ...); }(std::make_index_sequence<depth>{});
        return r;
    }
    static constexpr std::array<std::size_t, depth + 1> offsets(const std::array<std::size_t, depth>& sizes) {
        std::array<std::size_t, depth + 1> o{};
        for (std::size_t i = 0; i < depth; ++i) o[i + 1] = o[i] + sizes[i];
        return o;
    }

public:
    static constexpr std::array<std::size_t, depth> param_sizes =
        per_layer([]<std::size_t I>() { return layer_type<I>::params(shapes[I]).total(); });
    static constexpr std::array<std::size_t, depth> buffer_sizes =
        per_layer([]<std::size_t I>() { return layer_type<I>::buffers(shapes[I]).total(); });
    static constexpr std::array<std::size_t, depth> trainable =
        per_layer([]<std::size_t I>() { return std::size_t(layer_type<I>::trainable && param_sizes[I] > 0); });
    static constexpr std::array<std::size_t, depth> grad_sizes =
        per_layer([]<std::size_t I>() { return trainable[I] ? param_sizes[I] : std::size_t(0); });

    /// Offsets of each layer's parameters, gradients and buffers in their blocks.
    static constexpr std::array<std::size_t, depth + 1> param_offset = offsets(param_sizes);
    static constexpr std::array<std::size_t, depth + 1> grad_offset = offsets(grad_sizes);
    static constexpr std::array<std::size_t, depth + 1> buffer_offset = offsets(buffer_sizes);

    /// Number of parameters (PyTorch's sum of p.numel()); trainable ones; non-trainable buffers.
    static constexpr std::size_t param_count = param_offset[depth];
    static constexpr std::size_t grad_count = grad_offset[depth];
    static constexpr std::size_t buffer_count = buffer_offset[depth];

    /// The largest per-sample activation, input and output included.
    static constexpr std::size_t max_activation = [] {
        std::size_t m = 0;
        for (const dims& s : shapes) m = std::max(m, s.size());
        return m;
    }();
    /// Inference runs in tiles of this many samples (a ~256 KiB buffer per tile).
    static constexpr std::size_t inference_tile = std::clamp<std::size_t>(65536 / max_activation, 1, 64);
    /// Rough multiply-adds per sample (parameters times output positions, plus activations):
    /// decides how many threads an inference batch is worth.
    static constexpr std::size_t work_per_sample = [] {
        std::size_t w = 0;
        for (std::size_t i = 0; i < depth; ++i)
            w += param_sizes[i] * shapes[i + 1].height() * shapes[i + 1].width() + shapes[i + 1].size();
        return w;
    }();
    /// is_view[I]: layer I only reinterprets its input's shape (Flatten); training aliases its
    /// output to its input and its backward passes the gradient through.
    static constexpr std::array<bool, depth> is_view = [] {
        std::array<bool, depth> r{};
        [&]<std::size_t... I>(std::index_sequence<I...>) { ((r[I] = std::is_same_v<layer_type<I>, Flatten>), ...); }(std::make_index_sequence<depth>{});
        return r;
    }();
    /// The first layer that needs a backward pass (layers before it are frozen or parameter-free).
    static constexpr std::size_t first_trainable = [] {
        for (std::size_t i = 0; i < depth; ++i)
            if (trainable[i]) return i;
        return depth;
    }();

    /// A net with PyTorch's default initialisation, drawn from `seed`.
    explicit Sequential(std::uint64_t seed = 0)
        : params_(param_count), grads_(grad_count), buffers_(buffer_count),
          work_slots_(std::max<std::size_t>(num_threads(), std::thread::hardware_concurrency())),
          work_(work_slots_ * 2 * align_floats(inference_tile * max_activation)), gen_(seed ^ 0x5DEECE66Dull) {
        reset_parameters(seed);
        reserve_scratch<default_backend>();
        prepare_layers<default_backend>();  // sized here, so that forward allocates nothing
    }

    /// Draws all parameters again as PyTorch's default initialisation does, and resets buffers.
    /// The same seed gives the same bits in every build (see rng::uniform).
    void reset_parameters(std::uint64_t seed) {
        rng g(seed);
        for_each_layer([&]<std::size_t I>() {
            layer_type<I>::init(shapes[I], params_.data() + param_offset[I], buffers_.data() + buffer_offset[I], g);
        });
    }

    // ---- inference ---------------------------------------------------------------------------

    /// Inference (running statistics, no dropout) on `batch` samples: in [batch, input_shape],
    /// out [batch, output_shape], both NCHW. Allocates nothing.
    template <class Backend = default_backend>
    void forward(const float* in, float* out, std::size_t batch) {
        reserve_scratch<Backend>();
        prepare_layers<Backend>();
        const std::size_t tasks = tasks_for(std::min(work_slots_, batch), double(batch) * double(work_per_sample));
        parallel_for(tasks, [&](std::size_t t) {
            const range r = split(batch, t, tasks);
            float* ping = work_.data() + t * 2 * align_floats(inference_tile * max_activation);
            float* pong = ping + align_floats(inference_tile * max_activation);
            for (std::size_t b0 = r.begin; b0 < r.end; b0 += inference_tile) {
                const std::size_t n = std::min(inference_tile, r.end - b0);
                const float* src = in + b0 * input_size;
                for_each_layer([&]<std::size_t I>() {
                    constexpr std::size_t group = fusion_plan<Backend>[I];  // 0: ran in an earlier group
                    if constexpr (group > 0) {
                        float* dst = I + group == depth ? out + b0 * output_size : (src == ping ? pong : ping);
                        forward_args a;
                        a.x = src; a.y = dst; a.n = n;
                        a.params = params_.data() + param_offset[I];
                        a.buffers = buffers_.data() + buffer_offset[I];
                        a.prepared = prepared_for<Backend, I>();
                        if constexpr (group == 1) kernel_for<layer_type<I>, shape_at<I>, Backend>::forward(a);
                        else fusion_at<Backend, I>::forward(a);
                        src = dst;
                    }
                });
            }
        });
    }

    /// Inference on one sample held in std::arrays.
    template <class Backend = default_backend>
    std::array<float, output_size> operator()(const std::array<float, input_size>& x) {
        std::array<float, output_size> y;
        forward<Backend>(x.data(), y.data(), 1);
        return y;
    }

    // ---- training ----------------------------------------------------------------------------

    /// Training forward (batch statistics, dropout): keeps what backward needs and returns the
    /// output [batch, output_shape], valid until the next training call. `in` must stay valid
    /// until backward. Grows the training workspace to the largest batch seen.
    template <class Backend = default_backend>
    const float* forward_train(const float* in, std::size_t batch) {
        if (batch == 0) throw error("ctnn::Sequential::forward_train: batch size 0");
        reserve(batch);
        reserve_scratch<Backend>();
        // Trainable layers change every step, so their kernels transform their parameters
        // afresh in each task (in parallel, into memory the task's thread owns) rather than once
        // into a block every thread reads: a 2-thread step of the seed CNN spent 8 us
        // preparing, then moved the 76 KB block between cores. Frozen layers keep theirs.
        prepare_layers<Backend, true>();
        batch_ = batch;
        input_ = in;
        for_each_layer([&]<std::size_t I>() {
            constexpr std::size_t group = train_plan<Backend>[I];  // 0: ran in an earlier group
            if constexpr (group > 0) {
                forward_args a;
                a.x = I == 0 ? in : activation(I);
                a.y = activation(I + group);
                a.n = batch;
                a.params = params_.data() + param_offset[I];
                a.buffers = buffers_.data() + buffer_offset[I];
                a.saved = train_.data() + saved_offset_[I + group - 1];
                a.training = true;
                a.gen = &gen_;
                if constexpr (!trainable[I]) a.prepared = prepared_for<Backend, I>();
                if constexpr (group == 1) kernel_for<layer_type<I>, shape_at<I>, Backend>::forward(a);
                else fusion_at<Backend, I>::forward_train(a);
            }
        });
        return activation(depth);
    }

    /// Backward from dLoss/dOutput [batch, output_shape] of the last forward_train: accumulates
    /// parameter gradients (+=, call zero_grad() first), and writes dLoss/dInput if din is given.
    template <class Backend = default_backend>
    void backward(const float* dout, float* din = nullptr) {
        if (!input_) throw error("ctnn::Sequential::backward: no forward_train before it");
        reserve_scratch<Backend>();
        const std::size_t stop = din ? 0 : first_trainable;
        const std::size_t half = align_floats(batch_ * max_activation);
        float* gbuf[2] = {train_.data() + grad_work_offset_, train_.data() + grad_work_offset_ + half};
        const float* g = dout;
        std::size_t next_buf = 0;
        for_each_layer_reverse([&]<std::size_t I>() {
            constexpr std::size_t group = train_plan<Backend>[I];  // 0: part of an earlier group
            if constexpr (is_view[I] && I > 0) {
                return;  // the gradient is the same array, viewed in the input's shape
            } else if constexpr (group > 0) {
                // a group is entered here at its first layer, once the layers after it are done;
                // its own later layers were skipped (group 0), and no stop lies inside a group
                // whose first layer is trainable (stop is the first trainable layer or 0)
                if (I + group - 1 < stop) return;
                backward_args a;
                a.x = I == 0 ? input_ : activation(I);
                a.y = activation(I + group);
                a.dy = g;
                a.dx = I == 0 ? din : (I <= stop ? nullptr : gbuf[next_buf]);
                next_buf ^= 1;  // dy (the previous dx) is in the other buffer
                a.n = batch_;
                a.params = params_.data() + param_offset[I];
                a.dparams = trainable[I] ? grads_.data() + grad_offset[I] : nullptr;
                a.buffers = buffers_.data() + buffer_offset[I];
                a.saved = train_.data() + saved_offset_[I + group - 1];
                using K = std::conditional_t<group == 1, kernel_for<layer_type<I>, shape_at<I>, Backend>, fusion_at<Backend, I>>;
                if (a.dparams && grads_stale_) {  // the first backward since zero_grad
                    if constexpr (detail::overwrites_dparams<K>) a.overwrite_dparams = true;
                    else std::fill(a.dparams, a.dparams + grad_sizes[I], 0.0f);
                }
                K::backward(a);
                g = a.dx;
            }
        });
        grads_stale_ = false;
    }

    /// Sets every gradient to zero. Lazily: the next backward writes the gradients instead of
    /// adding to them (kernels that cannot get zeroed memory), which saves a pass over them;
    /// grads() reads zeros until then.
    void zero_grad() { grads_stale_ = true; }

    // ---- storage -----------------------------------------------------------------------------

    std::span<float> params() { return {params_.data(), param_count}; }
    std::span<const float> params() const { return {params_.data(), param_count}; }
    std::span<float> grads() { return {materialized_grads(), grad_count}; }
    std::span<const float> grads() const { return {materialized_grads(), grad_count}; }
    std::span<float> buffers() { return {buffers_.data(), buffer_count}; }
    std::span<const float> buffers() const { return {buffers_.data(), buffer_count}; }
    /// Layer I's parameters (in the order of its params() list) and gradients.
    std::span<float> params(std::size_t layer) { return {params_.data() + param_offset[layer], param_sizes[layer]}; }
    std::span<float> grads(std::size_t layer) { return {materialized_grads() + grad_offset[layer], grad_sizes[layer]}; }
    rng& generator() { return gen_; }

    /// Calls f(name, desc, data, kind) for every tensor, in PyTorch's state_dict order; names are
    /// "<layer index>.<tensor>", e.g. "0.weight", "1.running_mean".
    template <class F>
    void for_each_tensor(F&& f) {
        for_each_layer([&]<std::size_t I>() {
            const tensor_list p = layer_type<I>::params(shapes[I]);
            float* d = params_.data() + param_offset[I];
            for (std::size_t t = 0; t < p.count; d += p.t[t].size(), ++t)
                f(std::to_string(I) + "." + std::string(p.t[t].name), p.t[t], d, tensor_kind::parameter);
            const tensor_list b = layer_type<I>::buffers(shapes[I]);
            d = buffers_.data() + buffer_offset[I];
            for (std::size_t t = 0; t < b.count; d += b.t[t].size(), ++t)
                f(std::to_string(I) + "." + std::string(b.t[t].name), b.t[t], d, tensor_kind::buffer);
        });
    }

    /// A Keras-style table: index, layer, output shape, parameters; then the totals.
    static std::string summary() {
        std::ostringstream o;
        const auto row = [&](const std::string& a, const std::string& b, const std::string& c, const std::string& d) {
            o << std::left << std::setw(5) << a << std::setw(28) << b << std::setw(16) << c << std::right << std::setw(12) << d << "\n";
        };
        const std::string rule(61, '-');
        row("#", "Layer", "Output shape", "Params");
        o << rule << "\n";
        row("", "Input", to_string(shapes[0]), "0");
        for_each_layer([&]<std::size_t I>() {
            row(std::to_string(I), layer_type<I>::name(), to_string(shapes[I + 1]), detail::with_commas(param_sizes[I]));
        });
        o << rule << "\n";
        o << "Total params: " << detail::with_commas(param_count) << " (" << detail::with_commas(param_count * 4) << " bytes)\n";
        o << "Trainable params: " << detail::with_commas(grad_count) << "\n";
        o << "Non-trainable: " << detail::with_commas(param_count - grad_count) << " params, "
          << detail::with_commas(buffer_count) << " buffer values\n";
        return o.str();
    }

    /// Sizes the training workspace for batches up to n (forward_train does it on demand).
    void reserve(std::size_t n) {
        if (n <= reserved_batch_) return;
        std::size_t off = 0;
        for (std::size_t i = 1; i <= depth; ++i) {
            if (i >= 2 && is_view[i - 1]) {  // a Flatten's output is its input, viewed flat: no copy
                act_offset_[i] = act_offset_[i - 1];
                continue;
            }
            act_offset_[i] = off;
            off += align_floats(n * shapes[i].size());
        }
        const auto saved = per_layer_n(n);
        for (std::size_t i = 0; i < depth; ++i) {
            saved_offset_[i] = off;
            off += align_floats(saved[i]);
        }
        grad_work_offset_ = off;
        off += 2 * align_floats(n * max_activation);
        train_ = aligned_floats(off);
        reserved_batch_ = n;
    }

    /// Layer J, or no_layer past the end.
    template <std::size_t J>
    using layer_or_none = typename std::conditional_t<(J < depth), detail::at<(J < depth ? J : 0), detail::type_list<Ls...>>,
                                                      std::type_identity<no_layer>>::type;
    /// The backend's fused kernel starting at layer I (fused<...>::layers == 1: none).
    template <class Backend, std::size_t I>
    using fusion_at = fused<Backend, shape_at<I>, layer_type<I>, layer_or_none<I + 1>, layer_or_none<I + 2>>;
    /// train_plan<B>[I]: the same for training (forward_train and backward).
    template <class Backend>
    static constexpr std::array<std::size_t, depth> train_plan = [] {
        std::array<std::size_t, depth> r{};
        std::size_t next = 0;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((r[I] = I >= next ? (next = I + std::max<std::size_t>(1, std::min(detail::train_layers_of<fusion_at<Backend, I>>(), depth - I)), next - I) : 0), ...);
        }(std::make_index_sequence<depth>{});
        return r;
    }();
    /// fusion_plan<B>[I]: how many layers the inference kernel run at layer I covers (1: itself
    /// only; 0: layer I is part of an earlier group).
    template <class Backend>
    static constexpr std::array<std::size_t, depth> fusion_plan = [] {
        std::array<std::size_t, depth> r{};
        std::size_t next = 0;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((r[I] = I >= next ? (next = I + std::min(fusion_at<Backend, I>::layers, depth - I), next - I) : 0), ...);
        }(std::make_index_sequence<depth>{});
        return r;
    }();

private:
    // ---- prepared parameters ------------------------------------------------------------------
    // A kernel may keep its parameters in a prepared form (the cpu Conv: Winograd-transformed
    // weights, 12% of a Fashion-MNIST batch-1 inference when redone each call). The net keeps
    // them per layer, with a copy of the parameters they came from, and redoes them before a
    // forward whenever the parameters differ from that copy (compared bytewise, so any way of
    // changing them counts: an optimizer, a load, writes through a span kept from params()).
    template <class Backend, std::size_t I>
    static constexpr std::size_t prepared_size = align_floats(detail::prepared_of<kernel_for<layer_type<I>, shape_at<I>, Backend>>());
    template <class Backend>  // the prepared blocks, and the copies of the parameters they came from
    static constexpr std::array<std::size_t, depth + 1> prepared_offset =
        offsets(per_layer([]<std::size_t I>() { return prepared_size<Backend, I>; }));
    template <class Backend>
    static constexpr std::array<std::size_t, depth + 1> prepared_source_offset =
        offsets(per_layer([]<std::size_t I>() { return prepared_size<Backend, I> ? align_floats(param_sizes[I]) : 0; }));
    template <class Backend>
    struct prepared_tag {
        static constexpr char id = 0;
    };

    /// Sizes the prepared blocks for Backend (allocates only when the backend changes) and
    /// redoes those whose parameters changed since (with FrozenOnly, of layers without gradients).
    template <class Backend, bool FrozenOnly = false>
    void prepare_layers() {
        constexpr std::size_t total = prepared_offset<Backend>[depth];
        if constexpr (total > 0) {
            if (prepared_backend_ != &prepared_tag<Backend>::id) {
                prepared_ = aligned_floats(total);
                prepared_source_ = aligned_floats(prepared_source_offset<Backend>[depth]);
                prepared_ok_.fill(false);
                prepared_backend_ = &prepared_tag<Backend>::id;
            }
            for_each_layer([&]<std::size_t I>() {
                if constexpr (prepared_size<Backend, I> > 0 && !(FrozenOnly && trainable[I])) {
                    const float* p = params_.data() + param_offset[I];
                    float* src = prepared_source_.data() + prepared_source_offset<Backend>[I];
                    constexpr std::size_t bytes = param_sizes[I] * sizeof(float);
                    if (!prepared_ok_[I] || std::memcmp(src, p, bytes) != 0) {
                        kernel_for<layer_type<I>, shape_at<I>, Backend>::prepare(p, prepared_.data() + prepared_offset<Backend>[I]);
                        std::memcpy(src, p, bytes);
                        prepared_ok_[I] = true;
                    }
                }
            });
        }
    }
    /// Layer I's prepared block (for the kernel or fused group starting at I), or null.
    template <class Backend, std::size_t I>
    const float* prepared_for() const {
        if constexpr (prepared_size<Backend, I> > 0) return prepared_.data() + prepared_offset<Backend>[I];
        else return nullptr;
    }

    /// Makes every thread's kernel scratch large enough for Backend's kernels on this net (a no-op
    /// once done: forward allocates nothing).
    template <class Backend>
    static void reserve_scratch() {
        constexpr std::size_t work = [] {
            std::size_t m = 0;
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                ((m = std::max({m, detail::scratch_of<kernel_for<layer_type<I>, shape_at<I>, Backend>>(),
                                detail::scratch_of<fusion_at<Backend, I>>()})), ...);
            }(std::make_index_sequence<depth>{});
            return m;
        }();
        constexpr std::size_t shared = [] {
            std::size_t m = 0;
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                ((m = std::max(m, detail::shared_scratch_of<kernel_for<layer_type<I>, shape_at<I>, Backend>>())), ...);
            }(std::make_index_sequence<depth>{});
            return m;
        }();
        detail::reserve_scratch(work, shared * num_threads());
    }
    template <class F>
    static constexpr void for_each_layer(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (f.template operator()<I>(), ...); }(std::make_index_sequence<depth>{});
    }
    template <class F>
    static constexpr void for_each_layer_reverse(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (f.template operator()<depth - 1 - I>(), ...); }(std::make_index_sequence<depth>{});
    }
    static std::array<std::size_t, depth> per_layer_n(std::size_t n) {
        std::array<std::size_t, depth> r{};
        for_each_layer([&]<std::size_t I>() { r[I] = layer_type<I>::saved(shapes[I], n); });
        return r;
    }
    float* activation(std::size_t i) { return train_.data() + act_offset_[i]; }
    /// The gradient block, zeroed first if zero_grad was called since the last backward.
    float* materialized_grads() const {
        float* g = const_cast<float*>(grads_.data());
        if (grads_stale_) {
            const std::size_t T = tasks_for(num_threads(), double(grad_count) * 4.0);  // memory-bound: split large nets
            parallel_for(T, [&](std::size_t t) {
                const range r = split(grad_count, t, T, 16);
                std::fill(g + r.begin, g + r.end, 0.0f);
            });
            grads_stale_ = false;
        }
        return g;
    }

    aligned_floats params_, grads_, buffers_;
    mutable bool grads_stale_ = false;  // zero_grad was called and no backward has run since
    std::size_t work_slots_;  // threads the inference workspace has room for
    aligned_floats work_;     // inference: two tiles of max_activation per thread
    aligned_floats train_;  // training: activations, saved state, gradient ping-pong
    std::array<std::size_t, depth + 1> act_offset_{};
    std::array<std::size_t, depth> saved_offset_{};
    std::size_t grad_work_offset_ = 0, reserved_batch_ = 0, batch_ = 0;
    const float* input_ = nullptr;
    rng gen_;
    aligned_floats prepared_, prepared_source_;  // prepared parameters, and what they came from
    std::array<bool, depth> prepared_ok_{};
    const char* prepared_backend_ = nullptr;     // the backend they were sized for
};

/// True for every Sequential<Input<...>, layers...>.
template <class T> inline constexpr bool is_sequential = false;
template <std::size_t... D, class... Ls> inline constexpr bool is_sequential<Sequential<Input<D...>, Ls...>> = true;

}  // namespace ctnn
