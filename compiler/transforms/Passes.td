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

#endif // EDGELLM_COMPILER_TRANSFORMS_PASSES_TD
