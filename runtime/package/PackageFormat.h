//===- PackageFormat.h - The deployable package's container ------*- C++ -*-===//
//
// The one definition of the package container (docs/package-format.md),
// shared by the compiler (writer) and the runtime (reader). Plain C++.
//
//   offset 0    header (64 bytes, below)
//   ...         sections, each at a multiple of 4096 bytes
//   ...         manifest: UTF-8 JSON (schema "edgellm-package/2")
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_PACKAGE_PACKAGEFORMAT_H
#define EDGELLM_RUNTIME_PACKAGE_PACKAGEFORMAT_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace edgellm::package {

inline constexpr char kMagic[8] = {'E', 'L', 'M', 'P', 'K', 'G', '\r', '\n'};
inline constexpr uint16_t kFormatMajor = 2; ///< a reader accepts only its own major
inline constexpr uint16_t kFormatMinor = 0;
inline constexpr uint64_t kHeaderBytes = 64;
inline constexpr uint64_t kSectionAlign = 4096;
inline constexpr const char *kManifestSchema = "edgellm-package/2";

/// Header, little-endian:
///   0  magic[8]        "ELMPKG\r\n"
///   8  u16 major, u16 minor
///  12  u32 header_crc  CRC-32 of bytes 0-63 with this field as 0
///  16  u64 file_size   the whole file
///  24  u64 manifest_offset
///  32  u64 manifest_size
///  40  u32 manifest_crc
///  44  20 reserved zero bytes
struct Header {
  uint16_t major = kFormatMajor, minor = kFormatMinor;
  uint64_t fileSize = 0, manifestOffset = 0, manifestSize = 0;
  uint32_t manifestCrc = 0;
};

/// CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and
/// final xor 0xFFFFFFFF). `crc` continues a previous call. Slice-by-8; on
/// x86 with PCLMULQDQ, buffers of 256 bytes and more are folded 64 bytes at
/// a time with carry-less products (the constants are x^n mod P for the
/// fold distances, as in Intel's "Fast CRC Computation for Generic
/// Polynomials Using PCLMULQDQ"), the last 16-byte remainder and the tail
/// then go through the tables: the same function, 13 GB/s against about 1
/// GB/s for the tables (docs/simulator.md).
class Crc32 {
public:
  static uint32_t compute(const void *data, size_t n, uint32_t crc = 0) {
    const auto *p = static_cast<const uint8_t *>(data);
    uint32_t s = ~crc;
#if defined(__x86_64__)
    static const bool pclmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    if (pclmul && n >= 256) {
      uint8_t rest[16];
      const size_t done = foldPclmul(p, n, s, rest);
      s = raw(rest, 16, 0);
      p += done, n -= done;
    }
#endif
    return ~raw(p, n, s);
  }

private:
  /// The table-driven CRC on a raw state (no inversions).
  static uint32_t raw(const uint8_t *p, size_t n, uint32_t crc) {
    static const Tables t;
    while (n >= 8) {
      uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + 4, 4);
      lo ^= crc;
      crc = t.v[7][lo & 0xff] ^ t.v[6][(lo >> 8) & 0xff] ^ t.v[5][(lo >> 16) & 0xff] ^
            t.v[4][lo >> 24] ^ t.v[3][hi & 0xff] ^ t.v[2][(hi >> 8) & 0xff] ^
            t.v[1][(hi >> 16) & 0xff] ^ t.v[0][hi >> 24];
      p += 8;
      n -= 8;
    }
    while (n--)
      crc = t.v[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
  }

#if defined(__x86_64__)
#define EDGELLM_CRC_TARGET __attribute__((target("pclmul,sse4.1")))
  EDGELLM_CRC_TARGET static __m128i load(const uint8_t *q) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i *>(q));
  }
  /// x * x^d mod P (d: the fold distance whose constants k holds) + next.
  EDGELLM_CRC_TARGET static __m128i fold(__m128i x, __m128i k, __m128i next) {
    return _mm_xor_si128(
        _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
  }
  /// Folds the whole 16-byte blocks of p[0, n) (n >= 64), the raw state
  /// `crc` xored into the first, into one 16-byte block with the same CRC
  /// (stored in `rest`, to be run through the tables from state 0); returns
  /// the bytes consumed.
  EDGELLM_CRC_TARGET static size_t foldPclmul(const uint8_t *p, size_t n, uint32_t crc,
                                              uint8_t rest[16]) {
    // Reflected x^(4*128 + 32), x^(4*128 - 32) mod P (fold by 64 bytes) and
    // x^(128 + 32), x^(128 - 32) mod P (by 16), as 33-bit values.
    const __m128i k4 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4);
    const __m128i k1 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0);
    __m128i x0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(int(crc)));
    __m128i x1 = load(p + 16), x2 = load(p + 32), x3 = load(p + 48);
    size_t i = 64;
    for (; i + 64 <= n; i += 64) {
      x0 = fold(x0, k4, load(p + i));
      x1 = fold(x1, k4, load(p + i + 16));
      x2 = fold(x2, k4, load(p + i + 32));
      x3 = fold(x3, k4, load(p + i + 48));
    }
    __m128i x = fold(fold(fold(x0, k1, x1), k1, x2), k1, x3);
    for (; i + 16 <= n; i += 16)
      x = fold(x, k1, load(p + i));
    _mm_storeu_si128(reinterpret_cast<__m128i *>(rest), x);
    return i;
  }
