//===- Memory.h - The simulator's memories -----------------------*- C++ -*-===//
//
// One byte-addressed memory of a fixed capacity (HBM, DDR or an on-chip
// buffer), built for the fast kernels (docs/simulator.md):
//
// - pages with direct pointers: reads of untouched pages give 0; a page is
//   allocated on its first write. On-chip buffers are one flat page (lazily
//   zeroed by the OS), so any range of them is contiguous.
// - read-only mappings: map() lets pages share caller-owned bytes (the
//   package's mmap'd sections) instead of copying them; the first write into
//   such a page copies it (copy-on-write), so resident memory stays small.
// - deferred copies: defer() records "these beats hold a copy of those
//   mapped beats" without copying (a weight `load` from HBM into WBUF).
//   Every access to the bytes settles (performs) the copy first, except
//   deferredSpan(), which hands the kernels the source beats themselves.
//   Sources are read-only mappings, which never change (writes go to private
//   copies), so a deferred copy is the snapshot the load took.
//
// Kernels take pointers from the main thread (readSpan/writeSpan/...) before
// they start worker threads; the memory itself is not thread-safe.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_DEVICE_SIM_MEMORY_H
#define EDGELLM_RUNTIME_DEVICE_SIM_MEMORY_H

#include "runtime/kernels/BeatRuns.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace edgellm::sim {

class SparseMemory {
public:
  /// `flat`: one contiguous allocation (on-chip buffers); otherwise 1 MiB pages.
  explicit SparseMemory(uint64_t capacityBytes = 0, bool flat = false);
  SparseMemory(SparseMemory &&) = default;
  SparseMemory &operator=(SparseMemory &&) = default;

  uint64_t size() const { return capacity_; }
  void read(uint64_t addr, void *dst, uint64_t n) const;
  void write(uint64_t addr, const void *src, uint64_t n);

  /// Lets [addr, addr + n) share the read-only bytes `src` (which must outlive
  /// this memory): whole pages are mapped copy-on-write, partial edge pages
  /// are copied.
  void map(uint64_t addr, const uint8_t *src, uint64_t n);

  /// Host pointer to [addr, addr + n) for reading (settles deferred copies),
  /// or nullptr when the range is not contiguous in host memory.
  const uint8_t *readSpan(uint64_t addr, uint64_t n) const;
  /// Host pointer to [addr, addr + n) for writing (copy-on-write done), or
  /// nullptr when the range straddles pages.
  uint8_t *writeSpan(uint64_t addr, uint64_t n);
  /// Host pointer when every page of the range still shares one contiguous
  /// read-only mapping (never written), else nullptr.
  const uint8_t *mappedSpan(uint64_t addr, uint64_t n) const;

  /// Records that the `beats` beats from byte `addr` hold a copy of `src`
  /// (beats of read-only mappings), performed lazily.
  void defer(uint64_t addr, uint64_t beats, const kernels::BeatRuns &src);
  /// The beats of [addr, addr + beats * 32): the source of a deferred copy
  /// when one covers the whole range, else (after settling) the memory's own
  /// bytes. False when they are not contiguous.
  bool deferredSpan(uint64_t addr, uint64_t beats, kernels::BeatRuns &out) const;
  /// Performs the parts of deferred copies that overlap [addr, addr + n).
  void settle(uint64_t addr, uint64_t n) const;

  /// Bytes of private pages (allocated or copied on write).
  uint64_t privateBytes() const;

private:
  struct FreeDeleter {
    void operator()(uint8_t *p) const { std::free(p); }
  };
  struct Deferred {
    uint64_t addr, beats;
    kernels::BeatRuns src;
  };
  uint8_t *ownPage(uint64_t page);
  const uint8_t *pageData(uint64_t page) const;
  void settleSlow(uint64_t addr, uint64_t n) const;
  void clip(uint64_t addr, uint64_t n, bool perform) const;
  void writeRaw(uint64_t addr, const void *src, uint64_t n);

  uint64_t capacity_ = 0;
  unsigned pageShift_ = 20;
  uint64_t pageBytes_ = uint64_t(1) << 20;
  /// data_[p]: the page's bytes (owned or shared), nullptr = all zero.
  std::vector<const uint8_t *> data_;
  std::vector<std::unique_ptr<uint8_t, FreeDeleter>> owned_;
  mutable std::vector<Deferred> deferred_;
};

} // namespace edgellm::sim

#endif // EDGELLM_RUNTIME_DEVICE_SIM_MEMORY_H
