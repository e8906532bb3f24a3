//===- Sfu.cpp - The special-function unit ---------------------------------===//
//
// rms_norm, softmax, rope, silu_mul and eltwise, 16 lanes (one beat) per
// step. Row-wise: each token row is read into the unit's row buffer before
// any of it is written, so an instruction whose output is exactly its input
// works in place (docs/isa.md, "Aliasing"). Reductions keep sixteen binary32
// lane sums (lane c mod 16, channels in increasing order) and finish with the
// fixed tree isa::treeSum16; the exponential is isa::isaExp, conversions
// isa::f16ToF32 / f32ToF16 (IsaNumerics.h, the one definition).
//
//===----------------------------------------------------------------------===//

#include "Engines.h"

#include "edgellm/hw/IsaNumerics.h"

#include <cmath>

using namespace edgellm;
using namespace edgellm::hls;

namespace {

/// The unit's row buffer (one token row of the widest operand).
beat_t gRow[kSfuRowBeats];
/// binary32 row buffer (softmax exponentials).
float gRowF[kSfuRowBeats * isa::kLanes];

uint64_t blocksOf(uint64_t chans) { return (chans + isa::kLanes - 1) / isa::kLanes; }

/// Reads token row m of an operand (its `chans` channels) into gRow.
void readRow(OnChip &oc, const Operand &o, uint64_t m, uint64_t chans) {
SFU_READ:
  for (uint64_t b = 0; b < blocksOf(chans); ++b) {
#pragma HLS loop_tripcount max = 4096
#pragma HLS pipeline II = 1
    gRow[b] = bufAt(oc, o.buf, o.beatOf(b, m));
  }
}

/// Mask of the lanes of beat b that hold channels below `chans`.
inline bool laneLive(uint64_t b, unsigned l, uint64_t chans) {
  return b * isa::kLanes + l < chans;
}

} // namespace

isa::Fault hls::execRmsNorm(const isa::RmsNorm &in, OnChip &oc) {
  using namespace isa;
  if (Fault f = firstFault({checkOperand(in.x_buf, in.x_addr, in.x_stride, in.m, in.c),
                            checkOperand(in.y_buf, in.y_addr, in.y_stride, in.m, in.c),
                            checkVector(in.g_buf, in.g_addr, in.c)});
      f != Fault::None)
    return f;
  const Operand x{in.x_buf, in.x_addr, in.x_stride}, y{in.y_buf, in.y_addr, in.y_stride};
  const float eps = f32FromBits(in.eps);
  const uint64_t blocks = blocksOf(in.c);
RMS_ROWS:
  for (uint64_t m = 0; m < in.m; ++m) {
#pragma HLS loop_tripcount max = 128
    readRow(oc, x, m, in.c);
    float s[kLanes];
#pragma HLS ARRAY_PARTITION variable = s complete
    for (unsigned l = 0; l < kLanes; ++l)
      s[l] = 0.0f;
  RMS_SUM:
    for (uint64_t b = 0; b < blocks; ++b) {
#pragma HLS loop_tripcount max = 4096
#pragma HLS pipeline II = 1
      for (unsigned l = 0; l < kLanes; ++l)
        if (laneLive(b, l, in.c)) {
          float v = f16ToF32(lane16(gRow[b], l));
          s[l] = s[l] + v * v;
        }
    }
    float rinv = rmsInverse(treeSum16(s), in.c, eps);
  RMS_SCALE:
    for (uint64_t b = 0; b < blocks; ++b) {
#pragma HLS loop_tripcount max = 4096
#pragma HLS pipeline II = 1
      beat_t g = bufAt(oc, in.g_buf, in.g_addr + b);
      beat_t out = zeroBeat();
      for (unsigned l = 0; l < kLanes; ++l)
        if (laneLive(b, l, in.c)) {
          float v = f16ToF32(lane16(gRow[b], l)) * rinv;
          setLane16(out, l, f32ToF16(v * f16ToF32(lane16(g, l))));
        }
      bufAt(oc, y.buf, y.beatOf(b, m)) = out;
    }
  }
  return Fault::None;
}

