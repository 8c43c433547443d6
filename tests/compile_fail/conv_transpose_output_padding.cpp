// A transposed convolution with output_padding equal to its stride (PyTorch requires it smaller).
// expect: OutPad must be smaller than Stride
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<4, 8, 8>, ctnn::ConvTranspose<4, 2, 3, 2, 1, 2>>;

int main() { Net net(1); }
