// Sequential<Input<...>, Layers...>: a network as a type.
//
// The type holds everything known before run time in its plan (plan.hpp): every layer's input
// and output shape (checked while compiling; a mismatch is a shape_error_at_layer<...> error
// naming the layer), the parameter, gradient and buffer layouts, and which kernels run. An object
// of the type owns one aligned block of parameters, one of gradients (trainable layers only) and
// one of buffers (BatchNorm running statistics), all sized by compile-time constants, and the
// training workspace. It runs on any backend through the executor (executor.hpp); it includes
// none: a call that names no backend uses the default of backends/default.hpp (<ctnn/ctnn.hpp>).
//
// Inference (`forward`) runs in tiles of up to `inference_tile` samples through per-thread tile
// buffers (threads.hpp): after warm_up (or the first forward) on a thread it allocates nothing,
// and several threads may run forward on one net at once. The batch is split into one contiguous
// part per thread (ctnn::num_threads()), and a backend may run a group of layers as one kernel
// (backend.hpp). Training (`forward_train`, `backward`) keeps every layer's output for the batch
// in a workspace that grows to the largest batch seen.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

#include "backend.hpp"
#include "diagnostics.hpp"
#include "error.hpp"
#include "executor.hpp"
#include "layer.hpp"
#include "layers/input.hpp"
#include "memory.hpp"
#include "plan.hpp"
#include "prepared.hpp"
#include "random.hpp"
#include "shape.hpp"
#include "summary.hpp"
#include "threads.hpp"
#include "workspace.hpp"

namespace ctnn {

namespace detail {
template <class... Ts> inline constexpr bool first_is_input = false;
template <class T, class... Ts> inline constexpr bool first_is_input<T, Ts...> = is_input<T>;
// (A type derived from layer_base counts: one whose own static_assert failed is not a layer to
// clang any more, and its error is already reported.)
template <class... Ts> inline constexpr bool rest_are_layers = false;
template <class T, class... Ts>
inline constexpr bool rest_are_layers<T, Ts...> = ((layer<Ts> || std::is_base_of_v<layer_base, Ts>) && ...);
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

public:
    // An invalid net's error is reported above (or by its broken layer): making one is not a second error.
    template <class... A>
    explicit Sequential(A&&...) {}
};

// (The base is the compile-time shape check: one mistake, one error, diagnostics.hpp; nothing
// below instantiates a kernel then.)
template <std::size_t... D, layer... Ls>
    requires(sizeof...(Ls) > 0)
class Sequential<Input<D...>, Ls...> : detail::shape_check<plan<Shape<D...>, Ls...>> {
public:
    using plan_type = plan<Shape<D...>, Ls...>;

    static constexpr std::size_t depth = plan_type::depth;
    /// The I-th layer type (0-based, Input not counted: PyTorch's nn.Sequential index).
    template <std::size_t I> using layer_type = typename plan_type::template layer_type<I>;
    /// The shape entering layer I; shape_at<depth> is the output shape.
    template <std::size_t I> using shape_at = typename plan_type::template shape_at<I>;
    using input_shape = Shape<D...>;
    using output_shape = shape_at<depth>;
    static constexpr std::size_t input_size = input_shape::size;
    static constexpr std::size_t output_size = output_shape::size;

    static constexpr auto shapes = plan_type::shapes;
    static constexpr auto param_sizes = plan_type::param_sizes;
    static constexpr auto buffer_sizes = plan_type::buffer_sizes;
    static constexpr auto grad_sizes = plan_type::grad_sizes;
    static constexpr auto trainable = plan_type::trainable;
    static constexpr auto aliases = plan_type::aliases;
    static constexpr auto param_offset = plan_type::param_offset;
    static constexpr auto grad_offset = plan_type::grad_offset;
    static constexpr auto buffer_offset = plan_type::buffer_offset;
    static constexpr std::size_t param_count = plan_type::param_count;
    static constexpr std::size_t grad_count = plan_type::grad_count;
    static constexpr std::size_t buffer_count = plan_type::buffer_count;
    static constexpr std::size_t max_activation = plan_type::max_activation;
    static constexpr std::size_t inference_tile = plan_type::inference_tile;
    static constexpr std::size_t work_per_sample = plan_type::work_per_sample;
    static constexpr std::size_t first_trainable = plan_type::first_trainable;
    /// fusion_plan<B>[I], train_plan<B>[I]: how many layers the kernel run at layer I covers on
    /// backend B in inference and in training (1: itself; 0: part of an earlier group).
    template <class B> static constexpr auto fusion_plan = plan_type::template groups<B, false>;
    template <class B> static constexpr auto train_plan = plan_type::template groups<B, true>;