isa::Fault hls::execSoftmax(const isa::Softmax &in, OnChip &oc) {
  using namespace isa;
  if (Fault f = firstFault({checkOperand(in.x_buf, in.x_addr, in.x_stride, in.m, in.n),
                            checkOperand(in.y_buf, in.y_addr, in.y_stride, in.m, in.n)});
      f != Fault::None)
    return f;
  const Operand x{in.x_buf, in.x_addr, in.x_stride}, y{in.y_buf, in.y_addr, in.y_stride};
  const int64_t diag = int64_t(int32_t(in.diag));
  const uint64_t blocks = blocksOf(in.n);
SM_ROWS:
  for (uint64_t i = 0; i < in.m; ++i) {
#pragma HLS loop_tripcount max = 128
    readRow(oc, x, i, in.n);
    // Column j is valid if j < N and, with causal, j <= diag + i.
    auto valid = [&](uint64_t j) {
      return j < in.n && (!in.causal || int64_t(j) <= diag + int64_t(i));
    };
    // Pass 1: the maximum over the valid columns.
    float mx = -INFINITY;
    bool any = false;
  SM_MAX:
    for (uint64_t b = 0; b < blocks; ++b) {
#pragma HLS loop_tripcount max = 4096
#pragma HLS pipeline II = 1
      for (unsigned l = 0; l < kLanes; ++l)
        if (valid(b * kLanes + l)) {
          float v = f16ToF32(lane16(gRow[b], l));
          any = true;
          mx = v > mx ? v : mx;
        }
    }
    // Pass 2: exponentials and their lane sums.
    float s[kLanes];
#pragma HLS ARRAY_PARTITION variable = s complete
    for (unsigned l = 0; l < kLanes; ++l)
      s[l] = 0.0f;
  SM_EXP:
    for (uint64_t b = 0; b < blocks; ++b) {
#pragma HLS loop_tripcount max = 4096
#pragma HLS pipeline II = 1
      for (unsigned l = 0; l < kLanes; ++l) {
        uint64_t j = b * kLanes + l;
        float e = valid(j) && any ? isaExp(f16ToF32(lane16(gRow[b], l)) - mx) : 0.0f;
        gRowF[j] = e;
        if (j < in.n)
          s[l] = s[l] + e;
      }
    }
    float inv = 1.0f / treeSum16(s);
    // Pass 3: normalise.
  SM_OUT:
    for (uint64_t b = 0; b < blocks; ++b) {
#pragma HLS loop_tripcount max = 4096
#pragma HLS pipeline II = 1
      beat_t out = zeroBeat();
      for (unsigned l = 0; l < kLanes; ++l) {
        uint64_t j = b * kLanes + l;
        if (j < in.n)
          setLane16(out, l, f32ToF16(valid(j) && any ? gRowF[j] * inv : 0.0f));
      }
      bufAt(oc, y.buf, y.beatOf(b, i)) = out;
    }
  }
  return Fault::None;
}

isa::Fault hls::execRope(const isa::Rope &in, OnChip &oc) {
  using namespace isa;
  const uint64_t chans = uint64_t(in.heads) * in.head_dim;
  const uint64_t rowBeatsT = in.rot_dim / 8; // table beats per token row
  if (Fault f = firstFault(
          {checkOperand(in.x_buf, in.x_addr, in.x_stride, in.m, chans),
           checkOperand(in.y_buf, in.y_addr, in.y_stride, in.m, chans),
           uint64_t(in.t_addr) + uint64_t(in.m) * rowBeatsT > bufBeats(in.t_buf)
               ? Fault::Address
               : Fault::None});
      f != Fault::None)
    return f;
  const Operand x{in.x_buf, in.x_addr, in.x_stride}, y{in.y_buf, in.y_addr, in.y_stride};
  const bool interleaved = in.pairs == uint32_t(PairMode::Interleaved);
  const uint64_t blocks = blocksOf(chans);
  const unsigned half = in.rot_dim / 2;
RO_ROWS:
  for (uint64_t i = 0; i < in.m; ++i) {
#pragma HLS loop_tripcount max = 128
    readRow(oc, x, i, chans);
    // The output row starts as a copy of the input row (channels past
    // rot_dim of every head stay bit for bit); the pairs are rotated in it.
  RO_COPY:
    for (uint64_t b = 0; b < blocks; ++b) {
#pragma HLS loop_tripcount max = 16384
#pragma HLS pipeline II = 1
      beat_t v = gRow[b];
      for (unsigned l = 0; l < kLanes; ++l)
        if (!laneLive(b, l, chans))
          setLane16(v, l, 0);
      bufAt(oc, y.buf, y.beatOf(b, i)) = v;
    }
  RO_HEADS:
    for (uint64_t h = 0; h < in.heads; ++h) {
#pragma HLS loop_tripcount max = 32
    RO_PAIRS:
      for (unsigned p = 0; p < half; ++p) {
#pragma HLS loop_tripcount max = 32
#pragma HLS pipeline II = 1
        const uint64_t base = h * in.head_dim;
        const uint64_t ca = interleaved ? base + 2 * p : base + p;
        const uint64_t cb = interleaved ? base + 2 * p + 1 : base + p + half;
        // Pair p of table row i: cos at bytes 8p, sin at 8p + 4 (binary32).
        beat_t tb = bufAt(oc, in.t_buf, in.t_addr + i * rowBeatsT + p / 4);
        float cs = f32FromBits(word32(tb, 2 * (p % 4)));
        float sn = f32FromBits(word32(tb, 2 * (p % 4) + 1));
        float xa = f16ToF32(lane16(gRow[ca / kLanes], unsigned(ca % kLanes)));
        float xb = f16ToF32(lane16(gRow[cb / kLanes], unsigned(cb % kLanes)));
        float ya = xa * cs - xb * sn;
        float yb = xb * cs + xa * sn;
        beat_t &oa = bufAt(oc, y.buf, y.beatOf(ca / kLanes, i));
        setLane16(oa, unsigned(ca % kLanes), f32ToF16(ya));
        beat_t &ob = bufAt(oc, y.buf, y.beatOf(cb / kLanes, i));
        setLane16(ob, unsigned(cb % kLanes), f32ToF16(yb));
      }
    }
  }
  return Fault::None;
}

