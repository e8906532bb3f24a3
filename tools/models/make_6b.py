"""Generates a ChatGLM2-6B-shaped ONNX model with random FP32 weights.

  /usr/bin/python3 tools/models/make_6b.py [--out-dir tools/models/out/chatglm2-6b]
      [--kinds prefill,decode] [--opset 14] [--no-mask] [--seed 0]

Writes <out-dir>/prefill.onnx and <out-dir>/decode.onnx (28 layers, hidden 4096,
FFN 13696, 32 heads of 128, 2 KV groups, vocab 65024, rotary table for 32768
positions) whose initializers all live in ONE external-data file,
<out-dir>/chatglm2-6b.weights.bin (25 GB: 6,243,584,000 FP32 values, 64-byte
aligned), shared by both graphs. Peak memory stays ~4 GB.

How: the real-size architecture is traced by the same exporter call as the
fixtures (torch.onnx.export, constant folding on), but with placeholder
parameters that own no resident memory (uninitialised tensors of the real
shapes: pages never written are the kernel's shared zero page; only a first,
distinct value is written so that the exporter does not merge them) and with
export_params=False, so the exporter writes the graph only; its folded
transposed weights (onnx::MatMul_NNN, [in, out]) become graph inputs of the
real shapes. Those inputs are turned into initializers (exactly what
export_params=True writes) whose data are random values streamed chunk by
chunk into the external-data file. FP32 because the CPU exporter cannot trace
in FP16 (Debian's torch has no CPU half matmul); the compiler converts anyway.

--checkpoint DIR writes the real ChatGLM2-6B weights instead (the published
checkpoint's tensor names are this model's), which is how to export the real
model on this machine (docs/models.md).

Random values: matrices and embeddings N(0, 0.02), norm weights 1 + N(0, 0.02),
the QKV bias N(0, 0.02); numpy PCG64 seeded per tensor, so the file is
deterministic for a given --seed.
"""

import argparse
import os
import resource
import sys
import time

import numpy as np
import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_onnx as ex  # noqa: E402
from chatglm2 import (CHATGLM2_6B_PARAMS, ChatGLM2Config, ChatGLM2ForCausalLM,  # noqa: E402
                      chatglm2_6b_config, expected_param_count)

DATA_NAME = "chatglm2-6b.weights.bin"
CHUNK = 1 << 24  # values per generated chunk (64 MB)


class Placeholder(torch.nn.Parameter):
    """A parameter whose clone() is itself. The tracer behind torch.onnx.export
    (torch 1.13, ONNXTracedModule) clones every parameter once before tracing;
    for a 6B model that is 25 GB of copies nobody reads."""

    def clone(self, *args, **kwargs):
        return self


def placeholder_model(cfg: ChatGLM2Config):
    m = ChatGLM2ForCausalLM(cfg, device="meta")
    k = 0
    for mod in m.modules():
        for n, p in [(n, p) for n, p in mod._parameters.items() if p is not None]:
            k += 1
            # Uninitialised memory: the kernel maps untouched pages to its zero
            # page, so reading them during the trace costs no resident memory.
            # Only the first value is written, to a distinct number, so that the
            # exporter's deduplication of equal initializers keeps them apart.
            t = torch.empty(p.shape)
            t.view(-1)[0] = 1.0 + k * 1e-3
            mod._parameters[n] = Placeholder(t, requires_grad=False)
    return m.eval()


class _ShapeInferenceWithoutValues:
    """torch.onnx's whole-graph shape inference pass (torch 1.13) converts every
    parameter it is given into an ONNX tensor at once: ~25 GB for ChatGLM2-6B.
    The parameters' shapes are known from the traced graph's input types and no
    parameter of this model feeds a shape computation, so the pass gets an empty
    value map here; test_make_6b checks that the resulting graph is identical
    to a normal export's."""

    def __enter__(self):
        import torch.onnx.utils as u
        self.c = u._C
        self.orig = self.c._jit_pass_onnx_graph_shape_type_inference
        orig = self.orig
        self.c._jit_pass_onnx_graph_shape_type_inference = lambda graph, params, opset: orig(graph, {}, opset)

    def __exit__(self, *exc):
        self.c._jit_pass_onnx_graph_shape_type_inference = self.orig


