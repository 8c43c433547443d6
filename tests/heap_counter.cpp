// The counting global operator new of the test program (heap_counter.hpp): every test binary
// built from tests/ links this file, so the no-allocation tests see every allocation of every
// thread, whichever subset of the test files a build uses.
#include <atomic>
#include <cstdlib>
#include <new>
#include <stdexcept>

#include "heap_counter.hpp"

#if defined(__SANITIZE_THREAD__)
#define CTNN_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CTNN_TEST_TSAN 1
#endif
#endif

#ifdef CTNN_TEST_TSAN
bool ctnn_test::heap_counting() { return false; }
long ctnn_test::heap_allocations() {
    throw std::logic_error("heap allocations are not counted under ThreadSanitizer (CTNN_NEEDS_HEAP_COUNT)");
}
#else
bool ctnn_test::heap_counting() { return true; }

// Replaces every allocating form for the whole test program; it only counts and forwards to
// malloc / aligned_alloc, so the other tests are unaffected. heap_counter.hpp shares the count.
namespace {
std::atomic<long> allocation_count{0};

void* counted(std::size_t n) {
    allocation_count.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* counted_aligned(std::size_t n, std::align_val_t a) {
    allocation_count.fetch_add(1, std::memory_order_relaxed);
    const std::size_t al = static_cast<std::size_t>(a);
    const std::size_t size = ((n ? n : 1) + al - 1) / al * al;  // aligned_alloc wants a multiple
    if (void* p = std::aligned_alloc(al, size)) return p;
    throw std::bad_alloc();
}
}  // namespace

long ctnn_test::heap_allocations() { return allocation_count.load(); }

void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try { return counted(n); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try { return counted(n); } catch (...) { return nullptr; }
}
void* operator new(std::size_t n, std::align_val_t a) { return counted_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_aligned(n, a); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    try { return counted_aligned(n, a); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    try { return counted_aligned(n, a); } catch (...) { return nullptr; }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#endif  // CTNN_TEST_TSAN
