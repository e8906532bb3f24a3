//===- Accel.cpp - Top function, fetch, decode, dispatch and queues --------===//
//
// The kernel's control path (docs/hardware.md):
//
//   fetch (instr port) -> decode (isa::decode: opcode, check byte, reserved
//   bits, flags, field ranges and rules) -> dispatch: regop/nop/barrier/end
//   run here; dynamic fields x + R[x_reg] are resolved; every other
//   instruction goes to the in-order FIFO of its engine (load, compute,
//   store). Four token FIFOs of kTokenFifoDepth tokens order the engines.
//
// An engine starts its head instruction when the tokens it waits for are in
// their FIFOs and the FIFOs it signals have room (docs/isa.md section 5),
// pops the waits, executes, pushes the signals.
//
// C simulation runs the engines in a deterministic interleaving that respects
// the tokens: after each dispatched instruction, the ready engine whose head
// is oldest in program order runs, until none is ready; a barrier or end
// runs them until the queues are empty (or nothing can run: a deadlock).
// That is the order the golden model uses, so even the fault a faulty
// program reports first is the same. csim::setRandomIssue picks a random
// ready engine instead and lets dispatch run ahead at random points. On the
// board the three engines are concurrent processes (see docs/hardware.md);
// for well-formed programs the result is the same in every order the tokens
// allow.
//
//===----------------------------------------------------------------------===//

#include "Engines.h"
#include "edgellm/hw/Kernel.h"

#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

using namespace edgellm;
using namespace edgellm::hls;

//===----------------------------------------------------------------------===//
// AXI masters
//===----------------------------------------------------------------------===//

#ifndef __SYNTHESIS__
namespace {
uint64_t gDdrExtent = ~0ull;
uint64_t gHbmExtent[isa::kHbmChannels] = {
    ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull,
    ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull,
    ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull};
uint64_t gOutside = 0;
csim::Counters gCounters;
bool gRandomIssue = false;
uint64_t gRandomState = 1;
/// xorshift64: the random issue order of the C simulation.
uint64_t nextRandom() {
  gRandomState ^= gRandomState << 13;
  gRandomState ^= gRandomState >> 7;
  gRandomState ^= gRandomState << 17;
  return gRandomState;
}
} // namespace
#define EDGELLM_CSIM_GUARD(ok, onFail)                                                   \
  if (!(ok)) {                                                                            \
    ++gOutside;                                                                           \
    onFail;                                                                               \
  }
#else
#define EDGELLM_CSIM_GUARD(ok, onFail)
#endif

beat_t OffChip::readHbm(uint64_t addr) const {
  uint32_t ch = uint32_t(addr / kHbmChannelBeats) % isa::kHbmChannels;
  uint64_t off = addr % kHbmChannelBeats;
  EDGELLM_CSIM_GUARD(off < gHbmExtent[ch], return zeroBeat());
  switch (ch) {
#define EDGELLM_HLS_HBM_READ(n)                                                          \
  case n:                                                                        \
    return hbm##n[off];
    EDGELLM_HLS_HBM_PORTS(EDGELLM_HLS_HBM_READ)
#undef EDGELLM_HLS_HBM_READ
  }
  return zeroBeat();
}

void OffChip::writeHbm(uint64_t addr, const beat_t &v) {
  uint32_t ch = uint32_t(addr / kHbmChannelBeats) % isa::kHbmChannels;
  uint64_t off = addr % kHbmChannelBeats;
  EDGELLM_CSIM_GUARD(off < gHbmExtent[ch], return);
  switch (ch) {
#define EDGELLM_HLS_HBM_WRITE(n)                                                         \
  case n:                                                                        \
    hbm##n[off] = v;                                                                      \
    break;
    EDGELLM_HLS_HBM_PORTS(EDGELLM_HLS_HBM_WRITE)
#undef EDGELLM_HLS_HBM_WRITE
  }
}

beat_t OffChip::readDdr(uint64_t addr) const {
  EDGELLM_CSIM_GUARD(addr < gDdrExtent, return zeroBeat());
  return ddr[addr];
}
void OffChip::writeDdr(uint64_t addr, const beat_t &v) {
  EDGELLM_CSIM_GUARD(addr < gDdrExtent, return);
  ddr[addr] = v;
}
beat_t OffChip::fetch(uint64_t addr) const {
  EDGELLM_CSIM_GUARD(addr < gDdrExtent, return zeroBeat());
  return instr[addr];
}

