"""The CPU path (edgellm-exec: import -> fold -> linalg -> LLVM -> JIT) on every
ChatGLM2 fixture export, against the FP32 PyTorch references, 1e-4 absolute.

Runs exactly the cases the ONNX Runtime cross-check runs (the plan of
tools/models/test_ort.py: prompt, batch_equal, padded batch for prefill; empty
past, chunk on a 5-token past, batch decode step for decode), with
edgellm-exec instead of ONNX Runtime.

cpu_path.py --exec PATH/edgellm-exec
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exec", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgellm-cpu-") as d:
        tmp = type("T", (), {"name": d})
        runs, checks = plan(tmp)
        t0 = time.time()
        failed_runs = 0
        for r in runs:
            outdir = os.path.dirname(next(iter(r["outputs"].values())))
            cmd = [args.exec, r["model"], "-d", outdir]
            for k, v in r["inputs"].items():
                cmd += ["-i", "%s=%s" % (k, v)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                failed_runs += 1
                print("FAILED to run %s:\n%s" % (r["model"], p.stderr))
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
        print("CPU path: %d runs of %d exports in %.1f s; max |CPU - PyTorch| = %.3g (tolerance %g)"
              % (len(runs), len({r["model"] for r in runs}), time.time() - t0, worst, ATOL))
        print("%d passed, %d failed" % (passed, failed))
        sys.exit(1 if failed or failed_runs else 0)


if __name__ == "__main__":
    main()
