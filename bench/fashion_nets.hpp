// The two Fashion-MNIST nets the int8 and bf16 benchmarks load from checkpoints: the convnet of
// examples/fashion_mnist.cpp and the ResNet-style net of examples/fashion_resnet.cpp (copies of
// the examples' types; a checkpoint of either example loads into them, checked by its layout).
#pragma once
#include <ctnn/ctnn.hpp>

namespace ctnn_bench::fashion {
using namespace ctnn;

using FashionNet = Sequential<Input<1, 28, 28>, Conv<1, 16, 3, 1, 1>, ReLU, MaxPool<2>, Conv<16, 32, 3, 1, 1>, ReLU, MaxPool<2>,
                              Flatten, Linear<32 * 7 * 7, 10>>;

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
using FashionResNet = Sequential<Input<1, 28, 28>, Conv3x3<1, 32>, BatchNorm<32>, ReLU, MaxPool<2>, Basic<32>, Down<32, 64>,
                                 Basic<64>, Down<64, 128>, GlobalAvgPool, Linear<128, 10>>;
}  // namespace ctnn_bench::fashion
