//===- HlsBench.h - Testbench of the HLS kernel against the golden model ---===//
//
// Host memories for the kernel's AXI masters (DDR and the 32 pseudo-channels,
// each allocated only as far as a test needs), the AXI-lite register file,
// and bit-for-bit comparisons of every memory with the golden model's.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_TEST_HLS_HLSBENCH_H
#define EDGELLM_TEST_HLS_HLSBENCH_H

#include "Accel.h"
#include "edgellm/hw/Kernel.h"
#include "runtime/device/sim/GoldenModel.h"

#include <array>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace edgellm::hls::test {

struct RunStatus {
  uint32_t status = 0;
  isa::Fault fault = isa::Fault::None;
  uint32_t faultIndex = 0;
};

class Bench {
public:
  /// `ddrBeats` of DDR and `hbmBeats[c]` beats of pseudo-channel c.
  Bench(uint64_t ddrBeats, const std::array<uint64_t, isa::kHbmChannels> &hbmBeats)
      : ddr_(ddrBeats, zeroBeat()) {
    for (unsigned c = 0; c < isa::kHbmChannels; ++c)
      hbm_[c].assign(hbmBeats[c], zeroBeat());
    std::memset(ctrl_, 0, sizeof ctrl_);
  }
  Bench(uint64_t ddrBeats, uint64_t hbmBeatsPerChannel)
      : Bench(ddrBeats, filled(hbmBeatsPerChannel)) {}

  uint64_t ddrBeats() const { return ddr_.size(); }
  uint64_t hbmBeats(unsigned c) const { return hbm_[c].size(); }
  uint8_t *ddrBytes(uint64_t beat) { return reinterpret_cast<uint8_t *>(&ddr_[beat]); }
  /// Beat `addr` of HBM (channel * 2^23 + offset).
  uint8_t *hbmBytes(uint64_t addr) {
    return reinterpret_cast<uint8_t *>(&hbm_[addr >> 23][addr & (isa::kHbmChannelBeats - 1)]);
  }
  void setReg(unsigned r, uint32_t v) { ctrl_[isa::ctrl::kRegBase / 4 + r] = v; }
  uint32_t reg(unsigned r) const { return ctrl_[isa::ctrl::kRegBase / 4 + r]; }

  /// Copies `words` (32 bytes each) to DDR at `programBeat` and runs them.
  RunStatus run(uint64_t programBeat, const uint8_t *words, uint32_t count) {
    std::memcpy(ddrBytes(programBeat), words, size_t(count) * isa::kInstrBytes);
    return start(programBeat, count);
  }
  RunStatus run(uint64_t programBeat, const std::vector<isa::Instruction> &program) {
    std::vector<uint8_t> bytes(program.size() * isa::kInstrBytes);
    for (size_t i = 0; i < program.size(); ++i) {
      isa::Word w = isa::encode(program[i]);
      std::memcpy(&bytes[i * isa::kInstrBytes], w.data(), isa::kInstrBytes);
    }
    return run(programBeat, bytes.data(), uint32_t(program.size()));
  }
  /// Runs `count` instructions already in DDR at `programBeat`, through the
  /// kernel's argument list (hw/include/edgellm/hw/Kernel.def).
  RunStatus start(uint64_t programBeat, uint32_t count) {
    using namespace isa::ctrl;
    namespace k = hw::kernel;
    uint64_t ext[isa::kHbmChannels];
    for (unsigned c = 0; c < isa::kHbmChannels; ++c)
      ext[c] = hbm_[c].size();
    csim::setExtents(ddr_.size(), ext);
    uint32_t status[k::kStatusWords] = {};
    auto r = [&](unsigned i) { return ctrl_[kRegBase / 4 + i]; };
#define EDGELLM_BENCH_HBM_ARG(n) , hbm_[n].data()
    edgellm_accel(ddr_.data() + programBeat,
                  ddr_.data() EDGELLM_HLS_HBM_PORTS(EDGELLM_BENCH_HBM_ARG), count, r(1), r(2),
                  r(3), r(4), r(5), r(6), r(7), r(8), r(9), r(10), r(11), r(12), r(13), r(14),
                  r(15), status);
#undef EDGELLM_BENCH_HBM_ARG
    for (unsigned i = 1; i < isa::kNumRegs; ++i)
      ctrl_[kRegBase / 4 + i] = status[k::kStatusRegs + i - 1];
    return {status[k::kStatusBits], isa::Fault(status[k::kStatusFault]),
            status[k::kStatusIndex]};
  }

private:
  static std::array<uint64_t, isa::kHbmChannels> filled(uint64_t n) {
    std::array<uint64_t, isa::kHbmChannels> a;
    a.fill(n);
    return a;
  }
  std::vector<beat_t> ddr_;
  std::array<std::vector<beat_t>, isa::kHbmChannels> hbm_;
  uint32_t ctrl_[kCtrlWords];
};

