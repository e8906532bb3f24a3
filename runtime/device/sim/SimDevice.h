//===- SimDevice.h - The `sim` device ---------------------------*- C++ -*-===//
//
// runtime/device/Device.h on the golden model (GoldenModel: the ISA executed
// exactly as docs/isa.md specifies, with fast kernels). Runs are synchronous:
// start() executes the program, wait() reports how it ended.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_DEVICE_SIM_SIMDEVICE_H
#define EDGELLM_RUNTIME_DEVICE_SIM_SIMDEVICE_H

#include "runtime/device/Device.h"
#include "runtime/device/sim/GoldenModel.h"

#include <map>

namespace edgellm::runtime {

class SimDevice : public Device {
public:
  explicit SimDevice(const hw::TargetDesc &target) : target_(target), model_(target_) {}
  std::string name() const override { return "sim"; }
  bool allocate(Bank bank, uint64_t beats, std::string &error) override;
  bool write(isa::ExtMem mem, uint64_t byteAddr, const void *data, uint64_t bytes,
             std::string &error) override;
  bool read(isa::ExtMem mem, uint64_t byteAddr, void *data, uint64_t bytes,
            std::string &error) override;
  bool writeShared(isa::ExtMem mem, uint64_t byteAddr, const uint8_t *data, uint64_t bytes,
                   std::string &error) override;
  bool loadHbmImages(const std::vector<ChannelImage> &images,
                     const std::vector<package::WeightTile> &tiles, std::string &error) override;
  bool loadProgram(const std::string &name, const std::vector<isa::Instruction> &code,
                   uint64_t ddrBeat, std::string &error) override;
  bool start(const std::string &name, const Registers &regs, std::string &error) override;
  bool wait(RunStatus &status, std::string &error) override;
  DeviceCounters counters() const override { return counters_; }

  /// Checks the environment variables that choose how the simulator runs
  /// (EDGELLM_SIM_KERNELS, EDGELLM_KERNELS, EDGELLM_SIM_HBM,
  /// EDGELLM_SIM_THREADS; docs/user-guide.md): an unknown value is an error,
  /// not a silent default.
  static bool checkEnvironment(std::string &error);
  /// Only the dependency tokens order the queues (seeded random issue).
  void setRandomIssue(uint64_t seed) { model_.setRandomIssue(true, seed); }
  sim::GoldenModel &model() { return model_; }

private:
  sim::SparseMemory &memory(isa::ExtMem mem) {
    return mem == isa::ExtMem::Hbm ? model_.hbm() : model_.ddr();
  }
  bool inRange(isa::ExtMem mem, uint64_t byteAddr, uint64_t bytes, std::string &error);

  hw::TargetDesc target_;
  sim::GoldenModel model_;
  std::map<std::string, std::vector<isa::Instruction>> programs_;
  RunStatus last_;
  bool pending_ = false;
  DeviceCounters counters_;
};

} // namespace edgellm::runtime

#endif // EDGELLM_RUNTIME_DEVICE_SIM_SIMDEVICE_H
