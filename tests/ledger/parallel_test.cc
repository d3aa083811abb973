#include "ledger/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace fundledger {
namespace {

// Work of uneven length per item, so that chunks finish out of order.
void Spin(size_t i) {
  volatile uint64_t x = i;
  for (size_t k = 0; k < (i * 2654435761u) % 2000; ++k) x = x * 6364136223846793005u + 1;
}

// Every item is done exactly once, and its result is there once WaitFor returns, with any
// number of threads, chunk size and count (including counts that are not a multiple of the
// chunk, a single item, and none).
TEST(WorkAhead, TheCallerSeesEachItemDoneExactlyOnceWhateverTheThreads) {
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    for (size_t chunk : {1u, 16u, 1000u}) {
      for (size_t n : {0u, 1u, 15u, 16u, 17u, 4099u}) {
        std::vector<uint64_t> result(n, 0);
        std::vector<std::atomic<int>> runs(n);
        auto fn = [&](size_t begin, size_t end) {
          for (size_t i = begin; i < end; ++i) {
            Spin(i);
            runs[i].fetch_add(1, std::memory_order_relaxed);
            result[i] = i * 3 + 1;
          }
        };
        {
          WorkAhead<decltype(fn)> ahead(n, chunk, threads, fn);
          for (size_t i = 0; i < n; ++i) {
            ahead.WaitFor(i);
            ASSERT_EQ(result[i], i * 3 + 1)
                << threads << " threads, chunk " << chunk << ", n " << n;
            Spin(n - i);  // the caller's own work on the item
          }
        }
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(runs[i].load(), 1) << i;
      }
    }
  }
}

// A caller that stops part-way (an early return) destroys the WorkAhead: the helpers take no
// chunk after that and are joined, so nothing runs once the destructor has returned.
TEST(WorkAhead, DestroyedPartWayItStopsTakingChunksAndJoinsItsHelpers) {
  for (int round = 0; round < 20; ++round) {
    const size_t n = 100000;
    std::atomic<size_t> started{0};
    std::atomic<bool> destroyed{false};
    std::atomic<bool> ran_after{false};
    auto fn = [&](size_t begin, size_t end) {
      started.fetch_add(end - begin, std::memory_order_relaxed);
      for (size_t i = begin; i < end; ++i) Spin(i);
      if (destroyed.load()) ran_after.store(true);
    };
    {
      WorkAhead<decltype(fn)> ahead(n, 4, 4, fn);
      ahead.WaitFor(10);
    }
    destroyed.store(true);
    size_t at_end = started.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_EQ(started.load(), at_end);
    EXPECT_FALSE(ran_after.load());
    EXPECT_LT(at_end, n);  // it stopped, rather than finishing every chunk
  }
}

}  // namespace
}  // namespace fundledger
