// The test program replaces the global operator new (in heap_counter.cpp) with one that counts
// every heap allocation. Any test can read the count; no other file may replace operator new.
#pragma once

namespace ctnn_test {
/// Heap allocations (every form of operator new) made by the test program so far, all threads.
/// Throws std::logic_error where the count is not kept (see heap_counting).
long heap_allocations();
/// False in a ThreadSanitizer build: its runtime defines operator new itself, so the test program
/// cannot replace it. The allocation tests then report themselves skipped (CTNN_NEEDS_HEAP_COUNT).
bool heap_counting();
}  // namespace ctnn_test

/// First statement of a test that is about heap allocations: skipped (CTest) where they are not counted.
#define CTNN_NEEDS_HEAP_COUNT()                                                                       \
    do {                                                                                              \
        if (!ctnn_test::heap_counting()) {                                                            \
            WARN("SKIPPED: heap allocations are not counted in this build (ThreadSanitizer's runtime " \
                 "owns operator new)");                                                               \
            return;                                                                                   \
        }                                                                                             \
    } while (0)