    /// A net with PyTorch's default initialisation, drawn from `seed`.
    explicit Sequential(std::uint64_t seed = 0)
        : params_(param_count), grads_(grad_count), buffers_(buffer_count), gen_(seed ^ 0x5DEECE66Dull) {
        reset_parameters(seed);
    }

    /// Draws all parameters again as PyTorch's default initialisation does, and resets buffers.
    /// The same seed gives the same bits in every build (see rng::uniform).
    void reset_parameters(std::uint64_t seed) {
        rng g(seed);
        detail::for_each_index<depth>([&]<std::size_t I>() {
            init_layer<layer_type<I>>(shapes[I], params_.data() + param_offset[I], buffers_.data() + buffer_offset[I], g);
        });
    }

    // ---- inference ---------------------------------------------------------------------------

    /// Reserves what a forward on Backend needs (the calling thread's and the pool's scratch, the
    /// prepared parameters): after it, forward on this thread allocates nothing.
    template <class B = void>
    void warm_up() {
        [[maybe_unused]] detail::backend_check<plan_type, backend_t<B>> supported;
        if constexpr (plan_type::template runs_on<backend_t<B>>) {
            reserve_host<backend_t<B>>();
            prepared_.template refresh<backend_t<B>>(params_.data());
        }
    }

    /// Inference (running statistics, no dropout) on `batch` samples: in [batch, input_shape],
    /// out [batch, output_shape], both NCHW. Allocates nothing after warm_up on this thread.
    template <class B = void>
    void forward(const float* in, float* out, std::size_t batch) {
        using Backend = backend_t<B>;
        [[maybe_unused]] detail::backend_check<plan_type, Backend> supported;
        if constexpr (plan_type::template runs_on<Backend>) {
            warm_up<Backend>();
            const std::size_t tasks = tasks_for(batch, double(batch) * double(work_per_sample));
            parallel_for(tasks, [&](std::size_t t) {
                const range r = split(batch, t, tasks);
                float* ping = detail::tile_scratch(tile_total);
                for (std::size_t b0 = r.begin; b0 < r.end; b0 += inference_tile) {
                    const std::size_t n = std::min(inference_tile, r.end - b0);
                    const inference_memory<Backend> m{this, in + b0 * input_size, out + b0 * output_size, ping, ping + tile_floats,
                                                      ping + 2 * tile_floats};
                    executor<plan_type, Backend>::template forward<false>(m, n);
                }
            });
        }
    }

    /// Inference on one sample held in std::arrays.
    template <class B = void>
    std::array<float, output_size> operator()(const std::array<float, input_size>& x) {
        std::array<float, output_size> y;
        forward<B>(x.data(), y.data(), 1);
        return y;
    }

    // ---- training ----------------------------------------------------------------------------

    /// Training forward (batch statistics, dropout): keeps what backward needs and returns the
    /// output [batch, output_shape], valid until the next training call. `in` must stay valid
    /// until backward. Grows the training workspace to the largest batch seen.
    template <class B = void>
    const float* forward_train(const float* in, std::size_t batch) {
        using Backend = backend_t<B>;
        if (batch == 0) throw error("ctnn::Sequential::forward_train: batch size 0");
        [[maybe_unused]] detail::backend_check<plan_type, Backend> supported;
        if constexpr (plan_type::template runs_on<Backend>) {
            reserve(batch);
            reserve_host<Backend>();
            prepared_.template refresh<Backend, true>(params_.data());
            batch_ = batch;
            input_ = in;
            train_backend_ = backend_name<Backend>();
            executor<plan_type, Backend>::template forward<true>(training_memory<Backend>{this}, batch);
            return training_memory<Backend>{this}.act(depth);
        }
        return nullptr;
    }

    /// Backward from dLoss/dOutput [batch, output_shape] of the last forward_train: accumulates
    /// parameter gradients (+=, call zero_grad() first), and writes dLoss/dInput if din is given.
    /// It must run on the backend forward_train ran on (their kernels share saved state).
    template <class B = void>
    void backward(const float* dout, float* din = nullptr) {
        backward_impl<B>(training_memory<backend_t<B>>{this}, dout, din);
    }

