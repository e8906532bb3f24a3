//===- OnnxDialect.cpp - The onnx dialect: types and verifiers ------------===//

#include "dialects/onnx/OnnxDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"

using namespace mlir;
using namespace edgellm;
using namespace edgellm::onnx;

#include "dialects/onnx/OnnxOpsDialect.cpp.inc"

void OnnxDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/onnx/OnnxOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Data types
//===----------------------------------------------------------------------===//

Type onnx::elementTypeOf(MLIRContext *ctx, int64_t t) {
  Builder b(ctx);
  switch (DataType(t)) {
  case DataType::Float:
    return b.getF32Type();
  case DataType::Float16:
    return b.getF16Type();
  case DataType::BFloat16:
    return b.getBF16Type();
  case DataType::Double:
    return b.getF64Type();
  case DataType::Bool:
    return b.getI1Type();
  case DataType::Int8:
    return b.getIntegerType(8);
  case DataType::Int16:
    return b.getIntegerType(16);
  case DataType::Int32:
    return b.getI32Type();
  case DataType::Int64:
    return b.getI64Type();
  case DataType::Uint8:
    return b.getIntegerType(8, /*isSigned=*/false);
  case DataType::Uint16:
    return b.getIntegerType(16, false);
  case DataType::Uint32:
    return b.getIntegerType(32, false);
  case DataType::Uint64:
    return b.getIntegerType(64, false);
  default:
    return nullptr;
  }
}

int64_t onnx::onnxTypeOf(Type t) {
  if (t.isF32())
    return int64_t(DataType::Float);
  if (t.isF16())
    return int64_t(DataType::Float16);
  if (t.isBF16())
    return int64_t(DataType::BFloat16);
  if (t.isF64())
    return int64_t(DataType::Double);
  if (auto it = dyn_cast<IntegerType>(t)) {
    bool u = it.isUnsigned();
    switch (it.getWidth()) {
    case 1:
      return int64_t(DataType::Bool);
    case 8:
      return int64_t(u ? DataType::Uint8 : DataType::Int8);
    case 16:
      return int64_t(u ? DataType::Uint16 : DataType::Int16);
    case 32:
      return int64_t(u ? DataType::Uint32 : DataType::Int32);
    case 64:
      return int64_t(u ? DataType::Uint64 : DataType::Int64);
    }
  }
  return int64_t(DataType::Undefined);
}

const char *onnx::dataTypeName(int64_t t) {
  static const char *names[] = {"UNDEFINED", "FLOAT",  "UINT8",     "INT8",
                                "UINT16",    "INT16",  "INT32",     "INT64",
                                "STRING",    "BOOL",   "FLOAT16",   "DOUBLE",
                                "UINT32",    "UINT64", "COMPLEX64", "COMPLEX128",
                                "BFLOAT16"};
  if (t >= 0 && t < int64_t(std::size(names)))
    return names[t];
  if (t >= 17 && t <= 20)
    return "FLOAT8";
  return "unknown";
}

