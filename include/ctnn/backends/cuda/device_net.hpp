// ctnn::cuda::device_net<Net>: a Sequential net's parameters, gradients, buffers, activations and
// optimizer state on the GPU (nvcc only), all sized from the net's plan and the largest batch
// given when it is made.
//
//   SeedNet net(42);                                   // made and initialised on the host
//   ctnn::cuda::device_net<SeedNet> gpu(net, 256);     // copies it to the GPU, batches up to 256
//   gpu.set_optimizer(ctnn::cuda::adam{.lr = 1e-3f});
//   for (...) gpu.train_step(images, labels, 32);      // asynchronous; never copies parameters
//   float loss = gpu.loss();                           // waits for the last step
//   gpu.forward(images, logits, 1);                    // inference, synchronous
//   gpu.download(net);                                 // parameters and buffers back to the host
//
// It is the net's plan (plan.hpp), device storage in the training layout (workspace.hpp), the
// executor (executor.hpp: the same walk the host net runs) on the CUDA backend, whose fused
// groups (fused.hpp) run Conv + activation (+ a tiling MaxPool) and Linear + activation as one
// forward kernel; a training step (upload, counters, zero_grad, forward, cross-entropy,
// backward, optimizer) is captured once per batch size as a CUDA Graph and replayed, and so is
// an inference call.
#pragma once
#if !defined(__CUDACC__) && !defined(CTNN_CUDA_EMULATE)
#error "ctnn/backends/cuda/device_net.hpp needs nvcc: compile this translation unit as CUDA (a .cu file)"
#endif
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "../../error.hpp"
#include "../../executor.hpp"
#include "../../memory.hpp"
#include "../../sequential.hpp"
#include "../../train/loss.hpp"
#include "../../workspace.hpp"
#include "all_kernels.hpp"
#include "graphs.hpp"
#include "optimizer.hpp"

namespace ctnn::cuda {

template <class Net>
class device_net : ctnn::detail::backend_check<typename Net::plan_type, backend> {
    static_assert(is_sequential<Net>, "ctnn::cuda::device_net<Net>: Net must be a ctnn::Sequential<...>");
    using plan_type = typename Net::plan_type;
    // Every layer needs a CUDA kernel (the base names the first that has none, in one error);
    // nothing below instantiates a kernel otherwise.
    static constexpr bool supported = plan_type::template runs_on<backend>;
    using exec = executor<plan_type, backend>;
    using layout_type = training_layout<plan_type>;
    static constexpr std::size_t depth = Net::depth;

public:
    /// The launch plan as text, e.g. "[Conv+ReLU+MaxPool] [Flatten: alias] [Linear]".
    static std::string plan() {
        std::string s;
        ctnn::detail::for_each_index<depth>([&]<std::size_t I>() {
            constexpr std::size_t g = plan_type::template groups<backend, true>[I];
            if constexpr (g > 0) {
                s.append(s.empty() ? "[" : " [").append(plan_type::template layer_type<I>::kind);
                ctnn::detail::for_each_index<g - 1>([&]<std::size_t J>() { s.append("+").append(plan_type::template layer_type<I + J + 1>::kind); });
                if (g == 1 && plan_type::aliases[I]) s += ": alias";
                s += "]";
            }
        });
        return s;
    }

    /// Copies `net`'s parameters and buffers to the GPU, for batches of up to max_batch samples.
    explicit device_net(const Net& net, std::size_t max_batch = 256)
        : max_batch_(checked_max_batch(max_batch)), stream_(owned_stream_.get()),
          layout_(layout_type::make(max_batch_, true, scratch_sizes())) {
        params_ = device_array<float>(std::max<std::size_t>(Net::param_count, 1));
        grads_ = device_array<float>(std::max<std::size_t>(Net::grad_count, 1));
        m_ = device_array<float>(std::max<std::size_t>(Net::grad_count, 1));
        v_ = device_array<float>(std::max<std::size_t>(Net::grad_count, 1));
        buffers_ = device_array<float>(std::max<std::size_t>(Net::buffer_count, 1));
        dlogits_off_ = layout_.total;
        work_ = device_array<float>(layout_.total + align_floats(max_batch_ * Net::output_size));
        if constexpr (plan_type::work_floats_at(1) > 0) infer_work_ = device_array<float>(plan_type::work_floats_at(max_batch_));
        labels_ = device_array<std::int32_t>(max_batch_);
        loss_ = device_array<float>(1);
        counters_ = device_array<step_counters>(1);
        opt_ = device_array<optimizer_state>(1);
        for (int p = 0; p < 2; ++p) {
            in_stage_[p] = pinned_array<float>(max_batch_ * Net::input_size);
            label_stage_[p] = pinned_array<std::int32_t>(max_batch_);
            CTNN_CUDA_CHECK(cudaEventCreateWithFlags(&stage_free_[p], cudaEventDisableTiming));
        }
        out_stage_ = pinned_array<float>(max_batch_ * Net::output_size);
        loss_host_ = pinned_array<float>(1);
        CTNN_CUDA_CHECK(cudaDeviceSynchronize());  // the zeroing of fresh allocations (legacy stream) is done
        upload(net);
        set_optimizer(adam{});
    }
    device_net(const device_net&) = delete;
    device_net& operator=(const device_net&) = delete;
    ~device_net() {
        cudaStreamSynchronize(stream_);
        for (auto e : stage_free_)
            if (e) cudaEventDestroy(e);
    }

