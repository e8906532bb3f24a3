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

EDGELLM_AVX512 bool rowAvx512(EwKind kind, const uint8_t *a, uint64_t aStride, const uint8_t *b,
                              uint64_t bStride, uint8_t *y, uint64_t yStride, uint64_t channels) {
  const __m256i nan16 = _mm256_set1_epi16(short(isa::kCanonicalNaN16));
  for (uint64_t c0 = 0, j = 0; c0 < channels; c0 += isa::kLanes, ++j) {
    const unsigned valid = unsigned(std::min<uint64_t>(isa::kLanes, channels - c0));
    const __mmask16 mask = __mmask16((1u << valid) - 1);
    __m512 av = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(a + j * aStride)));
    __m512 bv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(b + j * bStride)));
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
    __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    h = _mm256_mask_blend_epi16(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), h, nan16);
    h = _mm256_maskz_mov_epi16(mask, h); // the padding lanes are zero
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(y + j * yStride), h);
  }
  return true;
}
#endif

} // namespace

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
