//===- ElmToEisa.cpp - Lowering a placed elm function to the device -------===//
//
// Layout, tiling, memory planning and instruction generation for the FPGA
// part of a raised model (docs/lowering.md):
//  1. analysis: the FPGA ops and the onnx ops between them become a small
//     device graph of activation tensors ("views" of channel ranges). The
//     onnx ops allowed between FPGA ops are those that are free in the
//     unified [CH/16, token, 16] layout (token/batch transposes at batch 1,
//     reshapes of the channel dims, channel splits at multiples of 16) and
//     the KV-cache concatenation, which becomes a kv_append; anything else is
//     an error naming the op (no rearrangement may remain on the device);
//  2. weights: every linear is tiled by output channels to half of WBUF and
//     its tiles are laid out one after another in one HBM stream striped
//     over the 32 pseudo-channels; gammas and biases go to one DDR blob that
//     every program loads into PBUF; the rotary table stays in DDR;
//  3. per program (prefill: S tokens, decode: 1): an activation planner
//     assigns ABUF ranges with reuse after each tensor's last use, then the
//     instructions are generated with the step's values in registers
//     (R1 pos, R2 past, R3 ntok) and the token scheduler orders the queues.
//
//===----------------------------------------------------------------------===//

#include "compiler/conversion/ElmToEisa.h"
#include "compiler/conversion/Passes.h"
#include "compiler/target/StreamEmitter.h"
#include "compiler/target/TokenScheduler.h"
#include "dialects/elm/ElmDialect.h"
#include "dialects/onnx/OnnxDialect.h"
#include "edgellm/hw/IsaNumerics.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <map>
#include <tuple>

using namespace mlir;
using namespace edgellm;
using namespace edgellm::target;
namespace eo = edgellm::onnx;

namespace {

constexpr int64_t L16 = isa::kLanes;
constexpr int64_t kMaxTileRows = 256;
constexpr uint64_t kWbufSlots = 8; ///< weight tiles in flight (WBUF / 8 per tile)
int64_t blocksOf(int64_t c) { return (c + L16 - 1) / L16; }

/// The ONNX node name, or the op name for ops without one.
std::string nodeName(Operation *op) {
  std::string name = eo::nodeName(op);
  return name.empty() ? op->getName().getStringRef().str() : name;
}

/// A channel range of an activation tensor (all tokens).
struct View {
  int vt = -1;
  int64_t offset = 0, channels = 0;
};

enum class Kind {
  Input, RmsNorm, Linear, Rope, KvAppend, Attention, Swiglu, Add, Mul, Softmax, Output
};

struct DevOp {
  Kind kind;
  Operation *op = nullptr;
  std::vector<View> in;
  int out = -1;         ///< activation tensor written (new), -1 for in-place / none
  int weight = -1, bias = -1, gamma = -1, table = -1; ///< indices into plan.weights
  int cacheK = -1, cacheV = -1, cache = -1;
  double eps = 0, scale = 1;
  int64_t heads = 0, headDim = 0, rotDim = 0;
  isa::PairMode pairs = isa::PairMode::Interleaved;
  bool streamOut = false; ///< linear whose result only leaves the device: tiles go to DDR
  /// The transformer layer (a block ends with its second residual add);
  /// `layers` for the final norm and output layer.
  int layer = 0;
};

struct Analysis {
  std::vector<int64_t> vtChannels;
  std::vector<DevOp> ops;
  llvm::DenseMap<Value, View> views;
  llvm::DenseMap<Value, int> caches;   ///< Concat result -> cache index
  std::vector<int64_t> cacheChannels;  ///< per cache: G * D
  llvm::DenseMap<Operation *, int> weightOf;
  int inputVt = -1, outputVt = -1;
};

class Lowering {
public:
  Lowering(func::FuncOp func, const hw::TargetDesc &t, const conversion::LoweringOptions &o)
      : func(func), t(t), opts(o) {}
  FailureOr<DevicePlan> run();

private:
  LogicalResult analyse();
  LogicalResult placeWeights();
  /// One program of token capacity S; `lastOnly`: the logits of the last
  /// token only (row 0): every op whose result only that token's logits
  /// need runs on that token alone (`m = 1`).
  LogicalResult generate(const std::string &name, uint32_t S, DeviceProgram &prog,
                         bool lastOnly = false);
  int weightIndex(Value v, WeightEncoding enc, Operation *user);
  FailureOr<View> viewOf(Value v, Operation *user);
  int newVt(int64_t channels) {
    a.vtChannels.push_back(channels);
    return int(a.vtChannels.size()) - 1;
  }

