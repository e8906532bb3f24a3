//===- FastKernelsTest.cpp - Fast simulator kernels = golden model ---------===//
//
// Random programs run on two golden models, one with the reference
// (element-wise) instructions and one with the fast kernels (AVX-512 when
// the CPU has it, and the portable scalar code), and every output bit is
// compared. Inputs: random FP16 with zeros, subnormals, a wide exponent
// range (so aligned products lose bits), infinities and NaN; random weight
// bytes and scales in every density; odd sizes (k not a multiple of 128, n
// not a multiple of 16, M = 1 and M > 1); weights loaded from mapped HBM
// with random striping (the deferred, zero-copy load), or from HBM stored in
// stream order (the session's de-striped weights; the reference model maps
// the same channels instead), or written to WBUF.
// Also: the memory model (mapping, copy-on-write, deferred copies, the
// stream-ordered region and its write hook).
//
//===----------------------------------------------------------------------===//

#include "runtime/device/sim/GoldenModel.h"
#include "edgellm/hw/IsaNumerics.h"

#include "TestTarget.h"

#include <gtest/gtest.h>

#include <random>

using namespace edgellm;
using namespace edgellm::isa;
using edgellm::sim::GoldenModel;

namespace {

using test::vcu128;

/// Random FP16 bits: mostly finite values over a wide exponent range, some
/// zeros and subnormals, and (with `specials`) infinities and NaN.
uint16_t randomHalf(std::mt19937_64 &rng, bool specials, int expLo = 1, int expHi = 30) {
  unsigned kind = rng() % 100;
  uint16_t sign = uint16_t((rng() & 1) << 15);
  if (kind < 5)
    return sign; // +-0
  if (kind < 12)
    return uint16_t(sign | (rng() % 0x3ff + 1)); // subnormal
  if (specials && kind < 14)
    return uint16_t(sign | 0x7c00); // inf
  if (specials && kind < 16)
    return uint16_t(sign | 0x7c00 | (rng() % 0x3ff + 1)); // NaN (any payload)
  unsigned e = unsigned(expLo + int(rng() % unsigned(expHi - expLo + 1)));
  return uint16_t(sign | e << 10 | (rng() & 0x3ff));
}

struct Pair {
  hw::TargetDesc target = vcu128();
  GoldenModel ref{target}, fast{target};
  Pair(kernels::CpuLevel level) {
    ref.setKernels(GoldenModel::Kernels::Reference);
    fast.setKernels(GoldenModel::Kernels::Fast);
    fast.setCpuLevel(level);
    fast.setThreads(2);
  }
  void writeBuf(Buf b, uint64_t byte, const void *p, uint64_t n) {
    ref.buffer(b).write(byte, p, n);
    fast.buffer(b).write(byte, p, n);
  }
  void run(const std::vector<Instruction> &prog) {
    sim::RunResult a = ref.run(prog), b = fast.run(prog);
    ASSERT_TRUE(a.ok()) << a.message;
    ASSERT_TRUE(b.ok()) << b.message;
    EXPECT_EQ(a.executed, b.executed);
  }
};

/// Index of the first 16-bit word that differs, or -1.
int64_t firstDifference(GoldenModel &a, GoldenModel &b, Buf buf, uint64_t beat, uint64_t beats) {
  std::vector<uint16_t> x(beats * 16), y(beats * 16);
  a.buffer(buf).read(beat * 32, x.data(), beats * 32);
  b.buffer(buf).read(beat * 32, y.data(), beats * 32);
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != y[i])
      return int64_t(i);
  return -1;
}

void expectSame(Pair &p, Buf buf, uint64_t beat, uint64_t beats, const std::string &what) {
  int64_t d = firstDifference(p.ref, p.fast, buf, beat, beats);
  if (d >= 0) {
    uint16_t x, y;
    p.ref.buffer(buf).read(beat * 32 + uint64_t(d) * 2, &x, 2);
    p.fast.buffer(buf).read(beat * 32 + uint64_t(d) * 2, &y, 2);
    ADD_FAILURE() << what << ": word " << d << " (beat " << beat + uint64_t(d) / 16 << ", lane "
                  << d % 16 << "): reference 0x" << std::hex << x << ", fast 0x" << y;
  }
}

Instruction endInstr() { return toInstruction(End{}); }

/// A one-row load of `beats` beats from HBM beat `src` (striped over
/// `stripe` pseudo-channels) into `dst` at beat `dstAddr`.
Load hbmRowLoad(uint64_t src, Buf dst, uint64_t dstAddr, uint64_t beats, uint32_t stripe) {
  Load l;
  l.src_mem = uint32_t(ExtMem::Hbm);
  l.dst_buf = uint32_t(dst);
  l.src_addr = uint32_t(src);
  l.dst_addr = uint32_t(dstAddr);
  l.rows = 1;
  l.row_len = uint32_t(beats);
  l.hbm_stripe = stripe;
  return l;
}

/// The vector levels this CPU runs (AVX2 on an AVX-512 CPU too): those with
/// the mm_q4 kernel on relaid weights.
std::vector<kernels::CpuLevel> vectorLevels() {
  std::vector<kernels::CpuLevel> l;
  const kernels::CpuLevel best = kernels::detectCpuLevel();
  if (kernels::hasLanesKernel(best))
    l.push_back(kernels::CpuLevel::Avx2);
  if (best == kernels::CpuLevel::Avx512)
    l.push_back(best);
  return l;
}

/// Every level this CPU runs: the portable code and the vector levels.
std::vector<kernels::CpuLevel> levels() {
  std::vector<kernels::CpuLevel> l = {kernels::CpuLevel::Scalar};
  for (kernels::CpuLevel v : vectorLevels())
    l.push_back(v);
  return l;
}

