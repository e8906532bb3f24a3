#!/usr/bin/env python3
"""Keeps the generated encoding tables of docs/isa.md in sync with Isa.def.

  edgellm-isa-gen --markdown | tools/isa_doc.py --update docs/isa.md
  edgellm-isa-gen --markdown | tools/isa_doc.py --check docs/isa.md
"""
import sys

BEGIN = "<!-- BEGIN GENERATED ENCODING -->\n"
END = "<!-- END GENERATED ENCODING -->\n"


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("--check", "--update"):
        sys.exit(__doc__)
    mode, path = sys.argv[1], sys.argv[2]
    generated = sys.stdin.read()
    text = open(path, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{path}: markers {BEGIN.strip()} / {END.strip()} not found")
    head, rest = text.split(BEGIN, 1)
    current, tail = rest.split(END, 1)
    if mode == "--check":
        if current != generated:
            sys.exit(f"{path}: the encoding tables differ from Isa.def; run "
                     "`edgellm-isa-gen --markdown | tools/isa_doc.py --update docs/isa.md`")
        print(f"{path}: encoding tables match Isa.def")
        return
    open(path, "w", encoding="utf-8").write(head + BEGIN + generated + END + tail)


if __name__ == "__main__":
    main()
