eisa.program @small {
  eisa.nop
  eisa.load [signal_next] (src_mem = hbm, dst_buf = wbuf, row_len = 33, hbm_stripe = 32)
  eisa.end (irq = 1)
}
