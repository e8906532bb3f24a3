//===- OnnxFold.cpp - Constant folding of onnx ops ------------------------===//
//
// Folds what is computable at compile time: mostly the shape arithmetic
// torch.onnx.export writes (Shape -> Gather -> Unsqueeze -> Concat ...), so
// canonicalisation removes it wherever the dimensions are static. Folding is
// limited to small tensors (kMaxFoldElements) so weights are never copied.
//
//===----------------------------------------------------------------------===//

#include "dialects/onnx/OnnxDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/APSInt.h"

using namespace mlir;
using namespace edgellm;
using namespace edgellm::onnx;

static constexpr int64_t kMaxFoldElements = 1 << 16;

Operation *OnnxDialect::materializeConstant(OpBuilder &b, Attribute value,
                                            Type type, Location loc) {
  if (isa<NoneType>(type))
    return NoneOp::create(b, loc, type);
  if (auto e = dyn_cast<ElementsAttr>(value))
    if (e.getType() == type)
      return ConstantOp::create(b, loc, type, e);
  return nullptr;
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }
OpFoldResult NoneOp::fold(FoldAdaptor) { return UnitAttr::get(getContext()); }

/// A small constant operand, or null.
static DenseElementsAttr smallConst(Attribute a) {
  auto d = dyn_cast_or_null<DenseElementsAttr>(a);
  if (!d || d.getNumElements() > kMaxFoldElements)
    return nullptr;
  return d;
}

static RankedTensorType staticResult(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.hasStaticShape() && t.getNumElements() <= kMaxFoldElements
             ? t
             : RankedTensorType();
}

/// Row-major strides of a shape.
static SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> s(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/// Index into a broadcast operand of shape `in` for a result index.
static int64_t broadcastIndex(ArrayRef<int64_t> idx, ArrayRef<int64_t> in,
                              ArrayRef<int64_t> inStrides) {
  int64_t off = 0, lead = int64_t(idx.size()) - int64_t(in.size());
  for (size_t d = 0; d < in.size(); ++d)
    off += (in[d] == 1 ? 0 : idx[lead + d]) * inStrides[d];
  return off;
}

/// Element-wise binary folding with broadcasting.
template <typename IntFn, typename FloatFn>
static Attribute foldBinary(Attribute la, Attribute ra, Value result, IntFn intFn,
                            FloatFn floatFn) {
  DenseElementsAttr l = smallConst(la), r = smallConst(ra);
  RankedTensorType rt = staticResult(result);
  if (!l || !r || !rt)
    return {};
  Type elt = l.getElementType();
  if (elt != r.getElementType())
    return {};
  ArrayRef<int64_t> shape = rt.getShape();
  auto ls = l.getType().getShape(), rs = r.getType().getShape();
  if (ls.size() > shape.size() || rs.size() > shape.size())
    return {};
  for (auto s : {ls, rs})
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t d = s[s.size() - 1 - i], o = shape[shape.size() - 1 - i];
      if (d != 1 && d != o)
        return {}; // the result type does not match the operands
    }
  SmallVector<int64_t> lst = stridesOf(ls), rst = stridesOf(rs), st = stridesOf(shape);
  SmallVector<int64_t> idx(shape.size());
  int64_t n = rt.getNumElements();
  Type outElt = rt.getElementType();
  if (auto it = dyn_cast<IntegerType>(elt)) {
    auto lv = llvm::to_vector(l.getValues<APInt>());
    auto rv = llvm::to_vector(r.getValues<APInt>());
    SmallVector<APInt> out;
    for (int64_t i = 0; i < n; ++i) {
      for (size_t d = 0; d < shape.size(); ++d)
        idx[d] = (i / st[d]) % shape[d];
      std::optional<APInt> v = intFn(lv[broadcastIndex(idx, ls, lst)],
                                     rv[broadcastIndex(idx, rs, rst)], it);
      if (!v)
        return {};
      out.push_back(*v);
    }
    if (cast<IntegerType>(outElt).getWidth() != out.front().getBitWidth())
      return {};
    return DenseElementsAttr::get(rt, out);
  }
  if (auto ft = dyn_cast<FloatType>(elt)) {
    auto lv = llvm::to_vector(l.getValues<APFloat>());
    auto rv = llvm::to_vector(r.getValues<APFloat>());
    SmallVector<Attribute> out;
    for (int64_t i = 0; i < n; ++i) {
      for (size_t d = 0; d < shape.size(); ++d)
        idx[d] = (i / st[d]) % shape[d];
      std::optional<Attribute> v = floatFn(lv[broadcastIndex(idx, ls, lst)],
                                           rv[broadcastIndex(idx, rs, rst)], outElt);
      if (!v)
        return {};
      out.push_back(*v);
    }
    return DenseElementsAttr::get(rt, out);
  }
  return {};
}