//===----------------------------------------------------------------------===//
// Queues
//===----------------------------------------------------------------------===//

namespace {

/// One entry of an engine's instruction FIFO: the resolved instruction and
/// its index in the program (for the fault registers).
struct QueueEntry {
  uint32_t index;
  isa::Instruction inst;
};

using InstrQueue = Fifo<QueueEntry, kInstrQueueDepth>;

/// Engines, in the order of the chain load - compute - store.
enum Engine : unsigned { kLoad = 0, kCompute = 1, kStore = 2, kNumEngines = 3 };

/// The four token FIFOs: load->compute, compute->load, compute->store,
/// store->compute.
struct Tokens {
  TokenFifo<kTokenFifoDepth> loadToCompute, computeToLoad, computeToStore, storeToCompute;
  TokenFifo<kTokenFifoDepth> *waitPrev(unsigned e) {
    return e == kCompute ? &loadToCompute : e == kStore ? &computeToStore : nullptr;
  }
  TokenFifo<kTokenFifoDepth> *waitNext(unsigned e) {
    return e == kLoad ? &computeToLoad : e == kCompute ? &storeToCompute : nullptr;
  }
  TokenFifo<kTokenFifoDepth> *signalPrev(unsigned e) {
    return e == kCompute ? &computeToLoad : e == kStore ? &storeToCompute : nullptr;
  }
  TokenFifo<kTokenFifoDepth> *signalNext(unsigned e) {
    return e == kLoad ? &loadToCompute : e == kCompute ? &computeToStore : nullptr;
  }
  bool empty() const {
    return !loadToCompute.canPop() && !computeToLoad.canPop() && !computeToStore.canPop() &&
           !storeToCompute.canPop();
  }
  void reset() {
    loadToCompute.reset(), computeToLoad.reset(), computeToStore.reset(), storeToCompute.reset();
  }
};

struct Machine {
  OffChip mem;
  OnChip *oc;
  InstrQueue queue[kNumEngines];
  Tokens tokens;
  isa::Fault fault = isa::Fault::None;
  uint32_t faultIndex = 0;

  void stop(isa::Fault f, uint32_t index) {
    fault = f;
    faultIndex = index;
  }

  /// The head of engine `e` can start: its waits have tokens, its signals room.
  bool ready(unsigned e) {
    if (queue[e].empty())
      return false;
    const isa::Deps &d = queue[e].front().inst.deps;
    // Flags a queue does not have are rejected by decode (isa::depsAllowed).
    if (d.waitPrev && !tokens.waitPrev(e)->canPop())
      return false;
    if (d.waitNext && !tokens.waitNext(e)->canPop())
      return false;
    if (d.signalPrev && !tokens.signalPrev(e)->canPush())
      return false;
    if (d.signalNext && !tokens.signalNext(e)->canPush())
      return false;
    return true;
  }

  /// The engine datapaths.
  isa::Fault execute(const isa::Instruction &in) {
    using isa::Opcode;
    switch (in.opcode) {
    case Opcode::Load:
      return execLoad(isa::as<isa::Load>(in), mem, *oc);
    case Opcode::Store:
      return execStore(isa::as<isa::Store>(in), mem, *oc);
    case Opcode::KvAppend:
      return execKvAppend(isa::as<isa::KvAppend>(in), mem, *oc);
    case Opcode::MmQ4:
      return execMmQ4(isa::as<isa::MmQ4>(in), *oc);
    case Opcode::MmF16:
      return execMmF16(isa::as<isa::MmF16>(in), *oc);
    case Opcode::RmsNorm:
      return execRmsNorm(isa::as<isa::RmsNorm>(in), *oc);
    case Opcode::Softmax:
      return execSoftmax(isa::as<isa::Softmax>(in), *oc);
    case Opcode::Rope:
      return execRope(isa::as<isa::Rope>(in), *oc);
    case Opcode::SiluMul:
      return execSiluMul(isa::as<isa::SiluMul>(in), *oc);
    case Opcode::Eltwise:
      return execEltwise(isa::as<isa::Eltwise>(in), *oc);
    case Opcode::Sync:
      return isa::Fault::None;
    default:
      return isa::Fault::Decode;
    }
  }

