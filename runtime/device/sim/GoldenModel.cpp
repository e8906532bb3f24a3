//===- GoldenModel.cpp - The accelerator's functional golden model --------===//

#include "runtime/device/sim/GoldenModel.h"
#include "edgellm/hw/IsaNumerics.h"
#include "edgellm/hw/IsaStream.h"
#include "runtime/kernels/Elementwise.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>


using namespace edgellm;
using namespace edgellm::sim;
using isa::kBeatBytes;
using isa::kHbmChannelBeats;
using isa::kHbmChannels;
using isa::kLanes;

GoldenModel::GoldenModel(const hw::TargetDesc &t)
    : target_(t), hbm_(t.hbm.capacityBytes()), ddr_(t.ddr.capacityMiB << 20),
      bufs_{SparseMemory(t.onchip.abufKiB << 10, true), SparseMemory(t.onchip.wbufKiB << 10, true),
            SparseMemory(t.onchip.kbufKiB << 10, true), SparseMemory(t.onchip.pbufKiB << 10, true)} {
  const char *k = std::getenv("EDGELLM_SIM_KERNELS");
  if (k && std::strcmp(k, "reference") == 0)
    kernels_ = Kernels::Reference;
  cpuLevel_ = kernels::detectCpuLevel();
  const char *th = std::getenv("EDGELLM_SIM_THREADS");
  setThreads(th ? unsigned(std::strtoul(th, nullptr, 10)) : 0);
  const char *prof = std::getenv("EDGELLM_SIM_PROFILE");
  profile_ = prof && std::strcmp(prof, "0") != 0;
  hbm_.setWriteObserver([this](uint64_t addr, uint64_t n) { hbmWritten(addr, n); });
}

void GoldenModel::hbmWritten(uint64_t addr, uint64_t n) {
  if (relaid_.empty() && loadRuns_.empty() && privateHi_ == 0)
    return;
  // Conservatively by channel offset, whatever the channel.
  const uint64_t chanBytes = kHbmChannelBeats * kBeatBytes;
  uint64_t lo = addr % chanBytes, hi = lo + n;
  if (n >= chanBytes || hi > chanBytes)
    lo = 0, hi = chanBytes; // spans channels: any offset
  auto touches = [&](uint64_t offset, uint64_t beats, uint64_t stripe) {
    uint64_t tlo = offset * kBeatBytes, thi = (offset + (beats + stripe - 1) / stripe) * kBeatBytes;
    return lo < thi && hi > tlo;
  };
  if (hi > privateLo_ && lo < privateHi_) {
    for (SparseMemory &b : bufs_)
      b.settle(0, b.size());
    privateLo_ = ~uint64_t(0), privateHi_ = 0;
  }
  if (hi > relaidLo_ && lo < relaidHi_)
    for (auto it = relaid_.begin(); it != relaid_.end();)
      it = touches(it->first, it->second.beats, kHbmChannels) ? relaid_.erase(it) : std::next(it);
  if (hi > loadRunsLo_ && lo < loadRunsHi_)
    for (LoadRuns &r : loadRuns_)
      if (touches(r.srcBeat % kHbmChannelBeats, r.beats, r.stripe))
        r.valid = false;
}

GoldenModel::~GoldenModel() {
  if (!profile_)
    return;
  double total = 0;
  for (double s : profSeconds_)
    total += s;
  std::fprintf(stderr, "sim profile: %.3f s in instructions\n", total);
  for (unsigned i = 0; i < 64; ++i)
    if (profCount_[i]) {
      const isa::InstrSpec *spec = isa::lookup(i);
      std::fprintf(stderr, "  %-10s %9llu  %8.3f s  %5.1f %%\n", spec ? spec->mnemonic : "?",
                   (unsigned long long)profCount_[i], profSeconds_[i],
                   100.0 * profSeconds_[i] / (total > 0 ? total : 1));
    }
}

uint8_t *GoldenModel::stripeHbm(uint64_t beatsPerChannel) {
  loadRuns_.clear();
  loadRunsIndex_.clear();
  loadRunsNext_ = 0;
  return hbm_.makeStriped(beatsPerChannel, [this] {
    for (SparseMemory &b : bufs_)
      b.settle(0, b.size());
  });
}

bool GoldenModel::hbmRuns(uint64_t srcBeat, uint64_t beats, uint32_t stripe,
                          kernels::BeatRuns &runs, bool *privateSrc) const {
  if (privateSrc)
    *privateSrc = false;
  runs = kernels::BeatRuns();
  runs.stripe = std::max<uint32_t>(stripe, 1);
  uint64_t ch = srcBeat / kHbmChannelBeats, off = srcBeat % kHbmChannelBeats;
  for (uint32_t i = 0; i < runs.stripe && i < beats; ++i) {
    uint64_t n = (beats - i + runs.stripe - 1) / runs.stripe;
    uint64_t at = runs.stripe == 1 ? srcBeat : ((ch + i) % kHbmChannels) * kHbmChannelBeats + off;
    uint64_t step = 0;
    runs.run[i] = hbm_.stableBeats(at * kBeatBytes, n, step);
    if (!runs.run[i] && privateSrc) { // private pages: contiguous host bytes that may change
      runs.run[i] = hbm_.readSpan(at * kBeatBytes, n * kBeatBytes);
      step = kBeatBytes;
      *privateSrc = runs.run[i] != nullptr;
    }
    if (!runs.run[i] || (i > 0 && step != runs.step))
      return false;
    runs.step = step;
  }
  runs = runs.normalized();
  return true;
}

void GoldenModel::readStream(uint64_t offset, uint64_t beats, uint8_t *out) const {
  for (uint64_t p = 0; p < beats; ++p)
    hbm_.read(((p % kHbmChannels) * kHbmChannelBeats + offset + p / kHbmChannels) * kBeatBytes,
              out + p * kBeatBytes, kBeatBytes);
}

void GoldenModel::dropWbufSources(uint64_t addr, uint64_t n) {
  for (size_t i = 0; i < wbufSources_.size();) {
    const WbufSource &w = wbufSources_[i];
    if (addr < w.addr + w.beats * kBeatBytes && addr + n > w.addr) {
      wbufSources_[i] = wbufSources_.back();
      wbufSources_.pop_back();
    } else {
      ++i;
    }
  }
}

uint64_t GoldenModel::relayWeightTiles(const std::vector<package::WeightTile> &tiles,
                                       const std::function<void(uint64_t, uint64_t)> &done) {
  relaid_.clear();
  relaidMem_.reset();
  if (!kernels::hasLanesKernel(cpuLevel_) || kernels_ != Kernels::Fast || tiles.empty())
    return 0;
  std::vector<package::WeightTile> todo;
  uint64_t total = 0;
  for (const package::WeightTile &t : tiles) {
    if (t.rows == 0 || t.sparsity > 3 || t.streamBeat % kHbmChannels ||
        t.streamBeat / kHbmChannels + (t.beats + kHbmChannels - 1) / kHbmChannels > kHbmChannelBeats ||
        t.beats < uint64_t(t.rows) * isa::q4RowBeats(t.k, isa::Sparsity(t.sparsity)))
      continue;
    todo.push_back(t);
    total += kernels::q4LanesBytes(t.rows, t.k);
  }
  if (todo.empty())
    return 0;
  std::sort(todo.begin(), todo.end(),
            [](const auto &a, const auto &b) { return a.streamBeat < b.streamBeat; });
  if (!relaidMem_.allocate(total))
    return 0;
  std::vector<uint64_t> at(todo.size());
  for (size_t i = 0, o = 0; i < todo.size(); ++i) {
    at[i] = o;
    o += kernels::q4LanesBytes(todo[i].rows, todo[i].k);
  }
  // In stream order, a chunk of tiles at a time, reporting each chunk's
  // channel offsets as done (the caller may drop its source pages). A tile
  // is read in place when its beats are stable host memory, else copied.
  constexpr size_t kChunk = 32;
  std::vector<std::vector<uint8_t>> tmp(pool_->size());
  for (size_t c0 = 0; c0 < todo.size(); c0 += kChunk) {
    const size_t c1 = std::min(todo.size(), c0 + kChunk);
    pool_->parallelFor(c1 - c0, [&](uint64_t i, unsigned th) {
      const package::WeightTile &t = todo[c0 + i];
      kernels::BeatRuns runs;
      if (!hbmRuns(t.streamBeat / kHbmChannels, t.beats, kHbmChannels, runs)) {
        tmp[th].resize(t.beats * kBeatBytes);
        readStream(t.streamBeat / kHbmChannels, t.beats, tmp[th].data());
        runs = kernels::BeatRuns::contiguous(tmp[th].data());
      }
      kernels::q4ToLanes(runs, t.rows, t.k, isa::Sparsity(t.sparsity), relaidMem_.data() + at[c0 + i],
                         cpuLevel_);
    });
    if (done) {
      const package::WeightTile &a = todo[c0], &b = todo[c1 - 1];
      done(a.streamBeat / kHbmChannels, (b.streamBeat + b.beats + kHbmChannels - 1) / kHbmChannels);
    }
  }
  relaidLo_ = ~uint64_t(0), relaidHi_ = 0;
  for (size_t i = 0; i < todo.size(); ++i) {
    const package::WeightTile &t = todo[i];
    const uint64_t offset = t.streamBeat / kHbmChannels;
    relaid_[offset] = Relaid{kernels::Q4Lanes{relaidMem_.data() + at[i], t.rows, t.k}, t.beats,
                             isa::Sparsity(t.sparsity)};
    relaidLo_ = std::min(relaidLo_, offset * kBeatBytes);
    relaidHi_ = std::max(relaidHi_, (offset + (t.beats + kHbmChannels - 1) / kHbmChannels) * kBeatBytes);
  }
  // Where WBUF ranges came from (the mm_q4 finds its tile by it).
  wbufSources_.clear();
  bufs_[unsigned(isa::Buf::Wbuf)].setWriteObserver(
      [this](uint64_t addr, uint64_t n) { dropWbufSources(addr, n); });
  return total;
}

