// Layers defined outside include/ (examples/custom_layers.hpp, as a user writes them): in a
// Sequential with ctnn's layers they run forward on every host backend, train, round-trip through
// safetensors with their description in the metadata, and appear in summary(). Their gradients
// are checked by finite differences in test_gradcheck.cpp, and PyTorch rebuilds the net from the
// file in tests/interop (tools/safetensors_to_torch.py --modules examples/custom_layers.py).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>
#include <string>
#include <vector>

#include <ctnn/io.hpp>
#include <ctnn/train.hpp>

#include "../examples/custom_layers.hpp"
#include "simd_helpers.hpp"

namespace {

using namespace ctnn;
namespace fs = std::filesystem;

using UserNet = Sequential<Input<3, 8, 8>, Conv<3, 6, 3, 1, 1>, my::ChannelScale<6>, my::Swish, MaxPool<2>, Flatten,
                           Linear<6 * 4 * 4, 12>, my::ChannelScale<12>, my::Swish, Linear<12, 3>>;
static_assert(UserNet::param_count == (6 * 3 * 9 + 6) + 12 + (96 * 12 + 12) + 24 + (12 * 3 + 3));
static_assert(std::is_same_v<UserNet::shape_at<2>, Shape<6, 8, 8>>);
static_assert(activation<my::Swish> && !activation<my::ChannelScale<4>>);

std::vector<float> random_input(std::size_t n, std::uint64_t seed) { return random_vec(n, seed, -2.0f, 2.0f); }

}  // namespace

TEST_CASE("user layers: the kernels compute what the layers say, on every host backend", "[user_layer]") {
    // Swish is x sigmoid(x); ChannelScale is w[c] x + b[c]
    using Net = Sequential<Input<2, 1, 3>, my::ChannelScale<2>, my::Swish>;
    Net net(0);
    net.params()[0] = 2.0f, net.params()[1] = -1.0f, net.params()[2] = 0.5f, net.params()[3] = 0.25f;
    const std::vector<float> x = {1, -2, 3, 0.5f, 1.5f, -4};
    std::vector<float> want(6), got_cpu(6), got_ref(6);
    for (std::size_t i = 0; i < 6; ++i) {
        const float s = i < 3 ? 2.0f * x[i] + 0.5f : -1.0f * x[i] + 0.25f;
        want[i] = float(double(s) / (1.0 + std::exp(-double(s))));
    }
    net.forward<cpu>(x.data(), got_cpu.data(), 1);
    net.forward<reference>(x.data(), got_ref.data(), 1);
    for (std::size_t i = 0; i < 6; ++i) {
        CHECK(got_ref[i] == Approx(want[i]).epsilon(1e-6));
        CHECK(got_cpu[i] == Approx(want[i]).epsilon(1e-6));
    }
}

TEST_CASE("user layers: the cpu kernels match the reference at awkward sizes and thread counts", "[user_layer]") {
    const thread_count_guard guard;
    for (std::size_t threads : {1, 2, 3}) {
        set_num_threads(threads);
        for (std::size_t n : {1, 3, 17}) {
            compare_layer<my::ChannelScale<5>, Shape<5, 7, 3>>(n, 100 + n);
            compare_layer<my::ChannelScale<13>, Shape<13>>(n, 110 + n);
            compare_layer<my::Swish, Shape<3, 5, 11>>(n, 120 + n);
        }
    }
}

TEST_CASE("user layers: a net with them trains, and cpu training matches the reference", "[user_layer][train]") {
    constexpr std::size_t batch = 16;
    const auto x = random_input(batch * UserNet::input_size, 5);
    std::vector<std::int32_t> labels(batch);
    for (std::size_t i = 0; i < batch; ++i) labels[i] = std::int32_t(i % 3);
    UserNet a(3), b(3);
    Adam oa(a, 1e-2f), ob(b, 1e-2f);
    float first = 0, last = 0;
    for (int step = 0; step < 40; ++step) {
        last = train_step<cpu>(a, oa, CrossEntropy{}, x.data(), labels.data(), batch);
        const float lb = train_step<reference>(b, ob, CrossEntropy{}, x.data(), labels.data(), batch);
        if (step == 0) {
            first = last;
            CHECK(last == Approx(lb).epsilon(1e-5));
        }
    }
    INFO("loss " << first << " -> " << last);
    CHECK(last < 0.25f * first);
}

TEST_CASE("user layers: safetensors round trip and their description in the metadata", "[user_layer][safetensors]") {
    const fs::path dir = fs::temp_directory_path() / ("ctnn_user_layer_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string path = (dir / "user.safetensors").string();
    UserNet a(11);
    for (float& p : a.params()) p += 0.01f;  // not the initial values
    save_safetensors(a, path);
    UserNet b(12);
    load_safetensors(b, path);
    CHECK(std::vector<float>(a.params().begin(), a.params().end()) == std::vector<float>(b.params().begin(), b.params().end()));
    const auto x = random_input(4 * UserNet::input_size, 13);
    std::vector<float> ya(4 * UserNet::output_size), yb(ya.size());
    a.forward(x.data(), ya.data(), 4);
    b.forward(x.data(), yb.data(), 4);
    CHECK(ya == yb);

    const auto f = safetensors::file::read(path);
    CHECK(f.find("1.weight")->shape == std::vector<std::size_t>{6});
    CHECK(f.find("6.bias")->shape == std::vector<std::size_t>{12});
    const auto layers = nlohmann::json::parse(f.metadata().at("ctnn_layers"));
    REQUIRE(layers.size() == UserNet::depth);
    CHECK(layers[1]["kind"] == "ChannelScale");
    CHECK(layers[1]["hparams"] == nlohmann::json{{"num_features", 6}});
    CHECK(layers[2]["kind"] == "Swish");
    CHECK(layers[0]["hparams"]["kernel_size"] == 3);
    CHECK(layers[6]["in"] == nlohmann::json{12});
    fs::remove_all(dir);
}

TEST_CASE("user layers: summary() lists them", "[user_layer]") {
    const std::string s = UserNet::summary();
    CHECK(s.find("ChannelScale(6)") != std::string::npos);
    CHECK(s.find("ChannelScale(12)") != std::string::npos);
    CHECK(s.find("Swish") != std::string::npos);
    CHECK(s.find("Total params: 1,407") != std::string::npos);
}

TEST_CASE("write a net with user layers for the PyTorch check", "[.torch_export]") {
    const char* out = std::getenv("CTNN_TORCH_CHECK_DIR");
    REQUIRE(out != nullptr);
    fs::create_directories(out);
    UserNet net(2027);
    for (float& p : net.params()) p *= 1.5f;
    save_safetensors(net, std::string(out) + "/user_net.safetensors");
    const auto probe = random_input(5 * UserNet::input_size, 34);
    std::vector<float> y(5 * UserNet::output_size);
    net.forward(probe.data(), y.data(), 5);
    const std::vector<safetensors::tensor_view> io = {{"input", {5, 3, 8, 8}, probe.data()}, {"output", {5, 3}, y.data()}};
    safetensors::save(std::string(out) + "/user_io.safetensors", io, {{"producer", "ctnn tests"}});
}
