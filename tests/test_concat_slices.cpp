// A Concat's branches write their channel slices of the output in place, at any batch
// (forward_args::y_stride, kernel_traits::strided_output): every cpu kernel that claims it (the
// stride-1 Conv's direct, Winograd F(4x4), F(2x2) and transposed paths, 1x1, strided, grouped
// and depthwise GEMMs, Conv+BatchNorm(+activation), Conv+ReLU(+MaxPool) groups, activations,
// MaxPool, ConvTranspose, Upsample, Linear (+ReLU), Identity's copy, a Chain ending in an aliasing
// Flatten), next to branches that cannot (a lone BatchNorm, a nested Concat, a Residual), which the
// block copies.
// Each Concat's output must have, slice by slice, the bits of its branches run as nets of their
// own (same kernels, dense outputs), for batches 1, 2, 3, 5 and 9 and 1, 2 and 3 threads: a kernel
// that wrote past its slice or ignored the stride would change a neighbour's bits. And within
// 1e-5 of the reference backend.
#include "simd_helpers.hpp"

#include <cstring>

using namespace ctnn;

namespace {

template <class In, class... Bs>
struct concat_case;
template <std::size_t C, std::size_t H, std::size_t W, class... Bs>
struct concat_case<Input<C, H, W>, Bs...> {
    using net = Sequential<Input<C, H, W>, Concat<Bs...>>;
    using block = kernel<Concat<Bs...>, Shape<C, H, W>, cpu>;
    template <class B>
    static constexpr bool strides = detail::subnet<B>::template strides<Shape<C, H, W>, cpu>;

    /// Branch j's output, run as a net of its own with the Concat's tensors of branch j.
    template <class B>
    static std::vector<float> branch_output(const net& whole, std::size_t j, const std::vector<float>& x, std::size_t n) {
        using alone = Sequential<Input<C, H, W>, B>;
        alone b(1);
        std::copy_n(whole.params().begin() + block::param_off[j], alone::param_count, b.params().begin());
        std::copy_n(whole.buffers().begin() + block::buffer_off[j], alone::buffer_count, b.buffers().begin());
        std::vector<float> y(n * alone::output_size, std::nanf(""));
        b.template forward<cpu>(x.data(), y.data(), n);
        return y;
    }

    static void check(std::uint64_t seed) {
        net f(seed);
        perturb(f, seed + 1);
        const thread_count_guard guard;
        for (std::size_t n : {1, 2, 3, 5, 9}) {
            const auto x = random_vec(n * net::input_size, seed + 10 * n);
            std::vector<float> ref(n * net::output_size);
            f.template forward<reference>(x.data(), ref.data(), n);
            for (std::size_t threads : {1, 2, 3}) {
                set_num_threads(threads);
                std::vector<float> got(ref.size(), std::nanf(""));
                f.template forward<cpu>(x.data(), got.data(), n);
                INFO("case " << seed << ", batch " << n << ", threads " << threads);
                check_close(got, ref, "cpu Concat vs reference");
                // the branches alone, concatenated here
                std::vector<float> cat(ref.size(), std::nanf(""));
                std::size_t j = 0;
                const auto place = [&]<class B>() {
                    const auto y = branch_output<B>(f, j, x, n);
                    const std::size_t per = y.size() / n;
                    for (std::size_t s = 0; s < n; ++s)
                        std::copy_n(y.begin() + s * per, per, cat.begin() + s * net::output_size + block::slice_off[j]);
                    ++j;
                };
                (place.template operator()<Bs>(), ...);
                const std::size_t first = std::size_t(std::mismatch(got.begin(), got.end(), cat.begin()).first - got.begin());
                INFO("first difference at " << first << " (sample " << first / net::output_size << ", float "
                                            << first % net::output_size << " of " << net::output_size << ")");
                CHECK(std::memcmp(got.data(), cat.data(), got.size() * sizeof(float)) == 0);
            }
        }
    }
};

// Winograd F(4x4) + BatchNorm + ReLU; Identity (a strided copy); 1x1 on 13 x 7 (Y' through a
// block of rows); an activation alone
using Wino4 = concat_case<Input<10, 13, 7>, Chain<Conv<10, 10, 3, 1, 1>, BatchNorm<10>, ReLU>, Identity,
                          Chain<Conv<10, 4, 1>, BatchNorm<4>>, Tanh>;
// Winograd F(2x2); Conv + ReLU; 1x1 in place on 8 x 8; a lone BatchNorm (copied); SiLU
using Wino2 = concat_case<Input<9, 8, 8>, Conv<9, 11, 3, 1, 1>, Chain<Conv<9, 5, 3, 1, 1>, ReLU>, Conv<9, 16, 1>, BatchNorm<9>, SiLU>;
// strided (batched im2col GEMM), grouped strided, depthwise stride 2 + BN + ReLU, MaxPool
using Strided = concat_case<Input<6, 12, 10>, Chain<Conv<6, 12, 3, 2, 1>, BatchNorm<12>>, Conv<6, 9, 3, 2, 1, 1, 3>,
                            Chain<Conv<6, 6, 3, 2, 1, 1, 6>, BatchNorm<6>, ReLU>, MaxPool<2>>;
// Conv + ReLU + MaxPool (direct path, 3 channels); MaxPool 2x2; a strided Conv inside two Chains
using Pooled = concat_case<Input<3, 10, 12>, Chain<Conv<3, 4, 3, 1, 1>, ReLU, MaxPool<2>>, MaxPool<2>,
                           Chain<Chain<Conv<3, 5, 3, 2, 1>>>>;
// the direct path; grouped stride 1; Hardswish after a Conv (Conv, then the activation alone)
using Direct = concat_case<Input<3, 9, 11>, Conv<3, 5, 3, 1, 1>, Identity, Chain<Conv<3, 6, 3, 1, 1, 1, 3>, BatchNorm<6>>,
                           Chain<Conv<3, 8, 3, 1, 1>, Hardswish>>;
// branches that are blocks which cannot write a strided slice (a Residual, a Concat), around a
// transposed Winograd F(2x2) (16 channels on 6 x 6) inside a Chain
using Blocks = concat_case<Input<8, 6, 6>, Residual<Conv<8, 8, 3, 1, 1>>, Concat<Conv<8, 3, 1>, Identity>,
                           Chain<Chain<Conv<8, 16, 3, 1, 1>, BatchNorm<16>>>>;
// flat outputs: a Chain ending in Flatten (the Conv before it writes the slice), Linear (batched
// from 8 samples with 16 outputs or more, else dot products), Linear + ReLU
using Flat = concat_case<Input<4, 5, 3>, Chain<Conv<4, 2, 3, 1, 1>, Flatten>, Chain<Flatten, Linear<60, 17>>,
                         Chain<Flatten, Linear<60, 7>, ReLU>, Flatten>;

// a decoder's: transposed convolutions and nearest upsampling
using Decoder = concat_case<Input<8, 5, 4>, ConvTranspose<8, 3, 2, 2>, Upsample<2>, Chain<ConvTranspose<8, 4, 3, 2, 1, 1>, SiLU>>;

}  // namespace

