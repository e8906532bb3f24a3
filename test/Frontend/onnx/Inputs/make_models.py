"""Writes small ONNX models (good and bad) for the importer tests.

make_models.py OUTDIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def model(nodes, inputs, outputs, inits=(), opset=17, name="g"):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def save(m, name):
    onnx.save(m, os.path.join(out, name))


x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])

# A good model with an external-data weight.
w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "w")
good = model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [x], [y], [w])
onnx.save_model(good, os.path.join(out, "ext.onnx"), save_as_external_data=True,
                all_tensors_to_one_file=True, location="ext.bin", size_threshold=0)
data = open(os.path.join(out, "ext.onnx"), "rb").read()
save(good, "embedded.onnx")


def with_ext(location, offset=None, length=None, fname=None):
    m = onnx.load(os.path.join(out, "ext.onnx"), load_external_data=False)
    t = m.graph.initializer[0]
    del t.external_data[:]
    entries = [("location", location)]
    if offset is not None:
        entries.append(("offset", str(offset)))
    if length is not None:
        entries.append(("length", str(length)))
    for k, v in entries:
        e = t.external_data.add()
        e.key, e.value = k, v
    save(m, fname)


with_ext("missing.bin", fname="missing_ext.onnx")
with_ext("ext.bin", offset=40, length=48, fname="past_end.onnx")
with_ext("../ext.bin", fname="escaping.onnx")
with_ext("sub/../../ext.bin", fname="escaping2.onnx")
with_ext("/etc/passwd", fname="absolute.onnx")
with_ext("ext.bin", offset=0, length=40, fname="bad_length.onnx")

# Not a model at all / cut short.
open(os.path.join(out, "garbage.onnx"), "wb").write(bytes(range(7, 255, 3)) * 9)
full = good.SerializeToString()
open(os.path.join(out, "truncated.onnx"), "wb").write(full[: len(full) // 2])
open(os.path.join(out, "empty.onnx"), "wb").write(b"")

# Unknown operator, unsupported opsets.
save(model([helper.make_node("Gelu2", ["x"], ["y"], name="my_gelu")], [x],
           [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]), "unknown_op.onnx")
y4 = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
save(model([helper.make_node("Relu", ["x"], ["y"], name="relu0")], [x], [y4]), "unsupported_op.onnx")
save(model([helper.make_node("Neg", ["x"], ["y"], name="neg")], [x], [y4], opset=18), "opset18.onnx")
save(model([helper.make_node("Neg", ["x"], ["y"], name="neg")], [x], [y4], opset=8), "opset8.onnx")

# Inconsistent shapes: [batch, 4] x [5, 3].
w5 = numpy_helper.from_array(np.zeros((5, 3), dtype=np.float32), "w5")
save(model([helper.make_node("MatMul", ["x", "w5"], ["y"], name="bad_matmul")],
           [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w5]),
     "inconsistent.onnx")
# A bad Transpose permutation.
save(model([helper.make_node("Transpose", ["x"], ["y"], name="bad_perm", perm=[0, 0])],
           [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]), "bad_perm.onnx")
# An input nobody produces.
save(model([helper.make_node("Add", ["x", "nowhere"], ["y"], name="add0")], [x], [y4]),
     "dangling.onnx")
# Strings are not supported.
s = helper.make_tensor_value_info("s", TensorProto.STRING, [2])
save(model([helper.make_node("Identity", ["s"], ["t"], name="id")], [s],
           [helper.make_tensor_value_info("t", TensorProto.STRING, [2])]), "string.onnx")

# Verifier cases found by review: each must be an error naming the node.
C = lambda n, a: numpy_helper.from_array(np.array(a, dtype=np.int64), n)
anyf = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
save(model([helper.make_node("ConstantOfShape", ["s"], ["y"], name="cos")], [x], [anyf],
           [C("s", [-5])]), "cos_negative.onnx")
save(model([helper.make_node("Unsqueeze", ["x", "a"], ["y"], name="unsq")], [x], [anyf],
           [C("a", [7])]), "unsqueeze_axis.onnx")
save(model([helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")], [x], [anyf],
           [C("s", [-1, 0, 0])]), "reshape_copy_past_rank.onnx")
save(model([helper.make_node("Slice", ["x", "b", "e", "a"], ["y"], name="slice")], [x], [anyf],
           [C("b", [0]), C("e", [2]), C("a", [5])]), "slice_axis.onnx")
m = onnx.load(os.path.join(out, "ext.onnx"), load_external_data=False)
for e in m.graph.initializer[0].external_data:
    if e.key == "offset":
        e.value = "2"
if not any(e.key == "offset" for e in m.graph.initializer[0].external_data):
    e = m.graph.initializer[0].external_data.add()
    e.key, e.value = "offset", "2"
save(m, "misaligned.onnx")
# A .npy whose header lies about its shape.
with open(os.path.join(out, "bad_shape.npy"), "wb") as f:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    f.write(b"\x93NUMPY\x01\x00" + bytes([len(header) & 0xff, len(header) >> 8]) + header.encode())
