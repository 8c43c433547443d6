// Dropout<100> would drop everything (and divide by zero): refused.
// expect: Percent must be below 100
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<8>, ctnn::Dropout<100>, ctnn::Linear<8, 2>>;

int main() { Net net(1); }
