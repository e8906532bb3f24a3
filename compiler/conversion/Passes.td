//===- Passes.td - EdgeLLM conversions -------------------------*- tablegen -*-===//

#ifndef EDGELLM_COMPILER_CONVERSION_PASSES_TD
#define EDGELLM_COMPILER_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertOnnxToLinalg : Pass<"edgellm-convert-onnx-to-linalg", "mlir::func::FuncOp"> {
  let summary = "Lower every onnx op to tensor/linalg/arith/math (the CPU path)";
  let description = [{
    Element-wise ops become linalg.generic with numpy broadcasting (a size
    broadcasts when it is statically 1), MatMul/Gemm become generic
    contractions, data movement becomes tensor.reshape / extract_slice /
    insert_slice and generics with tensor.extract; dynamic sizes are computed
    at run time. Weights must be materialised first.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect", "::mlir::tensor::TensorDialect"];
}

def MaterializeWeights : Pass<"edgellm-onnx-materialize-weights", "mlir::ModuleOp"> {
  let summary = "Turn onnx.ExternalData references into constants backed by the mmap'd files";
  let description = [{
    For running on the CPU through the JIT: every onnx.ExternalData becomes an
    onnx.Constant whose dense_resource blob points into the memory-mapped
    external data file (no copy). Paths are relative to the module's
    `onnx.model_dir` attribute.
  }];
}

def ElmToOnnx : Pass<"edgellm-elm-to-onnx", "mlir::func::FuncOp"> {
  let summary = "Rewrite elm ops into the onnx ops they mean (CPU fallback)";
  let description = [{
    The CPU path runs onnx ops; this turns raised ops back into them, in the
    exporter's order of operations, so a raised model computes the same bits.
  }];
  let dependentDialects = ["::edgellm::onnx::OnnxDialect"];
}

def ElmLowerToEisa : Pass<"edgellm-elm-lower-to-eisa", "mlir::ModuleOp"> {
  let summary = "Lay the FPGA ops out on the target and generate prefill/decode programs";
  let description = [{
    For the module's function (raised, quantised and placed): unified-layout
    views of the onnx glue between FPGA ops, output-channel tiling of every
    linear to half of WBUF, weights striped over the HBM pseudo-channels, the
    KV cache in HBM, an ABUF planner that reuses buffers, instruction
    generation with the step's values in registers (R1 pos, R2 past, R3
    ntok) and dependency tokens from the scheduler. Appends
    `eisa.program @prefill` and `eisa.program @decode` to the module
    (docs/lowering.md).
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"vcu128\"",
           "Target description (name or JSON path)">,
    Option<"prefillTokens", "prefill-tokens", "unsigned", /*default=*/"0",
           "Token capacity of the prefill program (0: the largest that fits, <= 128)">,
    Option<"maxContext", "max-context", "unsigned", /*default=*/"0",
           "KV-cache capacity in tokens (0: the model's positions, as far as KBUF allows)">,
  ];
  let dependentDialects = ["::edgellm::eisa::EisaDialect"];
}

#endif // EDGELLM_COMPILER_CONVERSION_PASSES_TD
