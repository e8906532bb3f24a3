//===- WeightPackerTest.cpp - INT4 quantisation and packing ----------------===//

#include "compiler/target/WeightPacker.h"
#include "edgellm/hw/IsaNumerics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace edgellm;
using namespace edgellm::target;

namespace {
/// Random weights [k][n] with a few outliers, as trained weights have.
std::vector<float> randomWeights(int64_t k, int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> w(size_t(k * n));
  for (float &x : w)
    x = nd(rng);
  for (int i = 0; i < 8; ++i)
    w[rng() % w.size()] = 0.5f;
  return w;
}
} // namespace

TEST(WeightPacker, HandComputedGroup) {
  // One output channel, one group: max |w| = 7 gives scale 1, q = round(w).
  std::vector<float> w(128, 0.0f);
  w[0] = 7.0f;
  w[1] = -2.5f; // ties to even: -2
  w[2] = 3.5f;  // 4
  w[3] = 0.4f;  // 0
  QuantizedMatrix m = quantizeInt4(w.data(), 128, 1, isa::Sparsity::Dense);
  EXPECT_EQ(m.scales[0], 0x3c00); // 1.0
  EXPECT_EQ(m.q[0], 7);
  EXPECT_EQ(m.q[1], -2);
  EXPECT_EQ(m.q[2], 4);
  EXPECT_EQ(m.q[3], 0);
  std::vector<uint8_t> packed = packRows(m);
  ASSERT_EQ(packed.size(), size_t(isa::q4RowBeats(128, isa::Sparsity::Dense)) * 32);
  EXPECT_EQ(packed[0], 0x00); // scale slot 0 = 0x3c00, little-endian
  EXPECT_EQ(packed[1], 0x3c);
  EXPECT_EQ(packed[32], 0xe7); // q0 = 7 (low nibble), q1 = -2 (0xe, high nibble)
  EXPECT_EQ(packed[33], 0x04); // q2 = 4, q3 = 0
}

TEST(WeightPacker, ZeroGroupsHaveZeroScale) {
  std::vector<float> w(256, 0.0f);
  QuantizedMatrix m = quantizeInt4(w.data(), 256, 1, isa::Sparsity::Dense);
  EXPECT_EQ(m.scales[0], 0);
  EXPECT_EQ(m.scales[1], 0);
  for (int8_t q : m.q)
    EXPECT_EQ(q, 0);
}

TEST(WeightPacker, QuantisationErrorIsHalfAStep) {
  const int64_t k = 704, n = 8; // 5.5 groups: a partial group at the end
  std::vector<float> w = randomWeights(k, n, 1);
  QuantizedMatrix m = quantizeInt4(w.data(), k, n, isa::Sparsity::Dense);
  ASSERT_EQ(m.groups(), 6);
  for (int64_t o = 0; o < n; ++o)
    for (int64_t i = 0; i < k; ++i) {
      float s = isa::f16ToF32(m.scales[o * m.groups() + i / 128]);
      EXPECT_LE(std::fabs(w[i * n + o] - m.value(o, i)), s * 0.5f + 1e-7f) << o << "," << i;
      EXPECT_LE(std::abs(int(m.q[o * k + i])), 7);
    }
}

TEST(WeightPacker, SparsityKeepsTheLargestMagnitudes) {
  const int64_t k = 256, n = 4;
  std::vector<float> w = randomWeights(k, n, 2);
  for (isa::Sparsity s : {isa::Sparsity::Half, isa::Sparsity::Quarter, isa::Sparsity::Eighth}) {
    QuantizedMatrix m = quantizeInt4(w.data(), k, n, s);
    unsigned keep = isa::nonZerosPer8(s);
    for (int64_t o = 0; o < n; ++o)
      for (int64_t b = 0; b < k; b += 8) {
        unsigned nz = 0;
        float minKept = INFINITY;
        for (int64_t i = b; i < b + 8; ++i) {
          nz += m.q[o * k + i] != 0;
          // A dropped weight quantises to 0; a kept one may too (small).
          if (m.q[o * k + i] != 0)
            minKept = std::min(minKept, std::fabs(w[i * n + o]));
        }
        EXPECT_LE(nz, keep);
        // Every weight with a non-zero code is at least as large as every
        // weight that was pruned away: count how many exceed minKept.
        unsigned larger = 0;
        for (int64_t i = b; i < b + 8; ++i)
          larger += std::fabs(w[i * n + o]) > minKept;
        EXPECT_LT(larger, keep) << int(s);
      }
  }
}

