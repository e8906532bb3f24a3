//===- edgellm-opt.cpp - The EdgeLLM MLIR driver ---------------------------===//
//
// MlirOptMain with the EdgeLLM dialects and passes and the upstream dialects
// the project uses.
//
//===----------------------------------------------------------------------===//

#include "dialects/eisa/EisaDialect.h"
#include "compiler/target/StreamEmitter.h"
#include "compiler/conversion/Passes.h"
#include "compiler/transforms/Passes.h"
#include "dialects/onnx/OnnxDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<edgellm::eisa::EisaDialect, edgellm::elm::ElmDialect,
                  edgellm::onnx::OnnxDialect,
                  mlir::arith::ArithDialect,
                  mlir::func::FuncDialect, mlir::memref::MemRefDialect,
                  mlir::scf::SCFDialect, mlir::tensor::TensorDialect>();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  edgellm::target::registerTargetPasses();
  edgellm::transforms::registerTransformsPasses();
  edgellm::conversion::registerConversionPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "EdgeLLM optimizer driver\n", registry));
}
