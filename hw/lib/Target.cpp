//===- Target.cpp - Target description loader ------------------------------===//

#include "edgellm/hw/Target.h"
#include "edgellm/hw/Isa.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <type_traits>

namespace edgellm::hw {
namespace {

using nlohmann::json;

/// Reads required fields and remembers the first error with its path.
class Reader {
public:
  explicit Reader(std::string source) : source(std::move(source)) {}

  const json *object(const json &parent, const std::string &path,
                     const std::string &key) {
    std::string full = join(path, key);
    auto it = parent.find(key);
    if (it == parent.end())
      return fail(full, "missing field"), nullptr;
    if (!it->is_object())
      return fail(full, "must be an object"), nullptr;
    return &*it;
  }

  template <typename T>
  void field(const json *parent, const std::string &path, const std::string &key,
             T &out) {
    if (!parent || !error.empty())
      return;
    std::string full = join(path, key);
    auto it = parent->find(key);
    if (it == parent->end())
      return fail(full, "missing field");
    if constexpr (std::is_same_v<T, std::string>) {
      if (!it->is_string())
        return fail(full, "must be a string");
      out = it->template get<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!it->is_boolean())
        return fail(full, "must be true or false");
      out = it->template get<bool>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!it->is_number())
        return fail(full, "must be a number");
      out = it->template get<T>();
      if (!(out > 0))
        return fail(full, "must be positive");
    } else {
      if (!it->is_number_unsigned())
        return fail(full, "must be a non-negative integer");
      uint64_t v = it->template get<uint64_t>();
      if (v == 0)
        return fail(full, "must be positive");
      if (v > std::numeric_limits<T>::max())
        return fail(full, "is too large");
      out = T(v);
    }
  }

  void fail(const std::string &path, const std::string &what) {
    if (error.empty())
      error = source + ": " + path + ": " + what;
  }

  std::string source, error;

private:
  static std::string join(const std::string &path, const std::string &key) {
    return path.empty() ? key : path + "." + key;
  }
};

} // namespace

