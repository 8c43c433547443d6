// Blocks (Chain, Residual, Concat, Identity): forward, backward and running statistics against
// PyTorch (golden files from tools/make_reference.py, whose Residual and Concat modules are
// what a PyTorch user writes: attributes body/shortcut, an nn.ModuleList), on the reference and
// the default backend; finite-difference gradients; tensor names and counts; a frozen block; the
// same results for 1, 2 and 3 threads; no allocation in inference after warm_up.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>

#include "golden_check.hpp"
#include "gradcheck.hpp"
#include "heap_counter.hpp"
#include "simd_helpers.hpp"

using namespace ctnn;
using namespace ctnn_test;

namespace {

using BlocksNet = Sequential<Input<3, 9, 11>,
    Conv<3, 4, 3, 1, 1>, ReLU,
    Residual<Chain<Conv<4, 4, 3, 1, 1>, BatchNorm<4>, ReLU, Conv<4, 4, 3, 1, 1>>>, ReLU,
    Residual<Chain<Conv<4, 6, 3, 2, 1>, BatchNorm<6>>, Chain<Conv<4, 6, 1, 2, 0>, BatchNorm<6>>>,
    Concat<Conv<6, 2, 1>, Chain<Conv<6, 3, 3, 1, 1>, Tanh>, Identity>, MaxPool<2>,
    Flatten, Linear<11 * 2 * 3, 5>>;
using NestedNet = Sequential<Input<2, 5, 4>,
    Chain<Chain<Conv<2, 3, 3, 1, 1>, Sigmoid>, Flatten>,
    Concat<Linear<60, 4>, Chain<Linear<60, 3>, Tanh>>,
    Residual<Linear<7, 7>>, Linear<7, 2>>;

static_assert(BlocksNet::shape_at<4>::value == chw(4, 9, 11));
static_assert(BlocksNet::shape_at<5>::value == chw(6, 5, 6));
static_assert(BlocksNet::shape_at<6>::value == chw(11, 5, 6));
static_assert(BlocksNet::param_sizes[2] == (144 + 4) + 8 + (144 + 4));
static_assert(BlocksNet::buffer_sizes[4] == 2 * (6 + 6 + 1));
static_assert(NestedNet::shape_at<2>::value == flat(7));
static_assert(block<Residual<Linear<7, 7>>> && !block<Linear<7, 7>> && layer<Chain<ReLU>>);

}  // namespace

TEST_CASE("golden: blocks match PyTorch (Residual, Concat, nested Chain; BatchNorm inside)", "[golden][blocks]") {
    net_case<BlocksNet>("net_blocks_n5");
    net_case<NestedNet>("net_nested_chain_n3");
}

TEST_CASE("blocks: tensor names are PyTorch's nested module names", "[blocks]") {
    std::vector<std::string> names;
    BlocksNet net(1);
    net.for_each_tensor([&](const std::string& n, const tensor_desc&, const float*, tensor_kind) { names.push_back(n); });
    const std::vector<std::string> some = {"2.body.0.weight", "2.body.1.running_var", "2.body.3.bias", "4.shortcut.0.weight",
                                           "4.shortcut.1.num_batches_tracked", "5.0.weight", "5.1.0.bias", "8.weight"};
    for (const auto& s : some) CHECK(std::find(names.begin(), names.end(), s) != names.end());
    CHECK(names.size() == 2 + (2 + 5 + 2) + (2 + 5 + 2 + 5) + (2 + 2) + 2);  // conv, residuals, concat, linear
    std::vector<std::string> nested;
    NestedNet(2).for_each_tensor([&](const std::string& n, const tensor_desc&, const float*, tensor_kind) { nested.push_back(n); });
    CHECK(nested == std::vector<std::string>{"0.0.0.weight", "0.0.0.bias", "1.0.weight", "1.0.bias", "1.1.0.weight",
                                             "1.1.0.bias", "2.body.weight", "2.body.bias", "3.weight", "3.bias"});
}

