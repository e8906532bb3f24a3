"""Text in, text out, through a package on the `sim` device.

  /usr/bin/python3 tools/generate.py PKG "prompt" [--tokens N] [--run PATH/edgellm-run]

Builds ChatGLM2's chat prompt ("[gMASK]sop[Round 1]\\n\\n问：...\\n\\n答："),
tokenizes it with the bundled SentencePiece model (tools/models/tokenizer.py),
runs edgellm-run (prefill, then greedy decode steps on the golden model) and
prints the answer up to eos. A stopgap for the runtime issue, whose
edgellm-run --prompt does all of this in C++ (tokenizer, sampling, chat).
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tools", "models"))
from tokenizer import ChatGLM2Tokenizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("package")
    ap.add_argument("prompt")
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--run", default=os.path.join(ROOT, "build", "bin", "edgellm-run"))
    ap.add_argument("--tokenizer",
                    default=os.path.join(ROOT, "test", "models", "tokenizer", "tokenizer.model"))
    args = ap.parse_args()
    tok = ChatGLM2Tokenizer(args.tokenizer)
    ids = tok.build_chat_input(args.prompt)
    p = subprocess.run([args.run, args.package, "--tokens", ",".join(map(str, ids)),
                        "--generate", str(args.tokens)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        return p.returncode
    out = [int(t) for t in p.stdout.strip().split(",") if t]
    if tok.eos_id in out:
        out = out[: out.index(tok.eos_id)]
    print(tok.decode(ids))
    print(tok.decode(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
