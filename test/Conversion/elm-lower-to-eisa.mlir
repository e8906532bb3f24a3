// RUN: edgellm-opt %s --split-input-file --edgellm-elm-lower-to-eisa --verify-diagnostics | FileCheck %s
// RUN: edgellm-opt %s --split-input-file --edgellm-elm-lower-to-eisa="target=%S/Inputs/small-wbuf.json" --verify-diagnostics | FileCheck %s --check-prefix=SMALL

// One ChatGLM2-style layer (hidden 32, 2 query heads and 1 KV group of 16,
// rotary slice 8, FFN 32) as raising, quantisation and placement leave it,
// in the prefill form (attention over the new keys/values), plus a
// standalone softmax and product before the output layer.

// CHECK-LABEL: eisa.program @prefill attributes {max_context = 16 : i64, token_capacity = 16 : i64}
// Derived registers: R4 = R1 * rot/8, R6 = R3 * rot/8, R5 = R2 + R3.
// CHECK-NEXT: eisa.regop (op = mul, rd = r4, ra = r1, rb = r0, imm = 1)
// CHECK-NEXT: eisa.regop (op = mul, rd = r6, ra = r3, rb = r0, imm = 1)
// CHECK-NEXT: eisa.regop (op = add, rd = r5, ra = r2, rb = r3, imm = 0)
// Parameters (2 gammas of 2 beats, a bias of 4), rotary rows at R4, the
// embeddings (R3 tokens, 2 channel blocks of capacity 16).
// CHECK-NEXT: eisa.load (src_mem = ddr, dst_buf = pbuf, src_addr = 0x0, {{.*}}row_len = 8,
// CHECK-NEXT: eisa.load (src_mem = ddr, dst_buf = pbuf, src_addr = 0x40, src_addr_reg = r4, dst_addr = 0x8, {{.*}}row_len = 0, row_len_reg = r6,
// CHECK-NEXT: eisa.load [signal_next] (src_mem = ddr, dst_buf = abuf, {{.*}}rows = 2, row_len = 0, row_len_reg = r3, src_stride = 16, dst_stride = 16, hbm_stripe = 1)
// CHECK-NEXT: eisa.rms_norm [wait_prev] (x_buf = abuf, x_addr = 0x0, x_stride = 16, y_buf = abuf, y_addr = 0x20, {{.*}}m_reg = r3, c = 32,
// QKV: one tile (64 rows of 3 beats) striped over the 32 pseudo-channels.
// CHECK-NEXT: eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, src_addr = 0x0, {{.*}}rows = 1, row_len = 192, {{.*}}hbm_stripe = 32)
// CHECK-NEXT: eisa.mm_q4 [wait_prev] ({{.*}}y_addr = 0x40, y_stride = 16, has_bias = 1, b_buf = pbuf, b_addr = 0x2, m = 0, m_reg = r3, k = 32, n = 64, sparsity = dense)
// Rotary embedding in place: Q (2 heads at channel 0), K (1 head at channel 32).
// CHECK-NEXT: eisa.rope (x_buf = abuf, x_addr = 0x40, {{.*}}y_addr = 0x40, {{.*}}heads = 2, head_dim = 16, rot_dim = 8, pairs = interleaved)
// CHECK-NEXT: eisa.rope [signal_next] (x_buf = abuf, x_addr = 0x60, {{.*}}heads = 1, head_dim = 16, rot_dim = 8,
// The KV cache: K and V appended at R2, read back (R5 tokens) through relaying
// syncs. Each row of a cache (a 16-channel block) is in a pseudo-channel of its
// own (row stride 2^23 beats): K in channel 0, V in channel 1.
// CHECK-NEXT: eisa.kv_append [wait_prev, signal_prev] (src_buf = abuf, src_addr = 0x60, {{.*}}dst_addr = 0x1000, dst_addr_reg = r2, rows = 1, row_len = 0, row_len_reg = r3, src_stride = 16, dst_stride = 8388608, hbm_stripe = 1)
// CHECK-NEXT: eisa.kv_append [signal_prev] (src_buf = abuf, src_addr = 0x70, {{.*}}dst_addr = 0x801000, dst_addr_reg = r2,
// CHECK-NEXT: eisa.sync [wait_next, signal_prev]
// CHECK-NEXT: eisa.load [wait_next, signal_next] (src_mem = hbm, dst_buf = kbuf, src_addr = 0x1000, {{.*}}row_len = 0, row_len_reg = r5, src_stride = 8388608, dst_stride = 16, hbm_stripe = 1)
// CHECK-NEXT: eisa.sync [wait_next, signal_prev]
// CHECK-NEXT: eisa.load [wait_next, signal_next] (src_mem = hbm, dst_buf = kbuf, src_addr = 0x801000, {{.*}}dst_addr = 0x10,
// Per head: scores (alpha = scale), causal softmax after the past, P.V into the head's channels.
// CHECK-NEXT: eisa.mm_f16 [wait_prev] (a_buf = abuf, a_addr = 0x40, {{.*}}b_buf = kbuf, b_addr = 0x0, {{.*}}n = 0, n_reg = r5, k = 16, k_reg = r0, trans_b = 1, acc = 0, alpha = 2.5
// CHECK-NEXT: eisa.softmax ({{.*}}m_reg = r3, n = 0, n_reg = r5, causal = 1, diag = 0, diag_reg = r2)
// CHECK-NEXT: eisa.mm_f16 [wait_prev] ({{.*}}b_buf = kbuf, b_addr = 0x10, {{.*}}c_addr = 0x20, {{.*}}n = 16, n_reg = r0, k = 0, k_reg = r5, trans_b = 0
// CHECK-NEXT: eisa.mm_f16 (a_buf = abuf, a_addr = 0x50,
// CHECK-NEXT: eisa.softmax
// CHECK-NEXT: eisa.mm_f16 ({{.*}}c_addr = 0x30,
// Weight tiles go to the 8 WBUF slots in turn (an eighth of WBUF each).
// CHECK-NEXT: eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, src_addr = 0x6, {{.*}}dst_addr = 0x4000,
// CHECK-NEXT: eisa.mm_q4 [wait_prev]
// CHECK-NEXT: eisa.eltwise (op = add,
// CHECK-NEXT: eisa.rms_norm
// CHECK-NEXT: eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, src_addr = 0x9, {{.*}}dst_addr = 0x8000,
// CHECK-NEXT: eisa.mm_q4 [wait_prev]
// CHECK-NEXT: eisa.silu_mul ({{.*}}c = 32)
// CHECK-NEXT: eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, src_addr = 0xf, {{.*}}dst_addr = 0xc000,
// CHECK-NEXT: eisa.mm_q4 [wait_prev]
// CHECK-NEXT: eisa.eltwise (op = add,
// A standalone softmax (not causal) and product.
// CHECK-NEXT: eisa.softmax ({{.*}}m_reg = r3, n = 32, n_reg = r0, causal = 0,
// CHECK-NEXT: eisa.eltwise (op = mul,
// The logits leave through DDR, tile by tile.
// CHECK-NEXT: eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, src_addr = 0x12, {{.*}}dst_addr = 0x10000,
// CHECK-NEXT: eisa.mm_q4 [wait_prev, signal_next] ({{.*}}k = 32, n = 64,
// CHECK-NEXT: eisa.store [wait_prev] (src_buf = abuf, {{.*}}rows = 4, row_len = 0, row_len_reg = r3, src_stride = 16, dst_stride = 16)
// CHECK-NEXT: eisa.end (irq = 1)
// With a 4 KiB WBUF (2 slots of 64 beats, tiles of 16 rows) the weight
// loads double-buffer: a load that reuses a slot waits for the mm_q4 that
// read it, which signals it.
// SMALL-LABEL: eisa.program @prefill
// SMALL: eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, {{.*}}dst_addr = 0x0, {{.*}}row_len = 48,
// SMALL-NEXT: eisa.mm_q4 [wait_prev, signal_prev] ({{.*}}n = 16,
// SMALL-NEXT: eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, {{.*}}dst_addr = 0x40, {{.*}}row_len = 48,
// SMALL-NEXT: eisa.mm_q4 [wait_prev, signal_prev] ({{.*}}n = 16,
// SMALL-NEXT: eisa.load [wait_next, signal_next] (src_mem = hbm, dst_buf = wbuf, {{.*}}dst_addr = 0x0,
// SMALL-NEXT: eisa.mm_q4 [wait_prev{{.*}}] ({{.*}}n = 16,
// The decode program: the same instructions at a token capacity of 1.
// CHECK-LABEL: eisa.program @decode attributes {max_context = 16 : i64, token_capacity = 1 : i64}
// CHECK: eisa.load [signal_next] (src_mem = ddr, dst_buf = abuf, {{.*}}rows = 2, row_len = 0, row_len_reg = r3, src_stride = 1, dst_stride = 1, hbm_stripe = 1)
// CHECK: eisa.end (irq = 1)
// The prefill_last program: only the last token's logits. R7 = R3 - 1 (its
// row), R8 = R5 - 1 (its position). The QKV product, rope and kv_append run
// for all R3 tokens (the cache needs every key and value); from attention
// on, every op runs on the last token alone (m = 1, one-row operands):
// attention's query row and the residual each come over as that row (to
// DDR at R7 and back: no register offsets in compute operands), the causal
// diagonal at R8, and the logits layer stores one row (row 0).
// CHECK-LABEL: eisa.program @prefill_last attributes {max_context = 16 : i64, token_capacity = 16 : i64}
// CHECK: eisa.regop (op = sub, rd = r7, ra = r3, rb = r0, imm = 1)
// CHECK-NEXT: eisa.regop (op = sub, rd = r8, ra = r5, rb = r0, imm = 1)
// CHECK: eisa.mm_q4 {{.*}}(x_buf = abuf, x_addr = 0x20, x_stride = 16, {{.*}}m = 0, m_reg = r3, k = 32, n = 64,
// CHECK: eisa.kv_append {{.*}}row_len = 0, row_len_reg = r3,
// CHECK: eisa.kv_append {{.*}}row_len = 0, row_len_reg = r3,
// CHECK-NEXT: eisa.store {{.*}}(src_buf = abuf, src_addr = 0x40, src_addr_reg = r7, {{.*}}rows = 2, row_len = 1, row_len_reg = r0, src_stride = 16, dst_stride = 1)
// CHECK: eisa.load {{.*}}(src_mem = ddr, dst_buf = abuf, {{.*}}dst_addr = 0x20, {{.*}}rows = 2, row_len = 1, row_len_reg = r0, src_stride = 1, dst_stride = 1,
// CHECK: eisa.mm_f16 {{.*}}(a_buf = abuf, a_addr = 0x20, a_stride = 1, {{.*}}c_stride = 1, m = 1, m_reg = r0, n = 0, n_reg = r5, k = 16, {{.*}}trans_b = 1,
// CHECK-NEXT: eisa.softmax {{.*}}m = 1, m_reg = r0, n = 0, n_reg = r5, causal = 1, diag = 0, diag_reg = r8)
// CHECK: eisa.mm_q4 {{.*}}x_stride = 1, {{.*}}y_stride = 1, {{.*}}m = 1, m_reg = r0, k = 32, n = 32,
// CHECK-NEXT: eisa.store {{.*}}(src_buf = abuf, src_addr = 0x0, src_addr_reg = r7, {{.*}}rows = 2, row_len = 1, row_len_reg = r0, src_stride = 16, dst_stride = 1)
// CHECK: eisa.eltwise {{.*}}(op = add, {{.*}}a_stride = 1, {{.*}}b_stride = 1, {{.*}}y_stride = 1, m = 1, m_reg = r0, c = 32,
// CHECK-NEXT: eisa.rms_norm {{.*}}x_stride = 1, {{.*}}y_stride = 1, {{.*}}m = 1, m_reg = r0, c = 32,
// CHECK: eisa.mm_q4 {{.*}}(x_buf = abuf, x_addr = 0x4, x_stride = 1, {{.*}}m = 1, m_reg = r0, k = 32, n = 64,
// CHECK-NEXT: eisa.store {{.*}}rows = 4, row_len = 1, row_len_reg = r0, src_stride = 1, dst_stride = 16)
// CHECK-NEXT: eisa.end (irq = 1)

