// A Linear straight after a 16x8x8 map: the Flatten is missing.
// expect: shape_error_at_layer<2, ctnn::Linear<1024, 10>, ctnn::needs_flat_input_of<1024>, ctnn::got_shape<16, 8, 8>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 16, 16>,
    ctnn::Conv<3, 16, 3, 1, 1>, ctnn::MaxPool<2>,
    ctnn::Linear<16 * 8 * 8, 10>>;

int main() { Net net(1); }
