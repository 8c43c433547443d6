// ctnn -> PyTorch with blocks: trains a net made of Residual (identity and projection shortcut,
// BatchNorm inside), Concat, nested Chain and the newer layers (GELU, Hardswish, Hardsigmoid,
// SiLU, SqueezeExcite, ConvTranspose, Upsample; strided, depthwise (stride 1 and 2) and grouped
// Convs) for a few steps, then writes DIR/blocks_net.safetensors, DIR/blocks_io.safetensors (a
// probe batch and ctnn's outputs in eval mode) and DIR/blocks_names.txt (ctnn's tensor names, in
// order) for tools/safetensors_to_torch.py --io --names (tests/interop/CMakeLists.txt).
//
//   ctnn_interop_blocks DIR
#include <ctnn/io.hpp>
#include <ctnn/train.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

using namespace ctnn;

using BlocksNet = Sequential<Input<3, 16, 16>,
    Conv<3, 8, 3, 1, 1>, BatchNorm<8>, GELU,
    // identity shortcut
    Residual<Chain<Conv<8, 8, 3, 1, 1>, BatchNorm<8>, ReLU, Conv<8, 8, 3, 1, 1>, BatchNorm<8>>>, ReLU,
    // projection shortcut (stride 2, 1x1 Conv + BatchNorm)
    Residual<Chain<Conv<8, 16, 3, 2, 1>, BatchNorm<16>, Hardswish, Conv<16, 16, 3, 1, 1>, BatchNorm<16>>,
             Chain<Conv<8, 16, 1, 2, 0>, BatchNorm<16>>>,
    // nested Chain: 1x1 Conv, depthwise Conv, SqueezeExcite, in an inverted residual
    Residual<Chain<Chain<Conv<16, 8, 1>, BatchNorm<8>, Hardswish>, Conv<8, 8, 3, 1, 1, 1, 8>, BatchNorm<8>, Hardswish,
                   SqueezeExcite<8, 2>, Conv<8, 16, 1>>>,
    // back to 16x16 three ways: ConvTranspose, Upsample, Conv then Upsample
    Concat<Chain<ConvTranspose<16, 4, 2, 2, 0, 0>, SiLU>, Upsample<2>, Chain<Conv<16, 4, 3, 1, 1>, Hardsigmoid, Upsample<2>, Identity>>,
    // depthwise with stride 2, then grouped (2 groups); the output is a feature map, not pooled
    // nor squashed: every value is compared, so a wrong weight shows
    Conv<24, 24, 3, 2, 1, 1, 24>, ReLU, Conv<24, 6, 3, 1, 1, 1, 2>>;

static_assert(std::is_same_v<BlocksNet::output_shape, Shape<6, 8, 8>>);

int main(int argc, char** argv) try {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    std::filesystem::create_directories(dir);
    BlocksNet net(2026);
    constexpr std::size_t n = 6;
    rng g(31);
    std::vector<float> x(n * BlocksNet::input_size), target(n * BlocksNet::output_size);
    for (float& v : x) v = g.uniform(-3.0f, 3.0f);
    for (float& v : target) v = g.uniform(-1.0f, 1.0f);
    SGD opt(net, 0.05f);
    float first = 0, last = 0;
    for (int step = 0; step < 8; ++step) {  // (running statistics and weights away from their init)
        last = train_step(net, opt, MSE{}, x.data(), target.data(), n);
        if (step == 0) first = last;
    }
    std::printf("%s\nMSE %.5f -> %.5f after 8 SGD steps\n", BlocksNet::summary().c_str(), first, last);
    if (!(last < first)) {
        std::fprintf(stderr, "ctnn_interop_blocks: the loss did not fall\n");
        return 1;
    }
    save_safetensors(net, dir + "/blocks_net.safetensors");
    constexpr std::size_t m = 7;
    std::vector<float> probe(m * BlocksNet::input_size), y(m * BlocksNet::output_size);
    for (float& v : probe) v = g.uniform(-3.0f, 3.0f);
    net.forward(probe.data(), y.data(), m);
    const std::vector<safetensors::tensor_view> io = {{"input", {m, 3, 16, 16}, probe.data()}, {"output", {m, 6, 8, 8}, y.data()}};
    safetensors::save(dir + "/blocks_io.safetensors", io, {{"producer", "ctnn_interop_blocks"}});
    // the names ctnn gives its tensors, in its order, for the script's order check
    std::FILE* f = std::fopen((dir + "/blocks_names.txt").c_str(), "w");
    if (!f) throw error("cannot write " + dir + "/blocks_names.txt");
    net.for_each_tensor([&](const std::string& name, const tensor_desc&, const float*, tensor_kind) { std::fprintf(f, "%s\n", name.c_str()); });
    std::fclose(f);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "ctnn_interop_blocks: %s\n", e.what());
    return 1;
}
