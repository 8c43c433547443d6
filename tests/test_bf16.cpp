// bf16 inference (include/ctnn/bf16.hpp): rounding, the GEMM path compiled in against the scalar
// reference (the same bits: same summation order, exact products), whole nets on cpu_bf16
// against reference_bf16 at awkward sizes on 1, 2 and 3 threads, bf16_net's conversion, its
// allocation-free forward, and its safetensors save/load.
#include "heap_counter.hpp"
#include "simd_helpers.hpp"

#include <ctnn/bf16.hpp>

#include <bit>
#include <cstring>
#include <filesystem>

using namespace ctnn;

namespace {

namespace b16 = ctnn::bf16_detail;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// odd channel counts and maps, stride 2, a 1x1 conv, dilation, an odd Linear width
using OddNet = Sequential<Input<5, 9, 7>, Conv<5, 7, 3, 1, 1>, ReLU, MaxPool<2>, Conv<7, 9, 3, 2, 1>, ReLU,
                          Conv<9, 3, 1, 1, 0>, Conv<3, 11, 3, 1, 2, 2>, Flatten, Linear<44, 13>, ReLU, Linear<13, 3>>;
// maps wide enough for the vectorised packing rows, with tails (19 = 16 + 3, 9 = 8 + 1)
using WideNet = Sequential<Input<3, 13, 19>, Conv<3, 6, 3, 1, 1>, ReLU, MaxPool<2>, Conv<6, 5, 3, 1, 0>, ReLU, Flatten,
                           Linear<140, 6>>;
// a conv large enough that a lone sample splits its output channels over threads (13 = 4+4+5)
using SplitNet = Sequential<Input<16, 17, 15>, Conv<16, 13, 3, 1, 1>, ReLU, MaxPool<2>, Flatten, Linear<728, 5>>;
// Conv + BatchNorm (+ ReLU) groups, a residual block with a strided projection, a depthwise conv
// (no bf16 kernel: fp32 fallback), global pooling
using BnNet = Sequential<Input<3, 11, 9>, Conv<3, 12, 3, 1, 1>, BatchNorm<12>, ReLU,
                         Chain<Residual<Chain<Conv<12, 10, 3, 2, 1>, BatchNorm<10>, ReLU, Conv<10, 10, 3, 1, 1>, BatchNorm<10>>,
                                        Chain<Conv<12, 10, 1, 2, 0>, BatchNorm<10>>>,
                               ReLU>,
                         Conv<10, 10, 3, 1, 1, 1, 10>, GlobalAvgPool, Linear<10, 4>>;

/// Random running statistics, so the BatchNorms are not near identities.
template <class Net>
void randomize_buffers(Net& net, std::uint64_t seed) {
    rng g(seed);
    net.for_each_tensor([&](const std::string&, const tensor_desc& d, float* p, tensor_kind) {
        if (d.name == "running_mean" || d.name == "bias")
            for (std::size_t i = 0; i < d.size(); ++i) p[i] = g.uniform(-0.5f, 0.5f);
        if (d.name == "running_var")
            for (std::size_t i = 0; i < d.size(); ++i) p[i] = g.uniform(0.5f, 2.0f);
    });
}

template <class Net>
std::vector<float> run(Net& net, const std::vector<float>& x, std::size_t n, bool reference) {
    std::vector<float> y(n * Net::output_size, std::nanf(""));
    if (reference) net.template forward<reference_bf16>(x.data(), y.data(), n);
    else net.template forward<cpu_bf16>(x.data(), y.data(), n);
    return y;
}

}  // namespace

TEST_CASE("bf16 rounding: nearest, ties to even, NaN and infinity kept", "[bf16]") {
    const auto r = [](std::uint32_t u) { return b16::round(std::bit_cast<float>(u)); };
    CHECK(r(0x3F800000u) == 0x3F80);  // 1.0 exact
    CHECK(r(0x3F808000u) == 0x3F80);  // tie, to the even 0x3F80
    CHECK(r(0x3F818000u) == 0x3F82);  // tie, to the even 0x3F82
    CHECK(r(0x3F808001u) == 0x3F81);  // above the tie
    CHECK(r(0xBF80FFFFu) == 0xBF81);  // negative, rounds away in magnitude
    CHECK(r(0x7F800000u) == 0x7F80);  // +inf
    CHECK(r(0x7F7FFFFFu) == 0x7F80);  // FLT_MAX rounds to +inf
    CHECK(std::isnan(b16::widen(r(0x7F800001u))));  // a NaN whose payload is in the low half stays NaN
    CHECK(b16::widen(0x4049) == std::bit_cast<float>(0x40490000u));
}

