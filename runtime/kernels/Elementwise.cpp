//===- Elementwise.cpp - Fast element-wise instructions -------------------===//
//
// Exactness: FP16 -> binary32 widening is exact (vcvtph2ps); every binary32
// operation is IsaNumerics.h's, in its order, one rounding each (no fused
// operations: -ffp-contract=off); 2^n scaling with vscalefps rounds once,
// as std::ldexp does; binary32 -> FP16 is IEEE round-to-nearest-even
// (vcvtps2ph), as f32ToF16 for every non-NaN value, and NaN lanes are set
// to f32ToF16's canonical NaN.
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
#endif

using namespace edgellm;
using namespace edgellm::kernels;

namespace {

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

/// treeSum16 of one vector: s[j] += s[j + w] for w = 8, 4, 2, 1.
EDGELLM_AVX512 inline float tree16(__m512 v) {
  __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
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
  const uint64_t perHead = headDim / isa::kLanes;
  for (uint64_t h = 0; h < heads; ++h)
    for (uint64_t j = 0; j < perHead; ++j) {
      const uint64_t beat = h * perHead + j;
      const uint8_t *xp = x + beat * xStride;
      uint8_t *yp = y + beat * yStride;
      if (j * isa::kLanes >= rotDim) { // copied unchanged
        std::memmove(yp, xp, isa::kBeatBytes);
        continue;
      }
      __m512 cs = _mm512_loadu_ps(table + j * isa::kLanes); // (c, s) of 8 pairs
      __m512 c = _mm512_permutexvar_ps(evens, cs);
      __m512 sn = _mm512_mul_ps(_mm512_permutexvar_ps(odds, cs), signs); // exact
      __m512 v = fromHalf(xp);
      __m512 out = _mm512_add_ps(_mm512_mul_ps(v, c), _mm512_mul_ps(_mm512_permutexvar_ps(swap, v), sn));
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(yp), toHalf(out));
    }
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

#endif

} // namespace

bool kernels::rmsNormRow(const uint8_t *x, uint64_t xStride, const uint8_t *gamma, uint8_t *y,
                         uint64_t yStride, uint64_t channels, float eps, CpuLevel level) {
#if defined(__x86_64__)
  if (level == CpuLevel::Avx512)
    return rmsNormAvx512(x, xStride, gamma, y, yStride, channels, eps);
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
#endif
  (void)x, (void)xStride, (void)y, (void)yStride, (void)n, (void)valid, (void)scratch, (void)level;
  return false;
}

bool kernels::ropeRowInterleaved(const uint8_t *x, uint64_t xStride, uint8_t *y, uint64_t yStride,
                                 const float *table, uint64_t heads, uint64_t headDim,
                                 uint64_t rotDim, CpuLevel level) {
#if defined(__x86_64__)
  if (level == CpuLevel::Avx512 && headDim % isa::kLanes == 0 && rotDim % isa::kLanes == 0 &&
      rotDim <= headDim)
    return ropeAvx512(x, xStride, y, yStride, table, heads, headDim, rotDim);
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
#endif
  (void)kind, (void)a, (void)aStride, (void)b, (void)bStride, (void)y, (void)yStride,
      (void)channels, (void)level;
  return false;
}
