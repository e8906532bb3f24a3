//===- CpuPipeline.cpp - The CPU path: onnx -> LLVM, JIT and run ----------===//

#include "compiler/pipeline/CpuPipeline.h"
#include "compiler/conversion/Passes.h"
#include "dialects/onnx/OnnxDialect.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <nlohmann/json.hpp>

#include <dlfcn.h>

namespace mlir {
#define GEN_PASS_DECL_ARITHTOLLVMCONVERSIONPASS
#define GEN_PASS_DECL_CONVERTBUFFERIZATIONTOMEMREFPASS
#define GEN_PASS_DECL_CONVERTCONTROLFLOWTOLLVMPASS
#define GEN_PASS_DECL_CONVERTFUNCTOLLVMPASS
#define GEN_PASS_DECL_CONVERTINDEXTOLLVMPASS
#define GEN_PASS_DECL_CONVERTMATHTOLIBMPASS
#define GEN_PASS_DECL_CONVERTMATHTOLLVMPASS
#define GEN_PASS_DECL_FINALIZEMEMREFTOLLVMCONVERSIONPASS
#define GEN_PASS_DECL_LOWERAFFINEPASS
#define GEN_PASS_DECL_RECONCILEUNREALIZEDCASTSPASS
#define GEN_PASS_DECL_SCFTOCONTROLFLOWPASS
#include "mlir/Conversion/Passes.h.inc"
} // namespace mlir

#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

using namespace mlir;
using namespace edgellm;
using namespace edgellm::pipeline;

void pipeline::registerCpuPipelineDialects(DialectRegistry &registry) {
  registry.insert<onnx::OnnxDialect, affine::AffineDialect, arith::ArithDialect,
                  bufferization::BufferizationDialect, cf::ControlFlowDialect,
                  func::FuncDialect, linalg::LinalgDialect, LLVM::LLVMDialect,
                  math::MathDialect, memref::MemRefDialect, scf::SCFDialect,
                  tensor::TensorDialect>();
  arith::registerBufferizableOpInterfaceExternalModels(registry);
  linalg::registerBufferizableOpInterfaceExternalModels(registry);
  tensor::registerBufferizableOpInterfaceExternalModels(registry);
  bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
}

void pipeline::buildCpuPipeline(OpPassManager &pm) {
  pm.addPass(conversion::createMaterializeWeights());
  pm.addNestedPass<func::FuncOp>(conversion::createConvertOnnxToLinalg());
  pm.addPass(createCanonicalizerPass());
  bufferization::OneShotBufferizePassOptions bopts;
  bopts.bufferizeFunctionBoundaries = true;
  bopts.functionBoundaryTypeConversion = bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bopts));
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

size_t HostTensor::elementBytes() const {
  switch (onnx::DataType(onnxType)) {
  case onnx::DataType::Double:
  case onnx::DataType::Int64:
  case onnx::DataType::Uint64:
    return 8;
  case onnx::DataType::Float:
  case onnx::DataType::Int32:
  case onnx::DataType::Uint32:
    return 4;
  case onnx::DataType::Float16:
  case onnx::DataType::BFloat16:
  case onnx::DataType::Int16:
  case onnx::DataType::Uint16:
    return 2;
  default:
    return 1;
  }
}

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

struct CompiledFunction::Impl {
  std::unique_ptr<ExecutionEngine> engine; ///< JIT, or
  void *library = nullptr;                 ///< a dlopen'd shared library
  void (*packed)(void **) = nullptr;       ///< the packed entry point
  ~Impl() {
    if (library)
      ::dlclose(library);
  }
  struct Port {
    int64_t onnxType;
    int64_t rank;
    std::vector<int64_t> staticShape; ///< -1 where dynamic
    std::vector<std::string> dimNames; ///< ONNX dim_params ("" when none)
  };
  std::vector<Port> args, results;
};

CompiledFunction::~CompiledFunction() = default;

