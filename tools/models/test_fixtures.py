"""Checks of the committed fixtures under test/models (no ONNX Runtime needed):
manifest and size budget, onnx.checker, exact input/output names and shapes,
the shared external-data file, weights read back from the graphs, and the
PyTorch reference path recomputed from those weights."""

import hashlib
import json
import os
import unittest

import numpy as np
import onnx
import torch
from onnx import numpy_helper

import fixtures as fx
from chatglm2 import ChatGLM2Config, ChatGLM2ForCausalLM
import export_onnx as ex

torch.set_num_threads(1)


def _graph(path):
    return onnx.load(path, load_external_data=False)


class Manifest(unittest.TestCase):
    def test_manifest_matches_files_and_budget(self):
        with open(os.path.join(fx.FIX, "manifest.json")) as f:
            man = json.load(f)
        on_disk = set()
        for root, _, names in os.walk(fx.FIX):
            for n in names:
                rel = os.path.relpath(os.path.join(root, n), fx.FIX)
                if rel not in ("manifest.json", "CMakeLists.txt"):
                    on_disk.add(rel)
        self.assertEqual(on_disk, set(man["files"]), "fixture files differ from manifest.json")
        total = 0
        for rel, info in man["files"].items():
            with open(os.path.join(fx.FIX, rel), "rb") as f:
                data = f.read()
            self.assertEqual(len(data), info["bytes"], rel)
            self.assertEqual(hashlib.sha256(data).hexdigest(), info["sha256"], rel + " changed")
            total += len(data)
        self.assertLess(total, fx.FIXTURE_BUDGET_BYTES)


