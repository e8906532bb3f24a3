//===- Session.h - Running a package ----------------------------*- C++ -*-===//
//
// Loads a package (runtime/package) onto a device and runs the model one
// step at a time: the host embeds the tokens (FP16 rows of the package's
// table) into the device's input region, sets the step's registers (R1 pos,
// R2 past, R3 ntok), runs the prefill program (up to its token capacity per
// run) or the decode program (one token), and reads the logits back. The KV
// cache stays on the device between steps. Device for now: the golden model
// (`sim`, bit-exact; docs/isa.md). Plain C++: never links MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_SESSION_SESSION_H
#define EDGELLM_RUNTIME_SESSION_SESSION_H

#include "edgellm/hw/Isa.h"
#include "edgellm/hw/Target.h"
#include "edgellm/hw/Timing.h"
#include "runtime/device/Device.h"
#include "runtime/package/Package.h"
#include "runtime/session/Sampler.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <functional>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgellm::runtime {

struct ModelInfo {
  int64_t layers = 0, hidden = 0, vocab = 0, maxContext = 0;
};

/// Which device runs the package.
struct DeviceOptions {
  std::string device = "sim"; ///< sim | xrt
  std::string xclbin;         ///< xrt: the accelerator's xclbin
  unsigned deviceIndex = 0;   ///< xrt: the board
  uint64_t randomIssueSeed = 0; ///< sim: only the dependency tokens order the queues
};

struct GenerationOptions {
  SamplingOptions sampling;
  int maxNewTokens = 128;
  bool stopAtEos = true;
};

/// What one generation cost on the host (wall clock) and how many tokens.
struct GenerationStats {
  int64_t promptTokens = 0, reusedTokens = 0, newTokens = 0;
  double prefillSeconds = 0, decodeSeconds = 0;
  /// Of decodeSeconds, the time the device took (start to end of wait); the
  /// rest is the host's per-token work: embedding, transfers, sampling.
  double decodeDeviceSeconds = 0;
};

class Session {
public:
  /// Opens and verifies the package and loads its weights onto the device.
  static std::unique_ptr<Session> open(const std::string &packagePath, std::string &error,
                                       const DeviceOptions &options = {});
  const Device &device() const { return *device_; }
  /// What the device said about the last run ("" normally; e.g. that XRT's
  /// no-op shim computed nothing).
  const std::string &deviceNote() const { return deviceNote_; }

  const ModelInfo &info() const { return info_; }
  const package::Package &package() const { return *pkg_; }
  /// Tokens in the KV cache.
  int64_t past() const { return past_; }
  /// Forgets the KV cache (a new conversation).
  void reset() {
    past_ = 0;
    cached_.clear();
  }

  /// The package's tokenizer (nullptr when the package has none).
  const Tokenizer *tokenizer() const { return tokenizer_.get(); }

  /// Generates after `prompt`: reuses the KV cache for the longest prefix of
  /// `prompt` already in it (a chat's earlier rounds), runs the rest through
  /// the prefill program, then samples and decodes one token at a time until
  /// eos or the limit. `onToken` sees each new token; returning false stops.
  bool generate(const std::vector<int32_t> &prompt, const GenerationOptions &options,
                const std::function<bool(int32_t)> &onToken, std::vector<int32_t> &out,
                std::string &error, GenerationStats *stats = nullptr);

  /// Transfer time over the target's PCIe for one run of `ntok` tokens: the
  /// embeddings in and the logits out (latency + bytes / bandwidth each).
  double pcieSeconds(uint32_t ntok) const;
  /// The VCU128 timing model's prediction for one run of the decode (or
  /// prefill, or with `lastOnly` prefill_last) program with `ntok` tokens
  /// after `past` cached ones.
  hw::TimingReport modelStep(bool decode, uint32_t past, uint32_t ntok,
                             bool keepEvents = false, bool lastOnly = false) const;

  /// Every program run so far (what the trace replays on the timing model);
  /// lastOnly: prefill_last.
  struct RunRecord {
    bool decode = false;
    uint32_t past = 0, ntok = 0;
    bool lastOnly = false;
  };
  const std::vector<RunRecord> &runs() const { return runs_; }
  /// Writes a Chrome/Perfetto trace of the modeled device time of every run
  /// so far, one after another: dispatch, load DMA, compute, store DMA and
  /// the PCIe transfers of the inputs and logits as tracks.
  bool writeTrace(const std::string &path, std::string &error) const;

  /// Runs `tokens` after the cached ones and appends their logits
  /// ([tokens][vocab], float32) to `logits`. `stepwise` runs the decode
  /// program once per token; otherwise the prefill program takes up to its
  /// capacity per run. `lastOnly` (not stepwise): only each run's last
  /// token's logits are wanted (a prompt's): the package's prefill_last
  /// program, which computes only those, runs when there is one, and
  /// `logits` gets one row per run.
  bool forward(const std::vector<int32_t> &tokens, bool stepwise, std::vector<float> &logits,
               std::string &error, bool lastOnly = false);
  /// Whether the package has a prefill_last program (a model whose
  /// last-token program does not fit the device goes without).
  bool hasPrefillLast() const { return !prefillLast_.code.empty(); }

private:
  struct Program {
    std::string name;
    uint32_t capacity = 0;
    std::vector<isa::Instruction> code;
  };
  /// The program a run uses: decode, or prefill_last when only the last
  /// token's logits are wanted and the package has it, else prefill.
  const Program &programFor(bool decode, bool lastOnly) const {
    return decode ? decode_ : lastOnly && hasPrefillLast() ? prefillLast_ : prefill_;
  }
  bool run(const Program &p, const int32_t *tokens, uint32_t n, std::vector<float> &logits,
           std::string &error);
  /// PCIe time of one transfer of `bytes` (the target's latency + bandwidth).
  double pcieNs(double bytes) const;

  std::unique_ptr<package::Package> pkg_;
  hw::TargetDesc target_;
  std::unique_ptr<Device> device_;
  std::string deviceNote_;
  Program prefill_, decode_, prefillLast_; ///< prefillLast_: optional
  ModelInfo info_;
  uint64_t inputBeat_ = 0, logitsBeat_ = 0;
  package::Bytes embedding_;
  int64_t past_ = 0;
  std::vector<int32_t> cached_; ///< the tokens whose keys/values the device holds
  std::vector<RunRecord> runs_;
  double deviceSeconds_ = 0; ///< time spent in device runs so far
  std::unique_ptr<Tokenizer> tokenizer_;
};

} // namespace edgellm::runtime

#endif // EDGELLM_RUNTIME_SESSION_SESSION_H
