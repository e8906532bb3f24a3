//===- GoldenModelTest.cpp - The golden model on small programs ------------===//
//
// Hand-computed results and independent FP32 references for programs that
// move data, add, run softmax and the FP16 x INT4 product, plus the faults:
// deadlock, unbalanced tokens, addresses, missing end.
//
//===----------------------------------------------------------------------===//

#include "runtime/device/sim/GoldenModel.h"
#include "compiler/target/WeightPacker.h"
#include "edgellm/hw/IsaNumerics.h"

#include "TestTarget.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace edgellm;
using namespace edgellm::isa;
using edgellm::sim::SparseMemory;

namespace {
using test::vcu128;

/// Writes FP16 values as a [rows, chans] tensor in the unified layout.
void writeTensor(SparseMemory &mem, uint64_t addr, uint64_t stride, uint64_t rows,
                 uint64_t chans, const std::vector<float> &v) {
  for (uint64_t m = 0; m < rows; ++m)
    for (uint64_t c = 0; c < chans; ++c) {
      uint16_t h = f32ToF16(v[m * chans + c]);
      mem.write((addr + (c / 16) * stride + m) * 32 + (c % 16) * 2, &h, 2);
    }
}
float readAt(SparseMemory &mem, uint64_t addr, uint64_t stride, uint64_t m, uint64_t c) {
  uint16_t h;
  mem.read((addr + (c / 16) * stride + m) * 32 + (c % 16) * 2, &h, 2);
  return f16ToF32(h);
}
Instruction end() {
  End e;
  e.irq = 1;
  return toInstruction(e);
}
} // namespace

TEST(GoldenModel, LoadAddStoreWithTokens) {
  hw::TargetDesc t = vcu128();
  sim::GoldenModel g(t);
  // Two [2, 16] FP16 tensors in DDR at beats 0 and 10.
  std::vector<float> a(32), b(32);
  for (int i = 0; i < 32; ++i) {
    a[i] = float(i);
    b[i] = 0.5f * float(i);
  }
  writeTensor(g.ddr(), 0, 2, 2, 16, a);
  writeTensor(g.ddr(), 10, 2, 2, 16, b);
  g.setReg(kRegNumTokens, 2); // rows come from R3
  Load la;
  la.src_mem = uint32_t(ExtMem::Ddr);
  la.dst_buf = uint32_t(Buf::Abuf);
  la.row_len_reg = kRegNumTokens;
  Load lb = la;
  lb.src_addr = 10;
  lb.dst_addr = 100;
  lb.deps.signalNext = true;
  Eltwise e;
  e.deps.waitPrev = true;
  e.deps.signalNext = true;
  e.op = uint32_t(EwOp::Add);
  e.a_stride = e.b_stride = e.y_stride = 2;
  e.b_addr = 100;
  e.y_addr = 200;
  e.m_reg = kRegNumTokens;
  e.c = 16;
  Store s;
  s.deps.waitPrev = true;
  s.src_addr = 200;
  s.dst_addr = 50;
  s.row_len = 2;
  s.src_stride = 2;
  s.dst_stride = 2;
  // The store is dispatched before the add: the tokens order them.
  std::vector<Instruction> prog = {toInstruction(la), toInstruction(lb), toInstruction(s),
                                   toInstruction(e), end()};
  sim::RunResult r = g.run(prog);
  ASSERT_TRUE(r.ok()) << r.message << " at " << r.faultIndex;
  for (int m = 0; m < 2; ++m)
    for (int c = 0; c < 16; ++c)
      EXPECT_EQ(readAt(g.ddr(), 50, 2, m, c), 1.5f * float(m * 16 + c)) << m << "," << c;
}