std::optional<TargetDesc> parseTarget(const std::string &jsonText,
                                      const std::string &sourceName,
                                      std::string &error) {
  json j = json::parse(jsonText, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Re-parse with exceptions to get the position of the syntax error.
    try {
      json ignored = json::parse(jsonText);
    (void)ignored;
    } catch (const json::parse_error &e) {
      error = sourceName + ": invalid JSON at byte " + std::to_string(e.byte) +
              ": " + e.what();
      return std::nullopt;
    }
    error = sourceName + ": invalid JSON";
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = sourceName + ": top level must be an object";
    return std::nullopt;
  }

  Reader r(sourceName);
  TargetDesc t;
  std::string schema;
  r.field(&j, "", "schema", schema);
  if (r.error.empty() && schema != "edgellm-target/1")
    r.fail("schema", "unsupported schema '" + schema + "' (expected edgellm-target/1)");
  r.field(&j, "", "name", t.name);
  r.field(&j, "", "board", t.board);
  r.field(&j, "", "part", t.part);
  r.field(&j, "", "isa_version", t.isaVersion);
  if (r.error.empty() && t.isaVersion != isa::kVersionMajor)
    r.fail("isa_version", "is " + std::to_string(t.isaVersion) +
                              " but this build implements ISA version " +
                              std::to_string(isa::kVersionMajor));

  if (r.error.empty()) {
    const json *c = r.object(j, "", "clocks_mhz");
    r.field(c, "clocks_mhz", "matmul", t.clocks.matmulMHz);
    r.field(c, "clocks_mhz", "sfu", t.clocks.sfuMHz);
    r.field(c, "clocks_mhz", "dma", t.clocks.dmaMHz);
  }
  if (r.error.empty()) {
    const json *h = r.object(j, "", "hbm");
    r.field(h, "hbm", "pseudo_channels", t.hbm.pseudoChannels);
    r.field(h, "hbm", "channel_bits", t.hbm.channelBits);
    r.field(h, "hbm", "channel_capacity_mib", t.hbm.channelCapacityMiB);
    r.field(h, "hbm", "nominal_bandwidth_gbps", t.hbm.nominalBandwidthGBps);
    r.field(h, "hbm", "axi_clock_mhz", t.hbm.axiClockMHz);
    r.field(h, "hbm", "burst_beats", t.hbm.burstBeats);
    r.field(h, "hbm", "burst_efficiency", t.hbm.burstEfficiency);
    r.field(h, "hbm", "kv_write_ports", t.hbm.kvWritePorts);
    r.field(h, "hbm", "read_latency_cycles", t.hbm.readLatencyCycles);
    if (r.error.empty() && t.hbm.pseudoChannels > isa::kHbmChannels)
      r.fail("hbm.pseudo_channels", "exceeds the ISA's " +
                                        std::to_string(isa::kHbmChannels) + " channels");
    if (r.error.empty() && t.hbm.channelBits != isa::kBeatBytes * 8)
      r.fail("hbm.channel_bits", "must be " + std::to_string(isa::kBeatBytes * 8) +
                                     " (one ISA beat)");
    if (r.error.empty() &&
        t.hbm.channelCapacityMiB > ((uint64_t(isa::kHbmChannelBeats) * isa::kBeatBytes) >> 20))
      r.fail("hbm.channel_capacity_mib", "exceeds the ISA's 256 MiB per channel");
    if (r.error.empty() && t.hbm.burstEfficiency > 1.0)
      r.fail("hbm.burst_efficiency", "must be at most 1");
  }
  if (r.error.empty()) {
    const json *d = r.object(j, "", "ddr");
    r.field(d, "ddr", "capacity_mib", t.ddr.capacityMiB);
    r.field(d, "ddr", "bus_bits", t.ddr.busBits);
    r.field(d, "ddr", "clock_mhz", t.ddr.clockMHz);
    r.field(d, "ddr", "bandwidth_gbps", t.ddr.bandwidthGBps);
    r.field(d, "ddr", "burst_efficiency", t.ddr.burstEfficiency);
    r.field(d, "ddr", "read_latency_cycles", t.ddr.readLatencyCycles);
    if (r.error.empty() && t.ddr.capacityMiB > (uint64_t(1) << 32) * isa::kBeatBytes >> 20)
      r.fail("ddr.capacity_mib", "exceeds the ISA's 32-bit beat addresses");
    if (r.error.empty() && t.ddr.burstEfficiency > 1.0)
      r.fail("ddr.burst_efficiency", "must be at most 1");
  }
  if (r.error.empty()) {
    const json *p = r.object(j, "", "pe");
    r.field(p, "pe", "int4_macs_per_cycle", t.pe.int4MacsPerCycle);
    r.field(p, "pe", "fp16_macs_per_cycle", t.pe.fp16MacsPerCycle);
    r.field(p, "pe", "int4_groups", t.pe.int4Groups);
    r.field(p, "pe", "int4_lanes_per_group", t.pe.int4LanesPerGroup);
    r.field(p, "pe", "pipeline_stages", t.pe.pipelineStages);
    r.field(p, "pe", "quant_group_size", t.pe.quantGroupSize);
    if (r.error.empty() &&
        uint64_t(t.pe.int4Groups) * t.pe.int4LanesPerGroup != t.pe.int4MacsPerCycle)
      r.fail("pe.int4_groups", "int4_groups x int4_lanes_per_group must equal "
                               "int4_macs_per_cycle");
    if (r.error.empty() && t.pe.quantGroupSize != 128)
      r.fail("pe.quant_group_size", "the ISA's INT4 format has groups of 128");
  }
  if (r.error.empty()) {
    const json *o = r.object(j, "", "onchip_kib");
    r.field(o, "onchip_kib", "abuf", t.onchip.abufKiB);
    r.field(o, "onchip_kib", "wbuf", t.onchip.wbufKiB);
    r.field(o, "onchip_kib", "kbuf", t.onchip.kbufKiB);
    r.field(o, "onchip_kib", "pbuf", t.onchip.pbufKiB);
    const uint64_t maxKiB = ((1ull << 21) * isa::kBeatBytes) >> 10;
    for (auto [name, v] : {std::pair{"abuf", t.onchip.abufKiB}, {"wbuf", t.onchip.wbufKiB},
                           {"kbuf", t.onchip.kbufKiB}, {"pbuf", t.onchip.pbufKiB}})
      if (r.error.empty() && v > maxKiB)
        r.fail(std::string("onchip_kib.") + name,
               "exceeds the ISA's 21-bit beat addresses (" + std::to_string(maxKiB) + " KiB)");
  }
  if (r.error.empty()) {
    const json *s = r.object(j, "", "sfu");
    r.field(s, "sfu", "elements_per_cycle", t.sfu.elementsPerCycle);
    r.field(s, "sfu", "exp_latency_cycles", t.sfu.expLatencyCycles);
    r.field(s, "sfu", "pipeline_latency_cycles", t.sfu.pipelineLatencyCycles);
  }
  if (r.error.empty()) {
    const json *p = r.object(j, "", "pcie");
    r.field(p, "pcie", "latency_us", t.pcie.latencyUs);
    r.field(p, "pcie", "bandwidth_gbps", t.pcie.bandwidthGBps);
  }
  if (r.error.empty()) {
    const json *q = r.object(j, "", "queues");
    r.field(q, "queues", "instruction_buffer_entries", t.queues.instructionBufferEntries);
    r.field(q, "queues", "token_fifo_depth", t.queues.tokenFifoDepth);
    r.field(q, "queues", "dispatch_cycles_per_instruction",
            t.queues.dispatchCyclesPerInstruction);
  }
  if (r.error.empty()) {
    const json *ops = r.object(j, "", "fpga_ops");
    if (ops)
      for (auto it = ops->begin(); it != ops->end() && r.error.empty(); ++it) {
        bool known = false;
        for (const char *k : kKnownOps)
          known |= it.key() == k;
        if (!known)
          r.fail("fpga_ops." + it.key(), "unknown operator");
        else if (!it->is_boolean())
          r.fail("fpga_ops." + it.key(), "must be true or false");
        else
          t.fpgaOps[it.key()] = it->get<bool>();
      }
  }
  if (!r.error.empty()) {
    error = r.error;
    return std::nullopt;
  }
  return t;
}

std::optional<TargetDesc> loadTarget(const std::string &path, std::string &error) {
  std::ifstream in(path);
  if (!in) {
    error = path + ": cannot open target description";
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parseTarget(ss.str(), path, error);
}

std::string targetsDir() {
  if (const char *env = std::getenv("EDGELLM_TARGETS_DIR"))
    return env;
  return EDGELLM_DEFAULT_TARGETS_DIR;
}

std::optional<TargetDesc> loadTargetByName(const std::string &nameOrPath,
                                           std::string &error) {
  if (nameOrPath.find('/') != std::string::npos ||
      (nameOrPath.size() > 5 &&
       nameOrPath.compare(nameOrPath.size() - 5, 5, ".json") == 0))
    return loadTarget(nameOrPath, error);
  return loadTarget(targetsDir() + "/" + nameOrPath + ".json", error);
}

} // namespace edgellm::hw
