//===- Sampler.h - Choosing the next token ----------------------*- C++ -*-===//
//
// Greedy (temperature 0), or temperature + top-k + top-p (nucleus) sampling
// with a repetition penalty (as in HF transformers / ChatGLM2: a seen
// token's logit is divided by the penalty when positive, multiplied when
// negative), seeded for reproducibility.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_SESSION_SAMPLER_H
#define EDGELLM_RUNTIME_SESSION_SAMPLER_H

#include <cstdint>
#include <random>
#include <vector>

namespace edgellm::runtime {

struct SamplingOptions {
  float temperature = 0.0f; ///< 0: greedy
  int topK = 0;             ///< 0: all tokens
  float topP = 1.0f;        ///< 1: all tokens
  float repetitionPenalty = 1.0f;
  uint64_t seed = 0;
};

class Sampler {
public:
  explicit Sampler(const SamplingOptions &o) : o_(o), rng_(o.seed) {}
  /// The next token from `logits` (one position), given the tokens so far.
  int32_t next(const float *logits, int64_t vocab, const std::vector<int32_t> &seen);

private:
  SamplingOptions o_;
  std::mt19937_64 rng_;
};

} // namespace edgellm::runtime

#endif // EDGELLM_RUNTIME_SESSION_SAMPLER_H
