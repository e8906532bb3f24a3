//===- Device.h - The device interface of the runtime -----------*- C++ -*-===//
//
// What the runtime needs from an accelerator, whatever it is: memory in
// banks (the 32 HBM pseudo-channels and DDR) addressed as the ISA addresses
// them (docs/isa.md section 2: HBM beat channel * 2^23 + offset, DDR
// linear), programs placed in DDR, a run with the runtime registers, a wait
// for its end, and counters. Devices: `sim` (the golden model with fast
// kernels, runtime/device/sim) and `xrt` (a board through XRT,
// runtime/device/xrt). Plain C++.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_DEVICE_DEVICE_H
#define EDGELLM_RUNTIME_DEVICE_DEVICE_H

#include "edgellm/hw/Isa.h"
#include "runtime/package/PackageFormat.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgellm::runtime {

/// A memory bank: an HBM pseudo-channel (0-31) or DDR.
struct Bank {
  isa::ExtMem mem = isa::ExtMem::Ddr;
  unsigned channel = 0; ///< HBM only
};

/// How a run ended (docs/isa.md section 7: the fault code and index).
struct RunStatus {
  isa::Fault fault = isa::Fault::None;
  uint32_t faultIndex = 0;
  uint64_t executed = 0;
  std::string message;
  bool ok() const { return fault == isa::Fault::None; }
};

struct DeviceCounters {
  uint64_t runs = 0, instructions = 0;
  uint64_t bytesWritten = 0, bytesRead = 0; ///< host <-> device transfers
};

using Registers = std::array<uint32_t, isa::kNumRegs>;

class Device {
public:
  virtual ~Device() = default;
  virtual std::string name() const = 0;

  /// Reserves beats [0, beats) of a bank; the package's memory map places
  /// everything inside. Must precede any access to the bank.
  virtual bool allocate(Bank bank, uint64_t beats, std::string &error) = 0;
  /// Host -> device and device -> host copies at a byte address of the
  /// ISA's address space of `mem` (HBM: (channel * 2^23 + offset) * 32).
  virtual bool write(isa::ExtMem mem, uint64_t byteAddr, const void *data, uint64_t bytes,
                     std::string &error) = 0;
  virtual bool read(isa::ExtMem mem, uint64_t byteAddr, void *data, uint64_t bytes,
                    std::string &error) = 0;
  /// Like write, for read-only bytes that outlive the device (a mapped
  /// package section): a device may reference them instead of copying.
  virtual bool writeShared(isa::ExtMem mem, uint64_t byteAddr, const uint8_t *data,
                           uint64_t bytes, std::string &error) {
    return write(mem, byteAddr, data, bytes, error);
  }
  /// One HBM pseudo-channel's image from its beat 0 (a package section).
  struct ChannelImage {
    unsigned channel = 0;
    const uint8_t *data = nullptr;
    uint64_t bytes = 0;
  };
  /// Loads the package's HBM images (read-only bytes that outlive the
  /// device); by default channel by channel with writeShared. `tiles`: the
  /// INT4 weight tiles in them (the manifest's weight_map), which a device
  /// may also keep in a form of its own (the sim relays them for its
  /// kernels); the HBM contents are the images either way.
  virtual bool loadHbmImages(const std::vector<ChannelImage> &images,
                             const std::vector<package::WeightTile> &tiles, std::string &error) {
    (void)tiles;
    for (const ChannelImage &c : images)
      if (!writeShared(isa::ExtMem::Hbm, (uint64_t(c.channel) << 23) * isa::kBeatBytes, c.data,
                       c.bytes, error))
        return false;
    return true;
  }
  /// Places a program's instruction stream in DDR at `ddrBeat` under `name`.
  virtual bool loadProgram(const std::string &name, const std::vector<isa::Instruction> &code,
                           uint64_t ddrBeat, std::string &error) = 0;
  /// Starts a loaded program with the runtime registers (R0 is ignored).
  virtual bool start(const std::string &name, const Registers &regs, std::string &error) = 0;
  /// Blocks until the running program stops; false only when the device
  /// itself failed (a fault of the program is reported in `status`).
  virtual bool wait(RunStatus &status, std::string &error) = 0;
  virtual DeviceCounters counters() const = 0;
};

} // namespace edgellm::runtime

#endif // EDGELLM_RUNTIME_DEVICE_DEVICE_H
