//===- Attention.cpp - The FP16 x FP16 attention engine (mm_f16) -----------===//
//
// kAttnColumns dot-product units of 16 lanes (64 x 16 = 1024 MACs per cycle
// on the VCU128). Per cycle the engine takes one beat of A (16 reduction
// steps of one row: lane l is A[i, 16t + l]) and, for each of its 64 output
// columns, the matching 16 values of B:
//
// - trans_b (Q.K^T over the cache, B stored [n, k]): one beat per column,
//   b_addr + t * b_stride + j, whose lanes are the same 16 reduction steps;
// - otherwise (P.V, B stored [k, n]): 16 beats b_addr + (j / 16) * b_stride +
//   16t + l, whose lanes are 16 consecutive columns: a 16 x 16 tile serves 16
//   units at once.
//
// Each unit multiplies 16 FP16 pairs (exact in binary32), sums them in the
// fixed tree of isa::treeSum16 and adds the sum to its binary32 accumulator
// (docs/isa.md mm_f16). After the last beat: times alpha, optionally plus the
// old C, rounded to FP16; one output beat per 16 columns, lanes past N +0.
//
//===----------------------------------------------------------------------===//

#include "Engines.h"

#include "edgellm/hw/IsaNumerics.h"

using namespace edgellm;
using namespace edgellm::hls;

isa::Fault hls::execMmF16(const isa::MmF16 &in, OnChip &oc) {
  using namespace isa;
  const bool tb = in.trans_b != 0;
  if (Fault f = firstFault({checkOperand(in.a_buf, in.a_addr, in.a_stride, in.m, in.k),
                            checkOperand(in.b_buf, in.b_addr, in.b_stride, tb ? in.n : in.k,
                                         tb ? in.k : in.n),
                            checkOperand(in.c_buf, in.c_addr, in.c_stride, in.m, in.n)});
      f != Fault::None)
    return f;
  const float alpha = f32FromBits(in.alpha);
  const uint64_t kBeats = (uint64_t(in.k) + kLanes - 1) / kLanes;
  static_assert(kAttnColumns % kLanes == 0, "column tiles are whole output beats");
  constexpr unsigned kTileBeats = kAttnColumns / kLanes;

MF_ROWS:
  for (uint64_t i = 0; i < in.m; ++i) {
#pragma HLS loop_tripcount max = 128
  MF_COLTILES:
    for (uint64_t j0 = 0; j0 < in.n; j0 += kAttnColumns) {
#pragma HLS loop_tripcount max = 128
      float acc[kAttnColumns];
#pragma HLS ARRAY_PARTITION variable = acc complete
      for (unsigned c = 0; c < kAttnColumns; ++c)
        acc[c] = 0.0f;
    MF_KBEATS:
      for (uint64_t t = 0; t < kBeats; ++t) {
#pragma HLS loop_tripcount max = 4096
#pragma HLS pipeline II = 1
        // Operand A: lanes past K are off (their products are +0).
        float a[kLanes];
        beat_t av = bufAt(oc, in.a_buf, in.a_addr + t * in.a_stride + i);
        bool live[kLanes];
        for (unsigned l = 0; l < kLanes; ++l) {
          live[l] = t * kLanes + l < in.k;
          a[l] = f16ToF32(lane16(av, l));
        }
        // Operand B: b[c][l] = B(16t + l, j0 + c).
        float b[kAttnColumns][kLanes];
#pragma HLS ARRAY_PARTITION variable = b complete dim = 0
        if (tb) {
          for (unsigned c = 0; c < kAttnColumns; ++c) {
            if (j0 + c >= in.n)
              continue;
            beat_t bv = bufAt(oc, in.b_buf, in.b_addr + t * in.b_stride + j0 + c);
            for (unsigned l = 0; l < kLanes; ++l)
              b[c][l] = f16ToF32(lane16(bv, l));
          }
        } else {
          for (unsigned tile = 0; tile < kTileBeats; ++tile) {
            uint64_t jb = (j0 / kLanes) + tile;
            if (jb * kLanes >= in.n)
              continue;
            for (unsigned l = 0; l < kLanes; ++l) {
              if (!live[l])
                continue;
              beat_t bv = bufAt(oc, in.b_buf, in.b_addr + jb * in.b_stride + t * kLanes + l);
              for (unsigned c = 0; c < kLanes; ++c)
                b[tile * kLanes + c][l] = f16ToF32(lane16(bv, c));
            }
          }
        }
        // 64 units: 16 exact products, the fixed tree, accumulate.
      MF_UNITS:
        for (unsigned c = 0; c < kAttnColumns; ++c) {
#pragma HLS unroll
          if (j0 + c >= in.n)
            continue;
          float prod[kLanes];
          for (unsigned l = 0; l < kLanes; ++l)
            prod[l] = live[l] ? a[l] * b[c][l] : 0.0f;
          acc[c] = acc[c] + treeSum16(prod);
        }
      }
      // Scale, optional accumulation into C, round; one beat per 16 columns.
    MF_OUT:
      for (unsigned tile = 0; tile < kTileBeats; ++tile) {
        uint64_t jb = (j0 / kLanes) + tile;
        if (jb * kLanes >= in.n)
          break;
        beat_t &cv = bufAt(oc, in.c_buf, in.c_addr + jb * in.c_stride + i);
        beat_t out = zeroBeat();
        for (unsigned c = 0; c < kLanes; ++c) {
          if (jb * kLanes + c >= in.n)
            break;
          float r = acc[tile * kLanes + c] * alpha;
          float v = in.acc ? f16ToF32(lane16(cv, c)) + r : r;
          setLane16(out, c, f32ToF16(v));
        }
        cv = out;
      }
    }
  }
  return Fault::None;
}
