"""Checks that every ISA mnemonic has a CHECKed round trip in ops.mlir and a
CHECKed line in the binary round trip and its disassembly.

coverage.py MNEMONICS_FILE OPS_MLIR ROUNDTRIP_MLIR
"""
import re
import sys

mnemonics = open(sys.argv[1]).read().split()
ops = open(sys.argv[2]).read()
roundtrip = open(sys.argv[3]).read()
missing = []
for m in mnemonics:
    op = re.escape("eisa." + m) + r"\b"
    if not re.search(r"//\s*CHECK(-NEXT)?:\s*" + op, ops):
        missing.append(m + " (ops.mlir)")
    if not re.search(r"//\s*CHECK(-NEXT)?:\s*" + op, roundtrip):
        missing.append(m + " (binary round trip)")
    if not re.search(r"//\s*DUMP(-NEXT)?:.*\s(dispatch|load|compute|store)\s+" + re.escape(m) + r"\b", roundtrip):
        missing.append(m + " (objdump)")
if missing:
    sys.exit("not covered: " + ", ".join(missing))
print(len(mnemonics), "instructions covered")
