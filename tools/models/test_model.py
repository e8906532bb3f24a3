"""The PyTorch ChatGLM2 against ChatGLM2-6B's published facts and against an
independent float64 NumPy implementation (per-head loops, rotary through
complex numbers)."""

import unittest

import numpy as np
import torch

from chatglm2 import (CHATGLM2_6B_PARAMS, ChatGLM2Config, ChatGLM2ForCausalLM, chatglm2_6b_config,
                      expected_param_count, greedy)

torch.set_num_threads(1)


def small_config(**kw):
    d = dict(num_layers=2, hidden_size=48, ffn_hidden_size=80, num_attention_heads=6, kv_channels=8,
             multi_query_group_num=2, padded_vocab_size=97, seq_length=64)
    d.update(kw)
    return ChatGLM2Config(**d)


def numpy_forward(sd, c, ids, pos, pad_mask=None):
    """Batch-first float64 reference of the architecture, written independently."""
    f = {k: v.double().numpy() for k, v in sd.items()}
    P = "transformer.encoder.layers.%d."
    x = f["transformer.embedding.word_embeddings.weight"][ids]  # [b, s, h]
    b, s = ids.shape
    nh, ng, hd = c.num_attention_heads, c.multi_query_group_num, c.kv_channels
    rot = int(hd * c.rotary_fraction)
    theta = c.rope_base ** (-2.0 * np.arange(rot // 2) / rot)
    phase = np.exp(1j * pos[..., None] * theta)  # [b, s, rot/2]

    def rms(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + c.layernorm_epsilon) * w

    def rope(t):  # t [b, s, heads, hd]
        z = (t[..., 0:rot:2] + 1j * t[..., 1:rot:2]) * phase[:, :, None, :]
        out = t.copy()
        out[..., 0:rot:2], out[..., 1:rot:2] = z.real, z.imag
        return out

    for layer in range(c.num_layers):
        p = P % layer
        n = rms(x, f[p + "input_layernorm.weight"])
        qkv = n @ f[p + "self_attention.query_key_value.weight"].T + f[p + "self_attention.query_key_value.bias"]
        q = rope(qkv[..., :nh * hd].reshape(b, s, nh, hd))
        k = rope(qkv[..., nh * hd:(nh + ng) * hd].reshape(b, s, ng, hd))
        v = qkv[..., (nh + ng) * hd:].reshape(b, s, ng, hd)
        ctx = np.zeros((b, s, nh, hd))
        for bi in range(b):
            for h in range(nh):
                g = h // (nh // ng)
                sc = q[bi, :, h] @ k[bi, :, g].T / np.sqrt(hd)
                allowed = np.tril(np.ones((s, s), bool))
                if pad_mask is not None:
                    allowed &= pad_mask[bi][None, :].astype(bool)
                sc = np.where(allowed, sc, -1e30)  # a fully masked row becomes uniform, no NaN
                sc = sc - sc.max(-1, keepdims=True)
                pr = np.exp(sc)
                pr /= pr.sum(-1, keepdims=True)
                ctx[bi, :, h] = pr @ v[bi, :, g]
        x = x + ctx.reshape(b, s, nh * hd) @ f[p + "self_attention.dense.weight"].T
        n = rms(x, f[p + "post_attention_layernorm.weight"])
        a, gate = np.split(n @ f[p + "mlp.dense_h_to_4h.weight"].T, 2, axis=-1)
        x = x + (a / (1 + np.exp(-a)) * gate) @ f[p + "mlp.dense_4h_to_h.weight"].T
    x = rms(x, f["transformer.encoder.final_layernorm.weight"])
    return x @ f["transformer.output_layer.weight"].T


class ParameterCount(unittest.TestCase):
    def test_chatglm2_6b(self):
        c = chatglm2_6b_config()
        m = ChatGLM2ForCausalLM(c, device="meta")
        self.assertEqual(m.num_parameters(), CHATGLM2_6B_PARAMS)
        self.assertEqual(expected_param_count(c), 6_243_584_000)
        shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
        L = "transformer.encoder.layers.27."
        self.assertEqual(shapes[L + "self_attention.query_key_value.weight"], (4608, 4096))
        self.assertEqual(shapes[L + "self_attention.query_key_value.bias"], (4608,))
        self.assertEqual(shapes[L + "self_attention.dense.weight"], (4096, 4096))
        self.assertEqual(shapes[L + "mlp.dense_h_to_4h.weight"], (27392, 4096))
        self.assertEqual(shapes[L + "mlp.dense_4h_to_h.weight"], (4096, 13696))
        self.assertEqual(shapes["transformer.embedding.word_embeddings.weight"], (65024, 4096))
        self.assertEqual(shapes["transformer.output_layer.weight"], (65024, 4096))
        self.assertEqual(shapes["transformer.rotary_pos_emb.inv_freq"], (32,))
        self.assertNotIn("transformer.encoder.layers.0.self_attention.dense.bias", shapes)
        self.assertEqual(sum(1 for k in shapes if k.endswith(".bias")), 28)

    def test_small_configs(self):
        for c in (small_config(), small_config(multi_query_group_num=3, rotary_fraction=1.0)):
            self.assertEqual(ChatGLM2ForCausalLM(c).num_parameters(), expected_param_count(c))


class Numerics(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.c = small_config()
        self.m = ChatGLM2ForCausalLM(self.c).init_weights(std=0.2, random_norms=True).eval()

    @torch.no_grad()
    def test_matches_numpy_reference(self):
        ids = torch.randint(0, self.c.padded_vocab_size, (2, 7))
        pos = torch.arange(7)[None].repeat(2, 1)
        got, _ = self.m(ids, pos)
        want = numpy_forward(self.m.state_dict(), self.c, ids.numpy(), pos.numpy())
        np.testing.assert_allclose(got.numpy(), want, atol=1e-4, rtol=0)

    @torch.no_grad()
    def test_padding_mask_matches_numpy_reference(self):
        ids = torch.randint(0, self.c.padded_vocab_size, (2, 6))
        mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
        pos = torch.tensor([[0, 0, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5]])
        got, _ = self.m(ids, pos, mask)
        want = numpy_forward(self.m.state_dict(), self.c, ids.numpy(), pos.numpy(), mask.numpy())
        # padded query rows see no token: both attend uniformly; compare the real rows
        np.testing.assert_allclose(got[0, 2:].numpy(), want[0, 2:], atol=1e-4, rtol=0)
        np.testing.assert_allclose(got[1].numpy(), want[1], atol=1e-4, rtol=0)
        self.assertTrue(torch.isfinite(got).all())

    @torch.no_grad()
    def test_kv_cache_and_positions(self):
        ids = torch.randint(0, self.c.padded_vocab_size, (1, 9))
        pos = torch.arange(9)[None]
        full, pres = self.m(ids, pos)
        self.assertEqual(tuple(pres[0][0].shape), (9, 1, 2, 8))
        a, past = self.m(ids[:, :4], pos[:, :4])
        b, _ = self.m(ids[:, 4:], pos[:, 4:], None, past)
        torch.testing.assert_close(torch.cat([a, b], 1), full, atol=1e-5, rtol=0)
        toks, steps = greedy(self.m, ids[0].tolist(), 5)
        self.assertEqual(steps.shape, (5, self.c.padded_vocab_size))
        torch.testing.assert_close(steps[0], full[0, -1])

    def test_rotary_only_first_half_rotates(self):
        rope = self.m.transformer.rotary_pos_emb()
        self.assertEqual(tuple(rope.shape), (64, 2, 2))
        # position 0 is the identity; the second half of every head passes through
        from chatglm2 import apply_rotary
        x = torch.randn(3, 1, 2, 8)
        r = rope[torch.tensor([0, 5, 9])][:, None]
        y = apply_rotary(x, r)
        torch.testing.assert_close(y[0], x[0])
        torch.testing.assert_close(y[..., 4:], x[..., 4:])
        self.assertFalse(torch.allclose(y[1, ..., :4], x[1, ..., :4]))
        # pairs rotate: their norms are kept
        n = lambda t: t[..., :4].reshape(3, 1, 2, 2, 2).pow(2).sum(-1)  # noqa: E731
        torch.testing.assert_close(n(y), n(x))


if __name__ == "__main__":
    unittest.main()
