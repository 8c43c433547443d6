// bfloat16 values: the top 16 bits of an IEEE float (sign, 8 exponent bits, 7 mantissa bits).
//
//   round(x)  float -> bf16, round to nearest, ties to even (as PyTorch's .to(torch.bfloat16) and
//             the AVX512-BF16 vcvtneps2bf16); NaN stays NaN (quiet), +-inf stay infinite,
//             values above the largest bf16 round to infinity.
//   widen(b)  bf16 -> float, exact: the 16 bits shifted up.
//   pair(a, b)  two bf16 in one 32-bit word, a in the low half: the layout vdpbf16ps reads (an
//             even k in the low half, the next odd k in the high half).
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>

namespace ctnn::bf16_detail {

using bf16_t = std::uint16_t;

inline bf16_t round(float x) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
    const std::uint32_t nearest = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    const std::uint32_t nan = (u >> 16) | 0x0040u;  // a NaN stays a NaN, quiet
    // (a select, not a branch: loops of it vectorize)
    return static_cast<bf16_t>((u & 0x7FFFFFFFu) > 0x7F800000u ? nan : nearest);
}
inline float widen(bf16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }
/// x rounded to the nearest bf16, as a float (exact: the low 16 bits are zero).
inline float rounded(float x) { return widen(round(x)); }
inline std::uint32_t pair(bf16_t even, bf16_t odd) { return std::uint32_t(even) | (std::uint32_t(odd) << 16); }

/// Pairs of the k dimension: K values take (K + 1) / 2 words (an odd K's last word has a zero
/// high half, whose products add +0).
constexpr std::size_t pairs(std::size_t K) { return (K + 1) / 2; }
constexpr std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

}  // namespace ctnn::bf16_detail
