// A batch of one on several threads (backends/cpu/conv_one_sample.hpp): a stride-1 Conv splits a
// lone sample over output channels (direct path) or over input channels and then output
// channels or tile rows (Winograd), never over a sum, so batch-1 results are the same bits for
// 1, 2 and 3 threads, and within 1e-5 of the reference. Outputs are NaN-filled first; after
// warm_up a batch-1 forward allocates nothing.
#include "heap_counter.hpp"
#include "simd_helpers.hpp"

#include <cstring>

using namespace ctnn;

namespace {

using Seed = Sequential<Input<3, 32, 32>, Conv<3, 16, 3, 1, 1>, ReLU, MaxPool<2>, Conv<16, 32, 3, 1, 1>, ReLU, MaxPool<2>,
                        Flatten, Linear<2048, 10>>;
using Fmnist = Sequential<Input<1, 28, 28>, Conv<1, 32, 5, 1, 2>, ReLU, MaxPool<2>, Conv<32, 64, 5, 1, 2>, ReLU, MaxPool<2>,
                          Flatten, Linear<3136, 1024>, ReLU, Dropout<40>, Linear<1024, 10>>;
// Winograd F(2x2) with tiles across the vector (16 x 16 -> 8 x 8 outputs: no pool) and with
// channels across it (Co 24, 7 x 7 outputs), a 3x3 stride-2 pool (the direct path), odd maps
using Odd = Sequential<Input<9, 17, 15>, Conv<9, 12, 3, 1, 1>, ReLU, MaxPool<3, 2>, Conv<12, 24, 3, 1, 0>, ReLU,
                       Conv<24, 24, 3, 1, 1>, Flatten, Linear<720, 7>>;
using Wino2 = Sequential<Input<8, 8, 8>, Conv<8, 16, 3, 1, 1>, Conv<16, 8, 3, 1, 1>, ReLU, Flatten, Linear<512, 5>>;

/// Batch 1 on 1, 2 and 3 threads: bitwise equal, close to the reference; also the training
/// forward (which runs Conv+ReLU+MaxPool fused, saving the pool's indices).
template <class Net>
void check_batch1(std::uint64_t seed, bool nan_input = false) {
    Net net(seed);
    const thread_count_guard guard;
    auto x = random_vec(Net::input_size, seed + 1);
    if (nan_input) x[Net::input_size / 3] = std::nanf("");  // (a non-finite sample takes the direct path)
    std::vector<float> ref(Net::output_size), first, first_train;
    net.template forward<reference>(x.data(), ref.data(), 1);
    for (std::size_t threads : {1, 2, 3}) {
        set_num_threads(threads);
        INFO("threads " << threads);
        std::vector<float> got(ref.size(), std::nanf(""));
        net.template forward<cpu>(x.data(), got.data(), 1);
        if (nan_input) {
            for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::isnan(got[i]) == std::isnan(ref[i]));
        } else {
            check_close(got, ref, "batch 1 cpu vs reference");
        }
        net.generator() = rng(seed);  // (the same Dropout masks each time)
        const float* t = net.template forward_train<cpu>(x.data(), 1);
        const std::vector<float> train(t, t + ref.size());
        if (first.empty()) {
            first = got;
            first_train = train;
        } else {
            CHECK(std::memcmp(first.data(), got.data(), got.size() * sizeof(float)) == 0);
            CHECK(std::memcmp(first_train.data(), train.data(), train.size() * sizeof(float)) == 0);
        }
    }
}

