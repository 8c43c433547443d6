// A 20-layer net using every layer kind, for compile-time measurements (bench/compile_times.sh,
// docs/compile-times.md): forward, training forward and backward instantiated.
#include <ctnn/ctnn.hpp>

#include <cstdio>
#include <vector>

using namespace ctnn;
using Deep = Sequential<Input<3, 32, 32>,
    Conv<3, 8, 3, 1, 1>, BatchNorm<8>, ReLU,
    Conv<8, 8, 3, 1, 1>, BatchNorm<8>, ReLU, MaxPool<2>,
    Conv<8, 16, 3, 1, 1>, BatchNorm<16>, LeakyReLU<>,
    Conv<16, 16, 3, 1, 1>, Tanh, AvgPool<2>,
    Conv<16, 32, 3, 1, 1>, Sigmoid, GlobalAvgPool,
    Linear<32, 32>, Dropout<10>, Linear<32, 10>, Softmax>;
static_assert(Deep::depth == 20);

int main() {
    Deep net(1);
    std::vector<float> in(4 * Deep::input_size, 0.5f), out(4 * Deep::output_size), d(out.size(), 0.1f);
    net.forward(in.data(), out.data(), 4);
    net.forward_train(in.data(), 4);
    net.backward(d.data());
    std::printf("%s%f\n", Deep::summary().c_str(), out[0]);
}
