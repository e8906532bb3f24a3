//===- EisaDialect.h - The eisa dialect -------------------------*- C++ -*-===//

#ifndef EDGELLM_DIALECTS_EISA_EISADIALECT_H
#define EDGELLM_DIALECTS_EISA_EISADIALECT_H

#include "edgellm/hw/Isa.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"

#include "dialects/eisa/EisaOpsDialect.h.inc"

#define GET_OP_CLASSES
#include "dialects/eisa/EisaOps.h.inc"

namespace edgellm::eisa {

/// The ISA table entry of an eisa instruction op, or nullptr for other ops.
const isa::InstrSpec *getInstrSpec(mlir::Operation *op);

/// The instruction an op stands for; fails (with a diagnostic on the op) if
/// it is not a valid instruction.
mlir::FailureOr<isa::Instruction> toInstruction(mlir::Operation *op);

/// Creates the op for an instruction at the builder's insertion point.
mlir::Operation *createInstruction(mlir::OpBuilder &b, mlir::Location loc,
                                   const isa::Instruction &inst);

} // namespace edgellm::eisa

#endif // EDGELLM_DIALECTS_EISA_EISADIALECT_H
