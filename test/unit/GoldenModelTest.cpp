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

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace edgellm;
using namespace edgellm::isa;
using edgellm::sim::SparseMemory;

namespace {
hw::TargetDesc vcu128() {
  std::string error;
  auto t = hw::loadTargetByName("vcu128", error);
  EXPECT_TRUE(t) << error;
  return *t;
}

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
