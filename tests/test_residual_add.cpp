// A Residual's sum formed by the body's last cpu kernel as it writes its output
// (forward_args::addend, kernel_traits::adds): for every Conv path that claims it (direct,
// Winograd F(4x4) and F(2x2), transposed F(2x2), 1x1, strided, grouped, depthwise, Conv+ReLU,
// Conv+BatchNorm groups, a nested Chain), with identity and projection shortcuts. Each net has a
// twin whose body ends in an Identity: the same tensors, but its last kernel cannot add (an
// aliasing layer), so the block adds in a pass of its own. The two must give the same bits, for
// batches 1, 2 and 5 and 1, 2 and 3 threads (the split of a single sample included), and be
// within 1e-5 of the reference backend.
#include "simd_helpers.hpp"

#include <cstring>

using namespace ctnn;

namespace {

/// Sequential<Input<C, H, W>, Residual<Body, Shortcut>, Flatten> and the twin with Chain<Body, Identity>.
template <class In, class Body, class Shortcut = Identity>
struct pair_of;
template <std::size_t C, std::size_t H, std::size_t W, class Body, class Shortcut>
struct pair_of<Input<C, H, W>, Body, Shortcut> {
    using fused = Sequential<Input<C, H, W>, Residual<Body, Shortcut>, ReLU, Flatten>;
    using apart = Sequential<Input<C, H, W>, Residual<Chain<Body, Identity>, Shortcut>, ReLU, Flatten>;
    using block_kernel = kernel<Residual<Body, Shortcut>, Shape<C, H, W>, cpu>;
    using twin_kernel = kernel<Residual<Chain<Body, Identity>, Shortcut>, Shape<C, H, W>, cpu>;
};

template <class P>
void check_pair(std::uint64_t seed) {
    using F = typename P::fused;
    using A = typename P::apart;
    static_assert(P::block_kernel::body_adds, "the body's last kernel should form the sum");
    static_assert(!P::twin_kernel::body_adds, "the twin's body ends in an aliasing layer: the block adds");
    static_assert(F::param_count == A::param_count && F::buffer_count == A::buffer_count);
    F f(seed);
    perturb(f, seed + 1);
    A a(seed);
    std::copy(f.params().begin(), f.params().end(), a.params().begin());
    std::copy(f.buffers().begin(), f.buffers().end(), a.buffers().begin());
    const thread_count_guard guard;
    for (std::size_t n : {1, 2, 5}) {
        const auto x = random_vec(n * F::input_size, seed + 10 * n);
        std::vector<float> ref(n * F::output_size);
        f.template forward<reference>(x.data(), ref.data(), n);
        for (std::size_t threads : {1, 2, 3}) {
            set_num_threads(threads);
            std::vector<float> got(ref.size(), std::nanf("")), twin(ref.size(), std::nanf(""));
            f.template forward<cpu>(x.data(), got.data(), n);
            a.template forward<cpu>(x.data(), twin.data(), n);
            INFO("batch " << n << ", threads " << threads);
            check_close(got, ref, "cpu (sum in the kernel) vs reference");
            CHECK(std::memcmp(got.data(), twin.data(), got.size() * sizeof(float)) == 0);
        }
    }
}

// direct path (3 input channels: no Winograd), a lone Conv as the body
using Direct = pair_of<Input<3, 9, 11>, Conv<3, 3, 3, 1, 1>>;
// Winograd F(4x4) (13 x 7 outputs), Conv + BatchNorm
using Wino4 = pair_of<Input<10, 13, 7>, Chain<Conv<10, 10, 3, 1, 1>, BatchNorm<10>>>;
// Winograd F(2x2) with a projection shortcut; transposed F(2x2) (channels across the vector)
using Wino2 = pair_of<Input<9, 8, 8>, Chain<Conv<9, 11, 3, 1, 1>, BatchNorm<11>>, Chain<Conv<9, 11, 1>, BatchNorm<11>>>;
using Wino2Tr = pair_of<Input<8, 6, 6>, Chain<Conv<8, 16, 3, 1, 1>, BatchNorm<16>>, Conv<8, 16, 1>>;
// MobileNet's projection: 1x1 expand, 1x1 project (stride 1: the pointwise GEMM, in place on
// 8 x 8, through a block of rows on 7 x 7)
using Pointwise = pair_of<Input<16, 8, 8>, Chain<Conv<16, 24, 1>, BatchNorm<24>, ReLU, Conv<24, 16, 1>, BatchNorm<16>>>;
using Pointwise7 = pair_of<Input<16, 7, 7>, Chain<Conv<16, 24, 1>, BatchNorm<24>, ReLU, Conv<24, 16, 1>, BatchNorm<16>>>;
// strided (the batched im2col GEMM), grouped (per-group GEMMs), depthwise
using Strided = pair_of<Input<5, 11, 9>, Chain<Conv<5, 12, 3, 2, 1>, BatchNorm<12>>, Chain<Conv<5, 12, 1, 2, 0>, BatchNorm<12>>>;
using Grouped = pair_of<Input<6, 7, 9>, Chain<Conv<6, 9, 3, 1, 1, 1, 3>, BatchNorm<9>>, Conv<6, 9, 1>>;
using Depthwise = pair_of<Input<7, 13, 11>, Chain<Conv<7, 7, 3, 1, 1, 1, 7>, BatchNorm<7>>>;
// Conv + ReLU as the last group (y = relu(conv) + x); a body ending in a nested Chain
using ConvRelu = pair_of<Input<4, 9, 7>, Chain<Conv<4, 4, 3, 1, 1>, ReLU>>;
using Nested = pair_of<Input<8, 10, 9>, Chain<Conv<8, 8, 3, 1, 1>, BatchNorm<8>, ReLU, Chain<Conv<8, 8, 3, 1, 1>, BatchNorm<8>>>>;

}  // namespace

