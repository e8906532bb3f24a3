//===- OnnxToLinalg.cpp - onnx ops -> tensor/linalg/arith/math -------------===//
//
// The CPU path's first step: every onnx op becomes upstream tensor-level IR
// (linalg.generic / fill / transpose, tensor.reshape / extract_slice /
// insert_slice, arith, math). Sizes that are dynamic are computed at run time
// from tensor.dim and the values of shape tensors, so dynamic sequence and
// past lengths work. Broadcasting follows numpy: a dimension broadcasts when
// it is statically 1; dynamic dimensions are taken to match.
//
//===----------------------------------------------------------------------===//

#include "compiler/conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"

namespace edgellm::conversion {
#define GEN_PASS_DEF_CONVERTONNXTOLINALG
#include "compiler/conversion/Passes.h.inc"
} // namespace edgellm::conversion

using namespace mlir;
using namespace edgellm;
namespace eo = edgellm::onnx;

namespace {

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

class Lowering {
public:
  Lowering(Operation *op) : b(op), loc(op->getLoc()), op(op) {}

  OpBuilder b;
  Location loc;
  Operation *op;

  Value cidx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value ci64(int64_t v) { return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v); }
  Value toIndex(Value v) {
    if (v.getType().isIndex())
      return v;
    if (v.getType().getIntOrFloatBitWidth() < 64)
      v = arith::ExtSIOp::create(b, loc, b.getI64Type(), v);
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  }
  Value toI64(Value v) {
    return v.getType().isIndex() ? Value(arith::IndexCastOp::create(b, loc, b.getI64Type(), v))
                                 : v;
  }
  Value dim(Value t, int64_t i) {
    auto rt = cast<RankedTensorType>(t.getType());
    if (!rt.isDynamicDim(i))
      return cidx(rt.getDimSize(i));
    return tensor::DimOp::create(b, loc, t, i);
  }
  /// Size i of a tensor as an OpFoldResult (an attribute when static).
  OpFoldResult dimOfr(Value t, int64_t i) {
    auto rt = cast<RankedTensorType>(t.getType());
    if (!rt.isDynamicDim(i))
      return b.getIndexAttr(rt.getDimSize(i));
    return tensor::DimOp::create(b, loc, t, i).getResult();
  }
  SmallVector<Value> dims(Value t) {
    SmallVector<Value> out;
    for (int64_t i = 0, r = cast<RankedTensorType>(t.getType()).getRank(); i < r; ++i)
      out.push_back(dim(t, i));
    return out;
  }
  /// Element i of a 0-D or 1-D integer tensor, as index.
  Value element(Value t, int64_t i) {
    auto rt = cast<RankedTensorType>(t.getType());
    SmallVector<Value> idx;
    if (rt.getRank() == 1)
      idx.push_back(cidx(i));
    return toIndex(tensor::ExtractOp::create(b, loc, t, idx));
  }
  Value empty(RankedTensorType t, ArrayRef<Value> sizes) {
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < t.getRank(); ++i)
      if (t.isDynamicDim(i))
        dyn.push_back(sizes[i]);
    return tensor::EmptyOp::create(b, loc, t.getShape(), t.getElementType(), dyn);
  }
  Value fill(Value init, Value scalar) {
    return linalg::FillOp::create(b, loc, scalar, init).getResult(0);
  }
  Value zero(Type t) {
    if (isa<FloatType>(t))
      return arith::ConstantOp::create(b, loc, t, b.getFloatAttr(t, 0.0));
    return arith::ConstantOp::create(b, loc, t, b.getIntegerAttr(t, 0));
  }
  Value maxI(Value a, Value c) { return arith::MaxSIOp::create(b, loc, a, c); }
  Value minI(Value a, Value c) { return arith::MinSIOp::create(b, loc, a, c); }

  RankedTensorType resultType(unsigned i = 0) {
    return dyn_cast<RankedTensorType>(op->getResult(i).getType());
  }

  /// A generic over the result's index space with numpy broadcasting of the
  /// inputs; `sizes` gives the result sizes (or null to derive them).
  Value elementwise(ArrayRef<Value> inputs, RankedTensorType rt, BodyFn body,
                    ArrayRef<Value> sizes = {}) {
    int64_t R = rt.getRank();
    SmallVector<AffineMap> maps;
    SmallVector<Value> outSizes(sizes.begin(), sizes.end());
    if (outSizes.empty())
      outSizes.assign(R, Value());
    for (Value in : inputs) {
      auto it = cast<RankedTensorType>(in.getType());
      int64_t r = it.getRank();
      SmallVector<AffineExpr> exprs;
      for (int64_t j = 0; j < r; ++j) {
        int64_t d = R - r + j;
        bool bcast = it.getDimSize(j) == 1 && rt.getDimSize(d) != 1;
        exprs.push_back(bcast ? b.getAffineConstantExpr(0) : b.getAffineDimExpr(d));
        if (!bcast && !outSizes[d] && (it.isDynamicDim(j) || !rt.isDynamicDim(d)))
          outSizes[d] = dim(in, j);
      }
      maps.push_back(AffineMap::get(R, 0, exprs, b.getContext()));
    }
    for (int64_t d = 0; d < R; ++d)
      if (!outSizes[d])
        outSizes[d] = rt.isDynamicDim(d) ? cidx(1) : cidx(rt.getDimSize(d));
    maps.push_back(b.getMultiDimIdentityMap(R));
    Value init = empty(rt, outSizes);
    SmallVector<utils::IteratorType> iters(R, utils::IteratorType::parallel);
    auto g = linalg::GenericOp::create(
        b, loc, TypeRange{rt}, inputs, ValueRange{init}, maps, iters,
        [&](OpBuilder &nb, Location nl, ValueRange args) {
          Value v = body(nb, nl, args.drop_back());
          linalg::YieldOp::create(nb, nl, v);
        });
    return g.getResult(0);
  }

  /// Reduce `in` over `axes` keeping them as size 1 (result type `rt`),
  /// starting from `initValue`.
  Value reduceKeep(Value in, ArrayRef<int64_t> axes, Value initValue,
                   function_ref<Value(OpBuilder &, Location, Value, Value)> combine) {
    auto it = cast<RankedTensorType>(in.getType());
    int64_t R = it.getRank();
    SmallVector<int64_t> shape(it.getShape());
    SmallVector<Value> sizes = dims(in);
    SmallVector<AffineExpr> outExprs;
    SmallVector<utils::IteratorType> iters;
    for (int64_t d = 0; d < R; ++d) {
      bool red = llvm::is_contained(axes, d);
      if (red) {
        shape[d] = 1;
        sizes[d] = cidx(1);
      }
      outExprs.push_back(red ? b.getAffineConstantExpr(0) : b.getAffineDimExpr(d));
      iters.push_back(red ? utils::IteratorType::reduction : utils::IteratorType::parallel);
    }
    auto outType = RankedTensorType::get(shape, it.getElementType());
    Value init = fill(empty(outType, sizes), initValue);
    SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(R),
                                   AffineMap::get(R, 0, outExprs, b.getContext())};
    auto g = linalg::GenericOp::create(
        b, loc, TypeRange{outType}, ValueRange{in}, ValueRange{init}, maps, iters,
        [&](OpBuilder &nb, Location nl, ValueRange args) {
          linalg::YieldOp::create(nb, nl, combine(nb, nl, args[0], args[1]));
        });
    return g.getResult(0);
  }

  Value reshapeTo(Value in, RankedTensorType rt, ArrayRef<Value> sizes) {
    SmallVector<Value> i64s;
    for (Value s : sizes)
      i64s.push_back(toI64(s));
    auto shapeType = RankedTensorType::get({int64_t(sizes.size())}, b.getI64Type());
    Value shape = tensor::FromElementsOp::create(b, loc, shapeType, i64s);
    return tensor::ReshapeOp::create(b, loc, rt, in, shape);
  }
};

