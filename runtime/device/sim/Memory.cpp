//===- Memory.cpp - The simulator's memories ------------------------------===//

#include "runtime/device/sim/Memory.h"

#include <algorithm>
#include <cstring>


using namespace edgellm;
using namespace edgellm::sim;
using isa::kBeatBytes;

namespace {
constexpr unsigned kPageShift = 20;
constexpr uint64_t kChanBytes = uint64_t(isa::kHbmChannelBeats) * kBeatBytes;
/// Read by untouched pages: never written.
const uint8_t *zeroPage() {
  static const uint8_t *z = static_cast<const uint8_t *>(std::calloc(size_t(1) << kPageShift, 1));
  return z;
}
} // namespace

SparseMemory::SparseMemory(uint64_t capacityBytes, bool flat) : capacity_(capacityBytes) {
  if (flat) {
    pageShift_ = 63;
    pageBytes_ = uint64_t(1) << 63;
    data_.assign(1, nullptr);
    owned_.resize(1);
    if (capacity_) { // calloc'd memory is zeroed lazily by the OS
      owned_[0].reset(static_cast<uint8_t *>(std::calloc(capacity_, 1)));
      data_[0] = owned_[0].get();
    }
    return;
  }
  pageShift_ = kPageShift;
  pageBytes_ = uint64_t(1) << kPageShift;
  uint64_t pages = (capacity_ + pageBytes_ - 1) >> pageShift_;
  data_.assign(pages, nullptr);
  owned_.resize(pages);
}

const uint8_t *SparseMemory::pageData(uint64_t page) const {
  const uint8_t *d = data_[page];
  return d ? d : zeroPage();
}

uint8_t *SparseMemory::ownPage(uint64_t page) {
  if (!owned_[page]) {
    uint64_t bytes = std::min(pageBytes_, capacity_ - (page << pageShift_));
    uint8_t *p = static_cast<uint8_t *>(std::calloc(bytes, 1));
    if (data_[page]) // copy-on-write of a shared page
      std::memcpy(p, data_[page], bytes);
    owned_[page].reset(p);
    data_[page] = p;
  }
  return owned_[page].get();
}

uint8_t *SparseMemory::makeStriped(uint64_t beatsPerChannel, std::function<void()> beforeWrite) {
  uint64_t perChan = std::min<uint64_t>(beatsPerChannel * kBeatBytes, kChanBytes);
  uint64_t chans = std::min<uint64_t>(isa::kHbmChannels, capacity_ / kChanBytes);
  if (chans < isa::kHbmChannels)
    perChan = 0; // not an HBM-sized memory
  stream_.reset();
  regionBytes_ = 0;
  if (perChan == 0)
    return nullptr;
  // Transparent huge pages: fewer TLB misses on the long sequential weight
  // reads.
  if (!stream_.allocate(perChan * isa::kHbmChannels))
    return nullptr;
  regionBytes_ = perChan;
  beforeRegionWrite_ = std::move(beforeWrite);
  settle(0, capacity_);
  // Whole pages inside the region no longer hold anything.
  for (uint64_t ch = 0; ch < isa::kHbmChannels; ++ch)
    for (uint64_t p = (ch * kChanBytes) >> pageShift_;
         (p + 1) << pageShift_ <= ch * kChanBytes + perChan; ++p) {
      owned_[p].reset();
      data_[p] = nullptr;
    }
  return stream_.data();
}

uint64_t SparseMemory::regionRun(uint64_t addr, uint64_t n) const {
  if (!regionBytes_)
    return 0;
  uint64_t ch = addr / kChanBytes, off = addr % kChanBytes;
  if (ch >= isa::kHbmChannels || off >= regionBytes_)
    return 0;
  return std::min(n, regionBytes_ - off);
}

uint8_t *SparseMemory::streamAt(uint64_t addr) const {
  uint64_t ch = addr / kChanBytes, off = addr % kChanBytes;
  return stream_.data() + ((off / kBeatBytes) * isa::kHbmChannels + ch) * kBeatBytes +
         off % kBeatBytes;
}

/// Copies n region bytes from addr to dst (src == nullptr) or from src into
/// the region (dst == nullptr), beat piece by beat piece.
void SparseMemory::regionCopy(uint64_t addr, uint8_t *dst, const uint8_t *src, uint64_t n) const {
  while (n) {
    uint64_t len = std::min<uint64_t>(n, kBeatBytes - addr % kBeatBytes);
    if (dst)
      std::memcpy(dst, streamAt(addr), len), dst += len;
    else
      std::memcpy(streamAt(addr), src, len), src += len;
    addr += len, n -= len;
  }
}

