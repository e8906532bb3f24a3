"""A configurable PyTorch implementation of the ChatGLM2 architecture.

Written from the architecture facts in the project's design notes (PAPER.md,
"ChatGLM2-6B, exactly"), not copied from the published modeling code. The
parameter names and the tensor layouts follow the published checkpoint so that
its state dict loads into this class unchanged:

  transformer.embedding.word_embeddings.weight            [vocab, hidden]
  transformer.encoder.layers.{i}.input_layernorm.weight    [hidden]
  transformer.encoder.layers.{i}.self_attention.query_key_value.{weight,bias}
                                                           [(heads + 2 groups) * head_dim, hidden]
  transformer.encoder.layers.{i}.self_attention.dense.weight   [hidden, heads * head_dim]
  transformer.encoder.layers.{i}.post_attention_layernorm.weight
  transformer.encoder.layers.{i}.mlp.dense_h_to_4h.weight  [2 * ffn, hidden]
  transformer.encoder.layers.{i}.mlp.dense_4h_to_h.weight  [hidden, ffn]
  transformer.encoder.final_layernorm.weight               [hidden]
  transformer.output_layer.weight                          [vocab, hidden]
  transformer.rotary_pos_emb.inv_freq (buffer, not a parameter)

Hidden states are sequence-first ([seq, batch, hidden]) like ChatGLM2, and so
is the KV cache: one (key, value) pair per layer, each [seq, batch, groups,
head_dim]. Logits are returned batch-first: [batch, seq, vocab].

Attention scores are computed as bmm followed by a scale (never
torch.baddbmm(beta=0), which returns NaN at random on Debian's torch 1.13.1).
"""

import dataclasses
import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclasses.dataclass
class ChatGLM2Config:
    num_layers: int = 28
    hidden_size: int = 4096
    ffn_hidden_size: int = 13696
    num_attention_heads: int = 32
    kv_channels: int = 128  # head dim
    multi_query_group_num: int = 2  # KV heads
    padded_vocab_size: int = 65024
    seq_length: int = 32768  # length of the rotary table
    layernorm_epsilon: float = 1e-5
    rotary_fraction: float = 0.5  # rotate the first half of every head
    rope_base: float = 10000.0

    @property
    def rotary_dim(self) -> int:
        return int(self.kv_channels * self.rotary_fraction)

    def to_dict(self):
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d):
        return ChatGLM2Config(**d)

    def validate(self):
        assert self.num_attention_heads % self.multi_query_group_num == 0
        assert self.rotary_dim % 2 == 0 and self.rotary_dim <= self.kv_channels
        return self


def chatglm2_6b_config() -> ChatGLM2Config:
    """The published ChatGLM2-6B configuration."""
    return ChatGLM2Config()


def expected_param_count(c: ChatGLM2Config) -> int:
    """Parameter count computed from the shapes alone (independent of nn.Module)."""
    h, f, v = c.hidden_size, c.ffn_hidden_size, c.padded_vocab_size
    qkv_out = (c.num_attention_heads + 2 * c.multi_query_group_num) * c.kv_channels
    per_layer = (h  # input_layernorm
                 + qkv_out * h + qkv_out  # query_key_value weight + bias
                 + h * c.num_attention_heads * c.kv_channels  # dense (no bias)
                 + h  # post_attention_layernorm
                 + 2 * f * h  # dense_h_to_4h (no bias)
                 + f * h)  # dense_4h_to_h (no bias)
    return v * h + c.num_layers * per_layer + h + v * h


# The figure published for ChatGLM2-6B (sum of the checkpoint's tensor sizes).
CHATGLM2_6B_PARAMS = 6_243_584_000


class RMSNorm(nn.Module):
    def __init__(self, n: int, eps: float, device=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n, device=device))

    def forward(self, x):
        in_dtype = x.dtype
        xf = x.to(torch.float32)
        variance = xf.pow(2).mean(-1, keepdim=True)
        xf = xf * torch.rsqrt(variance + self.eps)
        return (self.weight * xf.to(in_dtype)).to(in_dtype)


class RotaryEmbedding(nn.Module):
    """cos/sin table for interleaved-pair rotary embedding on rotary_dim dims.

    theta_i = base^(-2i/rotary_dim), i < rotary_dim/2. The table is
    [seq_length, rotary_dim/2, 2] with (cos, sin) in the last axis. It is a
    plain tensor attribute (not a parameter or buffer), so tracing records it as
    a Constant node, as in exported ChatGLM2 graphs. inv_freq is a buffer so
    that the published checkpoint's state dict loads unchanged."""

    def __init__(self, rotary_dim: int, base: float, seq_length: int):
        super().__init__()
        inv_freq = rotary_inv_freq(rotary_dim, base)
        self.register_buffer("inv_freq", inv_freq)
        self.table = rotary_table(inv_freq, seq_length)

    def forward(self):
        return self.table


