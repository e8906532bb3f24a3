// RUN: edgellm-opt %s --pass-pipeline='builtin.module(func.func(edgellm-raise-onnx-to-elm{report=true}))' 2>/dev/null | FileCheck %s
// RUN: edgellm-opt %s --pass-pipeline='builtin.module(func.func(edgellm-raise-onnx-to-elm{report=true}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// The exporter's RMSNorm, a linear layer with bias, SwiGLU on the halves of
// an up projection, a residual add and the embedding lookup.
// REMARK: remark: raised: 1 elm.rms_norm 2 elm.linear 1 elm.swiglu 1 elm.embedding 1 elm.add; left in onnx:{{$}}
// CHECK-LABEL: func.func @block
// CHECK: %[[E:.*]] = elm.embedding
// CHECK: %[[N:.*]] = elm.rms_norm %[[E]], %{{.*}} {eps = 9.9999997473787516E-6 : f64}
// CHECK: %[[L:.*]] = elm.linear %[[N]], %{{.*}} bias %{{.*}}
// CHECK: %[[S:.*]] = elm.swiglu %[[L]] : tensor<?x?x16xf32> -> tensor<?x?x8xf32>
// CHECK: %[[D:.*]] = elm.linear %[[S]]
// CHECK: elm.add %[[E]], %[[D]]
// CHECK-NOT: onnx.Pow
// CHECK-NOT: onnx.Sigmoid
func.func @block(%ids: tensor<?x?xi64>) -> tensor<?x?x8xf32> {
  %table = "onnx.Constant"() <{value = dense<0.5> : tensor<16x8xf32>}> : () -> tensor<16x8xf32>
  %x = "onnx.Gather"(%table, %ids) <{axis = 0 : i64}> : (tensor<16x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %two = "onnx.Constant"() <{value = dense<2.0> : tensor<f32>}> : () -> tensor<f32>
  %eps = "onnx.Constant"() <{value = dense<1.0e-05> : tensor<f32>}> : () -> tensor<f32>
  %one = "onnx.Constant"() <{value = dense<1.0> : tensor<f32>}> : () -> tensor<f32>
  %gamma = "onnx.Constant"() <{value = dense<1.5> : tensor<8xf32>}> : () -> tensor<8xf32>
  %p = "onnx.Pow"(%x, %two) : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %m = "onnx.ReduceMean"(%p) <{axes = [-1], keepdims = 1 : i64}> : (tensor<?x?x8xf32>) -> tensor<?x?x1xf32>
  %a = "onnx.Add"(%m, %eps) : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %s = "onnx.Sqrt"(%a) : (tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %d = "onnx.Div"(%one, %s) : (tensor<f32>, tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %n0 = "onnx.Mul"(%x, %d) : (tensor<?x?x8xf32>, tensor<?x?x1xf32>) -> tensor<?x?x8xf32>
  %n = "onnx.Mul"(%gamma, %n0) : (tensor<8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  %w = "onnx.Constant"() <{value = dense<0.25> : tensor<8x16xf32>}> : () -> tensor<8x16xf32>
  %b = "onnx.Constant"() <{value = dense<0.125> : tensor<16xf32>}> : () -> tensor<16xf32>
  %mm = "onnx.MatMul"(%n, %w) : (tensor<?x?x8xf32>, tensor<8x16xf32>) -> tensor<?x?x16xf32>
  %h = "onnx.Add"(%b, %mm) : (tensor<16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %c0 = "onnx.Constant"() <{value = dense<0> : tensor<1xi64>}> : () -> tensor<1xi64>
  %c8 = "onnx.Constant"() <{value = dense<8> : tensor<1xi64>}> : () -> tensor<1xi64>
  %c16 = "onnx.Constant"() <{value = dense<16> : tensor<1xi64>}> : () -> tensor<1xi64>
  %ax = "onnx.Constant"() <{value = dense<-1> : tensor<1xi64>}> : () -> tensor<1xi64>
  %st = "onnx.Constant"() <{value = dense<1> : tensor<1xi64>}> : () -> tensor<1xi64>
  %ha = "onnx.Slice"(%h, %c0, %c8, %ax, %st) : (tensor<?x?x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?x8xf32>
  %hb = "onnx.Slice"(%h, %c8, %c16, %ax, %st) : (tensor<?x?x16xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?x8xf32>
  %sg = "onnx.Sigmoid"(%ha) : (tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  %silu = "onnx.Mul"(%ha, %sg) : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  %sw = "onnx.Mul"(%silu, %hb) : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  %w2 = "onnx.Constant"() <{value = dense<0.75> : tensor<8x8xf32>}> : () -> tensor<8x8xf32>
  %o = "onnx.MatMul"(%sw, %w2) : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  %r = "onnx.Add"(%x, %o) : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %r : tensor<?x?x8xf32>
}

// A MatMul of two activations (attention scores) is not a linear layer.
// CHECK-LABEL: func.func @not_linear
// CHECK: onnx.MatMul
// CHECK-NOT: elm.linear
func.func @not_linear(%a: tensor<?x4x8xf32>, %b: tensor<?x8x4xf32>) -> tensor<?x4x4xf32> {
  %0 = "onnx.MatMul"(%a, %b) : (tensor<?x4x8xf32>, tensor<?x8x4xf32>) -> tensor<?x4x4xf32>
  return %0 : tensor<?x4x4xf32>
}

// REMARK: remark: raised:; left in onnx: 1 onnx.MatMul

// A softmax over the last axis outside attention, and a product of two
// activations one of which an LLM op computed, are raised; a product with a
// weight and a softmax over another axis are not.
// CHECK-LABEL: func.func @softmax_mul
// CHECK: %[[S:.*]] = elm.softmax %arg0
// CHECK: "onnx.Softmax"(%arg0) <{axis = 1 : i64}>
// CHECK: elm.mul %[[S]], %arg0
// CHECK: "onnx.Mul"(%{{.*}}, %{{.*}})
func.func @softmax_mul(%x: tensor<?x4x8xf32>) -> (tensor<?x4x8xf32>, tensor<?x4x8xf32>, tensor<?x4x8xf32>) {
  %w = "onnx.Constant"() <{value = dense<2.0> : tensor<8xf32>}> : () -> tensor<8xf32>
  %s = "onnx.Softmax"(%x) <{axis = -1 : i64}> : (tensor<?x4x8xf32>) -> tensor<?x4x8xf32>
  %s1 = "onnx.Softmax"(%x) <{axis = 1 : i64}> : (tensor<?x4x8xf32>) -> tensor<?x4x8xf32>
  %m = "onnx.Mul"(%s, %x) : (tensor<?x4x8xf32>, tensor<?x4x8xf32>) -> tensor<?x4x8xf32>
  %mw = "onnx.Mul"(%m, %w) : (tensor<?x4x8xf32>, tensor<8xf32>) -> tensor<?x4x8xf32>
  return %s1, %m, %mw : tensor<?x4x8xf32>, tensor<?x4x8xf32>, tensor<?x4x8xf32>
}
