"""Damages a binary stream for the error-path tests.

damage.py IN flip OFFSET MASK OUT      xor one byte with MASK
damage.py IN set OFFSET VALUE OUT      overwrite one byte
damage.py IN truncate LENGTH _ OUT     keep the first LENGTH bytes
"""
import sys

src, mode, a, b, dst = sys.argv[1:6]
data = bytearray(open(src, "rb").read())
a, b = int(a, 0), int(b, 0)
if mode == "flip":
    data[a] ^= b
elif mode == "set":
    data[a] = b
elif mode == "truncate":
    data = data[:a]
else:
    sys.exit("unknown mode " + mode)
open(dst, "wb").write(bytes(data))