TEST(GoldenModel, CausalSoftmaxHandComputed) {
  hw::TargetDesc t = vcu128();
  sim::GoldenModel g(t);
  // Row 0 sees column 0 only; row 1 sees columns 0, 1 with scores 0 and ln 3:
  // probabilities 1/4 and 3/4. diag comes from R2 (past length 0).
  std::vector<float> x = {0.0f, 5.0f, 0.0f, std::log(3.0f)};
  writeTensor(g.buffer(Buf::Abuf), 0, 2, 2, 2, x);
  Softmax s;
  s.x_stride = s.y_stride = 2;
  s.y_addr = 10;
  s.m = 2;
  s.n = 2;
  s.causal = 1;
  s.diag_reg = kRegPast;
  sim::RunResult r = g.run({toInstruction(s), end()});
  ASSERT_TRUE(r.ok()) << r.message;
  SparseMemory &abuf = g.buffer(Buf::Abuf);
  EXPECT_EQ(readAt(abuf, 10, 2, 0, 0), 1.0f);
  EXPECT_EQ(readAt(abuf, 10, 2, 0, 1), 0.0f);
  EXPECT_NEAR(readAt(abuf, 10, 2, 1, 0), 0.25f, 1e-3);
  EXPECT_NEAR(readAt(abuf, 10, 2, 1, 1), 0.75f, 1e-3);
  EXPECT_EQ(readAt(abuf, 10, 2, 1, 2), 0.0f); // padding lane
}

TEST(GoldenModel, MmQ4MatchesTheDequantisedProduct) {
  hw::TargetDesc t = vcu128();
  sim::GoldenModel g(t);
  const int64_t k = 256, n = 32, tokens = 3;
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(k * n), x(tokens * k);
  for (float &v : w)
    v = 0.05f * nd(rng);
  for (float &v : x)
    v = float(f16ToF32(f32ToF16(nd(rng))));
  target::QuantizedMatrix q = target::quantizeInt4(w.data(), k, n, Sparsity::Dense);
  std::vector<uint8_t> packed = target::packRows(q);
  g.hbm().write(0, packed.data(), packed.size());
  writeTensor(g.buffer(Buf::Abuf), 0, tokens, tokens, k, x);
  Load l;
  l.dst_buf = uint32_t(Buf::Wbuf);
  l.row_len = uint32_t(packed.size() / 32);
  l.deps.signalNext = true;
  MmQ4 mm;
  mm.deps.waitPrev = true;
  mm.x_stride = tokens;
  mm.w_buf = uint32_t(Buf::Wbuf);
  mm.y_addr = 1000;
  mm.y_stride = tokens;
  mm.m = tokens;
  mm.k = k;
  mm.n = n;
  sim::RunResult r = g.run({toInstruction(l), toInstruction(mm), end()});
  ASSERT_TRUE(r.ok()) << r.message;
  // Independent reference: double-precision sum with the dequantised weights.
  for (int64_t m = 0; m < tokens; ++m)
    for (int64_t o = 0; o < n; ++o) {
      double ref = 0;
      for (int64_t i = 0; i < k; ++i)
        ref += double(x[m * k + i]) * q.value(o, i);
      float got = readAt(g.buffer(Buf::Abuf), 1000, tokens, m, o);
      EXPECT_NEAR(got, ref, 2e-3 * std::fabs(ref) + 2e-3) << m << "," << o;
    }
}

TEST(GoldenModel, MmQ4ExactOnIntegers) {
  // x = 1.0 everywhere, weights are small integers with max 7 per group, so
  // the scale is 1 and the product is an exact integer sum.
  hw::TargetDesc t = vcu128();
  sim::GoldenModel g(t);
  const int64_t k = 128, n = 16;
  std::vector<float> w(k * n);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t o = 0; o < n; ++o)
      w[i * n + o] = float((i + o) % 15 - 7);
  target::QuantizedMatrix q = target::quantizeInt4(w.data(), k, n, Sparsity::Dense);
  std::vector<uint8_t> packed = target::packRows(q);
  g.buffer(Buf::Wbuf).write(0, packed.data(), packed.size());
  writeTensor(g.buffer(Buf::Abuf), 0, 1, 1, k, std::vector<float>(k, 1.0f));
  MmQ4 mm;
  mm.x_stride = 1;
  mm.w_buf = uint32_t(Buf::Wbuf);
  mm.y_addr = 100;
  mm.y_stride = 1;
  mm.m = 1;
  mm.k = k;
  mm.n = n;
  ASSERT_TRUE(g.run({toInstruction(mm), end()}).ok());
  for (int64_t o = 0; o < n; ++o) {
    int64_t sum = 0;
    for (int64_t i = 0; i < k; ++i)
      sum += (i + o) % 15 - 7;
    EXPECT_EQ(readAt(g.buffer(Buf::Abuf), 100, 1, 0, o), float(sum)) << o;
  }
}

