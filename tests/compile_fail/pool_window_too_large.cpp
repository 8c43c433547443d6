// A 5x5 pooling window on the 4x4 map a 2x2 pooling leaves of an 8x8 image.
// expect: shape_error_at_layer<1, ctnn::MaxPool<5, 1>, ctnn::needs_input_at_least<5, 5>, ctnn::got_input<4, 4>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 8, 8>,
    ctnn::AvgPool<2>, ctnn::MaxPool<5, 1>>;

int main() { Net net(1); }