void GoldenModel::setThreads(unsigned n) {
  if (!pool_ || pool_->size() != n)
    pool_ = std::make_unique<kernels::ThreadPool>(n);
}

namespace {

/// Thrown-free fault reporting inside one instruction.
struct Failure {
  isa::Fault fault = isa::Fault::None;
  std::string message;
  explicit operator bool() const { return fault != isa::Fault::None; }
  void set(isa::Fault f, std::string m) {
    if (fault == isa::Fault::None) {
      fault = f;
      message = std::move(m);
    }
  }
};

/// An operand in the unified layout: element (m, c) is lane c % 16 of beat
/// addr + (c / 16) * stride + m.
struct Operand {
  SparseMemory *mem;
  uint64_t addr, stride;
  uint64_t byteOf(uint64_t m, uint64_t c) const {
    return (addr + (c / kLanes) * stride + m) * kBeatBytes + (c % kLanes) * 2;
  }
};

class Exec {
public:
  Exec(GoldenModel &g, Failure &f) : g(g), f(f) {}

  Operand operand(uint32_t buf, uint64_t addr, uint64_t stride, uint64_t rows, uint64_t chans,
                  const char *what) {
    SparseMemory &mem = g.buffer(isa::Buf(buf));
    uint64_t blocks = (chans + kLanes - 1) / kLanes;
    if (blocks > 1 && stride < rows)
      f.set(isa::Fault::Layout, std::string(what) + ": token capacity " + std::to_string(stride) +
                                    " is below the " + std::to_string(rows) + " rows");
    uint64_t lastBeat = blocks == 0 || rows == 0 ? addr : addr + (blocks - 1) * stride + rows;
    if (lastBeat * kBeatBytes > mem.size())
      f.set(isa::Fault::Address, std::string(what) + " lies outside its buffer");
    return {&mem, addr, stride};
  }
  float get(const Operand &o, uint64_t m, uint64_t c) {
    uint16_t h;
    o.mem->read(o.byteOf(m, c), &h, 2);
    return isa::f16ToF32(h);
  }
  uint16_t getBits(const Operand &o, uint64_t m, uint64_t c) {
    uint16_t h;
    o.mem->read(o.byteOf(m, c), &h, 2);
    return h;
  }
  void put(const Operand &o, uint64_t m, uint64_t c, float v) {
    uint16_t h = isa::f32ToF16(v);
    o.mem->write(o.byteOf(m, c), &h, 2);
  }
  void putBits(const Operand &o, uint64_t m, uint64_t c, uint16_t h) {
    o.mem->write(o.byteOf(m, c), &h, 2);
  }
  /// Lanes past `chans` up to the next multiple of 16 get +0.
  void padRow(const Operand &o, uint64_t m, uint64_t chans) {
    for (uint64_t c = chans; c % kLanes; ++c)
      putBits(o, m, c, 0);
  }
  /// A vector of FP16 values from a beat address.
  float vec(uint32_t buf, uint64_t addr, uint64_t i) {
    uint16_t h;
    g.buffer(isa::Buf(buf)).read(addr * kBeatBytes + i * 2, &h, 2);
    return isa::f16ToF32(h);
  }

  GoldenModel &g;
  Failure &f;
};

/// Copies rows x len beats between memories (docs/isa.md, load/store).
void copy2d(SparseMemory &src, SparseMemory &dst, uint64_t srcAddr, uint64_t dstAddr,
            uint64_t rows, uint64_t len, uint64_t srcStride, uint64_t dstStride,
            uint32_t srcStripe, uint32_t dstStripe, Failure &f) {
  auto striped = [&](uint64_t base, uint64_t r, uint64_t stride, uint64_t j, uint32_t p,
                     bool &bad) -> uint64_t {
    if (p <= 1)
      return base + r * stride + j;
    uint64_t ch = base / isa::kHbmChannelBeats, off = base % isa::kHbmChannelBeats;
    uint64_t o = off + r * stride + j / p;
    if (o >= isa::kHbmChannelBeats)
      bad = true;
    return ((ch + j % p) % isa::kHbmChannels) * isa::kHbmChannelBeats + o;
  };
  uint8_t beat[kBeatBytes];
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t j = 0; j < len; ++j) {
      bool bad = false;
      uint64_t s = striped(srcAddr, r, srcStride, j, srcStripe, bad);
      uint64_t d = striped(dstAddr, r, dstStride, j, dstStripe, bad);
      if (bad || (s + 1) * kBeatBytes > src.size() || (d + 1) * kBeatBytes > dst.size()) {
        f.set(isa::Fault::Address, "copy beat outside its memory (row " + std::to_string(r) +
                                       ", beat " + std::to_string(j) + ")");
        return;
      }
      src.read(s * kBeatBytes, beat, kBeatBytes);
      dst.write(d * kBeatBytes, beat, kBeatBytes);
    }
}

/// docs/isa.md rms_norm step 1-2: lane sums then the fixed tree.
float laneTreeSum(const std::vector<float> &v) {
  float s[kLanes] = {};
  for (size_t i = 0; i < v.size(); ++i)
    s[i % kLanes] = s[i % kLanes] + v[i];
  return isa::treeSum16(s);
}

} // namespace

