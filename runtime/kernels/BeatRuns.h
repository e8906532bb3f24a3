//===- BeatRuns.h - Where the beats of an operand live -----------*- C++ -*-===//
//
// A sequence of 32-byte beats spread over up to 32 host runs, the way a
// striped HBM load spreads a row over pseudo-channels: beat t is at
// run[t % stripe] + (t / stripe) * step. `step` is the host distance between
// two consecutive beats of one pseudo-channel: 32 bytes when the channel is
// stored as such (a mapped package section), 32 * 32 bytes when HBM is
// stored in stream order (the sim memory's striped region, docs/simulator.md).
// A contiguous operand is stripe 1, step 32.
// The simulator hands kernels weights this way, so a weight tile "loaded"
// into WBUF can be read straight from the HBM image.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_KERNELS_BEATRUNS_H
#define EDGELLM_RUNTIME_KERNELS_BEATRUNS_H

#include "edgellm/hw/Isa.h"

#include <cstdint>
#include <cstring>

namespace edgellm::kernels {

struct BeatRuns {
  uint32_t stripe = 1;
  uint64_t step = isa::kBeatBytes;
  const uint8_t *run[isa::kHbmChannels] = {};

  static BeatRuns contiguous(const uint8_t *p) {
    BeatRuns r;
    r.run[0] = p;
    return r;
  }
  bool isContiguous() const { return stripe == 1 && step == isa::kBeatBytes; }
  const uint8_t *beat(uint64_t t) const {
    return stripe == 1 ? run[0] + t * step : run[t % stripe] + (t / stripe) * step;
  }
  /// The same beats as one contiguous run when they are one (a full-width
  /// stripe over stream-ordered HBM from channel 0).
  BeatRuns normalized() const {
    if (isContiguous())
      return *this;
    if (step != uint64_t(stripe) * isa::kBeatBytes)
      return *this;
    for (uint32_t i = 1; i < stripe; ++i)
      if (run[i] != run[0] + uint64_t(i) * isa::kBeatBytes)
        return *this;
    return contiguous(run[0]);
  }
  /// The same beats starting at beat `first`.
  BeatRuns from(uint64_t first) const {
    BeatRuns r;
    r.stripe = stripe;
    r.step = step;
    for (uint32_t i = 0; i < stripe; ++i) {
      uint64_t t = first + i;
      r.run[i] = beat(t);
    }
    return r;
  }
  /// Copies `beats` beats from beat `first` to `dst`.
  void gather(uint64_t first, uint64_t beats, uint8_t *dst) const {
    if (isContiguous()) {
      std::memcpy(dst, run[0] + first * isa::kBeatBytes, beats * isa::kBeatBytes);
      return;
    }
    if (stripe > 1 && beats >= 4 * stripe) { // run by run: sequential reads the prefetchers follow
      for (uint32_t i = 0; i < stripe; ++i) {
        uint64_t j = (i + stripe - first % stripe) % stripe; // first j with (first + j) % P == i
        const uint8_t *src = run[i] + ((first + j) / stripe) * step;
        for (; j < beats; j += stripe, src += step)
          std::memcpy(dst + j * isa::kBeatBytes, src, isa::kBeatBytes);
      }
      return;
    }
    for (uint64_t j = 0; j < beats; ++j)
      std::memcpy(dst + j * isa::kBeatBytes, beat(first + j), isa::kBeatBytes);
  }
};

} // namespace edgellm::kernels

#endif // EDGELLM_RUNTIME_KERNELS_BEATRUNS_H
