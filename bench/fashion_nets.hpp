// The two Fashion-MNIST nets the int8 and bf16 benchmarks load from checkpoints: the convnet of
// examples/fashion_mnist.cpp and the ResNet-style net of examples/fashion_resnet.cpp (copies of
// the examples' types, with bench/nets.hpp's residual blocks; a checkpoint of either example loads
// into them, checked by its layout).
#pragma once
#include <ctnn/ctnn.hpp>

#include "nets.hpp"  // resnet::Conv3x3, Basic, Down: the same blocks as ResNet-20's

namespace ctnn_bench::fashion {
using namespace ctnn;
using namespace ctnn_bench::resnet;

using FashionNet = Sequential<Input<1, 28, 28>, Conv<1, 16, 3, 1, 1>, ReLU, MaxPool<2>, Conv<16, 32, 3, 1, 1>, ReLU, MaxPool<2>,
                              Flatten, Linear<32 * 7 * 7, 10>>;

using FashionResNet = Sequential<Input<1, 28, 28>, Conv3x3<1, 32>, BatchNorm<32>, ReLU, MaxPool<2>, Basic<32>, Down<32, 64>,
                                 Basic<64>, Down<64, 128>, GlobalAvgPool, Linear<128, 10>>;
}  // namespace ctnn_bench::fashion
