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
#include "llvm/Support/TargetSelect.h"

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

#include <cstring>

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
  std::unique_ptr<ExecutionEngine> engine;
  std::string symbol;
  struct Port {
    int64_t onnxType;
    int64_t rank;
    std::vector<int64_t> staticShape; ///< -1 where dynamic
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
  if (llvm::Error e = I.engine->invokePacked(I.symbol, packed)) {
    error = "JIT invocation failed: " + llvm::toString(std::move(e));
    return false;
  }
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
  return true;
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
  auto port = [&](Type t, CompiledFunction::Impl::Port &p) -> bool {
    auto rt = dyn_cast<RankedTensorType>(t);
    if (!rt)
      return false;
    p.onnxType = onnx::onnxTypeOf(rt.getElementType());
    p.rank = rt.getRank();
    for (int64_t d : rt.getShape())
      p.staticShape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    return true;
  };
  for (Type t : func.getArgumentTypes()) {
    CompiledFunction::Impl::Port p;
    if (!port(t, p))
      return func.emitError("CPU path: argument of unknown rank"), nullptr;
    fn->impl->args.push_back(p);
  }
  for (Type t : func.getResultTypes()) {
    CompiledFunction::Impl::Port p;
    if (!port(t, p))
      return func.emitError("CPU path: result of unknown rank"), nullptr;
    fn->impl->results.push_back(p);
  }
  func->setAttr("llvm.emit_c_interface", UnitAttr::get(module.getContext()));
  // The ONNX names on arguments and results have no LLVM meaning.
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    func.setArgAttrs(i, ArrayRef<NamedAttribute>{});
  for (unsigned i = 0; i < func.getNumResults(); ++i)
    func.setResultAttrs(i, ArrayRef<NamedAttribute>{});

  DialectRegistry registry;
  registerCpuPipelineDialects(registry);
  module.getContext()->appendDialectRegistry(registry);
  module.getContext()->loadAllAvailableDialects();
  PassManager pm(module.getContext());
  if (applyCLOptions && failed(applyPassManagerCLOptions(pm)))
    return nullptr;
  buildCpuPipeline(pm);
  if (failed(pm.run(module)))
    return nullptr;

  static bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialized;
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
  fn->impl->symbol = "_mlir_ciface_" + name;
  return fn;
}
