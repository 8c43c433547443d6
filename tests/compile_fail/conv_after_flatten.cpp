// A Conv after Flatten: a spatial layer needs a C x H x W map, not 768 features.
// (g++ omits the defaulted Dilation and Groups, clang prints them: " ... " stands for either)
// expect: shape_error_at_layer<1, ctnn::Conv<3, 8, 3, 1, 1 ... ctnn::needs_CHW_input, ctnn::got_shape<768>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 16, 16>,
    ctnn::Flatten, ctnn::Conv<3, 8, 3, 1, 1>>;

int main() { Net net(1); }
