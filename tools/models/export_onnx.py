"""ONNX export of ChatGLM2 models with torch.onnx.export (TorchScript tracing).

Two graphs per model:
  prefill: inputs  input_ids [batch, sequence] int64, position_ids [batch, sequence] int64,
                   (attention_mask [batch, sequence] int64, 1 = token, 0 = padding)
           outputs logits [batch, sequence, vocab] float32,
                   present_key_values.{i}.key / .value [sequence, batch, groups, head_dim] float32
  decode:  inputs  input_ids [batch, sequence], position_ids [batch, sequence],
                   (attention_mask [batch, past_sequence + sequence]),
                   past_key_values.{i}.key / .value [past_sequence, batch, groups, head_dim]
           outputs logits [batch, sequence, vocab],
                   present_key_values.{i}.key / .value [past_sequence + sequence, batch, groups, head_dim]
The attention_mask input exists only in the "mask" variants; without it the graph
applies the causal mask only. Every axis named above is dynamic (decode also accepts
past_sequence = 0 and sequence > 1).

The graph is exactly what the exporter writes (constant folding on, no simplifier):
linear weights become initializers named onnx::MatMul_NNN stored transposed
[in, out], the rotary cos/sin table is folded into a constant.

Command line (export a checkpoint saved by train_tiny.py or a state dict of the
real ChatGLM2-6B, see docs/models.md):
  /usr/bin/python3 tools/models/export_onnx.py --checkpoint CKPT --out-dir DIR
      [--kinds prefill,decode] [--opsets 14,17] [--masks mask,nomask] [--shared-weights weights.bin]
"""

import argparse
import hashlib
import io
import os
import sys

import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from chatglm2 import ChatGLM2Config, ChatGLM2ForCausalLM  # noqa: E402


def io_names(num_layers, kind, with_mask):
    inputs = ["input_ids", "position_ids"] + (["attention_mask"] if with_mask else [])
    if kind == "decode":
        for i in range(num_layers):
            inputs += ["past_key_values.%d.key" % i, "past_key_values.%d.value" % i]
    outputs = ["logits"]
    for i in range(num_layers):
        outputs += ["present_key_values.%d.key" % i, "present_key_values.%d.value" % i]
    return inputs, outputs


def dynamic_axes(num_layers, kind, with_mask):
    d = {"input_ids": {0: "batch", 1: "sequence"}, "position_ids": {0: "batch", 1: "sequence"},
         "logits": {0: "batch", 1: "sequence"}}
    total = "past_sequence+sequence" if kind == "decode" else "sequence"
    if with_mask:
        d["attention_mask"] = {0: "batch", 1: total}
    for i in range(num_layers):
        for kv in ("key", "value"):
            if kind == "decode":
                d["past_key_values.%d.%s" % (i, kv)] = {0: "past_sequence", 1: "batch"}
            d["present_key_values.%d.%s" % (i, kv)] = {0: total, 1: "batch"}
    return d


