//===- Elementwise.cpp - Fast element-wise instructions -------------------===//
//
// Exactness: FP16 -> binary32 widening is exact (vcvtph2ps); every binary32
// operation is IsaNumerics.h's, in its order, one rounding each (no fused
// operations: -ffp-contract=off); 2^n scaling with vscalefps rounds once,
// as std::ldexp does; binary32 -> FP16 is IEEE round-to-nearest-even
// (vcvtps2ph), as f32ToF16 for every non-NaN value, and NaN lanes are set
// to f32ToF16's canonical NaN. The AVX2 forms take a beat as two halves of
// 8 lanes and scale by 2^n in two exact-then-rounding products (below).
//
//===----------------------------------------------------------------------===//

#include "runtime/kernels/Elementwise.h"
#include "runtime/kernels/HalfLanes.h"
#include "edgellm/hw/IsaNumerics.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#define EDGELLM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define EDGELLM_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

using namespace edgellm;
using namespace edgellm::kernels;

namespace {

/// Calls beat(xp, yp, j) for each beat of a rope row whose channels are
/// rotated (j: the beat within its head, the table's (c, s) pairs of its 8
/// channel pairs at table + 16 j) and copies the others unchanged.
template <typename Fn>
inline void forEachRopeBeat(const uint8_t *x, uint64_t xStride, uint8_t *y, uint64_t yStride,
                            uint64_t heads, uint64_t headDim, uint64_t rotDim, Fn &&beat) {
  const uint64_t perHead = headDim / isa::kLanes;
  for (uint64_t h = 0; h < heads; ++h)
    for (uint64_t j = 0; j < perHead; ++j) {
      const uint8_t *xp = x + (h * perHead + j) * xStride;
      uint8_t *yp = y + (h * perHead + j) * yStride;
      if (j * isa::kLanes >= rotDim)
        std::memmove(yp, xp, isa::kBeatBytes);
      else
        beat(xp, yp, j);
    }
}

#if defined(__x86_64__)
/// isaExp on 16 lanes (IsaNumerics.h): the same steps and special cases.
EDGELLM_AVX512 inline __m512 expLanes(__m512 x) {
  __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(isa::kLog2e));
  __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(isa::kLn2Hi)));
  r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(isa::kLn2Lo)));
  __m512 p = _mm512_set1_ps(isa::kExpCoeffs[7]);
  for (int i = 6; i >= 0; --i)
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(isa::kExpCoeffs[i]));
  __m512 e = _mm512_scalef_ps(p, n);
  e = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(100.0f), _CMP_GT_OQ), e,
                           _mm512_set1_ps(INFINITY));
  e = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-110.0f), _CMP_LT_OQ), e,
                           _mm512_setzero_ps());
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), e, x);
}

/// treeSum16 of the 16 lanes lo (0-7), hi (8-15): s[j] += s[j + w] for w
/// = 8, 4, 2, 1.
EDGELLM_AVX2 inline float tree16x2(__m256 lo, __m256 hi) {
  __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

/// treeSum16 of one vector.
EDGELLM_AVX512 inline float tree16(__m512 v) {
  return tree16x2(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

EDGELLM_AVX512 bool rowAvx512(EwKind kind, const uint8_t *a, uint64_t aStride, const uint8_t *b,
                              uint64_t bStride, uint8_t *y, uint64_t yStride, uint64_t channels) {
  for (uint64_t c0 = 0, j = 0; c0 < channels; c0 += isa::kLanes, ++j) {
    const unsigned valid = unsigned(std::min<uint64_t>(isa::kLanes, channels - c0));
    __m512 av = fromHalf(a + j * aStride), bv = fromHalf(b + j * bStride);
    __m512 v;
    if (kind == EwKind::Add) {
      v = _mm512_add_ps(av, bv);
    } else if (kind == EwKind::Mul) {
      v = _mm512_mul_ps(av, bv);
    } else { // siluMul: (a / (1 + exp(-a))) * b
      __m512 t = expLanes(_mm512_xor_ps(av, _mm512_set1_ps(-0.0f))); // -a
      __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), t);
      v = _mm512_mul_ps(_mm512_div_ps(av, d), bv);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(y + j * yStride), toHalf(v, valid));
  }
  return true;
}

EDGELLM_AVX512 bool rmsNormAvx512(const uint8_t *x, uint64_t xStride, const uint8_t *gamma,
                                  uint8_t *y, uint64_t yStride, uint64_t channels, float eps) {
  const uint64_t beats = (channels + isa::kLanes - 1) / isa::kLanes;
  __m512 s = _mm512_setzero_ps(); // lane l: the squares of channels l, l + 16, ...
  for (uint64_t j = 0; j < beats; ++j) {
    unsigned valid = unsigned(std::min<uint64_t>(isa::kLanes, channels - j * isa::kLanes));
    __m512 v = _mm512_maskz_mov_ps(__mmask16((1u << valid) - 1), fromHalf(x + j * xStride));
    s = _mm512_add_ps(s, _mm512_mul_ps(v, v)); // past the row: + (+0), no change
  }
  const __m512 rinv = _mm512_set1_ps(isa::rmsInverse(tree16(s), uint32_t(channels), eps));
  for (uint64_t j = 0; j < beats; ++j) {
    unsigned valid = unsigned(std::min<uint64_t>(isa::kLanes, channels - j * isa::kLanes));
    __m512 g = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(__mmask16((1u << valid) - 1),
                                                        gamma + j * isa::kLanes * 2));
    __m512 v = _mm512_mul_ps(_mm512_mul_ps(fromHalf(x + j * xStride), rinv), g);
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(y + j * yStride), toHalf(v, valid));
  }
  return true;
}

