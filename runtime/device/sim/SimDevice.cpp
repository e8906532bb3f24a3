//===- SimDevice.cpp - The `sim` device -----------------------------------===//

#include "runtime/device/sim/SimDevice.h"
#include "edgellm/hw/IsaStream.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <sys/mman.h>
#include <unistd.h>

using namespace edgellm;
using namespace edgellm::runtime;

namespace {

/// Copies the per-channel HBM sections into the stream-ordered buffer
/// (stream beat p = beat p / 32 of channel p % 32), offset block by offset
/// block (sequential writes, 32 sequential read streams), on two threads,
/// releasing the copied section pages as it goes.
void destripe(const std::vector<Device::ChannelImage> &hbm, uint8_t *stream) {
  const uint64_t B = isa::kBeatBytes, C = isa::kHbmChannels;
  const uint8_t *src[isa::kHbmChannels] = {};
  uint64_t beats[isa::kHbmChannels] = {}, perChannel = 0;
  for (const Device::ChannelImage &c : hbm) {
    src[c.channel] = c.data;
    beats[c.channel] = c.bytes / B;
    perChannel = std::max(perChannel, beats[c.channel]);
  }
  const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
  // Drops the section pages holding [lo, hi) from the process. Rounding
  // outward is harmless: the mapping is file-backed and read-only, so a page
  // read again later (the neighbour's bytes) just faults back in.
  auto release = [&](uint64_t lo, uint64_t hi) {
    for (uint64_t c = 0; c < C; ++c) {
      if (!src[c])
        continue;
      uintptr_t a = reinterpret_cast<uintptr_t>(src[c]) + std::min(lo, beats[c]) * B;
      uintptr_t e = reinterpret_cast<uintptr_t>(src[c]) + std::min(hi, beats[c]) * B;
      a = a / page * page;
      e = (e + page - 1) / page * page;
      if (e > a)
        ::madvise(reinterpret_cast<void *>(a), e - a, MADV_DONTNEED);
    }
  };
  auto part = [&](uint64_t o0, uint64_t o1) {
    constexpr uint64_t kBlock = 4096; // offsets per block: 128 KiB of each section
    for (uint64_t b0 = o0; b0 < o1; b0 += kBlock) {
      uint64_t b1 = std::min(o1, b0 + kBlock);
      for (uint64_t o = b0; o < b1; ++o) {
        uint8_t *out = stream + o * C * B;
        for (uint64_t c = 0; c < C; ++c)
          if (o < beats[c])
            std::memcpy(out + c * B, src[c] + o * B, B);
      }
      release(b0, b1);
    }
  };
  uint64_t mid = perChannel / 2 / 4096 * 4096;
  std::thread helper(part, mid, perChannel);
  part(0, mid);
  helper.join();
}

} // namespace

/// Drops the pages of beats [lo, hi) of every image from the process (they
/// are file-backed and read-only: a page read again later, a neighbour's
/// bytes after rounding outward, just faults back in).
static void releaseImages(const std::vector<Device::ChannelImage> &images, uint64_t lo, uint64_t hi) {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  for (const Device::ChannelImage &c : images) {
    uint64_t beats = c.bytes / isa::kBeatBytes;
    uintptr_t a = reinterpret_cast<uintptr_t>(c.data) + std::min(lo, beats) * isa::kBeatBytes;
    uintptr_t e = reinterpret_cast<uintptr_t>(c.data) + std::min(hi, beats) * isa::kBeatBytes;
    a = a / page * page;
    e = (e + page - 1) / page * page;
    if (e > a)
      ::madvise(reinterpret_cast<void *>(a), e - a, MADV_DONTNEED);
  }
}

bool SimDevice::checkEnvironment(std::string &error) {
  struct Choice {
    const char *name;
    std::vector<std::string> values;
  };
  if (!kernels::checkCpuLevelSetting(error)) {
    error = "sim: " + error;
    return false;
  }
  for (const Choice &c : {Choice{"EDGELLM_SIM_KERNELS", {"fast", "reference"}},
                          Choice{"EDGELLM_SIM_HBM", {"relaid", "stream", "mapped"}}}) {
    const char *v = std::getenv(c.name);
    if (!v || !*v || std::find(c.values.begin(), c.values.end(), v) != c.values.end())
      continue;
    std::string list;
    for (const std::string &s : c.values)
      list += (list.empty() ? "" : ", ") + s;
    error = std::string("sim: ") + c.name + " must be one of " + list + ", not '" + v + "'";
    return false;
  }
  if (const char *th = std::getenv("EDGELLM_SIM_THREADS"); th && *th) {
    char *end = nullptr;
    unsigned long n = std::strtoul(th, &end, 10);
    if (*end || n > 1024) {
      error = std::string("sim: EDGELLM_SIM_THREADS must be a thread count (0: all), not '") + th + "'";
      return false;
    }
  }
  return true;
}

