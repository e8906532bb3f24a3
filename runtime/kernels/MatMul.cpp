//===- MatMul.cpp - Fast FP16 x INT4 and FP16 x FP16 products -------------===//
//
// Exactness argument (docs/simulator.md): every integer below is exact (the
// group sums stay under 2^31), and every binary32 operation is the golden
// model's, in its order: float(S), the exact scaling by 2^(E-33), the
// product with the group scale, the sequential sum over groups, the bias,
// and the conversion to FP16. The vector code only changes integer
// arithmetic and the grouping of independent binary32 lanes.
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/MatMul.h"
#include "runtime/kernels/HalfLanes.h"
#include "edgellm/hw/IsaNumerics.h"

#include <algorithm>
#include <cassert>
#include <array>
#include <optional>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cstdio>

#if defined(__x86_64__)
#include <immintrin.h>
#define EDGELLM_X86 1
#define EDGELLM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx512vbmi")))
#define EDGELLM_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

using namespace edgellm;
using namespace edgellm::kernels;
using isa::kBeatBytes;
using isa::kLanes;
using isa::kQuantBlock;
using isa::kQuantGroup;

/// Every level, highest first.
static constexpr CpuLevel kCpuLevels[] = {CpuLevel::Avx512, CpuLevel::Avx2, CpuLevel::Scalar};

/// EDGELLM_KERNELS: the highest level asked for (unset or empty: Avx512);
/// false for an unknown value.
static bool requestedCpuLevel(CpuLevel &cap, const char *&value) {
  value = std::getenv("EDGELLM_KERNELS");
  cap = CpuLevel::Avx512;
  if (!value || !*value)
    return true;
  for (CpuLevel l : kCpuLevels)
    if (std::strcmp(value, cpuLevelSetting(l)) == 0) {
      cap = l;
      return true;
    }
  return false;
}

const char *kernels::cpuLevelSetting(CpuLevel l) {
  return l == CpuLevel::Avx512 ? "avx512" : l == CpuLevel::Avx2 ? "avx2" : "scalar";
}

bool kernels::checkCpuLevelSetting(std::string &error) {
  CpuLevel cap;
  const char *v;
  if (requestedCpuLevel(cap, v))
    return true;
  error = "EDGELLM_KERNELS must be one of";
  for (CpuLevel l : kCpuLevels)
    error += std::string(l == CpuLevel::Avx512 ? " " : ", ") + cpuLevelSetting(l);
  error += std::string(", not '") + v + "'";
  return false;
}

CpuLevel kernels::detectCpuLevel() {
  CpuLevel cap;
  const char *value;
  requestedCpuLevel(cap, value); // (an unknown value: checkCpuLevelSetting reports it)
  if (cap == CpuLevel::Scalar)
    return CpuLevel::Scalar;
#ifdef EDGELLM_X86
  __builtin_cpu_init();
  if (cap == CpuLevel::Avx512 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vbmi"))
    return CpuLevel::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return CpuLevel::Avx2;
#endif
  return CpuLevel::Scalar;
}

const char *kernels::cpuLevelName(CpuLevel l) {
  switch (l) {
  case CpuLevel::Avx512:
    return "avx512-vnni";
  case CpuLevel::Avx2:
    return "avx2";
  case CpuLevel::Scalar:
    break;
  }
  return "scalar";
}

namespace {

inline uint16_t load16(const uint8_t *p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}
inline void store16(uint8_t *p, uint16_t h) { std::memcpy(p, &h, 2); }
/// Byte address of element (m, c) of a unified-layout operand.
inline uint64_t elem(uint64_t stride, uint64_t m, uint64_t c) {
  return ((c / kLanes) * stride + m) * kBeatBytes + (c % kLanes) * 2;
}

/// One input whose aligned term is not linear in the weight: term(w) =
/// w * X + t[w + 8].
struct Corr {
  uint8_t index; ///< within the group
  int8_t t[16];
};

constexpr unsigned kPlaneBytes = 3 * kQuantGroup; ///< three signed-byte digits of X

/// The golden model's aligned term of one product (IsaNumerics.h, q4GroupDot).
inline int64_t alignedTerm(uint32_t sig, unsigned shift, bool xneg, int w) {
  if (w == 0)
    return 0;
  uint32_t mag = sig * uint32_t(w < 0 ? -w : w);
  int64_t a = shift >= 32 ? 0
                          : int64_t((uint64_t(mag) << isa::kAlignGuardBits) >> shift);
  return (xneg != (w < 0)) ? -a : a;
}

} // namespace

/// Up to four corrections of one group j (of its block of 16) for the
/// AVX-512 kernel, applied to the row's group in registers: the (w + 8)
/// nibble vectors lo (low nibbles, even inputs) and hi (odd inputs) of its
/// 64 payload bytes, concatenated as a 128-byte table, are permuted by `idx`
/// so that correction c's nibble lands in byte 4j + c (other bytes zeroed by
/// `mask`); plus 16c (kCorrBase), it indexes `tab` (bytes 16c .. 16c + 15:
/// t[w + 8] + 8, unsigned), and the 4 bytes add up into dword lane j.
struct alignas(64) CorrRound {
  uint8_t idx[64];
  uint8_t tab[64];
  uint64_t mask;
  uint32_t group; ///< j, within its block of 16 groups
};

/// The same correction for weights relaid as lanes = rows (q4ToLanes): the
/// input's nibble is at bit `shift` of every lane of the group's dword
/// vector `vec`, and t[n] is its correction for the nibble n = w + 8, as
/// int32 lanes for a lane permutation.
struct CorrLanes {
  int32_t t[16];
  uint32_t vec, shift;
};

/// One correction's table (Corr) for input i: t[w + 8] = term(w) - w * X;
/// false when every entry is 0.
inline bool correctionTable(uint32_t sig, unsigned shift, bool neg, int32_t X, unsigned i, Corr &c) {
  c.index = uint8_t(i);
  bool any = false;
  for (int w = -8; w <= 7; ++w) {
    int64_t d = alignedTerm(sig, shift, neg, w) - int64_t(w) * X;
    c.t[w + 8] = int8_t(d);
    any |= d != 0;
  }
  return any;
}

/// Appends input i's correction (when its table is not all zero): x the
/// group's inputs, X its aligned term for |w| = 1 at `shift`.
inline void addCorrection(const uint16_t *x, unsigned i, unsigned shift, int32_t X, std::vector<Corr> &out) {
  const uint16_t h = x[i];
  const uint32_t sig = (h & 0x3ff) | (((h >> 10) & 0x1f) ? 0x400u : 0u);
  Corr c;
  if (correctionTable(sig, shift, (h >> 15) != 0, X, i, c))
    out.push_back(c);
}

#ifdef EDGELLM_X86
/// A group's exponent E (the largest f16Exponent of its n inputs that are
/// not inf/NaN, at least 1) and whether it has an inf/NaN input.
EDGELLM_AVX512 void groupExponentAvx512(const uint16_t *x, unsigned n, int &E, bool &special) {
  __m512i e = _mm512_set1_epi32(1);
  __mmask16 spec = 0;
  for (unsigned v = 0; v < kQuantGroup / 16; ++v) {
    const unsigned cnt = n > 16 * v ? std::min(16u, n - 16 * v) : 0;
    const __mmask16 valid = __mmask16((1u << cnt) - 1);
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(valid, x + 16 * v));
    const __m512i f = _mm512_and_si512(_mm512_srli_epi32(h, 10), _mm512_set1_epi32(0x1f));
    const __mmask16 s = _mm512_cmpeq_epi32_mask(f, _mm512_set1_epi32(0x1f)) & valid;
    spec |= s;
    e = _mm512_mask_max_epi32(e, __mmask16(~s), e, f); // lanes past n: f = 0
  }
  E = _mm512_reduce_max_epi32(e);
  special = spec != 0;
}

/// prepareGroups for one group on 16 lanes at a time (the same integers):
/// the digit planes in plane order and the corrections, in input order;
/// returns sum X. E is the group's exponent (no inf/NaN input).
EDGELLM_AVX512 int32_t prepareGroupAvx512(const uint16_t *x, unsigned n, int E, int8_t *pl,
                                          std::vector<Corr> &out) {
  // Bytes of 16 inputs: the even ones, then the odd ones (plane slots).
  const __m128i evenOdd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m512i vE = _mm512_set1_epi32(E);
  __m512i sum = _mm512_setzero_si512();
  for (unsigned v = 0; v < kQuantGroup / 16; ++v) {
    const unsigned cnt = n > 16 * v ? std::min(16u, n - 16 * v) : 0;
    const __mmask16 valid = __mmask16((1u << cnt) - 1);
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(valid, x + 16 * v));
    const __m512i f = _mm512_and_si512(_mm512_srli_epi32(h, 10), _mm512_set1_epi32(0x1f));
    const __mmask16 normal = _mm512_test_epi32_mask(f, f);
    const __m512i sig = _mm512_mask_or_epi32(_mm512_and_si512(h, _mm512_set1_epi32(0x3ff)), normal,
                                             _mm512_and_si512(h, _mm512_set1_epi32(0x3ff)),
                                             _mm512_set1_epi32(0x400));
    const __m512i shift = _mm512_sub_epi32(vE, _mm512_max_epi32(f, _mm512_set1_epi32(1)));
    const __m512i top = _mm512_slli_epi32(sig, int(isa::kAlignGuardBits));
    __m512i X = _mm512_srlv_epi32(top, shift); // 0 for shifts >= 32
    const __mmask16 neg = _mm512_test_epi32_mask(h, _mm512_set1_epi32(0x8000));
    X = _mm512_mask_sub_epi32(X, neg, _mm512_setzero_si512(), X);
    sum = _mm512_add_epi32(sum, X);
    // X = d0 + 2^8 d1 + 2^16 d2, signed bytes.
    const __m512i d0 = _mm512_srai_epi32(_mm512_slli_epi32(X, 24), 24);
    const __m512i r1 = _mm512_srai_epi32(_mm512_sub_epi32(X, d0), 8);
    const __m512i d1 = _mm512_srai_epi32(_mm512_slli_epi32(r1, 24), 24);
    const __m512i d2 = _mm512_srai_epi32(_mm512_sub_epi32(r1, d1), 8);
    const __m512i d[3] = {d0, d1, d2};
    for (unsigned k = 0; k < 3; ++k) {
      __m128i b = _mm_shuffle_epi8(_mm512_cvtepi32_epi8(d[k]), evenOdd);
      _mm_storel_epi64(reinterpret_cast<__m128i *>(pl + k * kQuantGroup + 8 * v), b);
      _mm_storel_epi64(reinterpret_cast<__m128i *>(pl + k * kQuantGroup + 64 + 8 * v),
                       _mm_unpackhi_epi64(b, b));
    }
    // Bits shifted out below the guard bits: the term is not w * X.
    const __m512i below = _mm512_sub_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), shift),
                                           _mm512_set1_epi32(1)); // all ones for shifts >= 32
    __mmask16 cand = _mm512_cmpgt_epi32_mask(shift, _mm512_set1_epi32(int(isa::kAlignGuardBits))) &
                     _mm512_test_epi32_mask(top, below) & valid;
    if (cand) {
      alignas(64) int32_t xs[16], sh[16];
      _mm512_store_si512(xs, X);
      _mm512_store_si512(sh, shift);
      for (; cand; cand &= __mmask16(cand - 1)) {
        const unsigned l = unsigned(__builtin_ctz(cand));
        addCorrection(x, 16 * v + l, unsigned(sh[l]), xs[l], out);
      }
    }
  }
  return _mm512_reduce_add_epi32(sum);
}

/// A group's n inputs, zero-padded to kQuantGroup (zeros: f = 0, X = 0, no
/// correction), for the AVX2 forms below.
struct PaddedGroup {
  alignas(32) uint16_t h[kQuantGroup] = {};
  PaddedGroup(const uint16_t *x, unsigned n) { std::memcpy(h, x, 2 * n); }
};

