// Prepared parameters: a kernel may keep its parameters in a prepared form (the cpu Conv: its
// Winograd-transformed weights), declared by traits.prepared and made by its prepare(). A host
// net keeps them per layer, with a copy of the parameters they came from, and redoes them before
// a forward whenever the parameters differ from that copy (compared bytewise, so any way of
// changing them counts: an optimizer, a load, writes through a span kept from params()).
//
// Thread safety: refresh() runs under a mutex, so concurrent forwards on one net are safe; a
// forward concurrent with a change of the parameters is not (as for any use of the net).
#pragma once
#include <array>
#include <cstring>
#include <mutex>

#include "memory.hpp"
#include "plan.hpp"

namespace ctnn {

template <class Plan>
class prepared_cache {
    static constexpr std::size_t depth = Plan::depth;

public:
    prepared_cache() = default;
    // A copy starts empty (it prepares again on its first use): the blocks are a cache.
    prepared_cache(const prepared_cache&) {}
    prepared_cache& operator=(const prepared_cache&) {
        std::lock_guard<std::mutex> lock(m_);
        backend_ = nullptr;
        return *this;
    }

    /// Makes B's prepared blocks current for `params` (the net's parameter block). With
    /// FrozenOnly, only layers without gradients (a training forward: trainable layers change
    /// every step and their kernels transform them per task instead).
    template <class B, bool FrozenOnly = false>
    void refresh(const float* params) {
        constexpr std::size_t total = Plan::template prepared_offset<B>[depth];
        if constexpr (total > 0) {
            std::lock_guard<std::mutex> lock(m_);
            if (backend_ != &tag<B>::id) {
                blocks_ = aligned_floats(total);
                sources_ = aligned_floats(source_offset<B>[depth]);
                ok_.fill(false);
                backend_ = &tag<B>::id;
            }
            detail::for_each_index<depth>([&]<std::size_t I>() {
                if constexpr (Plan::template prepared_size<B, I> > 0 && !(FrozenOnly && Plan::trainable[I])) {
                    const float* p = params + Plan::param_offset[I];
                    float* src = sources_.data() + source_offset<B>[I];
                    constexpr std::size_t bytes = Plan::param_sizes[I] * sizeof(float);
                    if (!ok_[I] || std::memcmp(src, p, bytes) != 0) {
                        Plan::template kernel<B, I>::prepare(p, blocks_.data() + Plan::template prepared_offset<B>[I]);
                        std::memcpy(src, p, bytes);
                        ok_[I] = true;
                    }
                }
            });
        }
    }

    /// Layer i's prepared block on B (refresh<B> first), or null when its kernel has none.
    template <class B>
    const float* get(std::size_t i) const {
        constexpr auto& off = Plan::template prepared_offset<B>;
        return off[i + 1] > off[i] && backend_ == &tag<B>::id ? blocks_.data() + off[i] : nullptr;
    }

private:
    template <class B>
    struct tag {
        static constexpr char id = 0;
    };
    template <class B>
    static constexpr std::array<std::size_t, depth + 1> source_offset = Plan::offsets([] {
        std::array<std::size_t, depth> s{};
        detail::for_each_index<depth>([&]<std::size_t I>() {
            s[I] = Plan::template prepared_size<B, I> ? align_floats(Plan::param_sizes[I]) : 0;
        });
        return s;
    }());

    aligned_floats blocks_, sources_;  // prepared blocks, and the parameters they came from
    std::array<bool, depth> ok_{};
    const char* backend_ = nullptr;    // the backend they were made for
    mutable std::mutex m_;
};

}  // namespace ctnn
