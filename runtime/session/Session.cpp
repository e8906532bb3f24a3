//===- Session.cpp - Running a package ------------------------------------===//

#include "runtime/session/Session.h"
#include "edgellm/hw/IsaNumerics.h"
#include "edgellm/hw/IsaStream.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <sys/mman.h>
#include <unistd.h>

using namespace edgellm;
using namespace edgellm::runtime;
using json = nlohmann::json;

namespace {

/// Copies the per-channel HBM sections into the stream-ordered buffer
/// (stream beat p = beat p / 32 of channel p % 32), offset block by offset
/// block (sequential writes, 32 sequential read streams), on two threads,
/// releasing the copied section pages as it goes.
void destripe(const std::vector<std::pair<uint64_t, package::Bytes>> &hbm, uint8_t *stream) {
  const uint64_t B = isa::kBeatBytes, C = isa::kHbmChannels;
  const uint8_t *src[isa::kHbmChannels] = {};
  uint64_t beats[isa::kHbmChannels] = {}, perChannel = 0;
  for (auto &[ch, b] : hbm) {
    src[ch] = b.data;
    beats[ch] = b.size / B;
    perChannel = std::max(perChannel, beats[ch]);
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

std::unique_ptr<Session> Session::open(const std::string &path, std::string &error) {
  std::unique_ptr<Session> s(new Session());
  s->pkg_ = package::Package::open(path, error);
  if (!s->pkg_)
    return nullptr;
  const json &m = s->pkg_->manifest();
  auto fail = [&](const std::string &what) -> std::unique_ptr<Session> {
    error = path + ": " + what;
    return nullptr;
  };
  try {
    std::string targetName = m.at("target").at("name");
    if (m.at("target").at("isa_version").get<unsigned>() != isa::kVersionMajor)
      return fail("built for ISA version " + m.at("target").at("isa_version").dump() +
                  ", this runtime speaks " + std::to_string(isa::kVersionMajor));
    auto t = hw::loadTargetByName(targetName, error);
    if (!t)
      return fail("target '" + targetName + "': " + error);
    s->target_ = *t;
    const json &model = m.at("model");
    s->info_.layers = model.at("layers");
    s->info_.hidden = model.at("hidden");
    s->info_.vocab = model.at("vocab");
    s->info_.maxContext = m.at("max_context");
    const json &mem = m.at("memory");
    s->inputBeat_ = mem.at("input").at("ddr_beat");
    s->logitsBeat_ = mem.at("logits").at("ddr_beat");
    if (mem.at("input").at("channels").get<int64_t>() != s->info_.hidden ||
        mem.at("logits").at("channels").get<int64_t>() != s->info_.vocab)
      return fail("manifest: memory: input/logits channels disagree with the model");
    s->device_ = std::make_unique<sim::GoldenModel>(s->target_);
    std::vector<std::pair<uint64_t, package::Bytes>> hbm;
    uint64_t perChannel = 0;
    for (const json &h : mem.at("hbm")) {
      package::Bytes b = s->pkg_->section(h.at("section"));
      uint64_t ch = h.at("channel"), beats = h.at("beats");
      if (ch >= isa::kHbmChannels || b.size != beats * isa::kBeatBytes)
        return fail("manifest: memory: hbm: section " + h.at("section").dump() +
                    " does not match its channel/size");
      hbm.emplace_back(ch, b);
      perChannel = std::max(perChannel, beats);
    }
    // The sim keeps HBM channels 0..31 in stream order (docs/simulator.md):
    // one sequential pass de-stripes the per-channel sections into a private
    // buffer, dropping the section pages already copied from the process
    // (MADV_DONTNEED) so the resident size stays one copy. With
    // EDGELLM_SIM_HBM=mapped the sections are mapped instead (copy-on-write).
    const char *hbmMode = std::getenv("EDGELLM_SIM_HBM");
    uint8_t *stream = nullptr;
    if (!hbm.empty() && !(hbmMode && std::strcmp(hbmMode, "mapped") == 0))
      stream = s->device_->stripeHbm(perChannel);
    if (stream) {
      destripe(hbm, stream);
    } else {
      for (auto &[ch, b] : hbm) // mapped, not copied: pages share the package's mmap
        s->device_->hbm().map((ch << 23) * isa::kBeatBytes, b.data, b.size);
    }
    for (const json &d : mem.at("ddr")) {
      package::Bytes b = s->pkg_->section(d.at("section"));
      uint64_t beat = d.at("beat"), beats = d.at("beats");
      if (b.size != beats * isa::kBeatBytes)
        return fail("manifest: memory: ddr: section " + d.at("section").dump() +
                    " has the wrong size");
      s->device_->ddr().map(beat * isa::kBeatBytes, b.data, b.size);
    }
    const json &emb = m.at("host").at("embedding");
    s->embedding_ = s->pkg_->section(emb.at("section"));
    if (emb.at("rows").get<int64_t>() * emb.at("cols").get<int64_t>() * 2 !=
            int64_t(s->embedding_.size) ||
        emb.at("cols").get<int64_t>() != s->info_.hidden)
      return fail("manifest: host: embedding: wrong size");
    for (const json &p : m.at("programs")) {
      Program prog;
      prog.name = p.at("name");
      prog.capacity = p.at("token_capacity");
      package::Bytes b = s->pkg_->section(p.at("section"));
      if (!b.data)
        return fail("program section " + p.at("section").dump() + " is missing");
      std::string err;
      if (!isa::readStream(b.data, b.size, prog.code, err))
        return fail("program " + prog.name + ": " + err);
      if (prog.name == "prefill")
        s->prefill_ = std::move(prog);
      else if (prog.name == "decode")
        s->decode_ = std::move(prog);
    }
    if (s->prefill_.code.empty() || s->decode_.code.empty())
      return fail("the package lacks the prefill or the decode program");
    if (m.contains("tokenizer") && m["tokenizer"].is_string()) {
      package::Bytes b = s->pkg_->section(m["tokenizer"]);
      if (!b.data)
        return fail("tokenizer section " + m["tokenizer"].dump() + " is missing");
      std::string err;
      s->tokenizer_ = Tokenizer::fromModelBytes(
          std::string(reinterpret_cast<const char *>(b.data), b.size), err);
      if (!s->tokenizer_)
        return fail(err);
    }
  } catch (const std::exception &e) {
    return fail(std::string("manifest: ") + e.what());
  }
  return s;
}

bool Session::forward(const std::vector<int32_t> &tokens, bool stepwise,
                      std::vector<float> &logits, std::string &error) {
  const Program &p = stepwise ? decode_ : prefill_;
  for (size_t i = 0; i < tokens.size();) {
    uint32_t n = uint32_t(std::min<size_t>(p.capacity, tokens.size() - i));
    if (!run(p, tokens.data() + i, n, logits, error))
      return false;
    i += n;
  }
  return true;
}

bool Session::run(const Program &p, const int32_t *tokens, uint32_t n, std::vector<float> &logits,
                  std::string &error) {
  if (past_ + n > info_.maxContext) {
    error = "the context is full: " + std::to_string(past_) + " + " + std::to_string(n) +
            " tokens exceed the package's " + std::to_string(info_.maxContext);
    return false;
  }
  const int64_t H = info_.hidden, V = info_.vocab, S = p.capacity;
  const int64_t hb = (H + 15) / 16, vb = (V + 15) / 16;
  // Input [H/16, S, 16] FP16: lane c % 16 of beat (c / 16) * S + token.
  std::vector<uint16_t> x(size_t(hb * S * 16), 0);
  const auto *table = reinterpret_cast<const uint8_t *>(embedding_.data);
  int64_t rows = int64_t(embedding_.size) / (2 * H);
  for (uint32_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= rows) {
      error = "token id " + std::to_string(tokens[t]) + " is outside the vocabulary [0, " +
              std::to_string(rows) + ")";
      return false;
    }
    for (int64_t c = 0; c < H; ++c)
      std::memcpy(&x[size_t(((c / 16) * S + t) * 16 + c % 16)],
                  table + (int64_t(tokens[t]) * H + c) * 2, 2);
  }
  device_->ddr().write(inputBeat_ * isa::kBeatBytes, x.data(), x.size() * 2);
  cached_.resize(size_t(past_));
  cached_.insert(cached_.end(), tokens, tokens + n);
  runs_.push_back({&p == &decode_, uint32_t(past_), n});
  device_->setReg(isa::kRegPos, uint32_t(past_));
  device_->setReg(isa::kRegPast, uint32_t(past_));
  device_->setReg(isa::kRegNumTokens, n);
  sim::RunResult r = device_->run(p.code);
  if (!r.ok()) {
    error = "device fault in " + p.name + " at instruction " + std::to_string(r.faultIndex) +
            ": " + r.message;
    return false;
  }
  std::vector<uint16_t> y(size_t(vb * S * 16));
  device_->ddr().read(logitsBeat_ * isa::kBeatBytes, y.data(), y.size() * 2);
  size_t base = logits.size();
  logits.resize(base + size_t(n) * size_t(V));
  for (uint32_t t = 0; t < n; ++t)
    for (int64_t v = 0; v < V; ++v)
      logits[base + size_t(t) * size_t(V) + size_t(v)] =
          isa::f16ToF32(y[size_t(((v / 16) * S + t) * 16 + v % 16)]);
  past_ += n;
  return true;
}

bool Session::generate(const std::vector<int32_t> &prompt, const GenerationOptions &options,
                       const std::function<bool(int32_t)> &onToken, std::vector<int32_t> &out,
                       std::string &error, GenerationStats *stats) {
  using clock = std::chrono::steady_clock;
  GenerationStats st;
  st.promptTokens = int64_t(prompt.size());
  if (prompt.empty()) {
    error = "empty prompt";
    return false;
  }
  // Reuse the cached prefix (at least the last prompt token is run again:
  // its logits start the answer).
  size_t keep = 0;
  while (keep < cached_.size() && keep + 1 < prompt.size() && cached_[keep] == prompt[keep])
    ++keep;
  past_ = int64_t(keep);
  cached_.resize(keep);
  st.reusedTokens = int64_t(keep);
  std::vector<float> logits;
  auto t0 = clock::now();
  std::vector<int32_t> rest(prompt.begin() + long(keep), prompt.end());
  if (!forward(rest, false, logits, error))
    return false;
  auto t1 = clock::now();
  st.prefillSeconds = std::chrono::duration<double>(t1 - t0).count();
  Sampler sampler(options.sampling);
  std::vector<int32_t> seen = prompt;
  const float *last = logits.data() + logits.size() - size_t(info_.vocab);
  std::vector<float> step;
  out.clear();
  for (int i = 0; i < options.maxNewTokens; ++i) {
    int32_t t = sampler.next(last, info_.vocab, seen);
    if (options.stopAtEos && tokenizer_ && t == tokenizer_->eos())
      break;
    out.push_back(t);
    seen.push_back(t);
    ++st.newTokens;
    if (onToken && !onToken(t))
      break;
    if (i + 1 == options.maxNewTokens || past_ + 1 > info_.maxContext)
      break;
    step.clear();
    if (!forward({t}, true, step, error))
      return false;
    last = step.data();
  }
  st.decodeSeconds = std::chrono::duration<double>(clock::now() - t1).count();
  if (stats)
    *stats = st;
  return true;
}

hw::TimingReport Session::modelStep(bool decode, uint32_t past, uint32_t ntok) const {
  std::array<uint32_t, isa::kNumRegs> regs{};
  regs[isa::kRegPos] = past;
  regs[isa::kRegPast] = past;
  regs[isa::kRegNumTokens] = ntok;
  return hw::simulateTiming(target_, decode ? decode_.code : prefill_.code, regs);
}

bool Session::writeTrace(const std::string &path, std::string &error) const {
  std::string tmp = path + ".tmp";
  FILE *f = std::fopen(tmp.c_str(), "w");
  if (!f) {
    error = path + ": cannot write";
    return false;
  }
  std::fprintf(f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
  const char *tracks[5] = {"dispatch", "load DMA", "compute", "store DMA", "PCIe"};
  for (int e = 0; e < 5; ++e)
    std::fprintf(f,
                 "%s\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,"
                 "\"args\":{\"name\":\"%s\"}},\n{\"name\":\"thread_sort_index\",\"ph\":\"M\","
                 "\"pid\":1,\"tid\":%d,\"args\":{\"sort_index\":%d}}",
                 e ? "," : "", e, tracks[e], e, e);
  // PCIe: the step's embeddings in, its logits out (latency + bytes / rate).
  auto pcieNs = [&](double bytes) {
    return target_.pcie.latencyUs * 1e3 + bytes / target_.pcie.bandwidthGBps;
  };
  double t = 0;
  for (size_t i = 0; i < runs_.size(); ++i) {
    const RunRecord &r = runs_[i];
    double in = pcieNs(double(r.ntok) * double(info_.hidden) * 2);
    std::fprintf(f,
                 ",\n{\"name\":\"embeddings in (run %zu)\",\"ph\":\"X\",\"pid\":1,"
                 "\"tid\":4,\"ts\":%.6f,\"dur\":%.6f}",
                 i, t * 1e-3, in * 1e-3);
    t += in;
    std::array<uint32_t, isa::kNumRegs> regs{};
    regs[isa::kRegPos] = r.past;
    regs[isa::kRegPast] = r.past;
    regs[isa::kRegNumTokens] = r.ntok;
    hw::TimingReport tr =
        hw::simulateTiming(target_, r.decode ? decode_.code : prefill_.code, regs, {}, true);
    if (!tr.ok()) {
      std::fclose(f);
      std::remove(tmp.c_str());
      error = "timing model: " + tr.error;
      return false;
    }
    std::fprintf(f,
                 ",\n{\"name\":\"%s run %zu: %u tokens after %u\",\"ph\":\"i\",\"s\":\"g\","
                 "\"pid\":1,\"tid\":0,\"ts\":%.6f}",
                 r.decode ? "decode" : "prefill", i, r.ntok, r.past, t * 1e-3);
    for (const hw::TimingEvent &ev : tr.events)
      std::fprintf(f,
                   ",\n{\"name\":\"%s #%u\",\"ph\":\"X\",\"pid\":1,\"tid\":%u,"
                   "\"ts\":%.6f,\"dur\":%.6f}",
                   ev.mnemonic, ev.index, ev.engine, (t + ev.startNs) * 1e-3,
                   (ev.endNs - ev.startNs) * 1e-3);
    t += tr.ns;
    double out = pcieNs(double(r.ntok) * double(info_.vocab) * 2);
    std::fprintf(f,
                 ",\n{\"name\":\"logits out (run %zu)\",\"ph\":\"X\",\"pid\":1,"
                 "\"tid\":4,\"ts\":%.6f,\"dur\":%.6f}",
                 i, t * 1e-3, out * 1e-3);
    t += out;
  }
  std::fprintf(f, "\n]}\n");
  bool ok = std::fclose(f) == 0 && std::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    std::remove(tmp.c_str());
    error = path + ": cannot write";
  }
  return ok;
}
