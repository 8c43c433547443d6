// The two register-blocked micro-kernels every cpu layer kernel is built from. All sizes that
// decide the blocking are template arguments, so tails are separate compile-time instantiations.
//
//   bcast_gemm: C[m, j] (= or +=) sum_k a(m, k) * b(k)[j]     j vectorised (rows of b contiguous)
//               tiles of R rows x NV vectors; a(m, k) is broadcast.
//   dot_gemm:   C[m, j] = epilogue(m, j, sum_k a(m)[k] * b(j)[k])   k vectorised, reduced at the end
//               tiles of R rows x NC columns; each sum is formed the same way whatever the tile,
//               so results do not depend on how rows and columns are split between threads.
#pragma once
#include <algorithm>
#include <cstddef>
#include <utility>

#include "simd.hpp"

namespace ctnn::cpu_detail {

using V = simd::vec;
inline constexpr std::size_t W = V::width;

/// Calls f.template operator()<R>() with R == r, for r in [1, Max].
template <std::size_t Max, class F>
inline void with_rows(std::size_t r, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((r == I + 1 ? (f.template operator()<I + 1>(), 0) : 0), ...);
    }(std::make_index_sequence<Max>{});
}

/// Covers [begin, end) with tiles: f.template operator()<T>(m0) for tiles of R rows from begin,
/// then the rest (fewer than R) with tiles of 8, 4, 2 and 1 rows (those below R). So a call site
/// instantiates at most five tile sizes, not R (compile time: template-heavy kernels compile in a
/// third of the time), and every row is computed the same way whatever tile it falls in.
template <std::size_t R, class F>
inline void for_tiles(std::size_t begin, std::size_t end, F&& f) {
    static_assert(R >= 1 && R <= 16, "tails are split into 8 + 4 + 2 + 1 rows");
    std::size_t m = begin;
    for (; m + R <= end; m += R) f.template operator()<R>(m);
    const auto tail = [&]<std::size_t T>() {
        if constexpr (T < R)
            if (end - m >= T) {
                f.template operator()<T>(m);
                m += T;
            }
    };
    tail.template operator()<8>();
    tail.template operator()<4>();
    tail.template operator()<2>();
    tail.template operator()<1>();
}

/// Row initialisation of bcast_gemm's C tile.
enum class init { zero, bias, accumulate };

/// Prefetch: also fetch the same rows of b's next column panel (NV vectors on) into L2, so that
/// a large b read a column panel at a time (many rows far apart) streams from memory ahead of use.
/// Stream: write C with stream() stores (C aligned to the vector, ldc a multiple of it).
/// SumTo: add the tile to sum_to (same layout as C) instead of writing C.
template <class Vt, std::size_t R, std::size_t NV, init Init, bool Prefetch = false, bool Stream = false,
          bool SumTo = false, class A, class B>
inline void bcast_tile(std::size_t K, const A& a, std::size_t m0, const B& b, std::size_t j0, float* c,
                       std::size_t ldc, const float* bias, float* sum_to = nullptr) {
    constexpr std::size_t w = Vt::width;
    typename Vt::type s[R][NV];
#pragma GCC unroll 32
    for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (std::size_t v = 0; v < NV; ++v) {
            if constexpr (Init == init::accumulate) s[r][v] = Vt::load(c + (m0 + r) * ldc + j0 + v * w);
            else if constexpr (Init == init::bias) s[r][v] = Vt::set1(bias[m0 + r]);
            else s[r][v] = Vt::zero();
        }
    for (std::size_t k = 0; k < K; ++k) {
        const float* bk = b(k) + j0;
        typename Vt::type x[NV];
#pragma GCC unroll 8
        for (std::size_t v = 0; v < NV; ++v) x[v] = Vt::load(bk + v * w);
        if constexpr (Prefetch)
#pragma GCC unroll 8
            for (std::size_t v = 0; v < NV; ++v) __builtin_prefetch(bk + (NV + v) * w, 0, 2);
#pragma GCC unroll 32
        for (std::size_t r = 0; r < R; ++r) {
            const typename Vt::type av = Vt::set1(a(m0 + r, k));
#pragma GCC unroll 8
            for (std::size_t v = 0; v < NV; ++v) s[r][v] = Vt::fma(av, x[v], s[r][v]);
        }
    }
#pragma GCC unroll 32
    for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (std::size_t v = 0; v < NV; ++v) {
            const std::size_t o = (m0 + r) * ldc + j0 + v * w;
            if constexpr (SumTo) Vt::store(sum_to + o, Vt::load(sum_to + o) + s[r][v]);
            else if constexpr (Stream) Vt::stream(c + o, s[r][v]);
            else Vt::store(c + o, s[r][v]);
        }
}

