// Uses the installed ctnn: builds a small net, checks its compile-time facts, runs a forward.
#include <ctnn/ctnn.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

using Net = ctnn::Sequential<ctnn::Input<1, 8, 8>,
    ctnn::Conv<1, 4, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Flatten, ctnn::Linear<4 * 4 * 4, 3>>;
static_assert(std::is_same_v<Net::output_shape, ctnn::Shape<3>>);
static_assert(Net::param_count == 4 * 9 + 4 + 64 * 3 + 3);

int main() {
    Net net(7);
    ctnn::rng g(1);
    std::vector<float> in(2 * Net::input_size), out(2 * Net::output_size);
    for (float& v : in) v = g.uniform(-1.0f, 1.0f);
    net.forward(in.data(), out.data(), 2);
    for (float v : out)
        if (!std::isfinite(v)) return 1;
    std::printf("%s", Net::summary().c_str());
    std::printf("consumer: ok (%g %g %g)\n", out[0], out[1], out[2]);
    return 0;
}
