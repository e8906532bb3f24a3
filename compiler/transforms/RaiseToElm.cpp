//===- RaiseToElm.cpp - Recognise LLM operators in onnx graphs ------------===//
//
// Matches the sub-graphs torch.onnx.export writes for ChatGLM2-class models
// (after shape folding) and replaces them by elm ops:
//   Gather(table, ids)                                   -> elm.embedding
//   MatMul(x, W[in, out]) (+ Add(bias))                   -> elm.linear
//   Pow(x, 2) -> ReduceMean(-1) -> Add(eps) -> Sqrt -> Div(1, .) -> Mul(x, .)
//     -> Mul(gamma)                                      -> elm.rms_norm
//   Mul(Mul(a, Sigmoid(a)), b), a | b halves of x        -> elm.swiglu
//   Add(y, linear output)                                -> elm.add
// What is not recognised stays onnx; a remark on the function lists it.
//
//===----------------------------------------------------------------------===//

#include "compiler/transforms/Passes.h"
#include "dialects/elm/ElmDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/MapVector.h"

namespace edgellm::transforms {
#define GEN_PASS_DEF_RAISEONNXTOELM
#include "compiler/transforms/Passes.h.inc"
} // namespace edgellm::transforms

using namespace mlir;
using namespace edgellm;
namespace eo = edgellm::onnx;