EDGELLM_AVX512 bool ropeAvx512(const uint8_t *x, uint64_t xStride, uint8_t *y, uint64_t yStride,
                               const float *table, uint64_t heads, uint64_t headDim,
                               uint64_t rotDim) {
  // Lane 2k holds channel a of pair k, lane 2k + 1 channel b: Y = x * c +
  // swap(x) * (-s, +s), i.e. fl(fl(xa c) - fl(xb s)) and fl(fl(xb c) + fl(xa s)).
  const __m512i swap = _mm512_setr_epi32(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  const __m512i evens = _mm512_setr_epi32(0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14);
  const __m512i odds = _mm512_setr_epi32(1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15);
  const __m512 signs = _mm512_setr_ps(-1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1);
  forEachRopeBeat(x, xStride, y, yStride, heads, headDim, rotDim,
                  [&](const uint8_t *xp, uint8_t *yp, uint64_t j) EDGELLM_AVX512 {
                    __m512 cs = _mm512_loadu_ps(table + j * isa::kLanes); // (c, s) of 8 pairs
                    __m512 c = _mm512_permutexvar_ps(evens, cs);
                    __m512 sn = _mm512_mul_ps(_mm512_permutexvar_ps(odds, cs), signs); // exact
                    __m512 v = fromHalf(xp);
                    __m512 out = _mm512_add_ps(_mm512_mul_ps(v, c),
                                               _mm512_mul_ps(_mm512_permutexvar_ps(swap, v), sn));
                    _mm256_storeu_si256(reinterpret_cast<__m256i *>(yp), toHalf(out));
                  });
  return true;
}
EDGELLM_AVX512 bool softmaxAvx512(const uint8_t *x, uint64_t xStride, uint8_t *y,
                                  uint64_t yStride, uint64_t n, uint64_t valid, float *e) {
  const uint64_t beats = (n + isa::kLanes - 1) / isa::kLanes;
  const uint64_t vbeats = (valid + isa::kLanes - 1) / isa::kLanes;
  auto lanes = [](uint64_t count, uint64_t j) {
    return __mmask16(count >= (j + 1) * isa::kLanes ? 0xffff
                                                    : count <= j * isa::kLanes ? 0
                                                    : (1u << (count - j * isa::kLanes)) - 1);
  };
  // 1. The largest valid value, NaN skipped (vmaxps returns its second
  // operand when one is NaN). Its sign when it is a zero (which the
  // sequential comparison takes from the first zero) changes no x - mx but
  // that of x = -0, and isaExp(-0) = isaExp(+0).
  __m512 mxv = _mm512_set1_ps(-INFINITY);
  for (uint64_t j = 0; j < vbeats; ++j)
    mxv = _mm512_mask_max_ps(mxv, lanes(valid, j), fromHalf(x + j * xStride), mxv);
  const float mx = _mm512_reduce_max_ps(mxv);
  // 2-3. e = isaExp(x - mx) (0 for the invalid columns), lane sums in
  // column order from +0, the tree, the reciprocal.
  const __m512 m = _mm512_set1_ps(mx);
  __m512 sum = _mm512_setzero_ps();
  for (uint64_t j = 0; j < vbeats; ++j) {
    __m512 v = _mm512_maskz_mov_ps(lanes(valid, j), expLanes(_mm512_sub_ps(fromHalf(x + j * xStride), m)));
    _mm512_storeu_ps(e + j * isa::kLanes, v);
    sum = _mm512_add_ps(sum, v);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / tree16(sum));
  // 4. Y = e * inv, +0 past the valid columns and in the padding lanes.
  for (uint64_t j = 0; j < beats; ++j) {
    __m512 v = j < vbeats ? _mm512_maskz_mov_ps(lanes(valid, j), _mm512_mul_ps(_mm512_loadu_ps(e + j * isa::kLanes), inv))
                          : _mm512_setzero_ps();
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(y + j * yStride),
                        toHalf(v, unsigned(std::min<uint64_t>(isa::kLanes, n - j * isa::kLanes))));
  }
  return true;
}

