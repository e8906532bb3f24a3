//===- HugeBuffer.h - Large buffers in transparent huge pages ---*- C++ -*-===//
//
// One private anonymous mapping, 2 MiB aligned and advised MADV_HUGEPAGE
// (fewer TLB misses on the long sequential weight streams), zero until
// written, unmapped when the buffer goes. The simulator's stream-ordered HBM
// and relaid weights, and the kernel benchmark's weights, live in one.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_KERNELS_HUGEBUFFER_H
#define EDGELLM_RUNTIME_KERNELS_HUGEBUFFER_H

#include <cstdint>

namespace edgellm::kernels {

class HugeBuffer {
public:
  HugeBuffer() = default;
  ~HugeBuffer() { reset(); }
  HugeBuffer(const HugeBuffer &) = delete;
  HugeBuffer &operator=(const HugeBuffer &) = delete;
  HugeBuffer(HugeBuffer &&o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  HugeBuffer &operator=(HugeBuffer &&o) noexcept;

  /// Replaces the buffer by `bytes` zero bytes (rounded up to 2 MiB);
  /// false (and empty) when the mapping fails.
  bool allocate(uint64_t bytes);
  void reset();
  uint8_t *data() const { return p_; }
  uint64_t size() const { return n_; }
  explicit operator bool() const { return p_ != nullptr; }

private:
  uint8_t *p_ = nullptr;
  uint64_t n_ = 0;
};

} // namespace edgellm::kernels

#endif // EDGELLM_RUNTIME_KERNELS_HUGEBUFFER_H