bool SimDevice::loadHbmImages(const std::vector<ChannelImage> &images,
                              const std::vector<package::WeightTile> &tiles, std::string &error) {
  // Three ways to hold HBM (docs/simulator.md), EDGELLM_SIM_HBM choosing:
  // - relaid (the default when the kernels are AVX-512 or AVX2 and the
  //   package has INT4 tiles): the sections mapped copy-on-write, plus the tiles relaid
  //   for the mm_q4 kernel (GoldenModel::relayWeightTiles); the section
  //   pages the relayout read are dropped again, so the resident size is
  //   one copy of the weights;
  // - stream: channels 0..31 kept in stream order: one sequential pass
  //   de-stripes the sections into a private buffer, dropping the section
  //   pages already copied (MADV_DONTNEED);
  // - mapped: the sections mapped copy-on-write, nothing else.
  uint64_t perChannel = 0;
  for (const ChannelImage &c : images) {
    if (c.channel >= isa::kHbmChannels || c.bytes % isa::kBeatBytes ||
        c.bytes / isa::kBeatBytes > isa::kHbmChannelBeats) {
      error = "sim: HBM image of channel " + std::to_string(c.channel) + " does not fit";
      return false;
    }
    perChannel = std::max(perChannel, c.bytes / isa::kBeatBytes);
  }
  // (EDGELLM_SIM_HBM's value is checked before the device is made:
  // checkEnvironment.)
  const char *env = std::getenv("EDGELLM_SIM_HBM");
  const std::string mode = env ? env : "";
  if (images.empty())
    return true;
  if (mode.empty() || mode == "relaid") {
    if (!Device::loadHbmImages(images, tiles, error))
      return false;
    if (uint64_t bytes = model_.relayWeightTiles(
            tiles, [&](uint64_t lo, uint64_t hi) { releaseImages(images, lo, hi); })) {
      counters_.bytesWritten += bytes;
      return true;
    }
    if (mode == "relaid")
      return true; // nothing to relay (or scalar kernels): mapped
    // Not relaid: keep the stream order instead (below).
  }
  if (mode != "mapped") {
    if (uint8_t *stream = model_.stripeHbm(perChannel)) {
      destripe(images, stream);
      counters_.bytesWritten += perChannel * isa::kBeatBytes * isa::kHbmChannels;
      return true;
    }
  }
  return Device::loadHbmImages(images, tiles, error);
}

bool SimDevice::allocate(Bank bank, uint64_t beats, std::string &error) {
  uint64_t limit = bank.mem == isa::ExtMem::Hbm ? isa::kHbmChannelBeats
                                                : model_.ddr().size() / isa::kBeatBytes;
  if ((bank.mem == isa::ExtMem::Hbm && bank.channel >= isa::kHbmChannels) || beats > limit) {
    error = "sim: cannot allocate " + std::to_string(beats) + " beats in " +
            (bank.mem == isa::ExtMem::Hbm ? "HBM[" + std::to_string(bank.channel) + "]"
                                          : std::string("DDR"));
    return false;
  }
  return true; // the simulated memories are sparse: nothing to reserve
}

bool SimDevice::inRange(isa::ExtMem mem, uint64_t byteAddr, uint64_t bytes, std::string &error) {
  if (byteAddr + bytes < byteAddr || byteAddr + bytes > memory(mem).size()) {
    error = "sim: access outside " + std::string(mem == isa::ExtMem::Hbm ? "HBM" : "DDR");
    return false;
  }
  return true;
}

bool SimDevice::write(isa::ExtMem mem, uint64_t byteAddr, const void *data, uint64_t bytes,
                      std::string &error) {
  if (!inRange(mem, byteAddr, bytes, error))
    return false;
  memory(mem).write(byteAddr, data, bytes);
  counters_.bytesWritten += bytes;
  return true;
}

bool SimDevice::read(isa::ExtMem mem, uint64_t byteAddr, void *data, uint64_t bytes,
                     std::string &error) {
  if (!inRange(mem, byteAddr, bytes, error))
    return false;
  memory(mem).read(byteAddr, data, bytes);
  counters_.bytesRead += bytes;
  return true;
}

bool SimDevice::writeShared(isa::ExtMem mem, uint64_t byteAddr, const uint8_t *data,
                            uint64_t bytes, std::string &error) {
  if (!inRange(mem, byteAddr, bytes, error))
    return false;
  memory(mem).map(byteAddr, data, bytes); // copy-on-write: nothing copied now
  counters_.bytesWritten += bytes;
  return true;
}

bool SimDevice::loadProgram(const std::string &name, const std::vector<isa::Instruction> &code,
                            uint64_t ddrBeat, std::string &error) {
  std::vector<uint8_t> stream;
  if (!isa::writeStream(code, stream, error))
    return false;
  // The stream lives in DDR as on the board; the model executes the decoded copy.
  if (!write(isa::ExtMem::Ddr, ddrBeat * isa::kBeatBytes, stream.data(), stream.size(), error))
    return false;
  programs_[name] = code;
  return true;
}

bool SimDevice::start(const std::string &name, const Registers &regs, std::string &error) {
  auto it = programs_.find(name);
  if (it == programs_.end()) {
    error = "sim: no program '" + name + "' loaded";
    return false;
  }
  for (unsigned r = 1; r < isa::kNumRegs; ++r)
    model_.setReg(r, regs[r]);
  sim::RunResult r = model_.run(it->second);
  last_ = {r.fault, r.faultIndex, r.executed, r.message};
  pending_ = true;
  ++counters_.runs;
  counters_.instructions += r.executed;
  return true;
}

bool SimDevice::wait(RunStatus &status, std::string &error) {
  if (!pending_) {
    error = "sim: wait without a started run";
    return false;
  }
  pending_ = false;
  status = last_;
  return true;
}