const uint8_t *SparseMemory::stableBeats(uint64_t addr, uint64_t beats, uint64_t &step) const {
  uint64_t n = beats * kBeatBytes;
  if (n == 0 || addr % kBeatBytes)
    return nullptr;
  if (regionRun(addr, n) == n) {
    step = uint64_t(isa::kHbmChannels) * kBeatBytes;
    return streamAt(addr);
  }
  step = kBeatBytes;
  return mappedSpan(addr, n);
}

void SparseMemory::settle(uint64_t addr, uint64_t n) const {
  if (!deferred_.empty())
    settleSlow(addr, n);
}

/// Cuts [addr, addr + n) (beat-aligned outward) out of the deferred copies;
/// with `perform`, the cut-out beats are copied into the memory first.
void SparseMemory::clip(uint64_t addr, uint64_t n, bool perform) const {
  // In place: the copies left of a cut stay where they are (no allocation
  // in the common case of whole copies superseded or untouched).
  auto *self = const_cast<SparseMemory *>(this);
  std::vector<Deferred> &pieces = clipPieces_;
  pieces.clear();
  size_t out = 0;
  for (size_t i = 0; i < deferred_.size(); ++i) {
    Deferred &d = deferred_[i];
    uint64_t lo = d.addr, hi = d.addr + d.beats * kBeatBytes;
    if (hi <= addr || lo >= addr + n) {
      if (out != i)
        deferred_[out] = d;
      ++out;
      continue;
    }
    uint64_t b0 = addr > lo ? (addr - lo) / kBeatBytes : 0;
    uint64_t b1 = std::min(d.beats, (addr + n - lo + kBeatBytes - 1) / kBeatBytes);
    if (perform)
      for (uint64_t t = b0; t < b1; ++t)
        self->writeRaw(lo + t * kBeatBytes, d.src.beat(t), kBeatBytes);
    if (b0 > 0)
      pieces.push_back({lo, b0, d.src});
    if (b1 < d.beats)
      pieces.push_back({lo + b1 * kBeatBytes, d.beats - b1, d.src.from(b1)});
  }
  deferred_.resize(out);
  deferred_.insert(deferred_.end(), pieces.begin(), pieces.end());
}

void SparseMemory::settleSlow(uint64_t addr, uint64_t n) const { clip(addr, n, true); }

void SparseMemory::read(uint64_t addr, void *dst, uint64_t n) const {
  settle(addr, n);
  auto *out = static_cast<uint8_t *>(dst);
  if (addr >= capacity_ || n > capacity_ - addr) { // bytes past the end read as 0
    uint64_t keep = addr >= capacity_ ? 0 : capacity_ - addr;
    std::memset(out + keep, 0, n - keep);
    n = keep;
  }
  while (n) {
    if (uint64_t r = regionRun(addr, n)) {
      regionCopy(addr, out, nullptr, r);
      out += r, addr += r, n -= r;
      continue;
    }
    uint64_t page = addr >> pageShift_, off = addr & (pageBytes_ - 1);
    uint64_t len = std::min(n, pageBytes_ - off);
    std::memcpy(out, pageData(page) + off, len);
    out += len, addr += len, n -= len;
  }
}

void SparseMemory::write(uint64_t addr, const void *src, uint64_t n) {
  if (onWrite_)
    onWrite_(addr, n);
  settle(addr, n);
  writeRaw(addr, src, n);
}

void SparseMemory::writeRaw(uint64_t addr, const void *src, uint64_t n) {
  auto *in = static_cast<const uint8_t *>(src);
  if (addr >= capacity_ || n > capacity_ - addr) // bytes past the end are dropped
    n = addr >= capacity_ ? 0 : capacity_ - addr;
  bool hooked = false;
  while (n) {
    if (uint64_t r = regionRun(addr, n)) {
      if (!hooked && beforeRegionWrite_)
        beforeRegionWrite_();
      hooked = true;
      regionCopy(addr, nullptr, in, r);
      in += r, addr += r, n -= r;
      continue;
    }
    uint64_t page = addr >> pageShift_, off = addr & (pageBytes_ - 1);
    uint64_t len = std::min(n, pageBytes_ - off);
    std::memcpy(ownPage(page) + off, in, len);
    in += len, addr += len, n -= len;
  }
}

