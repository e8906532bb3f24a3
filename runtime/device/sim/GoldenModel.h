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
#include "runtime/kernels/MatMul.h"
#include "runtime/kernels/ThreadPool.h"

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
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
  /// The fast kernels' instruction-set level (scalar, AVX-512): tests force scalar.
  void setCpuLevel(kernels::CpuLevel l) { cpuLevel_ = l; }
  kernels::CpuLevel cpuLevel() const { return cpuLevel_; }

  /// Runs a program to its `end` (or to a fault).
  RunResult run(const std::vector<isa::Instruction> &program);

private:
  struct Pending {
    uint32_t index;
    isa::Instruction inst; ///< dynamic fields already resolved
  };
  bool execute(const Pending &p, RunResult &r);
  bool executeOne(const Pending &p, RunResult &r);
  /// The fast path of one instruction; false when it does not apply (the
  /// reference path then runs it).
  bool executeFast(const isa::Instruction &in);
  bool drain(RunResult &r, bool untilEmpty);

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
  /// EDGELLM_SIM_PROFILE: seconds and counts per opcode (fast, reference).
  bool profile_ = false;
  std::array<double, 64> profSeconds_{};
  std::array<uint64_t, 64> profCount_{};
};

} // namespace edgellm::sim

#endif // EDGELLM_RUNTIME_DEVICE_SIM_GOLDENMODEL_H
