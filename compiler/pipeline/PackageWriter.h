//===- PackageWriter.h - Writing the deployable package ----------*- C++ -*-===//
//
// Streams a DevicePlan into one package file (docs/package-format.md):
// weights quantised and packed per HBM pseudo-channel from the mmap'd
// source, the DDR images, the host embedding table, the instruction streams,
// the tokenizer and the manifest with checksums. Written to FILE.tmp and
// renamed at the end, so a failed compile leaves nothing behind.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_COMPILER_PIPELINE_PACKAGEWRITER_H
#define EDGELLM_COMPILER_PIPELINE_PACKAGEWRITER_H

#include "compiler/target/DevicePlan.h"

#include <functional>
#include <string>

namespace edgellm::pipeline {

struct PackageInputs {
  std::string modelPath;     ///< the source model (recorded in the manifest)
  std::string tokenizerPath; ///< SentencePiece model, or empty
  std::string reportJson;    ///< the compile report (also a section)
  unsigned threads = 2;      ///< quantisation threads
  /// Called after each packed weight: (done bytes of source, total).
  std::function<void(uint64_t, uint64_t)> progress;
};

/// The package's weight bytes: HBM (sum of the 32 channel sections).
struct PackageStats {
  uint64_t fileBytes = 0, hbmWeightBytes = 0, packedLinearWeights = 0;
  double bitsPerWeight = 0; ///< HBM bytes * 8 / linear weights (tile padding included)
};

bool writePackage(const target::DevicePlan &plan, const hw::TargetDesc &target,
                  const PackageInputs &in, const std::string &path, std::string &error,
                  PackageStats *stats = nullptr);

} // namespace edgellm::pipeline

#endif // EDGELLM_COMPILER_PIPELINE_PACKAGEWRITER_H
