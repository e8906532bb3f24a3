//===- IsaNumericsTest.cpp - FP16, exp, INT4 format, PE group dot ----------===//
//
// Hand-computed values and independent references (libm, exhaustive checks)
// for the arithmetic docs/isa.md defines.
//
//===----------------------------------------------------------------------===//

#include "edgellm/hw/IsaNumerics.h"

#include <gtest/gtest.h>

#include <random>

using namespace edgellm::isa;

static uint32_t bits(float f) { return bitsFromF32(f); }

TEST(Fp16, HandValues) {
  EXPECT_EQ(f32ToF16(1.0f), 0x3c00);
  EXPECT_EQ(f32ToF16(-2.0f), 0xc000);
  EXPECT_EQ(f32ToF16(65504.0f), 0x7bff);
  EXPECT_EQ(f32ToF16(65519.99f), 0x7bff);
  EXPECT_EQ(f32ToF16(65520.0f), 0x7c00); // tie between 65504 and 65536 -> even (inf)
  EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -25)), 0x0000);        // tie -> even 0
  EXPECT_EQ(f32ToF16(std::ldexp(3.0f, -26)), 0x0001);        // 0.75 ulp -> 1
  EXPECT_EQ(f32ToF16(std::ldexp(3.0f, -25)), 0x0002);        // 1.5 ulp tie -> 2
  EXPECT_EQ(f32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00); // tie -> even
  EXPECT_EQ(f32ToF16(1.0f + std::ldexp(3.0f, -11)), 0x3c02); // tie -> even
  EXPECT_EQ(f32ToF16(std::ldexp(1023.0f, -24)), 0x03ff);     // largest subnormal
  EXPECT_EQ(f32ToF16(std::ldexp(2047.0f, -25)), 0x0400);     // rounds up to min normal
  EXPECT_EQ(f32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(f32ToF16(INFINITY), 0x7c00);
  EXPECT_EQ(f32ToF16(NAN), 0x7e00);
  EXPECT_EQ(f32ToF16(-NAN), 0x7e00); // one canonical NaN, sign dropped
  EXPECT_EQ(f32ToF16(f32FromBits(0x7f800001)), 0x7e00);
  EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -20)), 0x0010); // subnormal, no flush
  EXPECT_EQ(f16ToF32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16ToF32(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::isnan(f16ToF32(0x7e00)));
}

TEST(Fp16, EveryHalfRoundTripsAndRoundingIsNearest) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = f16ToF32(uint16_t(h));
    if (std::isnan(f))
      continue;
    ASSERT_EQ(f32ToF16(f), h) << std::hex << h;
  }
  // Against the nearest of the two neighbours, on random binary32 inputs.
  std::mt19937 rng(5);
  for (int i = 0; i < 200000; ++i) {
    float f = f32FromBits(rng());
    if (!std::isfinite(f) || std::fabs(f) >= 65504.0f)
      continue;
    uint16_t h = f32ToF16(f);
    double got = f16ToF32(h), err = std::fabs(double(f) - got);
    uint16_t up = uint16_t(h + 1), down = uint16_t(h - 1);
    for (uint16_t n : {up, down}) {
      float nf = f16ToF32(n);
      if (std::isfinite(nf) && (n & 0x7fff) != 0x7fff && ((n ^ h) & 0x8000) == 0)
        ASSERT_LE(err, std::fabs(double(f) - nf)) << f;
    }
  }
}

TEST(IsaExp, ExactPointsAndAccuracy) {
  EXPECT_EQ(isaExp(0.0f), 1.0f);
  EXPECT_EQ(isaExp(-0.0f), 1.0f);
  EXPECT_EQ(isaExp(-200.0f), 0.0f);
  EXPECT_EQ(isaExp(200.0f), INFINITY);
  EXPECT_EQ(isaExp(-INFINITY), 0.0f);
  EXPECT_TRUE(std::isnan(isaExp(NAN)));
  // Against libm in double precision: within 4e-7 relative on the softmax
  // and SiLU range.
  double worst = 0;
  for (float x = -80.0f; x <= 80.0f; x += 0.0137f) {
    double ref = std::exp(double(x));
    double rel = std::fabs(isaExp(x) - ref) / ref;
    worst = std::max(worst, rel);
  }
  EXPECT_LT(worst, 4e-7);
}

