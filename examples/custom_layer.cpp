// Layers of your own (examples/custom_layers.hpp: my::ChannelScale with parameters and a SIMD
// kernel, my::Swish an activation) in a net with ctnn's layers: summary, inference, training, and
// a safetensors round trip. docs/extending.md explains each part.
//
//   ./custom_layer [file.safetensors]
// With tools/safetensors_to_torch.py FILE --modules examples/custom_layers.py, PyTorch loads the
// saved net as an nn.Sequential.
#include <cstdio>
#include <string>
#include <vector>

#include <ctnn/io.hpp>
#include <ctnn/train.hpp>

#include "custom_layers.hpp"

using Net = ctnn::Sequential<ctnn::Input<3, 16, 16>,
    ctnn::Conv<3, 8, 3, 1, 1>, my::ChannelScale<8>, my::Swish, ctnn::MaxPool<2>,
    ctnn::Flatten, ctnn::Linear<8 * 8 * 8, 32>, my::Swish, ctnn::Linear<32, 4>>;

int main(int argc, char** argv) try {
    const std::string path = argc > 1 ? argv[1] : "custom_layer.safetensors";
    std::printf("%s\n", Net::summary().c_str());

    // a toy task: which quarter of the image is brightest
    constexpr std::size_t batch = 32;
    ctnn::rng g(1);
    std::vector<float> x(batch * Net::input_size);
    std::vector<std::int32_t> labels(batch);
    for (std::size_t n = 0; n < batch; ++n) {
        labels[n] = std::int32_t(g.below(4));
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t h = 0; h < 16; ++h)
                for (std::size_t w = 0; w < 16; ++w) {
                    const bool lit = std::size_t(labels[n]) == (h / 8) * 2 + w / 8;
                    x[((n * 3 + c) * 16 + h) * 16 + w] = g.uniform(-0.5f, 0.5f) + (lit ? 1.0f : 0.0f);
                }
    }
    Net net(7);
    ctnn::Adam opt(net, 3e-3f);
    for (int step = 0; step <= 60; ++step) {
        const auto r = ctnn::train_step_result(net, opt, ctnn::CrossEntropy{}, x.data(), labels.data(), batch);
        if (step % 20 == 0) std::printf("step %2d: loss %.4f, %zu of %zu right\n", step, r.loss, r.correct, batch);
    }

    ctnn::save_safetensors(net, path);
    Net back(0);
    ctnn::load_safetensors(back, path);
    std::vector<float> y1(batch * Net::output_size), y2(y1.size());
    net.forward(x.data(), y1.data(), batch);
    back.forward(x.data(), y2.data(), batch);
    std::printf("saved to %s and loaded back: outputs %s\n", path.c_str(), y1 == y2 ? "identical" : "DIFFER");
    return y1 == y2 ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "custom_layer: %s\n", e.what());
    return 1;
} catch (...) {
    std::fprintf(stderr, "custom_layer: failed with an unknown exception\n");
    return 1;
}
