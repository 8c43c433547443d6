// A layer with no kernel on the backend a net runs on (here: a user's layer with only a reference
// kernel, on the CUDA backend, emulated on the host): one error naming the layer's position and
// type and the backend.
// expect: no_kernel_for_layer_on_backend<1, Doubler, ctnn::cuda::backend
#define CTNN_CUDA_EMULATE 1
#include <ctnn/ctnn.hpp>
#include <ctnn/backends/cuda/all.hpp>

struct Doubler : ctnn::layer_base {
    static constexpr std::string_view kind = "Doubler";
    static std::string name() { return "Doubler"; }
};
template <class In>
struct ctnn::kernel<Doubler, In, ctnn::reference> : ctnn::kernel_base {
    static void forward(const forward_args& a) { for (std::size_t i = 0; i < a.n * In::size; ++i) a.y[i] = 2 * a.x[i]; }
    static void backward(const backward_args& a) { for (std::size_t i = 0; i < a.n * In::size; ++i) a.dx[i] = 2 * a.dy[i]; }
};

using Net = ctnn::Sequential<ctnn::Input<8>, ctnn::Linear<8, 8>, Doubler, ctnn::Linear<8, 2>>;

int main() {
    Net net(1);
    float x[8] = {}, y[2];
    net.forward(x, y, 1);  // the host backends run it (reference's kernel)
    ctnn::cuda::device_net<Net> gpu(net, 4);
}