TEST_CASE("cpu Concat: branches write their channel slices in place (1-3 threads), with the bits of the branches alone",
          "[simd][blocks][concat]") {
    // which branches write in place (the rest: a dense output, copied)
    STATIC_REQUIRE((Wino4::strides<Chain<Conv<10, 10, 3, 1, 1>, BatchNorm<10>, ReLU>>));
    STATIC_REQUIRE((Wino4::strides<Identity>));
    STATIC_REQUIRE((Wino4::strides<Tanh>));
    STATIC_REQUIRE((Wino2::strides<Conv<9, 16, 1>>));
    STATIC_REQUIRE((Wino2::strides<Chain<Conv<9, 5, 3, 1, 1>, ReLU>>));
    STATIC_REQUIRE((!Wino2::strides<BatchNorm<9>>));
    STATIC_REQUIRE((Strided::strides<Conv<6, 9, 3, 2, 1, 1, 3>>));
    STATIC_REQUIRE((Strided::strides<Chain<Conv<6, 6, 3, 2, 1, 1, 6>, BatchNorm<6>, ReLU>>));
    STATIC_REQUIRE((Strided::strides<MaxPool<2>>));
    STATIC_REQUIRE((Pooled::strides<Chain<Conv<3, 4, 3, 1, 1>, ReLU, MaxPool<2>>>));
    STATIC_REQUIRE((Pooled::strides<Chain<Chain<Conv<3, 5, 3, 2, 1>>>>));
    STATIC_REQUIRE((!Blocks::strides<Residual<Conv<8, 8, 3, 1, 1>>>));
    STATIC_REQUIRE((!Blocks::strides<Concat<Conv<8, 3, 1>, Identity>>));
    STATIC_REQUIRE((Flat::strides<Chain<Conv<4, 2, 3, 1, 1>, Flatten>>));
    STATIC_REQUIRE((Flat::strides<Chain<Flatten, Linear<60, 17>>> && Flat::strides<Chain<Flatten, Linear<60, 7>, ReLU>>));
    STATIC_REQUIRE((cpu_detail::linear_impl<60, 17>::batched_ok || cpu_detail::W == 1));
    // the Conv paths the shapes were chosen for
    STATIC_REQUIRE((cpu_detail::conv_s1<10, 10, 3, 1, Shape<10, 13, 7>>::wino4_fwd));
    STATIC_REQUIRE((cpu_detail::conv_s1<9, 11, 3, 1, Shape<9, 8, 8>>::wino_fwd));
    STATIC_REQUIRE((cpu_detail::conv_s1<8, 16, 3, 1, Shape<8, 6, 6>>::wino_fwd));
    STATIC_REQUIRE((!cpu_detail::conv_s1<3, 5, 3, 1, Shape<3, 9, 11>>::wino_fwd));
    STATIC_REQUIRE((cpu_detail::conv_s1<10, 4, 1, 0, Shape<10, 13, 7>>::pointwise));
    Wino4::check(1);
    Wino2::check(2);
    Strided::check(3);
    Pooled::check(4);
    Direct::check(5);
    Blocks::check(6);
    Flat::check(7);
    STATIC_REQUIRE((Decoder::strides<ConvTranspose<8, 3, 2, 2>> && Decoder::strides<Upsample<2>>));
    Decoder::check(8);
}

TEST_CASE("Concat: the executor passes a stride only to a kernel that takes one", "[blocks][concat]") {
    // the reference backend's Conv takes none; an aliasing layer at the end hands the stride to the
    // kernel before it, which must take it; a lone aliasing layer copies with it
    STATIC_REQUIRE((!executor<plan<Shape<3, 8, 8>, Conv<3, 3, 3, 1, 1>>, reference>::strides_output));
    STATIC_REQUIRE((executor<plan<Shape<3, 8, 8>, Conv<3, 3, 3, 1, 1>, Flatten>, cpu>::strides_output));
    STATIC_REQUIRE((!executor<plan<Shape<3, 8, 8>, BatchNorm<3>, Flatten>, cpu>::strides_output));
    STATIC_REQUIRE((executor<plan<Shape<3, 8, 8>, Identity>, cpu>::strides_output));
    STATIC_REQUIRE((executor<plan<Shape<3, 8, 8>, Identity>, reference>::strides_output));
}
