//===- TokenSchedulerTest.cpp - Dependency tokens --------------------------===//
//
// The scheduler's tokens, checked by hand on small programs, and by running
// scheduled random programs on the golden model with random issue (only the
// tokens order the queues): the result must equal the same program run one
// instruction at a time (a barrier after each).
//
//===----------------------------------------------------------------------===//

#include "compiler/target/TokenScheduler.h"
#include "edgellm/hw/IsaNumerics.h"
#include "runtime/device/sim/GoldenModel.h"

#include <gtest/gtest.h>

#include <random>

using namespace edgellm;
using namespace edgellm::target;

namespace {
constexpr uint32_t ABUF = uint32_t(isa::Buf::Abuf), WBUF = uint32_t(isa::Buf::Wbuf);

isa::Instruction load(isa::ExtMem mem, uint32_t src, uint32_t buf, uint32_t dst, uint32_t len) {
  isa::Load l;
  l.src_mem = uint32_t(mem);
  l.dst_buf = buf;
  l.src_addr = src;
  l.dst_addr = dst;
  l.rows = 1;
  l.row_len = len;
  return isa::toInstruction(l);
}
isa::Instruction ddrLoad(uint32_t src, uint32_t buf, uint32_t dst, uint32_t len) {
  return load(isa::ExtMem::Ddr, src, buf, dst, len);
}
isa::Instruction add(uint32_t a, uint32_t b, uint32_t y, uint32_t bBuf = ABUF) {
  isa::Eltwise e;
  e.op = uint32_t(isa::EwOp::Add);
  e.a_buf = ABUF, e.a_addr = a, e.a_stride = 1;
  e.b_buf = bBuf, e.b_addr = b, e.b_stride = 1;
  e.y_buf = ABUF, e.y_addr = y, e.y_stride = 1;
  e.m = 1;
  e.c = 16;
  return isa::toInstruction(e);
}
isa::Instruction store(uint32_t src, uint32_t dst) {
  isa::Store s;
  s.src_buf = ABUF, s.src_addr = src, s.dst_addr = dst;
  s.rows = 1, s.row_len = 1;
  return isa::toInstruction(s);
}
isa::Instruction end() { return isa::toInstruction(isa::End{{}, 1}); }

std::vector<isa::Instruction> schedule(const std::vector<isa::Instruction> &p,
                                       ScheduleStats *stats = nullptr) {
  std::vector<isa::Instruction> out;
  std::string error;
  RegisterBounds b{};
  EXPECT_TRUE(insertTokens(p, b, out, error, stats)) << error;
  return out;
}
} // namespace

TEST(TokenScheduler, ReadAfterLoadWaitsForTheLoad) {
  auto out = schedule({ddrLoad(0, ABUF, 0, 1), ddrLoad(1, ABUF, 1, 1), add(0, 1, 2), end()});
  ASSERT_EQ(out.size(), 4u);
  // Only the later load signals: the queue is in order, one token covers both.
  EXPECT_FALSE(out[0].deps.signalNext);
  EXPECT_TRUE(out[1].deps.signalNext);
  EXPECT_TRUE(out[2].deps.waitPrev);
}

TEST(TokenScheduler, DisjointMemoryNeedsNoToken) {
  auto out = schedule({ddrLoad(0, ABUF, 0, 1), add(4, 5, 6), end()});
  EXPECT_FALSE(out[0].deps.any());
  EXPECT_FALSE(out[1].deps.any());
}

TEST(TokenScheduler, KvRowsInTheirOwnChannelsLeaveTheWeightsFree) {
  // A KV append of 16 rows, one per pseudo-channel (stride 2^23) at offset
  // 4096 + R2, and then a weight load from channel 3 below that offset: the
  // append's footprint is its rows, not the channels' whole span, so no
  // relay orders the load after it.
  isa::KvAppend a;
  a.src_buf = ABUF;
  a.dst_addr = 4096;
  a.dst_addr_reg = 2;
  a.rows = 16;
  a.row_len = 1;
  a.src_stride = 1;
  a.dst_stride = isa::kHbmChannelBeats;
  ScheduleStats st;
  std::vector<isa::Instruction> out, prog = {add(0, 1, 2), isa::toInstruction(a),
                                             load(isa::ExtMem::Hbm, 3 * isa::kHbmChannelBeats,
                                                  WBUF, 0, 100),
                                             end()};
  std::string error;
  RegisterBounds b{};
  b[2] = 1024;
  ASSERT_TRUE(insertTokens(prog, b, out, error, &st)) << error;
  EXPECT_EQ(st.relays, 0u);
  // Reading the appended rows (channel 3, offset 4096 + 5) does need it.
  prog[2] = load(isa::ExtMem::Hbm, 3 * isa::kHbmChannelBeats + 4096 + 5, WBUF, 0, 1);
  ASSERT_TRUE(insertTokens(prog, b, out, error, &st)) << error;
  EXPECT_EQ(st.relays, 1u);
}

