//===- Tokenizer.cpp - ChatGLM2's tokenizer -------------------------------===//

#include "runtime/tokenizer/Tokenizer.h"

#include <sentencepiece_processor.h>

using namespace edgellm::runtime;

static const char *const kSpecial[] = {"[MASK]", "[gMASK]", "[sMASK]", "sop", "eop"};

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::fromModelBytes(const std::string &bytes,
                                                     std::string &error) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto status = t->sp_->LoadFromSerializedProto(bytes);
  if (!status.ok()) {
    error = "tokenizer: " + status.ToString();
    return nullptr;
  }
  t->pieces_ = t->sp_->GetPieceSize();
  t->eos_ = t->sp_->eos_id();
  t->unk_ = t->sp_->unk_id();
  return t;
}

int32_t Tokenizer::special(const std::string &name) const {
  for (int i = 0; i < 5; ++i)
    if (name == kSpecial[i])
      return pieces_ + i;
  return -1;
}

std::vector<int32_t> Tokenizer::encode(const std::string &text, bool prefix) const {
  std::vector<int> ids;
  sp_->Encode(text, &ids);
  std::vector<int32_t> out;
  if (prefix)
    out = {special("[gMASK]"), special("sop")};
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t> &ids) const {
  std::string out;
  std::vector<int> run;
  auto flush = [&] {
    if (!run.empty()) {
      std::string piece;
      sp_->Decode(run, &piece);
      out += piece;
      run.clear();
    }
  };
  for (int32_t id : ids) {
    if (id >= pieces_ && id < pieces_ + 5) {
      flush();
      out += kSpecial[id - pieces_];
    } else if (id >= 0 && id < pieces_ && id != unk_) {
      run.push_back(id);
    }
  }
  flush();
  return out;
}

std::string Tokenizer::chatPrompt(const std::string &query,
                                  const std::vector<std::pair<std::string, std::string>> &history) {
  std::string p;
  for (size_t i = 0; i < history.size(); ++i)
    p += "[Round " + std::to_string(i + 1) + "]\n\n问：" + history[i].first + "\n\n答：" +
         history[i].second + "\n\n";
  p += "[Round " + std::to_string(history.size() + 1) + "]\n\n问：" + query + "\n\n答：";
  return p;
}
