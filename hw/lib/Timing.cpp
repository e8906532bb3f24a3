//===- Timing.cpp - Cycle-level timing model of the accelerator -----------===//
//
// A discrete-event simulation of the dispatch unit, the three in-order
// engines and the four token FIFOs (docs/isa.md section 5), with the costs of
// docs/timing.md. No data is computed.
//
//===----------------------------------------------------------------------===//

#include "edgellm/hw/Timing.h"
#include "edgellm/hw/IsaNumerics.h"
#include "edgellm/hw/IsaStream.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <ostream>
#include <sstream>

using namespace edgellm;
using namespace edgellm::hw;
using isa::kBeatBytes;

const char *hw::timingEngineName(unsigned engine) {
  static const char *names[] = {"dispatch", "load DMA", "compute", "store DMA"};
  return engine < 4 ? names[engine] : "?";
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double cyclesToNs(double cycles, double mhz) { return cycles * 1e3 / mhz; }
uint64_t ceilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
uint64_t lanesUp(uint64_t c) { return ceilDiv(c, isa::kLanes) * isa::kLanes; }

/// The target fields the model divides by must be positive.
std::string checkTarget(const TargetDesc &t) {
  struct {
    const char *name;
    double v;
  } fields[] = {{"clocks_mhz.matmul", t.clocks.matmulMHz},
                {"clocks_mhz.sfu", t.clocks.sfuMHz},
                {"clocks_mhz.dma", t.clocks.dmaMHz},
                {"hbm.pseudo_channels", double(t.hbm.pseudoChannels)},
                {"hbm.channel_bits", double(t.hbm.channelBits)},
                {"hbm.axi_clock_mhz", t.hbm.axiClockMHz},
                {"hbm.burst_efficiency", t.hbm.burstEfficiency},
                {"hbm.kv_write_ports", double(t.hbm.kvWritePorts)},
                {"ddr.bandwidth_gbps", t.ddr.bandwidthGBps},
                {"ddr.burst_efficiency", t.ddr.burstEfficiency},
                {"pe.int4_macs_per_cycle", double(t.pe.int4MacsPerCycle)},
                {"pe.fp16_macs_per_cycle", double(t.pe.fp16MacsPerCycle)},
                {"sfu.elements_per_cycle", double(t.sfu.elementsPerCycle)},
                {"queues.token_fifo_depth", double(t.queues.tokenFifoDepth)}};
  for (auto &f : fields)
    if (!(f.v > 0))
      return std::string("target ") + t.name + ": " + f.name +
             " must be positive for the timing model";
  return {};
}

/// A 2-D HBM access (docs/isa.md section 6, striping rule): beats per
/// pseudo-channel; the busiest channel sets the time.
struct HbmBeats {
  uint64_t total = 0, busiest = 0;
};
HbmBeats hbmBeats(const TargetDesc &t, uint32_t base, uint32_t rows, uint32_t len,
                  uint64_t stride, uint32_t stripe) {
  HbmBeats r;
  const unsigned nch = t.hbm.pseudoChannels;
  std::vector<uint64_t> perChannel(nch, 0);
  auto channel = [&](uint64_t isaChannel) { return unsigned(isaChannel % isa::kHbmChannels % nch); };
  if (stripe > 1) {
    // Every row restarts at ch(base): position p of the stripe gets
    // len / P beats (+1 for the first len % P positions), per row.
    uint64_t ch0 = base / isa::kHbmChannelBeats;
    for (uint32_t p = 0; p < stripe; ++p) {
      uint64_t beats = uint64_t(len / stripe) + (p < len % stripe ? 1 : 0);
      perChannel[channel(ch0 + p)] += beats * rows;
    }
  } else {
    // Linear: split each row where it crosses a channel boundary.
    for (uint32_t r = 0; r < rows; ++r) {
      uint64_t a = uint64_t(base) + uint64_t(r) * stride, left = len;
      while (left) {
        uint64_t ch = a / isa::kHbmChannelBeats;
        uint64_t n = std::min<uint64_t>(left, (ch + 1) * isa::kHbmChannelBeats - a);
        perChannel[channel(ch)] += n;
        a += n, left -= n;
      }
    }
  }
  for (uint64_t b : perChannel) {
    r.total += b;
    r.busiest = std::max(r.busiest, b);
  }
  return r;
}

/// HBM: beats of the busiest channel at channel_bits per AXI cycle, derated
/// by burst_efficiency; read_latency_cycles once per instruction. `ports`
/// AXI ports carry the beats (32 for loads, kv_write_ports for kv_append), so
/// at least total / ports beats pass one port. Returns the bytes moved.
uint64_t hbmCost(const TargetDesc &t, uint32_t base, uint32_t rows, uint32_t len,
                 uint64_t stride, uint32_t stripe, unsigned ports, InstructionCost &c) {
  HbmBeats b = hbmBeats(t, base, rows, len, stride, stripe);
  if (b.total == 0)
    return 0;
  uint64_t beats = std::max(b.busiest, ceilDiv(b.total, uint64_t(ports)));
  double cyclesPerBeat = double(kBeatBytes) / (t.hbm.channelBits / 8.0);
  c.workNs = cyclesToNs(beats * cyclesPerBeat / t.hbm.burstEfficiency, t.hbm.axiClockMHz);
  c.latencyNs = cyclesToNs(t.hbm.readLatencyCycles, t.hbm.axiClockMHz);
  return b.total * kBeatBytes;
}

/// A PE array: MACs at macsPerCycle plus the pipeline, at the matmul clock.
double peNs(const TargetDesc &t, uint64_t macs, unsigned macsPerCycle) {
  if (macs == 0)
    return 0;
  return cyclesToNs(double(ceilDiv(macs, macsPerCycle)) + t.pe.pipelineStages,
                    t.clocks.matmulMHz);
}

/// DDR: bytes at bandwidth_gbps x burst_efficiency (GB/s = bytes/ns), plus
/// read_latency_cycles at the DMA clock once per instruction.
void ddrCost(const TargetDesc &t, uint64_t bytes, InstructionCost &c) {
  if (bytes == 0)
    return;
  c.workNs = double(bytes) / (t.ddr.bandwidthGBps * t.ddr.burstEfficiency);
  c.latencyNs = cyclesToNs(t.ddr.readLatencyCycles, t.clocks.dmaMHz);
}

/// Special-function unit: `passes` walks over `elements` (lanes rounded up to
/// whole beats) at elements_per_cycle, plus the pipeline latency (and the
/// exponential's latency for softmax and silu_mul), at the SFU clock.
double sfuNs(const TargetDesc &t, uint64_t elements, unsigned passes, bool usesExp) {
  if (elements == 0)
    return 0;
  double cycles = double(ceilDiv(elements * passes, t.sfu.elementsPerCycle)) +
                  t.sfu.pipelineLatencyCycles + (usesExp ? t.sfu.expLatencyCycles : 0);
  return cyclesToNs(cycles, t.clocks.sfuMHz);
}

} // namespace

