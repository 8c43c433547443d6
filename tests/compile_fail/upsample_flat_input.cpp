// An Upsample after Flatten: nearest upsampling needs a C x H x W map, not 768 features.
// expect: shape_error_at_layer<1, ctnn::Upsample<2>, ctnn::needs_CHW_input, ctnn::got_shape<768>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 16, 16>,
    ctnn::Flatten, ctnn::Upsample<2>>;

int main() { Net net(1); }
