// CUDA backend on a GPU: the checks of device_checks.hpp (parity with the CPU reference at 1e-4,
// the reasons for that tolerance at its top; each comparison prints the error it measured;
// poisoned workspace, training steps, graph replay, errors). Every CUDA call is checked
// (CTNN_CUDA_CHECK throws). Without a device it prints "SKIPPED: no CUDA device" and exits 0
// (CTest marks it skipped).
#include "device_checks.hpp"

#include <exception>

namespace ctnn_cuda_checks {
// The layers with kernels in backends/cuda/kernels_more.hpp: a dilated Conv, a depthwise Conv,
// SqueezeExcite (both gate kinds), Upsample, ConvTranspose with output padding, a grouped Conv,
// and GELU, SiLU, Hardswish and Hardsigmoid as layers (their gradients need the input: unfused).
using NewLayersNet =
    Sequential<Input<3, 9, 7>, Conv<3, 6, 3, 1, 2, 2>, GELU, Conv<6, 6, 3, 2, 1, 1, 6>, Hardswish,
               SqueezeExcite<6, 3>, Upsample<2>, ConvTranspose<6, 4, 3, 2, 1, 1>, SiLU, Conv<4, 8, 3, 1, 1, 1, 2>,
               Hardsigmoid, Conv<8, 4, 3, 2, 1>, Tanh, SqueezeExcite<4, 5, SiLU, Sigmoid>, Conv<4, 4, 1>, ReLU,
               GlobalAvgPool, Linear<4, 5>>;
// SqueezeExcite runs inference and backward 64 samples at a time (its scratch): 150 is three chunks.
using ChunkedSeNet = Sequential<Input<4, 3, 2>, SqueezeExcite<4, 3, ReLU, Hardsigmoid>, Flatten, Linear<24, 3>>;

void check_new_layers() {
    check_net_parity<NewLayersNet>("new layers", 5, 9);
    check_net_parity<ChunkedSeNet>("SqueezeExcite over several scratch chunks", 150, 10);
    check_training<NewLayersNet>("new layers", 16, 11, 0);
    check_graph_equals_eager<NewLayersNet>("new layers", 8);
}
}  // namespace ctnn_cuda_checks

int main() {
    if (!ctnn::cuda::device_available()) {
        std::printf("SKIPPED: no CUDA device (the CUDA tests need a GPU; the host grid tests in ctnn_tests cover the kernels' per-thread code)\n");
        return 0;
    }
    std::printf("device: %s\n", ctnn::cuda::device_name().c_str());
    ctnn_cuda_checks::print_errors = true;
    try {
        ctnn_cuda_checks::run_all_checks(false);
        ctnn_cuda_checks::check_new_layers();
    } catch (const std::exception& e) {
        std::printf("FAIL: exception: %s\n", e.what());
        return 1;
    }
    using ctnn_cuda_checks::checks, ctnn_cuda_checks::failures;
    std::printf("%s: %d of %d checks passed\n", failures ? "FAILED" : "PASSED", checks - failures, checks);
    return failures ? 1 : 0;
}
