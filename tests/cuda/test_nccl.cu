// The NCCL path of ctnn::dist (dist/nccl.hpp), run by mpirun with one GPU per rank:
// N ranks at batch 8 (ncclAllReduce of bucketed gradients, overlapping backward) give the weights
// of one device_net at batch 8 N, for SGD with momentum and Adam. Without a device (or with fewer
// devices than ranks) it prints "SKIPPED: ..." and exits 0. On one GPU it runs with 1 rank: the
// NCCL calls, buckets and events run, the reduction is over one rank.
#include <ctnn/ctnn.hpp>
#include <ctnn/backends/cuda/all.hpp>
#include <ctnn/dist/nccl.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

namespace {

using Net = ctnn::Sequential<ctnn::Input<1, 8, 8>, ctnn::Conv<1, 4, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>, ctnn::Flatten,
                             ctnn::Linear<4 * 4 * 4, 16>, ctnn::ReLU, ctnn::Linear<16, 10>>;
constexpr std::size_t per_rank = 8, steps = 12;

template <class Opt>
bool equal_case(const char* name, const Opt& opt, const ctnn::dist::comm& world) {
    const std::size_t ranks = static_cast<std::size_t>(world.size()), global = per_rank * ranks;
    std::vector<float> images(steps * global * 64);
    std::vector<std::int32_t> labels(steps * global);
    ctnn::rng g(7);
    for (float& x : images) x = g.uniform(-1.0f, 1.0f);
    for (auto& l : labels) l = static_cast<std::int32_t>(g.below(10));

    Net net(world.rank() == 0 ? 11 : 99), ref_net(11);
    ctnn::cuda::device_net<Net> gpu(net, per_rank), ref(ref_net, global);
    gpu.set_optimizer(opt);
    ref.set_optimizer(opt);
    ctnn::dist::nccl_data_parallel dp(gpu, net, world, {.bucket_bytes = 256});
    for (std::size_t s = 0; s < steps; ++s) {
        const std::size_t first = s * global + per_rank * static_cast<std::size_t>(world.rank());
        dp.step(images.data() + first * 64, labels.data() + first, per_rank);
        ref.train_step(images.data() + s * global * 64, labels.data() + s * global, global);
    }
    gpu.download(net);
    ref.download(ref_net);
    double diff = 0;
    for (std::size_t i = 0; i < Net::param_count; ++i)
        diff = std::max(diff, std::abs(double(net.params()[i]) - ref_net.params()[i]) / std::max(std::abs(double(ref_net.params()[i])), 1e-2));
    const bool ok = diff <= 1e-5;
    if (world.rank() == 0 || !ok)
        std::printf("rank %d: %s %s: %zu ranks at batch %zu = one device_net at batch %zu (%zu buckets; largest relative difference %g)\n",
                    world.rank(), ok ? "ok  " : "FAIL", name, ranks, per_rank, global, dp.buckets(), diff);
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    ctnn::dist::mpi_env env(argc, argv);
    try {
        ctnn::dist::comm world(MPI_COMM_WORLD, 60);
        int devices = 0;
        if (cudaGetDeviceCount(&devices) != cudaSuccess || devices < world.size()) {
            if (world.rank() == 0)
                std::printf("SKIPPED: no CUDA device for every rank (%d devices, %d ranks)\n", devices, world.size());
            return 0;
        }
        CTNN_CUDA_CHECK(cudaSetDevice(world.rank()));
        bool ok = equal_case("SGD", ctnn::cuda::sgd{.lr = 0.05f, .momentum = 0.9f}, world);
        ok = equal_case("Adam", ctnn::cuda::adam{.lr = 1e-2f}, world) && ok;
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::printf("FAIL: rank %d: %s\n", ctnn::dist::mpi_env::rank(), e.what());
        return 1;
    }
}
