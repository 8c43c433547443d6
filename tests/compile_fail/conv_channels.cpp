// A Conv that expects 8 input channels after a Conv that makes 16.
// (g++ omits the defaulted Dilation and Groups, clang prints them: " ... " stands for either)
// expect: shape_error_at_layer<2, ctnn::Conv<8, 32, 3, 1, 1 ... ctnn::needs_in_channels<8>, ctnn::got_in_channels<16>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 32, 32>,
    ctnn::Conv<3, 16, 3, 1, 1>, ctnn::ReLU,
    ctnn::Conv<8, 32, 3, 1, 1>>;

int main() { Net net(1); }
