// A grouped convolution whose Groups does not divide the channel counts: refused by the layer.
// expect: Groups must divide both In and Out
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<6, 8, 8>, ctnn::Conv<6, 8, 3, 1, 1, 1, 4>>;

int main() { Net net(1); }