TEST(WeightPacker, PackUnpackRoundTripEveryDensity) {
  // 13696 = 6 full blocks of 2048 + 11 groups: ChatGLM2-6B's FFN input.
  for (int64_t k : {128, 704, 4096, 13696}) {
    const int64_t n = 3;
    std::vector<float> w = randomWeights(k, n, unsigned(k));
    for (isa::Sparsity s : {isa::Sparsity::Dense, isa::Sparsity::Half, isa::Sparsity::Quarter,
                            isa::Sparsity::Eighth}) {
      QuantizedMatrix m = quantizeInt4(w.data(), k, n, s);
      std::vector<uint8_t> packed = packRows(m);
      ASSERT_EQ(packed.size(), size_t(n) * isa::q4RowBeats(uint32_t(k), s) * 32);
      QuantizedMatrix back = unpackRows(packed.data(), n, k, s);
      EXPECT_EQ(back.q, m.q) << k << " " << int(s);
      EXPECT_EQ(back.scales, m.scales) << k << " " << int(s);
    }
  }
}

TEST(WeightPacker, DenseStorageIs4125BitsPerWeight) {
  // ChatGLM2-6B's Wq: 4096 x 4096 dense INT4 g128.
  const int64_t k = 4096, n = 16;
  std::vector<float> w = randomWeights(k, n, 3);
  std::vector<uint8_t> packed = packRows(quantizeInt4(w.data(), k, n, isa::Sparsity::Dense));
  EXPECT_DOUBLE_EQ(packed.size() * 8.0 / double(k * n), 4.125);
  std::vector<uint8_t> sparse = packRows(quantizeInt4(w.data(), k, n, isa::Sparsity::Eighth));
  EXPECT_DOUBLE_EQ(sparse.size() * 8.0 / double(k * n), 1.125);
}

TEST(WeightPacker, TilesStripedOverChannelsUnpackToTheQuantisedValues) {
  // The package's path: quantise, cut into tiles of 48 rows padded to 32
  // beats, spread beat by beat over the 32 pseudo-channels, then read each
  // tile back from the channel images as the striped load does.
  const int64_t k = 704, n = 100, tileRows = 48;
  std::vector<float> w = randomWeights(k, n, 7);
  for (isa::Sparsity s : {isa::Sparsity::Dense, isa::Sparsity::Quarter}) {
    QuantizedMatrix m = quantizeInt4(w.data(), k, n, s);
    std::vector<uint8_t> stream = packInt4Tiles(m, tileRows);
    ASSERT_EQ(stream.size() % (32 * 32), 0u);
    uint64_t beats = stream.size() / 32, perChannel = beats / 32;
    std::vector<std::vector<uint8_t>> channel(32, std::vector<uint8_t>(perChannel * 32));
    for (uint64_t p = 0; p < beats; ++p)
      std::memcpy(&channel[p % 32][(p / 32) * 32], &stream[p * 32], 32);
    // Gather back (what `load` with hbm_stripe = 32 reads) and unpack.
    std::vector<uint8_t> gathered(stream.size());
    for (uint64_t p = 0; p < beats; ++p)
      std::memcpy(&gathered[p * 32], &channel[p % 32][(p / 32) * 32], 32);
    for (int64_t t = 0; t * tileRows < n; ++t) {
      QuantizedMatrix tile = unpackInt4Tile(gathered.data(), n, k, s, tileRows, t);
      int64_t rows = std::min(tileRows, n - t * tileRows);
      ASSERT_EQ(tile.n, rows);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < k; ++c)
          ASSERT_EQ(tile.q[size_t(r * k + c)], m.q[size_t((t * tileRows + r) * k + c)])
              << "tile " << t << " row " << r << " col " << c;
      for (int64_t i = 0; i < rows * m.groups(); ++i)
        ASSERT_EQ(tile.scales[size_t(i)], m.scales[size_t(t * tileRows * m.groups() + i)]);
    }
  }
}
