//===- ElmOps.td - LLM operators ------------------------------*- tablegen -*-===//
//
// Activations are [..., channels] tensors as in the ONNX graph (token-major);
// the unified device layout is a `layout` decision made later. Weights of
// linear layers are [in, out] as torch.onnx.export stores them.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_ELM_OPS_TD
#define EDGELLM_ELM_OPS_TD

include "dialects/elm/ElmDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class Elm_Op<string mnemonic, list<Trait> traits = []>
    : Op<Elm_Dialect, mnemonic, !listconcat([Pure], traits)> {
  let hasVerifier = 1;
}

def Elm_EmbeddingOp : Elm_Op<"embedding"> {
  let summary = "rows of `table` [vocab, hidden] selected by integer `ids`";
  let arguments = (ins AnyRankedTensor:$table, AnyRankedTensor:$ids,
                       OptionalAttr<Elm_DeviceAttr>:$device);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$table `[` $ids `]` attr-dict `:` type($table) `,` type($ids) `->` type($result)";
}

def Elm_LinearOp : Elm_Op<"linear"> {
  let summary = "y = x . W (+ bias), W stored [in, out]";
  let description = [{
    `format` says how W is (or will be) stored: `f32`/`f16` as given,
    `int4_g128` symmetric INT4 with one FP16 scale per 128 inputs,
    `int4_g128_sparse` with log-scale structured sparsity of `density`
    (1/2, 1/4 or 1/8 of every 8 weights non-zero).
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                       Optional<AnyRankedTensor>:$bias,
                       DefaultValuedAttr<Elm_WeightFormatAttr, "::edgellm::elm::WeightFormat::f32">:$format,
                       OptionalAttr<F64Attr>:$density,
                       OptionalAttr<Elm_DeviceAttr>:$device);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` $bias^)? attr-dict `:` type($input) `,` type($weight) (`,` type($bias)^)? `->` type($result)
  }];
}

def Elm_RmsNormOp : Elm_Op<"rms_norm"> {
  let summary = "x / sqrt(mean(x^2, last axis) + eps) * gamma, computed in FP32";
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$gamma, F64Attr:$eps,
                       OptionalAttr<Elm_DeviceAttr>:$device);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `,` $gamma attr-dict `:` type($input) `,` type($gamma) `->` type($result)";
}

def Elm_RopeOp : Elm_Op<"rope"> {
  let summary = "rotary embedding of the first rot_dim channels of every head";
  let description = [{
    `input` is [..., heads, head_dim]; `cos_sin` is [..., 1, rot_dim / 2, 2]
    (per token, broadcast over heads): pair p of a head is rotated by
    (cos, sin) = cos_sin[..., p, 0..1]. With `pairs = interleaved` (ChatGLM2)
    pair p is channels (2p, 2p + 1): y0 = x0 c - x1 s, y1 = x1 c + x0 s.
    Channels from rot_dim on pass through.
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$cos_sin, I64Attr:$rot_dim,
                       DefaultValuedAttr<Elm_PairLayoutAttr, "::edgellm::elm::PairLayout::interleaved">:$pairs,
                       OptionalAttr<Elm_DeviceAttr>:$device);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input `,` $cos_sin attr-dict `:` type($input) `,` type($cos_sin) `->` type($result)";
}

def Elm_AttentionOp : Elm_Op<"attention"> {
  let summary = "multi-query attention of the step's queries over the whole KV cache";
  let description = [{
    `q` is [tokens, batch, heads, head_dim]; `k`, `v` are the whole cache
    (past and this step's keys/values) [length, batch, kv_heads, head_dim],
    each KV head shared by heads / kv_heads query heads; `mask` [batch,
    tokens, length] is true where a score is masked (set to `masked_value`).
    scores = (q . k^T) * scale, probabilities = softmax over the cache,
    result = probabilities . v as [tokens, batch, heads * head_dim].
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k, AnyRankedTensor:$v,
                       AnyRankedTensor:$mask, F64Attr:$scale, F64Attr:$masked_value,
                       OptionalAttr<Elm_DeviceAttr>:$device);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $mask attr-dict `:` type($q) `,` type($k) `,` type($v) `,` type($mask) `->` type($result)
  }];
}

def Elm_SwigluOp : Elm_Op<"swiglu"> {
  let summary = "silu(a) * b where [a | b] are the two halves of the last axis";
  let arguments = (ins AnyRankedTensor:$input, OptionalAttr<Elm_DeviceAttr>:$device);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Elm_AddOp : Elm_Op<"add", [Commutative]> {
  let summary = "element-wise sum of two activations of the same shape (residual)";
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs,
                       OptionalAttr<Elm_DeviceAttr>:$device);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)";
}

def Elm_SoftmaxOp : Elm_Op<"softmax"> {
  let summary = "softmax over the last axis (outside attention, which has its own)";
  let arguments = (ins AnyRankedTensor:$input, OptionalAttr<Elm_DeviceAttr>:$device);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Elm_MulOp : Elm_Op<"mul", [Commutative]> {
  let summary = "element-wise product of two activations of the same shape";
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs,
                       OptionalAttr<Elm_DeviceAttr>:$device);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)";
}

#endif // EDGELLM_ELM_OPS_TD