/// One Conv group's lone-sample split with T tasks (any T, on however many threads there are)
/// against the unsplit per-sample path, bitwise.
template <class C, class Act, class Pool>
void check_split_kernel(std::uint64_t seed) {
    constexpr std::size_t in = C::Cin * C::H * C::Wd, out = C::Cout * C::template out_h<Pool> * C::template out_w<Pool>;
    const auto x = random_vec(in, seed);
    const auto p = random_vec(C::Cout * C::Kd + C::Cout, seed + 1, -0.3f, 0.3f);
    detail::reserve_scratch(C::scratch_floats, 0);
    std::vector<float> want(out, std::nanf("")), sv_want(out, std::nanf(""));
    C::template forward_samples<Act, Pool>(x.data(), want.data(), p.data(), p.data() + C::Cout * C::Kd, 0, 1, sv_want.data());
    for (bool wino : {false, true}) {
        constexpr bool pool_ok = Pool::K == 1 || (Pool::K == 2 && Pool::S == 2);  // (Winograd's pools)
        if (wino && !(C::wino_fwd && pool_ok)) continue;
        if constexpr (C::wino_fwd && pool_ok)
            if (wino) C::template forward_samples_wino<Act, Pool>(x.data(), want.data(), p.data(), p.data() + C::Cout * C::Kd, 0, 1,
                                                                  sv_want.data());
        for (std::size_t T : {2, 3, 5}) {
            INFO("wino " << wino << ", tasks " << T);
            std::vector<float> got(out, std::nanf("")), sv(out, std::nanf(""));
            forward_args a;
            a.x = x.data(); a.y = got.data(); a.n = 1; a.params = p.data(); a.saved = sv.data();
            cpu_detail::conv_s1_one<C>::template forward<Act, Pool>(a, p.data() + C::Cout * C::Kd, wino, nullptr, T);
            CHECK(std::memcmp(got.data(), want.data(), out * sizeof(float)) == 0);
            if constexpr (cpu_detail::saves_index<Pool>) CHECK(std::memcmp(sv.data(), sv_want.data(), out * sizeof(float)) == 0);
        }
    }
}

}  // namespace

TEST_CASE("batch 1: the split of a lone sample gives the unsplit bits for any number of tasks", "[threads][batch1]") {
    using namespace cpu_detail;
    check_split_kernel<conv_s1<3, 16, 3, 1, Shape<3, 32, 32>>, relu, max_pool<2, 2>>(1);       // direct
    check_split_kernel<conv_s1<3, 16, 3, 1, Shape<3, 32, 32>>, relu, max_pool_saving>(2);      // (training)
    check_split_kernel<conv_s1<16, 32, 3, 1, Shape<16, 16, 16>>, relu, max_pool<2, 2>>(3);     // F(4x4)
    check_split_kernel<conv_s1<16, 32, 3, 1, Shape<16, 16, 16>>, relu, max_pool_saving>(4);
    check_split_kernel<conv_s1<32, 64, 5, 2, Shape<32, 14, 14>>, relu, max_pool<2, 2>>(5);     // F(4x4, 5x5)
    check_split_kernel<conv_s1<8, 16, 3, 1, Shape<8, 8, 8>>, identity, no_pool>(6);            // F(2x2)
    check_split_kernel<conv_s1<12, 24, 3, 0, Shape<12, 8, 8>>, relu, no_pool>(7);              // F(2x2), 6 x 6: tr
    check_split_kernel<conv_s1<9, 13, 3, 1, Shape<9, 11, 7>>, relu, max_pool<2, 2>>(8);        // odd channels
    check_split_kernel<conv_s1<9, 13, 3, 1, Shape<9, 11, 7>>, identity, max_pool<3, 2>>(9);    // direct, 3x3 pool
}

TEST_CASE("batch 1 on 1, 2 and 3 threads: the same bits, the reference's numbers", "[threads][batch1]") {
    check_batch1<Seed>(1);
    check_batch1<Fmnist>(2);
    check_batch1<Odd>(3);
    check_batch1<Wino2>(4);
    check_batch1<Seed>(5, true);
    check_batch1<Odd>(6, true);
}

TEST_CASE("batch 1 on 2 threads allocates nothing after warm_up", "[threads][batch1][alloc]") {
    CTNN_NEEDS_HEAP_COUNT();
    const thread_count_guard guard;
    set_num_threads(2);
    Seed seed(1);
    Fmnist fmnist(2);
    const auto x = random_vec(Seed::input_size + Fmnist::input_size, 3);
    std::vector<float> y(Fmnist::output_size);
    seed.warm_up<cpu>();
    fmnist.warm_up<cpu>();
    const long before = ctnn_test::heap_allocations();
    for (int i = 0; i < 3; ++i) {
        seed.forward<cpu>(x.data(), y.data(), 1);
        fmnist.forward<cpu>(x.data(), y.data(), 1);
    }
    CHECK(ctnn_test::heap_allocations() == before);
}
