//===- edgellm-compile.cpp - Model -> IR / package -------------------------===//
//
// edgellm-compile MODEL.onnx [--emit=onnx|elm] [-o FILE] [--op-stats] [--no-fold]
// edgellm-compile MODEL.onnx --emit=elm [--target=vcu128] [--placement=F.json] [--report=F.json]
// edgellm-compile MODEL.onnx --target=cpu -o MODEL.so
//
// Imports an ONNX model (with its external data checked, not read), folds
// its shape arithmetic and prints the onnx-dialect IR. Later stages (elm,
// eisa, package) join as the compiler grows. Errors name the file and the
// ONNX node at fault; the exit code is non-zero and no output file is left.
//
//===----------------------------------------------------------------------===//

#include "compiler/frontend/OnnxImporter.h"
#include "compiler/pipeline/CpuPipeline.h"
#include "compiler/transforms/Passes.h"
#include "dialects/onnx/OnnxDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <sys/resource.h>

using namespace mlir;
using namespace llvm;

static cl::OptionCategory category("edgellm-compile options");
static cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model.onnx>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string> outputPath("o", cl::desc("Output file (default: stdout)"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::cat(category));
enum class Emit { Onnx, Elm };
static cl::opt<Emit> emit("emit", cl::desc("What to produce (without --target)"),
                          cl::values(clEnumValN(Emit::Onnx, "onnx",
                                                "the onnx-dialect IR"),
                                     clEnumValN(Emit::Elm, "elm",
                                                "the IR after raising to elm (with a report)")),
                          cl::init(Emit::Onnx), cl::cat(category));
static cl::opt<std::string> target(
    "target",
    cl::desc("cpu: the whole model for the host CPU, as a shared library (-o FILE.so); "
             "otherwise a hardware target (hw/targets/<name>.json or a path) used for "
             "placement with --emit=elm (default vcu128)"),
    cl::init(""), cl::cat(category));
static cl::opt<std::string> placementFile(
    "placement", cl::desc("JSON placement overrides (by_kind / by_name) for --emit=elm"),
    cl::value_desc("file.json"), cl::init(""), cl::cat(category));
static cl::opt<std::string> reportFile("report",
                                       cl::desc("Write the placement report (JSON) here"),
                                       cl::value_desc("file.json"), cl::init(""),
                                       cl::cat(category));
static cl::opt<bool> stats("op-stats", cl::desc("Print op statistics before and after folding"),
                           cl::cat(category));
static cl::opt<bool> noFold("no-fold", cl::desc("Print the IR exactly as imported"),
                            cl::cat(category));
static cl::opt<bool> fullWeights("print-weights",
                                 cl::desc("Print embedded weights in full"),
                                 cl::cat(category));

/// "FILE: node 'NAME': message" for diagnostics located at an ONNX node.
static std::string describeLocation(Location loc) {
  std::string file, node;
  loc->walk([&](Location l) {
    if (auto n = dyn_cast<NameLoc>(l)) {
      if (node.empty())
        node = n.getName().str();
      if (auto f = dyn_cast<FileLineColLoc>(n.getChildLoc()); f && f.getLine() == 0)
        node.clear(); // an initializer: its message names it
    }
    if (auto f = dyn_cast<FileLineColLoc>(l))
      if (file.empty())
        file = f.getFilename().str();
    return WalkResult::advance();
  });
  std::string out = file.empty() ? inputPath.getValue() : file;
  if (!node.empty())
    out += ": node '" + node + "'";
  return out;
}

static void printStats(ModuleOp module, StringRef when) {
  MapVector<StringRef, unsigned> counts;
  unsigned total = 0;
  module.walk([&](Operation *op) {
    if (isa<ModuleOp, func::FuncOp, func::ReturnOp>(op))
      return;
    ++counts[op->getName().getStringRef()];
    ++total;
  });
  SmallVector<std::pair<StringRef, unsigned>> sorted(counts.begin(), counts.end());
  llvm::sort(sorted, [](auto &a, auto &b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  errs() << "op statistics (" << when << "): " << total << " ops\n";
  for (auto &[name, n] : sorted)
    errs() << "  " << format("%-28s", name.str().c_str()) << n << "\n";
}

static double peakRssMiB() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "EdgeLLM model compiler\n");

  MLIRContext ctx;
  ctx.printOpOnDiagnostic(false);
  ScopedDiagnosticHandler handler(&ctx, [](Diagnostic &d) {
    const char *kind = d.getSeverity() == DiagnosticSeverity::Error     ? "error"
                       : d.getSeverity() == DiagnosticSeverity::Warning ? "warning"
                       : d.getSeverity() == DiagnosticSeverity::Remark  ? "remark"
                                                                        : "note";
    errs() << "edgellm-compile: " << kind << ": " << describeLocation(d.getLocation())
           << ": " << d.str() << "\n";
    return success();
  });

  OwningOpRef<ModuleOp> module = edgellm::frontend::importOnnxModel(&ctx, inputPath);
  if (!module)
    return 1;
  if (stats)
    printStats(*module, "imported");
  if (!noFold) {
    PassManager pm(&ctx);
    edgellm::transforms::buildOnnxFoldPipeline(pm);
    if (emit == Emit::Elm && target != "cpu") {
      edgellm::transforms::RaiseOnnxToElmOptions opts;
      opts.report = true;
      pm.addNestedPass<func::FuncOp>(edgellm::transforms::createRaiseOnnxToElm(opts));
      edgellm::transforms::ElmPlaceOptions place;
      place.target = target.empty() ? "vcu128" : target.getValue();
      place.overrides = placementFile;
      place.report = reportFile;
      pm.addPass(edgellm::transforms::createElmPlace(place));
    }
    if (failed(pm.run(*module)))
      return 1;
    if (stats)
      printStats(*module, "after folding");
  }

  std::string error;
  if (target == "cpu") {
    if (outputPath == "-") {
      errs() << "edgellm-compile: error: --target=cpu writes a shared library: give -o FILE.so\n";
      return 2;
    }
    DialectRegistry registry;
    edgellm::pipeline::registerCpuPipelineDialects(registry);
    ctx.appendDialectRegistry(registry);
    if (!edgellm::pipeline::compileCpuSharedLibrary(*module, outputPath, error)) {
      errs() << "edgellm-compile: error: " << inputPath << ": " << error << "\n";
      return 1;
    }
    if (stats)
      errs() << "peak RSS " << format("%.1f", peakRssMiB()) << " MiB\n";
    return 0;
  }
  auto out = openOutputFile(outputPath, &error);
  if (!out) {
    errs() << "edgellm-compile: error: " << error << "\n";
    return 1;
  }
  OpPrintingFlags flags;
  if (!fullWeights)
    flags.elideLargeResourceString(64);
  module->print(out->os(), flags);
  out->os() << "\n";
  out->keep();
  if (stats)
    errs() << "peak RSS " << format("%.1f", peakRssMiB()) << " MiB\n";
  return 0;
}
