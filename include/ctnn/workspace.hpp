// Where a walk's activations live (executor.hpp), on the host and on the device.
//
// training_layout: every activation of a batch, each layer's saved state and scratch, and the
// backward pass's two gradient buffers, as offsets into one block; an activation that aliases
// its input (Flatten) shares the input's offset. The host net and the device net both use it.
//
// inference_slots: host inference keeps no activations but the ones in flight, in two tile
// buffers per thread (ping, pong); which buffer each activation uses is decided at compile time
// from the plan's inference groups. The last kernel writes straight into the caller's output.
#pragma once
#include <array>
#include <cstddef>
#include <limits>

#include "memory.hpp"
#include "plan.hpp"

namespace ctnn {

template <class Plan>
struct training_layout {
    static constexpr std::size_t depth = Plan::depth;
    /// An offset that is not in the block: the caller's input (host).
    static constexpr std::size_t outside = std::numeric_limits<std::size_t>::max();

    std::array<std::size_t, depth + 1> act{};
    std::array<std::size_t, depth> saved{}, scratch{};
    std::size_t grad[2] = {0, 0};
    std::size_t total = 0;  // floats

    /// The layout for batches of up to n. own_input: activation 0 is in the block (the device
    /// net stages its input there), else it is the caller's. scratch[i]: layer i's own scratch
    /// floats (the device net's kernels; host kernels use their thread's).
    static constexpr training_layout make(std::size_t n, bool own_input, const std::array<std::size_t, depth>& scratch_floats) {
        training_layout l;
        std::size_t off = 0;
        const auto take = [&](std::size_t floats) {
            const std::size_t o = off;
            off += align_floats(floats);
            return o;
        };
        l.act[0] = own_input ? take(n * Plan::shapes[0].size()) : outside;
        for (std::size_t i = 0; i < depth; ++i)
            l.act[i + 1] = Plan::aliases[i] ? l.act[i] : take(n * Plan::shapes[i + 1].size());
        for (std::size_t i = 0; i < depth; ++i) l.saved[i] = take(saved_floats(i, n));
        for (std::size_t i = 0; i < depth; ++i) l.scratch[i] = take(scratch_floats[i]);
        l.grad[0] = take(n * Plan::max_activation);
        l.grad[1] = take(n * Plan::max_activation);
        l.total = off;
        return l;
    }

private:
    static constexpr std::size_t saved_floats(std::size_t i, std::size_t n) {
        std::size_t s = 0;
        detail::for_each_index<depth>([&]<std::size_t I>() {
            if (I == i) s = Plan::template layer_type<I>::saved(Plan::shapes[I], n);
        });
        return s;
    }
};

/// Which buffer each activation of a host inference tile uses.
enum class slot : unsigned char { input, output, ping, pong, none };

template <class Plan, class Backend>
struct inference_slots {
    static constexpr std::size_t depth = Plan::depth;
    static constexpr std::array<slot, depth + 1> value = [] {
        constexpr auto groups = Plan::template groups<Backend, false>;
        std::array<slot, depth + 1> s{};
        s.fill(slot::none);
        s[0] = slot::input;
        std::size_t last_kernel = depth;  // the last group that is not an alias
        for (std::size_t i = 0; i < depth; ++i)
            if (groups[i] > 0 && !(groups[i] == 1 && Plan::aliases[i])) last_kernel = i;
        for (std::size_t i = 0; i < depth; ++i) {
            if (groups[i] == 0) continue;
            const std::size_t end = i + groups[i];
            if (groups[i] == 1 && Plan::aliases[i])  // the same memory, unless it must be the output
                s[end] = end == depth && s[i] != slot::output ? slot::output : s[i];
            else if (i == last_kernel)
                s[end] = slot::output;
            else
                s[end] = s[i] == slot::ping ? slot::pong : slot::ping;
        }
        return s;
    }();
};

}  // namespace ctnn
