//===- PeArray.cpp - The FP16 x INT4 group-vector array (mm_q4) ------------===//
//
// kPeGroups groups of kPeLanes lanes (32 x 128 = 4096 MACs per cycle on the
// VCU128). A group takes one quantisation group (128 inputs and their 128
// INT4 weights) and runs the paper's 4-stage approximate PE:
//
//   1. split: FP16 inputs into sign / effective exponent / 11-bit significand,
//      INT4 weights (decoded from the packed, possibly sparse, payload by
//      isa::q4DecodeGroup) into sign / magnitude;
//   2. sign xor, exponent compare (the group's largest finite exponent E),
//      mantissa multiply (11 x 3 bit);
//   3. align every product to E keeping kAlignGuardBits guard bits
//      (truncating shift) and sum them in an exact integer adder tree;
//   4. leading-zero count and round to nearest even into binary32 (times
//      2^(E - 33)), multiply by the group's FP16 scale, accumulate.
//
// Stages 1-3 of the 32 groups run in parallel; stage 4 accumulates the
// groups of one output in order (docs/isa.md: acc = fl(acc + fl(v * scale))
// for g = 0, 1, ...), so the 32 groups of a wave are 32 consecutive groups of
// one weight row (4096 inputs: one ChatGLM2-6B row per wave).
//
// Loop structure of one instruction: for each block of 16 output channels
// (one output beat), for each token m (the activation row is read into a
// register file once), for each of the 16 channels: waves of 32 groups.
//
//===----------------------------------------------------------------------===//

#include "Engines.h"

#include "edgellm/hw/IsaNumerics.h"

using namespace edgellm;
using namespace edgellm::hls;

namespace {

/// Stage 1 output of one lane.
struct Split {
  bool xNeg;       ///< sign of x
  uint8_t exp;     ///< effective exponent (1 for zeros and subnormals)
  uint16_t sig;    ///< 11-bit significand
  bool special;    ///< x is infinite or NaN
  bool wNeg;       ///< sign of w
  uint8_t wMag;    ///< |w| <= 8
};

/// Stage 2 output of one lane.
struct Product {
  bool neg;      ///< sign(x) xor sign(w)
  uint16_t mag;  ///< sig * |w| < 2^14
  uint8_t exp;
  bool nan;      ///< infinite/NaN input with a non-zero weight
};

/// Leading-zero count of a 32-bit value (a priority encoder).
unsigned clz32(uint32_t v) {
  unsigned n = 0;
CLZ:
  for (int b = 31; b >= 0; --b) {
#pragma HLS unroll
    if (v >> b & 1)
      break;
    ++n;
  }
  return n;
}

/// Stage 4a: the exact integer sum S as binary32, times 2^(E - 25 - guard):
/// normalise by the leading-zero count, round to nearest even at 24 bits. The
/// scale never leaves the normal range (2^-32 <= |result| < 2^27).
float normalise(int32_t S, int E) {
  if (S == 0)
    return 0.0f;
  uint32_t sign = S < 0 ? 1u : 0u;
  uint32_t mag = S < 0 ? uint32_t(-int64_t(S)) : uint32_t(S);
  int msb = 31 - int(clz32(mag));
  uint32_t sig;
  if (msb > 23) {
    unsigned sh = unsigned(msb - 23);
    sig = mag >> sh;
    uint32_t rest = mag & ((1u << sh) - 1), half = 1u << (sh - 1);
    if (rest > half || (rest == half && (sig & 1)))
      ++sig;
    if (sig == (1u << 24)) { // the rounding carried into a new binade
      sig >>= 1;
      ++msb;
    }
  } else {
    sig = mag << (23 - msb);
  }
  int exp = msb + E - 25 - int(isa::kAlignGuardBits) + 127;
  uint32_t bits = sign << 31 | uint32_t(exp) << 23 | (sig & 0x7fffff);
  return isa::f32FromBits(bits);
}

} // namespace

