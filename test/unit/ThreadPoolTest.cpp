//===- ThreadPoolTest.cpp - The kernels' thread pool ----------------------===//

#include "runtime/kernels/ThreadPool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

using edgellm::kernels::ThreadPool;

TEST(ThreadPool, ParallelForCallsEveryIndexOnce) {
  ThreadPool pool(2);
  for (uint64_t n : {0u, 1u, 2u, 7u, 1000u}) {
    std::vector<std::atomic<int>> seen(n);
    pool.parallelFor(n, [&](uint64_t i, unsigned t) {
      EXPECT_LT(t, pool.size());
      ++seen[i];
    });
    for (uint64_t i = 0; i < n; ++i)
      EXPECT_EQ(seen[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ThreadPool, RunsCoverEveryIndexOnceInShrinkingRuns) {
  // parallelForRuns: runs of consecutive indices that tile [0, n), each at
  // least minRun long (but the last), the first ones a quarter of the work
  // on two threads, down to minRun at the end.
  ThreadPool pool(2);
  for (uint64_t n : {0u, 1u, 3u, 100u, 5000u})
    for (uint64_t minRun : {1u, 4u}) {
      std::mutex mu;
      std::vector<std::pair<uint64_t, uint64_t>> runs;
      pool.parallelForRuns(n, minRun, [&](uint64_t b, uint64_t e, unsigned t) {
        EXPECT_LT(t, pool.size());
        std::lock_guard<std::mutex> lock(mu);
        runs.push_back({b, e});
      });
      std::sort(runs.begin(), runs.end());
      uint64_t at = 0;
      for (size_t r = 0; r < runs.size(); ++r) {
        EXPECT_EQ(runs[r].first, at) << "n=" << n << ": a gap or an overlap";
        EXPECT_LT(runs[r].first, runs[r].second);
        if (runs[r].second < n)
          EXPECT_GE(runs[r].second - runs[r].first, minRun);
        at = runs[r].second;
      }
      EXPECT_EQ(at, n);
      if (n == 5000) {
        EXPECT_EQ(runs.front().second, 5000u / 4) << "the first run: 1/(2 threads) of all";
        EXPECT_LE(runs.back().second - runs.back().first, minRun) << "the last run";
      }
    }
}