/// groupExponentAvx512 on 8 lanes.
EDGELLM_AVX2 void groupExponentAvx2(const PaddedGroup &x, int &E, bool &special) {
  __m256i e = _mm256_set1_epi32(1), spec = _mm256_setzero_si256();
  for (unsigned v = 0; v < kQuantGroup / 8; ++v) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_load_si128(reinterpret_cast<const __m128i *>(x.h + 8 * v)));
    const __m256i f = _mm256_and_si256(_mm256_srli_epi32(h, 10), _mm256_set1_epi32(0x1f));
    const __m256i s = _mm256_cmpeq_epi32(f, _mm256_set1_epi32(0x1f));
    spec = _mm256_or_si256(spec, s);
    e = _mm256_max_epi32(e, _mm256_andnot_si256(s, f));
  }
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i *>(lanes), e);
  E = *std::max_element(lanes, lanes + 8);
  special = !_mm256_testz_si256(spec, spec);
}

/// prepareGroupAvx512 on 8 lanes (the same integers, planes and
/// corrections).
EDGELLM_AVX2 int32_t prepareGroupAvx2(const PaddedGroup &x, int E, int8_t *pl, std::vector<Corr> &out) {
  // Bytes of 8 inputs: the even ones, then the odd ones (plane slots).
  const __m128i evenOdd = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15);
  const __m256i vE = _mm256_set1_epi32(E), ones = _mm256_set1_epi32(1);
  __m256i sum = _mm256_setzero_si256();
  for (unsigned v = 0; v < kQuantGroup / 8; ++v) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_load_si128(reinterpret_cast<const __m128i *>(x.h + 8 * v)));
    const __m256i f = _mm256_and_si256(_mm256_srli_epi32(h, 10), _mm256_set1_epi32(0x1f));
    const __m256i normal = _mm256_andnot_si256(_mm256_cmpeq_epi32(f, _mm256_setzero_si256()),
                                               _mm256_set1_epi32(0x400));
    const __m256i sig = _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi32(0x3ff)), normal);
    const __m256i shift = _mm256_sub_epi32(vE, _mm256_max_epi32(f, ones));
    const __m256i top = _mm256_slli_epi32(sig, int(isa::kAlignGuardBits));
    // 0 for shifts >= 32; negated (two's complement) for negative inputs.
    const __m256i neg = _mm256_srai_epi32(_mm256_slli_epi32(h, 16), 31);
    const __m256i X = _mm256_sub_epi32(_mm256_xor_si256(_mm256_srlv_epi32(top, shift), neg), neg);
    sum = _mm256_add_epi32(sum, X);
    // X = d0 + 2^8 d1 + 2^16 d2, signed bytes.
    const __m256i d0 = _mm256_srai_epi32(_mm256_slli_epi32(X, 24), 24);
    const __m256i r1 = _mm256_srai_epi32(_mm256_sub_epi32(X, d0), 8);
    const __m256i d1 = _mm256_srai_epi32(_mm256_slli_epi32(r1, 24), 24);
    const __m256i d2 = _mm256_srai_epi32(_mm256_sub_epi32(r1, d1), 8);
    const __m256i d[3] = {d0, d1, d2};
    for (unsigned k = 0; k < 3; ++k) {
      __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(d[k]), _mm256_extracti128_si256(d[k], 1));
      __m128i b = _mm_shuffle_epi8(_mm_packs_epi16(w, w), evenOdd); // (in range: no saturation)
      const int32_t even = _mm_cvtsi128_si32(b), odd = _mm_extract_epi32(b, 1);
      std::memcpy(pl + k * kQuantGroup + 4 * v, &even, 4);
      std::memcpy(pl + k * kQuantGroup + 64 + 4 * v, &odd, 4);
    }
    // Bits shifted out below the guard bits: the term is not w * X.
    const __m256i below = _mm256_sub_epi32(_mm256_sllv_epi32(ones, shift), ones); // all ones for shifts >= 32
    const __m256i cand = _mm256_andnot_si256(
        _mm256_cmpeq_epi32(_mm256_and_si256(top, below), _mm256_setzero_si256()),
        _mm256_cmpgt_epi32(shift, _mm256_set1_epi32(int(isa::kAlignGuardBits))));
    unsigned bits = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(cand)));
    if (bits) {
      alignas(32) int32_t xs[8], sh[8];
      _mm256_store_si256(reinterpret_cast<__m256i *>(xs), X);
      _mm256_store_si256(reinterpret_cast<__m256i *>(sh), shift);
      for (; bits; bits &= bits - 1) {
        const unsigned l = unsigned(__builtin_ctz(bits));
        addCorrection(x.h, 8 * v + l, unsigned(sh[l]), xs[l], out);
      }
    }
  }
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i *>(lanes), sum);
  int32_t total = 0;
  for (int32_t t : lanes)
    total += t;
  return total;
}
#endif

struct MmQ4Kernel::Prepared {
  uint32_t m = 0, k = 0, groups = 0;
  std::vector<uint16_t> bits;   ///< [m][k]
  std::vector<int8_t> planes;   ///< [m][groups][3 x 128]: digits of X, plane order
  std::vector<int32_t> sumX;    ///< [m][groups]
  std::vector<float> pow2;      ///< [m][groups]: 2^(E - 33)
  std::vector<uint8_t> special; ///< [m][groups]: an inf/NaN input (golden path)
  std::vector<std::vector<uint32_t>> corrBegin; ///< [m][groups + 1]
  std::vector<std::vector<Corr>> corr;          ///< [m][...]
  /// [m][...]: the same corrections in rounds of four (CorrRound), the
  /// rounds of group g from roundBegin[m][g]; sub[m][g] = 8 sum X + 8 per
  /// correction (the bias of the rounds' unsigned tables).
  std::vector<std::vector<CorrRound>> rounds;
  std::vector<std::vector<uint32_t>> roundBegin;
  std::vector<int32_t> sub; ///< [m][groups]
  bool roundsBuilt = false;  ///< rounds, roundBegin, sub (built when first needed)
  std::vector<std::vector<CorrLanes>> corrLanes; ///< [m][...]: the same, as CorrLanes

  /// Plane position of input i of a group: the weight image keeps the low
  /// nibbles (even inputs) of the 64 payload bytes, then the high ones.
  static unsigned slot(unsigned i) { return (i & 1) ? 64 + i / 2 : i / 2; }

  /// Groups [g0, g1) of token t: E, 2^(E-33), special, the digit planes,
  /// sum X; their corrections are appended to `out` in group order and
  /// counted per group in count[g - g0].
  void prepareGroups(uint32_t t, uint32_t g0, uint32_t g1, std::vector<Corr> &out,
                     uint32_t *count, CpuLevel level) {
    const uint16_t *xs = bits.data() + uint64_t(t) * k;
    for (uint32_t g = g0; g < g1; ++g) {
      uint64_t gi = uint64_t(t) * groups + g;
      const uint16_t *x = xs + uint64_t(g) * kQuantGroup;
      unsigned n = std::min<unsigned>(kQuantGroup, k - g * kQuantGroup);
      int E = 1;
      bool spec = false;
#ifdef EDGELLM_X86
      std::optional<PaddedGroup> padded;
      if (level == CpuLevel::Avx2)
        padded.emplace(x, n);
      if (level == CpuLevel::Avx512)
        groupExponentAvx512(x, n, E, spec);
      else if (padded)
        groupExponentAvx2(*padded, E, spec);
      else
#endif
        for (unsigned i = 0; i < n; ++i) {
          unsigned f = (x[i] >> 10) & 0x1f;
          if (f == 0x1f)
            spec = true;
          else
            E = std::max(E, isa::f16Exponent(x[i]));
        }
      special[gi] = spec;
      // 2^(E - 33), E in [1, 30]: a normal binary32 (= std::ldexp(1, E - 33)).
      const uint32_t pow2Bits = uint32_t(E - 25 - int(isa::kAlignGuardBits) + 127) << 23;
      std::memcpy(&pow2[gi], &pow2Bits, 4);
      int8_t *pl = planes.data() + gi * kPlaneBytes;
      const size_t before = out.size();
#ifdef EDGELLM_X86
      if ((level == CpuLevel::Avx512 || padded) && !spec) {
        sumX[gi] = padded ? prepareGroupAvx2(*padded, E, pl, out) : prepareGroupAvx512(x, n, E, pl, out);
        count[g - g0] = uint32_t(out.size() - before);
        continue;
      }
#endif
      std::memset(pl, 0, kPlaneBytes);
      int32_t sum = 0;
      for (unsigned i = 0; i < n && !spec; ++i) {
        uint16_t h = x[i];
        unsigned f = (h >> 10) & 0x1f;
        uint32_t sig = (h & 0x3ff) | (f ? 0x400u : 0u);
        if (sig == 0)
          continue;
        unsigned shift = unsigned(E - isa::f16Exponent(h));
        bool neg = (h >> 15) != 0;
        int32_t X = int32_t(alignedTerm(sig, shift, neg, 1));
        sum += X;
        int32_t d0 = int8_t(uint8_t(X & 0xff));
        int32_t r1 = (X - d0) >> 8;
        int32_t d1 = int8_t(uint8_t(r1 & 0xff));
        int32_t d2 = (r1 - d1) >> 8;
        unsigned s = slot(i);
        pl[s] = int8_t(d0);
        pl[kQuantGroup + s] = int8_t(d1);
        pl[2 * kQuantGroup + s] = int8_t(d2);
        // Bits shifted out below the guard bits: the term is not w * X.
        if (shift > isa::kAlignGuardBits &&
            ((uint64_t(sig) << isa::kAlignGuardBits) & ((uint64_t(1) << std::min(shift, 40u)) - 1)))
          addCorrection(x, i, shift, X, out);
      }
      sumX[gi] = sum;
      count[g - g0] = uint32_t(out.size() - before);
    }
  }

  /// Token t's correction index from the per-group counts of its corr
  /// list, and the list as CorrLanes.
  void indexCorrections(uint32_t t, const uint32_t *count) {
    std::vector<uint32_t> &cb = corrBegin[t];
    cb.assign(groups + 1, 0);
    for (uint32_t g = 0; g < groups; ++g)
      cb[g + 1] = cb[g] + count[g];
    buildCorrLanes(t);
  }

  /// Token t's corrections as CorrLanes (the relaid kernel), from corr.
  void buildCorrLanes(uint32_t t) {
    const std::vector<Corr> &cl = corr[t];
    std::vector<CorrLanes> &cv = corrLanes[t];
    cv.resize(cl.size());
    for (size_t c = 0; c < cl.size(); ++c) {
      unsigned i = cl[c].index;
      for (unsigned n = 0; n < 16; ++n)
        cv[c].t[n] = cl[c].t[n];
      cv[c].vec = i / 8;
      cv[c].shift = 4 * (i % 8);
    }
  }

  /// Token t's corrections in rounds of four (the in-place AVX-512 kernel).
  void buildRounds(uint32_t t) {
    const std::vector<uint32_t> &cb = corrBegin[t];
    const std::vector<Corr> &cl = corr[t];
    std::vector<CorrRound> &rv = rounds[t];
    std::vector<uint32_t> &rb = roundBegin[t];
    rv.clear();
    rb.assign(groups + 1, 0);
    for (uint32_t g = 0; g < groups; ++g) {
      rb[g] = uint32_t(rv.size());
      for (uint32_t c = cb[g]; c < cb[g + 1]; ++c) {
        unsigned lane = (c - cb[g]) % 4;
        if (lane == 0) {
          rv.emplace_back();
          std::memset(&rv.back(), 0, sizeof(CorrRound));
          rv.back().group = g % 16;
        }
        CorrRound &r = rv.back();
        unsigned i = cl[c].index, byte = 4 * (g % 16) + lane;
        r.idx[byte] = uint8_t((i & 1) * 64 + i / 2);
        for (unsigned n = 0; n < 16; ++n)
          r.tab[16 * lane + n] = uint8_t(cl[c].t[n] + 8);
        r.mask |= uint64_t(1) << byte;
      }
      sub[uint64_t(t) * groups + g] = 8 * sumX[uint64_t(t) * groups + g] + 8 * int32_t(cb[g + 1] - cb[g]);
    }
    rb[groups] = uint32_t(rv.size());
  }
};