namespace {

/// Row-wise two-operand lane function (silu_mul, eltwise): Y[m, c] =
/// fn(A[m, c], B[m or 0, c]) on the FP16 bits, one beat per step, lanes past
/// C +0.
template <typename Fn>
isa::Fault binaryRowwise(OnChip &oc, const Operand &a, const Operand &b, bool bcastB,
                         const Operand &y, uint64_t rows, uint64_t chans, Fn fn) {
  if (isa::Fault f = firstFault({checkOperand(a.buf, a.addr, a.stride, rows, chans),
                                 checkOperand(b.buf, b.addr, b.stride, bcastB ? 1 : rows, chans),
                                 checkOperand(y.buf, y.addr, y.stride, rows, chans)});
      f != isa::Fault::None)
    return f;
BIN_ROWS:
  for (uint64_t m = 0; m < rows; ++m) {
#pragma HLS loop_tripcount max = 128
  BIN_BEATS:
    for (uint64_t k = 0; k < blocksOf(chans); ++k) {
#pragma HLS loop_tripcount max = 4096
#pragma HLS pipeline II = 1
      beat_t av = bufAt(oc, a.buf, a.beatOf(k, m));
      beat_t bv = bufAt(oc, b.buf, b.beatOf(k, bcastB ? 0 : m));
      beat_t out = zeroBeat();
      for (unsigned l = 0; l < isa::kLanes; ++l)
        if (laneLive(k, l, chans))
          setLane16(out, l, fn(lane16(av, l), lane16(bv, l)));
      bufAt(oc, y.buf, y.beatOf(k, m)) = out;
    }
  }
  return isa::Fault::None;
}

} // namespace

isa::Fault hls::execSiluMul(const isa::SiluMul &in, OnChip &oc) {
  using namespace isa;
  return binaryRowwise(oc, {in.a_buf, in.a_addr, in.a_stride}, {in.b_buf, in.b_addr, in.b_stride},
                       false, {in.y_buf, in.y_addr, in.y_stride}, in.m, in.c,
                       [](uint16_t ah, uint16_t bh) {
                         return f32ToF16(siluMul(f16ToF32(ah), f16ToF32(bh)));
                       });
}

isa::Fault hls::execEltwise(const isa::Eltwise &in, OnChip &oc) {
  using namespace isa;
  const EwOp op = EwOp(in.op);
  return binaryRowwise(oc, {in.a_buf, in.a_addr, in.a_stride}, {in.b_buf, in.b_addr, in.b_stride},
                       in.bcast_b != 0, {in.y_buf, in.y_addr, in.y_stride}, in.m, in.c,
                       [op](uint16_t ah, uint16_t bh) {
                         if (op == EwOp::Copy)
                           return ah; // bit for bit
                         float a = f16ToF32(ah), b = f16ToF32(bh);
                         return f32ToF16(op == EwOp::Add ? a + b : a * b);
                       });
}
