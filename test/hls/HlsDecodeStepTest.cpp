//===- HlsDecodeStepTest.cpp - The tiny ChatGLM2 step on the HLS kernel ----===//
//
// The tiny ChatGLM2 packages (INT4 dense and 75% sparse, FP16 weights,
// compiled by edgellm-compile in the ctest fixture hls.package.*) run on the
// HLS kernel in C simulation and on the golden model, as the runtime runs them
// (docs/package-format.md, "To run a step"): HBM and DDR sections loaded,
// the program streams in DDR, token embeddings written to the input region,
// R1/R2/R3 set; a prefill of several tokens, then decode steps of one token,
// and the prefill_last program (the last token's logits alone).
// After every run, every bit is compared: the logits region first, then all
// of DDR, every pseudo-channel (weights and KV cache) and the four on-chip
// buffers.
//
//===----------------------------------------------------------------------===//

#include "HlsBench.h"

#include "edgellm/hw/IsaNumerics.h"
#include "edgellm/hw/IsaStream.h"
#include "runtime/package/Package.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

using namespace edgellm;
using namespace edgellm::hls;
using namespace edgellm::hls::test;
using json = nlohmann::json;

namespace {

struct Program {
  std::vector<isa::Instruction> code;
  uint64_t ddrBeat = 0; ///< the stream (header first) in DDR
  uint32_t capacity = 0;
};

/// A package loaded into both the golden model and the HLS testbench.
class TinyModel {
public:
  bool open(const std::string &path, std::string &error) {
    std::string err;
    auto t = hw::loadTargetByName("vcu128", err);
    if (!t) {
      error = err;
      return false;
    }
    target_ = *t;
    pkg_ = package::Package::open(path, error);
    if (!pkg_)
      return false;
    const json &m = pkg_->manifest();
    const json &mem = m.at("memory");
    hidden_ = m.at("model").at("hidden");
    vocab_ = m.at("model").at("vocab");
    inputBeat_ = mem.at("input").at("ddr_beat");
    logitsBeat_ = mem.at("logits").at("ddr_beat");
    logitsBeats_ = mem.at("logits").at("beats");
    // What the programs touch: the weight images and the KV cache per
    // pseudo-channel; parameters, table, input, logits and programs in DDR.
    std::array<uint64_t, isa::kHbmChannels> hbm{};
    for (const json &h : mem.at("hbm")) {
      uint64_t ch = h.at("channel"), end = h.at("beat").get<uint64_t>() + h.at("beats").get<uint64_t>();
      hbm[ch] = std::max(hbm[ch], end);
    }
    if (!package::kvCacheExtents(m, hbm, error))
      return false;
    uint64_t ddr = 0;
    for (const json &d : mem.at("ddr"))
      ddr = std::max(ddr, d.at("beat").get<uint64_t>() + d.at("beats").get<uint64_t>());
    ddr = std::max(ddr, inputBeat_ + mem.at("input").at("beats").get<uint64_t>());
    ddr = std::max(ddr, logitsBeat_ + logitsBeats_);
    for (const json &p : m.at("programs")) {
      Program prog;
      package::Bytes s = pkg_->section(p.at("section"));
      if (!isa::readStream(s.data, s.size, prog.code, error))
        return false;
      prog.ddrBeat = p.at("ddr_beat");
      prog.capacity = p.at("token_capacity");
      ddr = std::max(ddr, prog.ddrBeat + s.size / isa::kBeatBytes);
      programs_[p.at("name")] = std::move(prog);
    }
    ddrBeats_ = ddr;
    golden_ = std::make_unique<sim::GoldenModel>(target_);
    bench_ = std::make_unique<Bench>(ddr, hbm);
    csim::resetBuffers();
    // Load everything into both (copies, not mappings: both own their bytes).
    for (const json &h : mem.at("hbm")) {
      package::Bytes b = pkg_->section(h.at("section"));
      uint64_t addr = (h.at("channel").get<uint64_t>() << 23) + h.at("beat").get<uint64_t>();
      golden_->hbm().write(addr * isa::kBeatBytes, b.data, b.size);
      std::memcpy(bench_->hbmBytes(addr), b.data, b.size);
    }
    for (const json &d : mem.at("ddr"))
      writeDdr(d.at("beat"), pkg_->section(d.at("section")));
    for (const json &p : m.at("programs"))
      writeDdr(p.at("ddr_beat"), pkg_->section(p.at("section")));
    embedding_ = pkg_->section(m.at("host").at("embedding").at("section"));
    return true;
  }