InstructionCost hw::instructionCost(const TargetDesc &t, const isa::Instruction &in) {
  using namespace isa;
  InstructionCost c;
  switch (in.opcode) {
  case Opcode::Load: {
    auto l = as<Load>(in);
    if (ExtMem(l.src_mem) == ExtMem::Ddr) {
      c.ddrReadBytes = uint64_t(l.rows) * l.row_len * kBeatBytes;
      ddrCost(t, c.ddrReadBytes, c);
    } else {
      c.hbmReadBytes = hbmCost(t, l.src_addr, l.rows, l.row_len, l.src_stride, l.hbm_stripe,
                              t.hbm.pseudoChannels, c);
    }
    break;
  }
  case Opcode::Store: {
    auto s = as<Store>(in);
    c.ddrWriteBytes = uint64_t(s.rows) * s.row_len * kBeatBytes;
    ddrCost(t, c.ddrWriteBytes, c);
    break;
  }
  case Opcode::KvAppend: {
    auto s = as<KvAppend>(in);
    c.hbmWriteBytes = hbmCost(t, s.dst_addr, s.rows, s.row_len, s.dst_stride, s.hbm_stripe,
                               t.hbm.kvWritePorts, c);
    break;
  }
  case Opcode::MmQ4: {
    auto m = as<MmQ4>(in);
    // Only the stored non-zeros of each 128-weight group are multiplied.
    uint64_t storedK = ceilDiv(m.k, kQuantGroup) * kQuantGroup *
                       nonZerosPer8(Sparsity(m.sparsity)) / kSubBlock;
    c.workNs = peNs(t, uint64_t(m.m) * m.n * storedK, t.pe.int4MacsPerCycle);
    break;
  }
  case Opcode::MmF16: {
    auto m = as<MmF16>(in); // K in whole beats of 16 reduction steps
    c.workNs = peNs(t, uint64_t(m.m) * m.n * lanesUp(m.k), t.pe.fp16MacsPerCycle);
    break;
  }
  case Opcode::RmsNorm: {
    auto r = as<RmsNorm>(in); // sum of squares, then scale
    c.workNs = sfuNs(t, uint64_t(r.m) * lanesUp(r.c), 2, false);
    break;
  }
  case Opcode::Softmax: {
    auto s = as<Softmax>(in); // max, exp + sum, scale
    c.workNs = sfuNs(t, uint64_t(s.m) * lanesUp(s.n), 3, true);
    break;
  }
  case Opcode::Rope: {
    auto r = as<Rope>(in);
    c.workNs = sfuNs(t, uint64_t(r.m) * lanesUp(uint64_t(r.heads) * r.head_dim), 1, false);
    break;
  }
  case Opcode::SiluMul: {
    auto s = as<SiluMul>(in);
    c.workNs = sfuNs(t, uint64_t(s.m) * lanesUp(s.c), 1, true);
    break;
  }
  case Opcode::Eltwise: {
    auto e = as<Eltwise>(in);
    c.workNs = sfuNs(t, uint64_t(e.m) * lanesUp(e.c), 1, false);
    break;
  }
  default: // sync and the dispatch-unit instructions
    break;
  }
  return c;
}

