//===- Xclbin.h - A metadata-only xclbin of the accelerator -----*- C++ -*-===//
//
// Writes the xclbin container (`struct axlf`, /usr/include/xrt/xclbin.h) that
// XRT needs to open the accelerator kernel without a bitstream: IP_LAYOUT (one
// compute unit edgellm_accel_1), MEM_TOPOLOGY (the 32 HBM pseudo-channels and
// DDR of the target), CONNECTIVITY (each Global argument of Kernel.def to its
// bank) and EMBEDDED_METADATA (the kernel's XML: ports, arguments, instance),
// all generated from the kernel table in Kernel.h. With XRT's no-op shim
// (libxrt_noop) the runtime's `xrt` device loads it and runs its whole path
// without a board; a real board needs the xclbin v++ builds (hw/vitis).
//
// Plain C++ without XRT headers: the layout is written field by field and the
// XRT test (test/xrt) checks that XRT itself parses the result.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_HW_XCLBIN_H
#define EDGELLM_HW_XCLBIN_H

#include "edgellm/hw/Kernel.h"
#include "edgellm/hw/Target.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace edgellm::hw::xclbin {

/// Section kinds (enum axlf_section_kind) and memory types (enum MEM_TYPE).
enum SectionKind : uint32_t {
  kEmbeddedMetadata = 2,
  kMemTopology = 6,
  kConnectivity = 7,
  kIpLayout = 8,
};
enum MemType : uint8_t { kMemDdr4 = 1, kMemHbm = 6 };

/// Where the compute unit's AXI-lite register map sits on the control bus,
/// and its size (the shim never touches it; a real xclbin has its own).
inline constexpr uint64_t kCuBaseAddress = 0x1800000;
inline constexpr uint64_t kCuAddressRange = 0x10000;
/// Memory map of the metadata: HBM pseudo-channel i at i * its capacity (the
/// HBM IP's global address map), DDR above, at the address Vitis shells with
/// HBM use for DDR[0].
inline constexpr uint64_t kHbmBaseAddress = 0;
inline constexpr uint64_t kDdrBaseAddress = 0x4000000000ull;

/// One memory bank of MEM_TOPOLOGY.
struct MemBank {
  std::string tag; ///< "HBM[i]" or "DDR[0]" (Kernel.def's bank names)
  MemType type = kMemDdr4;
  uint64_t baseAddress = 0;
  uint64_t sizeKiB = 0;
};

/// The banks of a target: HBM[0..pseudo_channels), then DDR[0].
std::vector<MemBank> memoryBanks(const TargetDesc &target);

/// The control register map the metadata describes, laid out the way Vitis
/// HLS lays out s_axilite arguments: after the 0x10 bytes of control/
/// interrupt registers, a pointer takes 8 bytes + 4 reserved, a 32-bit scalar
/// 4 + 4 reserved, in argument order.
uint32_t argOffset(unsigned argIndex);
uint32_t argSize(unsigned argIndex);
/// The port an argument is on: "M_AXI_<NAME>" (each pointer its own AXI
/// master, as hw/hls bundles them) or "S_AXI_CONTROL" for scalars.
std::string argPort(unsigned argIndex);
inline constexpr const char *kControlPort = "S_AXI_CONTROL";

/// What to write. The defaults describe the real kernel; the other fields
/// make broken variants for tests of the runtime's error paths.
struct Options {
  std::string kernelName = kernel::kName;
  std::string instanceName = kernel::kInstance;
  /// Banks left out of MEM_TOPOLOGY (their connections are dropped too).
  std::vector<std::string> omitBanks;
  /// Arguments left out of CONNECTIVITY.
  std::vector<std::string> unconnectedArgs;
  /// The xclbin's uuid; all zero: a random (version 4) uuid.
  std::array<uint8_t, 16> uuid{};
  /// m_timeStamp; 0: now.
  uint64_t timeStamp = 0;
};

/// The EMBEDDED_METADATA XML (schema: what XRT's xclbin parser reads,
/// project/platform/device/core/kernel with port, arg and instance children).
std::string kernelMetadataXml(const TargetDesc &target, const Options &options);

/// Builds the whole container. Fails (with a message) on an option that names
/// no bank or argument.
bool buildXclbin(const TargetDesc &target, const Options &options, std::vector<uint8_t> &out,
                 std::string &error);

/// buildXclbin, then writes `path` (via `path`.tmp and a rename).
bool writeXclbinFile(const std::string &path, const TargetDesc &target, const Options &options,
                     std::string &error);

/// Text form of a uuid, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
std::string formatUuid(const std::array<uint8_t, 16> &uuid);

} // namespace edgellm::hw::xclbin

#endif // EDGELLM_HW_XCLBIN_H
