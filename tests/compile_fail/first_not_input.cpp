// A Sequential that starts with a layer instead of ctnn::Input<...>.
// expect: the first element must be ctnn::Input<C, H, W>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Conv<3, 8, 3>, ctnn::ReLU>;

int main() { Net net; }