    /// backward, calling on_grads(i, g) as soon as the layers from i on have their final
    /// gradients (executor.hpp, grads_done): g is the whole gradient block, of which the layers
    /// before i are still being written. dist.hpp starts its all-reduce there, while the earlier
    /// layers' backward runs.
    template <class B = void, class F>
    void backward(const float* dout, float* din, F&& on_grads) {
        backward_impl<B>(hooked_memory<backend_t<B>, std::remove_reference_t<F>>{{this}, &on_grads}, dout, din);
    }

    /// Sets every gradient to zero. Lazily: the next backward writes the gradients instead of
    /// adding to them (kernels that cannot get zeroed memory), which saves a pass over them;
    /// grads() reads zeros until then.
    void zero_grad() { grads_stale_ = true; }

    /// Freezes layer i at run time (besides Frozen<> in the type): backward computes no gradient
    /// for its parameters (they read as zero) and the optimizers leave them, and their state, as
    /// they are, as PyTorch does for parameters with requires_grad = False. A block freezes all
    /// its children. Host backends only (a device_net trains every trainable layer).
    void freeze(std::size_t i, bool on = true) {
        if (i >= depth) throw error("ctnn::Sequential::freeze: layer " + std::to_string(i) + " of a net of " + std::to_string(depth));
        frozen_[i] = on;
    }
    void unfreeze(std::size_t i) { freeze(i, false); }
    /// Freezes layers [0, n) and unfreezes the rest (n = depth: all frozen).
    void freeze_first(std::size_t n) {
        for (std::size_t i = 0; i < depth; ++i) frozen_[i] = i < n;
    }
    bool frozen(std::size_t i) const { return i < depth && frozen_[i]; }

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
    /// "<layer index>.<tensor>", e.g. "0.weight", "1.running_mean". data is const on a const net.
    template <class F>
    void for_each_tensor(F&& f) { visit_tensors(*this, f); }
    template <class F>
    void for_each_tensor(F&& f) const { visit_tensors(*this, f); }

    /// A Keras-style table: index, layer, output shape, parameters; then the totals.
    static std::string summary() { return summary_of<plan_type>(); }

    /// Sizes the training workspace for batches up to n (forward_train does it on demand).
    void reserve(std::size_t n) {
        if (n <= reserved_batch_) return;
        layout_ = training_layout<plan_type>::make(n, false, {});
        train_ = aligned_floats(layout_.total);
        reserved_batch_ = n;
    }

private:
    /// One tile of the largest activation; a host inference keeps two (ping, pong) per thread.
    static constexpr std::size_t tile_floats = align_floats(inference_tile * max_activation);
    /// Besides them, the inference workspace of the most demanding layer (blocks: layer.hpp).
    static constexpr std::size_t tile_total = 2 * tile_floats + align_floats(plan_type::work_floats_at(inference_tile));

    template <class Backend>
    static const char* backend_name() {
        static constexpr char id = 0;
        return &id;
    }

    /// Makes every thread's scratch large enough for Backend's kernels on this net, and the
    /// inference tiles (a no-op once done).
    template <class Backend>
    static void reserve_host() {
        detail::reserve_scratch(plan_type::template scratch<Backend>,
                                plan_type::template shared_scratch<Backend> * num_threads(), tile_total);
    }

    template <class Self, class F>
    static void visit_tensors(Self& self, F& f) {
        detail::for_each_index<depth>([&]<std::size_t I>() {
            auto* p = self.params_.data() + param_offset[I];
            auto* b = self.buffers_.data() + buffer_offset[I];
            for_each_tensor_of<layer_type<I>>(shapes[I], std::to_string(I) + ".",
                                              [&](const std::string& name, const tensor_desc& d, std::size_t off, tensor_kind k) {
                                                  f(name, d, (k == tensor_kind::parameter ? p : b) + off, k);
                                              });
        });
    }