namespace {

/// The golden value of one special group (an inf/NaN input) from the image.
/// `xm`: 0 for a row image ((w + 8) nibbles), 0x88 for the dense payload.
float specialGroup(const uint16_t *x, const uint8_t *img, unsigned count, uint8_t xm = 0) {
  int8_t w[kQuantGroup];
  for (unsigned i = 0; i < kQuantGroup; ++i)
    w[i] = int8_t((((img[i / 2] ^ xm) >> (4 * (i & 1))) & 0xf) - 8);
  return isa::q4GroupDot(x, w, count);
}

/// Y[m, n] = FP16(acc + bias[n]) (the bias when present), the golden
/// model's last two steps.
inline void storeOutput(const MmQ4Args &a, uint32_t m, uint64_t n, float acc) {
  if (a.bias)
    acc = acc + isa::f16ToF32(load16(a.bias + n * 2));
  store16(a.y + elem(a.yStride, m, n), isa::f32ToF16(acc));
}

/// Zeroes the padding lanes of Y's last beat (channels n .. 16 * ceil(n / 16)).
inline void zeroPadding(const MmQ4Args &a) {
  for (uint32_t m = 0; m < a.m; ++m)
    for (uint64_t c = a.n; c % kLanes; ++c)
      store16(a.y + elem(a.yStride, m, c), 0);
}

/// Row image: per group 64 bytes of (w + 8) nibbles (input 2b low, 2b + 1
/// high nibble of byte b), and the group scales.
void buildRow(const BeatRuns &w, uint64_t beat, uint32_t k, isa::Sparsity sp, uint8_t *img,
              float *scales, unsigned scaleStride, uint8_t *tmp) {
  unsigned payload = isa::groupPayloadBytes(sp);
  for (uint32_t b0 = 0; b0 < k; b0 += kQuantBlock) {
    uint32_t len = std::min<uint32_t>(kQuantBlock, k - b0);
    uint32_t ng = (len + kQuantGroup - 1) / kQuantGroup;
    uint32_t g0 = b0 / kQuantGroup;
    uint8_t sc[kBeatBytes];
    w.gather(beat, 1, sc);
    for (uint32_t g = 0; g < ng; ++g)
      scales[(g0 + g) * scaleStride] = isa::f16ToF32(uint16_t(sc[2 * g] | sc[2 * g + 1] << 8));
    uint32_t pbeats = (ng * payload + kBeatBytes - 1) / kBeatBytes;
    uint8_t *out = img + uint64_t(g0) * 64;
    if (sp == isa::Sparsity::Dense) {
      w.gather(beat + 1, pbeats, out); // ng * 64 bytes: whole beats
      for (uint32_t i = 0; i < ng * 64; ++i)
        out[i] ^= 0x88;
    } else {
      w.gather(beat + 1, pbeats, tmp);
      int8_t wv[kQuantGroup];
      for (uint32_t g = 0; g < ng; ++g) {
        isa::q4DecodeGroup(tmp + g * payload, sp, wv);
        for (unsigned b = 0; b < 64; ++b)
          out[g * 64 + b] =
              uint8_t(((wv[2 * b] + 8) & 0xf) | (((wv[2 * b + 1] + 8) & 0xf) << 4));
      }
    }
    beat += 1 + pbeats;
  }
}

/// Integer dot products of `rows` row images with one token's planes:
/// S[r * groups + g] = sum over the group of (w + 8) * X.
void groupSumsScalar(const uint8_t *const *imgs, unsigned rows, uint32_t groups,
                     const int8_t *planes, int32_t *S) {
  for (uint32_t g = 0; g < groups; ++g) {
    const int8_t *p = planes + uint64_t(g) * kPlaneBytes;
    int32_t X[kQuantGroup];
    for (unsigned j = 0; j < kQuantGroup; ++j)
      X[j] = p[j] + 256 * p[kQuantGroup + j] + 65536 * p[2 * kQuantGroup + j];
    for (unsigned r = 0; r < rows; ++r) {
      const uint8_t *w = imgs[r] + uint64_t(g) * 64;
      int32_t s = 0;
      for (unsigned b = 0; b < 64; ++b)
        s += int32_t(w[b] & 0xf) * X[b] + int32_t(w[b] >> 4) * X[64 + b];
      S[r * groups + g] = s;
    }
  }
}

/// Everything one token needs from a prepared activation vector.
struct TokenView {
  const int8_t *planes;
  const int32_t *sumX;
  const float *pow2;
  const uint8_t *special;
  const uint32_t *corrBegin;
  const Corr *corr;
  const CorrRound *rounds;
  const uint32_t *roundBegin;
  const int32_t *sub;
  const CorrLanes *corrLanes;
  const uint16_t *bits;
  uint32_t k, groups;
};

/// Where the 16 rows of a block are: the 64 bytes of group g of row r are at
/// rows[r] + goff[g], as (w + 8) nibbles ^ xm (0 for row images, 0x88 for
/// the dense payload read in place: two's complement nibbles); the group's
/// scale is scalesT[g * 16 + r]. Rows past the block's end repeat row 0.
struct Rows16 {
  const uint8_t *rows[16];
  const uint32_t *goff;
  uint8_t xm;
  const float *scalesT;
};

#ifdef EDGELLM_X86
/// 16 x 16 int32 transpose: lane j of v[i] becomes lane i of v[j].
EDGELLM_AVX512 inline void transpose16(__m512i v[16]) {
  __m512i a[16], b[16];
  for (unsigned i = 0; i < 16; i += 2) {
    a[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
    a[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (unsigned i = 0; i < 16; i += 4) {
    b[i] = _mm512_unpacklo_epi64(a[i], a[i + 2]);
    b[i + 1] = _mm512_unpackhi_epi64(a[i], a[i + 2]);
    b[i + 2] = _mm512_unpacklo_epi64(a[i + 1], a[i + 3]);
    b[i + 3] = _mm512_unpackhi_epi64(a[i + 1], a[i + 3]);
  }
  // b[4u + s], 128-bit part p: lane 4p + s of rows 4u .. 4u + 3. Gather the
  // parts: lane 4p + s of all 16 rows goes to v[4p + s].
  for (unsigned s = 0; s < 4; ++s) {
    __m512i c0 = _mm512_shuffle_i32x4(b[s], b[4 + s], 0x88);
    __m512i c1 = _mm512_shuffle_i32x4(b[s], b[4 + s], 0xdd);
    __m512i c2 = _mm512_shuffle_i32x4(b[8 + s], b[12 + s], 0x88);
    __m512i c3 = _mm512_shuffle_i32x4(b[8 + s], b[12 + s], 0xdd);
    v[s] = _mm512_shuffle_i32x4(c0, c2, 0x88);
    v[8 + s] = _mm512_shuffle_i32x4(c0, c2, 0xdd);
    v[4 + s] = _mm512_shuffle_i32x4(c1, c3, 0x88);
    v[12 + s] = _mm512_shuffle_i32x4(c1, c3, 0xdd);
  }
}

/// Lane j = the sum of the 16 lanes of v[j] (exact integer sums).
EDGELLM_AVX512 inline __m512i reduce16(__m512i v[16]) {
  __m512i a[8], b[4];
  for (unsigned i = 0; i < 8; ++i)
    a[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                            _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  for (unsigned i = 0; i < 4; ++i)
    b[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(a[2 * i], a[2 * i + 1]),
                            _mm512_unpackhi_epi64(a[2 * i], a[2 * i + 1]));
  __m512i c01 = _mm512_add_epi32(_mm512_shuffle_i32x4(b[0], b[1], 0x88),
                                 _mm512_shuffle_i32x4(b[0], b[1], 0xdd));
  __m512i c23 = _mm512_add_epi32(_mm512_shuffle_i32x4(b[2], b[3], 0x88),
                                 _mm512_shuffle_i32x4(b[2], b[3], 0xdd));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(c01, c23, 0x88),
                          _mm512_shuffle_i32x4(c01, c23, 0xdd));
}

/// The dot product of one row's group with the token's digit planes: the
/// dword lanes' sums (4 inputs each) of (w + 8) * X; lo and hi are the
/// group's (w + 8) nibble vectors (even and odd inputs).
EDGELLM_AVX512 inline __m512i groupDot(const uint8_t *w, const int8_t *p, __m512i xlo, __m512i xhi,
                                       __m512i &lo, __m512i &hi) {
  const __m512i nib = _mm512_set1_epi8(0x0f);
  const __m512i zero = _mm512_setzero_si512();
  __m512i wv = _mm512_loadu_si512(w);
  // (A ^ B) & C: the nibbles as w + 8.
  lo = _mm512_ternarylogic_epi32(wv, xlo, nib, 0x28);
  hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(wv, 4), xhi, nib, 0x28);
  // The three digits' sums (independent, short dependency chains):
  // d0 part + 2^8 (d1 part + 2^8 d2 part).
  __m512i a0 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, lo, _mm512_loadu_si512(p)), hi,
                                   _mm512_loadu_si512(p + 64));
  __m512i a1 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, lo, _mm512_loadu_si512(p + 128)), hi,
                                   _mm512_loadu_si512(p + 192));
  __m512i a2 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, lo, _mm512_loadu_si512(p + 256)), hi,
                                   _mm512_loadu_si512(p + 320));
  return _mm512_add_epi32(a0, _mm512_slli_epi32(_mm512_add_epi32(a1, _mm512_slli_epi32(a2, 8)), 8));
}

/// acc + one correction round (CorrRound) of a group with nibbles lo, hi.
EDGELLM_AVX512 inline __m512i corrRound(const CorrRound &c, __m512i lo, __m512i hi, __m512i acc) {
  // Byte 4j + c: 16c, correction c's table in CorrRound::tab.
  const __m512i corrBase = _mm512_set1_epi32(0x30201000);
  __m512i n = _mm512_maskz_permutex2var_epi8(c.mask, lo, _mm512_load_si512(c.idx), hi);
  __m512i v = _mm512_maskz_permutexvar_epi8(c.mask, _mm512_or_si512(n, corrBase), _mm512_load_si512(c.tab));
  return _mm512_dpbusd_epi32(acc, v, _mm512_set1_epi8(1));
}

/// One row, one token: S[g] = the exact integer group sums sum (w + 8) X -
/// 8 sum X + the corrections, for all groups (S: whole blocks of 16). The
/// row's groups are read one after the other (one sequential stream,
/// prefetched `pfDist` ahead). Per group the dot product is in dword lanes
/// (4 inputs each); then the block's correction rounds add to lanes of
/// their own, and per 16 groups the lanes are reduced into S, one group
/// per lane.
EDGELLM_AVX512 void rowSumsAvx512(const Rows16 &b, unsigned r, const TokenView &t,
                                  uint64_t pfDist, int32_t *S) {
  const __m512i xlo = _mm512_set1_epi8(char(b.xm & 0x0f)), xhi = _mm512_set1_epi8(char(b.xm >> 4));
  const uint8_t *row = b.rows[r];
  __m512i tv[16], lo[16], hi[16];
  for (uint32_t g0 = 0; g0 < t.groups; g0 += 16) {
    const uint32_t ng = std::min<uint32_t>(16, t.groups - g0);
    const uint32_t *goff = b.goff + g0;
    const int8_t *planes = t.planes + uint64_t(g0) * kPlaneBytes;
    if (ng == 16) {
#pragma GCC unroll 16
      for (uint32_t j = 0; j < 16; ++j) {
        const uint8_t *w = row + goff[j];
        _mm_prefetch(reinterpret_cast<const char *>(w + pfDist), _MM_HINT_T0);
        tv[j] = groupDot(w, planes + j * kPlaneBytes, xlo, xhi, lo[j], hi[j]);
      }
    } else {
      for (uint32_t j = 0; j < 16; ++j)
        tv[j] = j < ng ? groupDot(row + goff[j], planes + j * kPlaneBytes, xlo, xhi, lo[j], hi[j])
                       : _mm512_setzero_si512();
    }
    // The block's corrections (their count varies: one loop per block),
    // summed into lane j of C (four accumulators: short dependency chains).
    __m512i C0 = _mm512_setzero_si512(), C1 = C0, C2 = C0, C3 = C0;
    uint32_t k = t.roundBegin[g0];
    const uint32_t e = t.roundBegin[g0 + ng];
    for (; k + 4 <= e; k += 4) {
      const CorrRound *c = t.rounds + k;
      C0 = corrRound(c[0], lo[c[0].group], hi[c[0].group], C0);
      C1 = corrRound(c[1], lo[c[1].group], hi[c[1].group], C1);
      C2 = corrRound(c[2], lo[c[2].group], hi[c[2].group], C2);
      C3 = corrRound(c[3], lo[c[3].group], hi[c[3].group], C3);
    }
    for (; k < e; ++k)
      C0 = corrRound(t.rounds[k], lo[t.rounds[k].group], hi[t.rounds[k].group], C0);
    __m512i C = _mm512_add_epi32(_mm512_add_epi32(C0, C1), _mm512_add_epi32(C2, C3));
    const __mmask16 valid = __mmask16((1u << ng) - 1);
    _mm512_storeu_si512(S + g0, _mm512_sub_epi32(_mm512_add_epi32(reduce16(tv), C),
                                                 _mm512_maskz_loadu_epi32(valid, t.sub + g0)));
  }
}

