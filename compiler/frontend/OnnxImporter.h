//===- OnnxImporter.h - ONNX model -> func + onnx dialect -------*- C++ -*-===//

#ifndef EDGELLM_COMPILER_FRONTEND_ONNXIMPORTER_H
#define EDGELLM_COMPILER_FRONTEND_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>

namespace edgellm::frontend {

struct ImportOptions {
  /// Initializers stored inside the .onnx file with more elements than this
  /// become dense_resource blobs instead of dense attributes.
  int64_t inlineElementLimit = 256;
  /// Name of the function holding the graph.
  std::string functionName = "main";
};

/// Imports the model at `path` into a new module: one `func.func` whose
/// arguments are the graph inputs and whose results are the graph outputs,
/// one onnx op per node, the node name as the op's location
/// (NameLoc(node name, FileLineColLoc(path, node index + 1, 0))).
/// Initializers in external data files become onnx.ExternalData references
/// after the location, offset and length are checked against the file; the
/// data is not read. On failure, emits diagnostics (naming the file and the
/// node at fault) and returns null.
mlir::OwningOpRef<mlir::ModuleOp> importOnnxModel(mlir::MLIRContext *ctx,
                                                  const std::string &path,
                                                  const ImportOptions &options = {});

} // namespace edgellm::frontend

#endif // EDGELLM_COMPILER_FRONTEND_ONNXIMPORTER_H
