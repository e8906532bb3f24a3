//===- Quantize.cpp - Weight format of linear layers ----------------------===//

#include "compiler/transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace edgellm::transforms {
#define GEN_PASS_DEF_ELMQUANTIZE
#include "compiler/transforms/Passes.h.inc"
} // namespace edgellm::transforms

using namespace mlir;
using namespace edgellm;

namespace {
struct ElmQuantizePass : public transforms::impl::ElmQuantizeBase<ElmQuantizePass> {
  using Base::Base;
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    elm::WeightFormat format;
    std::optional<double> density;
    if (quant == "none") {
      format = elm::WeightFormat::f16;
      if (sparsity != 0.0) {
        func.emitError("sparsity needs quant=int4");
        return signalPassFailure();
      }
    } else if (quant == "int4") {
      if (sparsity == 0.0) {
        format = elm::WeightFormat::int4_g128;
      } else if (sparsity == 0.5 || sparsity == 0.75 || sparsity == 0.875) {
        format = elm::WeightFormat::int4_g128_sparse;
        density = 1.0 - sparsity;
      } else {
        func.emitError() << "sparsity " << sparsity
                         << " is not log-scale: use 0, 0.5, 0.75 or 0.875";
        return signalPassFailure();
      }
    } else {
      func.emitError() << "quant must be int4 or none, not '" << quant << "'";
      return signalPassFailure();
    }
    Builder b(func.getContext());
    func.walk([&](elm::LinearOp lin) {
      lin.setFormatAttr(elm::WeightFormatAttr::get(func.getContext(), format));
      if (density)
        lin.setDensityAttr(b.getF64FloatAttr(*density));
      else
        lin.removeDensityAttr();
    });
  }
};
} // namespace
