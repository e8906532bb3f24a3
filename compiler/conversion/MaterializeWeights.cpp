//===- MaterializeWeights.cpp - onnx.ExternalData -> mmap'd constants -----===//

#include "compiler/conversion/Passes.h"

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

/// Read-only mappings of weight files, kept for the life of the process (the
/// JIT'd code and the IR's blobs point into them).
struct Mapping {
  const char *data = nullptr;
  size_t size = 0;
};
Mapping mapFile(const std::string &path, std::string &error) {
  static std::mutex mu;
  static llvm::StringMap<Mapping> maps;
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
  Mapping m{static_cast<const char *>(p), size_t(st.st_size)};
  maps[path] = m;
  return m;
}

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
      Mapping m = mapFile(path, error);
      if (!m.data && op.getLength() > 0) {
        op.emitError() << error;
        return WalkResult::interrupt();
      }
      if (uint64_t(op.getOffset() + op.getLength()) > m.size) {
        op.emitError() << "'" << path << "' is shorter than the weight";
        return WalkResult::interrupt();
      }
      auto type = cast<RankedTensorType>(op.getOutput().getType());
      ArrayRef<char> bytes(m.data + op.getOffset(), size_t(op.getLength()));
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
