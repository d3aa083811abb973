// ParallelFor: splits [0, n) into contiguous chunks run on up to `threads` threads (the caller's
// thread included) and waits for all of them. For CPU-bound work such as signature checks.
//
// WorkAhead: the same work done from the front by helper threads while the calling thread
// consumes the items in order, so that what the caller does with each item overlaps the work on
// the items after it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
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

// Runs fn(begin, end) over [0, n) in chunks of `chunk` items, taken in order from the front by
// up to `threads` - 1 helper threads (0: one per core, less one) and by the calling thread.
// The caller reads the items in order and calls WaitFor(i) before reading item i's results:
// if that chunk is not done, the caller does the next chunk nobody has taken, rather than wait,
// and waits only when every chunk is taken. So with the caller's own work per item smaller than
// fn's, every core stays busy until the end.
//
// fn runs on several threads at once, on disjoint chunks; what it writes for item i is visible
// to the caller once WaitFor(i) returns. Destroying a WorkAhead stops the helpers from taking
// more chunks and joins them (a chunk being done is finished first), so an early return from
// the caller's loop is safe; fn and what it touches must outlive it.
template <typename Fn>  // Fn: void(size_t begin, size_t end)
class WorkAhead {
 public:
  WorkAhead(size_t n, size_t chunk, unsigned threads, Fn fn)
      : n_(n),
        chunk_(std::max<size_t>(1, chunk)),
        chunks_((n + chunk_ - 1) / chunk_),
        done_(std::make_unique<std::atomic<uint8_t>[]>(chunks_)),
        fn_(std::move(fn)) {
    size_t helpers = std::min<size_t>(ThreadsOrCores(threads) - 1, chunks_ > 0 ? chunks_ - 1 : 0);
    helpers_.reserve(helpers);
    for (size_t t = 0; t < helpers; ++t) {
      helpers_.emplace_back([this] {
        while (DoNextChunk()) {
        }
      });
    }
  }
  ~WorkAhead() {
    next_.store(chunks_, std::memory_order_relaxed);
    for (auto& thread : helpers_) thread.join();
  }
  WorkAhead(const WorkAhead&) = delete;
  WorkAhead& operator=(const WorkAhead&) = delete;

  // Returns once the chunk of item i is done. REQUIRES: i < n.
  void WaitFor(size_t i) {
    std::atomic<uint8_t>& done = done_[i / chunk_];
    while (done.load(std::memory_order_acquire) == 0) {
      if (!DoNextChunk()) done.wait(0, std::memory_order_acquire);
    }
  }

 private:
  // Takes the next chunk nobody has taken and does it; false if none is left.
  bool DoNextChunk() {
    size_t c = next_.fetch_add(1, std::memory_order_relaxed);
    if (c >= chunks_) return false;
    fn_(c * chunk_, std::min(n_, (c + 1) * chunk_));
    done_[c].store(1, std::memory_order_release);
    done_[c].notify_all();
    return true;
  }

  const size_t n_, chunk_, chunks_;
  std::unique_ptr<std::atomic<uint8_t>[]> done_;
  Fn fn_;
  std::atomic<size_t> next_{0};
  std::vector<std::thread> helpers_;
};

}  // namespace fundledger