bool CompiledFunction::run(const std::vector<HostTensor> &inputs,
                           std::vector<HostTensor> &outputs, std::string &error) {
  Impl &I = *impl;
  if (inputs.size() != I.args.size()) {
    error = "expected " + std::to_string(I.args.size()) + " inputs, got " +
            std::to_string(inputs.size());
    return false;
  }
  // Memref descriptors: {allocated, aligned, offset, sizes[r], strides[r]}.
  std::vector<std::vector<int64_t>> argDescs;
  // Named dynamic sizes (batch, sequence, ...) must agree across inputs.
  std::map<std::string, std::pair<int64_t, size_t>> named;
  for (size_t i = 0; i < inputs.size() && i < I.args.size(); ++i)
    for (size_t d = 0; d < I.args[i].dimNames.size() && d < inputs[i].shape.size(); ++d) {
      const std::string &n = I.args[i].dimNames[d];
      if (n.empty())
        continue;
      auto [it, fresh] = named.insert({n, {inputs[i].shape[d], i}});
      if (!fresh && it->second.first != inputs[i].shape[d]) {
        error = "input " + std::to_string(i) + " dimension " + std::to_string(d) + " ('" + n +
                "') is " + std::to_string(inputs[i].shape[d]) + ", but input " +
                std::to_string(it->second.second) + " has " + std::to_string(it->second.first);
        return false;
      }
    }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const HostTensor &t = inputs[i];
    const Impl::Port &p = I.args[i];
    if (t.onnxType != p.onnxType) {
      error = "input " + std::to_string(i) + ": element type " +
              onnx::dataTypeName(t.onnxType) + ", expected " + onnx::dataTypeName(p.onnxType);
      return false;
    }
    if (int64_t(t.shape.size()) != p.rank) {
      error = "input " + std::to_string(i) + ": rank " + std::to_string(t.shape.size()) +
              ", expected " + std::to_string(p.rank);
      return false;
    }
    for (int64_t d = 0; d < p.rank; ++d)
      if (p.staticShape[d] >= 0 && p.staticShape[d] != t.shape[d]) {
        error = "input " + std::to_string(i) + ": dimension " + std::to_string(d) + " is " +
                std::to_string(t.shape[d]) + ", expected " + std::to_string(p.staticShape[d]);
        return false;
      }
    for (int64_t d : t.shape)
      if (d < 0) {
        error = "input " + std::to_string(i) + ": negative dimension";
        return false;
      }
    if (t.data.size() != size_t(t.numElements()) * t.elementBytes()) {
      error = "input " + std::to_string(i) + ": " + std::to_string(t.data.size()) +
              " bytes do not match its shape";
      return false;
    }
    std::vector<int64_t> desc(3 + 2 * p.rank);
    int64_t addr = reinterpret_cast<int64_t>(t.data.data());
    desc[0] = desc[1] = addr;
    desc[2] = 0;
    int64_t stride = 1;
    for (int64_t d = p.rank - 1; d >= 0; --d) {
      desc[3 + d] = t.shape[d];
      desc[3 + p.rank + d] = stride;
      stride *= t.shape[d];
    }
    argDescs.push_back(std::move(desc));
  }
  size_t resultWords = 0;
  for (const Impl::Port &p : I.results)
    resultWords += 3 + 2 * p.rank;
  std::vector<int64_t> resultBuf(resultWords + 1);
  std::vector<void *> argPtrs;
  void *resultPtr = resultBuf.data();
  std::vector<void *> descPtrs;
  for (auto &d : argDescs)
    descPtrs.push_back(d.data());
  std::vector<void *> packed;
  if (!I.results.empty())
    packed.push_back(&resultPtr);
  for (auto &p : descPtrs)
    packed.push_back(&p);
  I.packed(packed.data());
  outputs.clear();
  size_t at = 0;
  for (const Impl::Port &p : I.results) {
    HostTensor t;
    t.onnxType = p.onnxType;
    const int64_t *desc = resultBuf.data() + at;
    const char *aligned = reinterpret_cast<const char *>(desc[1]);
    int64_t offset = desc[2];
    for (int64_t d = 0; d < p.rank; ++d)
      t.shape.push_back(desc[3 + d]);
    size_t eb = t.elementBytes();
    int64_t n = t.numElements();
    t.data.resize(size_t(n) * eb);
    // Gather with the returned strides (they may not be contiguous).
    std::vector<int64_t> idx(p.rank, 0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t src = offset;
      for (int64_t d = 0; d < p.rank; ++d)
        src += idx[d] * desc[3 + p.rank + d];
      std::memcpy(t.data.data() + i * eb, aligned + src * eb, eb);
      for (int64_t d = p.rank - 1; d >= 0; --d) {
        if (++idx[d] < t.shape[d])
          break;
        idx[d] = 0;
      }
    }
    outputs.push_back(std::move(t));
    at += 3 + 2 * p.rank;
  }
  // The results' buffers were malloc'd by the compiled code and belong to the
  // caller now; free each once, unless it is an input's buffer or a global
  // (MLIR marks those with 0xdeadbeef as the allocated pointer).
  std::set<int64_t> inputs_, freed;
  for (auto &d : argDescs)
    inputs_.insert(d[0]);
  at = 0;
  for (const Impl::Port &p : I.results) {
    int64_t allocated = resultBuf[at];
    if (allocated && allocated != 0xdeadbeef && !inputs_.count(allocated) &&
        freed.insert(allocated).second)
      std::free(reinterpret_cast<void *>(allocated));
    at += 3 + 2 * p.rank;
  }
  return true;
}

