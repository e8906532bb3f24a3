//===- IsaNumerics.h - The accelerator's arithmetic, defined once -*- C++ -*-===//
//
// The number formats and arithmetic rules of docs/isa.md as plain C++17:
// FP16 conversion, the ISA's exponential, the INT4 weight format (dense and
// log-scale sparse) and the FP16 x INT4 group dot product of the approximate
// PE (align to the group's largest exponent, exact integer sum). The golden
// model, the fast simulator kernels, the weight packer and the HLS kernels
// all use these definitions. Compile with -ffp-contract=off: every multiply
// and add rounds on its own.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_ISANUMERICS_H
#define EDGELLM_HW_ISANUMERICS_H

#include "edgellm/hw/Isa.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace edgellm::isa {

//===----------------------------------------------------------------------===//
// FP16 (IEEE binary16)
//===----------------------------------------------------------------------===//

/// The only NaN the accelerator writes to FP16 memory.
inline constexpr uint16_t kCanonicalNaN16 = 0x7e00;

/// Exact widening of a binary16 value.
inline float f16ToF32(uint16_t h) {
  uint32_t sign = uint32_t(h >> 15) << 31;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13); // inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { // subnormal: renormalise
    int e = -1;
    do {
      ++e;
      man <<= 1;
    } while (!(man & 0x400));
    bits = sign | uint32_t(112 - e) << 23 | ((man & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// binary32 -> binary16, round to nearest even; overflow gives +-inf;
/// subnormals are produced (no flush to zero); every NaN becomes the one
/// canonical NaN 0x7e00, so implementations agree bit for bit.
inline uint16_t f32ToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffff;
  if (absx >= 0x7f800000u) { // inf or NaN
    if (absx == 0x7f800000u)
      return uint16_t(sign | 0x7c00);
    return kCanonicalNaN16;
  }
  if (absx >= 0x477ff000u) // >= 65520: rounds to inf
    return uint16_t(sign | 0x7c00);
  if (absx >= 0x38800000u) { // normal binary16 result
    uint32_t mant = absx & 0x7fffff;
    uint32_t exp = (absx >> 23) - 112;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
      ++h; // may carry into the exponent, correctly
    return uint16_t(sign | h);
  }
  if (absx < 0x33000000u) // < 2^-25: rounds to zero (2^-25 ties to even 0)
    return uint16_t(sign);
  // Subnormal binary16 result: value = m * 2^-24.
  uint32_t exp = absx >> 23;                 // 102 .. 112
  uint32_t mant = (absx & 0x7fffff) | 0x800000; // 24-bit significand
  unsigned shift = 126 - exp;                // 14 .. 24
  uint32_t h = mant >> shift;
  uint32_t rest = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1)))
    ++h;
  return uint16_t(sign | h);
}

//===----------------------------------------------------------------------===//
// The ISA's exponential (special-function unit)
//===----------------------------------------------------------------------===//

/// Constants of the exponential. Their binary32 bit patterns are part of the
/// ISA (docs/isa.md lists them): kExpCoeffs[i] = 1/i! rounded, kLog2e =
/// log2(e), kLn2Hi + kLn2Lo = ln(2) with kLn2Hi short enough that n * kLn2Hi
/// is exact for |n| < 256.
inline constexpr float kExpCoeffs[8] = {
    1.0f,        1.0f,         0.5f,          1.0f / 6.0f,
    1.0f / 24.0f, 1.0f / 120.0f, 1.0f / 720.0f, 1.0f / 5040.0f,
};
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;
inline constexpr float kLn2Lo = -2.12194440e-4f;

/// e^x as the special-function unit computes it (each step rounds to
/// binary32, to nearest even): n = round-half-even(x * kLog2e);
/// r = (x - n * kLn2Hi) - n * kLn2Lo; p = Horner(kExpCoeffs, r), from the
/// highest coefficient down, one multiply then one add per step;
/// result = p * 2^n (exact, or rounded once if subnormal). x > 100 gives
/// +inf, x < -110 gives +0, NaN gives NaN.
inline float isaExp(float x) {
  if (x != x)
    return x;
  if (x > 100.0f)
    return INFINITY;
  if (x < -110.0f)
    return 0.0f;
  float t = x * kLog2e;
  float n = std::nearbyint(t); // default rounding mode: ties to even
  float hi = n * kLn2Hi;       // exact
  float r = x - hi;
  float lo = n * kLn2Lo;
  r = r - lo;
  float p = kExpCoeffs[7];
  for (int i = 6; i >= 0; --i) {
    p = p * r;
    p = p + kExpCoeffs[i];
  }
  return std::ldexp(p, int(n));
}

//===----------------------------------------------------------------------===//
// Fixed-order sums
//===----------------------------------------------------------------------===//

