"""The committed tokenizer fixture: ChatGLM2's id roles, round trips, chat prompt."""

import json
import os
import unittest

import corpus
import fixtures as fx
from tokenizer import ChatGLM2Tokenizer

TOK = os.path.join(fx.FIX, "tokenizer", "tokenizer.model")


class Tokenizer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = ChatGLM2Tokenizer(TOK)

    def test_special_ids(self):
        t = self.t
        n = t.sp.get_piece_size()
        self.assertEqual(n, 3000)
        self.assertEqual(t.special, {"[MASK]": n, "[gMASK]": n + 1, "[sMASK]": n + 2, "sop": n + 3, "eop": n + 4})
        self.assertEqual((t.unk_id, t.pad_id, t.bos_id, t.eos_id), (0, 0, 1, 2))
        self.assertEqual(t.sp.id_to_piece(13), "<0x0A>")  # byte fallback: "\n" is 13 as in ChatGLM2
        with open(os.path.join(fx.FIX, "tokenizer", "tokenizer_config.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f), json.loads(json.dumps(t.config())))
        self.assertLessEqual(t.vocab_size, fx.config("tiny")["config"]["padded_vocab_size"])

    def test_round_trip(self):
        for s in ["Hello, world!  Two spaces, a tab\tand\nnewlines.\n",
                  "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。",
                  "Debian 12 「书虫」 mixes 中文 and English; 数字 0123456789 ✓",
                  "生僻字 龘 and emoji 🙂 go through byte fallback"]:
            ids = self.t.encode(s, add_prefix=False)
            self.assertEqual(self.t.decode(ids), s)
            self.assertNotIn(self.t.unk_id, ids)

    def test_round_trip_validation_text(self):
        entries = corpus.read_entries(os.path.join(fx.FIX, "data", "val.txt"))
        self.assertGreater(len(entries), 500)
        zh = sum(1 for e in entries if any("\u4e00" <= ch <= "\u9fff" for ch in e))
        self.assertGreater(zh, 50)
        self.assertGreater(len(entries) - zh, 50)
        for e in entries:
            self.assertEqual(self.t.decode(self.t.encode(e, add_prefix=False)), e)

    def test_chat_prompt(self):
        t = self.t
        self.assertEqual(t.build_prompt("你好"), "[Round 1]\n\n问：你好\n\n答：")
        self.assertEqual(t.build_prompt("再见", [("你好", "你好！")]),
                         "[Round 1]\n\n问：你好\n\n答：你好！\n\n[Round 2]\n\n问：再见\n\n答：")
        ids = t.build_chat_input("你好")
        self.assertEqual(ids[:2], [t.special["[gMASK]"], t.special["sop"]])
        self.assertEqual(t.decode(ids), "[gMASK]sop[Round 1]\n\n问：你好\n\n答：")
        self.assertEqual(ids[2:], t.sp.encode("[Round 1]\n\n问：你好\n\n答："))
        self.assertEqual(ids.count(13), 4)  # the four "\n"
        ref = fx.config("tiny")["references"]
        self.assertEqual(ref["prompt_len"], len(ids))


if __name__ == "__main__":
    unittest.main()
