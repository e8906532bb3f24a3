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
#include "edgellm/hw/IsaNumerics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cstdio>

#if defined(__x86_64__)
#include <immintrin.h>
#define EDGELLM_X86 1
#define EDGELLM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq")))
#endif

using namespace edgellm;
using namespace edgellm::kernels;
using isa::kBeatBytes;
using isa::kLanes;
using isa::kQuantBlock;
using isa::kQuantGroup;

CpuLevel kernels::detectCpuLevel() {
  const char *env = std::getenv("EDGELLM_KERNELS");
  if (env && std::strcmp(env, "scalar") == 0)
    return CpuLevel::Scalar;
#ifdef EDGELLM_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("avx512dq"))
    return CpuLevel::Avx512;
#endif
  return CpuLevel::Scalar;
}

const char *kernels::cpuLevelName(CpuLevel l) {
  return l == CpuLevel::Avx512 ? "avx512-vnni" : "scalar";
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

struct MmQ4Kernel::Prepared {
  uint32_t m = 0, k = 0, groups = 0;
  std::vector<uint16_t> bits;   ///< [m][k]
  std::vector<int8_t> planes;   ///< [m][groups][3 x 128]: digits of X, plane order
  std::vector<int32_t> sumX;    ///< [m][groups]
  std::vector<float> pow2;      ///< [m][groups]: 2^(E - 33)
  std::vector<uint8_t> special; ///< [m][groups]: an inf/NaN input (golden path)
  std::vector<std::vector<uint32_t>> corrBegin; ///< [m][groups + 1]
  std::vector<std::vector<Corr>> corr;          ///< [m][...]
  /// [m][...]: the same corrections indexed by the raw dense payload byte
  /// holding the input (two's complement nibbles): one table read per row.
  std::vector<std::vector<std::array<int8_t, 256>>> corrRaw;
  /// [m][...]: byte offset in a dense row of the payload byte holding the
  /// input of each correction, and its group.
  std::vector<std::vector<uint32_t>> corrOff, corrGroup;
  /// [m][blocks]: the block has a group with an inf/NaN input.
  std::vector<std::vector<uint8_t>> blockSpecial;

  /// Plane position of input i of a group: the weight image keeps the low
  /// nibbles (even inputs) of the 64 payload bytes, then the high ones.
  static unsigned slot(unsigned i) { return (i & 1) ? 64 + i / 2 : i / 2; }

  void prepareToken(uint32_t t) {
    const uint16_t *xs = bits.data() + uint64_t(t) * k;
    std::vector<uint32_t> &cb = corrBegin[t];
    std::vector<Corr> &cl = corr[t];
    cb.assign(groups + 1, 0);
    cl.clear();
    for (uint32_t g = 0; g < groups; ++g) {
      uint64_t gi = uint64_t(t) * groups + g;
      const uint16_t *x = xs + uint64_t(g) * kQuantGroup;
      unsigned count = std::min<unsigned>(kQuantGroup, k - g * kQuantGroup);
      int E = 1;
      bool spec = false;
      for (unsigned i = 0; i < count; ++i) {
        unsigned f = (x[i] >> 10) & 0x1f;
        if (f == 0x1f)
          spec = true;
        else
          E = std::max(E, isa::f16Exponent(x[i]));
      }
      special[gi] = spec;
      pow2[gi] = std::ldexp(1.0f, E - 25 - int(isa::kAlignGuardBits));
      int8_t *pl = planes.data() + gi * kPlaneBytes;
      std::memset(pl, 0, kPlaneBytes);
      int32_t sum = 0;
      cb[g] = uint32_t(cl.size());
      for (unsigned i = 0; i < count && !spec; ++i) {
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
            ((uint64_t(sig) << isa::kAlignGuardBits) & ((uint64_t(1) << std::min(shift, 40u)) - 1))) {
          Corr c;
          c.index = uint8_t(i);
          bool any = false;
          for (int w = -8; w <= 7; ++w) {
            int64_t d = alignedTerm(sig, shift, neg, w) - int64_t(w) * X;
            c.t[w + 8] = int8_t(d);
            any |= d != 0;
          }
          if (any)
            cl.push_back(c);
        }
      }
      sumX[gi] = sum;
    }
    cb[groups] = uint32_t(cl.size());
    std::vector<std::array<int8_t, 256>> &raw = corrRaw[t];
    raw.resize(cl.size());
    corrOff[t].resize(cl.size());
    corrGroup[t].resize(cl.size());
    constexpr uint32_t GB = kQuantBlock / kQuantGroup;
    constexpr uint32_t blockBytes = (1 + kQuantBlock / 2 / kBeatBytes) * kBeatBytes;
    for (uint32_t g = 0; g < groups; ++g)
      for (uint32_t c = cb[g]; c < cb[g + 1]; ++c) {
        for (unsigned b = 0; b < 256; ++b)
          raw[c][b] = cl[c].t[((b ^ 0x88) >> (4 * (cl[c].index & 1))) & 0xf];
        corrOff[t][c] = (g / GB) * blockBytes + kBeatBytes + (g % GB) * 64 + cl[c].index / 2;
        corrGroup[t][c] = g;
      }
    blockSpecial[t].assign((groups + GB - 1) / GB, 0);
    for (uint32_t g = 0; g < groups; ++g)
      blockSpecial[t][g / GB] |= special[uint64_t(t) * groups + g];
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

#ifdef EDGELLM_X86
/// Lane r = the sum of the 16 lanes of v[r] (exact integer sums).
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
#endif

/// Everything one token needs from a prepared activation vector.
struct TokenView {
  const int8_t *planes;
  const int32_t *sumX;
  const float *pow2;
  const uint8_t *special;
  const uint32_t *corrBegin;
  const Corr *corr;
  const std::array<int8_t, 256> *corrRaw;
  const uint32_t *corrOff, *corrGroup;
  const uint8_t *blockSpecial;
  const uint16_t *bits;
  uint32_t k, groups;
};

#ifdef EDGELLM_X86
/// acc[r] for 16 rows (lanes; missing rows repeat row 0): the golden
/// sequence acc = acc + (float(S_g) * 2^(E_g - 33)) * scale_g over the groups,
/// with the groups' integer sums reduced across rows into lanes. Group g of
/// row r is the 64 bytes at rows[r] + goff[g]: a row image ((w + 8) nibbles,
/// xm = 0) or the dense payload itself (two's complement nibbles, xm = 0x88:
/// w + 8 = nibble ^ 8).
EDGELLM_AVX512 void rows16Avx512(const uint8_t *const rows[16], const uint32_t *goff, uint8_t xm,
                                 const float *scalesT, const TokenView &t, float out[16],
                                 uint64_t rowStride, unsigned nrows) {
  // Row r at rows[0] + r * rowStride (rows past nrows repeat row 0): the
  // corrections gather the 16 rows' bytes of an input at once.
  alignas(64) int32_t ridx[16];
  for (unsigned r = 0; r < 16; ++r)
    ridx[r] = int32_t(r < nrows ? r * rowStride : 0);
  const __m512i vidx = _mm512_load_si512(ridx);
  const __m512i nib = _mm512_set1_epi8(0x0f);
  const __m512i xlo = _mm512_set1_epi8(char(xm & 0x0f)), xhi = _mm512_set1_epi8(char(xm >> 4));
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc = _mm512_setzero_ps();
  alignas(64) float pv[16];
  for (uint32_t g = 0; g < t.groups; ++g) {
    const int8_t *p = t.planes + uint64_t(g) * kPlaneBytes;
    const uint64_t go = goff[g];
    __m512 prod;
    if (t.special[g]) {
      unsigned count = std::min<unsigned>(kQuantGroup, t.k - g * kQuantGroup);
      for (unsigned r = 0; r < 16; ++r)
        pv[r] = specialGroup(t.bits + uint64_t(g) * kQuantGroup, rows[r] + go, count, xm) *
                scalesT[g * 16 + r];
      prod = _mm512_load_ps(pv);
    } else {
      __m512i p0a = _mm512_loadu_si512(p), p0b = _mm512_loadu_si512(p + 64);
      __m512i p1a = _mm512_loadu_si512(p + 128), p1b = _mm512_loadu_si512(p + 192);
      __m512i p2a = _mm512_loadu_si512(p + 256), p2b = _mm512_loadu_si512(p + 320);
      __m512i tv[16];
      for (unsigned r = 0; r < 16; ++r) {
        __m512i wv = _mm512_loadu_si512(rows[r] + go);
        // (A ^ B) & C: the nibble as w + 8.
        __m512i lo = _mm512_ternarylogic_epi32(wv, xlo, nib, 0x28);
        __m512i hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(wv, 4), xhi, nib, 0x28);
        // Horner over the digits: ((d2 part) * 2^8 + d1 part) * 2^8 + d0 part.
        __m512i a = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, lo, p2a), hi, p2b);
        a = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_slli_epi32(a, 8), lo, p1a), hi, p1b);
        tv[r] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_slli_epi32(a, 8), lo, p0a), hi, p0b);
      }
      // S = sum (w + 8) X - 8 sum X (+ corrections): |S| < 2^31.
      __m512i S = _mm512_sub_epi32(reduce16(tv), _mm512_set1_epi32(8 * t.sumX[g]));
      // Corrections, 16 rows at once: the byte holding input i of every row
      // (a 4-byte gather: the bytes after it are read, not used), its
      // nibble, and the input's table t[nibble] as a lane permutation.
      for (uint32_t c = t.corrBegin[g]; c < t.corrBegin[g + 1]; ++c) {
        unsigned i = t.corr[c].index;
        __m512i b = _mm512_i32gather_epi32(vidx, rows[0] + go + i / 2, 1);
        __m512i nibv = _mm512_and_si512(
            _mm512_srli_epi32(_mm512_xor_si512(b, _mm512_set1_epi32(xm)), 4 * (i & 1)),
            _mm512_set1_epi32(0xf));
        __m512i tab = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.corr[c].t)));
        S = _mm512_add_epi32(S, _mm512_permutexvar_epi32(nibv, tab));
      }
      __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(S), _mm512_set1_ps(t.pow2[g])); // exact
      prod = _mm512_mul_ps(v, _mm512_loadu_ps(scalesT + g * 16));
    }
    acc = _mm512_add_ps(acc, prod);
  }
  _mm512_storeu_ps(out, acc);
}