//===----------------------------------------------------------------------===//
// AVX2 (with F16C): the same steps, a beat as two halves of 8 lanes
//===----------------------------------------------------------------------===//

/// 2^n (integral n in [-126, 127]) in each lane, exactly.
EDGELLM_AVX2 inline __m256 pow2Lanes8(__m256i n) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

/// expLanes on 8 lanes. vscalefps(p, n) (= ldexp: one rounding) is p * 2^a
/// * 2^b with a = floor(n / 2), b = n - a: where x is in [-110, 100], n is
/// in [-159, 145], both factors are normal, the first product is exact (p
/// is about 1) and only the second rounds.
EDGELLM_AVX2 inline __m256 expLanes8(__m256 x) {
  __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(isa::kLog2e));
  __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(isa::kLn2Hi)));
  r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(isa::kLn2Lo)));
  __m256 p = _mm256_set1_ps(isa::kExpCoeffs[7]);
  for (int i = 6; i >= 0; --i)
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(isa::kExpCoeffs[i]));
  // (Lanes outside [-110, 100], NaN included, are replaced below; their n
  // is only kept in range.)
  __m256i ni = _mm256_cvtps_epi32(
      _mm256_min_ps(_mm256_max_ps(n, _mm256_set1_ps(-200.0f)), _mm256_set1_ps(200.0f)));
  __m256i a = _mm256_srai_epi32(ni, 1);
  __m256 e = _mm256_mul_ps(_mm256_mul_ps(p, pow2Lanes8(a)), pow2Lanes8(_mm256_sub_epi32(ni, a)));
  e = _mm256_blendv_ps(e, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(100.0f), _CMP_GT_OQ));
  e = _mm256_blendv_ps(e, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(-110.0f), _CMP_LT_OQ));
  return _mm256_blendv_ps(e, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/// All-ones in the lanes of half h (0: lanes 0-7, 1: 8-15) below `count`.
EDGELLM_AVX2 inline __m256 below8(uint64_t count, unsigned h) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int64_t left = int64_t(count) - 8 * int64_t(h);
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::clamp<int64_t>(left, 0, 8))), idx));
}

/// Stores 16 binary32 lanes (lo, hi) as an FP16 beat (toHalf8), lanes past
/// `valid` zero.
EDGELLM_AVX2 inline void storeBeat8(uint8_t *y, __m256 lo, __m256 hi, unsigned valid = isa::kLanes) {
  alignas(16) uint16_t out[isa::kLanes];
  _mm_store_si128(reinterpret_cast<__m128i *>(out), toHalf8(lo));
  _mm_store_si128(reinterpret_cast<__m128i *>(out + 8), toHalf8(hi));
  for (unsigned l = valid; l < isa::kLanes; ++l)
    out[l] = 0;
  std::memcpy(y, out, isa::kBeatBytes);
}

EDGELLM_AVX2 bool rowAvx2(EwKind kind, const uint8_t *a, uint64_t aStride, const uint8_t *b,
                          uint64_t bStride, uint8_t *y, uint64_t yStride, uint64_t channels) {
  for (uint64_t c0 = 0, j = 0; c0 < channels; c0 += isa::kLanes, ++j) {
    const unsigned valid = unsigned(std::min<uint64_t>(isa::kLanes, channels - c0));
    __m256 v[2];
    for (unsigned h = 0; h < 2; ++h) {
      __m256 av = fromHalf8(a + j * aStride + 16 * h), bv = fromHalf8(b + j * bStride + 16 * h);
      if (kind == EwKind::Add) {
        v[h] = _mm256_add_ps(av, bv);
      } else if (kind == EwKind::Mul) {
        v[h] = _mm256_mul_ps(av, bv);
      } else { // siluMul: (a / (1 + exp(-a))) * b
        __m256 t = expLanes8(_mm256_xor_ps(av, _mm256_set1_ps(-0.0f))); // -a
        v[h] = _mm256_mul_ps(_mm256_div_ps(av, _mm256_add_ps(_mm256_set1_ps(1.0f), t)), bv);
      }
    }
    storeBeat8(y + j * yStride, v[0], v[1], valid);
  }
  return true;
}

