//===- WeightAccess.h - Reading a weight operand's bytes --------*- C++ -*-===//

#ifndef EDGELLM_COMPILER_CONVERSION_WEIGHTACCESS_H
#define EDGELLM_COMPILER_CONVERSION_WEIGHTACCESS_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/ArrayRef.h"

#include <string>

namespace edgellm::conversion {

/// A read-only mapping of a whole file, kept for the life of the process
/// (IR blobs and JIT'd code point into it). Null data on failure.
llvm::ArrayRef<char> mapWeightFile(const std::string &path, std::string &error);

/// The raw little-endian bytes of a weight: an onnx.ExternalData (mapped from
/// its file, relative to the module's onnx.model_dir) or an onnx.Constant
/// (dense or dense_resource). Fails with `error` for anything else.
bool weightBytes(mlir::Value weight, llvm::ArrayRef<char> &bytes, std::string &error);

} // namespace edgellm::conversion

#endif // EDGELLM_COMPILER_CONVERSION_WEIGHTACCESS_H
