//===- HugeBuffer.cpp - Large buffers in transparent huge pages -----------===//

#include "runtime/kernels/HugeBuffer.h"

#include <sys/mman.h>

using namespace edgellm::kernels;

static constexpr uint64_t kHuge = uint64_t(2) << 20;

HugeBuffer &HugeBuffer::operator=(HugeBuffer &&o) noexcept {
  if (this != &o) {
    reset();
    p_ = o.p_, n_ = o.n_;
    o.p_ = nullptr, o.n_ = 0;
  }
  return *this;
}

bool HugeBuffer::allocate(uint64_t bytes) {
  reset();
  if (bytes == 0)
    return true;
  const uint64_t n = (bytes + kHuge - 1) / kHuge * kHuge;
  void *m = ::mmap(nullptr, n + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return false;
  // Keep a 2 MiB aligned part, give the rest back.
  auto *raw = static_cast<uint8_t *>(m);
  auto *base = reinterpret_cast<uint8_t *>((reinterpret_cast<uintptr_t>(raw) + kHuge - 1) & ~(kHuge - 1));
  if (base > raw)
    ::munmap(raw, uint64_t(base - raw));
  if (uint64_t tail = uint64_t(raw + n + kHuge - (base + n)))
    ::munmap(base + n, tail);
#ifdef MADV_HUGEPAGE
  ::madvise(base, n, MADV_HUGEPAGE);
#endif
  p_ = base, n_ = n;
  return true;
}

void HugeBuffer::reset() {
  if (p_)
    ::munmap(p_, n_);
  p_ = nullptr, n_ = 0;
}