  /// Runs one step of `tokens` at position `pos` through program `name`
  /// (prefill, decode, prefill_last) on both and compares.
  void step(const std::string &name, const std::vector<int32_t> &tokens, uint32_t pos,
            const std::string &what) {
    ASSERT_EQ(programs_.count(name), 1u) << what << ": the package has no program " << name;
    const Program &p = programs_.at(name);
    ASSERT_LE(tokens.size(), p.capacity);
    // Input [hidden/16, S, 16]: lane c % 16 of beat (c / 16) * S + t.
    const uint64_t S = p.capacity, hb = (hidden_ + 15) / 16;
    std::vector<uint16_t> x(hb * S * 16, 0);
    for (size_t t = 0; t < tokens.size(); ++t)
      for (uint64_t c = 0; c < hidden_; ++c)
        std::memcpy(&x[((c / 16) * S + t) * 16 + c % 16],
                    embedding_.data + (uint64_t(tokens[t]) * hidden_ + c) * 2, 2);
    writeDdr(inputBeat_, {reinterpret_cast<const uint8_t *>(x.data()), x.size() * 2});
    for (auto [r, v] : {std::pair{isa::kRegPos, pos}, {isa::kRegPast, pos},
                        {isa::kRegNumTokens, uint32_t(tokens.size())}}) {
      golden_->setReg(r, v);
      bench_->setReg(r, v);
    }
    sim::RunResult want = golden_->run(p.code);
    ASSERT_TRUE(want.ok()) << what << ": golden model: " << want.message << " at "
                           << want.faultIndex;
    RunStatus got = bench_->start(p.ddrBeat + 1, uint32_t(p.code.size()));
    ASSERT_EQ(got.fault, isa::Fault::None) << what << ": HLS kernel fault " << uint32_t(got.fault)
                                           << " at instruction " << got.faultIndex;
    EXPECT_EQ(got.status, isa::ctrl::kStatusDone) << what;
    EXPECT_EQ(csim::outsideExtents(), 0u) << what << ": the kernel accessed memory the "
                                                     "testbench did not allocate";
    csim::Counters n = csim::counters();
    EXPECT_EQ(n.dispatched, p.code.size()) << what;
    EXPECT_GT(n.compute, 0u) << what;
    // The logits must be a real result (finite, not all equal) for the
    // comparison to mean something.
    std::vector<uint16_t> y(logitsBeats_ * 16);
    golden_->ddr().read(logitsBeat_ * isa::kBeatBytes, y.data(), y.size() * 2);
    // (prefill_last writes the last token's logits alone, as row 0.)
    float lo = INFINITY, hi = -INFINITY;
    for (size_t t = 0; t < (name == "prefill_last" ? 1 : tokens.size()); ++t)
      for (uint64_t v = 0; v < vocab_; ++v) {
        float f = isa::f16ToF32(y[((v / 16) * S + t) * 16 + v % 16]);
        ASSERT_TRUE(std::isfinite(f)) << what << ": golden logit " << v << " of token " << t;
        lo = std::min(lo, f), hi = std::max(hi, f);
      }
    EXPECT_LT(lo, hi) << what;
    EXPECT_EQ(compareDdr(*golden_, *bench_, logitsBeat_, logitsBeats_), "") << what << ": logits";
    EXPECT_EQ(compareDdr(*golden_, *bench_, 0, ddrBeats_), "") << what << ": DDR";
    EXPECT_EQ(compareHbm(*golden_, *bench_), "") << what << ": HBM (KV cache)";
    EXPECT_EQ(compareBuffers(*golden_), "") << what << ": on-chip buffers";
    for (unsigned r = 1; r < isa::kNumRegs; ++r)
      EXPECT_EQ(bench_->reg(r), golden_->reg(r)) << what << ": R" << r;
  }

  Bench &bench() { return *bench_; }
  const json &manifest() const { return pkg_->manifest(); }
  sim::GoldenModel &golden() { return *golden_; }
  uint64_t logitsBeat() const { return logitsBeat_; }
  uint64_t logitsBeats() const { return logitsBeats_; }

private:
  void writeDdr(uint64_t beat, package::Bytes b) {
    golden_->ddr().write(beat * isa::kBeatBytes, b.data, b.size);
    std::memcpy(bench_->ddrBytes(beat), b.data, b.size);
  }

