// A convolution with stride 0: refused.
// expect: Stride must be positive
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 8, 8>, ctnn::Conv<3, 4, 3, 0, 1>>;

int main() { Net net(1); }
