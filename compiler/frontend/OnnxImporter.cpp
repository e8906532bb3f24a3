//===- OnnxImporter.cpp - ONNX model -> func + onnx dialect ---------------===//

#include "compiler/frontend/OnnxImporter.h"
#include "compiler/frontend/OnnxModel.h"
#include "dialects/onnx/OnnxDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <cerrno>
#include <filesystem>
#include <sys/stat.h>

using namespace mlir;
using namespace edgellm::frontend;
namespace eo = edgellm::onnx;
namespace fs = std::filesystem;

namespace {

/// Operators the onnx dialect defines, with the operand count of the op
/// (optional trailing ONNX inputs are filled with onnx.None).
const llvm::StringMap<unsigned> &supportedOps() {
  static const llvm::StringMap<unsigned> ops = {
      {"Add", 2},       {"Cast", 1},      {"Concat", 0},    {"Constant", 0},
      {"ConstantOfShape", 1},             {"Div", 2},       {"Equal", 2},
      {"Expand", 2},    {"Gather", 2},    {"Gemm", 3},      {"Less", 2},
      {"LayerNormalization", 3},          {"MatMul", 2},    {"Mul", 2},
      {"Neg", 1},       {"Not", 1},       {"Pow", 2},       {"Range", 3},
      {"ReduceMean", 1},                  {"Reshape", 2},   {"Shape", 1},
      {"Sigmoid", 1},   {"Slice", 5},     {"Softmax", 1},   {"Split", 2},
      {"Sqrt", 1},      {"Squeeze", 2},   {"Sub", 2},       {"Tanh", 1},
      {"Transpose", 1}, {"Trilu", 2},     {"Unsqueeze", 2}, {"Where", 3},
  };
  return ops;
}

class Importer {
public:
  Importer(MLIRContext *ctx, LoadedModel &m, const ImportOptions &opts)
      : ctx(ctx), b(ctx), m(m), opts(opts) {}

  OwningOpRef<ModuleOp> run();

private:
  Location fileLoc() { return FileLineColLoc::get(ctx, m.path, 0, 0); }
  Location nodeLoc(const ::onnx::NodeProto &n, int index) {
    std::string name = n.name().empty() ? n.op_type() + "_" + std::to_string(index)
                                        : n.name();
    return NameLoc::get(StringAttr::get(ctx, name),
                        FileLineColLoc::get(ctx, m.path, index + 1, 0));
  }

  Type convertType(const ::onnx::TypeProto &t, std::string &why);
  FailureOr<RankedTensorType> tensorType(const ::onnx::TensorProto &t, Location loc,
                                         StringRef what);
  FailureOr<ElementsAttr> convertTensor(const ::onnx::TensorProto &t, Location loc,
                                        StringRef what);
  FailureOr<Value> importInitializer(const ::onnx::TensorProto &t);
  LogicalResult importNode(const ::onnx::NodeProto &n, int index);
  FailureOr<Attribute> convertAttribute(const ::onnx::AttributeProto &a, Location loc);
  Value none(Location loc) {
    if (!noneValue)
      noneValue = eo::NoneOp::create(b, loc, b.getNoneType());
    return noneValue;
  }
  Value i64Const(Location loc, ArrayRef<int64_t> v) {
    auto t = RankedTensorType::get({int64_t(v.size())}, b.getI64Type());
    return eo::ConstantOp::create(b, loc, t, DenseIntElementsAttr::get(t, v));
  }

  MLIRContext *ctx;
  OpBuilder b;
  LoadedModel &m;
  const ImportOptions &opts;
  llvm::StringMap<Value> values;
  llvm::StringMap<const ::onnx::TypeProto *> types;
  Value noneValue;
  unsigned blobCounter = 0;
};

} // namespace

Type Importer::convertType(const ::onnx::TypeProto &t, std::string &why) {
  if (!t.has_tensor_type()) {
    why = "unsupported type (sequence, map or optional; only tensors are imported)";
    return nullptr;
  }
  const auto &tt = t.tensor_type();
  Type elt = eo::elementTypeOf(ctx, tt.elem_type());
  if (!elt) {
    why = std::string("unsupported element type ") + eo::dataTypeName(tt.elem_type());
    return nullptr;
  }
  if (!tt.has_shape())
    return UnrankedTensorType::get(elt);
  SmallVector<int64_t> shape;
  for (const auto &d : tt.shape().dim())
    shape.push_back(d.has_dim_value() && d.dim_value() >= 0 ? d.dim_value()
                                                            : ShapedType::kDynamic);
  return RankedTensorType::get(shape, elt);
}