/// One dense weight row read in place (one sequential stream), one token:
/// the golden acc over the groups. Pass 1: per block of 16 groups the
/// integer sums, reduced across groups into lanes (lane j = group j of the
/// block), into S[g]. Pass 2: the corrections (the row is in cache now), one
/// table read each (integers: any order). Pass 3: per block the binary32
/// products as vectors (lane j times the block's scale j), added to acc one
/// group after the other, in order. `S`: G + 16 ints of scratch.
EDGELLM_AVX512 float rowDenseAvx512(const uint8_t *row, const TokenView &t, uint64_t pfDist,
                                    int32_t *S) {
  const __m512i nib = _mm512_set1_epi8(0x0f);
  const __m512i x8 = _mm512_set1_epi8(0x08);
  const __m512i zero = _mm512_setzero_si512();
  constexpr uint32_t GB = kQuantBlock / kQuantGroup; // groups per block
  constexpr uint32_t blockBytes = (1 + kQuantBlock / 2 / kBeatBytes) * kBeatBytes;
  const uint8_t *blk = row;
  for (uint32_t g0 = 0; g0 < t.groups; g0 += GB, blk += blockBytes) {
    const uint32_t ng = std::min(GB, t.groups - g0);
    __m512i tv[16];
    for (uint32_t j = 0; j < GB; ++j) {
      if (j >= ng) {
        tv[j] = zero;
        continue;
      }
      const uint8_t *w = blk + kBeatBytes + j * 64;
      if (pfDist)
        _mm_prefetch(reinterpret_cast<const char *>(w + pfDist), _MM_HINT_T0);
      const int8_t *p = t.planes + uint64_t(g0 + j) * kPlaneBytes;
      __m512i wv = _mm512_loadu_si512(w);
      // (A ^ B) & C: the nibble as w + 8.
      __m512i lo = _mm512_ternarylogic_epi32(wv, _mm512_set1_epi8(char(0x88)), nib, 0x28);
      __m512i hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(wv, 4), x8, nib, 0x28);
      // The three digits' sums: d0 part + 2^8 d1 part + 2^16 d2 part.
      __m512i a0 = _mm512_dpbusd_epi32(zero, lo, _mm512_loadu_si512(p));
      __m512i a1 = _mm512_dpbusd_epi32(zero, lo, _mm512_loadu_si512(p + 128));
      __m512i a2 = _mm512_dpbusd_epi32(zero, lo, _mm512_loadu_si512(p + 256));
      a0 = _mm512_dpbusd_epi32(a0, hi, _mm512_loadu_si512(p + 64));
      a1 = _mm512_dpbusd_epi32(a1, hi, _mm512_loadu_si512(p + 192));
      a2 = _mm512_dpbusd_epi32(a2, hi, _mm512_loadu_si512(p + 320));
      tv[j] = _mm512_add_epi32(a0, _mm512_slli_epi32(_mm512_add_epi32(a1, _mm512_slli_epi32(a2, 8)), 8));
    }
    const __mmask16 valid = __mmask16((1u << ng) - 1);
    // S = sum (w + 8) X - 8 sum X (+ corrections): |S| < 2^31.
    _mm512_mask_storeu_epi32(
        S + g0, valid,
        _mm512_sub_epi32(reduce16(tv),
                         _mm512_slli_epi32(_mm512_maskz_loadu_epi32(valid, t.sumX + g0), 3)));
  }
  for (uint32_t e = 0, nc = t.corrBegin[t.groups]; e < nc; ++e)
    S[t.corrGroup[e]] += t.corrRaw[e][row[t.corrOff[e]]];
  alignas(64) float pv[16];
  float acc = 0.0f;
  blk = row;
  for (uint32_t g0 = 0; g0 < t.groups; g0 += GB, blk += blockBytes) {
    const uint32_t ng = std::min(GB, t.groups - g0);
    const __mmask16 valid = __mmask16((1u << ng) - 1);
    __m512 scale = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk)));
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(valid, S + g0)),
                             _mm512_maskz_loadu_ps(valid, t.pow2 + g0)); // exact
    _mm512_store_ps(pv, _mm512_mul_ps(v, scale));
    if (!t.blockSpecial[g0 / GB]) {
      for (uint32_t j = 0; j < ng; ++j)
        acc = acc + pv[j];
      continue;
    }
    for (uint32_t j = 0; j < ng; ++j) {
      if (t.special[g0 + j]) {
        unsigned count = std::min<unsigned>(kQuantGroup, t.k - (g0 + j) * kQuantGroup);
        pv[j] = specialGroup(t.bits + uint64_t(g0 + j) * kQuantGroup, blk + kBeatBytes + j * 64,
                             count, 0x88) *
                isa::f16ToF32(load16(blk + 2 * j));
      }
      acc = acc + pv[j];
    }
  }
  return acc;
}

