//===- Crc32Test.cpp - The package container's CRC-32 ---------------------===//

#include "runtime/package/PackageFormat.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using edgellm::package::Crc32;

namespace {

/// Bit by bit, from the definition (reflected 0xEDB88320, inverted in and out).
uint32_t bitwise(const uint8_t *p, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k)
      crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
  }
  return ~crc;
}

} // namespace

TEST(Crc32, CheckValue) {
  const char *s = "123456789";
  EXPECT_EQ(Crc32::compute(s, 9), 0xCBF43926u);
  EXPECT_EQ(Crc32::compute(s, 0), 0u);
}

TEST(Crc32, AnyLengthAlignmentAndContinuationAsTheDefinition) {
  // Lengths around the folded path's thresholds (256 bytes, 64-byte and
  // 16-byte steps), unaligned starts, continued calls.
  std::mt19937_64 rng(3232);
  std::vector<uint8_t> buf(70000);
  for (uint8_t &b : buf)
    b = uint8_t(rng());
  for (size_t n : {0u, 1u, 15u, 16u, 63u, 64u, 255u, 256u, 257u, 271u, 272u, 319u, 320u, 335u,
                   1000u, 4096u, 65537u})
    for (size_t off : {0u, 1u, 7u}) {
      const uint8_t *p = buf.data() + off;
      EXPECT_EQ(Crc32::compute(p, n), bitwise(p, n)) << "n=" << n << " off=" << off;
      EXPECT_EQ(Crc32::compute(p, n, 0x12345678u), bitwise(p, n, 0x12345678u)) << "n=" << n;
      const size_t a = n / 3;
      EXPECT_EQ(Crc32::compute(p + a, n - a, Crc32::compute(p, a)), bitwise(p, n)) << "n=" << n;
    }
}
