//===- HlsInstructionTest.cpp - Every instruction of the HLS kernel vs sim ---===//
//
// Random programs of one instruction kind each (operands staged from DDR by
// `load`s, results left in the buffers or stored back) run through the HLS
// kernel in C simulation and through the golden model; every bit of the four
// on-chip buffers, of DDR and of the used HBM is compared, and the fault code
// and index of faulty programs. Also: the PE's four stages against
// isa::q4GroupDot, and the kernel's constants against hw/targets/vcu128.json.
//
//===----------------------------------------------------------------------===//

#include "Engines.h"
#include "HlsBench.h"

#include "edgellm/hw/IsaNumerics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace edgellm;
using namespace edgellm::isa;
using namespace edgellm::hls;
using namespace edgellm::hls::test;

namespace {

hw::TargetDesc vcu128() {
  std::string error;
  auto t = hw::loadTargetByName("vcu128", error);
  EXPECT_TRUE(t) << error;
  return t ? *t : hw::TargetDesc{};
}

Instruction endInstr() {
  End e;
  e.irq = 1;
  return toInstruction(e);
}
Instruction barrier() { return toInstruction(Barrier{}); }

constexpr uint64_t kBenchDdrBeats = 1 << 16;
constexpr uint64_t kHbmBeatsPerChannel = 4096;
constexpr uint64_t kProgramBeat = kBenchDdrBeats - 8192; ///< programs live at the top of the DDR model

/// A golden model and the HLS kernel with the same memories, and programs
/// run on both.
class Harness {
public:
  explicit Harness(uint32_t seed)
      : target_(vcu128()), g_(target_), b_(kBenchDdrBeats, kHbmBeatsPerChannel), rng_(seed) {
    csim::resetBuffers();
    scale_ = std::ldexp(1.0f, int(rng_() % 9) - 4);
  }

  std::mt19937 &rng() { return rng_; }
  unsigned pick(unsigned lo, unsigned hi) { return lo + unsigned(rng_() % (hi - lo + 1)); }
  bool coin(unsigned percent = 50) { return rng_() % 100 < percent; }

  /// Infinities and NaNs among the random values (they poison whole
  /// reductions, so only some cases have them).
  void setSpecials(bool on) { specials_ = on; }

  /// A random FP16 value: mostly normal values of the case's magnitude, with
  /// zeros, subnormals and (with setSpecials) infinities and NaNs now and then.
  uint16_t f16() {
    unsigned r = rng_() % 1000;
    if (r < 4)
      return uint16_t(rng_() & 0x8000);                    // +-0
    if (r < 8)
      return uint16_t((rng_() & 0x8000) | (rng_() % 0x3ff + 1)); // subnormal
    if (specials_ && r < 10)
      return uint16_t((rng_() & 0x8000) | 0x7c00);         // +-inf
    if (specials_ && r < 12)
      return uint16_t(0x7c00 | (rng_() % 0x3ff + 1) | (rng_() & 0x8000)); // NaN
    std::normal_distribution<float> n(0.0f, scale_);
    return f32ToF16(n(rng_));
  }

  /// Writes `beats` beats to DDR at `ddrBeat` in both models.
  void ddrWrite(uint64_t ddrBeat, const std::vector<uint8_t> &bytes) {
    g_.ddr().write(ddrBeat * kBeatBytes, bytes.data(), bytes.size());
    std::memcpy(b_.ddrBytes(ddrBeat), bytes.data(), bytes.size());
  }
  void hbmWrite(uint64_t addr, const std::vector<uint8_t> &bytes) {
    g_.hbm().write(addr * kBeatBytes, bytes.data(), bytes.size());
    std::memcpy(b_.hbmBytes(addr), bytes.data(), bytes.size());
  }
  void setReg(unsigned r, uint32_t v) {
    g_.setReg(r, v);
    b_.setReg(r, v);
  }

  /// Random FP16 beats.
  std::vector<uint8_t> f16Beats(uint64_t beats) {
    std::vector<uint8_t> v(beats * kBeatBytes);
    for (size_t i = 0; i < v.size(); i += 2) {
      uint16_t h = f16();
      std::memcpy(&v[i], &h, 2);
    }
    return v;
  }
  std::vector<uint8_t> randomBytes(uint64_t n) {
    std::vector<uint8_t> v(n);
    for (auto &x : v)
      x = uint8_t(rng_());
    return v;
  }