TEST(TokenScheduler, OverwritingALoadedBufferWaitsForItsReader) {
  // load W -> add reads W -> load overwrites W: write after read.
  auto out = schedule({ddrLoad(0, WBUF, 0, 1), add(0, 0, 1, WBUF), ddrLoad(8, WBUF, 0, 1),
                       add(0, 0, 2, WBUF), end()});
  EXPECT_TRUE(out[1].deps.waitPrev);
  EXPECT_TRUE(out[1].deps.signalPrev);
  EXPECT_TRUE(out[2].deps.waitNext);
  EXPECT_TRUE(out[2].deps.signalNext);
  EXPECT_TRUE(out[3].deps.waitPrev);
}

TEST(TokenScheduler, StoreThenLoadOfTheSameDdrIsRelayedBySync) {
  ScheduleStats st;
  auto out = schedule({add(0, 0, 1), store(1, 100), ddrLoad(100, ABUF, 5, 1), end()}, &st);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(st.relays, 1u);
  EXPECT_TRUE(out[1].deps.signalPrev);              // store -> compute
  EXPECT_EQ(out[2].opcode, isa::Opcode::Sync);       // relay
  EXPECT_TRUE(out[2].deps.waitNext && out[2].deps.signalPrev);
  EXPECT_TRUE(out[3].deps.waitNext);                 // compute -> load
  std::string error;
  EXPECT_TRUE(tokensBalanced(out, error)) << error;
}

TEST(TokenScheduler, ScheduledProgramsComputeWhatTheSerialProgramComputes) {
  // Random programs over a small ABUF/WBUF/DDR: loads, adds, stores. The
  // scheduled program (tokens only) must give the bits of the same program
  // with a barrier after every instruction.
  std::string error;
  auto target = hw::loadTargetByName("vcu128", error);
  ASSERT_TRUE(target) << error;
  std::mt19937 rng(42);
  int differs = 0;
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<isa::Instruction> prog;
    for (int i = 0; i < 30; ++i) {
      switch (rng() % 4) {
      case 0:
        prog.push_back(ddrLoad(rng() % 8, rng() % 2 ? ABUF : WBUF, rng() % 8, 1 + rng() % 2));
        break;
      case 1:
      case 2:
        prog.push_back(add(rng() % 8, rng() % 8, rng() % 8, rng() % 2 ? ABUF : WBUF));
        break;
      case 3:
        prog.push_back(store(rng() % 8, rng() % 8));
        break;
      }
    }
    std::vector<isa::Instruction> serial;
    for (auto &i : prog) {
      serial.push_back(i);
      serial.push_back(isa::toInstruction(isa::Barrier{}));
    }
    serial.push_back(end());
    prog.push_back(end());
    auto scheduled = schedule(prog);
    auto runOn = [&](const std::vector<isa::Instruction> &p, std::vector<uint8_t> &state,
                     bool random) {
      sim::GoldenModel g(*target);
      g.setRandomIssue(random, uint64_t(trial) + 1);
      std::vector<uint8_t> init(16 * 32);
      std::mt19937 r2(7);
      for (auto &b : init)
        b = uint8_t(r2() % 64); // small FP16 values, no overflow
      g.ddr().write(0, init.data(), init.size());
      g.buffer(isa::Buf::Abuf).write(0, init.data(), init.size());
      sim::RunResult r = g.run(p);
      ASSERT_TRUE(r.ok()) << r.message;
      state.resize(3 * 16 * 32);
      g.ddr().read(0, state.data(), 16 * 32);
      g.buffer(isa::Buf::Abuf).read(0, state.data() + 512, 16 * 32);
      g.buffer(isa::Buf::Wbuf).read(0, state.data() + 1024, 16 * 32);
    };
    std::vector<uint8_t> a, b, c;
    runOn(serial, a, false);
    runOn(scheduled, b, true); // only the tokens order the queues
    EXPECT_EQ(a, b) << "trial " << trial;
    // Without tokens the same random issue order gives other bits: the check
    // above has teeth.
    runOn(prog, c, true);
    differs += a != c;
  }
  EXPECT_GT(differs, 10);
}