module {
  func.func @main(%ids: tensor<?x?xi64>, %pos: tensor<?x?xi64>, %mask: tensor<?x?x?xi1>) -> (tensor<?x?x64xf32>, tensor<?x?x1x16xf32>, tensor<?x?x1x16xf32>) {
    %emb = "onnx.Constant"() <{value = dense<0.5> : tensor<64x32xf32>}> : () -> tensor<64x32xf32>
    %g1 = "onnx.Constant"() <{value = dense<1.0> : tensor<32xf32>}> : () -> tensor<32xf32>
    %g2 = "onnx.Constant"() <{value = dense<1.0> : tensor<32xf32>}> : () -> tensor<32xf32>
    %wqkv = "onnx.Constant"() <{value = dense<0.25> : tensor<32x64xf32>}> : () -> tensor<32x64xf32>
    %bqkv = "onnx.Constant"() <{value = dense<0.125> : tensor<64xf32>}> : () -> tensor<64xf32>
    %wo = "onnx.Constant"() <{value = dense<0.25> : tensor<32x32xf32>}> : () -> tensor<32x32xf32>
    %w1 = "onnx.Constant"() <{value = dense<0.25> : tensor<32x64xf32>}> : () -> tensor<32x64xf32>
    %w2 = "onnx.Constant"() <{value = dense<0.25> : tensor<32x32xf32>}> : () -> tensor<32x32xf32>
    %wout = "onnx.Constant"() <{value = dense<0.25> : tensor<32x64xf32>}> : () -> tensor<32x64xf32>
    %table = "onnx.Constant"() <{value = dense<0.5> : tensor<16x4x2xf32>}> : () -> tensor<16x4x2xf32>
    %splits = "onnx.Constant"() <{value = dense<[32, 16, 16]> : tensor<3xi64>}> : () -> tensor<3xi64>
    %sq = "onnx.Constant"() <{value = dense<[0, 0, 2, 16]> : tensor<4xi64>}> : () -> tensor<4xi64>
    %skv = "onnx.Constant"() <{value = dense<[0, 0, 1, 16]> : tensor<4xi64>}> : () -> tensor<4xi64>
    %scs = "onnx.Constant"() <{value = dense<[0, 0, 1, 4, 2]> : tensor<5xi64>}> : () -> tensor<5xi64>
    %x0 = elm.embedding %emb[%ids] {device = #elm.device<cpu>} : tensor<64x32xf32>, tensor<?x?xi64> -> tensor<?x?x32xf32>
    %x = "onnx.Transpose"(%x0) <{perm = [1, 0, 2]}> : (tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
    %cs0 = "onnx.Gather"(%table, %pos) <{axis = 0 : i64}> : (tensor<16x4x2xf32>, tensor<?x?xi64>) -> tensor<?x?x4x2xf32>
    %cs1 = "onnx.Transpose"(%cs0) <{perm = [1, 0, 2, 3]}> : (tensor<?x?x4x2xf32>) -> tensor<?x?x4x2xf32>
    %cs = "onnx.Reshape"(%cs1, %scs) <{allowzero = 0 : i64}> : (tensor<?x?x4x2xf32>, tensor<5xi64>) -> tensor<?x?x1x4x2xf32>
    %h = elm.rms_norm %x, %g1 {device = #elm.device<fpga>, eps = 1.0e-5 : f64} : tensor<?x?x32xf32>, tensor<32xf32> -> tensor<?x?x32xf32>
    %qkv = elm.linear %h, %wqkv bias %bqkv {device = #elm.device<fpga>, format = #elm.weight_format<int4_g128>} : tensor<?x?x32xf32>, tensor<32x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
    %p:3 = "onnx.Split"(%qkv, %splits) <{axis = -1 : i64}> : (tensor<?x?x64xf32>, tensor<3xi64>) -> (tensor<?x?x32xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>)
    %q0 = "onnx.Reshape"(%p#0, %sq) <{allowzero = 0 : i64}> : (tensor<?x?x32xf32>, tensor<4xi64>) -> tensor<?x?x2x16xf32>
    %k0 = "onnx.Reshape"(%p#1, %skv) <{allowzero = 0 : i64}> : (tensor<?x?x16xf32>, tensor<4xi64>) -> tensor<?x?x1x16xf32>
    %v = "onnx.Reshape"(%p#2, %skv) <{allowzero = 0 : i64}> : (tensor<?x?x16xf32>, tensor<4xi64>) -> tensor<?x?x1x16xf32>
    %q = elm.rope %q0, %cs {device = #elm.device<fpga>, rot_dim = 8 : i64} : tensor<?x?x2x16xf32>, tensor<?x?x1x4x2xf32> -> tensor<?x?x2x16xf32>
    %k = elm.rope %k0, %cs {device = #elm.device<fpga>, rot_dim = 8 : i64} : tensor<?x?x1x16xf32>, tensor<?x?x1x4x2xf32> -> tensor<?x?x1x16xf32>
    %a = elm.attention %q, %k, %v, %mask {device = #elm.device<fpga>, masked_value = -3.4e38 : f64, scale = 0.25 : f64} : tensor<?x?x2x16xf32>, tensor<?x?x1x16xf32>, tensor<?x?x1x16xf32>, tensor<?x?x?xi1> -> tensor<?x?x32xf32>
    %o = elm.linear %a, %wo {device = #elm.device<fpga>, format = #elm.weight_format<int4_g128>} : tensor<?x?x32xf32>, tensor<32x32xf32> -> tensor<?x?x32xf32>
    %r1 = elm.add %x, %o {device = #elm.device<fpga>} : tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x32xf32>
    %h2 = elm.rms_norm %r1, %g2 {device = #elm.device<fpga>, eps = 1.0e-5 : f64} : tensor<?x?x32xf32>, tensor<32xf32> -> tensor<?x?x32xf32>
    %f1 = elm.linear %h2, %w1 {device = #elm.device<fpga>, format = #elm.weight_format<int4_g128>} : tensor<?x?x32xf32>, tensor<32x64xf32> -> tensor<?x?x64xf32>
    %f2 = elm.swiglu %f1 {device = #elm.device<fpga>} : tensor<?x?x64xf32> -> tensor<?x?x32xf32>
    %f3 = elm.linear %f2, %w2 {device = #elm.device<fpga>, format = #elm.weight_format<int4_g128>} : tensor<?x?x32xf32>, tensor<32x32xf32> -> tensor<?x?x32xf32>
    %r2 = elm.add %r1, %f3 {device = #elm.device<fpga>} : tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x32xf32>
    %sm = elm.softmax %r2 {device = #elm.device<fpga>} : tensor<?x?x32xf32> -> tensor<?x?x32xf32>
    %gate = elm.mul %sm, %r2 {device = #elm.device<fpga>} : tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x32xf32>
    %lg = elm.linear %gate, %wout {device = #elm.device<fpga>, format = #elm.weight_format<int4_g128>} : tensor<?x?x32xf32>, tensor<32x64xf32> -> tensor<?x?x64xf32>
    %out = "onnx.Transpose"(%lg) <{perm = [1, 0, 2]}> : (tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
    return %out, %k, %v : tensor<?x?x64xf32>, tensor<?x?x1x16xf32>, tensor<?x?x1x16xf32>
  }
}

// -----

// Weights must be quantised (or FP16) before the device can take them.
module {
  func.func @main(%ids: tensor<?x?xi64>) -> tensor<?x?x32xf32> {
    %emb = "onnx.Constant"() <{value = dense<0.5> : tensor<64x32xf32>}> : () -> tensor<64x32xf32>
    %w = "onnx.Constant"() <{value = dense<0.25> : tensor<32x32xf32>}> : () -> tensor<32x32xf32>
    %x = elm.embedding %emb[%ids] {device = #elm.device<cpu>} : tensor<64x32xf32>, tensor<?x?xi64> -> tensor<?x?x32xf32>
    // expected-error @+1 {{weights must be quantised (int4_g128) or f16 for the FPGA}}
    %y = elm.linear %x, %w {device = #elm.device<fpga>} : tensor<?x?x32xf32>, tensor<32x32xf32> -> tensor<?x?x32xf32>
    return %y : tensor<?x?x32xf32>
  }
}

// -----

// A rearrangement between two FPGA ops has no place on the device.
module {
  func.func @main(%ids: tensor<?x?xi64>) -> tensor<?x?x32xf32> {
    %emb = "onnx.Constant"() <{value = dense<0.5> : tensor<64x32xf32>}> : () -> tensor<64x32xf32>
    %g = "onnx.Constant"() <{value = dense<1.0> : tensor<32xf32>}> : () -> tensor<32xf32>
    %x = elm.embedding %emb[%ids] {device = #elm.device<cpu>} : tensor<64x32xf32>, tensor<?x?xi64> -> tensor<?x?x32xf32>
    %h = elm.rms_norm %x, %g {device = #elm.device<fpga>, eps = 1.0e-5 : f64} : tensor<?x?x32xf32>, tensor<32xf32> -> tensor<?x?x32xf32>
    // expected-error @+1 {{rearranges data between FPGA ops}}
    %t = "onnx.Transpose"(%h) <{perm = [2, 1, 0]}> : (tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
    %h2 = elm.rms_norm %t, %g {device = #elm.device<fpga>, eps = 1.0e-5 : f64} : tensor<?x?x32xf32>, tensor<32xf32> -> tensor<?x?x32xf32>
    return %h2 : tensor<?x?x32xf32>
  }
}

// -----

// Only the embedding lookup may feed the device from the host.
module {
  func.func @main(%ids: tensor<?x?xi64>, %y: tensor<?x?x32xf32>) -> tensor<?x?x32xf32> {
    %emb = "onnx.Constant"() <{value = dense<0.5> : tensor<64x32xf32>}> : () -> tensor<64x32xf32>
    %x = elm.embedding %emb[%ids] {device = #elm.device<cpu>} : tensor<64x32xf32>, tensor<?x?xi64> -> tensor<?x?x32xf32>
    %n = "onnx.Neg"(%y) : (tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
    // expected-error @+1 {{is computed on the CPU by 'onnx.Neg' (onnx.Neg); only the embedding lookup may feed the device}}
    %s = elm.add %x, %n {device = #elm.device<fpga>} : tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x32xf32>
    return %s : tensor<?x?x32xf32>
  }
}
