//===- OnnxDialect.td - The onnx dialect ----------------------*- tablegen -*-===//

#ifndef EDGELLM_ONNX_DIALECT_TD
#define EDGELLM_ONNX_DIALECT_TD

include "mlir/IR/OpBase.td"

def Onnx_Dialect : Dialect {
  let name = "onnx";
  let cppNamespace = "::edgellm::onnx";
  let summary = "ONNX operators as torch.onnx.export writes them, one op per node";
  let description = [{
    Mirrors the ONNX graph 1:1 (node names are kept as locations), in the form
    of the newest opset the importer accepts: attributes that later opsets
    turned into inputs (Split's `split`, Squeeze/Unsqueeze `axes`) are inputs.
    Dynamic dimensions (batch, sequence, past length) are `?`. Large weights
    are `onnx.ExternalData` references into the model's external data files,
    never copies.
  }];
  let useDefaultAttributePrinterParser = 0;
  let hasConstantMaterializer = 1;
}

#endif // EDGELLM_ONNX_DIALECT_TD
