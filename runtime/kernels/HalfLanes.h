//===- HalfLanes.h - 16 FP16 lanes <-> binary32, as the ISA rounds -*- C++ -*-===//
//
// For the AVX-512 kernels: an FP16 beat widened to 16 binary32 lanes
// (vcvtph2ps: exact), and 16 binary32 lanes narrowed to an FP16 beat as
// isa::f32ToF16 does (IEEE round-to-nearest-even, vcvtps2ph; NaN lanes set
// to its canonical NaN). For the AVX2 kernels the same on 8 lanes (F16C).
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_KERNELS_HALFLANES_H
#define EDGELLM_RUNTIME_KERNELS_HALFLANES_H

#include "edgellm/hw/Isa.h"
#include "edgellm/hw/IsaNumerics.h"

#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>

namespace edgellm::kernels {

#define EDGELLM_HALF_LANES_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

/// FP16 beat of 16 binary32 lanes: vcvtps2ph, NaN lanes canonical, lanes
/// past `valid` zero.
EDGELLM_HALF_LANES_TARGET inline __m256i toHalf(__m512 v, unsigned valid = isa::kLanes) {
  __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  h = _mm256_mask_blend_epi16(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), h,
                              _mm256_set1_epi16(short(isa::kCanonicalNaN16)));
  return _mm256_maskz_mov_epi16(__mmask16((1u << valid) - 1), h);
}

/// The 16 FP16 values at p, as binary32 lanes.
EDGELLM_HALF_LANES_TARGET inline __m512 fromHalf(const uint8_t *p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
}

#undef EDGELLM_HALF_LANES_TARGET
#define EDGELLM_HALF_LANES_TARGET __attribute__((target("avx2,f16c")))

/// 8 FP16 values of 8 binary32 lanes: vcvtps2ph, NaN lanes canonical.
EDGELLM_HALF_LANES_TARGET inline __m128i toHalf8(__m256 v) {
  __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m128i nan = _mm_packs_epi32(_mm256_castsi256_si128(_mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))),
                                _mm256_extracti128_si256(_mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)), 1));
  return _mm_blendv_epi8(h, _mm_set1_epi16(short(isa::kCanonicalNaN16)), nan);
}

/// The 8 FP16 values at p, as binary32 lanes.
EDGELLM_HALF_LANES_TARGET inline __m256 fromHalf8(const uint8_t *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}

#undef EDGELLM_HALF_LANES_TARGET

} // namespace edgellm::kernels

#endif // __x86_64__
#endif // EDGELLM_RUNTIME_KERNELS_HALFLANES_H
