//===- Tokenizer.h - ChatGLM2's tokenizer ------------------------*- C++ -*-===//
//
// SentencePiece (libsentencepiece) plus ChatGLM2's special tokens, which are
// not in the .model file: [MASK] = N, [gMASK] = N+1, [sMASK] = N+2, sop =
// N+3, eop = N+4 for a model of N pieces. Every prompt starts with
// [gMASK] sop; the chat prompt of round i is
//   "[Round i]\n\n问：{query}\n\n答：" after the earlier rounds
//   "[Round j]\n\n问：{q}\n\n答：{a}\n\n"  (docs/models.md).
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_RUNTIME_TOKENIZER_TOKENIZER_H
#define EDGELLM_RUNTIME_TOKENIZER_TOKENIZER_H

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace edgellm::runtime {

class Tokenizer {
public:
  /// From the bytes of a SentencePiece model (the package's tokenizer.model).
  static std::unique_ptr<Tokenizer> fromModelBytes(const std::string &bytes, std::string &error);
  ~Tokenizer();

  /// [gMASK] sop + the pieces of `text` (without the prefix when `prefix` is false).
  std::vector<int32_t> encode(const std::string &text, bool prefix = true) const;
  /// Text of the ids; special tokens as their names, padding (unk) dropped.
  std::string decode(const std::vector<int32_t> &ids) const;

  /// ChatGLM2's chat prompt for `query` after `history` (query, answer) rounds.
  static std::string chatPrompt(const std::string &query,
                                const std::vector<std::pair<std::string, std::string>> &history);

  int32_t eos() const { return eos_; }
  int32_t vocabSize() const { return pieces_ + 5; }
  int32_t special(const std::string &name) const; ///< -1 if unknown

private:
  Tokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  int32_t pieces_ = 0, eos_ = -1, unk_ = -1;
};

} // namespace edgellm::runtime

#endif // EDGELLM_RUNTIME_TOKENIZER_TOKENIZER_H
