// The nets tests/onnx/export_nets.cpp saves with ctnn::save_onnx: together they have every layer
// and block ctnn has, and the four reference nets of bench/nets.hpp. Each net's `imported` is the
// type tools/onnx2ctnn must give back from its ONNX file (void would say: the generator refuses
// it); the stage onnx static_asserts it.
#pragma once
#include <ctnn/ctnn.hpp>

#include "../../bench/nets.hpp"

namespace onnx_nets {
using namespace ctnn;

/// Convolutions of every kind, pooling, resizing and a channel softmax on a map.
using Maps = Sequential<Input<3, 12, 12>, Conv<3, 8, 3, 2, 1>, BatchNorm<8>, LeakyReLU<1, 10>, Conv<8, 8, 3, 1, 2, 2, 4>, Tanh,
                        ConvTranspose<8, 6, 3, 2, 1, 1>, Sigmoid, Upsample<2>, MaxPool<3, 2>, AvgPool<2>, Softmax, Flatten,
                        Linear<150, 7>>;
/// The blocks, the gates and the feature layers.
using Blocks = Sequential<Input<4, 8, 8>, Conv<4, 16, 1>, Hardswish,
                          Residual<Chain<Conv<16, 16, 3, 1, 1, 1, 16>, BatchNorm<16>, SiLU, SqueezeExcite<16, 4>>>,
                          Concat<Chain<Conv<16, 8, 1>, Hardswish>, Identity, Chain<Conv<16, 4, 3, 1, 1>, Hardsigmoid>>,
                          Residual<Identity, Chain<Conv<28, 28, 1>, ReLU>>, GlobalAvgPool, Flatten, Dropout<25>, Linear<28, 12>,
                          BatchNorm<12>, ReLU, Identity, Linear<12, 5>, Softmax>;
/// Frozen: a training flag, so it comes back as the plain layer.
using Others = Sequential<Input<10>, Frozen<Linear<10, 6>>, ReLU, Linear<6, 3>>;
using OthersImported = Sequential<Input<10>, Linear<10, 6>, ReLU, Linear<6, 3>>;
/// GELU: opset 17 has no Gelu op, so it is exported as erf arithmetic (the generator's GELU pattern).
using Gelu = Sequential<Input<10>, Linear<10, 6>, GELU, Chain<Linear<6, 3>, GELU>>;

using Seed = ctnn_bench::SeedCNN;
using Fmnist = ctnn_bench::FmnistCNN;
using ResNet20 = ctnn_bench::ResNet20;
using MobileNet = ctnn_bench::MobileNet;
}  // namespace onnx_nets

/// X(name, net type, imported type): every exported net.
#define CTNN_ONNX_EXPORTED(X)                                                     \
    X(maps, onnx_nets::Maps, onnx_nets::Maps)                                     \
    X(blocks, onnx_nets::Blocks, onnx_nets::Blocks)                               \
    X(others, onnx_nets::Others, onnx_nets::OthersImported)                       \
    X(gelu, onnx_nets::Gelu, onnx_nets::Gelu)                                     \
    X(seed, onnx_nets::Seed, onnx_nets::Seed)                                     \
    X(fmnist, onnx_nets::Fmnist, onnx_nets::Fmnist)                               \
    X(resnet20, onnx_nets::ResNet20, onnx_nets::ResNet20)                         \
    X(mobilenet, onnx_nets::MobileNet, onnx_nets::MobileNet)
