// RUN: edgellm-opt %s -split-input-file -verify-diagnostics

eisa.program @p {
  // expected-error @+1 {{'eisa.load' op field 'hbm_stripe' is 33, outside [1, 32]}}
  eisa.load (hbm_stripe = 33)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.load' op field 'hbm_stripe' is 0, outside [1, 32]}}
  eisa.load (hbm_stripe = 0)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.load' op field 'dst_addr' is 2097152, outside [0, 2097151] (21-bit uint field)}}
  eisa.load (dst_addr = 0x200000)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.regop' op field 'imm' is 4294967296, outside [0, 4294967295]}}
  eisa.regop (imm = 0x100000000)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.mm_q4' op field 'k' is 0, outside [1, 65535]}}
  eisa.mm_q4 (k = 0, n = 16)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.eltwise' op field 'op' is 3, outside [0, 2] (2-bit EwOp field)}}
  eisa.eltwise (op = 3, c = 16)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.softmax' op field 'm_reg' is 16, outside [0, 15] (4-bit reg field)}}
  eisa.softmax (m_reg = r16)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.rope' op field 'rot_dim' is 4, outside [8, 1016]}}
  eisa.rope (heads = 1, head_dim = 8, rot_dim = 4)
}

// -----

eisa.program @p {
  // expected-error @+1 {{is in the load queue, which has no previous queue: wait_prev/signal_prev are not allowed}}
  eisa.load [wait_prev] (hbm_stripe = 1)
}

// -----

eisa.program @p {
  // expected-error @+1 {{is in the store queue, which has no next queue: wait_next/signal_next are not allowed}}
  eisa.kv_append [signal_next] (rows = 1)
}

// -----

eisa.program @p {
  // expected-error @+1 {{executes in the dispatch unit and takes no dependency flags}}
  eisa.end [signal_prev] (irq = 1)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.mm_q4' has no field 'q'}}
  eisa.mm_q4 (q = 1)
}

// -----

eisa.program @p {
  // expected-error @+1 {{field 'k' given twice}}
  eisa.mm_q4 (k = 1, k = 2)
}

// -----

eisa.program @p {
  // expected-error @+1 {{unknown value 'sbuf' for field 'x_buf' (expected abuf, wbuf, kbuf, pbuf)}}
  eisa.mm_q4 (x_buf = sbuf)
}

// -----

eisa.program @p {
  // expected-error @+1 {{unknown dependency flag 'wait_all'}}
  eisa.sync [wait_all]
}

// -----

eisa.program @p {
  // expected-error @+1 {{field 'rd' takes a register r0-r15}}
  eisa.regop (rd = 4)
}

// -----

// expected-error @+1 {{'eisa.nop' op expects parent op 'eisa.program'}}
eisa.nop

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.rope' op rot_dim must not exceed head_dim}}
  eisa.rope (heads = 1, head_dim = 64, rot_dim = 128)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.rope' op head_dim must be even}}
  eisa.rope (heads = 1, head_dim = 65, rot_dim = 64)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.rope' op rot_dim must be a multiple of 8}}
  eisa.rope (heads = 1, head_dim = 64, rot_dim = 60)
}

// -----

eisa.program @p {
  // expected-error @+1 {{'eisa.load' op hbm_stripe must be 1 for a load from DDR}}
  eisa.load (src_mem = ddr, hbm_stripe = 4)
}