/// Scalar conversion between element types (ONNX Cast semantics). Integer
/// values are signless here; `fromUnsigned` / `toUnsigned` say how the ONNX
/// types read them (bool counts as unsigned).
Value castScalar(OpBuilder &b, Location loc, Value v, Type to, bool fromUnsigned = false,
                 bool toUnsigned = false) {
  Type from = v.getType();
  if (from == to)
    return v;
  bool fromF = isa<FloatType>(from), toF = isa<FloatType>(to);
  if (to.isInteger(1)) {
    if (fromF)
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v,
                                   arith::ConstantOp::create(b, loc, from, b.getFloatAttr(from, 0)));
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v,
                                 arith::ConstantOp::create(b, loc, from, b.getIntegerAttr(from, 0)));
  }
  if (fromF && toF) {
    unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
    if (fw == tw) // f16 <-> bf16: through f32
      return arith::TruncFOp::create(b, loc, to,
                                     arith::ExtFOp::create(b, loc, b.getF32Type(), v));
    return fw < tw ? Value(arith::ExtFOp::create(b, loc, to, v))
                   : Value(arith::TruncFOp::create(b, loc, to, v));
  }
  fromUnsigned = fromUnsigned || from.isInteger(1);
  auto sl = [&](Type t) { // arith works on signless integers
    return isa<IntegerType>(t) ? Type(b.getIntegerType(t.getIntOrFloatBitWidth())) : t;
  };
  if (!fromF && toF)
    return fromUnsigned ? Value(arith::UIToFPOp::create(b, loc, to, v))
                        : Value(arith::SIToFPOp::create(b, loc, to, v));
  if (fromF && !toF)
    return toUnsigned ? Value(arith::FPToUIOp::create(b, loc, sl(to), v))
                                  : Value(arith::FPToSIOp::create(b, loc, sl(to), v));
  unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
  if (fw == tw)
    return v;
  if (fw < tw)
    return fromUnsigned ? Value(arith::ExtUIOp::create(b, loc, sl(to), v))
                        : Value(arith::ExtSIOp::create(b, loc, sl(to), v));
  return arith::TruncIOp::create(b, loc, sl(to), v);
}

struct ConvertOnnxToLinalgPass
    : public conversion::impl::ConvertOnnxToLinalgBase<ConvertOnnxToLinalgPass> {
  void runOnOperation() override;
  LogicalResult lower(Operation *op);
};

} // namespace