/// The scales of 16 dense rows read in place, transposed to scalesT[g * 16 + r].
EDGELLM_AVX512 void scalesInPlaceAvx512(const uint8_t *const rows[16], uint32_t G, float *scalesT) {
  constexpr uint32_t GB = kQuantBlock / kQuantGroup;
  constexpr uint32_t blockBytes = (1 + kQuantBlock / 2 / kBeatBytes) * kBeatBytes;
  for (uint32_t g0 = 0; g0 < G; g0 += GB) {
    __m512i v[16];
    for (unsigned r = 0; r < 16; ++r)
      v[r] = _mm512_castps_si512(_mm512_cvtph_ps(_mm256_loadu_si256(
          reinterpret_cast<const __m256i *>(rows[r] + (g0 / GB) * blockBytes))));
    transpose16(v);
    for (uint32_t j = 0; j < std::min(GB, G - g0); ++j)
      _mm512_storeu_si512(scalesT + uint64_t(g0 + j) * 16, v[j]);
  }
}

/// 16 rows (lanes), one token: out[r] = the golden sequence acc = acc +
/// (float(S_g) * 2^(E_g - 33)) * scale_g over the groups, in order. The
/// rows' integer sums (rowSumsAvx512, row after row) are transposed per 16
/// groups to lanes = rows for the binary32 part. `S`: 16 x (G rounded up
/// to 16) ints of scratch.
EDGELLM_AVX512 void block16Avx512(const Rows16 &b, unsigned nrows, const TokenView &t,
                                  uint64_t pfDist, int32_t *S, float out[16]) {
  const uint32_t G = t.groups, gpad = (G + 15) / 16 * 16;
  for (unsigned r = 0; r < nrows; ++r)
    rowSumsAvx512(b, r, t, pfDist, S + r * gpad);
  __m512 acc = _mm512_setzero_ps();
  alignas(64) float pv[16];
  for (uint32_t g0 = 0; g0 < G; g0 += 16) {
    __m512i sv[16];
    for (unsigned r = 0; r < 16; ++r)
      sv[r] = _mm512_loadu_si512(S + (r < nrows ? r : 0) * gpad + g0);
    transpose16(sv);
    for (uint32_t j = 0; j < std::min<uint32_t>(16, G - g0); ++j) {
      const uint32_t g = g0 + j;
      __m512 prod;
      if (t.special[g]) {
        unsigned count = std::min<unsigned>(kQuantGroup, t.k - g * kQuantGroup);
        for (unsigned r = 0; r < 16; ++r)
          pv[r] = specialGroup(t.bits + uint64_t(g) * kQuantGroup, b.rows[r] + b.goff[g], count, b.xm) *
                  b.scalesT[g * 16 + r];
        prod = _mm512_load_ps(pv);
      } else {
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(sv[j]), _mm512_set1_ps(t.pow2[g])); // exact
        prod = _mm512_mul_ps(v, _mm512_loadu_ps(b.scalesT + g * 16));
      }
      acc = _mm512_add_ps(acc, prod);
    }
  }
  _mm512_storeu_ps(out, acc);
}

inline int32_t load32(const uint8_t *p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

/// Weights relaid as lanes = rows (q4ToLanes), one block of 16 rows, TB
/// tokens, groups [gBegin, gEnd): acc[t * 16 + r] += the golden sequence
/// over the groups, in order, or (with `prods`) prods[(t * (gEnd - gBegin)
/// + g - gBegin) * 16 + r] = each group's product instead, for the caller
/// to add in order. Per group the 16 dword vectors (lane r: 8 inputs of
/// row r) are split into (w + 8) nibbles once for the TB tokens, whose
/// digit planes are broadcast 4 inputs at a time; the lanes need no
/// reduction, and a correction is one shift, mask and lane permutation for
/// all 16 rows.
/// acc[r] = the sum of prods[g * 16 + r] over g = 0 .. G - 1, in order
/// (the golden sequence, 16 rows in the lanes).
EDGELLM_AVX512 void sumProducts(const float *prods, uint32_t G, float acc[16]) {
  __m512 v = _mm512_setzero_ps();
  for (uint32_t g = 0; g < G; ++g)
    v = _mm512_add_ps(v, _mm512_loadu_ps(prods + g * 16));
  _mm512_storeu_ps(acc, v);
}

/// Y[m, n0 .. n0 + rows) = FP16(acc[m * 16 + r] (+ bias)) for the M tokens
/// of one 16-row block: storeOutput on 16 lanes, the padding lanes zeroed.
EDGELLM_AVX512 void storeBlock(const MmQ4Args &a, uint64_t n0, unsigned rows, uint32_t M,
                               const float *acc) {
  const __mmask16 valid = __mmask16((1u << rows) - 1);
  const __m512 bias =
      a.bias ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(valid, a.bias + n0 * 2)) : _mm512_setzero_ps();
  for (uint32_t m = 0; m < M; ++m) {
    __m512 v = _mm512_loadu_ps(acc + m * 16);
    if (a.bias) // (no + 0.0f without a bias: it would turn -0 into +0)
      v = _mm512_add_ps(v, bias);
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(a.y + elem(a.yStride, m, n0)), toHalf(v, rows));
  }
}

constexpr uint64_t kLanesPrefetch = 32 << 10;
constexpr uint64_t kLanesBlock16 = 512 + 16 * 1024; ///< 16 groups' scales and payloads (q4ToLanes)

/// pv[r] = the golden product of group g (which holds an inf/NaN input) of
/// token k with row r of a relaid block (payload p, scales as above).
inline void specialGroupLanes(const TokenView &k, uint32_t g, const uint8_t *p,
                              const uint8_t *scales, uint32_t j, float pv[16]) {
  const unsigned count = std::min<unsigned>(kQuantGroup, k.k - g * kQuantGroup);
  for (unsigned r = 0; r < 16; ++r) {
    uint8_t row[64];
    for (unsigned q = 0; q < 16; ++q)
      std::memcpy(row + 4 * q, p + 64 * q + 4 * r, 4);
    pv[r] = specialGroup(k.bits + uint64_t(g) * kQuantGroup, row, count) *
            isa::f16ToF32(load16(scales + 32 * j + 2 * r));
  }
}
template <unsigned TB>
EDGELLM_AVX512 void lanesBlock(const uint8_t *blk, const TokenView *tv, uint32_t gBegin,
                               uint32_t gEnd, float *acc, float *prods) {
  const __m512i nib = _mm512_set1_epi8(0x0f);
  __m512 accv[TB];
  for (unsigned t = 0; t < TB; ++t)
    accv[t] = prods ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + t * 16);
  alignas(64) float pv[16];
  for (uint32_t g0 = gBegin / 16 * 16; g0 < gEnd; g0 += 16) {
    const uint8_t *scales = blk + (g0 / 16) * kLanesBlock16;
    for (uint32_t j = std::max(gBegin, g0) - g0; j < 16 && g0 + j < gEnd; ++j) {
      const uint8_t *p = scales + 512 + 1024 * j;
      const uint32_t g = g0 + j;
      __m512i a0[TB], a1[TB], a2[TB], b0[TB], b1[TB], b2[TB];
      const int8_t *pl[TB];
      // The weights stream: the group 32 KiB ahead into L2 (measured on
      // the 6B shapes: 1.3-1.7x the rate of the hardware prefetchers alone;
      // into L1 is slower, 4-64 KiB ahead about the same).
      for (unsigned l = 0; l < 16; ++l)
        _mm_prefetch(reinterpret_cast<const char *>(p + kLanesPrefetch + 64 * l), _MM_HINT_T2);
      for (unsigned t = 0; t < TB; ++t) {
        // a0 starts at -8 sum X: the nibbles are w + 8.
        a0[t] = _mm512_set1_epi32(-8 * tv[t].sumX[g]);
        a1[t] = a2[t] = b0[t] = b1[t] = b2[t] = _mm512_setzero_si512();
        pl[t] = tv[t].planes + uint64_t(g) * kPlaneBytes;
      }
#pragma GCC unroll 16
      for (unsigned q = 0; q < 16; ++q) {
        // The nibbles (w + 8) as bytes: and, shift and and (on Zen 4 these
        // take almost none of the vpdpbusd pipes' cycles; a vpternlogd
        // takes about half a cycle, a vgf2p8affineqb one).
        __m512i raw = _mm512_loadu_si512(p + 64 * q);
        __m512i lo = _mm512_and_si512(raw, nib), hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), nib);
        for (unsigned t = 0; t < TB; ++t) {
          const uint8_t *d = reinterpret_cast<const uint8_t *>(pl[t]) + 4 * q;
          a0[t] = _mm512_dpbusd_epi32(a0[t], lo, _mm512_set1_epi32(load32(d)));
          b0[t] = _mm512_dpbusd_epi32(b0[t], hi, _mm512_set1_epi32(load32(d + 64)));
          a1[t] = _mm512_dpbusd_epi32(a1[t], lo, _mm512_set1_epi32(load32(d + 128)));
          b1[t] = _mm512_dpbusd_epi32(b1[t], hi, _mm512_set1_epi32(load32(d + 192)));
          a2[t] = _mm512_dpbusd_epi32(a2[t], lo, _mm512_set1_epi32(load32(d + 256)));
          b2[t] = _mm512_dpbusd_epi32(b2[t], hi, _mm512_set1_epi32(load32(d + 320)));
          // Keeps GCC from hoisting all 32 nibble vectors ahead of the
          // products (register spills, one long dependency chain at a time).
          __asm__("" : "+v"(a0[t]), "+v"(b0[t]), "+v"(a1[t]), "+v"(b1[t]), "+v"(a2[t]), "+v"(b2[t]));
        }
      }
      const __m512 scale = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(scales + 32 * j)));
#pragma GCC unroll 4
      for (unsigned t = 0; t < TB; ++t) {
        const TokenView &k = tv[t];
        __m512 prod;
        if (k.special[g]) {
          specialGroupLanes(k, g, p, scales, j, pv);
          prod = _mm512_load_ps(pv);
        } else {
          // The digits' sums: d0 part + 2^8 (d1 part + 2^8 d2 part).
          __m512i d2 = _mm512_add_epi32(a2[t], b2[t]);
          __m512i d1 = _mm512_add_epi32(_mm512_add_epi32(a1[t], b1[t]), _mm512_slli_epi32(d2, 8));
          __m512i S = _mm512_add_epi32(_mm512_add_epi32(a0[t], b0[t]), _mm512_slli_epi32(d1, 8));
          // The input's nibble in the low 4 bits of each lane (vpermd reads
          // only those) indexes its table.
          for (uint32_t c = k.corrBegin[g], e = k.corrBegin[g + 1]; c < e; ++c) {
            const CorrLanes &cl = k.corrLanes[c];
            __m512i n = _mm512_srl_epi32(_mm512_loadu_si512(p + 64 * cl.vec), _mm_cvtsi32_si128(int(cl.shift)));
            S = _mm512_add_epi32(S, _mm512_permutexvar_epi32(n, _mm512_loadu_si512(cl.t)));
          }
          __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(S), _mm512_set1_ps(k.pow2[g])); // exact
          prod = _mm512_mul_ps(v, scale);
        }
        if (prods)
          _mm512_storeu_ps(prods + (uint64_t(t) * (gEnd - gBegin) + g - gBegin) * 16, prod);
        else
          accv[t] = _mm512_add_ps(accv[t], prod);
      }
    }
  }
  if (!prods)
    for (unsigned t = 0; t < TB; ++t)
      _mm512_storeu_ps(acc + t * 16, accv[t]);
}