def export_graph(model, kind, opset, with_mask) -> onnx.ModelProto:
    """The exporter's graph with the parameters left as graph inputs."""
    import io
    cfg = model.config
    ins, outs = ex.io_names(cfg.num_layers, kind, with_mask)
    buf = io.BytesIO()
    with torch.no_grad(), _ShapeInferenceWithoutValues():
        torch.onnx.export(ex.ExportWrapper(model, kind, with_mask).eval(), ex.dummy_inputs(cfg, kind, with_mask),
                          buf, input_names=ins, output_names=outs,
                          dynamic_axes=ex.dynamic_axes(cfg.num_layers, kind, with_mask),
                          opset_version=opset, do_constant_folding=True, export_params=False)
    return onnx.load_from_string(buf.getvalue())


def param_keys(proto, io_inputs):
    """{graph input name: (state-dict key, transposed)} for the weight inputs."""
    weights = [i.name for i in proto.graph.input if i.name not in io_inputs]
    out = {}
    for n in proto.graph.node:
        for x in n.input:
            if x in weights and x.startswith("onnx::"):
                assert n.op_type == "MatMul", (n.op_type, n.name)
                scope = n.name.strip("/").split("/")[:-1]
                key = ("transformer.output_layer.weight" if scope == ["output_layer"]
                       else "transformer.encoder." + ".".join(scope) + ".weight")
                out[x] = (key, True)
    for w in weights:
        if not w.startswith("onnx::"):
            out[w] = (w, False)
    assert len(out) == len(weights), set(weights) - set(out)
    return out


def random_fill(f, key, numel, seed, index):
    rng = np.random.Generator(np.random.PCG64([seed, index]))
    done = 0
    while done < numel:
        n = min(CHUNK, numel - done)
        a = rng.standard_normal(n, dtype=np.float32)
        a *= np.float32(0.02)
        if key.endswith("layernorm.weight"):
            a += np.float32(1.0)
        f.write(a.tobytes())
        done += n


class CheckpointSource:
    """Real weights instead of random ones: a Hugging Face style checkpoint
    directory (pytorch_model.bin.index.json + shards, as ChatGLM2-6B is
    published) or one torch.save'd state dict file. Shards are loaded one at a
    time, so memory stays at about one shard (~2 GB)."""

    def __init__(self, path):
        if os.path.isdir(path):
            import json
            with open(os.path.join(path, "pytorch_model.bin.index.json")) as f:
                wm = json.load(f)["weight_map"]
            self.shards = {}
            for k, shard in wm.items():
                self.shards.setdefault(os.path.join(path, shard), []).append(k)
        else:
            self.shards = {path: None}

    def tensors(self, wanted):
        """Yields (key, FP32 tensor) for every wanted key, shard by shard."""
        seen = set()
        for shard in sorted(self.shards):
            sd = torch.load(shard, map_location="cpu")
            if isinstance(sd, dict) and "state_dict" in sd:
                sd = sd["state_dict"]
            for k in sorted(sd):
                if k in wanted and k not in seen:
                    seen.add(k)
                    yield k, sd[k].to(torch.float32)
            del sd
        missing = set(wanted) - seen
        if missing:
            raise KeyError("checkpoint lacks %s" % sorted(missing)[:5])


def to_initializers(proto, keys, table):
    """Moves the weight inputs into initializers pointing into the data file."""
    dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    keep = [i for i in proto.graph.input if i.name not in keys]
    for name, (key, transposed) in sorted(keys.items(), key=lambda kv: kv[1][0]):
        off, length, shape = table[key]
        want = list(reversed(shape)) if transposed else list(shape)
        assert dims[name] == want, (name, dims[name], want)
        t = proto.graph.initializer.add()
        t.name, t.data_type = name, onnx.TensorProto.FLOAT
        t.dims.extend(want)
        t.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (("location", DATA_NAME), ("offset", str(off)), ("length", str(length))):
            e = t.external_data.add()
            e.key, e.value = k, v
    del proto.graph.input[:]
    proto.graph.input.extend(keep)