#undef EDGELLM_CRC_TARGET
#endif

  struct Tables {
    std::array<std::array<uint32_t, 256>, 8> v{};
    Tables() {
      for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k)
          c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        v[0][i] = c;
      }
      for (uint32_t i = 0; i < 256; ++i)
        for (int s = 1; s < 8; ++s)
          v[s][i] = (v[s - 1][i] >> 8) ^ v[0][v[s - 1][i] & 0xff];
    }
  };
};

/// One INT4 tile of the HBM weight stream (a weight_map entry with encoding
/// int4_rows, cut into tiles of tile_rows): `rows` rows of `k` inputs in the
/// row format of docs/isa.md at sparsity code `sparsity`, `beats` beats from
/// stream beat `streamBeat` (a multiple of 32: channel 0, beat streamBeat / 32).
struct WeightTile {
  uint64_t streamBeat = 0, beats = 0;
  uint32_t rows = 0, k = 0, sparsity = 0;
};

inline void put16(uint8_t *p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void put32(uint8_t *p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void put64(uint8_t *p, uint64_t v) { std::memcpy(p, &v, 8); }

inline std::array<uint8_t, kHeaderBytes> encodeHeader(const Header &h) {
  std::array<uint8_t, kHeaderBytes> b{};
  std::memcpy(b.data(), kMagic, 8);
  put16(&b[8], h.major);
  put16(&b[10], h.minor);
  put64(&b[16], h.fileSize);
  put64(&b[24], h.manifestOffset);
  put64(&b[32], h.manifestSize);
  put32(&b[40], h.manifestCrc);
  put32(&b[12], Crc32::compute(b.data(), b.size()));
  return b;
}

/// Parses and checks a header; returns nullptr on success or what is wrong.
inline const char *decodeHeader(const uint8_t *b, size_t n, Header &h) {
  if (n < kHeaderBytes)
    return "shorter than the 64-byte header";
  if (std::memcmp(b, kMagic, 8) != 0)
    return "not an EdgeLLM package (bad magic)";
  std::array<uint8_t, kHeaderBytes> copy;
  std::memcpy(copy.data(), b, kHeaderBytes);
  uint32_t crc;
  std::memcpy(&crc, &copy[12], 4);
  put32(&copy[12], 0);
  if (Crc32::compute(copy.data(), copy.size()) != crc)
    return "header checksum mismatch (corrupted header)";
  std::memcpy(&h.major, b + 8, 2);
  std::memcpy(&h.minor, b + 10, 2);
  std::memcpy(&h.fileSize, b + 16, 8);
  std::memcpy(&h.manifestOffset, b + 24, 8);
  std::memcpy(&h.manifestSize, b + 32, 8);
  std::memcpy(&h.manifestCrc, b + 40, 4);
  for (size_t i = 44; i < kHeaderBytes; ++i)
    if (b[i])
      return "reserved header bytes are not zero";
  return nullptr;
}

} // namespace edgellm::package

#endif // EDGELLM_RUNTIME_PACKAGE_PACKAGEFORMAT_H