static APInt boolInt(bool b) { return APInt(1, b ? 1 : 0); }

OpFoldResult AddOp::fold(FoldAdaptor a) {
  return foldBinary(
      a.getA(), a.getB(), getC(),
      [](APInt x, APInt y, IntegerType) -> std::optional<APInt> { return x + y; },
      [](APFloat x, APFloat y, Type t) -> std::optional<Attribute> {
        x.add(y, APFloat::rmNearestTiesToEven);
        return FloatAttr::get(t, x);
      });
}
OpFoldResult SubOp::fold(FoldAdaptor a) {
  return foldBinary(
      a.getA(), a.getB(), getC(),
      [](APInt x, APInt y, IntegerType) -> std::optional<APInt> { return x - y; },
      [](APFloat x, APFloat y, Type t) -> std::optional<Attribute> {
        x.subtract(y, APFloat::rmNearestTiesToEven);
        return FloatAttr::get(t, x);
      });
}
OpFoldResult MulOp::fold(FoldAdaptor a) {
  return foldBinary(
      a.getA(), a.getB(), getC(),
      [](APInt x, APInt y, IntegerType) -> std::optional<APInt> { return x * y; },
      [](APFloat x, APFloat y, Type t) -> std::optional<Attribute> {
        x.multiply(y, APFloat::rmNearestTiesToEven);
        return FloatAttr::get(t, x);
      });
}
OpFoldResult DivOp::fold(FoldAdaptor a) {
  return foldBinary(
      a.getA(), a.getB(), getC(),
      [](APInt x, APInt y, IntegerType t) -> std::optional<APInt> {
        if (y.isZero())
          return std::nullopt;
        return t.isUnsigned() ? x.udiv(y) : x.sdiv(y);
      },
      [](APFloat x, APFloat y, Type t) -> std::optional<Attribute> {
        x.divide(y, APFloat::rmNearestTiesToEven);
        return FloatAttr::get(t, x);
      });
}
OpFoldResult PowOp::fold(FoldAdaptor) { return {}; }
OpFoldResult EqualOp::fold(FoldAdaptor a) {
  return foldBinary(
      a.getA(), a.getB(), getC(),
      [](APInt x, APInt y, IntegerType) -> std::optional<APInt> {
        return boolInt(x == y);
      },
      [](APFloat, APFloat, Type) -> std::optional<Attribute> { return std::nullopt; });
}
OpFoldResult LessOp::fold(FoldAdaptor a) {
  return foldBinary(
      a.getA(), a.getB(), getC(),
      [](APInt x, APInt y, IntegerType t) -> std::optional<APInt> {
        return boolInt(t.isUnsigned() ? x.ult(y) : x.slt(y));
      },
      [](APFloat, APFloat, Type) -> std::optional<Attribute> { return std::nullopt; });
}

OpFoldResult CastOp::fold(FoldAdaptor a) {
  if (getInput().getType() == getOutput().getType())
    return getInput();
  DenseElementsAttr in = smallConst(a.getInput());
  auto rt = dyn_cast<RankedTensorType>(getOutput().getType());
  if (!in || !rt || !rt.hasStaticShape())
    return {};
  Type to = rt.getElementType();
  Type from = in.getElementType();
  SmallVector<Attribute> out;
  for (Attribute e : in.getValues<Attribute>()) {
    if (auto ia = dyn_cast<IntegerAttr>(e)) {
      APInt v = ia.getValue();
      bool isSigned = !cast<IntegerType>(from).isUnsigned() && !from.isInteger(1);
      if (auto it = dyn_cast<IntegerType>(to)) {
        APInt w = it.getWidth() == 1 ? APInt(1, !v.isZero())
                                     : (isSigned ? v.sextOrTrunc(it.getWidth())
                                                 : v.zextOrTrunc(it.getWidth()));
        out.push_back(IntegerAttr::get(to, w));
      } else if (auto ft = dyn_cast<FloatType>(to)) {
        APFloat f(ft.getFloatSemantics());
        f.convertFromAPInt(v, isSigned, APFloat::rmNearestTiesToEven);
        out.push_back(FloatAttr::get(to, f));
      } else {
        return {};
      }
    } else if (auto fa = dyn_cast<FloatAttr>(e)) {
      APFloat f = fa.getValue();
      if (auto ft = dyn_cast<FloatType>(to)) {
        bool lost;
        f.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
        out.push_back(FloatAttr::get(to, f));
      } else if (auto it = dyn_cast<IntegerType>(to)) {
        if (it.getWidth() == 1) {
          out.push_back(IntegerAttr::get(to, APInt(1, !f.isZero())));
          continue;
        }
        APSInt r(it.getWidth(), it.isUnsigned());
        bool exact;
        if (f.convertToInteger(r, APFloat::rmTowardZero, &exact) & APFloat::opInvalidOp)
          return {};
        out.push_back(IntegerAttr::get(to, r));
      } else {
        return {};
      }
    } else {
      return {};
    }
  }
  return DenseElementsAttr::get(rt, out);
}