std::optional<SmallVector<int64_t>> onnx::getConstantInts(Value v) {
  DenseIntElementsAttr attr;
  if (!v || !matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  SmallVector<int64_t> out;
  for (const APInt &x : attr.getValues<APInt>())
    out.push_back(x.getSExtValue());
  return out;
}

//===----------------------------------------------------------------------===//
// Verifier helpers
//===----------------------------------------------------------------------===//

static RankedTensorType ranked(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

/// Checks numpy broadcasting between static dimensions of two ranked types.
static LogicalResult verifyBroadcast(Operation *op, Value a, Value b,
                                     StringRef what = "operands") {
  auto ta = ranked(a), tb = ranked(b);
  if (!ta || !tb)
    return success();
  ArrayRef<int64_t> sa = ta.getShape(), sb = tb.getShape();
  for (int64_t i = 0, n = std::min(sa.size(), sb.size()); i < n; ++i) {
    int64_t da = sa[sa.size() - 1 - i], db = sb[sb.size() - 1 - i];
    if (ShapedType::isDynamic(da) || ShapedType::isDynamic(db) || da == db ||
        da == 1 || db == 1)
      continue;
    return op->emitOpError() << what << " cannot be broadcast: dimension "
                             << da << " vs " << db << " (shapes " << ta
                             << " and " << tb << ")";
  }
  return success();
}

static LogicalResult verifyAxis(Operation *op, int64_t axis, int64_t rank,
                                StringRef name = "axis", bool extraEnd = false) {
  int64_t hi = extraEnd ? rank + 1 : rank;
  if (axis < -hi || axis >= hi)
    return op->emitOpError() << name << " " << axis << " is out of range for rank "
                             << rank;
  return success();
}

static bool isIntTensor(Value v) {
  auto t = dyn_cast<TensorType>(v.getType());
  return t && isa<IntegerType>(t.getElementType()) &&
         !t.getElementType().isInteger(1);
}

static LogicalResult verify1DInt(Operation *op, Value v, StringRef name) {
  if (!v || isa<NoneType>(v.getType()))
    return success();
  if (!isIntTensor(v))
    return op->emitOpError() << name << " must be an integer tensor, got "
                             << v.getType();
  if (auto t = ranked(v); t && t.getRank() > 1)
    return op->emitOpError() << name << " must be 1-D, got " << v.getType();
  return success();
}

static LogicalResult verifySameElementType(Operation *op, Value a, Value b) {
  if (getElementTypeOrSelf(a.getType()) != getElementTypeOrSelf(b.getType()))
    return op->emitOpError("operand element types differ: ")
           << a.getType() << " vs " << b.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

template <typename OpT> static LogicalResult verifyBinary(OpT op, bool compare) {
  if (failed(verifySameElementType(op, op.getA(), op.getB())) ||
      failed(verifyBroadcast(op, op.getA(), op.getB())))
    return failure();
  Type resultElt = getElementTypeOrSelf(op.getC().getType());
  Type expected = compare ? Builder(op.getContext()).getI1Type()
                          : getElementTypeOrSelf(op.getA().getType());
  if (resultElt != expected)
    return op.emitOpError("result element type must be ") << expected;
  return success();
}

LogicalResult AddOp::verify() { return verifyBinary(*this, false); }
LogicalResult SubOp::verify() { return verifyBinary(*this, false); }
LogicalResult MulOp::verify() { return verifyBinary(*this, false); }
LogicalResult DivOp::verify() { return verifyBinary(*this, false); }
LogicalResult EqualOp::verify() { return verifyBinary(*this, true); }
LogicalResult LessOp::verify() { return verifyBinary(*this, true); }
LogicalResult PowOp::verify() {
  // Pow allows different base and exponent types.
  if (failed(verifyBroadcast(*this, getA(), getB())))
    return failure();
  if (getElementTypeOrSelf(getC().getType()) != getElementTypeOrSelf(getA().getType()))
    return emitOpError("result element type must be the base's");
  return success();
}

template <typename OpT> static LogicalResult verifyUnary(OpT op, bool isBool) {
  Type in = getElementTypeOrSelf(op.getX().getType());
  Type out = getElementTypeOrSelf(op.getY().getType());
  if (in != out)
    return op.emitOpError("result element type must equal the input's");
  if (isBool != in.isInteger(1))
    return op.emitOpError(isBool ? "requires a bool tensor"
                                 : "is not defined on bool tensors");
  if (!isBool && !isa<FloatType>(in) && !isa<NegOp>(op.getOperation()))
    return op.emitOpError("requires a floating-point tensor, got ") << in;
  return success();
}
LogicalResult NegOp::verify() { return verifyUnary(*this, false); }
LogicalResult NotOp::verify() { return verifyUnary(*this, true); }
LogicalResult SigmoidOp::verify() { return verifyUnary(*this, false); }
LogicalResult SqrtOp::verify() { return verifyUnary(*this, false); }
LogicalResult TanhOp::verify() { return verifyUnary(*this, false); }

LogicalResult CastOp::verify() {
  Type to = elementTypeOf(getContext(), getTo());
  if (!to)
    return emitOpError("cast to unsupported data type ")
           << dataTypeName(getTo()) << " (" << getTo() << ")";
  if (getElementTypeOrSelf(getOutput().getType()) != to)
    return emitOpError("result element type must be ") << to;
  return success();
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  int64_t rank = -1;
  for (Value v : getInputs()) {
    if (failed(verifySameElementType(*this, getInputs()[0], v)))
      return failure();
    auto t = ranked(v);
    if (!t)
      continue;
    if (rank >= 0 && t.getRank() != rank)
      return emitOpError("inputs have different ranks");
    rank = t.getRank();
  }
  if (rank < 0)
    return success();
  if (failed(verifyAxis(*this, int64_t(getAxis()), rank)))
    return failure();
  int64_t axis = int64_t(getAxis()) < 0 ? int64_t(getAxis()) + rank : int64_t(getAxis());
  auto first = ranked(getInputs()[0]);
  for (Value v : getInputs()) {
    auto t = ranked(v);
    if (!t || !first)
      continue;
    for (int64_t d = 0; d < rank; ++d) {
      if (d == axis)
        continue;
      int64_t a = first.getDimSize(d), b = t.getDimSize(d);
      if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b)
        return emitOpError("inputs differ in dimension ")
               << d << " (" << a << " vs " << b << ") outside the axis";
    }
  }
  return success();
}

LogicalResult ConstantOp::verify() {
  auto type = cast<ShapedType>(getValue().getType());
  auto rt = cast<TensorType>(getOutput().getType());
  if (type.getElementType() != rt.getElementType() ||
      (rt.hasRank() && type.getShape() != rt.getShape()))
    return emitOpError("value type ") << type << " does not match the result "
                                      << rt;
  return success();
}

LogicalResult ExternalDataOp::verify() {
  auto t = cast<RankedTensorType>(getOutput().getType());
  unsigned bits = t.getElementTypeBitWidth();
  int64_t expected = t.getNumElements() * std::max(8u, bits) / 8;
  if (getOffset() < 0)
    return emitOpError("negative offset");
  if (getLength() != expected)
    return emitOpError("length ") << getLength() << " does not match "
                                  << t << " (" << expected << " bytes)";
  if (getLocation().empty())
    return emitOpError("empty location");
  return success();
}

LogicalResult ConstantOfShapeOp::verify() {
  if (failed(verify1DInt(*this, getInput(), "shape")))
    return failure();
  if (auto shape = getConstantInts(getInput()))
    for (int64_t d : *shape)
      if (d < 0)
        return emitOpError("shape has a negative size ") << d;
  if (auto v = getValueAttr()) {
    auto t = cast<ShapedType>(v.getType());
    if (t.getNumElements() != 1)
      return emitOpError("value must have exactly one element");
    if (t.getElementType() != getElementTypeOrSelf(getOutput().getType()))
      return emitOpError("result element type must be the value's");
  } else if (!getElementTypeOrSelf(getOutput().getType()).isF32()) {
    return emitOpError("without value the result is float32");
  }
  return success();
}

LogicalResult ExpandOp::verify() {
  if (failed(verify1DInt(*this, getShape(), "shape")))
    return failure();
  return verifySameElementType(*this, getInput(), getOutput());
}

LogicalResult GatherOp::verify() {
  if (!isIntTensor(getIndices()))
    return emitOpError("indices must be integers");
  auto d = ranked(getData());
  if (!d)
    return success();
  if (d.getRank() == 0)
    return emitOpError("data must have rank >= 1");
  if (failed(verifyAxis(*this, int64_t(getAxis()), d.getRank())))
    return failure();
  auto i = ranked(getIndices()), r = ranked(getOutput());
  if (i && r && r.getRank() != d.getRank() + i.getRank() - 1)
    return emitOpError("result rank must be ") << d.getRank() + i.getRank() - 1;
  return success();
}

LogicalResult GemmOp::verify() {
  auto a = ranked(getA()), b = ranked(getB());
  if (!a || !b)
    return success();
  if (a.getRank() != 2 || b.getRank() != 2)
    return emitOpError("A and B must be 2-D");
  int64_t ka = a.getDimSize(getTransA() ? 0 : 1);
  int64_t kb = b.getDimSize(getTransB() ? 1 : 0);
  if (!ShapedType::isDynamic(ka) && !ShapedType::isDynamic(kb) && ka != kb)
    return emitOpError("inner dimensions differ: ") << ka << " vs " << kb;
  return success();
}

LogicalResult LayerNormalizationOp::verify() {
  auto x = ranked(getX());
  if (!x)
    return success();
  if (failed(verifyAxis(*this, int64_t(getAxis()), x.getRank())))
    return failure();
  return verifyBroadcast(*this, getX(), getScale(), "X and Scale");
}

LogicalResult MatMulOp::verify() {
  if (failed(verifySameElementType(*this, getA(), getB())))
    return failure();
  auto a = ranked(getA()), b = ranked(getB());
  if (!a || !b)
    return success();
  if (a.getRank() == 0 || b.getRank() == 0)
    return emitOpError("operands must have rank >= 1");
  int64_t ka = a.getDimSize(a.getRank() - 1);
  int64_t kb = b.getDimSize(b.getRank() == 1 ? 0 : b.getRank() - 2);
  if (!ShapedType::isDynamic(ka) && !ShapedType::isDynamic(kb) && ka != kb)
    return emitOpError("inner dimensions differ: ")
           << ka << " vs " << kb << " (" << a << " x " << b << ")";
  if (a.getRank() > 2 && b.getRank() > 2) {
    ArrayRef<int64_t> sa = a.getShape().drop_back(2), sb = b.getShape().drop_back(2);
    for (size_t i = 0, n = std::min(sa.size(), sb.size()); i < n; ++i) {
      int64_t x = sa[sa.size() - 1 - i], y = sb[sb.size() - 1 - i];
      if (!ShapedType::isDynamic(x) && !ShapedType::isDynamic(y) && x != y &&
          x != 1 && y != 1)
        return emitOpError("batch dimensions cannot be broadcast: ")
               << x << " vs " << y;
    }
  }
  return success();
}

LogicalResult RangeOp::verify() {
  for (Value v : {getStart(), getLimit(), getDelta()})
    if (auto t = ranked(v); t && t.getRank() != 0)
      return emitOpError("start, limit and delta must be scalars");
  return success();
}

LogicalResult ReduceMeanOp::verify() {
  auto d = ranked(getData());
  if (!d || !getAxes())
    return success();
  llvm::SmallSet<int64_t, 4> seen;
  for (Attribute a : getAxesAttr()) {
    int64_t axis = cast<IntegerAttr>(a).getInt();
    if (failed(verifyAxis(*this, axis, d.getRank(), "axes entry")))
      return failure();
    if (!seen.insert(axis < 0 ? axis + d.getRank() : axis).second)
      return emitOpError("axes repeat axis ") << axis;
  }
  return success();
}

LogicalResult ReshapeOp::verify() {
  if (failed(verify1DInt(*this, getShape(), "shape")))
    return failure();
  auto in = ranked(getData()), out = ranked(getReshaped());
  if (in && out && in.hasStaticShape() && out.hasStaticShape() &&
      in.getNumElements() != out.getNumElements())
    return emitOpError("cannot reshape ") << in << " to " << out;
  if (auto shape = getConstantInts(getShape())) {
    if (llvm::count(*shape, -1) > 1)
      return emitOpError("shape has more than one -1");
    for (auto [i, d] : llvm::enumerate(*shape)) {
      if (d < -1)
        return emitOpError("shape entry ") << d << " is invalid";
      if (d == 0 && getAllowzero() == 0 && in && int64_t(i) >= in.getRank())
        return emitOpError("shape entry ") << i << " is 0 (copy) but the input has rank "
                                           << in.getRank();
    }
    if (out && int64_t(shape->size()) != out.getRank())
      return emitOpError("shape has ") << shape->size()
                                       << " entries but the result rank is "
                                       << out.getRank();
  }
  return success();
}

LogicalResult ShapeOp::verify() {
  if (!getElementTypeOrSelf(getShape().getType()).isInteger(64))
    return emitOpError("result must be int64");
  return success();
}

LogicalResult SliceOp::verify() {
  if (failed(verify1DInt(*this, getStarts(), "starts")) ||
      failed(verify1DInt(*this, getEnds(), "ends")) ||
      failed(verify1DInt(*this, getAxes(), "axes")) ||
      failed(verify1DInt(*this, getSteps(), "steps")))
    return failure();
  auto s = ranked(getStarts()), e = ranked(getEnds());
  if (s && e && s.hasStaticShape() && e.hasStaticShape() &&
      s.getNumElements() != e.getNumElements())
    return emitOpError("starts and ends differ in length");
  if (auto steps = getConstantInts(getSteps()))
    if (llvm::is_contained(*steps, 0))
      return emitOpError("steps must not be 0");
  auto data = ranked(getData());
  auto starts = getConstantInts(getStarts());
  if (auto axes = getConstantInts(getAxes()); axes && data) {
    if (starts && axes->size() != starts->size())
      return emitOpError("axes and starts differ in length");
    llvm::SmallSet<int64_t, 8> seen;
    for (int64_t a : *axes) {
      if (a < -data.getRank() || a >= data.getRank())
        return emitOpError("axis ") << a << " is out of range for rank " << data.getRank();
      if (!seen.insert(a < 0 ? a + data.getRank() : a).second)
        return emitOpError("axis ") << a << " is repeated";
    }
  } else if (data && starts && isa<NoneType>(getAxes().getType()) &&
             int64_t(starts->size()) > data.getRank()) {
    return emitOpError("more starts than dimensions");
  }
  return success();
}

LogicalResult SoftmaxOp::verify() {
  if (auto t = ranked(getInput()))
    return verifyAxis(*this, int64_t(getAxis()), t.getRank());
  return success();
}

LogicalResult SplitOp::verify() {
  if (failed(verify1DInt(*this, getSplit(), "split")))
    return failure();
  auto t = ranked(getInput());
  if (!t)
    return success();
  if (failed(verifyAxis(*this, int64_t(getAxis()), t.getRank())))
    return failure();
  if (auto sizes = getConstantInts(getSplit())) {
    if (sizes->size() != getOutputs().size())
      return emitOpError("split has ") << sizes->size() << " sizes for "
                                       << getOutputs().size() << " outputs";
    int64_t dim = t.getDimSize(int64_t(getAxis()) < 0 ? int64_t(getAxis()) + t.getRank() : int64_t(getAxis()));
    int64_t sum = 0;
    for (int64_t s : *sizes)
      sum += s;
    if (!ShapedType::isDynamic(dim) && sum != dim)
      return emitOpError("split sizes add up to ") << sum << ", not " << dim;
  }
  return success();
}

/// Axes of Squeeze/Unsqueeze: in range of `rank`, no repeats.
static LogicalResult verifyAxesList(Operation *op, Value axesValue, int64_t rank) {
  auto axes = getConstantInts(axesValue);
  if (!axes)
    return success();
  llvm::SmallSet<int64_t, 8> seen;
  for (int64_t a : *axes) {
    if (a < -rank || a >= rank)
      return op->emitOpError("axis ") << a << " is out of range for rank " << rank;
    if (!seen.insert(a < 0 ? a + rank : a).second)
      return op->emitOpError("axis ") << a << " is repeated";
  }
  return success();
}

LogicalResult SqueezeOp::verify() {
  if (failed(verify1DInt(*this, getAxes(), "axes")))
    return failure();
  auto in = ranked(getData());
  if (!in || isa<NoneType>(getAxes().getType()))
    return success();
  if (failed(verifyAxesList(*this, getAxes(), in.getRank())))
    return failure();
  if (auto axes = getConstantInts(getAxes()))
    for (int64_t a : *axes) {
      int64_t d = in.getDimSize(a < 0 ? a + in.getRank() : a);
      if (!ShapedType::isDynamic(d) && d != 1)
        return emitOpError("cannot squeeze axis ") << a << " of size " << d;
    }
  return success();
}

LogicalResult UnsqueezeOp::verify() {
  if (failed(verify1DInt(*this, getAxes(), "axes")))
    return failure();
  auto in = ranked(getData());
  auto axes = getConstantInts(getAxes());
  if (!in || !axes)
    return success();
  int64_t outRank = in.getRank() + int64_t(axes->size());
  if (auto out = ranked(getExpanded()); out && out.getRank() != outRank)
    return emitOpError("result rank must be ") << outRank;
  return verifyAxesList(*this, getAxes(), outRank);
}

LogicalResult TransposeOp::verify() {
  auto t = ranked(getData());
  if (!t || !getPerm())
    return success();
  if (int64_t(getPerm()->size()) != t.getRank())
    return emitOpError("perm has ") << getPerm()->size() << " entries for rank "
                                    << t.getRank();
  llvm::SmallSet<int64_t, 8> seen;
  for (Attribute a : getPermAttr()) {
    int64_t p = cast<IntegerAttr>(a).getInt();
    if (p < 0 || p >= t.getRank() || !seen.insert(p).second)
      return emitOpError("perm is not a permutation of 0..") << t.getRank() - 1;
  }
  return success();
}

LogicalResult TriluOp::verify() {
  if (auto t = ranked(getInput()); t && t.getRank() < 2)
    return emitOpError("input must have rank >= 2");
  return success();
}

LogicalResult WhereOp::verify() {
  if (!getElementTypeOrSelf(getCondition().getType()).isInteger(1))
    return emitOpError("condition must be bool");
  if (failed(verifySameElementType(*this, getX(), getY())) ||
      failed(verifyBroadcast(*this, getX(), getY())) ||
      failed(verifyBroadcast(*this, getCondition(), getX())))
    return failure();
  return success();
}

#define GET_OP_CLASSES
#include "dialects/onnx/OnnxOps.cpp.inc"

std::string edgellm::onnx::nodeName(Operation *op) {
  std::string name;
  op->getLoc()->walk([&](Location l) {
    if (auto n = dyn_cast<NameLoc>(l); n && name.empty())
      name = n.getName().str();
    return WalkResult::advance();
  });
  return name;
}