  /// Engine `e` runs its head: waits, execute, signals. False on a fault.
  bool step(unsigned e) {
    QueueEntry q;
    queue[e].read_nb(q);
    const isa::Deps &d = q.inst.deps;
    if (d.waitPrev)
      tokens.waitPrev(e)->pop();
    if (d.waitNext)
      tokens.waitNext(e)->pop();
    isa::Fault f = execute(q.inst);
    if (f != isa::Fault::None) {
      stop(f, q.index);
      return false;
    }
#ifndef __SYNTHESIS__
    ++(e == kLoad ? gCounters.load : e == kCompute ? gCounters.compute : gCounters.store);
#endif
    if (d.signalPrev)
      tokens.signalPrev(e)->push();
    if (d.signalNext)
      tokens.signalNext(e)->push();
    return true;
  }

  /// The engine to run next: the ready one whose head is oldest in program
  /// order (C simulation: or a random ready one), -1 if none is ready.
  int pick() {
    int best = -1, readyList[kNumEngines];
    unsigned nReady = 0;
    for (unsigned e = 0; e < kNumEngines; ++e)
      if (ready(e)) {
        readyList[nReady++] = int(e);
        if (best < 0 || queue[e].front().index < queue[best].front().index)
          best = int(e);
      }
#ifndef __SYNTHESIS__
    if (gRandomIssue && nReady > 0)
      best = readyList[nextRandom() % nReady];
#endif
    return best;
  }

  /// Runs ready engines until none is ready (C simulation with random issue:
  /// or, before the queues must drain, at a random point, so that dispatch
  /// runs ahead). With `untilEmpty` (barrier, end), engines that still hold
  /// instructions then are deadlocked. False on a fault.
  bool drain(bool untilEmpty) {
  DRAIN:
    while (true) {
#pragma HLS loop_tripcount max = 4096
#ifndef __SYNTHESIS__
      if (gRandomIssue && !untilEmpty && nextRandom() % 2 == 0)
        return true;
#endif
      int e = pick();
      if (e < 0)
        break;
      if (!step(unsigned(e)))
        return false;
    }
    if (!untilEmpty)
      return true;
    uint32_t first = ~0u;
    for (unsigned e = 0; e < kNumEngines; ++e)
      if (!queue[e].empty() && queue[e].front().index < first)
        first = queue[e].front().index;
    if (first != ~0u) {
      stop(isa::Fault::Deadlock, first);
      return false;
    }
    return true;
  }
};

/// The engine queue of an instruction's queue.
unsigned engineOf(isa::Queue q) {
  return q == isa::Queue::Load ? kLoad : q == isa::Queue::Compute ? kCompute : kStore;
}

OnChip gOnChip;
Machine gMachine;

} // namespace

//===----------------------------------------------------------------------===//
// The top function
//===----------------------------------------------------------------------===//

#define EDGELLM_HLS_HBM_PRAGMA(n)                                                        \
  _Pragma(EDGELLM_HLS_STR(HLS INTERFACE m_axi port = hbm##n bundle = hbm##n offset =      \
                              slave depth = 8388608 max_read_burst_length = 64))
#define EDGELLM_HLS_STR(x) #x
#define EDGELLM_HLS_HBM_ASSIGN(n) m.mem.hbm##n = hbm##n;

