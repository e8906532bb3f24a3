//===- HlsTypes.h - The 256-bit beat and the FIFOs of the HLS kernel -*- C++ -*-===//
//
// The kernel's data types, so that it compiles both under Vitis HLS and, for
// C simulation, with a plain C++17 compiler on a machine without Xilinx
// headers:
//
// - `beat_t`: one 256-bit AXI word (16 FP16 lanes). Under Vitis HLS
//   (EDGELLM_HLS_XILINX, set when <ap_int.h> is used) it is ap_uint<256>;
//   otherwise a struct of four little-endian 64-bit words with the same bit
//   numbering (bit b is bit b % 64 of word b / 64), which is also the layout
//   of isa::Word. The kernel touches beats only through the accessors below.
// - `Fifo<T, Depth>`: a bounded FIFO with non-blocking access, the stand-in
//   for hls::stream<T> with `#pragma HLS STREAM depth=Depth`.
// - `TokenFifo<Depth>`: a dependency-token FIFO. Tokens carry no data, so the
//   hardware keeps a counter of 0..Depth; docs/isa.md section 5.
//
// `#pragma HLS` lines are ignored by g++ (compile with -Wno-unknown-pragmas).
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_HLS_HLSTYPES_H
#define EDGELLM_HW_HLS_HLSTYPES_H

#include "edgellm/hw/Isa.h"

#include <cstdint>

#if defined(EDGELLM_HLS_XILINX)
#include <ap_int.h>
#endif

namespace edgellm::hls {

#if defined(EDGELLM_HLS_XILINX)
using beat_t = ap_uint<256>;

inline uint16_t lane16(const beat_t &b, unsigned l) {
  return uint16_t(b.range(16 * l + 15, 16 * l));
}
inline void setLane16(beat_t &b, unsigned l, uint16_t v) { b.range(16 * l + 15, 16 * l) = v; }
inline uint8_t byte8(const beat_t &b, unsigned i) { return uint8_t(b.range(8 * i + 7, 8 * i)); }
inline uint32_t word32(const beat_t &b, unsigned i) {
  return uint32_t(b.range(32 * i + 31, 32 * i));
}
inline uint64_t word64(const beat_t &b, unsigned i) {
  return uint64_t(b.range(64 * i + 63, 64 * i));
}
inline beat_t zeroBeat() { return beat_t(0); }
inline isa::Word toWord(const beat_t &b) {
  isa::Word w;
  for (unsigned i = 0; i < isa::kInstrWords; ++i)
    w[i] = word64(b, i);
  return w;
}
#else
/// C-simulation stand-in for ap_uint<256>.
struct beat_t {
  uint64_t w[4];
};

inline uint16_t lane16(const beat_t &b, unsigned l) {
  return uint16_t(b.w[l / 4] >> (16 * (l % 4)));
}
inline void setLane16(beat_t &b, unsigned l, uint16_t v) {
  unsigned s = 16 * (l % 4);
  b.w[l / 4] = (b.w[l / 4] & ~(uint64_t(0xffff) << s)) | (uint64_t(v) << s);
}
inline uint8_t byte8(const beat_t &b, unsigned i) { return uint8_t(b.w[i / 8] >> (8 * (i % 8))); }
inline uint32_t word32(const beat_t &b, unsigned i) {
  return uint32_t(b.w[i / 2] >> (32 * (i % 2)));
}
inline uint64_t word64(const beat_t &b, unsigned i) { return b.w[i]; }
inline beat_t zeroBeat() { return beat_t{{0, 0, 0, 0}}; }
inline isa::Word toWord(const beat_t &b) { return {b.w[0], b.w[1], b.w[2], b.w[3]}; }
#endif

/// Bounded FIFO with non-blocking access (hls::stream<T> of depth Depth).
template <typename T, unsigned Depth> class Fifo {
public:
  bool empty() const { return count_ == 0; }
  bool full() const { return count_ == Depth; }
  unsigned size() const { return count_; }
  /// The head without popping it (the hardware reads the FIFO's output
  /// register); only when not empty.
  const T &front() const { return data_[head_]; }
  bool write_nb(const T &v) {
    if (full())
      return false;
    data_[(head_ + count_) % Depth] = v;
    ++count_;
    return true;
  }
  bool read_nb(T &v) {
    if (empty())
      return false;
    v = data_[head_];
    head_ = (head_ + 1) % Depth;
    --count_;
    return true;
  }
  void reset() { head_ = count_ = 0; }

private:
  T data_[Depth];
  unsigned head_ = 0, count_ = 0;
};

/// A dependency-token FIFO: a counter of 0..Depth.
template <unsigned Depth> class TokenFifo {
public:
  bool canPop() const { return count_ > 0; }
  bool canPush() const { return count_ < Depth; }
  void pop() { --count_; }
  void push() { ++count_; }
  unsigned count() const { return count_; }
  void reset() { count_ = 0; }

private:
  unsigned count_ = 0;
};

} // namespace edgellm::hls

#endif // EDGELLM_HW_HLS_HLSTYPES_H
