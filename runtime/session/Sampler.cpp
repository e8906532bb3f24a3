//===- Sampler.cpp - Choosing the next token ------------------------------===//

#include "runtime/session/Sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace edgellm::runtime;

int32_t Sampler::next(const float *logits, int64_t vocab, const std::vector<int32_t> &seen) {
  std::vector<float> l(logits, logits + vocab);
  if (o_.repetitionPenalty != 1.0f)
    for (int32_t t : seen)
      if (t >= 0 && t < vocab)
        l[size_t(t)] = l[size_t(t)] > 0 ? l[size_t(t)] / o_.repetitionPenalty
                                        : l[size_t(t)] * o_.repetitionPenalty;
  if (o_.temperature <= 0.0f) // greedy: the first of the largest
    return int32_t(std::max_element(l.begin(), l.end()) - l.begin());
  std::vector<int32_t> idx(static_cast<size_t>(vocab));
  std::iota(idx.begin(), idx.end(), 0);
  // Descending logits, ties by id: a deterministic order.
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) {
    return l[size_t(a)] != l[size_t(b)] ? l[size_t(a)] > l[size_t(b)] : a < b;
  });
  size_t keep = idx.size();
  if (o_.topK > 0)
    keep = std::min(keep, size_t(o_.topK));
  std::vector<double> p(keep);
  double mx = l[size_t(idx[0])], sum = 0;
  for (size_t i = 0; i < keep; ++i)
    sum += p[i] = std::exp((double(l[size_t(idx[i])]) - mx) / o_.temperature);
  if (o_.topP < 1.0f) {
    double acc = 0;
    size_t n = 0;
    while (n < keep) {
      acc += p[n++] / sum;
      if (acc >= o_.topP)
        break;
    }
    keep = std::max<size_t>(n, 1);
    p.resize(keep);
    sum = std::accumulate(p.begin(), p.end(), 0.0);
  }
  double r = std::uniform_real_distribution<double>(0.0, sum)(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= p[i];
    if (r < 0)
      return idx[i];
  }
  return idx[keep - 1];
}
