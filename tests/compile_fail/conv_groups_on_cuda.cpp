// A grouped (depthwise) Conv on the CUDA backend (emulated on the host), which has Conv kernels
// only for dilation 1 and one group: one error naming the layer's position and type and the backend.
// expect: no_kernel_for_layer_on_backend<2, ctnn::Conv<8, 8, 3, 1, 1, 1, 8>, ctnn::cuda::backend
#define CTNN_CUDA_EMULATE 1
#include <ctnn/ctnn.hpp>
#include <ctnn/backends/cuda/all.hpp>

using Net = ctnn::Sequential<ctnn::Input<3, 8, 8>, ctnn::Conv<3, 8, 3, 1, 1>, ctnn::ReLU, ctnn::Conv<8, 8, 3, 1, 1, 1, 8>,
                             ctnn::Flatten, ctnn::Linear<512, 2>>;

int main() {
    Net net(1);
    float x[192] = {}, y[2];
    net.forward(x, y, 1);  // the host backends run it
    ctnn::cuda::device_net<Net> gpu(net, 4);
}
