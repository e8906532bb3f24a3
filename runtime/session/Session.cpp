//===- Session.cpp - Running a package ------------------------------------===//

#include "runtime/session/Session.h"
#include "edgellm/hw/AtomicFile.h"
#include "edgellm/hw/IsaNumerics.h"
#include "edgellm/hw/IsaStream.h"
#include "runtime/device/sim/SimDevice.h"
#ifdef EDGELLM_HAVE_XRT
#include "runtime/device/xrt/XrtDevice.h"
#endif

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include <sys/mman.h>
#include <unistd.h>

using namespace edgellm;
using namespace edgellm::runtime;
using json = nlohmann::json;

std::unique_ptr<Session> Session::open(const std::string &path, std::string &error,
                                       const DeviceOptions &options) {
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
    // The device, and its banks: every HBM channel up to its weights and
    // KV cache, DDR up to the last region (programs included).
    if (options.device == "sim") {
      std::string err;
      if (!SimDevice::checkEnvironment(err))
        return fail(err);
      auto sim = std::make_unique<SimDevice>(s->target_);
      if (options.randomIssueSeed)
        sim->setRandomIssue(options.randomIssueSeed);
      s->device_ = std::move(sim);
    } else if (options.device == "xrt") {
#ifdef EDGELLM_HAVE_XRT
      if (options.xclbin.empty())
        return fail("device xrt: give the accelerator's xclbin (--xclbin=FILE)");
      std::string err;
      s->device_ = openXrtDevice(options.xclbin, options.deviceIndex, err);
      if (!s->device_)
        return fail("device xrt: " + err);
#else
      return fail("device xrt: this build has no XRT (install libxrt-dev and uuid-dev)");
#endif
    } else {
      return fail("unknown device '" + options.device + "' (sim or xrt)");
    }
    std::array<uint64_t, isa::kHbmChannels> hbmBeats{};
    std::vector<Device::ChannelImage> hbm;
    for (const json &h : mem.at("hbm")) {
      package::Bytes b = s->pkg_->section(h.at("section"));
      uint64_t ch = h.at("channel"), beats = h.at("beats");
      if (ch >= isa::kHbmChannels || b.size != beats * isa::kBeatBytes)
        return fail("manifest: memory: hbm: section " + h.at("section").dump() +
                    " does not match its channel/size");
      hbm.push_back({unsigned(ch), b.data, b.size});
      hbmBeats[ch] = std::max(hbmBeats[ch], beats);
    }
    std::string kvError;
    if (!package::kvCacheExtents(m, hbmBeats, kvError))
      return fail(kvError);
    uint64_t ddrBeats = std::max<uint64_t>(s->inputBeat_ + mem.at("input").at("beats").get<uint64_t>(),
                                           s->logitsBeat_ + mem.at("logits").at("beats").get<uint64_t>());
    for (const json &d : mem.at("ddr"))
      ddrBeats = std::max<uint64_t>(ddrBeats, d.at("beat").get<uint64_t>() + d.at("beats").get<uint64_t>());
    for (const json &p : m.at("programs"))
      ddrBeats = std::max<uint64_t>(ddrBeats, p.at("ddr_beat").get<uint64_t>() +
                                                  p.at("instructions").get<uint64_t>() + 1);
    std::string err;
    for (unsigned ch = 0; ch < isa::kHbmChannels; ++ch)
      if (hbmBeats[ch] && !s->device_->allocate({isa::ExtMem::Hbm, ch}, hbmBeats[ch], err))
        return fail(err);
    if (!s->device_->allocate({isa::ExtMem::Ddr, 0}, ddrBeats, err))
      return fail(err);
    std::vector<package::WeightTile> tiles;
    if (!package::weightTiles(m, tiles, err))
      return fail(err);
    if (!s->device_->loadHbmImages(hbm, tiles, err))
      return fail(err);
    for (const json &d : mem.at("ddr")) {
      package::Bytes b = s->pkg_->section(d.at("section"));
      uint64_t beat = d.at("beat"), beats = d.at("beats");
      if (b.size != beats * isa::kBeatBytes)
        return fail("manifest: memory: ddr: section " + d.at("section").dump() +
                    " has the wrong size");
      if (!s->device_->writeShared(isa::ExtMem::Ddr, beat * isa::kBeatBytes, b.data, b.size, err))
        return fail(err);
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
      if (!s->device_->loadProgram(prog.name, prog.code, p.at("ddr_beat"), err))
        return fail(err);
      if (prog.name == "prefill")
        s->prefill_ = std::move(prog);
      else if (prog.name == "decode")
        s->decode_ = std::move(prog);
      else if (prog.name == "prefill_last")
        s->prefillLast_ = std::move(prog);
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
                      std::vector<float> &logits, std::string &error, bool lastOnly) {
  const Program &p = programFor(stepwise, lastOnly);
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
  if (!device_->write(isa::ExtMem::Ddr, inputBeat_ * isa::kBeatBytes, x.data(), x.size() * 2,
                      error))
    return false;
  cached_.resize(size_t(past_));
  cached_.insert(cached_.end(), tokens, tokens + n);
  runs_.push_back({&p == &decode_, uint32_t(past_), n, &p == &prefillLast_});
  Registers regs{};
  regs[isa::kRegPos] = uint32_t(past_);
  regs[isa::kRegPast] = uint32_t(past_);
  regs[isa::kRegNumTokens] = n;
  RunStatus st;
  auto t0 = std::chrono::steady_clock::now();
  if (!device_->start(p.name, regs, error) || !device_->wait(st, error))
    return false;
  deviceSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!st.ok()) {
    error = "device fault in " + p.name + " at instruction " + std::to_string(st.faultIndex) +
            ": " + st.message;
    return false;
  }
  deviceNote_ = st.message;
  std::vector<uint16_t> y(size_t(vb * S * 16));
  if (!device_->read(isa::ExtMem::Ddr, logitsBeat_ * isa::kBeatBytes, y.data(), y.size() * 2,
                     error))
    return false;
  // prefill_last: the last token's logits, in row 0.
  const uint32_t outRows = &p == &prefillLast_ ? 1 : n;
  size_t base = logits.size();
  logits.resize(base + size_t(outRows) * size_t(V));
  for (uint32_t t = 0; t < outRows; ++t)
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
  if (!forward(rest, false, logits, error, true))
    return false;
  auto t1 = clock::now();
  st.prefillSeconds = std::chrono::duration<double>(t1 - t0).count();
  double device0 = deviceSeconds_;
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
  st.decodeDeviceSeconds = deviceSeconds_ - device0;
  if (stats)
    *stats = st;
  return true;
}

