//===- CpuPipeline.h - The CPU path: onnx -> LLVM, JIT and run ---*- C++ -*-===//

#ifndef EDGELLM_COMPILER_PIPELINE_CPUPIPELINE_H
#define EDGELLM_COMPILER_PIPELINE_CPUPIPELINE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

#include <memory>
#include <string>
#include <vector>

namespace edgellm::pipeline {

/// Registers what the CPU pipeline needs (dialects, bufferization models,
/// LLVM IR translation).
void registerCpuPipelineDialects(mlir::DialectRegistry &registry);

/// Adds onnx (folded) -> materialised weights -> linalg -> bufferized ->
/// loops -> LLVM dialect.
void buildCpuPipeline(mlir::OpPassManager &pm);

/// A host tensor: element type as an ONNX data type number, shape, bytes.
struct HostTensor {
  int64_t onnxType = 0;
  std::vector<int64_t> shape;
  std::vector<char> data;
  size_t elementBytes() const;
  int64_t numElements() const;
};

/// A function of the module compiled by the ORC JIT.
class CompiledFunction {
public:
  ~CompiledFunction();
  /// Runs it: inputs in argument order; outputs come back in result order.
  bool run(const std::vector<HostTensor> &inputs, std::vector<HostTensor> &outputs,
           std::string &error);
  /// The graph's input and output names, in order.
  std::vector<std::string> inputNames, outputNames;
  struct Impl;
  std::unique_ptr<Impl> impl;
};

/// Lowers `module` (onnx dialect, function `name`) to LLVM and JIT-compiles
/// it. On failure emits diagnostics and returns null. `applyCLOptions` applies
/// the MLIR pass-manager command-line options (--mlir-print-ir-...), for tools
/// that registered them.
std::unique_ptr<CompiledFunction> compileForCpu(mlir::ModuleOp module,
                                                const std::string &name = "main",
                                                bool applyCLOptions = false);

/// Compiles `module` (onnx dialect, function `name`) ahead of time into a
/// shared library at `path` with the C ABI of docs/frontend.md:
///   void edgellm_<name>(void **args)          packed entry point
///   const char edgellm_<name>_signature[]     JSON: inputs and outputs
/// (names, ONNX data types, sizes with -1 for dynamic ones). Nothing is left
/// at `path` on failure.
bool compileCpuSharedLibrary(mlir::ModuleOp module, const std::string &path,
                             std::string &error, const std::string &name = "main");

/// Loads a library written by compileCpuSharedLibrary.
std::unique_ptr<CompiledFunction> loadCpuSharedLibrary(const std::string &path,
                                                       std::string &error,
                                                       const std::string &name = "main");

} // namespace edgellm::pipeline

#endif // EDGELLM_COMPILER_PIPELINE_CPUPIPELINE_H
