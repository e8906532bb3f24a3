//===- PackageWriter.cpp - Writing the deployable package -----------------===//

#include "compiler/pipeline/PackageWriter.h"
#include "compiler/conversion/WeightAccess.h"
#include "compiler/target/WeightPacker.h"
#include "edgellm/hw/IsaNumerics.h"
#include "edgellm/hw/IsaStream.h"
#include "runtime/package/PackageFormat.h"

#include "mlir/IR/BuiltinTypes.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

using namespace edgellm;
using namespace edgellm::target;
using json = nlohmann::json;

namespace {

constexpr uint64_t B = isa::kBeatBytes;

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

struct Section {
  std::string name;
  uint64_t offset = 0, size = 0;
  uint32_t crc = 0;
  json extra = json::object();
};

/// A weight's source as FP32 values (a view of the mmap'd file, or a
/// converted copy for FP16 sources).
struct Source {
  const float *data = nullptr;
  size_t count = 0;
  std::vector<float> owned;
  llvm::ArrayRef<char> bytes;
};

bool readSource(mlir::Value v, Source &s, std::string &error) {
  if (!conversion::weightBytes(v, s.bytes, error))
    return false;
  auto ty = llvm::cast<mlir::RankedTensorType>(v.getType());
  s.count = size_t(ty.getNumElements());
  mlir::Type e = ty.getElementType();
  if (e.isF32()) {
    if (s.bytes.size() != s.count * 4) {
      error = "size mismatch";
      return false;
    }
    if (reinterpret_cast<uintptr_t>(s.bytes.data()) % alignof(float) == 0) {
      s.data = reinterpret_cast<const float *>(s.bytes.data());
    } else {
      s.owned.resize(s.count);
      std::memcpy(s.owned.data(), s.bytes.data(), s.count * 4);
      s.data = s.owned.data();
    }
    return true;
  }
  if (e.isF16()) {
    s.owned.resize(s.count);
    for (size_t i = 0; i < s.count; ++i) {
      uint16_t h;
      std::memcpy(&h, s.bytes.data() + 2 * i, 2);
      s.owned[i] = isa::f16ToF32(h);
    }
    s.data = s.owned.data();
    return true;
  }
  error = "only FP32 and FP16 weights can be packed";
  return false;
}

/// Drops the source pages from this process (they stay in the page cache):
/// peak memory must not grow with the model.
void release(const Source &s) {
  if (s.bytes.empty())
    return;
  long page = sysconf(_SC_PAGESIZE);
  uintptr_t lo = alignUp(reinterpret_cast<uintptr_t>(s.bytes.data()), uintptr_t(page));
  uintptr_t hi = (reinterpret_cast<uintptr_t>(s.bytes.data()) + s.bytes.size()) /
                 uintptr_t(page) * uintptr_t(page);
  if (hi > lo)
    ::madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_DONTNEED);
}