TEST(GoldenModel, Faults) {
  hw::TargetDesc t = vcu128();
  {
    sim::GoldenModel g(t);
    Eltwise e; // waits for a load that never signals
    e.deps.waitPrev = true;
    e.c = 16;
    sim::RunResult r = g.run({toInstruction(e), end()});
    EXPECT_EQ(r.fault, Fault::Deadlock);
    EXPECT_EQ(r.faultIndex, 0u);
  }
  {
    sim::GoldenModel g(t);
    Load l;
    l.deps.signalNext = true; // nobody takes the token
    sim::RunResult r = g.run({toInstruction(l), end()});
    EXPECT_EQ(r.fault, Fault::UnbalancedTokens);
    EXPECT_EQ(r.faultIndex, 1u);
  }
  {
    sim::GoldenModel g(t);
    Load l;
    l.dst_addr = uint32_t((t.onchip.abufKiB << 10) / 32); // one past the end
    l.row_len = 1;
    sim::RunResult r = g.run({toInstruction(l), end()});
    EXPECT_EQ(r.fault, Fault::Address);
    EXPECT_EQ(r.faultIndex, 0u);
  }
  {
    sim::GoldenModel g(t);
    Eltwise e;
    e.c = 32; // two channel blocks but a token capacity of 0 < 1 row
    e.m = 1;
    sim::RunResult r = g.run({toInstruction(e), end()});
    EXPECT_EQ(r.fault, Fault::Layout);
  }
  {
    sim::GoldenModel g(t);
    sim::RunResult r = g.run({toInstruction(Nop{})});
    EXPECT_EQ(r.fault, Fault::NoEnd);
  }
}

