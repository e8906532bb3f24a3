//===- WeightPacker.cpp - INT4 g128 quantisation and device packing --------===//

#include "compiler/target/WeightPacker.h"
#include "edgellm/hw/IsaNumerics.h"

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace edgellm;
using namespace edgellm::target;
using isa::kQuantBlock;
using isa::kQuantGroup;
using isa::kSubBlock;

float QuantizedMatrix::value(int64_t row, int64_t col) const {
  return isa::f16ToF32(scales[row * groups() + col / kQuantGroup]) * float(q[row * k + col]);
}

QuantizedMatrix target::quantizeInt4(const float *w, int64_t k, int64_t n,
                                     isa::Sparsity sparsity) {
  QuantizedMatrix m(n, k, sparsity);
  unsigned keep = isa::nonZerosPer8(sparsity);
  std::vector<float> row(k);
  for (int64_t o = 0; o < n; ++o) {
    for (int64_t i = 0; i < k; ++i)
      row[i] = w[i * n + o];
    // Magnitude pruning in groups of 8.
    if (keep < kSubBlock)
      for (int64_t s = 0; s < k; s += kSubBlock) {
        int64_t e = std::min<int64_t>(s + kSubBlock, k);
        std::vector<int64_t> idx;
        for (int64_t i = s; i < e; ++i)
          idx.push_back(i);
        std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
          return std::fabs(row[a]) > std::fabs(row[b]);
        });
        for (size_t j = keep; j < idx.size(); ++j)
          row[idx[j]] = 0.0f;
      }
    for (int64_t g = 0; g < m.groups(); ++g) {
      int64_t s = g * kQuantGroup, e = std::min<int64_t>(s + kQuantGroup, k);
      float mx = 0.0f;
      for (int64_t i = s; i < e; ++i)
        mx = std::max(mx, std::fabs(row[i]));
      uint16_t scale = isa::f32ToF16(mx / 7.0f);
      m.scales[o * m.groups() + g] = scale;
      float sf = isa::f16ToF32(scale);
      for (int64_t i = s; i < e; ++i) {
        float v = sf > 0 ? std::nearbyint(row[i] / sf) : 0.0f;
        m.q[o * k + i] = int8_t(std::clamp(v, -7.0f, 7.0f));
      }
    }
  }
  return m;
}

/// Walks the blocks of one output channel's row: `fn(p, firstGroup,
/// numGroups)` gets the block's first byte (its scales beat) and the groups it
/// holds; returns the pointer past the row.
template <typename Ptr, typename Fn>
static Ptr forEachBlock(Ptr p, int64_t k, isa::Sparsity sparsity, Fn fn) {
  const unsigned payload = isa::groupPayloadBytes(sparsity);
  for (int64_t b0 = 0; b0 < k; b0 += kQuantBlock) {
    int64_t len = std::min<int64_t>(kQuantBlock, k - b0);
    int64_t ng = (len + kQuantGroup - 1) / kQuantGroup;
    fn(p, b0 / kQuantGroup, ng);
    int64_t bytes = ng * payload;
    p += isa::kBeatBytes + (bytes + isa::kBeatBytes - 1) / isa::kBeatBytes * isa::kBeatBytes;
  }
  return p;
}

