// ResNet-20 for CIFAR-10 (He et al. 2016, section 4.2) as one type: a 3x3 conv, three stages of
// three basic blocks (16, 32, 64 channels; stages 2 and 3 start with stride 2 and a projection
// shortcut, option B), global average pooling, a linear classifier. Prints the summary, runs a
// forward pass and one SGD step on a random batch, and saves the net to resnet20.safetensors.
//
//   resnet [--names]      --names: print the tensor names (PyTorch's state_dict keys) and exit
//
// ctnn's Conv always has a bias: the count below is PyTorch's for the same net with
// nn.Conv2d(bias=True) (tools/resnet_params.py builds it; 272,474 with bias=False).
#include <ctnn/io.hpp>
#include <ctnn/train.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

using namespace ctnn;

template <std::size_t Cin, std::size_t Cout, std::size_t Stride = 1>
using Conv3x3 = Conv<Cin, Cout, 3, Stride, 1>;

/// conv-BN-ReLU-conv-BN, plus the shortcut, then ReLU.
template <std::size_t Cin, std::size_t Cout, std::size_t Stride, class Shortcut>
using BasicBlock = Chain<Residual<Chain<Conv3x3<Cin, Cout, Stride>, BatchNorm<Cout>, ReLU, Conv3x3<Cout, Cout>, BatchNorm<Cout>>,
                                  Shortcut>,
                         ReLU>;
template <std::size_t C>
using Basic = BasicBlock<C, C, 1, Identity>;
/// The first block of stages 2 and 3: stride 2, 1x1 projection shortcut (option B).
template <std::size_t Cin, std::size_t Cout>
using Down = BasicBlock<Cin, Cout, 2, Chain<Conv<Cin, Cout, 1, 2, 0>, BatchNorm<Cout>>>;

using ResNet20 = Sequential<Input<3, 32, 32>,
    Conv3x3<3, 16>, BatchNorm<16>, ReLU,
    Chain<Basic<16>, Basic<16>, Basic<16>>,       // 16 x 32 x 32
    Chain<Down<16, 32>, Basic<32>, Basic<32>>,    // 32 x 16 x 16
    Chain<Down<32, 64>, Basic<64>, Basic<64>>,    // 64 x 8 x 8
    GlobalAvgPool, Linear<64, 10>>;

static_assert(ResNet20::param_count == 273'258);  // PyTorch's, tools/resnet_params.py

int main(int argc, char** argv) try {
    if (argc == 2 && std::string(argv[1]) == "--names") {
        ResNet20(0).for_each_tensor([](const std::string& name, const tensor_desc&, const float*, tensor_kind) {
            std::printf("%s\n", name.c_str());
        });
        return 0;
    }
    std::printf("%s\n", ResNet20::summary().c_str());
    ResNet20 net(/*seed=*/1);

    constexpr std::size_t batch = 4;
    rng gen(7);
    std::vector<float> images(batch * ResNet20::input_size);
    for (float& v : images) v = gen.uniform(-1.0f, 1.0f);
    std::vector<std::int32_t> labels(batch);
    for (auto& l : labels) l = static_cast<std::int32_t>(gen.below(10));

    std::vector<float> logits(batch * ResNet20::output_size);
    net.forward(images.data(), logits.data(), batch);
    std::printf("logits of image 0: ");
    for (std::size_t k = 0; k < 10; ++k) std::printf(" %+.3f", logits[k]);

    SGD opt(net, 0.1f, {.momentum = 0.9f, .weight_decay = 1e-4f});  // the paper's recipe
    const float loss = train_step(net, opt, CrossEntropy{}, images.data(), labels.data(), batch);
    std::printf("\none SGD step on %zu random images: cross-entropy %.4f\n", batch, loss);

    save_safetensors(net, "resnet20.safetensors");
    std::printf("saved resnet20.safetensors (load it in PyTorch: tools/safetensors_to_torch.py)\n");
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "resnet: %s\n", e.what());
    return 1;
}
