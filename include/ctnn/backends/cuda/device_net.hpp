// ctnn::cuda::device_net<Net>: a Sequential net's parameters, gradients, buffers, activations and
// optimizer state on the GPU (nvcc only), all sized from the net's compile-time constants and the
// largest batch given when it is made.
//
//   SeedNet net(42);                                   // made and initialised on the host
//   ctnn::cuda::device_net<SeedNet> gpu(net, 256);     // copies it to the GPU, batches up to 256
//   gpu.set_optimizer(ctnn::cuda::adam{.lr = 1e-3f});
//   for (...) gpu.train_step(images, labels, 32);      // asynchronous; never copies parameters
//   float loss = gpu.loss();                           // waits for the last step
//   gpu.forward(images, logits, 1);                    // inference, synchronous
//   gpu.download(net);                                 // parameters and buffers back to the host
//
// The sequence of kernels is known from the net's type, so the plan is fixed at compile time:
// Conv + activation (+ a MaxPool<K, K> whose windows tile the map) and Linear + activation each
// run as one fused forward kernel, Flatten is no kernel at all (its output aliases its input).
// A training step (upload, counters, zero_grad, forward, cross-entropy, backward, optimizer) is
// captured once per batch size as a CUDA Graph and replayed; so is an inference call.
#pragma once
#if !defined(__CUDACC__) && !defined(CTNN_CUDA_EMULATE)
#error "ctnn/backends/cuda/device_net.hpp needs nvcc: compile this translation unit as CUDA (a .cu file)"
#endif
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>

#include "../../error.hpp"
#include "../../layers/flatten.hpp"
#include "../../layers/frozen.hpp"
#include "../../memory.hpp"
#include "../../sequential.hpp"
#include "kernels.hpp"

namespace ctnn::cuda {

/// Optimizers on the device, with PyTorch's names, defaults and update rules.
struct sgd {
    float lr = 0.01f;
    float momentum = 0.0f, dampening = 0.0f, weight_decay = 0.0f;
    bool nesterov = false;
};
struct adam {
    float lr = 1e-3f;
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
};
struct adamw {
    float lr = 1e-3f;
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 1e-2f;
};
inline optimizer_state state_of(const sgd& o) {
    if (o.nesterov && (o.momentum <= 0.0f || o.dampening != 0.0f))
        throw error("ctnn::cuda::sgd: Nesterov momentum requires momentum > 0 and dampening 0");
    optimizer_state s;
    s.kind = optimizer_state::sgd; s.lr = o.lr; s.momentum = o.momentum; s.dampening = o.dampening;
    s.weight_decay = o.weight_decay; s.nesterov = o.nesterov;
    return s;
}
inline optimizer_state state_of(const adam& o) {
    optimizer_state s;
    s.kind = optimizer_state::adam; s.lr = o.lr; s.beta1 = o.beta1; s.beta2 = o.beta2; s.eps = o.eps;
    s.weight_decay = o.weight_decay;
    return s;
}
inline optimizer_state state_of(const adamw& o) {
    optimizer_state s = state_of(adam{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay});
    s.kind = optimizer_state::adamw;
    return s;
}

namespace detail {
template <class L> struct unfrozen { using type = L; };
template <class L> struct unfrozen<Frozen<L>> { using type = L; };
template <class L> using unfrozen_t = typename unfrozen<L>::type;

template <class L> struct conv_traits { static constexpr bool value = false; };
template <std::size_t Ci, std::size_t Co, std::size_t K, std::size_t S, std::size_t P>
struct conv_traits<Conv<Ci, Co, K, S, P>> {
    static constexpr bool value = true;
    template <class In> using geometry = conv_geometry<Ci, Co, K, S, P, In::value.d[1], In::value.d[2]>;
};
template <class L> struct linear_traits { static constexpr bool value = false; };
template <std::size_t I, std::size_t O> struct linear_traits<Linear<I, O>> {
    static constexpr bool value = true;
    static constexpr std::size_t in = I, out = O;
};
/// A MaxPool whose windows tile its input exactly (K == S, H and W multiples of K): fusable.
template <class L, class In> struct tiling_pool { static constexpr std::size_t size = 0; };
template <std::size_t K, class In>
    requires(In::rank == 3 && In::value.d[1] % K == 0 && In::value.d[2] % K == 0)
struct tiling_pool<MaxPool<K, K>, In> { static constexpr std::size_t size = K; };
}  // namespace detail

template <class Net>
class device_net {
    static_assert(is_sequential<Net>, "ctnn::cuda::device_net<Net>: Net must be a ctnn::Sequential<...>");
    static constexpr std::size_t depth = Net::depth;
    template <std::size_t I> using L = typename Net::template layer_type<I>;
    template <std::size_t I> using In = typename Net::template shape_at<I>;
    template <std::size_t I> using K = kernel_for<L<I>, In<I>, backend>;