namespace {

/// Token FIFOs: load->compute, compute->load, compute->store, store->compute.
int fifo(unsigned from, unsigned to) {
  if (from == kEngineLoad && to == kEngineCompute)
    return 0;
  if (from == kEngineCompute && to == kEngineLoad)
    return 1;
  if (from == kEngineCompute && to == kEngineStore)
    return 2;
  if (from == kEngineStore && to == kEngineCompute)
    return 3;
  return -1;
}
unsigned prevOf(unsigned q) { return q == kEngineCompute ? kEngineLoad : kEngineCompute; }
unsigned nextOf(unsigned q) { return q == kEngineLoad ? kEngineCompute : kEngineStore; }
std::string fifoName(unsigned from, unsigned to) {
  static const char *n[] = {"", "load", "compute", "store"};
  return std::string(n[from]) + "->" + n[to];
}

struct Item {
  uint32_t index;
  isa::Deps deps;
  InstructionCost cost;
  double readyNs; ///< dispatched (visible to the engine)
};
struct Flight {
  Item item;
  double endNs; ///< end of the work; completion may wait for pushes
  bool needPrev, needNext;
};
struct Engine {
  std::deque<Item> queue;
  std::deque<Flight> flight; ///< in order; two only while a DMA overlaps latency
  bool gotPrev = false, gotNext = false; ///< tokens the queue head already popped
  double busyEnd = -kInf, busy = 0;
  bool dma = false;
};

class Simulator {
public:
  Simulator(const TargetDesc &t, const std::vector<isa::Instruction> &p,
            const std::array<uint32_t, isa::kNumRegs> &regs, bool keepEvents)
      : t_(t), prog_(p), regs_(regs), keep_(keepEvents), startNs_(p.size(), kInf),
        endNs_(p.size(), -kInf), hbmBytes_(p.size(), 0) {
    regs_[0] = 0;
    engines_[kEngineLoad].dma = engines_[kEngineStore].dma = true;
    dispatchNs_ = cyclesToNs(t.queues.dispatchCyclesPerInstruction, t.clocks.dmaMHz);
  }
  void run(TimingReport &r);
  void fillRegions(const std::vector<TimingRegion> &regions, TimingReport &r) const;
  std::vector<TimingEvent> takeEvents() { return std::move(events_); }

private:
  bool step(double now, TimingReport &r);
  double nextEvent(double now) const;
  std::string describeStuck() const;
  void event(unsigned engine, uint32_t index, double s, double e) {
    if (keep_)
      events_.push_back({engine, index, prog_[index].spec().mnemonic, s, e});
  }

