// Control: the seed's net written correctly compiles through the same harness.
// expect: success
#include <ctnn/ctnn.hpp>

using SeedNet = ctnn::Sequential<ctnn::Input<3, 32, 32>,
    ctnn::Conv<3, 16, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Conv<16, 32, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Flatten, ctnn::Linear<32 * 8 * 8, 10>>;

int main() { SeedNet net(42); }