  func::FuncOp func;
  const hw::TargetDesc &t;
  const conversion::LoweringOptions &opts;
  Analysis a;
  DevicePlan plan;
  uint64_t wbufSlot = 0, kbufSlot = 0;
  unsigned kbufSlots = 1, wbufSlots = 2;
};

//===----------------------------------------------------------------------===//
// Analysis
//===----------------------------------------------------------------------===//

bool isWeight(Value v) {
  Operation *d = v.getDefiningOp();
  return d && (llvm::isa<eo::ExternalDataOp>(d) || llvm::isa<eo::ConstantOp>(d)) &&
         cast<RankedTensorType>(v.getType()).hasStaticShape();
}

int Lowering::weightIndex(Value v, WeightEncoding enc, Operation *user) {
  Operation *d = v.getDefiningOp();
  auto it = a.weightOf.find(d);
  if (it != a.weightOf.end())
    return it->second;
  PlacedWeight w;
  w.source = v;
  w.encoding = enc;
  if (auto ext = dyn_cast<eo::ExternalDataOp>(d))
    w.name = ext.getName().str();
  else
    w.name = nodeName(d) == "onnx.Constant" ? nodeName(user) + ".const" : nodeName(d);
  auto ty = cast<RankedTensorType>(v.getType());
  if (ty.getRank() == 2) {
    w.k = ty.getDimSize(0);
    w.n = ty.getDimSize(1);
  } else {
    w.n = ty.getNumElements();
  }
  plan.weights.push_back(w);
  int idx = int(plan.weights.size()) - 1;
  a.weightOf[d] = idx;
  return idx;
}

/// Product of the dims after the token and batch dims.
int64_t channelsOf(Type ty) {
  auto r = cast<RankedTensorType>(ty);
  int64_t c = 1;
  for (int64_t i = 2; i < r.getRank(); ++i) {
    if (r.isDynamicDim(i))
      return -1;
    c *= r.getDimSize(i);
  }
  return r.getRank() >= 3 ? c : -1;
}

FailureOr<View> Lowering::viewOf(Value v, Operation *user) {
  auto it = a.views.find(v);
  if (it != a.views.end())
    return it->second;
  Operation *d = v.getDefiningOp();
  InFlightDiagnostic diag = user->emitError();
  diag << "'" << nodeName(user) << "' runs on the FPGA but its operand ";
  if (d)
    diag << "is computed on the CPU by '" << nodeName(d) << "' (" << d->getName()
         << "); only the embedding lookup may feed the device";
  else
    diag << "is a graph input the device does not read";
  return failure();
}

bool isPlacedOn(Operation *op, elm::Device dev) {
  auto attr = op->getAttrOfType<elm::DeviceAttr>("device");
  return attr && attr.getValue() == dev;
}

/// Traces the rotary operand back to Gather(table, position ids).
Value rotaryTable(Value v) {
  while (Operation *d = v.getDefiningOp()) {
    if (llvm::isa<eo::ReshapeOp, eo::TransposeOp, eo::UnsqueezeOp>(d)) {
      v = d->getOperand(0);
      continue;
    }
    if (auto g = dyn_cast<eo::GatherOp>(d))
      return isWeight(g.getData()) ? g.getData() : Value();
    return Value();
  }
  return Value();
}

LogicalResult Lowering::analyse() {
  ModelShape &m = plan.model;
  for (Operation &opRef : func.getBody().front()) {
    Operation *op = &opRef;
    if (auto emb = dyn_cast<elm::EmbeddingOp>(op)) {
      if (isPlacedOn(op, elm::Device::fpga))
        return op->emitError("the embedding lookup must run on the host");
      if (a.inputVt >= 0)
        return op->emitError("a second embedding lookup: the device takes one input");
      int64_t c = cast<RankedTensorType>(emb.getTable().getType()).getDimSize(1);
      a.inputVt = newVt(c);
      a.views[emb.getResult()] = {a.inputVt, 0, c};
      DevOp d{Kind::Input, op};
      d.out = a.inputVt;
      a.ops.push_back(d);
      m.hidden = c;
      m.vocab = cast<RankedTensorType>(emb.getTable().getType()).getDimSize(0);
      if (!isWeight(emb.getTable()))
        return op->emitError("the embedding table is not a weight");
      plan.embedding.source = emb.getTable();
      plan.embedding.n = m.vocab;
      plan.embedding.k = c;
      plan.embedding.encoding = WeightEncoding::F16Vector;
      if (auto ext = emb.getTable().getDefiningOp<eo::ExternalDataOp>())
        plan.embedding.name = ext.getName().str();
      plan.placement.push_back({nodeName(op), "elm.embedding", "cpu"});
      plan.hostOps.push_back({nodeName(op), "elm.embedding",
                              "table lookup by token id: the host holds the tokens",
                              double(c) * 2});
      continue;
    }
    if (op->getDialect() && op->getDialect()->getNamespace() == "elm") {
      ++plan.fpgaOps[op->getName().getStringRef().str()];
      plan.placement.push_back({nodeName(op), op->getName().getStringRef().str(),
                                isPlacedOn(op, elm::Device::fpga) ? "fpga" : "cpu"});
      if (!isPlacedOn(op, elm::Device::fpga))
        return op->emitError() << "'" << nodeName(op)
                               << "' is placed on the CPU between FPGA ops: packages "
                                  "support one FPGA segment (place it on the FPGA or "
                                  "compile with --target=cpu)";
    }
    auto operandsMapped = [&] {
      for (Value v : op->getOperands())
        if (a.views.count(v) || a.caches.count(v))
          return true;
      return false;
    };
    if (auto norm = dyn_cast<elm::RmsNormOp>(op)) {
      auto x = viewOf(norm.getInput(), op);
      if (failed(x))
        return failure();
      if (!isWeight(norm.getGamma()))
        return op->emitError("gamma is not a weight");
      DevOp d{Kind::RmsNorm, op};
      d.in = {*x};
      d.gamma = weightIndex(norm.getGamma(), WeightEncoding::F16Vector, op);
      d.eps = norm.getEps().convertToDouble();
      d.out = newVt(x->channels);
      a.views[norm.getResult()] = {d.out, 0, x->channels};
      a.ops.push_back(d);
      continue;
    }
    if (auto lin = dyn_cast<elm::LinearOp>(op)) {
      auto x = viewOf(lin.getInput(), op);
      if (failed(x))
        return failure();
      if (!isWeight(lin.getWeight()))
        return op->emitError("the weight is not a stored tensor");
      WeightEncoding enc;
      switch (lin.getFormat()) {
      case elm::WeightFormat::int4_g128:
      case elm::WeightFormat::int4_g128_sparse:
        enc = WeightEncoding::Int4Rows;
        break;
      case elm::WeightFormat::f16:
        enc = WeightEncoding::F16Tiles;
        break;
      default:
        return op->emitError("weights must be quantised (int4_g128) or f16 for the FPGA: "
                             "run edgellm-elm-quantize first");
      }
      DevOp d{Kind::Linear, op};
      d.in = {*x};
      d.weight = weightIndex(lin.getWeight(), enc, op);
      PlacedWeight &w = plan.weights[d.weight];
      w.sparsity = isa::Sparsity::Dense;
      if (auto dens = lin.getDensity()) {
        double v = dens->convertToDouble();
        w.sparsity = v == 0.5 ? isa::Sparsity::Half
                     : v == 0.25 ? isa::Sparsity::Quarter
                                 : isa::Sparsity::Eighth;
      }
      if (w.k != x->channels)
        return op->emitError("weight rows do not match the input channels");
      if (lin.getBias()) {
        if (!isWeight(lin.getBias()))
          return op->emitError("the bias is not a weight");
        d.bias = weightIndex(lin.getBias(), WeightEncoding::F16Vector, op);
      }
      d.out = newVt(w.n);
      a.views[lin.getResult()] = {d.out, 0, w.n};
      a.ops.push_back(d);
      continue;
    }
    if (auto rope = dyn_cast<elm::RopeOp>(op)) {
      auto x = viewOf(rope.getInput(), op);
      if (failed(x))
        return failure();
      Value table = rotaryTable(rope.getCosSin());
      if (!table)
        return op->emitError("the rotary operand is not a position gather of a stored table");
      auto ty = cast<RankedTensorType>(rope.getInput().getType());
      DevOp d{Kind::Rope, op};
      d.in = {*x};
      d.heads = ty.getDimSize(ty.getRank() - 2);
      d.headDim = ty.getDimSize(ty.getRank() - 1);
      d.rotDim = int64_t(rope.getRotDim());
      d.pairs = rope.getPairs() == elm::PairLayout::interleaved ? isa::PairMode::Interleaved
                                                                  : isa::PairMode::Halves;
      if (d.rotDim % 8 || d.headDim % 2)
        return op->emitError() << "rotary dims (" << d.rotDim << " of " << d.headDim
                               << ") do not fit the rope instruction (a multiple of 8)";
      d.table = weightIndex(table, WeightEncoding::F32Raw, op);
      auto tt = cast<RankedTensorType>(table.getType());
      if (tt.getElementType() != Float32Type::get(op->getContext()) ||
          tt.getNumElements() != tt.getDimSize(0) * d.rotDim)
        return op->emitError("the rotary table is not [positions, rot_dim/2, 2] binary32");
      m.rotDim = d.rotDim;
      m.maxPositions = tt.getDimSize(0);
      m.pairs = d.pairs == isa::PairMode::Interleaved ? "interleaved" : "halves";
      // In place when nothing else reads the input afterwards.
      bool single = true;
      for (Value v = rope.getInput(); single;) {
        single = v.hasOneUse();
        Operation *d = v.getDefiningOp();
        if (!d || !llvm::isa<eo::ReshapeOp, eo::TransposeOp>(d))
          break;
        v = d->getOperand(0);
      }
      if (single) {
        a.views[rope.getResult()] = *x;
      } else {
        d.out = newVt(x->channels);
        a.views[rope.getResult()] = {d.out, 0, x->channels};
      }
      a.ops.push_back(d);
      continue;
    }
    if (auto att = dyn_cast<elm::AttentionOp>(op)) {
      auto q = viewOf(att.getQ(), op);
      if (failed(q))
        return failure();
      // Decode exports concatenate the past (a cache already); prefill
      // exports attend over the new keys/values only: append them first.
      int caches[2];
      for (int which = 0; which < 2; ++which) {
        Value kv = which ? att.getV() : att.getK();
        auto c = a.caches.find(kv);
        if (c != a.caches.end()) {
          caches[which] = c->second;
          continue;
        }
        auto v = a.views.find(kv);
        if (v == a.views.end() || v->second.channels % L16 || v->second.offset % L16)
          return op->emitError("attention keys/values are neither the KV-cache concatenation "
                               "nor whole channel blocks computed on the FPGA");
        caches[which] = int(a.cacheChannels.size());
        a.cacheChannels.push_back(v->second.channels);
        a.caches[kv] = caches[which];
        DevOp d{Kind::KvAppend, op};
        d.in = {v->second};
        d.cache = caches[which];
        a.ops.push_back(d);
      }
      auto qt = cast<RankedTensorType>(att.getQ().getType());
      auto kt = cast<RankedTensorType>(att.getK().getType());
      DevOp d{Kind::Attention, op};
      d.in = {*q};
      d.cacheK = caches[0];
      d.cacheV = caches[1];
      d.heads = qt.getDimSize(2);
      d.headDim = qt.getDimSize(3);
      d.scale = att.getScale().convertToDouble();
      m.heads = d.heads;
      m.kvHeads = kt.getDimSize(2);
      m.headDim = d.headDim;
      if (d.headDim % L16)
        return op->emitError() << "head_dim " << d.headDim
                               << " is not a multiple of 16 lanes: the attention engine "
                                  "reads heads as whole channel blocks";
      d.out = newVt(d.heads * d.headDim);
      a.views[att.getResult()] = {d.out, 0, d.heads * d.headDim};
      a.ops.push_back(d);
      ++m.layers;
      continue;
    }
    if (auto sw = dyn_cast<elm::SwigluOp>(op)) {
      auto x = viewOf(sw.getInput(), op);
      if (failed(x))
        return failure();
      int64_t c = x->channels / 2;
      if (c % L16)
        return op->emitError() << "SwiGLU halves of " << c
                               << " channels are not whole channel blocks";
      DevOp d{Kind::Swiglu, op};
      d.in = {{x->vt, x->offset, c}, {x->vt, x->offset + c, c}};
      d.out = newVt(c);
      a.views[sw.getResult()] = {d.out, 0, c};
      a.ops.push_back(d);
      m.ffn = c;
      continue;
    }
    // Element-wise ops: a new activation of their first input's channels.
    auto elementwise = [&](Kind kind, ValueRange inputs, Value result) -> LogicalResult {
      DevOp d{kind, op};
      for (Value v : inputs) {
        auto x = viewOf(v, op);
        if (failed(x))
          return failure();
        d.in.push_back(*x);
      }
      d.out = newVt(d.in[0].channels);
      a.views[result] = {d.out, 0, d.in[0].channels};
      a.ops.push_back(d);
      return success();
    };
    if (auto add = dyn_cast<elm::AddOp>(op)) {
      if (failed(elementwise(Kind::Add, {add.getLhs(), add.getRhs()}, add.getResult())))
        return failure();
      continue;
    }
    if (auto mul = dyn_cast<elm::MulOp>(op)) {
      if (failed(elementwise(Kind::Mul, {mul.getLhs(), mul.getRhs()}, mul.getResult())))
        return failure();
      continue;
    }
    if (auto sm = dyn_cast<elm::SoftmaxOp>(op)) {
      if (failed(elementwise(Kind::Softmax, {sm.getInput()}, sm.getResult())))
        return failure();
      continue;
    }
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value v : ret.getOperands()) {
        if (a.caches.count(v))
          continue; // present keys/values: the device-resident cache
        auto it = a.views.find(v);
        if (it == a.views.end())
          continue; // KV caches (device-resident) and host values
        if (a.outputVt >= 0)
          return op->emitError("the device returns more than one activation");
        DevOp d{Kind::Output, op};
        d.in = {it->second};
        a.outputVt = it->second.vt;
        a.ops.push_back(d);
      }
      continue;
    }
    if (!operandsMapped())
      continue; // host glue not on the device's path (mask, shapes, rotary gather)
    // onnx between FPGA ops: only what the unified layout makes free.
    if (auto tr = dyn_cast<eo::TransposeOp>(op)) {
      auto perm = tr.getPerm();
      bool swap01 = perm && perm->size() >= 2;
      if (swap01)
        for (size_t i = 0; i < perm->size(); ++i) {
          int64_t want = i == 0 ? 1 : i == 1 ? 0 : int64_t(i);
          swap01 &= cast<IntegerAttr>((*perm)[i]).getInt() == want;
        }
      if (!swap01)
        return op->emitError() << "'" << nodeName(op)
                               << "' rearranges data between FPGA ops (only the token/batch "
                                  "swap is free in the unified layout at batch 1)";
      a.views[tr.getResult()] = a.views.lookup(tr.getData());
      continue;
    }
    if (auto rs = dyn_cast<eo::ReshapeOp>(op)) {
      View v = a.views.lookup(rs.getData());
      if (channelsOf(rs.getResult().getType()) != v.channels)
        return op->emitError() << "'" << nodeName(op)
                               << "' reshapes across the token dims between FPGA ops";
      a.views[rs.getResult()] = v;
      continue;
    }
    if (auto sp = dyn_cast<eo::SplitOp>(op)) {
      View v = a.views.lookup(sp.getInput());
      auto ty = cast<RankedTensorType>(sp.getInput().getType());
      int64_t axis = int64_t(sp.getAxis());
      if (axis < 0)
        axis += ty.getRank();
      if (axis != ty.getRank() - 1 || ty.getRank() < 3)
        return op->emitError("only channel splits (the last axis) are free on the device");
      int64_t off = v.offset;
      for (Value r : sp.getOutputs()) {
        int64_t c = cast<RankedTensorType>(r.getType()).getDimSize(axis);
        if ((off - v.offset) % L16)
          return op->emitError() << "channel split at " << off - v.offset
                                 << " is not a multiple of 16 lanes";
        a.views[r] = {v.vt, off, c};
        off += c;
      }
      continue;
    }
    if (auto cat = dyn_cast<eo::ConcatOp>(op)) {
      // The KV cache: Concat(past input, new keys/values) along the tokens.
      if (cat.getInputs().size() == 2 && cat.getAxis() == 0 &&
          llvm::isa<BlockArgument>(cat.getInputs()[0]) && a.views.count(cat.getInputs()[1])) {
        View v = a.views.lookup(cat.getInputs()[1]);
        int idx = int(a.cacheChannels.size());
        a.cacheChannels.push_back(v.channels);
        if (v.channels % L16 || v.offset % L16)
          return op->emitError("KV-cache channels are not whole channel blocks");
        a.caches[cat.getResult()] = idx;
        DevOp d{Kind::KvAppend, op};
        d.in = {v};
        d.cache = idx;
        a.ops.push_back(d);
        continue;
      }
    }
    return op->emitError() << "'" << nodeName(op) << "' (" << op->getName()
                           << ") sits between FPGA ops and is not free in the unified "
                              "layout: no rearrangement may remain on the device";
  }
  if (a.inputVt < 0)
    return func.emitError("no embedding lookup: the device needs the token embeddings");
  if (a.outputVt < 0)
    return func.emitError("the function returns nothing computed on the FPGA");
  if (m.layers == 0)
    return func.emitError("no attention layer was raised: nothing to run on the device");
  m.vocab = a.vtChannels[a.outputVt];
  int adds = 0;
  for (DevOp &d : a.ops) {
    d.layer = std::min<int>(adds / 2, int(m.layers));
    adds += d.kind == Kind::Add;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Weights and fixed memory
//===----------------------------------------------------------------------===//

uint64_t roundUp(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }

LogicalResult Lowering::placeWeights() {
  uint64_t wbufBeats = t.onchip.wbufKiB * 1024 / isa::kBeatBytes;
  wbufSlot = wbufBeats / 2;
  // HBM stream: linears in program order.
  uint64_t stream = 0;
  for (DevOp &d : a.ops) {
    if (d.kind != Kind::Linear)
      continue;
    PlacedWeight &w = plan.weights[d.weight];
    if (w.inHbm)
      continue;
    uint64_t rowBeats = w.encoding == WeightEncoding::Int4Rows
                            ? isa::q4RowBeats(uint32_t(w.k), w.sparsity)
                            : uint64_t(blocksOf(w.k)); // one column of a [k/16, nt, 16] tile
    // Tiles of at most 256 outputs and an eighth of WBUF: the last tile's
    // compute cannot overlap a load, so smaller tiles stream closer to the
    // HBM rate (docs/timing.md), and 8 tiles in flight let the loads run
    // ahead through attention and the special functions.
    int64_t rows = std::min<int64_t>(int64_t(wbufBeats / kWbufSlots / rowBeats), kMaxTileRows) / L16 * L16;
    if (rows < L16) // large rows: 16 per tile, as long as two tiles fit
      rows = L16;
    if (uint64_t(rows) * rowBeats * 2 > wbufBeats)
      return d.op->emitError() << "16 output rows of this weight (" << 16 * rowBeats
                               << " beats) do not fit half of WBUF";
    w.tileRows = std::min<int64_t>(rows, w.n);
    w.inHbm = true;
    w.beat = stream;
    for (int64_t n0 = 0; n0 < w.n; n0 += w.tileRows)
      stream += roundUp(std::min<int64_t>(w.tileRows, w.n - n0) * rowBeats, isa::kHbmChannels);
    w.beats = stream - w.beat;
    if (w.k > 0xffff || w.n > 0xffff)
      return d.op->emitError("a linear layer larger than 65535 in or out channels");
  }
  plan.hbmStreamBeats = stream;
  // As many WBUF slots as the largest tile allows (8 unless a single row is
  // large).
  uint64_t maxTile = 1;
  for (const PlacedWeight &w : plan.weights)
    if (w.inHbm)
      maxTile = std::max<uint64_t>(maxTile, uint64_t(w.tileRows) *
                                                (w.encoding == WeightEncoding::Int4Rows
                                                     ? isa::q4RowBeats(uint32_t(w.k), w.sparsity)
                                                     : uint64_t(blocksOf(w.k))));
  wbufSlots = unsigned(std::clamp<uint64_t>(wbufBeats / maxTile, 2, kWbufSlots));
  wbufSlot = wbufBeats / wbufSlots;
  uint64_t weightBeatsPerChannel = stream / isa::kHbmChannels;

  // DDR: the parameter blob (gammas, biases), then the rotary table.
  uint64_t params = 0;
  for (PlacedWeight &w : plan.weights)
    if (w.encoding == WeightEncoding::F16Vector) {
      w.beat = params;
      w.beats = uint64_t(blocksOf(w.n));
      params += w.beats;
    }
  uint64_t pbufBeats = t.onchip.pbufKiB * 1024 / isa::kBeatBytes;
  if (params > pbufBeats / 2)
    return func.emitError() << "gammas and biases take " << params
                            << " beats: more than half of PBUF";
  plan.ddrParamsBeat = 0;
  plan.ddrParamsBeats = params;
  uint64_t ddr = roundUp(params, 64);
  for (PlacedWeight &w : plan.weights)
    if (w.encoding == WeightEncoding::F32Raw) {
      w.beat = ddr;
      w.beats = uint64_t(w.n) * 4 / isa::kBeatBytes;
      plan.ddrTableBeat = ddr;
      plan.ddrTableBeats = w.beats;
      ddr = roundUp(ddr + w.beats, 64);
    }

  // KV cache: capacity L; K and V of one group in a KBUF slot.
  ModelShape &m = plan.model;
  uint64_t kbufBeats = t.onchip.kbufKiB * 1024 / isa::kBeatBytes;
  uint64_t dBlocks = uint64_t(m.headDim / L16);
  uint64_t L = opts.maxContext ? opts.maxContext : uint64_t(m.maxPositions);
  if (L == 0)
    L = 2048;
  uint64_t fit = kbufBeats / (2 * dBlocks) / L16 * L16;
  if (opts.maxContext && opts.maxContext > fit)
    return func.emitError() << "--max-context=" << opts.maxContext
                            << ": K and V of one group need " << 2 * dBlocks * opts.maxContext
                            << " beats, KBUF holds " << kbufBeats;
  L = std::min<uint64_t>({L, fit, 0xffff});
  if (m.maxPositions && L > uint64_t(m.maxPositions))
    L = uint64_t(m.maxPositions);
  plan.maxContext = uint32_t(L);
  kbufSlot = 2 * dBlocks * L;
  kbufSlots = kbufBeats >= 2 * kbufSlot ? 2 : 1;

  // Every row of a cache (one 16-channel block of K or V) in a pseudo-channel
  // of its own, so an attention step reads its rows at their combined
  // bandwidth: a cache of B <= 32 rows takes B neighbouring channels at the
  // lowest offset free in all of them (ChatGLM2-6B, B = 16: K of a layer in
  // channels 0-15, V in 16-31, a layer per offset). A cache of more rows than
  // channels keeps its rows in the least used channel, L apart.
  uint64_t kvBase = roundUp(weightBeatsPerChannel, 4096);
  std::array<uint64_t, isa::kHbmChannels> freeAt;
  freeAt.fill(kvBase);
  for (size_t i = 0; i < a.cacheChannels.size(); ++i) {
    KvCacheRegion r;
    r.layer = int(i / 2);
    r.isValue = i % 2;
    r.rows = uint64_t(blocksOf(a.cacheChannels[i]));
    r.rowBeats = L;
    uint64_t ch = 0, off = ~0ull;
    if (r.rows <= isa::kHbmChannels) {
      for (uint64_t c = 0; c + r.rows <= isa::kHbmChannels; ++c) {
        uint64_t at = *std::max_element(freeAt.begin() + long(c), freeAt.begin() + long(c + r.rows));
        if (at < off)
          ch = c, off = at;
      }
      r.rowStride = isa::kHbmChannelBeats;
      std::fill(freeAt.begin() + long(ch), freeAt.begin() + long(ch + r.rows), off + L);
    } else {
      ch = uint64_t(std::min_element(freeAt.begin(), freeAt.end()) - freeAt.begin());
      off = freeAt[ch];
      r.rowStride = L;
      freeAt[ch] = off + r.rows * L;
    }
    if (*std::max_element(freeAt.begin(), freeAt.end()) > isa::kHbmChannelBeats)
      return func.emitError("weights and KV cache do not fit HBM");
    r.hbmAddr = (ch << 23) + off;
    plan.kvCache.push_back(r);
  }
  if (kvBase > isa::kHbmChannelBeats)
    return func.emitError("the weights do not fit HBM");
  plan.ddrInputBeat = ddr; // sizes set once the capacities are known
  return success();
}

//===----------------------------------------------------------------------===//
// Activation memory (ABUF) planner
//===----------------------------------------------------------------------===//

class Arena {
public:
  explicit Arena(uint64_t capacity) : capacity(capacity) { free[0] = capacity; }
  /// First fit; ~0 when full.
  uint64_t alloc(uint64_t n) {
    if (n == 0)
      n = 1;
    for (auto it = free.begin(); it != free.end(); ++it)
      if (it->second >= n) {
        uint64_t at = it->first, len = it->second;
        free.erase(it);
        if (len > n)
          free[at + n] = len - n;
        used += n;
        peak = std::max(peak, at + n);
        sizes[at] = n;
        return at;
      }
    return ~0ull;
  }
  void release(uint64_t at) {
    uint64_t n = sizes[at];
    sizes.erase(at);
    used -= n;
    auto next = free.lower_bound(at);
    if (next != free.end() && next->first == at + n) {
      n += next->second;
      free.erase(next);
    }
    auto prev = free.lower_bound(at);
    if (prev != free.begin()) {
      --prev;
      if (prev->first + prev->second == at) {
        prev->second += n;
        return;
      }
    }
    free[at] = n;
  }
  uint64_t peak = 0;

private:
  uint64_t capacity, used = 0;
  std::map<uint64_t, uint64_t> free, sizes;
};

//===----------------------------------------------------------------------===//
// Instruction generation
//===----------------------------------------------------------------------===//

constexpr unsigned R1 = isa::kRegPos, R2 = isa::kRegPast, R3 = isa::kRegNumTokens;
constexpr unsigned RTableOff = 4, RLen = 5, RTableLen = 6, RLast = 7, RLastPos = 8;
constexpr uint32_t ABUF = uint32_t(isa::Buf::Abuf), WBUF = uint32_t(isa::Buf::Wbuf),
                   KBUF = uint32_t(isa::Buf::Kbuf), PBUF = uint32_t(isa::Buf::Pbuf);

LogicalResult Lowering::generate(const std::string &name, uint32_t S, DeviceProgram &prog,
                                bool lastOnly) {
  prog.name = name;
  prog.tokenCapacity = S;
  std::vector<isa::Instruction> code;
  auto emit = [&](auto instr) { code.push_back(isa::toInstruction(instr)); };
  const ModelShape &m = plan.model;
  uint64_t L = plan.maxContext;
  uint32_t rot8 = uint32_t(m.rotDim / 8);

  // Liveness.
  std::vector<int> lastUse(a.vtChannels.size(), -1);
  for (size_t i = 0; i < a.ops.size(); ++i)
    for (const View &v : a.ops[i].in)
      lastUse[v.vt] = int(i);
  // lastOnly: which ops run on the last token alone. Backwards from the
  // output: an op whose result is needed only at the last token and whose
  // rows are independent (output row i reads input row i; attention's
  // query row i, with the keys and values of the cache) needs only that row
  // of its inputs. A tensor needed in full by any reader (kv_append, a rope
  // that is not in place and would need its table row) is computed in full.
  std::vector<bool> oneRow(a.ops.size(), false);
  if (lastOnly) {
    enum Need : uint8_t { Unused, LastRow, AllRows };
    std::vector<Need> need(a.vtChannels.size(), Unused);
    for (size_t i = a.ops.size(); i-- > 0;) {
      const DevOp &d = a.ops[i];
      const bool rowWise = d.kind == Kind::Linear || d.kind == Kind::RmsNorm ||
                           d.kind == Kind::Swiglu || d.kind == Kind::Add ||
                           d.kind == Kind::Mul || d.kind == Kind::Softmax ||
                           d.kind == Kind::Attention;
      oneRow[i] = d.kind == Kind::Output || (rowWise && d.out >= 0 && need[d.out] == LastRow);
      for (const View &v : d.in)
        need[v.vt] = std::max(need[v.vt], oneRow[i] ? LastRow : AllRows);
    }
  }
  // Rows of each tensor's ABUF range: S, or 1 when its producer runs on the
  // last token alone.
  std::vector<uint32_t> rowsOf(a.vtChannels.size(), S);
  std::vector<uint64_t> addr(a.vtChannels.size(), ~0ull);
  uint64_t abufBeats = t.onchip.abufKiB * 1024 / isa::kBeatBytes;
  Arena arena(abufBeats);
  auto allocVt = [&](int vt, uint32_t rows) -> bool {
    rowsOf[vt] = rows;
    addr[vt] = arena.alloc(uint64_t(blocksOf(a.vtChannels[vt])) * rows);
    return addr[vt] != ~0ull;
  };
  auto at = [&](const View &v) -> uint32_t {
    return uint32_t(addr[v.vt] + uint64_t(v.offset / L16) * rowsOf[v.vt]);
  };
  // The last token's row (R7 = R3 - 1) of a tensor computed for all tokens,
  // as a one-row operand for an op that runs on it alone: to DDR and back
  // (no register offsets in the compute instructions' operands), once per
  // view, freed with the tensor.
  std::map<std::tuple<int, int64_t, int64_t>, uint64_t> lastRows;
  auto lastRowOf = [&](const View &v, Operation *op) -> FailureOr<uint64_t> {
    auto key = std::make_tuple(v.vt, v.offset, v.channels);
    if (auto it = lastRows.find(key); it != lastRows.end())
      return it->second;
    const uint32_t blocks = uint32_t(blocksOf(v.channels));
    assert(blocks <= plan.ddrRowBeats && "the DDR row holds the widest activation");
    uint64_t row = arena.alloc(blocks);
    if (row == ~0ull)
      return op->emitError() << "activations do not fit ABUF at " << S << " tokens";
    isa::Store s;
    s.src_buf = ABUF, s.src_addr = at(v), s.src_addr_reg = RLast;
    s.dst_addr = uint32_t(plan.ddrRowBeat);
    s.rows = blocks;
    s.row_len = 1;
    s.src_stride = S;
    s.dst_stride = 1;
    emit(s);
    isa::Load l;
    l.src_mem = uint32_t(isa::ExtMem::Ddr);
    l.src_addr = uint32_t(plan.ddrRowBeat);
    l.dst_buf = ABUF, l.dst_addr = uint32_t(row);
    l.rows = blocks;
    l.row_len = 1;
    l.src_stride = 1;
    l.dst_stride = 1;
    emit(l);
    lastRows[key] = row;
    return row;
  };
  auto dropLastRows = [&](int vt) {
    for (auto it = lastRows.begin(); it != lastRows.end();)
      if (std::get<0>(it->first) == vt) {
        arena.release(it->second);
        it = lastRows.erase(it);
      } else {
        ++it;
      }
  };
  // Address and stride of input v of op i (its last row alone when op i
  // runs on the last token and v was computed for all).
  struct Operand {
    uint32_t addr, stride;
  };
  auto operand = [&](size_t i, const View &v) -> FailureOr<Operand> {
    // (A product streamed to DDR has no ABUF range: the output op reads nothing.)
    if (!oneRow[i] || rowsOf[v.vt] == 1 || addr[v.vt] == ~0ull)
      return Operand{at(v), rowsOf[v.vt]};
    FailureOr<uint64_t> row = lastRowOf(v, a.ops[i].op);
    if (failed(row))
      return failure();
    return Operand{uint32_t(*row), 1};
  };
  auto full = [&](Operation *op) {
    return op->emitError() << "activations do not fit ABUF at " << S << " tokens";
  };
  // Which linears stream their result straight to DDR.
  for (DevOp &d : a.ops)
    if (d.kind == Kind::Linear && d.out == a.outputVt) {
      int uses = 0;
      for (const DevOp &e : a.ops)
        for (const View &v : e.in)
          uses += v.vt == d.out;
      d.streamOut = uses == 1;
    }

  // Prologue: derived registers, parameters, rotary rows, the input.
  uint32_t ropeAddr = uint32_t(plan.ddrParamsBeats);
  if (m.rotDim) {
    emit(isa::RegOp{{}, uint32_t(isa::AluOp::Mul), RTableOff, R1, 0, rot8});
    emit(isa::RegOp{{}, uint32_t(isa::AluOp::Mul), RTableLen, R3, 0, rot8});
  }
  emit(isa::RegOp{{}, uint32_t(isa::AluOp::Add), RLen, R2, R3, 0});
  if (lastOnly) {
    // The last token: its row, and its position (attention's diagonal).
    emit(isa::RegOp{{}, uint32_t(isa::AluOp::Sub), RLast, R3, 0, 1});
    emit(isa::RegOp{{}, uint32_t(isa::AluOp::Sub), RLastPos, RLen, 0, 1});
  }
  if (plan.ddrParamsBeats) {
    isa::Load l;
    l.src_mem = uint32_t(isa::ExtMem::Ddr);
    l.dst_buf = PBUF;
    l.src_addr = uint32_t(plan.ddrParamsBeat);
    l.dst_addr = 0;
    l.rows = 1;
    l.row_len = uint32_t(plan.ddrParamsBeats);
    emit(l);
  }
  if (m.rotDim) {
    if (ropeAddr + uint64_t(S) * rot8 > t.onchip.pbufKiB * 1024 / isa::kBeatBytes)
      return func.emitError("rotary rows do not fit PBUF");
    isa::Load l;
    l.src_mem = uint32_t(isa::ExtMem::Ddr);
    l.dst_buf = PBUF;
    l.src_addr = uint32_t(plan.ddrTableBeat);
    l.src_addr_reg = RTableOff;
    l.dst_addr = ropeAddr;
    l.rows = 1;
    l.row_len = 0;
    l.row_len_reg = RTableLen;
    emit(l);
  }
  std::vector<ProgramRegion> regions;
  uint32_t regionStart = 0;
  auto closeRegion = [&](const std::string &n) {
    if (code.size() > regionStart)
      regions.push_back({n, regionStart, uint32_t(code.size() - 1)});
    regionStart = uint32_t(code.size());
  };
  unsigned wslot = 0, kslot = 0;

  for (size_t i = 0; i < a.ops.size(); ++i) {
    DevOp &d = a.ops[i];
    // Rows this op computes: all R3 tokens, or the last one alone.
    const bool one = oneRow[i];
    const uint32_t rows = one ? 1 : S;
    auto setM = [&](auto &instr) {
      if (one)
        instr.m = 1;
      else
        instr.m_reg = R3;
    };
    std::vector<Operand> in;
    for (const View &v : d.in) {
      FailureOr<Operand> o = operand(i, v);
      if (failed(o))
        return failure();
      in.push_back(*o);
    }
    if (d.out >= 0 && !(d.kind == Kind::Linear && d.streamOut) && !allocVt(d.out, rows))
      return full(d.op);
    switch (d.kind) {
    case Kind::Input: {
      isa::Load l;
      l.src_mem = uint32_t(isa::ExtMem::Ddr);
      l.dst_buf = ABUF;
      l.src_addr = uint32_t(plan.ddrInputBeat);
      l.dst_addr = uint32_t(addr[d.out]);
      l.rows = uint32_t(blocksOf(a.vtChannels[d.out]));
      l.row_len_reg = R3;
      l.src_stride = S;
      l.dst_stride = S;
      emit(l);
      closeRegion("prologue");
      break;
    }
    case Kind::RmsNorm: {
      isa::RmsNorm r;
      r.x_buf = ABUF, r.x_addr = in[0].addr, r.x_stride = in[0].stride;
      r.y_buf = ABUF, r.y_addr = uint32_t(addr[d.out]), r.y_stride = rows;
      r.g_buf = PBUF, r.g_addr = uint32_t(plan.weights[d.gamma].beat);
      setM(r);
      r.c = uint32_t(d.in[0].channels);
      r.eps = isa::bitsFromF32(float(d.eps));
      emit(r);
      break;
    }
    case Kind::Linear: {
      const PlacedWeight &w = plan.weights[d.weight];
      bool q4 = w.encoding == WeightEncoding::Int4Rows;
      uint64_t rowBeats = q4 ? isa::q4RowBeats(uint32_t(w.k), w.sparsity) : blocksOf(w.k);
      uint64_t stream = w.beat;
      uint64_t stage[2] = {~0ull, ~0ull};
      if (d.streamOut)
        for (auto &s : stage)
          if ((s = arena.alloc(uint64_t(blocksOf(w.tileRows)) * rows)) == ~0ull)
            return full(d.op);
      const uint32_t xAddr = in[0].addr, xStride = in[0].stride;
      for (int64_t n0 = 0, tile = 0; n0 < w.n; n0 += w.tileRows, ++tile) {
        int64_t nt = std::min<int64_t>(w.tileRows, w.n - n0);
        uint64_t beats = uint64_t(nt) * rowBeats;
        uint32_t slot = uint32_t(wslot++ % wbufSlots * wbufSlot);
        isa::Load l;
        l.src_mem = uint32_t(isa::ExtMem::Hbm);
        l.dst_buf = WBUF;
        l.src_addr = uint32_t(stream / isa::kHbmChannels);
        l.dst_addr = slot;
        l.rows = 1;
        l.row_len = uint32_t(beats);
        l.hbm_stripe = isa::kHbmChannels;
        emit(l);
        stream += roundUp(beats, isa::kHbmChannels);
        uint32_t yAddr = d.streamOut ? uint32_t(stage[tile % 2])
                                     : uint32_t(addr[d.out] + uint64_t(n0 / L16) * rows);
        uint32_t bAddr = d.bias >= 0 ? uint32_t(plan.weights[d.bias].beat + n0 / L16) : 0;
        if (q4) {
          isa::MmQ4 mm;
          mm.x_buf = ABUF, mm.x_addr = xAddr, mm.x_stride = xStride;
          mm.w_buf = WBUF, mm.w_addr = slot;
          mm.y_buf = ABUF, mm.y_addr = yAddr, mm.y_stride = rows;
          if (d.bias >= 0)
            mm.has_bias = 1, mm.b_buf = PBUF, mm.b_addr = bAddr;
          setM(mm);
          mm.k = uint32_t(w.k);
          mm.n = uint32_t(nt);
          mm.sparsity = uint32_t(w.sparsity);
          emit(mm);
        } else {
          isa::MmF16 mm;
          mm.a_buf = ABUF, mm.a_addr = xAddr, mm.a_stride = xStride;
          mm.b_buf = WBUF, mm.b_addr = slot, mm.b_stride = uint32_t(nt);
          mm.c_buf = ABUF, mm.c_addr = yAddr, mm.c_stride = rows;
          setM(mm);
          mm.n = uint32_t(nt);
          mm.k = uint32_t(w.k);
          mm.trans_b = 1;
          mm.alpha = isa::bitsFromF32(1.0f);
          emit(mm);
          if (d.bias >= 0) {
            isa::Eltwise e;
            e.op = uint32_t(isa::EwOp::Add);
            e.a_buf = ABUF, e.a_addr = yAddr, e.a_stride = rows;
            e.b_buf = PBUF, e.b_addr = bAddr, e.b_stride = 1;
            e.y_buf = ABUF, e.y_addr = yAddr, e.y_stride = rows;
            setM(e);
            e.c = uint32_t(nt);
            e.bcast_b = 1;
            emit(e);
          }
        }
        if (d.streamOut) {
          isa::Store s;
          s.src_buf = ABUF, s.src_addr = yAddr;
          s.dst_addr = uint32_t(plan.ddrLogitsBeat + uint64_t(n0 / L16) * S);
          s.rows = uint32_t(blocksOf(nt));
          if (one)
            s.row_len = 1;
          else
            s.row_len_reg = R3;
          s.src_stride = rows;
          s.dst_stride = S;
          emit(s);
        }
      }
      if (d.streamOut)
        for (uint64_t s : stage)
          arena.release(s);
      break;
    }
    case Kind::Rope: {
      uint32_t x = in[0].addr;
      uint32_t y = d.out >= 0 ? uint32_t(addr[d.out]) : x;
      // In place: last rows taken of the tensor before are stale now.
      if (d.out < 0)
        dropLastRows(d.in[0].vt);
      isa::Rope r;
      r.x_buf = ABUF, r.x_addr = x, r.x_stride = S;
      r.y_buf = ABUF, r.y_addr = y, r.y_stride = S;
      r.t_buf = PBUF, r.t_addr = ropeAddr;
      r.m_reg = R3;
      r.heads = uint32_t(d.in[0].channels / d.headDim);
      r.head_dim = uint32_t(d.headDim);
      r.rot_dim = uint32_t(d.rotDim);
      r.pairs = uint32_t(d.pairs);
      emit(r);
      break;
    }
    case Kind::KvAppend: {
      isa::KvAppend k;
      k.src_buf = ABUF, k.src_addr = in[0].addr;
      const KvCacheRegion &c = plan.kvCache[d.cache];
      k.dst_addr = uint32_t(c.hbmAddr);
      k.dst_addr_reg = R2;
      k.rows = uint32_t(c.rows);
      k.row_len_reg = R3;
      k.src_stride = S;
      k.dst_stride = uint32_t(c.rowStride);
      k.hbm_stripe = 1;
      emit(k);
      break;
    }
    case Kind::Attention: {
      int64_t G = plan.model.kvHeads, H = d.heads, D = d.headDim;
      uint64_t dB = uint64_t(D / L16);
      uint64_t scoresAt = arena.alloc(uint64_t(blocksOf(int64_t(L))) * rows);
      if (scoresAt == ~0ull)
        return full(d.op);
      for (int64_t g = 0; g < G; ++g) {
        uint32_t kAt = uint32_t(kslot++ % kbufSlots * kbufSlot), vAt = uint32_t(kAt + dB * L);
        for (int which = 0; which < 2; ++which) {
          const KvCacheRegion &c = plan.kvCache[which ? d.cacheV : d.cacheK];
          isa::Load l;
          l.src_mem = uint32_t(isa::ExtMem::Hbm);
          l.dst_buf = KBUF;
          l.src_addr = uint32_t(c.hbmAddr + uint64_t(g) * dB * c.rowStride);
          l.dst_addr = which ? vAt : kAt;
          l.rows = uint32_t(dB);
          l.row_len_reg = RLen;
          l.src_stride = uint32_t(c.rowStride);
          l.dst_stride = uint32_t(L);
          l.hbm_stripe = 1;
          emit(l);
        }
        for (int64_t j = 0; j < H / G; ++j) {
          int64_t h = g * (H / G) + j;
          uint32_t qAt = uint32_t(in[0].addr + uint64_t(h) * dB * in[0].stride);
          isa::MmF16 s;
          s.a_buf = ABUF, s.a_addr = qAt, s.a_stride = in[0].stride;
          s.b_buf = KBUF, s.b_addr = kAt, s.b_stride = uint32_t(L);
          s.c_buf = ABUF, s.c_addr = uint32_t(scoresAt), s.c_stride = rows;
          setM(s);
          s.n_reg = RLen;
          s.k = uint32_t(D);
          s.trans_b = 1;
          s.alpha = isa::bitsFromF32(float(d.scale));
          emit(s);
          isa::Softmax sm;
          sm.x_buf = ABUF, sm.x_addr = uint32_t(scoresAt), sm.x_stride = rows;
          sm.y_buf = ABUF, sm.y_addr = uint32_t(scoresAt), sm.y_stride = rows;
          setM(sm);
          sm.n_reg = RLen;
          sm.causal = 1;
          // Row i is token R2 + i; the last token alone is at R2 + R3 - 1.
          sm.diag_reg = one ? RLastPos : R2;
          emit(sm);
          isa::MmF16 pv;
          pv.a_buf = ABUF, pv.a_addr = uint32_t(scoresAt), pv.a_stride = rows;
          pv.b_buf = KBUF, pv.b_addr = vAt, pv.b_stride = uint32_t(L);
          pv.c_buf = ABUF, pv.c_addr = uint32_t(addr[d.out] + uint64_t(h) * dB * rows),
          pv.c_stride = rows;
          setM(pv);
          pv.n = uint32_t(D);
          pv.k_reg = RLen;
          pv.alpha = isa::bitsFromF32(1.0f);
          emit(pv);
        }
      }
      arena.release(scoresAt);
      break;
    }
    case Kind::Swiglu: {
      isa::SiluMul s;
      s.a_buf = ABUF, s.a_addr = in[0].addr, s.a_stride = in[0].stride;
      s.b_buf = ABUF, s.b_addr = in[1].addr, s.b_stride = in[1].stride;
      s.y_buf = ABUF, s.y_addr = uint32_t(addr[d.out]), s.y_stride = rows;
      setM(s);
      s.c = uint32_t(d.in[0].channels);
      emit(s);
      break;
    }
    case Kind::Add:
    case Kind::Mul: {
      isa::Eltwise e;
      e.op = uint32_t(d.kind == Kind::Add ? isa::EwOp::Add : isa::EwOp::Mul);
      e.a_buf = ABUF, e.a_addr = in[0].addr, e.a_stride = in[0].stride;
      e.b_buf = ABUF, e.b_addr = in[1].addr, e.b_stride = in[1].stride;
      e.y_buf = ABUF, e.y_addr = uint32_t(addr[d.out]), e.y_stride = rows;
      setM(e);
      e.c = uint32_t(d.in[0].channels);
      emit(e);
      break;
    }
    case Kind::Softmax: {
      isa::Softmax sm;
      sm.x_buf = ABUF, sm.x_addr = in[0].addr, sm.x_stride = in[0].stride;
      sm.y_buf = ABUF, sm.y_addr = uint32_t(addr[d.out]), sm.y_stride = rows;
      setM(sm);
      sm.n = uint32_t(d.in[0].channels);
      emit(sm);
      break;
    }
    case Kind::Output: {
      bool streamed = false;
      for (const DevOp &e : a.ops)
        streamed |= e.kind == Kind::Linear && e.out == d.in[0].vt && e.streamOut;
      if (!streamed) {
        isa::Store s;
        s.src_buf = ABUF, s.src_addr = in[0].addr;
        s.dst_addr = uint32_t(plan.ddrLogitsBeat);
        s.rows = uint32_t(blocksOf(d.in[0].channels));
        if (one)
          s.row_len = 1;
        else
          s.row_len_reg = R3;
        s.src_stride = in[0].stride;
        s.dst_stride = S;
        emit(s);
      }
      break;
    }
    }
    // A layer's region ends with its last op.
    if (d.layer < m.layers && (i + 1 == a.ops.size() || a.ops[i + 1].layer != d.layer)) {
      closeRegion("layer " + std::to_string(d.layer));
      if (opts.progress)
        opts.progress(name, d.layer, int(m.layers));
    }
    // Free what dies here (and its last rows).
    for (const View &v : d.in)
      if (lastUse[v.vt] == int(i) && addr[v.vt] != ~0ull) {
        arena.release(addr[v.vt]);
        addr[v.vt] = ~0ull;
        dropLastRows(v.vt);
      }
  }
  emit(isa::End{{}, 1});
  closeRegion("head");

  RegisterBounds bounds{};
  bounds[R1] = uint32_t(m.maxPositions ? m.maxPositions : L);
  bounds[R2] = uint32_t(L);
  bounds[R3] = S;
  bounds[RTableOff] = bounds[R1] * rot8;
  bounds[RTableLen] = S * rot8;
  bounds[RLen] = uint32_t(L);
  bounds[RLast] = S;
  bounds[RLastPos] = uint32_t(L);
  std::string error;
  // Half the WBUF slots stream the next weights while a K/V load waits for
  // the previous group's attention; the other half stay free to run ahead
  // through the last group's attention.
  std::vector<uint32_t> order;
  if (hoistWeightLoads(code, bounds, wbufSlots / 2, order, error) == ~0u)
    return func.emitError() << "scheduling " << name << ": " << error;
  std::vector<uint32_t> movedTo(order.size());
  for (uint32_t i = 0; i < order.size(); ++i)
    movedTo[order[i]] = i;
  ScheduleStats stats;
  std::vector<uint32_t> newIndex; // relay syncs move instructions down
  if (!insertTokens(code, bounds, prog.instructions, error, &stats, &newIndex))
    return func.emitError() << "scheduling " << name << ": " << error;
  for (ProgramRegion &r : regions) {
    r.first = newIndex[movedTo[r.first]];
    r.last = newIndex[movedTo[r.last]];
  }
  prog.regions = regions;
  prog.abufPeakBeats = arena.peak;
  return success();
}

FailureOr<DevicePlan> Lowering::run() {
  plan.targetName = t.name;
  if (failed(analyse()) || failed(placeWeights()))
    return failure();
  // Format summary.
  for (const PlacedWeight &w : plan.weights)
    if (w.encoding == WeightEncoding::Int4Rows) {
      plan.weightFormat = w.sparsity == isa::Sparsity::Dense ? "int4_g128" : "int4_g128_sparse";
      plan.density = w.sparsity == isa::Sparsity::Dense     ? 1.0
                     : w.sparsity == isa::Sparsity::Half    ? 0.5
                     : w.sparsity == isa::Sparsity::Quarter ? 0.25
                                                            : 0.125;
    } else if (w.encoding == WeightEncoding::F16Tiles) {
      plan.weightFormat = "f16";
    }
  // Layers of each weight, for the report.
  for (DevOp &d : a.ops)
    for (int idx : {d.weight, d.bias, d.gamma})
      if (idx >= 0 && plan.weights[idx].layer < 0)
        plan.weights[idx].layer = d.layer < plan.model.layers ? d.layer : -1;
  // Capacities: prefill as large as fits (<= 128 tokens), decode 1.
  uint32_t maxS = opts.prefillTokens ? opts.prefillTokens : 128;
  maxS = std::min<uint32_t>(maxS, plan.maxContext);
  uint64_t hiddenBlocks = uint64_t(blocksOf(plan.model.hidden));
  uint64_t vocabBlocks = uint64_t(blocksOf(plan.model.vocab));
  // prefill_last's DDR row: one token of the widest activation.
  uint64_t widestBlocks = hiddenBlocks;
  for (int64_t c : a.vtChannels)
    widestBlocks = std::max<uint64_t>(widestBlocks, uint64_t(blocksOf(c)));
  DeviceProgram prefill, decode;
  uint32_t S = maxS;
  for (;;) {
    plan.ddrInputBeats = hiddenBlocks * S;
    plan.ddrLogitsBeat = roundUp(plan.ddrInputBeat + plan.ddrInputBeats, 64);
    plan.ddrLogitsBeats = vocabBlocks * S;
    plan.ddrRowBeat = roundUp(plan.ddrLogitsBeat + plan.ddrLogitsBeats, 64);
    plan.ddrRowBeats = widestBlocks;
    mlir::ScopedDiagnosticHandler quiet(func.getContext(), [&](Diagnostic &) {
      return success(); // retried at a smaller capacity; the last attempt reports
    });
    if (succeeded(generate("prefill", S, prefill)))
      break;
    if (opts.prefillTokens || S <= 1)
      break;
    S /= 2;
  }
  if (prefill.instructions.empty()) {
    // Report the failure at the final capacity.
    if (failed(generate("prefill", S, prefill)))
      return failure();
  }
  if (failed(generate("decode", 1, decode)))
    return failure();
  // The prompt of a generation needs only its last token's logits.
  // prefill_last is an option: a model whose program for the last token
  // does not fit (ABUF at this capacity, the DDR row) goes without (the
  // runtime then runs the prefill).
  DeviceProgram prefillLast;
  if (S > 1) {
    mlir::ScopedDiagnosticHandler quiet(func.getContext(), [&](Diagnostic &) { return success(); });
    if (failed(generate("prefill_last", S, prefillLast, true)))
      prefillLast = DeviceProgram();
  }
  plan.ddrProgramsBeat = roundUp(plan.ddrRowBeat + plan.ddrRowBeats, 64);
  plan.programs.push_back(std::move(prefill));
  plan.programs.push_back(std::move(decode));
  if (!prefillLast.instructions.empty())
    plan.programs.push_back(std::move(prefillLast));
  plan.hostOps.push_back({"causal mask", "onnx (mask construction)",
                          "not executed: the device masks causally (softmax causal, diag = "
                          "R2) for one sequence",
                          0});
  plan.hostOps.push_back({"rotary gather", "onnx.Gather",
                          "not executed: the device loads the rows at R1 from the table", 0});
  plan.hostOps.push_back({"sampling", "runtime", "argmax / top-k / top-p over the logits",
                          double(plan.model.vocab) * 2});
  return plan;
}

} // namespace