/// acc[r] = the sum of prods[g * 16 + r] over g = 0 .. G - 1, in order
/// (sumProducts on two halves of 8 lanes).
EDGELLM_AVX2 void sumProductsAvx2(const float *prods, uint32_t G, float acc[16]) {
  for (unsigned h = 0; h < 2; ++h) {
    __m256 v = _mm256_setzero_ps();
    for (uint32_t g = 0; g < G; ++g)
      v = _mm256_add_ps(v, _mm256_loadu_ps(prods + g * 16 + 8 * h));
    _mm256_storeu_ps(acc + 8 * h, v);
  }
}

/// storeBlock on two halves of 8 lanes.
EDGELLM_AVX2 void storeBlockAvx2(const MmQ4Args &a, uint64_t n0, unsigned rows, uint32_t M,
                                 const float *acc) {
  alignas(32) uint16_t bias[16] = {};
  if (a.bias)
    std::memcpy(bias, a.bias + n0 * 2, 2 * rows);
  for (uint32_t m = 0; m < M; ++m) {
    alignas(32) uint16_t out[16];
    for (unsigned h = 0; h < 2; ++h) {
      __m256 v = _mm256_loadu_ps(acc + m * 16 + 8 * h);
      if (a.bias) // (no + 0.0f without a bias: it would turn -0 into +0)
        v = _mm256_add_ps(v, fromHalf8(reinterpret_cast<const uint8_t *>(bias + 8 * h)));
      _mm_store_si128(reinterpret_cast<__m128i *>(out + 8 * h), toHalf8(v));
    }
    for (unsigned r = rows; r < 16; ++r)
      out[r] = 0;
    std::memcpy(a.y + elem(a.yStride, m, n0), out, 32);
  }
}

/// lanesBlock<1> for AVX2 (one token, the same sums and binary32
/// sequence): each 16-row block as two halves of 8 rows (dword lanes). The
/// digit products are vpmaddubsw pairs ((w + 8) * digit: |2 * 15 * 128| =
/// 3840, never saturating), summed in 16 bits over 4 dword vectors (q) of
/// the even and odd inputs (at most 8 * 3840 = 30720), then widened by
/// vpmaddwd. A correction's 16-entry table is two vpermd halves chosen by
/// the nibble's bit 3.
EDGELLM_AVX2 void lanesBlockAvx2(const uint8_t *blk, const TokenView *tv, uint32_t gBegin,
                                 uint32_t gEnd, float *acc, float *prods) {
  const TokenView &k = *tv;
  const __m256i nib = _mm256_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 accv[2];
  for (unsigned h = 0; h < 2; ++h)
    accv[h] = prods ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + 8 * h);
  alignas(32) float pv[16];
  for (uint32_t g0 = gBegin / 16 * 16; g0 < gEnd; g0 += 16) {
    const uint8_t *scales = blk + (g0 / 16) * kLanesBlock16;
    for (uint32_t j = std::max(gBegin, g0) - g0; j < 16 && g0 + j < gEnd; ++j) {
      const uint8_t *p = scales + 512 + 1024 * j;
      const uint32_t g = g0 + j;
      for (unsigned l = 0; l < 16; ++l)
        _mm_prefetch(reinterpret_cast<const char *>(p + kLanesPrefetch + 64 * l), _MM_HINT_T2);
      const bool special = k.special[g];
      if (special)
        specialGroupLanes(k, g, p, scales, j, pv);
      const uint8_t *d = reinterpret_cast<const uint8_t *>(k.planes + uint64_t(g) * kPlaneBytes);
      // s[h][plane]: the halves' digit sums, s[h][0] starting at -8 sum X
      // (the nibbles are w + 8). Each digit broadcast serves both halves.
      __m256i s[2][3];
      if (!special) {
        for (unsigned h = 0; h < 2; ++h) {
          s[h][0] = _mm256_set1_epi32(-8 * k.sumX[g]);
          s[h][1] = s[h][2] = _mm256_setzero_si256();
        }
        for (unsigned q0 = 0; q0 < 16; q0 += 4) {
          __m256i t[2][3];
          for (unsigned h = 0; h < 2; ++h)
            t[h][0] = t[h][1] = t[h][2] = _mm256_setzero_si256();
#pragma GCC unroll 4
          for (unsigned q = q0; q < q0 + 4; ++q) {
            const uint8_t *dq = d + 4 * q;
            __m256i b[6];
            for (unsigned i = 0; i < 6; ++i)
              b[i] = _mm256_set1_epi32(load32(dq + 64 * i));
            for (unsigned h = 0; h < 2; ++h) {
              __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 64 * q + 32 * h));
              __m256i lo = _mm256_and_si256(x, nib), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), nib);
              for (unsigned pl = 0; pl < 3; ++pl)
                t[h][pl] = _mm256_add_epi16(t[h][pl], _mm256_add_epi16(_mm256_maddubs_epi16(lo, b[2 * pl]),
                                                                       _mm256_maddubs_epi16(hi, b[2 * pl + 1])));
              // Keeps GCC from hoisting the products of all four q (spills).
              __asm__("" : "+x"(t[h][0]), "+x"(t[h][1]), "+x"(t[h][2]));
            }
          }
          for (unsigned h = 0; h < 2; ++h)
            for (unsigned pl = 0; pl < 3; ++pl)
              s[h][pl] = _mm256_add_epi32(s[h][pl], _mm256_madd_epi16(t[h][pl], ones));
        }
      }
      for (unsigned h = 0; h < 2; ++h) {
        __m256 prod;
        if (special) {
          prod = _mm256_load_ps(pv + 8 * h);
        } else {
          const __m256i s0 = s[h][0], s1 = s[h][1], s2 = s[h][2];
          // The digits' sums: d0 part + 2^8 (d1 part + 2^8 d2 part).
          __m256i S = _mm256_add_epi32(s0, _mm256_slli_epi32(_mm256_add_epi32(s1, _mm256_slli_epi32(s2, 8)), 8));
          for (uint32_t c = k.corrBegin[g], e = k.corrBegin[g + 1]; c < e; ++c) {
            const CorrLanes &cl = k.corrLanes[c];
            __m256i n = _mm256_srl_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 64 * cl.vec + 32 * h)),
                                         _mm_cvtsi32_si128(int(cl.shift)));
            __m256 lo = _mm256_castsi256_ps(
                _mm256_permutevar8x32_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(cl.t)), n));
            __m256 hi = _mm256_castsi256_ps(
                _mm256_permutevar8x32_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(cl.t + 8)), n));
            // Bit 3 of the nibble (to the sign bit) picks the upper half.
            __m256 t = _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(n, 28)));
            S = _mm256_add_epi32(S, _mm256_castps_si256(t));
          }
          __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(S), _mm256_set1_ps(k.pow2[g])); // exact
          prod = _mm256_mul_ps(v, fromHalf8(scales + 32 * j + 16 * h));
        }
        if (prods)
          _mm256_storeu_ps(prods + uint64_t(g - gBegin) * 16 + 8 * h, prod);
        else
          accv[h] = _mm256_add_ps(accv[h], prod);
      }
    }
  }
  if (!prods)
    for (unsigned h = 0; h < 2; ++h)
      _mm256_storeu_ps(acc + 8 * h, accv[h]);
}

/// lanesBlock<2>'s contract at AVX2: the two tokens one after the other.
EDGELLM_AVX2 void lanesBlockPairAvx2(const uint8_t *blk, const TokenView *tv, uint32_t gBegin,
                                     uint32_t gEnd, float *acc, float *prods) {
  for (unsigned t = 0; t < 2; ++t)
    lanesBlockAvx2(blk, tv + t, gBegin, gEnd, acc ? acc + 16 * t : nullptr,
                   prods ? prods + uint64_t(t) * (gEnd - gBegin) * 16 : nullptr);
}
#endif

/// The relaid mm_q4 kernel of one vector level: a 16-row block for one
/// token and for two (lanesBlock's contract), the in-order sums of per-group
/// products (sumProducts) and the FP16 store (storeBlock).
struct LanesKernel {
  using Block = void (*)(const uint8_t *, const TokenView *, uint32_t, uint32_t, float *, float *);
  Block one, two;
  void (*sum)(const float *prods, uint32_t G, float acc[16]);
  void (*store)(const MmQ4Args &a, uint64_t n0, unsigned rows, uint32_t M, const float *acc);
};

const LanesKernel &lanesKernel(CpuLevel level) {
  assert(hasLanesKernel(level) && "relaid tiles need a vector level");
#ifdef EDGELLM_X86
  static const LanesKernel avx512{&lanesBlock<1>, &lanesBlock<2>, &sumProducts, &storeBlock};
  static const LanesKernel avx2{&lanesBlockAvx2, &lanesBlockPairAvx2, &sumProductsAvx2, &storeBlockAvx2};
  return level == CpuLevel::Avx512 ? avx512 : avx2;
#else
  (void)level;
  std::abort(); // no vector level off x86 (hasLanesKernel)
#endif
}

} // namespace

MmQ4Kernel::MmQ4Kernel() = default;
static uint64_t gCorr = 0, gGroups = 0, gSpecial = 0;
MmQ4Kernel::~MmQ4Kernel() {
  if (std::getenv("EDGELLM_SIM_PROFILE"))
    std::fprintf(stderr, "mm_q4 prepared: %llu groups, %llu corrections, %llu special\n",
                 (unsigned long long)gGroups, (unsigned long long)gCorr, (unsigned long long)gSpecial);
}

MmQ4Kernel::Prepared &MmQ4Kernel::prepare(const MmQ4Args &a, ThreadPool &pool, CpuLevel level) {
  const uint32_t M = a.m, K = a.k;
  const uint32_t G = (K + kQuantGroup - 1) / kQuantGroup;
  // A prepared copy of exactly these activation bits (compared in place).
  auto same = [&](const Prepared &p) {
    if (p.m != M || p.k != K)
      return false;
    for (uint32_t m = 0; m < M; ++m)
      for (uint32_t c0 = 0; c0 < K; c0 += kLanes)
        if (std::memcmp(&p.bits[uint64_t(m) * K + c0], a.x + elem(a.xStride, m, c0),
                        std::min<uint32_t>(kLanes, K - c0) * 2) != 0)
          return false;
    return true;
  };
  for (size_t i = 0; i < cache_.size(); ++i)
    if (same(*cache_[i])) {
      std::rotate(cache_.begin(), cache_.begin() + long(i), cache_.begin() + long(i) + 1);
      return *cache_[0];
    }
  std::vector<uint16_t> bits(uint64_t(M) * K);
  for (uint32_t m = 0; m < M; ++m)
    for (uint32_t c0 = 0; c0 < K; c0 += kLanes)
      std::memcpy(&bits[uint64_t(m) * K + c0], a.x + elem(a.xStride, m, c0),
                  std::min<uint32_t>(kLanes, K - c0) * 2);
  if (cache_.size() >= 2)
    cache_.pop_back();
  auto p = std::make_unique<Prepared>();
  p->m = M, p->k = K, p->groups = G;
  p->bits = std::move(bits);
  uint64_t MG = uint64_t(M) * G;
  p->planes.resize(MG * kPlaneBytes);
  p->sumX.resize(MG);
  p->pow2.resize(MG);
  p->special.resize(MG);
  p->corrBegin.resize(M);
  p->corr.resize(M);
  p->rounds.resize(M);
  p->roundBegin.resize(M);
  p->sub.resize(MG);
  p->corrLanes.resize(M);
  Prepared *pp = p.get();
  if (M >= pool.size()) {
    pool.parallelFor(M, [&](uint64_t m, unsigned) {
      std::vector<uint32_t> count(G);
      pp->corr[m].clear();
      pp->prepareGroups(uint32_t(m), 0, G, pp->corr[m], count.data(), level);
      pp->indexCorrections(uint32_t(m), count.data());
    });
  } else {
    // Fewer tokens than threads (decode: one): each token's groups split
    // over the threads, the corrections then concatenated in group order.
    const unsigned parts = pool.size();
    std::vector<std::vector<Corr>> partCorr(parts);
    std::vector<uint32_t> count(G);
    for (uint32_t m = 0; m < M; ++m) {
      pool.parallelFor(parts, [&](uint64_t part, unsigned) {
        uint64_t g0, g1;
        ThreadPool::split(G, parts, unsigned(part), 1, g0, g1);
        partCorr[part].clear();
        pp->prepareGroups(m, uint32_t(g0), uint32_t(g1), partCorr[part], count.data() + g0, level);
      });
      std::vector<Corr> &cl = pp->corr[m];
      cl.clear();
      for (const std::vector<Corr> &v : partCorr)
        cl.insert(cl.end(), v.begin(), v.end());
      pp->indexCorrections(m, count.data());
    }
  }
  for (uint32_t m = 0; m < M; ++m) {
    gCorr += pp->corr[m].size();
    gGroups += G;
    for (uint32_t g = 0; g < G; ++g)
      gSpecial += pp->special[uint64_t(m) * G + g];
  }
  cache_.insert(cache_.begin(), std::move(p));
  return *cache_[0];
}

