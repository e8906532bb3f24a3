//===- Accel.h - The EdgeLLM accelerator as an HLS kernel --------*- C++ -*-===//
//
// The top function of the Vitis HLS kernel and the hardware constants it is
// built with (the VCU128 target, hw/targets/vcu128.json; a test checks they
// agree). docs/hardware.md describes the structure; docs/isa.md is the
// specification the kernel implements.
//
// Ports (one m_axi bundle each, so each gets its own AXI master):
//   instr          DDR, read only: the instruction stream (fetch unit)
//   ddr            DDR: load sources, store destinations
//   hbm0 .. hbm31 the 32 HBM pseudo-channels, 256 MiB each: weights (load,
//                  striped over channels) and the KV cache (kv_append)
//   count, r1..r15 AXI-lite scalars: the instruction count and the runtime
//                  registers R1-R15 (docs/isa.md section 7)
//   status         the run's end: status bits, fault code, faulting index,
//                  instructions fetched, R1-R15 as left (hw::kernel::kStatus*)
//
// The argument list is hw/include/edgellm/hw/Kernel.def, which the xclbin
// metadata, the Vitis link configuration and the XRT device also follow.
// One call is one run of the `count` instructions from `instr` (a pointer
// into the DDR bank at the program's first word). Inside, the run works on
// the register file of docs/isa.md section 7 (kCtrlWords words).
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_HLS_ACCEL_H
#define EDGELLM_HW_HLS_ACCEL_H

#include "HlsTypes.h"

#include <cstdint>

namespace edgellm::hls {

//===----------------------------------------------------------------------===//
// Hardware constants (VCU128)
//===----------------------------------------------------------------------===//

/// On-chip buffers, in beats (hw/targets/vcu128.json onchip_kib).
inline constexpr uint64_t kAbufBeats = (8192ull << 10) / isa::kBeatBytes;
inline constexpr uint64_t kWbufBeats = (4096ull << 10) / isa::kBeatBytes;
inline constexpr uint64_t kKbufBeats = (4096ull << 10) / isa::kBeatBytes;
inline constexpr uint64_t kPbufBeats = (2048ull << 10) / isa::kBeatBytes;
/// Off-chip memories, in beats (hbm.channel_capacity_mib, ddr.capacity_mib).
inline constexpr uint64_t kHbmChannelBeats = isa::kHbmChannelBeats;
inline constexpr uint64_t kHbmBeats = uint64_t(isa::kHbmChannels) * kHbmChannelBeats;
inline constexpr uint64_t kDdrBeats = (4608ull << 20) / isa::kBeatBytes;
/// Dependency-token FIFO depth (queues.token_fifo_depth).
inline constexpr unsigned kTokenFifoDepth = 64;
/// Instructions each engine queue holds (queues.instruction_buffer_entries).
inline constexpr unsigned kInstrQueueDepth = 4096;
/// The FP16 x INT4 group-vector array (pe.int4_groups x pe.int4_lanes_per_group
/// = pe.int4_macs_per_cycle).
inline constexpr unsigned kPeGroups = 32;
inline constexpr unsigned kPeLanes = 128;
/// The FP16 x FP16 attention engine: kAttnColumns dot-product units of
/// isa::kLanes lanes each (pe.fp16_macs_per_cycle = 1024).
inline constexpr unsigned kAttnColumns = 64;
/// Longest row the special-function unit buffers: 65535 channels (4096
/// beats) for rms_norm/softmax/silu_mul/eltwise, 255 heads x 1022 channels
/// for rope.
inline constexpr unsigned kSfuRowBeats = 16384;
/// Longest reduction the engines buffer: K <= 65535 (4096 beats).
inline constexpr unsigned kMaxKBeats = 4096;

/// AXI-lite words (ctrl array): byte offsets of isa::ctrl divided by 4.
inline constexpr unsigned kCtrlWords = (isa::ctrl::kRegBase / 4) + isa::kNumRegs;

//===----------------------------------------------------------------------===//
// The top function
//===----------------------------------------------------------------------===//

#define EDGELLM_HLS_HBM_PORTS(X)                                                  \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) \
  X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27)  \
  X(28) X(29) X(30) X(31)

#define EDGELLM_HLS_HBM_PARAM(n) , ::edgellm::hls::beat_t *hbm##n
} // namespace edgellm::hls

#define EDGELLM_HLS_REG_ARG(n) , uint32_t r##n
/// The kernel (the HLS top function), with the argument list of
/// hw/include/edgellm/hw/Kernel.def: instructions, DDR, the 32 HBM
/// pseudo-channels, the instruction count, R1-R15, and the status words
/// (hw::kernel::kStatus*: status bits, fault code, faulting index,
/// instructions fetched, then R1-R15 as the run left them).
void edgellm_accel(const edgellm::hls::beat_t *instr,
                   edgellm::hls::beat_t *ddr EDGELLM_HLS_HBM_PORTS(EDGELLM_HLS_HBM_PARAM),
                   uint32_t count EDGELLM_HLS_REG_ARG(1) EDGELLM_HLS_REG_ARG(2)
                       EDGELLM_HLS_REG_ARG(3) EDGELLM_HLS_REG_ARG(4) EDGELLM_HLS_REG_ARG(5)
                           EDGELLM_HLS_REG_ARG(6) EDGELLM_HLS_REG_ARG(7) EDGELLM_HLS_REG_ARG(8)
                               EDGELLM_HLS_REG_ARG(9) EDGELLM_HLS_REG_ARG(10)
                                   EDGELLM_HLS_REG_ARG(11) EDGELLM_HLS_REG_ARG(12)
                                       EDGELLM_HLS_REG_ARG(13) EDGELLM_HLS_REG_ARG(14)
                                           EDGELLM_HLS_REG_ARG(15),
                   uint32_t *status);

namespace edgellm::hls {

//===----------------------------------------------------------------------===//
// C simulation only (testbench access; not part of the hardware)
//===----------------------------------------------------------------------===//

#ifndef __SYNTHESIS__
namespace csim {
/// The on-chip buffer `b` (its contents persist between runs, as on the
/// board) and its size in beats.
beat_t *buffer(isa::Buf b);
uint64_t bufferBeats(isa::Buf b);
/// Clears the on-chip buffers (power-on state of the simulation).
void resetBuffers();
/// The testbench allocates only part of DDR and of each pseudo-channel: it
/// gives the beats behind each pointer (default: unchecked). An access past
/// them (a testbench that allocated too little, never a device fault) reads
/// zero, drops the write and is counted.
void setExtents(uint64_t ddrBeats, const uint64_t hbmBeats[isa::kHbmChannels]);
uint64_t outsideExtents();
/// Instructions executed by each engine in the last run (load, compute, store).
struct Counters {
  uint64_t dispatched = 0, load = 0, compute = 0, store = 0;
};
Counters counters();
/// Random issue: the engines run in a seeded random order that respects the
/// tokens (any ready engine, dispatch running ahead at random points)
/// instead of the golden model's oldest-first order. For well-formed
/// programs the result must not change: the board runs the engines
/// concurrently.
void setRandomIssue(bool on, uint64_t seed = 1);
} // namespace csim
#endif

} // namespace edgellm::hls

#endif // EDGELLM_HW_HLS_ACCEL_H