EDGELLM_AVX2 bool rmsNormAvx2(const uint8_t *x, uint64_t xStride, const uint8_t *gamma, uint8_t *y,
                              uint64_t yStride, uint64_t channels, float eps) {
  const uint64_t beats = (channels + isa::kLanes - 1) / isa::kLanes;
  __m256 s[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (uint64_t j = 0; j < beats; ++j) {
    const uint64_t valid = std::min<uint64_t>(isa::kLanes, channels - j * isa::kLanes);
    for (unsigned h = 0; h < 2; ++h) {
      __m256 v = _mm256_and_ps(below8(valid, h), fromHalf8(x + j * xStride + 16 * h));
      s[h] = _mm256_add_ps(s[h], _mm256_mul_ps(v, v));
    }
  }
  const __m256 rinv = _mm256_set1_ps(isa::rmsInverse(tree16x2(s[0], s[1]), uint32_t(channels), eps));
  for (uint64_t j = 0; j < beats; ++j) {
    const unsigned valid = unsigned(std::min<uint64_t>(isa::kLanes, channels - j * isa::kLanes));
    alignas(32) uint16_t g[isa::kLanes] = {};
    std::memcpy(g, gamma + j * isa::kLanes * 2, 2 * valid); // (gamma ends with the row)
    __m256 v[2];
    for (unsigned h = 0; h < 2; ++h)
      v[h] = _mm256_mul_ps(_mm256_mul_ps(fromHalf8(x + j * xStride + 16 * h), rinv),
                           fromHalf8(reinterpret_cast<const uint8_t *>(g + 8 * h)));
    storeBeat8(y + j * yStride, v[0], v[1], valid);
  }
  return true;
}

EDGELLM_AVX2 bool ropeAvx2(const uint8_t *x, uint64_t xStride, uint8_t *y, uint64_t yStride,
                           const float *table, uint64_t heads, uint64_t headDim, uint64_t rotDim) {
  // As ropeAvx512: lane 2k channel a of pair k, lane 2k + 1 channel b.
  const __m256 signs = _mm256_setr_ps(-1, 1, -1, 1, -1, 1, -1, 1);
  forEachRopeBeat(x, xStride, y, yStride, heads, headDim, rotDim,
                  [&](const uint8_t *xp, uint8_t *yp, uint64_t j) EDGELLM_AVX2 {
                    __m256 out[2];
                    for (unsigned h = 0; h < 2; ++h) {
                      __m256 cs = _mm256_loadu_ps(table + j * isa::kLanes + 8 * h); // 4 pairs
                      __m256 c = _mm256_moveldup_ps(cs);
                      __m256 sn = _mm256_mul_ps(_mm256_movehdup_ps(cs), signs); // exact
                      __m256 v = fromHalf8(xp + 16 * h);
                      out[h] = _mm256_add_ps(_mm256_mul_ps(v, c),
                                             _mm256_mul_ps(_mm256_permute_ps(v, 0xb1), sn));
                    }
                    storeBeat8(yp, out[0], out[1]);
                  });
  return true;
}

EDGELLM_AVX2 bool softmaxAvx2(const uint8_t *x, uint64_t xStride, uint8_t *y, uint64_t yStride,
                              uint64_t n, uint64_t valid, float *e) {
  const uint64_t beats = (n + isa::kLanes - 1) / isa::kLanes;
  const uint64_t vbeats = (valid + isa::kLanes - 1) / isa::kLanes;
  // All-ones in the lanes of half h of beat j that are valid columns.
  auto validLanes = [valid](uint64_t j, unsigned h) EDGELLM_AVX2 {
    return below8(valid - std::min(valid, j * isa::kLanes), h);
  };

  // 1. As softmaxAvx512 (vmaxps returns its second operand when one is NaN).
  __m256 mxv = _mm256_set1_ps(-INFINITY);
  for (uint64_t j = 0; j < vbeats; ++j)
    for (unsigned h = 0; h < 2; ++h)
      mxv = _mm256_blendv_ps(mxv, _mm256_max_ps(fromHalf8(x + j * xStride + 16 * h), mxv), validLanes(j, h));
  alignas(32) float lanesMax[8];
  _mm256_store_ps(lanesMax, mxv);
  float mx = lanesMax[0];
  for (unsigned l = 1; l < 8; ++l)
    mx = lanesMax[l] > mx ? lanesMax[l] : mx;
  // 2-3. e = isaExp(x - mx), lane sums in column order, the tree.
  const __m256 m = _mm256_set1_ps(mx);
  __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (uint64_t j = 0; j < vbeats; ++j)
    for (unsigned h = 0; h < 2; ++h) {
      __m256 v = _mm256_and_ps(validLanes(j, h), expLanes8(_mm256_sub_ps(fromHalf8(x + j * xStride + 16 * h), m)));
      _mm256_storeu_ps(e + j * isa::kLanes + 8 * h, v);
      sum[h] = _mm256_add_ps(sum[h], v);
    }
  const __m256 inv = _mm256_set1_ps(1.0f / tree16x2(sum[0], sum[1]));
  // 4. Y = e * inv, +0 past the valid columns and in the padding lanes.
  for (uint64_t j = 0; j < beats; ++j) {
    __m256 v[2];
    for (unsigned h = 0; h < 2; ++h)
      v[h] = j < vbeats ? _mm256_and_ps(validLanes(j, h), _mm256_mul_ps(_mm256_loadu_ps(e + j * isa::kLanes + 8 * h), inv))
                        : _mm256_setzero_ps();
    storeBeat8(y + j * yStride, v[0], v[1], unsigned(std::min<uint64_t>(isa::kLanes, n - j * isa::kLanes)));
  }
  return true;
}

#endif

} // namespace

