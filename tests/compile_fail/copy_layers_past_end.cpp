// copy_layers<Count> with Count past a net's last layer: refused, in one error.
// expect: Count exceeds a net's depth
#include <ctnn/io.hpp>

using A = ctnn::Sequential<ctnn::Input<4>, ctnn::Linear<4, 8>, ctnn::ReLU, ctnn::Linear<8, 2>>;

int main() {
    A a, b;
    ctnn::copy_layers<4>(a, b);
}