/// firstBlock[i]: the first 16-row block of product i over all `count`
/// products, in order; firstBlock[count]: their blocks.
static std::vector<uint64_t> blockStarts(const MmQ4Args *a, size_t count) {
  std::vector<uint64_t> first(count + 1, 0);
  for (size_t i = 0; i < count; ++i)
    first[i + 1] = first[i] + (a[i].n + 15) / 16;
  return first;
}

/// The product that global block `gb` belongs to.
static size_t productOf(const std::vector<uint64_t> &firstBlock, uint64_t gb) {
  return size_t(std::upper_bound(firstBlock.begin(), firstBlock.end(), gb) - firstBlock.begin()) - 1;
}

/// The views of a prepared activation's tokens.
static std::vector<TokenView> tokenViews(const MmQ4Kernel::Prepared &P) {
  std::vector<TokenView> views(P.m);
  for (uint32_t m = 0; m < P.m; ++m) {
    const uint64_t mg = uint64_t(m) * P.groups;
    views[m] = TokenView{P.planes.data() + mg * kPlaneBytes, P.sumX.data() + mg,
                         P.pow2.data() + mg, P.special.data() + mg, P.corrBegin[m].data(),
                         P.corr[m].data(), P.rounds[m].data(), P.roundBegin[m].data(),
                         P.sub.data() + mg, P.corrLanes[m].data(),
                         P.bits.data() + uint64_t(m) * P.k, P.k, P.groups};
  }
  return views;
}

void MmQ4Kernel::run(const MmQ4Args &a, ThreadPool &pool, CpuLevel level) {
  const uint32_t M = a.m, N = a.n, K = a.k;
  const uint32_t G = (K + kQuantGroup - 1) / kQuantGroup;
  const unsigned T = pool.size();
  Prepared *prep = &prepare(a, pool, level);
  if (level == CpuLevel::Avx512 && !prep->roundsBuilt) {
    pool.parallelFor(M, [&](uint64_t m, unsigned) { prep->buildRounds(uint32_t(m)); });
    prep->roundsBuilt = true;
  }

  const isa::Sparsity sp = a.sparsity;
  const uint64_t rowBeats = isa::q4RowBeats(K, sp);
  constexpr unsigned RB = 16; // rows in one pass (vector lanes)
  const uint64_t imgBytes = uint64_t(G) * 64;
  const uint64_t rowBytes = rowBeats * kBeatBytes;
  const bool vec = level == CpuLevel::Avx512;
  // Dense weights in one contiguous run (WBUF, or a tile deferred from
  // stream-ordered HBM) are read in place: no row images, no copies, and the
  // next 16 rows are prefetched while these are computed. Otherwise row
  // images are built per 16 rows (striped runs are first copied a chunk of
  // rows at a time).
  const bool inPlace = vec && sp == isa::Sparsity::Dense && a.w.isContiguous();
  constexpr uint32_t GB = kQuantBlock / kQuantGroup;
  constexpr uint32_t blockBytes = (1 + kQuantBlock / 2 / kBeatBytes) * kBeatBytes;
  // Per group: where its 64 bytes are in a row image, or in the row.
  std::vector<uint32_t> goff(G);
  for (uint32_t g = 0; g < G; ++g)
    goff[g] = inPlace ? (g / GB) * blockBytes + kBeatBytes + (g % GB) * 64 : g * 64;
  const uint64_t chunkRows = std::max<uint64_t>(RB, (512 << 10) / rowBytes / RB * RB);
  // Scratch per thread (64-byte aligned parts): row images, scales
  // [G][16], integer sums [16][G rounded up to 16], and the striped copy.
  const uint64_t imgsBytes = inPlace ? 0 : RB * imgBytes;
  const uint64_t scalesBytes = (uint64_t(G) * RB * 4 + 63) / 64 * 64;
  const uint64_t sumsBytes = uint64_t(RB) * ((G + 15) / 16 * 16) * 4;
  const uint64_t chunkBytes = inPlace || a.w.stripe <= 1 ? 0 : chunkRows * rowBytes;
  const uint64_t scratchBytes = 64 + imgsBytes + scalesBytes + sumsBytes + 2048 + chunkBytes;
  if (scratch_.size() < T)
    scratch_.resize(T);
  for (auto &s : scratch_)
    if (s.size() < scratchBytes)
      s.resize(scratchBytes);
  const Prepared &P = *prep;
  // Work items: chunks of rows, at least two per thread.
  const uint64_t perItem = std::max<uint64_t>(
      RB, std::min<uint64_t>(chunkRows, (N + 2 * T * RB - 1) / (2 * T * RB) * RB));
  std::vector<TokenView> views = tokenViews(P);
  pool.parallelFor((N + perItem - 1) / perItem, [&](uint64_t item, unsigned t) {
    uint64_t n0 = item * perItem, n1 = std::min<uint64_t>(N, n0 + perItem);
    uint8_t *base = reinterpret_cast<uint8_t *>(
        (reinterpret_cast<uintptr_t>(scratch_[t].data()) + 63) / 64 * 64);
    uint8_t *imgBase = base;
    float *scalesT = reinterpret_cast<float *>(imgBase + imgsBytes);
    int32_t *S = reinterpret_cast<int32_t *>(imgBase + imgsBytes + scalesBytes);
    uint8_t *tmp = imgBase + imgsBytes + scalesBytes + sumsBytes;
    uint8_t *chunk = tmp + 2048;
    uint8_t *imgs[RB];
    for (unsigned r = 0; r < RB; ++r)
      imgs[r] = imgBase + r * imgBytes;
    // Striped weights are first copied run by run into a chunk of rows.
    BeatRuns src = a.w;
    uint64_t chunk1 = n0;
    for (uint64_t nb = n0; nb < n1; nb += RB) {
      unsigned rows = unsigned(std::min<uint64_t>(RB, n1 - nb));
      Rows16 blk;
      blk.goff = goff.data();
      blk.scalesT = scalesT;
      if (inPlace) {
        for (unsigned r = 0; r < RB; ++r)
          blk.rows[r] = a.w.run[0] + (nb + (r < rows ? r : 0)) * rowBytes;
        blk.xm = 0x88;
#ifdef EDGELLM_X86
        scalesInPlaceAvx512(blk.rows, G, scalesT);
#endif
      } else {
        if (a.w.stripe > 1 && nb >= chunk1) {
          uint64_t chunk0 = nb;
          chunk1 = std::min<uint64_t>(n1, nb + chunkRows);
          a.w.gather(chunk0 * rowBeats, (chunk1 - chunk0) * rowBeats, chunk);
          src = BeatRuns::contiguous(chunk - chunk0 * rowBeats * kBeatBytes);
        }
        for (unsigned r = 0; r < rows; ++r)
          buildRow(src, (nb + r) * rowBeats, K, sp, imgs[r], scalesT + r, RB, tmp);
        for (unsigned r = 0; r < RB; ++r)
          blk.rows[r] = imgs[r < rows ? r : 0];
        blk.xm = 0;
        if (rows < RB)
          for (uint32_t g = 0; g < G; ++g)
            for (unsigned r = rows; r < RB; ++r)
              scalesT[g * RB + r] = scalesT[g * RB];
      }
#ifdef EDGELLM_X86
      if (vec) {
        // Software prefetch distance of the in-place rows (measured: without
        // it the stream runs far slower).
        const uint64_t pfDist = inPlace ? 2048 : 0;
        alignas(64) float accs[RB];
        for (uint32_t m = 0; m < M; ++m) {
          block16Avx512(blk, rows, views[m], pfDist, S, accs);
          for (unsigned r = 0; r < rows; ++r)
            storeOutput(a, m, nb + r, accs[r]);
        }
        continue;
      }
#endif
      for (uint32_t m = 0; m < M; ++m) {
        const TokenView &tv = views[m];
        groupSumsScalar(imgs, rows, G, tv.planes, S);
        for (unsigned r = 0; r < rows; ++r) {
          const uint8_t *img = imgs[r];
          float acc = 0.0f;
          for (uint32_t g = 0; g < G; ++g) {
            float v;
            if (tv.special[g]) {
              unsigned count = std::min<unsigned>(kQuantGroup, K - g * kQuantGroup);
              v = specialGroup(tv.bits + uint64_t(g) * kQuantGroup, img + uint64_t(g) * 64, count);
            } else {
              int64_t s = int64_t(S[r * G + g]) - 8 * int64_t(tv.sumX[g]);
              const uint8_t *gi = img + uint64_t(g) * 64;
              for (uint32_t c = tv.corrBegin[g]; c < tv.corrBegin[g + 1]; ++c) {
                unsigned i = tv.corr[c].index;
                s += tv.corr[c].t[(gi[i / 2] >> (4 * (i & 1))) & 0xf];
              }
              v = float(s) * tv.pow2[g]; // exact: ldexp(float(S), E - 33)
            }
            float prod = v * scalesT[g * RB + r];
            acc = acc + prod;
          }
          storeOutput(a, m, nb + r, acc);
        }
      }
    }
  });
  zeroPadding(a);
}

uint64_t kernels::q4LanesBytes(uint32_t rows, uint32_t k) {
  return uint64_t((rows + 15) / 16) * 16 * isa::q4RowBeats(k, isa::Sparsity::Dense) * kBeatBytes;
}

namespace {
/// Group payloads of 16 dense rows (row r's 64 bytes at rows[r] + off, two's
/// complement nibbles) transposed to [dword q][row] (1 KiB at out), as
/// (w + 8) nibbles.
void transposeGroupScalar(const uint8_t *const rows[16], uint64_t off, uint8_t *out) {
  for (unsigned r = 0; r < 16; ++r)
    for (unsigned q = 0; q < 16; ++q) {
      uint32_t v;
      std::memcpy(&v, rows[r] + off + 4 * q, 4);
      v ^= 0x88888888u;
      std::memcpy(out + 64 * q + 4 * r, &v, 4);
    }
}
#ifdef EDGELLM_X86
EDGELLM_AVX512 void transposeGroupAvx512(const uint8_t *const rows[16], uint64_t off, uint8_t *out) {
  __m512i v[16];
  for (unsigned r = 0; r < 16; ++r)
    v[r] = _mm512_loadu_si512(rows[r] + off);
  transpose16(v);
  for (unsigned q = 0; q < 16; ++q)
    _mm512_storeu_si512(out + 64 * q, _mm512_xor_si512(v[q], _mm512_set1_epi8(char(0x88))));
}

/// transposeGroupScalar with AVX2: four 8 x 8 dword transposes.
EDGELLM_AVX2 void transposeGroupAvx2(const uint8_t *const rows[16], uint64_t off, uint8_t *out) {
  const __m256i x88 = _mm256_set1_epi8(char(0x88));
  for (unsigned rb = 0; rb < 16; rb += 8)
    for (unsigned qb = 0; qb < 16; qb += 8) {
      __m256i a[8], t[8], u[8];
      for (unsigned i = 0; i < 8; ++i)
        a[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(rows[rb + i] + off + 4 * qb));
      for (unsigned i = 0; i < 8; i += 2) { // [a_i[j], a_i+1[j], ...] per 128-bit half
        t[i] = _mm256_unpacklo_epi32(a[i], a[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(a[i], a[i + 1]);
      }
      for (unsigned i = 0; i < 8; i += 4) { // rows i .. i + 3 of columns (j, j + 4)
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
      }
      for (unsigned j = 0; j < 4; ++j) { // columns j and j + 4, all 8 rows
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + 64 * (qb + j) + 4 * rb),
                            _mm256_xor_si256(_mm256_permute2x128_si256(u[j], u[j + 4], 0x20), x88));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + 64 * (qb + j + 4) + 4 * rb),
                            _mm256_xor_si256(_mm256_permute2x128_si256(u[j], u[j + 4], 0x31), x88));
      }
    }
}
#endif
} // namespace

