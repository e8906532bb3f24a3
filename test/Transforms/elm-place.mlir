// RUN: edgellm-opt %s --edgellm-elm-place="remarks=true" 2>&1 | FileCheck %s
// RUN: edgellm-opt %s --edgellm-elm-place="overrides=%S/Inputs/place-overrides.json report=%t.json" -o /dev/null
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// RUN: not edgellm-opt %s --edgellm-elm-place="overrides=%S/Inputs/place-bad-override.json" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not edgellm-opt %s --edgellm-elm-place="overrides=%S/Inputs/place-bad-value.json" 2>&1 | FileCheck %s --check-prefix=VALUE
// RUN: not edgellm-opt %s --edgellm-elm-place="target=nowhere" 2>&1 | FileCheck %s --check-prefix=TARGET

// Placement from hw/targets/vcu128.json's legality table: the embedding
// lookup stays on the CPU, every other LLM operator goes to the FPGA.
// CHECK: remark: {{.*}}cpu: embedding is not an FPGA operator of vcu128
// CHECK: remark: {{.*}}fpga: rms_norm runs on the FPGA of vcu128
// CHECK: remark: {{.*}}fpga: linear_int4 runs on the FPGA of vcu128
// CHECK: remark: {{.*}}fpga: swiglu runs on the FPGA of vcu128
// CHECK: remark: {{.*}}fpga: linear_fp16 runs on the FPGA of vcu128
// CHECK: remark: {{.*}}fpga: add runs on the FPGA of vcu128
// CHECK: remark: {{.*}}fpga: rms_norm runs on the FPGA of vcu128
// CHECK: elm.embedding {{.*}}{device = #elm.device<cpu>}
// CHECK: elm.rms_norm {{.*}}device = #elm.device<fpga>
// CHECK: "onnx.Neg"

// REPORT: "cpu": 4,
// REPORT: "fpga": 4,
// REPORT: "device": "cpu",
// REPORT-NEXT: "name": "embed",
// REPORT: "device": "cpu",
// REPORT-NEXT: "name": "mlp_act",
// REPORT-NEXT: "op": "elm.swiglu",
// REPORT-NEXT: "reason": "override ({{.*}}place-overrides.json)"
// REPORT: "device": "cpu",
// REPORT-NEXT: "name": "final_norm",
// REPORT: "device": "cpu",
// REPORT-NEXT: "name": "neg",
// REPORT-NEXT: "op": "onnx.Neg",
// REPORT-NEXT: "reason": "not raised to elm"

// BAD: error: {{.*}}'elm.embedding' op cannot be placed on the FPGA: embedding is not an FPGA operator of vcu128
// VALUE: error: {{.*}}place-bad-value.json: by_kind.elm.linear must be "cpu" or "fpga"
// TARGET: error: {{.*}}nowhere.json: cannot open target description

func.func @f(%ids: tensor<?x?xi64>, %t: tensor<16x8xf32>, %g: tensor<8xf32>,
             %w: tensor<8x16xf32>, %w2: tensor<8x8xf32>) -> tensor<?x?x8xf32> {
  %x = elm.embedding %t[%ids] : tensor<16x8xf32>, tensor<?x?xi64> -> tensor<?x?x8xf32> loc("embed")
  %n = elm.rms_norm %x, %g {eps = 1.0e-05 : f64} : tensor<?x?x8xf32>, tensor<8xf32> -> tensor<?x?x8xf32> loc("norm")
  %h = elm.linear %n, %w {format = #elm.weight_format<int4_g128>} : tensor<?x?x8xf32>, tensor<8x16xf32> -> tensor<?x?x16xf32> loc("up")
  %s = elm.swiglu %h : tensor<?x?x16xf32> -> tensor<?x?x8xf32> loc("mlp_act")
  %d = elm.linear %s, %w2 : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32> loc("down")
  %r = elm.add %x, %d : tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<?x?x8xf32> loc("residual")
  %o = elm.rms_norm %r, %g {eps = 1.0e-05 : f64} : tensor<?x?x8xf32>, tensor<8xf32> -> tensor<?x?x8xf32> loc("final_norm")
  %z = "onnx.Neg"(%o) : (tensor<?x?x8xf32>) -> tensor<?x?x8xf32> loc("neg")
  return %z : tensor<?x?x8xf32>
}