  const TargetDesc &t_;
  const std::vector<isa::Instruction> &prog_;
  std::array<uint32_t, isa::kNumRegs> regs_;
  bool keep_;
  double dispatchNs_ = 0;
  std::array<Engine, 4> engines_;
  std::array<uint32_t, 4> tokens_{};
  size_t pc_ = 0;
  double dispatchFree_ = 0, barrierFetch_ = -1;
  uint64_t outstanding_ = 0, dispatched_ = 0;
  bool ended_ = false;
  double finishNs_ = 0;
  std::vector<double> startNs_, endNs_;
  std::vector<uint64_t> hbmBytes_;
  std::vector<TimingEvent> events_;
};

/// Everything that can happen at time `now`; returns true if anything did.
bool Simulator::step(double now, TimingReport &r) {
  bool progress = false;
  const uint32_t depth = t_.queues.tokenFifoDepth;
  // 1. Work that has ended pushes its tokens (blocking while a FIFO is full)
  //    and completes, in queue order.
  for (unsigned q = kEngineLoad; q <= kEngineStore; ++q) {
    Engine &e = engines_[q];
    while (!e.flight.empty() && e.flight.front().endNs <= now) {
      Flight &f = e.flight.front();
      if (f.needPrev && tokens_[fifo(q, prevOf(q))] < depth) {
        ++tokens_[fifo(q, prevOf(q))];
        f.needPrev = false;
        progress = true;
      }
      if (f.needNext && tokens_[fifo(q, nextOf(q))] < depth) {
        ++tokens_[fifo(q, nextOf(q))];
        f.needNext = false;
        progress = true;
      }
      if (f.needPrev || f.needNext)
        break;
      endNs_[f.item.index] = now;
      --outstanding_;
      e.flight.pop_front();
      progress = true;
    }
  }
  // 2. Queue heads start: dispatched, the engine free (a DMA may issue its
  //    requests `latency` before its predecessor's last beat), waits satisfied.
  for (unsigned q = kEngineLoad; q <= kEngineStore; ++q) {
    Engine &e = engines_[q];
    if (e.queue.empty() || e.queue.front().readyNs > now)
      continue;
    Item &h = e.queue.front();
    if (!e.flight.empty()) {
      const Flight &prev = e.flight.back();
      if (!e.dma || e.flight.size() > 1 || prev.endNs <= now ||
          now < prev.endNs - h.cost.latencyNs)
        continue;
    }
    if (h.deps.waitPrev && !e.gotPrev && tokens_[fifo(prevOf(q), q)] > 0) {
      --tokens_[fifo(prevOf(q), q)];
      e.gotPrev = progress = true;
    }
    if (h.deps.waitNext && !e.gotNext && tokens_[fifo(nextOf(q), q)] > 0) {
      --tokens_[fifo(nextOf(q), q)];
      e.gotNext = progress = true;
    }
    if ((h.deps.waitPrev && !e.gotPrev) || (h.deps.waitNext && !e.gotNext))
      continue;
    double prevEnd = e.flight.empty() ? -kInf : e.flight.back().endNs;
    double end = std::max(now + h.cost.latencyNs, prevEnd) + h.cost.workNs;
    e.busy += end - std::max(now, e.busyEnd);
    e.busyEnd = std::max(e.busyEnd, end);
    startNs_[h.index] = now;
    // On the trace a DMA's hidden latency does not overlap its predecessor.
    event(q, h.index, std::max(now, prevEnd), end);
    e.flight.push_back({h, end, h.deps.signalPrev, h.deps.signalNext});
    e.queue.pop_front();
    e.gotPrev = e.gotNext = false;
    progress = true;
  }
  // 3. Dispatch, in program order, one instruction per dispatch slot.
  if (!ended_ && pc_ < prog_.size() && dispatchFree_ <= now && r.error.empty()) {
    uint32_t i = uint32_t(pc_);
    isa::Instruction inst = prog_[i];
    isa::DecodeResult v = isa::validate(inst);
    if (!v) {
      r.error = "bad program: instruction " + std::to_string(i) + ": " +
                isa::describe(v, isa::lookup(uint32_t(inst.opcode)));
      return false;
    }
    const isa::InstrSpec &s = inst.spec();
    for (unsigned fi = 0; fi < s.numFields; ++fi)
      if (int base = s.fields[fi].dynamicOf; base >= 0)
        inst.values[base] += regs_[inst.values[fi]];
    double done = now + dispatchNs_;
    if (s.queue == isa::Queue::Dispatch) {
      if (inst.opcode == isa::Opcode::Barrier || inst.opcode == isa::Opcode::End) {
        if (barrierFetch_ < 0)
          barrierFetch_ = now;
        if (outstanding_ > 0)
          return progress; // released by a completion
        startNs_[i] = barrierFetch_;
        endNs_[i] = done;
        event(kEngineDispatch, i, barrierFetch_, done);
        barrierFetch_ = -1;
        if (inst.opcode == isa::Opcode::End) {
          ended_ = true;
          finishNs_ = done;
          if (tokens_ != std::array<uint32_t, 4>{})
            r.error = "unbalanced tokens at end (instruction " + std::to_string(i) +
                      "): load->compute " + std::to_string(tokens_[0]) + ", compute->load " +
                      std::to_string(tokens_[1]) + ", compute->store " +
                      std::to_string(tokens_[2]) + ", store->compute " +
                      std::to_string(tokens_[3]);
        }
      } else {
        if (inst.opcode == isa::Opcode::RegOp) {
          auto o = isa::as<isa::RegOp>(inst);
          uint32_t val = isa::aluResult(isa::AluOp(o.op), regs_[o.ra], regs_[o.rb] + o.imm);
          if (o.rd != 0)
            regs_[o.rd] = val;
        }
        startNs_[i] = now;
        endNs_[i] = done;
        event(kEngineDispatch, i, now, done);
      }
    } else {
      Item item{i, inst.deps, instructionCost(t_, inst), done};
      r.hbmReadBytes += item.cost.hbmReadBytes;
      r.hbmWriteBytes += item.cost.hbmWriteBytes;
      r.ddrReadBytes += item.cost.ddrReadBytes;
      r.ddrWriteBytes += item.cost.ddrWriteBytes;
      hbmBytes_[i] = item.cost.hbmReadBytes + item.cost.hbmWriteBytes;
      engines_[unsigned(s.queue)].queue.push_back(item);
      ++outstanding_;
      event(kEngineDispatch, i, now, done);
    }
    ++dispatched_;
    ++pc_;
    dispatchFree_ = done;
    progress = true;
  }
  return progress;
}

/// The earliest time after `now` at which something may happen, or +inf.
double Simulator::nextEvent(double now) const {
  double next = kInf;
  auto consider = [&](double v) {
    if (v > now && v < next)
      next = v;
  };
  for (unsigned q = kEngineLoad; q <= kEngineStore; ++q) {
    const Engine &e = engines_[q];
    if (!e.flight.empty())
      consider(e.flight.front().endNs);
    if (!e.queue.empty()) {
      consider(e.queue.front().readyNs);
      if (e.dma && e.flight.size() == 1)
        consider(e.flight.back().endNs - e.queue.front().cost.latencyNs);
    }
  }
  if (!ended_ && pc_ < prog_.size())
    consider(dispatchFree_);
  return next;
}

/// The blocked instruction with the smallest index and why it is blocked.
std::string Simulator::describeStuck() const {
  uint32_t best = UINT32_MAX;
  std::string why;
  auto offer = [&](uint32_t index, std::string w) {
    if (index < best)
      best = index, why = std::move(w);
  };
  const uint32_t depth = t_.queues.tokenFifoDepth;
  for (unsigned q = kEngineLoad; q <= kEngineStore; ++q) {
    const Engine &e = engines_[q];
    if (!e.flight.empty()) {
      const Flight &f = e.flight.front();
      unsigned to = f.needPrev ? prevOf(q) : nextOf(q);
      offer(f.item.index, "cannot push its token: the " + fifoName(q, to) +
                              " FIFO stays full (depth " + std::to_string(depth) + ")");
    }
    if (!e.queue.empty()) {
      const Item &h = e.queue.front();
      unsigned from = (h.deps.waitPrev && !e.gotPrev) ? prevOf(q) : nextOf(q);
      offer(h.index, "waits for a token on " + fifoName(from, q) + " that never comes");
    }
  }
  if (best == UINT32_MAX)
    return "nothing can run";
  return "deadlock: instruction " + std::to_string(best) + " (" +
         prog_[best].spec().mnemonic + ") " + why;
}

void Simulator::run(TimingReport &r) {
  if (std::string e = checkTarget(t_); !e.empty()) {
    r.error = e;
    return;
  }
  double now = 0;
  while (!ended_ && r.error.empty()) {
    while (step(now, r))
      if (ended_ || !r.error.empty())
        break;
    if (ended_ || !r.error.empty())
      break;
    double next = nextEvent(now);
    if (next == kInf) {
      bool idle = outstanding_ == 0;
      r.error = (idle && pc_ >= prog_.size()) ? "the program has no end" : describeStuck();
      break;
    }
    now = next;
  }
  r.ns = ended_ ? finishNs_ : now;
  for (unsigned q = kEngineLoad; q <= kEngineStore; ++q)
    r.busyNs[q] = engines_[q].busy;
  r.busyNs[kEngineDispatch] = double(dispatched_) * dispatchNs_;
  if (r.ns > 0)
    r.hbmUtilisation = double(r.hbmReadBytes + r.hbmWriteBytes) /
                       (r.ns * t_.hbm.axiBandwidthGBps());
}

void Simulator::fillRegions(const std::vector<TimingRegion> &regions, TimingReport &r) const {
  for (const TimingRegion &g : regions) {
    TimingReport::Region out;
    out.name = g.name;
    double s = kInf, e = -kInf;
    for (uint64_t i = g.first; i <= g.last && i < prog_.size(); ++i) {
      out.hbmBytes += hbmBytes_[i];
      if (startNs_[i] < kInf) {
        s = std::min(s, startNs_[i]);
        e = std::max(e, endNs_[i]);
      }
    }
    out.ns = (s < kInf && e > s) ? e - s : 0;
    if (out.ns > 0)
      out.hbmUtilisation = double(out.hbmBytes) / (out.ns * t_.hbm.axiBandwidthGBps());
    r.regions.push_back(std::move(out));
  }
}

} // namespace

