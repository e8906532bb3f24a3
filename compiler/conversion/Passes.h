//===- Passes.h - EdgeLLM conversions ---------------------------*- C++ -*-===//

#ifndef EDGELLM_COMPILER_CONVERSION_PASSES_H
#define EDGELLM_COMPILER_CONVERSION_PASSES_H

#include "dialects/onnx/OnnxDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
namespace arith { class ArithDialect; }
namespace linalg { class LinalgDialect; }
namespace math { class MathDialect; }
namespace tensor { class TensorDialect; }
} // namespace mlir

namespace edgellm::conversion {

#define GEN_PASS_DECL
#include "compiler/conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/conversion/Passes.h.inc"

} // namespace edgellm::conversion

#endif // EDGELLM_COMPILER_CONVERSION_PASSES_H
