// RUN: edgellm-opt %s --pass-pipeline='builtin.module(func.func(edgellm-elm-to-onnx))' | FileCheck %s

// The CPU fallback spells every elm op in onnx ops, in the exporter's order.
// CHECK-LABEL: func.func @f
// CHECK-NOT: elm.
// CHECK: onnx.Gather
// CHECK: onnx.Pow
// CHECK: onnx.ReduceMean
// CHECK: onnx.Sqrt
// CHECK: onnx.MatMul
// CHECK: onnx.Add
// CHECK: onnx.Slice
// CHECK: onnx.Sigmoid
func.func @f(%ids: tensor<?x?xi64>, %t: tensor<16x8xf32>, %g: tensor<8xf32>, %w: tensor<8x16xf32>, %b: tensor<16xf32>) -> tensor<?x?x8xf32> {
  %x = elm.embedding %t[%ids] : tensor<16x8xf32>, tensor<?x?xi64> -> tensor<?x?x8xf32>
  %n = elm.rms_norm %x, %g {eps = 1.0e-05 : f64} : tensor<?x?x8xf32>, tensor<8xf32> -> tensor<?x?x8xf32>
  %h = elm.linear %n, %w bias %b : tensor<?x?x8xf32>, tensor<8x16xf32>, tensor<16xf32> -> tensor<?x?x16xf32>
  %s = elm.swiglu %h : tensor<?x?x16xf32> -> tensor<?x?x8xf32>
  %r = elm.add %x, %s : tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<?x?x8xf32>
  return %r : tensor<?x?x8xf32>
}

// The rotary embedding falls back to ChatGLM2's own graph: slices, pairs,
// cos/sin picks, two products and a difference / sum, restacked.
// CHECK-LABEL: func.func @rope
// CHECK-NOT: elm.rope
// CHECK-COUNT-2: onnx.Slice
// CHECK: onnx.Reshape
// CHECK-COUNT-4: onnx.Gather
// CHECK: onnx.Sub
// CHECK: onnx.Add
// CHECK: onnx.Concat
// CHECK: onnx.Reshape
// CHECK: onnx.Concat
func.func @rope(%x: tensor<?x?x4x8xf32>, %cs: tensor<?x?x1x2x2xf32>) -> tensor<?x?x4x8xf32> {
  %0 = elm.rope %x, %cs {rot_dim = 4 : i64} : tensor<?x?x4x8xf32>, tensor<?x?x1x2x2xf32> -> tensor<?x?x4x8xf32>
  return %0 : tensor<?x?x4x8xf32>
}

// Attention falls back to the exporter's graph: expand the KV heads,
// Q.K^T, scale, mask, softmax, P.V, back to [tokens, batch, heads * dim].
// CHECK-LABEL: func.func @attention
// CHECK-NOT: elm.attention
// CHECK: onnx.Expand
// CHECK: onnx.MatMul
// CHECK: onnx.Mul
// CHECK: onnx.Where
// CHECK: onnx.Softmax
// CHECK: onnx.MatMul
// CHECK: -> tensor<?x?x32xf32>
func.func @attention(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x2x8xf32>, %v: tensor<?x?x2x8xf32>, %m: tensor<?x?x?xi1>) -> tensor<?x?x32xf32> {
  %0 = elm.attention %q, %k, %v, %m {scale = 0.35355339059327379 : f64, masked_value = -3.4028234663852886E+38 : f64} : tensor<?x?x4x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x?xi1> -> tensor<?x?x32xf32>
  return %0 : tensor<?x?x32xf32>
}

// Standalone softmax and product.
// CHECK-LABEL: func.func @softmax_mul
// CHECK: %[[S:.*]] = "onnx.Softmax"(%arg0) <{axis = -1 : i64}>
// CHECK: "onnx.Mul"(%[[S]], %arg0)
func.func @softmax_mul(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  %s = elm.softmax %x : tensor<?x?x8xf32> -> tensor<?x?x8xf32>
  %m = elm.mul %s, %x : tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<?x?x8xf32>
  return %m : tensor<?x?x8xf32>
}
