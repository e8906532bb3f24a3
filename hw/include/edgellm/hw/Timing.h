//===- Timing.h - Cycle-level timing model of the accelerator ---*- C++ -*-===//
//
// Predicts how long an instruction stream takes on a target (hw/targets/*.json)
// without computing any data: the dispatch unit in program order, the load,
// compute and store engines in order each, the four dependency-token FIFOs of
// the target's depth, and a cost per instruction derived from the target's
// clocks, memory widths and PE/SFU rates. docs/timing.md gives the model and
// every formula. Plain C++ (no MLIR): used by the compiler's report and by the
// runtime's `sim` device.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_TIMING_H
#define EDGELLM_HW_TIMING_H

#include "edgellm/hw/Isa.h"
#include "edgellm/hw/Target.h"

#include <array>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace edgellm::hw {

/// The four tracks of the model (TimingEvent::engine, TimingReport::busyNs).
enum TimingEngine : unsigned { kEngineDispatch = 0, kEngineLoad = 1, kEngineCompute = 2, kEngineStore = 3 };
/// "dispatch", "load DMA", "compute", "store DMA".
const char *timingEngineName(unsigned engine);

/// An instruction index range [first, last] to report on (e.g. one layer).
struct TimingRegion {
  std::string name;
  uint32_t first = 0, last = 0;
};

/// One instruction on one track: the dispatch unit (every instruction's
/// dispatch slot; for barrier/end from fetch to the end of the slot after the
/// release) or the engine that executes it (from its start, or for a DMA whose
/// latency overlapped the previous transfer from that transfer's end, to the
/// end of its work, before any blocked push).
struct TimingEvent {
  unsigned engine = 0;
  uint32_t index = 0;
  const char *mnemonic = ""; ///< static string from the ISA table
  double startNs = 0, endNs = 0;
};

struct TimingReport {
  double ns = 0; ///< end-to-end: from the first fetch to the end of `end`'s dispatch slot
  uint64_t hbmReadBytes = 0, hbmWriteBytes = 0, ddrReadBytes = 0, ddrWriteBytes = 0;
  /// (hbmReadBytes + hbmWriteBytes) / (ns * the target's AXI ceiling).
  double hbmUtilisation = 0;
  /// Time each track is busy (union of its events' intervals).
  std::array<double, 4> busyNs{};
  struct Region {
    std::string name;
    double ns = 0;          ///< first start to last end of its instructions
    uint64_t hbmBytes = 0;  ///< HBM bytes its instructions read and write
    double hbmUtilisation = 0;
  };
  std::vector<Region> regions;
  std::vector<TimingEvent> events; ///< only with keepEvents, in start order
  /// Empty on success; otherwise a bad program, a deadlock (naming the
  /// instruction), unbalanced tokens at `end` or a missing `end`. The figures
  /// then cover what ran up to that point.
  std::string error;
  bool ok() const { return error.empty(); }
};

/// Simulates `program` with the runtime registers `regs` (R0 is read as 0).
TimingReport simulateTiming(const TargetDesc &t, const std::vector<isa::Instruction> &program,
                            const std::array<uint32_t, isa::kNumRegs> &regs,
                            const std::vector<TimingRegion> &regions = {},
                            bool keepEvents = false);

/// A Chrome / Perfetto trace (chrome://tracing, ui.perfetto.dev) built up
/// from timing reports and other spans, times in ns: tracks 0-3 are the
/// engines (timingEngineName), further tracks are named by the caller.
class ChromeTrace {
public:
  explicit ChromeTrace(std::vector<std::string> extraTracks = {});
  /// One complete event per instruction of `r` ("<mnemonic> #<index>"),
  /// shifted by `offsetNs`.
  void add(const TimingReport &r, double offsetNs = 0);
  /// A complete event on `track`.
  void span(unsigned track, const std::string &name, double startNs, double endNs);
  /// An instant marker across the whole timeline.
  void marker(const std::string &name, double atNs);
  void write(std::ostream &os) const;

private:
  std::vector<std::string> tracks_;
  std::string events_;
};

/// The trace of one report: ChromeTrace().add(r).write(os).
void writeChromeTrace(const TimingReport &r, std::ostream &os);

/// The cost of one instruction whose dynamic fields are already resolved, on
/// its own (no queueing): `latencyNs` is the part a DMA engine may overlap
/// with its previous transfer, `workNs` the rest. Exposed for the compiler's
/// estimates and for tests. Bytes are filled in for DMA instructions.
struct InstructionCost {
  double latencyNs = 0, workNs = 0;
  uint64_t hbmReadBytes = 0, hbmWriteBytes = 0, ddrReadBytes = 0, ddrWriteBytes = 0;
  double totalNs() const { return latencyNs + workNs; }
};
InstructionCost instructionCost(const TargetDesc &t, const isa::Instruction &resolved);

} // namespace edgellm::hw

#endif // EDGELLM_HW_TIMING_H
