//===- OnnxOps.td - ONNX operators ---------------------------*- tablegen -*-===//
//
// The ONNX operators ChatGLM2-class exports use (opsets 13-17), in the form of
// opset 17. Semantics are ONNX's (https://onnx.ai/onnx/operators/); defaults
// are the ONNX defaults. Verifiers check what the types allow (ranks, axes,
// permutations, matching dimensions) and name the ONNX node at fault through
// the op's location.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_ONNX_OPS_TD
#define EDGELLM_ONNX_OPS_TD

include "dialects/onnx/OnnxDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

class Onnx_Op<string mnemonic, list<Trait> traits = []>
    : Op<Onnx_Dialect, mnemonic, !listconcat([Pure], traits)>;

def AnyTensorOrNone : AnyTypeOf<[AnyTensor, NoneType]>;

// Element-wise binary operators with multidirectional (numpy) broadcasting.
class Onnx_BinaryOp<string mnemonic, string doc, list<Trait> traits = []>
    : Onnx_Op<mnemonic, traits> {
  let summary = doc;
  let arguments = (ins AnyTensor:$A, AnyTensor:$B);
  let results = (outs AnyTensor:$C);
  let hasVerifier = 1;
  let hasFolder = 1;
}

class Onnx_UnaryOp<string mnemonic, string doc> : Onnx_Op<mnemonic> {
  let summary = doc;
  let arguments = (ins AnyTensor:$X);
  let results = (outs AnyTensor:$Y);
  let hasVerifier = 1;
}

def Onnx_AddOp : Onnx_BinaryOp<"Add", "C = A + B", [Commutative]>;
def Onnx_SubOp : Onnx_BinaryOp<"Sub", "C = A - B">;
def Onnx_MulOp : Onnx_BinaryOp<"Mul", "C = A * B", [Commutative]>;
def Onnx_DivOp : Onnx_BinaryOp<"Div", "C = A / B (integer division truncates)">;
def Onnx_PowOp : Onnx_BinaryOp<"Pow", "C = A ^ B">;
def Onnx_EqualOp : Onnx_BinaryOp<"Equal", "C = (A == B)", [Commutative]>;
def Onnx_LessOp : Onnx_BinaryOp<"Less", "C = (A < B)">;

def Onnx_NegOp : Onnx_UnaryOp<"Neg", "Y = -X">;
def Onnx_NotOp : Onnx_UnaryOp<"Not", "Y = !X (bool)">;
def Onnx_SigmoidOp : Onnx_UnaryOp<"Sigmoid", "Y = 1 / (1 + exp(-X))">;
def Onnx_SqrtOp : Onnx_UnaryOp<"Sqrt", "Y = sqrt(X)">;
def Onnx_TanhOp : Onnx_UnaryOp<"Tanh", "Y = tanh(X)">;

