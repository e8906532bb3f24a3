"""Training text from Debian packages: the fortunes databases (English, package
fortunes/fortunes-min) and fortunes-zh (chinese, tang300, song100).

Every database is split into its '%'-separated entries; ANSI colour escapes
(used by fortunes-zh) are removed. Entries are assigned to train/validation
deterministically: entry k (counting over all databases in sorted order) is a
validation entry when k % VAL_EVERY == VAL_PHASE. The validation text is
committed (test/models/data/val.txt) so later stages (e.g. INT4 perplexity) can
evaluate on exactly the same held-out text even if the packages change.
"""

import hashlib
import os
import re

FORTUNE_DIR = "/usr/share/games/fortunes"
VAL_EVERY = 25
VAL_PHASE = 7
SEPARATOR = "\n%\n"  # between entries in the .txt files (fortune format)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def databases(root=FORTUNE_DIR):
    out = []
    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name)
        if os.path.isfile(p) and not name.endswith((".dat", ".u8")) and "." not in name:
            out.append(p)
    return out


def entries(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    text = _ANSI.sub("", text).replace("\r", "")
    for e in re.split(r"\n%\n?", text):
        e = e.strip("\n")
        if e.strip():
            yield e


def split_corpus(root=FORTUNE_DIR):
    """Returns (train_entries, val_entries, sha256 of all entries)."""
    train, val = [], []
    h = hashlib.sha256()
    k = 0
    for db in databases(root):
        for e in entries(db):
            h.update(e.encode("utf-8") + b"\0")
            (val if k % VAL_EVERY == VAL_PHASE else train).append(e)
            k += 1
    return train, val, h.hexdigest()


def write_text(entries_, path):
    with open(path, "w", encoding="utf-8") as f:
        f.write(SEPARATOR.join(entries_) + "\n")


def read_entries(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [e for e in text.rstrip("\n").split(SEPARATOR) if e.strip()]


if __name__ == "__main__":
    tr, va, digest = split_corpus()
    print(len(tr), "train entries,", sum(map(len, tr)), "chars;", len(va), "val entries,",
          sum(map(len, va)), "chars; sha256", digest)
