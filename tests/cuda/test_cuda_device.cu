// CUDA backend on a GPU: the checks of device_checks.hpp (parity with the CPU reference at 1e-4,
// poisoned workspace, training steps, graph replay, errors). Every CUDA call is checked
// (CTNN_CUDA_CHECK throws). Without a device it prints "SKIPPED: no CUDA device" and exits 0
// (CTest marks it skipped).
#include "device_checks.hpp"

#include <exception>

int main() {
    if (!ctnn::cuda::device_available()) {
        std::printf("SKIPPED: no CUDA device (the CUDA tests need a GPU; the host grid tests in ctnn_tests cover the kernels' per-thread code)\n");
        return 0;
    }
    std::printf("device: %s\n", ctnn::cuda::device_name().c_str());
    try {
        ctnn_cuda_checks::run_all_checks(false);
    } catch (const std::exception& e) {
        std::printf("FAIL: exception: %s\n", e.what());
        return 1;
    }
    using ctnn_cuda_checks::checks, ctnn_cuda_checks::failures;
    std::printf("%s: %d of %d checks passed\n", failures ? "FAILED" : "PASSED", checks - failures, checks);
    return failures ? 1 : 0;
}
