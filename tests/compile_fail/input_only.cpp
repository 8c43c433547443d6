// An Input and no layers after it.
// expect: ctnn::Sequential<ctnn::Input<...>> has no layers
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 32, 32>>;

int main() { Net net; }
