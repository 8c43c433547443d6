// cpu inference fusion of Conv -> BatchNorm (-> activation) (backends/cpu/conv_bn.hpp): the group
// is planned, and it gives the reference backend's numbers (within 1e-5 of the output's scale:
// the fused affine is one fma where the reference rounds a multiply and an add) on awkward
// shapes (odd maps, channels not multiples of the vector), for every Conv path (direct, both
// Winograd tile sizes, strided, grouped, depthwise), with 1, 2 and 3 threads (the same bits for
// each), non-trivial running statistics and negative BatchNorm weights; also inside a Residual
// block. Outputs are NaN-filled first, so a value the kernel does not write shows.
#include "heap_counter.hpp"
#include "simd_helpers.hpp"

#include <cstring>

using namespace ctnn;

namespace {

/// BatchNorm weights in [-1.5, 1.5] (some negative: the scale flips the sign), biases (every
/// rank-1 "bias") in [-0.5, 0.5], running means in [-0.5, 0.5] and variances in [0.3, 2]: far
/// from the initial identity map. By tensor name, so BatchNorms inside blocks are found too (a
/// rank-1 "weight" is a BatchNorm's).
template <class Net>
void perturb_batchnorm(Net& net, std::uint64_t seed) {
    rng g(seed);
    net.for_each_tensor([&](const std::string& name, const tensor_desc& d, float* p, tensor_kind) {
        const auto ends = [&](std::string_view s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
        float lo = 0, hi = 0;
        if (ends("running_mean") || (ends("bias") && d.rank == 1)) lo = -0.5f, hi = 0.5f;
        else if (ends("running_var")) lo = 0.3f, hi = 2.0f;
        else if (ends("weight") && d.rank == 1) lo = -1.5f, hi = 1.5f;
        else return;
        for (std::size_t i = 0; i < d.size(); ++i) p[i] = g.uniform(lo, hi);
    });
}

/// Net on cpu with 1, 2 and 3 threads at batches 1, 2 and 5: close to the reference, and the
/// same bits for every thread count.
template <class Net>
void check_fused_net(std::uint64_t seed) {
    Net net(seed);
    perturb_batchnorm(net, seed + 1);
    const thread_count_guard guard;
    for (std::size_t n : {1, 2, 5}) {
        const auto x = random_vec(n * Net::input_size, seed + 10 * n);
        std::vector<float> ref(n * Net::output_size), first;
        net.template forward<reference>(x.data(), ref.data(), n);
        for (std::size_t threads : {1, 2, 3}) {
            set_num_threads(threads);
            std::vector<float> got(ref.size(), std::nanf(""));
            net.template forward<cpu>(x.data(), got.data(), n);
            INFO("batch " << n << ", threads " << threads);
            check_close(got, ref, "fused cpu vs reference");
            if (first.empty()) first = got;
            else CHECK(std::memcmp(first.data(), got.data(), got.size() * sizeof(float)) == 0);
        }
    }
}

// stride 1, direct path (3 input channels: no Winograd), odd map, Co not a multiple of 8
using DirectBN = Sequential<Input<3, 9, 11>, Conv<3, 12, 3, 1, 1>, BatchNorm<12>, ReLU, Flatten, Linear<1188, 3>>;
// stride 1, Winograd F(4x4) (13 x 7 outputs)
using Wino4BN = Sequential<Input<10, 13, 7>, Conv<10, 12, 3, 1, 1>, BatchNorm<12>, Hardswish>;
// stride 1, Winograd F(2x2), tiles across the vector (8 x 8 outputs), and channels across it
// (Co = 16, 9 tiles: transposed GEMMs)
using Wino2BN = Sequential<Input<9, 8, 8>, Conv<9, 11, 3, 1, 1>, BatchNorm<11>, SiLU>;
using Wino2TrBN = Sequential<Input<8, 6, 6>, Conv<8, 16, 3, 1, 1>, BatchNorm<16>, ReLU>;
// no activation after the BatchNorm: a group of two
using NoActBN = Sequential<Input<3, 7, 9>, Conv<3, 5, 3, 1, 1>, BatchNorm<5>, MaxPool<2>>;
// strided, grouped, depthwise (channel multiplier 2, stride 2), depthwise dilated, 1x1 strided
using StridedBN = Sequential<Input<5, 11, 9>, Conv<5, 12, 3, 2, 1>, BatchNorm<12>, ReLU>;
using GroupedBN = Sequential<Input<6, 7, 9>, Conv<6, 9, 3, 1, 1, 1, 3>, BatchNorm<9>, GELU>;
using DepthwiseBN = Sequential<Input<7, 13, 11>, Conv<7, 14, 3, 2, 1, 1, 7>, BatchNorm<14>, Hardswish>;
// 1x1 stride 1 (the pointwise GEMM: no padded copy, the epilogue per block of rows): in place
// (8 x 8), through a block of rows (5 x 7: a partial tile); 32 x 32 maps through the padded copy
using PointwiseBN = Sequential<Input<12, 8, 8>, Conv<12, 20, 1>, BatchNorm<20>, Hardswish, Conv<20, 12, 1>, BatchNorm<12>>;
using Pointwise5BN = Sequential<Input<6, 5, 7>, Conv<6, 10, 1>, BatchNorm<10>, Hardswish, Conv<10, 5, 1>, BatchNorm<5>, SiLU>;
using Pointwise32BN = Sequential<Input<6, 32, 32>, Conv<6, 10, 1>, BatchNorm<10>, ReLU>;
using DilatedDwBN = Sequential<Input<5, 12, 9>, Conv<5, 5, 3, 1, 2, 2, 5>, BatchNorm<5>, ReLU, Conv<5, 7, 1, 2, 0>,
                               BatchNorm<7>>;

}  // namespace

TEST_CASE("cpu Conv+BatchNorm(+activation): the fused group is planned for inference only", "[simd][fusion][conv_bn]") {
    STATIC_REQUIRE(DirectBN::fusion_plan<cpu> == std::array<std::size_t, 5>{3, 0, 0, 1, 1});
    STATIC_REQUIRE(DirectBN::train_plan<cpu> == std::array<std::size_t, 5>{1, 1, 1, 1, 1});
    STATIC_REQUIRE(Wino4BN::fusion_plan<cpu> == std::array<std::size_t, 3>{3, 0, 0});
    STATIC_REQUIRE(Wino2BN::fusion_plan<cpu> == std::array<std::size_t, 3>{3, 0, 0});
    STATIC_REQUIRE(Wino2TrBN::fusion_plan<cpu> == std::array<std::size_t, 3>{3, 0, 0});
    STATIC_REQUIRE(NoActBN::fusion_plan<cpu> == std::array<std::size_t, 3>{2, 0, 1});
    STATIC_REQUIRE(StridedBN::fusion_plan<cpu> == std::array<std::size_t, 3>{3, 0, 0});
    STATIC_REQUIRE(GroupedBN::fusion_plan<cpu> == std::array<std::size_t, 3>{3, 0, 0});
    STATIC_REQUIRE(DepthwiseBN::fusion_plan<cpu> == std::array<std::size_t, 3>{3, 0, 0});
    STATIC_REQUIRE(DilatedDwBN::fusion_plan<cpu> == std::array<std::size_t, 5>{3, 0, 0, 2, 0});
    STATIC_REQUIRE(DirectBN::fusion_plan<reference> == std::array<std::size_t, 5>{1, 1, 1, 1, 1});
    // the paths the shapes were chosen for
    using wino4 = cpu_detail::conv_s1<10, 12, 3, 1, Shape<10, 13, 7>>;
    using wino2 = cpu_detail::conv_s1<9, 11, 3, 1, Shape<9, 8, 8>>;
    using wino2tr = cpu_detail::conv_s1<8, 16, 3, 1, Shape<8, 6, 6>>;
    STATIC_REQUIRE(!cpu_detail::conv_s1<3, 12, 3, 1, Shape<3, 9, 11>>::wino_fwd);
    STATIC_REQUIRE((wino4::wino_fwd && (wino4::wino4_fwd || cpu_detail::W < 8)));
    STATIC_REQUIRE((wino2::wino_fwd && !wino2::wino4_fwd));
    STATIC_REQUIRE((wino2tr::wino_fwd && !wino2tr::wino4_fwd && (wino2tr::wff::tr || cpu_detail::W != 8)));
}

TEST_CASE("cpu Conv+BatchNorm(+activation) matches the reference for every Conv path, 1-3 threads", "[simd][fusion][conv_bn]") {
    check_fused_net<DirectBN>(1);
    check_fused_net<Wino4BN>(2);
    check_fused_net<Wino2BN>(3);
    check_fused_net<Wino2TrBN>(4);
    check_fused_net<NoActBN>(5);
    check_fused_net<StridedBN>(6);
    check_fused_net<GroupedBN>(7);
    check_fused_net<DepthwiseBN>(8);
    check_fused_net<DilatedDwBN>(9);
    STATIC_REQUIRE((cpu_detail::conv_s1<12, 20, 1, 0, Shape<12, 8, 8>>::pointwise_in_place || cpu_detail::W != 8));
    STATIC_REQUIRE(cpu_detail::conv_s1<6, 10, 1, 0, Shape<6, 5, 7>>::pointwise);
    STATIC_REQUIRE((!cpu_detail::conv_s1<6, 10, 1, 0, Shape<6, 5, 7>>::pointwise_in_place || cpu_detail::W != 8));
    STATIC_REQUIRE(!cpu_detail::conv_s1<6, 10, 1, 0, Shape<6, 32, 32>>::pointwise);
    check_fused_net<Pointwise5BN>(12);
    check_fused_net<Pointwise32BN>(13);
    check_fused_net<PointwiseBN>(10);
}

namespace {
using ResBody = Chain<Conv<8, 8, 3, 1, 1>, BatchNorm<8>, ReLU, Conv<8, 8, 3, 1, 1>, BatchNorm<8>>;
using ResNetBlock = Sequential<Input<8, 10, 9>, Residual<ResBody>, ReLU, Flatten, Linear<720, 4>>;
}  // namespace

TEST_CASE("cpu Conv+BatchNorm fusion inside a Residual block matches the reference; inference allocates nothing",
          "[simd][fusion][conv_bn][blocks]") {
    // the Chain's children are planned with the same groups
    STATIC_REQUIRE(plan<Shape<8, 10, 9>, Conv<8, 8, 3, 1, 1>, BatchNorm<8>, ReLU, Conv<8, 8, 3, 1, 1>,
                        BatchNorm<8>>::groups<cpu, false> == std::array<std::size_t, 5>{3, 0, 0, 2, 0});
    check_fused_net<ResNetBlock>(11);
    // and after warm_up a forward allocates nothing
    const thread_count_guard guard;
    ResNetBlock net(12);
    perturb_batchnorm(net, 13);
    const auto x = random_vec(3 * ResNetBlock::input_size, 14);
    std::vector<float> y(3 * ResNetBlock::output_size);
    for (std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        net.warm_up<cpu>();
        const long before = ctnn_test::heap_allocations();
        net.forward<cpu>(x.data(), y.data(), 3);
        net.forward<cpu>(x.data(), y.data(), 1);
        CHECK(ctnn_test::heap_allocations() == before);
    }
}

TEST_CASE("cpu Conv+BatchNorm fusion follows changes of the running statistics and of the weights",
          "[simd][fusion][conv_bn]") {
    // the Conv's prepared (Winograd) weights are cached between calls; the BatchNorm's
    // coefficients are not: a change of either must show in the next forward
    Wino4BN net(21);
    perturb_batchnorm(net, 22);
    const auto x = random_vec(2 * Wino4BN::input_size, 23);
    std::vector<float> got(2 * Wino4BN::output_size), want(got.size());
    const auto compare = [&](const char* when) {
        INFO(when);
        net.forward<cpu>(x.data(), got.data(), 2);
        net.forward<reference>(x.data(), want.data(), 2);
        check_close(got, want, "fused vs reference");
    };
    compare("first");
    net.buffers()[3] += 0.25f;                   // running_mean of channel 3
    net.buffers()[12 + 5] *= 3.0f;               // running_var of channel 5
    compare("after the running statistics changed");
    net.params()[0] -= 0.5f;                     // a Conv weight
    net.params(1)[2] = -net.params(1)[2];        // a BatchNorm weight
    compare("after the weights changed");
}