/// The reduction tree of 16 lane values used by rms_norm, softmax and the
/// FP16 x FP16 array: for w = 8, 4, 2, 1: s[j] = s[j] + s[j + w] for j < w;
/// the result is s[0]. Each add rounds (binary32, to nearest even).
inline float treeSum16(const float in[kLanes]) {
  float s[kLanes];
  for (unsigned j = 0; j < kLanes; ++j)
    s[j] = in[j];
  for (unsigned w = kLanes / 2; w >= 1; w /= 2)
    for (unsigned j = 0; j < w; ++j)
      s[j] = s[j] + s[j + w];
  return s[0];
}

/// rms_norm step 3 (docs/isa.md): the row's inverse RMS from its tree-summed
/// squares, 1 / sqrt(sum / C + eps), each step rounded in binary32.
inline float rmsInverse(float sumSquares, uint32_t channels, float eps) {
  float mean = sumSquares / float(channels);
  return 1.0f / std::sqrt(mean + eps);
}

/// silu_mul (docs/isa.md): silu(a) * b = (a / (1 + exp(-a))) * b, each step
/// rounded in binary32, with the ISA's exponential.
inline float siluMul(float a, float b) {
  float t = isaExp(-a);
  float d = 1.0f + t;
  float silu = a / d;
  return silu * b;
}

//===----------------------------------------------------------------------===//
// INT4 weights: groups of 128 with one FP16 scale, blocks of 2048
//===----------------------------------------------------------------------===//

inline constexpr unsigned kQuantGroup = 128;
inline constexpr unsigned kQuantBlock = 2048; ///< 16 groups: one beat of scales
inline constexpr unsigned kSubBlock = 8;      ///< sparsity pattern unit
/// Guard bits kept below an aligned product's LSB before truncation.
inline constexpr unsigned kAlignGuardBits = 8;

/// Non-zero weights per 8 for each density.
constexpr unsigned nonZerosPer8(Sparsity s) {
  switch (s) {
  case Sparsity::Dense:
    return 8;
  case Sparsity::Half:
    return 4;
  case Sparsity::Quarter:
    return 2;
  case Sparsity::Eighth:
    return 1;
  }
  return 8;
}

/// Bytes of one group's payload (without its scale).
constexpr unsigned groupPayloadBytes(Sparsity s) {
  switch (s) {
  case Sparsity::Dense:
    return 64; // 128 x 4 bit
  case Sparsity::Half:
    return 48; // 16 x (8-bit mask + 4 x 4 bit)
  case Sparsity::Quarter:
    return 28; // 16 x (2 x 3-bit index + 2 x 4 bit) = 224 bit
  case Sparsity::Eighth:
    return 16; // 16 x (4-bit index + 4 bit)
  }
  return 64;
}

/// Beats of one output channel's row of a [n, k] matrix: per block of 2048
/// inputs one beat of 16 FP16 scales, then the block's group payloads padded
/// to a whole beat.
constexpr uint32_t q4RowBeats(uint32_t k, Sparsity s) {
  uint32_t beats = 0;
  for (uint32_t k0 = 0; k0 < k; k0 += kQuantBlock) {
    uint32_t len = (k - k0 < kQuantBlock) ? k - k0 : kQuantBlock;
    uint32_t groups = (len + kQuantGroup - 1) / kQuantGroup;
    beats += 1 + (groups * groupPayloadBytes(s) + kBeatBytes - 1) / kBeatBytes;
  }
  return beats;
}

/// Storage bits per weight of a full block (the paper's table: 4.125, 3.125,
/// 1.875, 1.125).
constexpr double q4BitsPerWeight(Sparsity s) {
  return q4RowBeats(kQuantBlock, s) * kBeatBytes * 8.0 / kQuantBlock;
}

/// Sign-extends a 4-bit two's complement value.
constexpr int8_t int4(unsigned nibble) {
  return int8_t((nibble & 0x8) ? int(nibble & 0xf) - 16 : int(nibble & 0xf));
}

/// Expands one group's payload into 128 weights in [-8, 7].
inline void q4DecodeGroup(const uint8_t *p, Sparsity s, int8_t w[kQuantGroup]) {
  for (unsigned i = 0; i < kQuantGroup; ++i)
    w[i] = 0;
  for (unsigned sb = 0; sb < kQuantGroup / kSubBlock; ++sb) {
    int8_t *out = w + sb * kSubBlock;
    switch (s) {
    case Sparsity::Dense:
      for (unsigned j = 0; j < kSubBlock; ++j)
        out[j] = int4(p[sb * 4 + j / 2] >> (4 * (j % 2)));
      break;
    case Sparsity::Half: {
      uint8_t mask = p[sb * 3];
      uint32_t vals = p[sb * 3 + 1] | uint32_t(p[sb * 3 + 2]) << 8;
      unsigned used = 0;
      for (unsigned j = 0; j < kSubBlock && used < 4; ++j)
        if (mask & (1u << j))
          out[j] = int4(vals >> (4 * used++));
      break;
    }
    case Sparsity::Quarter: {
      uint32_t bit = sb * 14, v = 0;
      for (unsigned b = 0; b < 14; ++b)
        v |= uint32_t((p[(bit + b) / 8] >> ((bit + b) % 8)) & 1) << b;
      unsigned i0 = v & 7, i1 = (v >> 3) & 7;
      out[i0] = int4(v >> 6);
      out[i1] = int4(v >> 10); // the second entry wins on equal indices
      break;
    }
    case Sparsity::Eighth:
      out[p[sb] & 7] = int4(p[sb] >> 4);
      break;
    }
  }
}