/// The type of a TensorProto: a supported element type and valid sizes (at
/// most 2^40 elements).
FailureOr<RankedTensorType> Importer::tensorType(const ::onnx::TensorProto &t,
                                                 Location loc, StringRef what) {
  Type elt = eo::elementTypeOf(ctx, t.data_type());
  if (!elt)
    return emitError(loc) << what << ": unsupported data type "
                          << eo::dataTypeName(t.data_type()),
           failure();
  SmallVector<int64_t> shape(t.dims().begin(), t.dims().end());
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > (int64_t(1) << 40))
      return emitError(loc) << what << ": invalid dimensions", failure();
  return RankedTensorType::get(shape, elt);
}

FailureOr<ElementsAttr> Importer::convertTensor(const ::onnx::TensorProto &t,
                                                Location loc, StringRef what) {
  FailureOr<RankedTensorType> typeOr = tensorType(t, loc, what);
  if (failed(typeOr))
    return failure();
  RankedTensorType type = *typeOr;
  Type elt = type.getElementType();
  int64_t n = type.getNumElements();
  unsigned bytes = elt.isInteger(1) ? 1 : elt.getIntOrFloatBitWidth() / 8;
  if (t.data_location() == ::onnx::TensorProto::EXTERNAL)
    return emitError(loc) << what << ": external data is only supported for "
                                     "graph initializers",
           failure();

  // The little-endian bytes of the elements.
  std::vector<char> raw;
  std::string why;
  if (!tensorProtoBytes(t, n, bytes, raw, why))
    return emitError(loc) << what << ": " << why << " for " << type, failure();

  if (elt.isInteger(1)) {
    SmallVector<bool> bits;
    for (char c : raw)
      bits.push_back(c != 0);
    return ElementsAttr(DenseElementsAttr::get(type, bits));
  }
  if (n > opts.inlineElementLimit) {
    std::string blobName = (t.name().empty() ? "tensor" : t.name()) + "_" +
                           std::to_string(blobCounter++);
    AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(
        ArrayRef<char>(raw.data(), raw.size()));
    return ElementsAttr(DenseResourceElementsAttr::get(type, blobName, std::move(blob)));
  }
  bool isSplat = false;
  if (!DenseElementsAttr::isValidRawBuffer(type, ArrayRef<char>(raw), isSplat))
    return emitError(loc) << what << ": invalid data for " << type, failure();
  return ElementsAttr(DenseElementsAttr::getFromRawBuffer(type, ArrayRef<char>(raw)));
}

FailureOr<Value> Importer::importInitializer(const ::onnx::TensorProto &t) {
  Location loc = NameLoc::get(StringAttr::get(ctx, t.name()), fileLoc());
  std::string what = "initializer '" + t.name() + "'";
  if (t.data_location() != ::onnx::TensorProto::EXTERNAL) {
    FailureOr<ElementsAttr> attr = convertTensor(t, loc, what);
    if (failed(attr))
      return failure();
    return Value(eo::ConstantOp::create(b, loc, attr->getType(), *attr));
  }
  // External data: check the reference, never read the bytes.
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &e : t.external_data()) {
    if (e.key() == "location")
      location = e.value();
    else if (e.key() == "offset" || e.key() == "length") {
      char *end = nullptr;
      errno = 0;
      long long v = std::strtoll(e.value().c_str(), &end, 10);
      if (e.value().empty() || *end != 0 || v < 0 || errno)
        return emitError(loc) << what << ": external data " << e.key() << " '"
                              << e.value() << "' is not a non-negative integer",
               failure();
      (e.key() == "offset" ? offset : length) = v;
    }
  }
  FailureOr<RankedTensorType> typeOr = tensorType(t, loc, what);
  if (failed(typeOr))
    return failure();
  RankedTensorType type = *typeOr;
  int64_t eltBytes = std::max<int64_t>(1, type.getElementTypeBitWidth() / 8);
  int64_t bytes = type.getNumElements() * eltBytes;
  if (offset % eltBytes != 0)
    return emitError(loc) << what << ": external data offset " << offset
                          << " is not a multiple of the element size " << eltBytes,
           failure();
  if (length < 0)
    length = bytes;
  if (length != bytes)
    return emitError(loc) << what << ": external data length " << length
                          << " does not match " << type << " (" << bytes << " bytes)",
           failure();
  if (location.empty())
    return emitError(loc) << what << ": external data without a location", failure();
  fs::path rel(location);
  if (rel.is_absolute())
    return emitError(loc) << what << ": external data location '" << location
                          << "' is absolute (must be relative to the model's folder)",
           failure();
  fs::path norm = rel.lexically_normal();
  if (norm.empty() || *norm.begin() == ".." || norm == ".")
    return emitError(loc) << what << ": external data location '" << location
                          << "' escapes the model's folder",
           failure();
  fs::path full = fs::path(m.folder) / norm;
  struct stat st;
  if (::stat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return emitError(loc) << what << ": external data file '" << full.string()
                          << "' does not exist",
           failure();
  if (offset > int64_t(st.st_size) || length > int64_t(st.st_size) - offset)
    return emitError(loc) << what << ": external data [" << offset << ", "
                          << offset + length << ") is past the end of '"
                          << full.string() << "' (" << int64_t(st.st_size) << " bytes)",
           failure();
  return Value(eo::ExternalDataOp::create(b, loc, type, t.name(), norm.string(),
                                            offset, length));
}

