//===- MatMul.h - Fast FP16 x INT4 and FP16 x FP16 products -----*- C++ -*-===//
//
// The simulator's fast kernels for `mm_q4` and `mm_f16` (docs/isa.md
// section 6, docs/simulator.md). They produce exactly the golden model's
// bits: the same binary32 operations in the same order, and for the INT4
// product an exact integer reformulation of the PE's aligned group sum:
//
//   term(x, w) = sgn * floor(sig(x) * |w| * 2^8 / 2^(E - e(x)))      (isa.md)
//              = w * X  +  corr(x, w)
//
// where X = sgn(x) * floor(sig(x) * 2^8 / 2^(E - e(x))) depends only on the
// input and corr is non-zero only for inputs more than 2^8 below the group's
// largest exponent whose shifted-out bits are not zero (a 16-entry table per
// such input). So a group sum is an integer dot product of the weights with
// per-input integers X (split in three signed bytes for AVX-512 VNNI) plus a
// short correction list, all prepared once per activation vector.
//
// Operands are host pointers into the simulator's memories (unified layout,
// docs/isa.md section 3): element (m, c) is FP16 lane c % 16 of beat
// (c / 16) * stride + m. Outputs also get the zero padding lanes.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_KERNELS_MATMUL_H
#define EDGELLM_RUNTIME_KERNELS_MATMUL_H

#include "edgellm/hw/Isa.h"
#include "runtime/kernels/BeatRuns.h"
#include "runtime/kernels/ThreadPool.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgellm::kernels {

/// Instruction-set level of the kernels. Avx2 (with FMA and F16C) has the
/// mm_q4 kernel on relaid weights (runLanes*) with the activation's
/// preparation and the relayout (q4ToLanes), mmF16 and the element-wise
/// kernels; only mm_q4 on package rows runs the portable code there. Avx512 (F, BW, VL, DQ, VNNI, VBMI) has them all.
enum class CpuLevel { Scalar, Avx2, Avx512 };
/// The best level this CPU runs, unless EDGELLM_KERNELS=scalar or
/// EDGELLM_KERNELS=avx2 asks for a lower one.
CpuLevel detectCpuLevel();
const char *cpuLevelName(CpuLevel l);
/// The EDGELLM_KERNELS value that caps the kernels at level `l`.
const char *cpuLevelSetting(CpuLevel l);
/// False (with `error`) when EDGELLM_KERNELS is set to an unknown value.
bool checkCpuLevelSetting(std::string &error);
/// Whether level `l` has the mm_q4 kernel on relaid weights (q4ToLanes).
inline bool hasLanesKernel(CpuLevel l) { return l != CpuLevel::Scalar; }

struct MmQ4Args {
  const uint8_t *x = nullptr; ///< X [m, k]
  uint64_t xStride = 0;
  BeatRuns w;                    ///< beat 0 = first beat of weight row 0
  const uint8_t *bias = nullptr; ///< FP16 [n], or nullptr
  uint8_t *y = nullptr;          ///< Y [m, n]
  uint64_t yStride = 0;
  uint32_t m = 0, n = 0, k = 0;
  isa::Sparsity sparsity = isa::Sparsity::Dense;
};

struct MmF16Args {
  const uint8_t *a = nullptr, *b = nullptr;
  uint8_t *c = nullptr;
  uint64_t aStride = 0, bStride = 0, cStride = 0;
  uint32_t m = 0, n = 0, k = 0;
  bool transB = false, acc = false;
  float alpha = 1.0f;
};

/// INT4 weight rows relaid for the AVX2 and AVX-512 kernels ("lanes = rows",
/// docs/simulator.md): per 16 rows and per 2048 inputs, the 16 groups'
/// FP16 scales as [group][row] (512 bytes), then per group its 64 payload
/// bytes as [dword q][row] (1 KiB: lane r of vector q holds bytes 4q .. 4q
/// + 3 of row r), as (w + 8) nibbles (the dense payload's two's complement
/// nibbles ^ 8); rows past the end have w = 0. Any density is stored dense.
struct Q4Lanes {
  const uint8_t *data = nullptr;
  uint32_t rows = 0, k = 0;
};
/// Bytes of `rows` rows of k inputs relaid (16-row blocks of dense rows).
uint64_t q4LanesBytes(uint32_t rows, uint32_t k);
/// Relays `rows` rows in format `sp` (beat 0 of `src` = row 0's first beat)
/// into `out` (q4LanesBytes(rows, k) bytes), with the code of `level`.
void q4ToLanes(const BeatRuns &src, uint32_t rows, uint32_t k, isa::Sparsity sp, uint8_t *out,
               CpuLevel level);

/// mm_q4, with a cache of prepared activations (the tiles of one layer
/// share their input).
class MmQ4Kernel {
public:
  MmQ4Kernel();
  ~MmQ4Kernel();
  void run(const MmQ4Args &a, ThreadPool &pool, CpuLevel level);
  /// The same product from relaid weights `w` (a.w is not read; a.k ==
  /// w.k, a.n <= w.rows), at a level with hasLanesKernel(level).
  void runLanes(const MmQ4Args &a, const Q4Lanes &w, ThreadPool &pool, CpuLevel level);
  /// `count` products on relaid weights that share their input (the tiles
  /// of one layer), as one parallel job.
  void runLanesBatch(const MmQ4Args *a, const Q4Lanes *w, size_t count, ThreadPool &pool,
                     CpuLevel level);

  struct Prepared;

private:
  Prepared &prepare(const MmQ4Args &a, ThreadPool &pool, CpuLevel level);
  void runLanesOneToken(const MmQ4Args *a, const Q4Lanes *w, size_t count, const Prepared &P,
                        ThreadPool &pool, CpuLevel level);
  void runLanesTokens(const MmQ4Args *a, const Q4Lanes *w, size_t count, const Prepared &P,
                      ThreadPool &pool, CpuLevel level);

  std::vector<std::unique_ptr<Prepared>> cache_; ///< most recent first
  std::vector<std::vector<uint8_t>> scratch_;    ///< per thread
  std::vector<float> prods_;                     ///< runLanes, one token: group products
};

void mmF16(const MmF16Args &a, ThreadPool &pool, CpuLevel level);

} // namespace edgellm::kernels

#endif // EDGELLM_RUNTIME_KERNELS_MATMUL_H