    std::size_t max_batch() const { return max_batch_; }
    cudaStream_t stream() const { return stream_; }
    void synchronize() { CTNN_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
    /// Capture and replay CUDA Graphs (default) or launch every kernel each time (for debugging).
    void use_graphs(bool on) { use_graphs_ = on; }

    /// What the training step tells a gradient reducer (dist/nccl.hpp), on the net's stream:
    /// grads_done(i, grads, s) once backward's kernels for the layers from i on are enqueued
    /// (their gradients are final when s reaches that point), before_update(grads, s) after the
    /// last of backward and before the optimizer. Both only enqueue work on s or wait for it.
    struct grad_hook {
        virtual void grads_done(std::size_t first_layer, float* grads, cudaStream_t s) = 0;
        virtual void before_update(float* grads, cudaStream_t s) = 0;

    protected:
        ~grad_hook() = default;
    };
    /// Installs (or, with null, removes) the gradient reducer; the step is captured again.
    void set_grad_hook(grad_hook* h) {
        synchronize();
        hook_ = h;
        graphs_.clear();
    }

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
        if (Net::grad_count) copy_and_wait(host, grads_.data(), Net::grad_count * sizeof(float), cudaMemcpyDeviceToHost);
    }

    // ---- inference ---------------------------------------------------------------------------

