//===- EmitStreamPass.cpp - Writes an eisa program as a binary stream ------===//

#include "compiler/target/StreamEmitter.h"
#include "edgellm/hw/IsaStream.h"

#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/ToolOutputFile.h"

namespace edgellm::target {
#define GEN_PASS_DEF_EISAEMITSTREAM
#include "compiler/target/Passes.h.inc"
} // namespace edgellm::target

using namespace mlir;
using namespace edgellm;
using namespace edgellm::eisa;
using namespace edgellm::target;

namespace {
struct EisaEmitStreamPass
    : public target::impl::EisaEmitStreamBase<EisaEmitStreamPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (output.empty()) {
      module.emitError("edgellm-eisa-emit-stream needs output=<file>");
      return signalPassFailure();
    }
    FailureOr<ProgramOp> prog = findProgram(module, program);
    if (failed(prog))
      return signalPassFailure();
    FailureOr<std::vector<isa::Instruction>> insts = encodeProgram(*prog);
    if (failed(insts))
      return signalPassFailure();
    std::vector<uint8_t> bytes;
    std::string error;
    if (!isa::writeStream(*insts, bytes, error)) {
      prog->emitError() << error;
      return signalPassFailure();
    }
    auto file = openOutputFile(output, &error);
    if (!file) {
      module.emitError() << error;
      return signalPassFailure();
    }
    file->os().write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    file->keep();
  }
};
} // namespace