LogicalResult ConvertOnnxToLinalgPass::lower(Operation *op) {
  Lowering L(op);
  OpBuilder &b = L.b;
  Location loc = L.loc;
  auto fail = [&](const Twine &msg) -> LogicalResult {
    return op->emitOpError() << "CPU path: " << msg;
  };
  for (Value r : op->getResults())
    if (!isa<NoneType>(r.getType()) && !isa<RankedTensorType>(r.getType()))
      return fail("result of unknown rank");
  for (Value v : op->getOperands())
    if (!isa<NoneType>(v.getType()) && !isa<RankedTensorType>(v.getType()))
      return fail("operand of unknown rank");
  RankedTensorType rt = L.resultType();
  Value result;

  auto binary = [&](BodyFn fn) {
    result = L.elementwise({op->getOperand(0), op->getOperand(1)}, rt, fn);
    return success();
  };
  Type elt = op->getNumOperands() ? getElementTypeOrSelf(op->getOperand(0).getType()) : Type();
  bool isF = elt && isa<FloatType>(elt);
  // Integers are signless on the CPU path; these remember the ONNX types.
  bool unsIn = op->hasAttr("edgellm.unsigned_in"), unsOut = op->hasAttr("edgellm.unsigned_out");

  LogicalResult status =
      llvm::TypeSwitch<Operation *, LogicalResult>(op)
          .Case<eo::ConstantOp>([&](eo::ConstantOp c) {
            result = arith::ConstantOp::create(b, loc, cast<TypedAttr>(c.getValue()));
            return success();
          })
          .Case<eo::NoneOp>([&](auto) { return success(); })
          .Case<eo::ExternalDataOp>([&](auto) {
            return fail("external weights must be materialised first "
                        "(edgellm-onnx-materialize-weights)");
          })
          .Case<eo::AddOp>([&](auto) {
            return binary([&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              return isF ? Value(arith::AddFOp::create(nb, nl, a[0], a[1]))
                         : Value(arith::AddIOp::create(nb, nl, a[0], a[1]));
            });
          })
          .Case<eo::SubOp>([&](auto) {
            return binary([&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              return isF ? Value(arith::SubFOp::create(nb, nl, a[0], a[1]))
                         : Value(arith::SubIOp::create(nb, nl, a[0], a[1]));
            });
          })
          .Case<eo::MulOp>([&](auto) {
            return binary([&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              return isF ? Value(arith::MulFOp::create(nb, nl, a[0], a[1]))
                         : Value(arith::MulIOp::create(nb, nl, a[0], a[1]));
            });
          })
          .Case<eo::DivOp>([&](auto) {
            return binary([&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              if (isF)
                return arith::DivFOp::create(nb, nl, a[0], a[1]);
              return unsIn ? Value(arith::DivUIOp::create(nb, nl, a[0], a[1]))
                                     : Value(arith::DivSIOp::create(nb, nl, a[0], a[1]));
            });
          })
          .Case<eo::PowOp>([&](eo::PowOp p) {
            // Integer bases are raised in double precision and truncated
            // back (ONNX's integer Pow), exact for the sizes that fit.
            Type et = elt;
            bool intBase = !isa<FloatType>(et);
            Type ft = intBase ? Type(b.getF64Type()) : et;
            bool unsExp = p->hasAttr("edgellm.unsigned_exp");
            return binary([&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              Value x = castScalar(nb, nl, a[0], ft, unsIn);
              Value e = castScalar(nb, nl, a[1], ft, unsExp);
              Value r = math::PowFOp::create(nb, nl, x, e);
              return intBase ? castScalar(nb, nl, r, et, false, unsIn) : r;
            });
          })
          .Case<eo::EqualOp, eo::LessOp>([&](Operation *o) {
            bool less = isa<eo::LessOp>(o);
            return binary([&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              if (isF)
                return arith::CmpFOp::create(nb, nl, less ? arith::CmpFPredicate::OLT
                                                          : arith::CmpFPredicate::OEQ,
                                             a[0], a[1]);
              auto pred = !less ? arith::CmpIPredicate::eq
                          : unsIn ? arith::CmpIPredicate::ult
                                            : arith::CmpIPredicate::slt;
              return arith::CmpIOp::create(nb, nl, pred, a[0], a[1]);
            });
          })
          .Case<eo::WhereOp>([&](eo::WhereOp w) {
            result = L.elementwise({w.getCondition(), w.getX(), w.getY()}, rt,
                                   [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                     return arith::SelectOp::create(nb, nl, a[0], a[1], a[2]);
                                   });
            return success();
          })
          .Case<eo::NegOp, eo::NotOp, eo::SigmoidOp, eo::SqrtOp, eo::TanhOp, eo::CastOp>(
              [&](Operation *o) {
                Type to = rt.getElementType();
                result = L.elementwise({o->getOperand(0)}, rt,
                                       [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                  Value x = a[0];
                  if (isa<eo::CastOp>(o))
                    return castScalar(nb, nl, x, to, unsIn, unsOut);
                  if (isa<eo::NotOp>(o))
                    return arith::XOrIOp::create(nb, nl, x,
                        arith::ConstantIntOp::create(nb, nl, nb.getI1Type(), 1));
                  if (isa<eo::NegOp>(o))
                    return isF ? Value(arith::NegFOp::create(nb, nl, x))
                               : Value(arith::SubIOp::create(nb, nl,
                                     arith::ConstantOp::create(nb, nl, x.getType(),
                                                               nb.getIntegerAttr(x.getType(), 0)),
                                     x));
                  if (isa<eo::SqrtOp>(o))
                    return math::SqrtOp::create(nb, nl, x);
                  if (isa<eo::TanhOp>(o))
                    return math::TanhOp::create(nb, nl, x);
                  // Sigmoid: 1 / (1 + exp(-x)).
                  Value one = arith::ConstantOp::create(nb, nl, x.getType(),
                                                        nb.getFloatAttr(x.getType(), 1.0));
                  Value e = math::ExpOp::create(nb, nl, arith::NegFOp::create(nb, nl, x));
                  return arith::DivFOp::create(nb, nl, one, arith::AddFOp::create(nb, nl, one, e));
                });
                return success();
              })
          .Case<eo::MatMulOp>([&](eo::MatMulOp m) {
            Value A = m.getA(), B = m.getB();
            auto at = cast<RankedTensorType>(A.getType()), bt = cast<RankedTensorType>(B.getType());
            int64_t ra = at.getRank(), rb = bt.getRank(), R = rt.getRank();
            bool aMat = ra >= 2, bMat = rb >= 2;
            int64_t batch = R - (aMat ? 1 : 0) - (bMat ? 1 : 0);
            // Iteration space: result dims, then k.
            int64_t K = R;
            SmallVector<AffineExpr> ae, be, ce;
            SmallVector<Value> sizes(R, Value());
            auto addBatch = [&](RankedTensorType t, Value v, int64_t nb,
                                SmallVector<AffineExpr> &ex) {
              for (int64_t j = 0; j < nb; ++j) {
                int64_t d = batch - nb + j;
                bool bc = t.getDimSize(j) == 1 && rt.getDimSize(d) != 1;
                ex.push_back(bc ? b.getAffineConstantExpr(0) : b.getAffineDimExpr(d));
                if (!bc && !sizes[d])
                  sizes[d] = L.dim(v, j);
              }
            };
            addBatch(at, A, aMat ? ra - 2 : 0, ae);
            addBatch(bt, B, bMat ? rb - 2 : 0, be);
            int64_t md = batch, nd = batch + (aMat ? 1 : 0);
            if (aMat) {
              ae.push_back(b.getAffineDimExpr(md));
              sizes[md] = L.dim(A, ra - 2);
            }
            ae.push_back(b.getAffineDimExpr(K));
            be.push_back(b.getAffineDimExpr(K));
            if (bMat) {
              be.push_back(b.getAffineDimExpr(nd));
              sizes[nd] = L.dim(B, rb - 1);
            }
            for (int64_t d = 0; d < R; ++d) {
              ce.push_back(b.getAffineDimExpr(d));
              if (!sizes[d])
                sizes[d] = L.cidx(1);
            }
            Value init = L.fill(L.empty(rt, sizes), L.zero(rt.getElementType()));
            SmallVector<AffineMap> maps = {AffineMap::get(R + 1, 0, ae, b.getContext()),
                                           AffineMap::get(R + 1, 0, be, b.getContext()),
                                           AffineMap::get(R + 1, 0, ce, b.getContext())};
            SmallVector<utils::IteratorType> iters(R, utils::IteratorType::parallel);
            iters.push_back(utils::IteratorType::reduction);
            bool f = isa<FloatType>(rt.getElementType());
            result = linalg::GenericOp::create(
                         b, loc, TypeRange{rt}, ValueRange{A, B}, ValueRange{init}, maps, iters,
                         [&](OpBuilder &nb, Location nl, ValueRange a) {
                           Value p = f ? Value(arith::MulFOp::create(nb, nl, a[0], a[1]))
                                       : Value(arith::MulIOp::create(nb, nl, a[0], a[1]));
                           Value s = f ? Value(arith::AddFOp::create(nb, nl, a[2], p))
                                       : Value(arith::AddIOp::create(nb, nl, a[2], p));
                           linalg::YieldOp::create(nb, nl, s);
                         })
                         .getResult(0);
            return success();
          })
          .Case<eo::GemmOp>([&](eo::GemmOp g) {
            if (!isa<FloatType>(rt.getElementType()))
              return fail("Gemm on integers is not supported");
            Value A = g.getA(), B = g.getB();
            SmallVector<Value> sizes = {L.dim(A, g.getTransA() ? 1 : 0),
                                        L.dim(B, g.getTransB() ? 0 : 1)};
            auto d0 = b.getAffineDimExpr(0), d1 = b.getAffineDimExpr(1), d2 = b.getAffineDimExpr(2);
            SmallVector<AffineMap> maps = {
                AffineMap::get(3, 0, g.getTransA() ? ArrayRef<AffineExpr>{d2, d0}
                                                   : ArrayRef<AffineExpr>{d0, d2}, b.getContext()),
                AffineMap::get(3, 0, g.getTransB() ? ArrayRef<AffineExpr>{d1, d2}
                                                   : ArrayRef<AffineExpr>{d2, d1}, b.getContext()),
                AffineMap::get(3, 0, {d0, d1}, b.getContext())};
            Value init = L.fill(L.empty(rt, sizes), L.zero(rt.getElementType()));
            Value prod = linalg::GenericOp::create(
                             b, loc, TypeRange{rt}, ValueRange{A, B}, ValueRange{init}, maps,
                             {utils::IteratorType::parallel, utils::IteratorType::parallel,
                              utils::IteratorType::reduction},
                             [&](OpBuilder &nb, Location nl, ValueRange a) {
                               Value p = arith::MulFOp::create(nb, nl, a[0], a[1]);
                               linalg::YieldOp::create(nb, nl, arith::AddFOp::create(nb, nl, a[2], p).getResult());
                             })
                             .getResult(0);
            Type et = rt.getElementType();
            Value alpha = arith::ConstantOp::create(b, loc, et, b.getFloatAttr(et, g.getAlpha().convertToDouble()));
            Value beta = arith::ConstantOp::create(b, loc, et, b.getFloatAttr(et, g.getBeta().convertToDouble()));
            SmallVector<Value> ins = {prod};
            bool hasC = !isa<NoneType>(g.getC().getType());
            if (hasC)
              ins.push_back(g.getC());
            result = L.elementwise(ins, rt, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              Value v = arith::MulFOp::create(nb, nl, alpha, a[0]);
              if (hasC)
                v = arith::AddFOp::create(nb, nl, v, arith::MulFOp::create(nb, nl, beta, a[1]));
              return v;
            }, {sizes[0], sizes[1]});
            return success();
          })
          .Case<eo::TransposeOp>([&](eo::TransposeOp t) {
            auto it = cast<RankedTensorType>(t.getData().getType());
            SmallVector<int64_t> perm;
            if (auto p = t.getPermAttr())
              for (Attribute a : p)
                perm.push_back(cast<IntegerAttr>(a).getInt());
            else
              for (int64_t i = it.getRank() - 1; i >= 0; --i)
                perm.push_back(i);
            SmallVector<Value> sizes;
            for (int64_t p : perm)
              sizes.push_back(L.dim(t.getData(), p));
            Value init = L.empty(rt, sizes);
            result = linalg::TransposeOp::create(b, loc, t.getData(), init, perm).getResult()[0];
            return success();
          })
          .Case<eo::ReshapeOp>([&](eo::ReshapeOp r) {
            int64_t n = rt.getRank();
            SmallVector<Value> sizes;
            Value total = L.cidx(1);
            for (Value d : L.dims(r.getData()))
              total = arith::MulIOp::create(b, loc, total, d);
            Value known = L.cidx(1);
            int minusAt = -1;
            auto constTarget = onnx::getConstantInts(r.getShape());
            for (int64_t i = 0; i < n; ++i) {
              Value v;
              if (constTarget) {
                int64_t c = (*constTarget)[i];
                if (c == -1) {
                  minusAt = i;
                  sizes.push_back(Value());
                  continue;
                }
                v = (c == 0 && r.getAllowzero() == 0) ? L.dim(r.getData(), i) : L.cidx(c);
              } else {
                Value e = L.element(r.getShape(), i);
                Value isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e, L.cidx(0));
                if (r.getAllowzero() == 0 && i < cast<RankedTensorType>(r.getData().getType()).getRank())
                  e = arith::SelectOp::create(b, loc, isZero, L.dim(r.getData(), i), e);
                // -1 (at most one) becomes 1 here and is fixed below.
                Value isMinus = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e, L.cidx(-1));
                v = arith::SelectOp::create(b, loc, isMinus, L.cidx(1), e);
              }
              sizes.push_back(v);
              known = arith::MulIOp::create(b, loc, known, v);
            }
            // total / known, with 0 when the other sizes multiply to 0.
            auto safeDiv = [&](Value num, Value den) -> Value {
              Value isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, den, L.cidx(0));
              Value q = arith::DivUIOp::create(b, loc, num, L.maxI(den, L.cidx(1)));
              return arith::SelectOp::create(b, loc, isZero, L.cidx(0), q);
            };
            if (minusAt >= 0) {
              sizes[minusAt] = safeDiv(total, known);
            } else if (!constTarget) {
              // Dynamic targets: replace the (at most one) -1 entry.
              for (int64_t i = 0; i < n; ++i) {
                Value e = L.element(r.getShape(), i);
                Value isMinus = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e, L.cidx(-1));
                Value others = safeDiv(known, sizes[i]);
                Value inferred = safeDiv(total, others);
                sizes[i] = arith::SelectOp::create(b, loc, isMinus, inferred, sizes[i]);
              }
            }
            result = L.reshapeTo(r.getData(), rt, sizes);
            return success();
          })
          .Case<eo::UnsqueezeOp, eo::SqueezeOp>([&](Operation *o) {
            Value data = o->getOperand(0);
            auto it = cast<RankedTensorType>(data.getType());
            SmallVector<Value> sizes;
            std::optional<SmallVector<int64_t>> axes;
            if (!isa<NoneType>(o->getOperand(1).getType()))
              axes = onnx::getConstantInts(o->getOperand(1));
            if (rt.hasStaticShape() && (!axes || !isa<NoneType>(o->getOperand(1).getType()))) {
              // The result's sizes are known: no need for the axes' values.
              for (int64_t d : rt.getShape())
                sizes.push_back(L.cidx(d));
            } else if (isa<eo::UnsqueezeOp>(o)) {
              if (!axes)
                return fail("Unsqueeze with axes computed at run time and a dynamic result");
              int64_t R = rt.getRank();
              SmallVector<bool> isNew(R, false);
              for (int64_t a : *axes)
                isNew[a < 0 ? a + R : a] = true;
              int64_t j = 0;
              for (int64_t d = 0; d < R; ++d)
                sizes.push_back(isNew[d] ? L.cidx(1) : L.dim(data, j++));
            } else {
              SmallVector<bool> drop(it.getRank(), false);
              if (isa<NoneType>(o->getOperand(1).getType())) {
                for (int64_t d = 0; d < it.getRank(); ++d)
                  drop[d] = it.getDimSize(d) == 1;
              } else {
                if (!axes)
                  return fail("Squeeze with axes computed at run time and a dynamic result");
                for (int64_t a : *axes)
                  drop[a < 0 ? a + it.getRank() : a] = true;
              }
              for (int64_t d = 0; d < it.getRank(); ++d)
                if (!drop[d])
                  sizes.push_back(L.dim(data, d));
            }
            result = L.reshapeTo(data, rt, sizes);
            return success();
          })
          .Case<eo::ConcatOp>([&](eo::ConcatOp c) {
            int64_t R = rt.getRank();
            int64_t axis = int64_t(c.getAxis()) < 0 ? int64_t(c.getAxis()) + R : int64_t(c.getAxis());
            SmallVector<Value> sizes = L.dims(c.getInputs()[0]);
            Value total = L.cidx(0);
            for (Value in : c.getInputs())
              total = arith::AddIOp::create(b, loc, total, L.dim(in, axis));
            sizes[axis] = total;
            Value acc = L.empty(rt, sizes);
            Value offset = L.cidx(0);
            for (Value in : c.getInputs()) {
              SmallVector<OpFoldResult> offs(R, b.getIndexAttr(0)), szs, strides(R, b.getIndexAttr(1));
              offs[axis] = offset;
              for (int64_t d = 0; d < R; ++d)
                szs.push_back(L.dimOfr(in, d));
              acc = tensor::InsertSliceOp::create(b, loc, in, acc, offs, szs, strides);
              offset = arith::AddIOp::create(b, loc, offset, L.dim(in, axis));
            }
            result = acc;
            return success();
          })
          .Case<eo::SplitOp>([&](eo::SplitOp s) {
            Value in = s.getInput();
            int64_t R = cast<RankedTensorType>(in.getType()).getRank();
            int64_t axis = int64_t(s.getAxis()) < 0 ? int64_t(s.getAxis()) + R : int64_t(s.getAxis());
            unsigned n = s.getOutputs().size();
            Value offset = L.cidx(0);
            Value whole = L.dim(in, axis);
            for (unsigned i = 0; i < n; ++i) {
              Value size;
              if (!isa<NoneType>(s.getSplit().getType()))
                size = L.element(s.getSplit(), i);
              else {
                // Equal parts, the last one smaller (ceil).
                Value part = arith::CeilDivUIOp::create(b, loc, whole, L.cidx(n));
                size = L.minI(part, arith::SubIOp::create(b, loc, whole, offset));
              }
              SmallVector<OpFoldResult> offs(R, b.getIndexAttr(0)), szs, strides(R, b.getIndexAttr(1));
              auto outType = cast<RankedTensorType>(s.getOutputs()[i].getType());
              for (int64_t d = 0; d < R; ++d)
                szs.push_back(outType.isDynamicDim(d) ? L.dimOfr(in, d)
                                                      : OpFoldResult(b.getIndexAttr(outType.getDimSize(d))));
              offs[axis] = offset;
              if (outType.isDynamicDim(axis))
                szs[axis] = size;
              Value piece = tensor::ExtractSliceOp::create(b, loc, outType, in, offs, szs, strides);
              s.getOutputs()[i].replaceAllUsesWith(piece);
              offset = arith::AddIOp::create(b, loc, offset, size);
            }
            return success();
          })
          .Case<eo::SliceOp>([&](eo::SliceOp s) {
            Value in = s.getData();
            auto it = cast<RankedTensorType>(in.getType());
            int64_t R = it.getRank();
            auto st = cast<RankedTensorType>(s.getStarts().getType());
            if (!st.hasStaticShape())
              return fail("Slice with starts of unknown length");
            int64_t n = st.getNumElements();
            SmallVector<Value> start(R), step(R), sizes = L.dims(in);
            for (int64_t d = 0; d < R; ++d) {
              start[d] = L.cidx(0);
              step[d] = L.cidx(1);
            }
            bool hasAxes = !isa<NoneType>(s.getAxes().getType());
            auto axesC = hasAxes ? onnx::getConstantInts(s.getAxes())
                                 : std::optional<SmallVector<int64_t>>();
            for (int64_t i = 0; i < n; ++i) {
              // The sliced axis: a constant, or selected at run time.
              SmallVector<int64_t> candidates;
              Value axisVal;
              if (!hasAxes || axesC) {
                int64_t ax = axesC ? (*axesC)[i] : i;
                candidates.push_back(ax < 0 ? ax + R : ax);
              } else {
                Value a = L.element(s.getAxes(), i);
                Value isNeg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, a, L.cidx(0));
                axisVal = arith::SelectOp::create(b, loc, isNeg,
                                                  arith::AddIOp::create(b, loc, a, L.cidx(R)), a);
                for (int64_t d = 0; d < R; ++d)
                  candidates.push_back(d);
              }
              Value sRaw = L.element(s.getStarts(), i), eRaw = L.element(s.getEnds(), i);
              Value k = isa<NoneType>(s.getSteps().getType()) ? L.cidx(1) : L.element(s.getSteps(), i);
              for (int64_t ax : candidates) {
                Value d = L.dim(in, ax);
                Value zero = L.cidx(0), one = L.cidx(1);
                auto neg = [&](Value v) {
                  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, v, zero);
                };
                Value sI = arith::SelectOp::create(b, loc, neg(sRaw), arith::AddIOp::create(b, loc, sRaw, d), sRaw);
                Value eI = arith::SelectOp::create(b, loc, neg(eRaw), arith::AddIOp::create(b, loc, eRaw, d), eRaw);
                Value pos = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, k, zero);
                Value dm1 = arith::SubIOp::create(b, loc, d, one);
                Value sP = L.minI(L.maxI(sI, zero), d), eP = L.minI(L.maxI(eI, zero), d);
                Value sN = L.minI(L.maxI(sI, zero), dm1), eN = L.minI(L.maxI(eI, L.cidx(-1)), dm1);
                Value s0 = arith::SelectOp::create(b, loc, pos, sP, sN);
                Value e0 = arith::SelectOp::create(b, loc, pos, eP, eN);
                // count = max(0, ceil((e - s) / k)) for either sign of k.
                Value cnt = L.maxI(arith::CeilDivSIOp::create(b, loc, arith::SubIOp::create(b, loc, e0, s0), k), zero);
                if (!axisVal) {
                  start[ax] = s0;
                  step[ax] = k;
                  sizes[ax] = cnt;
                } else {
                  Value hit = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, axisVal, L.cidx(ax));
                  start[ax] = arith::SelectOp::create(b, loc, hit, s0, start[ax]);
                  step[ax] = arith::SelectOp::create(b, loc, hit, k, step[ax]);
                  sizes[ax] = arith::SelectOp::create(b, loc, hit, cnt, sizes[ax]);
                }
              }
            }
            Value init = L.empty(rt, sizes);
            SmallVector<utils::IteratorType> iters(R, utils::IteratorType::parallel);
            result = linalg::GenericOp::create(
                         b, loc, TypeRange{rt}, ValueRange{}, ValueRange{init},
                         SmallVector<AffineMap>{b.getMultiDimIdentityMap(R)}, iters,
                         [&](OpBuilder &nb, Location nl, ValueRange) {
                           SmallVector<Value> idx;
                           for (int64_t d = 0; d < R; ++d) {
                             Value i = linalg::IndexOp::create(nb, nl, d);
                             idx.push_back(arith::AddIOp::create(
                                 nb, nl, start[d], arith::MulIOp::create(nb, nl, i, step[d])));
                           }
                           linalg::YieldOp::create(nb, nl, tensor::ExtractOp::create(nb, nl, in, idx).getResult());
                         })
                         .getResult(0);
            return success();
          })
          .Case<eo::GatherOp>([&](eo::GatherOp g) {
            Value data = g.getData(), indices = g.getIndices();
            auto dt = cast<RankedTensorType>(data.getType());
            auto itype = cast<RankedTensorType>(indices.getType());
            int64_t axis = int64_t(g.getAxis()) < 0 ? int64_t(g.getAxis()) + dt.getRank() : int64_t(g.getAxis());
            int64_t q = itype.getRank(), R = rt.getRank();
            SmallVector<Value> sizes;
            for (int64_t d = 0; d < axis; ++d)
              sizes.push_back(L.dim(data, d));
            for (int64_t d = 0; d < q; ++d)
              sizes.push_back(L.dim(indices, d));
            for (int64_t d = axis + 1; d < dt.getRank(); ++d)
              sizes.push_back(L.dim(data, d));
            Value axisDim = L.dim(data, axis);
            Value init = L.empty(rt, sizes);
            SmallVector<utils::IteratorType> iters(R, utils::IteratorType::parallel);
            result = linalg::GenericOp::create(
                         b, loc, TypeRange{rt}, ValueRange{}, ValueRange{init},
                         SmallVector<AffineMap>{b.getMultiDimIdentityMap(R)}, iters,
                         [&](OpBuilder &nb, Location nl, ValueRange) {
                           SmallVector<Value> pos;
                           for (int64_t d = 0; d < R; ++d)
                             pos.push_back(linalg::IndexOp::create(nb, nl, d));
                           SmallVector<Value> iidx(pos.begin() + axis, pos.begin() + axis + q);
                           Value i = tensor::ExtractOp::create(nb, nl, indices, iidx);
                           if (i.getType().getIntOrFloatBitWidth() < 64)
                             i = arith::ExtSIOp::create(nb, nl, nb.getI64Type(), i);
                           i = arith::IndexCastOp::create(nb, nl, nb.getIndexType(), i);
                           Value isNeg = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, i,
                                                               arith::ConstantIndexOp::create(nb, nl, 0));
                           i = arith::SelectOp::create(nb, nl, isNeg,
                                                       arith::AddIOp::create(nb, nl, i, axisDim), i);
                           // Out-of-range indices (invalid ONNX) are clamped so
                           // the read stays inside the tensor.
                           Value zero = arith::ConstantIndexOp::create(nb, nl, 0);
                           Value last = arith::SubIOp::create(
                               nb, nl, axisDim, arith::ConstantIndexOp::create(nb, nl, 1));
                           i = arith::MaxSIOp::create(nb, nl, zero, arith::MinSIOp::create(nb, nl, i, last));
                           SmallVector<Value> didx(pos.begin(), pos.begin() + axis);
                           didx.push_back(i);
                           didx.append(pos.begin() + axis + q, pos.end());
                           linalg::YieldOp::create(nb, nl, tensor::ExtractOp::create(nb, nl, data, didx).getResult());
                         })
                         .getResult(0);
            return success();
          })
          .Case<eo::ExpandOp>([&](eo::ExpandOp e) {
            Value in = e.getInput();
            auto it = cast<RankedTensorType>(in.getType());
            int64_t R = rt.getRank(), r = it.getRank();
            auto st = cast<RankedTensorType>(e.getShape().getType());
            if (!st.hasStaticShape())
              return fail("Expand with a shape of unknown length");
            int64_t len = st.getNumElements(), off = R - len;
            SmallVector<Value> sizes;
            for (int64_t j = 0; j < R; ++j) {
              int64_t id = j - (R - r);
              if (j < off) { // the shape is shorter: the input's size
                sizes.push_back(L.dim(in, id));
                continue;
              }
              Value t = L.element(e.getShape(), j - off);
              if (id >= 0) {
                Value isOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, t, L.cidx(1));
                t = arith::SelectOp::create(b, loc, isOne, L.dim(in, id), t);
              }
              sizes.push_back(t);
            }
            result = L.elementwise({in}, rt, [](OpBuilder &, Location, ValueRange a) { return a[0]; },
                                   sizes);
            return success();
          })
          .Case<eo::ConstantOfShapeOp>([&](eo::ConstantOfShapeOp c) {
            SmallVector<Value> sizes;
            for (int64_t j = 0; j < rt.getRank(); ++j)
              sizes.push_back(L.element(c.getInput(), j));
            Attribute v;
            if (auto attr = c.getValueAttr())
              v = *cast<DenseElementsAttr>(attr).value_begin<Attribute>();
            else
              v = b.getFloatAttr(b.getF32Type(), 0.0);
            Value scalar = arith::ConstantOp::create(b, loc, cast<TypedAttr>(v));
            result = L.fill(L.empty(rt, sizes), scalar);
            return success();
          })
          .Case<eo::RangeOp>([&](eo::RangeOp r) {
            Type et = rt.getElementType();
            auto scalar = [&](Value t) { return tensor::ExtractOp::create(b, loc, t, ValueRange{}).getResult(); };
            Value s = scalar(r.getStart()), l = scalar(r.getLimit()), d = scalar(r.getDelta());
            Value n;
            if (isa<FloatType>(et)) {
              Value q = math::CeilOp::create(b, loc, arith::DivFOp::create(b, loc, arith::SubFOp::create(b, loc, l, s), d));
              n = arith::FPToSIOp::create(b, loc, b.getI64Type(), q);
            } else {
              n = arith::CeilDivSIOp::create(b, loc, arith::SubIOp::create(b, loc, l, s), d);
            }
            n = L.maxI(L.toIndex(n), L.cidx(0));
            result = linalg::GenericOp::create(
                         b, loc, TypeRange{rt}, ValueRange{}, ValueRange{L.empty(rt, {n})},
                         SmallVector<AffineMap>{b.getMultiDimIdentityMap(1)},
                         SmallVector<utils::IteratorType>{utils::IteratorType::parallel},
                         [&](OpBuilder &nb, Location nl, ValueRange) {
                           Value i = linalg::IndexOp::create(nb, nl, 0);
                           Value iv = arith::IndexCastOp::create(nb, nl, nb.getI64Type(), i);
                           Value v = isa<FloatType>(et)
                                         ? Value(arith::AddFOp::create(nb, nl, s,
                                               arith::MulFOp::create(nb, nl, arith::SIToFPOp::create(nb, nl, et, iv), d)))
                                         : Value(arith::AddIOp::create(nb, nl, s,
                                               arith::MulIOp::create(nb, nl, castScalar(nb, nl, iv, et), d)));
                           linalg::YieldOp::create(nb, nl, v);
                         })
                         .getResult(0);
            return success();
          })
          .Case<eo::ShapeOp>([&](eo::ShapeOp s) {
            auto it = cast<RankedTensorType>(s.getData().getType());
            int64_t r = it.getRank();
            int64_t start = int64_t(s.getStart()) < 0 ? int64_t(s.getStart()) + r : int64_t(s.getStart());
            int64_t end = s.getEnd() ? (int64_t(*s.getEnd()) < 0 ? int64_t(*s.getEnd()) + r : int64_t(*s.getEnd())) : r;
            start = std::clamp<int64_t>(start, 0, r);
            end = std::clamp<int64_t>(end, start, r);
            SmallVector<Value> elems;
            for (int64_t d = start; d < end; ++d)
              elems.push_back(L.toI64(L.dim(s.getData(), d)));
            result = tensor::FromElementsOp::create(b, loc, rt, elems);
            return success();
          })
          .Case<eo::ReduceMeanOp>([&](eo::ReduceMeanOp rm) {
            Value in = rm.getData();
            auto it = cast<RankedTensorType>(in.getType());
            if (!isa<FloatType>(it.getElementType()))
              return fail("ReduceMean on integers is not supported");
            SmallVector<int64_t> axes;
            if (auto a = rm.getAxesAttr())
              for (Attribute x : a)
                axes.push_back(cast<IntegerAttr>(x).getInt() < 0 ? cast<IntegerAttr>(x).getInt() + it.getRank()
                                                                  : cast<IntegerAttr>(x).getInt());
            else
              for (int64_t d = 0; d < it.getRank(); ++d)
                axes.push_back(d);
            Type et = it.getElementType();
            Value count = L.cidx(1);
            for (int64_t a : axes)
              count = arith::MulIOp::create(b, loc, count, L.dim(in, a));
            Value countF = arith::UIToFPOp::create(b, loc, et, L.toI64(count));
            Value sum = L.reduceKeep(in, axes, L.zero(et), [](OpBuilder &nb, Location nl, Value x, Value acc) -> Value {
              return arith::AddFOp::create(nb, nl, acc, x);
            });
            auto keptType = cast<RankedTensorType>(sum.getType());
            Value mean = L.elementwise({sum}, keptType, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              return arith::DivFOp::create(nb, nl, a[0], countF);
            });
            if (rm.getKeepdims()) {
              result = mean;
            } else {
              SmallVector<Value> sizes;
              for (int64_t d = 0; d < it.getRank(); ++d)
                if (!llvm::is_contained(axes, d))
                  sizes.push_back(L.dim(in, d));
              result = L.reshapeTo(mean, rt, sizes);
            }
            return success();
          })
          .Case<eo::SoftmaxOp>([&](eo::SoftmaxOp s) {
            Value in = s.getInput();
            auto it = cast<RankedTensorType>(in.getType());
            int64_t axis = int64_t(s.getAxis()) < 0 ? int64_t(s.getAxis()) + it.getRank() : int64_t(s.getAxis());
            Type et = it.getElementType();
            Value ninf = arith::ConstantOp::create(b, loc, et,
                b.getFloatAttr(et, -std::numeric_limits<double>::infinity()));
            Value mx = L.reduceKeep(in, {axis}, ninf, [](OpBuilder &nb, Location nl, Value x, Value acc) -> Value {
              return arith::MaximumFOp::create(nb, nl, acc, x);
            });
            Value e = L.elementwise({in, mx}, rt, [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              return math::ExpOp::create(nb, nl, arith::SubFOp::create(nb, nl, a[0], a[1]));
            });
            Value sum = L.reduceKeep(e, {axis}, L.zero(et), [](OpBuilder &nb, Location nl, Value x, Value acc) -> Value {
              return arith::AddFOp::create(nb, nl, acc, x);
            });
            result = L.elementwise({e, sum}, rt, [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              return arith::DivFOp::create(nb, nl, a[0], a[1]);
            });
            return success();
          })
          .Case<eo::LayerNormalizationOp>([&](eo::LayerNormalizationOp ln) {
            Value x = ln.getX();
            auto it = cast<RankedTensorType>(x.getType());
            int64_t R = it.getRank();
            int64_t axis = int64_t(ln.getAxis()) < 0 ? int64_t(ln.getAxis()) + R : int64_t(ln.getAxis());
            Type et = it.getElementType();
            Type ct = b.getF32Type();
            if (et.getIntOrFloatBitWidth() > 32)
              ct = et;
            auto ctType = RankedTensorType::get(it.getShape(), ct);
            Value xc = L.elementwise({x}, ctType, [&](OpBuilder &nb, Location nl, ValueRange a) {
              return castScalar(nb, nl, a[0], ct);
            });
            SmallVector<int64_t> axes;
            for (int64_t d = axis; d < R; ++d)
              axes.push_back(d);
            Value count = L.cidx(1);
            for (int64_t a : axes)
              count = arith::MulIOp::create(b, loc, count, L.dim(x, a));
            Value countF = arith::UIToFPOp::create(b, loc, ct, L.toI64(count));
            auto add = [](OpBuilder &nb, Location nl, Value v, Value acc) -> Value {
              return arith::AddFOp::create(nb, nl, acc, v);
            };
            Value sum = L.reduceKeep(xc, axes, L.zero(ct), add);
            auto keptType = cast<RankedTensorType>(sum.getType());
            Value mean = L.elementwise({sum}, keptType, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              return arith::DivFOp::create(nb, nl, a[0], countF);
            });
            Value centered = L.elementwise({xc, mean}, ctType, [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              return arith::SubFOp::create(nb, nl, a[0], a[1]);
            });
            Value sq = L.elementwise({centered}, ctType, [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              return arith::MulFOp::create(nb, nl, a[0], a[0]);
            });
            Value var = L.reduceKeep(sq, axes, L.zero(ct), add);
            Value eps = arith::ConstantOp::create(b, loc, ct, b.getFloatAttr(ct, ln.getEpsilon().convertToDouble()));
            Value inv = L.elementwise({var}, keptType, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              Value v = arith::DivFOp::create(nb, nl, a[0], countF);
              return math::RsqrtOp::create(nb, nl, arith::AddFOp::create(nb, nl, v, eps));
            });
            SmallVector<Value> ins = {centered, inv, ln.getScale()};
            bool hasB = !isa<NoneType>(ln.getB().getType());
            if (hasB)
              ins.push_back(ln.getB());
            // Mean and InvStdDev (in the stash type, reduced axes kept as 1).
            if (!isa<NoneType>(ln.getMean().getType()))
              ln.getMean().replaceAllUsesWith(mean);
            if (!isa<NoneType>(ln.getInvStdDev().getType()))
              ln.getInvStdDev().replaceAllUsesWith(inv);
            result = L.elementwise(ins, rt, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              Value n = arith::MulFOp::create(nb, nl, a[0], a[1]);
              Value v = arith::MulFOp::create(nb, nl, castScalar(nb, nl, n, et), a[2]);
              if (hasB)
                v = arith::AddFOp::create(nb, nl, v, a[3]);
              return v;
            });
            return success();
          })
          .Case<eo::TriluOp>([&](eo::TriluOp t) {
            Value k = isa<NoneType>(t.getK().getType()) ? L.cidx(0) : L.element(t.getK(), 0);
            int64_t R = rt.getRank();
            bool upper = t.getUpper() != 0;
            Type et = rt.getElementType();
            result = L.elementwise({t.getInput()}, rt, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
              Value i = linalg::IndexOp::create(nb, nl, R - 2);
              Value j = linalg::IndexOp::create(nb, nl, R - 1);
              Value diff = arith::SubIOp::create(nb, nl, j, i);
              Value keep = arith::CmpIOp::create(nb, nl, upper ? arith::CmpIPredicate::sge
                                                               : arith::CmpIPredicate::sle,
                                                 diff, k);
              Value z = isa<FloatType>(et) ? Value(arith::ConstantOp::create(nb, nl, et, nb.getFloatAttr(et, 0)))
                                           : Value(arith::ConstantOp::create(nb, nl, et, nb.getIntegerAttr(et, 0)));
              return arith::SelectOp::create(nb, nl, keep, a[0], z);
            });
            return success();
          })
          .Default([&](Operation *o) { return fail("no CPU lowering for this op"); });
  if (failed(status))
    return failure();
  if (result)
    op->getResult(0).replaceAllUsesWith(result);
  return success();
}

