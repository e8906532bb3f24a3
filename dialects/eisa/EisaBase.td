//===- EisaBase.td - The eisa dialect: one op per instruction --*- tablegen -*-===//
//
// The instruction ops themselves are generated from the one ISA definition
// (hw/include/edgellm/hw/Isa.def) by `edgellm-isa-gen --td` into EisaOps.td
// in the build tree; this file holds what is not an instruction.
//
//===----------------------------------------------------------------------===//

#ifndef EDGELLM_EISA_BASE_TD
#define EDGELLM_EISA_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"

def Eisa_Dialect : Dialect {
  let name = "eisa";
  let cppNamespace = "::edgellm::eisa";
  let summary = "The EdgeLLM accelerator's instructions, one op each";
  let description = [{
    Buffer-level programs for the EdgeLLM FPGA accelerator. Every op is exactly
    one 256-bit instruction of docs/isa.md; its attributes are the instruction's
    fields, checked against the encoding's ranges. Emitting the binary stream is
    a mechanical walk (`eisa-emit-stream`, `edgellm-translate --eisa-to-binary`).
  }];
}

class Eisa_Op<string mnemonic, list<Trait> traits = []>
    : Op<Eisa_Dialect, mnemonic, traits>;

def Eisa_ProgramOp : Eisa_Op<"program", [IsolatedFromAbove, NoTerminator,
                                         SingleBlock, Symbol]> {
  let summary = "one instruction stream (for example the decode program)";
  let description = [{
    Holds the instructions of one stream in program order. Binary emission
    writes them, in order, after the stream header of docs/isa.md.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let skipDefaultBuilders = 1;
  let builders = [OpBuilder<(ins "::llvm::StringRef":$name)>];
  let extraClassDeclaration = [{
    ::mlir::Block &getBodyBlock() {
      if (getBody().empty())
        getBody().emplaceBlock();
      return getBody().front();
    }
  }];
}

/// Base of every generated instruction op. Syntax:
///   eisa.<mnemonic> [<flag>, ...] (<field> = <value>, ...)
/// Omitted fields take their minimum value; the verifier enforces the ranges
/// of the encoding and the dependency flags allowed on the queue.
class Eisa_InstrOp<string mnemonic>
    : Eisa_Op<mnemonic, [HasParent<"ProgramOp">]> {
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
}

#endif // EDGELLM_EISA_BASE_TD
