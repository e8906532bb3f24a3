//===- ElmToOnnx.cpp - elm ops back to onnx ops (the CPU fallback) --------===//
//
// Every elm op is rewritten into the onnx ops that compute exactly what it
// means, in the same order of operations as the exporter's graphs, so a
// raised model runs on the CPU path with the same bits as before raising.
//
//===----------------------------------------------------------------------===//

#include "compiler/conversion/Passes.h"
#include "compiler/conversion/WeightAccess.h"
#include "compiler/target/WeightPacker.h"
#include "dialects/elm/ElmDialect.h"

#include "mlir/IR/Builders.h"

#include <cstring>
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

namespace edgellm::conversion {
#define GEN_PASS_DEF_ELMTOONNX
#include "compiler/conversion/Passes.h.inc"
} // namespace edgellm::conversion

using namespace mlir;
using namespace edgellm;
namespace eo = edgellm::onnx;

namespace {
struct ElmToOnnxPass : public conversion::impl::ElmToOnnxBase<ElmToOnnxPass> {
  void runOnOperation() override;
};

Value scalar(OpBuilder &b, Location loc, Type elt, double v) {
  auto t = RankedTensorType::get({}, elt);
  return eo::ConstantOp::create(b, loc, t, DenseElementsAttr::get(t, b.getFloatAttr(elt, v)));
}
Value i64s(OpBuilder &b, Location loc, ArrayRef<int64_t> v) {
  auto t = RankedTensorType::get({int64_t(v.size())}, b.getI64Type());
  return eo::ConstantOp::create(b, loc, t, DenseIntElementsAttr::get(t, v));
}
/// The FP32 values of a weight operand.
bool weightFloats(Value w, std::vector<float> &out, std::string &error) {
  auto t = cast<RankedTensorType>(w.getType());
  if (auto c = w.getDefiningOp<eo::ConstantOp>())
    if (auto d = dyn_cast<DenseFPElementsAttr>(c.getValue())) {
      out.clear();
      for (const APFloat &v : d.getValues<APFloat>())
        out.push_back(float(v.convertToDouble()));
      return true;
    }
  ArrayRef<char> bytes;
  if (!conversion::weightBytes(w, bytes, error))
    return false;
  int64_t n = t.getNumElements();
  out.resize(size_t(n));
  if (t.getElementType().isF32() && bytes.size() == size_t(n) * 4) {
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return true;
  }
  if (t.getElementType().isF16() && bytes.size() == size_t(n) * 2) {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      out[i] = isa::f16ToF32(h);
    }
    return true;
  }
  error = "unsupported weight element type";
  return false;
}

/// The weight as the device will see it: FP16-rounded (f16) or quantised
/// and dequantised (int4 formats), as a new FP32 constant.
Value simulatedWeight(OpBuilder &b, Location loc, elm::LinearOp lin, std::string &error) {
  auto t = cast<RankedTensorType>(lin.getWeight().getType());
  std::vector<float> w;
  if (!weightFloats(lin.getWeight(), w, error))
    return Value();
  int64_t k = t.getDimSize(0), n = t.getDimSize(1);
  std::vector<float> sim(w.size());
  if (lin.getFormat() == elm::WeightFormat::f16) {
    for (size_t i = 0; i < w.size(); ++i)
      sim[i] = isa::f16ToF32(isa::f32ToF16(w[i]));
  } else {
    isa::Sparsity sp = isa::Sparsity::Dense;
    if (lin.getFormat() == elm::WeightFormat::int4_g128_sparse) {
      double d = lin.getDensity()->convertToDouble();
      sp = d == 0.5 ? isa::Sparsity::Half : d == 0.25 ? isa::Sparsity::Quarter : isa::Sparsity::Eighth;
    }
    target::QuantizedMatrix q = target::quantizeInt4(w.data(), k, n, sp);
    for (int64_t i = 0; i < k; ++i)
      for (int64_t o = 0; o < n; ++o)
        sim[i * n + o] = q.value(o, i);
  }
  auto ft = RankedTensorType::get({k, n}, b.getF32Type());
  AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<float>(sim));
  auto attr = DenseResourceElementsAttr::get(ft, "simulated_weight", std::move(blob));
  return eo::ConstantOp::create(b, loc, ft, attr);
}

