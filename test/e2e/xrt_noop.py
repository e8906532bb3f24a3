"""edgellm-run --device=xrt without a board, on XRT's no-op shim.

A package of the tiny model and the metadata-only xclbin of the kernel
(edgellm-xclbin, from hw/include/edgellm/hw/Kernel.def) go through the whole
host path of the xrt device: open, load the xclbin, allocate every bank with
the kernel's group ids, upload the weights and programs, and every step of a
generation (prefill, decode steps: argument binding, start, wait, status,
logits read back). The shim computes nothing, which the runtime says. The
error paths: no xclbin given, an unreadable and a garbage xclbin, an unknown
device.

xrt_noop.py --compile PATH/edgellm-compile --run PATH/edgellm-run --xclbin-tool PATH/edgellm-xclbin
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compile", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--xclbin-tool", required=True)
    args = ap.parse_args()
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    env = dict(os.environ, EDGELLM_XRT_SHIM="noop")
    with tempfile.TemporaryDirectory(prefix="edgellm-xrt-") as d:
        pkg, xclbin = os.path.join(d, "t.elpkg"), os.path.join(d, "k.xclbin")
        subprocess.run([args.compile, os.path.join(ROOT, "test", "models", "tiny",
                                                   "decode.op17.onnx"),
                        "--target=vcu128", "-o", pkg, "--quiet"], check=True)
        subprocess.run([args.xclbin_tool, "-o", xclbin], check=True)

        def run(*extra, environ=env):
            return subprocess.run([args.run, pkg, *extra], capture_output=True, text=True,
                                  env=environ)

        p = run("--device=xrt", "--xclbin=" + xclbin, "--prompt", "你好", "--max-tokens", "3",
                "--stats")
        check(p.returncode == 0 and "device xrt: no-op shim: nothing ran" in p.stderr
              and "3 new tokens" in p.stderr,
              f"a generation on the xrt device under the no-op shim: {p.stderr.strip()}")
        p = run("--device=xrt", "--xclbin=" + xclbin, "--tokens", "3001,3003,944",
                "--stepwise", "--logits-out", os.path.join(d, "l.npy"))
        check(p.returncode == 0 and os.path.exists(os.path.join(d, "l.npy")),
              f"--tokens --stepwise on the xrt device: {p.stderr.strip()}")
        p = run("--device=xrt", "--prompt", "hi")
        check(p.returncode == 1 and "give the accelerator's xclbin" in p.stderr,
              f"no --xclbin: {p.stderr.strip()}")
        p = run("--device=xrt", "--xclbin=" + os.path.join(d, "none.xclbin"), "--prompt", "hi")
        check(p.returncode == 1 and "cannot read the xclbin" in p.stderr,
              f"missing xclbin: {p.stderr.strip()}")
        garbage = os.path.join(d, "garbage.xclbin")
        open(garbage, "wb").write(b"not an xclbin at all" * 100)
        p = run("--device=xrt", "--xclbin=" + garbage, "--prompt", "hi")
        check(p.returncode == 1 and "xclbin" in p.stderr and "error" in p.stderr,
              f"garbage xclbin: {p.stderr.strip()}")
        p = run("--device=fpga0", "--prompt", "hi")
        check(p.returncode == 2 and "the devices are sim and xrt" in p.stderr,
              f"unknown device: {p.stderr.strip()}")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