/// One run of `count` instructions from `instr` with the registers and
/// status words of the AXI-lite register file `ctrl` (docs/isa.md section 7);
/// returns the instructions fetched.
static uint32_t runProgram(const beat_t *instr, beat_t *ddr EDGELLM_HLS_HBM_PORTS(EDGELLM_HLS_HBM_PARAM),
                           uint32_t ctrl[kCtrlWords]) {
#pragma HLS INLINE
  Machine &m = gMachine;
  m.mem.instr = instr;
  m.mem.ddr = ddr;
  EDGELLM_HLS_HBM_PORTS(EDGELLM_HLS_HBM_ASSIGN)
  m.oc = &gOnChip;
  for (unsigned e = 0; e < kNumEngines; ++e)
    m.queue[e].reset();
  m.tokens.reset();
  m.fault = isa::Fault::None;
  m.faultIndex = 0;
#ifndef __SYNTHESIS__
  gCounters = {};
#endif

  using namespace isa::ctrl;
  ctrl[kStatus / 4] = kStatusBusy;
  uint32_t regs[isa::kNumRegs];
#pragma HLS ARRAY_PARTITION variable = regs complete
  regs[0] = 0;
  for (unsigned r = 1; r < isa::kNumRegs; ++r)
    regs[r] = ctrl[kRegBase / 4 + r];
  const uint64_t program = uint64_t(ctrl[kProgramLo / 4]) | uint64_t(ctrl[kProgramHi / 4]) << 32;
  const uint32_t count = ctrl[kProgramCount / 4];

  bool ended = false;
  uint32_t i = 0;
FETCH:
  for (; i < count && m.fault == isa::Fault::None && !ended; ++i) {
#pragma HLS loop_tripcount max = 65536
    // Fetch and decode: every bit of the word is checked.
    isa::Instruction inst;
    isa::DecodeResult d = isa::decode(toWord(m.mem.fetch(program + i)), inst);
    if (!d) {
      m.stop(isa::Fault::Decode, i);
      break;
    }
#ifndef __SYNTHESIS__
    ++gCounters.dispatched;
#endif
    // Dynamic values are resolved at dispatch: x += R[x_reg] (mod 2^32).
    const isa::InstrSpec &s = inst.spec();
    for (unsigned f = 0; f < s.numFields; ++f)
      if (s.fields[f].dynamicOf >= 0) {
        uint32_t r = inst.values[f];
        inst.values[s.fields[f].dynamicOf] += r == 0 ? 0 : regs[r];
      }
    switch (inst.opcode) {
    case isa::Opcode::Nop:
      break;
    case isa::Opcode::RegOp: {
      isa::RegOp o = isa::as<isa::RegOp>(inst);
      uint32_t b = (o.rb == 0 ? 0 : regs[o.rb]) + o.imm;
      uint32_t v = isa::aluResult(isa::AluOp(o.op), o.ra == 0 ? 0 : regs[o.ra], b);
      if (o.rd != 0)
        regs[o.rd] = v;
      break;
    }
    case isa::Opcode::Barrier:
      m.drain(true);
      break;
    case isa::Opcode::End:
      if (!m.drain(true))
        break;
      if (!m.tokens.empty())
        m.stop(isa::Fault::UnbalancedTokens, i);
      ended = true;
      break;
    default: {
      unsigned e = engineOf(s.queue);
      // A full queue: run engines until it has room; if none can run, the
      // program is deadlocked.
      while (m.queue[e].full() && m.fault == isa::Fault::None) {
#pragma HLS loop_tripcount max = 4096
        int p = m.pick();
        if (p < 0)
          m.drain(true);
        else
          m.step(unsigned(p));
      }
      if (m.fault != isa::Fault::None)
        break;
      m.queue[e].write_nb({i, inst});
      m.drain(false);
    }
    }
  }
  if (m.fault == isa::Fault::None && !ended)
    m.stop(isa::Fault::NoEnd, count);

  for (unsigned r = 1; r < isa::kNumRegs; ++r)
    ctrl[kRegBase / 4 + r] = regs[r];
  ctrl[kRegBase / 4] = 0;
  ctrl[kFaultCode / 4] = uint32_t(m.fault);
  ctrl[kFaultIndex / 4] = m.fault == isa::Fault::None ? 0 : m.faultIndex;
  ctrl[kStatus / 4] = kStatusDone | (m.fault == isa::Fault::None ? 0 : kStatusFault);
  return i;
}

#define EDGELLM_HLS_HBM_NAME(n) , hbm##n
#define EDGELLM_HLS_REG_PARAM(n) , uint32_t r##n
#define EDGELLM_HLS_REG_PRAGMA(n) _Pragma(EDGELLM_HLS_STR(HLS INTERFACE s_axilite port = r##n bundle = control))
#define EDGELLM_HLS_REG_IN(n) ctrl[kRegBase / 4 + n] = r##n;
#define EDGELLM_HLS_REGS(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

