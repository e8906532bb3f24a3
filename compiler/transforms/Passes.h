//===- Passes.h - EdgeLLM compiler transforms -------------------*- C++ -*-===//

#ifndef EDGELLM_COMPILER_TRANSFORMS_PASSES_H
#define EDGELLM_COMPILER_TRANSFORMS_PASSES_H

#include "dialects/elm/ElmDialect.h"
#include "dialects/onnx/OnnxDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace edgellm::transforms {

#define GEN_PASS_DECL
#include "compiler/transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/transforms/Passes.h.inc"

/// The folding after import: canonicalize, then twice shape simplification,
/// canonicalize and CSE (the second round sees what the first exposed).
void buildOnnxFoldPipeline(mlir::OpPassManager &pm);

} // namespace edgellm::transforms

#endif // EDGELLM_COMPILER_TRANSFORMS_PASSES_H
