// Binary round trip: eisa -> stream -> eisa gives the same program, and the
// stream written by edgellm-opt's emit pass is byte-identical.
// RUN: edgellm-translate --eisa-to-binary %s -o %t.bin
// RUN: edgellm-translate --binary-to-eisa %t.bin | FileCheck %s
// RUN: edgellm-translate --binary-to-eisa %t.bin | edgellm-translate --eisa-to-binary -o %t2.bin
// RUN: cmp %t.bin %t2.bin
// RUN: edgellm-opt %s --edgellm-eisa-emit-stream="output=%t3.bin" -o /dev/null
// RUN: cmp %t.bin %t3.bin
// RUN: edgellm-objdump %t3.bin | FileCheck %s --check-prefix=DUMP
// RUN: edgellm-objdump --raw %t3.bin | FileCheck %s --check-prefix=RAW

eisa.program @decode_step {
  eisa.regop (op = add, rd = r4, ra = r2, rb = r3)
  eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, src_addr = 0x800000, row_len = 330, hbm_stripe = 32)
  eisa.load [signal_next] (src_mem = hbm, dst_buf = kbuf, src_addr = 0x1f000000, rows = 8, row_len_reg = r4, src_stride = 32768, dst_stride = 8192)
  eisa.mm_q4 [wait_prev, signal_next] (x_stride = 1, w_buf = wbuf, y_addr = 256, y_stride = 1, has_bias = 1, b_buf = pbuf, m_reg = r3, k = 4096, n = 4608, sparsity = d1_2)
  eisa.mm_f16 [wait_prev] (a_stride = 1, b_buf = kbuf, b_stride = 8192, c_addr = 1024, c_stride = 1, m = 1, n_reg = r4, k = 128, trans_b = 1, alpha = 0.0883883461)
  eisa.softmax (x_addr = 1024, x_stride = 1, y_addr = 1024, y_stride = 1, m_reg = r3, n_reg = r4, causal = 1, diag_reg = r2)
  eisa.rms_norm (x_stride = 1, y_stride = 1, g_buf = pbuf, m_reg = r3, c = 4096, eps = 1.0e-05)
  eisa.rope (x_stride = 1, y_stride = 1, t_buf = pbuf, m_reg = r3, heads = 32, head_dim = 128, rot_dim = 64)
  eisa.silu_mul (a_stride = 1, b_addr = 856, b_stride = 1, y_stride = 1, m_reg = r3, c = 13696)
  eisa.eltwise [signal_next] (op = mul, a_stride = 1, b_stride = 1, y_stride = 1, m_reg = r3, c = 4096)
  eisa.kv_append [wait_prev, signal_prev] (src_addr = 128, dst_addr = 0x1f000000, dst_addr_reg = r2, rows = 8, row_len_reg = r3, src_stride = 1, dst_stride = 32768)
  eisa.store (dst_addr = 4096, rows = 256, row_len = 1, src_stride = 1, dst_stride = 512)
  eisa.sync [wait_next]
  eisa.barrier
  eisa.nop
  eisa.end (irq = 1)
}

// CHECK:      eisa.program @stream {
// CHECK-NEXT:   eisa.regop (op = add, rd = r4, ra = r2, rb = r3, imm = 0)
// CHECK-NEXT:   eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, src_addr = 0x800000, {{.*}}, row_len = 330, {{.*}}, hbm_stripe = 32)
// CHECK-NEXT:   eisa.load [signal_next] (src_mem = hbm, dst_buf = kbuf, src_addr = 0x1f000000, {{.*}}, rows = 8, row_len = 0, row_len_reg = r4, src_stride = 32768, dst_stride = 8192, hbm_stripe = 1)
// CHECK-NEXT:   eisa.mm_q4 [wait_prev, signal_next] ({{.*}}has_bias = 1, b_buf = pbuf, b_addr = 0x0, m = 0, m_reg = r3, k = 4096, n = 4608, sparsity = d1_2)
// CHECK-NEXT:   eisa.mm_f16 [wait_prev] ({{.*}}trans_b = 1, acc = 0, alpha = 8.838834614e-02)
// CHECK-NEXT:   eisa.softmax ({{.*}}causal = 1, diag = 0, diag_reg = r2)
// CHECK-NEXT:   eisa.rms_norm ({{.*}}c = 4096, eps = 9.999999747e-06)
// CHECK-NEXT:   eisa.rope ({{.*}}heads = 32, head_dim = 128, rot_dim = 64, pairs = interleaved)
// CHECK-NEXT:   eisa.silu_mul ({{.*}}c = 13696)
// CHECK-NEXT:   eisa.eltwise [signal_next] (op = mul,
// CHECK-NEXT:   eisa.kv_append [wait_prev, signal_prev] ({{.*}}dst_addr_reg = r2,
// CHECK-NEXT:   eisa.store (
// CHECK-NEXT:   eisa.sync [wait_next]
// CHECK-NEXT:   eisa.barrier
// CHECK-NEXT:   eisa.nop
// CHECK-NEXT:   eisa.end (irq = 1)
// CHECK-NEXT: }

// DUMP: EdgeLLM instruction stream, ISA 1.0, 16 instructions
// DUMP-NEXT: 00000020     0  dispatch regop op=add, rd=r4, ra=r2, rb=r3, imm=0
// DUMP-NEXT: 00000040     1  load     load [signal_next] src_mem=hbm, dst_buf=wbuf, src_addr=0x800000,
// DUMP-NEXT: 00000060     2  load     load [signal_next]
// DUMP-NEXT: 00000080     3  compute  mm_q4 [wait_prev, signal_next]
// DUMP-NEXT: 000000a0     4  compute  mm_f16 [wait_prev]
// DUMP-NEXT: 000000c0     5  compute  softmax
// DUMP-NEXT: 000000e0     6  compute  rms_norm
// DUMP-NEXT: 00000100     7  compute  rope
// DUMP-NEXT: 00000120     8  compute  silu_mul
// DUMP-NEXT: 00000140     9  compute  eltwise [signal_next] op=mul
// DUMP-NEXT: 00000160    10  store    kv_append [wait_prev, signal_prev]
// DUMP-NEXT: 00000180    11  store    store
// DUMP-NEXT: 000001a0    12  compute  sync [wait_next]
// DUMP-NEXT: 000001c0    13  dispatch barrier
// DUMP-NEXT: 000001e0    14  dispatch nop
// DUMP-NEXT: 00000200    15  dispatch end irq=1
// DUMP-NOT: {{.}}

// RAW: 00000020     0  dispatch regop
// RAW-NEXT: {{^ +}}0000000000000000 0000000000000000 0000000000000000 0000001920{{[0-9a-f][0-9a-f]}}0002