def Onnx_CastOp : Onnx_Op<"Cast"> {
  let summary = "element type conversion";
  let description = [{ `to` is the ONNX TensorProto data type number. }];
  let arguments = (ins AnyTensor:$input, I64Attr:$to);
  let results = (outs AnyTensor:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Onnx_ConcatOp : Onnx_Op<"Concat"> {
  let summary = "concatenation along `axis`";
  let arguments = (ins Variadic<AnyTensor>:$inputs, I64Attr:$axis);
  let results = (outs AnyTensor:$concat_result);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Onnx_ConstantOp : Onnx_Op<"Constant", [ConstantLike]> {
  let summary = "a constant tensor (small constants and embedded initializers)";
  let arguments = (ins ElementsAttr:$value);
  let results = (outs AnyTensor:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Onnx_ExternalDataOp : Onnx_Op<"ExternalData"> {
  let summary = "a weight stored in an external data file (not copied)";
  let description = [{
    A tensor whose bytes are `length` bytes at `offset` in the file `location`
    (a path relative to the model's folder, checked by the importer: not
    absolute, not escaping the folder, inside the file), little-endian, in
    the element type and shape of the result. `name` is the ONNX initializer
    name. The quantiser and packer stream these bytes from the mmap'd file.
  }];
  let arguments = (ins StrAttr:$name, StrAttr:$location, I64Attr:$offset,
                       I64Attr:$length);
  let results = (outs AnyStaticShapeTensor:$output);
  let hasVerifier = 1;
}

def Onnx_ConstantOfShapeOp : Onnx_Op<"ConstantOfShape"> {
  let summary = "a tensor of the given shape filled with `value` (default f32 0)";
  let arguments = (ins AnyTensor:$input, OptionalAttr<ElementsAttr>:$value);
  let results = (outs AnyTensor:$output);
  let hasVerifier = 1;
}

def Onnx_ExpandOp : Onnx_Op<"Expand"> {
  let summary = "broadcast to a shape";
  let arguments = (ins AnyTensor:$input, AnyTensor:$shape);
  let results = (outs AnyTensor:$output);
  let hasVerifier = 1;
}

def Onnx_GatherOp : Onnx_Op<"Gather"> {
  let summary = "take entries along `axis` (negative indices count from the end)";
  let arguments = (ins AnyTensor:$data, AnyTensor:$indices,
                       DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs AnyTensor:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Onnx_GemmOp : Onnx_Op<"Gemm"> {
  let summary = "Y = alpha * A' * B' + beta * C";
  let arguments = (ins AnyTensor:$A, AnyTensor:$B, AnyTensorOrNone:$C,
                       DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                       DefaultValuedAttr<F32Attr, "1.0">:$beta,
                       DefaultValuedAttr<I64Attr, "0">:$transA,
                       DefaultValuedAttr<I64Attr, "0">:$transB);
  let results = (outs AnyTensor:$Y);
  let hasVerifier = 1;
}

def Onnx_LayerNormalizationOp : Onnx_Op<"LayerNormalization"> {
  let summary = "layer normalisation over the axes from `axis` on";
  let arguments = (ins AnyTensor:$X, AnyTensor:$Scale, AnyTensorOrNone:$B,
                       DefaultValuedAttr<I64Attr, "-1">:$axis,
                       DefaultValuedAttr<F32Attr, "1e-05">:$epsilon,
                       DefaultValuedAttr<I64Attr, "1">:$stash_type);
  let results = (outs AnyTensor:$Y, AnyTensorOrNone:$Mean,
                      AnyTensorOrNone:$InvStdDev);
  let hasVerifier = 1;
}

def Onnx_MatMulOp : Onnx_Op<"MatMul"> {
  let summary = "numpy matmul";
  let arguments = (ins AnyTensor:$A, AnyTensor:$B);
  let results = (outs AnyTensor:$Y);
  let hasVerifier = 1;
}

def Onnx_RangeOp : Onnx_Op<"Range"> {
  let summary = "start, start + delta, ... below limit";
  let arguments = (ins AnyTensor:$start, AnyTensor:$limit, AnyTensor:$delta);
  let results = (outs AnyTensor:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Onnx_ReduceMeanOp : Onnx_Op<"ReduceMean"> {
  let summary = "mean over `axes` (all axes when absent)";
  let arguments = (ins AnyTensor:$data, OptionalAttr<I64ArrayAttr>:$axes,
                       DefaultValuedAttr<I64Attr, "1">:$keepdims);
  let results = (outs AnyTensor:$reduced);
  let hasVerifier = 1;
}

def Onnx_ReshapeOp : Onnx_Op<"Reshape"> {
  let summary = "reshape (0 copies the input dimension unless allowzero; -1 is inferred)";
  let arguments = (ins AnyTensor:$data, AnyTensor:$shape,
                       DefaultValuedAttr<I64Attr, "0">:$allowzero);
  let results = (outs AnyTensor:$reshaped);
  let hasVerifier = 1;
}

def Onnx_ShapeOp : Onnx_Op<"Shape"> {
  let summary = "the shape of a tensor as a 1-D int64 tensor (dims start..end)";
  let arguments = (ins AnyTensor:$data, DefaultValuedAttr<I64Attr, "0">:$start,
                       OptionalAttr<I64Attr>:$end);
  let results = (outs AnyTensor:$shape);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Onnx_SliceOp : Onnx_Op<"Slice"> {
  let summary = "strided slice along the given axes";
  let arguments = (ins AnyTensor:$data, AnyTensor:$starts, AnyTensor:$ends,
                       AnyTensorOrNone:$axes, AnyTensorOrNone:$steps);
  let results = (outs AnyTensor:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Onnx_SoftmaxOp : Onnx_Op<"Softmax"> {
  let summary = "softmax along `axis`";
  let arguments = (ins AnyTensor:$input, DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs AnyTensor:$output);
  let hasVerifier = 1;
}

def Onnx_SplitOp : Onnx_Op<"Split"> {
  let summary = "split along `axis` into pieces of the sizes in `split` (equal when none)";
  let arguments = (ins AnyTensor:$input, AnyTensorOrNone:$split,
                       DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs Variadic<AnyTensor>:$outputs);
  let hasVerifier = 1;
}

def Onnx_SqueezeOp : Onnx_Op<"Squeeze"> {
  let summary = "remove size-1 axes (all of them when `axes` is none)";
  let arguments = (ins AnyTensor:$data, AnyTensorOrNone:$axes);
  let results = (outs AnyTensor:$squeezed);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Onnx_UnsqueezeOp : Onnx_Op<"Unsqueeze"> {
  let summary = "insert size-1 axes";
  let arguments = (ins AnyTensor:$data, AnyTensor:$axes);
  let results = (outs AnyTensor:$expanded);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Onnx_TransposeOp : Onnx_Op<"Transpose"> {
  let summary = "permute axes (reverse them when `perm` is absent)";
  let arguments = (ins AnyTensor:$data, OptionalAttr<I64ArrayAttr>:$perm);
  let results = (outs AnyTensor:$transposed);
  let hasVerifier = 1;
}

def Onnx_TriluOp : Onnx_Op<"Trilu"> {
  let summary = "upper or lower triangle of the last two axes, diagonal offset k";
  let arguments = (ins AnyTensor:$input, AnyTensorOrNone:$k,
                       DefaultValuedAttr<I64Attr, "1">:$upper);
  let results = (outs AnyTensor:$output);
  let hasVerifier = 1;
}

def Onnx_WhereOp : Onnx_Op<"Where"> {
  let summary = "condition ? X : Y with broadcasting";
  let arguments = (ins AnyTensor:$condition, AnyTensor:$X, AnyTensor:$Y);
  let results = (outs AnyTensor:$output);
  let hasVerifier = 1;
}

def Onnx_NoneOp : Onnx_Op<"None", [ConstantLike]> {
  let summary = "an omitted optional input";
  let results = (outs NoneType:$none);
  let assemblyFormat = "attr-dict";
  let hasFolder = 1;
}

#endif // EDGELLM_ONNX_OPS_TD