/// mm_q4 Y[M, N] = X[M, K] . W^T with W from WBUF.
MmQ4 mmQ4Instr(uint64_t xAddr, uint32_t xStride, uint64_t wAddr, uint64_t yAddr, uint32_t yStride,
               uint32_t M, uint32_t K, uint32_t N, Sparsity sp, bool waitPrev) {
  MmQ4 mm;
  mm.deps.waitPrev = waitPrev;
  mm.x_addr = uint32_t(xAddr);
  mm.x_stride = xStride;
  mm.w_buf = uint32_t(Buf::Wbuf);
  mm.w_addr = uint32_t(wAddr);
  mm.y_addr = uint32_t(yAddr);
  mm.y_stride = yStride;
  mm.m = M;
  mm.k = K;
  mm.n = N;
  mm.sparsity = uint32_t(sp);
  return mm;
}

/// N random INT4 weight rows of K inputs: random bytes are a valid encoding
/// in every density; the scales are random FP16 (normal range, with
/// `specials` occasionally inf/NaN).
std::vector<uint8_t> randomQ4Rows(std::mt19937_64 &rng, uint32_t N, uint32_t K, Sparsity sp,
                                  bool specials) {
  const uint64_t rowBeats = q4RowBeats(K, sp);
  std::vector<uint8_t> w(N * rowBeats * 32);
  for (uint8_t &b : w)
    b = uint8_t(rng());
  for (uint64_t n = 0; n < N; ++n)
    for (uint64_t b0 = 0, beat = 0; b0 < K; b0 += kQuantBlock) {
      uint64_t len = std::min<uint64_t>(kQuantBlock, K - b0), ng = (len + 127) / 128;
      for (unsigned g = 0; g < 16; ++g) {
        uint16_t s = randomHalf(rng, specials && rng() % 8 == 0, 1, 20);
        std::memcpy(&w[(n * rowBeats + beat) * 32 + 2 * g], &s, 2);
      }
      beat += 1 + (ng * groupPayloadBytes(sp) + 31) / 32;
    }
  return w;
}

/// One inf or NaN input in every other token of X [M, K] (unified layout,
/// stride xStride): at the last lane of a beat in one, anywhere in the
/// next. A denser sprinkling makes every output non-finite whatever a kernel
/// does with any one group.
void sprinkleSpecials(std::vector<uint16_t> &xs, uint32_t M, uint32_t K, uint32_t xStride,
                      std::mt19937_64 &rng) {
  for (uint32_t m = 0; m < M && K > 0; m += 2) {
    const uint32_t c = m % 4 == 0 && K >= 16 ? 16 * uint32_t(rng() % (K / 16)) + 15 : uint32_t(rng() % K);
    xs[((c / 16) * xStride + m) * 16 + c % 16] =
        uint16_t(0x7c00 | (rng() & 1) << 15 | (rng() % 2 ? uint16_t(rng() % 0x3ff + 1) : 0));
  }
}

/// One random mm_q4 case, its weights either loaded from mapped HBM (striped)
/// or written into WBUF; returns false when a comparison failed.
void runMmQ4(kernels::CpuLevel level, Sparsity sp, uint32_t M, uint32_t K, uint32_t N,
             bool fromHbm, bool bias, bool specials, int expLo, uint64_t seed,
             bool streamOrder = false) {
  Pair p(level);
  std::mt19937_64 rng(seed);
  const uint32_t xStride = M + uint32_t(rng() % 3), yStride = M + uint32_t(rng() % 2);
  const uint64_t xAddr = 8, yAddr = 40000, bAddr = 90000;
  // X [M, K] in ABUF (whole beats, lanes past K random too: never read).
  uint64_t xBeats = uint64_t((K + 15) / 16) * xStride;
  std::vector<uint16_t> xs(xBeats * 16);
  for (uint16_t &h : xs)
    h = randomHalf(rng, false, expLo);
  if (specials)
    sprinkleSpecials(xs, M, K, xStride, rng);
  p.writeBuf(Buf::Abuf, xAddr * 32, xs.data(), xs.size() * 2);
  // Stale output contents, so that untouched and padded lanes are compared.
  uint64_t yBeats = uint64_t((N + 15) / 16) * yStride;
  std::vector<uint16_t> junk(yBeats * 16);
  for (uint16_t &h : junk)
    h = uint16_t(rng());
  p.writeBuf(Buf::Abuf, yAddr * 32, junk.data(), junk.size() * 2);
  std::vector<uint16_t> bs((N + 15) / 16 * 16);
  for (uint16_t &h : bs)
    h = randomHalf(rng, specials);
  p.writeBuf(Buf::Abuf, bAddr * 32, bs.data(), bs.size() * 2);
  std::vector<uint8_t> w = randomQ4Rows(rng, N, K, sp, specials);
  std::vector<Instruction> prog;
  const uint64_t wAddr = 64;
  std::vector<std::vector<uint8_t>> channels; // the "package" HBM image
  if (fromHbm) {
    // Stripe the row of beats over P channels from channel c0, offset off.
    uint32_t P = uint32_t(1 + rng() % 32), c0 = uint32_t(rng() % 32), off = uint32_t(rng() % 100);
    if (streamOrder && seed % 2 == 0)
      P = 32, c0 = 0; // the weight-tile load: one contiguous stream range
    uint64_t beats = w.size() / 32, perCh = (beats + P - 1) / P + off;
    channels.assign(32, std::vector<uint8_t>());
    for (uint32_t i = 0; i < P; ++i) {
      auto &c = channels[(c0 + i) % 32];
      c.assign(perCh * 32, 0);
      for (uint64_t j = i; j < beats; j += P)
        std::memcpy(&c[(off + j / P) * 32], &w[j * 32], 32);
    }
    uint8_t *stream = streamOrder ? p.fast.stripeHbm(perCh + rng() % 3) : nullptr;
    if (streamOrder)
      ASSERT_NE(stream, nullptr);
    for (uint32_t ch = 0; ch < 32; ++ch)
      if (!channels[ch].empty()) {
        p.ref.hbm().map(uint64_t(ch) * kHbmChannelBeats * 32, channels[ch].data(), channels[ch].size());
        if (!stream)
          p.fast.hbm().map(uint64_t(ch) * kHbmChannelBeats * 32, channels[ch].data(),
                           channels[ch].size());
        else // stream beat p = beat p / 32 of channel p % 32
          for (uint64_t o = 0; o < perCh; ++o)
            std::memcpy(stream + (o * 32 + ch) * 32, &channels[ch][o * 32], 32);
      }
    Load l = hbmRowLoad(uint64_t(c0) * kHbmChannelBeats + off, Buf::Wbuf, wAddr, beats, P);
    l.deps.signalNext = true;
    prog.push_back(toInstruction(l));
  } else {
    p.writeBuf(Buf::Wbuf, wAddr * 32, w.data(), w.size());
  }
  MmQ4 mm = mmQ4Instr(xAddr, xStride, wAddr, yAddr, yStride, M, K, N, sp, fromHbm);
  mm.has_bias = bias;
  mm.b_addr = uint32_t(bAddr);
  prog.push_back(toInstruction(mm));
  prog.push_back(endInstr());
  p.run(prog);
  expectSame(p, Buf::Abuf, yAddr, yBeats + 1,
             std::string("mm_q4 ") + kernels::cpuLevelName(level) + " density " +
                 std::to_string(unsigned(sp)) + " M=" + std::to_string(M) + " K=" +
                 std::to_string(K) + " N=" + std::to_string(N) +
                 (fromHbm ? (streamOrder ? " hbm-stream" : " hbm") : " wbuf") +
                 " seed " + std::to_string(seed));
  // The weights the reference path copied equal what the fast path deferred.
  expectSame(p, Buf::Wbuf, wAddr, w.size() / 32, "loaded weights");
}

} // namespace

