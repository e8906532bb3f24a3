//===- EisaStream.h - eisa programs <-> binary instruction streams -*- C++ -*-===//

#ifndef EDGELLM_DIALECTS_EISA_EISASTREAM_H
#define EDGELLM_DIALECTS_EISA_EISASTREAM_H

#include "dialects/eisa/EisaDialect.h"

#include "mlir/Pass/Pass.h"

#include <memory>
#include <vector>

namespace edgellm::eisa {

/// Encodes the instructions of a program, in order.
mlir::FailureOr<std::vector<isa::Instruction>> encodeProgram(ProgramOp program);

/// Finds the program named `name`, or the only program when `name` is empty.
mlir::FailureOr<ProgramOp> findProgram(mlir::ModuleOp module, llvm::StringRef name);

/// Builds `module { eisa.program @name { ... } }` from decoded instructions.
mlir::OwningOpRef<mlir::ModuleOp>
buildModule(mlir::MLIRContext *ctx, llvm::StringRef name,
            const std::vector<isa::Instruction> &program);

/// Registers eisa-to-binary and binary-to-eisa with mlir-translate drivers.
void registerEisaTranslations();

#define GEN_PASS_DECL
#include "dialects/eisa/EisaPasses.h.inc"

#define GEN_PASS_REGISTRATION
#include "dialects/eisa/EisaPasses.h.inc"

} // namespace edgellm::eisa

#endif // EDGELLM_DIALECTS_EISA_EISASTREAM_H