    static constexpr bool all_have_kernels = []<std::size_t... I>(std::index_sequence<I...>) {
        return (has_kernel<L<I>, In<I>, backend> && ...);
    }(std::make_index_sequence<depth>{});
    static_assert(all_have_kernels, "ctnn::cuda::device_net: a layer of this net has no CUDA kernel (see backends/cuda/kernels.hpp)");

public:
    /// How many layers the fused group starting at layer I covers (1: not fused).
    template <std::size_t I>
    static constexpr std::size_t group_size() {
        using U = detail::unfrozen_t<L<I>>;
        if constexpr (I + 1 < depth && (detail::conv_traits<U>::value || detail::linear_traits<U>::value)) {
            if constexpr (is_activation<L<I + 1>>) {
                if constexpr (detail::conv_traits<U>::value && I + 2 < depth) {
                    if constexpr (detail::tiling_pool<L<I + 2>, In<I + 2>>::size > 1) return 3;
                }
                return 2;
            }
        }
        return 1;
    }
    /// The launch plan as text, e.g. "[Conv+ReLU+MaxPool] [Flatten: alias] [Linear]".
    static std::string plan() {
        std::string s;
        plan_from<0>(s);
        return s;
    }

    /// Copies `net`'s parameters and buffers to the GPU, for batches of up to max_batch samples.
    explicit device_net(const Net& net, std::size_t max_batch = 256)
        : max_batch_(checked_max_batch(max_batch)), owned_stream_(), stream_(owned_stream_.get()) {
        params_ = device_array<float>(std::max<std::size_t>(Net::param_count, 1));
        grads_ = device_array<float>(std::max<std::size_t>(Net::grad_count, 1));
        m_ = device_array<float>(std::max<std::size_t>(Net::grad_count, 1));
        v_ = device_array<float>(std::max<std::size_t>(Net::grad_count, 1));
        buffers_ = device_array<float>(std::max<std::size_t>(Net::buffer_count, 1));
        std::size_t off = 0;
        for_each_layer([&]<std::size_t I>() {
            act_off_[I] = off;
            if constexpr (output_aliases<I>()) act_off_[I] = act_off_[I - 1];
            else off += align_floats(max_batch * Net::shapes[I].size());
        });
        act_off_[depth] = off;
        if constexpr (output_aliases<depth>()) act_off_[depth] = act_off_[depth - 1];
        else off += align_floats(max_batch * Net::shapes[depth].size());
        for_each_layer([&]<std::size_t I>() {
            saved_off_[I] = off;
            off += align_floats(L<I>::saved(Net::shapes[I], max_batch));
            scratch_off_[I] = off;
            off += align_floats(scratch_of<K<I>>());
        });
        const std::size_t half = align_floats(max_batch * Net::max_activation);
        gbuf_off_[0] = off;
        gbuf_off_[1] = off + half;
        off += 2 * half;
        dlogits_off_ = off;
        off += align_floats(max_batch * Net::output_size);
        work_ = device_array<float>(off);
        labels_ = device_array<std::int32_t>(max_batch);
        loss_ = device_array<float>(1);
        counters_ = device_array<step_counters>(1);
        opt_ = device_array<optimizer_state>(1);
        for (int p = 0; p < 2; ++p) {
            in_stage_[p] = pinned_array<float>(max_batch * Net::input_size);
            label_stage_[p] = pinned_array<std::int32_t>(max_batch);
            CTNN_CUDA_CHECK(cudaEventCreateWithFlags(&stage_free_[p], cudaEventDisableTiming));
        }
        out_stage_ = pinned_array<float>(max_batch * Net::output_size);
        loss_host_ = pinned_array<float>(1);
        CTNN_CUDA_CHECK(cudaDeviceSynchronize());  // the zeroing of fresh allocations (legacy stream) is done
        upload(net);
        set_optimizer(adam{});
        for_each_layer([&]<std::size_t I>() {
            if (Net::trainable[I]) {
                segments_.param_off[segments_.count] = Net::param_offset[I];
                segments_.grad_off[segments_.count] = Net::grad_offset[I];
                segments_.size[segments_.count] = Net::grad_sizes[I];
                ++segments_.count;
            }
        });
    }
    device_net(const device_net&) = delete;
    device_net& operator=(const device_net&) = delete;
    ~device_net() {
        cudaStreamSynchronize(stream_);
        for (auto& [key, g] : graphs_) cudaGraphExecDestroy(g);
        for (auto e : stage_free_) if (e) cudaEventDestroy(e);
    }

