//===- Place.cpp - CPU/FPGA placement of elm ops --------------------------===//

#include "compiler/transforms/Passes.h"
#include "edgellm/hw/Target.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/raw_ostream.h"

#include <fstream>
#include <nlohmann/json.hpp>

namespace edgellm::transforms {
#define GEN_PASS_DEF_ELMPLACE
#include "compiler/transforms/Passes.h.inc"
} // namespace edgellm::transforms

using namespace mlir;
using namespace edgellm;

namespace {

/// The legality-table key of an elm op (docs/targets.md, fpga_ops).
std::string kindKey(Operation *op) {
  if (auto lin = dyn_cast<elm::LinearOp>(op))
    return lin.getFormat() == elm::WeightFormat::int4_g128 ||
                   lin.getFormat() == elm::WeightFormat::int4_g128_sparse
               ? "linear_int4"
               : "linear_fp16";
  if (isa<elm::RmsNormOp>(op))
    return "rms_norm";
  if (isa<elm::RopeOp>(op))
    return "rope";
  if (isa<elm::SwigluOp>(op))
    return "swiglu";
  if (isa<elm::AddOp>(op))
    return "add";
  if (isa<elm::MulOp>(op))
    return "mul";
  if (isa<elm::SoftmaxOp>(op))
    return "softmax";
  if (isa<elm::EmbeddingOp>(op))
    return "embedding";
  if (isa<elm::AttentionOp>(op))
    return "attention";
  return "";
}

using onnx::nodeName;

struct ElmPlacePass : public transforms::impl::ElmPlaceBase<ElmPlacePass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void ElmPlacePass::runOnOperation() {
  ModuleOp module = getOperation();
  std::string error;
  auto tgt = hw::loadTargetByName(target, error);
  if (!tgt) {
    module.emitError() << error;
    return signalPassFailure();
  }
  nlohmann::json byKind = nlohmann::json::object(), byName = nlohmann::json::object();
  if (!overrides.empty()) {
    std::ifstream in(overrides);
    nlohmann::json j = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
    if (!in || j.is_discarded() || !j.is_object()) {
      module.emitError() << overrides << ": not a JSON object of placement overrides";
      return signalPassFailure();
    }
    for (auto &[key, val] : j.items()) {
      if (key != "by_kind" && key != "by_name") {
        module.emitError() << overrides << ": unknown key '" << key
                           << "' (expected by_kind, by_name)";
        return signalPassFailure();
      }
      for (auto &[k, v] : val.items())
        if (!v.is_string() || (v != "cpu" && v != "fpga")) {
          module.emitError() << overrides << ": " << key << "." << k
                             << " must be \"cpu\" or \"fpga\"";
          return signalPassFailure();
        }
    }
    byKind = j.value("by_kind", nlohmann::json::object());
    byName = j.value("by_name", nlohmann::json::object());
  }

  nlohmann::json rows = nlohmann::json::array();
  unsigned onFpga = 0, onCpu = 0;
  Builder b(module.getContext());
  WalkResult walk = module.walk([&](Operation *op) -> WalkResult {
    StringRef ns = op->getDialect() ? op->getDialect()->getNamespace() : "";
    if (ns == "onnx") {
      if (isa<onnx::ConstantOp, onnx::ExternalDataOp, onnx::NoneOp>(op))
        return WalkResult::advance();
      rows.push_back({{"op", op->getName().getStringRef().str()}, {"name", nodeName(op)},
                      {"device", "cpu"}, {"reason", "not raised to elm"}});
      ++onCpu;
      return WalkResult::advance();
    }
    if (ns != "elm")
      return WalkResult::advance();
    std::string kind = kindKey(op), opName = op->getName().getStringRef().str();
    std::string name = nodeName(op);
    bool legal = tgt->fpgaSupports(kind);
    std::string device = legal ? "fpga" : "cpu";
    std::string reason = legal ? kind + " runs on the FPGA of " + tgt->name
                               : kind + " is not an FPGA operator of " + tgt->name;
    const nlohmann::json *ov = nullptr;
    if (byName.contains(name))
      ov = &byName[name];
    else if (byKind.contains(opName))
      ov = &byKind[opName];
    if (ov) {
      device = ov->get<std::string>();
      reason = "override (" + overrides.getValue() + ")";
      if (device == "fpga" && !legal) {
        op->emitOpError() << "cannot be placed on the FPGA: " << kind
                          << " is not an FPGA operator of " << tgt->name;
        return WalkResult::interrupt();
      }
    }
    op->setAttr("device", elm::DeviceAttr::get(op->getContext(), device == "fpga"
                                                                    ? elm::Device::fpga
                                                                    : elm::Device::cpu));
    (device == "fpga" ? onFpga : onCpu)++;
    if (remarks)
      op->emitRemark() << device << ": " << reason;
    rows.push_back({{"op", opName}, {"name", name}, {"device", device}, {"reason", reason}});
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return signalPassFailure();
  if (!report.empty()) {
    std::ofstream out(report);
    if (!out) {
      module.emitError() << report << ": cannot write the placement report";
      return signalPassFailure();
    }
    out << nlohmann::json{{"target", tgt->name}, {"fpga", onFpga}, {"cpu", onCpu}, {"ops", rows}}
               .dump(1, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
  }
}
