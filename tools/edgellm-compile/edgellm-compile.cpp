//===- edgellm-compile.cpp - Model -> IR / package -------------------------===//
//
// edgellm-compile MODEL.onnx [--emit=onnx|elm] [-o FILE] [--op-stats] [--no-fold]
// edgellm-compile MODEL.onnx --emit=elm [--target=vcu128] [--placement=F.json] [--report=F.json]
// edgellm-compile MODEL.onnx --target=cpu -o MODEL.so
// edgellm-compile MODEL.onnx --target=vcu128 -o MODEL.elpkg [--quant=int4|none]
//     [--sparsity=0|0.5|0.75|0.875] [--report=F.json] [--emit=eisa|package]
//
// Imports an ONNX model (with its external data checked, not read), folds
// its shape arithmetic and prints the onnx-dialect IR. Later stages (elm,
// eisa, package) join as the compiler grows. Errors name the file and the
// ONNX node at fault; the exit code is non-zero and no output file is left.
//
//===----------------------------------------------------------------------===//

#include "compiler/conversion/ElmToEisa.h"
#include "compiler/frontend/OnnxImporter.h"
#include "compiler/pipeline/CpuPipeline.h"
#include "compiler/pipeline/CompileReport.h"
#include "compiler/pipeline/PackageWriter.h"
#include "compiler/target/StreamEmitter.h"
#include "dialects/eisa/EisaDialect.h"
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
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
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
enum class Emit { Onnx, Elm, Eisa, Package };
static cl::opt<Emit> emit("emit", cl::desc("What to produce (without --target)"),
                          cl::values(clEnumValN(Emit::Onnx, "onnx",
                                                "the onnx-dialect IR"),
                                     clEnumValN(Emit::Elm, "elm",
                                                "the IR after raising to elm (with a report)"),
                                     clEnumValN(Emit::Eisa, "eisa",
                                                "the prefill and decode programs (eisa IR)"),
                                     clEnumValN(Emit::Package, "package",
                                                "the deployable package (default with a "
                                                "hardware --target)")),
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
static cl::opt<std::string> quant("quant", cl::desc("Weights: int4 (INT4 g128, default) or none (FP16)"),
                                  cl::init("int4"), cl::cat(category));
static cl::opt<double> sparsity("sparsity",
                                cl::desc("Log-scale structured sparsity with int4: 0, 0.5, 0.75, 0.875"),
                                cl::init(0.0), cl::cat(category));
static cl::opt<unsigned> prefillTokens("prefill-tokens",
                                       cl::desc("Token capacity of the prefill program (0: largest that fits)"),
                                       cl::init(0), cl::cat(category));
static cl::opt<unsigned> maxContext("max-context",
                                    cl::desc("KV-cache capacity in tokens (0: the model's, as KBUF allows)"),
                                    cl::init(0), cl::cat(category));
static cl::opt<std::string> tokenizerPath(
    "tokenizer", cl::desc("SentencePiece model to bundle (default: tokenizer.model beside the "
                          "model or in ../tokenizer/)"),
    cl::init(""), cl::cat(category));
static cl::opt<bool> quiet("quiet", cl::desc("No progress lines or report on stderr"),
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
    bool hardware = target != "cpu" && (emit != Emit::Onnx || !target.empty());
    if (hardware && emit == Emit::Onnx && emit.getNumOccurrences() == 0)
      emit = Emit::Package;
    if (emit != Emit::Onnx && target != "cpu") {
      edgellm::transforms::RaiseOnnxToElmOptions opts;
      opts.report = emit == Emit::Elm;
      pm.addNestedPass<func::FuncOp>(edgellm::transforms::createRaiseOnnxToElm(opts));
      if (emit != Emit::Elm || quant.getNumOccurrences() || sparsity.getNumOccurrences()) {
        edgellm::transforms::ElmQuantizeOptions q;
        q.quant = quant;
        q.sparsity = sparsity;
        pm.addNestedPass<func::FuncOp>(edgellm::transforms::createElmQuantize(q));
      }
      edgellm::transforms::ElmPlaceOptions place;
      place.target = target.empty() ? "vcu128" : target.getValue();
      place.overrides = placementFile;
      place.report = emit == Emit::Elm ? reportFile.getValue() : std::string();
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
  if (emit == Emit::Eisa || emit == Emit::Package) {
    auto tgt = edgellm::hw::loadTargetByName(target.empty() ? "vcu128" : target.getValue(), error);
    if (!tgt) {
      errs() << "edgellm-compile: error: " << error << "\n";
      return 2;
    }
    auto funcs = module->getOps<func::FuncOp>();
    edgellm::conversion::LoweringOptions lo;
    lo.prefillTokens = prefillTokens;
    lo.maxContext = maxContext;
    if (!quiet)
      lo.progress = [](const std::string &prog, int layer, int layers) {
        errs() << "edgellm-compile: lowering " << prog << ": layer " << layer + 1 << "/"
               << layers << "\n";
      };
    auto plan = edgellm::conversion::lowerToDevice(*funcs.begin(), *tgt, lo);
    if (failed(plan))
      return 1;
    edgellm::pipeline::CompileReport report = edgellm::pipeline::buildReport(*plan, *tgt);
    auto writeReport = [&]() -> bool {
      if (reportFile.empty())
        return true;
      std::string err;
      auto rf = openOutputFile(reportFile, &err);
      if (!rf) {
        errs() << "edgellm-compile: error: " << err << "\n";
        return false;
      }
      rf->os() << report.json << "\n";
      rf->keep();
      return true;
    };
    if (emit == Emit::Eisa) {
      if (!writeReport())
        return 1;
      if (!quiet)
        errs() << report.text;
      ctx.loadDialect<edgellm::eisa::EisaDialect>();
      OpBuilder b(&ctx);
      OwningOpRef<ModuleOp> progs = ModuleOp::create(UnknownLoc::get(&ctx));
      b.setInsertionPointToEnd(progs->getBody());
      for (const auto &p : plan->programs) {
        auto op = edgellm::target::appendProgram(b, progs->getLoc(), p.name, p.instructions);
        op->setAttr("token_capacity", b.getI64IntegerAttr(p.tokenCapacity));
        op->setAttr("max_context", b.getI64IntegerAttr(plan->maxContext));
      }
      auto out = openOutputFile(outputPath, &error);
      if (!out) {
        errs() << "edgellm-compile: error: " << error << "\n";
        return 1;
      }
      progs->print(out->os());
      out->os() << "\n";
      out->keep();
      return 0;
    }
    if (outputPath == "-") {
      errs() << "edgellm-compile: error: a package is a file: give -o MODEL.elpkg\n";
      return 2;
    }
    edgellm::pipeline::PackageInputs in;
    in.modelPath = inputPath;
    in.tokenizerPath = tokenizerPath;
    if (in.tokenizerPath.empty()) {
      SmallString<256> dir(inputPath.getValue());
      llvm::sys::path::remove_filename(dir);
      for (const char *rel : {"tokenizer.model", "../tokenizer/tokenizer.model"}) {
        SmallString<256> p(dir);
        llvm::sys::path::append(p, rel);
        if (llvm::sys::fs::exists(p)) {
          in.tokenizerPath = std::string(p);
          break;
        }
      }
    }
    in.reportJson = report.json;
    int lastTenth = -1;
    if (!quiet)
      in.progress = [&](uint64_t done, uint64_t total) {
        int tenth = total ? int(done * 10 / total) : 10;
        if (tenth != lastTenth) {
          lastTenth = tenth;
          errs() << "edgellm-compile: packing weights: " << tenth * 10 << "% ("
                 << format("%.2f", done / 1e9) << " / " << format("%.2f", total / 1e9)
                 << " GB of source)\n";
        }
      };
    edgellm::pipeline::PackageStats pstats;
    if (!edgellm::pipeline::writePackage(*plan, *tgt, in, outputPath, error, &pstats)) {
      errs() << "edgellm-compile: error: " << outputPath << ": " << error << "\n";
      return 1;
    }
    if (!writeReport())
      return 1;
    if (!quiet) {
      errs() << report.text;
      errs() << "package: " << outputPath << ", " << format("%.1f", pstats.fileBytes / 1048576.0)
             << " MiB; HBM weights " << format("%.1f", pstats.hbmWeightBytes / 1048576.0)
             << " MiB for " << pstats.packedLinearWeights << " linear weights = "
             << format("%.4f", pstats.bitsPerWeight) << " bits/weight\n";
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