def rotary_inv_freq(rotary_dim, base):
    return 1.0 / (base ** (torch.arange(0, rotary_dim, 2, dtype=torch.float32) / rotary_dim))


def rotary_table(inv_freq, seq_length):
    pos = torch.arange(seq_length, dtype=torch.float32)
    angles = torch.outer(pos, inv_freq.float())  # [seq, rot/2]
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


def apply_rotary(x, rope):
    """x: [s, b, n, d]; rope: [s, b, rot/2, 2]. Rotates pairs (x[2i], x[2i+1])
    of the first rot dims, passes the rest through."""
    rot = rope.shape[-2] * 2
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    s, b, n = x.shape[0], x.shape[1], x.shape[2]
    xp = x_rot.reshape(s, b, n, rot // 2, 2)
    cs = rope.view(s, b, 1, rot // 2, 2)
    x0, x1 = xp[..., 0], xp[..., 1]
    c, sn = cs[..., 0], cs[..., 1]
    out = torch.stack([x0 * c - x1 * sn, x1 * c + x0 * sn], dim=-1).flatten(3)
    return torch.cat([out, x_pass], dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, c: ChatGLM2Config, device=None):
        super().__init__()
        self.np = c.num_attention_heads
        self.ng = c.multi_query_group_num
        self.hn = c.kv_channels
        qkv_out = (self.np + 2 * self.ng) * self.hn
        self.query_key_value = nn.Linear(c.hidden_size, qkv_out, bias=True, device=device)
        self.dense = nn.Linear(self.np * self.hn, c.hidden_size, bias=False, device=device)

    def forward(self, x, mask, rope, past: Optional[Tuple[torch.Tensor, torch.Tensor]]):
        sq, b = x.shape[0], x.shape[1]
        mixed = self.query_key_value(x)
        q, k, v = mixed.split([self.np * self.hn, self.ng * self.hn, self.ng * self.hn], dim=-1)
        q = q.view(sq, b, self.np, self.hn)
        k = k.view(sq, b, self.ng, self.hn)
        v = v.view(sq, b, self.ng, self.hn)
        q = apply_rotary(q, rope)
        k = apply_rotary(k, rope)
        if past is not None:
            k = torch.cat([past[0], k], dim=0)
            v = torch.cat([past[1], v], dim=0)
        present = (k, v)
        sk = k.shape[0]
        rep = self.np // self.ng
        # query head j reads KV group j // rep
        k = k.unsqueeze(-2).expand(-1, -1, -1, rep, -1).reshape(sk, b, self.np, self.hn)
        v = v.unsqueeze(-2).expand(-1, -1, -1, rep, -1).reshape(sk, b, self.np, self.hn)
        # [b*np, sq, hn] x [b*np, hn, sk]
        qb = q.reshape(sq, b * self.np, self.hn).transpose(0, 1)
        kb = k.reshape(sk, b * self.np, self.hn).transpose(0, 1)
        vb = v.reshape(sk, b * self.np, self.hn).transpose(0, 1)
        scores = torch.bmm(qb, kb.transpose(1, 2)) * (1.0 / math.sqrt(self.hn))
        scores = scores.view(b, self.np, sq, sk).float()
        scores = scores.masked_fill(mask.unsqueeze(1), torch.finfo(torch.float32).min)
        probs = F.softmax(scores, dim=-1).type_as(vb)
        ctx = torch.bmm(probs.view(b * self.np, sq, sk), vb)  # [b*np, sq, hn]
        ctx = ctx.view(b, self.np, sq, self.hn).permute(2, 0, 1, 3).reshape(sq, b, self.np * self.hn)
        return self.dense(ctx), present


class MLP(nn.Module):
    def __init__(self, c: ChatGLM2Config, device=None):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(c.hidden_size, 2 * c.ffn_hidden_size, bias=False, device=device)
        self.dense_4h_to_h = nn.Linear(c.ffn_hidden_size, c.hidden_size, bias=False, device=device)

    def forward(self, x):
        a, b = torch.chunk(self.dense_h_to_4h(x), 2, dim=-1)
        return self.dense_4h_to_h(F.silu(a) * b)


class GLMBlock(nn.Module):
    def __init__(self, c: ChatGLM2Config, device=None):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.layernorm_epsilon, device)
        self.self_attention = SelfAttention(c, device)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.layernorm_epsilon, device)
        self.mlp = MLP(c, device)

    def forward(self, x, mask, rope, past):
        attn, present = self.self_attention(self.input_layernorm(x), mask, rope, past)
        x = x + attn
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, present


