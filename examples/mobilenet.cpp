// A small MobileNetV3-style net for 3x32x32 images (CIFAR-10) as one type: a Conv-BN-Hardswish
// stem, inverted residual blocks (1x1 expand, 3x3 depthwise, optional squeeze-and-excitation,
// 1x1 project; an identity shortcut where stride is 1 and the channels stay), a 1x1 head conv,
// global average pooling and a linear classifier. Prints the summary, runs a forward pass and
// one training step on a random batch, and saves the net to mobilenet.safetensors.
//
//   mobilenet [--names]   --names: print the tensor names (PyTorch's state_dict keys) and exit
//
// ctnn's Conv always has a bias: the count below is PyTorch's for the same net with
// nn.Conv2d(bias=True) (tools/resnet_params.py builds it; 158,636 with bias=False on every conv
// but SqueezeExcite's fc1/fc2, which keep theirs as in torchvision).
#include <ctnn/io.hpp>
#include <ctnn/train.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <type_traits>
#include <vector>

using namespace ctnn;

/// Conv (padding K/2, Groups) + BatchNorm [+ Hardswish]: torchvision's Conv2dNormActivation.
template <std::size_t Cin, std::size_t Cout, std::size_t K, std::size_t S = 1, std::size_t G = 1>
using ConvBNAct = Chain<Conv<Cin, Cout, K, S, K / 2, 1, G>, BatchNorm<Cout>, Hardswish>;
template <std::size_t Cin, std::size_t Cout>
using ConvBN = Chain<Conv<Cin, Cout, 1>, BatchNorm<Cout>>;

/// Cin -> E (1x1) -> E depthwise 3x3, stride S -> [SqueezeExcite<E, E/4>] -> Cout (1x1, no activation).
template <std::size_t Cin, std::size_t E, std::size_t Cout, std::size_t S, bool SE>
using InvertedBody = std::conditional_t<SE,
    Chain<ConvBNAct<Cin, E, 1>, ConvBNAct<E, E, 3, S, E>, SqueezeExcite<E, E / 4>, ConvBN<E, Cout>>,
    Chain<ConvBNAct<Cin, E, 1>, ConvBNAct<E, E, 3, S, E>, ConvBN<E, Cout>>>;
template <std::size_t Cin, std::size_t E, std::size_t Cout, std::size_t S, bool SE>
using Inverted = std::conditional_t<S == 1 && Cin == Cout, Residual<InvertedBody<Cin, E, Cout, S, SE>>,
                                    InvertedBody<Cin, E, Cout, S, SE>>;

using MobileNet = Sequential<Input<3, 32, 32>,
    ConvBNAct<3, 16, 3>,                  // 16 x 32 x 32
    Inverted<16, 64, 24, 2, false>,       // 24 x 16 x 16
    Inverted<24, 72, 24, 1, false>,
    Inverted<24, 96, 40, 2, true>,        // 40 x 8 x 8
    Inverted<40, 120, 40, 1, true>,
    Inverted<40, 240, 80, 2, true>,       // 80 x 4 x 4
    Inverted<80, 200, 80, 1, false>,
    ConvBNAct<80, 256, 1>,                // 256 x 4 x 4
    GlobalAvgPool, Linear<256, 10>>;

static_assert(MobileNet::param_count == 160'780);  // PyTorch's, tools/resnet_params.py

int main(int argc, char** argv) try {
    if (argc == 2 && std::string(argv[1]) == "--names") {
        MobileNet(0).for_each_tensor([](const std::string& name, const tensor_desc&, const float*, tensor_kind) {
            std::printf("%s\n", name.c_str());
        });
        return 0;
    }
    std::printf("%s\n", MobileNet::summary().c_str());
    MobileNet net(/*seed=*/1);

    constexpr std::size_t batch = 4;
    rng gen(7);
    std::vector<float> images(batch * MobileNet::input_size);
    for (float& v : images) v = gen.uniform(-1.0f, 1.0f);
    std::vector<std::int32_t> labels(batch);
    for (auto& l : labels) l = static_cast<std::int32_t>(gen.below(10));

    std::vector<float> logits(batch * MobileNet::output_size);
    net.forward(images.data(), logits.data(), batch);
    std::printf("logits of image 0: ");
    for (std::size_t k = 0; k < 10; ++k) std::printf(" %+.3f", logits[k]);

    AdamW opt(net, 1e-3f);
    const float loss = train_step(net, opt, CrossEntropy{}, images.data(), labels.data(), batch);
    std::printf("\none AdamW step on %zu random images: cross-entropy %.4f\n", batch, loss);

    save_safetensors(net, "mobilenet.safetensors");
    std::printf("saved mobilenet.safetensors (load it in PyTorch: tools/safetensors_to_torch.py)\n");
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "mobilenet: %s\n", e.what());
    return 1;
}
