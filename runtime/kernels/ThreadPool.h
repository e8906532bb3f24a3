//===- ThreadPool.h - A small pool for the CPU kernels -----------*- C++ -*-===//
//
// run(fn) calls fn(0) on the caller and fn(t) on every worker t that joins
// in time, and returns when all calls have returned. A worker that has not
// joined when the caller is done is left out, so a busy machine never makes
// the caller wait for a thread the OS has not scheduled: jobs split their
// work dynamically (parallelFor's atomic counter), not by thread index.
// Workers spin briefly after a job (instructions come back to back), then sleep.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_KERNELS_THREADPOOL_H
#define EDGELLM_RUNTIME_KERNELS_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace edgellm::kernels {

class ThreadPool {
public:
  /// `threads` counts the caller; 0 means the machine's hardware threads.
  explicit ThreadPool(unsigned threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  unsigned size() const { return unsigned(workers_.size()) + 1; }
  void run(const std::function<void(unsigned)> &fn);
  /// Calls fn(i, t) for every i in [0, n) (t: the thread, for scratch space).
  void parallelFor(uint64_t n, const std::function<void(uint64_t, unsigned)> &fn);
  /// Calls fn(begin, end, t) for runs [begin, end) covering [0, n), each
  /// thread taking runs of consecutive i (guided: a run is 1/(2 size()) of
  /// what is left, at least `minRun`), for work that streams memory in the
  /// order of i: a thread's prefetches ahead of its item land in its own
  /// next items, not in another thread's; and the last runs are short, so
  /// the threads finish together.
  void parallelForRuns(uint64_t n, uint64_t minRun,
                       const std::function<void(uint64_t, uint64_t, unsigned)> &fn);

  /// Splits [0, n) into size() contiguous parts (aligned to `align`).
  static void split(uint64_t n, unsigned parts, unsigned t, uint64_t align, uint64_t &begin,
                    uint64_t &end);

private:
  void worker(unsigned index);
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  /// Workers inside a job (never reset: a late worker's join and leave
  /// always pair up), and the last generation the caller has finished.
  std::atomic<uint32_t> active_{0};
  std::atomic<uint64_t> closed_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(unsigned)> *job_ = nullptr;
};

} // namespace edgellm::kernels

#endif // EDGELLM_RUNTIME_KERNELS_THREADPOOL_H
