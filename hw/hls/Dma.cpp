//===- Dma.cpp - The load and store engines (2-D DMA) ----------------------===//
//
// `load`: HBM or DDR -> on-chip buffer; `store`: on-chip -> DDR; `kv_append`:
// on-chip -> HBM through the KV-cache write port. A 2-D copy of `rows` rows of
// `row_len` beats (docs/isa.md section 6). With hbm_stripe = P > 1, beat j of
// row r lives in pseudo-channel ch + (j mod P) (mod 32) at offset
// off + r * stride + j / P: a row streams from P AXI ports in turn, one beat
// each, so a weight tile (rows = 1, P = 32) keeps all 32 ports busy.
//
// The whole transfer is bounds-checked before the first beat moves, so a
// faulting copy has no effect. The load engine and the store engine are two
// instances of the same copy loop.
//
//===----------------------------------------------------------------------===//

#include "Engines.h"

using namespace edgellm;
using namespace edgellm::hls;

namespace {

enum class Space { Hbm, Ddr, OnChip };

/// One side of a copy: beat r * stride + j from base, striped over `stripe`
/// pseudo-channels in HBM.
struct Side {
  Space space;
  uint32_t buf; ///< for OnChip
  uint64_t base, stride;
  uint32_t stripe;

  uint64_t size() const {
    return space == Space::Hbm ? kHbmBeats : space == Space::Ddr ? kDdrBeats : bufBeats(buf);
  }
  /// Every beat of rows x len lies inside the memory; with a stripe, every
  /// per-channel offset stays below 2^23.
  bool inBounds(uint64_t rows, uint64_t len) const {
    if (rows == 0 || len == 0)
      return true;
    if (stripe <= 1)
      return base + (rows - 1) * stride + len <= size();
    uint64_t off = base % kHbmChannelBeats;
    return off + (rows - 1) * stride + (len - 1) / stripe < kHbmChannelBeats;
  }
  uint64_t beat(uint64_t r, uint64_t j) const {
    if (stripe <= 1)
      return base + r * stride + j;
    uint64_t ch = base / kHbmChannelBeats, off = base % kHbmChannelBeats;
    return ((ch + j % stripe) % isa::kHbmChannels) * kHbmChannelBeats + off + r * stride +
           j / stripe;
  }
};

isa::Fault copy2d(OffChip &mem, OnChip &oc, const Side &src, const Side &dst, uint64_t rows,
                  uint64_t len) {
  if (!src.inBounds(rows, len) || !dst.inBounds(rows, len))
    return isa::Fault::Address;
COPY_ROWS:
  for (uint64_t r = 0; r < rows; ++r) {
#pragma HLS loop_tripcount max = 65535
  COPY_BEATS:
    for (uint64_t j = 0; j < len; ++j) {
#pragma HLS loop_tripcount max = 131072
#pragma HLS pipeline II = 1
      uint64_t s = src.beat(r, j), d = dst.beat(r, j);
      beat_t v = src.space == Space::Hbm   ? mem.readHbm(s)
                 : src.space == Space::Ddr ? mem.readDdr(s)
                                           : bufAt(oc, src.buf, s);
      if (dst.space == Space::Hbm)
        mem.writeHbm(d, v);
      else if (dst.space == Space::Ddr)
        mem.writeDdr(d, v);
      else
        bufAt(oc, dst.buf, d) = v;
    }
  }
  return isa::Fault::None;
}

} // namespace

isa::Fault hls::execLoad(const isa::Load &in, OffChip &mem, OnChip &oc) {
  const bool hbm = in.src_mem == uint32_t(isa::ExtMem::Hbm);
  Side src{hbm ? Space::Hbm : Space::Ddr, 0, in.src_addr, in.src_stride, hbm ? in.hbm_stripe : 1};
  Side dst{Space::OnChip, in.dst_buf, in.dst_addr, in.dst_stride, 1};
  return copy2d(mem, oc, src, dst, in.rows, in.row_len);
}

isa::Fault hls::execStore(const isa::Store &in, OffChip &mem, OnChip &oc) {
  Side src{Space::OnChip, in.src_buf, in.src_addr, in.src_stride, 1};
  Side dst{Space::Ddr, 0, in.dst_addr, in.dst_stride, 1};
  return copy2d(mem, oc, src, dst, in.rows, in.row_len);
}

isa::Fault hls::execKvAppend(const isa::KvAppend &in, OffChip &mem, OnChip &oc) {
  Side src{Space::OnChip, in.src_buf, in.src_addr, in.src_stride, 1};
  Side dst{Space::Hbm, 0, in.dst_addr, in.dst_stride, in.hbm_stripe};
  return copy2d(mem, oc, src, dst, in.rows, in.row_len);
}
