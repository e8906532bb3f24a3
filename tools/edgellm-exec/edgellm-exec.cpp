//===- edgellm-exec.cpp - Runs an ONNX model on the CPU path ---------------===//
//
// edgellm-exec MODEL.onnx|MODEL.so -i NAME=FILE ... [-d OUTDIR] [--time]
//
// Imports the model, folds its shape arithmetic, lowers it through linalg to
// LLVM, JIT-compiles it and runs it on the given inputs (.npy or ONNX
// TensorProto .pb files, by graph input name); or loads a shared library that
// `edgellm-compile --target=cpu` wrote and runs that. Each output is written
// to OUTDIR/<output name>.npy. This is the CPU path the tests compare with
// the ONNX reference.
//
//===----------------------------------------------------------------------===//

#include "compiler/conversion/Passes.h"
#include "compiler/frontend/OnnxImporter.h"
#include "compiler/pipeline/CpuPipeline.h"
#include "compiler/pipeline/TensorIO.h"
#include "compiler/transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <filesystem>

using namespace mlir;
using namespace llvm;
namespace pl = edgellm::pipeline;

static cl::OptionCategory category("edgellm-exec options");
static cl::opt<std::string> modelPath(cl::Positional, cl::desc("<model.onnx>"), cl::Required,
                                      cl::cat(category));
static cl::list<std::string> inputs("i", cl::desc("Graph input: NAME=FILE (.npy or .pb)"),
                                    cl::value_desc("name=file"), cl::cat(category));
static cl::opt<std::string> outDir("d", cl::desc("Folder for the outputs (NAME.npy)"),
                                   cl::init("."), cl::cat(category));
static cl::opt<bool> timing("time", cl::desc("Print compile and run times"), cl::cat(category));
static cl::opt<bool> raise("raise",
                           cl::desc("Raise to elm and run the elm ops' CPU fallback "
                                    "(checks raising end to end)"),
                           cl::cat(category));
static cl::opt<std::string> quant("quant",
                                  cl::desc("With --raise: int4 or none (FP16) weights, "
                                           "simulated on the CPU (default: FP32 as exported)"),
                                  cl::init(""), cl::cat(category));
static cl::opt<double> sparsity("sparsity",
                                cl::desc("With --quant=int4: 0, 0.5, 0.75 or 0.875"),
                                cl::init(0.0), cl::cat(category));

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  cl::ParseCommandLineOptions(argc, argv, "Runs an ONNX model on the EdgeLLM CPU path\n");
  auto t0 = std::chrono::steady_clock::now();

  MLIRContext ctx;
  ctx.printOpOnDiagnostic(true);
  DialectRegistry registry;
  pl::registerCpuPipelineDialects(registry);
  ctx.appendDialectRegistry(registry);
  std::unique_ptr<pl::CompiledFunction> compiled;
  StringRef path = modelPath.getValue();
  if (path.ends_with(".so")) {
    std::string error;
    compiled = pl::loadCpuSharedLibrary(path.str(), error);
    if (!compiled) {
      errs() << "edgellm-exec: error: " << error << "\n";
      return 1;
    }
  } else {
    OwningOpRef<ModuleOp> module = edgellm::frontend::importOnnxModel(&ctx, modelPath);
    if (!module)
      return 1;
    PassManager pm(&ctx);
    edgellm::transforms::buildOnnxFoldPipeline(pm);
    if (!quant.empty() && !raise) {
      errs() << "edgellm-exec: error: --quant needs --raise\n";
      return 2;
    }
    if (raise) {
      pm.addNestedPass<func::FuncOp>(edgellm::transforms::createRaiseOnnxToElm());
      if (!quant.empty()) {
        edgellm::transforms::ElmQuantizeOptions q;
        q.quant = quant;
        q.sparsity = sparsity;
        pm.addNestedPass<func::FuncOp>(edgellm::transforms::createElmQuantize(q));
      }
      pm.addNestedPass<func::FuncOp>(edgellm::conversion::createElmToOnnx());
    }
    if (failed(pm.run(*module)))
      return 1;
    compiled = pl::compileForCpu(*module, "main", /*applyCLOptions=*/true);
    if (!compiled)
      return 1;
  }
  const std::vector<std::string> &argNames = compiled->inputNames;
  const std::vector<std::string> &resultNames = compiled->outputNames;

  std::vector<pl::HostTensor> args(argNames.size());
  std::vector<bool> given(argNames.size(), false);
  for (const std::string &spec : inputs) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos) {
      errs() << "edgellm-exec: error: input '" << spec << "' is not NAME=FILE\n";
      return 2;
    }
    std::string name = spec.substr(0, eq), file = spec.substr(eq + 1);
    auto it = std::find(argNames.begin(), argNames.end(), name);
    if (it == argNames.end()) {
      errs() << "edgellm-exec: error: the model has no input '" << name << "'\n";
      return 2;
    }
    std::string error;
    if (!pl::readTensorFile(file, args[it - argNames.begin()], error)) {
      errs() << "edgellm-exec: error: " << error << "\n";
      return 1;
    }
    given[it - argNames.begin()] = true;
  }
  for (size_t i = 0; i < given.size(); ++i)
    if (!given[i]) {
      errs() << "edgellm-exec: error: input '" << argNames[i] << "' is not given\n";
      return 2;
    }

  auto t1 = std::chrono::steady_clock::now();
  std::vector<pl::HostTensor> outs;
  std::string error;
  if (!compiled->run(args, outs, error)) {
    errs() << "edgellm-exec: error: " << error << "\n";
    return 1;
  }
  auto t2 = std::chrono::steady_clock::now();
  std::error_code ec;
  std::filesystem::create_directories(outDir.getValue(), ec);
  if (ec) {
    errs() << "edgellm-exec: error: " << outDir << ": " << ec.message() << "\n";
    return 1;
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    // Output names become file names: path separators are replaced.
    std::string file = resultNames[i];
    for (char &ch : file)
      if (ch == '/' || ch == '\\')
        ch = '_';
    if (file.empty() || file == "." || file == "..")
      file = "output" + std::to_string(i);
    std::string path = outDir + "/" + file + ".npy";
    if (!pl::writeNpy(path, outs[i], error)) {
      errs() << "edgellm-exec: error: " << error << "\n";
      return 1;
    }
  }
  if (timing)
    errs() << "compile " << std::chrono::duration<double>(t1 - t0).count() << " s, run "
           << std::chrono::duration<double>(t2 - t1).count() << " s\n";
  return 0;
}