class Embedding(nn.Module):
    def __init__(self, c: ChatGLM2Config, device=None):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.padded_vocab_size, c.hidden_size, device=device)

    def forward(self, ids):
        return self.word_embeddings(ids).transpose(0, 1)  # [s, b, h], no scaling


class Encoder(nn.Module):
    def __init__(self, c: ChatGLM2Config, device=None):
        super().__init__()
        self.layers = nn.ModuleList([GLMBlock(c, device) for _ in range(c.num_layers)])
        self.final_layernorm = RMSNorm(c.hidden_size, c.layernorm_epsilon, device)


class Transformer(nn.Module):
    def __init__(self, c: ChatGLM2Config, device=None):
        super().__init__()
        self.embedding = Embedding(c, device)
        self.rotary_pos_emb = RotaryEmbedding(c.rotary_dim, c.rope_base, c.seq_length)
        self.encoder = Encoder(c, device)
        self.output_layer = nn.Linear(c.hidden_size, c.padded_vocab_size, bias=False, device=device)


def build_mask(b: int, sq: int, past_len, attention_mask: Optional[torch.Tensor], device=None):
    """Boolean mask [b, sq, past+sq], True = masked out. Causal over the new
    tokens, every past position visible, then the padding mask (1 = keep,
    0 = pad, shape [b, past+sq]) applied to the keys."""
    full = torch.ones(b, sq, sq, device=device).tril()
    if past_len is not None:
        full = torch.cat([torch.ones(b, sq, past_len, device=device), full], dim=-1)
    if attention_mask is not None:
        full = full * attention_mask.unsqueeze(1).to(full.dtype)
    return full < 0.5


class ChatGLM2ForCausalLM(nn.Module):
    def __init__(self, c: ChatGLM2Config, device=None):
        """device='meta' builds the module without allocating weights."""
        super().__init__()
        self.config = c.validate()
        self.transformer = Transformer(c, device)

    def init_weights(self, std=0.02, generator=None, random_norms=False):
        """Normal(0, std) matrices. Norm weights are ones and biases zeros,
        unless random_norms (then 1 + N(0, 0.1) and N(0, 0.1)): random-weight
        fixtures use that so that no two initializers are equal (the exporter
        merges initializers with equal contents)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("layernorm.weight"):
                    p.fill_(1.0)
                    if random_norms:
                        p.add_(torch.randn(p.shape, generator=generator) * 0.1)
                elif name.endswith(".bias"):
                    p.zero_()
                    if random_norms:
                        p.add_(torch.randn(p.shape, generator=generator) * 0.1)
                else:
                    p.normal_(0.0, std, generator=generator)
        return self

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, input_ids, position_ids, attention_mask=None,
                past_key_values: Optional[List[Tuple[torch.Tensor, torch.Tensor]]] = None):
        t = self.transformer
        b, sq = input_ids.shape[0], input_ids.shape[1]
        x = t.embedding(input_ids)
        rope = t.rotary_pos_emb()[position_ids].transpose(0, 1)  # [sq, b, rot/2, 2]
        past_len = past_key_values[0][0].shape[0] if past_key_values is not None else None
        mask = build_mask(b, sq, past_len, attention_mask, device=input_ids.device)
        presents = []
        for i, layer in enumerate(t.encoder.layers):
            past = past_key_values[i] if past_key_values is not None else None
            x, present = layer(x, mask, rope, past)
            presents.append(present)
        x = t.encoder.final_layernorm(x)
        logits = t.output_layer(x).transpose(0, 1).float()  # [b, sq, vocab]
        return logits, presents


def empty_past(c: ChatGLM2Config, batch: int):
    z = torch.zeros(0, batch, c.multi_query_group_num, c.kv_channels)
    return [(z.clone(), z.clone()) for _ in range(c.num_layers)]


@torch.no_grad()
def greedy(model: ChatGLM2ForCausalLM, prompt_ids: List[int], n_new: int):
    """Greedy continuation with the KV cache. Returns (tokens, per-step logits
    [n_new, vocab]): step 0's logits are the prefill's last position."""
    ids = torch.tensor([prompt_ids], dtype=torch.int64)
    pos = torch.arange(len(prompt_ids), dtype=torch.int64)[None]
    logits, past = model(ids, pos)
    out, steps = [], []
    last = logits[0, -1]
    n = len(prompt_ids)
    for step in range(n_new):
        steps.append(last.clone())
        tok = int(torch.argmax(last))
        out.append(tok)
        if step + 1 == n_new:
            break
        logits, past = model(torch.tensor([[tok]]), torch.tensor([[n]]), past_key_values=past)
        n += 1
        last = logits[0, -1]
    return out, torch.stack(steps)
