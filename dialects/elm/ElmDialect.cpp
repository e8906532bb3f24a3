//===- ElmDialect.cpp - The elm dialect: attributes and verifiers ---------===//

#include "dialects/elm/ElmDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace edgellm::elm;

#include "dialects/elm/ElmOpsDialect.cpp.inc"
#include "dialects/elm/ElmOpsEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/elm/ElmOpsAttrDefs.cpp.inc"

void ElmDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/elm/ElmOpsAttrDefs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/elm/ElmOps.cpp.inc"
      >();
}

/// Static sizes a and b agree (either may be dynamic).
static bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static LogicalResult sameShapeExceptLast(Operation *op, RankedTensorType a,
                                         RankedTensorType r) {
  if (a.getRank() != r.getRank())
    return op->emitOpError("result rank ") << r.getRank() << " differs from the input's "
                                           << a.getRank();
  for (int64_t d = 0; d + 1 < a.getRank(); ++d)
    if (!compatible(a.getDimSize(d), r.getDimSize(d)))
      return op->emitOpError("result dimension ") << d << " differs from the input's";
  return success();
}

LogicalResult EmbeddingOp::verify() {
  auto table = getTable().getType(), ids = getIds().getType(), r = getResult().getType();
  if (table.getRank() != 2)
    return emitOpError("table must be [vocab, hidden]");
  if (!isa<IntegerType>(ids.getElementType()))
    return emitOpError("ids must be integers");
  if (r.getRank() != ids.getRank() + 1 || !compatible(r.getShape().back(), table.getDimSize(1)))
    return emitOpError("result must be ids' shape + [") << table.getDimSize(1) << "]";
  if (r.getElementType() != table.getElementType())
    return emitOpError("result element type must be the table's");
  return success();
}

LogicalResult LinearOp::verify() {
  auto x = getInput().getType(), w = getWeight().getType(), r = getResult().getType();
  if (w.getRank() != 2)
    return emitOpError("weight must be [in, out]");
  if (x.getRank() < 1 || !compatible(x.getShape().back(), w.getDimSize(0)))
    return emitOpError("input's last dimension ")
           << x.getShape().back() << " differs from the weight's " << w.getDimSize(0);
  if (failed(sameShapeExceptLast(*this, x, r)))
    return failure();
  if (!compatible(r.getShape().back(), w.getDimSize(1)))
    return emitOpError("result's last dimension must be ") << w.getDimSize(1);
  if (auto b = getBias()) {
    auto bt = cast<RankedTensorType>(b.getType());
    if (bt.getRank() != 1 || !compatible(bt.getDimSize(0), w.getDimSize(1)))
      return emitOpError("bias must be [") << w.getDimSize(1) << "]";
  }
  bool sparse = getFormat() == WeightFormat::int4_g128_sparse;
  if (sparse != getDensity().has_value())
    return emitOpError("density is given exactly for int4_g128_sparse");
  if (auto d = getDensity()) {
    double v = d->convertToDouble();
    if (v != 0.5 && v != 0.25 && v != 0.125)
      return emitOpError("density must be 0.5, 0.25 or 0.125 (log-scale sparsity)");
  }
  return success();
}

LogicalResult RmsNormOp::verify() {
  auto x = getInput().getType(), g = getGamma().getType();
  if (x != getResult().getType())
    return emitOpError("result type must equal the input's");
  if (g.getRank() != 1 || x.getRank() < 1 || !compatible(g.getDimSize(0), x.getShape().back()))
    return emitOpError("gamma must be [") << x.getShape().back() << "]";
  if (!(getEps().convertToDouble() > 0))
    return emitOpError("eps must be positive");
  return success();
}

LogicalResult RopeOp::verify() {
  auto x = getInput().getType(), cs = getCosSin().getType();
  if (x != getResult().getType())
    return emitOpError("result type must equal the input's");
  int64_t rot = int64_t(getRotDim());
  if (x.getRank() < 2 || rot <= 0 || rot % 2 != 0 ||
      (!ShapedType::isDynamic(x.getShape().back()) && rot > x.getShape().back()))
    return emitOpError("rot_dim must be even and at most head_dim");
  if (cs.getRank() != x.getRank() + 1 || !compatible(cs.getShape().back(), 2) ||
      !compatible(cs.getDimSize(cs.getRank() - 2), rot / 2))
    return emitOpError("cos_sin must be [..., ") << rot / 2 << ", 2]";
  return success();
}

LogicalResult AttentionOp::verify() {
  auto q = getQ().getType(), k = getK().getType(), v = getV().getType();
  auto m = getMask().getType(), r = getResult().getType();
  if (q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4)
    return emitOpError("q, k and v must be [tokens|length, batch, heads, head_dim]");
  int64_t h = q.getDimSize(2), g = k.getDimSize(2), d = q.getDimSize(3);
  if (k != v)
    return emitOpError("k and v must have one type");
  if (!compatible(k.getDimSize(3), d))
    return emitOpError("k's head_dim differs from q's");
  if (!ShapedType::isDynamic(h) && !ShapedType::isDynamic(g) && (g == 0 || h % g != 0))
    return emitOpError("heads (") << h << ") must be a multiple of kv_heads (" << g << ")";
  if (m.getRank() != 3 || !m.getElementType().isInteger(1))
    return emitOpError("mask must be a bool [batch, tokens, length] tensor");
  if (r.getRank() != 3 ||
      (!ShapedType::isDynamic(h) && !ShapedType::isDynamic(d) && !compatible(r.getDimSize(2), h * d)))
    return emitOpError("result must be [tokens, batch, heads * head_dim]");
  return success();
}

LogicalResult SwigluOp::verify() {
  auto x = getInput().getType(), r = getResult().getType();
  if (failed(sameShapeExceptLast(*this, x, r)))
    return failure();
  int64_t in = x.getShape().back(), out = r.getShape().back();
  if (!ShapedType::isDynamic(in) && in % 2 != 0)
    return emitOpError("the last dimension must be even");
  if (!ShapedType::isDynamic(in) && !compatible(out, in / 2))
    return emitOpError("result's last dimension must be half the input's");
  return success();
}

LogicalResult AddOp::verify() {
  if (getLhs().getType() != getRhs().getType() || getLhs().getType() != getResult().getType())
    return emitOpError("operands and result must have one type");
  return success();
}

LogicalResult SoftmaxOp::verify() {
  if (getInput().getType() != getResult().getType())
    return emitOpError("result must have the input's type");
  if (!isa<FloatType>(getInput().getType().getElementType()) || getInput().getType().getRank() < 1)
    return emitOpError("input must be a floating-point tensor of rank >= 1");
  return success();
}

LogicalResult MulOp::verify() {
  if (getLhs().getType() != getRhs().getType() || getLhs().getType() != getResult().getType())
    return emitOpError("operands and result must have one type");
  return success();
}

#define GET_OP_CLASSES
#include "dialects/elm/ElmOps.cpp.inc"
