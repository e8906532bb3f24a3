// RUN: edgellm-opt %s --pass-pipeline='builtin.module(func.func(edgellm-onnx-simplify-shapes),canonicalize)' | FileCheck %s

// The exporter's Reshape to [seq, batch, 2, 8] with the sizes taken from the
// input's own shape: the target becomes the constant [0, 0, 2, 8] and the
// shape arithmetic disappears.
// CHECK-LABEL: func.func @reshape_from_own_dims
// CHECK-NOT: onnx.Shape
// CHECK-DAG: %[[T:.*]] = "onnx.Constant"() <{value = dense<[0, 0, 2, 8]> : tensor<4xi64>}>
// CHECK: "onnx.Reshape"(%arg0, %[[T]]) <{allowzero = 0 : i64}> : (tensor<?x?x16xf32>, tensor<4xi64>) -> tensor<?x?x2x8xf32>
// CHECK: return {{.*}} : tensor<?x?x2x8xf32>
func.func @reshape_from_own_dims(%arg0: tensor<?x?x16xf32> {onnx.dim_params = ["seq", "batch", ""]}) -> tensor<*xf32> {
  %s = "onnx.Shape"(%arg0) <{start = 0 : i64}> : (tensor<?x?x16xf32>) -> tensor<3xi64>
  %i0 = "onnx.Constant"() <{value = dense<0> : tensor<i64>}> : () -> tensor<i64>
  %i1 = "onnx.Constant"() <{value = dense<1> : tensor<i64>}> : () -> tensor<i64>
  %ax = "onnx.Constant"() <{value = dense<0> : tensor<1xi64>}> : () -> tensor<1xi64>
  %g0 = "onnx.Gather"(%s, %i0) <{axis = 0 : i64}> : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
  %g1 = "onnx.Gather"(%s, %i1) <{axis = 0 : i64}> : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
  %u0 = "onnx.Unsqueeze"(%g0, %ax) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
  %u1 = "onnx.Unsqueeze"(%g1, %ax) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
  %c2 = "onnx.Constant"() <{value = dense<2> : tensor<1xi64>}> : () -> tensor<1xi64>
  %c8 = "onnx.Constant"() <{value = dense<8> : tensor<1xi64>}> : () -> tensor<1xi64>
  %t = "onnx.Concat"(%u0, %u1, %c2, %c8) <{axis = 0 : i64}> : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
  %r = "onnx.Reshape"(%arg0, %t) <{allowzero = 0 : i64}> : (tensor<?x?x16xf32>, tensor<4xi64>) -> tensor<*xf32>
  return %r : tensor<*xf32>
}

// Sizes flow through MatMul/Add: the reshape of a projection of x reads its
// sizes from x (same symbols), and [seq, batch * 2, 8] gets one -1.
// CHECK-LABEL: func.func @reshape_through_matmul
// CHECK-NOT: onnx.Shape
// CHECK: "onnx.Constant"() <{value = dense<[0, -1, 8]> : tensor<3xi64>}>
// CHECK: -> tensor<?x?x8xf32>
func.func @reshape_through_matmul(%x: tensor<?x?x32xf32> {onnx.dim_params = ["seq", "batch", ""]}, %w: tensor<32x16xf32>) -> tensor<*xf32> {
  %p = "onnx.MatMul"(%x, %w) : (tensor<?x?x32xf32>, tensor<32x16xf32>) -> tensor<*xf32>
  %s = "onnx.Shape"(%x) <{start = 0 : i64}> : (tensor<?x?x32xf32>) -> tensor<3xi64>
  %i0 = "onnx.Constant"() <{value = dense<0> : tensor<1xi64>}> : () -> tensor<1xi64>
  %i1 = "onnx.Constant"() <{value = dense<1> : tensor<1xi64>}> : () -> tensor<1xi64>
  %g0 = "onnx.Gather"(%s, %i0) <{axis = 0 : i64}> : (tensor<3xi64>, tensor<1xi64>) -> tensor<1xi64>
  %g1 = "onnx.Gather"(%s, %i1) <{axis = 0 : i64}> : (tensor<3xi64>, tensor<1xi64>) -> tensor<1xi64>
  %two = "onnx.Constant"() <{value = dense<2> : tensor<1xi64>}> : () -> tensor<1xi64>
  %b2 = "onnx.Mul"(%g1, %two) : (tensor<1xi64>, tensor<1xi64>) -> tensor<1xi64>
  %c8 = "onnx.Constant"() <{value = dense<8> : tensor<1xi64>}> : () -> tensor<1xi64>
  %t = "onnx.Concat"(%g0, %b2, %c8) <{axis = 0 : i64}> : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3xi64>
  %r = "onnx.Reshape"(%p, %t) <{allowzero = 0 : i64}> : (tensor<*xf32>, tensor<3xi64>) -> tensor<*xf32>
  return %r : tensor<*xf32>
}

