"""ONNX Runtime 1.30 (npm onnxruntime-node) against the PyTorch FP32 references.

Every committed export is run on the reference inputs by tools/models/ort/run_ort.js
(one node process for the whole suite); every output must match the reference
within ATOL (absolute), and greedy generation through prefill + decode graphs
must pick the same 32 tokens. Needs node and tools/models/ort/node_modules
(installed by tools/models/ort/setup.sh, which this test calls when missing).
"""

import json
import os
import subprocess
import tempfile
import unittest

import numpy as np

import fixtures as fx

ATOL = 1e-4
ORT_DIR = os.path.join(fx.HERE, "ort")


def _setup_ort():
    subprocess.run(["sh", os.path.join(ORT_DIR, "setup.sh")], check=True,
                   stdout=subprocess.DEVNULL)


class OrtVsPyTorch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        _setup_ort()
        cls.tmp = tempfile.TemporaryDirectory(prefix="edgellm-ort-")
        cls.checks = []  # (label, ort output file, reference array)
        cls.greedy = []  # (label, tokens file, logits file, ref tokens, ref logits)
        runs, greedy = [], []
        for name in fx.MODELS:
            cls._plan(name, runs, greedy)
        job = os.path.join(cls.tmp.name, "job.json")
        with open(job, "w") as f:
            json.dump({"runs": runs, "greedy": greedy}, f)
        p = subprocess.run(["node", os.path.join(ORT_DIR, "run_ort.js"), job],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("run_ort.js failed:\n" + p.stdout + p.stderr)
        cls.ort_banner = p.stdout.strip()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def _tmpfile(cls, rel):
        p = os.path.join(cls.tmp.name, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    @classmethod
    def _write(cls, rel, a):
        p = cls._tmpfile(rel)
        np.save(p, np.ascontiguousarray(a))
        return p

    @classmethod
    def _plan(cls, name, runs, greedy):
        cfg = fx.config(name)
        L = cfg["config"]["num_layers"]
        G = cfg["config"]["multi_query_group_num"]
        D = cfg["config"]["kv_channels"]
        split = 5
        ref = lambda r: fx.ref_path(name, r)  # noqa: E731
        load = lambda r: np.load(ref(r))  # noqa: E731
        kv = [(i, s) for i in range(L) for s in ("key", "value")]
        for fname in sorted(fx.exports(name)):
            kind, with_mask, opset, _ = fx.parse_variant(fname)
            model = os.path.join(fx.model_dir(name), fname)
            tag = "%s/%s" % (name, fname)

            def add(case, inputs, expect):
                outs = {}
                for out_name, ref_arr in expect.items():
                    f = cls._tmpfile("%s/%s/%s.npy" % (tag, case, out_name))
                    outs[out_name] = f
                    cls.checks.append(("%s %s %s" % (tag, case, out_name), f, ref_arr))
                runs.append({"model": model, "inputs": inputs, "outputs": outs})

            prompt_in = {"input_ids": ref("prompt.input_ids"), "position_ids": ref("prompt.position_ids")}
            if with_mask:
                prompt_in["attention_mask"] = ref("prompt.attention_mask")
            prompt_presents = {"present_key_values.%d.%s" % (i, s): load("prompt.present_key_values.%d.%s" % (i, s))
                               for i, s in kv}
            if kind == "prefill":
                add("prompt", prompt_in, dict(logits=load("prompt.logits"), **prompt_presents))
                eq = {"input_ids": ref("batch_equal.input_ids"), "position_ids": ref("batch_equal.position_ids")}
                if with_mask:
                    eq["attention_mask"] = cls._write("%s/ones_equal.npy" % tag,
                                                      np.ones_like(np.load(ref("batch_equal.input_ids"))))
                add("batch_equal", eq, {"logits": load("batch_equal.logits")})
                if with_mask:
                    b = {k: ref("batch." + k) for k in ("input_ids", "position_ids", "attention_mask")}
                    add("batch_padded", b, dict(
                        logits=load("batch.logits"),
                        **{"present_key_values.%d.%s" % (i, s): load("batch.present_key_values.%d.%s" % (i, s))
                           for i, s in kv}))
            else:
                # past length 0: the decode graph acts as a prefill
                empty = cls._write("%s/empty_past.npy" % tag, np.zeros((0, 1, G, D), np.float32))
                e_in = dict(prompt_in, **{"past_key_values.%d.%s" % (i, s): empty for i, s in kv})
                add("empty_past", e_in, dict(logits=load("prompt.logits"), **prompt_presents))
                # a chunk of several new tokens on a past of `split` tokens
                ids, pos = load("prompt.input_ids"), load("prompt.position_ids")
                c_in = {"input_ids": cls._write("%s/chunk_ids.npy" % tag, ids[:, split:]),
                        "position_ids": cls._write("%s/chunk_pos.npy" % tag, pos[:, split:])}
                if with_mask:
                    c_in["attention_mask"] = ref("prompt.attention_mask")
                for i, s in kv:
                    c_in["past_key_values.%d.%s" % (i, s)] = cls._write(
                        "%s/chunk_past_%d_%s.npy" % (tag, i, s), prompt_presents["present_key_values.%d.%s" % (i, s)][:split])
                add("chunk", c_in, dict(logits=load("prompt.logits")[:, split:], **prompt_presents))
                if with_mask:
                    s_in = {k: ref("batch_step." + k) for k in ("input_ids", "position_ids", "attention_mask")}
                    for i, s in kv:
                        s_in["past_key_values.%d.%s" % (i, s)] = ref("batch.present_key_values.%d.%s" % (i, s))
                    add("batch_step", s_in, {"logits": load("batch_step.logits")})
                # greedy generation with the prefill graph of the same variant
                pre = fname.replace("decode", "prefill", 1)
                if pre in fx.exports(name):
                    t = cls._tmpfile("%s/greedy_tokens.npy" % tag)
                    lg = cls._tmpfile("%s/greedy_logits.npy" % tag)
                    greedy.append({"prefill": os.path.join(fx.model_dir(name), pre), "decode": model,
                                   "input_ids": ref("prompt.input_ids"), "n_new": int(load("greedy.tokens").shape[0]),
                                   "mask": with_mask, "tokens_out": t, "logits_out": lg})
                    cls.greedy.append((tag + " greedy", t, lg, load("greedy.tokens"), load("greedy.logits")))

    def test_every_export_was_run(self):
        ran = {c[0].split(" ")[0] for c in self.checks}
        for name in fx.MODELS:
            for fname in fx.exports(name):
                self.assertIn("%s/%s" % (name, fname), ran)
        self.assertGreaterEqual(len(self.greedy), 8)

    def test_outputs_match_references(self):
        worst = 0.0
        for label, f, expect in self.checks:
            got = np.load(f)
            self.assertEqual(got.shape, expect.shape, label)
            self.assertTrue(np.all(np.isfinite(got)), label)
            d = float(np.max(np.abs(got - expect))) if got.size else 0.0
            worst = max(worst, d)
            self.assertLessEqual(d, ATOL, "%s: ONNX Runtime differs from PyTorch by %g" % (label, d))
        print("\n%s; %d output comparisons, max |ORT - PyTorch| = %.3g" % (self.ort_banner, len(self.checks), worst))

    def test_greedy_generation_matches(self):
        worst = 0.0
        for label, tf, lf, ref_tokens, ref_logits in self.greedy:
            got_t, got_l = np.load(tf), np.load(lf)
            np.testing.assert_array_equal(got_t, ref_tokens, err_msg=label)
            d = float(np.max(np.abs(got_l - ref_logits)))
            worst = max(worst, d)
            self.assertLessEqual(d, ATOL, "%s: step logits differ by %g" % (label, d))
        print("\n%d greedy generations, max |ORT - PyTorch| on step logits = %.3g" % (len(self.greedy), worst))


if __name__ == "__main__":
    unittest.main()