    template <class B, class M>
    void backward_impl(const M& m, const float* dout, float* din) {
        using Backend = backend_t<B>;
        if (!input_) throw error("ctnn::Sequential::backward: no forward_train before it");
        if (train_backend_ != backend_name<Backend>())
            throw error("ctnn::Sequential::backward: forward_train ran on another backend than this backward");
        if constexpr (plan_type::template runs_on<Backend>) {
            reserve_host<Backend>();
            // Frozen layers get no gradient (the executor never writes them): theirs read as zero,
            // as after zero_grad, before any is reported final to a grads_done hook.
            if (grads_stale_)
                for (std::size_t i = 0; i < depth; ++i)
                    if (trainable[i] && frozen_[i]) std::fill_n(grads_.data() + grad_offset[i], grad_sizes[i], 0.0f);
            executor<plan_type, Backend>::backward(m, dout, din, batch_);
            grads_stale_ = false;
        }
    }

    /// A training call's memory: the workspace's activations, the net's blocks.
    template <class Backend>
    struct training_memory {
        Sequential* net;
        float* act(std::size_t k) const {
            const std::size_t o = net->layout_.act[k];  // (activation 0 is the caller's input: never written)
            return o == training_layout<plan_type>::outside ? const_cast<float*>(net->input_) : net->train_.data() + o;
        }
        const float* params(std::size_t i) const { return net->params_.data() + param_offset[i]; }
        float* buffers(std::size_t i) const { return net->buffers_.data() + buffer_offset[i]; }
        float* saved(std::size_t i) const { return net->train_.data() + net->layout_.saved[i]; }
        float* dparams(std::size_t i) const { return trainable[i] && !net->frozen_[i] ? net->grads_.data() + grad_offset[i] : nullptr; }
        // trainable layers change every step: their kernels transform them per task instead
        const float* prepared(std::size_t i) const { return trainable[i] ? nullptr : net->prepared_.template get<Backend>(i); }
        float* scratch(std::size_t) const { return nullptr; }
        float* grad_buffer(int which) const { return net->train_.data() + net->layout_.grad[which]; }
        bool grads_stale() const { return net->grads_stale_; }
        rng* gen() const { return &net->gen_; }
        void* stream() const { return nullptr; }
        const std::uint64_t* seed() const { return nullptr; }
    };

    /// A training memory that reports final gradients (executor.hpp, grads_done) to a hook.
    template <class Backend, class F>
    struct hooked_memory : training_memory<Backend> {
        F* hook;
        void grads_done(std::size_t i) const { (*hook)(i, this->net->grads_.data()); }
    };

    /// An inference tile's memory: the caller's input and output, the thread's two tile buffers.
    template <class Backend>
    struct inference_memory {
        Sequential* net;
        const float* in;
        float* out;
        float* ping;
        float* pong;
        float* work_;
        float* act(std::size_t k) const {
            switch (inference_slots<plan_type, Backend>::value[k]) {
            case slot::input: return const_cast<float*>(in);  // (never written: see inference_slots)
            case slot::output: return out;
            case slot::ping: return ping;
            case slot::pong: return pong;
            default: return nullptr;
            }
        }
        const float* params(std::size_t i) const { return net->params_.data() + param_offset[i]; }
        float* buffers(std::size_t i) const { return net->buffers_.data() + buffer_offset[i]; }
        float* saved(std::size_t) const { return nullptr; }
        float* dparams(std::size_t) const { return nullptr; }
        const float* prepared(std::size_t i) const { return net->prepared_.template get<Backend>(i); }
        float* scratch(std::size_t) const { return nullptr; }
        float* work(std::size_t) const { return work_; }
        float* grad_buffer(int) const { return nullptr; }
        bool grads_stale() const { return false; }
        rng* gen() const { return nullptr; }
        void* stream() const { return nullptr; }
        const std::uint64_t* seed() const { return nullptr; }
    };

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
    std::array<bool, depth> frozen_{};  // frozen at run time (freeze)
    aligned_floats train_;              // training: activations, saved state, gradient ping-pong
    training_layout<plan_type> layout_{};
    std::size_t reserved_batch_ = 0, batch_ = 0;
    const float* input_ = nullptr;
    const char* train_backend_ = nullptr;  // the backend of the last forward_train
    rng gen_;
    prepared_cache<plan_type> prepared_;
};

/// True for every Sequential<Input<...>, layers...>.
template <class T> inline constexpr bool is_sequential = false;
template <std::size_t... D, class... Ls> inline constexpr bool is_sequential<Sequential<Input<D...>, Ls...>> = true;

}  // namespace ctnn
