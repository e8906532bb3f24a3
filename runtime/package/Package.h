//===- Package.h - Reading a deployable package ------------------*- C++ -*-===//
//
// Maps a package (docs/package-format.md) and checks it before anything
// runs: header, format version, file size, manifest checksum and schema,
// every section inside the file and its CRC-32, the target, and the sizes
// the manifest promises. Plain C++: the runtime never links MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_PACKAGE_PACKAGE_H
#define EDGELLM_RUNTIME_PACKAGE_PACKAGE_H

#include "runtime/package/PackageFormat.h"
#include "edgellm/hw/Isa.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace edgellm::package {

struct Bytes {
  const uint8_t *data = nullptr;
  uint64_t size = 0;
};

class Package {
public:
  /// Opens and verifies `path`; on failure returns nullptr and sets `error`
  /// ("PATH: what is wrong").
  static std::unique_ptr<Package> open(const std::string &path, std::string &error,
                                       bool verifyChecksums = true);
  ~Package();

  const nlohmann::json &manifest() const { return manifest_; }
  /// A section by name ({nullptr, 0} when absent).
  Bytes section(const std::string &name) const;
  const std::string &path() const { return path_; }

private:
  Package() = default;
  std::string path_;
  const uint8_t *base_ = nullptr;
  uint64_t size_ = 0;
  nlohmann::json manifest_;
  std::map<std::string, Bytes> sections_;
};

/// The INT4 weight tiles of a manifest's weight_map (HBM, int4_rows);
/// false with `error` naming the entry when one does not add up.
bool weightTiles(const nlohmann::json &manifest, std::vector<WeightTile> &out, std::string &error);

/// Raises `beatsPerChannel[c]` to the end of every KV-cache row the manifest
/// places in HBM pseudo-channel c (memory.kv_cache: row r of a region at
/// `hbm_beat + r * row_stride`, `row_beats` long); false with `error` naming
/// the region when a field is missing or a row lies outside HBM.
bool kvCacheExtents(const nlohmann::json &manifest,
                    std::array<uint64_t, isa::kHbmChannels> &beatsPerChannel, std::string &error);

} // namespace edgellm::package

#endif // EDGELLM_RUNTIME_PACKAGE_PACKAGE_H
