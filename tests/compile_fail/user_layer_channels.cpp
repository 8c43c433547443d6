// A layer defined outside ctnn (examples/custom_layers.hpp) with the wrong channel count: the
// same one error, naming it, as for ctnn's own layers.
// expect: shape_error_at_layer<1, my::ChannelScale<6>, ctnn::needs_channels<6>, ctnn::got_channels<8>
#include "../../examples/custom_layers.hpp"

using Net = ctnn::Sequential<ctnn::Input<3, 8, 8>, ctnn::Conv<3, 8, 3, 1, 1>, my::ChannelScale<6>>;

int main() { Net net(1); }