using Port = CompiledFunction::Impl::Port;

/// The signature of `func` and its preparation for the C interface.
static LogicalResult prepareSignature(func::FuncOp func, std::vector<Port> &args,
                                      std::vector<Port> &results,
                                      std::vector<std::string> &argNames,
                                      std::vector<std::string> &resultNames) {
  auto port = [&](Type t, Port &p) -> bool {
    auto rt = dyn_cast<RankedTensorType>(t);
    if (!rt)
      return false;
    p.onnxType = onnx::onnxTypeOf(rt.getElementType());
    p.rank = rt.getRank();
    for (int64_t d : rt.getShape())
      p.staticShape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    return true;
  };
  for (auto [i, t] : llvm::enumerate(func.getArgumentTypes())) {
    Port p;
    if (!port(t, p))
      return func.emitError("CPU path: argument of unknown rank");
    if (auto names = func.getArgAttrOfType<ArrayAttr>(i, "onnx.dim_params"))
      for (Attribute a : names)
        p.dimNames.push_back(cast<StringAttr>(a).str());
    args.push_back(p);
    auto n = func.getArgAttrOfType<StringAttr>(i, "onnx.name");
    argNames.push_back(n ? n.str() : "arg" + std::to_string(i));
  }
  for (auto [i, t] : llvm::enumerate(func.getResultTypes())) {
    Port p;
    if (!port(t, p))
      return func.emitError("CPU path: result of unknown rank");
    results.push_back(p);
    auto n = func.getResultAttrOfType<StringAttr>(i, "onnx.name");
    resultNames.push_back(n ? n.str() : "result" + std::to_string(i));
  }
  func->setAttr("llvm.emit_c_interface", UnitAttr::get(func.getContext()));
  // The ONNX names on arguments and results have no LLVM meaning.
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    func.setArgAttrs(i, ArrayRef<NamedAttribute>{});
  for (unsigned i = 0; i < func.getNumResults(); ++i)
    func.setResultAttrs(i, ArrayRef<NamedAttribute>{});
  return success();
}

static LogicalResult lowerToLLVMDialect(ModuleOp module, bool applyCLOptions) {
  DialectRegistry registry;
  registerCpuPipelineDialects(registry);
  module.getContext()->appendDialectRegistry(registry);
  module.getContext()->loadAllAvailableDialects();
  PassManager pm(module.getContext());
  if (applyCLOptions && failed(applyPassManagerCLOptions(pm)))
    return failure();
  buildCpuPipeline(pm);
  return pm.run(module);
}

static void initNativeTarget() {
  static bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialized;
}

std::unique_ptr<CompiledFunction> pipeline::compileForCpu(ModuleOp module,
                                                          const std::string &name,
                                                          bool applyCLOptions) {
  auto func = module.lookupSymbol<func::FuncOp>(name);
  if (!func) {
    module.emitError() << "no function '" << name << "'";
    return nullptr;
  }
  auto fn = std::make_unique<CompiledFunction>();
  fn->impl = std::make_unique<CompiledFunction::Impl>();
  std::vector<std::string> argNames, resultNames;
  if (failed(prepareSignature(func, fn->impl->args, fn->impl->results, argNames, resultNames)) ||
      failed(lowerToLLVMDialect(module, applyCLOptions)))
    return nullptr;
  fn->inputNames = argNames;
  fn->outputNames = resultNames;
  initNativeTarget();
  ExecutionEngineOptions options;
  // memrefCopy and friends for strided copies.
  static const std::string runtimeLib = EDGELLM_MLIR_C_RUNNER_UTILS;
  llvm::SmallVector<llvm::StringRef, 1> libs = {runtimeLib};
  options.sharedLibPaths = libs;
  options.transformer = makeOptimizingTransformer(/*optLevel=*/2, /*sizeLevel=*/0,
                                                  /*targetMachine=*/nullptr);
  auto engine = ExecutionEngine::create(module, options);
  if (!engine) {
    module.emitError() << "JIT compilation failed: " << llvm::toString(engine.takeError());
    return nullptr;
  }
  fn->impl->engine = std::move(*engine);
  auto packed = fn->impl->engine->lookupPacked("_mlir_ciface_" + name);
  if (!packed) {
    module.emitError() << "JIT: " << llvm::toString(packed.takeError());
    return nullptr;
  }
  fn->impl->packed = *packed;
  return fn;
}