FailureOr<Attribute> Importer::convertAttribute(const ::onnx::AttributeProto &a,
                                                Location loc) {
  switch (a.type()) {
  case ::onnx::AttributeProto::INT:
    return Attribute(b.getI64IntegerAttr(a.i()));
  case ::onnx::AttributeProto::FLOAT:
    return Attribute(b.getF32FloatAttr(a.f()));
  case ::onnx::AttributeProto::INTS:
    return Attribute(b.getI64ArrayAttr(SmallVector<int64_t>(a.ints().begin(), a.ints().end())));
  case ::onnx::AttributeProto::STRING:
    return Attribute(b.getStringAttr(a.s()));
  case ::onnx::AttributeProto::TENSOR: {
    FailureOr<ElementsAttr> e = convertTensor(a.t(), loc, "attribute '" + a.name() + "'");
    if (failed(e))
      return failure();
    return Attribute(*e);
  }
  default:
    return emitError(loc) << "attribute '" << a.name() << "' has an unsupported kind ("
                          << int(a.type()) << ")",
           failure();
  }
}

LogicalResult Importer::importNode(const ::onnx::NodeProto &n, int index) {
  Location loc = nodeLoc(n, index);
  const std::string &opType = n.op_type();
  if (!n.domain().empty() && n.domain() != "ai.onnx")
    return emitError(loc) << "unsupported operator '" << n.domain() << "::" << opType
                          << "' (only the default ONNX domain is imported)";
  auto it = supportedOps().find(opType);
  if (it == supportedOps().end())
    return emitError(loc) << "unsupported operator '" << opType << "'";

  auto setOutput = [&](unsigned i, Value v) -> LogicalResult {
    if (i < unsigned(n.output_size()) && !n.output(i).empty())
      values[n.output(i)] = v;
    return success();
  };

  // Constant: one of value / value_float(s) / value_int(s).
  if (opType == "Constant") {
    if (n.attribute_size() != 1)
      return emitError(loc) << "Constant needs exactly one value attribute";
    const ::onnx::AttributeProto &a = n.attribute(0);
    ElementsAttr value;
    if (a.name() == "value") {
      FailureOr<ElementsAttr> e = convertTensor(a.t(), loc, "Constant value");
      if (failed(e))
        return failure();
      value = *e;
    } else if (a.name() == "value_float") {
      value = DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()), a.f());
    } else if (a.name() == "value_floats") {
      SmallVector<float> v(a.floats().begin(), a.floats().end());
      value = DenseElementsAttr::get(
          RankedTensorType::get({int64_t(v.size())}, b.getF32Type()), ArrayRef<float>(v));
    } else if (a.name() == "value_int") {
      value = DenseElementsAttr::get(RankedTensorType::get({}, b.getI64Type()),
                                     int64_t(a.i()));
    } else if (a.name() == "value_ints") {
      SmallVector<int64_t> v(a.ints().begin(), a.ints().end());
      value = DenseElementsAttr::get(
          RankedTensorType::get({int64_t(v.size())}, b.getI64Type()), ArrayRef<int64_t>(v));
    } else {
      return emitError(loc) << "Constant attribute '" << a.name() << "' is not supported";
    }
    return setOutput(0, eo::ConstantOp::create(b, loc, value.getType(), value));
  }

  // Operands, with attributes that older opsets had and later ones turned
  // into inputs moved to constant operands.
  SmallVector<Value> operands;
  for (const std::string &name : n.input()) {
    if (name.empty()) {
      operands.push_back(none(loc));
      continue;
    }
    auto v = values.find(name);
    if (v == values.end())
      return emitError(loc) << "input '" << name << "' is not produced by any "
                               "earlier node, initializer or graph input";
    operands.push_back(v->second);
  }
  SmallVector<NamedAttribute> attrs;
  std::optional<int64_t> softmaxAxis;
  for (const ::onnx::AttributeProto &a : n.attribute()) {
    if ((opType == "Split" && a.name() == "split") ||
        ((opType == "Squeeze" || opType == "Unsqueeze") && a.name() == "axes")) {
      unsigned pos = 1;
      while (operands.size() <= pos)
        operands.push_back(none(loc));
      operands[pos] = i64Const(loc, SmallVector<int64_t>(a.ints().begin(), a.ints().end()));
      continue;
    }
    if (opType == "Softmax" && a.name() == "axis")
      softmaxAxis = a.i();
    FailureOr<Attribute> attr = convertAttribute(a, loc);
    if (failed(attr))
      return failure();
    attrs.emplace_back(b.getStringAttr(a.name()), *attr);
  }
  unsigned numOperands = it->second;
  if (numOperands == 0) {
    numOperands = operands.size(); // variadic (Concat)
  } else {
    if (operands.size() > numOperands)
      return emitError(loc) << opType << " takes at most " << numOperands
                            << " inputs, got " << operands.size();
    while (operands.size() < numOperands)
      operands.push_back(none(loc));
  }
  for (size_t i = 0; i < operands.size(); ++i)
    if (isa<NoneType>(operands[i].getType()) &&
        !(opType == "Gemm" && i == 2) && !(opType == "LayerNormalization" && i == 2) &&
        !(opType == "Slice" && i >= 3) && !((opType == "Split" || opType == "Squeeze" ||
                                              opType == "Trilu") && i == 1))
      return emitError(loc) << opType << " input " << i << " is required";

  // Softmax before opset 13 flattens to 2-D at `axis` (default 1): only the
  // last-axis case has the opset-13 meaning.
  if (opType == "Softmax" && m.opset < 13) {
    auto t = dyn_cast<RankedTensorType>(operands[0].getType());
    int64_t axis = softmaxAxis.value_or(1);
    if (!t || (axis != -1 && axis != t.getRank() - 1))
      return emitError(loc) << "Softmax-" << m.opset
                            << " with axis " << axis
                            << " (flattening semantics) is not supported";
    if (!softmaxAxis)
      attrs.emplace_back(b.getStringAttr("axis"), b.getI64IntegerAttr(-1));
  }

  // Result types from ONNX shape inference; a value ONNX could not type gets
  // an unranked tensor of the natural element type.
  std::string opName = "onnx." + opType;
  OperationState state(loc, opName);
  auto info = state.name.getRegisteredInfo();
  for (const NamedAttribute &a : attrs)
    if (!llvm::is_contained(info->getAttributeNames(), a.getName().getValue()))
      return emitError(loc) << opType << " attribute '" << a.getName().getValue()
                            << "' is not supported";
  unsigned numResults = opType == "LayerNormalization" ? 3
                        : opType == "Split"            ? unsigned(n.output_size())
                                                       : 1;
  if (unsigned(n.output_size()) > numResults)
    return emitError(loc) << opType << " has " << n.output_size()
                          << " outputs, at most " << numResults << " supported";
  for (unsigned i = 0; i < numResults; ++i) {
    if (i >= unsigned(n.output_size()) || n.output(i).empty()) {
      state.types.push_back(b.getNoneType());
      continue;
    }
    auto t = types.find(n.output(i));
    Type type;
    std::string why;
    if (t != types.end())
      type = convertType(*t->second, why);
    if (!type && t != types.end() && t->second->has_tensor_type() &&
        !eo::elementTypeOf(ctx, t->second->tensor_type().elem_type()))
      return emitError(loc) << "output '" << n.output(i) << "': " << why;
    if (!type) {
      Type elt;
      if (opType == "Shape")
        elt = b.getI64Type();
      else if (opType == "Equal" || opType == "Less" || opType == "Not")
        elt = b.getI1Type();
      else if (opType == "Cast") {
        for (const auto &a : n.attribute())
          if (a.name() == "to")
            elt = eo::elementTypeOf(ctx, a.i());
      } else if (opType == "ConstantOfShape") {
        elt = b.getF32Type();
        for (const auto &a : n.attribute())
          if (a.name() == "value")
            elt = eo::elementTypeOf(ctx, a.t().data_type());
      } else if (!operands.empty()) {
        elt = getElementTypeOrSelf(operands[opType == "Where" ? 1 : 0].getType());
      }
      if (!elt || isa<NoneType>(elt))
        return emitError(loc) << "cannot determine the type of output '"
                              << n.output(i) << "'";
      type = UnrankedTensorType::get(elt);
    }
    state.types.push_back(type);
  }
  state.addOperands(operands);
  state.addAttributes(attrs);
  Operation *op = b.create(state);
  for (unsigned i = 0; i < op->getNumResults(); ++i)
    if (failed(setOutput(i, op->getResult(i))))
      return failure();
  return success();
}