FailureOr<DevicePlan> edgellm::conversion::lowerToDevice(func::FuncOp func,
                                                         const hw::TargetDesc &target,
                                                         const LoweringOptions &options) {
  Lowering l(func, target, options);
  return l.run();
}

namespace edgellm::conversion {
#define GEN_PASS_DEF_ELMLOWERTOEISA
#include "compiler/conversion/Passes.h.inc"
} // namespace edgellm::conversion

namespace {
struct ElmLowerToEisaPass
    : public conversion::impl::ElmLowerToEisaBase<ElmLowerToEisaPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string error;
    auto tgt = hw::loadTargetByName(target, error);
    if (!tgt) {
      module.emitError() << error;
      return signalPassFailure();
    }
    auto funcs = module.getOps<func::FuncOp>();
    if (std::distance(funcs.begin(), funcs.end()) != 1) {
      module.emitError("expected exactly one function to lower");
      return signalPassFailure();
    }
    conversion::LoweringOptions opts;
    opts.prefillTokens = prefillTokens;
    opts.maxContext = maxContext;
    auto plan = conversion::lowerToDevice(*funcs.begin(), *tgt, opts);
    if (failed(plan))
      return signalPassFailure();
    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    for (const DeviceProgram &p : plan->programs) {
      auto prog = target::appendProgram(b, module.getLoc(), p.name, p.instructions);
      prog->setAttr("token_capacity", b.getI64IntegerAttr(p.tokenCapacity));
      prog->setAttr("max_context", b.getI64IntegerAttr(plan->maxContext));
    }
  }
};
} // namespace
