"""Shared helpers for the model tests: where the fixtures are, what each export
must look like."""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIX = os.path.join(ROOT, "test", "models")
MODELS = ("tiny", "random")
FIXTURE_BUDGET_BYTES = 25 * 1000 * 1000


def model_dir(name):
    return os.path.join(FIX, name)


def config(name):
    with open(os.path.join(model_dir(name), "config.json"), encoding="utf-8") as f:
        return json.load(f)


def exports(name):
    """{file name: info} of every .onnx in a model folder (from config.json)."""
    return config(name)["exports"]


def parse_variant(fname):
    """'decode_nomask.op17.onnx' -> ('decode', False, 17, False);
    'prefill.op17.extdata.onnx' -> ('prefill', True, 17, True)."""
    parts = fname.split(".")
    head = parts[0]
    kind = head.split("_")[0]
    with_mask = not head.endswith("_nomask")
    opset = int(parts[1][2:])
    return kind, with_mask, opset, "extdata" in parts


def ref_path(name, ref):
    return os.path.join(model_dir(name), "ref", ref + ".npy")