TEST(FastKernels, MmQ4EveryDensityAndShape) {
  const uint32_t shapes[][3] = {{1, 128, 16},  {1, 300, 13},   {3, 100, 40},  {1, 2178, 33},
                                {17, 257, 5},  {1, 4103, 19},  {2, 1, 1},     {5, 2048, 32}};
  uint64_t seed = 1;
  for (kernels::CpuLevel level : levels())
    for (Sparsity sp : {Sparsity::Dense, Sparsity::Half, Sparsity::Quarter, Sparsity::Eighth})
      for (auto &s : shapes) {
        ++seed;
        runMmQ4(level, sp, s[0], s[1], s[2], seed % 2 == 0, seed % 3 != 0, false, 1, seed);
      }
}

TEST(FastKernels, MmQ4FromStreamOrderedHbm) {
  // Weights from HBM kept in stream order: full-width tile loads from
  // channel 0 (one contiguous range, read in place) and any other striping
  // (beats 32 apart per channel), every density, M = 1 and M > 1.
  const uint32_t shapes[][3] = {{1, 4096, 40}, {1, 2178, 33}, {4, 640, 17}, {1, 300, 70}};
  uint64_t seed = 3000;
  for (kernels::CpuLevel level : levels())
    for (Sparsity sp : {Sparsity::Dense, Sparsity::Half, Sparsity::Quarter, Sparsity::Eighth})
      for (auto &s : shapes)
        for (int twice = 0; twice < 2; ++twice) {
          ++seed;
          runMmQ4(level, sp, s[0], s[1], s[2], true, seed % 3 != 0, seed % 5 == 0, 1 + int(seed % 8),
                  seed, true);
        }
}

TEST(FastKernels, MmQ4WideExponentsAndSpecials) {
  // Inputs spread over all exponents: many products lose bits when aligned
  // (the correction terms), plus infinities and NaN in some groups.
  uint64_t seed = 1000;
  for (kernels::CpuLevel level : levels())
    for (Sparsity sp : {Sparsity::Dense, Sparsity::Half, Sparsity::Quarter, Sparsity::Eighth})
      for (bool specials : {false, true}) {
        ++seed;
        runMmQ4(level, sp, 1 + uint32_t(seed % 4), 128 * 3 + 77, 37, true, true, specials, 1,
                seed);
        runMmQ4(level, sp, 1, 640, 48, false, false, specials, 8, seed + 7777);
        runMmQ4(level, sp, 1 + uint32_t(seed % 3), 128 * 5 + 3, 21, true, true, specials, 1,
                seed + 2 * 7777 + (seed % 2), true);
      }
}

/// mm_q4 on weight tiles the fast model keeps relaid (relayWeightTiles),
/// loaded as the compiler loads them (channel 0, stripe 32), against the
/// reference model on the same HBM: then a write into the tile (the copy
/// must be dropped) and the same program again.
void runMmQ4Relaid(kernels::CpuLevel level, Sparsity sp, uint32_t M, uint32_t K, uint32_t N,
                   bool specials, uint64_t seed) {
  Pair p(level);
  std::mt19937_64 rng(seed);
  const uint64_t xAddr = 8, yAddr = 40000, wAddr = 64;
  const uint32_t xStride = M + uint32_t(rng() % 2);
  std::vector<uint16_t> xs(uint64_t((K + 15) / 16) * xStride * 16);
  // Every third seed, tiny inputs only (exponent fields 0 and 1: E = 1).
  for (uint16_t &h : xs)
    h = randomHalf(rng, false, 1, seed % 3 == 0 ? 1 : 30);
  if (specials)
    sprinkleSpecials(xs, M, K, xStride, rng);
  p.writeBuf(Buf::Abuf, xAddr * 32, xs.data(), xs.size() * 2);
  const uint64_t beats = N * q4RowBeats(K, sp);
  std::vector<uint8_t> w = randomQ4Rows(rng, N, K, sp, specials);
  // The tile in stream order over the 32 channels from beat offset 3.
  const uint64_t offset = 3, perCh = (beats + 31) / 32;
  std::vector<std::vector<uint8_t>> ch(32, std::vector<uint8_t>(perCh * 32, 0));
  for (uint64_t q = 0; q < beats; ++q)
    std::memcpy(&ch[q % 32][(q / 32) * 32], &w[q * 32], 32);
  for (uint32_t c = 0; c < 32; ++c) {
    uint64_t at = (uint64_t(c) * kHbmChannelBeats + offset) * 32;
    p.ref.hbm().map(at, ch[c].data(), ch[c].size());
    p.fast.hbm().map(at, ch[c].data(), ch[c].size());
  }
  ASSERT_GT(p.fast.relayWeightTiles({package::WeightTile{offset * 32, beats, N, K, uint32_t(sp)}}), 0u);
  Load l = hbmRowLoad(offset, Buf::Wbuf, wAddr, beats, 32);
  l.deps.signalNext = true;
  MmQ4 mm = mmQ4Instr(xAddr, xStride, wAddr, yAddr, M, M, K, N, sp, true);
  // Every other seed with a bias (with `specials`, inf and NaN among it).
  const bool bias = seed % 2 == 0;
  if (bias) {
    std::vector<uint16_t> bs((N + 15) / 16 * 16);
    for (uint16_t &h : bs)
      h = randomHalf(rng, specials, 1);
    mm.has_bias = true;
    mm.b_addr = 30000;
    p.writeBuf(Buf::Abuf, 30000 * 32, bs.data(), bs.size() * 2);
  }
  const std::vector<Instruction> prog = {toInstruction(l), toInstruction(mm), endInstr()};
  const uint64_t yBeats = uint64_t((N + 15) / 16) * M;
  const std::string what = std::string("relaid mm_q4 ") + kernels::cpuLevelName(level) +
                           " density " + std::to_string(unsigned(sp)) + " M=" +
                           std::to_string(M) + " K=" + std::to_string(K) + " N=" +
                           std::to_string(N) + (bias ? " bias" : "") + " seed " +
                           std::to_string(seed);
  p.run(prog);
  EXPECT_EQ(p.fast.relaidProducts(), 1u) << what;
  expectSame(p, Buf::Abuf, yAddr, yBeats, what);
  // Change a payload byte of the last row in HBM: the copy is stale now.
  uint64_t q = beats - 1;
  uint8_t beat[32];
  p.ref.hbm().read((uint64_t(q % 32) * kHbmChannelBeats + offset + q / 32) * 32, beat, 32);
  beat[31] ^= 0x5a;
  for (GoldenModel *g : {&p.ref, &p.fast})
    g->hbm().write((uint64_t(q % 32) * kHbmChannelBeats + offset + q / 32) * 32, beat, 32);
  p.run(prog);
  EXPECT_EQ(p.fast.relaidProducts(), 1u) << what << ": the stale copy was used";
  expectSame(p, Buf::Abuf, yAddr, yBeats, what + " after a write");
}

