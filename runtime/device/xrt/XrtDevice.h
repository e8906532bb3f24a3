//===- XrtDevice.h - The accelerator on a board, through XRT ----*- C++ -*-===//
//
// The `xrt` device: the runtime's Device interface on the XRT native C++ API
// (xrt::device, xrt::xclbin, xrt::kernel, xrt::bo, xrt::run). One buffer
// object per memory bank, in the bank the kernel's argument is connected to
// (kernel.group_id(argument), never a hard-coded bank): DDR, the 32 HBM
// pseudo-channels and a small `status` buffer. A program is its encoded
// instruction words in the DDR buffer; a run binds every argument of
// Kernel.def (instr = a sub-buffer of DDR at the program, ddr, hbm0..31,
// count, r1..r15, status) and starts the compute unit; wait() reads the
// status words the kernel writes when it stops
// (Kernel.h kStatus*: bits, fault code and index, instructions fetched, R1-R15).
//
// Without a board, XRT's no-op shim (libxrt_noop) runs this whole path on a
// metadata-only xclbin (edgellm-xclbin): buffers are host memory, runs
// complete at once and compute nothing, so the status words stay as start()
// initialised them (kStatusUnwritten...) and wait() reports that no kernel
// wrote them. Tests stand in for the kernel with writeStatusWords().
//
// The header is XRT-free (the XRT objects live in the .cpp), so code that
// only opens a device needs no XRT include paths. XRT's driver library (the
// "shim") is either linked into the executable (EdgeLLMXrtShimHw: libxrt_core,
// a real board; EdgeLLMXrtShimNoop: libxrt_noop) or, when none is, loaded by
// open(): libxrt_core, or the one EDGELLM_XRT_SHIM names (hw, noop, hw_emu);
// see runtime/device/xrt/CMakeLists.txt.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_DEVICE_XRT_XRTDEVICE_H
#define EDGELLM_RUNTIME_DEVICE_XRT_XRTDEVICE_H

#include "edgellm/hw/Kernel.h"
#include "runtime/device/Device.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgellm::runtime {

/// The status words as start() writes them before a run: status bits 0
/// (neither done nor fault), every other word 0xffffffff. A kernel that stops
/// overwrites them (its status bits then have done or fault set), so these
/// values after a run mean that no kernel ran (XRT's no-op shim).
inline constexpr std::array<uint32_t, hw::kernel::kStatusWords> kStatusUnwritten = [] {
  std::array<uint32_t, hw::kernel::kStatusWords> w{};
  for (uint32_t &x : w)
    x = 0xffffffffu;
  w[hw::kernel::kStatusBits] = 0;
  return w;
}();

class XrtDevice final : public Device {
public:
  /// Reads and checks `xclbinPath` (an xclbin with kernel edgellm_accel whose
  /// arguments are Kernel.def's, each Global one connected to its bank), opens
  /// XRT device `index`, loads the xclbin and opens the kernel. On failure
  /// returns nullptr and sets `error` to what is wrong and where.
  static std::unique_ptr<XrtDevice> open(const std::string &xclbinPath, unsigned index,
                                         std::string &error);
  ~XrtDevice() override;

  std::string name() const override { return "xrt"; }
  bool allocate(Bank bank, uint64_t beats, std::string &error) override;
  bool write(isa::ExtMem mem, uint64_t byteAddr, const void *data, uint64_t bytes,
             std::string &error) override;
  bool read(isa::ExtMem mem, uint64_t byteAddr, void *data, uint64_t bytes,
            std::string &error) override;
  bool loadProgram(const std::string &name, const std::vector<isa::Instruction> &code,
                   uint64_t ddrBeat, std::string &error) override;
  bool start(const std::string &name, const Registers &regs, std::string &error) override;
  bool wait(RunStatus &status, std::string &error) override;
  DeviceCounters counters() const override;

  //===--------------------------------------------------------------------===//
  // Inspection (diagnostics and tests)
  //===--------------------------------------------------------------------===//

  /// True on XRT's no-op shim (no board): every run completes without a
  /// kernel running, and wait() accepts the unwritten status words.
  bool onNoopShim() const;
  /// The xclbin's uuid, as text.
  std::string xclbinUuid() const;
  /// A kernel argument as the loaded xclbin describes it.
  struct ArgInfo {
    unsigned index = 0;
    std::string name;
    bool global = false;
    int group = -1;        ///< kernel.group_id (Global only)
    std::string bank;      ///< tag of that memory ("HBM[3]", "DDR[0]"), Global only
    uint64_t offset = 0;   ///< byte offset in the compute unit's register map
  };
  const std::vector<ArgInfo> &arguments() const;
  /// A buffer object of the device (one per bank, plus `status`).
  struct BufferInfo {
    bool allocated = false;
    int group = -1;        ///< memory group it was allocated in
    uint64_t bytes = 0;
    uint64_t address = 0;  ///< device address (xrt::bo::address)
  };
  BufferInfo buffer(Bank bank) const;
  BufferInfo statusBuffer() const;
  /// The register map of the compute unit in the last start command, as XRT
  /// built it (32-bit words from offset 0; argument i at arguments()[i].offset).
  std::vector<uint32_t> lastRegisterMap() const;
  /// Device address bound to `instr` in the last start (the program's beat
  /// in the DDR buffer).
  uint64_t lastInstrAddress() const;
  /// The status words as they are now on the host side of the status buffer.
  std::array<uint32_t, hw::kernel::kStatusWords> statusWords() const;
  /// Writes the status words into the status buffer, as the kernel does when
  /// it stops. Under XRT's no-op shim nothing runs: tests use this to stand
  /// in for the kernel between start() and wait().
  bool writeStatusWords(const std::array<uint32_t, hw::kernel::kStatusWords> &words,
                        std::string &error);

private:
  struct Impl;
  explicit XrtDevice(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The factory the runtime uses: XrtDevice::open as a Device.
std::unique_ptr<Device> openXrtDevice(const std::string &xclbinPath, unsigned index,
                                      std::string &error);

} // namespace edgellm::runtime

#endif // EDGELLM_RUNTIME_DEVICE_XRT_XRTDEVICE_H