void kernels::q4ToLanes(const BeatRuns &src, uint32_t rows, uint32_t k, isa::Sparsity sp,
                        uint8_t *out, CpuLevel level) {
  const uint32_t G = (k + kQuantGroup - 1) / kQuantGroup;
  const uint64_t rowBeats = isa::q4RowBeats(k, sp);
  const uint64_t denseBytes = isa::q4RowBeats(k, isa::Sparsity::Dense) * kBeatBytes;
  const unsigned payload = isa::groupPayloadBytes(sp);
  // The tile's rows, contiguous, and (other densities) re-encoded dense:
  // the dense row format with two's complement nibbles.
  std::vector<uint8_t> tile(uint64_t(rows) * rowBeats * kBeatBytes);
  src.gather(0, uint64_t(rows) * rowBeats, tile.data());
  std::vector<uint8_t> dense;
  const uint8_t *rowsAt = tile.data();
  if (sp != isa::Sparsity::Dense) {
    dense.assign(uint64_t(rows) * denseBytes, 0);
    for (uint32_t r = 0; r < rows; ++r) {
      const uint8_t *b = tile.data() + uint64_t(r) * rowBeats * kBeatBytes;
      uint8_t *d = dense.data() + uint64_t(r) * denseBytes;
      for (uint32_t g0 = 0; g0 < G; g0 += 16) {
        const uint32_t ng = std::min<uint32_t>(16, G - g0);
        std::memcpy(d, b, kBeatBytes);
        b += kBeatBytes, d += kBeatBytes;
        int8_t w[kQuantGroup];
        for (uint32_t j = 0; j < ng; ++j, d += 64) {
          isa::q4DecodeGroup(b + j * payload, sp, w);
          for (unsigned i = 0; i < 64; ++i)
            d[i] = uint8_t((w[2 * i] & 0xf) | (w[2 * i + 1] & 0xf) << 4);
        }
        b += (ng * payload + kBeatBytes - 1) / kBeatBytes * kBeatBytes;
      }
    }
    rowsAt = dense.data();
  }
  const std::vector<uint8_t> zeroRow(denseBytes, 0);
  uint8_t *o = out;
  for (uint32_t r0 = 0; r0 < rows; r0 += 16) {
    const uint8_t *rp[16];
    for (uint32_t r = 0; r < 16; ++r)
      rp[r] = r0 + r < rows ? rowsAt + uint64_t(r0 + r) * denseBytes : zeroRow.data();
    // Per 16 groups: the scales [group][row], then per group the dwords
    // [q][row].
    uint64_t off = 0;
    for (uint32_t g0 = 0; g0 < G; g0 += 16) {
      const uint32_t ng = std::min<uint32_t>(16, G - g0);
      std::memset(o, 0, 512);
      for (uint32_t j = 0; j < ng; ++j)
        for (unsigned r = 0; r < 16; ++r)
          std::memcpy(o + 32 * j + 2 * r, rp[r] + off + 2 * j, 2);
      o += 512, off += kBeatBytes;
      for (uint32_t j = 0; j < ng; ++j, o += 1024, off += 64) {
#ifdef EDGELLM_X86
        if (level == CpuLevel::Avx512) {
          transposeGroupAvx512(rp, off, o);
          continue;
        }
        if (level == CpuLevel::Avx2) {
          transposeGroupAvx2(rp, off, o);
          continue;
        }
#endif
        transposeGroupScalar(rp, off, o);
      }
      off = (off + kBeatBytes - 1) / kBeatBytes * kBeatBytes;
    }
  }
}

void MmQ4Kernel::runLanes(const MmQ4Args &a, const Q4Lanes &w, ThreadPool &pool, CpuLevel level) {
  runLanesBatch(&a, &w, 1, pool, level);
}

void MmQ4Kernel::runLanesBatch(const MmQ4Args *a, const Q4Lanes *w, size_t count,
                               ThreadPool &pool, CpuLevel level) {
  if (count == 0)
    return;
  const Prepared &P = prepare(a[0], pool, level);
  if (P.m == 1)
    runLanesOneToken(a, w, count, P, pool, level);
  else
    runLanesTokens(a, w, count, P, pool, level);
}

void MmQ4Kernel::runLanesTokens(const MmQ4Args *a, const Q4Lanes *w, size_t count,
                                const Prepared &P, ThreadPool &pool, CpuLevel level) {
#ifdef EDGELLM_X86
  // The threads take runs of 16-row blocks (of all the products, in
  // order), all tokens, in items of up to 8 blocks of one product (about
  // 256 KiB of weights): for a chunk of tokens whose digit planes take
  // about 256 KiB, each block of the item takes the chunk two tokens at a
  // time. The item's weights stay in L2 for all the chunks, and a chunk's
  // planes for all the item's blocks (read from L3 once per item, not once
  // per block: 64 tokens of 13696 inputs have 2.6 MB of planes). The last
  // runs are single blocks, so the threads finish together.
  const LanesKernel &K = lanesKernel(level);
  const std::vector<TokenView> views = tokenViews(P);
  const uint32_t M = P.m, G = P.groups;
  const uint64_t blockBytes = 16 * uint64_t(isa::q4RowBeats(P.k, isa::Sparsity::Dense)) * kBeatBytes;
  const uint64_t kItemBlocks = std::clamp<uint64_t>((256u << 10) / blockBytes, 1, 8);
  const uint32_t chunk = std::clamp<uint32_t>(uint32_t((256u << 10) / (uint64_t(G) * kPlaneBytes)), 2, 16) & ~1u;
  const std::vector<uint64_t> firstBlock = blockStarts(a, count);
  if (scratch_.size() < pool.size())
    scratch_.resize(pool.size());
  pool.parallelForRuns(firstBlock[count], 1, [&](uint64_t begin, uint64_t end, unsigned t) {
    std::vector<uint8_t> &sc = scratch_[t];
    if (sc.size() < kItemBlocks * M * 64)
      sc.resize(kItemBlocks * M * 64);
    float *acc = reinterpret_cast<float *>(sc.data());
    for (uint64_t gb = begin; gb < end;) {
      const size_t i = productOf(firstBlock, gb);
      const uint64_t b0 = gb - firstBlock[i];
      const uint64_t nb = std::min({kItemBlocks, end - gb, firstBlock[i + 1] - gb});
      std::memset(acc, 0, nb * M * 64);
      for (uint32_t m0 = 0; m0 < M; m0 += chunk)
        for (uint64_t j = 0; j < nb; ++j) {
          const uint8_t *blk = w[i].data + (b0 + j) * blockBytes;
          float *accj = acc + j * M * 16;
          for (uint32_t m = m0, e = std::min(M, m0 + chunk); m < e; m += 2)
            (m + 2 <= e ? K.two : K.one)(blk, views.data() + m, 0, G, accj + m * 16, nullptr);
        }
      for (uint64_t j = 0; j < nb; ++j)
        K.store(a[i], (b0 + j) * 16, unsigned(std::min<uint64_t>(16, a[i].n - (b0 + j) * 16)), M,
                acc + j * M * 16);
      gb += nb;
    }
  });
#else
  (void)a, (void)w, (void)count, (void)P, (void)pool, (void)level;
#endif
}

void MmQ4Kernel::runLanesOneToken(const MmQ4Args *a, const Q4Lanes *w, size_t count,
                                  const Prepared &P, ThreadPool &pool, CpuLevel level) {
#ifdef EDGELLM_X86
  // Work items of a few groups of one 16-row block of one product when
  // there are few blocks, so that both threads stay busy to the end: each
  // item stores its groups' products, and the sums over the groups follow
  // in order. With many blocks, items of whole blocks.
  const LanesKernel &K = lanesKernel(level);
  const std::vector<TokenView> views = tokenViews(P);
  const uint32_t G = P.groups;
  const uint64_t blockBytes = 16 * uint64_t(isa::q4RowBeats(P.k, isa::Sparsity::Dense)) * kBeatBytes;
  const std::vector<uint64_t> firstBlock = blockStarts(a, count);
  const uint64_t blocks = firstBlock[count];
  const uint32_t chunk = std::max<uint32_t>(
      4, uint32_t((G * blocks + 16 * pool.size() - 1) / (16 * pool.size())));
  const uint32_t chunks = (G + chunk - 1) / chunk;
  if (chunks == 1) {
    // Items of whole blocks (the common case: many blocks): each sums its
    // groups in order itself and stores its outputs (no products written
    // and read back, no serial sums after the job).
    pool.parallelForRuns(blocks, 4, [&](uint64_t begin, uint64_t end, unsigned) {
      for (uint64_t gb = begin; gb < end; ++gb) {
        const size_t i = productOf(firstBlock, gb);
        const uint64_t b = gb - firstBlock[i];
        alignas(64) float acc[16] = {};
        K.one(w[i].data + b * blockBytes, views.data(), 0, G, acc, nullptr);
        K.store(a[i], b * 16, unsigned(std::min<uint64_t>(16, a[i].n - b * 16)), 1, acc);
      }
    });
    return;
  }
  std::vector<float> &prods = prods_;
  prods.resize(blocks * G * 16);
  // Runs of consecutive items per thread: the weights stream in item order,
  // and a thread's prefetches ahead (kLanesPrefetch) then land in its own
  // next items (with items dealt one by one, they landed in the other
  // thread's: measured 16 -> 24 GB/s on the 6B shapes).
  pool.parallelForRuns(blocks * chunks, 4, [&](uint64_t begin, uint64_t end, unsigned) {
    for (uint64_t item = begin; item < end; ++item) {
      const uint64_t gb = item / chunks; // block over all the products
      const size_t i = productOf(firstBlock, gb);
      const uint32_t g0 = uint32_t(item % chunks) * chunk, g1 = std::min(G, g0 + chunk);
      K.one(w[i].data + (gb - firstBlock[i]) * blockBytes, views.data(), g0, g1, nullptr,
            prods.data() + (gb * G + g0) * 16);
    }
  });
  for (size_t i = 0; i < count; ++i) {
    for (uint64_t b = 0; b < firstBlock[i + 1] - firstBlock[i]; ++b) {
      alignas(64) float acc[16];
      K.sum(prods.data() + (firstBlock[i] + b) * G * 16, G, acc);
      K.store(a[i], b * 16, unsigned(std::min<uint64_t>(16, a[i].n - b * 16)), 1, acc);
    }
  }
#else
  (void)a, (void)w, (void)count, (void)P, (void)pool, (void)level;
#endif
}

//===----------------------------------------------------------------------===//
// mm_f16
//===----------------------------------------------------------------------===//