TEST(FastKernels, MmQ4RelaidTiles) {
  if (vectorLevels().empty())
    GTEST_SKIP() << "relaid tiles need the AVX2 or AVX-512 kernels";
  // One token: {1, 4096, 48} and {1, 2178, 33} in items of a few groups
  // (few blocks), {1, 4096, 600} (38 blocks) and {1, 300, 70} (3 groups) in
  // items of whole blocks. {7, 13696, 40}: two chunks of tokens (6 + 1),
  // items of two blocks and one.
  const uint32_t shapes[][3] = {{1, 4096, 48}, {1, 2178, 33}, {1, 4096, 600}, {1, 300, 70},
                                {2, 640, 17},  {3, 300, 70},  {5, 128, 16},   {7, 13696, 40}};
  for (kernels::CpuLevel level : vectorLevels()) {
    uint64_t seed = 9000;
    for (Sparsity sp : {Sparsity::Dense, Sparsity::Half, Sparsity::Quarter, Sparsity::Eighth})
      for (auto &s : shapes)
        for (bool specials : {false, true})
          runMmQ4Relaid(level, sp, s[0], s[1], s[2], specials, ++seed);
  }
}

TEST(FastKernels, MmQ4RelaidTilesOfOneInputRunTogether) {
  // Three products of the same input (one token, or three) on relaid tiles
  // (pending until another instruction comes, then one job), an eltwise
  // reading two of their outputs, and a fourth product after it: every
  // output as the reference model computes it, in program order.
  if (vectorLevels().empty())
    GTEST_SKIP() << "relaid tiles need the AVX2 or AVX-512 kernels";
  for (kernels::CpuLevel level : vectorLevels())
  for (uint32_t M : {1u, 3u})
  for (Sparsity sp : {Sparsity::Dense, Sparsity::Quarter}) {
    Pair p(level);
    std::mt19937_64 rng(77 + unsigned(sp));
    const uint32_t K = 640, N = 48;
    std::vector<uint16_t> xs(K * M);
    for (uint16_t &h : xs)
      h = randomHalf(rng, false, 1);
    p.writeBuf(Buf::Abuf, 8 * 32, xs.data(), xs.size() * 2);
    const uint64_t beats = N * q4RowBeats(K, sp), perCh = (beats + 31) / 32;
    std::vector<std::vector<uint8_t>> ch(32, std::vector<uint8_t>(4 * perCh * 32, 0));
    std::vector<package::WeightTile> tiles;
    for (unsigned t = 0; t < 4; ++t) {
      std::vector<uint8_t> w = randomQ4Rows(rng, N, K, sp, false);
      for (uint64_t q = 0; q < beats; ++q)
        std::memcpy(&ch[q % 32][(t * perCh + q / 32) * 32], &w[q * 32], 32);
      tiles.push_back({t * perCh * 32, beats, N, K, uint32_t(sp)});
    }
    for (uint32_t c = 0; c < 32; ++c) {
      p.ref.hbm().map(uint64_t(c) * kHbmChannelBeats * 32, ch[c].data(), ch[c].size());
      p.fast.hbm().map(uint64_t(c) * kHbmChannelBeats * 32, ch[c].data(), ch[c].size());
    }
    ASSERT_GT(p.fast.relayWeightTiles(tiles), 0u);
    std::vector<Instruction> prog;
    auto load = [&](unsigned t) {
      prog.push_back(toInstruction(hbmRowLoad(t * perCh, Buf::Wbuf, 64 + t * 1000, beats, 32)));
    };
    auto mm = [&](unsigned t) {
      prog.push_back(toInstruction(mmQ4Instr(8, M, 64 + t * 1000, 1000 + 10 * t, M, M, K, N, sp, false)));
    };
    for (unsigned t = 0; t < 4; ++t)
      load(t);
    mm(0), mm(1), mm(2);
    Eltwise e;
    e.op = uint32_t(EwOp::Add);
    e.a_addr = 1000, e.b_addr = 1010, e.y_addr = 1000; // reads and overwrites product 0
    e.a_stride = e.b_stride = e.y_stride = M;
    e.m = M, e.c = N;
    prog.push_back(toInstruction(e));
    mm(3);
    prog.push_back(endInstr());
    p.run(prog);
    EXPECT_EQ(p.fast.relaidProducts(), 4u);
    expectSame(p, Buf::Abuf, 1000, 40, std::string(kernels::cpuLevelName(level)) +
                                           ": products of one input run together, M=" +
                                           std::to_string(M) + " density " +
                                           std::to_string(unsigned(sp)));
  }
}

