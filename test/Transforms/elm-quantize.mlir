// RUN: edgellm-opt %s --pass-pipeline='builtin.module(func.func(edgellm-elm-quantize))' | FileCheck %s --check-prefix=INT4
// RUN: edgellm-opt %s --pass-pipeline='builtin.module(func.func(edgellm-elm-quantize{sparsity=0.75}))' | FileCheck %s --check-prefix=SPARSE
// RUN: edgellm-opt %s --pass-pipeline='builtin.module(func.func(edgellm-elm-quantize{quant=none}))' | FileCheck %s --check-prefix=NONE
// RUN: not edgellm-opt %s --pass-pipeline='builtin.module(func.func(edgellm-elm-quantize{sparsity=0.6}))' 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: edgellm-opt %s --pass-pipeline='builtin.module(func.func(edgellm-elm-quantize{sparsity=0.5},edgellm-elm-to-onnx))' | FileCheck %s --check-prefix=FALLBACK

// INT4: {{.*}}format = #elm.weight_format<int4_g128>
// SPARSE: {density = 2.500000e-01 : f64, format = #elm.weight_format<int4_g128_sparse>}
// NONE: format = #elm.weight_format<f16>
// BAD: error: sparsity 6.000000e-01 is not log-scale: use 0, 0.5, 0.75 or 0.875
// The CPU fallback multiplies by the dequantised weights (a new constant).
// FALLBACK: "onnx.Constant"() <{value = dense_resource<simulated_weight> : tensor<8x16xf32>}>
// FALLBACK: onnx.MatMul
func.func @f(%x: tensor<?x8xf32>) -> tensor<?x16xf32> {
  %w = "onnx.Constant"() <{value = dense<0.25> : tensor<8x16xf32>}> : () -> tensor<8x16xf32>
  %0 = elm.linear %x, %w : tensor<?x8xf32>, tensor<8x16xf32> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}
