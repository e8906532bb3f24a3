//===- MaterializeWeights.cpp - onnx.ExternalData -> mmap'd constants -----===//

#include "compiler/conversion/Passes.h"
#include "compiler/conversion/WeightAccess.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringMap.h"

#include <fcntl.h>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace edgellm::conversion {
#define GEN_PASS_DEF_MATERIALIZEWEIGHTS
#include "compiler/conversion/Passes.h.inc"
} // namespace edgellm::conversion

using namespace mlir;
using namespace edgellm;
namespace eo = edgellm::onnx;

namespace {

struct MaterializeWeightsPass
    : public conversion::impl::MaterializeWeightsBase<MaterializeWeightsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto dirAttr = module->getAttrOfType<StringAttr>("onnx.model_dir");
    std::string dir = dirAttr ? dirAttr.str() : ".";
    OpBuilder b(module.getContext());
    WalkResult r = module.walk([&](eo::ExternalDataOp op) {
      std::string error;
      std::string path = dir + "/" + op.getLocation().str();
      ArrayRef<char> m = conversion::mapWeightFile(path, error);
      if (!m.data() && op.getLength() > 0) {
        op.emitError() << error;
        return WalkResult::interrupt();
      }
      if (uint64_t(op.getOffset()) > m.size() ||
          uint64_t(op.getLength()) > m.size() - uint64_t(op.getOffset())) {
        op.emitError() << "'" << path << "' is shorter than the weight";
        return WalkResult::interrupt();
      }
      auto type = cast<RankedTensorType>(op.getOutput().getType());
      ArrayRef<char> bytes(m.data() + op.getOffset(), size_t(op.getLength()));
      AsmResourceBlob blob = UnmanagedAsmResourceBlob::allocateInferAlign(bytes);
      auto attr = DenseResourceElementsAttr::get(type, op.getName(), std::move(blob));
      b.setInsertionPoint(op);
      auto c = eo::ConstantOp::create(b, op.getLoc(), type, attr);
      op.getOutput().replaceAllUsesWith(c.getOutput());
      op.erase();
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

ArrayRef<char> conversion::mapWeightFile(const std::string &path, std::string &error) {
  static std::mutex mu;
  static llvm::StringMap<ArrayRef<char>> maps;
  std::lock_guard<std::mutex> lock(mu);
  auto it = maps.find(path);
  if (it != maps.end())
    return it->second;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    if (fd >= 0)
      ::close(fd);
    error = "cannot open '" + path + "'";
    return {};
  }
  void *p = st.st_size ? ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_SHARED, fd, 0)
                       : nullptr;
  ::close(fd);
  if (p == MAP_FAILED) {
    error = "cannot map '" + path + "'";
    return {};
  }
  ArrayRef<char> m(static_cast<const char *>(p), size_t(st.st_size));
  maps[path] = m;
  return m;
}

bool conversion::weightBytes(Value weight, ArrayRef<char> &bytes, std::string &error) {
  Operation *def = weight.getDefiningOp();
  if (auto ext = dyn_cast_or_null<eo::ExternalDataOp>(def)) {
    auto module = ext->getParentOfType<ModuleOp>();
    auto dir = module ? module->getAttrOfType<StringAttr>("onnx.model_dir") : StringAttr();
    std::string path = (dir ? dir.str() : std::string(".")) + "/" + ext.getLocation().str();
    ArrayRef<char> m = mapWeightFile(path, error);
    if (!m.data() || uint64_t(ext.getOffset()) > m.size() ||
        uint64_t(ext.getLength()) > m.size() - uint64_t(ext.getOffset())) {
      if (error.empty())
        error = "'" + path + "' is shorter than the weight";
      return false;
    }
    bytes = m.slice(size_t(ext.getOffset()), size_t(ext.getLength()));
    return true;
  }
  if (auto c = dyn_cast_or_null<eo::ConstantOp>(def)) {
    if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue())) {
      if (AsmResourceBlob *blob = r.getRawHandle().getBlob()) {
        bytes = blob->getData();
        return true;
      }
    }
    if (auto d = dyn_cast<DenseElementsAttr>(c.getValue()); d && !d.isSplat()) {
      bytes = d.getRawData();
      return true;
    }
    error = "the constant is not a dense weight";
    return false;
  }
  error = "not a weight (onnx.ExternalData or onnx.Constant)";
  return false;
}