namespace {

/// Beats an operand of `rows` x `chans` spans from its address (0 if empty).
uint64_t extentBeats(uint64_t stride, uint64_t rows, uint64_t chans) {
  uint64_t blocks = (chans + kLanes - 1) / kLanes;
  return blocks == 0 || rows == 0 ? 0 : (blocks - 1) * stride + rows;
}

/// The reference path's operand checks (Exec::operand) without the message.
bool operandOk(const SparseMemory &mem, uint64_t addr, uint64_t stride, uint64_t rows,
               uint64_t chans) {
  uint64_t blocks = (chans + kLanes - 1) / kLanes;
  if (blocks > 1 && stride < rows)
    return false;
  return (addr + extentBeats(stride, rows, chans)) * kBeatBytes <= mem.size();
}

/// Two beat ranges in the same buffer overlap.
bool overlaps(uint32_t bufA, uint64_t a, uint64_t na, uint32_t bufB, uint64_t b, uint64_t nb) {
  return bufA == bufB && na && nb && a < b + nb && b < a + na;
}

/// A 2-D copy stays inside both memories (the reference path's checks, done
/// up front).
bool copyInBounds(const SparseMemory &m, uint64_t base, uint64_t rows, uint64_t len,
                  uint64_t stride, uint32_t p) {
  if (rows == 0 || len == 0)
    return true;
  if (p <= 1)
    return (base + (rows - 1) * stride + len) * kBeatBytes <= m.size();
  uint64_t off = base % isa::kHbmChannelBeats;
  if (off + (rows - 1) * stride + (len - 1) / p >= isa::kHbmChannelBeats)
    return false;
  return uint64_t(isa::kHbmChannels) * isa::kHbmChannelBeats * kBeatBytes <= m.size();
}

/// The fast 2-D copy: whole rows with memcpy where both sides are contiguous.
void copyFast(SparseMemory &src, SparseMemory &dst, uint64_t srcAddr, uint64_t dstAddr,
              uint64_t rows, uint64_t len, uint64_t srcStride, uint64_t dstStride,
              uint32_t srcStripe, uint32_t dstStripe) {
  std::vector<uint8_t> tmp;
  uint8_t beat[kBeatBytes];
  for (uint64_t r = 0; r < rows && len; ++r) {
    if (srcStripe <= 1 && dstStripe <= 1) {
      uint64_t s = (srcAddr + r * srcStride) * kBeatBytes, d = (dstAddr + r * dstStride) * kBeatBytes;
      uint64_t n = len * kBeatBytes;
      const uint8_t *sp = src.readSpan(s, n);
      uint8_t *dp = sp ? dst.writeSpan(d, n) : nullptr;
      if (sp && dp) {
        std::memcpy(dp, sp, n);
      } else {
        tmp.resize(n);
        src.read(s, tmp.data(), n);
        dst.write(d, tmp.data(), n);
      }
      continue;
    }
    // A striped source row into a contiguous destination: each channel's
    // beats with one read, scattered into the destination span.
    if (dstStripe <= 1) {
      uint64_t d = (dstAddr + r * dstStride) * kBeatBytes;
      if (uint8_t *dp = dst.writeSpan(d, len * kBeatBytes)) {
        uint64_t ch = srcAddr / isa::kHbmChannelBeats, off = srcAddr % isa::kHbmChannelBeats;
        for (uint32_t i = 0; i < srcStripe && i < len; ++i) {
          uint64_t n = (len - i + srcStripe - 1) / srcStripe;
          tmp.resize(n * kBeatBytes);
          src.read((((ch + i) % isa::kHbmChannels) * isa::kHbmChannelBeats + off + r * srcStride) *
                       kBeatBytes,
                   tmp.data(), n * kBeatBytes);
          for (uint64_t t = 0; t < n; ++t)
            std::memcpy(dp + (i + t * srcStripe) * kBeatBytes, tmp.data() + t * kBeatBytes, kBeatBytes);
        }
        continue;
      }
    }
    for (uint64_t j = 0; j < len; ++j) {
      auto at = [&](uint64_t base, uint64_t stride, uint32_t p) {
        if (p <= 1)
          return base + r * stride + j;
        uint64_t ch = base / isa::kHbmChannelBeats, off = base % isa::kHbmChannelBeats;
        return ((ch + j % p) % isa::kHbmChannels) * isa::kHbmChannelBeats + off + r * stride +
               j / p;
      };
      src.read(at(srcAddr, srcStride, srcStripe) * kBeatBytes, beat, kBeatBytes);
      dst.write(at(dstAddr, dstStride, dstStripe) * kBeatBytes, beat, kBeatBytes);
    }
  }
}

} // namespace

namespace {

/// Host view of a unified-layout operand: element (m, c) at lane c % 16 of
/// beat (c / 16) * stride + m.
struct HostOperand {
  uint8_t *p = nullptr;
  uint64_t stride = 0;
  uint8_t *at(uint64_t m, uint64_t c) const {
    return p + ((c / kLanes) * stride + m) * kBeatBytes + (c % kLanes) * 2;
  }
  float get(uint64_t m, uint64_t c) const {
    uint16_t h;
    std::memcpy(&h, at(m, c), 2);
    return isa::f16ToF32(h);
  }
  void put(uint64_t m, uint64_t c, float v) const {
    uint16_t h = isa::f32ToF16(v);
    std::memcpy(at(m, c), &h, 2);
  }
  void padRow(uint64_t m, uint64_t c) const {
    for (; c % kLanes; ++c)
      std::memset(at(m, c), 0, 2);
  }
};

/// An output may be exactly an input (same buffer, address and stride: the
/// element-wise instructions then work in place) or apart from it; any other
/// overlap is left to the reference path.
bool aliasOk(uint32_t yb, uint64_t ya, uint64_t ys, uint64_t yn, uint32_t xb, uint64_t xa,
             uint64_t xs, uint64_t xn) {
  return !overlaps(yb, ya, yn, xb, xa, xn) || (yb == xb && ya == xa && ys == xs);
}

} // namespace

