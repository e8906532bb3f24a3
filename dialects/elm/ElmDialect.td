//===- ElmDialect.td - The elm dialect ------------------------*- tablegen -*-===//

#ifndef EDGELLM_ELM_DIALECT_TD
#define EDGELLM_ELM_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Elm_Dialect : Dialect {
  let name = "elm";
  let cppNamespace = "::edgellm::elm";
  let summary = "Tensor-level LLM operators: where quantisation, placement and layout live";
  let description = [{
    Operators an LLM is made of (embedding, linear, rms_norm, rope, attention,
    swiglu, ...), raised from the onnx dialect. Weights are operands produced
    by onnx.ExternalData / onnx.Constant (references, never copies); every op
    may carry a `device` placement.
  }];
  let useDefaultAttributePrinterParser = 1;
}

def Elm_Device : I32EnumAttr<"Device", "where an op runs", [
    I32EnumAttrCase<"cpu", 0>, I32EnumAttrCase<"fpga", 1>]> {
  let cppNamespace = "::edgellm::elm";
  let genSpecializedAttr = 0;
}
def Elm_DeviceAttr : EnumAttr<Elm_Dialect, Elm_Device, "device"> {
  let assemblyFormat = "`<` $value `>`";
}

def Elm_WeightFormat : I32EnumAttr<"WeightFormat", "how a linear layer's weights are stored", [
    I32EnumAttrCase<"f32", 0>, I32EnumAttrCase<"f16", 1>,
    I32EnumAttrCase<"int4_g128", 2>, I32EnumAttrCase<"int4_g128_sparse", 3>]> {
  let cppNamespace = "::edgellm::elm";
  let genSpecializedAttr = 0;
}
def Elm_WeightFormatAttr : EnumAttr<Elm_Dialect, Elm_WeightFormat, "weight_format"> {
  let assemblyFormat = "`<` $value `>`";
}

def Elm_PairLayout : I32EnumAttr<"PairLayout", "which channels rotary embedding pairs", [
    I32EnumAttrCase<"interleaved", 0>, I32EnumAttrCase<"halves", 1>]> {
  let cppNamespace = "::edgellm::elm";
  let genSpecializedAttr = 0;
}
def Elm_PairLayoutAttr : EnumAttr<Elm_Dialect, Elm_PairLayout, "pairs"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // EDGELLM_ELM_DIALECT_TD
