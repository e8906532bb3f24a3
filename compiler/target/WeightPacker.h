//===- WeightPacker.h - INT4 g128 quantisation and device packing -*- C++ -*-===//
//
// Symmetric INT4 quantisation with one FP16 scale per 128 inputs of each
// output channel, optional log-scale structured sparsity (magnitude-based,
// in groups of 8), and packing into the accelerator's row format
// (docs/isa.md, "INT4 weights"), defined by hw/include/edgellm/hw/IsaNumerics.h.
// Plain C++: the compiler's package writer streams weights through it.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_COMPILER_TARGET_WEIGHTPACKER_H
#define EDGELLM_COMPILER_TARGET_WEIGHTPACKER_H

#include "edgellm/hw/IsaNumerics.h"

#include <cstdint>
#include <vector>

namespace edgellm::target {

/// A quantised [n out][k in] matrix (output-channel major, as the device
/// reads it).
struct QuantizedMatrix {
  QuantizedMatrix() = default;
  /// An all-zero n x k matrix (codes and scales).
  QuantizedMatrix(int64_t n, int64_t k, isa::Sparsity sparsity)
      : n(n), k(k), sparsity(sparsity), q(size_t(n * k), 0),
        scales(size_t(n * ((k + isa::kQuantGroup - 1) / isa::kQuantGroup)), 0) {}
  int64_t n = 0, k = 0;
  isa::Sparsity sparsity = isa::Sparsity::Dense;
  std::vector<int8_t> q;         ///< n * k values in [-7, 7]
  std::vector<uint16_t> scales;  ///< n * groups FP16 scales, groups = ceil(k / 128)
  int64_t groups() const { return (k + isa::kQuantGroup - 1) / isa::kQuantGroup; }
  float value(int64_t row, int64_t col) const; ///< scale * q, in FP32
};

/// Quantises W given as ONNX stores a linear layer's weight: [k in][n out],
/// row-major FP32. Each group of 128 inputs of an output channel gets the
/// FP16 scale max|w| / 7 (rounded to nearest even) and q = round-half-even(
/// w / scale) clamped to [-7, 7]. With sparsity, in every 8 consecutive inputs
/// only the nonZerosPer8 largest magnitudes are kept (ties: the lower index)
/// before the group's scale is taken from what is kept.
QuantizedMatrix quantizeInt4(const float *w, int64_t k, int64_t n, isa::Sparsity sparsity);

/// Packs every output channel's row: per block of 2048 inputs one beat of 16
/// FP16 scales, then the block's group payloads padded to a beat.
/// The result has n * q4RowBeats(k, sparsity) * 32 bytes.
std::vector<uint8_t> packRows(const QuantizedMatrix &m);

/// The inverse of packRows (what the device reads).
QuantizedMatrix unpackRows(const uint8_t *data, int64_t n, int64_t k, isa::Sparsity sparsity);

/// The HBM stream of a matrix cut into tiles of `tileRows` output channels:
/// each tile is its rows in packRows format, padded with zeros to a multiple
/// of 32 beats (one beat per pseudo-channel; docs/package-format.md).
std::vector<uint8_t> packInt4Tiles(const QuantizedMatrix &m, int64_t tileRows);

/// Reads tile `tile` back out of such a stream.
QuantizedMatrix unpackInt4Tile(const uint8_t *stream, int64_t n, int64_t k,
                               isa::Sparsity sparsity, int64_t tileRows, int64_t tile);

} // namespace edgellm::target

#endif // EDGELLM_COMPILER_TARGET_WEIGHTPACKER_H
