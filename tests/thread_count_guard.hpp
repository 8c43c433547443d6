// thread_count_guard: restores ctnn's thread count when a test case ends, so a case that sets
// 1, 2 or 3 threads (set_num_threads) leaves the next case the count it started with, whether it
// passes, fails or throws. Its own header: test_conv_general.cpp and test_layers_activations2.cpp
// need only this, and simd_helpers.hpp's random_vec / check_close would collide with theirs.
#pragma once
#include <cstddef>

#include <ctnn/threads.hpp>

namespace ctnn_test {

struct thread_count_guard {
    std::size_t saved = ctnn::num_threads();
    ~thread_count_guard() { ctnn::set_num_threads(saved); }
};

}  // namespace ctnn_test