class FileOut {
public:
  bool open(const std::string &p, std::string &error) {
    fd = ::open(p.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
      error = p + ": cannot create: " + std::strerror(errno);
    return fd >= 0;
  }
  bool write(uint64_t off, const void *data, size_t n, std::string &error) {
    const char *p = static_cast<const char *>(data);
    while (n) {
      ssize_t w = ::pwrite(fd, p, n, off_t(off));
      if (w <= 0) {
        error = std::string("write failed: ") + std::strerror(errno);
        return false;
      }
      p += w, off += uint64_t(w), n -= size_t(w);
    }
    return true;
  }
  ~FileOut() {
    if (fd >= 0)
      ::close(fd);
  }
  int fd = -1;
};

const char *encodingName(WeightEncoding e) {
  switch (e) {
  case WeightEncoding::Int4Rows:
    return "int4_rows";
  case WeightEncoding::F16Tiles:
    return "f16_tiles";
  case WeightEncoding::F16Vector:
    return "f16_vector";
  case WeightEncoding::F32Raw:
    return "f32_raw";
  }
  return "";
}

/// Packs one linear weight into its stream beats (tiles padded to 32 beats).
bool packLinear(const PlacedWeight &w, const Source &src, std::vector<uint8_t> &stream,
                std::string &error) {
  stream.assign(w.beats * B, 0);
  if (w.encoding == WeightEncoding::Int4Rows) {
    stream = packInt4Tiles(quantizeInt4(src.data, w.k, w.n, w.sparsity), w.tileRows);
    if (stream.size() != w.beats * B) {
      error = "packed size differs from the plan";
      return false;
    }
    return true;
  }
  if (w.encoding == WeightEncoding::F16Tiles) {
    // Tile [kb, nt, 16]: beat (b, r) holds W[n0 + r][16 b + l] = src[(16 b + l) * n + n0 + r].
    uint64_t at = 0, kb = uint64_t((w.k + 15) / 16);
    for (int64_t n0 = 0; n0 < w.n; n0 += w.tileRows) {
      int64_t nt = std::min<int64_t>(w.tileRows, w.n - n0);
      for (uint64_t b = 0; b < kb; ++b)
        for (int64_t r = 0; r < nt; ++r)
          for (int l = 0; l < 16; ++l) {
            int64_t k = int64_t(b) * 16 + l;
            uint16_t h = k < w.k ? isa::f32ToF16(src.data[k * w.n + n0 + r]) : 0;
            std::memcpy(&stream[at + (b * uint64_t(nt) + uint64_t(r)) * B + 2 * l], &h, 2);
          }
      at += alignUp(kb * uint64_t(nt) * B, isa::kHbmChannels * B);
    }
    return true;
  }
  error = "not a linear weight";
  return false;
}

} // namespace

