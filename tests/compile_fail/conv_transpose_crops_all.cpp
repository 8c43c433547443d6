// A transposed convolution whose padding crops its whole output: (2 - 1) 2 + 3 + 1 - 2·3 = 0 rows.
// expect: shape_error_at_layer<1, ctnn::ConvTranspose<8, 4, 3, 2, 3, 1>, ctnn::needs_input_at_least<3, 3>, ctnn::got_input<2, 2>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 8, 8>,
    ctnn::Conv<3, 8, 3, 4>, ctnn::ConvTranspose<8, 4, 3, 2, 3, 1>>;

int main() { Net net(1); }
