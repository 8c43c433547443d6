// The seed's CNN as one type: the compiler checks every shape, the summary is known before the
// program runs, and a forward pass on a batch of random images prints the logits.
//
//   seed_forward [batch]        (default batch 4)
#include <ctnn/ctnn.hpp>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <cstdlib>
#include <vector>

// CIFAR-10 input (3×32×32), two Conv-ReLU-MaxPool blocks, then a linear classifier.
// Writing Linear<32 * 4 * 4, 10> here (the seed's bug) stops compilation with
//   error: ... 'ctnn::shape_error_at_layer<7, ctnn::Linear<512, 10>,
//                ctnn::needs_in_features<512>, ctnn::got_in_features<2048> >'
using SeedNet = ctnn::Sequential<ctnn::Input<3, 32, 32>,
    ctnn::Conv<3, 16, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Conv<16, 32, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Flatten, ctnn::Linear<32 * 8 * 8, 10>>;

static_assert(std::is_same_v<SeedNet::output_shape, ctnn::Shape<10>>);
static_assert(SeedNet::param_count == 25'578);

int main(int argc, char** argv) try {
    char* end = nullptr;
    errno = 0;
    const long requested = argc > 1 ? std::strtol(argv[1], &end, 10) : 4;
    if (requested < 1 || requested > 4096 || errno == ERANGE || (end && *end)) {
        std::fprintf(stderr, "usage: %s [batch: 1..4096]\n", argv[0]);
        return 2;
    }
    const std::size_t batch = static_cast<std::size_t>(requested);

    std::printf("%s\n", SeedNet::summary().c_str());

    SeedNet net(/*seed=*/42);  // PyTorch's default initialisation, drawn from the seed

    // A batch of random images in [0, 1), NCHW, batch-major.
    ctnn::rng gen(7);
    std::vector<float> images(batch * SeedNet::input_size);
    for (float& v : images) v = gen.uniform();
    std::vector<float> logits(batch * SeedNet::output_size);

    net.forward(images.data(), logits.data(), batch);  // inference: no heap allocation inside

    std::printf("logits for %zu random image%s (untrained net):\n", batch, batch == 1 ? "" : "s");
    for (std::size_t b = 0; b < batch; ++b) {
        const float* row = logits.data() + b * SeedNet::output_size;
        std::size_t best = 0;
        std::printf("  image %zu:", b);
        for (std::size_t k = 0; k < SeedNet::output_size; ++k) {
            std::printf(" %+.4f", row[k]);
            if (row[k] > row[best]) best = k;
        }
        std::printf("   -> class %zu\n", best);
    }
    return 0;
} catch (const std::exception& e) {  // ctnn::error, or the standard library's (bad_alloc)
    std::fprintf(stderr, "seed_forward: %s\n", e.what());
    return 1;
} catch (...) {
    std::fprintf(stderr, "seed_forward: failed with an unknown exception\n");
    return 1;
}