  /// Appends a `load` that fills `beats` beats of `buf` at `addr` with
  /// `bytes` (written to a fresh part of DDR).
  void stage(std::vector<Instruction> &prog, Buf buf, uint64_t addr,
             const std::vector<uint8_t> &bytes) {
    uint64_t beats = bytes.size() / kBeatBytes;
    ASSERT_LT(ddrNext_ + beats, kProgramBeat);
    ddrWrite(ddrNext_, bytes);
    Load l;
    l.src_mem = uint32_t(ExtMem::Ddr);
    l.dst_buf = uint32_t(buf);
    l.src_addr = uint32_t(ddrNext_);
    l.dst_addr = uint32_t(addr);
    l.rows = 1;
    l.row_len = uint32_t(beats);
    prog.push_back(toInstruction(l));
    ddrNext_ += beats;
  }
  void stageF16(std::vector<Instruction> &prog, Buf buf, uint64_t addr, uint64_t beats) {
    stage(prog, buf, addr, f16Beats(beats));
  }

  /// Runs `prog` on both models and compares the fault and every memory.
  sim::RunResult runAndCompare(const std::vector<Instruction> &prog, const std::string &what) {
    sim::RunResult want = g_.run(prog);
    RunStatus got = b_.run(kProgramBeat, prog);
    EXPECT_EQ(uint32_t(got.fault), uint32_t(want.fault))
        << what << ": golden says '" << want.message << "' at " << want.faultIndex;
    if (want.fault != Fault::None) {
      EXPECT_EQ(got.faultIndex, want.faultIndex) << what;
      EXPECT_EQ(got.status, ctrl::kStatusDone | ctrl::kStatusFault) << what;
      return want; // memories after a fault are not specified
    }
    EXPECT_EQ(got.status, ctrl::kStatusDone) << what;
    EXPECT_EQ(csim::outsideExtents(), 0u) << what;
    for (unsigned r = 1; r < kNumRegs; ++r)
      EXPECT_EQ(b_.reg(r), g_.reg(r)) << what << ": R" << r;
    EXPECT_EQ(compareBuffers(g_), "") << what;
    EXPECT_EQ(compareDdr(g_, b_, 0, kProgramBeat), "") << what;
    EXPECT_EQ(compareHbm(g_, b_), "") << what;
    ++compared_;
    return want;
  }
  unsigned compared() const { return compared_; }
  sim::GoldenModel &golden() { return g_; }
  Bench &bench() { return b_; }

private:
  hw::TargetDesc target_;
  sim::GoldenModel g_;
  Bench b_;
  std::mt19937 rng_;
  float scale_ = 1.0f;
  bool specials_ = true;
  uint64_t ddrNext_ = 0;
  unsigned compared_ = 0;
};

/// Token capacity for an operand of `rows` rows: at least rows, sometimes more.
uint32_t capacity(Harness &h, uint32_t rows) { return rows + (h.coin() ? h.pick(0, 3) : 0); }
uint64_t beatsOf(uint32_t stride, uint64_t chans) { return ((chans + 15) / 16) * stride; }

/// A row-wise input X and output Y [rows, chans] in ABUF, both staged with
/// random values; Y is exactly X when `inPlace`.
struct XY {
  uint64_t xa, ya;
  uint32_t xs, ys;
};
XY stageXY(Harness &h, std::vector<Instruction> &prog, uint32_t rows, uint64_t chans,
           bool inPlace) {
  XY o;
  o.xs = capacity(h, rows);
  o.ys = inPlace ? o.xs : capacity(h, rows);
  o.xa = h.pick(0, 20);
  o.ya = inPlace ? o.xa : o.xa + beatsOf(o.xs, chans) + h.pick(0, 3);
  if (chans) {
    h.stageF16(prog, Buf::Abuf, o.xa, beatsOf(o.xs, chans));
    if (!inPlace)
      h.stageF16(prog, Buf::Abuf, o.ya, beatsOf(o.ys, chans));
  }
  return o;
}

constexpr int kCases = 24;

} // namespace

//===----------------------------------------------------------------------===//
// Constants and the PE
//===----------------------------------------------------------------------===//

