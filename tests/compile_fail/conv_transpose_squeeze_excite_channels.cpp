// A squeeze-and-excitation gate for 16 channels after a ConvTranspose that makes 8.
// expect: shape_error_at_layer<2, ctnn::SqueezeExcite<16, 4, ctnn::ReLU, ctnn::Sigmoid>, ctnn::needs_channels<16>, ctnn::got_channels<8>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 8, 8>,
    ctnn::ConvTranspose<3, 8, 4, 2, 1>, ctnn::ReLU, ctnn::SqueezeExcite<16, 4, ctnn::ReLU, ctnn::Sigmoid>>;

int main() { Net net(1); }