static nlohmann::json signatureJson(const std::vector<Port> &args,
                                    const std::vector<Port> &results,
                                    const std::vector<std::string> &argNames,
                                    const std::vector<std::string> &resultNames) {
  auto ports = [](const std::vector<Port> &ps, const std::vector<std::string> &names) {
    nlohmann::json a = nlohmann::json::array();
    for (size_t i = 0; i < ps.size(); ++i)
      a.push_back({{"name", names[i]},
                   {"type", ps[i].onnxType},
                   {"shape", ps[i].staticShape},
                   {"dims", ps[i].dimNames}});
    return a;
  };
  return {{"abi", 1}, {"inputs", ports(args, argNames)}, {"outputs", ports(results, resultNames)}};
}

bool pipeline::compileCpuSharedLibrary(ModuleOp module, const std::string &path,
                                       std::string &error, const std::string &name) {
  auto func = module.lookupSymbol<func::FuncOp>(name);
  if (!func) {
    error = "no function '" + name + "'";
    return false;
  }
  std::vector<Port> args, results;
  std::vector<std::string> argNames, resultNames;
  if (failed(prepareSignature(func, args, results, argNames, resultNames)) ||
      failed(lowerToLLVMDialect(module, false))) {
    error = "lowering failed";
    return false;
  }
  initNativeTarget();
  llvm::LLVMContext llvmCtx;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(module, llvmCtx);
  if (!llvmModule) {
    error = "translation to LLVM IR failed";
    return false;
  }
  auto tmBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!tmBuilder) {
    error = llvm::toString(tmBuilder.takeError());
    return false;
  }
  tmBuilder->setRelocationModel(llvm::Reloc::PIC_);
  tmBuilder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Default);
  auto tm = tmBuilder->createTargetMachine();
  if (!tm) {
    error = llvm::toString(tm.takeError());
    return false;
  }
  llvmModule->setDataLayout((*tm)->createDataLayout());
  llvmModule->setTargetTriple((*tm)->getTargetTriple());

  // The packed entry point: edgellm_<name>(void **args) loads each argument
  // (a pointer to the value, which is a descriptor pointer) and calls the
  // C interface function; and the signature as a JSON string.
  llvm::Function *ciface = llvmModule->getFunction("_mlir_ciface_" + name);
  if (!ciface) {
    error = "the C interface function is missing";
    return false;
  }
  llvm::IRBuilder<> ib(llvmCtx);
  auto *ptrTy = llvm::PointerType::get(llvmCtx, 0);
  auto *entry = llvm::Function::Create(
      llvm::FunctionType::get(ib.getVoidTy(), {ptrTy}, false),
      llvm::GlobalValue::ExternalLinkage, "edgellm_" + name, llvmModule.get());
  ib.SetInsertPoint(llvm::BasicBlock::Create(llvmCtx, "entry", entry));
  std::vector<llvm::Value *> callArgs;
  for (unsigned i = 0; i < ciface->arg_size(); ++i) {
    llvm::Value *slotPtr = ib.CreateConstGEP1_64(ptrTy, entry->getArg(0), i);
    llvm::Value *slot = ib.CreateLoad(ptrTy, slotPtr);
    callArgs.push_back(ib.CreateLoad(ciface->getFunctionType()->getParamType(i), slot));
  }
  ib.CreateCall(ciface, callArgs);
  ib.CreateRetVoid();
  std::string sig = signatureJson(args, results, argNames, resultNames).dump();
  auto *sigInit = llvm::ConstantDataArray::getString(llvmCtx, sig, /*AddNull=*/true);
  new llvm::GlobalVariable(*llvmModule, sigInit->getType(), /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage, sigInit,
                           "edgellm_" + name + "_signature");
  if (auto err = makeOptimizingTransformer(2, 0, tm->get())(llvmModule.get())) {
    error = llvm::toString(std::move(err));
    return false;
  }

  // Object file, then the shared library (linked by the system compiler).
  llvm::SmallString<128> obj;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("edgellm-cpu", "o", fd, obj)) {
    error = "cannot create a temporary object file";
    return false;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    llvm::legacy::PassManager cg;
    if ((*tm)->addPassesToEmitFile(cg, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
      error = "the target cannot emit object files";
      return false;
    }
    cg.run(*llvmModule);
  }
  std::string tmpLib = path + ".tmp";
  auto cc = llvm::sys::findProgramByName("cc");
  if (!cc) {
    llvm::sys::fs::remove(obj);
    error = "no system C compiler (cc) to link the shared library";
    return false;
  }
  std::string libDir = llvm::sys::path::parent_path(EDGELLM_MLIR_C_RUNNER_UTILS).str();
  std::vector<std::string> argv = {*cc, "-shared", "-o", tmpLib, obj.str().str(),
                                   "-L" + libDir, "-lmlir_c_runner_utils",
                                   "-Wl,-rpath," + libDir, "-lm"};
  std::vector<llvm::StringRef> argRefs(argv.begin(), argv.end());
  std::string linkError;
  int rc = llvm::sys::ExecuteAndWait(*cc, argRefs, std::nullopt, {}, 0, 0, &linkError);
  llvm::sys::fs::remove(obj);
  if (rc != 0) {
    llvm::sys::fs::remove(tmpLib);
    error = "linking the shared library failed" + (linkError.empty() ? "" : ": " + linkError);
    return false;
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmpLib, path)) {
    llvm::sys::fs::remove(tmpLib);
    error = path + ": " + ec.message();
    return false;
  }
  return true;
}