/// Rows [m_begin, m_end) of C = a * b with N (compile-time) columns and K terms.
/// PanelOuter: loop over column panels outside the row blocks, so a panel of b (K x NV vectors)
/// stays in cache while every row block uses it (for a large b, e.g. a Linear weight matrix);
/// Prefetch (with PanelOuter): the first row block of each panel fetches the next panel into L2
/// (for weights read from memory: a large Linear's dx).
/// Stream: C is written around the caches (the caller checks alignment, and fences after).
/// SumTo: the result (C's initial values plus a * b, by Init) is added to sum_to, and C is left as
/// it was (a running sum kept apart from a longer one, without a pass of its own).
template <std::size_t N, std::size_t R, std::size_t NV, init Init, bool PanelOuter = false, bool Prefetch = false,
          bool Stream = false, bool SumTo = false, class A, class B>
inline void bcast_gemm(std::size_t m_begin, std::size_t m_end, std::size_t K, const A& a, const B& b, float* c,
                       std::size_t ldc, const float* bias = nullptr, float* sum_to = nullptr) {
    constexpr std::size_t NB = NV * W, full = N / NB * NB, rest_v = (N - full) / W, tail0 = full + rest_v * W;
    static_assert(!Prefetch || PanelOuter, "Prefetch fetches the next column panel");
    static_assert(!Stream || W > 1, "Stream stores whole vectors");
    static_assert(!SumTo || (!PanelOuter && !Stream));
    if constexpr (PanelOuter) {
        if constexpr (full > 0)
            for (std::size_t j0 = 0; j0 < full; j0 += NB)
                for_tiles<R>(m_begin, m_end, [&]<std::size_t Rr>(std::size_t m0) {
                    if (Prefetch && m0 == m_begin && j0 + NB < full)
                        bcast_tile<V, Rr, NV, Init, Prefetch, Stream>(K, a, m0, b, j0, c, ldc, bias);
                    else
                        bcast_tile<V, Rr, NV, Init, false, Stream>(K, a, m0, b, j0, c, ldc, bias);
                });
        for_tiles<R>(m_begin, m_end, [&]<std::size_t Rr>(std::size_t m0) {
            if constexpr (rest_v > 0) bcast_tile<V, Rr, rest_v, Init, false, Stream>(K, a, m0, b, full, c, ldc, bias);
            if constexpr (N > tail0) bcast_tile<simd::scalar, Rr, N - tail0, Init>(K, a, m0, b, tail0, c, ldc, bias);
        });
        return;
    }
    for_tiles<R>(m_begin, m_end, [&]<std::size_t Rr>(std::size_t m0) {
        if constexpr (full > 0)
            for (std::size_t j0 = 0; j0 < full; j0 += NB)
                bcast_tile<V, Rr, NV, Init, false, Stream, SumTo>(K, a, m0, b, j0, c, ldc, bias, sum_to);
        if constexpr (rest_v > 0) bcast_tile<V, Rr, rest_v, Init, false, Stream, SumTo>(K, a, m0, b, full, c, ldc, bias, sum_to);
        if constexpr (N > tail0) bcast_tile<simd::scalar, Rr, N - tail0, Init, false, false, SumTo>(K, a, m0, b, tail0, c, ldc, bias, sum_to);
    });
}

