//===- Package.cpp - Reading a deployable package -------------------------===//

#include "runtime/package/Package.h"
#include "runtime/package/PackageFormat.h"
#include "edgellm/hw/IsaNumerics.h"

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace edgellm;
using namespace edgellm::package;
using json = nlohmann::json;

Package::~Package() {
  if (base_ && size_)
    ::munmap(const_cast<uint8_t *>(base_), size_);
}

Bytes Package::section(const std::string &name) const {
  auto it = sections_.find(name);
  return it == sections_.end() ? Bytes{} : it->second;
}

std::unique_ptr<Package> Package::open(const std::string &path, std::string &error,
                                       bool verifyChecksums) {
  auto fail = [&](const std::string &what) -> std::unique_ptr<Package> {
    error = path + ": " + what;
    return nullptr;
  };
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return fail(std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  std::unique_ptr<Package> p(new Package());
  p->path_ = path;
  p->size_ = uint64_t(st.st_size);
  if (p->size_) {
    void *m = ::mmap(nullptr, p->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      return fail(std::string("cannot map: ") + std::strerror(errno));
    }
    p->base_ = static_cast<const uint8_t *>(m);
  }
  ::close(fd);

  Header h;
  if (const char *why = decodeHeader(p->base_, p->size_, h))
    return fail(why);
  if (h.major != kFormatMajor)
    return fail("package format " + std::to_string(h.major) + "." + std::to_string(h.minor) +
                " is not supported (this runtime reads " + std::to_string(kFormatMajor) + ".x)");
  if (h.fileSize != p->size_)
    return fail("truncated or extended: the header says " + std::to_string(h.fileSize) +
                " bytes, the file has " + std::to_string(p->size_));
  if (h.manifestOffset < kHeaderBytes || h.manifestOffset > p->size_ ||
      h.manifestSize > p->size_ - h.manifestOffset)
    return fail("manifest outside the file");
  const uint8_t *mp = p->base_ + h.manifestOffset;
  if (Crc32::compute(mp, h.manifestSize) != h.manifestCrc)
    return fail("manifest checksum mismatch (corrupted manifest)");
  try {
    p->manifest_ = json::parse(mp, mp + h.manifestSize);
  } catch (const std::exception &e) {
    return fail(std::string("manifest is not JSON: ") + e.what());
  }
  const json &j = p->manifest_;
  if (!j.is_object() || j.value("schema", "") != kManifestSchema)
    return fail(std::string("manifest schema is not ") + kManifestSchema);
  if (!j.contains("sections") || !j["sections"].is_array())
    return fail("manifest: sections: missing");
  for (const json &s : j["sections"]) {
    if (!s.is_object() || !s.contains("name") || !s.contains("offset") || !s.contains("size") ||
        !s.contains("crc32") || !s["name"].is_string() || !s["offset"].is_number_unsigned() ||
        !s["size"].is_number_unsigned() || !s["crc32"].is_number_unsigned())
      return fail("manifest: sections: an entry lacks name/offset/size/crc32");
    std::string name = s["name"];
    uint64_t off = s["offset"], size = s["size"];
    if (off < kHeaderBytes || off > h.manifestOffset || size > h.manifestOffset - off)
      return fail("section '" + name + "' lies outside the file");
    Bytes b{p->base_ + off, size};
    if (verifyChecksums && Crc32::compute(b.data, b.size) != uint32_t(s["crc32"]))
      return fail("section '" + name + "' checksum mismatch (corrupted data)");
    if (!p->sections_.emplace(name, b).second)
      return fail("section '" + name + "' appears twice");
  }
  return p;
}

bool package::weightTiles(const nlohmann::json &manifest, std::vector<WeightTile> &out,
                          std::string &error) {
  out.clear();
  if (!manifest.contains("weight_map"))
    return true;
  for (const nlohmann::json &w : manifest.at("weight_map")) {
    if (w.value("encoding", "") != "int4_rows" || w.value("memory", "") != "hbm")
      continue;
    const std::string name = w.value("name", "?");
    if (!w.contains("n") || !w.contains("k") || !w.contains("tile_rows") || !w.contains("beat") ||
        !w.contains("beats") || !w.contains("sparsity")) {
      error = "manifest: weight_map: " + name + ": missing fields";
      return false;
    }
    uint64_t n = w.at("n"), k = w.at("k"), tileRows = w.at("tile_rows"), beat = w.at("beat"),
             beats = w.at("beats"), sp = w.at("sparsity");
    if (n == 0 || k == 0 || k > 0xffff || tileRows == 0 || sp > 3 ||
        beat % isa::kHbmChannels) {
      error = "manifest: weight_map: " + name + ": invalid n, k, tile_rows, sparsity or beat";
      return false;
    }
    const uint64_t rowBeats = isa::q4RowBeats(uint32_t(k), isa::Sparsity(sp));
    uint64_t at = beat;
    for (uint64_t n0 = 0; n0 < n; n0 += tileRows) {
      uint64_t rows = std::min(tileRows, n - n0), tb = rows * rowBeats;
      out.push_back({at, tb, uint32_t(rows), uint32_t(k), uint32_t(sp)});
      at += (tb + isa::kHbmChannels - 1) / isa::kHbmChannels * isa::kHbmChannels;
    }
    if (at - beat != beats) {
      error = "manifest: weight_map: " + name + ": its tiles take " + std::to_string(at - beat) +
              " beats, not " + std::to_string(beats);
      return false;
    }
  }
  return true;
}

bool package::kvCacheExtents(const nlohmann::json &manifest,
                             std::array<uint64_t, isa::kHbmChannels> &beatsPerChannel,
                             std::string &error) {
  const nlohmann::json *mem = manifest.contains("memory") ? &manifest.at("memory") : nullptr;
  if (!mem || !mem->contains("kv_cache") || !mem->at("kv_cache").is_array()) {
    error = "manifest: memory: kv_cache is missing";
    return false;
  }
  for (const nlohmann::json &k : mem->at("kv_cache")) {
    if (!k.is_object()) {
      error = "manifest: memory: kv_cache: an entry is not an object";
      return false;
    }
    std::string what = "manifest: memory: kv_cache: layer " +
                       (k.contains("layer") ? k.at("layer").dump() : std::string("?")) + " " +
                       (k.contains("kind") && k.at("kind").is_string()
                            ? k.at("kind").get<std::string>()
                            : std::string("?")) +
                       ": ";
    for (const char *f : {"hbm_beat", "rows", "row_beats", "row_stride"})
      if (!k.contains(f) || !k.at(f).is_number_integer() || k.at(f).get<int64_t>() < 0) {
        error = what + "missing or invalid " + f;
        return false;
      }
    uint64_t at = k.at("hbm_beat"), rows = k.at("rows"), len = k.at("row_beats"),
             stride = k.at("row_stride");
    // The ISA's fields bound these; beyond them the products below could wrap.
    if (at >= uint64_t(isa::kHbmChannels) * isa::kHbmChannelBeats || rows == 0 || rows > 0xffff ||
        len > isa::kHbmChannelBeats || stride > 0xffffffffull || (rows > 1 && stride < len)) {
      error = what + "hbm_beat, rows, row_beats or row_stride out of range (or rows overlap)";
      return false;
    }
    for (uint64_t r = 0; r < rows; ++r) {
      uint64_t a = at + r * stride, ch = a / isa::kHbmChannelBeats,
               end = a % isa::kHbmChannelBeats + len;
      if (ch >= isa::kHbmChannels || end > isa::kHbmChannelBeats) {
        error = what + "row " + std::to_string(r) + " lies outside HBM";
        return false;
      }
      beatsPerChannel[ch] = std::max(beatsPerChannel[ch], end);
    }
  }
  return true;
}