// Weight tiles move ahead of a K/V load that waits for the previous group's
// attention (here: an add reading the same KBUF beats), so HBM streams
// through that attention; the result is the same bits, under random issue.
TEST(TokenScheduler, WeightLoadsMoveAheadOfAStalledKvLoad) {
  constexpr uint32_t KBUF = uint32_t(isa::Buf::Kbuf);
  auto hbmLoad = [](uint32_t src, uint32_t buf, uint32_t dst, uint32_t len) {
    return load(isa::ExtMem::Hbm, src, buf, dst, len);
  };
  auto kvLoad = [&](uint32_t src) { return hbmLoad(src, KBUF, 0, 1); };
  auto tile = [&](uint32_t src, uint32_t slot) { return hbmLoad(src, WBUF, slot, 1); };
  std::vector<isa::Instruction> prog = {
      ddrLoad(0, ABUF, 0, 2),
      kvLoad(100),       // group 0's K
      add(0, 0, 2, KBUF), // group 0's attention reads KBUF beat 0
      kvLoad(101),       // group 1's K into the same beat: waits for the add
      add(1, 0, 3, KBUF), // group 1's attention
      tile(200, 0),      // the next layer's tiles: free to go before kvLoad(101)
      add(2, 0, 4, WBUF),
      tile(201, 1),
      add(3, 1, 5, WBUF),
      tile(202, 2),       // the third: beyond maxHoist = 2
      add(4, 2, 6, WBUF),
      store(4, 0), store(5, 1), store(6, 2),
      end()};
  std::vector<isa::Instruction> hoisted = prog;
  std::vector<uint32_t> order;
  std::string error;
  RegisterBounds b{};
  ASSERT_EQ(hoistWeightLoads(hoisted, b, 2, order, error), 2u) << error;
  ASSERT_EQ(order.size(), prog.size());
  // Tiles 5 and 7 now sit just before the stalled K/V load (3).
  EXPECT_EQ(std::vector<uint32_t>(order.begin(), order.begin() + 7),
            (std::vector<uint32_t>{0, 1, 2, 5, 7, 3, 4}));
  for (size_t i = 0; i < prog.size(); ++i)
    EXPECT_EQ(hoisted[i].values, prog[order[i]].values) << i;

  // A tile whose slot an instruction in between reads stays, and so do the
  // tiles after it (loads keep their order among themselves).
  std::vector<isa::Instruction> blocked = prog;
  blocked.insert(blocked.begin() + 4, add(0, 0, 7, WBUF)); // reads slot 0 before tile(200, 0)
  std::vector<uint32_t> order2;
  EXPECT_EQ(hoistWeightLoads(blocked, b, 2, order2, error), 0u);
  // Nothing to do without a stall: the K/V loads in separate beats.
  std::vector<isa::Instruction> free = prog;
  free[3] = hbmLoad(101, KBUF, 8, 1);
  std::vector<uint32_t> order3;
  EXPECT_EQ(hoistWeightLoads(free, b, 2, order3, error), 0u);

  auto target = hw::loadTargetByName("vcu128", error);
  ASSERT_TRUE(target) << error;
  auto runOn = [&](const std::vector<isa::Instruction> &p, bool random, uint64_t seed) {
    sim::GoldenModel g(*target);
    g.setRandomIssue(random, seed);
    std::vector<uint8_t> init(16 * 32);
    std::mt19937 r2(7);
    for (auto &x : init)
      x = uint8_t(r2() % 64);
    g.ddr().write(0, init.data(), init.size());
    for (uint32_t src : {100u, 101u, 200u, 201u, 202u}) {
      for (auto &x : init)
        x = uint8_t(r2() % 64);
      g.hbm().write(uint64_t(src) * 32, init.data(), 32);
    }
    sim::RunResult r = g.run(p);
    EXPECT_TRUE(r.ok()) << r.message;
    std::vector<uint8_t> out(3 * 32);
    g.ddr().read(0, out.data(), out.size());
    return out;
  };
  std::vector<isa::Instruction> serial;
  for (auto &i : prog) {
    serial.push_back(i);
    if (i.opcode != isa::Opcode::End)
      serial.push_back(isa::toInstruction(isa::Barrier{}));
  }
  std::vector<uint8_t> want = runOn(serial, false, 0);
  for (uint64_t seed = 1; seed <= 20; ++seed)
    EXPECT_EQ(runOn(schedule(hoisted), true, seed), want) << "seed " << seed;
}