// Bits computed by an independent implementation of the algorithm in
// docs/isa.md (numpy float32, one rounding per operation).
TEST(IsaExp, ExactBits) {
  const std::pair<float, uint32_t> cases[] = {
      {1.0f, 0x402df854u},   {-1.0f, 0x3ebc5ab2u},  {0.5f, 0x3fd3094cu},
      {-0.5f, 0x3f1b4598u},  {10.0f, 0x46ac14eeu},  {-10.0f, 0x383e6bceu},
      {88.0f, 0x7ef882b7u},  {-87.5f, 0x006cb2bcu}, {-100.0f, 0x0000001bu},
      {-105.0f, 0x00000000u}, {0.003f, 0x3f806274u}, {-20.25f, 0x30dc9ef1u},
  };
  for (auto [x, b] : cases)
    EXPECT_EQ(bits(isaExp(x)), b) << x;
}

TEST(TreeSum, FixedOrder) {
  // (1e8 + 1) - 1e8 depends on the order: the tree pairs lane j with j + 8.
  float v[16] = {};
  v[0] = 1e8f;
  v[8] = -1e8f;
  v[1] = 1.0f;
  EXPECT_EQ(treeSum16(v), 1.0f);
  float w[16] = {};
  w[0] = 1e8f;
  w[1] = 1.0f;
  w[2] = -1e8f;
  // s[0] = 1e8 + 0, s[1] = 1, s[2] = -1e8 ... then (1e8 + -1e8) + (1 + 0) = 1.
  EXPECT_EQ(treeSum16(w), 1.0f);
  float u[16];
  for (int i = 0; i < 16; ++i)
    u[i] = float(i + 1);
  EXPECT_EQ(treeSum16(u), 136.0f);
}

TEST(IsaExp, CoefficientBitsAreTheDocumentedOnes) {
  // docs/isa.md, "The exponential".
  const uint32_t expected[8] = {0x3f800000, 0x3f800000, 0x3f000000, 0x3e2aaaab,
                                0x3d2aaaab, 0x3c088889, 0x3ab60b61, 0x39500d01};
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(bits(kExpCoeffs[i]), expected[i]) << i;
  EXPECT_EQ(bits(kLog2e), 0x3fb8aa3bu);
  EXPECT_EQ(bits(kLn2Hi), 0x3f318000u);
  EXPECT_EQ(bits(kLn2Lo), 0xb95e8083u);
}

TEST(Q4Format, SizesMatchThePaper) {
  // PAPER.md: 4.125, 3.125, 1.875 and 1.125 bits per weight.
  EXPECT_DOUBLE_EQ(q4BitsPerWeight(Sparsity::Dense), 4.125);
  EXPECT_DOUBLE_EQ(q4BitsPerWeight(Sparsity::Half), 3.125);
  EXPECT_DOUBLE_EQ(q4BitsPerWeight(Sparsity::Quarter), 1.875);
  EXPECT_DOUBLE_EQ(q4BitsPerWeight(Sparsity::Eighth), 1.125);
  EXPECT_EQ(q4RowBeats(4096, Sparsity::Dense), 66u);
  // 13696 = 6 x 2048 + 1408 (11 groups): 6 x 33 + (1 + 22) beats.
  EXPECT_EQ(q4RowBeats(13696, Sparsity::Dense), 6u * 33 + 23);
  // 704 = 5.5 groups -> 6 groups, 1 + 12 beats; quarter: 6 x 28 = 168 B -> 6 beats.
  EXPECT_EQ(q4RowBeats(704, Sparsity::Dense), 13u);
  EXPECT_EQ(q4RowBeats(704, Sparsity::Quarter), 7u);
}

TEST(Q4Format, HandEncodedGroups) {
  int8_t w[128] = {};
  w[0] = 1;
  w[1] = -1;
  w[9] = 7;
  w[127] = -8;
  uint8_t p[64];
  ASSERT_TRUE(q4EncodeGroup(w, Sparsity::Dense, p));
  EXPECT_EQ(p[0], 0xf1); // w0 low nibble, w1 (-1 = 0xf) high nibble
  EXPECT_EQ(p[4], 0x70); // w9 is the high nibble of byte 4
  EXPECT_EQ(p[63], 0x80);
  // 1/8 density: one (index, value) byte per 8 weights.
  int8_t s[128] = {};
  s[3] = -3;  // sub-block 0, index 3
  s[13] = 5;  // sub-block 1, index 5
  ASSERT_TRUE(q4EncodeGroup(s, Sparsity::Eighth, p));
  EXPECT_EQ(p[0], 0xd3); // value -3 = 0xd, index 3
  EXPECT_EQ(p[1], 0x55);
  EXPECT_EQ(p[2], 0x00); // empty sub-block: index 0, value 0
  // 1/2 density: mask byte then four nibbles in mask-bit order.
  ASSERT_TRUE(q4EncodeGroup(s, Sparsity::Half, p));
  // Sub-block 0 has one non-zero (index 3); zero-valued positions 0, 1, 2
  // pad it to four: mask 0b1111, values (0, 0, 0, -3).
  EXPECT_EQ(p[0], 0x0f);
  EXPECT_EQ(p[1], 0x00);
  EXPECT_EQ(p[2], 0xd0);
  // A sub-block with two non-zeros cannot be stored at 1/8 density.
  s[4] = 1;
  EXPECT_FALSE(q4EncodeGroup(s, Sparsity::Eighth, p));
}

