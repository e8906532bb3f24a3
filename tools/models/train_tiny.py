"""Train the tiny ChatGLM2 on the Debian text, deterministically, on the CPU.

Usage: /usr/bin/python3 tools/models/train_tiny.py [--out tools/models/out/tiny_trained.pt]
                         [--threads 1] [--steps N]
(make_fixtures.py calls this when the checkpoint is missing.)

Determinism: fixed seeds for initialisation and batch order, a fixed step count
(no wall-clock stopping), one intra-op thread by default. Matmuls run in
bfloat16 autocast (oneDNN; Debian's torch uses the reference BLAS for FP32,
which is ~40x slower), master weights, norms, softmax and the loss in FP32.
Evaluation (validation perplexity) runs in FP32 (oneDNN FP32 linears).
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import corpus  # noqa: E402
import tokenizer as tokmod  # noqa: E402
from chatglm2 import ChatGLM2Config, ChatGLM2ForCausalLM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_TOKENIZER = os.path.join(ROOT, "test/models/tokenizer/tokenizer.model")
DEFAULT_OUT = os.path.join(HERE, "out/tiny_trained.pt")


def tiny_config(vocab_padded=3072):
    return ChatGLM2Config(num_layers=4, hidden_size=256, ffn_hidden_size=704,
                          num_attention_heads=8, kv_channels=32, multi_query_group_num=2,
                          padded_vocab_size=vocab_padded, seq_length=1024)


HPARAMS = dict(seed=1234, block=256, batch=16, steps=640, lr=2e-3, min_lr_frac=0.1,
               warmup=30, weight_decay=0.01, clip=1.0, betas=(0.9, 0.95))


def stream(tok, entries):
    ids = []
    for e in entries:
        ids += tok.get_prefix_tokens() + tok.encode(e, add_prefix=False) + [tok.eos_id]
    return torch.tensor(ids, dtype=torch.int64)


@torch.no_grad()
def evaluate(model, val_ids, block):
    """Mean NLL (nats/token) over every next-token target of val_ids, FP32
    (linears through oneDNN's FP32 kernels: torch.utils.mkldnn)."""
    import copy
    import torch.utils.mkldnn
    model = torch.utils.mkldnn.to_mkldnn(copy.deepcopy(model).eval())
    total, n = 0.0, 0
    for s in range(0, len(val_ids) - 1, block):
        chunk = val_ids[s:s + block + 1]
        if len(chunk) < 2:
            break
        x, y = chunk[:-1][None], chunk[1:]
        pos = torch.arange(x.shape[1])[None]
        logits, _ = model(x, pos)
        total += F.cross_entropy(logits[0], y, reduction="sum").item()
        n += len(y)
    return total / n, n


def unigram_nll(train_ids, val_ids, vocab, block):
    """Add-one smoothed unigram model from the training tokens, evaluated on
    the same targets as evaluate()."""
    counts = torch.bincount(train_ids, minlength=vocab).double() + 1.0
    logp = torch.log(counts / counts.sum())
    targets = torch.cat([val_ids[s + 1:s + block + 1] for s in range(0, len(val_ids) - 1, block)])
    return float(-logp[targets].mean())


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=HPARAMS["steps"])
    args = ap.parse_args(argv)
    hp = dict(HPARAMS, steps=args.steps)

    torch.set_num_threads(args.threads)
    torch.manual_seed(hp["seed"])
    tok = tokmod.ChatGLM2Tokenizer(args.tokenizer)
    cfg = tiny_config()
    assert tok.vocab_size <= cfg.padded_vocab_size
    train_e, val_e, digest = corpus.split_corpus()
    train_ids, val_ids = stream(tok, train_e), stream(tok, val_e)
    print("corpus sha256 %s: %d train tokens, %d val tokens" % (digest, len(train_ids), len(val_ids)),
          flush=True)

    model = ChatGLM2ForCausalLM(cfg)
    g = torch.Generator().manual_seed(hp["seed"])
    model.init_weights(generator=g)
    print("parameters: %d" % model.num_parameters(), flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=hp["lr"], betas=hp["betas"])

    B, L = hp["batch"], hp["block"]
    nblocks = (len(train_ids) - 1) // L
    order, cursor, epoch = None, nblocks, 0
    pos = torch.arange(L)[None].expand(B, L)
    t0 = time.time()
    for step in range(hp["steps"]):
        if cursor + B > nblocks:
            # new epoch: a fresh random phase and block order
            phase = int(torch.randint(0, L, (1,), generator=g))
            nb = (len(train_ids) - 1 - phase) // L
            order = phase + torch.randperm(nb, generator=g) * L
            cursor, epoch, nblocks = 0, epoch + 1, nb
        starts = order[cursor:cursor + B]
        cursor += B
        batch = torch.stack([train_ids[s:s + L + 1] for s in starts.tolist()])
        w = min(1.0, (step + 1) / hp["warmup"])
        prog = step / max(1, hp["steps"] - 1)
        lr = hp["lr"] * w * (hp["min_lr_frac"] + (1 - hp["min_lr_frac"]) * 0.5 * (1 + math.cos(math.pi * prog)))
        for grp in opt.param_groups:
            grp["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, _ = model(batch[:, :-1], pos)
        loss = F.cross_entropy(logits.float().reshape(-1, cfg.padded_vocab_size), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp["clip"])
        opt.step()
        if step % 20 == 0 or step == hp["steps"] - 1:
            el = time.time() - t0
            print("step %d/%d epoch %d loss %.4f lr %.2e  %.0fs elapsed, %.2fs/step"
                  % (step, hp["steps"], epoch, loss.item(), lr, el, el / (step + 1)), flush=True)
    train_time = time.time() - t0

    val_nll, n = evaluate(model, val_ids, L)
    uni_nll = unigram_nll(train_ids, val_ids, cfg.padded_vocab_size, L)
    metrics = {
        "train_seconds": round(train_time, 1), "threads": args.threads,
        "train_tokens_seen": hp["steps"] * B * L, "train_tokens": len(train_ids),
        "val_tokens": n, "val_nll": val_nll, "val_perplexity": math.exp(val_nll),
        "unigram_val_perplexity": math.exp(uni_nll), "corpus_sha256": digest,
        "hparams": hp, "config": cfg.to_dict(), "parameters": model.num_parameters(),
    }
    print("training time %.1f s; validation perplexity %.2f vs unigram baseline %.2f"
          % (train_time, metrics["val_perplexity"], metrics["unigram_val_perplexity"]), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict(), "metrics": metrics}, args.out)
    with open(os.path.splitext(args.out)[0] + ".metrics.json", "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
    return metrics


if __name__ == "__main__":
    main()