TEST_CASE("cpu Residual: the body's last kernel forms the sum, with the bits of a separate add", "[simd][fusion][blocks]") {
    // the Conv paths the shapes were chosen for
    STATIC_REQUIRE(!cpu_detail::conv_s1<3, 3, 3, 1, Shape<3, 9, 11>>::wino_fwd);
    STATIC_REQUIRE((cpu_detail::conv_s1<10, 10, 3, 1, Shape<10, 13, 7>>::wino_fwd));
    STATIC_REQUIRE((cpu_detail::conv_s1<9, 11, 3, 1, Shape<9, 8, 8>>::wino_fwd && !cpu_detail::conv_s1<9, 11, 3, 1, Shape<9, 8, 8>>::wino4_fwd));
    STATIC_REQUIRE((cpu_detail::conv_s1<8, 16, 3, 1, Shape<8, 6, 6>>::wino_fwd));
    check_pair<Direct>(1);
    check_pair<Wino4>(2);
    check_pair<Wino2>(3);
    check_pair<Wino2Tr>(4);
    STATIC_REQUIRE((cpu_detail::conv_s1<24, 16, 1, 0, Shape<24, 8, 8>>::pointwise_in_place || cpu_detail::W != 8));
    STATIC_REQUIRE(cpu_detail::conv_s1<24, 16, 1, 0, Shape<24, 7, 7>>::pointwise);
    STATIC_REQUIRE((!cpu_detail::conv_s1<24, 16, 1, 0, Shape<24, 7, 7>>::pointwise_in_place || cpu_detail::W != 8));
    check_pair<Pointwise>(5);
    check_pair<Pointwise7>(55);
    check_pair<Strided>(6);
    check_pair<Grouped>(7);
    check_pair<Depthwise>(8);
    check_pair<ConvRelu>(9);
    check_pair<Nested>(10);
}

TEST_CASE("Residual: kernels that cannot add leave the sum to the block", "[fusion][blocks]") {
    // the reference backend claims no addend: its Residual adds in a pass (and the executor
    // passes none); nor does a body ending in an activation the cpu runs on its own
    STATIC_REQUIRE(!kernel<Residual<Conv<3, 3, 3, 1, 1>>, Shape<3, 8, 8>, reference>::body_adds);
    STATIC_REQUIRE(!kernel<Residual<Chain<Conv<3, 3, 3, 1, 1>, Tanh>>, Shape<3, 8, 8>, cpu>::body_adds);
    STATIC_REQUIRE(executor<plan<Shape<3, 8, 8>, Conv<3, 3, 3, 1, 1>, BatchNorm<3>>, cpu>::adds_output);
    STATIC_REQUIRE(!executor<plan<Shape<3, 8, 8>, Conv<3, 3, 3, 1, 1>, BatchNorm<3>, Identity>, cpu>::adds_output);
}