TimingReport hw::simulateTiming(const TargetDesc &t, const std::vector<isa::Instruction> &program,
                                const std::array<uint32_t, isa::kNumRegs> &regs,
                                const std::vector<TimingRegion> &regions, bool keepEvents) {
  TimingReport r;
  Simulator sim(t, program, regs, keepEvents);
  sim.run(r);
  sim.fillRegions(regions, r);
  if (keepEvents) {
    r.events = sim.takeEvents();
    std::stable_sort(r.events.begin(), r.events.end(),
                     [](const TimingEvent &a, const TimingEvent &b) { return a.startNs < b.startNs; });
  }
  return r;
}

hw::ChromeTrace::ChromeTrace(std::vector<std::string> extraTracks) {
  for (unsigned e = 0; e < 4; ++e)
    tracks_.push_back(timingEngineName(e));
  tracks_.insert(tracks_.end(), extraTracks.begin(), extraTracks.end());
}

void hw::ChromeTrace::span(unsigned track, const std::string &name, double startNs,
                           double endNs) {
  // Timestamps in microseconds, as the format wants.
  std::ostringstream out;
  out.precision(12);
  out << ",\n{\"name\":\"" << name << "\",\"ph\":\"X\",\"pid\":1,\"tid\":" << track
      << ",\"ts\":" << startNs * 1e-3 << ",\"dur\":" << (endNs - startNs) * 1e-3 << "}";
  events_ += out.str();
}

