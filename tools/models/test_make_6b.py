"""The 6B generator's method on a small configuration: the graph it writes must
be exactly the exporter's (same nodes, constants, inputs/outputs, initializer
names and shapes as torch.onnx.export with export_params=True), its weights
valid external data, and its parameter count the configuration's. (The full
28-layer run takes ~25 GB of disk and minutes: it is not part of the tests.)"""

import os
import tempfile
import unittest

import numpy as np
import onnx
import torch
from onnx import numpy_helper

import export_onnx as ex
import make_6b
from chatglm2 import ChatGLM2Config, ChatGLM2ForCausalLM, expected_param_count

torch.set_num_threads(1)


def _sig(m):
    return ([(n.op_type, n.name, list(n.input), list(n.output), [a.SerializeToString() for a in n.attribute])
             for n in m.graph.node],
            sorted((t.name, list(t.dims), t.data_type) for t in m.graph.initializer),
            [x.SerializeToString() for x in m.graph.input], [x.SerializeToString() for x in m.graph.output])


class Generator(unittest.TestCase):
    def test_same_graph_as_exporter(self):
        c = ChatGLM2Config(num_layers=2, hidden_size=64, ffn_hidden_size=96, num_attention_heads=4, kv_channels=16,
                           multi_query_group_num=2, padded_vocab_size=256, seq_length=128)
        with tempfile.TemporaryDirectory() as d:
            paths, _ = make_6b.generate(c, d, kinds=("prefill", "decode"), log=lambda *a: None)
            n = make_6b.verify(paths, c, log=lambda *a: None)
            self.assertEqual(n, expected_param_count(c))
            torch.manual_seed(0)
            ref = ChatGLM2ForCausalLM(c).init_weights(random_norms=True).eval()
            for kind, p in zip(("prefill", "decode"), paths):
                got = onnx.load(p, load_external_data=False)
                want = ex.export_proto(ref, kind, 14, True)
                self.assertEqual(_sig(got), _sig(want), kind)
            # the weights are readable, shared, random, and the norms are near 1
            sd = ex.state_dict_from_onnx(paths[1])
            sd0 = ex.state_dict_from_onnx(paths[0])
            for k in sd:
                self.assertTrue(torch.equal(sd[k], sd0[k]), k)
            self.assertEqual(set(sd), set(ref.state_dict()) - {"transformer.rotary_pos_emb.inv_freq"})
            w = sd["transformer.encoder.layers.1.mlp.dense_h_to_4h.weight"]
            self.assertAlmostEqual(float(w.std()), 0.02, delta=0.002)
            self.assertAlmostEqual(float(sd["transformer.encoder.final_layernorm.weight"].mean()), 1.0, delta=0.01)
            m = onnx.load(paths[0], load_external_data=False)
            consts = [numpy_helper.to_array(x.attribute[0].t) for x in m.graph.node if x.op_type == "Constant"]
            self.assertTrue(any(a.shape == (128, 4, 2) for a in consts))
            self.assertTrue(all(np.isfinite(v.numpy()).all() for v in sd.values()))


if __name__ == "__main__":
    unittest.main()


class GeneratorWithCheckpoint(unittest.TestCase):
    def test_sharded_checkpoint_is_exported_exactly(self):
        import json
        c = ChatGLM2Config(num_layers=2, hidden_size=64, ffn_hidden_size=96, num_attention_heads=4, kv_channels=16,
                           multi_query_group_num=2, padded_vocab_size=256, seq_length=128)
        torch.manual_seed(1)
        ref = ChatGLM2ForCausalLM(c).init_weights(random_norms=True).eval()
        sd = ref.state_dict()
        with tempfile.TemporaryDirectory() as d:
            ck = os.path.join(d, "ck")
            os.makedirs(ck)
            keys = sorted(sd)
            wm = {}
            for i, part in enumerate((keys[::2], keys[1::2])):  # two shards, like the published layout
                name = "pytorch_model-%05d-of-00002.bin" % (i + 1)
                torch.save({k: sd[k].half() for k in part}, os.path.join(ck, name))  # published as FP16
                wm.update({k: name for k in part})
            with open(os.path.join(ck, "pytorch_model.bin.index.json"), "w") as f:
                json.dump({"weight_map": wm}, f)
            paths, _ = make_6b.generate(c, os.path.join(d, "out"), kinds=("decode",), log=lambda *a: None,
                                        checkpoint=ck)
            got = ex.state_dict_from_onnx(paths[0])
            for k, v in got.items():
                self.assertTrue(torch.equal(v, sd[k].half().float()), k)