TEST(GoldenModel, SpecialFunctionsHandComputed) {
  hw::TargetDesc t = vcu128();
  sim::GoldenModel g(t);
  SparseMemory &abuf = g.buffer(Buf::Abuf), &pbuf = g.buffer(Buf::Pbuf);
  // rms_norm of [3, 4] with gamma [1, 2]: rms = sqrt(12.5), y = x / rms * g.
  writeTensor(abuf, 0, 1, 1, 2, {3.0f, 4.0f});
  uint16_t gamma[2] = {f32ToF16(1.0f), f32ToF16(2.0f)};
  pbuf.write(0, gamma, 4);
  RmsNorm n;
  n.x_stride = n.y_stride = 1;
  n.y_addr = 10;
  n.g_buf = uint32_t(Buf::Pbuf);
  n.m = 1;
  n.c = 2;
  n.eps = bitsFromF32(1e-5f);
  // rope on one head of 8 channels (rot_dim 8): pair 0 rotated by 90 degrees
  // (cos 0, sin 1): (1, 2) -> (-2, 1); pair 1 by 0 degrees: unchanged.
  writeTensor(abuf, 20, 1, 1, 8, {1, 2, 3, 4, 5, 6, 7, 8});
  float table[8] = {0.0f, 1.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f, 0.0f};
  pbuf.write(32 * 4, table, sizeof table);
  Rope r;
  r.x_addr = 20;
  r.x_stride = r.y_stride = 1;
  r.y_addr = 30;
  r.t_buf = uint32_t(Buf::Pbuf);
  r.t_addr = 4;
  r.m = 1;
  r.heads = 1;
  r.head_dim = 8;
  r.rot_dim = 8;
  // silu_mul: silu(0) * 5 = 0; silu(2) * 1 = 2 / (1 + e^-2).
  writeTensor(abuf, 40, 1, 1, 2, {0.0f, 2.0f});
  writeTensor(abuf, 41, 1, 1, 2, {5.0f, 1.0f});
  SiluMul s;
  s.a_addr = 40;
  s.b_addr = 41;
  s.y_addr = 42;
  s.a_stride = s.b_stride = s.y_stride = 1;
  s.m = 1;
  s.c = 2;
  // mm_f16 with trans_b: [1, 2] . [[3, 4], [5, 6]]^T = [11, 17], alpha 0.5.
  writeTensor(abuf, 50, 1, 1, 2, {1.0f, 2.0f});
  writeTensor(abuf, 51, 2, 2, 2, {3.0f, 4.0f, 5.0f, 6.0f});
  MmF16 mm;
  mm.a_addr = 50;
  mm.a_stride = 1;
  mm.b_addr = 51;
  mm.b_stride = 2;
  mm.c_addr = 60;
  mm.c_stride = 1;
  mm.m = 1;
  mm.n = 2;
  mm.k = 2;
  mm.trans_b = 1;
  mm.alpha = bitsFromF32(0.5f);
  MmF16 acc = mm; // accumulates the same product again: 2x
  acc.acc = 1;
  sim::RunResult res = g.run({toInstruction(n), toInstruction(r), toInstruction(s),
                              toInstruction(mm), toInstruction(acc), end()});
  ASSERT_TRUE(res.ok()) << res.message;
  float rms = std::sqrt(12.5f + 1e-5f);
  EXPECT_NEAR(readAt(abuf, 10, 1, 0, 0), 3.0f / rms, 1e-3);
  EXPECT_NEAR(readAt(abuf, 10, 1, 0, 1), 8.0f / rms, 2e-3);
  EXPECT_EQ(readAt(abuf, 30, 1, 0, 0), -2.0f);
  EXPECT_EQ(readAt(abuf, 30, 1, 0, 1), 1.0f);
  EXPECT_EQ(readAt(abuf, 30, 1, 0, 2), 3.0f);
  EXPECT_EQ(readAt(abuf, 30, 1, 0, 3), 4.0f);
  EXPECT_EQ(readAt(abuf, 42, 1, 0, 0), 0.0f);
  EXPECT_NEAR(readAt(abuf, 42, 1, 0, 1), 2.0 / (1.0 + std::exp(-2.0)), 2e-3);
  EXPECT_EQ(readAt(abuf, 60, 1, 0, 0), 11.0f);
  EXPECT_EQ(readAt(abuf, 60, 1, 0, 1), 17.0f);
}

TEST(GoldenModel, KvAppendAtThePastLength) {
  // Two new tokens of an 8-channel head appended after a past of 3 tokens in
  // a cache of capacity 16, striped over 2 pseudo-channels.
  hw::TargetDesc t = vcu128();
  sim::GoldenModel g(t);
  writeTensor(g.buffer(Buf::Abuf), 0, 2, 2, 8, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  g.setReg(kRegPast, 3);
  g.setReg(kRegNumTokens, 2);
  KvAppend kv;
  kv.src_stride = 2;
  kv.dst_addr = 5 * kHbmChannelBeats; // channel 5
  kv.dst_addr_reg = kRegPast;
  kv.rows = 1;
  kv.row_len_reg = kRegNumTokens;
  kv.dst_stride = 16;
  kv.hbm_stripe = 2;
  ASSERT_TRUE(g.run({toInstruction(kv), end()}).ok());
  // Beat j of the row goes to channel 5 + j % 2, offset 3 + j / 2.
  uint16_t h;
  g.hbm().read((5ull * kHbmChannelBeats + 3) * 32, &h, 2);
  EXPECT_EQ(f16ToF32(h), 1.0f); // token 0, channel 0
  g.hbm().read((6ull * kHbmChannelBeats + 3) * 32, &h, 2);
  EXPECT_EQ(f16ToF32(h), 9.0f); // token 1, channel 0
}
