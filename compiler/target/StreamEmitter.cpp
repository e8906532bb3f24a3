//===- StreamEmitter.cpp - eisa programs <-> binary instruction streams ---===//

#include "compiler/target/StreamEmitter.h"
#include "edgellm/hw/IsaStream.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace edgellm;
using namespace edgellm::eisa;
using namespace edgellm::target;

FailureOr<std::vector<isa::Instruction>> target::encodeProgram(ProgramOp program) {
  std::vector<isa::Instruction> out;
  for (Operation &op : program.getBodyBlock()) {
    FailureOr<isa::Instruction> inst = toInstruction(&op);
    if (failed(inst))
      return failure();
    out.push_back(*inst);
  }
  return out;
}

FailureOr<ProgramOp> target::findProgram(ModuleOp module, StringRef name) {
  ProgramOp found;
  unsigned count = 0;
  for (auto p : module.getOps<ProgramOp>()) {
    ++count;
    if (name.empty() || p.getSymName() == name)
      found = found ? found : p;
  }
  if (!found)
    return module.emitError() << (name.empty() ? std::string("no eisa.program in the module")
                                               : "no eisa.program named '" + name.str() + "'"),
           failure();
  if (name.empty() && count > 1)
    return module.emitError("several eisa.program ops: select one by name"), failure();
  return found;
}

OwningOpRef<ModuleOp> target::buildModule(MLIRContext *ctx, StringRef name,
                                        const std::vector<isa::Instruction> &program) {
  ctx->loadDialect<EisaDialect>();
  Location loc = UnknownLoc::get(ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module->getBody());
  appendProgram(b, loc, name, program);
  return module;
}

ProgramOp target::appendProgram(OpBuilder &b, Location loc, StringRef name,
                                const std::vector<isa::Instruction> &program) {
  OpBuilder::InsertionGuard guard(b);
  auto prog = ProgramOp::create(b, loc, name);
  b.setInsertionPointToEnd(&prog.getBodyBlock());
  for (const isa::Instruction &inst : program)
    createInstruction(b, loc, inst);
  return prog;
}

static LogicalResult writeBytes(ModuleOp module, StringRef programName,
                                llvm::raw_ostream &os) {
  FailureOr<ProgramOp> prog = findProgram(module, programName);
  if (failed(prog))
    return failure();
  FailureOr<std::vector<isa::Instruction>> insts = encodeProgram(*prog);
  if (failed(insts))
    return failure();
  std::vector<uint8_t> bytes;
  std::string error;
  if (!isa::writeStream(*insts, bytes, error))
    return prog->emitError() << error;
  os.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  return success();
}

static llvm::cl::opt<std::string>
    eisaProgramName("eisa-program",
                    llvm::cl::desc("eisa-to-binary: the eisa.program to encode "
                                   "(default: the only one)"),
                    llvm::cl::init(""));

void target::registerEisaTranslations() {
  static TranslateFromMLIRRegistration toBinary(
      "eisa-to-binary", "encode the module's eisa.program as a binary stream",
      [](Operation *op, llvm::raw_ostream &os) -> LogicalResult {
        auto module = dyn_cast<ModuleOp>(op);
        if (!module)
          return op->emitError("expected a builtin.module");
        return writeBytes(module, eisaProgramName, os);
      },
      [](DialectRegistry &registry) { registry.insert<EisaDialect>(); });

  static TranslateToMLIRRegistration fromBinary(
      "binary-to-eisa", "decode a binary stream into an eisa.program",
      [](llvm::SourceMgr &sourceMgr, MLIRContext *ctx) -> OwningOpRef<Operation *> {
        const llvm::MemoryBuffer *buf =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        std::vector<isa::Instruction> program;
        std::string error;
        if (!isa::readStream(reinterpret_cast<const uint8_t *>(buf->getBufferStart()),
                             buf->getBufferSize(), program, error)) {
          emitError(UnknownLoc::get(ctx))
              << buf->getBufferIdentifier() << ": " << error;
          return nullptr;
        }
        return buildModule(ctx, "stream", program).release().getOperation();
      },
      [](DialectRegistry &registry) { registry.insert<EisaDialect>(); });
}
