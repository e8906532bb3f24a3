//===- Engines.h - Memories and engines inside the HLS kernel ----*- C++ -*-===//
//
// Internal to hw/hls: the on-chip buffers, the AXI masters, and one function
// per engine instruction. Every engine function gets an instruction whose
// dynamic fields the dispatch unit has already resolved, checks its operands
// first (an address or layout fault stops the device before the instruction
// has any effect) and returns the fault, isa::Fault::None on success.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_HLS_ENGINES_H
#define EDGELLM_HW_HLS_ENGINES_H

#include "Accel.h"

#include <initializer_list>

namespace edgellm::hls {

//===----------------------------------------------------------------------===//
// On-chip buffers (URAM on the VCU128)
//===----------------------------------------------------------------------===//

struct OnChip {
  beat_t abuf[kAbufBeats];
  beat_t wbuf[kWbufBeats];
  beat_t kbuf[kKbufBeats];
  beat_t pbuf[kPbufBeats];
};

constexpr uint64_t bufBeats(uint32_t buf) {
  return buf == uint32_t(isa::Buf::Abuf)   ? kAbufBeats
         : buf == uint32_t(isa::Buf::Wbuf) ? kWbufBeats
         : buf == uint32_t(isa::Buf::Kbuf) ? kKbufBeats
                                           : kPbufBeats;
}

/// Beat `addr` of buffer `buf` (the caller has checked the address).
inline beat_t &bufAt(OnChip &oc, uint32_t buf, uint64_t addr) {
  switch (isa::Buf(buf)) {
  case isa::Buf::Abuf:
    return oc.abuf[addr];
  case isa::Buf::Wbuf:
    return oc.wbuf[addr];
  case isa::Buf::Kbuf:
    return oc.kbuf[addr];
  default:
    return oc.pbuf[addr];
  }
}

/// An operand in the unified layout: element (m, c) is lane c % 16 of beat
/// addr + (c / 16) * stride + m.
struct Operand {
  uint32_t buf;
  uint64_t addr, stride;
  uint64_t beatOf(uint64_t block, uint64_t row) const { return addr + block * stride + row; }
};

/// Beats an operand of `rows` x `chans` spans from its address (0 if empty).
constexpr uint64_t extentBeats(uint64_t stride, uint64_t rows, uint64_t chans) {
  uint64_t blocks = (chans + isa::kLanes - 1) / isa::kLanes;
  return blocks == 0 || rows == 0 ? 0 : (blocks - 1) * stride + rows;
}

/// docs/isa.md section 3: more than one channel block with fewer token slots
/// than rows is a layout fault; a beat past the buffer an address fault.
inline isa::Fault checkOperand(uint32_t buf, uint64_t addr, uint64_t stride, uint64_t rows,
                               uint64_t chans) {
  uint64_t blocks = (chans + isa::kLanes - 1) / isa::kLanes;
  if (blocks > 1 && stride < rows)
    return isa::Fault::Layout;
  if (addr + extentBeats(stride, rows, chans) > bufBeats(buf))
    return isa::Fault::Address;
  return isa::Fault::None;
}

/// The first fault of a list of checks (in the order the golden model checks
/// operands), or None.
inline isa::Fault firstFault(std::initializer_list<isa::Fault> checks) {
  for (isa::Fault f : checks)
    if (f != isa::Fault::None)
      return f;
  return isa::Fault::None;
}

/// A vector of `n` FP16 values from beat `addr` (gamma, bias) lies in its buffer.
inline isa::Fault checkVector(uint32_t buf, uint64_t addr, uint64_t n) {
  return addr + (n + isa::kLanes - 1) / isa::kLanes > bufBeats(buf) ? isa::Fault::Address
                                                                    : isa::Fault::None;
}

//===----------------------------------------------------------------------===//
// The AXI masters
//===----------------------------------------------------------------------===//

#define EDGELLM_HLS_HBM_MEMBER(n) beat_t *hbm##n;
struct OffChip {
  const beat_t *instr;
  beat_t *ddr;
  EDGELLM_HLS_HBM_PORTS(EDGELLM_HLS_HBM_MEMBER)

  /// Beat `addr` of HBM (channel * 2^23 + offset), through the pseudo-channel's port.
  beat_t readHbm(uint64_t addr) const;
  void writeHbm(uint64_t addr, const beat_t &v);
  beat_t readDdr(uint64_t addr) const;
  void writeDdr(uint64_t addr, const beat_t &v);
  beat_t fetch(uint64_t addr) const;
};
#undef EDGELLM_HLS_HBM_MEMBER

//===----------------------------------------------------------------------===//
// Engines
//===----------------------------------------------------------------------===//

/// Load queue: `load` (HBM, optionally striped, or DDR -> on-chip buffer).
isa::Fault execLoad(const isa::Load &in, OffChip &mem, OnChip &oc);
/// Store queue: `store` (-> DDR) and `kv_append` (-> HBM, the KV-cache write port).
isa::Fault execStore(const isa::Store &in, OffChip &mem, OnChip &oc);
isa::Fault execKvAppend(const isa::KvAppend &in, OffChip &mem, OnChip &oc);

/// Compute queue: the FP16 x INT4 group-vector array.
isa::Fault execMmQ4(const isa::MmQ4 &in, OnChip &oc);
/// Compute queue: the FP16 x FP16 attention engine.
isa::Fault execMmF16(const isa::MmF16 &in, OnChip &oc);
/// Compute queue: the special-function unit.
isa::Fault execRmsNorm(const isa::RmsNorm &in, OnChip &oc);
isa::Fault execSoftmax(const isa::Softmax &in, OnChip &oc);
isa::Fault execRope(const isa::Rope &in, OnChip &oc);
isa::Fault execSiluMul(const isa::SiluMul &in, OnChip &oc);
isa::Fault execEltwise(const isa::Eltwise &in, OnChip &oc);

/// One processing element group of the FP16 x INT4 array (kPeLanes lanes),
/// its four stages run back to back: the group's dot product before the
/// scale, as isa::q4GroupDot defines it. Lanes at or past `count` are off.
/// Exposed for the unit test that compares it with q4GroupDot.
float peGroupDot(const uint16_t x[kPeLanes], const int8_t w[kPeLanes], unsigned count);

} // namespace edgellm::hls

#endif // EDGELLM_HW_HLS_ENGINES_H
