//===- GoldenModel.h - The accelerator's functional golden model -*- C++ -*-===//
//
// Executes an instruction stream exactly as docs/isa.md specifies: the
// dispatch unit (regop, barrier, end) in program order, the load, compute and
// store queues in order each, ordered among themselves only by dependency
// tokens (FIFOs of the target's depth), on sparse models of HBM, DDR and the
// four on-chip buffers (Memory.h). Every result bit comes from
// edgellm/hw/IsaNumerics.h.
//
// Two implementations of the instructions, chosen at run time: the reference
// path (element by element, the specification written as code) and the fast
// path (the default: vectorised, multi-threaded kernels from runtime/kernels
// and zero-copy weight loads), which produces the same bits
// (docs/simulator.md; test/unit/FastKernelsTest.cpp compares them).
// EDGELLM_SIM_KERNELS=reference selects the reference path,
// EDGELLM_SIM_THREADS=N the number of threads (default: all hardware threads).
// Plain C++: the runtime never links MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_DEVICE_SIM_GOLDENMODEL_H
#define EDGELLM_RUNTIME_DEVICE_SIM_GOLDENMODEL_H

#include "edgellm/hw/Isa.h"
#include "edgellm/hw/Target.h"
#include "runtime/device/sim/Memory.h"
#include "runtime/kernels/HugeBuffer.h"
#include "runtime/kernels/MatMul.h"
#include "runtime/kernels/ThreadPool.h"
#include "runtime/package/PackageFormat.h"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace edgellm::sim {

/// Where the device stopped.
struct RunResult {
  isa::Fault fault = isa::Fault::None;
  uint32_t faultIndex = 0; ///< instruction index
  std::string message;
  uint64_t executed = 0;
  bool ok() const { return fault == isa::Fault::None; }
};

class GoldenModel {
public:
  explicit GoldenModel(const hw::TargetDesc &target);
  /// With EDGELLM_SIM_PROFILE=1, prints the time spent per opcode to stderr.
  ~GoldenModel();

  /// Memories: HBM, DDR, then the on-chip buffers in isa::Buf order.
  SparseMemory &hbm() { return hbm_; }
  SparseMemory &ddr() { return ddr_; }
  SparseMemory &buffer(isa::Buf b) { return bufs_[unsigned(b)]; }
  /// Stores HBM channels 0..31, beats [0, beatsPerChannel), in stream order
  /// (SparseMemory::makeStriped): returns the zeroed buffer to fill (stream
  /// beat p at byte 32 p), or nullptr. A write into it by a program first
  /// performs the deferred weight copies.
  uint8_t *stripeHbm(uint64_t beatsPerChannel);

  /// Runtime registers (R0 always reads 0).
  uint32_t reg(unsigned r) const { return r == 0 ? 0 : regs_[r]; }
  void setReg(unsigned r, uint32_t v) {
    if (r != 0 && r < isa::kNumRegs)
      regs_[r] = v;
  }

  /// Which ready queue runs next. By default the one whose head comes first
  /// in program order; with random issue a seeded random ready queue, so that
  /// only the dependency tokens order the queues (a program whose result
  /// depends on the choice is not well-formed: tests use this to check the
  /// compiler's tokens).
  void setRandomIssue(bool on, uint64_t seed = 1) {
    randomIssue_ = on;
    rng_.seed(seed);
  }

  /// Reference (element-wise) or fast (kernels, the default) instructions.
  enum class Kernels { Reference, Fast };
  void setKernels(Kernels k) { kernels_ = k; }
  Kernels kernels() const { return kernels_; }
  /// Threads of the fast kernels (counting the caller); 0 = all hardware threads.
  void setThreads(unsigned n);
  unsigned threads() const { return pool_->size(); }
  /// The fast kernels' instruction-set level (scalar, AVX2, AVX-512): tests
  /// force the lower ones.
  /// (Pending products on relaid tiles run first, at the level they were
  /// deferred under.)
  void setCpuLevel(kernels::CpuLevel l) {
    flushLanes();
    cpuLevel_ = l;
  }
  kernels::CpuLevel cpuLevel() const { return cpuLevel_; }

  /// Runs a program to its `end` (or to a fault).
  RunResult run(const std::vector<isa::Instruction> &program);