void hw::ChromeTrace::marker(const std::string &name, double atNs) {
  std::ostringstream out;
  out.precision(12);
  out << ",\n{\"name\":\"" << name << "\",\"ph\":\"i\",\"s\":\"g\",\"pid\":1,\"tid\":0,\"ts\":"
      << atNs * 1e-3 << "}";
  events_ += out.str();
}

void hw::ChromeTrace::add(const TimingReport &r, double offsetNs) {
  for (const TimingEvent &ev : r.events)
    span(ev.engine, std::string(ev.mnemonic) + " #" + std::to_string(ev.index),
         offsetNs + ev.startNs, offsetNs + ev.endNs);
}

void hw::ChromeTrace::write(std::ostream &os) const {
  std::ostringstream out;
  out << "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[";
  for (unsigned e = 0; e < tracks_.size(); ++e)
    out << (e ? "," : "") << "\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":" << e
        << ",\"args\":{\"name\":\"" << tracks_[e] << "\"}}"
        << ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":" << e
        << ",\"args\":{\"sort_index\":" << e << "}}";
  out << events_ << "\n]}\n";
  os << out.str();
}

void hw::writeChromeTrace(const TimingReport &r, std::ostream &os) {
  ChromeTrace t;
  t.add(r);
  t.write(os);
}
