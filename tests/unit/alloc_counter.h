// Replaces the global operator new/delete of a test executable to count allocations, so a test
// can assert that a hot path allocates nothing. Include it in exactly one file per executable.
// Example:
//   long before = sluice::testing::allocations();  router.match(...);
//   EXPECT_EQ(sluice::testing::allocations(), before);
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 at -O3 sees the inlined replacement operators and wrongly reports new/free pairs.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace sluice::testing {
inline std::atomic<long> g_allocations{0};
inline long allocations() {
  return g_allocations.load(std::memory_order_relaxed);
}
}  // namespace sluice::testing

void* operator new(size_t size) {
  sluice::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
// The nothrow forms (std::stable_sort's temporary buffer uses them) must pair with the delete
// above: malloc here too, or a sanitizer sees its own new freed by our delete.
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  sluice::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size ? size : 1);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
