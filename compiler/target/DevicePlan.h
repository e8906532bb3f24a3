//===- DevicePlan.h - An LLM laid out on the accelerator ---------*- C++ -*-===//
//
// The result of lowering a placed elm function to the accelerator: the model
// configuration, where every weight lives (HBM stream, DDR parameter blob),
// the KV cache, the DDR input/output regions, and one instruction stream per
// program (prefill, decode). Built by lowerToDevice() (DeviceLowering.cpp)
// from the IR; written into a package by PackageWriter; printed by
// --emit=eisa. docs/lowering.md describes every decision.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_COMPILER_TARGET_DEVICEPLAN_H
#define EDGELLM_COMPILER_TARGET_DEVICEPLAN_H

#include "edgellm/hw/Isa.h"
#include "edgellm/hw/Target.h"

#include "mlir/IR/Value.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace edgellm::target {

/// The transformer's shape, read off the raised graph.
struct ModelShape {
  int64_t layers = 0, hidden = 0, heads = 0, kvHeads = 0, headDim = 0;
  int64_t ffn = 0, vocab = 0, rotDim = 0, maxPositions = 0;
  std::string pairs = "interleaved";
};

/// How a weight is stored on the device.
enum class WeightEncoding {
  Int4Rows,   ///< mm_q4 rows (isa.md "INT4 weights"), tile by tile
  F16Tiles,   ///< mm_f16 B operands: per tile of nt outputs, unified [k/16, nt, 16]
  F16Vector,  ///< gamma / bias: FP16 elements, padded to a beat
  F32Raw,     ///< the rotary table, as the model stores it (binary32)
};

/// One weight placed in device memory. HBM weights are one stream striped
/// beat by beat over the 32 pseudo-channels: stream beat p is channel p % 32,
/// offset p / 32; every tile starts at a multiple of 32 stream beats.
struct PlacedWeight {
  std::string name;            ///< ONNX initializer name
  mlir::Value source;          ///< onnx.ExternalData / onnx.Constant ([k, n] for linears)
  WeightEncoding encoding;
  bool inHbm = false;          ///< else DDR
  int64_t n = 0, k = 0;        ///< outputs, inputs (vectors: n = length)
  isa::Sparsity sparsity = isa::Sparsity::Dense;
  int64_t tileRows = 0;        ///< outputs per tile (linears)
  uint64_t beat = 0;           ///< HBM: first stream beat; DDR: beat address
  uint64_t beats = 0;          ///< HBM: stream beats incl. tile padding; DDR: beats
  int layer = -1;              ///< -1: not in a layer (head, embedding)
};

/// One region of a program's instructions (a layer, the head) for reports.
struct ProgramRegion {
  std::string name;
  uint32_t first = 0, last = 0;
};

struct DeviceProgram {
  std::string name;
  uint32_t tokenCapacity = 0;        ///< S: the most tokens one run handles
  std::vector<isa::Instruction> instructions;
  std::vector<ProgramRegion> regions;
  uint64_t abufPeakBeats = 0;        ///< from the activation memory planner
};

/// One layer's K or V cache, `[rows = kv_heads * head_dim / 16, capacity, 16]`:
/// row r (a 16-channel block) at `hbmAddr + r * rowStride`. With rowStride =
/// 2^23 every row is in its own pseudo-channel, so reading the cache runs
/// `rows` channels in parallel.
struct KvCacheRegion {
  int layer = 0;
  bool isValue = false;
  uint64_t hbmAddr = 0;              ///< row 0: channel * 2^23 + offset (beats)
  uint64_t rows = 0;
  uint64_t rowBeats = 0;             ///< the capacity in tokens, one beat each
  uint64_t rowStride = 0;            ///< beats from one row to the next
};

/// A CPU-side operator of the partition, with its cost, for the report.
struct HostOp {
  std::string name, kind, reason;
  double bytesPerToken = 0;          ///< memory the host touches per token
};

struct DevicePlan {
  std::string targetName;
  ModelShape model;
  std::string weightFormat;          ///< int4_g128 / int4_g128_sparse / f16
  double density = 1.0;
  uint32_t maxContext = 0;           ///< KV-cache capacity in tokens (L)

  std::vector<PlacedWeight> weights; ///< HBM stream, then DDR params and table
  PlacedWeight embedding;            ///< host table (FP16 in the package)
  std::vector<KvCacheRegion> kvCache;
  uint64_t hbmStreamBeats = 0;       ///< multiple of 32
  uint64_t ddrParamsBeat = 0, ddrParamsBeats = 0;   ///< loaded to PBUF by every program
  uint64_t ddrTableBeat = 0, ddrTableBeats = 0;     ///< rotary table
  uint64_t ddrInputBeat = 0, ddrInputBeats = 0;     ///< X [ntok, hidden], stride = program capacity
  uint64_t ddrLogitsBeat = 0, ddrLogitsBeats = 0;   ///< logits [ntok, vocab], same stride
  uint64_t ddrRowBeat = 0, ddrRowBeats = 0; ///< prefill_last: one token's row of the widest activation
  uint64_t ddrProgramsBeat = 0;      ///< where the instruction streams go

  /// prefill, decode, prefill_last (the prefill computing only the last
  /// token's logits, in logits row 0)
  std::vector<DeviceProgram> programs;
  std::vector<HostOp> hostOps;
  std::map<std::string, int> fpgaOps; ///< elm ops lowered to the device, by kind
  /// Every elm op with its node name and device, in program order.
  struct PlacedOp {
    std::string name, kind, device;
  };
  std::vector<PlacedOp> placement;
};

} // namespace edgellm::target

#endif // EDGELLM_COMPILER_TARGET_DEVICEPLAN_H