bool GoldenModel::executeFast(const isa::Instruction &in) {
  using namespace isa;
  switch (in.opcode) {
  case Opcode::Eltwise:
  case Opcode::SiluMul: {
    // Element-wise: the reference arithmetic on host pointers.
    bool silu = in.opcode == Opcode::SiluMul;
    uint32_t ab, bb, yb, op = uint32_t(EwOp::Mul);
    uint64_t aa, sa, ba, sb, ya, sy, M, C;
    bool bcast = false;
    if (silu) {
      auto e = as<SiluMul>(in);
      ab = e.a_buf, aa = e.a_addr, sa = e.a_stride, bb = e.b_buf, ba = e.b_addr, sb = e.b_stride;
      yb = e.y_buf, ya = e.y_addr, sy = e.y_stride, M = e.m, C = e.c;
    } else {
      auto e = as<Eltwise>(in);
      ab = e.a_buf, aa = e.a_addr, sa = e.a_stride, bb = e.b_buf, ba = e.b_addr, sb = e.b_stride;
      yb = e.y_buf, ya = e.y_addr, sy = e.y_stride, M = e.m, C = e.c, op = e.op,
      bcast = e.bcast_b;
    }
    uint64_t bRows = bcast ? 1 : M;
    if (!operandOk(bufs_[ab], aa, sa, M, C) || !operandOk(bufs_[bb], ba, sb, bRows, C) ||
        !operandOk(bufs_[yb], ya, sy, M, C))
      return false;
    uint64_t an = extentBeats(sa, M, C), bn = extentBeats(sb, bRows, C), yn = extentBeats(sy, M, C);
    if (yn == 0)
      return true;
    // B broadcast and overwritten by row 0: the reference order decides.
    if (!aliasOk(yb, ya, sy, yn, ab, aa, sa, an) || !aliasOk(yb, ya, sy, yn, bb, ba, sb, bn) ||
        (bcast && M > 1 && overlaps(yb, ya, yn, bb, ba, bn)))
      return false;
    bool copy = !silu && op == uint32_t(EwOp::Copy);
    const uint8_t *pa = bufs_[ab].readSpan(aa * kBeatBytes, an * kBeatBytes);
    const uint8_t *pb = copy ? pa : bufs_[bb].readSpan(ba * kBeatBytes, bn * kBeatBytes);
    uint8_t *py = bufs_[yb].writeSpan(ya * kBeatBytes, yn * kBeatBytes);
    if (!pa || !pb || !py)
      return false;
    HostOperand A{const_cast<uint8_t *>(pa), sa}, B{const_cast<uint8_t *>(pb), sb}, Y{py, sy};
    // Rows are independent (in place: each element from the same element),
    // so they run on the pool's threads.
    const kernels::EwKind kind = silu ? kernels::EwKind::SiluMul
                                 : op == uint32_t(EwOp::Add) ? kernels::EwKind::Add
                                                             : kernels::EwKind::Mul;
    auto rowFn = [&](uint64_t m, unsigned) {
      if (!copy && kernels::elementwiseRow(kind, A.at(m, 0), sa * kBeatBytes, B.at(bcast ? 0 : m, 0),
                                           sb * kBeatBytes, Y.at(m, 0), sy * kBeatBytes, C, cpuLevel_))
        return;
      for (uint64_t c = 0; c < C; ++c) {
        if (copy) {
          std::memmove(Y.at(m, c), A.at(m, c), 2);
          continue;
        }
        float av = A.get(m, c), bv = B.get(bcast ? 0 : m, c);
        if (silu) {
          Y.put(m, c, siluMul(av, bv));
        } else {
          Y.put(m, c, op == uint32_t(EwOp::Add) ? av + bv : av * bv);
        }
      }
      Y.padRow(m, C);
    };
    forEachRow(M, C, rowFn);
    return true;
  }
  case Opcode::Softmax: {
    // Rows in place or apart (a row is read before it is written); the
    // valid columns of row i are a prefix (causal: j <= D + i).
    auto sm = as<Softmax>(in);
    if (cpuLevel_ == kernels::CpuLevel::Scalar ||
        !operandOk(bufs_[sm.x_buf], sm.x_addr, sm.x_stride, sm.m, sm.n) ||
        !operandOk(bufs_[sm.y_buf], sm.y_addr, sm.y_stride, sm.m, sm.n))
      return false;
    const uint64_t xn = extentBeats(sm.x_stride, sm.m, sm.n), yn = extentBeats(sm.y_stride, sm.m, sm.n);
    if (yn == 0)
      return true;
    if (!aliasOk(sm.y_buf, sm.y_addr, sm.y_stride, yn, sm.x_buf, sm.x_addr, sm.x_stride, xn))
      return false;
    const uint8_t *px = bufs_[sm.x_buf].readSpan(uint64_t(sm.x_addr) * kBeatBytes, xn * kBeatBytes);
    uint8_t *py = bufs_[sm.y_buf].writeSpan(uint64_t(sm.y_addr) * kBeatBytes, yn * kBeatBytes);
    if (!px || !py)
      return false;
    HostOperand X{const_cast<uint8_t *>(px), sm.x_stride}, Y{py, sm.y_stride};
    const int64_t diag = int64_t(int32_t(sm.diag));
    auto rowFn = [&](uint64_t i, unsigned) {
      thread_local std::vector<float> scratch;
      scratch.resize(uint64_t(sm.n) + kLanes);
      const int64_t last = diag + int64_t(i); // the last valid column when causal
      const uint64_t valid = !sm.causal ? sm.n : last < 0 ? 0 : std::min<uint64_t>(sm.n, uint64_t(last) + 1);
      kernels::softmaxRow(X.at(i, 0), sm.x_stride * kBeatBytes, Y.at(i, 0), sm.y_stride * kBeatBytes,
                          sm.n, valid, scratch.data(), cpuLevel_); // AVX2 or AVX-512: checked above
    };
    forEachRow(sm.m, sm.n, rowFn);
    return true;
  }
  case Opcode::Rope: {
    // Interleaved pairs, heads of whole beats: one row at a time in place
    // or apart (the row is read before it is written, beat by beat).
    auto ro = as<Rope>(in);
    const uint64_t chans = uint64_t(ro.heads) * ro.head_dim;
    if (cpuLevel_ == kernels::CpuLevel::Scalar || ro.pairs != uint32_t(PairMode::Interleaved) || ro.head_dim % kLanes ||
        ro.rot_dim % kLanes || ro.rot_dim > ro.head_dim ||
        !operandOk(bufs_[ro.x_buf], ro.x_addr, ro.x_stride, ro.m, chans) ||
        !operandOk(bufs_[ro.y_buf], ro.y_addr, ro.y_stride, ro.m, chans))
      return false;
    const uint64_t xn = extentBeats(ro.x_stride, ro.m, chans), yn = extentBeats(ro.y_stride, ro.m, chans);
    const uint64_t tn = uint64_t(ro.m) * (ro.rot_dim / 8);
    if (yn == 0)
      return true;
    if ((uint64_t(ro.t_addr) + tn) * kBeatBytes > bufs_[ro.t_buf].size() ||
        !aliasOk(ro.y_buf, ro.y_addr, ro.y_stride, yn, ro.x_buf, ro.x_addr, ro.x_stride, xn) ||
        overlaps(ro.y_buf, ro.y_addr, yn, ro.t_buf, ro.t_addr, tn))
      return false;
    const uint8_t *px = bufs_[ro.x_buf].readSpan(uint64_t(ro.x_addr) * kBeatBytes, xn * kBeatBytes);
    const uint8_t *pt = bufs_[ro.t_buf].readSpan(uint64_t(ro.t_addr) * kBeatBytes, tn * kBeatBytes);
    uint8_t *py = bufs_[ro.y_buf].writeSpan(uint64_t(ro.y_addr) * kBeatBytes, yn * kBeatBytes);
    if (!px || !pt || !py)
      return false;
    HostOperand X{const_cast<uint8_t *>(px), ro.x_stride}, Y{py, ro.y_stride};
    for (uint64_t i = 0; i < ro.m; ++i) {
      float table[1024]; // rot_dim <= 1016 (isa.md): the row's (cos, sin) pairs
      std::memcpy(table, pt + i * (ro.rot_dim / 8) * kBeatBytes, ro.rot_dim * 4);
      kernels::ropeRowInterleaved(X.at(i, 0), ro.x_stride * kBeatBytes, Y.at(i, 0),
                                  ro.y_stride * kBeatBytes, table, ro.heads, ro.head_dim,
                                  ro.rot_dim, cpuLevel_); // AVX2 or AVX-512, whole beats: checked above
    }
    return true;
  }
  case Opcode::RmsNorm: {
    auto n = as<RmsNorm>(in);
    if (!operandOk(bufs_[n.x_buf], n.x_addr, n.x_stride, n.m, n.c) ||
        !operandOk(bufs_[n.y_buf], n.y_addr, n.y_stride, n.m, n.c))
      return false;
    uint64_t xn = extentBeats(n.x_stride, n.m, n.c), yn = extentBeats(n.y_stride, n.m, n.c);
    uint64_t gBytes = uint64_t(n.c) * 2;
    if (yn == 0)
      return true;
    if (uint64_t(n.g_addr) * kBeatBytes + gBytes > bufs_[n.g_buf].size() ||
        !aliasOk(n.y_buf, n.y_addr, n.y_stride, yn, n.x_buf, n.x_addr, n.x_stride, xn) ||
        overlaps(n.y_buf, n.y_addr, yn, n.g_buf, n.g_addr, (gBytes + kBeatBytes - 1) / kBeatBytes))
      return false;
    const uint8_t *px = bufs_[n.x_buf].readSpan(uint64_t(n.x_addr) * kBeatBytes, xn * kBeatBytes);
    const uint8_t *pg = bufs_[n.g_buf].readSpan(uint64_t(n.g_addr) * kBeatBytes, gBytes);
    uint8_t *py = bufs_[n.y_buf].writeSpan(uint64_t(n.y_addr) * kBeatBytes, yn * kBeatBytes);
    if (!px || !pg || !py)
      return false;
    HostOperand X{const_cast<uint8_t *>(px), n.x_stride}, Y{py, n.y_stride};
    float eps = f32FromBits(n.eps);
    std::vector<float> gamma(n.c);
    for (uint64_t c = 0; c < n.c; ++c) {
      uint16_t h;
      std::memcpy(&h, pg + c * 2, 2);
      gamma[c] = f16ToF32(h);
    }
    auto rowFn = [&](uint64_t m, unsigned) { // rows are independent
      if (kernels::rmsNormRow(X.at(m, 0), n.x_stride * kBeatBytes, pg, Y.at(m, 0),
                              n.y_stride * kBeatBytes, n.c, eps, cpuLevel_))
        return;
      std::vector<float> sq(n.c), row(n.c);
      for (uint64_t c = 0; c < n.c; ++c) { // the row is read before it is written
        row[c] = X.get(m, c);
        sq[c] = row[c] * row[c];
      }
      float rinv = rmsInverse(laneTreeSum(sq), n.c, eps);
      for (uint64_t c = 0; c < n.c; ++c) {
        float v = row[c] * rinv;
        Y.put(m, c, v * gamma[c]);
      }
      Y.padRow(m, n.c);
    };
    forEachRow(n.m, n.c, rowFn);
    return true;
  }
  case Opcode::Load: {
    auto l = as<Load>(in);
    SparseMemory &src = l.src_mem == uint32_t(ExtMem::Hbm) ? hbm_ : ddr_;
    SparseMemory &dst = bufs_[l.dst_buf];
    uint32_t p = l.src_mem == uint32_t(ExtMem::Hbm) ? l.hbm_stripe : 1;
    if (!copyInBounds(src, l.src_addr, l.rows, l.row_len, l.src_stride, p) ||
        !copyInBounds(dst, l.dst_addr, l.rows, l.row_len, l.dst_stride, 1))
      return false;
    // One row from read-only mapped or stream-ordered HBM (a weight tile):
    // a deferred copy.
    // A full-width weight load into WBUF: remember its source (relaid tiles).
    const bool weightTile = !relaid_.empty() && l.dst_buf == uint32_t(isa::Buf::Wbuf) &&
                            l.src_mem == uint32_t(ExtMem::Hbm) && l.rows == 1 &&
                            p == kHbmChannels && l.src_addr < kHbmChannelBeats;
    if (!wbufSources_.empty() && l.dst_buf == uint32_t(isa::Buf::Wbuf))
      dropWbufSources(uint64_t(l.dst_addr) * kBeatBytes, uint64_t(l.row_len) * l.rows * kBeatBytes);
    bool done = false;
    if (l.src_mem == uint32_t(ExtMem::Hbm) && l.rows == 1 && l.row_len > 0) {
      // The same weight loads run every step: their source runs are kept
      // (dropped when HBM under them is written).
      const uint32_t stripe = std::max<uint32_t>(p, 1);
      auto same = [&](const LoadRuns &r) {
        return r.srcBeat == l.src_addr && r.beats == l.row_len && r.stripe == stripe;
      };
      size_t i = loadRunsNext_;
      if (i >= loadRuns_.size() || !same(loadRuns_[i])) {
        const uint64_t key = (uint64_t(l.src_addr) << 32) ^ (uint64_t(l.row_len) << 6) ^ stripe;
        auto it = loadRunsIndex_.find(key);
        if (it != loadRunsIndex_.end() && same(loadRuns_[it->second])) {
          i = it->second;
        } else {
          i = loadRuns_.size();
          loadRuns_.push_back({l.src_addr, l.row_len, stripe, {}, false, false, false});
          loadRunsIndex_[key] = uint32_t(i);
        }
      }
      loadRunsNext_ = i + 1;
      LoadRuns &r = loadRuns_[i];
      if (!r.valid) {
        r.ok = hbmRuns(l.src_addr, l.row_len, p, r.runs, &r.privateSrc);
        r.valid = true;
        const uint64_t off = l.src_addr % kHbmChannelBeats;
        loadRunsLo_ = std::min(loadRunsLo_, off * kBeatBytes);
        loadRunsHi_ = std::max(loadRunsHi_, (off + (r.beats + r.stripe - 1) / r.stripe) * kBeatBytes);
      }
      if (r.ok) {
        dst.defer(uint64_t(l.dst_addr) * kBeatBytes, l.row_len, r.runs);
        // From private HBM pages (a section's copied edge page): a write
        // there first performs the deferred copies (hbmWritten).
        if (r.privateSrc) {
          const uint64_t off = l.src_addr % kHbmChannelBeats;
          privateLo_ = std::min(privateLo_, off * kBeatBytes);
          privateHi_ = std::max(privateHi_, (off + (uint64_t(l.row_len) + r.stripe - 1) / r.stripe) * kBeatBytes);
        }
        done = true;
      }
    }
    if (!done)
      copyFast(src, dst, l.src_addr, l.dst_addr, l.rows, l.row_len, l.src_stride, l.dst_stride,
               p, 1);
    if (weightTile)
      wbufSources_.push_back({uint64_t(l.dst_addr) * kBeatBytes, l.row_len, l.src_addr});
    return true;
  }
  case Opcode::Store:
  case Opcode::KvAppend: {
    bool kv = in.opcode == Opcode::KvAppend;
    uint32_t srcBuf, srcAddr, dstAddr, rows, len, srcStride, dstStride, p = 1;
    if (kv) {
      auto s = as<KvAppend>(in);
      srcBuf = s.src_buf, srcAddr = s.src_addr, dstAddr = s.dst_addr, rows = s.rows;
      len = s.row_len, srcStride = s.src_stride, dstStride = s.dst_stride, p = s.hbm_stripe;
    } else {
      auto s = as<Store>(in);
      srcBuf = s.src_buf, srcAddr = s.src_addr, dstAddr = s.dst_addr, rows = s.rows;
      len = s.row_len, srcStride = s.src_stride, dstStride = s.dst_stride;
    }
    SparseMemory &src = bufs_[srcBuf];
    SparseMemory &dst = kv ? hbm_ : ddr_;
    if (!copyInBounds(src, srcAddr, rows, len, srcStride, 1) ||
        !copyInBounds(dst, dstAddr, rows, len, dstStride, p))
      return false;
    copyFast(src, dst, srcAddr, dstAddr, rows, len, srcStride, dstStride, 1, p);
    return true;
  }
  case Opcode::MmQ4: {
    auto mq = as<MmQ4>(in);
    Sparsity sp = Sparsity(mq.sparsity);
    const SparseMemory &xm = bufs_[mq.x_buf], &ym = bufs_[mq.y_buf], &wm = bufs_[mq.w_buf];
    uint64_t rowBeats = q4RowBeats(mq.k, sp), wBeats = uint64_t(mq.n) * rowBeats;
    uint64_t xBeats = extentBeats(mq.x_stride, mq.m, mq.k);
    uint64_t yBeats = extentBeats(mq.y_stride, mq.m, mq.n);
    uint64_t bBeats = mq.has_bias ? (uint64_t(mq.n) * 2 + kBeatBytes - 1) / kBeatBytes : 0;
    if (!operandOk(xm, mq.x_addr, mq.x_stride, mq.m, mq.k) ||
        !operandOk(ym, mq.y_addr, mq.y_stride, mq.m, mq.n) ||
        (uint64_t(mq.w_addr) + wBeats) * kBeatBytes > wm.size() ||
        (uint64_t(mq.b_addr) + bBeats) * kBeatBytes > bufs_[mq.b_buf].size())
      return false;
    if (mq.m == 0)
      return true;
    // An output overlapping an input: the reference path defines the result.
    if (overlaps(mq.y_buf, mq.y_addr, yBeats, mq.x_buf, mq.x_addr, xBeats) ||
        overlaps(mq.y_buf, mq.y_addr, yBeats, mq.w_buf, mq.w_addr, wBeats) ||
        overlaps(mq.y_buf, mq.y_addr, yBeats, mq.b_buf, mq.b_addr, bBeats))
      return false;
    kernels::MmQ4Args a;
    a.x = xm.readSpan(uint64_t(mq.x_addr) * kBeatBytes, xBeats * kBeatBytes);
    a.xStride = mq.x_stride;
    if (!wm.deferredSpan(uint64_t(mq.w_addr) * kBeatBytes, wBeats, a.w))
      return false;
    if (mq.has_bias)
      a.bias = bufs_[mq.b_buf].readSpan(uint64_t(mq.b_addr) * kBeatBytes, bBeats * kBeatBytes);
    a.y = bufs_[mq.y_buf].writeSpan(uint64_t(mq.y_addr) * kBeatBytes, yBeats * kBeatBytes);
    a.yStride = mq.y_stride;
    a.m = mq.m, a.n = mq.n, a.k = mq.k;
    a.sparsity = sp;
    if (!a.x || !a.y || (mq.has_bias && !a.bias))
      return false;
    if (!relaid_.empty() && kernels::hasLanesKernel(cpuLevel_) && mq.w_buf == uint32_t(isa::Buf::Wbuf))
      for (const WbufSource &w : wbufSources_)
        if (w.addr == uint64_t(mq.w_addr) * kBeatBytes && w.beats >= wBeats) {
          auto it = relaid_.find(w.hbmOffset);
          if (it != relaid_.end() && it->second.sparsity == sp && it->second.lanes.k == mq.k &&
              mq.n <= it->second.lanes.rows) {
            ++relaidProducts_;
            // Joins the pending products of the same input (the tiles of
            // a layer), run together when another instruction comes
            // (flushLanes). In between only WBUF loads run (none of them
            // reads an output, or changes an input, bias or weights) and
            // stores are deferred; each output goes to a private buffer,
            // copied into Y in program order at the flush, so a later
            // product may write the same Y (double-buffered outputs, each
            // stored in between: the lm_head's tiles).
            const uint64_t xBytes = xBeats * kBeatBytes;
            bool batch = mq.x_buf != uint32_t(isa::Buf::Wbuf) &&
                         mq.y_buf != uint32_t(isa::Buf::Wbuf) &&
                         (!mq.has_bias || mq.b_buf != uint32_t(isa::Buf::Wbuf));
            if (batch && !lanesArgs_.empty()) {
              const kernels::MmQ4Args &f = lanesArgs_.front();
              batch = f.x == a.x && f.xStride == a.xStride && f.m == a.m && f.k == a.k;
              // No pending output under this input or bias.
              auto apart = [&](uint32_t buf, uint64_t lo, uint64_t hi) {
                for (size_t i = 0; i < lanesArgs_.size(); ++i)
                  if (lanesOut_[i].buf == buf && lanesOut_[i].addr * kBeatBytes < hi &&
                      lo < lanesOut_[i].addr * kBeatBytes + lanesOut_[i].data.size())
                    return false;
                return true;
              };
              batch = batch && apart(mq.x_buf, uint64_t(mq.x_addr) * kBeatBytes, uint64_t(mq.x_addr) * kBeatBytes + xBytes);
              batch = batch && (!mq.has_bias || apart(mq.b_buf, uint64_t(mq.b_addr) * kBeatBytes,
                                                     (uint64_t(mq.b_addr) + bBeats) * kBeatBytes));
            }
            if (!batch) {
              flushLanes();
              mmQ4_.runLanes(a, it->second.lanes, *pool_, cpuLevel_);
              return true;
            }
            const size_t idx = lanesArgs_.size();
            if (lanesOut_.size() <= idx)
              lanesOut_.resize(idx + 1);
            LanesOut &o = lanesOut_[idx];
            o.buf = mq.y_buf, o.addr = mq.y_addr;
            o.data.resize(yBeats * kBeatBytes);
            a.y = o.data.data();
            lanesArgs_.push_back(a);
            lanesW_.push_back(it->second.lanes);
            lanesOrder_.push_back({int64_t(idx), {}});
            return true;
          }
          break;
        }
    flushLanes();
    mmQ4_.run(a, *pool_, cpuLevel_);
    return true;
  }
  case Opcode::MmF16: {
    auto mm = as<MmF16>(in);
    const SparseMemory &am = bufs_[mm.a_buf], &bm = bufs_[mm.b_buf], &cm = bufs_[mm.c_buf];
    uint64_t bRows = mm.trans_b ? mm.n : mm.k, bChans = mm.trans_b ? mm.k : mm.n;
    if (!operandOk(am, mm.a_addr, mm.a_stride, mm.m, mm.k) ||
        !operandOk(bm, mm.b_addr, mm.b_stride, bRows, bChans) ||
        !operandOk(cm, mm.c_addr, mm.c_stride, mm.m, mm.n))
      return false;
    uint64_t aBeats = extentBeats(mm.a_stride, mm.m, mm.k);
    uint64_t bBeats = extentBeats(mm.b_stride, bRows, bChans);
    uint64_t cBeats = extentBeats(mm.c_stride, mm.m, mm.n);
    if (cBeats == 0)
      return true;
    if (overlaps(mm.c_buf, mm.c_addr, cBeats, mm.a_buf, mm.a_addr, aBeats) ||
        overlaps(mm.c_buf, mm.c_addr, cBeats, mm.b_buf, mm.b_addr, bBeats))
      return false;
    kernels::MmF16Args a;
    a.a = am.readSpan(uint64_t(mm.a_addr) * kBeatBytes, aBeats * kBeatBytes);
    a.b = bm.readSpan(uint64_t(mm.b_addr) * kBeatBytes, bBeats * kBeatBytes);
    a.c = bufs_[mm.c_buf].writeSpan(uint64_t(mm.c_addr) * kBeatBytes, cBeats * kBeatBytes);
    if (!a.a || !a.b || !a.c)
      return false;
    a.aStride = mm.a_stride, a.bStride = mm.b_stride, a.cStride = mm.c_stride;
    a.m = mm.m, a.n = mm.n, a.k = mm.k;
    a.transB = mm.trans_b, a.acc = mm.acc;
    a.alpha = f32FromBits(mm.alpha);
    kernels::mmF16(a, *pool_, cpuLevel_);
    return true;
  }
  default:
    return false;
  }
}