#endif

} // namespace

MmQ4Kernel::MmQ4Kernel() = default;
static uint64_t gCorr = 0, gGroups = 0, gSpecial = 0;
MmQ4Kernel::~MmQ4Kernel() {
  if (std::getenv("EDGELLM_SIM_PROFILE"))
    std::fprintf(stderr, "mm_q4 prepared: %llu groups, %llu corrections, %llu special\n",
                 (unsigned long long)gGroups, (unsigned long long)gCorr, (unsigned long long)gSpecial);
}

void MmQ4Kernel::run(const MmQ4Args &a, ThreadPool &pool, CpuLevel level) {
  const uint32_t M = a.m, N = a.n, K = a.k;
  const uint32_t G = (K + kQuantGroup - 1) / kQuantGroup;
  const unsigned T = pool.size();
  // Gather the activations' bits and look for a prepared copy.
  std::vector<uint16_t> bits(uint64_t(M) * K);
  for (uint32_t m = 0; m < M; ++m)
    for (uint32_t c0 = 0; c0 < K; c0 += kLanes)
      std::memcpy(&bits[uint64_t(m) * K + c0], a.x + elem(a.xStride, m, c0),
                  std::min<uint32_t>(kLanes, K - c0) * 2);
  Prepared *prep = nullptr;
  for (size_t i = 0; i < cache_.size(); ++i)
    if (cache_[i]->m == M && cache_[i]->k == K && cache_[i]->bits == bits) {
      std::rotate(cache_.begin(), cache_.begin() + long(i), cache_.begin() + long(i) + 1);
      prep = cache_[0].get();
      break;
    }
  if (!prep) {
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
    p->corrRaw.resize(M);
    p->corrOff.resize(M);
    p->corrGroup.resize(M);
    p->blockSpecial.resize(M);
    Prepared *pp = p.get();
    pool.parallelFor(M, [&](uint64_t m, unsigned) { pp->prepareToken(uint32_t(m)); });
    for (uint32_t m = 0; m < M; ++m) {
      gCorr += pp->corr[m].size();
      gGroups += G;
      for (uint32_t g = 0; g < G; ++g)
        gSpecial += pp->special[uint64_t(m) * G + g];
    }
    cache_.insert(cache_.begin(), std::move(p));
    prep = cache_[0].get();
  }

  const isa::Sparsity sp = a.sparsity;
  const uint64_t rowBeats = isa::q4RowBeats(K, sp);
  constexpr unsigned RB = 16; // rows sharing one pass over the planes (vector lanes)
  const uint64_t imgBytes = uint64_t(G) * 64;
  const uint64_t rowBytes = rowBeats * kBeatBytes;
  // One token, dense weights in one contiguous run (WBUF, or a tile
  // deferred from stream-ordered HBM): the kernel reads the payload bytes in
  // place, row by row, no row images, no copies. With more tokens the row
  // images (built once per 16 rows, used by every token, planes loaded once
  // per 16 rows) are faster.
  const bool direct = level == CpuLevel::Avx512 && sp == isa::Sparsity::Dense &&
                      a.w.isContiguous() && M == 1;
  // Per group: where its 64 bytes are in the row image.
  std::vector<uint32_t> goff(G);
  for (uint32_t g = 0; g < G; ++g)
    goff[g] = g * 64;
  const uint64_t chunkRows = std::max<uint64_t>(RB, (512 << 10) / rowBytes / RB * RB);
  const uint64_t scratchBytes =
      RB * imgBytes + RB * G * 4 + RB * G * 4 + 2048 + (direct ? 0 : chunkRows * rowBytes);
  if (scratch_.size() < T)
    scratch_.resize(T);
  for (auto &s : scratch_)
    if (s.size() < scratchBytes)
      s.resize(scratchBytes);
  const Prepared &P = *prep;
  // Work items: chunks of rows, at least two per thread.
  const uint64_t perItem = std::max<uint64_t>(
      RB, std::min<uint64_t>(chunkRows, (N + 2 * T * RB - 1) / (2 * T * RB) * RB));
  std::vector<TokenView> views(M);
  for (uint32_t m = 0; m < M; ++m) {
    const uint64_t mg = uint64_t(m) * G;
    views[m] = TokenView{P.planes.data() + mg * kPlaneBytes, P.sumX.data() + mg,
                         P.pow2.data() + mg, P.special.data() + mg, P.corrBegin[m].data(),
                         P.corr[m].data(), P.corrRaw[m].data(), P.corrOff[m].data(), P.corrGroup[m].data(),
                     P.blockSpecial[m].data(), P.bits.data() + uint64_t(m) * K, K, G};
  }
  // Software prefetch distance of the row-by-row kernel (measured: without
  // it the stream runs at a third of the speed).
  constexpr uint64_t pfDist = 2048;
  pool.parallelFor((N + perItem - 1) / perItem, [&](uint64_t item, unsigned t) {
    uint64_t n0 = item * perItem, n1 = std::min<uint64_t>(N, n0 + perItem);
#ifdef EDGELLM_X86
    if (direct) { // row by row, in place: one sequential stream
      int32_t *corrSums = reinterpret_cast<int32_t *>(scratch_[t].data());
      for (uint64_t n = n0; n < n1; ++n) {
        const uint8_t *row = a.w.run[0] + n * rowBytes;
        float b = a.bias ? isa::f16ToF32(load16(a.bias + n * 2)) : 0.0f;
        for (uint32_t m = 0; m < M; ++m) {
          float acc = rowDenseAvx512(row, views[m], pfDist, corrSums);
          if (a.bias)
            acc = acc + b;
          store16(a.y + elem(a.yStride, m, n), isa::f32ToF16(acc));
        }
      }
      return;
    }
#endif
    uint8_t *base = scratch_[t].data();
    uint8_t *imgs[RB];
    for (unsigned r = 0; r < RB; ++r)
      imgs[r] = base + r * imgBytes;
    float *scalesT = reinterpret_cast<float *>(base + RB * imgBytes); // [G][16]
    int32_t *S = reinterpret_cast<int32_t *>(base + RB * imgBytes + RB * G * 4);
    uint8_t *tmp = base + RB * imgBytes + 2 * RB * G * 4;
    uint8_t *chunk = tmp + 2048;
    // Striped weights are first copied run by run into a chunk of rows.
    BeatRuns src = a.w;
    uint64_t chunk1 = n0;
    for (uint64_t nb = n0; nb < n1; nb += RB) {
      unsigned rows = unsigned(std::min<uint64_t>(RB, n1 - nb));
      const uint8_t *rowPtr[RB];
      {
        if (a.w.stripe > 1 && nb >= chunk1) {
          uint64_t chunk0 = nb;
          chunk1 = std::min<uint64_t>(n1, nb + chunkRows);
          a.w.gather(chunk0 * rowBeats, (chunk1 - chunk0) * rowBeats, chunk);
          src = BeatRuns::contiguous(chunk - chunk0 * rowBeats * kBeatBytes);
        }
        for (unsigned r = 0; r < rows; ++r)
          buildRow(src, (nb + r) * rowBeats, K, sp, imgs[r], scalesT + r, RB, tmp);
        for (unsigned r = 0; r < RB; ++r)
          rowPtr[r] = imgs[r < rows ? r : 0];
        if (rows < RB)
          for (uint32_t g = 0; g < G; ++g)
            for (unsigned r = rows; r < RB; ++r)
              scalesT[g * RB + r] = scalesT[g * RB];
      }
      for (uint32_t m = 0; m < M; ++m) {
        const uint64_t mg = uint64_t(m) * G;
        TokenView tv{P.planes.data() + mg * kPlaneBytes, P.sumX.data() + mg,
                     P.pow2.data() + mg, P.special.data() + mg, P.corrBegin[m].data(),
                     P.corr[m].data(), P.corrRaw[m].data(), P.corrOff[m].data(), P.corrGroup[m].data(),
                     P.blockSpecial[m].data(), P.bits.data() + uint64_t(m) * K, K, G};
        float accs[RB];
#ifdef EDGELLM_X86
        if (level == CpuLevel::Avx512) {
          rows16Avx512(rowPtr, goff.data(), 0, scalesT, tv, accs, imgBytes, rows);
        } else
#endif
        {
          groupSumsScalar(imgs, rows, G, tv.planes, S);
          for (unsigned r = 0; r < rows; ++r) {
            const uint8_t *img = imgs[r];
            float acc = 0.0f;
            for (uint32_t g = 0; g < G; ++g) {
              float v;
              if (tv.special[g]) {
                unsigned count = std::min<unsigned>(kQuantGroup, K - g * kQuantGroup);
                v = specialGroup(tv.bits + uint64_t(g) * kQuantGroup, img + uint64_t(g) * 64,
                                 count);
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
            accs[r] = acc;
          }
        }
        for (unsigned r = 0; r < rows; ++r) {
          uint64_t n = nb + r;
          float acc = accs[r];
          if (a.bias) {
            float b = isa::f16ToF32(load16(a.bias + n * 2));
            acc = acc + b;
          }
          store16(a.y + elem(a.yStride, m, n), isa::f32ToF16(acc));
        }
      }
    }
  });
  for (uint32_t m = 0; m < M; ++m)
    for (uint64_t c = N; c % kLanes; ++c)
      store16(a.y + elem(a.yStride, m, c), 0);
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
/// treeSum16 of one vector: s[j] += s[j + 8], then 4, 2, 1.
EDGELLM_AVX512 inline float tree16(__m512 v) {
  __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v),
                            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

EDGELLM_AVX512 void mmF16RowsAvx512(const MmF16Args &a, uint64_t i, uint64_t j0, uint64_t j1) {
  const uint64_t kb = (a.k + kLanes - 1) / kLanes;
  if (a.transB) {
    for (uint64_t j = j0; j < j1; ++j) {
      float acc = 0.0f;
      for (uint64_t tb = 0; tb < kb; ++tb) {
        unsigned valid = unsigned(std::min<uint64_t>(kLanes, a.k - tb * kLanes));
        __mmask16 mask = __mmask16((1u << valid) - 1);
        __m512 va = _mm512_cvtph_ps(
            _mm256_loadu_si256((const __m256i *)(a.a + (tb * a.aStride + i) * kBeatBytes)));
        __m512 vb = _mm512_cvtph_ps(
            _mm256_loadu_si256((const __m256i *)(a.b + (tb * a.bStride + j) * kBeatBytes)));
        acc = acc + tree16(_mm512_maskz_mul_ps(mask, va, vb));
      }
      finish(a, i, j, acc);
    }
    return;
  }
  // C[i, j..j+15] for a block of 16 columns: lane l of the tree holds the
  // products of input t + l for all 16 columns (one vector per l).
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
        __m512 av = _mm512_set1_ps(f16At(a.a, a.aStride, i, t));
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
