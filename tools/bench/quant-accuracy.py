#!/usr/bin/env python3
"""Accuracy of the weight formats on the trained tiny ChatGLM2 (CPU simulation).

Runs the trained model's prefill export through edgellm-exec --raise with
FP32, FP16 (--quant=none) and INT4 g128 weights (dense and 50/75/87.5%
log-scale sparsity), on the reference batch (two left-padded rows) and the
chat prompt, and prints, against the FP32 PyTorch reference logits: max
|difference|, top-1 agreement and mean KL(reference || quantised) over the
real (unpadded) positions. Weights are quantised/dequantised on the CPU; the
accelerator's exact PE arithmetic is the simulator's job (runtime issue).

  tools/bench/quant-accuracy.py [BUILD_DIR]
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build")
exe = os.path.join(build, "bin", "edgellm-exec")
ref = os.path.join(root, "test", "models", "tiny", "ref")
model = os.path.join(root, "test", "models", "tiny", "prefill.op17.onnx")


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


configs = [("fp32", []), ("fp16", ["--quant=none"]), ("int4", ["--quant=int4"]),
           ("int4 50%", ["--quant=int4", "--sparsity=0.5"]),
           ("int4 75%", ["--quant=int4", "--sparsity=0.75"]),
           ("int4 87.5%", ["--quant=int4", "--sparsity=0.875"])]
print("%-11s %10s %8s %10s  (%s)" % ("weights", "max|diff|", "top-1", "KL", "tiny ChatGLM2, 4 layers"))
with tempfile.TemporaryDirectory() as d:
    for name, flags in configs:
        rs, gs = [], []
        for case in ("batch", "prompt"):
            out = os.path.join(d, name.replace(" ", "_").replace("%", "") + case)
            inputs = []
            for k in ("input_ids", "position_ids", "attention_mask"):
                inputs += ["-i", "%s=%s" % (k, os.path.join(ref, "%s.%s.npy" % (case, k)))]
            subprocess.run([exe, model, "--raise", "-d", out] + flags + inputs, check=True)
            mask = np.load(os.path.join(ref, "%s.attention_mask.npy" % case)).astype(bool)
            rs.append(np.load(os.path.join(ref, "%s.logits.npy" % case))[mask])
            gs.append(np.load(os.path.join(out, "logits.npy"))[mask])
        r, g = np.concatenate(rs), np.concatenate(gs)
        p, q = softmax(r.astype(np.float64)), softmax(g.astype(np.float64))
        kl = float((p * (np.log(p + 1e-30) - np.log(q + 1e-30))).sum(-1).mean())
        top1 = float((r.argmax(-1) == g.argmax(-1)).mean())
        print("%-11s %10.3g %8.3f %10.3g  (%d positions)" % (name, np.abs(r - g).max(), top1, kl, len(r)))
