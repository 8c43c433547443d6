// A mistake inside a block is reported at the block, with what the inner layer needs and got.
// expect: shape_error_at_layer<1, ctnn::Chain<ctnn::Conv<8, 8, 3, 1, 1 ... ctnn::ReLU>, ctnn::needs_in_channels<8>, ctnn::got_in_channels<4>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 8, 8>,
    ctnn::Conv<3, 4, 3, 1, 1>, ctnn::Chain<ctnn::Conv<8, 8, 3, 1, 1>, ctnn::ReLU>>;

int main() { Net net(1); }
