// Shapes: a compile-time shape is the type Shape<D...> (per sample, no batch dimension: C, H, W
// or a flat feature count). Shape arithmetic is done on the plain value type `dims` by constexpr
// functions; Shape<...> is only the bridge between values and types.
#pragma once
#include <cstddef>
#include <string>

namespace ctnn {

/// A per-sample shape as a value: rank 1 (features) or rank 3 (channels, height, width).
struct dims {
    std::size_t rank = 0;
    std::size_t d[3] = {0, 0, 0};

    constexpr std::size_t size() const {
        std::size_t s = 1;
        for (std::size_t i = 0; i < rank; ++i) s *= d[i];
        return rank ? s : 0;
    }
    constexpr std::size_t channels() const { return d[0]; }
    constexpr std::size_t height() const { return rank == 3 ? d[1] : 1; }
    constexpr std::size_t width() const { return rank == 3 ? d[2] : 1; }
    constexpr bool operator==(const dims&) const = default;
};

constexpr dims flat(std::size_t n) { return dims{1, {n, 0, 0}}; }
constexpr dims chw(std::size_t c, std::size_t h, std::size_t w) { return dims{3, {c, h, w}}; }

inline std::string to_string(const dims& s) {
    std::string r = "(";
    for (std::size_t i = 0; i < s.rank; ++i) r += (i ? ", " : "") + std::to_string(s.d[i]);
    return r + ")";
}

/// The shape of one sample as a type. Shape<10> is 10 features; Shape<3, 32, 32> is CHW.
template <std::size_t... D>
struct Shape {
    static_assert(sizeof...(D) == 1 || sizeof...(D) == 3,
                  "ctnn::Shape takes one dimension (features) or three (channels, height, width)");
    static_assert(((D > 0) && ...), "ctnn::Shape dimensions must be positive");
    static constexpr dims value{sizeof...(D), {D...}};
    static constexpr std::size_t rank = sizeof...(D);
    static constexpr std::size_t size = (D * ...);
};

namespace detail {
template <std::size_t Rank, std::size_t D0, std::size_t D1, std::size_t D2>
struct shape_from;
template <std::size_t D0, std::size_t D1, std::size_t D2>
struct shape_from<1, D0, D1, D2> { using type = Shape<D0>; };
template <std::size_t D0, std::size_t D1, std::size_t D2>
struct shape_from<3, D0, D1, D2> { using type = Shape<D0, D1, D2>; };
}  // namespace detail

/// The Shape<...> type of a constexpr dims value V: shape_t<V.rank, V.d[0], V.d[1], V.d[2]>.
template <std::size_t Rank, std::size_t D0, std::size_t D1, std::size_t D2>
using shape_t = typename detail::shape_from<Rank, D0, D1, D2>::type;

}  // namespace ctnn
