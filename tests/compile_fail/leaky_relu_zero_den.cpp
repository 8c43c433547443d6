// LeakyReLU's slope is Num / Den: a zero denominator is refused.
// expect: Den must be positive
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<8>, ctnn::Linear<8, 4>, ctnn::LeakyReLU<1, 0>>;

int main() { Net net(1); }
