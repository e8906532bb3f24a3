"""The device path on the tiny ChatGLM2 fixtures against the FP32 references.

Every tiny export (prefill/decode, opset 14/17, with and without the mask)
compiles to a package (edgellm-compile --target=vcu128); the report must put
every linear, norm, rope, attention, SwiGLU and residual add on the FPGA and
leave only the embedding lookup, the mask construction, the rotary gather and
sampling on the host. Each package then runs on the `sim` device (the golden
model) with edgellm-run:

- FP16 weights (--quant=none): teacher-forced logits of the reference prompt,
  top-1 agreement >= 99% against the FP32 reference; stepwise (the decode
  program one token at a time) within 1e-3 relative of teacher-forced; the
  prefill_last program (the last position's logits only) bit-identical to
  the last row of the prefill's, for every export; greedy generation (through prefill_last)
  equal to the reference's 32 tokens; `--prompt 你好` (C++
  tokenizer and chat prompt) prints the reference's greedy answer;
- dense INT4: top-1 and KL divergence printed, KL bounded (0.05);
- INT4 with 50% log-scale sparsity: printed;
- both INT4 packages: the same logits, bit for bit, at every kernel level
  (EDGELLM_KERNELS=avx2, =scalar on an AVX-512 machine) and on the
  element-wise reference path (EDGELLM_SIM_KERNELS=reference);
- the same bits when the simulator issues the queues in a random order that
  only the dependency tokens constrain (the compiler's tokens are complete).

Bad packages (truncated, a flipped byte), an unknown simulator setting and
an unsupported model must fail with a clear message and leave no output
behind.

device_path.py --compile PATH/edgellm-compile --run PATH/edgellm-run
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import zlib

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TINY = os.path.join(ROOT, "test", "models", "tiny")
RANDOM = os.path.join(ROOT, "test", "models", "random")
EXPORTS = [f"{k}{m}.op{o}.onnx" for k in ("prefill", "decode") for m in ("", "_nomask")
           for o in (14, 17)]
FPGA_OPS = {"elm.linear": 17, "elm.rms_norm": 9, "elm.rope": 8, "elm.attention": 4,
            "elm.swiglu": 4, "elm.add": 8}
HOST_KINDS = {"elm.embedding", "onnx (mask construction)", "onnx.Gather", "runtime"}

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(cmd, env=None):
    return subprocess.run(cmd, capture_output=True, text=True,
                          env=None if env is None else {**os.environ, **env})


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def kl(ref, got):
    p, q = softmax(ref.astype(np.float64)), softmax(got.astype(np.float64))
    return float((p * (np.log(p + 1e-300) - np.log(q + 1e-300))).sum(-1).mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compile", required=True)
    ap.add_argument("--run", required=True)
    args = ap.parse_args()
    prompt = np.load(os.path.join(TINY, "ref", "prompt.input_ids.npy"))[0].tolist()
    ref = np.load(os.path.join(TINY, "ref", "prompt.logits.npy"))[0]
    greedy = json.load(open(os.path.join(TINY, "config.json")))["references"]["greedy_tokens"]
    tokens = ",".join(map(str, prompt))

    with tempfile.TemporaryDirectory(prefix="edgellm-dev-") as d:
        def compile_pkg(export, pkg, *flags):
            rep = pkg + ".json"
            p = run([args.compile, os.path.join(TINY, export), "--target=vcu128", "-o", pkg,
                     "--report=" + rep, "--quiet", *flags])
            if p.returncode != 0:
                check(False, f"compile {export} {flags}: {p.stderr.strip()}")
                return None
            return json.load(open(rep))

        def logits(pkg, *flags, env=None):
            out = os.path.join(d, "logits.npy")
            p = run([args.run, pkg, "--tokens", tokens, "--logits-out", out, *flags], env)
            if p.returncode != 0:
                check(False, f"run {pkg} {flags}: {p.stderr.strip()}")
                return None
            return np.load(out)

        # Every export: placement and FP16 accuracy.
        for export in EXPORTS:
            pkg = os.path.join(d, export + ".elpkg")
            rep = compile_pkg(export, pkg, "--quant=none")
            if rep is None:
                continue
            fpga = rep["placement"]["fpga"]
            check(fpga == FPGA_OPS, f"{export}: on the FPGA {fpga}")
            kinds = {h["kind"] for h in rep["placement"]["cpu"]}
            check(kinds <= HOST_KINDS, f"{export}: host ops only glue {sorted(kinds)}")
            got = logits(pkg)
            if got is None:
                continue
            top1 = float((got.argmax(-1) == ref.argmax(-1)).mean())
            print(f"     {export} FP16 on sim: max |diff| {np.abs(got - ref).max():.4g}, "
                  f"top-1 {top1:.3f}, KL {kl(ref, got):.3g}")
            check(top1 >= 0.99, f"{export}: FP16 top-1 agreement {top1:.3f} >= 0.99")
            # prefill_last (the ops only the last token needs, on it alone):
            # the last row of the prefill's logits, bit for bit.
            last = logits(pkg, "--last")
            check(last is not None and last.shape == (1, got.shape[1]) and
                  np.array_equal(last.view(np.uint32), got[-1:].view(np.uint32)),
                  f"{export}: the prefill_last program's logits are the last row of the prefill's")

        # Stepwise and greedy on one package.
        pkg = os.path.join(d, "prefill.op17.onnx.elpkg")
        tf, sw = logits(pkg), logits(pkg, "--stepwise")
        if tf is not None and sw is not None:
            ri = logits(pkg, "--sim-random-issue", "3")
            check(ri is not None and np.array_equal(ri, tf),
                  "random issue order (only the tokens order the queues) gives the same bits")
            rel = float(np.abs(sw - tf).max() / np.abs(tf).max())
            print(f"     stepwise vs teacher-forced: max relative difference {rel:.3g}")
            check(rel <= 1e-3, "stepwise logits within 1e-3 relative of teacher-forced")
        p = run([args.run, pkg, "--tokens", tokens, "--generate", str(len(greedy))])
        got = [int(t) for t in p.stdout.strip().split(",")] if p.returncode == 0 else []
        check(got == greedy, f"greedy generation equals the reference ({len(greedy)} tokens)")
        # Text in, text out (C++ tokenizer, chat prompt, greedy to eos): the
        # reference's greedy answer to the same prompt, up to eos (id 2).
        sys.path.insert(0, os.path.join(ROOT, "tools", "models"))
        from tokenizer import ChatGLM2Tokenizer
        tok = ChatGLM2Tokenizer(os.path.join(ROOT, "test", "models", "tokenizer",
                                             "tokenizer.model"))
        want = tok.decode(greedy[: greedy.index(tok.eos_id)] if tok.eos_id in greedy else greedy)
        p = run([args.run, pkg, "--prompt", "你好", "--max-tokens", "32"])
        check(p.returncode == 0 and p.stdout == want + "\n",
              f"--prompt 你好 streams the reference answer {want!r}: got {p.stdout!r}")

        # The modeled timeline: every engine and PCIe busy, runs in order.
        trace = os.path.join(d, "trace.json")
        p = run([args.run, pkg, "--prompt", "你好", "--max-tokens", "4", "--trace", trace,
                 "--stats"])
        ok = p.returncode == 0 and os.path.exists(trace)
        if ok:
            ev = [e for e in json.load(open(trace))["traceEvents"] if e["ph"] == "X"]
            tids = {e["tid"] for e in ev}
            ends = [e["ts"] + e["dur"] for e in ev]
            ok = tids == {0, 1, 2, 3, 4} and all(e["dur"] >= 0 for e in ev) and max(ends) > 0
            print(f"     trace: {len(ev)} events, {max(ends):.1f} us modeled for 1 prefill + "
                  f"3 decode runs")
        check(ok and "modeled vcu128 decode" in p.stderr,
              f"--trace writes a Chrome trace with every engine; --stats: {p.stderr.strip()}")

        # INT4, dense and 50% sparse.
        for flags, bound in ((["--quant=int4"], 0.05), (["--sparsity=0.5"], None)):
            pkg = os.path.join(d, "int4.elpkg")
            rep = compile_pkg("decode.op17.onnx", pkg, *flags)
            got = logits(pkg) if rep else None
            if got is None:
                continue
            top1 = float((got.argmax(-1) == ref.argmax(-1)).mean())
            k = kl(ref, got)
            print(f"     {' '.join(flags)} on sim: top-1 {top1:.3f}, KL {k:.4g}, "
                  f"max |diff| {np.abs(got - ref).max():.3g}")
            if bound is not None:
                check(k < bound, f"dense INT4 KL {k:.4g} < {bound}")
            last = logits(pkg, "--last")
            check(last is not None and np.array_equal(last.view(np.uint32), got[-1:].view(np.uint32)),
                  f"{' '.join(flags)}: prefill_last gives the prefill's last row, bit for bit")
            # Every kernel level this CPU runs (the fast kernels at AVX-512,
            # AVX2 and scalar, and the element-wise reference), bit for bit.
            for env in ({"EDGELLM_KERNELS": "avx2"}, {"EDGELLM_KERNELS": "scalar"},
                        {"EDGELLM_SIM_KERNELS": "reference"}):
                other = logits(pkg, env=env)
                check(other is not None and np.array_equal(other.view(np.uint32), got.view(np.uint32)),
                      f"{' '.join(flags)}: {env} gives the same logits, bit for bit")

        # Bad packages: clear errors, never a crash.
        good = os.path.join(d, "prefill.op17.onnx.elpkg")
        data = open(good, "rb").read()
        bad = os.path.join(d, "bad.elpkg")
        open(bad, "wb").write(data[: len(data) // 2])
        p = run([args.run, bad, "--tokens", "1"])
        check(p.returncode == 1 and "truncated" in p.stderr, f"truncated: {p.stderr.strip()}")
        flipped = bytearray(data)
        flipped[8192] ^= 0x10  # inside the first weight section
        open(bad, "wb").write(bytes(flipped))
        p = run([args.run, bad, "--tokens", "1"])
        check(p.returncode == 1 and "checksum mismatch" in p.stderr,
              f"flipped byte: {p.stderr.strip()}")
        # A package of format 1.x (before the KV cache was described by its
        # rows): refused by its version, with the header's CRC made right.
        old = bytearray(data)
        old[8:10] = (1).to_bytes(2, "little")
        old[12:16] = b"\0\0\0\0"
        old[12:16] = (zlib.crc32(bytes(old[:64])) & 0xFFFFFFFF).to_bytes(4, "little")
        open(bad, "wb").write(bytes(old))
        p = run([args.run, bad, "--tokens", "1"])
        check(p.returncode == 1 and "package format 1.0 is not supported" in p.stderr,
              f"format 1.0: {p.stderr.strip()}")
        p = run([args.run, "--help"])
        check(p.returncode == 0 and "--prompt TEXT" in p.stdout, f"--help: {p.returncode}")
        p = run([args.run, good, "--tokens", "1", "--bogus"])
        check(p.returncode == 2 and "unknown option --bogus" in p.stderr,
              f"--bogus: {p.stderr.strip()}")
        p = run([args.run, good, "--tokens", "99999"])
        check(p.returncode == 1 and "outside the vocabulary" in p.stderr,
              f"bad token: {p.stderr.strip()}")
        # A mistyped simulator setting is an error, not a silent default.
        p = run([args.run, good, "--tokens", "1"], {"EDGELLM_KERNELS": "avx9"})
        check(p.returncode == 1 and "EDGELLM_KERNELS must be one of" in p.stderr,
              f"bad EDGELLM_KERNELS: {p.stderr.strip()}")
        # The random fixture's heads (8 channels) and rotary slice (4) do not
        # fit the instructions: a clear error, and no package left behind.
        out = os.path.join(d, "random.elpkg")
        p = run([args.compile, os.path.join(RANDOM, "decode.op17.onnx"), "--target=vcu128",
                 "-o", out, "--quiet"])
        check(p.returncode == 1 and "error" in p.stderr and not os.path.exists(out)
              and not os.path.exists(out + ".tmp"), f"random model: {p.stderr.strip()}")

    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