/// The signless version of a type (ui8 -> i8 ...), or the type itself.
static Type signless(Type t) {
  auto signlessElt = [](Type e) -> Type {
    if (auto it = dyn_cast<IntegerType>(e); it && !it.isSignless())
      return IntegerType::get(e.getContext(), it.getWidth());
    return e;
  };
  if (auto rt = dyn_cast<RankedTensorType>(t))
    return RankedTensorType::get(rt.getShape(), signlessElt(rt.getElementType()));
  return signlessElt(t);
}

/// arith works on signless integers: rewrite unsigned tensor types to
/// signless, remembering on each op which of its ONNX types were unsigned.
static LogicalResult makeSignless(func::FuncOp func) {
  auto isUns = [](Type t) { return getElementTypeOrSelf(t).isUnsignedInteger(); };
  MLIRContext *ctx = func.getContext();
  for (BlockArgument a : func.getArguments())
    a.setType(signless(a.getType()));
  WalkResult r = func.walk([&](Operation *op) {
    if (!op->getDialect() || op->getDialect()->getNamespace() != "onnx")
      return WalkResult::advance();
    if (op->getNumOperands() && isUns(op->getOperand(0).getType()))
      op->setAttr("edgellm.unsigned_in", UnitAttr::get(ctx));
    if (isa<eo::PowOp>(op) && isUns(op->getOperand(1).getType()))
      op->setAttr("edgellm.unsigned_exp", UnitAttr::get(ctx));
    if (op->getNumResults() && isUns(op->getResult(0).getType()))
      op->setAttr("edgellm.unsigned_out", UnitAttr::get(ctx));
    if (auto c = dyn_cast<eo::ConstantOp>(op); c && isUns(c.getOutput().getType())) {
      auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
      if (!dense) {
        op->emitOpError("CPU path: unsigned weights must be dense constants");
        return WalkResult::interrupt();
      }
      c.setValueAttr(dense.bitcast(cast<IntegerType>(signless(dense.getElementType()))));
    }
    for (Value res : op->getResults())
      res.setType(signless(res.getType()));
    return WalkResult::advance();
  });
  if (r.wasInterrupted())
    return failure();
  SmallVector<Type> results;
  for (Type t : func.getResultTypes())
    results.push_back(signless(t));
  SmallVector<Type> args;
  for (BlockArgument a : func.getArguments())
    args.push_back(a.getType());
  func.setType(FunctionType::get(ctx, args, results));
  return success();
}

void ConvertOnnxToLinalgPass::runOnOperation() {
  func::FuncOp func = getOperation();
  if (failed(makeSignless(func)))
    return signalPassFailure();
  SmallVector<Operation *> ops;
  func.walk([&](Operation *op) {
    if (op->getDialect() && op->getDialect()->getNamespace() == "onnx")
      ops.push_back(op);
  });
  for (Operation *op : ops)
    if (failed(lower(op)))
      return signalPassFailure();
  for (Operation *op : llvm::reverse(ops)) {
    if (!op->use_empty()) {
      op->emitOpError("CPU path: still used after lowering");
      return signalPassFailure();
    }
    op->erase();
  }
}