namespace {

inline float f16At(const uint8_t *base, uint64_t stride, uint64_t m, uint64_t c) {
  return isa::f16ToF32(load16(base + elem(stride, m, c)));
}

/// One output element, exactly as the golden model computes it.
inline float dotScalar(const MmF16Args &a, uint64_t i, uint64_t j) {
  float acc = 0.0f;
  for (uint64_t t = 0; t < a.k; t += kLanes) {
    float prod[kLanes] = {};
    for (uint64_t l = 0; l < kLanes && t + l < a.k; ++l)
      prod[l] = f16At(a.a, a.aStride, i, t + l) *
                (a.transB ? f16At(a.b, a.bStride, j, t + l) : f16At(a.b, a.bStride, t + l, j));
    acc = acc + isa::treeSum16(prod);
  }
  return acc;
}

inline void finish(const MmF16Args &a, uint64_t i, uint64_t j, float acc) {
  float r = acc * a.alpha;
  uint8_t *p = a.c + elem(a.cStride, i, j);
  float out = a.acc ? isa::f16ToF32(load16(p)) + r : r;
  store16(p, isa::f32ToF16(out));
}

#ifdef EDGELLM_X86
/// The treeSum16 of each of 16 vectors at once: lane c = treeSum16 of p[c].
/// Every addition is one of treeSum16's (lanes l and l + w of one vector, w =
/// 8, 4, 2, 1), the vectors packed two by two between the steps.
EDGELLM_AVX512 inline __m512 tree16x16(const __m512 p[16]) {
  __m512 u[8], v[4], w[2];
  for (unsigned c = 0; c < 8; ++c) // w = 8: [p lanes 0-7 + 8-15 | p' ...]
    u[c] = _mm512_add_ps(_mm512_shuffle_f32x4(p[2 * c], p[2 * c + 1], 0x44),
                         _mm512_shuffle_f32x4(p[2 * c], p[2 * c + 1], 0xee));
  for (unsigned c = 0; c < 4; ++c) // w = 4: quarters 0 + 1 and 2 + 3 of each
    v[c] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * c], u[2 * c + 1], 0x88),
                         _mm512_shuffle_f32x4(u[2 * c], u[2 * c + 1], 0xdd));
  for (unsigned c = 0; c < 2; ++c) // w = 2, within each quarter
    w[c] = _mm512_add_ps(_mm512_shuffle_ps(v[2 * c], v[2 * c + 1], 0x44),
                         _mm512_shuffle_ps(v[2 * c], v[2 * c + 1], 0xee));
  // w = 1; the lanes then hold vectors 0, 4, 8, 12, 1, 5, ... (a transpose).
  __m512 r = _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x88), _mm512_shuffle_ps(w[0], w[1], 0xdd));
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

EDGELLM_AVX512 void mmF16RowsAvx512(const MmF16Args &a, uint64_t i, uint64_t j0, uint64_t j1) {
  const uint64_t kb = (a.k + kLanes - 1) / kLanes;
  if (a.transB) {
    // 16 columns at a time: per input beat, the 16 products' trees at once.
    for (uint64_t jb = j0; jb < j1; jb += kLanes) {
      const unsigned cols = unsigned(std::min<uint64_t>(kLanes, j1 - jb));
      __m512 acc = _mm512_setzero_ps();
      for (uint64_t tb = 0; tb < kb; ++tb) {
        unsigned valid = unsigned(std::min<uint64_t>(kLanes, a.k - tb * kLanes));
        __mmask16 mask = __mmask16((1u << valid) - 1);
        __m512 va = _mm512_cvtph_ps(
            _mm256_loadu_si256((const __m256i *)(a.a + (tb * a.aStride + i) * kBeatBytes)));
        __m512 p[kLanes];
        for (unsigned c = 0; c < kLanes; ++c)
          p[c] = c < cols ? _mm512_maskz_mul_ps(mask, va, _mm512_cvtph_ps(_mm256_loadu_si256(
                                (const __m256i *)(a.b + (tb * a.bStride + jb + c) * kBeatBytes))))
                          : _mm512_setzero_ps();
        acc = _mm512_add_ps(acc, tree16x16(p));
      }
      float out[kLanes];
      _mm512_storeu_ps(out, acc);
      for (unsigned c = 0; c < cols; ++c)
        finish(a, i, jb + c, out[c]);
    }
    return;
  }
  // C[i, j..j+15] for a block of 16 columns: lane l of the tree holds the
  // products of input t + l for all 16 columns (one vector per l). Row i of
  // A widened once for all the blocks.
  thread_local std::vector<float> rowA;
  rowA.resize(kb * kLanes);
  for (uint64_t tb = 0; tb < kb; ++tb)
    _mm512_storeu_ps(rowA.data() + tb * kLanes,
                     _mm512_cvtph_ps(_mm256_loadu_si256(
                         (const __m256i *)(a.a + (tb * a.aStride + i) * kBeatBytes))));
  for (uint64_t jb = j0; jb < j1; jb += kLanes) {
    __m512 acc = _mm512_setzero_ps();
    for (uint64_t tb = 0; tb < kb; ++tb) {
      __m512 s[kLanes];
      for (unsigned l = 0; l < kLanes; ++l) {
        uint64_t t = tb * kLanes + l;
        if (t >= a.k) {
          s[l] = _mm512_setzero_ps();
          continue;
        }
        __m512 av = _mm512_set1_ps(rowA[t]);
        __m512 bv = _mm512_cvtph_ps(_mm256_loadu_si256(
            (const __m256i *)(a.b + ((jb / kLanes) * a.bStride + t) * kBeatBytes)));
        s[l] = _mm512_mul_ps(av, bv);
      }
      for (unsigned w = kLanes / 2; w >= 1; w /= 2)
        for (unsigned l = 0; l < w; ++l)
          s[l] = _mm512_add_ps(s[l], s[l + w]);
      acc = _mm512_add_ps(acc, s[0]);
    }
    float out[kLanes];
    _mm512_storeu_ps(out, acc);
    for (uint64_t j = jb; j < std::min<uint64_t>(jb + kLanes, j1); ++j)
      finish(a, i, j, out[j - jb]);
  }
}

/// tree16x16 for 8 vectors of 16 lanes (p[c] = lanes 0-7, lanes 8-15 of
/// column c): lane c = treeSum16 of column c, with the same additions.
EDGELLM_AVX2 inline __m256 tree16x8(const __m256 lo[8], const __m256 hi[8]) {
  __m256 u[8], v[4], w[2];
  for (unsigned c = 0; c < 8; ++c) // w = 8
    u[c] = _mm256_add_ps(lo[c], hi[c]);
  for (unsigned c = 0; c < 4; ++c) // w = 4: [u halves 0 + 1 | u' ...]
    v[c] = _mm256_add_ps(_mm256_permute2f128_ps(u[2 * c], u[2 * c + 1], 0x20),
                         _mm256_permute2f128_ps(u[2 * c], u[2 * c + 1], 0x31));
  for (unsigned c = 0; c < 2; ++c) // w = 2, within each half
    w[c] = _mm256_add_ps(_mm256_shuffle_ps(v[2 * c], v[2 * c + 1], 0x44),
                         _mm256_shuffle_ps(v[2 * c], v[2 * c + 1], 0xee));
  // w = 1; the lanes then hold columns 0, 2, 4, 6, 1, 3, 5, 7.
  __m256 r = _mm256_add_ps(_mm256_shuffle_ps(w[0], w[1], 0x88), _mm256_shuffle_ps(w[0], w[1], 0xdd));
  return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/// mmF16RowsAvx512 for AVX2 (F16C): the same products and additions, 8
/// columns at a time.
EDGELLM_AVX2 void mmF16RowsAvx2(const MmF16Args &a, uint64_t i, uint64_t j0, uint64_t j1) {
  const uint64_t kb = (a.k + kLanes - 1) / kLanes;
  thread_local std::vector<float> rowA;
  rowA.resize(kb * kLanes);
  for (uint64_t tb = 0; tb < kb; ++tb)
    for (unsigned h = 0; h < 2; ++h)
      _mm256_storeu_ps(rowA.data() + tb * kLanes + 8 * h,
                       fromHalf8(a.a + (tb * a.aStride + i) * kBeatBytes + 16 * h));
  for (uint64_t jb = j0; jb < j1; jb += 8) {
    const unsigned cols = unsigned(std::min<uint64_t>(8, j1 - jb));
    __m256 acc = _mm256_setzero_ps();
    for (uint64_t tb = 0; tb < kb; ++tb) {
      if (a.transB) {
        // Per column the 16 products of the beat (lanes past k: +0), the
        // 8 columns' trees at once.
        const unsigned valid = unsigned(std::min<uint64_t>(kLanes, a.k - tb * kLanes));
        __m256 keep[2];
        for (unsigned h = 0; h < 2; ++h)
          keep[h] = _mm256_castsi256_ps(_mm256_cmpgt_epi32(
              _mm256_set1_epi32(int(valid)), _mm256_setr_epi32(8 * h, 8 * h + 1, 8 * h + 2, 8 * h + 3, 8 * h + 4, 8 * h + 5, 8 * h + 6, 8 * h + 7)));
        __m256 lo[8], hi[8];
        const __m256 a0 = _mm256_loadu_ps(rowA.data() + tb * kLanes), a1 = _mm256_loadu_ps(rowA.data() + tb * kLanes + 8);
        for (unsigned c = 0; c < 8; ++c) {
          if (c >= cols) {
            lo[c] = hi[c] = _mm256_setzero_ps();
            continue;
          }
          const uint8_t *b = a.b + (tb * a.bStride + jb + c) * kBeatBytes;
          lo[c] = _mm256_and_ps(keep[0], _mm256_mul_ps(a0, fromHalf8(b)));
          hi[c] = _mm256_and_ps(keep[1], _mm256_mul_ps(a1, fromHalf8(b + 16)));
        }
        acc = _mm256_add_ps(acc, tree16x8(lo, hi));
      } else {
        // Lane c of vector l: the product of input t + l with column jb + c.
        __m256 s[kLanes];
        for (unsigned l = 0; l < kLanes; ++l) {
          uint64_t t = tb * kLanes + l;
          s[l] = t >= a.k ? _mm256_setzero_ps()
                          : _mm256_mul_ps(_mm256_set1_ps(rowA[t]),
                                          fromHalf8(a.b + ((jb / kLanes) * a.bStride + t) * kBeatBytes +
                                                    2 * (jb % kLanes)));
        }
        for (unsigned w = kLanes / 2; w >= 1; w /= 2)
          for (unsigned l = 0; l < w; ++l)
            s[l] = _mm256_add_ps(s[l], s[l + w]);
        acc = _mm256_add_ps(acc, s[0]);
      }
    }
    float out[8];
    _mm256_storeu_ps(out, acc);
    for (unsigned c = 0; c < cols; ++c)
      finish(a, i, jb + c, out[c]);
  }
}
#endif

} // namespace

void kernels::mmF16(const MmF16Args &a, ThreadPool &pool, CpuLevel level) {
  const unsigned T = pool.size();
  uint64_t work = uint64_t(a.m) * a.n * a.k;
  // Work items: blocks of columns (multiples of 16), about four per thread.
  const uint64_t per = std::max<uint64_t>(
      kLanes, (uint64_t(a.n) + 4 * T * kLanes - 1) / (4 * T * kLanes) * kLanes);
  auto body = [&](uint64_t item) {
    uint64_t j0 = item * per, j1 = std::min<uint64_t>(a.n, j0 + per);
    if (j0 >= j1)
      return;
    for (uint64_t i = 0; i < a.m; ++i) {
#ifdef EDGELLM_X86
      if (level == CpuLevel::Avx512) {
        mmF16RowsAvx512(a, i, j0, j1);
        continue;
      }
      if (level == CpuLevel::Avx2) {
        mmF16RowsAvx2(a, i, j0, j1);
        continue;
      }
#endif
      for (uint64_t j = j0; j < j1; ++j)
        finish(a, i, j, dotScalar(a, i, j));
    }
  };
  uint64_t items = (uint64_t(a.n) + per - 1) / per;
  if (work < (1u << 16) || T == 1) {
    for (uint64_t i = 0; i < items; ++i)
      body(i);
  } else {
    pool.parallelFor(items, [&](uint64_t i, unsigned) { body(i); });
  }
  for (uint64_t i = 0; i < a.m; ++i)
    for (uint64_t c = a.n; c % kLanes; ++c)
      store16(a.c + elem(a.cStride, i, c), 0);
}