TEST(FastKernels, MmQ4RelaidTilesIntoOneOutputPairWithStores) {
  // The lm_head's pattern: six products of one input on relaid tiles whose
  // outputs alternate between two Y buffers, each stored to DDR right
  // after it. They run as one job; the outputs and the stores follow in
  // program order (each store reads its own product's output, not the
  // one that later overwrites the same Y).
  if (vectorLevels().empty())
    GTEST_SKIP() << "relaid tiles need the AVX2 or AVX-512 kernels";
  for (kernels::CpuLevel level : vectorLevels())
  for (uint32_t M : {1u, 3u}) {
    Pair p(level);
    std::mt19937_64 rng(91 + M);
    const uint32_t K = 640, N = 48, T = 6;
    std::vector<uint16_t> xs(K * M);
    for (uint16_t &h : xs)
      h = randomHalf(rng, false, 1);
    p.writeBuf(Buf::Abuf, 8 * 32, xs.data(), xs.size() * 2);
    const uint64_t beats = N * q4RowBeats(K, Sparsity::Dense), perCh = (beats + 31) / 32;
    std::vector<std::vector<uint8_t>> ch(32, std::vector<uint8_t>(T * perCh * 32, 0));
    std::vector<package::WeightTile> tiles;
    for (unsigned t = 0; t < T; ++t) {
      std::vector<uint8_t> w = randomQ4Rows(rng, N, K, Sparsity::Dense, false);
      for (uint64_t q = 0; q < beats; ++q)
        std::memcpy(&ch[q % 32][(t * perCh + q / 32) * 32], &w[q * 32], 32);
      tiles.push_back({t * perCh * 32, beats, N, K, uint32_t(Sparsity::Dense)});
    }
    for (uint32_t c = 0; c < 32; ++c) {
      p.ref.hbm().map(uint64_t(c) * kHbmChannelBeats * 32, ch[c].data(), ch[c].size());
      p.fast.hbm().map(uint64_t(c) * kHbmChannelBeats * 32, ch[c].data(), ch[c].size());
    }
    ASSERT_GT(p.fast.relayWeightTiles(tiles), 0u);
    const uint64_t yBeats = uint64_t(N / 16) * M;
    std::vector<Instruction> prog;
    for (unsigned t = 0; t < T; ++t) {
      prog.push_back(toInstruction(hbmRowLoad(t * perCh, Buf::Wbuf, 64 + (t % 2) * 1000, beats, 32)));
      prog.push_back(toInstruction(
          mmQ4Instr(8, M, 64 + (t % 2) * 1000, 1000 + 20 * (t % 2), M, M, K, N, Sparsity::Dense, false)));
      Store st;
      st.src_addr = uint32_t(1000 + 20 * (t % 2));
      st.dst_addr = uint32_t(100 + yBeats * t);
      st.rows = N / 16;
      st.row_len = M;
      st.src_stride = st.dst_stride = M;
      prog.push_back(toInstruction(st));
    }
    prog.push_back(endInstr());
    p.run(prog);
    EXPECT_EQ(p.fast.relaidProducts(), uint64_t(T));
    const std::string what = std::string(kernels::cpuLevelName(level)) +
                             ": double-buffered outputs with stores, M=" + std::to_string(M);
    expectSame(p, Buf::Abuf, 1000, 40, what);
    std::vector<uint16_t> a(T * yBeats * 16), b(a.size());
    p.ref.ddr().read(100 * 32, a.data(), a.size() * 2);
    p.fast.ddr().read(100 * 32, b.data(), b.size() * 2);
    EXPECT_EQ(a, b) << what << ": the stored outputs";
  }
}

TEST(FastKernels, LoadAfterAWriteIntoItsMappedSource) {
  // A one-row HBM load from mapped pages is a deferred copy whose source
  // runs are kept for the next run of the same load. A write into HBM
  // there (copy-on-write: the page becomes private) must make the next
  // load read the new bytes, not the mapped ones.
  Pair p(kernels::detectCpuLevel());
  std::mt19937_64 rng(4242);
  std::vector<uint8_t> page(1 << 20); // one whole HBM page: mapped, not copied
  for (uint8_t &b : page)
    b = uint8_t(rng());
  p.ref.hbm().map(0, page.data(), page.size());
  p.fast.hbm().map(0, page.data(), page.size());
  const std::vector<Instruction> prog = {toInstruction(hbmRowLoad(0, Buf::Abuf, 100, 64, 1)),
                                         endInstr()};
  p.run(prog);
  expectSame(p, Buf::Abuf, 100, 64, "first load");
  uint8_t beat[32];
  for (uint8_t &b : beat)
    b = uint8_t(rng());
  for (GoldenModel *g : {&p.ref, &p.fast})
    g->hbm().write(7 * 32, beat, 32);
  p.run(prog);
  expectSame(p, Buf::Abuf, 100, 64, "the same load after a write into its source");
  std::vector<uint8_t> got(32);
  p.fast.buffer(Buf::Abuf).read((100 + 7) * 32, got.data(), 32);
  EXPECT_EQ(0, std::memcmp(got.data(), beat, 32)) << "the written beat";
}