TEST(HlsKernel, ConstantsMatchTheVcu128Target) {
  hw::TargetDesc t = vcu128();
  EXPECT_EQ(kAbufBeats * kBeatBytes, t.onchip.abufKiB << 10);
  EXPECT_EQ(kWbufBeats * kBeatBytes, t.onchip.wbufKiB << 10);
  EXPECT_EQ(kKbufBeats * kBeatBytes, t.onchip.kbufKiB << 10);
  EXPECT_EQ(kPbufBeats * kBeatBytes, t.onchip.pbufKiB << 10);
  EXPECT_EQ(kTokenFifoDepth, t.queues.tokenFifoDepth);
  EXPECT_EQ(kInstrQueueDepth, t.queues.instructionBufferEntries);
  EXPECT_EQ(kPeGroups, t.pe.int4Groups);
  EXPECT_EQ(kPeLanes, t.pe.int4LanesPerGroup);
  EXPECT_EQ(kPeGroups * kPeLanes, t.pe.int4MacsPerCycle);
  EXPECT_EQ(kPeLanes, t.pe.quantGroupSize);
  EXPECT_EQ(kAttnColumns * kLanes, t.pe.fp16MacsPerCycle);
  EXPECT_EQ(4u, t.pe.pipelineStages);
  EXPECT_EQ(kHbmBeats * kBeatBytes, t.hbm.capacityBytes());
  EXPECT_EQ(kDdrBeats * kBeatBytes, t.ddr.capacityMiB << 20);
}

TEST(HlsKernel, PeStagesEqualQ4GroupDotBitForBit) {
  std::mt19937 rng(7);
  unsigned nans = 0, rounded = 0;
  for (int it = 0; it < 20000; ++it) {
    uint16_t x[kPeLanes];
    int8_t w[kPeLanes];
    int mode = it % 5;
    for (unsigned l = 0; l < kPeLanes; ++l) {
      uint32_t r = rng();
      if (mode == 4) { // one sign, big terms at E = 15 and small ones far below
        // it: sums past 24 bits with random low bits (rounding, ties).
        x[l] = l % 2 ? uint16_t(0x3c00 | (r & 0x3ff)) : uint16_t((1 + rng() % 6) << 10 | (r & 0x3ff));
        w[l] = int8_t(1 + rng() % 7);
        continue;
      }
      if (mode == 0)
        x[l] = uint16_t(r); // any bit pattern, specials included
      else if (mode == 1)
        x[l] = uint16_t(r & 0x83ff); // subnormals and zeros
      else
        x[l] = f32ToF16(std::ldexp(float(int(r % 2001) - 1000) / 1000.0f, int(rng() % 20) - 10));
      w[l] = int8_t(int(rng() % 16) - 8);
      if (mode == 3 && rng() % 4)
        w[l] = 0;
    }
    unsigned count = it % 3 == 0 ? 1 + rng() % kPeLanes : kPeLanes;
    float want = q4GroupDot(x, w, count), got = peGroupDot(x, w, count);
    // In mode 4 E = 15, so |S| = |v| * 2^18: count the sums that round.
    if (mode == 4 && std::fabs(want) * std::ldexp(1.0f, 33 - 15) >= std::ldexp(1.0f, 24))
      ++rounded;
    if (std::isnan(want)) {
      ++nans;
      EXPECT_TRUE(std::isnan(got)) << it;
    } else {
      EXPECT_EQ(bitsFromF32(got), bitsFromF32(want)) << it << ": " << got << " vs " << want;
    }
  }
  EXPECT_GT(nans, 100u); // the special inputs were exercised
  EXPECT_GT(rounded, 1000u); // and sums that do not fit 24 bits
}

//===----------------------------------------------------------------------===//
// One instruction kind at a time, random operands
//===----------------------------------------------------------------------===//

