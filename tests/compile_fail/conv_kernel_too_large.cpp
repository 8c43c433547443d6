// A 7x7 kernel on a 4x4 map padded by 1 (6x6): the kernel does not fit anywhere.
// (g++ omits the defaulted Dilation and Groups, clang prints them: " ... " stands for either)
// expect: shape_error_at_layer<2, ctnn::Conv<8, 8, 7, 1, 1 ... ctnn::needs_padded_input_at_least<7, 7>, ctnn::got_padded_input<6, 6>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<1, 8, 8>,
    ctnn::Conv<1, 8, 3, 1, 1>, ctnn::MaxPool<2>,
    ctnn::Conv<8, 8, 7, 1, 1>>;

int main() { Net net(1); }
