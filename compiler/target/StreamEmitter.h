//===- StreamEmitter.h - eisa programs <-> binary instruction streams -*- C++ -*-===//
//
// The compiler's ISA emitter: encodes eisa programs through the one ISA
// definition (hw/include/edgellm/hw/Isa.def) and decodes streams back.
//

#ifndef EDGELLM_COMPILER_TARGET_STREAMEMITTER_H
#define EDGELLM_COMPILER_TARGET_STREAMEMITTER_H

#include "dialects/eisa/EisaDialect.h"

#include "mlir/Pass/Pass.h"

#include <memory>
#include <vector>

namespace edgellm::target {

/// Encodes the instructions of a program, in order.
mlir::FailureOr<std::vector<isa::Instruction>> encodeProgram(eisa::ProgramOp program);

/// Finds the program named `name`, or the only program when `name` is empty.
mlir::FailureOr<eisa::ProgramOp> findProgram(mlir::ModuleOp module, llvm::StringRef name);

/// Builds `module { eisa.program @name { ... } }` from decoded instructions.
mlir::OwningOpRef<mlir::ModuleOp>
buildModule(mlir::MLIRContext *ctx, llvm::StringRef name,
            const std::vector<isa::Instruction> &program);

/// Creates `eisa.program @name { ... }` at the builder's insertion point.
eisa::ProgramOp appendProgram(mlir::OpBuilder &b, mlir::Location loc, llvm::StringRef name,
                              const std::vector<isa::Instruction> &program);

/// Registers eisa-to-binary and binary-to-eisa with mlir-translate drivers.
void registerEisaTranslations();

#define GEN_PASS_DECL
#include "compiler/target/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/target/Passes.h.inc"

} // namespace edgellm::target

#endif // EDGELLM_COMPILER_TARGET_STREAMEMITTER_H