/// Packs 128 weights in [-8, 7]; fails (returns false) if a sub-block of 8
/// holds more non-zeros than the density allows.
inline bool q4EncodeGroup(const int8_t w[kQuantGroup], Sparsity s, uint8_t *p) {
  std::memset(p, 0, groupPayloadBytes(s));
  unsigned limit = nonZerosPer8(s);
  for (unsigned sb = 0; sb < kQuantGroup / kSubBlock; ++sb) {
    const int8_t *in = w + sb * kSubBlock;
    unsigned idx[8], nz = 0;
    for (unsigned j = 0; j < kSubBlock; ++j) {
      if (in[j] < -8 || in[j] > 7)
        return false;
      if (in[j] != 0)
        idx[nz++] = j;
    }
    if (nz > limit)
      return false;
    // Pad the index list with zero-valued positions (lowest unused first).
    for (unsigned j = 0; nz < limit && j < kSubBlock; ++j) {
      bool used = false;
      for (unsigned u = 0; u < nz; ++u)
        used |= idx[u] == j;
      if (!used && s != Sparsity::Dense)
        idx[nz++] = j;
    }
    // Keep indices ascending (the half mask assigns values in bit order).
    for (unsigned a = 0; a < nz; ++a)
      for (unsigned b = a + 1; b < nz; ++b)
        if (idx[b] < idx[a]) {
          unsigned t = idx[a];
          idx[a] = idx[b];
          idx[b] = t;
        }
    switch (s) {
    case Sparsity::Dense:
      for (unsigned j = 0; j < kSubBlock; ++j)
        p[sb * 4 + j / 2] |= uint8_t((in[j] & 0xf) << (4 * (j % 2)));
      break;
    case Sparsity::Half: {
      uint8_t mask = 0;
      uint32_t vals = 0;
      for (unsigned u = 0; u < 4; ++u) {
        mask |= uint8_t(1u << idx[u]);
        vals |= uint32_t(in[idx[u]] & 0xf) << (4 * u);
      }
      p[sb * 3] = mask;
      p[sb * 3 + 1] = uint8_t(vals);
      p[sb * 3 + 2] = uint8_t(vals >> 8);
      break;
    }
    case Sparsity::Quarter: {
      uint32_t v = idx[0] | idx[1] << 3 | uint32_t(in[idx[0]] & 0xf) << 6 |
                   uint32_t(in[idx[1]] & 0xf) << 10;
      uint32_t bit = sb * 14;
      for (unsigned b = 0; b < 14; ++b)
        p[(bit + b) / 8] |= uint8_t(((v >> b) & 1) << ((bit + b) % 8));
      break;
    }
    case Sparsity::Eighth:
      p[sb] = uint8_t(idx[0] | (in[idx[0]] & 0xf) << 4);
      break;
    }
  }
  return true;
}

/// Effective exponent of a finite binary16 value (subnormals count as 1).
constexpr int f16Exponent(uint16_t h) {
  int e = (h >> 10) & 0x1f;
  return e == 0 ? 1 : e;
}

/// The approximate PE's FP16 x INT4 dot product over one group (count <= 128
/// inputs), before the group scale: every product sig(x) * |w| is shifted to
/// the group's largest input exponent E keeping kAlignGuardBits guard bits,
/// truncated, and summed exactly; the sum S is converted to binary32 (round
/// to nearest even) and scaled by 2^(E - 25 - kAlignGuardBits) (exact).
/// A NaN or infinite input whose weight is not zero makes the result NaN.
inline float q4GroupDot(const uint16_t *x, const int8_t *w, unsigned count) {
  int E = 1;
  for (unsigned i = 0; i < count; ++i)
    if (f16Exponent(x[i]) > E && ((x[i] >> 10) & 0x1f) != 0x1f)
      E = f16Exponent(x[i]);
  int64_t S = 0;
  for (unsigned i = 0; i < count; ++i) {
    if (w[i] == 0)
      continue;
    uint16_t h = x[i];
    unsigned field = (h >> 10) & 0x1f;
    if (field == 0x1f)
      return NAN;
    uint32_t sig = (h & 0x3ff) | (field ? 0x400u : 0u);
    uint32_t mag = sig * uint32_t(w[i] < 0 ? -w[i] : w[i]);
    unsigned shift = unsigned(E - f16Exponent(h));
    int64_t a = shift >= 32 ? 0 : int64_t((uint64_t(mag) << kAlignGuardBits) >> shift);
    bool neg = ((h >> 15) != 0) != (w[i] < 0);
    S += neg ? -a : a;
  }
  return std::ldexp(float(S), E - 25 - int(kAlignGuardBits));
}

} // namespace edgellm::isa

#endif // EDGELLM_HW_ISANUMERICS_H