    std::size_t max_batch() const { return max_batch_; }
    cudaStream_t stream() const { return stream_; }
    void synchronize() { CTNN_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
    /// Capture and replay CUDA Graphs (default) or launch every kernel each time (for debugging).
    void use_graphs(bool on) { use_graphs_ = on; }

    // ---- host <-> device ---------------------------------------------------------------------

    /// Parameters and buffers from a host net (optimizer state is kept).
    void upload(const Net& net) {
        synchronize();
        copy_and_wait(params_.data(), net.params().data(), Net::param_count * sizeof(float), cudaMemcpyHostToDevice);
        if (Net::buffer_count)
            copy_and_wait(buffers_.data(), net.buffers().data(), Net::buffer_count * sizeof(float), cudaMemcpyHostToDevice);
    }
    /// Parameters and buffers into a host net (waits for queued work).
    void download(Net& net) {
        synchronize();
        copy_and_wait(net.params().data(), params_.data(), Net::param_count * sizeof(float), cudaMemcpyDeviceToHost);
        if (Net::buffer_count)
            copy_and_wait(net.buffers().data(), buffers_.data(), Net::buffer_count * sizeof(float), cudaMemcpyDeviceToHost);
    }
    /// The gradient block (Net::grad_count floats) into host memory.
    void download_grads(float* host) {
        synchronize();
        if (Net::grad_count)
            copy_and_wait(host, grads_.data(), Net::grad_count * sizeof(float), cudaMemcpyDeviceToHost);
    }

    // ---- inference ---------------------------------------------------------------------------

    /// Inference (running statistics, no dropout) on `batch` samples in host memory: in
    /// [batch, input], out [batch, output]. Waits for the result. Runs in tiles of max_batch.
    void forward(const float* in, float* out, std::size_t batch) {
        synchronize();
        for (std::size_t b0 = 0; b0 < batch; b0 += max_batch_) {
            const std::size_t n = std::min(max_batch_, batch - b0);
            std::memcpy(in_stage_[0].data(), in + b0 * Net::input_size, n * Net::input_size * sizeof(float));
            run(key(n, 0, false), [&] {
                copy_in(in_stage_[0].data(), n);
                forward_from<0>(n, false);
                CTNN_CUDA_CHECK(cudaMemcpyAsync(out_stage_.data(), act(depth), n * Net::output_size * sizeof(float),
                                                cudaMemcpyDeviceToHost, stream_));
            });
            synchronize();
            std::memcpy(out + b0 * Net::output_size, out_stage_.data(), n * Net::output_size * sizeof(float));
        }
    }

    // ---- training ----------------------------------------------------------------------------

    /// The optimizer the training step applies; hyper-parameters can change between steps
    /// (a schedule) without capturing the step again. Its moments start at zero when the kind
    /// changes.
    template <class Opt>
    void set_optimizer(const Opt& o) {
        const optimizer_state s = state_of(o);
        synchronize();
        if (s.kind != opt_host_.kind) {
            CTNN_CUDA_CHECK(cudaMemsetAsync(m_.data(), 0, m_.size() * sizeof(float), stream_));
            CTNN_CUDA_CHECK(cudaMemsetAsync(v_.data(), 0, v_.size() * sizeof(float), stream_));
            static_assert(offsetof(step_counters, step) == 0);
            CTNN_CUDA_CHECK(cudaMemsetAsync(counters_.data(), 0, sizeof(std::uint64_t), stream_));  // step 0: a fresh optimizer
        }
        opt_host_ = s;
        copy_and_wait(opt_.data(), &opt_host_, sizeof(optimizer_state), cudaMemcpyHostToDevice);
    }

    /// One training step on `batch` samples in host memory (labels in [0, classes)): forward in
    /// training mode, mean cross-entropy, backward, optimizer step. Asynchronous: returns once
    /// the step is queued (the inputs are copied to a pinned stage first). loss() waits for it.
    void train_step(const float* in, const std::int32_t* labels, std::size_t batch) {
        static_assert(Net::output_shape::rank == 1, "ctnn::cuda::device_net::train_step: cross-entropy needs a flat output (classes)");
        check_batch(batch, "train_step");
        for (std::size_t i = 0; i < batch; ++i)
            if (labels[i] < 0 || std::size_t(labels[i]) >= Net::output_size)
                throw error("ctnn::cuda::device_net::train_step: label " + std::to_string(labels[i]) + " at index " +
                            std::to_string(i) + " is outside [0, " + std::to_string(Net::output_size) + ")");
        const int p = parity_;
        parity_ ^= 1;
        CTNN_CUDA_CHECK(cudaEventSynchronize(stage_free_[p]));  // the step that last used stage p is done
        std::memcpy(in_stage_[p].data(), in, batch * Net::input_size * sizeof(float));
        std::memcpy(label_stage_[p].data(), labels, batch * sizeof(std::int32_t));
        run(key(batch, p, true), [&] {
            copy_in(in_stage_[p].data(), batch);
            CTNN_CUDA_CHECK(cudaMemcpyAsync(labels_.data(), label_stage_[p].data(), batch * sizeof(std::int32_t),
                                            cudaMemcpyHostToDevice, stream_));
            enqueue_step(batch);
        });
        CTNN_CUDA_CHECK(cudaEventRecord(stage_free_[p], stream_));
        ++steps_;
    }

    /// One training step on a batch already on the device, in input_buffer() and
    /// label_buffer() (a device-side data pipeline fills them; labels are not checked here).
    void train_step_on_device(std::size_t batch) {
        check_batch(batch, "train_step_on_device");
        run(key(batch, 0, true) | resident_key, [&] { enqueue_step(batch); });
        ++steps_;
    }
    /// Copies a batch from host memory into input_buffer() and label_buffer() (waits).
    void load_batch(const float* in, const std::int32_t* labels, std::size_t batch) {
        check_batch(batch, "load_batch");
        synchronize();
        CTNN_CUDA_CHECK(cudaMemcpyAsync(act(0), in, batch * Net::input_size * sizeof(float), cudaMemcpyHostToDevice, stream_));
        copy_and_wait(labels_.data(), labels, batch * sizeof(std::int32_t), cudaMemcpyHostToDevice);
    }
    /// The device buffers train_step_on_device reads: [max_batch, input] floats, max_batch labels.
    /// Write them with work ordered on stream(); train_step and forward also stage their batches there.
    float* input_buffer() const { return act(0); }
    std::int32_t* label_buffer() const { return labels_.data(); }

    /// The mean loss of the last training step (waits for it).
    float loss() {
        synchronize();
        return *loss_host_.data();
    }
    /// Training steps taken.
    std::uint64_t steps() const { return steps_; }

    // ---- the pieces of a step, one at a time (tests; no graphs; wait for the result) ----------

    /// Training forward on host input; the output [batch, output] into host memory.
    void forward_train(const float* in, float* out, std::size_t batch) {
        check_batch(batch, "forward_train");
        synchronize();
        copy_and_wait(act(0), in, batch * Net::input_size * sizeof(float), cudaMemcpyHostToDevice);
        forward_from<0>(batch, true);
        synchronize();
        copy_and_wait(out, act(depth), batch * Net::output_size * sizeof(float), cudaMemcpyDeviceToHost);
        batch_ = batch;
    }
    /// Backward of the last forward_train from dLoss/dOutput in host memory; accumulates into
    /// the gradients (zero_grad() first), as Sequential::backward.
    void backward(const float* dout) {
        if (!batch_) throw error("ctnn::cuda::device_net::backward: no forward_train before it");
        copy_and_wait(work_.data() + dlogits_off_, dout, batch_ * Net::output_size * sizeof(float), cudaMemcpyHostToDevice);
        backward_groups<0>(batch_);
        synchronize();
    }
    void zero_grad() {
        zero_grad_async();
        synchronize();
    }
    /// Fills activations, saved state, scratch and gradients with NaN (tests: a value a kernel
    /// fails to write then shows up in the results).
    void poison_workspace() {
        synchronize();
        CTNN_CUDA_CHECK(cudaMemsetAsync(work_.data(), 0xFF, work_.size() * sizeof(float), stream_));
        CTNN_CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0xFF, grads_.size() * sizeof(float), stream_));
    }

private:
    template <class F>
    static constexpr void for_each_layer(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (f.template operator()<I>(), ...); }(std::make_index_sequence<depth>{});
    }
    /// Activation I is layer I-1's output and aliases its input (Flatten).
    template <std::size_t I>
    static constexpr bool output_aliases() {
        if constexpr (I == 0) return false;
        else return std::is_same_v<L<I - 1>, Flatten>;
    }
    template <std::size_t I>
    static void plan_from(std::string& s) {
        if constexpr (I < depth) {
            constexpr std::size_t g = group_size<I>();
            s.append(s.empty() ? "[" : " [").append(L<I>::kind);
            if constexpr (g > 1) s.append("+").append(L<I + 1>::kind);
            if constexpr (g > 2) s.append("+").append(L<I + 2>::kind);
            if constexpr (std::is_same_v<L<I>, Flatten>) s += ": alias";
            s += "]";
            plan_from<I + g>(s);
        }
    }

    void check_batch(std::size_t batch, const char* who) const {
        if (batch == 0 || batch > max_batch_)
            throw error(std::string("ctnn::cuda::device_net::") + who + ": batch " + std::to_string(batch) +
                        " is outside [1, max_batch = " + std::to_string(max_batch_) + "]");
    }
    static std::uint64_t key(std::size_t n, int parity, bool training) { return (std::uint64_t(n) << 2) | (std::uint64_t(parity) << 1) | training; }

    /// Runs `enqueue` on the stream: captured once per key as a CUDA Graph and replayed.
    template <class F>
    void run(std::uint64_t k, F&& enqueue) {
        if (!use_graphs_) {
            enqueue();
            return;
        }
        auto it = graphs_.find(k);
        if (it == graphs_.end()) {
            CTNN_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
            cudaGraph_t g = nullptr;
            try {
                enqueue();
            } catch (...) {
                cudaStreamEndCapture(stream_, &g);
                if (g) cudaGraphDestroy(g);
                throw;
            }
            CTNN_CUDA_CHECK(cudaStreamEndCapture(stream_, &g));
            cudaGraphExec_t exec = nullptr;
            const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
            cudaGraphDestroy(g);
            CTNN_CUDA_CHECK(e);
            it = graphs_.emplace(k, exec).first;
        }
        CTNN_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
    }

    float* act(std::size_t i) const { return work_.data() + act_off_[i]; }
    float* saved(std::size_t i) const { return work_.data() + saved_off_[i]; }
    float* scratch(std::size_t i) const { return work_.data() + scratch_off_[i]; }
    float* other(const float* g) const {
        float* a = work_.data() + gbuf_off_[0];
        return g == a ? work_.data() + gbuf_off_[1] : a;
    }
    exec exec_for(std::size_t i) const {
        const auto* seed = reinterpret_cast<const std::uint64_t*>(reinterpret_cast<const char*>(counters_.data()) +
                                                                  offsetof(step_counters, seed));
        return {stream_, seed, scratch(i)};
    }

    /// A copy between host and device memory ordered on the net's stream (a plain cudaMemcpy
    /// runs on the legacy stream, which the net's non-blocking stream does not wait for), waited for.
    void copy_and_wait(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
        CTNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream_));
        synchronize();
    }

    static constexpr std::uint64_t resident_key = std::uint64_t(1) << 63;

    /// A training step on the batch in act(0) and labels_: counters, zero_grad, forward,
    /// cross-entropy, backward, optimizer, and the loss copied to pinned host memory.
    void enqueue_step(std::size_t batch) {
        launch<step_begin>({counters_.data()}, stream_);
        zero_grad_async();
        forward_from<0>(batch, true);
        loss_and_gradient(batch);
        backward_groups<0>(batch);
        if (Net::grad_count)
            launch<optimizer_step<depth>>({params_.data(), grads_.data(), m_.data(), v_.data(), opt_.data(),
                                           counters_.data(), segments_, Net::grad_count}, stream_);
        CTNN_CUDA_CHECK(cudaMemcpyAsync(loss_host_.data(), loss_.data(), sizeof(float), cudaMemcpyDeviceToHost, stream_));
    }

    void copy_in(const float* stage, std::size_t n) {
        CTNN_CUDA_CHECK(cudaMemcpyAsync(act(0), stage, n * Net::input_size * sizeof(float), cudaMemcpyHostToDevice, stream_));
    }
    void zero_grad_async() {
        if (Net::grad_count) CTNN_CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, Net::grad_count * sizeof(float), stream_));
    }
    void loss_and_gradient(std::size_t n) {
        launch<cross_entropy<Net::output_size>>({act(depth), labels_.data(), work_.data() + dlogits_off_, loss_.data(), n}, stream_);
    }

    // ---- forward: fused groups, in order ------------------------------------------------------

    template <std::size_t I>
    void forward_from(std::size_t n, bool training) {
        if constexpr (I < depth) {
            constexpr std::size_t g = group_size<I>();
            forward_group<I, g>(n, training);
            forward_from<I + g>(n, training);
        }
    }
    template <std::size_t I, std::size_t G>
    void forward_group(std::size_t n, bool training) {
        using U = detail::unfrozen_t<L<I>>;
        const float* p = params_.data() + Net::param_offset[I];
        if constexpr (G == 1) {
            forward_args a;
            a.x = act(I); a.y = act(I + 1); a.n = n; a.params = p;
            a.buffers = buffers_.data() + Net::buffer_offset[I];
            a.saved = saved(I); a.training = training;
            K<I>::forward(a, exec_for(I));
        } else if constexpr (detail::conv_traits<U>::value) {
            using Geo = typename detail::conv_traits<U>::template geometry<In<I>>;
            using A = typename activation_of<L<I + 1>>::type;
            constexpr std::size_t pk = G == 3 ? detail::tiling_pool<L<I + 2>, In<I + 2>>::size : 1;
            float* y = act(I + G);
            float* post = G == 3 && training ? act(I + 2) : nullptr;  // G == 2: y is the post-activation map
            float* arg = G == 3 && training ? saved(I + 2) : nullptr;
            launch<conv_forward<Geo, A, pk>>({act(I), p, y, post, arg, n}, stream_);
        } else {
            using T = detail::linear_traits<U>;
            using A = typename activation_of<L<I + 1>>::type;
            launch<linear_forward<T::in, T::out, A>>({act(I), p, act(I + 2), n}, stream_);
        }
    }

    // ---- backward: the same groups, last first ------------------------------------------------

    template <std::size_t I>
    void backward_groups(std::size_t n) {
        if constexpr (I == 0) grad_ = work_.data() + dlogits_off_;
        if constexpr (I < depth) {
            constexpr std::size_t g = group_size<I>();
            backward_groups<I + g>(n);
            if constexpr (I + g > Net::first_trainable) backward_group<I, g>(n);
        }
    }
    template <std::size_t I, std::size_t G>
    void backward_group(std::size_t n) {
        using U = detail::unfrozen_t<L<I>>;
        constexpr bool need_dx = I > Net::first_trainable;
        const float* p = params_.data() + Net::param_offset[I];
        float* dp = Net::trainable[I] ? grads_.data() + Net::grad_offset[I] : nullptr;
        if constexpr (G == 1) {
            if constexpr (std::is_same_v<L<I>, Flatten>) return;  // aliased: the gradient passes as is
            backward_args a;
            a.x = act(I); a.y = act(I + 1); a.dy = grad_; a.dx = need_dx ? other(grad_) : nullptr; a.n = n;
            a.params = p; a.dparams = dp; a.buffers = buffers_.data() + Net::buffer_offset[I]; a.saved = saved(I);
            K<I>::backward(a, exec_for(I));
            grad_ = a.dx;
        } else if constexpr (detail::conv_traits<U>::value) {
            using Geo = typename detail::conv_traits<U>::template geometry<In<I>>;
            using A = typename activation_of<L<I + 1>>::type;
            constexpr std::size_t pk = G == 3 ? detail::tiling_pool<L<I + 2>, In<I + 2>>::size : 1;
            float* dpre = other(grad_);
            launch<conv_epilogue_backward<Geo, A, pk>>({act(I + 2), G == 3 ? saved(I + 2) : nullptr, grad_, dpre, n}, stream_);
            if (dp) launch<conv_backward_dparams<Geo>>({act(I), dpre, dp, n}, stream_);
            grad_ = nullptr;
            if constexpr (need_dx) {
                grad_ = other(dpre);
                launch<conv_backward_dx<Geo>>({dpre, p, grad_, n}, stream_);
            }
        } else {
            using T = detail::linear_traits<U>;
            using A = typename activation_of<L<I + 1>>::type;
            float* dpre = other(grad_);
            launch<act_backward<A>>({act(I + 2), grad_, dpre, n * T::out}, stream_);
            if (dp) launch<linear_backward_dparams<T::in, T::out>>({act(I), dpre, dp, n}, stream_);
            grad_ = nullptr;
            if constexpr (need_dx) {
                grad_ = other(dpre);
                launch<linear_backward_dx<T::in, T::out>>({dpre, p, grad_, n}, stream_);
            }
        }
    }

    /// A non-blocking stream, destroyed last (after every buffer that work on it may touch).
    struct stream_owner {
        cudaStream_t s = nullptr;
        stream_owner() {
            if (!device_available()) throw error("ctnn::cuda::device_net: no CUDA device");
            CTNN_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        }
        stream_owner(const stream_owner&) = delete;
        stream_owner& operator=(const stream_owner&) = delete;
        ~stream_owner() { if (s) cudaStreamDestroy(s); }
        cudaStream_t get() const { return s; }
    };
    static std::size_t checked_max_batch(std::size_t n) {
        if (n == 0) throw error("ctnn::cuda::device_net: max_batch must be at least 1");
        return n;
    }

    std::size_t max_batch_;
    stream_owner owned_stream_;
    cudaStream_t stream_ = nullptr;
    device_array<float> params_, grads_, m_, v_, buffers_, work_, loss_;
    device_array<std::int32_t> labels_;
    device_array<step_counters> counters_;
    device_array<optimizer_state> opt_;
    optimizer_state opt_host_{-1};
    segment_table<depth> segments_;
    pinned_array<float> in_stage_[2], out_stage_, loss_host_;
    pinned_array<std::int32_t> label_stage_[2];
    cudaEvent_t stage_free_[2] = {nullptr, nullptr};
    std::array<std::size_t, depth + 1> act_off_{};
    std::array<std::size_t, depth> saved_off_{}, scratch_off_{};
    std::size_t gbuf_off_[2] = {0, 0}, dlogits_off_ = 0;
    std::map<std::uint64_t, cudaGraphExec_t> graphs_;
    float* grad_ = nullptr;
    std::size_t batch_ = 0;
    std::uint64_t steps_ = 0;
    int parity_ = 0;
    bool use_graphs_ = true;
};

}  // namespace ctnn::cuda
