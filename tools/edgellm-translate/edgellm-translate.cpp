//===- edgellm-translate.cpp - Translations in and out of MLIR -------------===//
//
//   --eisa-to-binary   eisa.program -> binary instruction stream
//   --binary-to-eisa   binary instruction stream -> eisa.program
//
//===----------------------------------------------------------------------===//

#include "compiler/target/StreamEmitter.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  edgellm::target::registerEisaTranslations();
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "EdgeLLM translation driver\n"));
}