def generate(cfg, out_dir, kinds=("prefill", "decode"), opset=14, with_mask=True, seed=0, log=print,
             checkpoint=None):
    t0 = time.time()
    os.makedirs(out_dir, exist_ok=True)
    model = placeholder_model(cfg)
    sd_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if k != "transformer.rotary_pos_emb.inv_freq"}
    protos = {}
    for kind in kinds:
        t = time.time()
        protos[kind] = export_graph(model, kind, opset, with_mask)
        log("traced %s graph: %d nodes, %.1f s" % (kind, len(protos[kind].graph.node), time.time() - t))
    del model
    # one data file for all graphs: every parameter once, in state-dict order,
    # stored the way the graphs read it (linear weights transposed to [in, out])
    keys = {kind: param_keys(p, ex.io_names(cfg.num_layers, kind, with_mask)[0]) for kind, p in protos.items()}
    stored = {}
    for kind in kinds:
        for name, (key, tr) in keys[kind].items():
            assert stored.setdefault(key, tr) == tr
    assert set(stored) == set(sd_shapes), set(sd_shapes) ^ set(stored)
    table = {}
    data_path = os.path.join(out_dir, DATA_NAME)
    t = time.time()
    with open(data_path, "wb") as f:
        def start():
            f.write(b"\0" * ((-f.tell()) % 64))
            return f.tell()

        if checkpoint is None:
            for index, key in enumerate(sd_shapes):
                shape = sd_shapes[key]
                numel = int(np.prod(shape))
                off = start()
                random_fill(f, key, numel, seed, index)
                table[key] = (off, numel * 4, shape)
        else:
            for key, w in CheckpointSource(checkpoint).tensors(sd_shapes):
                if tuple(w.shape) != sd_shapes[key]:
                    raise ValueError("%s: checkpoint shape %s, model %s" % (key, tuple(w.shape), sd_shapes[key]))
                if stored[key]:
                    w = w.t()  # the graph reads linear weights as [in, out]
                off = start()
                f.write(w.contiguous().numpy().tobytes())
                table[key] = (off, w.numel() * 4, sd_shapes[key])
    log("wrote %s: %.2f GB in %.1f s" % (data_path, os.path.getsize(data_path) / 1e9, time.time() - t))
    paths = []
    for kind, p in protos.items():
        to_initializers(p, keys[kind], table)
        path = os.path.join(out_dir, "%s.onnx" % kind)
        with open(path, "wb") as g:
            g.write(p.SerializeToString())
        paths.append(path)
    return paths, time.time() - t0


def verify(paths, cfg, log=print):
    """checker (path overload), shapes, external-data spans, parameter count."""
    total = None
    for path in paths:
        onnx.checker.check_model(path)
        m = onnx.load(path, load_external_data=False)
        size = os.path.getsize(os.path.join(os.path.dirname(path), DATA_NAME))
        n = 0
        for t in m.graph.initializer:
            numel = int(np.prod(t.dims))
            kv = {e.key: e.value for e in t.external_data}
            assert kv["location"] == DATA_NAME and int(kv["length"]) == numel * 4, t.name
            assert int(kv["offset"]) + int(kv["length"]) <= size, t.name
            n += numel
        inferred = onnx.shape_inference.infer_shapes(m)
        logits = [o for o in inferred.graph.output if o.name == "logits"][0]
        dims = [d.dim_param or d.dim_value for d in logits.type.tensor_type.shape.dim]
        assert dims == ["batch", "sequence", cfg.padded_vocab_size], dims
        assert total in (None, n)
        total = n
        log("%s: checker ok, %d initializers, %d parameters, logits %s" % (path, len(m.graph.initializer), n, dims))
    return total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(HERE, "out", "chatglm2-6b"))
    ap.add_argument("--kinds", default="prefill,decode")
    ap.add_argument("--opset", type=int, default=14)
    ap.add_argument("--no-mask", action="store_true", help="graphs without the attention_mask input")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layers", type=int, default=None, help="fewer layers (testing only: count check skipped)")
    ap.add_argument("--checkpoint", default=None,
                    help="real weights: a ChatGLM2-6B checkpoint directory (pytorch_model.bin.index.json + "
                         "shards) or a state-dict file, instead of random values")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = chatglm2_6b_config()
    if args.layers:
        cfg.num_layers = args.layers
    paths, secs = generate(cfg, args.out_dir, args.kinds.split(","), args.opset, not args.no_mask, args.seed,
                           checkpoint=args.checkpoint)
    n = verify(paths, cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print("parameters: %d (ChatGLM2-6B: %d, from the shapes: %d)" % (n, CHATGLM2_6B_PARAMS, expected_param_count(cfg)))
    print("peak memory (max RSS): %.2f GB; time: %.1f s" % (peak, secs))
    if args.layers is None and n != CHATGLM2_6B_PARAMS:
        sys.exit("parameter count %d != ChatGLM2-6B's %d" % (n, CHATGLM2_6B_PARAMS))
    if n != expected_param_count(cfg):
        sys.exit("parameter count %d != %d expected from the shapes" % (n, expected_param_count(cfg)))


if __name__ == "__main__":
    main()