std::unique_ptr<CompiledFunction> pipeline::loadCpuSharedLibrary(const std::string &path,
                                                                 std::string &error,
                                                                 const std::string &name) {
  auto fn = std::make_unique<CompiledFunction>();
  fn->impl = std::make_unique<CompiledFunction::Impl>();
  fn->impl->library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!fn->impl->library) {
    error = path + ": " + ::dlerror();
    return nullptr;
  }
  auto *entry = ::dlsym(fn->impl->library, ("edgellm_" + name).c_str());
  auto *sig = static_cast<const char *>(::dlsym(fn->impl->library, ("edgellm_" + name + "_signature").c_str()));
  if (!entry || !sig) {
    error = path + ": not an EdgeLLM CPU library (edgellm_" + name + " is missing)";
    return nullptr;
  }
  fn->impl->packed = reinterpret_cast<void (*)(void **)>(entry);
  nlohmann::json j = nlohmann::json::parse(sig, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("inputs") || !j.contains("outputs")) {
    error = path + ": bad signature";
    return nullptr;
  }
  auto read = [&](const nlohmann::json &a, std::vector<Port> &out,
                  std::vector<std::string> &names) {
    if (!a.is_array())
      return false;
    for (const auto &p : a) {
      if (!p.is_object() || !p.contains("name") || !p["name"].is_string() ||
          !p.contains("type") || !p["type"].is_number_integer() || !p.contains("shape") ||
          !p["shape"].is_array())
        return false;
      names.push_back(p["name"].get<std::string>());
      Port port;
      port.onnxType = p["type"].get<int64_t>();
      for (const auto &d : p["shape"]) {
        if (!d.is_number_integer())
          return false;
        port.staticShape.push_back(d.get<int64_t>());
      }
      if (p.contains("dims") && p["dims"].is_array())
        for (const auto &n : p["dims"])
          port.dimNames.push_back(n.is_string() ? n.get<std::string>() : "");
      port.rank = int64_t(port.staticShape.size());
      out.push_back(port);
    }
    return true;
  };
  if (!read(j["inputs"], fn->impl->args, fn->inputNames) ||
      !read(j["outputs"], fn->impl->results, fn->outputNames)) {
    error = path + ": bad signature";
    return nullptr;
  }
  return fn;
}
