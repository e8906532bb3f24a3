//===- CompileReport.cpp - What edgellm-compile tells the user ------------===//

#include "compiler/pipeline/CompileReport.h"
#include "edgellm/hw/Timing.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>

using namespace edgellm;
using namespace edgellm::target;
using json = nlohmann::json;

static std::string fmt(const char *f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

pipeline::CompileReport pipeline::buildReport(const DevicePlan &plan, const hw::TargetDesc &t) {
  json j;
  std::string text;
  const ModelShape &m = plan.model;
  j["target"] = t.name;
  j["weights"] = {{"format", plan.weightFormat}, {"density", plan.density}};
  j["model"] = {{"layers", m.layers}, {"hidden", m.hidden}, {"heads", m.heads},
                {"kv_heads", m.kvHeads}, {"head_dim", m.headDim}, {"ffn", m.ffn},
                {"vocab", m.vocab}};
  text += "placement (" + t.name + "):\n  fpga:";
  for (auto &[kind, n] : plan.fpgaOps)
    text += " " + std::to_string(n) + " " + kind;
  text += "\n";
  j["placement"]["fpga"] = plan.fpgaOps;
  json host = json::array();
  for (const HostOp &h : plan.hostOps) {
    host.push_back({{"name", h.name}, {"kind", h.kind}, {"reason", h.reason},
                    {"bytes_per_token", h.bytesPerToken}});
    text += "  cpu:  " + h.name + " (" + h.kind + "): " + h.reason +
            (h.bytesPerToken ? ", " + fmt("%.0f", h.bytesPerToken) + " B/token" : "") + "\n";
  }
  j["placement"]["cpu"] = host;
  json ops = json::array();
  for (const DevicePlan::PlacedOp &o : plan.placement)
    ops.push_back({{"name", o.name}, {"op", o.kind}, {"device", o.device},
                   {"reason", o.device == "fpga"
                                  ? "on the FPGA of " + t.name + " (legality table, lowered)"
                                  : "host: the table lookup by token id stays with the tokens"}});
  j["placement"]["ops"] = ops;

  // Weight bytes per layer.
  std::map<int, uint64_t> perLayer;
  uint64_t hbm = 0;
  for (const PlacedWeight &w : plan.weights) {
    uint64_t bytes = w.beats * isa::kBeatBytes;
    perLayer[w.layer] += bytes;
    if (w.inHbm)
      hbm += bytes;
  }
  json layers = json::array();
  text += "weight bytes per layer:";
  for (auto &[l, b] : perLayer) {
    layers.push_back({{"layer", l}, {"bytes", b}});
    text += (l < 0 ? std::string(" head/tables ") : " L" + std::to_string(l) + " ") +
            fmt("%.2f", b / 1048576.0) + " MiB";
  }
  text += "\n";
  j["weight_bytes_per_layer"] = layers;
  // Per HBM pseudo-channel: the striped weights plus the KV cache there.
  std::vector<uint64_t> perChannel(isa::kHbmChannels, plan.hbmStreamBeats / isa::kHbmChannels *
                                                          isa::kBeatBytes);
  std::vector<uint64_t> kvPerChannel(isa::kHbmChannels, 0);
  for (const KvCacheRegion &r : plan.kvCache)
    for (uint64_t row = 0; row < r.rows; ++row)
      kvPerChannel[(r.hbmAddr + row * r.rowStride) >> 23] += r.rowBeats * isa::kBeatBytes;
  json channels = json::array();
  for (unsigned c = 0; c < isa::kHbmChannels; ++c)
    channels.push_back({{"channel", c}, {"weight_bytes", perChannel[c]},
                        {"kv_cache_bytes", kvPerChannel[c]}});
  j["hbm_channels"] = channels;
  text += "HBM: " + fmt("%.2f", hbm / 1048576.0) + " MiB of weights, " +
          fmt("%.3f", perChannel[0] / 1048576.0) + " MiB on each of the 32 pseudo-channels; KV " +
          "cache " + std::to_string(plan.kvCache.size()) + " x " +
          fmt("%.2f", plan.kvCache.empty() ? 0
                                           : plan.kvCache[0].rows * plan.kvCache[0].rowBeats *
                                                 isa::kBeatBytes / 1048576.0) +
          " MiB (" + std::to_string(plan.maxContext) + " tokens)\n";

  // Programs: instruction counts and the timing model's prediction.
  json programs = json::array();
  for (const DeviceProgram &p : plan.programs) {
    std::map<std::string, unsigned> counts;
    for (const isa::Instruction &i : p.instructions)
      ++counts[i.spec().mnemonic];
    std::array<uint32_t, isa::kNumRegs> regs{};
    uint32_t past = p.tokenCapacity == 1 ? std::min<uint32_t>(128, plan.maxContext - 1) : 0;
    regs[isa::kRegPos] = past;
    regs[isa::kRegPast] = past;
    regs[isa::kRegNumTokens] = p.tokenCapacity;
    std::vector<hw::TimingRegion> regions;
    for (const ProgramRegion &r : p.regions)
      regions.push_back({r.name, r.first, r.last});
    hw::TimingReport tr = hw::simulateTiming(t, p.instructions, regs, regions);
    double perToken = tr.ns / p.tokenCapacity;
    json pj = {{"name", p.name},
               {"token_capacity", p.tokenCapacity},
               {"instructions", p.instructions.size()},
               {"counts", counts},
               {"abuf_peak_bytes", p.abufPeakBeats * isa::kBeatBytes},
               {"modeled", {{"past", past}, {"tokens", p.tokenCapacity}, {"ns", tr.ns},
                            {"tokens_per_s", tr.ns ? 1e9 * p.tokenCapacity / tr.ns : 0},
                            {"hbm_utilisation", tr.hbmUtilisation},
                            {"cycles_per_token", perToken * t.clocks.matmulMHz * 1e-3},
                            {"error", tr.error}}}};
    json rj = json::array();
    for (const auto &r : tr.regions)
      rj.push_back({{"name", r.name}, {"ns", r.ns}, {"hbm_bytes", r.hbmBytes},
                    {"hbm_utilisation", r.hbmUtilisation}});
    pj["modeled"]["regions"] = rj;
    programs.push_back(pj);
    text += "program " + p.name + ": " + std::to_string(p.instructions.size()) +
            " instructions (";
    bool first = true;
    for (auto &[mn, n] : counts) {
      text += (first ? "" : ", ") + std::to_string(n) + " " + mn;
      first = false;
    }
    text += "), " + std::to_string(p.tokenCapacity) + " tokens per run\n";
    if (tr.ok())
      text += "  modeled on " + t.name + " (" + std::to_string(p.tokenCapacity) +
              " tokens after " + std::to_string(past) + "): " + fmt("%.1f", tr.ns / 1e3) +
              " us = " + fmt("%.0f", perToken * t.clocks.matmulMHz * 1e-3) +
              " cycles/token at the PE clock, " +
              fmt("%.1f", 1e9 * p.tokenCapacity / tr.ns) + " tokens/s, HBM " +
              fmt("%.1f", tr.hbmUtilisation * 100) + "% of the AXI ceiling\n";
    else
      text += "  timing model: " + tr.error + "\n";
    // A one-token program's time grows with the cached tokens it attends to:
    // model it again with a longer context and with a full cache.
    if (p.tokenCapacity == 1 && tr.ok()) {
      json sweep = json::array();
      std::string line;
      for (uint32_t longer : {1024u, plan.maxContext - 1}) {
        if (longer <= past || longer >= plan.maxContext ||
            (!sweep.empty() && longer <= sweep.back()["past"].get<uint32_t>()))
          continue;
        regs[isa::kRegPos] = regs[isa::kRegPast] = longer;
        hw::TimingReport lr = hw::simulateTiming(t, p.instructions, regs);
        if (!lr.ok())
          break;
        sweep.push_back({{"past", longer}, {"ns", lr.ns}, {"tokens_per_s", 1e9 / lr.ns},
                         {"hbm_utilisation", lr.hbmUtilisation}});
        line += (line.empty() ? "" : ", ") + std::to_string(longer) + ": " +
                fmt("%.1f", 1e9 / lr.ns) + " tokens/s, HBM " +
                fmt("%.1f", lr.hbmUtilisation * 100) + "%";
      }
      programs.back()["modeled"]["longer_contexts"] = sweep;
      if (!line.empty())
        text += "  after more cached tokens: " + line + "\n";
    }
  }
  j["programs"] = programs;
  return {j.dump(1), text};
}