float hls::peGroupDot(const uint16_t x[kPeLanes], const int8_t w[kPeLanes], unsigned count) {
#pragma HLS pipeline II = 1
  // Stage 1: split.
  Split s[kPeLanes];
#pragma HLS ARRAY_PARTITION variable = s complete
STAGE1:
  for (unsigned l = 0; l < kPeLanes; ++l) {
#pragma HLS unroll
    uint16_t h = l < count ? x[l] : 0;
    int8_t wv = l < count ? w[l] : 0;
    unsigned field = (h >> 10) & 0x1f;
    s[l].xNeg = (h >> 15) != 0;
    s[l].exp = uint8_t(isa::f16Exponent(h));
    s[l].sig = uint16_t((h & 0x3ff) | (field ? 0x400u : 0u));
    s[l].special = field == 0x1f;
    s[l].wNeg = wv < 0;
    s[l].wMag = uint8_t(wv < 0 ? -wv : wv);
  }
  // Stage 2: exponent compare (max tree over the finite inputs), sign xor,
  // mantissa multiply.
  int E = 1;
STAGE2_MAX:
  for (unsigned l = 0; l < kPeLanes; ++l) {
#pragma HLS unroll
    if (!s[l].special && s[l].exp > E)
      E = s[l].exp;
  }
  Product p[kPeLanes];
#pragma HLS ARRAY_PARTITION variable = p complete
  bool nan = false;
STAGE2_MUL:
  for (unsigned l = 0; l < kPeLanes; ++l) {
#pragma HLS unroll
    p[l].neg = s[l].xNeg != s[l].wNeg;
    p[l].mag = uint16_t(s[l].sig * s[l].wMag);
    p[l].exp = s[l].exp;
    p[l].nan = s[l].special && s[l].wMag != 0;
    nan |= p[l].nan;
  }
  // Stage 3: align to E with guard bits (truncation), exact adder tree.
  int32_t t[kPeLanes];
#pragma HLS ARRAY_PARTITION variable = t complete
STAGE3_ALIGN:
  for (unsigned l = 0; l < kPeLanes; ++l) {
#pragma HLS unroll
    unsigned shift = unsigned(E - p[l].exp);
    int32_t a = (p[l].mag == 0 || shift >= 32)
                    ? 0
                    : int32_t((uint32_t(p[l].mag) << isa::kAlignGuardBits) >> shift);
    t[l] = p[l].neg ? -a : a;
  }
STAGE3_TREE:
  for (unsigned w2 = kPeLanes / 2; w2 >= 1; w2 /= 2) {
#pragma HLS unroll
    for (unsigned j = 0; j < w2; ++j)
      t[j] += t[j + w2];
  }
  // Stage 4a: normalise (the scale and accumulation follow in the caller,
  // which owns the accumulator of the output).
  if (nan)
    return NAN;
  return normalise(t[0], E);
}

