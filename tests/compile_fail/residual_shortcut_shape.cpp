// A stride-2 body with an identity shortcut: the shortcut keeps 16×8×8, the body gives 16×4×4.
// expect: shape_error_at_layer<2, ctnn::Residual<ctnn::Chain<ctnn::Conv<16, 16, 3, 2, 1 ... ctnn::BatchNorm<16> ... ctnn::needs_shortcut_output<16, 4, 4>, ctnn::got_shortcut_output<16, 8, 8>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 8, 8>,
    ctnn::Conv<3, 16, 3, 1, 1>, ctnn::ReLU,
    ctnn::Residual<ctnn::Chain<ctnn::Conv<16, 16, 3, 2, 1>, ctnn::BatchNorm<16>>, ctnn::Identity>>;

int main() { Net net(1); }