OwningOpRef<ModuleOp> Importer::run() {
  const ::onnx::GraphProto &g = m.model.graph();
  for (const auto &vi : g.value_info())
    types[vi.name()] = &vi.type();
  for (const auto &vi : g.output())
    types[vi.name()] = &vi.type();

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc());
  (*module)->setAttr("onnx.model_dir",
                     b.getStringAttr(fs::absolute(fs::path(m.folder)).lexically_normal().string()));
  b.setInsertionPointToEnd(module->getBody());

  llvm::StringSet<> initNames;
  for (const auto &t : g.initializer())
    initNames.insert(t.name());

  // Signature: graph inputs that are not initializers.
  SmallVector<Type> argTypes;
  SmallVector<const ::onnx::ValueInfoProto *> args;
  for (const auto &in : g.input()) {
    if (initNames.contains(in.name()))
      continue;
    std::string why;
    Type t = convertType(in.type(), why);
    if (!t)
      return emitError(fileLoc()) << "graph input '" << in.name() << "': " << why,
             nullptr;
    argTypes.push_back(t);
    args.push_back(&in);
  }
  auto func = func::FuncOp::create(b, fileLoc(), opts.functionName,
                                   b.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (size_t i = 0; i < args.size(); ++i) {
    values[args[i]->name()] = entry->getArgument(i);
    func.setArgAttr(i, "onnx.name", b.getStringAttr(args[i]->name()));
    SmallVector<Attribute> dims;
    bool anySymbolic = false;
    if (args[i]->type().tensor_type().has_shape())
      for (const auto &d : args[i]->type().tensor_type().shape().dim()) {
        dims.push_back(b.getStringAttr(d.dim_param()));
        anySymbolic |= !d.dim_param().empty();
      }
    if (anySymbolic)
      func.setArgAttr(i, "onnx.dim_params", b.getArrayAttr(dims));
  }
  b.setInsertionPointToStart(entry);

  for (const auto &t : g.initializer()) {
    FailureOr<Value> v = importInitializer(t);
    if (failed(v))
      return nullptr;
    values[t.name()] = *v;
  }
  for (int i = 0; i < g.node_size(); ++i)
    if (failed(importNode(g.node(i), i)))
      return nullptr;

  SmallVector<Value> results;
  SmallVector<Type> resultTypes;
  for (const auto &out : g.output()) {
    auto v = values.find(out.name());
    if (v == values.end())
      return emitError(fileLoc()) << "graph output '" << out.name()
                                  << "' is not produced by any node",
             nullptr;
    results.push_back(v->second);
    resultTypes.push_back(v->second.getType());
  }
  func::ReturnOp::create(b, fileLoc(), results);
  func.setType(b.getFunctionType(argTypes, resultTypes));
  for (int i = 0; i < g.output_size(); ++i)
    func.setResultAttr(i, "onnx.name", b.getStringAttr(g.output(i).name()));

  if (failed(verify(*module)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp> edgellm::frontend::importOnnxModel(MLIRContext *ctx,
                                                const std::string &path,
                                                const ImportOptions &options) {
  ctx->loadDialect<eo::OnnxDialect, func::FuncDialect>();
  LoadedModel model;
  std::string error;
  if (!loadModel(path, model, error)) {
    emitError(FileLineColLoc::get(ctx, path, 0, 0)) << error;
    return nullptr;
  }
  Importer importer(ctx, model, options);
  return importer.run();
}
