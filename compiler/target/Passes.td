//===- Passes.td - Passes of the target back end ----------*- tablegen -*-===//

#ifndef EDGELLM_COMPILER_TARGET_PASSES_TD
#define EDGELLM_COMPILER_TARGET_PASSES_TD

include "mlir/Pass/PassBase.td"

def EisaEmitStream : Pass<"edgellm-eisa-emit-stream", "mlir::ModuleOp"> {
  let summary = "Write an eisa program as a binary instruction stream";
  let description = [{
    Encodes every instruction of one `eisa.program` through the ISA definition
    and writes the stream (header + 32-byte instructions) to `output`. With
    several programs in the module, `program` selects one by name.
  }];
  let options = [
    Option<"output", "output", "std::string", /*default=*/"\"\"",
           "Path of the binary stream to write">,
    Option<"program", "program", "std::string", /*default=*/"\"\"",
           "Name of the eisa.program to write (default: the only one)">,
  ];
}

#endif // EDGELLM_COMPILER_TARGET_PASSES_TD