// The kernel: the argument list of hw/include/edgellm/hw/Kernel.def.
void edgellm_accel(const beat_t *instr, beat_t *ddr EDGELLM_HLS_HBM_PORTS(EDGELLM_HLS_HBM_PARAM),
                   uint32_t count EDGELLM_HLS_REGS(EDGELLM_HLS_REG_PARAM), uint32_t *status) {
#pragma HLS INTERFACE m_axi port = instr bundle = ifetch offset = slave max_read_burst_length = 16
#pragma HLS INTERFACE m_axi port = ddr bundle = ddr offset = slave
  EDGELLM_HLS_HBM_PORTS(EDGELLM_HLS_HBM_PRAGMA)
#pragma HLS INTERFACE s_axilite port = count bundle = control
  EDGELLM_HLS_REGS(EDGELLM_HLS_REG_PRAGMA)
#pragma HLS INTERFACE m_axi port = status bundle = ddr offset = slave
#pragma HLS INTERFACE s_axilite port = return bundle = control
#pragma HLS BIND_STORAGE variable = gOnChip type = ram_2p impl = uram
  using namespace isa::ctrl;
  uint32_t ctrl[kCtrlWords];
#pragma HLS ARRAY_PARTITION variable = ctrl complete
  for (unsigned w = 0; w < kCtrlWords; ++w)
    ctrl[w] = 0;
  ctrl[kProgramCount / 4] = count; // `instr` points at the first instruction
  EDGELLM_HLS_REGS(EDGELLM_HLS_REG_IN)
  uint32_t fetched = runProgram(instr, ddr EDGELLM_HLS_HBM_PORTS(EDGELLM_HLS_HBM_NAME), ctrl);
  namespace k = hw::kernel;
  status[k::kStatusBits] = ctrl[kStatus / 4];
  status[k::kStatusFault] = ctrl[kFaultCode / 4];
  status[k::kStatusIndex] = ctrl[kFaultIndex / 4];
  status[k::kStatusExecuted] = fetched;
  for (unsigned r = 1; r < isa::kNumRegs; ++r)
    status[k::kStatusRegs + r - 1] = ctrl[kRegBase / 4 + r];
}

//===----------------------------------------------------------------------===//
// C simulation access
//===----------------------------------------------------------------------===//

#ifndef __SYNTHESIS__
beat_t *csim::buffer(isa::Buf b) {
  switch (b) {
  case isa::Buf::Abuf:
    return gOnChip.abuf;
  case isa::Buf::Wbuf:
    return gOnChip.wbuf;
  case isa::Buf::Kbuf:
    return gOnChip.kbuf;
  default:
    return gOnChip.pbuf;
  }
}
uint64_t csim::bufferBeats(isa::Buf b) { return bufBeats(uint32_t(b)); }
void csim::resetBuffers() { std::memset(&gOnChip, 0, sizeof gOnChip); }
void csim::setExtents(uint64_t ddrBeats, const uint64_t hbmBeats[isa::kHbmChannels]) {
  gDdrExtent = ddrBeats;
  for (unsigned c = 0; c < isa::kHbmChannels; ++c)
    gHbmExtent[c] = hbmBeats[c];
  gOutside = 0;
}
uint64_t csim::outsideExtents() { return gOutside; }
csim::Counters csim::counters() { return gCounters; }
void csim::setRandomIssue(bool on, uint64_t seed) {
  gRandomIssue = on;
  gRandomState = seed ? seed : 1;
}
#endif

//===----------------------------------------------------------------------===//
// The top function follows Kernel.def: same arity, a pointer exactly where
// the table has a Global (AXI master) argument, a 32-bit scalar elsewhere.
//===----------------------------------------------------------------------===//

namespace {
template <typename... A, size_t... I>
constexpr bool matchesKernelDef(void (*)(A...), std::index_sequence<I...>) {
  using Args = std::tuple<A...>;
  return ((std::is_pointer_v<std::tuple_element_t<I, Args>> ==
           (hw::kernel::kArgs[I].kind == hw::kernel::ArgKind::Global)) &&
          ...);
}
template <typename... A> constexpr bool matchesKernelDef(void (*f)(A...)) {
  return sizeof...(A) == hw::kernel::kNumArgs &&
         matchesKernelDef(f, std::index_sequence_for<A...>{});
}
static_assert(matchesKernelDef(&edgellm_accel),
              "edgellm_accel's parameters differ from hw/include/edgellm/hw/Kernel.def");
} // namespace
