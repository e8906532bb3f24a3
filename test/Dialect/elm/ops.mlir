// RUN: edgellm-opt %s | edgellm-opt | FileCheck %s

// CHECK-LABEL: func.func @layer
func.func @layer(%ids: tensor<?x?xi64>, %table: tensor<256x32xf32>, %g: tensor<32xf32>,
                 %w: tensor<32x64xf32>, %bias: tensor<64xf32>, %w2: tensor<64x32xf32>,
                 %up: tensor<32x128xf32>, %q4: tensor<?x?x4x8xf32>,
                 %cs: tensor<?x?x1x2x2xf32>, %kc: tensor<?x?x2x8xf32>,
                 %mask: tensor<?x?x?xi1>) -> tensor<?x?x32xf32> {
  // CHECK: elm.embedding %{{.*}}[%{{.*}}] {device = #elm.device<fpga>} : tensor<256x32xf32>, tensor<?x?xi64> -> tensor<?x?x32xf32>
  %x = elm.embedding %table[%ids] {device = #elm.device<fpga>} : tensor<256x32xf32>, tensor<?x?xi64> -> tensor<?x?x32xf32>
  // CHECK: elm.rms_norm %{{.*}}, %{{.*}} {eps = 1.000000e-05 : f64} : tensor<?x?x32xf32>, tensor<32xf32> -> tensor<?x?x32xf32>
  %n = elm.rms_norm %x, %g {eps = 1.0e-05 : f64} : tensor<?x?x32xf32>, tensor<32xf32> -> tensor<?x?x32xf32>
  // CHECK: elm.linear %{{.*}}, %{{.*}} bias %{{.*}} : tensor<?x?x32xf32>, tensor<32x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  %q = elm.linear %n, %w bias %bias : tensor<?x?x32xf32>, tensor<32x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  // CHECK: elm.linear %{{.*}}, %{{.*}} {density = 5.000000e-01 : f64, format = #elm.weight_format<int4_g128_sparse>}
  %o = elm.linear %q, %w2 {format = #elm.weight_format<int4_g128_sparse>, density = 0.5 : f64} : tensor<?x?x64xf32>, tensor<64x32xf32> -> tensor<?x?x32xf32>
  // CHECK: elm.rope %{{.*}}, %{{.*}} {rot_dim = 4 : i64} : tensor<?x?x4x8xf32>, tensor<?x?x1x2x2xf32> -> tensor<?x?x4x8xf32>
  %qh = elm.rope %q4, %cs {rot_dim = 4 : i64} : tensor<?x?x4x8xf32>, tensor<?x?x1x2x2xf32> -> tensor<?x?x4x8xf32>
  // CHECK: elm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {masked_value = -3.4028234663852886E+38 : f64, scale = 0.35355339059327379 : f64} : tensor<?x?x4x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x?xi1> -> tensor<?x?x32xf32>
  %att = elm.attention %qh, %kc, %kc, %mask {scale = 0.35355339059327379 : f64, masked_value = -3.4028234663852886E+38 : f64} : tensor<?x?x4x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x?xi1> -> tensor<?x?x32xf32>
  // CHECK: elm.add
  %r = elm.add %x, %o : tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x32xf32>
  %h = elm.linear %r, %up {format = #elm.weight_format<int4_g128>} : tensor<?x?x32xf32>, tensor<32x128xf32> -> tensor<?x?x128xf32>
  // CHECK: elm.swiglu %{{.*}} : tensor<?x?x128xf32> -> tensor<?x?x64xf32>
  %s = elm.swiglu %h : tensor<?x?x128xf32> -> tensor<?x?x64xf32>
  %d = elm.linear %s, %w2 : tensor<?x?x64xf32>, tensor<64x32xf32> -> tensor<?x?x32xf32>
  // CHECK: elm.softmax %{{.*}} {device = #elm.device<fpga>} : tensor<?x?x32xf32> -> tensor<?x?x32xf32>
  %p = elm.softmax %d {device = #elm.device<fpga>} : tensor<?x?x32xf32> -> tensor<?x?x32xf32>
  // CHECK: elm.mul %{{.*}}, %{{.*}} : tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x32xf32>
  %m = elm.mul %p, %d : tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x32xf32>
  return %m : tensor<?x?x32xf32>
}
