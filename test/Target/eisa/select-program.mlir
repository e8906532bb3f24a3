// A module with several programs (a package has prefill and decode): each is
// selected by name; without a name the translation refuses.
// RUN: edgellm-translate --eisa-to-binary --eisa-program=decode %s -o %t.decode.bin
// RUN: edgellm-objdump %t.decode.bin | FileCheck %s --check-prefix=DECODE
// RUN: edgellm-opt %s --edgellm-eisa-emit-stream="output=%t.prefill.bin program=prefill" -o /dev/null
// RUN: edgellm-objdump %t.prefill.bin | FileCheck %s --check-prefix=PREFILL
// RUN: not edgellm-translate --eisa-to-binary %s -o %t.none.bin 2>&1 | FileCheck %s --check-prefix=NONAME
// RUN: not edgellm-translate --eisa-to-binary --eisa-program=nope %s 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not edgellm-opt %s --edgellm-eisa-emit-stream="output=%t.noend.bin program=noend" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOEND
// RUN: not test -e %t.noend.bin

eisa.program @prefill {
  eisa.barrier
  eisa.end (irq = 1)
}
eisa.program @decode {
  eisa.nop
  eisa.nop
  eisa.end (irq = 0)
}
eisa.program @noend {
  eisa.nop
}

// DECODE: 3 instructions
// DECODE: nop
// DECODE: nop
// DECODE: end irq=0
// PREFILL: 2 instructions
// PREFILL: barrier
// NONAME: several eisa.program ops: select one by name
// MISSING: no eisa.program named 'nope'
// NOEND: the program does not end with 'end'