TEST_CASE("bf16 packing rows: the compiled path gives the scalar loops' bits, specials included", "[bf16]") {
    std::vector<float> x = random_vec(37, 3, -3.0f, 3.0f);
    const std::uint32_t specials[] = {0x3F808000u, 0x3F818000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7F800001u,
                                      0xFFFFFFFFu, 0x7F7FFFFFu, 0x00000001u, 0x80008000u, 0x00018000u};
    for (std::size_t i = 0; i < std::size(specials); ++i) x[3 * i + 1] = std::bit_cast<float>(specials[i]);
    for (std::size_t n : {1, 7, 8, 9, 16, 37}) {
        std::vector<b16::bf16_t> got(n + 1, 0xABCD), odd(n);
        b16::round_row(x.data(), got.data(), n);
        for (std::size_t i = 0; i < n; ++i) {
            INFO("n " << n << ", i " << i);
            CHECK(got[i] == b16::round(x[i]));
            odd[i] = b16::bf16_t(i * 977);
        }
        CHECK(got[n] == 0xABCD);  // nothing written past n
        std::vector<std::uint32_t> pairs(n + 1, 7), half(n);
        b16::pair_row(got.data(), odd.data(), pairs.data(), n);
        b16::pair_row(got.data(), nullptr, half.data(), n);
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(pairs[i] == b16::pair(got[i], odd[i]));
            CHECK(half[i] == b16::pair(got[i], 0));
        }
        CHECK(pairs[n] == 7u);
    }
}

TEST_CASE("bf16 GEMM: the compiled path gives the reference's bits at awkward sizes", "[bf16]") {
    INFO("path: " << b16::path_name);
    std::uint64_t seed = 1;
    for (std::size_t M : {1, 3, 5, 7, 9, 13})
        for (std::size_t K : {1, 3, 16, 17, 33})
            for (std::size_t N : {16, 32, 48}) {
                const auto w = random_vec(M * K, seed++), x = random_vec(K * N, seed++), bias = random_vec(M, seed++);
                const std::size_t Kp = b16::pairs(K);
                std::vector<std::uint32_t> a2(M * Kp), b(Kp * N);
                std::vector<float> packed(b16::a_words(M, K));
                b16::pack_a(w.data(), M, K, packed.data());
                for (std::size_t m = 0; m < M; ++m)
                    for (std::size_t p = 0; p < Kp; ++p)
                        a2[m * Kp + p] = b16::pair(b16::round(w[m * K + 2 * p]), 2 * p + 1 < K ? b16::round(w[m * K + 2 * p + 1]) : 0);
                for (std::size_t p = 0; p < Kp; ++p)
                    for (std::size_t j = 0; j < N; ++j)
                        b[p * N + j] = b16::pair(b16::round(x[2 * p * N + j]), 2 * p + 1 < K ? b16::round(x[(2 * p + 1) * N + j]) : 0);
                std::vector<float> want(M * N), got(M * N, std::nanf(""));
                b16::gemm_reference(a2.data(), b.data(), Kp, N, 0, M, N, bias.data(), want.data(), N);
                b16::gemm(packed.data(), b.data(), Kp, N, 0, M, N, bias.data(), got.data(), N);
                INFO("M " << M << " K " << K << " N " << N);
                CHECK(same_bits(got, want));
            }
}

template <class Net>
void check_same_bits(std::uint64_t seed) {
    const thread_count_guard guard;
    Net net(seed);
    randomize_buffers(net, seed + 1);
    for (std::size_t n : {1, 3}) {
        const auto x = random_vec(n * Net::input_size, seed + 2 + n);
        const auto want = run(net, x, n, true);
        std::vector<float> fp32(want.size());
        net.template forward<reference>(x.data(), fp32.data(), n);
        check_close(want, fp32, "bf16 reference vs fp32 reference", 3e-2);  // bf16: 8 significant bits
        for (std::size_t threads : {1, 2, 3}) {
            set_num_threads(threads);
            INFO("batch " << n << ", threads " << threads << ", path " << b16::path_name);
            CHECK(same_bits(run(net, x, n, false), want));
        }
    }
}

TEST_CASE("cpu_bf16 gives reference_bf16's bits on odd shapes, batch 1 and 3, 1 to 3 threads", "[bf16][threads]") {
    check_same_bits<OddNet>(7);
    check_same_bits<WideNet>(17);
    check_same_bits<SplitNet>(27);
}

TEST_CASE("cpu_bf16 with Conv + BatchNorm groups and blocks: close to reference_bf16, same bits on 1 to 3 threads", "[bf16][threads]") {
    const thread_count_guard guard;
    BnNet net(3);
    randomize_buffers(net, 4);
    for (std::size_t n : {1, 3, 70}) {  // (70: more than one inference tile on some nets)
        const auto x = random_vec(n * BnNet::input_size, 5 + n);
        const auto want = run(net, x, n, true);
        std::vector<float> fp32(want.size());
        net.forward<reference>(x.data(), fp32.data(), n);
        check_close(want, fp32, "bf16 reference vs fp32 reference", 3e-2);
        std::vector<float> first;
        for (std::size_t threads : {1, 2, 3}) {
            set_num_threads(threads);
            INFO("batch " << n << ", threads " << threads);
            const auto got = run(net, x, n, false);
            // the fused BatchNorm is one fma where the reference multiplies and adds
            check_close(got, want, "cpu_bf16 vs reference_bf16", 1e-5);
            if (first.empty()) first = got;
            else CHECK(same_bits(got, first));
        }
    }
}

