// Branch 1 pools to 4×4 while branch 0 keeps 8×8: their channels cannot be concatenated.
// expect: shape_error_at_layer<0, ctnn::Concat< ... ctnn::needs_branch_size<8, 8>, ctnn::got_branch_size<1, 4, 4>
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 8, 8>,
    ctnn::Concat<ctnn::Conv<3, 4, 1, 1, 0>, ctnn::Chain<ctnn::Conv<3, 4, 3, 1, 1>, ctnn::MaxPool<2, 2>>>>;

int main() { Net net(1); }
