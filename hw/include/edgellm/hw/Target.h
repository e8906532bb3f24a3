//===- Target.h - Target descriptions (hw/targets/*.json) -------*- C++ -*-===//
//
// The hardware facts the compiler and the runtime share: clocks, memories,
// PE array, on-chip buffers, special-function unit, PCIe, queues and the
// operator legality table. Loaded from a JSON file; every field is required
// and a missing or mistyped one is reported by its path (e.g. "hbm.channel_bits").
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_TARGET_H
#define EDGELLM_HW_TARGET_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace edgellm::hw {

/// Operator names the legality table (`fpga_ops`) may use.
inline constexpr const char *kKnownOps[] = {
    "linear_int4", "linear_fp16", "attention", "rms_norm", "softmax",
    "rope",        "swiglu",      "add",       "mul",      "embedding",
    "layer_norm",  "gelu",        "sampling"};

struct TargetDesc {
  std::string name, board, part;
  unsigned isaVersion = 0;

  struct Clocks {
    double matmulMHz = 0, sfuMHz = 0, dmaMHz = 0;
  } clocks;

  struct Hbm {
    unsigned pseudoChannels = 0, channelBits = 0;
    uint64_t channelCapacityMiB = 0;
    double nominalBandwidthGBps = 0, axiClockMHz = 0;
    unsigned burstBeats = 0;
    double burstEfficiency = 0;
    unsigned kvWritePorts = 0;
    unsigned readLatencyCycles = 0; ///< first beat of a burst, at the AXI clock
    /// Bytes per cycle over all channels at the AXI clock.
    uint64_t bytesPerCycle() const { return uint64_t(pseudoChannels) * channelBits / 8; }
    /// The AXI ceiling in GB/s (channels x width x clock).
    double axiBandwidthGBps() const { return bytesPerCycle() * axiClockMHz * 1e-3; }
    uint64_t capacityBytes() const { return pseudoChannels * channelCapacityMiB << 20; }
  } hbm;

  struct Ddr {
    uint64_t capacityMiB = 0;
    unsigned busBits = 0;
    double clockMHz = 0, bandwidthGBps = 0, burstEfficiency = 0;
    unsigned readLatencyCycles = 0; ///< at the DMA clock
  } ddr;

  struct Pe {
    unsigned int4MacsPerCycle = 0, fp16MacsPerCycle = 0;
    unsigned int4Groups = 0, int4LanesPerGroup = 0, pipelineStages = 0;
    unsigned quantGroupSize = 0;
  } pe;

  struct OnChip {
    uint64_t abufKiB = 0, wbufKiB = 0, kbufKiB = 0, pbufKiB = 0;
  } onchip;

  struct Sfu {
    unsigned elementsPerCycle = 0, expLatencyCycles = 0, pipelineLatencyCycles = 0;
  } sfu;

  struct Pcie {
    double latencyUs = 0, bandwidthGBps = 0;
  } pcie;

  struct Queues {
    unsigned instructionBufferEntries = 0, tokenFifoDepth = 0;
    unsigned dispatchCyclesPerInstruction = 0;
  } queues;

  /// Operator -> runs on the FPGA. An operator absent from the table runs on
  /// the CPU. Keys must be names from kKnownOps.
  std::map<std::string, bool> fpgaOps;
  bool fpgaSupports(const std::string &op) const {
    auto it = fpgaOps.find(op);
    return it != fpgaOps.end() && it->second;
  }
};

/// Parses a target description. On failure returns std::nullopt and sets
/// `error` ("<source>: <field path>: <what is wrong>").
std::optional<TargetDesc> parseTarget(const std::string &jsonText,
                                      const std::string &sourceName,
                                      std::string &error);
/// Loads hw/targets/<file>.json (or any path).
std::optional<TargetDesc> loadTarget(const std::string &path, std::string &error);

/// The folder holding the bundled target descriptions (set at build time,
/// overridable with EDGELLM_TARGETS_DIR).
std::string targetsDir();
/// Resolves a target name ("vcu128") or a path to a JSON file.
std::optional<TargetDesc> loadTargetByName(const std::string &nameOrPath,
                                           std::string &error);

} // namespace edgellm::hw

#endif // EDGELLM_HW_TARGET_H
