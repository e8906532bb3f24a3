//===- ElmToEisa.h - Lowering a placed elm function to the device -*- C++ -*-===//

#ifndef EDGELLM_COMPILER_CONVERSION_ELMTOEISA_H
#define EDGELLM_COMPILER_CONVERSION_ELMTOEISA_H

#include "compiler/target/DevicePlan.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"

#include <functional>

namespace edgellm::conversion {

struct LoweringOptions {
  uint32_t prefillTokens = 0; ///< prefill program capacity; 0: the largest that fits (<= 128)
  uint32_t maxContext = 0;    ///< KV-cache tokens; 0: the model's positions, as far as KBUF allows
  /// Called once per layer as its instructions are generated (progress lines).
  std::function<void(const std::string &program, int layer, int layers)> progress;
};

/// Lays the FPGA part of a raised, quantised and placed function out on the
/// target and generates its prefill and decode programs (docs/lowering.md).
/// Errors are emitted on the op at fault.
mlir::FailureOr<target::DevicePlan> lowerToDevice(mlir::func::FuncOp func,
                                                  const hw::TargetDesc &target,
                                                  const LoweringOptions &options);

} // namespace edgellm::conversion

#endif // EDGELLM_COMPILER_CONVERSION_ELMTOEISA_H