OpFoldResult ConcatOp::fold(FoldAdaptor a) {
  if (getInputs().size() == 1 && getInputs()[0].getType() == getType())
    return getInputs()[0];
  RankedTensorType rt = staticResult(getConcatResult());
  if (!rt)
    return {};
  SmallVector<DenseElementsAttr> ins;
  for (Attribute x : a.getInputs()) {
    DenseElementsAttr d = smallConst(x);
    if (!d)
      return {};
    ins.push_back(d);
  }
  int64_t rank = rt.getRank();
  int64_t axis = int64_t(getAxis()) < 0 ? int64_t(getAxis()) + rank : int64_t(getAxis());
  for (DenseElementsAttr d : ins) {
    auto s = d.getType().getShape();
    if (int64_t(s.size()) != rank)
      return {};
    for (int64_t i = 0; i < rank; ++i)
      if (i != axis && s[i] != rt.getDimSize(i))
        return {};
  }
  // outer x (axis x inner) blocks.
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d)
    outer *= rt.getDimSize(d);
  for (int64_t d = axis + 1; d < rank; ++d)
    inner *= rt.getDimSize(d);
  SmallVector<SmallVector<Attribute>> vals;
  for (DenseElementsAttr d : ins)
    vals.push_back(llvm::to_vector(d.getValues<Attribute>()));
  SmallVector<Attribute> out;
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < ins.size(); ++i) {
      int64_t len = ins[i].getType().getDimSize(axis) * inner;
      for (int64_t j = 0; j < len; ++j)
        out.push_back(vals[i][o * len + j]);
    }
  if (int64_t(out.size()) != rt.getNumElements())
    return {};
  return DenseElementsAttr::get(rt, out);
}

OpFoldResult GatherOp::fold(FoldAdaptor a) {
  RankedTensorType rt = staticResult(getOutput());
  if (!rt)
    return {};
  auto idx = getConstantInts(getIndices());
  // Gather(Shape(x), i) with a static dimension i.
  if (auto shape = getData().getDefiningOp<ShapeOp>()) {
    auto xt = dyn_cast<RankedTensorType>(shape.getData().getType());
    if (!idx || !xt || int64_t(getAxis()) != 0)
      return {};
    int64_t r = xt.getRank();
    int64_t start = int64_t(shape.getStart()) < 0 ? int64_t(shape.getStart()) + r : int64_t(shape.getStart());
    int64_t end = shape.getEnd() ? (int64_t(*shape.getEnd()) < 0 ? int64_t(*shape.getEnd()) + r
                                                                 : int64_t(*shape.getEnd()))
                                 : r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, start, r);
    int64_t n = end - start;
    SmallVector<APInt> out;
    for (int64_t i : *idx) {
      if (i < 0)
        i += n;
      if (i < 0 || i >= n || xt.isDynamicDim(start + i))
        return {};
      out.push_back(APInt(64, xt.getDimSize(start + i)));
    }
    return DenseElementsAttr::get(rt, out);
  }
  DenseElementsAttr data = smallConst(a.getData());
  if (!data || !idx)
    return {};
  auto ds = data.getType().getShape();
  int64_t axis = int64_t(getAxis()) < 0 ? int64_t(getAxis()) + int64_t(ds.size()) : int64_t(getAxis());
  int64_t outer = 1, inner = 1, dim = ds[axis];
  for (int64_t d = 0; d < axis; ++d)
    outer *= ds[d];
  for (size_t d = axis + 1; d < ds.size(); ++d)
    inner *= ds[d];
  auto vals = llvm::to_vector(data.getValues<Attribute>());
  SmallVector<Attribute> out;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i : *idx) {
      if (i < 0)
        i += dim;
      if (i < 0 || i >= dim)
        return {};
      for (int64_t j = 0; j < inner; ++j)
        out.push_back(vals[(o * dim + i) * inner + j]);
    }
  if (int64_t(out.size()) != rt.getNumElements())
    return {};
  return DenseElementsAttr::get(rt, out);
}

