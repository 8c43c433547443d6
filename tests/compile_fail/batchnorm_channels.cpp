// BatchNorm<32> after a Conv that makes 16 channels.
// expect: shape_error_at_layer<1, ctnn::BatchNorm<32>, ctnn::needs_channels<32>, ctnn::got_channels<16>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 32, 32>,
    ctnn::Conv<3, 16, 3, 1, 1>, ctnn::BatchNorm<32>, ctnn::ReLU>;

int main() { Net net(1); }
