// A Sequential with nothing in it.
// expect: ctnn::Sequential<> is empty
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<>;

int main() { Net net; }
