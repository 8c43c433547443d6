// The two benchmark nets, as in /work/shared/bench/torch_baseline.py.
#pragma once
#include <ctnn/ctnn.hpp>

namespace ctnn_bench {
using namespace ctnn;
/// The seed's CIFAR-10 CNN (Linear shape fixed: 32 * 8 * 8).
using SeedCNN = Sequential<Input<3, 32, 32>, Conv<3, 16, 3, 1, 1>, ReLU, MaxPool<2>, Conv<16, 32, 3, 1, 1>, ReLU,
                           MaxPool<2>, Flatten, Linear<2048, 10>>;
/// Fashion-MNIST's benchmark/convnet.py.
using FmnistCNN = Sequential<Input<1, 28, 28>, Conv<1, 32, 5, 1, 2>, ReLU, MaxPool<2>, Conv<32, 64, 5, 1, 2>, ReLU,
                             MaxPool<2>, Flatten, Linear<3136, 1024>, ReLU, Dropout<40>, Linear<1024, 10>>;

/// Forward FLOPs per sample (2 per multiply-add) of a net's Conv and Linear layers.
template <class Net>
constexpr double flops_per_sample() {
    double f = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((f += [] {
             using L = typename Net::template layer_type<I>;
             const dims in = Net::shapes[I], out = Net::shapes[I + 1];
             if constexpr (requires { L::kernel_size; L::in_channels; })
                 return 2.0 * double(out.size()) * double(L::in_channels * L::kernel_size * L::kernel_size);
             else if constexpr (requires { L::in_features; })
                 return 2.0 * double(in.size()) * double(out.size());
             else
                 return 0.0;
         }()),
         ...);
    }(std::make_index_sequence<Net::depth>{});
    return f;
}
}  // namespace ctnn_bench