  /// Keeps a copy of these HBM weight tiles (docs/package-format.md) relaid for the AVX-512 mm_q4 kernel
  /// (kernels::Q4Lanes, docs/simulator.md): an mm_q4 whose weights are the
  /// deferred copy of such a load then reads the copy. A write into HBM
  /// drops the copies of the tiles it touches. Returns the copy's bytes (0
  /// when the fast kernels are not AVX-512: nothing is kept). `done(lo,
  /// hi)` reports channel beat offsets [lo, hi) whose tiles are relaid, in
  /// increasing order.
  uint64_t relayWeightTiles(const std::vector<package::WeightTile> &tiles,
                            const std::function<void(uint64_t, uint64_t)> &done = {});
  /// mm_q4 instructions run on relaid tiles so far.
  uint64_t relaidProducts() const { return relaidProducts_; }

private:
  struct Pending {
    uint32_t index;
    isa::Instruction inst; ///< dynamic fields already resolved
  };
  RunResult runProgram(const std::vector<isa::Instruction> &program);
  bool execute(const Pending &p, RunResult &r);
  /// Runs the pending mm_q4 products (of one input) on relaid tiles as one
  /// job, then, in program order, copies each one's output into its Y and
  /// runs the deferred stores.
  void flushLanes();
  std::vector<kernels::MmQ4Args> lanesArgs_;
  std::vector<kernels::Q4Lanes> lanesW_;
  /// A pending product's output, computed into `data` (laid out as its Y
  /// span; the product's MmQ4Args give its stride, tokens and channels) and
  /// copied into Y (buffer `buf`, beat `addr`) at the flush.
  struct LanesOut {
    uint32_t buf = 0;
    uint64_t addr = 0;
    std::vector<uint8_t> data;
  };
  std::vector<LanesOut> lanesOut_; ///< the first lanesArgs_.size() are in use
  /// Program order of the pending work: a product (its index) or a store
  /// deferred until the flush (product < 0).
  struct LanesStep {
    int64_t product;
    isa::Instruction store;
  };
  std::vector<LanesStep> lanesOrder_;
  double flushSeconds_ = 0;
  bool executeOne(const Pending &p, RunResult &r);
  /// fn(row, thread) for every row of a row-wise instruction: on the
  /// threads when there is enough work (two rows, 4096 elements), else here.
  void forEachRow(uint64_t rows, uint64_t channels,
                  const std::function<void(uint64_t, unsigned)> &fn);
  /// The fast path of one instruction; false when it does not apply (the
  /// reference path then runs it).
  bool executeFast(const isa::Instruction &in);
  bool drain(RunResult &r, bool untilEmpty);
  /// The source of a one-row HBM load as host runs (stable HBM bytes, or
  /// with `privateSrc` also private pages, which it then reports), or false
  /// (then the load copies).
  bool hbmRuns(uint64_t srcBeat, uint64_t beats, uint32_t stripe, kernels::BeatRuns &runs,
               bool *privateSrc = nullptr) const;

  const hw::TargetDesc &target_;
  SparseMemory hbm_, ddr_;
  std::array<SparseMemory, 4> bufs_;
  std::array<uint32_t, isa::kNumRegs> regs_{};
  std::array<std::vector<Pending>, 4> queues_; ///< indexed by isa::Queue
  std::array<size_t, 4> heads_{};
  /// Token FIFOs: load->compute, compute->load, compute->store, store->compute.
  std::array<uint32_t, 4> tokens_{};
  bool randomIssue_ = false;
  std::mt19937_64 rng_{1};
  Kernels kernels_ = Kernels::Fast;
  kernels::CpuLevel cpuLevel_ = kernels::CpuLevel::Scalar;
  std::unique_ptr<kernels::ThreadPool> pool_;
  kernels::MmQ4Kernel mmQ4_;
  /// Relaid weight tiles by their channel beat offset (channel 0).
  struct Relaid {
    kernels::Q4Lanes lanes;
    uint64_t beats; ///< stream beats
    isa::Sparsity sparsity;
  };
  std::unordered_map<uint64_t, Relaid> relaid_;
  uint64_t relaidProducts_ = 0;
  /// Where WBUF ranges were last loaded from: a one-row, full-width striped
  /// HBM load from channel 0 (dropped when the range is written again).
  struct WbufSource {
    uint64_t addr, beats; ///< WBUF bytes, beats
    uint64_t hbmOffset;   ///< channel 0 beat offset
  };
  std::vector<WbufSource> wbufSources_;
  void dropWbufSources(uint64_t addr, uint64_t n);
  /// The source runs of one-row HBM loads (hbmRuns), by source, length and
  /// stripe; `ok` false when not stable (the load copies), `valid` false
  /// once HBM under them has been written (computed again when next used).
  struct LoadRuns {
    uint64_t srcBeat, beats;
    uint32_t stripe;
    kernels::BeatRuns runs;
    bool ok, privateSrc, valid;
  };
  /// Channel offsets (bytes) of deferred copies from private HBM pages.
  uint64_t privateLo_ = ~uint64_t(0), privateHi_ = 0;
  /// In order of first use (a program's loads come back in the same order
  /// every step: the next one is looked up first, a sequential read, and
  /// the index by source is the fallback; a hash lookup per load missed
  /// the caches, which the weight stream flushes, several times).
  std::vector<LoadRuns> loadRuns_;
  std::unordered_map<uint64_t, uint32_t> loadRunsIndex_;
  size_t loadRunsNext_ = 0;
  uint64_t loadRunsLo_ = ~uint64_t(0), loadRunsHi_ = 0; ///< channel offsets (bytes) they cover
  /// A write into HBM: drops the relaid tiles and load runs it may touch.
  void hbmWritten(uint64_t addr, uint64_t n);
  /// The stream beats [offset * 32, + beats) of HBM (any contents).
  void readStream(uint64_t offset, uint64_t beats, uint8_t *out) const;
  kernels::HugeBuffer relaidMem_;
  uint64_t relaidLo_ = 0, relaidHi_ = 0; ///< channel offsets (bytes) any tile covers
  /// EDGELLM_SIM_PROFILE: seconds and counts per opcode (fast, reference).
  bool profile_ = false;
  std::array<double, 64> profSeconds_{};
  std::array<uint64_t, 64> profCount_{};
};

} // namespace edgellm::sim

#endif // EDGELLM_RUNTIME_DEVICE_SIM_GOLDENMODEL_H