bool edgellm::pipeline::writePackage(const DevicePlan &plan, const hw::TargetDesc &target,
                                     const PackageInputs &in, const std::string &path,
                                     std::string &error, PackageStats *stats) {
  std::string tmp = path + ".tmp";
  FileOut out;
  if (!out.open(tmp, error))
    return false;
  bool ok = false;
  struct Cleanup {
    const std::string &tmp;
    bool &ok;
    ~Cleanup() {
      if (!ok)
        std::remove(tmp.c_str());
    }
  } cleanup{tmp, ok};

  // Section layout (sizes are known up front).
  std::vector<Section> sections;
  uint64_t cursor = alignUp(package::kHeaderBytes, package::kSectionAlign);
  auto add = [&](const std::string &name, uint64_t size) -> Section & {
    Section s;
    s.name = name;
    s.offset = cursor;
    s.size = size;
    cursor = alignUp(cursor + size, package::kSectionAlign);
    sections.push_back(s);
    return sections.back();
  };
  uint64_t perChannel = plan.hbmStreamBeats / isa::kHbmChannels;
  for (unsigned c = 0; c < isa::kHbmChannels; ++c) {
    char name[32];
    std::snprintf(name, sizeof name, "hbm.weights.ch%02u", c);
    add(name, perChannel * B);
  }
  add("ddr.params", plan.ddrParamsBeats * B);
  add("ddr.rope_table", plan.ddrTableBeats * B);
  add("host.embedding", uint64_t(plan.embedding.n) * uint64_t(plan.embedding.k) * 2);
  std::vector<std::vector<uint8_t>> streams;
  for (const DeviceProgram &p : plan.programs) {
    streams.emplace_back();
    if (!isa::writeStream(p.instructions, streams.back(), error)) {
      error = "program " + p.name + ": " + error;
      return false;
    }
    add("program." + p.name, streams.back().size());
  }
  std::string tokenizer;
  if (!in.tokenizerPath.empty()) {
    std::ifstream f(in.tokenizerPath, std::ios::binary);
    if (!f) {
      error = in.tokenizerPath + ": cannot read the tokenizer";
      return false;
    }
    tokenizer.assign(std::istreambuf_iterator<char>(f), {});
    add("tokenizer.model", tokenizer.size());
  }
  add("report.json", in.reportJson.size());
  auto section = [&](const std::string &name) -> Section & {
    for (Section &s : sections)
      if (s.name == name)
        return s;
    return sections.front();
  };
  auto writeSection = [&](Section &s, uint64_t at, const void *data, size_t n) {
    return out.write(s.offset + at, data, n, error);
  };

  // HBM: each linear's stream beats go round-robin to the 32 channel sections.
  std::vector<uint32_t> channelCrc(isa::kHbmChannels, 0);
  std::vector<const PlacedWeight *> linears;
  uint64_t totalSource = 0, linearWeights = 0;
  for (const PlacedWeight &w : plan.weights)
    if (w.inHbm) {
      linears.push_back(&w);
      totalSource += uint64_t(w.n) * uint64_t(w.k) * 4;
      linearWeights += uint64_t(w.n) * uint64_t(w.k);
    }
  std::sort(linears.begin(), linears.end(),
            [](auto *a, auto *b) { return a->beat < b->beat; });
  // Pack in parallel, write in stream order (the CRCs are sequential).
  std::vector<std::vector<uint8_t>> packed(linears.size());
  std::vector<std::string> errors(linears.size());
  std::vector<char> ready(linears.size(), 0);
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<size_t> next{0};
  size_t window = std::max<unsigned>(in.threads, 1) + 1; // bounded memory
  size_t written = 0;
  auto worker = [&] {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= linears.size())
        return;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return i < written + window; });
      }
      Source src;
      std::string err;
      std::vector<uint8_t> bytes;
      if (readSource(linears[i]->source, src, err))
        packLinear(*linears[i], src, bytes, err);
      release(src);
      std::lock_guard<std::mutex> lock(mu);
      packed[i] = std::move(bytes);
      errors[i] = err;
      ready[i] = 1;
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < std::max<unsigned>(in.threads, 1); ++t)
    pool.emplace_back(worker);
  bool failed = false;
  uint64_t done = 0;
  std::vector<uint8_t> chunk;
  for (size_t i = 0; i < linears.size(); ++i) {
    std::vector<uint8_t> bytes;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return ready[i] != 0; });
      bytes = std::move(packed[i]);
      if (!errors[i].empty() && !failed) {
        error = linears[i]->name + ": " + errors[i];
        failed = true;
      }
      written = i + 1;
      cv.notify_all();
    }
    if (failed)
      continue;
    const PlacedWeight &w = *linears[i];
    uint64_t beatsPerCh = w.beats / isa::kHbmChannels;
    chunk.resize(beatsPerCh * B);
    for (unsigned c = 0; c < isa::kHbmChannels; ++c) {
      for (uint64_t j = 0; j < beatsPerCh; ++j)
        std::memcpy(&chunk[j * B], &bytes[(j * isa::kHbmChannels + c) * B], B);
      Section &s = sections[c];
      channelCrc[c] = package::Crc32::compute(chunk.data(), chunk.size(), channelCrc[c]);
      if (!writeSection(s, w.beat / isa::kHbmChannels * B, chunk.data(), chunk.size())) {
        failed = true;
        break;
      }
    }
    done += uint64_t(w.n) * uint64_t(w.k) * 4;
    if (in.progress)
      in.progress(done, totalSource);
  }
  for (std::thread &t : pool)
    t.join();
  if (failed)
    return false;
  for (unsigned c = 0; c < isa::kHbmChannels; ++c)
    sections[c].crc = channelCrc[c];

  // DDR parameters and the rotary table.
  {
    std::vector<uint8_t> params(plan.ddrParamsBeats * B, 0);
    std::vector<uint8_t> table(plan.ddrTableBeats * B, 0);
    for (const PlacedWeight &w : plan.weights) {
      if (w.inHbm)
        continue;
      Source src;
      if (!readSource(w.source, src, error)) {
        error = w.name + ": " + error;
        return false;
      }
      if (w.encoding == WeightEncoding::F16Vector) {
        for (size_t i = 0; i < src.count; ++i) {
          uint16_t h = isa::f32ToF16(src.data[i]);
          std::memcpy(&params[(w.beat - plan.ddrParamsBeat) * B + 2 * i], &h, 2);
        }
      } else if (w.encoding == WeightEncoding::F32Raw) {
        std::memcpy(&table[(w.beat - plan.ddrTableBeat) * B], src.data,
                    std::min<size_t>(src.count * 4, table.size()));
      }
    }
    Section &p = section("ddr.params"), &t = section("ddr.rope_table");
    p.crc = package::Crc32::compute(params.data(), params.size());
    t.crc = package::Crc32::compute(table.data(), table.size());
    if (!writeSection(p, 0, params.data(), params.size()) ||
        !writeSection(t, 0, table.data(), table.size()))
      return false;
  }
  // Host embedding table, FP16 rows (what the device's input holds).
  {
    Source src;
    if (!readSource(plan.embedding.source, src, error)) {
      error = "embedding: " + error;
      return false;
    }
    Section &s = section("host.embedding");
    std::vector<uint16_t> buf;
    const size_t chunkElems = 1 << 22;
    for (size_t at = 0; at < src.count; at += chunkElems) {
      size_t n = std::min(chunkElems, src.count - at);
      buf.resize(n);
      for (size_t i = 0; i < n; ++i)
        buf[i] = isa::f32ToF16(src.data[at + i]);
      s.crc = package::Crc32::compute(buf.data(), n * 2, s.crc);
      if (!writeSection(s, at * 2, buf.data(), n * 2))
        return false;
    }
    release(src);
  }
  for (size_t i = 0; i < plan.programs.size(); ++i) {
    Section &s = section("program." + plan.programs[i].name);
    s.crc = package::Crc32::compute(streams[i].data(), streams[i].size());
    if (!writeSection(s, 0, streams[i].data(), streams[i].size()))
      return false;
  }
  if (!tokenizer.empty()) {
    Section &s = section("tokenizer.model");
    s.crc = package::Crc32::compute(tokenizer.data(), tokenizer.size());
    if (!writeSection(s, 0, tokenizer.data(), tokenizer.size()))
      return false;
  }
  {
    Section &s = section("report.json");
    s.crc = package::Crc32::compute(in.reportJson.data(), in.reportJson.size());
    if (!writeSection(s, 0, in.reportJson.data(), in.reportJson.size()))
      return false;
  }

  // Manifest.
  const ModelShape &m = plan.model;
  json j;
  j["schema"] = package::kManifestSchema;
  j["producer"] = "edgellm-compile";
  j["source_model"] = in.modelPath;
  j["target"] = {{"name", target.name}, {"isa_version", isa::kVersionMajor}};
  j["model"] = {{"architecture", "chatglm2"}, {"layers", m.layers},       {"hidden", m.hidden},
                {"heads", m.heads},             {"kv_heads", m.kvHeads},   {"head_dim", m.headDim},
                {"ffn", m.ffn},                 {"vocab", m.vocab},        {"rot_dim", m.rotDim},
                {"pairs", m.pairs},             {"max_positions", m.maxPositions}};
  j["weights"] = {{"format", plan.weightFormat}, {"density", plan.density}};
  j["max_context"] = plan.maxContext;
  j["registers"] = {{"pos", isa::kRegPos}, {"past", isa::kRegPast}, {"ntok", isa::kRegNumTokens}};
  json programs = json::array();
  uint64_t progBeat = plan.ddrProgramsBeat;
  for (size_t i = 0; i < plan.programs.size(); ++i) {
    const DeviceProgram &p = plan.programs[i];
    json regions = json::array();
    for (const ProgramRegion &r : p.regions)
      regions.push_back({{"name", r.name}, {"first", r.first}, {"last", r.last}});
    programs.push_back({{"name", p.name},
                        {"section", "program." + p.name},
                        {"token_capacity", p.tokenCapacity},
                        {"instructions", p.instructions.size()},
                        {"ddr_beat", progBeat},
                        {"abuf_peak_beats", p.abufPeakBeats},
                        {"regions", regions}});
    progBeat += alignUp(streams[i].size(), 64 * B) / B;
  }
  j["programs"] = programs;
  json hbm = json::array();
  for (unsigned c = 0; c < isa::kHbmChannels; ++c)
    hbm.push_back({{"channel", c}, {"section", sections[c].name}, {"beat", 0},
                   {"beats", perChannel}});
  json kv = json::array();
  for (const KvCacheRegion &r : plan.kvCache)
    kv.push_back({{"layer", r.layer}, {"kind", r.isValue ? "v" : "k"},
                  {"hbm_beat", r.hbmAddr}, {"rows", r.rows}, {"row_beats", r.rowBeats},
                  {"row_stride", r.rowStride}});
  j["memory"] = {
      {"hbm", hbm},
      {"kv_cache", kv},
      {"ddr",
       {{{"name", "params"}, {"section", "ddr.params"}, {"beat", plan.ddrParamsBeat},
         {"beats", plan.ddrParamsBeats}},
        {{"name", "rope_table"}, {"section", "ddr.rope_table"}, {"beat", plan.ddrTableBeat},
         {"beats", plan.ddrTableBeats}}}},
      {"input", {{"ddr_beat", plan.ddrInputBeat}, {"beats", plan.ddrInputBeats},
                 {"channels", m.hidden}}},
      {"logits", {{"ddr_beat", plan.ddrLogitsBeat}, {"beats", plan.ddrLogitsBeats},
                  {"channels", m.vocab}}},
      {"last_row", {{"ddr_beat", plan.ddrRowBeat}, {"beats", plan.ddrRowBeats}}},
      {"programs_beat", plan.ddrProgramsBeat}};
  json weights = json::array();
  for (const PlacedWeight &w : plan.weights)
    weights.push_back({{"name", w.name}, {"encoding", encodingName(w.encoding)},
                       {"memory", w.inHbm ? "hbm" : "ddr"}, {"n", w.n}, {"k", w.k},
                       {"tile_rows", w.tileRows}, {"beat", w.beat}, {"beats", w.beats},
                       {"layer", w.layer}, {"sparsity", uint32_t(w.sparsity)}});
  j["weight_map"] = weights;
  j["host"] = {{"embedding", {{"section", "host.embedding"}, {"dtype", "f16"},
                              {"rows", plan.embedding.n}, {"cols", plan.embedding.k}}}};
  j["tokenizer"] = tokenizer.empty() ? json(nullptr) : json("tokenizer.model");
  json secs = json::array();
  for (const Section &s : sections)
    secs.push_back({{"name", s.name}, {"offset", s.offset}, {"size", s.size}, {"crc32", s.crc}});
  j["sections"] = secs;
  std::string manifest = j.dump(1);

  package::Header h;
  h.manifestOffset = cursor;
  h.manifestSize = manifest.size();
  h.manifestCrc = package::Crc32::compute(manifest.data(), manifest.size());
  h.fileSize = cursor + manifest.size();
  auto header = package::encodeHeader(h);
  if (!out.write(cursor, manifest.data(), manifest.size(), error) ||
      !out.write(0, header.data(), header.size(), error))
    return false;
  if (::fsync(out.fd) != 0 && errno != EINVAL) {
    error = std::string("fsync failed: ") + std::strerror(errno);
    return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": cannot rename from " + tmp + ": " + std::strerror(errno);
    return false;
  }
  ok = true;
  if (stats) {
    stats->fileBytes = h.fileSize;
    stats->hbmWeightBytes = plan.hbmStreamBeats * B;
    stats->packedLinearWeights = linearWeights;
    stats->bitsPerWeight = linearWeights ? double(stats->hbmWeightBytes) * 8 / linearWeights : 0;
  }
  return true;
}