RankedTensorType withLast(RankedTensorType t, int64_t last) {
  SmallVector<int64_t> s(t.getShape());
  s.back() = last;
  return RankedTensorType::get(s, t.getElementType());
}
} // namespace

void ElmToOnnxPass::runOnOperation() {
  func::FuncOp func = getOperation();
  OpBuilder b(func.getContext());
  SmallVector<Operation *> ops;
  func.walk([&](Operation *op) {
    if (op->getDialect() && op->getDialect()->getNamespace() == "elm")
      ops.push_back(op);
  });
  for (Operation *op : ops) {
    b.setInsertionPoint(op);
    Location loc = op->getLoc();
    Value result;
    if (auto lin = dyn_cast<elm::LinearOp>(op)) {
      Value weight = lin.getWeight();
      if (lin.getFormat() != elm::WeightFormat::f32) {
        std::string error;
        weight = simulatedWeight(b, loc, lin, error);
        if (!weight) {
          op->emitOpError() << "cannot read the weight: " << error;
          return signalPassFailure();
        }
      }
      result = eo::MatMulOp::create(b, loc, lin.getType(), lin.getInput(), weight);
      if (Value bias = lin.getBias())
        result = eo::AddOp::create(b, loc, lin.getType(), result, bias);
    } else if (auto n = dyn_cast<elm::RmsNormOp>(op)) {
      auto t = n.getInput().getType();
      Type elt = t.getElementType();
      Value p = eo::PowOp::create(b, loc, t, n.getInput(), scalar(b, loc, elt, 2.0));
      auto kept = withLast(t, 1);
      Value m = eo::ReduceMeanOp::create(b, loc, kept, p, b.getI64ArrayAttr({-1}),
                                         b.getI64IntegerAttr(1));
      Value a = eo::AddOp::create(b, loc, kept, m,
                                  scalar(b, loc, elt, n.getEps().convertToDouble()));
      Value s = eo::SqrtOp::create(b, loc, kept, a);
      Value d = eo::DivOp::create(b, loc, kept, scalar(b, loc, elt, 1.0), s);
      Value x = eo::MulOp::create(b, loc, t, n.getInput(), d);
      result = eo::MulOp::create(b, loc, t, n.getGamma(), x);
    } else if (auto sw = dyn_cast<elm::SwigluOp>(op)) {
      auto t = sw.getInput().getType();
      int64_t h = t.getShape().back() / 2;
      auto half = withLast(t, h);
      Value axes = i64s(b, loc, {-1}), steps = i64s(b, loc, {1});
      Value a = eo::SliceOp::create(b, loc, half, sw.getInput(), i64s(b, loc, {0}),
                                    i64s(b, loc, {h}), axes, steps);
      Value c = eo::SliceOp::create(b, loc, half, sw.getInput(), i64s(b, loc, {h}),
                                    i64s(b, loc, {2 * h}), axes, steps);
      Value sg = eo::SigmoidOp::create(b, loc, half, a);
      Value silu = eo::MulOp::create(b, loc, half, a, sg);
      result = eo::MulOp::create(b, loc, half, silu, c);
    } else if (auto r = dyn_cast<elm::RopeOp>(op)) {
      // Exactly the exporter's graph of ChatGLM2's apply_rotary_pos_emb.
      auto t = r.getInput().getType();
      int64_t rot = int64_t(r.getRotDim()), rank = t.getRank();
      Value axes = i64s(b, loc, {-1}), steps = i64s(b, loc, {1});
      auto rotType = withLast(t, rot);
      Value xr = eo::SliceOp::create(b, loc, rotType, r.getInput(), i64s(b, loc, {0}),
                                     i64s(b, loc, {rot}), axes, steps);
      Value xp = eo::SliceOp::create(b, loc, withLast(t, t.getShape().back() - rot), r.getInput(),
                                     i64s(b, loc, {rot}),
                                     i64s(b, loc, {std::numeric_limits<int64_t>::max()}), axes,
                                     steps);
      SmallVector<int64_t> pairShape(t.getShape());
      pairShape.back() = rot / 2;
      pairShape.push_back(2);
      auto pairType = RankedTensorType::get(pairShape, t.getElementType());
      SmallVector<int64_t> target(rank - 1, 0);
      target.append({rot / 2, 2});
      Value xs = eo::ReshapeOp::create(b, loc, pairType, xr, i64s(b, loc, target),
                                       b.getI64IntegerAttr(0));
      auto idx = [&](int64_t v) {
        auto it = RankedTensorType::get({}, b.getI64Type());
        return eo::ConstantOp::create(b, loc, it, DenseIntElementsAttr::get(it, ArrayRef<int64_t>{v}));
      };
      auto halfType = RankedTensorType::get(ArrayRef<int64_t>(pairShape).drop_back(),
                                            t.getElementType());
      auto cst = r.getCosSin().getType();
      auto csHalf = RankedTensorType::get(cst.getShape().drop_back(), cst.getElementType());
      auto gat = [&](Value v, Type ty, int64_t i) {
        return eo::GatherOp::create(b, loc, ty, v, idx(i), b.getI64IntegerAttr(-1)).getResult();
      };
      Value x0 = gat(xs, halfType, 0), x1 = gat(xs, halfType, 1);
      Value c = gat(r.getCosSin(), csHalf, 0), s = gat(r.getCosSin(), csHalf, 1);
      Value o0 = eo::SubOp::create(b, loc, halfType, eo::MulOp::create(b, loc, halfType, x0, c),
                                   eo::MulOp::create(b, loc, halfType, x1, s));
      Value o1 = eo::AddOp::create(b, loc, halfType, eo::MulOp::create(b, loc, halfType, x1, c),
                                   eo::MulOp::create(b, loc, halfType, x0, s));
      SmallVector<int64_t> oneShape(ArrayRef<int64_t>(pairShape).drop_back());
      oneShape.push_back(1);
      auto oneType = RankedTensorType::get(oneShape, t.getElementType());
      Value u0 = eo::UnsqueezeOp::create(b, loc, oneType, o0, i64s(b, loc, {-1}));
      Value u1 = eo::UnsqueezeOp::create(b, loc, oneType, o1, i64s(b, loc, {-1}));
      Value st = eo::ConcatOp::create(b, loc, pairType, ValueRange{u0, u1}, b.getI64IntegerAttr(-1));
      SmallVector<int64_t> back(rank - 1, 0);
      back.push_back(rot);
      Value flat = eo::ReshapeOp::create(b, loc, rotType, st, i64s(b, loc, back),
                                         b.getI64IntegerAttr(0));
      result = eo::ConcatOp::create(b, loc, t, ValueRange{flat, xp}, b.getI64IntegerAttr(-1));
    } else if (auto at = dyn_cast<elm::AttentionOp>(op)) {
      // The exporter's graph of ChatGLM2's core attention (same arithmetic).
      auto qt = at.getQ().getType(), kt = at.getK().getType();
      Type f = qt.getElementType();
      int64_t H = qt.getDimSize(2), G = kt.getDimSize(2), D = qt.getDimSize(3);
      int64_t dyn = ShapedType::kDynamic;
      auto ty = [&](ArrayRef<int64_t> s, Type e) { return RankedTensorType::get(s, e); };
      auto expand = [&](Value c) -> Value {
        Value u = eo::UnsqueezeOp::create(b, loc, ty({dyn, dyn, G, 1, D}, f), c, i64s(b, loc, {3}));
        Value x = eo::ExpandOp::create(b, loc, ty({dyn, dyn, G, H / G, D}, f), u,
                                       i64s(b, loc, {1, 1, 1, H / G, 1}));
        Value e = eo::ReshapeOp::create(b, loc, ty({dyn, dyn, H, D}, f), x,
                                        i64s(b, loc, {0, 0, H, D}), b.getI64IntegerAttr(0));
        return eo::ReshapeOp::create(b, loc, ty({dyn, dyn, D}, f), e, i64s(b, loc, {0, -1, D}),
                                     b.getI64IntegerAttr(0));
      };
      Value q3 = eo::ReshapeOp::create(b, loc, ty({dyn, dyn, D}, f), at.getQ(),
                                       i64s(b, loc, {0, -1, D}), b.getI64IntegerAttr(0));
      Value qT = eo::TransposeOp::create(b, loc, ty({dyn, dyn, D}, f), q3, b.getI64ArrayAttr({1, 0, 2}));
      Value kT = eo::TransposeOp::create(b, loc, ty({dyn, D, dyn}, f), expand(at.getK()),
                                         b.getI64ArrayAttr({1, 2, 0}));
      Value vT = eo::TransposeOp::create(b, loc, ty({dyn, dyn, D}, f), expand(at.getV()),
                                         b.getI64ArrayAttr({1, 0, 2}));
      Value scores = eo::MatMulOp::create(b, loc, ty({dyn, dyn, dyn}, f), qT, kT);
      Value scaled = eo::MulOp::create(b, loc, ty({dyn, dyn, dyn}, f), scores,
                                       scalar(b, loc, f, at.getScale().convertToDouble()));
      // Sizes taken at run time: b = q[1], s = q[0], L = k[0].
      auto size = [&](Value t, int64_t i) -> Value {
        auto rt = cast<RankedTensorType>(t.getType());
        Value sh = eo::ShapeOp::create(b, loc, ty({rt.getRank()}, b.getI64Type()), t,
                                       b.getI64IntegerAttr(0), IntegerAttr());
        auto it = RankedTensorType::get({1}, b.getI64Type());
        return eo::GatherOp::create(b, loc, it, sh, i64s(b, loc, {i}), b.getI64IntegerAttr(0));
      };
      Value bs = size(at.getQ(), 1), ss = size(at.getQ(), 0), ls = size(at.getK(), 0);
      auto cat4 = [&](Value a, Value c, Value d, Value e) {
        return eo::ConcatOp::create(b, loc, ty({4}, b.getI64Type()), ValueRange{a, c, d, e},
                                    b.getI64IntegerAttr(0));
      };
      Value s4 = eo::ReshapeOp::create(b, loc, ty({dyn, H, dyn, dyn}, f), scaled,
                                       cat4(bs, i64s(b, loc, {H}), ss, ls), b.getI64IntegerAttr(0));
      Value mU = eo::UnsqueezeOp::create(b, loc, ty({dyn, 1, dyn, dyn}, b.getI1Type()), at.getMask(),
                                         i64s(b, loc, {1}));
      Value w = eo::WhereOp::create(b, loc, ty({dyn, H, dyn, dyn}, f), mU,
                                    scalar(b, loc, f, at.getMaskedValue().convertToDouble()), s4);
      Value probs = eo::SoftmaxOp::create(b, loc, ty({dyn, H, dyn, dyn}, f), w, b.getI64IntegerAttr(-1));
      Value shape3 = eo::ConcatOp::create(b, loc, ty({3}, b.getI64Type()),
                                          ValueRange{i64s(b, loc, {-1}), ss, ls},
                                          b.getI64IntegerAttr(0));
      Value p3 = eo::ReshapeOp::create(b, loc, ty({dyn, dyn, dyn}, f), probs, shape3,
                                       b.getI64IntegerAttr(0));
      Value ctx = eo::MatMulOp::create(b, loc, ty({dyn, dyn, D}, f), p3, vT);
      Value c4 = eo::ReshapeOp::create(b, loc, ty({dyn, H, dyn, D}, f), ctx,
                                       cat4(bs, i64s(b, loc, {H}), ss, i64s(b, loc, {D})),
                                       b.getI64IntegerAttr(0));
      Value cT = eo::TransposeOp::create(b, loc, ty({dyn, dyn, H, D}, f), c4,
                                         b.getI64ArrayAttr({2, 0, 1, 3}));
      result = eo::ReshapeOp::create(b, loc, at.getType(), cT, i64s(b, loc, {0, 0, H * D}),
                                     b.getI64IntegerAttr(0));
    } else if (auto e = dyn_cast<elm::EmbeddingOp>(op)) {
      result = eo::GatherOp::create(b, loc, e.getType(), e.getTable(), e.getIds(),
                                    b.getI64IntegerAttr(0));
    } else if (auto add = dyn_cast<elm::AddOp>(op)) {
      result = eo::AddOp::create(b, loc, add.getType(), add.getLhs(), add.getRhs());
    } else if (auto mul = dyn_cast<elm::MulOp>(op)) {
      result = eo::MulOp::create(b, loc, mul.getType(), mul.getLhs(), mul.getRhs());
    } else if (auto sm = dyn_cast<elm::SoftmaxOp>(op)) {
      result = eo::SoftmaxOp::create(b, loc, sm.getType(), sm.getInput(), b.getI64IntegerAttr(-1));
    } else {
      op->emitOpError("has no CPU fallback yet");
      return signalPassFailure();
    }
    op->getResult(0).replaceAllUsesWith(result);
    op->erase();
  }
}