TEST(HlsKernel, MmQ4AllDensitiesMatchGolden) {
  Harness h(101);
  for (int c = 0; c < kCases; ++c) {
    std::vector<Instruction> prog;
    h.setSpecials(c % 4 == 3);
    Sparsity sp = Sparsity(c % 4);
    uint32_t M = h.pick(1, 4), K = h.coin(70) ? h.pick(1, 700) : h.pick(1900, 4200),
             N = h.pick(1, 40);
    uint32_t xs = capacity(h, M), ys = capacity(h, M);
    uint64_t xBeats = beatsOf(xs, K), yBeats = beatsOf(ys, N);
    uint64_t xa = h.pick(0, 50), ya = xa + xBeats + h.pick(0, 5);
    uint64_t rowBeats = q4RowBeats(K, sp), fullBlock = q4RowBeats(kQuantBlock, sp);
    uint64_t wa = h.pick(0, 100);
    h.stageF16(prog, Buf::Abuf, xa, xBeats);
    h.stageF16(prog, Buf::Abuf, ya, yBeats); // old contents of Y (overwritten)
    // Weights: random payload bytes (every pattern decodes), FP16 scales.
    std::vector<uint8_t> w = h.randomBytes(rowBeats * N * kBeatBytes);
    for (uint32_t n = 0; n < N; ++n)
      for (uint64_t blk = 0; blk * kQuantBlock < K; ++blk) {
        std::vector<uint8_t> s = h.f16Beats(1);
        std::memcpy(&w[(n * rowBeats + blk * fullBlock) * kBeatBytes], s.data(), kBeatBytes);
      }
    h.stage(prog, Buf::Wbuf, wa, w);
    bool bias = h.coin();
    uint64_t ba = h.pick(0, 64);
    h.stageF16(prog, Buf::Pbuf, ba, (N + 15) / 16);
    prog.push_back(barrier());
    MmQ4 mq;
    mq.x_addr = uint32_t(xa), mq.x_stride = xs;
    mq.w_buf = uint32_t(Buf::Wbuf), mq.w_addr = uint32_t(wa);
    mq.y_addr = uint32_t(ya), mq.y_stride = ys;
    mq.has_bias = bias, mq.b_buf = uint32_t(Buf::Pbuf), mq.b_addr = uint32_t(ba);
    if (h.coin()) { // M from a register
      h.setReg(kRegNumTokens, M - 1);
      mq.m = 1, mq.m_reg = kRegNumTokens;
    } else {
      mq.m = M;
    }
    mq.k = K, mq.n = N, mq.sparsity = uint32_t(sp);
    prog.push_back(toInstruction(mq));
    prog.push_back(endInstr());
    h.runAndCompare(prog, "mm_q4 case " + std::to_string(c) + " M=" + std::to_string(M) +
                              " K=" + std::to_string(K) + " N=" + std::to_string(N) +
                              " sparsity=" + std::to_string(c % 4));
  }
  EXPECT_EQ(h.compared(), unsigned(kCases));
}

