// RUN: edgellm-opt %s | FileCheck %s
// RUN: edgellm-opt %s | edgellm-opt | FileCheck %s
// RUN: edgellm-opt -mlir-print-op-generic %s | edgellm-opt | FileCheck %s

// Every instruction of docs/isa.md, with non-default values, survives a
// print/parse round trip (custom and generic forms).

// CHECK-LABEL: eisa.program @all
eisa.program @all {
  // CHECK: eisa.nop
  eisa.nop
  // CHECK-NEXT: eisa.regop (op = add, rd = r4, ra = r2, rb = r3, imm = 0)
  eisa.regop (op = add, rd = r4, ra = r2, rb = r3)
  // CHECK-NEXT: eisa.regop (op = shl, rd = r15, ra = r1, rb = r0, imm = 4294967295)
  eisa.regop (op = shl, rd = r15, ra = r1, imm = 0xffffffff)
  // CHECK-NEXT: eisa.barrier
  eisa.barrier
  // CHECK-NEXT: eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, src_addr = 0x800000, src_addr_reg = r0, dst_addr = 0x1fffff, dst_addr_reg = r0, rows = 1, row_len = 1048575, row_len_reg = r0, src_stride = 4294967295, dst_stride = 0, hbm_stripe = 32)
  eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, src_addr = 0x800000, dst_addr = 0x1fffff, row_len = 1048575, src_stride = 0xffffffff, hbm_stripe = 32)
  // CHECK-NEXT: eisa.load [wait_next] (src_mem = ddr, dst_buf = pbuf, src_addr = 0x100, src_addr_reg = r5, dst_addr = 0x0, dst_addr_reg = r0, rows = 8, row_len = 0, row_len_reg = r3, src_stride = 4096, dst_stride = 16, hbm_stripe = 1)
  eisa.load [wait_next] (src_mem = ddr, dst_buf = pbuf, src_addr = 256, src_addr_reg = r5, rows = 8, row_len_reg = r3, src_stride = 4096, dst_stride = 16)
  // CHECK-NEXT: eisa.store [wait_prev] (src_buf = abuf, src_addr = 0x40, src_addr_reg = r0, dst_addr = 0x1000, dst_addr_reg = r0, rows = 256, row_len = 1, row_len_reg = r3, src_stride = 1, dst_stride = 512)
  eisa.store [wait_prev] (src_buf = abuf, src_addr = 64, dst_addr = 4096, rows = 256, row_len = 1, row_len_reg = r3, src_stride = 1, dst_stride = 512)
  // CHECK-NEXT: eisa.kv_append [wait_prev, signal_prev] (src_buf = abuf, src_addr = 0x80, src_addr_reg = r0, dst_addr = 0x1f000000, dst_addr_reg = r2, rows = 8, row_len = 0, row_len_reg = r3, src_stride = 1, dst_stride = 32768, hbm_stripe = 1)
  eisa.kv_append [wait_prev, signal_prev] (src_buf = abuf, src_addr = 128, dst_addr = 0x1f000000, dst_addr_reg = r2, rows = 8, row_len_reg = r3, src_stride = 1, dst_stride = 32768)
  // CHECK-NEXT: eisa.kv_append [wait_prev, signal_prev] ({{.*}}hbm_stripe = 32)
  eisa.kv_append [wait_prev, signal_prev] (dst_addr = 0x1f000000, rows = 8, row_len_reg = r3, hbm_stripe = 32)
  // CHECK-NEXT: eisa.mm_q4 [wait_prev, signal_prev, signal_next] (x_buf = abuf, x_addr = 0x0, x_stride = 1, w_buf = wbuf, w_addr = 0x2000, y_buf = abuf, y_addr = 0x100, y_stride = 1, has_bias = 1, b_buf = pbuf, b_addr = 0x10, m = 0, m_reg = r3, k = 4096, n = 4608, sparsity = d1_8)
  eisa.mm_q4 [wait_prev, signal_prev, signal_next] (x_buf = abuf, x_stride = 1, w_buf = wbuf, w_addr = 0x2000, y_buf = abuf, y_addr = 256, y_stride = 1, has_bias = 1, b_buf = pbuf, b_addr = 16, m_reg = r3, k = 4096, n = 4608, sparsity = d1_8)
  // CHECK-NEXT: eisa.mm_f16 (a_buf = abuf, a_addr = 0x0, a_stride = 1, b_buf = kbuf, b_addr = 0x0, b_stride = 8192, c_buf = abuf, c_addr = 0x400, c_stride = 1, m = 1, m_reg = r0, n = 0, n_reg = r4, k = 128, k_reg = r0, trans_b = 1, acc = 0, alpha = 8.838834614e-02)
  eisa.mm_f16 (a_buf = abuf, a_stride = 1, b_buf = kbuf, b_stride = 8192, c_buf = abuf, c_addr = 1024, c_stride = 1, m = 1, n_reg = r4, k = 128, trans_b = 1, alpha = 0.0883883461)
  // CHECK-NEXT: eisa.mm_f16 ({{.*}}trans_b = 0, acc = 1, alpha = 1.000000000e+00)
  eisa.mm_f16 (m = 1, n = 128, k = 64, acc = 1, alpha = 1.0)
  // CHECK-NEXT: eisa.rms_norm (x_buf = abuf, x_addr = 0x0, x_stride = 1, y_buf = abuf, y_addr = 0x200, y_stride = 1, g_buf = pbuf, g_addr = 0x0, m = 0, m_reg = r3, c = 4096, eps = 9.999999747e-06)
  eisa.rms_norm (x_stride = 1, y_addr = 512, y_stride = 1, g_buf = pbuf, m_reg = r3, c = 4096, eps = 1.0e-05)
  // CHECK-NEXT: eisa.softmax (x_buf = abuf, x_addr = 0x400, x_stride = 1, y_buf = abuf, y_addr = 0x400, y_stride = 1, m = 0, m_reg = r3, n = 0, n_reg = r4, causal = 1, diag = 0, diag_reg = r2)
  eisa.softmax (x_addr = 1024, x_stride = 1, y_addr = 1024, y_stride = 1, m_reg = r3, n_reg = r4, causal = 1, diag_reg = r2)
  // CHECK-NEXT: eisa.rope (x_buf = abuf, x_addr = 0x100, x_stride = 1, y_buf = abuf, y_addr = 0x100, y_stride = 1, t_buf = pbuf, t_addr = 0x800, m = 0, m_reg = r3, heads = 32, head_dim = 128, rot_dim = 64, pairs = interleaved)
  eisa.rope (x_addr = 256, x_stride = 1, y_addr = 256, y_stride = 1, t_buf = pbuf, t_addr = 2048, m_reg = r3, heads = 32, head_dim = 128, rot_dim = 64)
  // CHECK-NEXT: eisa.rope (x_buf = abuf, x_addr = 0x0, x_stride = 0, y_buf = abuf, y_addr = 0x0, y_stride = 0, t_buf = abuf, t_addr = 0x0, m = 0, m_reg = r0, heads = 255, head_dim = 1022, rot_dim = 1016, pairs = halves)
  eisa.rope (heads = 255, head_dim = 1022, rot_dim = 1016, pairs = halves)
  // CHECK-NEXT: eisa.silu_mul (a_buf = abuf, a_addr = 0x0, a_stride = 1, b_buf = abuf, b_addr = 0x358, b_stride = 1, y_buf = abuf, y_addr = 0x6ac, y_stride = 1, m = 0, m_reg = r3, c = 13696)
  eisa.silu_mul (a_stride = 1, b_addr = 856, b_stride = 1, y_addr = 1708, y_stride = 1, m_reg = r3, c = 13696)
  // CHECK-NEXT: eisa.eltwise (op = add, a_buf = abuf, a_addr = 0x0, a_stride = 1, b_buf = abuf, b_addr = 0x100, b_stride = 1, y_buf = abuf, y_addr = 0x0, y_stride = 1, m = 0, m_reg = r3, c = 4096, bcast_b = 0)
  eisa.eltwise (op = add, a_stride = 1, b_addr = 256, b_stride = 1, y_stride = 1, m_reg = r3, c = 4096)
  // CHECK-NEXT: eisa.eltwise (op = copy, {{.*}} bcast_b = 1)
  eisa.eltwise (op = copy, c = 16, bcast_b = 1)
  // CHECK-NEXT: eisa.sync [wait_next, signal_prev]
  eisa.sync [wait_next, signal_prev]
  // CHECK-NEXT: eisa.end (irq = 1)
  eisa.end (irq = 1)
}

// CHECK-LABEL: eisa.program @empty
eisa.program @empty {
}
