// copy_layers<Count> between nets that differ in a copied layer: the first error names the
// layer's index and both layer types.
// expect: copy_layers_needs_the_same_layer_and_input_shape_at<2, ctnn::Linear<8, 4>, ctnn::Frozen<ctnn::Linear<8, 5>
#include <ctnn/io.hpp>

using Trained = ctnn::Sequential<ctnn::Input<4>, ctnn::Linear<4, 8>, ctnn::ReLU, ctnn::Linear<8, 4>, ctnn::Linear<4, 2>>;
using Fresh = ctnn::Sequential<ctnn::Input<4>, ctnn::Frozen<ctnn::Linear<4, 8>>, ctnn::ReLU,
                               ctnn::Frozen<ctnn::Linear<8, 5>>, ctnn::Linear<5, 2>>;

int main() {
    Trained a;
    Fresh b;
    ctnn::copy_layers<3>(a, b);
}
