//===- ThreadPool.cpp - A small pool for the CPU kernels ------------------===//

#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpuRelax() { _mm_pause(); }
#else
static inline void cpuRelax() {}
#endif

using namespace edgellm::kernels;

ThreadPool::ThreadPool(unsigned threads) {
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 1; i < threads; ++i)
    workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

void ThreadPool::split(uint64_t n, unsigned parts, unsigned t, uint64_t align, uint64_t &begin,
                       uint64_t &end) {
  uint64_t units = (n + align - 1) / align;
  begin = std::min(n, units * t / parts * align);
  end = std::min(n, units * (t + 1) / parts * align);
}

void ThreadPool::run(const std::function<void(unsigned)> &fn) {
  if (workers_.empty()) {
    fn(0);
    return;
  }
  job_ = &fn;
  uint64_t g;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    g = generation_.fetch_add(1) + 1;
  }
  cv_.notify_all();
  fn(0);
  // Late workers are left out (they see the job closed); wait for those
  // inside.
  closed_.store(g);
  while (active_.load() != 0)
    cpuRelax();
}

void ThreadPool::parallelFor(uint64_t n, const std::function<void(uint64_t, unsigned)> &fn) {
  if (n == 0)
    return;
  if (n == 1 || workers_.empty()) {
    for (uint64_t i = 0; i < n; ++i)
      fn(i, 0);
    return;
  }
  std::atomic<uint64_t> next{0};
  run([&](unsigned t) {
    for (uint64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;)
      fn(i, t);
  });
}

void ThreadPool::parallelForRuns(uint64_t n, uint64_t minRun,
                                 const std::function<void(uint64_t, uint64_t, unsigned)> &fn) {
  if (n == 0)
    return;
  if (n == 1 || workers_.empty()) {
    fn(0, n, 0);
    return;
  }
  std::atomic<uint64_t> next{0};
  const uint64_t parts = 2 * uint64_t(size());
  run([&](unsigned t) {
    uint64_t i = next.load(std::memory_order_relaxed), take;
    while (true) {
      do {
        if (i >= n)
          return;
        take = std::max<uint64_t>(std::max<uint64_t>(minRun, 1), (n - i) / parts);
      } while (!next.compare_exchange_weak(i, i + take, std::memory_order_relaxed));
      fn(i, std::min(n, i + take), t);
      i = next.load(std::memory_order_relaxed);
    }
  });
}

void ThreadPool::worker(unsigned index) {
  uint64_t seen = 0;
  while (true) {
    auto start = std::chrono::steady_clock::now();
    unsigned spins = 0;
    uint64_t g;
    while ((g = generation_.load(std::memory_order_acquire)) == seen) {
      if (stop_.load())
        return;
      cpuRelax();
      if (++spins % 256 == 0 &&
          std::chrono::steady_clock::now() - start > std::chrono::microseconds(300)) {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
      }
    }
    seen = g;
    // Join unless the caller has already finished this job (checked after
    // joining: the caller waits for every worker that joined before it
    // closed the job, and job_ stays valid until then).
    active_.fetch_add(1);
    if (closed_.load() < g)
      (*job_)(index);
    active_.fetch_sub(1);
  }
}
