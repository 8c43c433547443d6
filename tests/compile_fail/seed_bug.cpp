// The seed's own bug: after two 2x2 poolings a 32x32 image is 8x8, not 4x4, so Flatten gives
// 32 * 8 * 8 = 2048 features and Linear<32 * 4 * 4, 10> (512 inputs) does not fit.
// expect: shape_error_at_layer<7, ctnn::Linear<512, 10>, ctnn::needs_in_features<512>, ctnn::got_in_features<2048>
#include <ctnn/ctnn.hpp>

using SeedNet = ctnn::Sequential<ctnn::Input<3, 32, 32>,
    ctnn::Conv<3, 16, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Conv<16, 32, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Flatten, ctnn::Linear<32 * 4 * 4, 10>>;

int main() { SeedNet net(42); }