bool GoldenModel::execute(const Pending &p, RunResult &r) {
  if (profile_) {
    auto t0 = std::chrono::steady_clock::now();
    double f0 = flushSeconds_;
    bool ok = executeOne(p, r);
    unsigned op = unsigned(p.inst.opcode) & 63;
    // Pending mm_q4 work run meanwhile counts as mm_q4's.
    double flushed = flushSeconds_ - f0;
    profSeconds_[op] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - flushed;
    profSeconds_[unsigned(isa::Opcode::MmQ4) & 63] += flushed;
    ++profCount_[op];
    return ok;
  }
  return executeOne(p, r);
}

void GoldenModel::forEachRow(uint64_t rows, uint64_t channels,
                             const std::function<void(uint64_t, unsigned)> &fn) {
  if (rows > 1 && rows * channels >= 4096)
    pool_->parallelFor(rows, fn);
  else
    for (uint64_t m = 0; m < rows; ++m)
      fn(m, 0);
}

void GoldenModel::flushLanes() {
  if (lanesArgs_.empty())
    return;
  auto t0 = std::chrono::steady_clock::now();
  mmQ4_.runLanesBatch(lanesArgs_.data(), lanesW_.data(), lanesArgs_.size(), *pool_, cpuLevel_);
  for (const LanesStep &st : lanesOrder_) {
    if (st.product < 0) {
      [[maybe_unused]] bool ok = executeFast(st.store); // bounds checked when deferred
      assert(ok);
      continue;
    }
    const LanesOut &o = lanesOut_[size_t(st.product)];
    const kernels::MmQ4Args &a = lanesArgs_[size_t(st.product)];
    uint8_t *y = bufs_[o.buf].writeSpan(o.addr * kBeatBytes, o.data.size());
    if (a.yStride == a.m) {
      std::memcpy(y, o.data.data(), o.data.size());
      continue;
    }
    for (uint64_t b = 0; b < (uint64_t(a.n) + kLanes - 1) / kLanes; ++b)
      std::memcpy(y + b * a.yStride * kBeatBytes, o.data.data() + b * a.yStride * kBeatBytes,
                  a.m * kBeatBytes);
  }
  lanesArgs_.clear();
  lanesW_.clear();
  lanesOrder_.clear();
  flushSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool GoldenModel::executeOne(const Pending &p, RunResult &r) {
  using namespace isa;
  // Pending products run before anything but another mm_q4 (which joins
  // them or flushes them itself), weight loads into WBUF from HBM, and
  // stores from outside WBUF into DDR (deferred to the flush, in order:
  // they may read pending outputs).
  if (!lanesArgs_.empty() && p.inst.opcode == Opcode::Store && kernels_ == Kernels::Fast) {
    auto s = as<Store>(p.inst);
    if (s.src_buf != uint32_t(Buf::Wbuf) &&
        copyInBounds(bufs_[s.src_buf], s.src_addr, s.rows, s.row_len, s.src_stride, 1) &&
        copyInBounds(ddr_, s.dst_addr, s.rows, s.row_len, s.dst_stride, 1)) {
      lanesOrder_.push_back({-1, p.inst});
      ++r.executed;
      return true;
    }
  }
  if (!lanesArgs_.empty() && p.inst.opcode != Opcode::MmQ4 &&
      !(p.inst.opcode == Opcode::Load && as<Load>(p.inst).dst_buf == uint32_t(Buf::Wbuf) &&
        as<Load>(p.inst).src_mem == uint32_t(ExtMem::Hbm)))
    flushLanes();
  if (kernels_ == Kernels::Fast && executeFast(p.inst)) {
    ++r.executed;
    return true;
  }
  flushLanes(); // the reference path below may read anything
  Failure f;
  Exec x(*this, f);
  const Instruction &in = p.inst;
  switch (in.opcode) {
  case Opcode::Load: {
    auto l = as<Load>(in);
    copy2d(l.src_mem == uint32_t(ExtMem::Hbm) ? hbm_ : ddr_, bufs_[l.dst_buf], l.src_addr,
           l.dst_addr, l.rows, l.row_len, l.src_stride, l.dst_stride, l.hbm_stripe, 1, f);
    break;
  }
  case Opcode::Store: {
    auto s = as<Store>(in);
    copy2d(bufs_[s.src_buf], ddr_, s.src_addr, s.dst_addr, s.rows, s.row_len, s.src_stride,
           s.dst_stride, 1, 1, f);
    break;
  }
  case Opcode::KvAppend: {
    auto s = as<KvAppend>(in);
    copy2d(bufs_[s.src_buf], hbm_, s.src_addr, s.dst_addr, s.rows, s.row_len, s.src_stride,
           s.dst_stride, 1, s.hbm_stripe, f);
    break;
  }
  case Opcode::Sync:
    break;
  case Opcode::Eltwise: {
    auto e = as<Eltwise>(in);
    Operand a = x.operand(e.a_buf, e.a_addr, e.a_stride, e.m, e.c, "a");
    Operand b = x.operand(e.b_buf, e.b_addr, e.b_stride, e.bcast_b ? 1 : e.m, e.c, "b");
    Operand y = x.operand(e.y_buf, e.y_addr, e.y_stride, e.m, e.c, "y");
    if (f)
      break;
    for (uint64_t m = 0; m < e.m; ++m) {
      for (uint64_t c = 0; c < e.c; ++c) {
        if (e.op == uint32_t(EwOp::Copy)) {
          x.putBits(y, m, c, x.getBits(a, m, c));
          continue;
        }
        float av = x.get(a, m, c), bv = x.get(b, e.bcast_b ? 0 : m, c);
        x.put(y, m, c, e.op == uint32_t(EwOp::Add) ? av + bv : av * bv);
      }
      x.padRow(y, m, e.c);
    }
    break;
  }
  case Opcode::SiluMul: {
    auto s = as<SiluMul>(in);
    Operand a = x.operand(s.a_buf, s.a_addr, s.a_stride, s.m, s.c, "a");
    Operand b = x.operand(s.b_buf, s.b_addr, s.b_stride, s.m, s.c, "b");
    Operand y = x.operand(s.y_buf, s.y_addr, s.y_stride, s.m, s.c, "y");
    if (f)
      break;
    for (uint64_t m = 0; m < s.m; ++m) {
      for (uint64_t c = 0; c < s.c; ++c) {
        x.put(y, m, c, siluMul(x.get(a, m, c), x.get(b, m, c)));
      }
      x.padRow(y, m, s.c);
    }
    break;
  }
  case Opcode::RmsNorm: {
    auto n = as<RmsNorm>(in);
    Operand xi = x.operand(n.x_buf, n.x_addr, n.x_stride, n.m, n.c, "x");
    Operand y = x.operand(n.y_buf, n.y_addr, n.y_stride, n.m, n.c, "y");
    if (f)
      break;
    float eps = f32FromBits(n.eps);
    std::vector<float> sq(n.c), row(n.c);
    for (uint64_t m = 0; m < n.m; ++m) {
      for (uint64_t c = 0; c < n.c; ++c) {
        row[c] = x.get(xi, m, c);
        sq[c] = row[c] * row[c];
      }
      float rinv = rmsInverse(laneTreeSum(sq), n.c, eps);
      for (uint64_t c = 0; c < n.c; ++c) {
        float v = row[c] * rinv;
        x.put(y, m, c, v * x.vec(n.g_buf, n.g_addr, c));
      }
      x.padRow(y, m, n.c);
    }
    break;
  }
  case Opcode::Softmax: {
    auto s = as<Softmax>(in);
    Operand xi = x.operand(s.x_buf, s.x_addr, s.x_stride, s.m, s.n, "x");
    Operand y = x.operand(s.y_buf, s.y_addr, s.y_stride, s.m, s.n, "y");
    if (f)
      break;
    int64_t diag = int64_t(int32_t(s.diag));
    std::vector<float> e(s.n);
    for (uint64_t i = 0; i < s.m; ++i) {
      auto valid = [&](uint64_t j) { return !s.causal || int64_t(j) <= diag + int64_t(i); };
      float mx = -INFINITY;
      bool any = false;
      for (uint64_t j = 0; j < s.n; ++j)
        if (valid(j)) {
          float v = x.get(xi, i, j);
          any = true;
          mx = v > mx ? v : mx;
        }
      for (uint64_t j = 0; j < s.n; ++j)
        e[j] = valid(j) && any ? isaExp(x.get(xi, i, j) - mx) : 0.0f;
      float inv = 1.0f / laneTreeSum(e);
      for (uint64_t j = 0; j < s.n; ++j)
        x.put(y, i, j, valid(j) && any ? e[j] * inv : 0.0f);
      x.padRow(y, i, s.n);
    }
    break;
  }
  case Opcode::Rope: {
    auto ro = as<Rope>(in);
    uint64_t chans = uint64_t(ro.heads) * ro.head_dim;
    Operand xi = x.operand(ro.x_buf, ro.x_addr, ro.x_stride, ro.m, chans, "x");
    Operand y = x.operand(ro.y_buf, ro.y_addr, ro.y_stride, ro.m, chans, "y");
    if (f)
      break;
    SparseMemory &tmem = bufs_[ro.t_buf];
    std::vector<float> row(chans);
    std::vector<uint16_t> bits(chans);
    for (uint64_t i = 0; i < ro.m; ++i) {
      for (uint64_t c = 0; c < chans; ++c) { // read the row first: in place is allowed
        bits[c] = x.getBits(xi, i, c);
        row[c] = f16ToF32(bits[c]);
      }
      std::vector<float> out = row;
      uint64_t tbase = (ro.t_addr + i * (ro.rot_dim / 8)) * kBeatBytes;
      for (uint64_t h = 0; h < ro.heads; ++h)
        for (uint64_t p = 0; p < ro.rot_dim / 2; ++p) {
          uint64_t base = h * ro.head_dim;
          uint64_t a = ro.pairs == uint32_t(PairMode::Interleaved) ? base + 2 * p : base + p;
          uint64_t b2 = ro.pairs == uint32_t(PairMode::Interleaved) ? base + 2 * p + 1
                                                                    : base + p + ro.rot_dim / 2;
          float cs[2];
          tmem.read(tbase + 8 * p, cs, 8);
          float xa = row[a], xb = row[b2];
          out[a] = xa * cs[0] - xb * cs[1];
          out[b2] = xb * cs[0] + xa * cs[1];
        }
      for (uint64_t c = 0; c < chans; ++c) {
        bool rotated = (c % ro.head_dim) < ro.rot_dim;
        if (rotated)
          x.put(y, i, c, out[c]);
        else
          x.putBits(y, i, c, bits[c]); // copied unchanged
      }
      x.padRow(y, i, chans);
    }
    break;
  }
  case Opcode::MmF16: {
    auto mm = as<MmF16>(in);
    Operand a = x.operand(mm.a_buf, mm.a_addr, mm.a_stride, mm.m, mm.k, "a");
    Operand b = mm.trans_b ? x.operand(mm.b_buf, mm.b_addr, mm.b_stride, mm.n, mm.k, "b")
                           : x.operand(mm.b_buf, mm.b_addr, mm.b_stride, mm.k, mm.n, "b");
    Operand c = x.operand(mm.c_buf, mm.c_addr, mm.c_stride, mm.m, mm.n, "c");
    if (f)
      break;
    float alpha = f32FromBits(mm.alpha);
    for (uint64_t i = 0; i < mm.m; ++i) {
      for (uint64_t j = 0; j < mm.n; ++j) {
        float acc = 0.0f;
        for (uint64_t t = 0; t < mm.k; t += kLanes) {
          float prod[kLanes] = {};
          for (uint64_t l = 0; l < kLanes && t + l < mm.k; ++l)
            prod[l] = x.get(a, i, t + l) * (mm.trans_b ? x.get(b, j, t + l) : x.get(b, t + l, j));
          acc = acc + treeSum16(prod);
        }
        float r2 = acc * alpha;
        x.put(c, i, j, mm.acc ? x.get(c, i, j) + r2 : r2);
      }
      x.padRow(c, i, mm.n);
    }
    break;
  }
  case Opcode::MmQ4: {
    auto mq = as<MmQ4>(in);
    Sparsity sp = Sparsity(mq.sparsity);
    Operand xi = x.operand(mq.x_buf, mq.x_addr, mq.x_stride, mq.m, mq.k, "x");
    Operand y = x.operand(mq.y_buf, mq.y_addr, mq.y_stride, mq.m, mq.n, "y");
    uint64_t rowBeats = q4RowBeats(mq.k, sp);
    if ((uint64_t(mq.w_addr) + uint64_t(mq.n) * rowBeats) * kBeatBytes > bufs_[mq.w_buf].size())
      f.set(Fault::Address, "weights lie outside their buffer");
    if (f)
      break;
    SparseMemory &wm = bufs_[mq.w_buf];
    unsigned payload = groupPayloadBytes(sp);
    std::vector<uint8_t> rowBytes(rowBeats * kBeatBytes);
    std::vector<uint16_t> xs(mq.k);
    for (uint64_t n = 0; n < mq.n; ++n) {
      wm.read((mq.w_addr + n * rowBeats) * kBeatBytes, rowBytes.data(), rowBytes.size());
      for (uint64_t m = 0; m < mq.m; ++m) {
        for (uint64_t k = 0; k < mq.k; ++k)
          xs[k] = x.getBits(xi, m, k);
        float acc = 0.0f;
        const uint8_t *p = rowBytes.data();
        for (uint64_t b0 = 0; b0 < mq.k; b0 += kQuantBlock) {
          uint64_t len = std::min<uint64_t>(kQuantBlock, mq.k - b0);
          uint64_t ng = (len + kQuantGroup - 1) / kQuantGroup;
          for (uint64_t g = 0; g < ng; ++g) {
            uint16_t scale = uint16_t(p[2 * g] | p[2 * g + 1] << 8);
            int8_t w[kQuantGroup];
            q4DecodeGroup(p + kBeatBytes + g * payload, sp, w);
            uint64_t s = b0 + g * kQuantGroup;
            unsigned count = unsigned(std::min<uint64_t>(kQuantGroup, mq.k - s));
            float v = q4GroupDot(xs.data() + s, w, count);
            acc = acc + v * f16ToF32(scale);
          }
          p += kBeatBytes + (ng * payload + kBeatBytes - 1) / kBeatBytes * kBeatBytes;
        }
        if (mq.has_bias)
          acc = acc + x.vec(mq.b_buf, mq.b_addr, n);
        x.put(y, m, n, acc);
      }
    }
    for (uint64_t m = 0; m < mq.m; ++m)
      x.padRow(y, m, mq.n);
    break;
  }
  default:
    f.set(Fault::Decode, "not an engine instruction");
  }
  if (f) {
    r.fault = f.fault;
    r.faultIndex = p.index;
    r.message = f.message;
    return false;
  }
  ++r.executed;
  return true;
}

/// Token FIFO between two queues.
static int fifo(isa::Queue from, isa::Queue to) {
  using Q = isa::Queue;
  if (from == Q::Load && to == Q::Compute)
    return 0;
  if (from == Q::Compute && to == Q::Load)
    return 1;
  if (from == Q::Compute && to == Q::Store)
    return 2;
  if (from == Q::Store && to == Q::Compute)
    return 3;
  return -1;
}
static isa::Queue prevOf(isa::Queue q) {
  return q == isa::Queue::Compute ? isa::Queue::Load : isa::Queue::Compute;
}
static isa::Queue nextOf(isa::Queue q) {
  return q == isa::Queue::Load ? isa::Queue::Compute : isa::Queue::Store;
}

bool GoldenModel::drain(RunResult &r, bool untilEmpty) {
  using isa::Queue;
  const uint32_t depth = target_.queues.tokenFifoDepth;
  while (true) {
    // The ready queue head with the smallest program index runs next.
    int best = -1;
    for (Queue q : {Queue::Load, Queue::Compute, Queue::Store}) {
      auto &qu = queues_[unsigned(q)];
      size_t h = heads_[unsigned(q)];
      if (h >= qu.size())
        continue;
      const isa::Deps &d = qu[h].inst.deps;
      std::array<uint32_t, 4> t = tokens_;
      bool ready = true;
      if (d.waitPrev)
        ready &= t[fifo(prevOf(q), q)]-- > 0;
      if (d.waitNext)
        ready &= t[fifo(nextOf(q), q)]-- > 0;
      if (d.signalPrev)
        ready &= ++t[fifo(q, prevOf(q))] <= depth;
      if (d.signalNext)
        ready &= ++t[fifo(q, nextOf(q))] <= depth;
      if (!ready)
        continue;
      if (best < 0 || (randomIssue_ ? (rng_() & 1) != 0
                                    : qu[h].index < queues_[best][heads_[best]].index))
        best = int(q);
    }
    if (best < 0) {
      bool empty = true;
      uint32_t first = UINT32_MAX;
      for (Queue q : {Queue::Load, Queue::Compute, Queue::Store})
        if (heads_[unsigned(q)] < queues_[unsigned(q)].size()) {
          empty = false;
          first = std::min(first, queues_[unsigned(q)][heads_[unsigned(q)]].index);
        }
      if (empty || !untilEmpty)
        return true;
      r.fault = isa::Fault::Deadlock;
      r.faultIndex = first;
      r.message = "waits for a dependency token that never comes";
      return false;
    }
    Queue q = Queue(best);
    const Pending &p = queues_[best][heads_[best]++];
    const isa::Deps &d = p.inst.deps;
    if (d.waitPrev)
      --tokens_[fifo(prevOf(q), q)];
    if (d.waitNext)
      --tokens_[fifo(nextOf(q), q)];
    if (!execute(p, r))
      return false;
    if (d.signalPrev)
      ++tokens_[fifo(q, prevOf(q))];
    if (d.signalNext)
      ++tokens_[fifo(q, nextOf(q))];
  }
}

RunResult GoldenModel::run(const std::vector<isa::Instruction> &program) {
  RunResult r = runProgram(program);
  double f0 = flushSeconds_;
  flushLanes(); // the last pending products (before any fault, in program order)
  if (profile_)
    profSeconds_[unsigned(isa::Opcode::MmQ4) & 63] += flushSeconds_ - f0;
  return r;
}

RunResult GoldenModel::runProgram(const std::vector<isa::Instruction> &program) {
  RunResult r;
  for (auto &q : queues_)
    q.clear();
  heads_ = {};
  tokens_ = {};
  for (uint32_t i = 0; i < program.size(); ++i) {
    isa::Instruction inst = program[i];
    isa::DecodeResult v = isa::validate(inst);
    if (!v) {
      r.fault = isa::Fault::Decode;
      r.faultIndex = i;
      r.message = isa::describe(v, isa::lookup(uint32_t(inst.opcode)));
      return r;
    }
    const isa::InstrSpec &s = inst.spec();
    // Dynamic values are resolved at dispatch: x += R[x_reg].
    for (unsigned fi = 0; fi < s.numFields; ++fi)
      if (int base = s.fields[fi].dynamicOf; base >= 0)
        inst.values[base] += reg(inst.values[fi]);
    switch (s.queue) {
    case isa::Queue::Dispatch:
      if (inst.opcode == isa::Opcode::RegOp) {
        auto o = isa::as<isa::RegOp>(inst);
        uint32_t v = isa::aluResult(isa::AluOp(o.op), reg(o.ra), reg(o.rb) + o.imm);
        setReg(o.rd, v);
        ++r.executed;
      } else if (inst.opcode == isa::Opcode::Barrier || inst.opcode == isa::Opcode::End) {
        if (!drain(r, true))
          return r;
        ++r.executed;
        if (inst.opcode == isa::Opcode::End) {
          if (tokens_ != std::array<uint32_t, 4>{}) {
            r.fault = isa::Fault::UnbalancedTokens;
            r.faultIndex = i;
            r.message = "dependency tokens left at end";
          }
          return r;
        }
      } else {
        ++r.executed; // nop
      }
      break;
    default:
      queues_[unsigned(s.queue)].push_back({i, inst});
      // Run what can run now, keeping the queues short (with random issue
      // the queues fill up to the next barrier, so any order the tokens
      // allow can happen).
      if (!randomIssue_ && !drain(r, false))
        return r;
    }
  }
  r.fault = isa::Fault::NoEnd;
  r.faultIndex = uint32_t(program.size());
  r.message = "the program has no end";
  return r;
}