TEST(Q4Format, RandomRoundTripEveryDensity) {
  std::mt19937 rng(11);
  for (Sparsity sp : {Sparsity::Dense, Sparsity::Half, Sparsity::Quarter, Sparsity::Eighth}) {
    for (int t = 0; t < 200; ++t) {
      int8_t w[128] = {}, back[128];
      for (unsigned sb = 0; sb < 16; ++sb) {
        unsigned nz = rng() % (nonZerosPer8(sp) + 1);
        for (unsigned u = 0; u < nz; ++u)
          w[sb * 8 + rng() % 8] = int8_t(int(rng() % 16) - 8);
      }
      uint8_t p[64];
      ASSERT_TRUE(q4EncodeGroup(w, sp, p));
      q4DecodeGroup(p, sp, back);
      for (int i = 0; i < 128; ++i)
        ASSERT_EQ(back[i], w[i]) << int(sp) << " " << i;
    }
  }
}

TEST(PeGroupDot, HandComputed) {
  uint16_t x[128] = {};
  int8_t w[128] = {};
  // 1.0 * 1 + 2^-10 * 1: the small product is shifted by 10, no bit lost.
  x[0] = 0x3c00;
  x[1] = 0x1400; // 2^-10
  w[0] = 1;
  w[1] = 1;
  EXPECT_EQ(q4GroupDot(x, w, 128), 1.0f + std::ldexp(1.0f, -10));
  // 2^-20 (subnormal, exponent 1) is shifted by 14 with 8 guard bits:
  // 16 * 2^8 >> 14 = 0: truncated away.
  x[1] = 0x0010;
  EXPECT_EQ(q4GroupDot(x, w, 128), 1.0f);
  // 2^-16 survives: (16*... ) -> 2^-16 = 0x0100 (sig 256, exp 1): 256<<8>>14 = 4.
  x[1] = 0x0100;
  EXPECT_EQ(q4GroupDot(x, w, 128), 1.0f + std::ldexp(1.0f, -16));
  // Signs and weights: 1.5 * -3 + 0.25 * 7 = -4.5 + 1.75 = -2.75 exactly.
  x[0] = 0x3e00;
  x[1] = 0x3400;
  w[0] = -3;
  w[1] = 7;
  EXPECT_EQ(q4GroupDot(x, w, 128), -2.75f);
  // Only inputs with non-zero weight matter for NaN; all inputs set E.
  x[2] = 0x7c00;
  w[2] = 0;
  EXPECT_EQ(q4GroupDot(x, w, 128), -2.75f);
  w[2] = 1;
  EXPECT_TRUE(std::isnan(q4GroupDot(x, w, 128)));
}

TEST(PeGroupDot, CloseToExactOnRandomGroups) {
  // Alignment truncation costs at most one guard-bit unit per product.
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int t = 0; t < 2000; ++t) {
    uint16_t x[128];
    int8_t w[128];
    double exact = 0, maxAbs = 0;
    for (int i = 0; i < 128; ++i) {
      x[i] = f32ToF16(nd(rng) * 4.0f);
      w[i] = int8_t(int(rng() % 16) - 8);
      exact += double(f16ToF32(x[i])) * w[i];
      maxAbs = std::max(maxAbs, std::fabs(double(f16ToF32(x[i]))));
    }
    double got = q4GroupDot(x, w, 128);
    int E = 1;
    for (int i = 0; i < 128; ++i)
      E = std::max(E, f16Exponent(x[i]));
    double unit = std::ldexp(1.0, E - 25 - int(kAlignGuardBits));
    ASSERT_LE(std::fabs(got - exact), 128 * unit + std::fabs(exact) * 1e-7) << t;
  }
}