TEST(FastKernels, MmF16AllForms) {
  uint64_t seed = 5000;
  for (kernels::CpuLevel level : levels())
    for (bool trans : {false, true})
      for (bool acc : {false, true})
        for (uint32_t M : {1u, 5u})
          for (uint32_t N : {1u, 17u, 70u})
            for (uint32_t K : {0u, 1u, 16u, 33u, 130u}) {
              ++seed;
              Pair p(level);
              std::mt19937_64 rng(seed);
              const uint64_t aAddr = 0, bAddr = 0, cAddr = 5000;
              uint32_t aStride = M + 1, bRows = trans ? N : K, bChans = trans ? K : N;
              uint32_t bStride = bRows + 2, cStride = M;
              auto fill = [&](Buf buf, uint64_t beat, uint64_t beats, bool specials) {
                std::vector<uint16_t> v(beats * 16);
                for (uint16_t &h : v)
                  h = randomHalf(rng, specials, 5, 20);
                p.writeBuf(buf, beat * 32, v.data(), v.size() * 2);
              };
              bool specials = seed % 5 == 0;
              fill(Buf::Abuf, aAddr, uint64_t((K + 15) / 16 + 1) * aStride, specials);
              fill(Buf::Kbuf, bAddr, uint64_t((bChans + 15) / 16 + 1) * bStride, specials);
              fill(Buf::Abuf, cAddr, uint64_t((N + 15) / 16 + 1) * cStride, false);
              MmF16 mm;
              mm.a_addr = uint32_t(aAddr);
              mm.a_stride = aStride;
              mm.b_buf = uint32_t(Buf::Kbuf);
              mm.b_addr = uint32_t(bAddr);
              mm.b_stride = bStride;
              mm.c_addr = uint32_t(cAddr);
              mm.c_stride = cStride;
              mm.m = M;
              mm.n = N;
              mm.k = K;
              mm.trans_b = trans;
              mm.acc = acc;
              mm.alpha = bitsFromF32(seed % 2 ? 0.125f : 1.7f);
              p.run({toInstruction(mm), endInstr()});
              expectSame(p, Buf::Abuf, cAddr, uint64_t((N + 15) / 16 + 1) * cStride,
                         std::string("mm_f16 ") + kernels::cpuLevelName(level) +
                             (trans ? " trans_b" : "") + (acc ? " acc" : "") +
                             " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                             " K=" + std::to_string(K));
            }
}

TEST(FastKernels, RelayoutIsTheSameAtEveryLevel) {
  // q4ToLanes' transposition exists portable, in AVX2 and in AVX-512: the
  // same bytes (rows past the end, k not a multiple of 2048, every density).
  uint64_t seed = 600;
  for (Sparsity sp : {Sparsity::Dense, Sparsity::Quarter})
    for (auto [N, K] : {std::pair{16u, 4096u}, {21u, 300u}, {40u, 2178u}}) {
      std::mt19937_64 rng(++seed);
      std::vector<uint8_t> w = randomQ4Rows(rng, N, K, sp, false);
      const uint64_t bytes = kernels::q4LanesBytes(N, K);
      std::vector<uint8_t> want(bytes, 0xee);
      kernels::q4ToLanes(kernels::BeatRuns::contiguous(w.data()), N, K, sp, want.data(),
                         kernels::CpuLevel::Scalar);
      for (kernels::CpuLevel level : vectorLevels()) {
        std::vector<uint8_t> got(bytes, 0x11);
        kernels::q4ToLanes(kernels::BeatRuns::contiguous(w.data()), N, K, sp, got.data(), level);
        EXPECT_EQ(got, want) << kernels::cpuLevelName(level) << " N=" << N << " K=" << K
                             << " density " << unsigned(sp);
      }
    }
}

TEST(FastKernels, TheComparisonCanFail) {
  // The same case as above, then one output bit flipped in the fast model:
  // the comparison must see it.
  Pair p(kernels::detectCpuLevel());
  std::vector<uint16_t> x(16 * 8);
  std::mt19937_64 rng(3);
  for (uint16_t &h : x)
    h = randomHalf(rng, false);
  p.writeBuf(Buf::Abuf, 0, x.data(), x.size() * 2);
  Eltwise e;
  e.op = uint32_t(EwOp::Add);
  e.a_stride = e.b_stride = e.y_stride = 1;
  e.b_addr = 1;
  e.y_addr = 100;
  e.m = 1;
  e.c = 16;
  p.run({toInstruction(e), endInstr()});
  EXPECT_EQ(firstDifference(p.ref, p.fast, Buf::Abuf, 100, 1), -1);
  uint16_t h;
  p.fast.buffer(Buf::Abuf).read(100 * 32 + 6, &h, 2);
  h ^= 1;
  p.fast.buffer(Buf::Abuf).write(100 * 32 + 6, &h, 2);
  EXPECT_EQ(firstDifference(p.ref, p.fast, Buf::Abuf, 100, 1), 3);
}

TEST(FastKernels, MemoryMapsCopyOnWriteAndDefers) {
  sim::SparseMemory hbm(uint64_t(64) << 20), wbuf(1 << 20, true);
  std::vector<uint8_t> image((3 << 20) + 100);
  for (size_t i = 0; i < image.size(); ++i)
    image[i] = uint8_t(i * 7 + 1);
  hbm.map(5, image.data(), image.size()); // unaligned: edges are copied
  uint8_t b[4];
  hbm.read(5 + (2 << 20), b, 4);
  EXPECT_EQ(b[0], image[2 << 20]);
  EXPECT_NE(hbm.mappedSpan(1 << 20, 1 << 20), nullptr); // a whole page is shared
  EXPECT_LT(hbm.privateBytes(), uint64_t(3) << 20);
  // Defer a copy of 4 beats, then overwrite the source: the copy keeps the old bytes.
  kernels::BeatRuns runs = kernels::BeatRuns::contiguous(hbm.mappedSpan(1 << 20, 128));
  wbuf.defer(32, 4, runs);
  uint8_t one = 0xab;
  hbm.write(1 << 20, &one, 1); // copy-on-write: the image is untouched
  EXPECT_EQ(image[(1 << 20) - 5], uint8_t(((1 << 20) - 5) * 7 + 1));
  hbm.read(1 << 20, b, 1);
  EXPECT_EQ(b[0], 0xab);
  wbuf.read(32, b, 1);
  EXPECT_EQ(b[0], image[(1 << 20) - 5]);
  // A write into part of a deferred copy performs only that part.
  wbuf.write(64, &one, 1);
  wbuf.read(64, b, 2);
  EXPECT_EQ(b[0], 0xab);
  EXPECT_EQ(b[1], image[(1 << 20) - 5 + 33]);
  wbuf.read(32 * 4, b, 1);
  EXPECT_EQ(b[0], image[(1 << 20) - 5 + 96]);
}

TEST(FastKernels, StreamOrderedHbmRegion) {
  // HBM channels 0..31 (their first L beats) stored in stream order: every
  // access maps (channel, offset) to stream beat offset * 32 + channel.
  auto target = vcu128();
  GoldenModel g(target);
  const uint64_t L = 100;
  uint8_t *stream = g.stripeHbm(L);
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(g.hbm().stripedBeats(), L);
  for (uint64_t i = 0; i < 32 * L * 32; ++i)
    stream[i] = uint8_t(i * 13 + 5);
  auto streamByte = [&](uint64_t ch, uint64_t beat, uint64_t b) {
    return stream[(beat * 32 + ch) * 32 + b];
  };
  const uint64_t chBytes = uint64_t(kHbmChannelBeats) * 32;
  // Unaligned reads across beats of one channel, and past the region's end
  // (ordinary zero pages).
  std::vector<uint8_t> buf(200);
  g.hbm().read(3 * chBytes + 5 * 32 + 7, buf.data(), buf.size());
  for (uint64_t i = 0; i < buf.size(); ++i) {
    uint64_t a = 5 * 32 + 7 + i;
    EXPECT_EQ(buf[i], streamByte(3, a / 32, a % 32)) << i;
  }
  g.hbm().read(7 * chBytes + (L - 1) * 32, buf.data(), 64);
  EXPECT_EQ(buf[0], streamByte(7, L - 1, 0));
  EXPECT_EQ(buf[32], 0);
  EXPECT_EQ(g.hbm().readSpan(3 * chBytes, 64), nullptr); // not contiguous
  uint64_t step = 0;
  EXPECT_EQ(g.hbm().stableBeats(4 * chBytes + 2 * 32, 10, step), &stream[(2 * 32 + 4) * 32]);
  EXPECT_EQ(step, 32u * 32u);
  EXPECT_EQ(g.hbm().stableBeats(4 * chBytes + (L - 2) * 32, 3, step), nullptr); // leaves it
  // A program: a deferred full-width tile load, then a kv_append into the
  // bytes it read, then a read of WBUF: the load's snapshot is kept (the
  // region's write hook performs the deferred copy first).
  Load l = hbmRowLoad(2, Buf::Wbuf, 10, 70, 32); // channel 0, offset 2: stream beats 64 ..
  KvAppend kv;
  kv.src_buf = uint32_t(Buf::Abuf);
  kv.src_addr = 0;
  kv.dst_addr = 1 * kHbmChannelBeats + 2; // channel 1, offset 2: stream beat 65
  kv.rows = 1;
  kv.row_len = 1;
  kv.hbm_stripe = 1;
  std::vector<uint8_t> ones(32, 0xee);
  g.buffer(Buf::Abuf).write(0, ones.data(), 32);
  std::vector<uint8_t> before(70 * 32);
  std::memcpy(before.data(), stream + 64 * 32, before.size());
  sim::RunResult r = g.run({toInstruction(l), toInstruction(kv), endInstr()});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(stream[65 * 32], 0xee); // written in place
  std::vector<uint8_t> got(70 * 32);
  g.buffer(Buf::Wbuf).read(10 * 32, got.data(), got.size());
  EXPECT_EQ(got, before);
  // Writes and maps into the region go through the same mapping.
  uint8_t v[40];
  for (unsigned i = 0; i < 40; ++i)
    v[i] = uint8_t(200 + i);
  g.hbm().write(9 * chBytes + 3 * 32 + 20, v, 40);
  EXPECT_EQ(streamByte(9, 3, 20), 200);
  EXPECT_EQ(streamByte(9, 4, 0), 212);
  g.hbm().map(9 * chBytes + 10 * 32, v, 40);
  EXPECT_EQ(streamByte(9, 10, 0), 200);
  EXPECT_EQ(streamByte(9, 11, 7), 239);
}

TEST(FastKernels, RopeInterleaved) {
  // rope with interleaved pairs (the fast path: heads of whole beats), in
  // place and apart, random FP16 inputs with specials and random FP32
  // (cos, sin) tables (also non-finite); other shapes take the reference path.
  for (kernels::CpuLevel level : levels()) {
  uint64_t seed = 9500;
  for (uint32_t M : {1u, 3u})
    for (uint32_t heads : {1u, 3u})
      for (uint32_t headDim : {16u, 32u, 128u})
        for (uint32_t rotDim : {16u, headDim / 2, headDim})
          for (bool inPlace : {false, true}) {
            if (rotDim % 8 || rotDim < 8)
              continue;
            ++seed;
            Pair p(level);
            std::mt19937_64 rng(seed);
            const uint32_t chans = heads * headDim, S = M + 1;
            const uint64_t beats = uint64_t(chans / 16 + 1) * S;
            std::vector<uint16_t> v(beats * 16);
            for (uint16_t &h : v)
              h = randomHalf(rng, seed % 3 == 0, 1, 20);
            p.writeBuf(Buf::Abuf, 0, v.data(), v.size() * 2);
            p.writeBuf(Buf::Abuf, 5000 * 32, v.data(), v.size() * 2);
            std::vector<float> table(uint64_t(M) * rotDim);
            std::uniform_real_distribution<float> u(-1.5f, 1.5f);
            for (float &f : table)
              f = rng() % 50 == 0 ? (rng() % 2 ? INFINITY : NAN) : u(rng);
            p.writeBuf(Buf::Kbuf, 64 * 32, table.data(), table.size() * 4);
            Rope r;
            r.x_addr = 0, r.y_addr = inPlace ? 0 : 5000;
            r.x_stride = r.y_stride = S;
            r.t_buf = uint32_t(Buf::Kbuf);
            r.t_addr = 64;
            r.m = M, r.heads = heads, r.head_dim = headDim, r.rot_dim = rotDim;
            p.run({toInstruction(r), endInstr()});
            expectSame(p, Buf::Abuf, inPlace ? 0 : 5000, beats,
                       std::string("rope ") + kernels::cpuLevelName(level) + " M=" +
                           std::to_string(M) + " heads=" + std::to_string(heads) +
                           " head_dim=" + std::to_string(headDim) + " rot_dim=" +
                           std::to_string(rotDim) + (inPlace ? " in place" : " apart"));
          }
  }
}

TEST(FastKernels, Softmax) {
  // softmax rows (the fast path) in place and apart, with and without the
  // causal mask (diagonals that leave no, some and every column valid),
  // random FP16 with specials, and rows of non-positive values with zeros
  // (a zero maximum: its sign is the first zero's).
  for (kernels::CpuLevel level : levels()) {
  uint64_t seed = 9700;
  for (uint32_t M : {1u, 3u, 70u}) // 70 x 64: rows on two threads
    for (uint32_t N : {1u, 16u, 37u, 64u})
      for (int diag : {-1000, -2, 0, 5, 1000})
        for (bool inPlace : {false, true}) {
          ++seed;
          Pair p(level);
          std::mt19937_64 rng(seed);
          const uint32_t S = M + 1;
          const uint64_t beats = uint64_t(N / 16 + 1) * S;
          const bool nonPositive = seed % 3 == 0;
          std::vector<uint16_t> v(beats * 16);
          for (uint16_t &h : v) {
            h = randomHalf(rng, seed % 2 == 0, 1, 17);
            if (nonPositive)
              h = rng() % 4 == 0 ? uint16_t((rng() & 1) << 15) : uint16_t(h | 0x8000);
          }
          p.writeBuf(Buf::Abuf, 0, v.data(), v.size() * 2);
          p.writeBuf(Buf::Abuf, 5000 * 32, v.data(), v.size() * 2);
          Softmax sm;
          sm.x_addr = 0, sm.y_addr = inPlace ? 0 : 5000;
          sm.x_stride = sm.y_stride = S;
          sm.m = M, sm.n = N;
          sm.causal = diag != 1000;
          // D = diag + R[diag_reg], signed: the diagonal through a register.
          RegOp r;
          r.op = uint32_t(AluOp::Add);
          r.rd = 9;
          r.imm = uint32_t(int32_t(diag));
          sm.diag_reg = 9;
          p.run({toInstruction(r), toInstruction(sm), endInstr()});
          expectSame(p, Buf::Abuf, inPlace ? 0 : 5000, beats,
                     std::string("softmax ") + kernels::cpuLevelName(level) + " M=" +
                         std::to_string(M) + " N=" + std::to_string(N) +
                         (sm.causal ? " diag=" + std::to_string(diag) : " not causal") +
                         (inPlace ? " in place" : " apart") + " seed " + std::to_string(seed));
        }
  }
}

TEST(FastKernels, ElementwiseAndRmsNorm) {
  // eltwise (add, mul, copy; broadcast B), silu_mul and rms_norm on host
  // pointers: apart, in place (y = a or y = b), and partly overlapping (the
  // reference path then runs); random FP16 with specials, odd channel counts,
  // rows split over threads.
  for (kernels::CpuLevel level : levels()) {
  uint64_t seed = 9000;
  for (int variant = 0; variant < 4; ++variant)
    for (uint32_t C : {1u, 16u, 37u, 300u, 1500u}) // 3 x 1500: rows on two threads
      for (uint32_t M : {1u, 3u}) {
        ++seed;
        Pair p(level);
        std::mt19937_64 rng(seed);
        const uint32_t S = M + 1;
        const uint64_t beats = uint64_t((C + 15) / 16 + 1) * S;
        for (uint64_t base : {uint64_t(0), uint64_t(4000), uint64_t(8000)}) {
          std::vector<uint16_t> v(beats * 16);
          // Up to 2^7 in some cases: silu_mul's exponential then also
          // overflows (-a > 100), underflows (-a < -110) and gives
          // subnormals (-a around -90).
          for (uint16_t &h : v)
            h = randomHalf(rng, seed % 3 == 0, 1, seed % 2 ? 18 : 22);
          p.writeBuf(Buf::Abuf, base * 32, v.data(), v.size() * 2);
        }
        // Gamma in PBUF.
        std::vector<uint16_t> g((C + 15) / 16 * 16);
        for (uint16_t &h : g)
          h = randomHalf(rng, false, 10, 17);
        p.writeBuf(Buf::Pbuf, 0, g.data(), g.size() * 2);
        // Where the output goes: apart, y = a, y = b, or one beat after a.
        uint64_t yAddr = variant == 0 ? 8000 : variant == 1 ? 0 : variant == 2 ? 4000 : 1;
        std::vector<Instruction> prog;
        for (uint32_t op = 0; op < 3; ++op) {
          Eltwise e;
          e.op = op;
          e.a_addr = 0, e.b_addr = 4000, e.y_addr = uint32_t(yAddr);
          e.a_stride = e.b_stride = e.y_stride = S;
          e.m = M, e.c = C;
          e.bcast_b = (seed + op) % 2 == 0;
          prog.push_back(toInstruction(e));
        }
        SiluMul sm;
        sm.a_addr = 0, sm.b_addr = 4000, sm.y_addr = uint32_t(yAddr);
        sm.a_stride = sm.b_stride = sm.y_stride = S;
        sm.m = M, sm.c = C;
        prog.push_back(toInstruction(sm));
        RmsNorm rn;
        rn.x_addr = 0, rn.y_addr = uint32_t(yAddr == 4000 ? 8000 : yAddr);
        rn.x_stride = rn.y_stride = S;
        rn.g_buf = uint32_t(Buf::Pbuf);
        rn.m = M, rn.c = C;
        rn.eps = bitsFromF32(1e-5f);
        prog.push_back(toInstruction(rn));
        prog.push_back(endInstr());
        p.run(prog);
        for (uint64_t base : {uint64_t(0), uint64_t(4000), uint64_t(8000)})
          expectSame(p, Buf::Abuf, base, beats + 1,
                     std::string("eltwise/silu_mul/rms_norm ") + kernels::cpuLevelName(level) +
                         " variant " + std::to_string(variant) + " C=" + std::to_string(C) +
                         " M=" + std::to_string(M));
      }
  }
}
