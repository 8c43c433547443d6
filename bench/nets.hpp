// The benchmark nets: the two small CNNs of /work/shared/bench/torch_baseline.py, and ResNet-20
// and the MobileNetV3-style net of examples/resnet.cpp and examples/mobilenet.cpp (copies of
// those types, checked by the same parameter counts; tools/resnet_params.py builds the PyTorch
// modules, bench/peers_blocks.py times them).
#pragma once
#include <string_view>
#include <type_traits>

#include <ctnn/ctnn.hpp>

namespace ctnn_bench {
using namespace ctnn;
/// The seed's CIFAR-10 CNN (Linear shape fixed: 32 * 8 * 8).
using SeedCNN = Sequential<Input<3, 32, 32>, Conv<3, 16, 3, 1, 1>, ReLU, MaxPool<2>, Conv<16, 32, 3, 1, 1>, ReLU,
                           MaxPool<2>, Flatten, Linear<2048, 10>>;
/// Fashion-MNIST's benchmark/convnet.py.
using FmnistCNN = Sequential<Input<1, 28, 28>, Conv<1, 32, 5, 1, 2>, ReLU, MaxPool<2>, Conv<32, 64, 5, 1, 2>, ReLU,
                             MaxPool<2>, Flatten, Linear<3136, 1024>, ReLU, Dropout<40>, Linear<1024, 10>>;

// ---- ResNet-20, CIFAR form (He et al. 2016, 4.2), option B shortcuts: examples/resnet.cpp ----
namespace resnet {
template <std::size_t Cin, std::size_t Cout, std::size_t Stride = 1>
using Conv3x3 = Conv<Cin, Cout, 3, Stride, 1>;
template <std::size_t Cin, std::size_t Cout, std::size_t Stride, class Shortcut>
using BasicBlock = Chain<Residual<Chain<Conv3x3<Cin, Cout, Stride>, BatchNorm<Cout>, ReLU, Conv3x3<Cout, Cout>, BatchNorm<Cout>>,
                                  Shortcut>,
                         ReLU>;
template <std::size_t C>
using Basic = BasicBlock<C, C, 1, Identity>;
template <std::size_t Cin, std::size_t Cout>
using Down = BasicBlock<Cin, Cout, 2, Chain<Conv<Cin, Cout, 1, 2, 0>, BatchNorm<Cout>>>;
}  // namespace resnet
using ResNet20 = Sequential<Input<3, 32, 32>,
    resnet::Conv3x3<3, 16>, BatchNorm<16>, ReLU,
    Chain<resnet::Basic<16>, resnet::Basic<16>, resnet::Basic<16>>,          // 16 x 32 x 32
    Chain<resnet::Down<16, 32>, resnet::Basic<32>, resnet::Basic<32>>,       // 32 x 16 x 16
    Chain<resnet::Down<32, 64>, resnet::Basic<64>, resnet::Basic<64>>,       // 64 x 8 x 8
    GlobalAvgPool, Linear<64, 10>>;
static_assert(ResNet20::param_count == 273'258);  // as examples/resnet.cpp and tools/resnet_params.py

// ---- the MobileNetV3-style net for 3x32x32: examples/mobilenet.cpp ----
namespace mobilenet {
template <std::size_t Cin, std::size_t Cout, std::size_t K, std::size_t S = 1, std::size_t G = 1>
using ConvBNAct = Chain<Conv<Cin, Cout, K, S, K / 2, 1, G>, BatchNorm<Cout>, Hardswish>;
template <std::size_t Cin, std::size_t Cout>
using ConvBN = Chain<Conv<Cin, Cout, 1>, BatchNorm<Cout>>;
template <std::size_t Cin, std::size_t E, std::size_t Cout, std::size_t S, bool SE>
using InvertedBody = std::conditional_t<SE,
    Chain<ConvBNAct<Cin, E, 1>, ConvBNAct<E, E, 3, S, E>, SqueezeExcite<E, E / 4>, ConvBN<E, Cout>>,
    Chain<ConvBNAct<Cin, E, 1>, ConvBNAct<E, E, 3, S, E>, ConvBN<E, Cout>>>;
template <std::size_t Cin, std::size_t E, std::size_t Cout, std::size_t S, bool SE>
using Inverted = std::conditional_t<S == 1 && Cin == Cout, Residual<InvertedBody<Cin, E, Cout, S, SE>>,
                                    InvertedBody<Cin, E, Cout, S, SE>>;
}  // namespace mobilenet
using MobileNet = Sequential<Input<3, 32, 32>,
    mobilenet::ConvBNAct<3, 16, 3>,                  // 16 x 32 x 32
    mobilenet::Inverted<16, 64, 24, 2, false>,       // 24 x 16 x 16
    mobilenet::Inverted<24, 72, 24, 1, false>,
    mobilenet::Inverted<24, 96, 40, 2, true>,        // 40 x 8 x 8
    mobilenet::Inverted<40, 120, 40, 1, true>,
    mobilenet::Inverted<40, 240, 80, 2, true>,       // 80 x 4 x 4
    mobilenet::Inverted<80, 200, 80, 1, false>,
    mobilenet::ConvBNAct<80, 256, 1>,                // 256 x 4 x 4
    GlobalAvgPool, Linear<256, 10>>;
static_assert(MobileNet::param_count == 160'780);  // as examples/mobilenet.cpp and tools/resnet_params.py

/// Forward FLOPs per sample (2 per multiply-add) of one layer given its input's dims: Conv
/// (grouped: In / Groups inputs per output), Linear and SqueezeExcite's two small layers; blocks
/// add up their children (Residual's and Concat's adds, BatchNorm and activations are not counted).
template <class L>
constexpr double layer_flops(dims in) {
    if constexpr (requires { typename L::block_tag; }) {
        double f = 0;
        L::for_each_child(in, [&]<class C>(std::string_view, dims d) { f += layer_flops<C>(d); });
        return f;
    } else if constexpr (requires { L::kernel_size; L::group_in; }) {
        return 2.0 * double(L::output(in).size()) * double(L::group_in * L::kernel_size * L::kernel_size);
    } else if constexpr (requires { L::kernel_size; L::in_channels; }) {
        return 2.0 * double(L::output(in).size()) * double(L::in_channels * L::kernel_size * L::kernel_size);
    } else if constexpr (requires { L::in_features; }) {
        return 2.0 * double(in.size()) * double(L::output(in).size());
    } else if constexpr (requires { L::squeeze_channels; L::channels; }) {
        return 2.0 * 2.0 * double(L::channels * L::squeeze_channels);
    } else {
        return 0.0;
    }
}

/// Forward FLOPs per sample (2 per multiply-add) of a net's Conv and Linear layers, inside blocks too.
template <class Net>
constexpr double flops_per_sample() {
    double f = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((f += layer_flops<typename Net::template layer_type<I>>(Net::shapes[I])), ...);
    }(std::make_index_sequence<Net::depth>{});
    return f;
}
static_assert(flops_per_sample<ResNet20>() == 2.0 * 40'813'184);  // counted by hand from the layer shapes
static_assert(flops_per_sample<MobileNet>() == 2.0 * 6'524'448);   // (SqueezeExcite's fc1 and fc2 included)
}  // namespace ctnn_bench