TEST_CASE("gradcheck: Residual (identity and projection), Concat, nested Chain", "[gradcheck][blocks]") {
    using Net = Sequential<Input<2, 6, 5>, Conv<2, 3, 3, 1, 1>, Tanh,
                           Residual<Chain<Conv<3, 3, 3, 1, 1>, BatchNorm<3>, Sigmoid>>,
                           Residual<Chain<Conv<3, 4, 3, 2, 1>, Tanh>, Conv<3, 4, 1, 2, 0>>,
                           Concat<Chain<Conv<4, 2, 1>, Sigmoid>, Identity, Chain<AvgPool<1>, Conv<4, 1, 3, 1, 1>>>,
                           Flatten, Linear<7 * 3 * 3, 3>>;
    Net net(5);
    gradcheck<Net> gc(net, 3, 5, 1e-2f);
    const auto r = gc.run("blocks", 8);
    CHECK(r.failed == 0);
    CHECK(r.skipped == 0);
    // tensors: conv 2, body conv 2 + bn 2, body conv 2 + shortcut conv 2, branch convs 2 + 2,
    // linear 2 = 18 tensors, 8 samples each unless smaller, and the input
    std::size_t want = 0;
    net.for_each_tensor([&](const std::string&, const tensor_desc& d, const float*, tensor_kind k) {
        if (k == tensor_kind::parameter) want += std::min<std::size_t>(d.size(), 8);
    });
    CHECK(r.checked == want + 8);
}

TEST_CASE("blocks: a frozen block has no gradients and passes dx through", "[blocks]") {
    using Block = Residual<Chain<Conv<3, 3, 3, 1, 1>, ReLU>>;
    using Net = Sequential<Input<3, 5, 5>, Conv<3, 3, 1>, Frozen<Block>, Flatten, Linear<75, 2>>;
    using Free = Sequential<Input<3, 5, 5>, Conv<3, 3, 1>, Block, Flatten, Linear<75, 2>>;
    static_assert(Net::grad_count == Free::grad_count - Free::param_sizes[1]);
    Net net(3);
    Free free(3);
    std::copy(net.params().begin(), net.params().end(), free.params().begin());
    const auto x = random_vec(4 * Net::input_size, 11);
    const std::vector<float> dy(4 * 2, 0.5f);
    net.zero_grad();
    free.zero_grad();
    net.forward_train<reference>(x.data(), 4);
    free.forward_train<reference>(x.data(), 4);
    net.backward<reference>(dy.data());
    free.backward<reference>(dy.data());
    // the first Conv's gradient flows through the frozen block unchanged
    for (std::size_t i = 0; i < Net::param_sizes[0]; ++i) CHECK(net.grads()[i] == free.grads()[i]);
}

TEST_CASE("blocks: the default backend matches the reference with 1, 2 and 3 threads; inference allocates nothing after warm_up",
          "[blocks][threads][alloc]") {
    const std::size_t saved_threads = num_threads();
    BlocksNet net(7);
    for (float& b : net.buffers()) b = std::abs(b) + 0.5f;  // running statistics away from the initial ones
    const std::size_t n = 9;
    const auto x = random_vec(n * BlocksNet::input_size, 3);
    std::vector<float> want(n * BlocksNet::output_size);
    net.forward<reference>(x.data(), want.data(), n);
    for (std::size_t t : {1, 2, 3}) {
        set_num_threads(t);
        std::vector<float> got(want.size(), std::nanf(""));
        net.warm_up();
        const long before = heap_allocations();
        net.forward(x.data(), got.data(), n);
        const long during = heap_allocations() - before;
        INFO("threads " << t);
        CHECK(during == 0);
        double worst = 0;
        for (std::size_t i = 0; i < got.size(); ++i) {
            const double e = std::abs(double(got[i]) - want[i]) / std::max(1.0, std::abs(double(want[i])));
            if (!(e <= worst)) worst = e;
        }
        CHECK(worst <= 1e-5);
    }
    set_num_threads(saved_threads);
}

TEST_CASE("blocks: summary shows each block and its children", "[blocks]") {
    const std::string s = BlocksNet::summary();
    CHECK(s.find("Residual") != std::string::npos);
    CHECK(s.find("body.0") != std::string::npos);
    CHECK(s.find("shortcut.1") != std::string::npos);
    CHECK(s.find("Total params: ") != std::string::npos);
}
