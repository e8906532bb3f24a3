//===- MmQ4Bench.cpp - Speed of the simulator's mm_q4 kernel --------------===//
//
// Prints the speed of the fast mm_q4 kernel (runtime/kernels/MatMul.h) on
// ChatGLM2-6B's linear-layer shapes: weight bytes per second, time per
// layer and the decode-step time of all 28 layers' linear products
// (docs/simulator.md). The activations are FP16 normals with a few
// outliers per group (as LLM activations are), which sets how many inputs
// need the exact alignment corrections; the weights are random bytes with
// random scales (every byte is a valid dense encoding).
//   edgellm-bench-mmq4 [--tokens M] [--threads T] [--reps R] [--shape NAME] [--scalar]
//                      [--in-place] [--copies C]
// Each shape is timed over C copies of its weights (default: enough for
// 512 MB, so that they stream from DRAM as in a decode step and not from
// the 32 MB L3), each with its own input, as the layers of a step are.
// By default (AVX-512 or AVX2) the weights are relaid as the simulator keeps them
// (kernels::q4ToLanes); --in-place times the kernel on the package rows.
//
//===----------------------------------------------------------------------===//

#include "edgellm/hw/IsaNumerics.h"
#include "runtime/kernels/HugeBuffer.h"
#include "runtime/kernels/MatMul.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>


using namespace edgellm;