TEST_CASE("bf16_net: weights rounded once, biases and statistics kept, forward allocates nothing", "[bf16][alloc]") {
    BnNet net(11);
    randomize_buffers(net, 12);
    const bf16_net<BnNet> b(net);
    std::size_t rounded = 0, kept = 0;
    const auto p0 = net.params();
    const auto p1 = b.values().params();
    b.values().for_each_tensor([&](const std::string& name, const tensor_desc& d, const float* p, tensor_kind k) {
        const float* q = p0.data() + (p - p1.data());
        for (std::size_t i = 0; i < d.size(); ++i) {
            if (k == tensor_kind::parameter && d.name == "weight" && d.rank >= 2) {
                INFO(name);
                CHECK(p[i] == b16::rounded(q[i]));
                ++rounded;
            } else if (k == tensor_kind::parameter) {
                CHECK(std::bit_cast<std::uint32_t>(p[i]) == std::bit_cast<std::uint32_t>(q[i]));
                ++kept;
            }
        }
    });
    CHECK(rounded > 0);
    CHECK(kept > 0);
    CHECK(std::equal(net.buffers().begin(), net.buffers().end(), b.values().buffers().begin()));

    // where every weight has a bf16 kernel, the conversion computes what cpu_bf16 computes on
    // the fp32 net (its kernels round the same; BnNet's depthwise conv runs fp32 on rounded weights)
    OddNet odd(14);
    bf16_net<OddNet> o = to_bf16(odd);
    const auto xo = random_vec(5 * OddNet::input_size, 15);
    std::vector<float> yo(5 * OddNet::output_size), zo(yo.size());
    o.forward(xo.data(), yo.data(), 5);
    odd.forward<cpu_bf16>(xo.data(), zo.data(), 5);
    CHECK(same_bits(yo, zo));
    odd.forward_train<cpu_bf16>(xo.data(), 5);
    CHECK_THROWS_AS(odd.backward<cpu_bf16>(zo.data()), ctnn::error);  // inference only

    bf16_net<BnNet> c = to_bf16(net);
    const auto x = random_vec(5 * BnNet::input_size, 13);
    std::vector<float> y(5 * BnNet::output_size);

    CTNN_NEEDS_HEAP_COUNT();
    const thread_count_guard guard;
    set_num_threads(2);
    c.warm_up();
    const long before = ctnn_test::heap_allocations();
    for (std::size_t n : {1, 5}) c.forward(x.data(), y.data(), n);
    CHECK(ctnn_test::heap_allocations() == before);
}

TEST_CASE("bf16_net save/load: BF16 tensors, exact round trip, another net's file refused", "[bf16][io]") {
    const std::string dir = (std::filesystem::temp_directory_path() / "ctnn_test_bf16").string();
    std::filesystem::create_directories(dir);
    BnNet net(21);
    randomize_buffers(net, 22);
    const bf16_net<BnNet> b(net);
    b.save(dir + "/b.safetensors");

    const safetensors::file f = safetensors::file::read(dir + "/b.safetensors");
    std::size_t bf16s = 0;
    for (const auto& t : f.tensors()) {
        INFO(t.name);
        if (t.name.ends_with(".weight") && t.shape.size() >= 2) {
            CHECK(t.type == safetensors::dtype::BF16);
            ++bf16s;
        } else {
            CHECK(t.type != safetensors::dtype::BF16);
        }
    }
    CHECK(bf16s == 6);

    bf16_net<BnNet> c;
    c.load(dir + "/b.safetensors");
    CHECK(std::equal(b.values().params().begin(), b.values().params().end(), c.values().params().begin()));
    CHECK(std::equal(b.values().buffers().begin(), b.values().buffers().end(), c.values().buffers().begin()));

    // the fp32 net's own file converts as the constructor does
    save_safetensors(net, dir + "/fp32.safetensors");
    bf16_net<BnNet> d;
    d.load(dir + "/fp32.safetensors");
    CHECK(std::equal(b.values().params().begin(), b.values().params().end(), d.values().params().begin()));

    // another net's file: an error naming the file, nothing changed
    bf16_net<OddNet> e(OddNet(1));
    const std::vector<float> before(e.values().params().begin(), e.values().params().end());
    CHECK_THROWS_AS(e.load(dir + "/b.safetensors"), ctnn::error);
    CHECK(std::equal(before.begin(), before.end(), e.values().params().begin()));
    std::filesystem::remove_all(dir);
}