// Expand to the input's own sizes keeps them (1); a Slice ending at the
// sliced size ends at INT64_MAX; a constant ConstantOfShape of integers is
// folded.
// CHECK-LABEL: func.func @expand_slice
// CHECK-NOT: onnx.Shape
// CHECK-DAG: "onnx.Constant"() <{value = dense<[1, 4, 1]> : tensor<3xi64>}>
// CHECK-DAG: "onnx.Constant"() <{value = dense<9223372036854775807> : tensor<1xi64>}>
// CHECK: "onnx.Expand"{{.*}} -> tensor<?x4x?xf32>
// CHECK: "onnx.Slice"{{.*}} -> tensor<?x?x16xf32>
func.func @expand_slice(%x: tensor<?x1x?xf32> {onnx.dim_params = ["b", "", "s"]}, %y: tensor<?x?x16xf32> {onnx.dim_params = ["s", "b", ""]}) -> (tensor<*xf32>, tensor<*xf32>) {
  %s = "onnx.Shape"(%x) <{start = 0 : i64}> : (tensor<?x1x?xf32>) -> tensor<3xi64>
  %i0 = "onnx.Constant"() <{value = dense<0> : tensor<1xi64>}> : () -> tensor<1xi64>
  %i2 = "onnx.Constant"() <{value = dense<2> : tensor<1xi64>}> : () -> tensor<1xi64>
  %g0 = "onnx.Gather"(%s, %i0) <{axis = 0 : i64}> : (tensor<3xi64>, tensor<1xi64>) -> tensor<1xi64>
  %g2 = "onnx.Gather"(%s, %i2) <{axis = 0 : i64}> : (tensor<3xi64>, tensor<1xi64>) -> tensor<1xi64>
  %c4 = "onnx.Constant"() <{value = dense<4> : tensor<1xi64>}> : () -> tensor<1xi64>
  %t = "onnx.Concat"(%g0, %c4, %g2) <{axis = 0 : i64}> : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3xi64>
  %e = "onnx.Expand"(%x, %t) : (tensor<?x1x?xf32>, tensor<3xi64>) -> tensor<*xf32>
  %ys = "onnx.Shape"(%y) <{start = 0 : i64, end = 1 : i64}> : (tensor<?x?x16xf32>) -> tensor<1xi64>
  %half = "onnx.Constant"() <{value = dense<1> : tensor<1xi64>}> : () -> tensor<1xi64>
  %ax = "onnx.Constant"() <{value = dense<0> : tensor<1xi64>}> : () -> tensor<1xi64>
  %one = "onnx.Constant"() <{value = dense<1> : tensor<1xi64>}> : () -> tensor<1xi64>
  %sl = "onnx.Slice"(%y, %half, %ys, %ax, %one) : (tensor<?x?x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<*xf32>
  return %e, %sl : tensor<*xf32>, tensor<*xf32>
}