/// Register blocking for bcast_gemm from the shapes: R rows x NV vectors per tile, chosen at
/// compile time by a small cost model: per k step a tile issues R * NV FMAs (at least ~8 to hide
/// the FMA latency) and R + NV loads (LoadPct / 100 of an FMA each); padding columns and short
/// tail row blocks count too. LoadPct 30 by default; 15 fits the Conv forward GEMMs better (on
/// small maps it trades loads for fewer padding columns).
template <std::size_t M, std::size_t N, std::size_t LoadPct = 30>
struct bcast_blocking {
    static constexpr double cost(std::size_t r, std::size_t nv) {
        const double jblocks = double((N + nv * W - 1) / (nv * W));
        const auto tile = [&](std::size_t rr) {
            return std::max(double(rr * nv), 8.0) + double(LoadPct) / 100.0 * double(rr + nv);
        };
        return jblocks * (double(M / r) * tile(r) + (M % r ? tile(M % r) : 0.0));
    }
    static constexpr std::pair<std::size_t, std::size_t> pick() {
        std::pair<std::size_t, std::size_t> best{1, 1};
        double best_cost = 1e300;
        const std::size_t max_nv = std::max<std::size_t>(1, std::min<std::size_t>(4, (N + W - 1) / W));
        for (std::size_t nv = 1; nv <= max_nv; ++nv)
            for (std::size_t r = 1; r <= 16 && r <= M && r * nv + nv + 1 <= V::registers; ++r) {
                const double c = cost(r, nv);
                if (c < best_cost * 0.999) { best_cost = c; best = {r, nv}; }
            }
        return best;
    }
    static constexpr std::size_t R = pick().first, NV = pick().second;
};

template <class Vt, std::size_t R, std::size_t NC, std::size_t K, class A, class B, class E>
inline void dot_tile(std::size_t m0, std::size_t j0, const A& a, const B& b, const E& epi) {
    constexpr std::size_t w = Vt::width, KV = K / w * w;
    const float* ap[R];
    const float* bp[NC];
    for (std::size_t r = 0; r < R; ++r) ap[r] = a(m0 + r);
    for (std::size_t q = 0; q < NC; ++q) bp[q] = b(j0 + q);
    typename Vt::type s[R][NC];
#pragma GCC unroll 16
    for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (std::size_t q = 0; q < NC; ++q) s[r][q] = Vt::zero();
    for (std::size_t k = 0; k < KV; k += w) {
        typename Vt::type x[R];
#pragma GCC unroll 16
        for (std::size_t r = 0; r < R; ++r) x[r] = Vt::load(ap[r] + k);
#pragma GCC unroll 16
        for (std::size_t q = 0; q < NC; ++q) {
            const typename Vt::type y = Vt::load(bp[q] + k);
#pragma GCC unroll 16
            for (std::size_t r = 0; r < R; ++r) s[r][q] = Vt::fma(x[r], y, s[r][q]);
        }
    }
    for (std::size_t r = 0; r < R; ++r)
        for (std::size_t q = 0; q < NC; ++q) {
            float t = Vt::sum(s[r][q]);
            for (std::size_t k = KV; k < K; ++k) t += ap[r][k] * bp[q][k];
            epi(m0 + r, j0 + q, t);
        }
}

/// epi(m, j, sum_k a(m)[k] * b(j)[k]) for m in [m_begin, m_end), j in [j_begin, j_end).
template <std::size_t K, std::size_t R, std::size_t NC, class A, class B, class E>
inline void dot_gemm(std::size_t m_begin, std::size_t m_end, std::size_t j_begin, std::size_t j_end, const A& a,
                     const B& b, const E& epi) {
    // columns outside: NC rows of b (a Linear's weights) stay in cache for every row block
    for_tiles<NC>(j_begin, j_end, [&]<std::size_t Nc>(std::size_t j0) {
        for_tiles<R>(m_begin, m_end, [&]<std::size_t Rr>(std::size_t m0) { dot_tile<V, Rr, Nc, K>(m0, j0, a, b, epi); });
    });
}

}  // namespace ctnn::cpu_detail
