// Finite-difference gradient checks through whole nets: the method and its tolerances are
// described in gradcheck.hpp.
#include <catch2/catch.hpp>

#include <ctnn/ctnn.hpp>

#include "../examples/custom_layers.hpp"
#include "gradcheck.hpp"

using namespace ctnn;
using namespace ctnn_test;


// Steps: 1e-2 where the net is smooth; 1e-3 (3e-4 for the seed CNN, whose 16 k ReLUs per sample sit
// densely around zero) where kinks make larger steps average over them.

TEST_CASE("gradcheck: Conv, Tanh, AvgPool, Dropout, Flatten, Linear", "[gradcheck]") {
    using Net = Sequential<Input<2, 9, 8>, Conv<2, 4, 3, 1, 1>, Tanh, AvgPool<2>, Flatten, Dropout<25>,
                           Linear<4 * 4 * 4, 5>>;
    const auto r = check_net<Net>("conv-tanh-avgpool", 3, 10, 1, 1e-2f);
    CHECK(r.failed == 0);
    CHECK(r.skipped == 0);
    CHECK(r.checked == 10 + 4 + 10 + 5 + 10);  // conv weight, conv bias, linear weight, linear bias, input
}

TEST_CASE("gradcheck: BatchNorm (training, 2-d and 1-d) and Sigmoid", "[gradcheck]") {
    using Net = Sequential<Input<3, 6, 5>, Conv<3, 4, 3, 2, 1>, BatchNorm<4>, Sigmoid, Flatten,
                           Linear<4 * 3 * 3, 6>, BatchNorm<6>, Sigmoid, Linear<6, 3>>;
    Net net(2);
    // non-trivial BatchNorm weights and biases, so gamma and beta matter
    rng g(3);
    for (std::size_t layer : {1u, 6u}) {
        auto p = net.params(layer);
        for (std::size_t i = 0; i < p.size(); ++i) p[i] = i < p.size() / 2 ? g.uniform(0.5f, 1.5f) : g.uniform(-0.5f, 0.5f);
    }
    gradcheck<Net> gc(net, 4, 2, 1e-2f, 2.0f);
    const auto r = gc.run("batchnorm-sigmoid", 8);
    CHECK(r.failed == 0);
    CHECK(r.skipped == 0);
    CHECK(r.checked == 8 + 4 + 4 + 4 + 8 + 6 + 6 + 6 + 8 + 3 + 8);
}

TEST_CASE("gradcheck: Softmax over channels and flat, GlobalAvgPool", "[gradcheck]") {
    using Net = Sequential<Input<3, 4, 5>, Conv<3, 6, 3, 1, 1>, Softmax, Conv<6, 5, 1>, GlobalAvgPool,
                           Linear<5, 7>, Softmax>;
    // weights 3x PyTorch's default, so the softmaxes see logits of a few units, not near-uniform
    const auto r = check_net<Net>("softmax-gap", 3, 8, 4, 1e-2f, 1.0f, 3.0f);
    CHECK(r.failed == 0);
    CHECK(r.skipped == 0);
    CHECK(r.checked == 8 + 6 + 8 + 5 + 8 + 7 + 8);
}

TEST_CASE("gradcheck: LeakyReLU (slopes 0.2 and 0.01)", "[gradcheck]") {
    using Net = Sequential<Input<12>, Linear<12, 10>, LeakyReLU<1, 5>, Linear<10, 8>, LeakyReLU<>, Linear<8, 4>>;
    const auto r = check_net<Net>("leaky-relu", 5, 10, 5, 1e-3f);
    check_kinked(r);
    CHECK(r.total() == 10 + 10 + 10 + 8 + 10 + 4 + 10);
}

TEST_CASE("gradcheck: LeakyReLU and overlapping MaxPool windows", "[gradcheck]") {
    using Net = Sequential<Input<2, 9, 10>, Conv<2, 3, 3>, LeakyReLU<1, 5>, MaxPool<3, 2>, Flatten, Linear<3 * 3 * 3, 4>>;
    Net net(6);
    // Conv biases of -1 make many 3x3 windows all negative, so the slope below zero matters
    for (std::size_t i = 2 * 3 * 3 * 3; i < net.params(0).size(); ++i) net.params(0)[i] = -1.0f;
    gradcheck<Net> gc(net, 3, 6, 1e-3f);
    const auto r = gc.run("leaky-maxpool", 10);
    check_kinked(r);
    CHECK(r.total() == 10 + 3 + 10 + 4 + 10);
}

TEST_CASE("gradcheck: the seed CNN (ReLU, MaxPool)", "[gradcheck]") {
    using SeedNet = Sequential<Input<3, 32, 32>,
        Conv<3, 16, 3, 1, 1>, ReLU, MaxPool<2>,
        Conv<16, 32, 3, 1, 1>, ReLU, MaxPool<2>,
        Flatten, Linear<32 * 8 * 8, 10>>;
    const auto r = check_net<SeedNet>("seed-cnn", 2, 12, 7, 3e-4f);
    check_kinked(r);
    CHECK(r.total() == 6 * 12 + 10);  // the Linear bias has 10 elements
}

TEST_CASE("gradcheck: layers defined outside ctnn (examples/custom_layers.hpp)", "[gradcheck][user_layer]") {
    using Net = Sequential<Input<2, 5, 6>, Conv<2, 4, 3, 1, 1>, my::ChannelScale<4>, my::Swish, Flatten,
                           Linear<4 * 5 * 6, 6>, my::ChannelScale<6>, my::Swish, Linear<6, 3>>;
    Net net(4);
    rng g(5);  // scales and shifts away from 1 and 0, so both gradients matter
    for (std::size_t layer : {1u, 5u}) {
        auto p = net.params(layer);
        for (std::size_t i = 0; i < p.size(); ++i) p[i] = i < p.size() / 2 ? g.uniform(0.5f, 2.0f) : g.uniform(-0.5f, 0.5f);
    }
    gradcheck<Net> gc(net, 3, 4, 1e-2f);
    const auto r = gc.run("user-layers", 8);
    CHECK(r.failed == 0);
    CHECK(r.skipped == 0);
    CHECK(r.checked == 8 + 4 + 4 + 4 + 8 + 6 + 6 + 6 + 8 + 3 + 8);
}