TEST(HlsKernel, MmF16BothLayoutsAndAccumulateMatchGolden) {
  Harness h(202);
  for (int c = 0; c < kCases; ++c) {
    std::vector<Instruction> prog;
    h.setSpecials(c % 4 == 3);
    bool tb = c % 2, acc = (c / 2) % 2;
    uint32_t M = h.pick(1, 6), N = c == 5 ? 0 : h.pick(1, 150), K = c == 7 ? 0 : h.pick(1, 90);
    uint32_t as = capacity(h, M), cs = capacity(h, M);
    uint32_t bRows = tb ? N : K, bChans = tb ? K : N, bs = capacity(h, bRows);
    uint64_t aBeats = beatsOf(as, K), cBeats = beatsOf(cs, N), bBeats = beatsOf(bs, bChans);
    uint64_t aa = h.pick(0, 20), ca = aa + aBeats + h.pick(0, 4), ba = h.pick(0, 30);
    if (aBeats)
      h.stageF16(prog, Buf::Abuf, aa, aBeats);
    if (cBeats)
      h.stageF16(prog, Buf::Abuf, ca, cBeats);
    if (bBeats)
      h.stageF16(prog, Buf::Kbuf, ba, bBeats);
    prog.push_back(barrier());
    MmF16 mm;
    mm.a_addr = uint32_t(aa), mm.a_stride = as;
    mm.b_buf = uint32_t(Buf::Kbuf), mm.b_addr = uint32_t(ba), mm.b_stride = bs;
    mm.c_addr = uint32_t(ca), mm.c_stride = cs;
    mm.m = M, mm.k = K, mm.trans_b = tb, mm.acc = acc;
    // N from a register sometimes (the attended length R5 in attention).
    if (N >= 3 && h.coin()) {
      h.setReg(5, N - 3);
      mm.n = 3, mm.n_reg = 5;
    } else {
      mm.n = N;
    }
    mm.alpha = bitsFromF32(h.coin() ? 1.0f : 1.0f / std::sqrt(float(h.pick(1, 128))));
    prog.push_back(toInstruction(mm));
    prog.push_back(endInstr());
    h.runAndCompare(prog, "mm_f16 case " + std::to_string(c) + " M=" + std::to_string(M) +
                              " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                              " trans_b=" + std::to_string(tb) + " acc=" + std::to_string(acc));
  }
  EXPECT_EQ(h.compared(), unsigned(kCases));
}

TEST(HlsKernel, RmsNormMatchesGolden) {
  Harness h(303);
  for (int c = 0; c < kCases; ++c) {
    std::vector<Instruction> prog;
    h.setSpecials(c % 4 == 3);
    uint32_t M = h.pick(1, 6), C = h.pick(1, 600);
    XY o = stageXY(h, prog, M, C, c % 3 == 0);
    uint64_t ga = h.pick(0, 40);
    h.stageF16(prog, Buf::Pbuf, ga, (C + 15) / 16);
    prog.push_back(barrier());
    RmsNorm n;
    n.x_addr = uint32_t(o.xa), n.x_stride = o.xs, n.y_addr = uint32_t(o.ya), n.y_stride = o.ys;
    n.g_buf = uint32_t(Buf::Pbuf), n.g_addr = uint32_t(ga);
    n.m = M, n.c = C, n.eps = bitsFromF32(h.coin() ? 1e-5f : 1e-6f);
    prog.push_back(toInstruction(n));
    prog.push_back(endInstr());
    h.runAndCompare(prog, "rms_norm case " + std::to_string(c));
  }
}

TEST(HlsKernel, SoftmaxCausalAndPlainMatchGolden) {
  Harness h(404);
  for (int c = 0; c < kCases; ++c) {
    std::vector<Instruction> prog;
    h.setSpecials(c % 4 == 3);
    uint32_t M = h.pick(1, 6), N = c == 3 ? 0 : h.pick(1, 400);
    XY o = stageXY(h, prog, M, N, c % 3 == 1);
    prog.push_back(barrier());
    Softmax s;
    s.x_addr = uint32_t(o.xa), s.x_stride = o.xs, s.y_addr = uint32_t(o.ya), s.y_stride = o.ys;
    s.m = M, s.n = N, s.causal = c % 2;
    // diag = past length, from R2: sometimes negative (a key tile past the rows).
    int32_t diag = c % 4 == 0 ? -int32_t(h.pick(1, 8)) : int32_t(h.pick(0, N + 2));
    h.setReg(kRegPast, uint32_t(diag));
    s.diag_reg = kRegPast;
    prog.push_back(toInstruction(s));
    prog.push_back(endInstr());
    h.runAndCompare(prog, "softmax case " + std::to_string(c));
  }
}

TEST(HlsKernel, RopeBothPairLayoutsMatchGolden) {
  Harness h(505);
  for (int c = 0; c < kCases; ++c) {
    std::vector<Instruction> prog;
    h.setSpecials(c % 4 == 3);
    uint32_t M = h.pick(1, 5), heads = h.pick(1, 5), rot = 8 * h.pick(1, 6);
    uint32_t hd = rot + 2 * h.pick(0, 20);
    XY o = stageXY(h, prog, M, heads * hd, c % 2 == 0);
    uint64_t ta = h.pick(0, 50);
    // Table rows: binary32 (cos, sin) pairs of angles.
    std::vector<uint8_t> t(size_t(M) * rot / 8 * kBeatBytes);
    for (size_t i = 0; i < t.size() / 8; ++i) {
      float ang = float(h.rng()() % 10000) * 0.01f;
      float cs[2] = {std::cos(ang), std::sin(ang)};
      std::memcpy(&t[8 * i], cs, 8);
    }
    h.stage(prog, Buf::Pbuf, ta, t);
    prog.push_back(barrier());
    Rope r;
    r.x_addr = uint32_t(o.xa), r.x_stride = o.xs, r.y_addr = uint32_t(o.ya), r.y_stride = o.ys;
    r.t_buf = uint32_t(Buf::Pbuf), r.t_addr = uint32_t(ta);
    r.m = M, r.heads = heads, r.head_dim = hd, r.rot_dim = rot, r.pairs = (c / 2) % 2;
    prog.push_back(toInstruction(r));
    prog.push_back(endInstr());
    h.runAndCompare(prog, "rope case " + std::to_string(c) + " heads=" + std::to_string(heads) +
                              " head_dim=" + std::to_string(hd) + " rot_dim=" + std::to_string(rot));
  }
}

TEST(HlsKernel, SiluMulAndEltwiseMatchGolden) {
  Harness h(606);
  for (int c = 0; c < 2 * kCases; ++c) {
    std::vector<Instruction> prog;
    h.setSpecials(c % 4 == 3);
    uint32_t M = h.pick(1, 6), C = h.pick(1, 300);
    uint32_t as = capacity(h, M), bs = capacity(h, M);
    bool bcast = c % 2 == 1 && c % 4 != 1;
    bool inPlace = c % 3 == 0;
    uint32_t ys = inPlace ? as : capacity(h, M);
    uint64_t aa = h.pick(0, 10), ba = aa + beatsOf(as, C) + h.pick(0, 3);
    uint64_t ya = inPlace ? aa : ba + beatsOf(bs, C) + h.pick(0, 3);
    h.stageF16(prog, Buf::Abuf, aa, beatsOf(as, C));
    h.stageF16(prog, Buf::Abuf, ba, beatsOf(bs, C));
    if (!inPlace)
      h.stageF16(prog, Buf::Abuf, ya, beatsOf(ys, C));
    prog.push_back(barrier());
    if (c < kCases) {
      SiluMul s;
      s.a_addr = uint32_t(aa), s.a_stride = as, s.b_addr = uint32_t(ba), s.b_stride = bs;
      s.y_addr = uint32_t(ya), s.y_stride = ys, s.m = M, s.c = C;
      prog.push_back(toInstruction(s));
    } else {
      Eltwise e;
      e.op = uint32_t(c % 3);
      e.a_addr = uint32_t(aa), e.a_stride = as, e.b_addr = uint32_t(ba), e.b_stride = bs;
      e.y_addr = uint32_t(ya), e.y_stride = ys, e.m = M, e.c = C, e.bcast_b = bcast;
      prog.push_back(toInstruction(e));
    }
    prog.push_back(endInstr());
    h.runAndCompare(prog, (c < kCases ? "silu_mul case " : "eltwise case ") + std::to_string(c));
  }
}

TEST(HlsKernel, DmaStripedLoadsStoresAndKvAppendMatchGolden) {
  Harness h(707);
  // Random HBM contents in every pseudo-channel.
  for (unsigned ch = 0; ch < kHbmChannels; ++ch)
    h.hbmWrite(uint64_t(ch) << 23, h.randomBytes(kHbmBeatsPerChannel * kBeatBytes));
  for (int c = 0; c < kCases; ++c) {
    std::vector<Instruction> prog;
    h.setSpecials(c % 4 == 3);
    // A load from HBM, striped over P channels starting anywhere.
    Load l;
    l.src_mem = uint32_t(ExtMem::Hbm);
    l.dst_buf = h.pick(0, 3);
    uint32_t P = c % 3 == 0 ? 1 : h.pick(1, 32);
    l.hbm_stripe = P;
    l.rows = h.pick(1, 4);
    l.row_len = c == 4 ? 0 : h.pick(1, 200);
    l.src_stride = h.pick(0, 300);
    l.src_addr = (h.pick(0, 31) << 23) + h.pick(0, 500);
    l.dst_addr = h.pick(0, 1000);
    l.dst_stride = l.row_len + h.pick(0, 10);
    if (h.coin()) { // row length from a register
      h.setReg(4, l.row_len);
      l.row_len = 0;
      l.row_len_reg = 4;
    }
    prog.push_back(toInstruction(l));
    prog.push_back(barrier());
    // Store part of the buffer to DDR.
    Store s;
    s.src_buf = l.dst_buf;
    s.src_addr = h.pick(0, 1000);
    s.rows = h.pick(1, 3);
    s.row_len = h.pick(0, 100);
    s.src_stride = h.pick(0, 200);
    s.dst_addr = h.pick(0, 20000);
    s.dst_stride = s.row_len + h.pick(0, 50);
    prog.push_back(toInstruction(s));
    // Append to the KV cache, striped.
    KvAppend kv;
    kv.src_buf = l.dst_buf;
    kv.src_addr = h.pick(0, 1000);
    kv.rows = h.pick(1, 4);
    kv.row_len = h.pick(0, 64);
    kv.src_stride = h.pick(0, 100);
    kv.hbm_stripe = h.pick(1, 4);
    kv.dst_addr = (h.pick(0, 31) << 23) + h.pick(0, 1000);
    kv.dst_stride = h.pick(0, 500);
    if (h.coin()) { // at R2, the past length
      h.setReg(kRegPast, h.pick(0, 1000));
      kv.dst_addr_reg = kRegPast;
    }
    prog.push_back(toInstruction(kv));
    prog.push_back(endInstr());
    h.runAndCompare(prog, "dma case " + std::to_string(c) + " stripe=" + std::to_string(P));
  }
}

//===----------------------------------------------------------------------===//
// Dispatch, tokens and faults
//===----------------------------------------------------------------------===//

TEST(HlsKernel, TokensOrderTheQueuesAndRegopsAreSeen) {
  Harness h(808);
  std::vector<Instruction> prog;
  // R4 = R3 * 2 via regop; the add and the store use it.
  h.setReg(kRegNumTokens, 2);
  RegOp ro;
  ro.op = uint32_t(AluOp::Shl), ro.rd = 4, ro.ra = kRegNumTokens, ro.imm = 1;
  prog.push_back(toInstruction(ro));
  // Stage A and B (loads signal next), store dispatched before the add.
  std::vector<uint8_t> a = h.f16Beats(8), b = h.f16Beats(8);
  h.ddrWrite(0, a);
  h.ddrWrite(100, b);
  Load la;
  la.src_mem = uint32_t(ExtMem::Ddr);
  la.rows = 1, la.row_len = 8;
  Load lb = la;
  lb.src_addr = 100, lb.dst_addr = 100;
  lb.deps.signalNext = true;
  Eltwise e;
  e.deps.waitPrev = true, e.deps.signalNext = true;
  e.op = uint32_t(EwOp::Add);
  e.a_stride = e.b_stride = e.y_stride = 4;
  e.b_addr = 100, e.y_addr = 200, e.m = 0, e.m_reg = 4, e.c = 32;
  Store s;
  s.deps.waitPrev = true;
  s.src_addr = 200, s.dst_addr = 5000, s.row_len = 8;
  prog.push_back(toInstruction(la));
  prog.push_back(toInstruction(lb));
  prog.push_back(toInstruction(s));
  prog.push_back(toInstruction(e));
  prog.push_back(endInstr());
  h.runAndCompare(prog, "tokens");
  EXPECT_EQ(h.bench().reg(4), 4u);
  EXPECT_EQ(h.compared(), 1u);
  csim::Counters n = csim::counters();
  EXPECT_EQ(n.load, 2u);
  EXPECT_EQ(n.compute, 1u);
  EXPECT_EQ(n.store, 1u);
}

TEST(HlsKernel, FaultsMatchGolden) {
  Harness h(909);
  auto run = [&](std::vector<Instruction> prog, Fault want, const char *what) {
    sim::RunResult r = h.runAndCompare(prog, what);
    EXPECT_EQ(uint32_t(r.fault), uint32_t(want)) << what << ": golden: " << r.message;
  };
  // Address: a load past the end of PBUF.
  Load l;
  l.src_mem = uint32_t(ExtMem::Ddr), l.dst_buf = uint32_t(Buf::Pbuf);
  l.dst_addr = uint32_t(kPbufBeats - 4), l.row_len = 5;
  run({toInstruction(Nop{}), toInstruction(l), endInstr()}, Fault::Address, "address");
  // Layout: two channel blocks, token capacity below the rows.
  Eltwise e;
  e.op = uint32_t(EwOp::Copy), e.m = 4, e.c = 32, e.a_stride = 3, e.b_stride = 4,
  e.y_stride = 4, e.y_addr = 100;
  run({toInstruction(e), endInstr()}, Fault::Layout, "layout");
  // Decode: a field out of range (hbm_stripe 0), encoded with a valid check byte.
  Load bad;
  bad.hbm_stripe = 0;
  run({toInstruction(Nop{}), toInstruction(bad), endInstr()}, Fault::Decode, "decode");
  // Deadlock: the add waits for a load that never signals.
  Eltwise w;
  w.deps.waitPrev = true, w.c = 16, w.y_addr = 50;
  run({toInstruction(w), endInstr()}, Fault::Deadlock, "deadlock");
  // Unbalanced: a signal nobody waits for.
  Load sig;
  sig.src_mem = uint32_t(ExtMem::Ddr), sig.deps.signalNext = true;
  run({toInstruction(sig), endInstr()}, Fault::UnbalancedTokens, "unbalanced");
  // The token FIFO holds 64: the 65th signal blocks forever.
  std::vector<Instruction> many(65, toInstruction(sig));
  many.push_back(endInstr());
  run(many, Fault::Deadlock, "fifo depth");
  // No end.
  run({toInstruction(Nop{})}, Fault::NoEnd, "no end");
}

TEST(HlsKernel, ACorruptWordIsADecodeFaultAtItsIndex) {
  Harness h(1001);
  std::vector<Instruction> prog = {toInstruction(Nop{}), toInstruction(Nop{}), endInstr()};
  std::vector<uint8_t> bytes(prog.size() * kInstrBytes);
  for (size_t i = 0; i < prog.size(); ++i) {
    Word w = encode(prog[i]);
    std::memcpy(&bytes[i * kInstrBytes], w.data(), kInstrBytes);
  }
  bytes[kInstrBytes + 20] ^= 0x10; // one bit of instruction 1 (a reserved bit)
  RunStatus r = h.bench().run(kProgramBeat, bytes.data(), 3);
  EXPECT_EQ(r.fault, Fault::Decode);
  EXPECT_EQ(r.faultIndex, 1u);
  EXPECT_EQ(r.status, ctrl::kStatusDone | ctrl::kStatusFault);
  bytes[kInstrBytes + 20] ^= 0x10;
  r = h.bench().run(kProgramBeat, bytes.data(), 3);
  EXPECT_EQ(r.fault, Fault::None);
  EXPECT_EQ(r.status, ctrl::kStatusDone);
}

TEST(HlsKernel, RandomIssueReordersEnginesOnlyWithinWhatTheTokensAllow) {
  // load A -> copy A to B -> store B, with and without tokens. Without tokens
  // (not well-formed) some random order stores B before the copy wrote it;
  // with tokens every order stores the copy.
  struct Restore {
    ~Restore() { csim::setRandomIssue(false); }
  } restore;
  auto program = [](bool tokens) {
    Load l;
    l.src_mem = uint32_t(ExtMem::Ddr), l.row_len = 4, l.deps.signalNext = tokens;
    Eltwise e;
    e.op = uint32_t(EwOp::Copy), e.m = 4, e.c = 16, e.a_stride = e.b_stride = e.y_stride = 4;
    e.y_addr = 100, e.deps.waitPrev = tokens, e.deps.signalNext = tokens;
    Store s;
    s.src_addr = 100, s.dst_addr = 1000, s.row_len = 4, s.deps.waitPrev = tokens;
    return std::vector<Instruction>{toInstruction(l), toInstruction(e), toInstruction(s),
                                    endInstr()};
  };
  std::vector<uint8_t> a(4 * kBeatBytes, 0x3c); // FP16 0x3c3c in every lane
  unsigned raced = 0;
  for (bool tokens : {false, true})
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      Bench b(2048, 0);
      csim::resetBuffers();
      std::memcpy(b.ddrBytes(0), a.data(), a.size());
      csim::setRandomIssue(true, seed);
      RunStatus r = b.run(1500, program(tokens));
      ASSERT_EQ(r.fault, Fault::None);
      bool stored = std::memcmp(b.ddrBytes(1000), a.data(), a.size()) == 0;
      if (tokens)
        EXPECT_TRUE(stored) << "seed " << seed;
      else
        raced += !stored;
    }
  EXPECT_GT(raced, 0u) << "random issue never reordered the engines";
}