OpFoldResult RangeOp::fold(FoldAdaptor a) {
  DenseElementsAttr s = smallConst(a.getStart()), l = smallConst(a.getLimit()),
                    d = smallConst(a.getDelta());
  RankedTensorType rt = staticResult(getOutput());
  if (!s || !l || !d || !rt || !isa<IntegerType>(s.getElementType()))
    return {};
  int64_t start = s.getSplatValue<APInt>().getSExtValue();
  int64_t limit = l.getSplatValue<APInt>().getSExtValue();
  int64_t delta = d.getSplatValue<APInt>().getSExtValue();
  if (delta == 0)
    return {};
  // The count first (no overflow, no huge loops): ceil((limit - start) / delta).
  __int128 span = __int128(limit) - start;
  __int128 count = (span + (delta > 0 ? delta - 1 : delta + 1)) / delta;
  if (count < 0)
    count = 0;
  if (count != __int128(rt.getNumElements()))
    return {};
  SmallVector<APInt> out;
  unsigned w = rt.getElementTypeBitWidth();
  for (int64_t v = start; delta > 0 ? v < limit : v > limit; v += delta)
    out.push_back(APInt(w, v, /*isSigned=*/true));
  if (int64_t(out.size()) != rt.getNumElements())
    return {};
  return DenseElementsAttr::get(rt, out);
}

OpFoldResult ShapeOp::fold(FoldAdaptor) {
  auto t = dyn_cast<RankedTensorType>(getData().getType());
  RankedTensorType rt = staticResult(getShape());
  if (!t || !rt)
    return {};
  int64_t r = t.getRank();
  int64_t start = int64_t(getStart()) < 0 ? int64_t(getStart()) + r : int64_t(getStart());
  int64_t end = getEnd() ? (int64_t(*getEnd()) < 0 ? int64_t(*getEnd()) + r : int64_t(*getEnd())) : r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  SmallVector<APInt> out;
  for (int64_t d = start; d < end; ++d) {
    if (t.isDynamicDim(d))
      return {};
    out.push_back(APInt(64, t.getDimSize(d)));
  }
  if (int64_t(out.size()) != rt.getNumElements())
    return {};
  return DenseElementsAttr::get(rt, out);
}

OpFoldResult SliceOp::fold(FoldAdaptor a) {
  DenseElementsAttr data = smallConst(a.getData());
  RankedTensorType rt = staticResult(getOutput());
  auto starts = getConstantInts(getStarts()), ends = getConstantInts(getEnds());
  if (!data || !rt || !starts || !ends)
    return {};
  auto ds = data.getType().getShape();
  int64_t rank = ds.size();
  SmallVector<int64_t> axes, steps;
  if (isa<NoneType>(getAxes().getType())) {
    for (size_t i = 0; i < starts->size(); ++i)
      axes.push_back(i);
  } else if (auto ax = getConstantInts(getAxes())) {
    axes = *ax;
  } else {
    return {};
  }
  if (isa<NoneType>(getSteps().getType()))
    steps.assign(starts->size(), 1);
  else if (auto st = getConstantInts(getSteps()))
    steps = *st;
  else
    return {};
  if (axes.size() != starts->size() || steps.size() != starts->size() ||
      ends->size() != starts->size())
    return {};
  SmallVector<int64_t> lo(rank, 0), step(rank, 1), count(ds.begin(), ds.end());
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t ax = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (ax < 0 || ax >= rank || steps[i] == 0)
      return {};
    int64_t dim = ds[ax], s = (*starts)[i], e = (*ends)[i], k = steps[i];
    if (s < 0)
      s += dim;
    if (e < 0)
      e += dim;
    if (k > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      count[ax] = e > s ? (e - s + k - 1) / k : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      count[ax] = s > e ? (s - e - k - 1) / (-k) : 0;
    }
    lo[ax] = s;
    step[ax] = k;
  }
  if (ArrayRef<int64_t>(count) != rt.getShape())
    return {};
  auto vals = llvm::to_vector(data.getValues<Attribute>());
  SmallVector<int64_t> inStrides = stridesOf(ds), outStrides = stridesOf(count);
  SmallVector<Attribute> out;
  for (int64_t i = 0, n = rt.getNumElements(); i < n; ++i) {
    int64_t src = 0;
    for (int64_t d = 0; d < rank; ++d)
      src += (lo[d] + ((i / outStrides[d]) % count[d]) * step[d]) * inStrides[d];
    out.push_back(vals[src]);
  }
  return DenseElementsAttr::get(rt, out);
}

static OpFoldResult foldReshapeLike(Attribute in, Value result) {
  DenseElementsAttr d = smallConst(in);
  RankedTensorType rt = staticResult(result);
  if (!d || !rt || d.getNumElements() != rt.getNumElements())
    return {};
  return d.reshape(rt);
}
OpFoldResult SqueezeOp::fold(FoldAdaptor a) {
  return foldReshapeLike(a.getData(), getSqueezed());
}
OpFoldResult UnsqueezeOp::fold(FoldAdaptor a) {
  return foldReshapeLike(a.getData(), getExpanded());
}