bool kernels::rmsNormRow(const uint8_t *x, uint64_t xStride, const uint8_t *gamma, uint8_t *y,
                         uint64_t yStride, uint64_t channels, float eps, CpuLevel level) {
#if defined(__x86_64__)
  if (level == CpuLevel::Avx512)
    return rmsNormAvx512(x, xStride, gamma, y, yStride, channels, eps);
  if (level == CpuLevel::Avx2)
    return rmsNormAvx2(x, xStride, gamma, y, yStride, channels, eps);
#endif
  (void)x, (void)xStride, (void)gamma, (void)y, (void)yStride, (void)channels, (void)eps,
      (void)level;
  return false;
}

bool kernels::softmaxRow(const uint8_t *x, uint64_t xStride, uint8_t *y, uint64_t yStride,
                         uint64_t n, uint64_t valid, float *scratch, CpuLevel level) {
#if defined(__x86_64__)
  if (level == CpuLevel::Avx512)
    return softmaxAvx512(x, xStride, y, yStride, n, std::min(valid, n), scratch);
  if (level == CpuLevel::Avx2)
    return softmaxAvx2(x, xStride, y, yStride, n, std::min(valid, n), scratch);
#endif
  (void)x, (void)xStride, (void)y, (void)yStride, (void)n, (void)valid, (void)scratch, (void)level;
  return false;
}

bool kernels::ropeRowInterleaved(const uint8_t *x, uint64_t xStride, uint8_t *y, uint64_t yStride,
                                 const float *table, uint64_t heads, uint64_t headDim,
                                 uint64_t rotDim, CpuLevel level) {
#if defined(__x86_64__)
  if (headDim % isa::kLanes == 0 && rotDim % isa::kLanes == 0 && rotDim <= headDim) {
    if (level == CpuLevel::Avx512)
      return ropeAvx512(x, xStride, y, yStride, table, heads, headDim, rotDim);
    if (level == CpuLevel::Avx2)
      return ropeAvx2(x, xStride, y, yStride, table, heads, headDim, rotDim);
  }
#endif
  (void)x, (void)xStride, (void)y, (void)yStride, (void)table, (void)heads, (void)headDim,
      (void)rotDim, (void)level;
  return false;
}

bool kernels::elementwiseRow(EwKind kind, const uint8_t *a, uint64_t aStride, const uint8_t *b,
                             uint64_t bStride, uint8_t *y, uint64_t yStride, uint64_t channels,
                             CpuLevel level) {
#if defined(__x86_64__)
  if (level == CpuLevel::Avx512)
    return rowAvx512(kind, a, aStride, b, bStride, y, yStride, channels);
  if (level == CpuLevel::Avx2)
    return rowAvx2(kind, a, aStride, b, bStride, y, yStride, channels);
#endif
  (void)kind, (void)a, (void)aStride, (void)b, (void)bStride, (void)y, (void)yStride,
      (void)channels, (void)level;
  return false;
}