    /// Inference (running statistics, no dropout) on `batch` samples in host memory: in
    /// [batch, input], out [batch, output]. Waits for the result. Runs in tiles of max_batch.
    void forward(const float* in, float* out, std::size_t batch) {
        synchronize();
        for (std::size_t b0 = 0; b0 < batch; b0 += max_batch_) {
            const std::size_t n = std::min(max_batch_, batch - b0);
            std::memcpy(in_stage_[0].data(), in + b0 * Net::input_size, n * Net::input_size * sizeof(float));
            graphs_.run(stream_, key(n, 0, false), use_graphs_, [&] {
                copy_in(in_stage_[0].data(), n);
                if constexpr (supported) exec::template forward<false>(memory{this, false}, n);
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
        ctnn::detail::check_labels(labels, batch, Net::output_size, "ctnn::cuda::device_net::train_step");
        const int p = parity_;
        parity_ ^= 1;
        CTNN_CUDA_CHECK(cudaEventSynchronize(stage_free_[p]));  // the step that last used stage p is done
        std::memcpy(in_stage_[p].data(), in, batch * Net::input_size * sizeof(float));
        std::memcpy(label_stage_[p].data(), labels, batch * sizeof(std::int32_t));
        graphs_.run(stream_, key(batch, p, true), use_graphs_, [&] {
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
        graphs_.run(stream_, key(batch, 0, true) | resident_key, use_graphs_, [&] { enqueue_step(batch); });
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
        if constexpr (supported) exec::template forward<true>(memory{this, true}, batch);
        synchronize();
        copy_and_wait(out, act(depth), batch * Net::output_size * sizeof(float), cudaMemcpyDeviceToHost);
        batch_ = batch;
    }
    /// Backward of the last forward_train from dLoss/dOutput in host memory; accumulates into
    /// the gradients (zero_grad() first), as Sequential::backward.
    void backward(const float* dout) {
        if (!batch_) throw error("ctnn::cuda::device_net::backward: no forward_train before it");
        copy_and_wait(dlogits(), dout, batch_ * Net::output_size * sizeof(float), cudaMemcpyHostToDevice);
        if constexpr (supported) exec::backward(memory{this, true}, dlogits(), nullptr, batch_);
        if (hook_) hook_->before_update(grads_.data(), stream_);  // (a reducer sees whole backwards only)
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
        if (infer_work_.size())
            CTNN_CUDA_CHECK(cudaMemsetAsync(infer_work_.data(), 0xFF, infer_work_.size() * sizeof(float), stream_));
    }

private:
    /// The executor's view of the device storage (executor.hpp).
    struct memory {
        const device_net* d;
        bool training;
        float* act(std::size_t k) const { return d->act(k); }
        const float* params(std::size_t i) const { return d->params_.data() + Net::param_offset[i]; }
        float* buffers(std::size_t i) const { return d->buffers_.data() + Net::buffer_offset[i]; }
        float* saved(std::size_t i) const { return training ? d->work_.data() + d->layout_.saved[i] : nullptr; }
        float* dparams(std::size_t i) const { return Net::trainable[i] ? d->grads_.data() + Net::grad_offset[i] : nullptr; }
        const float* prepared(std::size_t) const { return nullptr; }
        float* scratch(std::size_t i) const { return d->work_.data() + d->layout_.scratch[i]; }
        float* work(std::size_t) const { return d->infer_work_.data(); }  // (inference: blocks' children)
        float* grad_buffer(int which) const { return d->work_.data() + d->layout_.grad[which]; }
        bool grads_stale() const { return false; }  // the step zeroes the gradients first
        void grads_done(std::size_t i) const {
            if (d->hook_) d->hook_->grads_done(i, d->grads_.data(), d->stream_);
        }
        rng* gen() const { return nullptr; }
        void* stream() const { return d->stream_; }
        const std::uint64_t* seed() const {
            return reinterpret_cast<const std::uint64_t*>(reinterpret_cast<const char*>(d->counters_.data()) +
                                                          offsetof(step_counters, seed));
        }
    };

    /// Each layer's own device scratch: its CUDA kernel's traits.scratch.
    static std::array<std::size_t, depth> scratch_sizes() {
        std::array<std::size_t, depth> s{};
        if constexpr (supported)
            ctnn::detail::for_each_index<depth>([&]<std::size_t I>() { s[I] = plan_type::template kernel<backend, I>::traits.scratch; });
        return s;
    }
    void check_batch(std::size_t batch, const char* who) const {
        if (batch == 0 || batch > max_batch_)
            throw error(std::string("ctnn::cuda::device_net::") + who + ": batch " + std::to_string(batch) +
                        " is outside [1, max_batch = " + std::to_string(max_batch_) + "]");
    }
    static std::uint64_t key(std::size_t n, int parity, bool training) {
        return (std::uint64_t(n) << 2) | (std::uint64_t(parity) << 1) | training;
    }
    static constexpr std::uint64_t resident_key = std::uint64_t(1) << 63;

    float* act(std::size_t k) const { return work_.data() + layout_.act[k]; }
    float* dlogits() const { return work_.data() + dlogits_off_; }

    /// A copy between host and device memory ordered on the net's stream (a plain cudaMemcpy
    /// runs on the legacy stream, which the net's non-blocking stream does not wait for), waited for.
    void copy_and_wait(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
        CTNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream_));
        synchronize();
    }

    /// A training step on the batch in act(0) and labels_: counters, zero_grad, forward,
    /// cross-entropy, backward, optimizer, and the loss copied to pinned host memory.
    void enqueue_step(std::size_t batch) {
        if constexpr (supported) {
            launch<step_begin>({counters_.data(), opt_.data()}, stream_);
            zero_grad_async();
            exec::template forward<true>(memory{this, true}, batch);
            launch<cross_entropy<Net::output_size>>({act(depth), labels_.data(), dlogits(), loss_.data(), batch}, stream_);
            exec::backward(memory{this, true}, dlogits(), nullptr, batch);
            if (hook_) hook_->before_update(grads_.data(), stream_);
            if (Net::grad_count)
                launch<optimizer_step<depth>>({params_.data(), grads_.data(), m_.data(), v_.data(), opt_.data(), counters_.data(),
                                               segments_, Net::grad_count}, stream_);
            CTNN_CUDA_CHECK(cudaMemcpyAsync(loss_host_.data(), loss_.data(), sizeof(float), cudaMemcpyDeviceToHost, stream_));
        }
    }
    void copy_in(const float* stage, std::size_t n) {
        CTNN_CUDA_CHECK(cudaMemcpyAsync(act(0), stage, n * Net::input_size * sizeof(float), cudaMemcpyHostToDevice, stream_));
    }
    void zero_grad_async() {
        if (Net::grad_count) CTNN_CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, Net::grad_count * sizeof(float), stream_));
    }
    static std::size_t checked_max_batch(std::size_t n) {
        if (n == 0) throw error("ctnn::cuda::device_net: max_batch must be at least 1");
        return n;
    }

    std::size_t max_batch_;
    stream_owner owned_stream_;
    cudaStream_t stream_ = nullptr;
    layout_type layout_;
    std::size_t dlogits_off_ = 0;
    device_array<float> params_, grads_, m_, v_, buffers_, work_, infer_work_, loss_;
    device_array<std::int32_t> labels_;
    device_array<step_counters> counters_;
    device_array<optimizer_state> opt_;
    optimizer_state opt_host_{-1};
    segment_table<depth> segments_ = segments_of<plan_type>();
    pinned_array<float> in_stage_[2], out_stage_, loss_host_;
    pinned_array<std::int32_t> label_stage_[2];
    cudaEvent_t stage_free_[2] = {nullptr, nullptr};
    graph_cache graphs_;
    grad_hook* hook_ = nullptr;
    std::size_t batch_ = 0;
    std::uint64_t steps_ = 0;
    int parity_ = 0;
    bool use_graphs_ = true;
};

}  // namespace ctnn::cuda
