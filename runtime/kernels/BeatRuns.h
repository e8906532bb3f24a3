//===- BeatRuns.h - Where the beats of an operand live -----------*- C++ -*-===//
//
// A sequence of 32-byte beats spread over up to 32 contiguous host runs, the
// way a striped HBM load spreads a row over pseudo-channels: beat t is at
// run[t % stripe] + (t / stripe) * 32. A contiguous operand is stripe 1.
// The simulator hands kernels weights this way, so a weight tile "loaded"
// into WBUF can be read straight from the package's mapped HBM image.
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
  const uint8_t *run[isa::kHbmChannels] = {};

  static BeatRuns contiguous(const uint8_t *p) {
    BeatRuns r;
    r.run[0] = p;
    return r;
  }
  const uint8_t *beat(uint64_t t) const {
    return stripe == 1 ? run[0] + t * isa::kBeatBytes
                       : run[t % stripe] + (t / stripe) * isa::kBeatBytes;
  }
  /// The same beats starting at beat `first`.
  BeatRuns from(uint64_t first) const {
    BeatRuns r;
    r.stripe = stripe;
    for (uint32_t i = 0; i < stripe; ++i) {
      uint64_t t = first + i;
      r.run[i] = beat(t);
    }
    return r;
  }
  /// Copies `beats` beats from beat `first` to `dst`.
  void gather(uint64_t first, uint64_t beats, uint8_t *dst) const {
    if (stripe == 1) {
      std::memcpy(dst, run[0] + first * isa::kBeatBytes, beats * isa::kBeatBytes);
      return;
    }
    if (beats >= 4 * stripe) { // run by run: sequential reads the prefetchers follow
      for (uint32_t i = 0; i < stripe; ++i) {
        uint64_t j = (i + stripe - first % stripe) % stripe; // first j with (first + j) % P == i
        const uint8_t *src = run[i] + ((first + j) / stripe) * isa::kBeatBytes;
        for (; j < beats; j += stripe, src += isa::kBeatBytes)
          std::memcpy(dst + j * isa::kBeatBytes, src, isa::kBeatBytes);
      }
      return;
    }
    uint64_t q = first / stripe, r = first % stripe;
    for (uint64_t j = 0; j < beats; ++j) {
      std::memcpy(dst + j * isa::kBeatBytes, run[r] + q * isa::kBeatBytes, isa::kBeatBytes);
      if (++r == stripe)
        r = 0, ++q;
    }
  }
};

} // namespace edgellm::kernels

#endif // EDGELLM_RUNTIME_KERNELS_BEATRUNS_H