void SparseMemory::map(uint64_t addr, const uint8_t *src, uint64_t n) {
  if (onWrite_)
    onWrite_(addr, n);
  settle(addr, n);
  if (addr >= capacity_ || n > capacity_ - addr)
    n = addr >= capacity_ ? 0 : capacity_ - addr;
  while (n) {
    if (uint64_t r = regionRun(addr, n)) { // the region holds copies
      writeRaw(addr, src, r);
      src += r, addr += r, n -= r;
      continue;
    }
    uint64_t page = addr >> pageShift_, off = addr & (pageBytes_ - 1);
    uint64_t len = std::min(n, pageBytes_ - off);
    uint64_t pageLen = std::min(pageBytes_, capacity_ - (page << pageShift_));
    if (off == 0 && len == pageLen) {
      owned_[page].reset();
      data_[page] = src;
    } else {
      std::memcpy(ownPage(page) + off, src, len);
    }
    src += len, addr += len, n -= len;
  }
}

const uint8_t *SparseMemory::readSpan(uint64_t addr, uint64_t n) const {
  settle(addr, n);
  if (addr > capacity_ || n > capacity_ - addr || data_.empty())
    return nullptr;
  if (n == 0)
    return pageData(addr >> pageShift_ < data_.size() ? addr >> pageShift_ : 0);
  if (touchesRegion(addr, n))
    return regionRun(addr, n) == n && addr / kBeatBytes == (addr + n - 1) / kBeatBytes
               ? streamAt(addr)
               : nullptr;
  uint64_t p0 = addr >> pageShift_, p1 = (addr + n - 1) >> pageShift_;
  const uint8_t *base = pageData(p0);
  for (uint64_t p = p0 + 1; p <= p1; ++p)
    if (!data_[p] || data_[p] != data_[p - 1] + pageBytes_)
      return nullptr;
  return base + (addr & (pageBytes_ - 1));
}

uint8_t *SparseMemory::writeSpan(uint64_t addr, uint64_t n) {
  if (onWrite_)
    onWrite_(addr, n);
  settle(addr, n);
  if (addr > capacity_ || n > capacity_ - addr || data_.empty())
    return nullptr;
  if (n == 0 && addr == capacity_)
    addr = 0; // nothing is written through it
  if (touchesRegion(addr, std::max<uint64_t>(n, 1)))
    return nullptr; // write() calls the region's hook
  uint64_t p0 = addr >> pageShift_, p1 = n ? (addr + n - 1) >> pageShift_ : p0;
  if (p0 != p1)
    return nullptr;
  return ownPage(p0) + (addr & (pageBytes_ - 1));
}

const uint8_t *SparseMemory::mappedSpan(uint64_t addr, uint64_t n) const {
  if (n == 0 || addr + n > capacity_ || touchesRegion(addr, n))
    return nullptr;
  uint64_t p0 = addr >> pageShift_, p1 = (addr + n - 1) >> pageShift_;
  for (uint64_t p = p0; p <= p1; ++p) {
    if (!data_[p] || owned_[p])
      return nullptr;
    if (p > p0 && data_[p] != data_[p - 1] + pageBytes_)
      return nullptr;
  }
  for (const Deferred &d : deferred_)
    if (d.addr < addr + n && d.addr + d.beats * kBeatBytes > addr)
      return nullptr;
  return data_[p0] + (addr & (pageBytes_ - 1));
}

void SparseMemory::defer(uint64_t addr, uint64_t beats, const kernels::BeatRuns &src) {
  // The new copy supersedes the overlapped parts of older ones.
  clip(addr, beats * kBeatBytes, false);
  if (beats)
    deferred_.push_back({addr, beats, src});
}

bool SparseMemory::deferredSpan(uint64_t addr, uint64_t beats, kernels::BeatRuns &out) const {
  uint64_t n = beats * kBeatBytes;
  for (const Deferred &d : deferred_)
    if (addr >= d.addr && addr + n <= d.addr + d.beats * kBeatBytes &&
        (addr - d.addr) % kBeatBytes == 0) {
      out = d.src.from((addr - d.addr) / kBeatBytes);
      return true;
    }
  const uint8_t *p = readSpan(addr, n);
  if (!p)
    return false;
  out = kernels::BeatRuns::contiguous(p);
  return true;
}

bool SparseMemory::touchesRegion(uint64_t addr, uint64_t n) const {
  if (!regionBytes_ || n == 0)
    return false;
  uint64_t c1 = std::min<uint64_t>((addr + n - 1) / kChanBytes, isa::kHbmChannels - 1);
  for (uint64_t ch = addr / kChanBytes; ch <= c1; ++ch) {
    uint64_t lo = ch * kChanBytes, hi = lo + regionBytes_;
    if (addr < hi && addr + n > lo)
      return true;
  }
  return false;
}

uint64_t SparseMemory::privateBytes() const {
  uint64_t total = regionBytes_ * isa::kHbmChannels;
  for (uint64_t p = 0; p < owned_.size(); ++p)
    if (owned_[p])
      total += std::min(pageBytes_, capacity_ - (p << pageShift_));
  return total;
}