isa::Fault hls::execMmQ4(const isa::MmQ4 &in, OnChip &oc) {
  using namespace isa;
  const Sparsity sp = Sparsity(in.sparsity);
  const uint64_t rowBeats = q4RowBeats(in.k, sp);
  if (Fault f = firstFault(
          {checkOperand(in.x_buf, in.x_addr, in.x_stride, in.m, in.k),
           checkOperand(in.y_buf, in.y_addr, in.y_stride, in.m, in.n),
           uint64_t(in.w_addr) + uint64_t(in.n) * rowBeats > bufBeats(in.w_buf) ? Fault::Address
                                                                                : Fault::None,
           in.has_bias ? checkVector(in.b_buf, in.b_addr, in.n) : Fault::None});
      f != Fault::None)
    return f;

  const unsigned payload = groupPayloadBytes(sp);
  const uint64_t kBeats = (uint64_t(in.k) + kLanes - 1) / kLanes;
  const uint64_t groups = (uint64_t(in.k) + kQuantGroup - 1) / kQuantGroup;
  // The activation row of one token (register file of the array). K <=
  // 65535, so the last group's 128 lanes end inside it; lanes past K are off.
  static uint16_t xrow[kMaxKBeats * kLanes];
  // One wave: the group values (stage 4a) and scales of kPeGroups groups.
  static float wv[kPeGroups];
  static uint16_t wscale[kPeGroups];

MQ_NBLOCKS:
  for (uint64_t nb = 0; nb * kLanes < in.n; ++nb) {
#pragma HLS loop_tripcount max = 4096
  MQ_TOKENS:
    for (uint64_t m = 0; m < in.m; ++m) {
#pragma HLS loop_tripcount max = 128
    MQ_XROW:
      for (uint64_t b = 0; b < kBeats; ++b) {
#pragma HLS loop_tripcount max = 4096
#pragma HLS pipeline II = 1
        beat_t v = bufAt(oc, in.x_buf, in.x_addr + b * in.x_stride + m);
        for (unsigned l = 0; l < kLanes; ++l)
          xrow[b * kLanes + l] = b * kLanes + l < in.k ? lane16(v, l) : 0;
      }
      beat_t out = zeroBeat();
    MQ_CHANNELS:
      for (unsigned r = 0; r < kLanes; ++r) {
        const uint64_t n = nb * kLanes + r;
        if (n >= in.n)
          break;
        const uint64_t row = in.w_addr + n * rowBeats;
        float acc = 0.0f;
      MQ_WAVES:
        for (uint64_t g0 = 0; g0 < groups; g0 += kPeGroups) {
#pragma HLS loop_tripcount max = 16
          // The 32 groups in parallel: each reads its scale and payload from
          // WBUF, decodes 128 weights (stage 1 of the weights) and runs
          // stages 1-3 and 4a.
        MQ_GROUPS:
          for (unsigned pg = 0; pg < kPeGroups; ++pg) {
#pragma HLS unroll
            const uint64_t g = g0 + pg;
            if (g >= groups)
              continue;
            // Block blk of the row starts after blk full blocks (a full
            // block: its scale beat and 16 payloads, padded to a beat).
            const uint64_t blk = g / (kQuantBlock / kQuantGroup);
            const unsigned gi = unsigned(g % (kQuantBlock / kQuantGroup));
            const uint64_t blkBeat = row + blk * q4RowBeats(kQuantBlock, sp);
            wscale[pg] = lane16(bufAt(oc, in.w_buf, blkBeat), gi);
            uint8_t bytes[64];
            const uint64_t first = uint64_t(gi) * payload;
            for (unsigned i = 0; i < payload; ++i) {
              uint64_t byte = first + i;
              bytes[i] = byte8(bufAt(oc, in.w_buf, blkBeat + 1 + byte / kBeatBytes),
                               unsigned(byte % kBeatBytes));
            }
            int8_t w[kPeLanes];
            q4DecodeGroup(bytes, sp, w);
            const uint64_t left = uint64_t(in.k) - g * kQuantGroup;
            wv[pg] = peGroupDot(&xrow[g * kQuantGroup], w,
                                unsigned(left < kPeLanes ? left : kPeLanes));
          }
          // Stage 4b: scale and accumulate, in group order.
        MQ_ACC:
          for (unsigned pg = 0; pg < kPeGroups; ++pg) {
            if (g0 + pg >= groups)
              break;
            float scaled = wv[pg] * f16ToF32(wscale[pg]);
            acc = acc + scaled;
          }
        }
        if (in.has_bias) {
          beat_t bb = bufAt(oc, in.b_buf, in.b_addr + n / kLanes);
          acc = acc + f16ToF32(lane16(bb, unsigned(n % kLanes)));
        }
        setLane16(out, r, f32ToF16(acc));
      }
      // Lanes past N stay +0.
      bufAt(oc, in.y_buf, in.y_addr + nb * in.y_stride + m) = out;
    }
  }
  return Fault::None;
}
