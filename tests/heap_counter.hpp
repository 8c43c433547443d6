// The test program replaces the global operator new (in test_sequential.cpp) with one that counts
// every heap allocation. Any test can read the count; no other file may replace operator new.
#pragma once

namespace ctnn_test {
/// Heap allocations (every form of operator new) made by the test program so far, all threads.
long heap_allocations();
}  // namespace ctnn_test
