//===- OnnxDialect.h - The onnx dialect -------------------------*- C++ -*-===//

#ifndef EDGELLM_DIALECTS_ONNX_ONNXDIALECT_H
#define EDGELLM_DIALECTS_ONNX_ONNXDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/onnx/OnnxOpsDialect.h.inc"

#define GET_OP_CLASSES
#include "dialects/onnx/OnnxOps.h.inc"

namespace edgellm::onnx {

/// The ONNX node an op came from (the importer's NameLoc), or "" when the op
/// has none (ops created by passes).
std::string nodeName(mlir::Operation *op);

/// ONNX TensorProto data type numbers.
enum class DataType : int64_t {
  Undefined = 0, Float = 1, Uint8 = 2, Int8 = 3, Uint16 = 4, Int16 = 5,
  Int32 = 6, Int64 = 7, String = 8, Bool = 9, Float16 = 10, Double = 11,
  Uint32 = 12, Uint64 = 13, Complex64 = 14, Complex128 = 15, BFloat16 = 16,
};

/// The MLIR element type of an ONNX data type, or null if not supported
/// (string, complex, and the float8 types).
mlir::Type elementTypeOf(mlir::MLIRContext *ctx, int64_t onnxType);
/// The ONNX data type of an MLIR element type (Undefined if none).
int64_t onnxTypeOf(mlir::Type elementType);
/// Name of an ONNX data type for messages ("FLOAT", "STRING", ...).
const char *dataTypeName(int64_t onnxType);

/// The integer values of a constant 1-D (or scalar) integer tensor, if the
/// value is produced by a constant.
std::optional<llvm::SmallVector<int64_t>> getConstantInts(mlir::Value v);

} // namespace edgellm::onnx

#endif // EDGELLM_DIALECTS_ONNX_ONNXDIALECT_H