std::vector<uint8_t> target::packRows(const QuantizedMatrix &m) {
  const uint32_t rowBeats = isa::q4RowBeats(uint32_t(m.k), m.sparsity);
  const unsigned payload = isa::groupPayloadBytes(m.sparsity);
  std::vector<uint8_t> out(size_t(m.n) * rowBeats * isa::kBeatBytes, 0);
  for (int64_t o = 0; o < m.n; ++o) {
    uint8_t *row = out.data() + size_t(o) * rowBeats * isa::kBeatBytes;
    forEachBlock(row, m.k, m.sparsity, [&](uint8_t *p, int64_t g0, int64_t ng) {
      for (int64_t g = 0; g < ng; ++g) {
        uint16_t s = m.scales[o * m.groups() + g0 + g];
        p[2 * g] = uint8_t(s);
        p[2 * g + 1] = uint8_t(s >> 8);
      }
      for (int64_t g = 0; g < ng; ++g) {
        int8_t w[kQuantGroup] = {};
        int64_t s = (g0 + g) * kQuantGroup;
        for (int64_t i = 0; i < kQuantGroup && s + i < m.k; ++i)
          w[i] = m.q[o * m.k + s + i];
        // quantizeInt4 guarantees the density, so this cannot fail.
        isa::q4EncodeGroup(w, m.sparsity, p + isa::kBeatBytes + g * payload);
      }
    });
  }
  return out;
}

QuantizedMatrix target::unpackRows(const uint8_t *data, int64_t n, int64_t k,
                                   isa::Sparsity sparsity) {
  QuantizedMatrix m(n, k, sparsity);
  const uint32_t rowBeats = isa::q4RowBeats(uint32_t(k), sparsity);
  const unsigned payload = isa::groupPayloadBytes(sparsity);
  for (int64_t o = 0; o < n; ++o) {
    const uint8_t *row = data + size_t(o) * rowBeats * isa::kBeatBytes;
    forEachBlock(row, k, sparsity, [&](const uint8_t *p, int64_t g0, int64_t ng) {
      for (int64_t g = 0; g < ng; ++g)
        m.scales[o * m.groups() + g0 + g] = uint16_t(p[2 * g] | p[2 * g + 1] << 8);
      for (int64_t g = 0; g < ng; ++g) {
        int8_t w[kQuantGroup];
        isa::q4DecodeGroup(p + isa::kBeatBytes + g * payload, sparsity, w);
        int64_t s = (g0 + g) * kQuantGroup;
        for (int64_t i = 0; i < kQuantGroup && s + i < k; ++i)
          m.q[o * k + s + i] = w[i];
      }
    });
  }
  return m;
}

static uint64_t tileStreamBytes(int64_t rows, uint64_t rowBytes) {
  uint64_t align = uint64_t(isa::kHbmChannels) * isa::kBeatBytes;
  return (uint64_t(rows) * rowBytes + align - 1) / align * align;
}

std::vector<uint8_t> edgellm::target::packInt4Tiles(const QuantizedMatrix &m, int64_t tileRows) {
  std::vector<uint8_t> rows = packRows(m);
  uint64_t rowBytes = uint64_t(isa::q4RowBeats(uint32_t(m.k), m.sparsity)) * isa::kBeatBytes;
  uint64_t total = 0;
  for (int64_t n0 = 0; n0 < m.n; n0 += tileRows)
    total += tileStreamBytes(std::min(tileRows, m.n - n0), rowBytes);
  std::vector<uint8_t> out(total, 0);
  uint64_t at = 0;
  for (int64_t n0 = 0; n0 < m.n; n0 += tileRows) {
    int64_t nt = std::min(tileRows, m.n - n0);
    std::copy_n(&rows[uint64_t(n0) * rowBytes], uint64_t(nt) * rowBytes, &out[at]);
    at += tileStreamBytes(nt, rowBytes);
  }
  return out;
}

QuantizedMatrix edgellm::target::unpackInt4Tile(const uint8_t *stream, int64_t n, int64_t k,
                                                isa::Sparsity sparsity, int64_t tileRows,
                                                int64_t tile) {
  uint64_t rowBytes = uint64_t(isa::q4RowBeats(uint32_t(k), sparsity)) * isa::kBeatBytes;
  uint64_t at = 0;
  for (int64_t t = 0; t < tile; ++t)
    at += tileStreamBytes(std::min(tileRows, n - t * tileRows), rowBytes);
  return unpackRows(stream + at, std::min(tileRows, n - tile * tileRows), k, sparsity);
}
