//===- Passes.td - EdgeLLM compiler transforms -----------------*- tablegen -*-===//

#ifndef EDGELLM_COMPILER_TRANSFORMS_PASSES_TD
#define EDGELLM_COMPILER_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def OnnxSimplifyShapes : Pass<"edgellm-onnx-simplify-shapes", "mlir::func::FuncOp"> {
  let summary = "Symbolic shape inference; folds the exporter's shape arithmetic";
  let description = [{
    Infers every value's shape with symbolic dimensions (the graph inputs'
    dim_params: batch, sequence, past_sequence, ...; equal names are equal
    sizes) and the symbolic contents of small integer tensors (the shape
    tensors torch.onnx.export computes with Shape -> Gather -> Unsqueeze ->
    Concat). Then it
    - refines result types (unranked or less precise ones get the inferred
      rank and static sizes),
    - replaces shape tensors that are constant with onnx.Constant,
    - rewrites Reshape and Expand targets that are known symbolically into
      constants (0 / 1 for "the input's size", -1 for the one remaining size),
      and Slice ends equal to the sliced size into INT64_MAX,
    so the shape sub-graphs become dead and canonicalisation removes them.
    What stays is real computation (for example the causal mask built from
    the sequence length).
  }];
  let dependentDialects = ["::edgellm::onnx::OnnxDialect"];
}

def RaiseOnnxToElm : Pass<"edgellm-raise-onnx-to-elm", "mlir::func::FuncOp"> {
  let summary = "Recognise LLM operators (embedding, linear, RMSNorm, SwiGLU, residual add)";
  let description = [{
    Pattern-matches the sub-graphs torch.onnx.export writes for ChatGLM2-class
    models (after edgellm-onnx-simplify-shapes) and replaces them by elm ops.
    Whatever is not recognised stays onnx; with `report`, a remark on the
    function lists what was raised and what is left.
  }];
  let options = [Option<"report", "report", "bool", /*default=*/"false",
                        "Emit a remark listing raised and remaining ops">];
  let dependentDialects = ["::edgellm::elm::ElmDialect"];
}

def ElmQuantize : Pass<"edgellm-elm-quantize", "mlir::func::FuncOp"> {
  let summary = "Choose the weight format of every linear layer";
  let description = [{
    `quant=int4` stores every linear's weights as symmetric INT4 with one FP16
    scale per 128 inputs (format int4_g128), with `sparsity` 0.5 / 0.75 /
    0.875 as log-scale structured sparsity (int4_g128_sparse, density 1/2,
    1/4, 1/8); `quant=none` keeps FP16 weights (f16, FP16 x FP16 on the
    device). The weights themselves are quantised and packed when the package
    is written (compiler/target/WeightPacker.h) and, for the CPU fallback, by
    edgellm-elm-to-onnx.
  }];
  let options = [
    Option<"quant", "quant", "std::string", /*default=*/"\"int4\"", "int4 or none">,
    Option<"sparsity", "sparsity", "double", /*default=*/"0.0",
           "0, 0.5, 0.75 or 0.875 (int4 only)">,
  ];
  let dependentDialects = ["::edgellm::elm::ElmDialect"];
}

def ElmPlace : Pass<"edgellm-elm-place", "mlir::ModuleOp"> {
  let summary = "Set every elm op's device from the target's legality table";
  let description = [{
    An elm op goes to the FPGA when the target description
    (hw/targets/<target>.json, `fpga_ops`) says the FPGA runs its kind
    (linear_fp16 / linear_int4, rms_norm, rope, swiglu, add, embedding, ...),
    else to the CPU. `overrides` names a JSON file
    {"by_kind": {"elm.rms_norm": "cpu"}, "by_name": {"<node name>": "fpga"}}
    whose entries win (by name before by kind); an override to the FPGA of an
    op the target cannot run is an error. Every op gets a remark with its
    device and the reason; `report` writes the same as JSON. onnx ops that were
    not raised run on the CPU and are listed too.
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"vcu128\"",
           "Target description: a name in hw/targets or a JSON path">,
    Option<"overrides", "overrides", "std::string", /*default=*/"\"\"",
           "JSON file of placement overrides">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Write the placement report (JSON) here">,
    Option<"remarks", "remarks", "bool", /*default=*/"false",
           "Emit one remark per op with its device and reason">,
  ];
  let dependentDialects = ["::edgellm::elm::ElmDialect"];
}

#endif // EDGELLM_COMPILER_TRANSFORMS_PASSES_TD