class ExportWrapper(nn.Module):
    """Positional-argument front for tracing: flattens the KV cache."""

    def __init__(self, model, kind, with_mask):
        super().__init__()
        # Register the transformer itself so that initializer names match the
        # checkpoint's (transformer.embedding.word_embeddings.weight, ...).
        object.__setattr__(self, "_model", model)
        self.transformer = model.transformer
        self.kind, self.with_mask = kind, with_mask

    def forward(self, input_ids, position_ids, *rest):
        rest = list(rest)
        mask = rest.pop(0) if self.with_mask else None
        past = None
        if self.kind == "decode":
            past = [(rest[2 * i], rest[2 * i + 1]) for i in range(len(rest) // 2)]
        logits, presents = self._model(input_ids, position_ids, mask, past)
        flat = [logits]
        for k, v in presents:
            flat += [k, v]
        return tuple(flat)


def dummy_inputs(cfg: ChatGLM2Config, kind, with_mask, batch=2, seq=3, past=4):
    """Distinct sizes per axis so that tracing cannot confuse them."""
    ids = torch.arange(batch * seq, dtype=torch.int64).reshape(batch, seq) % cfg.padded_vocab_size
    p0 = past if kind == "decode" else 0
    pos = (torch.arange(seq, dtype=torch.int64) + p0)[None].repeat(batch, 1)
    args = [ids, pos]
    if with_mask:
        args.append(torch.ones(batch, p0 + seq, dtype=torch.int64))
    if kind == "decode":
        for _ in range(cfg.num_layers):
            for _ in range(2):
                args.append(torch.zeros(past, batch, cfg.multi_query_group_num, cfg.kv_channels))
    return tuple(args)


def export(model: ChatGLM2ForCausalLM, kind, opset, with_mask, f):
    """torch.onnx.export into f (a path or a file object)."""
    cfg = model.config
    ins, outs = io_names(cfg.num_layers, kind, with_mask)
    wrapper = ExportWrapper(model, kind, with_mask).eval()
    with torch.no_grad():
        torch.onnx.export(wrapper, dummy_inputs(cfg, kind, with_mask), f,
                          input_names=ins, output_names=outs,
                          dynamic_axes=dynamic_axes(cfg.num_layers, kind, with_mask),
                          opset_version=opset, do_constant_folding=True)


def export_proto(model, kind, opset, with_mask) -> onnx.ModelProto:
    buf = io.BytesIO()
    export(model, kind, opset, with_mask, buf)
    return onnx.load_from_string(buf.getvalue())


def variant_name(kind, with_mask, opset):
    return "%s%s.op%d" % (kind, "" if with_mask else "_nomask", opset)


def save_with_shared_weights(protos_and_paths, data_path, threshold=1024, align=64, max_file_bytes=None):
    """Saves several models whose initializers live in shared external-data files.

    Initializers of at least `threshold` bytes are content-deduplicated (same
    data type and bytes -> one copy, whatever their names in each graph); each
    gets data_location=EXTERNAL with location (a file name relative to the
    model), offset (`align`-byte aligned) and length. Smaller ones stay inside
    the .onnx file. With max_file_bytes the data is split over several files
    (data_path's stem + "-00000.bin", "-00001.bin", ...), a new one started when
    the next tensor would not fit; one tensor is never split."""
    table = {}
    out_dir = os.path.dirname(os.path.abspath(data_path))
    stem, ext = os.path.splitext(os.path.basename(data_path))
    files = []

    def open_next():
        name = os.path.basename(data_path) if max_file_bytes is None else "%s-%05d%s" % (stem, len(files), ext)
        files.append((name, open(os.path.join(out_dir, name), "wb")))

    open_next()
    try:
        for proto, path in protos_and_paths:
            assert os.path.dirname(os.path.abspath(path)) == out_dir
            for t in proto.graph.initializer:
                raw = t.raw_data if t.HasField("raw_data") else numpy_helper.to_array(t).tobytes()
                if len(raw) < threshold:
                    continue
                key = (t.data_type, hashlib.sha256(raw).hexdigest())
                if key not in table:
                    name, f = files[-1]
                    pad = (-f.tell()) % align
                    if max_file_bytes is not None and f.tell() > 0 and f.tell() + pad + len(raw) > max_file_bytes:
                        open_next()
                        name, f = files[-1]
                        pad = 0
                    f.write(b"\0" * pad)
                    table[key] = (name, f.tell(), len(raw))
                    f.write(raw)
                loc, off, n = table[key]
                dims, tname, dtype = list(t.dims), t.name, t.data_type
                t.Clear()
                t.name, t.data_type = tname, dtype
                t.dims.extend(dims)
                t.data_location = onnx.TensorProto.EXTERNAL
                for k, v in (("location", loc), ("offset", str(off)), ("length", str(n))):
                    e = t.external_data.add()
                    e.key, e.value = k, v
            with open(path, "wb") as g:
                g.write(proto.SerializeToString())
    finally:
        for _, f in files:
            f.close()
    return table


def load_checkpoint(path):
    ck = torch.load(path, map_location="cpu")
    cfg = ChatGLM2Config.from_dict(ck["config"])
    m = ChatGLM2ForCausalLM(cfg)
    m.load_state_dict(ck["state_dict"])
    return m.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True,
                    help="torch.save({'config': dict, 'state_dict': ...}) file, as train_tiny.py writes")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--kinds", default="prefill,decode")
    ap.add_argument("--opsets", default="14,17")
    ap.add_argument("--masks", default="mask,nomask")
    ap.add_argument("--shared-weights", default="weights.bin",
                    help="name of the shared external-data file ('' = weights inside each .onnx)")
    args = ap.parse_args(argv)
    model = load_checkpoint(args.checkpoint)
    os.makedirs(args.out_dir, exist_ok=True)
    items = []
    for kind in args.kinds.split(","):
        for opset in map(int, args.opsets.split(",")):
            for m in args.masks.split(","):
                p = os.path.join(args.out_dir, variant_name(kind, m == "mask", opset) + ".onnx")
                items.append((export_proto(model, kind, opset, m == "mask"), p))
    if args.shared_weights:
        save_with_shared_weights(items, os.path.join(args.out_dir, args.shared_weights))
    else:
        for proto, p in items:
            onnx.save_model(proto, p)
    for _, p in items:
        onnx.checker.check_model(p)
        print("wrote", p)


if __name__ == "__main__":
    main()


def state_dict_from_onnx(path):
    """Reads the weights of an exported graph back into a state dict of
    ChatGLM2ForCausalLM (the mapping a compiler needs as well): named
    initializers keep their checkpoint names; a MatMul's renamed weight
    (onnx::MatMul_NNN, stored [in, out]) is identified by the node's scope name
    (/layers.{i}/self_attention/query_key_value/MatMul -> ...query_key_value.weight,
    transposed back to [out, in]). Works with embedded and external data."""
    from onnx import numpy_helper as nh
    m = onnx.load(path)  # loads external data relative to the model
    init = {t.name: nh.to_array(t) for t in m.graph.initializer}
    sd = {}
    for name, a in init.items():
        if not name.startswith("onnx::"):
            sd[name] = torch.from_numpy(a.copy())
    for n in m.graph.node:
        if n.op_type != "MatMul":
            continue
        w = [x for x in n.input if x in init and x.startswith("onnx::")]
        if not w:
            continue
        scope = n.name.strip("/").split("/")[:-1]  # e.g. ['layers.0', 'mlp', 'dense_h_to_4h']
        if scope == ["output_layer"]:
            key = "transformer.output_layer.weight"
        else:
            key = "transformer.encoder." + ".".join(scope) + ".weight"
        sd[key] = torch.from_numpy(init[w[0]].T.copy())
    return sd
