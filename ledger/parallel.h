// ParallelFor: splits [0, n) into contiguous chunks run on up to `threads` threads (the caller's
// thread included) and waits for all of them. For CPU-bound work such as signature checks.
#pragma once

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace fundledger {

// Below this many items per thread, starting a thread costs more than it saves.
inline constexpr size_t kParallelItemsPerThreadMin = 32;

// 0 threads means one per core.
inline unsigned ThreadsOrCores(unsigned threads) {
  return threads ? threads : std::max(1u, std::thread::hardware_concurrency());
}

template <typename Fn>  // Fn: void(size_t begin, size_t end)
void ParallelFor(size_t n, unsigned threads, const Fn& fn) {
  size_t useful = std::max<size_t>(1, n / kParallelItemsPerThreadMin);
  size_t count = std::min<size_t>(ThreadsOrCores(threads), useful);
  if (count <= 1) {
    fn(size_t(0), n);
    return;
  }
  size_t chunk = (n + count - 1) / count;
  std::vector<std::thread> pool;
  pool.reserve(count - 1);
  for (size_t t = 1; t < count; ++t) {
    size_t begin = std::min(n, t * chunk);
    pool.emplace_back(fn, begin, std::min(n, begin + chunk));
  }
  fn(size_t(0), std::min(n, chunk));
  for (auto& thread : pool) thread.join();
}

}  // namespace fundledger