hw::TimingReport Session::modelStep(bool decode, uint32_t past, uint32_t ntok,
                                    bool keepEvents, bool lastOnly) const {
  const Program &prog = programFor(decode, lastOnly);
  std::array<uint32_t, isa::kNumRegs> regs{};
  regs[isa::kRegPos] = past;
  regs[isa::kRegPast] = past;
  regs[isa::kRegNumTokens] = ntok;
  // The program's regions (layers, head) from the manifest, for per-layer figures.
  std::vector<hw::TimingRegion> regions;
  for (const json &p : pkg_->manifest().at("programs"))
    if (p.value("name", "") == prog.name && p.contains("regions"))
      for (const json &r : p["regions"])
        regions.push_back({r.value("name", ""), r.value("first", 0u), r.value("last", 0u)});
  return hw::simulateTiming(target_, prog.code, regs, regions, keepEvents);
}

bool Session::writeTrace(const std::string &path, std::string &error) const {
  hw::ChromeTrace trace({"PCIe"});
  const unsigned pcie = 4;
  double t = 0;
  for (size_t i = 0; i < runs_.size(); ++i) {
    const RunRecord &r = runs_[i];
    std::string run = " (run " + std::to_string(i) + ")";
    double in = pcieNs(double(r.ntok) * double(info_.hidden) * 2);
    trace.span(pcie, "embeddings in" + run, t, t + in);
    t += in;
    hw::TimingReport tr = modelStep(r.decode, r.past, r.ntok, true, r.lastOnly);
    if (!tr.ok()) {
      error = "timing model: " + tr.error;
      return false;
    }
    trace.marker(std::string(r.decode ? "decode" : r.lastOnly ? "prefill_last" : "prefill") + " run " + std::to_string(i) +
                     ": " + std::to_string(r.ntok) + " tokens after " + std::to_string(r.past),
                 t);
    trace.add(tr, t);
    t += tr.ns;
    double out = pcieNs(double(r.lastOnly ? 1 : r.ntok) * double(info_.vocab) * 2);
    trace.span(pcie, "logits out" + run, t, t + out);
    t += out;
  }
  return hw::writeFileAtomically(
      path,
      [&](std::ostream &f) {
        trace.write(f);
        return true;
      },
      error);
}

double Session::pcieNs(double bytes) const {
  return target_.pcie.latencyUs * 1e3 + bytes / target_.pcie.bandwidthGBps;
}

double Session::pcieSeconds(uint32_t ntok) const {
  return 1e-9 * (pcieNs(double(ntok) * double(info_.hidden) * 2) +
                 pcieNs(double(ntok) * double(info_.vocab) * 2));
}
