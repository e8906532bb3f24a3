//===- Elementwise.h - Fast element-wise instructions -----------*- C++ -*-===//
//
// The simulator's vector kernels for `eltwise` (add, mul), `silu_mul`,
// `rms_norm`, `rope` and `softmax` (docs/isa.md, docs/simulator.md): one row of unified-layout operands (16
// FP16 channels per beat) at a time, the golden model's binary32 operations
// in its order (IsaNumerics.h: f16ToF32, isaExp, siluMul, f32ToF16 with its
// canonical NaN), 16 lanes at once. Bit-identical to the reference path.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_KERNELS_ELEMENTWISE_H
#define EDGELLM_RUNTIME_KERNELS_ELEMENTWISE_H

#include "runtime/kernels/MatMul.h"

#include <cstdint>

namespace edgellm::kernels {

enum class EwKind { Add, Mul, SiluMul };

/// One row of Y = A op B over `channels` channels: the row's beats are
/// a + j * aStride (B: b + j * bStride, Y: y + j * yStride) for j = 0, 1, ...
/// (strides in bytes); the padding lanes of Y's last beat are zeroed. Y may
/// be A or B (the same beats). False when `level` has no vector kernel (the
/// caller computes the row).
bool elementwiseRow(EwKind kind, const uint8_t *a, uint64_t aStride, const uint8_t *b,
                    uint64_t bStride, uint8_t *y, uint64_t yStride, uint64_t channels,
                    CpuLevel level);

/// One row of rms_norm (docs/isa.md): the squares summed per lane over the
/// row's beats, then treeSum16, rmsInverse, and y = (x * rinv) * gamma
/// (gamma: `channels` FP16 values, contiguous). Y may be X. False when
/// `level` has no vector kernel.
bool rmsNormRow(const uint8_t *x, uint64_t xStride, const uint8_t *gamma, uint8_t *y,
                uint64_t yStride, uint64_t channels, float eps, CpuLevel level);

/// One row of rope with interleaved pairs (docs/isa.md), heads of
/// `headDim` channels whose first `rotDim` are rotated (both multiples of
/// 16); `table`: the row's rotDim / 2 FP32 (cos, sin) pairs. Y may be X.
/// False when `level` has no vector kernel.
bool ropeRowInterleaved(const uint8_t *x, uint64_t xStride, uint8_t *y, uint64_t yStride,
                        const float *table, uint64_t heads, uint64_t headDim, uint64_t rotDim,
                        CpuLevel level);

/// One row of softmax (docs/isa.md) whose first `valid` of `n` columns are
/// valid (the others, and the lanes past n, become +0; valid == 0: all
/// +0): the largest valid value, isaExp of the differences, their lane sums
/// and treeSum16, the reciprocal and the products, as the golden model
/// computes them. `scratch`: n + 16 floats. Y may be X. False when `level`
/// has no vector kernel.
bool softmaxRow(const uint8_t *x, uint64_t xStride, uint8_t *y, uint64_t yStride, uint64_t n,
                uint64_t valid, float *scratch, CpuLevel level);

} // namespace edgellm::kernels

#endif // EDGELLM_RUNTIME_KERNELS_ELEMENTWISE_H