/// First difference of two byte ranges of beats, as a message ("" if equal).
inline std::string diffBeats(const char *what, uint64_t firstBeat, const uint8_t *want,
                             const uint8_t *got, uint64_t beats) {
  if (std::memcmp(want, got, beats * isa::kBeatBytes) == 0)
    return "";
  uint64_t diffs = 0, first = ~0ull;
  for (uint64_t i = 0; i < beats * isa::kBeatBytes; i += 2)
    if (std::memcmp(want + i, got + i, 2) != 0) {
      ++diffs;
      if (first == ~0ull)
        first = i;
    }
  uint16_t w, g;
  std::memcpy(&w, want + first, 2);
  std::memcpy(&g, got + first, 2);
  std::ostringstream os;
  os << what << ": " << diffs << " of " << beats * 16 << " lanes differ; first at beat "
     << firstBeat + first / isa::kBeatBytes << " lane " << (first % isa::kBeatBytes) / 2
     << ": golden 0x" << std::hex << w << ", HLS 0x" << g;
  return os.str();
}

/// Compares the four on-chip buffers, bit for bit.
inline std::string compareBuffers(sim::GoldenModel &g) {
  std::string out;
  const char *names[] = {"ABUF", "WBUF", "KBUF", "PBUF"};
  for (unsigned b = 0; b < 4; ++b) {
    uint64_t beats = csim::bufferBeats(isa::Buf(b));
    if (g.buffer(isa::Buf(b)).size() != beats * isa::kBeatBytes)
      return std::string(names[b]) + ": the golden model's buffer has another size";
    std::vector<uint8_t> want(beats * isa::kBeatBytes);
    g.buffer(isa::Buf(b)).read(0, want.data(), want.size());
    std::string d = diffBeats(names[b], 0,
                              want.data(), reinterpret_cast<const uint8_t *>(csim::buffer(isa::Buf(b))),
                              beats);
    if (!d.empty())
      out += d + "\n";
  }
  return out;
}

/// Compares DDR beats [first, first + beats).
inline std::string compareDdr(sim::GoldenModel &g, Bench &b, uint64_t first, uint64_t beats) {
  std::vector<uint8_t> want(beats * isa::kBeatBytes);
  g.ddr().read(first * isa::kBeatBytes, want.data(), want.size());
  return diffBeats("DDR", first, want.data(), b.ddrBytes(first), beats);
}

/// Compares the allocated part of every pseudo-channel.
inline std::string compareHbm(sim::GoldenModel &g, Bench &b) {
  std::string out;
  for (unsigned c = 0; c < isa::kHbmChannels; ++c) {
    uint64_t beats = b.hbmBeats(c);
    if (!beats)
      continue;
    uint64_t base = uint64_t(c) << 23;
    std::vector<uint8_t> want(beats * isa::kBeatBytes);
    g.hbm().read(base * isa::kBeatBytes, want.data(), want.size());
    std::string what = "HBM channel " + std::to_string(c);
    std::string d = diffBeats(what.c_str(), 0, want.data(), b.hbmBytes(base), beats);
    if (!d.empty())
      out += d + "\n";
  }
  return out;
}

} // namespace edgellm::hls::test

#endif // EDGELLM_TEST_HLS_HLSBENCH_H