class Exports(unittest.TestCase):
    def test_checker_passes(self):
        for name in fx.MODELS:
            for fname in fx.exports(name):
                onnx.checker.check_model(os.path.join(fx.model_dir(name), fname))  # path: external data

    def test_variants_present(self):
        for name in fx.MODELS:
            got = {fx.parse_variant(f)[:3] for f in fx.exports(name)}
            want = {(k, m, o) for k in ("prefill", "decode") for m in (True, False) for o in (14, 17)}
            self.assertEqual(got, want, name)
        self.assertIn("prefill.op17.extdata.onnx", fx.exports("random"))

    def test_io_names_and_shapes(self):
        for name in fx.MODELS:
            c = fx.config(name)["config"]
            L, G, D, V = c["num_layers"], c["multi_query_group_num"], c["kv_channels"], c["padded_vocab_size"]
            for fname in fx.exports(name):
                kind, with_mask, opset, _ = fx.parse_variant(fname)
                m = _graph(os.path.join(fx.model_dir(name), fname))
                self.assertEqual(m.opset_import[0].version, opset)

                def sig(vs):
                    return [(v.name, v.type.tensor_type.elem_type,
                             [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in vs]

                total = "past_sequence+sequence" if kind == "decode" else "sequence"
                I64, F32 = onnx.TensorProto.INT64, onnx.TensorProto.FLOAT
                want_in = [("input_ids", I64, ["batch", "sequence"]), ("position_ids", I64, ["batch", "sequence"])]
                if with_mask:
                    want_in.append(("attention_mask", I64, ["batch", total]))
                want_out = [("logits", F32, ["batch", "sequence", V])]
                for i in range(L):
                    for s in ("key", "value"):
                        if kind == "decode":
                            want_in.append(("past_key_values.%d.%s" % (i, s), F32, ["past_sequence", "batch", G, D]))
                        want_out.append(("present_key_values.%d.%s" % (i, s), F32, [total, "batch", G, D]))
                self.assertEqual(sig(m.graph.input), want_in, fname)
                got_out = sig(m.graph.output)
                if kind == "prefill":
                    # The exporter's shape inference loses the static group/head
                    # dims of the prefill presents (they come out of a Concat) and
                    # names them symbolically: accept a name there.
                    for j, (n, t, dims) in enumerate(got_out):
                        if n.startswith("present_"):
                            got_out[j] = (n, t, dims[:2] + [want_out[j][2][k] if isinstance(dims[k], str)
                                                            else dims[k] for k in (2, 3)])
                self.assertEqual(got_out, want_out, fname)

    def test_exporter_style_kept(self):
        """Renamed transposed weights, rotary table as a Constant node, Trilu for the causal mask."""
        for name in fx.MODELS:
            c = fx.config(name)["config"]
            rot = int(c["kv_channels"] * c["rotary_fraction"])
            inv = 1.0 / (c["rope_base"] ** (np.arange(0, rot, 2) / rot))
            ang = np.arange(c["seq_length"])[:, None] * inv[None, :]
            table = np.stack([np.cos(ang), np.sin(ang)], -1)
            for fname in fx.exports(name):
                m = _graph(os.path.join(fx.model_dir(name), fname))
                names = [t.name for t in m.graph.initializer]
                mm = [n for n in names if n.startswith("onnx::MatMul_")]
                self.assertEqual(len(mm), 4 * c["num_layers"] + 1, fname)
                consts = [numpy_helper.to_array(n.attribute[0].t) for n in m.graph.node if n.op_type == "Constant"]
                big = [a for a in consts if a.shape == table.shape]
                self.assertEqual(len(big), 1, fname)
                np.testing.assert_allclose(big[0], table, atol=2e-5)
                ops = {n.op_type for n in m.graph.node}
                self.assertIn("Trilu", ops)
                self.assertNotIn("Gemm", ops)

    def test_shared_external_data(self):
        d = fx.model_dir("tiny")
        sizes = {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".bin")}
        self.assertGreater(len(sizes), 1)
        spans = None
        for fname in fx.exports("tiny"):
            m = _graph(os.path.join(d, fname))
            mine = set()
            for t in m.graph.initializer:
                if t.data_location != onnx.TensorProto.EXTERNAL:
                    continue
                kv = {e.key: e.value for e in t.external_data}
                loc, off, n = kv["location"], int(kv["offset"]), int(kv["length"])
                self.assertIn(loc, sizes)
                self.assertEqual(off % 64, 0)
                self.assertLessEqual(off + n, sizes[loc])
                self.assertEqual(n, int(np.prod(t.dims)) * 4)
                mine.add((loc, off, n))
            spans = mine if spans is None else spans
            self.assertEqual(mine, spans, "%s refers to other weights" % fname)
        # no duplicate copies: the unique tensors fill the files up to alignment padding
        used = sum(n for _, _, n in spans)
        self.assertLess(sum(sizes.values()) - used, 64 * len(spans))
        for loc, size in sizes.items():
            self.assertLessEqual(size, 4 << 20, loc)
        params = fx.config("tiny")["parameters"]
        self.assertGreater(used, 0.99 * params * 4)

    def test_weights_identical_across_variants(self):
        for name in fx.MODELS:
            sds = [ex.state_dict_from_onnx(os.path.join(fx.model_dir(name), f)) for f in sorted(fx.exports(name))]
            for sd in sds[1:]:
                self.assertEqual(set(sd), set(sds[0]))
                for k in sd:
                    self.assertTrue(torch.equal(sd[k], sds[0][k]), k)


def _model_from_onnx(name):
    cfg = ChatGLM2Config.from_dict(fx.config(name)["config"])
    m = ChatGLM2ForCausalLM(cfg)
    fname = sorted(fx.exports(name))[0]
    missing, unexpected = m.load_state_dict(ex.state_dict_from_onnx(os.path.join(fx.model_dir(name), fname)),
                                            strict=False)
    assert missing == ["transformer.rotary_pos_emb.inv_freq"] and not unexpected, (missing, unexpected)
    return m.eval()


class References(unittest.TestCase):
    """The references are recomputed by the PyTorch model with the weights
    read back from the ONNX files (independent of how they were stored)."""

    def test_references_finite_and_consistent(self):
        for name in fx.MODELS:
            r = lambda n: np.load(fx.ref_path(name, n))  # noqa: E731
            for f in os.listdir(os.path.join(fx.model_dir(name), "ref")):
                a = np.load(os.path.join(fx.model_dir(name), "ref", f))
                self.assertTrue(np.all(np.isfinite(a)), f)
            toks, logits = r("greedy.tokens"), r("greedy.logits")
            self.assertEqual(toks.shape, (32,))
            np.testing.assert_array_equal(logits.argmax(-1), toks)
            np.testing.assert_array_equal(logits[0], r("prompt.logits")[0, -1])
            np.testing.assert_array_equal(r("batch_step.input_ids")[:, 0], r("batch.logits")[:, -1].argmax(-1))

    @torch.no_grad()
    def test_pytorch_recomputes_references(self):
        for name in fx.MODELS:
            m = _model_from_onnx(name)
            r = lambda n: torch.from_numpy(np.load(fx.ref_path(name, n)))  # noqa: E731
            logits, presents = m(r("prompt.input_ids"), r("prompt.position_ids"), r("prompt.attention_mask"))
            torch.testing.assert_close(logits, r("prompt.logits"), atol=1e-5, rtol=0)
            torch.testing.assert_close(presents[-1][0], r("prompt.present_key_values.%d.key" % (len(presents) - 1)),
                                       atol=1e-5, rtol=0)
            blog, bpres = m(r("batch.input_ids"), r("batch.position_ids"), r("batch.attention_mask"))
            torch.testing.assert_close(blog, r("batch.logits"), atol=1e-5, rtol=0)
            slog, _ = m(r("batch_step.input_ids"), r("batch_step.position_ids"), r("batch_step.attention_mask"), bpres)
            torch.testing.assert_close(slog, r("batch_step.logits"), atol=1e-5, rtol=0)
            # greedy continuation: one prefill over prompt + generated tokens reproduces every step
            prompt = r("prompt.input_ids")[0].tolist()
            toks = r("greedy.tokens").tolist()
            full = torch.tensor([prompt + toks[:-1]])
            flog, _ = m(full, torch.arange(full.shape[1])[None])
            torch.testing.assert_close(flog[0, len(prompt) - 1:], r("greedy.logits"), atol=1e-4, rtol=0)
            self.assertEqual(flog[0, len(prompt) - 1:].argmax(-1).tolist(), toks)

    def test_random_model_regenerates_from_seed(self):
        import make_fixtures
        m = make_fixtures.random_model()
        sd = ex.state_dict_from_onnx(os.path.join(fx.model_dir("random"), "prefill.op14.onnx"))
        for k, v in sd.items():
            self.assertTrue(torch.equal(m.state_dict()[k], v), k)


class TrainedModelQuality(unittest.TestCase):
    def test_perplexity_below_unigram(self):
        t = fx.config("tiny")["training"]
        print("\ntiny model: validation perplexity %.2f, unigram baseline %.2f"
              % (t["val_perplexity"], t["unigram_val_perplexity"]))
        self.assertLess(t["val_perplexity"], 0.5 * t["unigram_val_perplexity"])


if __name__ == "__main__":
    unittest.main()