namespace {

/// A weight: produced by onnx.ExternalData or a (resource) constant.
bool isWeight(Value v) {
  Operation *d = v.getDefiningOp();
  return d && isa<eo::ExternalDataOp, eo::ConstantOp>(d);
}

/// The value of a constant single-element float tensor.
std::optional<double> scalarFloat(Value v) {
  DenseFPElementsAttr a;
  if (!matchPattern(v, m_Constant(&a)) || a.getNumElements() != 1)
    return std::nullopt;
  return (*a.getValues<APFloat>().begin()).convertToDouble();
}

/// Looks through Cast ops that keep the element type (already folded ones
/// are gone; casts to the same float width remain possible).
Value skipCasts(Value v) {
  while (auto c = v.getDefiningOp<eo::CastOp>()) {
    if (getElementTypeOrSelf(c.getInput().getType()) !=
        getElementTypeOrSelf(c.getOutput().getType()))
      break;
    v = c.getInput();
  }
  return v;
}

/// The other operand of a binary op given one.
Value other(Operation *op, Value one) {
  return op->getOperand(0) == one ? op->getOperand(1) : op->getOperand(0);
}

bool isLastAxis(ArrayAttr axes, int64_t rank) {
  if (!axes || axes.size() != 1)
    return false;
  int64_t a = cast<IntegerAttr>(axes[0]).getInt();
  return a == -1 || a == rank - 1;
}

/// Slice of the last axis [start, end) of `x`, with constant bounds.
std::optional<std::pair<int64_t, int64_t>> lastAxisSlice(eo::SliceOp s, Value &x) {
  auto t = dyn_cast<RankedTensorType>(s.getData().getType());
  auto starts = onnx::getConstantInts(s.getStarts()), ends = onnx::getConstantInts(s.getEnds());
  if (!t || !starts || !ends || starts->size() != 1)
    return std::nullopt;
  if (!isa<NoneType>(s.getAxes().getType())) {
    auto axes = onnx::getConstantInts(s.getAxes());
    if (!axes || axes->size() != 1 || ((*axes)[0] != -1 && (*axes)[0] != t.getRank() - 1))
      return std::nullopt;
  } else if (t.getRank() != 1) {
    return std::nullopt;
  }
  if (!isa<NoneType>(s.getSteps().getType())) {
    auto steps = onnx::getConstantInts(s.getSteps());
    if (!steps || (*steps)[0] != 1)
      return std::nullopt;
  }
  int64_t dim = t.getShape().back();
  if (ShapedType::isDynamic(dim))
    return std::nullopt;
  int64_t b = (*starts)[0], e = (*ends)[0];
  if (b < 0)
    b += dim;
  if (e < 0)
    e += dim;
  e = std::min(e, dim);
  if (b < 0 || b > e)
    return std::nullopt;
  x = s.getData();
  return std::make_pair(b, e);
}

struct RaiseOnnxToElmPass
    : public transforms::impl::RaiseOnnxToElmBase<RaiseOnnxToElmPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void RaiseOnnxToElmPass::runOnOperation() {
  func::FuncOp func = getOperation();
  OpBuilder b(func.getContext());
  llvm::MapVector<StringRef, unsigned> raised;

  // RMSNorm, rooted at ReduceMean.
  func.walk([&](eo::ReduceMeanOp rm) {
    auto pow = rm.getData().getDefiningOp<eo::PowOp>();
    auto xt = pow ? dyn_cast<RankedTensorType>(pow.getA().getType()) : RankedTensorType();
    if (!pow || !xt || scalarFloat(pow.getB()) != 2.0 || !isLastAxis(rm.getAxesAttr(), xt.getRank()) ||
        !rm.getKeepdims() || !rm->hasOneUse())
      return;
    Value x = pow.getA();
    auto add = dyn_cast<eo::AddOp>(*rm->user_begin());
    if (!add || !add->hasOneUse())
      return;
    std::optional<double> eps = scalarFloat(other(add, rm.getReduced()));
    auto sq = dyn_cast<eo::SqrtOp>(*add->user_begin());
    if (!eps || !sq || !sq->hasOneUse())
      return;
    auto div = dyn_cast<eo::DivOp>(*sq->user_begin());
    if (!div || div.getB() != sq.getY() || scalarFloat(div.getA()) != 1.0 || !div->hasOneUse())
      return;
    auto mul = dyn_cast<eo::MulOp>(*div->user_begin());
    if (!mul || other(mul, div.getC()) != x || !mul->hasOneUse())
      return;
    // Through same-type casts to the gamma multiplication.
    Operation *next = *mul->user_begin();
    Value normed = mul.getC();
    while (auto c = dyn_cast<eo::CastOp>(next)) {
      if (!c->hasOneUse() || getElementTypeOrSelf(c.getInput().getType()) !=
                                 getElementTypeOrSelf(c.getOutput().getType()))
        return;
      normed = c.getOutput();
      next = *c->user_begin();
    }
    auto gmul = dyn_cast<eo::MulOp>(next);
    if (!gmul)
      return;
    Value gamma = other(gmul, normed);
    auto gt = dyn_cast<RankedTensorType>(gamma.getType());
    auto rt = dyn_cast<RankedTensorType>(gmul.getC().getType());
    if (!isWeight(gamma) || !gt || gt.getRank() != 1 || !rt || rt != xt ||
        gt.getDimSize(0) != xt.getShape().back())
      return;
    b.setInsertionPoint(gmul);
    auto norm = elm::RmsNormOp::create(b, gmul.getLoc(), rt, x, gamma, b.getF64FloatAttr(*eps),
                                       elm::DeviceAttr());
    gmul.getC().replaceAllUsesWith(norm.getResult());
    ++raised["elm.rms_norm"];
  });

  // Linear layers (and their bias).
  func.walk([&](eo::MatMulOp mm) {
    auto wt = dyn_cast<RankedTensorType>(mm.getB().getType());
    auto xt = dyn_cast<RankedTensorType>(mm.getA().getType());
    auto rt = dyn_cast<RankedTensorType>(mm.getY().getType());
    if (!isWeight(mm.getB()) || !wt || wt.getRank() != 2 || !xt || !rt || xt.getRank() < 1)
      return;
    Value bias;
    Operation *replace = mm;
    if (mm->hasOneUse())
      if (auto add = dyn_cast<eo::AddOp>(*mm->user_begin())) {
        Value bv = other(add, mm.getY());
        auto bt = dyn_cast<RankedTensorType>(bv.getType());
        if (isWeight(bv) && bt && bt.getRank() == 1 && bt.getDimSize(0) == wt.getDimSize(1) &&
            add.getC().getType() == rt) {
          bias = bv;
          replace = add;
        }
      }
    b.setInsertionPoint(replace);
    auto lin = elm::LinearOp::create(b, replace->getLoc(), rt, mm.getA(), mm.getB(), bias,
                                     elm::WeightFormatAttr::get(b.getContext(), elm::WeightFormat::f32),
                                     FloatAttr(), elm::DeviceAttr());
    replace->getResult(0).replaceAllUsesWith(lin.getResult());
    ++raised["elm.linear"];
  });

  // Rotary embedding, rooted at Concat(rotated, passed-through).
  func.walk([&](eo::ConcatOp cat) {
    auto rt = dyn_cast<RankedTensorType>(cat.getConcatResult().getType());
    if (!rt || cat.getInputs().size() != 2 || rt.getRank() < 2 ||
        (cat.getAxis() != -1 && int64_t(cat.getAxis()) != rt.getRank() - 1))
      return;
    auto pass = cat.getInputs()[1].getDefiningOp<eo::SliceOp>();
    auto outReshape = cat.getInputs()[0].getDefiningOp<eo::ReshapeOp>();
    if (!pass || !outReshape)
      return;
    Value x;
    auto passRange = lastAxisSlice(pass, x);
    if (!passRange || passRange->second != rt.getShape().back() || x.getType() != rt)
      return;
    int64_t rot = passRange->first;
    auto stack = outReshape.getData().getDefiningOp<eo::ConcatOp>();
    if (!stack || stack.getInputs().size() != 2 ||
        (stack.getAxis() != -1 && int64_t(stack.getAxis()) != rt.getRank()))
      return;
    auto u0 = stack.getInputs()[0].getDefiningOp<eo::UnsqueezeOp>();
    auto u1 = stack.getInputs()[1].getDefiningOp<eo::UnsqueezeOp>();
    // Pairs are interleaved: the two halves are stacked on a new last axis.
    for (auto u : {u0, u1}) {
      auto axes = u ? onnx::getConstantInts(u.getAxes()) : std::nullopt;
      if (!axes || axes->size() != 1 || ((*axes)[0] != -1 && (*axes)[0] != rt.getRank()))
        return;
    }
    auto o0 = u0 ? u0.getData().getDefiningOp<eo::SubOp>() : eo::SubOp();
    auto o1 = u1 ? u1.getData().getDefiningOp<eo::AddOp>() : eo::AddOp();
    if (!o0 || !o1)
      return;
    auto m00 = o0.getA().getDefiningOp<eo::MulOp>(), m01 = o0.getB().getDefiningOp<eo::MulOp>();
    auto m10 = o1.getA().getDefiningOp<eo::MulOp>(), m11 = o1.getB().getDefiningOp<eo::MulOp>();
    if (!m00 || !m01 || !m10 || !m11)
      return;
    // x0 = m00.A = m11.A, x1 = m01.A = m10.A, c = m00.B = m10.B, s = m01.B = m11.B.
    Value x0 = m00.getA(), x1 = m01.getA(), c = m00.getB(), s = m01.getB();
    if (m11.getA() != x0 || m10.getA() != x1 || m10.getB() != c || m11.getB() != s)
      return;
    auto pick = [](Value v, int64_t idx) -> Value {
      auto g = v.getDefiningOp<eo::GatherOp>();
      auto t = g ? dyn_cast<RankedTensorType>(g.getData().getType()) : RankedTensorType();
      auto i = g ? onnx::getConstantInts(g.getIndices()) : std::nullopt;
      if (!g || !t || !i || i->size() != 1 || (*i)[0] != idx ||
          (int64_t(g.getAxis()) != -1 && int64_t(g.getAxis()) != t.getRank() - 1) ||
          t.getShape().back() != 2)
        return Value();
      return g.getData();
    };
    Value xr = pick(x0, 0), cs = pick(c, 0);
    if (!xr || pick(x1, 1) != xr || !cs || pick(s, 1) != cs)
      return;
    auto xrReshape = xr.getDefiningOp<eo::ReshapeOp>();
    auto rotSlice = xrReshape ? xrReshape.getData().getDefiningOp<eo::SliceOp>() : eo::SliceOp();
    Value x2;
    auto rotRange = rotSlice ? lastAxisSlice(rotSlice, x2) : std::nullopt;
    if (!rotRange || x2 != x || rotRange->first != 0 || rotRange->second != rot)
      return;
    auto cst = dyn_cast<RankedTensorType>(cs.getType());
    if (!cst || cst.getRank() != rt.getRank() + 1)
      return;
    b.setInsertionPoint(cat);
    auto rope = elm::RopeOp::create(b, cat.getLoc(), rt, x, cs, b.getI64IntegerAttr(rot),
                                    elm::PairLayoutAttr::get(b.getContext(),
                                                             elm::PairLayout::interleaved),
                                    elm::DeviceAttr());
    if (failed(verify(rope))) {
      rope.erase();
      return;
    }
    cat.getConcatResult().replaceAllUsesWith(rope.getResult());
    ++raised["elm.rope"];
  });

  // Attention, rooted at the Reshape of the context back to [s, b, H*D].
  auto perm = [](eo::TransposeOp t, ArrayRef<int64_t> p) {
    if (!t || !t.getPermAttr() || t.getPermAttr().size() != p.size())
      return false;
    for (auto [a, e] : llvm::zip(t.getPermAttr(), p))
      if (cast<IntegerAttr>(a).getInt() != e)
        return false;
    return true;
  };
  // Unsqueeze -> Expand -> Reshape -> Reshape of a [L, b, G, D] cache.
  auto targetIs = [](Value shape, ArrayRef<int64_t> expect) {
    auto c = onnx::getConstantInts(shape);
    return c && ArrayRef<int64_t>(*c) == expect;
  };
  // Unsqueeze(axis 3) -> Expand([1,1,1,H/G,1]) -> Reshape([0,0,H,D]) ->
  // Reshape([0,-1,D]) of a [L, b, G, D] cache: each KV head serves H/G
  // consecutive query heads.
  auto expandedCache = [&](Value v, int64_t h, int64_t d) -> Value {
    auto r3 = v.getDefiningOp<eo::ReshapeOp>();
    auto r4 = r3 ? r3.getData().getDefiningOp<eo::ReshapeOp>() : eo::ReshapeOp();
    auto ex = r4 ? r4.getData().getDefiningOp<eo::ExpandOp>() : eo::ExpandOp();
    auto un = ex ? ex.getInput().getDefiningOp<eo::UnsqueezeOp>() : eo::UnsqueezeOp();
    if (!un)
      return Value();
    auto t = dyn_cast<RankedTensorType>(un.getData().getType());
    if (!t || t.getRank() != 4 || t.isDynamicDim(2) || t.getDimSize(2) == 0 ||
        h % t.getDimSize(2) != 0)
      return Value();
    int64_t g = t.getDimSize(2);
    auto axes = onnx::getConstantInts(un.getAxes());
    if (!axes || axes->size() != 1 || ((*axes)[0] != 3 && (*axes)[0] != -2) ||
        !targetIs(ex.getShape(), {1, 1, 1, h / g, 1}) || !targetIs(r4.getShape(), {0, 0, h, d}) ||
        !targetIs(r3.getShape(), {0, -1, d}))
      return Value();
    return un.getData();
  };
  func.walk([&](eo::ReshapeOp out) {
    auto rt = dyn_cast<RankedTensorType>(out.getReshaped().getType());
    auto cT = out.getData().getDefiningOp<eo::TransposeOp>();
    if (!rt || rt.getRank() != 3 || !perm(cT, {2, 0, 1, 3}))
      return;
    auto c4 = cT.getData().getDefiningOp<eo::ReshapeOp>();
    auto ctx = c4 ? c4.getData().getDefiningOp<eo::MatMulOp>() : eo::MatMulOp();
    auto p3 = ctx ? ctx.getA().getDefiningOp<eo::ReshapeOp>() : eo::ReshapeOp();
    auto vT = ctx ? ctx.getB().getDefiningOp<eo::TransposeOp>() : eo::TransposeOp();
    auto probs = p3 ? p3.getData().getDefiningOp<eo::SoftmaxOp>() : eo::SoftmaxOp();
    if (!probs || !perm(vT, {1, 0, 2}) || (probs.getAxis() != -1 && probs.getAxis() != 3))
      return;
    auto where = probs.getInput().getDefiningOp<eo::WhereOp>();
    auto maskU = where ? where.getCondition().getDefiningOp<eo::UnsqueezeOp>() : eo::UnsqueezeOp();
    auto s4 = where ? where.getY().getDefiningOp<eo::ReshapeOp>() : eo::ReshapeOp();
    std::optional<double> fill = where ? scalarFloat(where.getX()) : std::nullopt;
    auto maskAxes = maskU ? onnx::getConstantInts(maskU.getAxes()) : std::nullopt;
    if (!fill || !s4 || !maskAxes || *maskAxes != SmallVector<int64_t>{1})
      return;
    auto scaled = s4.getData().getDefiningOp<eo::MulOp>();
    if (!scaled)
      return;
    std::optional<double> scale = scalarFloat(scaled.getB());
    auto scores = scaled.getA().getDefiningOp<eo::MatMulOp>();
    auto qT = scores ? scores.getA().getDefiningOp<eo::TransposeOp>() : eo::TransposeOp();
    auto kT = scores ? scores.getB().getDefiningOp<eo::TransposeOp>() : eo::TransposeOp();
    if (!scale || !perm(qT, {1, 0, 2}) || !perm(kT, {1, 2, 0}))
      return;
    auto q3 = qT.getData().getDefiningOp<eo::ReshapeOp>();
    Value q = q3 ? q3.getData() : Value();
    auto qt = q ? dyn_cast<RankedTensorType>(q.getType()) : RankedTensorType();
    if (!qt || qt.getRank() != 4 || qt.isDynamicDim(2) || qt.isDynamicDim(3))
      return;
    int64_t heads = qt.getDimSize(2), dim = qt.getDimSize(3);
    if (!targetIs(q3.getShape(), {0, -1, dim}) || !targetIs(out.getShape(), {0, 0, heads * dim}))
      return;
    Value k = expandedCache(kT.getData(), heads, dim), v = expandedCache(vT.getData(), heads, dim);
    auto mt = dyn_cast<RankedTensorType>(maskU.getData().getType());
    if (!qt || qt.getRank() != 4 || !k || !v || k.getType() != v.getType() || !mt ||
        mt.getRank() != 3 || !mt.getElementType().isInteger(1))
      return;
    b.setInsertionPoint(out);
    auto att = elm::AttentionOp::create(b, out.getLoc(), rt, q, k, v, maskU.getData(),
                                        b.getF64FloatAttr(*scale), b.getF64FloatAttr(*fill),
                                        elm::DeviceAttr());
    if (failed(verify(att))) {
      att.erase();
      return;
    }
    out.getReshaped().replaceAllUsesWith(att.getResult());
    ++raised["elm.attention"];
  });

  // SwiGLU, rooted at the outer Mul.
  func.walk([&](eo::MulOp outer) {
    for (int side = 0; side < 2; ++side) {
      auto inner = outer->getOperand(side).getDefiningOp<eo::MulOp>();
      Value bval = outer->getOperand(1 - side);
      if (!inner)
        continue;
      for (int s2 = 0; s2 < 2; ++s2) {
        auto sig = inner->getOperand(s2).getDefiningOp<eo::SigmoidOp>();
        Value a = inner->getOperand(1 - s2);
        if (!sig || sig.getX() != a)
          continue;
        auto sa = a.getDefiningOp<eo::SliceOp>(), sb = bval.getDefiningOp<eo::SliceOp>();
        if (!sa || !sb)
          continue;
        Value xa, xb;
        auto ra = lastAxisSlice(sa, xa), rb = lastAxisSlice(sb, xb);
        auto xt = xa ? dyn_cast<RankedTensorType>(xa.getType()) : RankedTensorType();
        if (!ra || !rb || xa != xb || !xt)
          continue;
        int64_t dim = xt.getShape().back();
        if (ra->first != 0 || ra->second * 2 != dim || rb->first != ra->second || rb->second != dim)
          continue;
        auto rt = dyn_cast<RankedTensorType>(outer.getC().getType());
        if (!rt)
          continue;
        b.setInsertionPoint(outer);
        auto sw = elm::SwigluOp::create(b, outer.getLoc(), rt, xa, elm::DeviceAttr());
        outer.getC().replaceAllUsesWith(sw.getResult());
        ++raised["elm.swiglu"];
        return;
      }
    }
  });

  // Embedding lookups.
  func.walk([&](eo::GatherOp g) {
    auto tt = dyn_cast<RankedTensorType>(g.getData().getType());
    auto it = dyn_cast<RankedTensorType>(g.getIndices().getType());
    auto rt = dyn_cast<RankedTensorType>(g.getOutput().getType());
    if (!isWeight(g.getData()) || !tt || tt.getRank() != 2 || g.getAxis() != 0 || !it || !rt ||
        !isa<FloatType>(tt.getElementType()) || it.getRank() == 0)
      return;
    b.setInsertionPoint(g);
    auto e = elm::EmbeddingOp::create(b, g.getLoc(), rt, g.getData(), g.getIndices(), elm::DeviceAttr());
    g.getOutput().replaceAllUsesWith(e.getResult());
    ++raised["elm.embedding"];
  });

  // Residual adds: one operand is a linear layer's output.
  func.walk([&](eo::AddOp add) {
    auto rt = dyn_cast<RankedTensorType>(add.getC().getType());
    if (!rt || add.getA().getType() != rt || add.getB().getType() != rt)
      return;
    if (!add.getA().getDefiningOp<elm::LinearOp>() && !add.getB().getDefiningOp<elm::LinearOp>())
      return;
    b.setInsertionPoint(add);
    auto r = elm::AddOp::create(b, add.getLoc(), rt, add.getA(), add.getB(), elm::DeviceAttr());
    add.getC().replaceAllUsesWith(r.getResult());
    ++raised["elm.add"];
  });

  // Erase what became dead (onnx ops are pure), so the patterns below see
  // only what the ones above left in use.
  auto eraseDead = [&] {
    bool changed = true;
    while (changed) {
      changed = false;
      SmallVector<Operation *> dead;
      func.walk([&](Operation *op) {
        if (op->getDialect() && op->getDialect()->getNamespace() == "onnx" && op->use_empty() &&
            !isa<eo::ExternalDataOp, eo::ConstantOp>(op))
          dead.push_back(op);
      });
      for (Operation *op : llvm::reverse(dead)) {
        op->erase();
        changed = true;
      }
    }
  };
  eraseDead();

  // A softmax over the last axis that is not part of an attention.
  func.walk([&](eo::SoftmaxOp sm) {
    auto rt = dyn_cast<RankedTensorType>(sm.getOutput().getType());
    if (!rt || sm.getInput().getType() != rt || !isa<FloatType>(rt.getElementType()) ||
        (int64_t(sm.getAxis()) != -1 && int64_t(sm.getAxis()) != rt.getRank() - 1))
      return;
    b.setInsertionPoint(sm);
    auto r = elm::SoftmaxOp::create(b, sm.getLoc(), rt, sm.getInput(), elm::DeviceAttr());
    sm.getOutput().replaceAllUsesWith(r.getResult());
    ++raised["elm.softmax"];
  });

  // An element-wise product of two activations of one type, one of them
  // computed by an LLM operator (products with weights or masks stay onnx).
  func.walk([&](eo::MulOp mul) {
    auto rt = dyn_cast<RankedTensorType>(mul.getC().getType());
    if (!rt || !isa<FloatType>(rt.getElementType()) || mul.getA().getType() != rt ||
        mul.getB().getType() != rt || isWeight(mul.getA()) || isWeight(mul.getB()))
      return;
    auto fromElm = [](Value v) {
      Operation *d = v.getDefiningOp();
      return d && d->getDialect() && d->getDialect()->getNamespace() == "elm";
    };
    if (!fromElm(mul.getA()) && !fromElm(mul.getB()))
      return;
    b.setInsertionPoint(mul);
    auto r = elm::MulOp::create(b, mul.getLoc(), rt, mul.getA(), mul.getB(), elm::DeviceAttr());
    mul.getC().replaceAllUsesWith(r.getResult());
    ++raised["elm.mul"];
  });

  eraseDead();

  if (report) {
    std::string text = "raised:";
    for (auto &[name, n] : raised)
      text += " " + std::to_string(n) + " " + name.str();
    llvm::MapVector<StringRef, unsigned> left;
    func.walk([&](Operation *op) {
      if (op->getDialect() && op->getDialect()->getNamespace() == "onnx" &&
          !isa<eo::ExternalDataOp, eo::ConstantOp, eo::NoneOp>(op))
        ++left[op->getName().getStringRef()];
    });
    text += "; left in onnx:";
    for (auto &[name, n] : left)
      text += " " + std::to_string(n) + " " + name.str();
    func.emitRemark(text);
  }
}
