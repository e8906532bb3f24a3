//===- Elementwise.h - Fast element-wise instructions -----------*- C++ -*-===//
//
// The simulator's vector kernels for `eltwise` (add, mul) and `silu_mul`
// (docs/isa.md, docs/simulator.md): one row of unified-layout operands (16
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

} // namespace edgellm::kernels

#endif // EDGELLM_RUNTIME_KERNELS_ELEMENTWISE_H
