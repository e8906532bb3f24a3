"""The CPU path on every ChatGLM2 fixture export, against the FP32 PyTorch
references, 1e-4 absolute. Each export is compiled once ahead of time
(edgellm-compile --target=cpu: import -> fold -> linalg -> LLVM -> shared
library) and every case runs that library (edgellm-exec MODEL.so); one case
per model family also runs through the JIT (edgellm-exec MODEL.onnx), and raised
to elm and back (--raise), and both must give the same bits.

Runs exactly the cases the ONNX Runtime cross-check runs (the plan of
tools/models/test_ort.py: prompt, batch_equal, padded batch for prefill; empty
past, chunk on a 5-token past, batch decode step for decode), with
edgellm-exec instead of ONNX Runtime.

cpu_path.py --exec PATH/edgellm-exec --compile PATH/edgellm-compile
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "models"))
import fixtures as fx  # noqa: E402
import test_ort  # noqa: E402

ATOL = 1e-4


def plan(tmp):
    """The ORT test's cases, planned into `tmp` (no ONNX Runtime involved)."""
    class P:
        checks, greedy = [], []
    P.tmp = tmp
    P._tmpfile = classmethod(test_ort.OrtVsPyTorch._tmpfile.__func__)
    P._write = classmethod(test_ort.OrtVsPyTorch._write.__func__)
    runs, greedy = [], []
    for name in fx.MODELS:
        test_ort.OrtVsPyTorch._plan.__func__(P, name, runs, greedy)
    return runs, P.checks


def same_bits(cmd, outdir, outputs):
    """Runs an edgellm-exec variant into `outdir`; true when it succeeds and
    every output equals, bit for bit, the library's output file."""
    p = subprocess.run(cmd + ["-d", outdir], capture_output=True, text=True)
    ok = p.returncode == 0 and all(
        np.array_equal(np.load(f), np.load(os.path.join(outdir, os.path.basename(f))))
        for f in outputs)
    return ok, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exec", required=True)
    ap.add_argument("--compile", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgellm-cpu-") as d:
        tmp = type("T", (), {"name": d})
        runs, checks = plan(tmp)
        t0 = time.time()
        failed_runs = 0
        libs, jit_checked, raise_checked = {}, set(), set()
        for r in runs:
            model = r["model"]
            if model not in libs:
                lib = os.path.join(d, "lib%d.so" % len(libs))
                p = subprocess.run([args.compile, model, "--target=cpu", "-o", lib],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    failed_runs += 1
                    print("FAILED to compile %s:\n%s" % (model, p.stderr))
                libs[model] = lib
            outdir = os.path.dirname(next(iter(r["outputs"].values())))
            inputs = []
            for k, v in r["inputs"].items():
                inputs += ["-i", "%s=%s" % (k, v)]
            p = subprocess.run([args.exec, libs[model], "-d", outdir] + inputs,
                               capture_output=True, text=True)
            if p.returncode != 0:
                failed_runs += 1
                print("FAILED to run %s:\n%s" % (model, p.stderr))
            family = os.path.dirname(model)
            if family not in jit_checked:
                # The JIT gives exactly what the library gives (once per model family).
                jit_checked.add(family)
                same, err = same_bits([args.exec, model] + inputs, outdir + ".jit",
                                      r["outputs"].values())
                if not same:
                    failed_runs += 1
                    print("FAILED: JIT and library differ on %s\n%s" % (model, err))
            # Raised to elm and run through the elm ops' CPU fallback: the
            # same bits, on a decode with a past and a padded, masked batch
            # (once per model family).
            case = os.path.basename(outdir)
            if case in ("chunk", "batch_padded") and (family, case) not in raise_checked:
                raise_checked.add((family, case))
                same, err = same_bits([args.exec, model, "--raise"] + inputs,
                                      outdir + ".raised", r["outputs"].values())
                if not same:
                    failed_runs += 1
                    print("FAILED: raising to elm changed the outputs of %s %s\n%s"
                          % (model, case, err))
        passed = failed = 0
        worst = 0.0
        for label, f, expect in checks:
            if not os.path.exists(f):
                failed += 1
                continue
            got = np.load(f)
            if got.shape != expect.shape:
                print("FAIL %s: shape %s, expected %s" % (label, got.shape, expect.shape))
                failed += 1
                continue
            diff = float(np.max(np.abs(got - expect))) if got.size else 0.0
            worst = max(worst, diff)
            if diff <= ATOL and np.all(np.isfinite(got)):
                passed += 1
            else:
                print("FAIL %s: max |CPU - PyTorch| = %g" % (label, diff))
                failed += 1
        print("CPU path: %d exports compiled to libraries, %d runs, %d JIT and %d raising "
              "cross-checks in %.1f s; max |CPU - PyTorch| = %.3g (tolerance %g)"
              % (len(libs), len(runs), len(jit_checked), len(raise_checked), time.time() - t0,
                 worst, ATOL))
        if len(raise_checked) < 4:
            print("FAILED: expected 4 raising cross-checks, ran %d" % len(raise_checked))
            failed_runs += 1
        print("%d passed, %d failed" % (passed, failed))
        sys.exit(1 if failed or failed_runs else 0)


if __name__ == "__main__":
    main()
