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
// - the striped region (HBM only): makeStriped() stores pseudo-channels
//   0..31, offsets [0, L) in *stream order* (docs/package-format.md: stream
//   beat p = beat p / 32 of channel p % 32 lives at host beat p), one private
//   buffer, so a full-width striped load from channel 0 is one contiguous
//   host range. Every access goes through the same address mapping (single
//   channels and unstriped accesses just see a stride of 32 beats). Writes
//   into the region change it in place: they call the owner's hook first,
//   which performs the deferred copies that may read it.
//
// - a write observer: the owner learns of every write (the golden model drops
//   its relaid copies of weights that change).
//
// Kernels take pointers from the main thread (readSpan/writeSpan/...) before
// they start worker threads; the memory itself is not thread-safe.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_DEVICE_SIM_MEMORY_H
#define EDGELLM_RUNTIME_DEVICE_SIM_MEMORY_H

#include "runtime/kernels/BeatRuns.h"
#include "runtime/kernels/HugeBuffer.h"

#include <cstdint>
#include <cstdlib>
#include <functional>
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

  /// Turns HBM channels 0..31, beats [0, beatsPerChannel) of each, into the
  /// striped region (zeroed; whole pages there lose their old contents) and
  /// returns its stream-ordered buffer (32 * beatsPerChannel beats) for the
  /// caller to fill. `beforeWrite` runs before any write changes the region.
  uint8_t *makeStriped(uint64_t beatsPerChannel, std::function<void()> beforeWrite);
  /// Beats per channel of the striped region (0: none).
  uint64_t stripedBeats() const { return regionBytes_ / 32; }
  /// Host address of `beats` beats of one pseudo-channel from byte `addr`
  /// (beat-aligned) whose bytes change only through copy-on-write or the
  /// write hook: shared read-only pages (step 32) or the striped region
  /// (step 32 * 32); nullptr otherwise. Beat j is at result + j * step.
  const uint8_t *stableBeats(uint64_t addr, uint64_t beats, uint64_t &step) const;

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

  /// Called with the range before every write(), writeSpan() and map():
  /// the owner's copies derived from these bytes are stale after it.
  void setWriteObserver(std::function<void(uint64_t addr, uint64_t n)> f) { onWrite_ = std::move(f); }

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
  /// Bytes from `addr` (at most n) inside the striped region, 0 if outside.
  uint64_t regionRun(uint64_t addr, uint64_t n) const;
  bool touchesRegion(uint64_t addr, uint64_t n) const;
  uint8_t *streamAt(uint64_t addr) const;
  void regionCopy(uint64_t addr, uint8_t *dst, const uint8_t *src, uint64_t n) const;

  uint64_t capacity_ = 0;
  unsigned pageShift_ = 20;
  uint64_t pageBytes_ = uint64_t(1) << 20;
  /// data_[p]: the page's bytes (owned or shared), nullptr = all zero.
  std::vector<const uint8_t *> data_;
  std::vector<std::unique_ptr<uint8_t, FreeDeleter>> owned_;
  mutable std::vector<Deferred> deferred_;
  mutable std::vector<Deferred> clipPieces_; ///< clip()'s scratch
  /// The striped region: channels of regionChanBytes_, the first
  /// regionBytes_ of each stored in stream order in stream_.
  kernels::HugeBuffer stream_;
  uint64_t regionBytes_ = 0;
  std::function<void()> beforeRegionWrite_;
  std::function<void(uint64_t, uint64_t)> onWrite_;
};

} // namespace edgellm::sim

#endif // EDGELLM_RUNTIME_DEVICE_SIM_MEMORY_H
