// RUN: edgellm-opt %s -split-input-file -verify-diagnostics

func.func @f(%x: tensor<2x32xf32>, %w: tensor<16x64xf32>) {
  // expected-error @+1 {{input's last dimension 32 differs from the weight's 16}}
  %0 = elm.linear %x, %w : tensor<2x32xf32>, tensor<16x64xf32> -> tensor<2x64xf32>
  return
}

// -----

func.func @f(%x: tensor<2x32xf32>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{density is given exactly for int4_g128_sparse}}
  %0 = elm.linear %x, %w {format = #elm.weight_format<int4_g128>, density = 0.5 : f64} : tensor<2x32xf32>, tensor<32x64xf32> -> tensor<2x64xf32>
  return
}

// -----

func.func @f(%x: tensor<2x32xf32>, %w: tensor<32x64xf32>) {
  // expected-error @+1 {{density must be 0.5, 0.25 or 0.125 (log-scale sparsity)}}
  %0 = elm.linear %x, %w {format = #elm.weight_format<int4_g128_sparse>, density = 0.3 : f64} : tensor<2x32xf32>, tensor<32x64xf32> -> tensor<2x64xf32>
  return
}

// -----

func.func @f(%x: tensor<2x32xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) {
  // expected-error @+1 {{bias must be [64]}}
  %0 = elm.linear %x, %w bias %b : tensor<2x32xf32>, tensor<32x64xf32>, tensor<32xf32> -> tensor<2x64xf32>
  return
}

// -----

func.func @f(%x: tensor<2x32xf32>, %g: tensor<16xf32>) {
  // expected-error @+1 {{gamma must be [32]}}
  %0 = elm.rms_norm %x, %g {eps = 1.0e-05 : f64} : tensor<2x32xf32>, tensor<16xf32> -> tensor<2x32xf32>
  return
}

// -----

func.func @f(%x: tensor<2x32xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{eps must be positive}}
  %0 = elm.rms_norm %x, %g {eps = 0.0 : f64} : tensor<2x32xf32>, tensor<32xf32> -> tensor<2x32xf32>
  return
}

// -----

func.func @f(%x: tensor<2x33xf32>) {
  // expected-error @+1 {{the last dimension must be even}}
  %0 = elm.swiglu %x : tensor<2x33xf32> -> tensor<2x16xf32>
  return
}

// -----

func.func @f(%t: tensor<10x8xf32>, %ids: tensor<3xf32>) {
  // expected-error @+1 {{ids must be integers}}
  %0 = elm.embedding %t[%ids] : tensor<10x8xf32>, tensor<3xf32> -> tensor<3x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x4x8xf32>, %cs: tensor<2x1x2x2xf32>) {
  // expected-error @+1 {{rot_dim must be even and at most head_dim}}
  %0 = elm.rope %x, %cs {rot_dim = 10 : i64} : tensor<2x4x8xf32>, tensor<2x1x2x2xf32> -> tensor<2x4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x4x8xf32>, %cs: tensor<2x1x3x2xf32>) {
  // expected-error @+1 {{cos_sin must be [..., 2, 2]}}
  %0 = elm.rope %x, %cs {rot_dim = 4 : i64} : tensor<2x4x8xf32>, tensor<2x1x3x2xf32> -> tensor<2x4x8xf32>
  return
}

// -----

func.func @f(%q: tensor<2x1x4x8xf32>, %k: tensor<5x1x3x8xf32>, %m: tensor<1x2x5xi1>) {
  // expected-error @+1 {{heads (4) must be a multiple of kv_heads (3)}}
  %0 = elm.attention %q, %k, %k, %m {scale = 0.5 : f64, masked_value = -1.0e30 : f64} : tensor<2x1x4x8xf32>, tensor<5x1x3x8xf32>, tensor<5x1x3x8xf32>, tensor<1x2x5xi1> -> tensor<2x1x32xf32>
  return
}

// -----

func.func @f(%q: tensor<2x1x4x8xf32>, %k: tensor<5x1x2x8xf32>, %m: tensor<1x2x5xf32>) {
  // expected-error @+1 {{mask must be a bool [batch, tokens, length] tensor}}
  %0 = elm.attention %q, %k, %k, %m {scale = 0.5 : f64, masked_value = -1.0e30 : f64} : tensor<2x1x4x8xf32>, tensor<5x1x2x8xf32>, tensor<5x1x2x8xf32>, tensor<1x2x5xf32> -> tensor<2x1x32xf32>
  return
}

// -----

func.func @f(%x: tensor<2x32xf32>) {
  // expected-error @+1 {{result must have the input's type}}
  %0 = elm.softmax %x : tensor<2x32xf32> -> tensor<2x16xf32>
  return
}

// -----

func.func @f(%x: tensor<2x32xi32>) {
  // expected-error @+1 {{input must be a floating-point tensor}}
  %0 = elm.softmax %x : tensor<2x32xi32> -> tensor<2x32xi32>
  return
}

// -----

func.func @f(%x: tensor<2x32xf32>, %y: tensor<2x16xf32>) {
  // expected-error @+1 {{operands and result must have one type}}
  %0 = elm.mul %x, %y : tensor<2x32xf32>, tensor<2x16xf32> -> tensor<2x32xf32>
  return
}