  hw::TargetDesc target_;
  std::unique_ptr<package::Package> pkg_;
  std::unique_ptr<sim::GoldenModel> golden_;
  std::unique_ptr<Bench> bench_;
  std::map<std::string, Program> programs_; ///< by name
  package::Bytes embedding_;
  uint64_t hidden_ = 0, vocab_ = 0, inputBeat_ = 0, logitsBeat_ = 0, logitsBeats_ = 0,
           ddrBeats_ = 0;
};

std::string packagePath(const char *name) {
  return std::string(EDGELLM_HLS_PACKAGES) + "/" + name;
}

/// [gMASK] sop and a few prompt tokens of the tiny tokenizer.
const std::vector<int32_t> kPrompt = {3001, 3003, 944, 1119, 999};

class TinyChatGlm2 : public ::testing::TestWithParam<const char *> {};

} // namespace

TEST_P(TinyChatGlm2, PrefillThenDecodeStepsMatchGoldenBitForBit) {
  std::string path = packagePath(GetParam()), error;
  ASSERT_TRUE(std::filesystem::exists(path))
      << path << " is missing: run the ctest fixture (ctest -R hls.package) first";
  TinyModel tm;
  ASSERT_TRUE(tm.open(path, error)) << error;
  tm.step("prefill", kPrompt, 0, "prefill of 5 tokens");
  tm.step("decode", {576}, 5, "decode step at position 5");
  tm.step("decode", {944}, 6, "decode step at position 6");
  // A prefill chunk after a cached past (the prefill program at R2 > 0).
  tm.step("prefill", {983, 1133}, 7, "prefill of 2 tokens after 7 cached");
  // The last token's logits alone (what a prompt runs), after a cached past.
  tm.step("prefill_last", {576, 944, 983}, 9, "prefill_last of 3 tokens after 9 cached");
}

TEST_P(TinyChatGlm2, UnderRandomIssueTheStepsStillMatchGoldenBitForBit) {
  // The engines in a random order the tokens allow (dispatch running ahead at
  // random points), as concurrent engines on the board may run them; the
  // golden model keeps its own order. The compiler's tokens must make the
  // results independent of the order.
  std::string path = packagePath(GetParam()), error;
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing";
  struct Restore {
    ~Restore() { csim::setRandomIssue(false); }
  } restore;
  for (uint64_t seed : {11u, 12u, 13u}) {
    csim::setRandomIssue(true, seed);
    TinyModel tm;
    ASSERT_TRUE(tm.open(path, error)) << error;
    std::string s = " (random issue, seed " + std::to_string(seed) + ")";
    tm.step("prefill", kPrompt, 0, "prefill of 5 tokens" + s);
    tm.step("decode", {576}, 5, "decode step at position 5" + s);
    tm.step("prefill_last", {944, 983}, 6, "prefill_last of 2 tokens" + s);
  }
}

INSTANTIATE_TEST_SUITE_P(Packages, TinyChatGlm2,
                         ::testing::Values("tiny-int4.elpkg", "tiny-int4-s75.elpkg",
                                           "tiny-fp16.elpkg"),
                         [](const auto &info) {
                           std::string p = info.param;
                           return p.find("s75") != std::string::npos    ? "Int4Sparse75"
                                  : p.find("int4") != std::string::npos ? "Int4"
                                                                        : "Fp16";
                         });

TEST(TinyChatGlm2Control, OneFlippedWeightBitChangesTheLogits) {
  // The comparison can fail: the same decode step with one bit of one weight
  // tile changed in the kernel's HBM gives other logits than the golden model.
  std::string path = packagePath("tiny-int4.elpkg"), error;
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing";
  TinyModel tm;
  ASSERT_TRUE(tm.open(path, error)) << error;
  tm.step("prefill", kPrompt, 0, "prefill");
  // The output layer's weights (the INT4 matrix with n = vocab): stream beat
  // `beat` + 1 is the first payload beat of its row 0 (stream beat p is beat
  // p / 32 of pseudo-channel p % 32). Flip one bit of weight 1 of logit 0.
  uint64_t stream = 0;
  for (const json &w : tm.manifest().at("weight_map"))
    if (w.at("encoding") == "int4_rows" && w.at("n") == tm.manifest().at("model").at("vocab"))
      stream = w.at("beat").get<uint64_t>() + 1;
  ASSERT_GT(stream, 1u);
  tm.bench().hbmBytes(((stream % 32) << 23) + stream / 32)[0] ^= 0x40;
  // The same step as above, but its comparison failures are caught here.
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    tm.step("decode", {576}, 5, "decode with a flipped weight bit");
  }
  bool logitsDiffer = false;
  for (int i = 0; i < failures.size(); ++i)
    logitsDiffer |= std::string(failures.GetTestPartResult(i).message()).find("logits") !=
                    std::string::npos;
  EXPECT_TRUE(logitsDiffer) << "a flipped weight bit went unnoticed (" << failures.size()
                            << " failures reported)";
}
