"""Regenerates every committed model fixture under test/models/, deterministically.

  /usr/bin/python3 tools/models/make_fixtures.py [--retrain] [--threads 1]

Stages (fixed seeds everywhere):
  1. corpus: split the Debian fortunes databases; write the held-out text
     test/models/data/val.txt.
  2. tokenizer: SentencePiece on the training text -> test/models/tokenizer/.
  3. tiny model: trained by train_tiny.py into tools/models/out/tiny_trained.pt
     (~20 min on one core; reused when present unless --retrain).
  4. exports: the trained model -> test/models/tiny/ (8 graphs sharing the
     weights-0000N.bin files);
     a random-weight 2-layer model -> test/models/random/ (8 graphs with embedded
     weights + one saved by onnx.save_model(save_as_external_data=True)).
  5. references: FP32 PyTorch outputs for fixed inputs -> <model>/ref/*.npy.
  6. manifest: test/models/manifest.json (every file, its size and sha256).
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import corpus  # noqa: E402
import export_onnx as ex  # noqa: E402
import tokenizer as tokmod  # noqa: E402
import train_tiny  # noqa: E402
from chatglm2 import ChatGLM2Config, ChatGLM2ForCausalLM, greedy  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
FIX = os.path.join(ROOT, "test", "models")
OUT = os.path.join(HERE, "out")

OPSETS = (14, 17)
KINDS = ("prefill", "decode")
N_NEW = 32
RANDOM_SEED = 20240731
CHUNK_SPLIT = 5  # decode-chunk reference: past = first 5 prompt tokens


def random_config():
    return ChatGLM2Config(num_layers=2, hidden_size=32, ffn_hidden_size=96, num_attention_heads=4,
                          kv_channels=8, multi_query_group_num=2, padded_vocab_size=256,
                          seq_length=128)


def random_model():
    torch.manual_seed(RANDOM_SEED)
    m = ChatGLM2ForCausalLM(random_config())
    m.init_weights(std=0.1, generator=torch.Generator().manual_seed(RANDOM_SEED), random_norms=True)
    return m.eval()


def random_inputs():
    """Fixed token ids for the random model: prompt [1, 11], batch rows 9 and 6 tokens."""
    g = torch.Generator().manual_seed(RANDOM_SEED + 1)
    prompt = torch.randint(1, 256, (11,), generator=g).tolist()
    b0 = torch.randint(1, 256, (9,), generator=g).tolist()
    b1 = torch.randint(1, 256, (6,), generator=g).tolist()
    return prompt, [b0, b1]


def trained_inputs(tok):
    prompt = tok.build_chat_input("你好")
    rows = [tok.encode("床前明月光，"), tok.encode("Debian is free.")]
    return prompt, rows


def check_finite(name, t):
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else t
    if not np.all(np.isfinite(a)):
        raise RuntimeError("reference %s contains NaN/Inf" % name)


def save(ref_dir, name, t):
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    check_finite(name, a)
    np.save(os.path.join(ref_dir, name + ".npy"), np.ascontiguousarray(a))


def left_pad(rows, pad_id):
    m = max(len(r) for r in rows)
    ids = [[pad_id] * (m - len(r)) + r for r in rows]
    mask = [[0] * (m - len(r)) + [1] * len(r) for r in rows]
    # as ChatGLM2's tokenizer pads: positions 0 under the padding, then 0..len-1
    pos = [[0] * (m - len(r)) + list(range(len(r))) for r in rows]
    t = lambda x: torch.tensor(x, dtype=torch.int64)  # noqa: E731
    return t(ids), t(pos), t(mask)


@torch.no_grad()
def make_references(model, prompt, rows, pad_id, ref_dir):
    """FP32 PyTorch references (bmm-then-scale attention, NaN-checked)."""
    os.makedirs(ref_dir, exist_ok=True)
    L = model.config.num_layers
    ids = torch.tensor([prompt], dtype=torch.int64)
    pos = torch.arange(len(prompt), dtype=torch.int64)[None]
    mask = torch.ones_like(ids)
    logits, presents = model(ids, pos, mask)
    logits_nomask, _ = model(ids, pos)
    assert torch.equal(logits, logits_nomask)
    for n, t in (("input_ids", ids), ("position_ids", pos), ("attention_mask", mask), ("logits", logits)):
        save(ref_dir, "prompt." + n, t)
    for i, (k, v) in enumerate(presents):
        save(ref_dir, "prompt.present_key_values.%d.key" % i, k)
        save(ref_dir, "prompt.present_key_values.%d.value" % i, v)

    toks, step_logits = greedy(model, prompt, N_NEW)
    save(ref_dir, "greedy.tokens", torch.tensor(toks, dtype=torch.int64))
    save(ref_dir, "greedy.logits", step_logits)
    # self-consistency: the cached steps equal one prefill over prompt + tokens
    full = torch.tensor([prompt + toks[:-1]], dtype=torch.int64)
    flog, _ = model(full, torch.arange(full.shape[1])[None])
    d = (flog[0, len(prompt) - 1:] - step_logits).abs().max().item()
    assert d < 1e-4, "KV-cache decode differs from prefill by %g" % d

    bids, bpos, bmask = left_pad(rows, pad_id)
    blog, bpres = model(bids, bpos, bmask)
    for n, t in (("input_ids", bids), ("position_ids", bpos), ("attention_mask", bmask), ("logits", blog)):
        save(ref_dir, "batch." + n, t)
    for i, (k, v) in enumerate(bpres):
        save(ref_dir, "batch.present_key_values.%d.key" % i, k)
        save(ref_dir, "batch.present_key_values.%d.value" % i, v)
    # one decode step for both rows on top of the padded batch's cache
    nxt = blog[:, -1].argmax(-1, keepdim=True)
    spos = bpos[:, -1:] + 1
    smask = torch.cat([bmask, torch.ones(2, 1, dtype=torch.int64)], dim=1)
    slog, _ = model(nxt, spos, smask, bpres)
    for n, t in (("input_ids", nxt), ("position_ids", spos), ("attention_mask", smask), ("logits", slog)):
        save(ref_dir, "batch_step." + n, t)
    # rows of equal length without padding (for graphs without attention_mask)
    k = min(len(r) for r in rows)
    eids = torch.tensor([r[:k] for r in rows], dtype=torch.int64)
    epos = torch.arange(k, dtype=torch.int64)[None].repeat(2, 1)
    elog, _ = model(eids, epos)
    for n, t in (("input_ids", eids), ("position_ids", epos), ("logits", elog)):
        save(ref_dir, "batch_equal." + n, t)
    # decode graph with a multi-token chunk on a past of CHUNK_SPLIT tokens
    c = CHUNK_SPLIT
    past = [(kk[:c], vv[:c]) for kk, vv in presents]
    clog, _ = model(ids[:, c:], pos[:, c:], None, past)
    dchunk = (clog - logits[:, c:]).abs().max().item()
    assert dchunk < 1e-4, "chunked decode differs from prefill by %g" % dchunk
    return {"prompt_len": len(prompt), "greedy_tokens": toks, "kv_cache_vs_prefill_max_abs_diff": d,
            "chunk_vs_prefill_max_abs_diff": dchunk, "layers": L}


def describe_io(path):
    m = onnx.load(path, load_external_data=False)

    def dims(vi):
        return [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]

    def dt(vi):
        return onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type).lower()

    return {"inputs": [[i.name, dt(i), dims(i)] for i in m.graph.input],
            "outputs": [[o.name, dt(o), dims(o)] for o in m.graph.output],
            "opset": m.opset_import[0].version, "nodes": len(m.graph.node),
            "initializers": len(m.graph.initializer)}


def export_all(model, out_dir, shared_weights):
    os.makedirs(out_dir, exist_ok=True)
    items = []
    for kind in KINDS:
        for opset in OPSETS:
            for with_mask in (True, False):
                p = os.path.join(out_dir, ex.variant_name(kind, with_mask, opset) + ".onnx")
                items.append((ex.export_proto(model, kind, opset, with_mask), p))
    if shared_weights:
        # several files of at most 4 MB (keeps every committed file small; the
        # importer has to handle tensors spread over several files anyway)
        ex.save_with_shared_weights(items, os.path.join(out_dir, shared_weights), max_file_bytes=4 << 20)
    else:
        for proto, p in items:
            onnx.save_model(proto, p)
    return [p for _, p in items]


def clean_dir(d, keep=()):
    if not os.path.isdir(d):
        return
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith((".onnx", ".npy", ".bin", ".data", ".json")) and f not in keep:
                os.remove(os.path.join(root, f))


def manifest():
    files = {}
    for root, _, names in os.walk(FIX):
        for n in sorted(names):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, FIX)
            if rel in ("manifest.json", "CMakeLists.txt"):
                continue
            with open(p, "rb") as f:
                data = f.read()
            files[rel] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    files = dict(sorted(files.items()))
    total = sum(v["bytes"] for v in files.values())
    with open(os.path.join(FIX, "manifest.json"), "w") as f:
        json.dump({"total_bytes": total, "files": files}, f, indent=1, sort_keys=True)
        f.write("\n")
    return total


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--retrain", action="store_true", help="train even if the checkpoint exists")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default=os.path.join(OUT, "tiny_trained.pt"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(OUT, exist_ok=True)

    # 1. corpus
    train_e, val_e, digest = corpus.split_corpus()
    os.makedirs(os.path.join(FIX, "data"), exist_ok=True)
    corpus.write_text(val_e, os.path.join(FIX, "data", "val.txt"))
    print("corpus sha256 %s: %d train / %d validation entries" % (digest, len(train_e), len(val_e)))

    # 2. tokenizer
    tdir = os.path.join(FIX, "tokenizer")
    os.makedirs(tdir, exist_ok=True)
    tokmod.train(train_e, os.path.join(tdir, "tokenizer"), work_dir=OUT)
    os.remove(os.path.join(tdir, "tokenizer.vocab"))
    tok = tokmod.ChatGLM2Tokenizer(os.path.join(tdir, "tokenizer.model"))
    tok.save_config(os.path.join(tdir, "tokenizer_config.json"))

    # 3. tiny trained model
    ckpt = args.checkpoint
    if args.retrain or not os.path.exists(ckpt):
        train_tiny.main(["--out", ckpt, "--threads", str(args.threads),
                         "--tokenizer", os.path.join(tdir, "tokenizer.model")])
    ck = torch.load(ckpt, map_location="cpu")
    tiny = ChatGLM2ForCausalLM(ChatGLM2Config.from_dict(ck["config"]))
    tiny.load_state_dict(ck["state_dict"])
    tiny.eval()
    metrics = ck["metrics"]
    print("tiny model: validation perplexity %.2f, unigram baseline %.2f"
          % (metrics["val_perplexity"], metrics["unigram_val_perplexity"]))

    # 4 + 5. exports and references
    for name, model, shared, (prompt, rows) in (
            ("tiny", tiny, "weights.bin", trained_inputs(tok)),
            ("random", random_model(), None, random_inputs())):
        d = os.path.join(FIX, name)
        clean_dir(d)
        paths = export_all(model, d, shared)
        if name == "random":
            proto = ex.export_proto(model, "prefill", 17, True)
            p = os.path.join(d, "prefill.op17.extdata.onnx")
            onnx.save_model(proto, p, save_as_external_data=True, all_tensors_to_one_file=True,
                            location="prefill.op17.extdata.onnx.data", size_threshold=256)
            paths.append(p)
        for p in paths:
            onnx.checker.check_model(p)
        info = make_references(model, prompt, rows, tok.pad_id, os.path.join(d, "ref"))
        meta = {"config": model.config.to_dict(), "parameters": model.num_parameters(),
                "references": info,
                "exports": {os.path.basename(p): describe_io(p) for p in paths}}
        if name == "tiny":
            meta["training"] = metrics
            meta["tokenizer"] = "../tokenizer/tokenizer.model"
        else:
            meta["seed"] = RANDOM_SEED
        write_json(os.path.join(d, "config.json"), meta)
        print("%s: %d exports, greedy %s" % (name, len(paths), info["greedy_tokens"][:8]))
    total = manifest()
    print("fixtures: %.2f MB in test/models" % (total / 1e6))


if __name__ == "__main__":
    main()