namespace {

struct Shape {
  const char *name;
  uint32_t k, n;
};

// ChatGLM2-6B, per layer: query_key_value, dense, dense_h_to_4h, dense_4h_to_h.
constexpr Shape kShapes[] = {{"qkv", 4096, 4608},
                             {"dense", 4096, 4096},
                             {"h_to_4h", 4096, 27392},
                             {"4h_to_h", 13696, 4096}};
// Not part of the decode step: one tile of 128 rows (264 KB), L2-resident (the
// kernel's compute rate without DRAM).
constexpr Shape kCached = {"cached", 4096, 128};
constexpr unsigned kLayers = 28;

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace

int main(int argc, char **argv) {
  uint32_t M = 1;
  std::string only;
  bool lanes = true;
  unsigned threads = 0, reps = 5, copiesArg = 0;
  kernels::CpuLevel level = kernels::detectCpuLevel();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--tokens" && i + 1 < argc)
      M = uint32_t(std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc)
      threads = unsigned(std::atoi(argv[++i]));
    else if (a == "--reps" && i + 1 < argc)
      reps = unsigned(std::atoi(argv[++i]));
    else if (a == "--shape" && i + 1 < argc)
      only = argv[++i];
    else if (a == "--scalar")
      level = kernels::CpuLevel::Scalar;
    else if (a == "--in-place")
      lanes = false;
    else if (a == "--copies" && i + 1 < argc)
      copiesArg = unsigned(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: edgellm-bench-mmq4 [--tokens M] [--threads T] [--reps R] [--shape NAME] [--scalar] [--in-place] [--copies C]\n");
      return 2;
    }
  }
  if (M == 0 || reps == 0) {
    std::fprintf(stderr, "edgellm-bench-mmq4: --tokens and --reps must be positive\n");
    return 2;
  }
  kernels::ThreadPool pool(threads);
  kernels::MmQ4Kernel kernel;
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  if (!kernels::hasLanesKernel(level))
    lanes = false;
  std::printf("mm_q4 bench: %s, %u threads, %u token(s), dense INT4, %s\n",
              kernels::cpuLevelName(level), pool.size(), M,
              lanes ? "weights relaid (lanes = rows)" : "weights in package rows");
  double stepSeconds = 0, stepBytes = 0;
  std::vector<Shape> shapes(std::begin(kShapes), std::end(kShapes));
  if (only == kCached.name)
    shapes = {kCached};
  for (const Shape &s : shapes) {
    if (!only.empty() && only != s.name)
      continue;
    const uint64_t rowBytes = uint64_t(isa::q4RowBeats(s.k, isa::Sparsity::Dense)) * isa::kBeatBytes;
    // In huge pages, as the simulator keeps its weights: `copies` copies
    // (the cache-resident tile: one).
    const uint64_t wBytes = rowBytes * s.n;
    const bool cached = s.name == kCached.name;
    const uint64_t copyBytes = lanes ? kernels::q4LanesBytes(s.n, s.k) : wBytes;
    const unsigned copies =
        cached ? 1 : copiesArg ? copiesArg : unsigned(std::max<uint64_t>(1, (512u << 20) / copyBytes));
    kernels::HugeBuffer w, relaid;
    if (!w.allocate(lanes ? wBytes : wBytes * copies) ||
        !relaid.allocate(lanes ? copyBytes * copies : 0)) {
      std::fprintf(stderr, "edgellm-bench-mmq4: out of memory\n");
      return 1;
    }
    for (uint64_t i = 0; i < wBytes; i += 8) {
      uint64_t r = rng();
      std::memcpy(w.data() + i, &r, 8);
    }
    // Scales: FP16 around 2^-6 (as the quantiser's max|w|/7 gives).
    for (uint64_t n = 0; n < s.n; ++n)
      for (uint32_t b0 = 0, beat = 0; b0 < s.k; b0 += isa::kQuantBlock) {
        uint32_t ng = (std::min<uint32_t>(isa::kQuantBlock, s.k - b0) + 127) / 128;
        for (unsigned g = 0; g < 16; ++g) {
          uint16_t h = isa::f32ToF16(std::ldexp(1.0f + float(rng() % 1000) / 1000, -6));
          std::memcpy(w.data() + n * rowBytes + beat * 32 + 2 * g, &h, 2);
        }
        beat += 1 + ng * 64 / 32;
      }
    if (lanes)
      kernels::q4ToLanes(kernels::BeatRuns::contiguous(w.data()), s.n, s.k, isa::Sparsity::Dense,
                         relaid.data(), level);
    for (unsigned c = 1; c < copies; ++c)
      std::memcpy((lanes ? relaid.data() : w.data()) + c * copyBytes, lanes ? relaid.data() : w.data(),
                  copyBytes);
    // X [M, K] per copy, unified layout with stride M: normals, 1 in 64 an
    // outlier x20.
    const uint32_t kb = (s.k + 15) / 16;
    std::vector<std::vector<uint8_t>> xs(copies, std::vector<uint8_t>(uint64_t(kb) * M * 32));
    std::vector<uint8_t> y(uint64_t((s.n + 15) / 16) * M * 32);
    // One call per weight tile, as the compiler tiles (docs/lowering.md: at
    // most 256 rows and 1/8 of the 4 MiB WBUF), all with the same input;
    // the tiles of one input as one job, as the simulator runs them.
    const uint64_t tileRows = std::min<uint64_t>(256, (512 << 10) / rowBytes / 16 * 16);
    std::vector<kernels::MmQ4Args> args;
    std::vector<kernels::Q4Lanes> tiles;
    double best = 1e30;
    for (unsigned rep = 0; rep < reps; ++rep) {
      // New activations each repetition (the kernel caches prepared inputs),
      // except for the cache-resident tile: its time is the kernel's alone.
      if (rep == 0 || !cached)
        for (std::vector<uint8_t> &x : xs)
          for (uint32_t m = 0; m < M; ++m)
            for (uint32_t c = 0; c < s.k; ++c) {
              float v = normal(rng) * (rng() % 64 == 0 ? 20.0f : 1.0f);
              uint16_t h = isa::f32ToF16(v);
              std::memcpy(&x[((c / 16) * M + m) * 32 + (c % 16) * 2], &h, 2);
            }
      double t0 = seconds();
      for (unsigned c = 0; c < copies; ++c) {
        args.clear();
        tiles.clear();
        for (uint64_t n0 = 0; n0 < s.n; n0 += tileRows) {
          kernels::MmQ4Args a;
          a.x = xs[c].data();
          a.xStride = M;
          a.w = kernels::BeatRuns::contiguous(w.data() + (lanes ? 0 : c * copyBytes) + n0 * rowBytes);
          a.y = y.data() + (n0 / 16) * M * 32;
          a.yStride = M;
          a.m = M;
          a.n = uint32_t(std::min<uint64_t>(tileRows, s.n - n0));
          a.k = s.k;
          args.push_back(a);
          tiles.push_back(kernels::Q4Lanes{relaid.data() + c * copyBytes + n0 * rowBytes, a.n, s.k});
        }
        if (lanes)
          kernel.runLanesBatch(args.data(), tiles.data(), args.size(), pool, level);
        else
          for (size_t i = 0; i < args.size(); ++i)
            kernel.run(args[i], pool, level);
      }
      best = std::min(best, (seconds() - t0) / copies);
    }
    double groups = double(M) * s.n * ((s.k + 127) / 128);
    std::printf("  %-8s K=%-5u N=%-5u %8.3f ms  %6.2f GB/s  %6.2f ns/group/thread\n", s.name, s.k,
                s.n, best * 1e3, double(wBytes) / best / 1e9,
                best * 1e9 * pool.size() / groups);
    if (!cached)
      stepSeconds += best * kLayers;
    stepBytes += double(wBytes) * kLayers;
  }
  std::printf("28 layers' linear products: %.1f ms for %.2f GB of weights (%.2f GB/s): %.2f "
              "tokens/s%s\n",
              stepSeconds * 1e3, stepBytes / 1e9, stepBytes / stepSeconds / 1e9,
              M / stepSeconds, M > 1 ? " (prefill)" : "");
  return 0;
}
