// cpu kernel helper: one sample of a stride-1 Conv (conv.hpp) split over the pool's threads.
//
// A batch is split over threads by samples; a batch of one (latency) would leave every thread
// but one idle, so conv_s1::forward sends a lone sample here when its work pays for waking the
// other threads (tasks_for's grain). The split never cuts a sum:
//   direct path  output channels: each task copies the (small) padded input into its own scratch
//                and runs the GEMM rows and the epilogue of its channels;
//   Winograd     phase 1, over input channels: each task loads and transforms its channels'
//                planes into V, shared (the calling thread's scratch, after its own); phase 2,
//                over output channels (with transposed GEMMs, over tile rows): the GEMMs and the
//                output transform of its part, from the whole V, into its own M.
// Every output is therefore the same fma chain, and the same transforms, as on one thread: the
// same bits for any thread count. Two phases cost a second wake-up, but doing all of the input
// transform in every task would cost more (it is about a quarter of a small layer's time).
#pragma once
#include <cstddef>

#include "../../backend.hpp"
#include "../../threads.hpp"
#include "epilogue.hpp"
#include "gemm.hpp"

namespace ctnn::cpu_detail {

template <class C>
struct conv_s1_one {
    /// Split over T tasks; wino and u as conv_s1::forward decided them (u null: transform here).
    template <class Act, class Pool>
    static void forward(const forward_args& a, const float* bias, bool wino, const float* u, std::size_t T) {
        if constexpr (C::wino_fwd && (Pool::K == 1 || (Pool::K == 2 && Pool::S == 2)))
            if (wino && all_finite<C::Cin * C::H * C::Wd>(a.x)) return forward_wino<Act, Pool>(a, bias, u, T);
        forward_direct<Act, Pool>(a, bias, T);
    }

    // GEMM rows per task: blocked for about Co / 2 rows (two threads, the common case), and
    // split in whole register tiles, so that no task runs a short tail tile it need not.
    using half = bcast_blocking<(C::Cout + 1) / 2, C::Ny, 15>;

    template <class Act, class Pool>
    static void forward_direct(const forward_args& a, const float* bias, std::size_t T) {
        parallel_for(T, [&](std::size_t t) {
            const range r = split(C::Cout, t, T, half::R);
            if (r.begin == r.end) return;
            float* xp = detail::work_scratch(C::scratch_floats);
            if constexpr (!(C::pointwise && Pool::K == 1)) C::clear_scratch(xp, xp + C::xp_size);
            C::template direct_sample<Act, Pool, half>(a.x, a.y, a.params, bias, r.begin, r.end, a.saved, xp, a.addend);
        });
    }

    template <class Act, class Pool>
    static void forward_wino(const forward_args& a, const float* bias, const float* u, std::size_t T) {
        using Wg = typename C::wff;
        // this thread's Winograd scratch (U, planes, V, M: as forward_samples_wino), then V shared
        float* own = detail::work_scratch(C::scratch_floats) + C::fwd_scratch;
        float* v = own + Wg::scratch_floats;
        if (!u) {  // (no prepared weights: transform them once, into this thread's U, read by all)
            C::transform_fwd_weights(a.params, own);
            u = own;
        }
        parallel_for(T, [&](std::size_t t) {
            const range r = split(C::Cin, t, T);
            if (r.begin == r.end) return;
            float* xs = detail::work_scratch(C::scratch_floats) + C::fwd_scratch + Wg::u_size;
            Wg::clear_input(xs);
            Wg::load_input(a.x, xs, r.begin, r.end);
            Wg::transform_input_channels(xs, v, r.begin, r.end);
        });
        parallel_for(T, [&](std::size_t t) {
            const range r = split(Wg::parts, t, T, Wg::part_grain);
            if (r.begin == r.end) return;
            float* m = detail::work_scratch(C::scratch_floats) + C::fwd_scratch + Wg::u_size + Wg::x_size + Wg::v_size;
            Wg::template run_part<Act, Pool>(u, v, m, bias, a.y, saves_index<Pool> ? a.saved : nullptr, r.begin, r.end, a.addend);
        });
    }
};

}  // namespace ctnn::cpu_detail
