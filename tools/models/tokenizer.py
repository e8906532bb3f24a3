"""A SentencePiece tokenizer in ChatGLM2's style, trained on Debian text.

Layout of the ids (same roles as ChatGLM2-6B's tokenizer):
  0 <unk> (also the pad id), 1 <s>, 2 </s> (eos), 3..258 byte-fallback pieces
  <0x00>..<0xFF> (so "\\n" is id 13, as in ChatGLM2), then the learned pieces;
  after the SentencePiece vocabulary (size N) come the special tokens, which are
  not part of the .model file: [MASK]=N, [gMASK]=N+1, [sMASK]=N+2, sop=N+3, eop=N+4.
Every prompt starts with [gMASK] sop. The chat prompt is
  "[Round 1]\\n\\n问：{query}\\n\\n答：" (earlier rounds: "[Round i]\\n\\n问：{q}\\n\\n答：{a}\\n\\n").
"""

import json
import os

import sentencepiece as spm

SPECIAL_TOKENS = ["[MASK]", "[gMASK]", "[sMASK]", "sop", "eop"]
SP_VOCAB_SIZE = 3000
CHARACTER_COVERAGE = 0.995


def train(train_entries, model_prefix, vocab_size=SP_VOCAB_SIZE, work_dir=None):
    """Deterministic SentencePiece (BPE) training: one thread, no sampling or
    shuffling of the input."""
    work_dir = work_dir or os.path.dirname(model_prefix)
    txt = os.path.join(work_dir, "tokenizer_train.txt")
    with open(txt, "w", encoding="utf-8") as f:
        for e in train_entries:
            for line in e.split("\n"):
                if line.strip():
                    f.write(line + "\n")
    spm.SentencePieceTrainer.train(
        input=txt, model_prefix=model_prefix, model_type="bpe", vocab_size=vocab_size,
        character_coverage=CHARACTER_COVERAGE, byte_fallback=True, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, allow_whitespace_only_pieces=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        input_sentence_size=0, shuffle_input_sentence=False, num_threads=1,
        max_sentence_length=16384, minloglevel=2)
    # The trainer records its input and output paths in the model; keep only
    # the base names so that the file does not depend on the checkout's path.
    from sentencepiece import sentencepiece_model_pb2 as pb
    m = pb.ModelProto()
    with open(model_prefix + ".model", "rb") as f:
        m.ParseFromString(f.read())
    del m.trainer_spec.input[:]
    m.trainer_spec.input.append(os.path.basename(txt))
    m.trainer_spec.model_prefix = os.path.basename(model_prefix)
    with open(model_prefix + ".model", "wb") as f:
        f.write(m.SerializeToString())
    return model_prefix + ".model"


class ChatGLM2Tokenizer:
    def __init__(self, model_file):
        self.sp = spm.SentencePieceProcessor(model_file=model_file)
        n = self.sp.get_piece_size()
        self.n_sp = n
        self.special = {t: n + i for i, t in enumerate(SPECIAL_TOKENS)}
        self.id_to_special = {v: k for k, v in self.special.items()}
        self.unk_id = self.sp.unk_id()
        self.pad_id = self.unk_id
        self.bos_id = self.sp.bos_id()
        self.eos_id = self.sp.eos_id()
        self.vocab_size = n + len(SPECIAL_TOKENS)

    def get_prefix_tokens(self):
        return [self.special["[gMASK]"], self.special["sop"]]

    def encode(self, text, add_prefix=True):
        ids = self.sp.encode(text)
        return (self.get_prefix_tokens() if add_prefix else []) + ids

    def decode(self, ids):
        out, run = [], []
        for i in ids:
            if i in self.id_to_special:
                if run:
                    out.append(self.sp.decode(run))
                    run = []
                out.append(self.id_to_special[i])
            elif i < self.n_sp and i != self.pad_id:
                run.append(i)
        if run:
            out.append(self.sp.decode(run))
        return "".join(out)

    @staticmethod
    def build_prompt(query, history=()):
        p = ""
        for i, (q, a) in enumerate(history):
            p += "[Round {}]\n\n问：{}\n\n答：{}\n\n".format(i + 1, q, a)
        p += "[Round {}]\n\n问：{}\n\n答：".format(len(history) + 1, query)
        return p

    def build_chat_input(self, query, history=()):
        return self.encode(self.build_prompt(query, history))

    def config(self):
        """The facts a runtime needs, stored next to the .model file."""
        return {
            "type": "sentencepiece",
            "sp_vocab_size": self.n_sp,
            "vocab_size": self.vocab_size,
            "special_tokens": self.special,
            "unk_id": self.unk_id, "pad_id": self.pad_id, "bos_id": self.bos_id,
            "eos_id": self.eos_id,
            "prefix_tokens": ["[gMASK]", "sop"],
            "chat_format": {"round": "[Round {i}]\n\n问：{q}\n\n答：{a}\n\n",
                            "query": "[Round {i}]\n\n问：{q}\n\n答："},
        }

    def save_config(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.config(), f, ensure_ascii=False, indent=2, sort_keys=True)
            f.write("\n")
